"""The metric-vs-cost plots: coincident variants share one label, far-off ones sit on the edge."""

from __future__ import annotations

from weightlight.measure.record import LatencyPoint, Measurement
from weightlight.report.tradeoff import focus_range, label_groups, tradeoff_figure
from weightlight.variants import Variant


def _variant(name: str, size: int, metric: float) -> Variant:
    point = LatencyPoint(batch_size=1, p50_ms=1.0, p90_ms=1.0, mean_ms=1.0,
                         throughput_per_s=1.0, runs=1, warmup=0)  # fmt: skip
    m = Measurement(name=name, runtime="torch", params=1, nonzero_params=1, size_bytes=size,
                    size_zipped_bytes=size, artifact_format="pt", macs=None, threads=1,
                    latency=(point,), metric_name="accuracy", metric=metric,
                    peak_memory_bytes=None, methods={})  # fmt: skip
    return Variant(name=name, parent=None, kind="prune", status="ok", measurement=m)


def test_a_far_off_point_does_not_stretch_the_axis():
    lo, hi = focus_range([98.33, 98.06, 98.33, 97.78, 57.5])
    assert 96 < lo < 97.78 and 98.33 < hi < 98.6
    assert focus_range([98.0, 97.0, 96.0]) == (96.0 - 0.16, 98.0 + 0.16)  # all fit: all shown
    lo, hi = focus_range([10.0, 10.4, 10.9, 55.0], higher_is_better=False)  # perplexity
    assert lo < 10.0 and 10.9 < hi < 12


def test_coincident_points_share_one_label():
    assert label_groups([(0, 0), (3, 4), (100, 0), (0, 1), (200, 9)]) == [[0, 1, 3], [2], [4]]


def test_five_variants_on_one_point_get_one_label_and_the_outlier_an_arrow():
    ok = [_variant(f"v{i}", 600_000, 98.33) for i in range(5)]
    ok += [_variant("base", 4_800_000, 98.06), _variant("raw", 600_000, 57.5)]
    fig = tradeoff_figure(ok, lambda v: v.measurement.size_bytes / 1e6, "size", ["v0"])
    ax = fig.axes[0]
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == ["1,2,3,4,5", "6", "7"]
    assert ax.get_ylim()[0] > 95  # not stretched down to 57.5
    key = fig.texts[0].get_text()
    assert " 7  raw (57.5, off the axis)" in key and " 1  v0" in key
