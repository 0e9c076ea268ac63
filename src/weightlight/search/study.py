"""The accuracy-aware search: an optuna multi-objective study over a search space.

Each trial samples a concrete recipe from the space, runs it with `wl.run` into
`<out>/trials/<number>/` (saved and measured like any run) and reports two objectives to
optuna, both minimized: the metric drop versus the base model on the validation split (the
test split is only reported), and the cost (latency at the largest batch size, size on disk,
or energy per million inferences). A timed cost is the trial's ratio to the base re-timed
beside it in the same run, times the search base's figure, so trials run minutes apart under
different machine load compare fairly. The result is the Pareto
front over every finished trial of the study (all workers) and the BEST variant under the
accuracy constraint: the lowest cost among trials whose drop is within `max_drop`, never the
first trial that fits (INC's tuner stops at the first, and often ends with nothing). The first
trial of a new study is the space's starting plan (every choice's first value), so the best is
never worse than the plan a user would have tried by hand.

Several workers share one study through optuna's RDB storage (SQLite in the run folder by
default): `trials` is the study's total, and trial numbers are handed out by the storage, so a
worker stops when the next number would exceed it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from torch import nn

from weightlight._io import write_text_atomic
from weightlight.accelerator import resolve_device
from weightlight.data import Data
from weightlight.errors import UserError, one_line
from weightlight.measure import measure
from weightlight.measure.energy import measure_energy
from weightlight.measure.runnable import as_runnable
from weightlight.pipeline import energy_options, run
from weightlight.recipe import Recipe, dump_recipe, variant_name
from weightlight.report import build_report
from weightlight.search.fidelity import Fidelity
from weightlight.search.sensitivity import rank_and_seed
from weightlight.search.space import FirstChoice, SearchSpace, load_space
from weightlight.variants import Variant, read_variants, write_variants

OBJECTIVES = ("latency", "size", "energy")
DEFAULT_SPACE = "cnn"
_STARTED = tuple(s for s in optuna.trial.TrialState if s != optuna.trial.TrialState.WAITING)


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: its choices, its final variant and the two objective values.

    `metric_drop` is the drop on the validation split (what the search optimizes and selects
    on); `test_drop` is the drop on the held-out test split, the figure to report.
    """

    number: int
    params: dict
    variant: Variant
    metric_drop: float
    cost: float
    test_drop: float | None = None


@dataclass(frozen=True)
class SearchResult:
    """What a search found.

    Attributes:
        base: the measured base model.
        trials: every COMPLETE trial of the study (all workers), by number.
        front: the Pareto front over (metric drop, cost), cheapest first.
        best: the lowest-cost trial within `max_drop` (None if no trial fits).
        failed: (trial number, error) of trials whose recipe failed.
        interrupted: the search stopped on Ctrl-C (finished trials are kept).
    """

    base: Variant
    objective: str
    max_drop: float
    trials: list[TrialResult]
    front: list[TrialResult]
    best: TrialResult | None
    failed: list[tuple[int, str]] = field(default_factory=list)
    interrupted: bool = False
    out: Path = Path(".")
    storage: str = ""
    study_name: str = ""


def search(
    model: nn.Module,
    data: Data,
    *,
    space: str | Path | SearchSpace = DEFAULT_SPACE,
    max_drop: float = 1.0,
    objective: str = "latency",
    trials: int = 20,
    time_budget: float | None = None,
    storage: str | None = None,
    out: str | Path = "runs/search",
    study_name: str | None = None,
    factory: str | Callable[[], nn.Module] | None = None,
    seed: int | None = None,
    metric: str = "task",
    on_trial: Callable[[int, int, TrialResult | None], None] | None = None,
    device: str | None = None,
    on_rank: Callable[[int, int, str], None] | None = None,
) -> SearchResult:
    """Search the space for the cheapest variant within `max_drop` points of the base metric.

    Args:
        model: the trained base model (never modified).
        data: the data bundle every trial trains, calibrates and measures with.
        space: a search-space YAML file, a built-in name (`cnn`, `convnet`, `tiny`, `bert`) or
            a parsed SearchSpace.
        max_drop: accuracy budget in metric points (>= 0).
        objective: "latency" (p50 at the largest batch size), "size" or "energy".
        trials: total trials of the study (shared by all workers on the same storage).
        time_budget: stop starting new trials after this many seconds.
        storage: optuna RDB URL; default `sqlite:///<out>/study.db`. Workers on several
            machines share a server instead, e.g.
            `postgresql+psycopg://user:password@host/db` (docs/scaling.md).
        out: the search folder: trials/<n>/ run folders, variants.jsonl, report.html.
        study_name: default: the space's name.
        factory: rebuilds the base architecture when reloading saved variants.
        seed: sampler seed (leave None when several workers share a study).
        metric: "task" (the data's task metric: top-1 %, embedding cosine vs the base x100,
            MSE or perplexity, each with its direction), "accuracy" (the same for a
            classification task) or "cosine": 100 x the mean output cosine versus the base
            model on the same batches, so max_drop=1 means cosine >= 0.99 (for models without
            meaningful labels, e.g. a transformer's fidelity after int8).
        on_trial: called as on_trial(finished_here, trials, result) after each trial.
        on_rank: called as on_rank(done, total, step) while fragile layers are ranked.
        device: where trials train and calibrate (auto, cpu, cuda, cuda:N); default: the
            current `weightlight.accelerator.use_device` choice. Trials are measured on the CPU.

    Returns:
        The SearchResult (also written to `<out>/search.json` and `<out>/report.html`).

    Example:
        >>> result = wl.search(model, data, space="cnn", max_drop=1.0, trials=20)
        >>> result.best.variant.name  # doctest: +SKIP
        't7'
    """
    check_arguments(max_drop, objective, trials, time_budget, metric)
    if storage:
        check_storage(storage)
    resolve_device(device)  # a bad or missing device fails before the base is measured
    if data.task_spec.needs_reference and data.reference is None:
        data = data.with_reference(model)  # every trial is scored against the base
    parsed = space if isinstance(space, SearchSpace) else load_space(space)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study_name = study_name or parsed.name
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the library never prints
    study = open_study(study_name, storage, seed)
    fresh = not study.get_trials(deepcopy=False)
    if fresh:  # a new study starts from the space's plan
        study.enqueue_trial(parsed.start(), skip_if_exists=True)
    probe = parsed.sample(FirstChoice(), ["x"])
    base = _base_variant(model, data, probe, out)
    fidelity = None
    if metric == "cosine":  # the base agrees with itself: 100 points
        fidelity = Fidelity(model, data, factory)
        relabelled = fidelity.relabel(
            base.measurement, 100.0, 100.0 if fidelity.val is not None else None
        )
        base = base.model_copy(update={"measurement": relabelled})
    fragile: list[str] = []
    if parsed.uses_fragile():
        fragile = rank_and_seed(model, data, parsed, out, study, fresh, on_rank)
    started, finished_here, interrupted, trial = time.monotonic(), 0, False, None
    try:
        while True:
            if len(study.get_trials(deepcopy=False, states=_STARTED)) >= trials:
                break  # enqueued (WAITING) seed trials are not started ones
            if time_budget is not None and time.monotonic() - started > time_budget:
                break
            trial = study.ask()
            if trial.number >= trials:  # another worker took the last number meanwhile
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            result = _reuse(study, trial, parsed, fragile) or _run_trial(
                trial, parsed, fragile, model, data, base, out, objective, factory, fidelity, device
            )
            if result is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, [result.metric_drop, result.cost])
            trial, finished_here = None, finished_here + 1
            if on_trial:
                on_trial(finished_here, trials, result)
    except KeyboardInterrupt:  # keep what finished; the running trial is marked failed
        interrupted = True
        if trial is not None:
            trial.set_user_attr("error", "interrupted (Ctrl-C)")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return summarize_study(study, base, out, objective, max_drop, interrupted, storage)


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


def check_arguments(
    max_drop: float, objective: str, trials: int, time_budget, metric: str = "task"
) -> None:
    """Reject bad search arguments up front, one line each."""
    if metric not in ("task", "accuracy", "cosine"):
        raise UserError(f"unknown metric '{metric}'", "use task, accuracy or cosine")
    if not 0 <= max_drop < float("inf"):
        raise UserError(f"max drop must be >= 0 points and finite, got {max_drop:g}",
                        "use e.g. 1.0")  # fmt: skip
    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective '{objective}'", f"use one of {', '.join(OBJECTIVES)}")
    if trials < 1:
        raise UserError(f"trials must be >= 1, got {trials}", "use e.g. --trials 20")
    if time_budget is not None and not time_budget > 0:
        raise UserError(f"time budget must be > 0 seconds, got {time_budget:g}", "or omit it")


def cost_of(variant: Variant, objective: str) -> float | None:
    """The objective value of a measured variant (lower is better)."""
    m = variant.measurement
    if m is None:
        return None
    if objective == "size":
        return float(m.size_bytes)
    if objective == "energy":
        return m.energy.joules_per_1m if m.energy else None
    point = max(m.latency, key=lambda p: p.batch_size, default=None)
    return point.p50_ms if point else None


def pareto(trials: list[TrialResult]) -> list[TrialResult]:
    """Trials no other trial beats on both drop and cost, cheapest first."""
    front = [
        t for t in trials
        if not any(o.metric_drop <= t.metric_drop and o.cost <= t.cost
                   and (o.metric_drop < t.metric_drop or o.cost < t.cost) for o in trials)
    ]  # fmt: skip
    return sorted(front, key=lambda t: (t.cost, t.metric_drop))


def best_within(trials: list[TrialResult], max_drop: float) -> TrialResult | None:
    """The cheapest trial whose drop is within budget (ties: the smaller drop)."""
    fits = [t for t in trials if t.metric_drop <= max_drop]
    return min(fits, key=lambda t: (t.cost, t.metric_drop, t.number)) if fits else None


def summarize_study(study, base: Variant, out: Path, objective: str, max_drop: float,
                    interrupted: bool = False, storage: str = "") -> SearchResult:  # fmt: skip
    """Result from every COMPLETE trial in the storage; writes variants.jsonl, report, json."""
    done, failed = [], []
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.COMPLETE and "same_as" in t.user_attrs:
            continue  # a repeat of an earlier trial: counted once
        if t.state == optuna.trial.TrialState.COMPLETE and "variant" in t.user_attrs:
            variant = Variant.model_validate(t.user_attrs["variant"])
            done.append(TrialResult(t.number, dict(t.params), variant, t.values[0], t.values[1],
                                    _test_drop(base, variant)))  # fmt: skip
        elif t.state == optuna.trial.TrialState.FAIL and "error" in t.user_attrs:
            failed.append((t.number, t.user_attrs["error"]))
    result = SearchResult(
        base=base, objective=objective, max_drop=max_drop, trials=done, front=pareto(done),
        best=best_within(done, max_drop), failed=failed, interrupted=interrupted, out=out,
        storage=storage, study_name=study.study_name,
    )  # fmt: skip
    write_variants(out, [base, *(t.variant for t in done)])
    build_report(out, max_drop=max_drop)
    write_text_atomic(out / "search.json", json.dumps(_as_json(result), indent=2))
    return result


def _as_json(result: SearchResult) -> dict:
    def row(t: TrialResult) -> dict:
        return {"trial": t.number, "name": t.variant.name, "metric_drop": t.metric_drop,
                "test_drop": t.test_drop, "test_metric": t.variant.measurement.metric,
                "cost": t.cost, "params": t.params}  # fmt: skip

    return {
        "objective": result.objective, "max_drop": result.max_drop,
        "selected_on": "validation split" if result.base.measurement.val_metric is not None
        else "test split (no validation split in the data)",
        "metric_drop": "on the split selection uses; test_drop: on the held-out test split",
        "base_metric": result.base.measurement.metric,
        "base_val_metric": result.base.measurement.val_metric,
        "base_cost": cost_of(result.base, result.objective),
        "best": row(result.best) if result.best else None,
        "front": [row(t) for t in result.front], "trials": [row(t) for t in result.trials],
        "failed": [{"trial": n, "error": e} for n, e in result.failed],
        "interrupted": result.interrupted, "storage": result.storage,
    }  # fmt: skip


def _run_trial(
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
                       _test_drop(base, named))  # fmt: skip


def _on_base_scale(cost, variants: list[Variant], base: Variant, objective: str):
    """A timed cost made comparable across trials: each trial's run re-times its variants
    interleaved with the base (wl.run), so cost / that base's cost is free of the machine's
    state during that trial; times the search base's cost, it is back in ms (or J)."""
    if cost is None or objective == "size":
        return cost
    with_it = next((v for v in variants if v.kind == "base" and v.ok), None)
    here, ref = cost_of(with_it, objective) if with_it else None, cost_of(base, objective)
    return cost / here * ref if here and ref else cost


def _test_drop(base: Variant, variant: Variant) -> float | None:
    drop = variant.measurement.metric_drop(base.measurement)
    return round(drop, 6) if drop is not None else None


def _reuse(study, trial, space: SearchSpace, fragile) -> TrialResult | None:
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


def _base_variant(model: nn.Module, data: Data, recipe: Recipe, out: Path) -> Variant:
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
