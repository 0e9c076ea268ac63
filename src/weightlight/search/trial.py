"""One trial of a search: sample a recipe, run it, score it against the base measured once."""

from __future__ import annotations

import contextlib
from pathlib import Path

import optuna
from torch import nn

from weightlight._io import write_text_atomic
from weightlight.data import Data
from weightlight.errors import UserError, one_line
from weightlight.measure import measure
from weightlight.measure.energy import measure_energy
from weightlight.measure.runnable import as_runnable
from weightlight.pipeline import energy_options, run
from weightlight.recipe import Recipe, dump_recipe, variant_name
from weightlight.search.results import TrialResult, cost_of, drop_on_test
from weightlight.search.space import SearchSpace
from weightlight.variants import Variant, read_variants, write_variants


def run_trial(
    trial, space, fragile, model, data, base, out, objective, factory, fidelity=None, device=None
):
    """Run one sampled recipe; None (with the error in the trial's attrs) if it failed."""
    try:
        recipe = space.sample(trial, fragile)
    except UserError as exc:
        trial.set_user_attr("error", one_line(str(exc)))
        return None
    folder = out / "trials" / str(trial.number)
    folder.mkdir(parents=True, exist_ok=True)
    # The base is measured once per search: seeding the trial folder with its record lets
    # wl.run keep it ("done earlier") instead of timing the same model again every trial.
    write_variants(folder, [base])
    variants = run(recipe, model, data, folder, resume=True, factory=factory, device=device)
    final = variant_name(recipe.stages[-1], len(recipe.stages) - 1)
    variant = next((v for v in variants if v.name == final), None)
    cost = cost_of(variant, objective) if variant is not None and variant.ok else None
    cost = _on_base_scale(cost, variants, base, objective)
    if cost is not None and fidelity is not None:
        try:
            variant = variant.model_copy(
                update={"measurement": fidelity.score(folder, variant, data)}
            )
        except (UserError, RuntimeError, OSError) as exc:
            trial.set_user_attr("error", f"{final}: cannot compare outputs ({one_line(str(exc))})")
            return None
    metric = variant.measurement.metric if cost is not None else None
    if cost is None or metric is None or base.measurement.metric is None:
        broken = [v for v in variants if v.status != "ok"]
        why = broken[0].error if broken and broken[0].error else "no measured final variant"
        trial.set_user_attr("error", f"{broken[0].name if broken else final}: {why}")
        return None
    named = variant.model_copy(update={
        "name": f"t{trial.number}", "parent": "base", "kind": "search",
        "measurement": variant.measurement.with_updates(name=f"t{trial.number}"),
        "config": {"method": "+".join(s["method"] for s in _stage_methods(recipe)),
                   "trial": trial.number, "params": dict(trial.params), "folder": str(folder)},
    })  # fmt: skip
    trial.set_user_attr("variant", named.model_dump(mode="json"))
    # Optimized and selected on validation; the test drop is only reported.
    b, m = base.measurement, named.measurement
    on_val = b.val_metric is not None and m.val_metric is not None
    # Drops follow the task's direction (perplexity: lower is better), positive = worse.
    drop = round(m.val_drop(b) if on_val else m.metric_drop(b), 6)
    return TrialResult(trial.number, dict(trial.params), named, drop, cost,
                       drop_on_test(base, named))  # fmt: skip


def _on_base_scale(cost, variants: list[Variant], base: Variant, objective: str):
    """A timed cost made comparable across trials: each trial's run re-times its variants
    interleaved with the base (wl.run), so cost / that base's cost is free of the machine's
    state during that trial; times the search base's cost, it is back in ms (or J)."""
    if cost is None or objective == "size":
        return cost
    with_it = next((v for v in variants if v.kind == "base" and v.ok), None)
    here, ref = cost_of(with_it, objective) if with_it else None, cost_of(base, objective)
    return cost / here * ref if here and ref else cost


def reuse(study, trial, space: SearchSpace, fragile) -> TrialResult | None:
    """The result of an earlier trial with the same choices (TPE may propose a point twice;
    re-running it would only re-time the same recipe)."""
    with contextlib.suppress(UserError):
        space.sample(trial, fragile)  # makes the trial's choices, so its params are known
    for earlier in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if earlier.params == trial.params and "variant" in earlier.user_attrs:
            trial.set_user_attr("same_as", earlier.number)
            variant = Variant.model_validate(earlier.user_attrs["variant"])
            return TrialResult(trial.number, dict(trial.params), variant, *earlier.values)
    return None


def _stage_methods(recipe: Recipe) -> list[dict]:
    from weightlight.recipe import stage_config

    methods = []
    for stage in recipe.stages:
        config = stage_config(stage)
        quant = getattr(config, "quantize", None)
        name = getattr(config, "method", "?") + (f"-{quant}" if isinstance(quant, str) else "")
        methods.append({"method": name})
    return methods


def base_variant(model: nn.Module, data: Data, recipe: Recipe, out: Path) -> Variant:
    """The base model measured once (reused by every worker of the same folder)."""
    saved = [v for v in read_variants(out) if v.kind == "base" and v.ok]
    if saved:
        return saved[0]
    options = recipe.measure
    record = measure(
        model, data, name="base", batch_sizes=options.batch_sizes, threads=options.threads,
        runs=options.runs, warmup=options.warmup,
    )  # fmt: skip
    # The same energy method as every trial's variants (wl.run): RAPL where readable.
    record = measure_energy(
        record, as_runnable(model, data.adapter).run,
        data.example_batch(max(options.batch_sizes)), **energy_options(recipe),
    )  # fmt: skip
    base = Variant(name="base", parent=None, kind="base", status="ok", measurement=record)
    write_variants(out, [base])
    write_text_atomic(out / "space-probe.yaml", dump_recipe(recipe))
    return base
