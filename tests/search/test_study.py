"""The study: best under the constraint (not the first that fits), the front, the report."""

from __future__ import annotations

import json

import pytest

import weightlight as wl
from weightlight.search.study import TrialResult, best_within, pareto
from weightlight.variants import Variant


def _t(number: int, drop: float, cost: float) -> TrialResult:
    variant = Variant(name=f"t{number}", parent="base", kind="search", status="ok")
    return TrialResult(number, {}, variant, drop, cost)


def test_best_is_the_cheapest_that_fits_not_the_first():
    trials = [_t(0, 0.5, 9.0), _t(1, 3.0, 1.0), _t(2, 0.9, 4.0), _t(3, 0.2, 4.0)]
    best = best_within(trials, max_drop=1.0)
    assert best.number == 3  # cost 4 ties with trial 2; the smaller drop wins; trial 0 fit first
    assert best_within(trials, max_drop=0.1) is None


def test_pareto_front_keeps_only_undominated_cheapest_first():
    trials = [_t(0, 0.5, 9.0), _t(1, 3.0, 1.0), _t(2, 0.9, 4.0), _t(3, 0.2, 4.0), _t(4, 0.2, 5.0)]
    assert [t.number for t in pareto(trials)] == [1, 3]


@pytest.fixture(scope="module")
def tiny_search(trained_mlp, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    result = wl.search(trained_mlp, digits, space="tiny", max_drop=1.5, objective="size",
                       trials=4, out=out, seed=0)  # fmt: skip
    return result, out


def test_search_best_satisfies_the_constraint_and_is_the_best_that_does(tiny_search):
    result, _ = tiny_search
    assert len(result.trials) >= 2  # repeats of a choice are counted once
    fits = [t for t in result.trials if t.metric_drop <= 1.5]
    assert result.best is not None and result.best.metric_drop <= 1.5
    assert result.best.cost == min(t.cost for t in fits)
    # size is deterministic: a structured ratio r keeps about (1 - r) of the hidden units
    base_size = result.base.measurement.size_bytes
    assert 0.05 < result.best.cost / base_size < 0.95


def test_trials_are_chosen_on_validation_and_their_test_drop_is_reported(tiny_search):
    result, out = tiny_search
    base = result.base.measurement
    assert base.val_metric is not None and base.val_samples == 216
    for t in result.trials:
        m = t.variant.measurement
        assert t.metric_drop == pytest.approx(base.val_metric - m.val_metric, abs=1e-5)
        assert t.test_drop == pytest.approx(base.metric - m.metric, abs=1e-5)
    saved = json.loads((out / "search.json").read_text())
    assert saved["selected_on"] == "validation split"
    assert saved["best"]["test_drop"] == pytest.approx(result.best.test_drop)


def test_search_front_is_correct_and_reported(tiny_search):
    result, out = tiny_search
    front = {t.number for t in result.front}
    for t in result.trials:
        dominated = any(o.metric_drop <= t.metric_drop and o.cost <= t.cost
                        and (o.metric_drop, o.cost) != (t.metric_drop, t.cost)
                        for o in result.trials)  # fmt: skip
        assert (t.number in front) == (not dominated)
    saved = json.loads((out / "search.json").read_text())
    assert saved["best"]["trial"] == result.best.number
    assert [r["trial"] for r in saved["front"]] == [t.number for t in result.front]
    assert (out / "report.html").is_file() and (out / "plots" / "accuracy_vs_size.png").is_file()
    for t in result.trials:  # every trial is a measured run folder
        assert (out / "trials" / str(t.number) / "variants.jsonl").is_file()


def test_rerun_on_the_same_storage_adds_no_trials(tiny_search, trained_mlp, digits):
    result, out = tiny_search
    again = wl.search(trained_mlp, digits, space="tiny", max_drop=1.5, objective="size",
                      trials=4, out=out)  # fmt: skip
    assert [t.number for t in again.trials] == [t.number for t in result.trials]


def test_sensitivity_seeds_the_first_trials(trained_mlp, digits, tmp_path):
    space = wl.search.parse_space({
        "name": "q",
        "stages": [{"quantize": {"method": "dynamic_int8", "exclude": {"fragile": [0, 1, 2]}}}],
        "measure": {"batch_sizes": [1], "runs": 3, "warmup": 1},
    })  # fmt: skip
    result = wl.search(trained_mlp, digits, space=space, trials=3, out=tmp_path, seed=0)
    ranking = json.loads((tmp_path / "sensitivity.json").read_text())
    cosines = [c for _, c in ranking["scores"]]
    assert sorted(ranking["layers"]) == ["net.1", "net.3", "net.5"]
    assert cosines == sorted(cosines) and all(0.9 < c <= 1.0 for c in cosines)
    firsts = {t.number: t.params["s0.quantize.exclude.fragile"] for t in result.trials}
    # trial 0: the starting plan (first choices); then protect the 1, then 2, most fragile
    assert firsts == {0: 0, 1: 1, 2: 2}
    excluded = json.loads((tmp_path / "trials" / "1" / "variants.jsonl").read_text()
                          .splitlines()[1])["config"]["exclude"]  # fmt: skip
    assert excluded == ranking["layers"][:1]


def test_cosine_metric_scores_outputs_against_the_base(trained_mlp, digits, tmp_path):
    space = wl.search.parse_space({
        "name": "c", "stages": [{"prune": {"method": "unstructured", "ratio": [0.2, 0.95]}}],
        "measure": {"batch_sizes": [1], "runs": 3, "warmup": 1},
    })  # fmt: skip
    result = wl.search(trained_mlp, digits, space=space, trials=3, out=tmp_path, seed=0,
                       metric="cosine", max_drop=1.0, objective="size")  # fmt: skip
    assert result.base.measurement.metric == 100.0
    drops = {t.params["s0.prune.ratio"]: t.metric_drop for t in result.trials}
    assert set(drops) == {0.2, 0.95}, drops  # both choices were tried (seeded)
    assert 0 <= drops[0.2] < 1.0  # 20 % of the smallest weights barely move outputs
    assert drops[0.95] > 1.0
    assert all(t.variant.measurement.metric_name.startswith("output cosine") for t in result.trials)


def test_ctrl_c_keeps_finished_trials_and_returns_the_front(trained_mlp, digits, tmp_path):
    def interrupt(done, total, result):
        raise KeyboardInterrupt

    result = wl.search(trained_mlp, digits, space="tiny", trials=3, out=tmp_path, seed=0,
                       objective="size", on_trial=interrupt)  # fmt: skip
    assert result.interrupted and [t.number for t in result.trials] == [0]
    assert [t.number for t in result.front] == [0]
    assert json.loads((tmp_path / "search.json").read_text())["interrupted"] is True


def test_the_first_trial_is_the_spaces_starting_plan(trained_mlp, digits, tmp_path):
    space = wl.search.parse_space({
        "name": "s", "stages": [{"prune": {"method": "unstructured", "ratio": [0.3, 0.6, 0.9]}}],
        "measure": {"batch_sizes": [1], "runs": 3, "warmup": 1},
    })  # fmt: skip
    result = wl.search(trained_mlp, digits, space=space, trials=2, out=tmp_path, seed=3)
    assert (
        {t.number: t.params for t in result.trials}[0] == space.start() == {"s0.prune.ratio": 0.3}
    )
