"""Latency and throughput: warm up, then time many calls; report median and p90."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch

from weightlight.measure.record import LatencyPoint


def measure_latency(
    run: Callable[[torch.Tensor], object],
    make_batch: Callable[[int], torch.Tensor],
    batch_sizes: tuple[int, ...] = (1, 64),
    *,
    warmup: int = 10,
    runs: int = 50,
    max_seconds: float = 5.0,
) -> tuple[LatencyPoint, ...]:
    """Time `run(batch)` for each batch size.

    Each batch size gets `warmup` untimed calls (allocator, caches, lazy init), then up to
    `runs` timed calls, stopping early after `max_seconds` but never below 5 timed calls, so a
    slow model keeps the whole measurement bounded.
    """
    points = []
    for bs in batch_sizes:
        batch = make_batch(bs)
        load_before = load_average()
        for _ in range(warmup):
            run(batch)
        times: list[float] = []
        deadline = time.perf_counter() + max_seconds
        while len(times) < runs and (len(times) < 5 or time.perf_counter() < deadline):
            start = time.perf_counter()
            run(batch)
            times.append((time.perf_counter() - start) * 1000.0)
        p50 = statistics.median(times)
        points.append(
            LatencyPoint(
                batch_size=bs,
                p50_ms=p50,
                p90_ms=_percentile(times, 90),
                mean_ms=statistics.fmean(times),
                throughput_per_s=bs / (p50 / 1000.0),
                runs=len(times),
                warmup=warmup,
                load=_highest(load_before, load_average()),
            )
        )
    return tuple(points)


def load_average() -> float | None:
    """The 1-minute load average: runnable (and uninterruptible) threads, this process's own
    included, averaged over the last minute; None where the OS has none (Windows).

    Read before and after timing, like pyperf's system-noise warning: when it exceeds the
    threads a measurement uses, other work competed for the cores during the timed calls.
    """
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _highest(*loads: float | None) -> float | None:
    known = [x for x in loads if x is not None]
    return max(known) if known else None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


INTERLEAVED_METHOD = (
    "interleaved: all {n} variants of the run re-timed in the same process after the last was "
    "made, {rounds} rounds in rotating order; per round and batch size {warmup} warm-up + "
    "{per_round} timed calls; median and p90 over all rounds, {threads} intra-op threads"
)


def interleaved_latency(
    runs: dict[str, Callable[[torch.Tensor], object]],
    make_batch: Callable[[int], torch.Tensor],
    batch_sizes: tuple[int, ...],
    *,
    warmup: int = 2,
    runs_per_variant: int = 50,
    rounds: int = 5,
    max_seconds: float = 5.0,
) -> dict[str, tuple[LatencyPoint, ...]]:
    """Time several models under the same conditions, so their ratios are comparable.

    Timing each model once, right after it is made, lets the process's state at that moment
    (the allocator's history, other load on the machine) decide its figure: fp32 eager of the
    seed CNN measured 6.3 ms or 13-15 ms per batch depending only on what the process had
    allocated before (docs/pipeline.md). Here every model is timed in every round, in a
    rotating order, and its figure pools all rounds, so a slow spell or an allocator state
    hits all of them alike instead of one.
    """
    names = list(runs)
    per_round = max(1, -(-runs_per_variant // rounds))
    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in names for b in batch_sizes}
    batches = {b: make_batch(b) for b in batch_sizes}
    load_before = load_average()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)] if names else []
        for name in order:
            for bs in batch_sizes:
                run, batch, bucket = runs[name], batches[bs], times[(name, bs)]
                for _ in range(warmup):
                    run(batch)
                deadline = time.perf_counter() + max_seconds / rounds
                for i in range(per_round):
                    if i >= 1 and time.perf_counter() > deadline:
                        break  # a slow model: at least one timed call per round
                    start = time.perf_counter()
                    run(batch)
                    bucket.append((time.perf_counter() - start) * 1000.0)
    load = _highest(load_before, load_average())  # the rounds interleave: one figure for all
    return {
        name: tuple(_point(bs, times[(name, bs)], warmup, load) for bs in batch_sizes)
        for name in names
    }


def _point(bs: int, times: list[float], warmup: int, load: float | None) -> LatencyPoint:
    p50 = statistics.median(times)
    return LatencyPoint(
        batch_size=bs, p50_ms=p50, p90_ms=_percentile(times, 90),
        mean_ms=statistics.fmean(times), throughput_per_s=bs / (p50 / 1000.0),
        runs=len(times), warmup=warmup, load=load,
    )  # fmt: skip
