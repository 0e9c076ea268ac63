"""Energy, CO2 and cost per million inferences, from measured latency and the CPU's power.

    energy per inference (J)  = power (W) x latency of one batch (s) / batch size
    energy per 1M (kWh)       = J x 1e6 / 3.6e6
    CO2 per 1M (g)            = kWh x grid intensity (gCO2e/kWh)
    cost per 1M               = kWh x price per kWh

Power comes from RAPL (`/sys/class/powercap/intel-rapl:*/energy_uj`, package energy counters;
also exposed for AMD Zen) when readable: the package's power while the model runs, minus its
idle power, so only the work this model causes is charged (the counters wrap at
`max_energy_range_uj`; a wrapped reading is unwrapped). Otherwise it is an ESTIMATE, not a
measurement: `threads x watts_per_thread` (default 10 W per busy thread: roughly a server core
at full load, e.g. 280 W / 32 cores = 8.8 W, or a desktop 125 W / 8 cores = 15.6 W), and the
record's `estimate` flag, the report's column headers and plot say so. Under the estimate the
energy columns are latency rescaled by a constant: they rank variants exactly as latency
does. The largest measured batch size is used (throughput-bound serving); CPU energy only: no
DRAM, fans or data-centre overhead (PUE).

codecarbon was considered: its offline tracker needs pandas and samples power every 15 s, too
coarse for sub-second inference loops, and falls back to the same TDP-style estimate on machines
without RAPL, so this small module does the arithmetic directly and states its method.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch

from weightlight.measure.record import Energy, Measurement

DEFAULT_WATTS_PER_THREAD = 10.0
POWERCAP = Path("/sys/class/powercap")
ESTIMATE_MODEL = (
    "estimate, not measured (no readable RAPL): watts = threads x {per_thread:g} W per busy "
    "thread; J per inference = watts x p50 latency at batch {batch} / {batch}"
)


@dataclasses.dataclass(frozen=True)
class RaplCounter:
    """One package-level RAPL zone: its cumulative energy file and the value it wraps at."""

    energy_uj: Path
    max_uj: int

    def read(self) -> int:
        return int(self.energy_uj.read_text())


def rapl_counters(root: Path = POWERCAP) -> list[RaplCounter]:
    """Readable package-level RAPL counters (empty on VMs and without permission).

    Zones are `intel-rapl:N` (AMD Zen exposes the same names); sub-zones `intel-rapl:N:M`
    (core, dram) are inside the package figure and skipped so nothing is counted twice.
    """
    found = []
    for zone in sorted(root.glob("intel-rapl:*")) if root.is_dir() else []:
        if zone.name.count(":") != 1:
            continue
        try:
            counter = RaplCounter(
                zone / "energy_uj", int((zone / "max_energy_range_uj").read_text())
            )
            counter.read()
        except (OSError, ValueError):
            continue
        found.append(counter)
    return found


def joules_between(start: list[int], end: list[int], counters: list[RaplCounter]) -> float:
    """Energy between two readings of the counters, allowing each to wrap once."""
    total = 0
    for a, b, c in zip(start, end, counters, strict=True):
        total += b - a if b >= a else b + c.max_uj + 1 - a
    return total / 1e6


def measure_rapl_watts(
    run: Callable[[torch.Tensor], object],
    batch: torch.Tensor,
    seconds: float = 1.0,
    root: Path = POWERCAP,
) -> float | None:
    """Package power attributable to `run(batch)` in a loop: busy watts minus idle watts."""
    counters = rapl_counters(root)
    if not counters:
        return None

    def reading() -> list[int]:
        return [c.read() for c in counters]

    start, t0 = reading(), time.perf_counter()
    time.sleep(min(0.5, seconds))
    idle = joules_between(start, reading(), counters) / (time.perf_counter() - t0)
    start, t0 = reading(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        run(batch)
    busy = joules_between(start, reading(), counters) / (time.perf_counter() - t0)
    return max(busy - idle, 0.0)


def measure_energy(
    record: Measurement,
    run: Callable[[torch.Tensor], object],
    batch: torch.Tensor,
    *,
    root: Path = POWERCAP,
    **options,
) -> Measurement:
    """The record with energy filled in: RAPL where this machine exposes it, else the estimate.

    Whether RAPL is readable is a property of the machine, not of the model, so every variant
    of a run (and a search's base and trials alike) gets the same method.
    """
    watts = measure_rapl_watts(run, batch, root=root) if rapl_counters(root) else None
    return with_energy(record, rapl_watts=watts, **options)


def estimate_energy(
    record: Measurement,
    *,
    carbon_g_per_kwh: float = 475.0,
    price_per_kwh: float = 0.15,
    currency: str = "USD",
    rapl_watts: float | None = None,
    watts_per_thread: float | None = None,
) -> Energy | None:
    """Energy, CO2 and cost of 1M inferences for a measured variant (None without latency)."""
    if not record.latency:
        return None
    point = max(record.latency, key=lambda p: p.batch_size)
    seconds_per_inference = point.p50_ms / 1000.0 / point.batch_size
    if rapl_watts is not None:
        watts = rapl_watts
        method = "measured: RAPL package power while running minus idle power"
    else:
        per_thread = watts_per_thread or DEFAULT_WATTS_PER_THREAD
        watts = record.threads * per_thread
        method = ESTIMATE_MODEL.format(per_thread=per_thread, batch=point.batch_size)
    joules = watts * seconds_per_inference * 1e6
    kwh = joules / 3.6e6
    return Energy(
        joules_per_1m=joules,
        kwh_per_1m=kwh,
        co2_g_per_1m=kwh * carbon_g_per_kwh,
        cost_per_1m=kwh * price_per_kwh,
        currency=currency,
        watts=watts,
        batch_size=point.batch_size,
        method=f"{method}; p50 latency at batch {point.batch_size}; "
        f"{carbon_g_per_kwh:g} gCO2e/kWh; {price_per_kwh:g} {currency}/kWh",
        estimate=rapl_watts is None,
    )


def with_energy(record: Measurement, **options) -> Measurement:
    """The record with its `energy` field filled in."""
    return record.with_updates(energy=estimate_energy(record, **options))
