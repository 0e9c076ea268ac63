"""A run's folder and its variants: each made, saved and measured as soon as it exists, a
failed stage recorded and skipped past, and every variant re-timed together at the end."""

from __future__ import annotations

import contextlib
import datetime as dt
import platform
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from weightlight._io import write_text_atomic
from weightlight.data import Data
from weightlight.errors import UserError, one_line
from weightlight.export.guardrail import guardrail, precision_of
from weightlight.hardware import stage_precision
from weightlight.measure import measure
from weightlight.measure.energy import measure_energy
from weightlight.measure.runnable import as_runnable
from weightlight.models.io import load_model, save_model
from weightlight.pipeline.retime import RETIME_ROUNDS, energy_options, retime
from weightlight.recipe import Recipe, dump_recipe
from weightlight.train import training_note
from weightlight.variants import Variant, read_variants, upsert, write_variants

Progress = Callable[[str], None]


class RunState:
    """The run folder, the variants so far and the models kept in memory."""

    def __init__(self, out: Path, recipe: Recipe, data: Data, factory, log: Progress) -> None:
        self.out, self.recipe, self.data, self.factory, self.emit = out, recipe, data, factory, log
        self.models: dict[str, object] = {}
        self.variants: list[Variant] = []
        self.measuring = True

    def open(self, resume: bool) -> None:
        try:
            (self.out / "models").mkdir(parents=True, exist_ok=True)
            probe = self.out / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UserError(
                f"cannot write to run folder '{self.out}' ({exc.strerror or exc})",
                "choose a writable --out folder",
            ) from None
        # A run killed mid-write (SIGKILL, power loss) leaves the atomic writer's hidden temp
        # file behind; the real file was never touched, so the leftover is just removed.
        # Only this process's own files: other ranks' folders (.ranks/) may be writing now.
        for stale in (p for p in self.out.rglob(".*.tmp") if ".ranks" not in p.parts):
            stale.unlink(missing_ok=True)
        text = dump_recipe(self.recipe)
        previous = read_variants(self.out)
        saved = self.out / "recipe.yaml"
        if previous and not resume:
            raise UserError(
                f"run folder '{self.out}' already holds results",
                "pass --resume to continue it, or choose another --out",
            )
        if resume and saved.is_file() and saved.read_text(encoding="utf-8") != text and previous:
            raise UserError(
                f"the recipe differs from the one '{self.out}' was started with",
                "resume with the same recipe, or start a new --out folder",
            )
        self.variants = previous
        write_text_atomic(saved, text)

    def done(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name and v.status == "ok"), None)

    def record(self, variant: Variant) -> None:
        self.variants = upsert(self.variants, variant)
        write_variants(self.out, self.variants)
        self._log(
            f"{variant.name}: {variant.status}" + (f" ({variant.error})" if variant.error else "")
        )

    def _log(self, message: str) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
        with open(self.out / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")
        self.emit(message)

    def model(self, name: str):
        """A variant's model: in memory, or reloaded from its artifact (after a resume)."""
        if name in self.models:
            return self.models[name]
        variant = self.done(name)
        if variant is None or not variant.artifact:
            return None
        try:
            loaded = load_model(self.out / variant.artifact, factory=self.factory)
        except UserError:
            return None
        self.models[name] = loaded
        return loaded

    def step(self, name: str, parent: str | None, kind: str, config: dict, apply) -> None:
        """Make, save and measure one variant, unless a finished record already exists."""
        if self.done(name) is not None:
            self.emit(f"{name}: done earlier, kept")
            return
        parent_model = None
        if parent is not None:
            parent_model = self.model(parent)
            if parent_model is None:
                why = f"parent '{parent}' is not available"
                self.record(Variant(name=name, parent=parent, kind=kind, config=config,
                                    status="skipped", error=why, created=_now()))  # fmt: skip
                return
        self._log(f"{name}: running {kind} {config.get('method', '')}".rstrip())
        started = time.perf_counter()
        try:
            made = apply(parent_model)
            stage_s = time.perf_counter() - started
            artifact = self._save(name, made)
            started = time.perf_counter()
            measurement = self._measure(made, name, kind, config, parent)
            measure_s = time.perf_counter() - started
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failed stage is recorded; earlier variants stay
            message = one_line(str(exc)) if isinstance(exc, UserError) else (
                f"{type(exc).__name__}: {one_line(str(exc))[:300]}")  # fmt: skip
            if not isinstance(exc, UserError):
                self._log_traceback(name)
            self.record(Variant(name=name, parent=parent, kind=kind, config=config,
                                status="failed", error=message, created=_now()))  # fmt: skip
            return
        self.models[name] = made
        self.record(
            Variant(
                name=name,
                parent=parent,
                kind=kind,
                config=config,
                status="ok",
                measurement=measurement,
                artifact=artifact,
                seconds={"stage": round(stage_s, 3), "measure": round(measure_s, 3)},
                created=_now(),
                versions=_versions(),
            )  # fmt: skip
        )

    def _save(self, name: str, made) -> str | None:
        """Save a torch variant (safetensors, else .pt2, else state_dict .pt); ONNX is on disk."""
        path = getattr(made, "path", None)
        if path is not None:  # OrtModel: the export stage wrote it into models/
            return str(Path(path).resolve().relative_to(self.out.resolve()))
        if not isinstance(made, nn.Module):
            return None
        target = self.out / "models" / name
        # a wl.quantize result reloads exactly only from its self-contained .pt (a cast or
        # weight-only model would fit safetensors but reload as fp32 / the wrong modules)
        quantized = getattr(made, "weightlight_quantized", None)
        for suffix in (".pt",) if quantized else (".safetensors", ".pt2", ".pt"):
            try:
                save_model(made, target.with_suffix(suffix), self.data.example_input)
                return f"models/{name}{suffix}"
            except Exception:  # this format cannot hold this model: try the next
                continue
        return None

    def _measure(self, made, name: str, kind: str, config: dict, parent: str | None):
        if not self.measuring:
            return None
        options = self.recipe.measure
        # A short first timing: the figures a report shows come from `retime` at the end.
        record = measure(
            made, self.data, name=name, batch_sizes=options.batch_sizes, threads=options.threads,
            runs=max(3, options.runs // RETIME_ROUNDS), warmup=min(options.warmup, 3),
            generation=options.generation.model_copy(
                update={"runs": max(2, options.generation.runs // RETIME_ROUNDS)}
            ),
        )  # fmt: skip
        first = "preliminary (the run's interleaved re-timing had not happened yet): "
        timed = ["latency"] + (["generation"] if record.generation is not None else [])
        record = record.with_updates(
            methods={**record.methods, **{k: first + record.methods[k] for k in timed}}
        )
        record = measure_energy(
            record, as_runnable(made, self.data.adapter).run,
            self.data.example_batch(max(options.batch_sizes)), **energy_options(self.recipe),
        )  # fmt: skip
        int8_path, notes = stage_precision(config)
        log = getattr(made, "weightlight_training", None)
        if kind in ("finetune", "distill") and log is not None:  # made by this stage's training
            notes = (*notes, training_note(log))
        record = record.with_updates(int8_path=int8_path, notes=(*record.notes, *notes))
        return self._guard(record, kind, config, parent)

    def _guard(self, record, kind: str, config: dict, parent: str | None):
        quantized = kind in ("quantize", "baseline") or bool(config.get("quantize"))
        source = self.done(parent) if parent else None
        if quantized and source is not None and source.measurement is not None:
            record = guardrail(record, source.measurement, precision=precision_of(config))
        return record

    def retime(self) -> None:
        """Time every measured variant again, together, so one report's ratios compare alike
        (forward latency, and generation for a language model: `weightlight.pipeline.retime`)."""
        fresh = retime(self)
        for v in list(self.variants):
            if v.name in fresh:
                m = self._guard(fresh[v.name], v.kind, v.config, v.parent)
                self.variants = upsert(self.variants, v.model_copy(update={"measurement": m}))
        if fresh:
            write_variants(self.out, self.variants)
            self._log(f"re-timed {len(fresh)} variants together ({RETIME_ROUNDS} rounds)")

    def _log_traceback(self, name: str) -> None:
        with open(self.out / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"--- traceback of {name} ---\n{traceback.format_exc()}\n")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("weightlight", "onnxruntime", "onnx", "torch-pruning"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[pkg] = md.version(pkg)
    return versions
