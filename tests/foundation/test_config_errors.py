"""Every technique config turns a bad field into one-line UserError naming the field path."""

from __future__ import annotations

import pytest

import weightlight as wl
from weightlight.config import Config, Finetune
from weightlight.export import NBits, OrtDynamicInt8, OrtStaticInt8
from weightlight.measure.generation import GenerationOptions
from weightlight.recipe import EnergyOptions, MeasureOptions

CLASSES = [
    *wl.prune.CONFIGS, *wl.quantize.CONFIGS, *wl.distill.CONFIGS, *wl.export.CONFIGS,
    OrtStaticInt8, OrtDynamicInt8, NBits, Finetune, MeasureOptions, EnergyOptions,
    GenerationOptions,
]  # fmt: skip


# valid values of the fields a class requires, so the error tested is the only one
REQUIRED = {"target": {"method": "unstructured", "ratio": 0.5}, "pairs": {"conv2": "conv2"}}


def minimal(cls) -> dict:
    return {n: REQUIRED[n] for n, f in cls.model_fields.items() if f.is_required()}


def test_every_config_class_is_listed():
    def leaves(cls):
        subs = cls.__subclasses__()
        return [c for s in subs for c in leaves(s)] + ([] if subs else [cls])

    # a new config class (a leaf of Config, outside tests) must be added to CLASSES
    found = {c for c in leaves(Config) if c.__module__.startswith("weightlight.")}
    assert found <= set(CLASSES) | {c for c in found if c.__name__ == "FinetuneStage"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_unknown_key_is_a_user_error_listing_the_fields(cls):
    with pytest.raises(wl.UserError) as err:
        cls(**minimal(cls), no_such_field=1)
    assert err.value.problem == f"{cls.__name__}.no_such_field: unknown key"
    assert sorted(cls.model_fields)[0] in err.value.fix
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_wrong_value_names_the_field_path(cls):
    field = next(n for n in cls.model_fields if n != "method")
    with pytest.raises(wl.UserError) as err:
        cls(**{**minimal(cls), field: object()})
    assert err.value.problem.startswith(f"{cls.__name__}.{field}")
    assert "\n" not in str(err.value)


def test_nested_field_path_and_recipe_path():
    with pytest.raises(wl.UserError, match=r"^Structured\.finetune\.epochs: .*greater than 0"):
        wl.prune.Structured(ratio=0.5, finetune={"epochs": -1})
    with pytest.raises(wl.UserError, match=r"quantize\.static_int8\.calibration: .*'magic'"):
        wl.quantize(wl.models.mlp(), {"method": "static_int8", "calibration": "magic"})
    recipe = {"name": "r", "stages": [{"prune": {"method": "structured", "ratio": 2}}]}
    with pytest.raises(wl.UserError, match=r"stages\[0\]\.prune\.structured\.ratio: "):
        wl.recipe.parse_recipe(recipe)
