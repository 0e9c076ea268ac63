"""What a search found: trial results, the Pareto front, the best trial within budget, and
the files a finished study writes (variants.jsonl, report.html, search.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from weightlight._io import write_text_atomic
from weightlight.report import build_report
from weightlight.variants import Variant, write_variants


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
                                    drop_on_test(base, variant)))  # fmt: skip
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


def drop_on_test(base: Variant, variant: Variant) -> float | None:
    drop = variant.measurement.metric_drop(base.measurement)
    return round(drop, 6) if drop is not None else None
