"""The optuna storage a study lives in: checked before any work, opened with retries while
several workers race to create it."""

from __future__ import annotations

import time

import optuna

from weightlight._optional import OPTIONAL, missing
from weightlight.errors import UserError, one_line

# Seconds to wait for a database server to answer before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10


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
                    f"cannot open study storage '{shown(storage)}' ({one_line(str(exc))[:160]})",
                    "check the URL and that the database is writable",
                ) from None
            time.sleep(0.2 + 0.3 * attempt)
        except (ValueError, ImportError, ArgumentError) as exc:
            raise UserError(
                f"cannot open study storage '{shown(storage)}' ({one_line(str(exc))[:160]})",
                "pass an optuna RDB URL, e.g. sqlite:///runs/search/study.db",
            ) from None
    raise AssertionError("unreachable")


def check_storage(storage: str, *, connect: bool = True) -> str:
    """Parse an optuna RDB URL, load its database driver and (for a database server) connect
    once: a typo in --storage, a missing driver or a server that cannot be reached fails here,
    in one line, before the base model is trained, not after the search has started.

    SQLite is not opened here: its file is created in the search folder when the study starts.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        url = make_url(storage)
        url.get_dialect().import_dbapi()
    except ImportError as exc:
        if exc.name in OPTIONAL:
            raise missing(exc.name, f"the study storage '{shown(storage)}'", exc) from None
        fix = (
            "use postgresql+psycopg://... and pip install 'weightlight[postgres]'"
            if storage.startswith("postgres")
            else "install the database driver it names, or use sqlite:///runs/search/study.db"
        )
        raise UserError(
            f"cannot open study storage '{shown(storage)}' ({one_line(str(exc))[:160]})", fix
        ) from None
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise UserError(
            f"cannot open study storage '{shown(storage)}' ({one_line(str(exc))[:160]})",
            "pass an optuna RDB URL, e.g. sqlite:///runs/search/study.db",
        ) from None
    if not connect or url.get_backend_name() == "sqlite":
        return storage
    # A server that drops packets would otherwise hold the search for the OS's TCP timeout.
    timeout = {"connect_timeout": CONNECT_TIMEOUT_S}
    args = timeout if url.get_backend_name() in ("postgresql", "mysql", "mariadb") else {}
    engine = create_engine(url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        reason = one_line(str(getattr(exc, "orig", None) or exc))[:200]
        raise UserError(
            f"cannot connect to study storage '{shown(storage)}' ({reason})",
            "start the database server or fix the host, port, user and password in the URL "
            "(omit --storage for a SQLite study in the search folder)",
        ) from None
    finally:
        engine.dispose()
    return storage


def shown(storage: str) -> str:
    """The storage URL as messages show it: its password, if any, masked."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(storage)
    except Exception:  # not a URL at all: nothing in it to hide
        return storage
    return url.render_as_string(hide_password=True) if url.password else storage
