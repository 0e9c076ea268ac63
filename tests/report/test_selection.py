"""The report chooses on validation, reports on test with intervals, and states one method
per column."""

from __future__ import annotations

import json

import pytest

from weightlight.measure.metric import wilson_interval, within_noise
from weightlight.measure.record import LatencyPoint, Measurement
from weightlight.report import build_report, summarize
from weightlight.variants import Variant, write_variants


def _variant(name, kind, ms, test, val, *, size=1000, peak_method="fresh forked process"):
    point = LatencyPoint(batch_size=64, p50_ms=ms, p90_ms=ms, mean_ms=ms, throughput_per_s=1.0,
                         runs=5, warmup=1)  # fmt: skip
    m = Measurement(
        name=name, runtime="torch", params=10, nonzero_params=10, size_bytes=size,
        size_zipped_bytes=size, artifact_format="pt", macs=None, threads=2, latency=(point,),
        metric_name="accuracy", metric=test, peak_memory_bytes=1, val_metric=val,
        metric_samples=360, val_samples=216 if val is not None else None,
        methods={"latency": "interleaved", "peak_memory": peak_method, "metric": "test"},
    )  # fmt: skip
    return Variant(name=name, parent=None if kind == "base" else "base", kind=kind, status="ok",
                   measurement=m)  # fmt: skip


def _run():
    # "lucky" looks best on test (the set it would be chosen on before) but drops 3 points on
    # validation; "steady" is within budget on validation.
    return [
        _variant("base", "base", 10.0, 99.0, 99.0),
        _variant("lucky", "quantize", 2.0, 99.2, 96.0),
        _variant("steady", "quantize", 4.0, 98.1, 98.6),
    ]


def test_best_is_chosen_on_validation_and_reported_on_test():
    summary = summarize(_run(), max_drop=1.0)
    assert summary["selected_on"] == "validation split"
    best = summary["best"]
    assert best["name"] == "steady"
    assert best["metric"] == 98.1 and best["metric_drop"] == pytest.approx(0.9)
    assert best["val_drop"] == pytest.approx(0.4)
    assert best["metric_interval"] == pytest.approx(list(wilson_interval(98.1, 360)))


def test_old_records_without_validation_fall_back_to_test_and_say_so():
    old = [_variant("base", "base", 10.0, 99.0, None), _variant("lucky", "q", 2.0, 99.2, None)]
    summary = summarize(old, max_drop=1.0)
    assert summary["best"]["name"] == "lucky"
    assert summary["selected_on"].startswith("test split")


def test_wilson_interval_and_noise():
    lo, hi = wilson_interval(99.17, 360)
    assert (round(lo, 2), round(hi, 2)) == (97.58, 99.72)
    assert wilson_interval(100.0, 360)[1] == 100.0 and wilson_interval(0.0, 10)[0] == 0.0
    assert within_noise(99.17, 360, 98.61, 360)  # 2 images of 360
    assert not within_noise(99.17, 360, 95.0, 360)


def test_report_json_carries_one_method_per_column_and_both_metrics(tmp_path):
    write_variants(tmp_path, _run())
    payload = json.loads(build_report(tmp_path).json_path.read_text())
    methods = payload["methods"]
    assert methods["peak_memory"] == {"method": "fresh forked process", "same_for_all_rows": True,
                                      "by_method": {"fresh forked process":
                                                    ["base", "lucky", "steady"]}}  # fmt: skip
    rows = {r["name"]: r for r in payload["summary"]["ratios"]}
    assert rows["steady"]["val_metric"] == 98.6 and rows["steady"]["metric"] == 98.1
    assert rows["steady"]["within_noise"] is within_noise(98.1, 360, 99.0, 360)
    html = (tmp_path / "report.html").read_text()
    assert "(every row)" in html and "NOT the same" not in html


def test_a_column_measured_two_ways_is_flagged(tmp_path):
    run = _run()[:2] + [_variant("old", "quantize", 4.0, 98.1, 98.6, peak_method="live tensors")]
    write_variants(tmp_path, run)
    payload = json.loads(build_report(tmp_path).json_path.read_text())
    assert payload["methods"]["peak_memory"]["same_for_all_rows"] is False
    assert payload["methods"]["peak_memory"]["by_method"]["live tensors"] == ["old"]
    assert "NOT the same for every row" in (tmp_path / "report.html").read_text()


def test_a_record_written_before_these_fields_still_loads():
    old = _variant("base", "base", 10.0, 99.0, None).measurement.model_dump(mode="json")
    for key in ("val_metric", "metric_samples", "val_samples"):
        del old[key]
    old["energy"] = {"joules_per_1m": 1.0, "kwh_per_1m": 1.0, "co2_g_per_1m": 1.0,
                     "cost_per_1m": 1.0, "currency": "USD", "watts": 20.0, "batch_size": 64,
                     "method": "estimate: 2 threads x 10 W per busy thread (no RAPL)"}  # fmt: skip
    loaded = Measurement.model_validate_json(json.dumps(old))
    assert loaded.val_metric is None and loaded.metric_samples is None
    assert loaded.energy.estimate is True  # an old estimate is still labelled one
    rapl = {**old["energy"], "method": "RAPL package power while running minus idle power"}
    assert (
        Measurement.model_validate_json(json.dumps({**old, "energy": rapl})).energy.estimate
        is False
    )
