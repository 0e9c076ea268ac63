"""Latency and throughput: warm up, then time many calls; report median and p90."""

from __future__ import annotations

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
            )
        )
    return tuple(points)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
