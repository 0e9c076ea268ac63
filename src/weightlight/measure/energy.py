"""Energy, CO2 and cost per million inferences, from measured latency and the CPU's power.

    energy per inference (J)  = power (W) x latency of one batch (s) / batch size
    energy per 1M (kWh)       = J x 1e6 / 3.6e6
    CO2 per 1M (g)            = kWh x grid intensity (gCO2e/kWh)
    cost per 1M               = kWh x price per kWh

Power comes from RAPL (`/sys/class/powercap/intel-rapl:*/energy_uj`, package energy counters;
also exposed for AMD Zen) when readable: the package's power while the model runs, minus its
idle power, so only the work this model causes is charged. Otherwise it is estimated as
`threads x watts_per_thread` (default 10 W per busy thread: roughly a server core at full
load, e.g. 280 W / 32 cores = 8.8 W, or a desktop 125 W / 8 cores = 15.6 W). The record's
`method` says which was used. The largest measured batch size is used (throughput-bound
serving); CPU energy only: no DRAM, fans or data-centre overhead (PUE).

codecarbon was considered: its offline tracker needs pandas and samples power every 15 s, too
coarse for sub-second inference loops, and falls back to the same TDP-style estimate on machines
without RAPL, so this small module does the arithmetic directly and states its method.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from weightlight.measure.record import Energy, Measurement

DEFAULT_WATTS_PER_THREAD = 10.0
_RAPL_GLOB = "intel-rapl:*/energy_uj"
_POWERCAP = Path("/sys/class/powercap")


def rapl_counters() -> list[Path]:
    """Readable package-level RAPL energy counters (empty on VMs and without permission)."""
    found = []
    for path in sorted(_POWERCAP.glob(_RAPL_GLOB)) if _POWERCAP.is_dir() else []:
        if path.parent.name.count(":") != 1:  # skip sub-zones (core, dram): package only
            continue
        try:
            int(path.read_text())
            found.append(path)
        except (OSError, ValueError):
            continue
    return found


def measure_rapl_watts(
    run: Callable[[torch.Tensor], object], batch: torch.Tensor, seconds: float = 1.0
) -> float | None:
    """Package power attributable to `run(batch)` in a loop: busy watts minus idle watts."""
    counters = rapl_counters()
    if not counters:
        return None

    def joules() -> float:
        return sum(int(p.read_text()) for p in counters) / 1e6

    start_e, start_t = joules(), time.perf_counter()
    time.sleep(min(0.5, seconds))
    idle = (joules() - start_e) / (time.perf_counter() - start_t)
    start_e, start_t = joules(), time.perf_counter()
    while time.perf_counter() - start_t < seconds:
        run(batch)
    busy = (joules() - start_e) / (time.perf_counter() - start_t)
    return max(busy - idle, 0.0) if busy > 0 else None  # counter wrap: treat as unreadable


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
        method = "RAPL package power while running minus idle power"
    else:
        per_thread = watts_per_thread or DEFAULT_WATTS_PER_THREAD
        watts = record.threads * per_thread
        method = f"estimate: {record.threads} threads x {per_thread:g} W per busy thread (no RAPL)"
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
    )


def with_energy(record: Measurement, **options) -> Measurement:
    """The record with its `energy` field filled in."""
    return record.with_updates(energy=estimate_energy(record, **options))
