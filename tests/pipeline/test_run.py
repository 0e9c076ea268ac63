import json

import pytest

import weightlight as wl
from weightlight.recipe import parse_recipe
from weightlight.variants import read_variants

# Fast measurement: the figures asserted are counts, sizes and accuracies, not speed.
FAST_MEASURE = {"batch_sizes": [1, 8], "runs": 3, "warmup": 1}

RECIPE = {
    "name": "t",
    "stages": [
        {"prune": {"method": "unstructured", "ratio": 0.5, "scope": "global"}, "name": "sparse"},
        {"finetune": {"epochs": 0.5}, "name": "tuned"},
        {"quantize": {"method": "dynamic_int8"}, "name": "tuned-int8"},
        {"export": {"format": "onnx", "optimize": "all"}, "name": "tuned-onnx", "from": "tuned"},
        {
            "prune": {"method": "structured", "ratio": 0.5, "ignore": ["no_such_layer"]},
            "name": "broken",
            "from": "base",
        },  # fmt: skip
        {"finetune": {"epochs": 0.5}, "name": "after-broken"},
    ],
    "measure": FAST_MEASURE,
    "baselines": False,
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, trained_cnn, digits):
    out = tmp_path_factory.mktemp("run")
    variants = wl.run(parse_recipe(RECIPE), trained_cnn, digits, out)
    return out, variants


def test_every_stage_is_a_saved_measured_variant(finished_run):
    out, variants = finished_run
    by_name = {v.name: v for v in variants}
    assert list(by_name) == ["base", "sparse", "tuned", "tuned-int8", "tuned-onnx", "broken",
                             "after-broken"]  # fmt: skip
    for name in ("base", "sparse", "tuned", "tuned-int8", "tuned-onnx"):
        v = by_name[name]
        assert v.status == "ok" and (out / v.artifact).is_file()
    assert by_name["tuned"].parent == "sparse" and by_name["tuned-onnx"].parent == "tuned"
    assert by_name["tuned-onnx"].measurement.runtime == "onnxruntime"
    assert by_name["sparse"].measurement.sparsity == pytest.approx(0.5, abs=0.01)
    assert by_name["sparse"].measurement.metric > 90
    assert (
        by_name["tuned-int8"].measurement.size_bytes < by_name["tuned"].measurement.size_bytes / 3
    )
    assert by_name["base"].measurement.energy.joules_per_1m > 0


def test_a_failed_stage_is_recorded_and_its_children_skipped(finished_run):
    out, variants = finished_run
    by_name = {v.name: v for v in variants}
    assert by_name["broken"].status == "failed" and "no_such_layer" in by_name["broken"].error
    assert by_name["after-broken"].status == "skipped"
    assert [v.name for v in read_variants(out)] == [v.name for v in variants]


def test_report_is_rebuilt_from_variants_alone(finished_run):
    out, _ = finished_run
    report = wl.report(out)
    payload = json.loads((out / "report.json").read_text())
    assert {p for p in payload["plots"]} == {"accuracy_vs_size", "accuracy_vs_latency",
                                             "latency_by_batch", "size", "energy"}  # fmt: skip
    assert all(path.stat().st_size > 5000 for path in report.plots.values())
    assert report.summary["failed"][0]["name"] == "broken"
    assert "tuned-int8" in report.summary["pareto_size"]
    html = report.html_path.read_text()
    assert html.count("data:image/png;base64,") == 5 and "no_such_layer" in html


def test_every_column_has_one_method_for_all_rows_torch_and_onnx_alike(finished_run):
    out, variants = finished_run
    payload = json.loads((out / "report.json").read_text())
    ok = [v.name for v in variants if v.status == "ok"]
    assert {v.measurement.runtime for v in variants if v.ok} == {"torch", "onnxruntime"}
    for column in ("params", "size", "macs", "latency", "metric", "peak_memory", "energy"):
        how = payload["methods"][column]
        assert how["same_for_all_rows"], (column, how["by_method"])
        assert sorted(next(iter(how["by_method"].values()))) == sorted(ok)
    assert payload["methods"]["latency"]["method"].startswith("interleaved: all 5 variants")
    assert payload["methods"]["peak_memory"]["method"].startswith("fresh forked process")
    # digits: chosen on 216 validation images, reported on the 360 test images with intervals
    assert payload["summary"]["selected_on"] == "validation split"
    rows = {r["name"]: r for r in payload["summary"]["ratios"]}
    lo, hi = rows["tuned"]["metric_interval"]
    assert lo < rows["tuned"]["metric"] < hi and rows["tuned"]["val_metric"] is not None


def test_a_second_run_into_the_same_folder_needs_resume(finished_run, trained_cnn, digits):
    out, _ = finished_run
    with pytest.raises(wl.UserError, match="--resume"):
        wl.run(parse_recipe(RECIPE), trained_cnn, digits, out)


def test_resume_keeps_finished_variants_and_retries_failed_ones(finished_run, trained_cnn, digits):
    out, before = finished_run
    after = wl.run(parse_recipe(RECIPE), trained_cnn, digits, out, resume=True)
    old = {v.name: v for v in before}
    for v in after:
        if old[v.name].status == "ok":  # kept (same record, same timestamp) and re-timed with
            was = old[v.name]  # the rest, so every row of the resumed report compares alike
            assert (v.created, v.artifact) == (was.created, was.artifact)
            assert v.measurement.metric == was.measurement.metric
            assert v.measurement.size_bytes == was.measurement.size_bytes
    assert {v.name: v.status for v in after}["broken"] == "failed"


def test_resume_with_a_changed_recipe_is_refused(finished_run, trained_cnn, digits):
    out, _ = finished_run
    changed = {**RECIPE, "stages": RECIPE["stages"][:2]}
    with pytest.raises(wl.UserError, match="recipe differs"):
        wl.run(parse_recipe(changed), trained_cnn, digits, out, resume=True)


def test_baselines_measure_the_peer_one_liners(tmp_path, digits):
    model = wl.train(wl.models.mlp(), digits, epochs=1, progress=False)
    recipe = parse_recipe({"stages": [{"finetune": {"epochs": 0.2}}], "measure": FAST_MEASURE})
    variants = {v.name: v for v in wl.run(recipe, model, digits, tmp_path)}
    torch_peer = variants["baseline-torch-dynamic-int8"]
    ort_peer = variants["baseline-ort-dynamic-int8"]
    assert torch_peer.status == ort_peer.status == "ok"
    assert ort_peer.measurement.runtime == "onnxruntime"
    base = variants["base"].measurement
    assert abs(torch_peer.measurement.metric - base.metric) < 2.0
    assert torch_peer.measurement.size_bytes < base.size_bytes / 3
