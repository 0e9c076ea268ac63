"""What the report concludes: the Pareto fronts and the best variant under an accuracy budget.

Pure functions over Variants, so the report can be rebuilt from variants.jsonl alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from weightlight.measure.metric import wilson_interval, within_noise
from weightlight.measure.record import Measurement
from weightlight.variants import Variant


def measured(variants: Sequence[Variant]) -> list[Variant]:
    return [v for v in variants if v.ok]


def largest_batch(variants: Sequence[Variant]) -> int | None:
    sizes = {p.batch_size for v in measured(variants) for p in v.measurement.latency}
    return max(sizes) if sizes else None


def latency_ms(variant: Variant, batch_size: int) -> float | None:
    point = variant.measurement.latency_at(batch_size) if variant.measurement else None
    return point.p50_ms if point else None


def pareto_front(variants: Sequence[Variant], cost: Callable[[Variant], float | None]) -> list[str]:
    """Names of variants no other variant beats on both cost (lower) and metric (better: higher,
    or lower for a lower-is-better metric such as perplexity)."""
    points = [(cost(v), _goodness(v), v.name) for v in measured(variants)]
    points = [p for p in points if p[0] is not None and p[1] is not None]
    front = []
    for c, m, name in points:
        dominated = any((c2 <= c and m2 >= m) and (c2 < c or m2 > m) for c2, m2, _ in points)
        if not dominated:
            front.append(name)
    return front


def _goodness(v: Variant) -> float | None:
    """The metric signed so that higher is better."""
    m = v.measurement.metric
    if m is None:
        return None
    return m if v.measurement.metric_higher_is_better else -m


def summarize(variants: Sequence[Variant], max_drop: float = 1.0) -> dict:
    """Ratios against the base, the best / fastest / smallest variants within `max_drop` points
    of the base's metric (chosen among all that qualify, never the first that fits), and the
    Pareto fronts.

    Choices are made on the validation metric and the figures reported are on the test split,
    so the winner of many comparisons is not scored on the set it was picked on. Records
    without a validation metric (runs made before the split) fall back to the test metric,
    and `selected_on` says so. Accuracy rows carry a 95 % Wilson interval and whether their
    difference from the base is within sampling noise.
    """
    ok = measured(variants)
    base = next((v for v in ok if v.kind == "base"), None)
    bs = largest_batch(variants)
    summary: dict = {"max_drop": max_drop, "batch_size": bs, "failed": [
        {"name": v.name, "error": v.error} for v in variants if v.status == "failed"]}  # fmt: skip
    summary["flags"] = guardrail_flags(variants, max_drop)
    summary["busy"] = busy_timings([v.measurement for v in measured(variants)])
    summary["pareto_size"] = pareto_front(variants, lambda v: v.measurement.size_bytes)
    summary["pareto_latency"] = pareto_front(variants, lambda v: latency_ms(v, bs) if bs else None)
    if base is None or bs is None:
        return summary
    on_val = all(v.measurement.val_metric is not None for v in ok)
    summary["selected_on"] = "validation split" if on_val else (
        "test split (some records have no validation metric: made before the split)")  # fmt: skip
    summary["reported_on"] = "test split"
    base_ms, base_size = latency_ms(base, bs), base.measurement.size_bytes
    rows = [_row(v, base.measurement, base_ms, base_size, bs, on_val) for v in ok]
    summary["ratios"] = rows
    eligible = [
        r for r in rows if r["name"] != "base" and r["selection_drop"] is not None
        and r["selection_drop"] <= max_drop and r["speedup"] and r["size_ratio"]
    ]  # fmt: skip
    generation = base.measurement.generation
    if generation is not None:
        # A language model is chosen as it is used: by decode tokens/s with the key/value
        # cache (a variant that cannot decode token by token is not a candidate).
        summary["generation"] = generation_setting(generation)
        eligible = [r for r in eligible if r["decode_speedup"]]
        if eligible:
            summary["best"] = max(eligible, key=lambda r: (r["decode_speedup"], r["size_ratio"]))
            summary["fastest"] = summary["best"]
            summary["smallest"] = max(eligible, key=lambda r: (r["size_ratio"], r["speedup"]))
    elif eligible:
        # "Best" weighs speed and size equally (their product: how many times cheaper to serve
        # and to ship); the fastest and the smallest are reported beside it.
        summary["best"] = max(
            eligible, key=lambda r: (r["speedup"] * r["size_ratio"], r["speedup"])
        )
        summary["fastest"] = max(eligible, key=lambda r: (r["speedup"], r["size_ratio"]))
        summary["smallest"] = max(eligible, key=lambda r: (r["size_ratio"], r["speedup"]))
    if "best" in summary:
        key = "decode_speedup" if generation is not None else None
        peers = [r for r in eligible if r["kind"] == "baseline"]
        if peers:
            summary["best_peer"] = max(
                peers, key=lambda r: r[key] if key else r["speedup"] * r["size_ratio"]
            )
            summary["beats_peers"] = summary["best"]["kind"] != "baseline"
    return summary


def _row(v: Variant, base, base_ms: float | None, base_size: int, bs: int, on_val: bool) -> dict:
    m = v.measurement
    ms, size = latency_ms(v, bs), m.size_bytes
    test_drop = m.metric_drop(base)  # positive = worse, whichever way the task's metric goes
    val_drop = m.val_drop(base)
    row = {
        "name": v.name,
        "kind": v.kind,
        "speedup": base_ms / ms if ms and base_ms else None,
        "size_ratio": base_size / size if size else None,
        "metric": m.metric,
        "metric_drop": test_drop,
        "val_metric": m.val_metric,
        "val_drop": val_drop,
        "selection_drop": val_drop if on_val else test_drop,
        "decode_speedup": _ratio(m.generation, base.generation, "decode_tokens_per_s"),
        "prefill_speedup": _inverse_ratio(m.generation, base.generation, "prefill_ms_p50"),
        "metric_interval": None,  # a proportion's interval: classification accuracy only
        "within_noise": None,
    }
    if _is_accuracy(m) and _is_accuracy(base) and m.metric_samples and base.metric_samples:
        row["metric_interval"] = list(wilson_interval(m.metric, m.metric_samples))
        row["within_noise"] = within_noise(
            m.metric, m.metric_samples, base.metric, base.metric_samples
        )
    return row


def generation_setting(g) -> str:
    """The conditions every generation figure of a run was measured under, in words."""
    return (f"batch {g.batch_size}, {g.prompt_tokens}-token prompt, {g.new_tokens} new tokens, "
            f"{g.threads} thread(s)")  # fmt: skip


def _ratio(mine, theirs, field: str) -> float | None:
    """mine.field / theirs.field (higher is better), None when either is missing."""
    if mine is None or theirs is None or not getattr(theirs, field):
        return None
    return getattr(mine, field) / getattr(theirs, field)


def _inverse_ratio(mine, theirs, field: str) -> float | None:
    """theirs.field / mine.field: how many times faster, for a time."""
    if mine is None or theirs is None or not getattr(mine, field):
        return None
    return getattr(theirs, field) / getattr(mine, field)


def _is_accuracy(m) -> bool:
    """Intervals apply to proportions: accuracy in %, not a user metric, a cosine, an MSE or a
    perplexity."""
    return (
        m.metric_name == "accuracy"
        and m.metric_higher_is_better
        and m.metric is not None
        and 0.0 <= m.metric <= 100.0
    )


# Below this ratio a slower median is timing noise on a shared CPU, not a finding.
SLOWER_MARGIN = 1.05


def guardrail_flags(variants: Sequence[Variant], max_drop: float) -> dict[str, list[str]]:
    """Variant name -> why it should not be deployed as is: slower than the variant it was
    made from (at any measured batch size, beyond SLOWER_MARGIN), or more than `max_drop`
    metric points below the base. Every kind of variant is checked, not only int8 ones."""
    ok = {v.name: v for v in measured(variants)}
    base = next((v for v in ok.values() if v.kind == "base"), None)
    flags: dict[str, list[str]] = {}
    for v in ok.values():
        reasons = []
        parent = ok.get(v.parent) if v.parent else None
        if parent is not None:
            for point in v.measurement.latency:
                ref = parent.measurement.latency_at(point.batch_size)
                if ref is not None and point.p50_ms > ref.p50_ms * SLOWER_MARGIN:
                    reasons.append(
                        f"slower than its parent {parent.name} at batch {point.batch_size}: "
                        f"{point.p50_ms:.3g} vs {ref.p50_ms:.3g} ms "
                        f"({point.p50_ms / ref.p50_ms:.2f}x)"
                    )
        metric = v.measurement.metric
        base_metric = base.measurement.metric if base is not None else None
        if v is not base and metric is not None and base_metric is not None:
            drop = v.measurement.metric_drop(base.measurement)  # by the task's direction
            if drop is not None and drop > max_drop:
                reasons.append(
                    f"loses {drop:.2f} {v.measurement.metric_name} points vs base "
                    f"(budget {max_drop:g})"
                )
        if reasons:
            flags[v.name] = reasons
    return flags


def busy_timings(records: Sequence[Measurement]) -> list[dict]:
    """Latency points timed while the 1-minute load average exceeded the threads in use:
    other work shared the cores, so those figures (torch's most: its OpenMP threads wait for
    each other) are slower than on a quiet machine. One row per variant: its name, runtime,
    threads, highest load and the batch sizes concerned. Records without a load say nothing."""
    rows = []
    for m in records:
        busy = [p for p in m.latency if p.load is not None and p.load > m.threads]
        if busy:
            rows.append({
                "name": m.name, "runtime": m.runtime, "threads": m.threads,
                "load": max(p.load for p in busy), "batch_sizes": [p.batch_size for p in busy],
            })  # fmt: skip
    return rows


def busy_warning(busy: list[dict], rows: int | None = None) -> str | None:
    """One sentence for the report, e.g. "timed while the machine was busy: load 3.4 > 2
    threads (base, onnx); torch timings suffer most", or None when every timing was quiet.
    With `rows` (how many variants were timed) equal to the busy ones, it says "every variant"."""
    if not busy:
        return None
    worst = max(busy, key=lambda r: r["load"] - r["threads"])
    names = "every variant" if rows == len(busy) else ", ".join(r["name"] for r in busy)
    return (
        f"timed while the machine was busy: load {worst['load']:.1f} > {worst['threads']} "
        f"thread{'s' if worst['threads'] != 1 else ''} ({names}); torch timings suffer most, "
        "so speed-ups against torch rows may be overstated: measure again on a quiet machine"
    )
