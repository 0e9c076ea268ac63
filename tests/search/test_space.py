"""Search spaces: lists are choices, optional stages, fragile layers, validation up front."""

from __future__ import annotations

import optuna
import pytest
import yaml

import weightlight as wl
from weightlight.recipe import stage_config, stage_kind
from weightlight.search.space import BUILTIN_DIR, builtin_spaces, load_space, parse_space

SPACE = {
    "name": "t",
    "stages": [
        {"prune": {"method": "structured", "ratio": [0.3, 0.5], "finetune": {"epochs": [1, 2]}},
         "optional": True},
        {"quantize": [
            {"method": "dynamic_int8", "exclude": {"fragile": [0, 2]}},
            {"method": "static_int8", "calibration": ["minmax", "entropy"], "exclude": [[], ["a"]]},
        ]},
    ],
}  # fmt: skip


def test_sample_makes_every_choice_from_the_trial():
    space = parse_space(SPACE)
    trial = optuna.trial.FixedTrial({
        "s0.prune.use": True, "s0.prune.ratio": 0.5, "s0.prune.finetune.epochs": 2,
        "s1.quantize.method": "dynamic_int8", "s1.quantize.dynamic_int8.exclude.fragile": 2,
    })  # fmt: skip
    recipe = space.sample(trial, fragile=["net.5", "net.1", "net.3"])
    assert [stage_kind(s) for s in recipe.stages] == ["prune", "quantize"]
    prune, quant = (stage_config(s) for s in recipe.stages)
    assert prune.ratio == 0.5 and prune.finetune.epochs == 2
    assert quant.method == "dynamic_int8" and quant.exclude == ("net.5", "net.1")
    assert recipe.baselines is False


def test_optional_stage_is_skipped_and_list_values_are_choices():
    space = parse_space(SPACE)
    trial = optuna.trial.FixedTrial({
        "s0.prune.use": False, "s1.quantize.method": "static_int8",
        "s1.quantize.static_int8.calibration": "entropy",
        "s1.quantize.static_int8.exclude": '["a"]',
    })  # fmt: skip
    recipe = space.sample(trial)
    assert len(recipe.stages) == 1
    quant = stage_config(recipe.stages[0])
    assert (quant.calibration, quant.exclude) == ("entropy", ("a",))
    assert space.uses_fragile()


@pytest.mark.parametrize("name", builtin_spaces())
def test_builtin_spaces_load(name):
    assert load_space(name).name == name


def _methods(node) -> list[str]:
    """Every method a parsed space may choose: `method` values and an export's `quantize`."""
    if isinstance(node, list):
        return [m for item in node for m in _methods(item)]
    if not isinstance(node, dict):
        return []
    found = [m for v in node.values() for m in _methods(v)]
    for key in ("method", "quantize"):
        values = node.get(key)
        found += [v for v in (values if isinstance(values, list) else [values]) if type(v) is str]
    return found


@pytest.mark.parametrize("name", builtin_spaces())
def test_builtin_spaces_never_offer_16_bit_floats(name):
    # bf16 is slower than fp32 wherever it is emulated and fp16 on most CPUs (docs/hardware.md):
    # a search must not spend trials on it; `weightlight advise` says where bf16 pays.
    methods = _methods(yaml.safe_load((BUILTIN_DIR / f"{name}.yaml").read_text()))
    assert methods and "half" not in methods, methods


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"stages": []}, "non-empty 'stages'"),
        ({"stages": [{"prune": {"method": "structured", "ratoi": [0.5]}}]}, "ratoi"),
        ({"stages": [{"prune": {"method": "structured", "ratio": [1.5]}}]}, "ratio"),
        ({"stages": [{"prune": {}, "quantize": {}}]}, "exactly one"),
        ({"stages": [{"prune": {"method": "x"}}], "trials": 3}, "unknown key"),
    ],
)
def test_bad_spaces_fail_up_front(bad, says):
    with pytest.raises(wl.UserError, match=says):
        parse_space(bad)


def test_unknown_space_name_lists_builtins():
    with pytest.raises(wl.UserError, match="cnn"):
        load_space("nope")


ONE_OF = {
    "name": "r",
    "stages": [
        {"prune": {"method": "structured", "ratio": [0.5, 0.7]}},
        {"distill": {"method": "logit", "epochs": 1}, "optional": True},
        {"one_of": [
            {"quantize": {"method": "static_int8", "calibration": ["percentile", "minmax"]}},
            {"export": {"format": "onnx", "quantize": [None, "static_int8"]}},
        ]},
    ],
}  # fmt: skip


def test_one_of_chooses_the_stage_kind():
    space = parse_space(ONE_OF)
    trial = optuna.trial.FixedTrial({
        "s0.prune.ratio": 0.7, "s1.distill.use": True, "s2.one_of": "1-export-onnx",
        "s2.one_of.export.quantize": "static_int8",
    })  # fmt: skip
    recipe = space.sample(trial)
    assert [stage_kind(s) for s in recipe.stages] == ["prune", "distill", "export"]
    assert stage_config(recipe.stages[2]).quantize == "static_int8"


def test_the_starting_plan_is_every_first_choice_without_optional_stages():
    space = parse_space(ONE_OF)
    start = space.start()
    assert start == {"s0.prune.ratio": 0.5, "s1.distill.use": False,
                     "s2.one_of": "0-quantize-static_int8",
                     "s2.one_of.quantize.calibration": "percentile"}  # fmt: skip
    recipe = space.sample(optuna.trial.FixedTrial(start))
    assert [stage_kind(s) for s in recipe.stages] == ["prune", "quantize"]


@pytest.mark.parametrize(
    "bad",
    [
        {"stages": [{"one_of": [{"prune": {"method": "structured"}}]}]},
        {"stages": [{"one_of": {"prune": {"method": "structured"}}}]},
        {"stages": [{"one_of": [{"prune": {"method": "structured"}}, {"export": {"fromat": 1}}]}]},
    ],
)
def test_bad_one_of_fails_up_front(bad):
    with pytest.raises(wl.UserError):
        parse_space(bad)


def test_sensitivity_seeds_reach_into_one_of_stages():
    from weightlight.search.sensitivity import seed_params

    space = parse_space({"stages": [{"one_of": [
        {"quantize": {"method": "dynamic_int8", "exclude": {"fragile": [0, 1, 2]}}},
        {"export": {"format": "onnx"}},
    ]}]})  # fmt: skip
    seeds = seed_params(space)
    assert [s["s0.one_of.quantize.exclude.fragile"] for s in seeds] == [1, 2]
    assert space.uses_fragile()
    recipe = space.sample(optuna.trial.FixedTrial(seeds[1]), fragile=["fc2", "fc1", "fc0"])
    assert stage_config(recipe.stages[0]).exclude == ("fc2", "fc1")


def test_sensitivity_seeds_of_an_export_stage_also_quantize():
    """Keeping fragile nodes in fp32 means nothing in an fp32 trial: seeds pick int8."""
    from weightlight.search.sensitivity import seed_params

    seeds = seed_params(load_space("bert"))
    assert [s["s0.export.exclude_nodes.fragile"] for s in seeds] == [1, 2]
    assert all(s["s0.export.quantize"] == "dynamic_int8" for s in seeds)
