"""The optuna storage a study lives in: checked before any work, opened with retries while
several workers race to create it."""

from __future__ import annotations

import time

import optuna

from weightlight.errors import UserError, one_line


def open_study(study_name: str, storage: str, seed: int | None):
    """Create or load the shared two-objective study.

    Workers started together race to create the storage's tables ("table studies already
    exists", "UNIQUE constraint failed: alembic_version", "database is locked"); the loser
    retries and then loads the study.
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError

    racing = (DBAPIError, optuna.exceptions.DuplicatedStudyError,
              optuna.exceptions.StorageInternalError)  # fmt: skip
    for attempt in range(8):
        try:
            return optuna.create_study(
                study_name=study_name, storage=storage, directions=["minimize", "minimize"],
                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=6),
                load_if_exists=True,
            )  # fmt: skip
        except racing as exc:  # the other worker is creating the tables: retry, then load
            if attempt == 7:
                raise UserError(
                    f"cannot open study storage '{storage}' ({one_line(str(exc))[:160]})",
                    "check the URL and that the database is writable",
                ) from None
            time.sleep(0.2 + 0.3 * attempt)
        except (ValueError, ImportError, ArgumentError) as exc:
            raise UserError(
                f"cannot open study storage '{storage}' ({one_line(str(exc))[:160]})",
                "pass an optuna RDB URL, e.g. sqlite:///runs/search/study.db",
            ) from None
    raise AssertionError("unreachable")


def check_storage(storage: str) -> str:
    """Parse an optuna RDB URL and load its database driver, connecting to nothing: a typo
    in --storage fails here, in one line, not after the base model has trained."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(storage).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise UserError(
            f"cannot open study storage '{storage}' ({one_line(str(exc))[:160]})",
            "pass an optuna RDB URL, e.g. sqlite:///runs/search/study.db",
        ) from None
    return storage
