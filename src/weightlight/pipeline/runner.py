"""Run a recipe: every stage makes a variant that is saved and measured as soon as it exists.

    base --prune--> pruned --quantize--> pruned-int8
      \\--quantize--> base-int8                (a recipe may branch with `from:`)

The run folder holds `recipe.yaml` (resolved), `variants.jsonl` (rewritten atomically after
every variant), `models/<variant>.*` and `log.txt`. A stage that raises is recorded as failed and
the run goes on with stages that do not depend on it. `resume=True` keeps every finished variant
and redoes only what is missing; parents are reloaded from their saved artifacts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from torch import nn

from weightlight import baselines
from weightlight._io import check_writable_layout
from weightlight.accelerator import resolve_device, use_device
from weightlight.data import Data
from weightlight.pipeline.stages import baseline_runner, stage_runner
from weightlight.pipeline.state import Progress, RunState
from weightlight.recipe import Recipe, stage_config, stage_kind, variant_name
from weightlight.variants import Variant

# What a run writes in its folder: checked before the first stage runs, not found out after.
RUN_FOLDERS = ("models", "plots")
RUN_FILES = ("recipe.yaml", "variants.jsonl", "log.txt", "report.json", "report.html")


def run(
    recipe: Recipe,
    model: nn.Module,
    data: Data,
    out: str | Path,
    *,
    resume: bool = False,
    factory: str | Callable[[], nn.Module] | None = None,
    on_event: Progress | None = None,
    device: str | None = None,
) -> list[Variant]:
    """Run `recipe` on `model` and `data`, writing everything under `out`.

    Args:
        recipe: the parsed recipe (`weightlight.recipe.load_recipe`).
        model: the trained base model; it is never modified.
        data: the data bundle every stage and measurement uses.
        out: the run folder.
        resume: continue an interrupted run in `out`, keeping finished variants.
        factory: rebuilds the base architecture when reloading saved variants of a model that
            is not a built-in (the `--model module:function` the user passed).
        on_event: called with one-line progress messages (the CLI prints them).
        device: where training, distillation, QAT and calibration run (auto, cpu, cuda,
            cuda:N); default: the recipe's `device`, else the caller's choice (auto). Under
            torchrun each rank uses its local GPU. Variants are saved and measured on the CPU.

    Returns:
        Every variant of the run, in order (base, stages, baselines).

    Example:
        >>> variants = wl.run(wl.recipe.load_recipe("default"), model, data, "runs/x")
    """
    data.adapter.check(model, data.example_input)
    if data.task_spec.needs_reference and data.reference is None:
        data = data.with_reference(model)  # every variant is scored against the base
    with use_device(device or recipe.device):  # a bad or missing device fails before any work
        return _run(recipe, model, data, Path(out), resume, factory, on_event)


def _run(recipe, model, data, out: Path, resume, factory, on_event) -> list[Variant]:
    rank = process_rank()
    if rank > 0:
        # Under torchrun every rank runs the stages (training steps are collective), but only
        # rank 0 measures and owns the run folder; the others keep their copies apart.
        out = out / ".ranks" / str(rank)
    check_writable_layout(out, folders=RUN_FOLDERS, files=RUN_FILES)
    state = RunState(out, recipe, data, factory, on_event or (lambda _msg: None))
    state.measuring = rank == 0
    state.open(resume)
    state._log(f"training device: {resolve_device()}")
    state.models["base"] = model
    state.step("base", None, "base", {}, lambda _parent: model)
    for index, stage in enumerate(recipe.stages):
        name = variant_name(stage, index)
        parent = stage.from_ or (
            variant_name(recipe.stages[index - 1], index - 1) if index else "base"
        )
        kind, config = stage_kind(stage), stage_config(stage)
        teacher = stage.teacher
        apply = stage_runner(kind, config, data, state, teacher, name)
        state.step(name, parent, kind, config.model_dump(mode="json"), apply)
    if recipe.baselines and state.measuring:
        for name, make in baselines.available(model).items():
            apply = baseline_runner(make, data, state, name)
            state.step(name, "base", "baseline", {"method": name}, apply)
    if state.measuring:
        state.retime()
    return state.variants


def process_rank() -> int:
    """This process's rank under torchrun (0 when run alone)."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
