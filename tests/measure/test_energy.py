"""Energy: the estimate is the stated formula, and RAPL counters are read and unwrapped."""

from __future__ import annotations

import pytest

from weightlight.measure.energy import (
    joules_between,
    measure_energy,
    measure_rapl_watts,
    rapl_counters,
    with_energy,
)
from weightlight.measure.record import LatencyPoint, Measurement


def _record(p50_ms: float, batch: int, threads: int) -> Measurement:
    point = LatencyPoint(batch_size=batch, p50_ms=p50_ms, p90_ms=p50_ms, mean_ms=p50_ms,
                         throughput_per_s=batch / (p50_ms / 1e3), runs=5, warmup=1)  # fmt: skip
    return Measurement(
        name="m", runtime="torch", params=1, nonzero_params=1, size_bytes=1, size_zipped_bytes=1,
        artifact_format="pt", macs=1, threads=threads, latency=(point,), metric_name="accuracy",
        metric=50.0, peak_memory_bytes=None, methods={},
    )  # fmt: skip


def _fake_rapl(root, zones: dict[str, tuple[int, int]]):
    """A powercap tree: {zone name: (energy_uj, max_energy_range_uj)}."""
    for name, (energy, top) in zones.items():
        zone = root / name
        zone.mkdir(parents=True)
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{top}\n")
    return root


def test_the_estimate_is_threads_times_watts_times_latency():
    # 4 threads x 10 W = 40 W; 8 ms per batch of 64 -> 0.125 ms per inference.
    energy = with_energy(_record(8.0, 64, 4), carbon_g_per_kwh=400.0, price_per_kwh=0.2).energy
    joules = 40.0 * 0.008 / 64 * 1e6
    assert energy.estimate is True and energy.watts == 40.0
    assert energy.joules_per_1m == pytest.approx(joules, rel=1e-12)
    assert energy.kwh_per_1m == pytest.approx(joules / 3.6e6, rel=1e-12)
    assert energy.co2_g_per_1m == pytest.approx(joules / 3.6e6 * 400.0, rel=1e-12)
    assert energy.cost_per_1m == pytest.approx(joules / 3.6e6 * 0.2, rel=1e-12)
    assert energy.method.startswith("estimate, not measured") and "10 W per busy" in energy.method


def test_a_rapl_reading_replaces_the_model_and_is_not_labelled_an_estimate():
    energy = with_energy(_record(8.0, 64, 4), rapl_watts=12.5).energy
    assert energy.estimate is False and energy.watts == 12.5
    assert energy.joules_per_1m == pytest.approx(12.5 * 0.008 / 64 * 1e6, rel=1e-12)


def test_only_package_zones_are_read_and_sub_zones_skipped(tmp_path):
    root = _fake_rapl(tmp_path, {"intel-rapl:0": (1_000, 2**32), "intel-rapl:0:0": (5, 2**32),
                                 "intel-rapl:1": (7, 100)})  # fmt: skip
    counters = rapl_counters(root)
    assert [c.energy_uj.parent.name for c in counters] == ["intel-rapl:0", "intel-rapl:1"]
    assert [c.read() for c in counters] == [1_000, 7] and counters[1].max_uj == 100


def test_unreadable_or_missing_counters_mean_no_rapl(tmp_path):
    assert rapl_counters(tmp_path / "absent") == []
    (tmp_path / "intel-rapl:0").mkdir()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("not a number")
    (tmp_path / "intel-rapl:0" / "max_energy_range_uj").write_text("100")
    assert rapl_counters(tmp_path) == []


def test_a_wrapped_counter_is_unwrapped(tmp_path):
    counters = rapl_counters(_fake_rapl(tmp_path, {"intel-rapl:0": (0, 999_999)}))
    # 900,000 uJ -> wraps at 999,999 -> 100,000: 200,000 uJ elapsed, not -800,000.
    assert joules_between([900_000], [100_000], counters) == pytest.approx(0.2)
    assert joules_between([100_000], [400_000], counters) == pytest.approx(0.3)


def test_rapl_watts_are_busy_minus_idle_from_the_counters(tmp_path):
    root = _fake_rapl(tmp_path, {"intel-rapl:0": (0, 10**12)})
    counter = root / "intel-rapl:0" / "energy_uj"

    def run(_batch):  # each call "uses" 1 J on top of the idle draw
        counter.write_text(str(int(counter.read_text()) + 1_000_000))

    watts = measure_rapl_watts(run, None, seconds=0.05, root=root)
    assert watts is not None and watts > 100  # thousands of 1 J calls in 0.05 s


def test_measure_energy_uses_rapl_where_readable_and_the_model_elsewhere(tmp_path):
    record = _record(8.0, 64, 2)
    estimated = measure_energy(record, lambda b: None, None, root=tmp_path / "absent")
    assert estimated.energy.estimate is True and estimated.energy.watts == 20.0
    root = _fake_rapl(tmp_path / "rapl", {"intel-rapl:0": (0, 10**12)})
    measured = measure_energy(record, lambda b: None, None, root=root)
    assert measured.energy.estimate is False
    assert measured.energy.method.startswith("measured: RAPL")
