"""Search spaces: lists are choices, optional stages, fragile layers, validation up front."""

from __future__ import annotations

import optuna
import pytest

import weightlight as wl
from weightlight.recipe import stage_config, stage_kind
from weightlight.search.space import builtin_spaces, load_space, parse_space

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
