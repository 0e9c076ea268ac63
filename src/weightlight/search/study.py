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

import time
from collections.abc import Callable
from pathlib import Path

import optuna
from torch import nn

from weightlight.accelerator import resolve_device
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.search.fidelity import Fidelity
from weightlight.search.results import (  # noqa: F401  (re-exported: the search's results)
    SearchResult,
    TrialResult,
    best_within,
    cost_of,
    pareto,
    summarize_study,
)
from weightlight.search.sensitivity import rank_and_seed
from weightlight.search.space import FirstChoice, SearchSpace, load_space
from weightlight.search.storage import check_storage, open_study
from weightlight.search.trial import base_variant, reuse, run_trial

OBJECTIVES = ("latency", "size", "energy")
DEFAULT_SPACE = "cnn"
_STARTED = tuple(s for s in optuna.trial.TrialState if s != optuna.trial.TrialState.WAITING)


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
    base = base_variant(model, data, probe, out)
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
            result = reuse(study, trial, parsed, fragile) or run_trial(
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
