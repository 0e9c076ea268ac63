"""Variant records and the run folder's `variants.jsonl`, rewritten atomically on every change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from weightlight._io import write_text_atomic
from weightlight.errors import UserError
from weightlight.measure.record import Measurement

VARIANTS_FILE = "variants.jsonl"


class Variant(BaseModel):
    """One model made by one stage (or the base / a baseline), with its measurement.

    Attributes:
        name: unique in the run.
        parent: the variant it was made from (None for the base).
        kind: "base", a stage kind (prune, quantize, ...), or "baseline".
        config: the stage config as data (method and fields).
        status: "ok", "failed" (the stage raised; `error` says why) or "skipped" (its parent
            failed).
        artifact: the saved model, relative to the run folder.
        seconds: wall time of the stage and of its measurement.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    parent: str | None
    kind: str
    config: dict[str, Any] = {}
    status: Literal["ok", "failed", "skipped"]
    error: str | None = None
    measurement: Measurement | None = None
    artifact: str | None = None
    seconds: dict[str, float] = {}
    created: str = ""
    versions: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.measurement is not None


def read_variants(run_dir: Path) -> list[Variant]:
    """Variants recorded in a run folder (empty if none yet)."""
    path = Path(run_dir) / VARIANTS_FILE
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise UserError(
            f"{path} cannot be read ({reason})",
            "restore the file or start a new run folder",
        ) from None
    variants = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            variants.append(Variant.model_validate_json(line))
        except ValueError:
            raise UserError(
                f"{path}: line {number} is not a valid variant record",
                "restore the file or start a new run folder",
            ) from None
    return variants


def write_variants(run_dir: Path, variants: list[Variant]) -> Path:
    """Replace `variants.jsonl` atomically (a crash leaves the previous complete file)."""
    text = "".join(json.dumps(v.model_dump(mode="json")) + "\n" for v in variants)
    return write_text_atomic(Path(run_dir) / VARIANTS_FILE, text)


def upsert(variants: list[Variant], variant: Variant) -> list[Variant]:
    """The list with `variant` replacing the record of the same name, or appended."""
    kept = [v for v in variants if v.name != variant.name]
    index = next((i for i, v in enumerate(variants) if v.name == variant.name), len(kept))
    kept.insert(index, variant)
    return kept
