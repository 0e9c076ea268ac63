import pytest
import yaml

from weightlight.errors import UserError
from weightlight.recipe import builtin_recipes, dump_recipe, load_recipe, parse_recipe, variant_name

GOOD = {
    "name": "t",
    "stages": [
        {"prune": {"method": "structured", "ratio": 0.5}, "name": "p"},
        {"quantize": {"method": "static_int8"}},
        {"quantize": {"method": "dynamic_int8"}, "from": "base", "name": "b8"},
    ],
}


def test_stages_parse_into_typed_configs_with_branching():
    recipe = parse_recipe(GOOD)
    assert type(recipe.stages[0].prune).__name__ == "Structured"
    assert recipe.stages[0].prune.ratio == 0.5
    assert variant_name(recipe.stages[1], 1) == "2-quantize-static_int8"
    assert recipe.stages[2].from_ == "base"


def test_resolved_recipe_round_trips_through_yaml():
    recipe = parse_recipe(GOOD)
    again = parse_recipe(yaml.safe_load(dump_recipe(recipe)))
    assert again == recipe


@pytest.mark.parametrize("name", builtin_recipes())
def test_builtin_recipes_load(name):
    assert load_recipe(name).stages


BAD = {
    "unknown stage kind": ({"stages": [{"shrink": {"method": "x"}}]}, "unknown key(s) ['shrink']"),
    "unknown method": ({"stages": [{"prune": {"method": "magic"}}]}, "'magic'"),
    "missing method": ({"stages": [{"prune": {"ratio": 0.5}}]}, "missing 'method'"),
    "ratio too high": ({"stages": [{"prune": {"method": "structured", "ratio": 1.5}}]}, "ratio"),
    "ratio negative": ({"stages": [{"prune": {"method": "unstructured", "ratio": -0.1}}]}, "ratio"),
    "ratio wrong type": (
        {"stages": [{"prune": {"method": "structured", "ratio": "half"}}]},
        "ratio",
    ),
    "unknown key in config": (
        {"stages": [{"prune": {"method": "structured", "ratoi": 0.5}}]},
        "ratoi",
    ),
    "unknown key in finetune": (
        {"stages": [{"prune": {"method": "structured", "finetune": {"epoch": 2}}}]},
        "epoch",
    ),
    "negative epochs": ({"stages": [{"finetune": {"epochs": -1}}]}, "epochs"),
    "unknown calibration": (
        {"stages": [{"quantize": {"method": "static_int8", "calibration": "vibes"}}]},
        "calibration",
    ),
    "temperature zero": (
        {"stages": [{"distill": {"method": "logit", "temperature": 0}}]},
        "temperature",
    ),
    "two kinds in one stage": (
        {"stages": [{"prune": {"method": "nm"}, "finetune": {}}]},
        "exactly one",
    ),
    "stage is a string": ({"stages": ["prune"]}, "not a mapping"),
    "no stages": ({"stages": []}, "stages"),
    "stages missing": ({"name": "x"}, "stages"),
    "from unknown variant": ({"stages": [{"finetune": {}, "from": "ghost"}]}, "'ghost'"),
    "duplicate names": (
        {"stages": [{"finetune": {}, "name": "a"}, {"finetune": {}, "name": "a"}]},
        "used twice",
    ),
    "bad variant name": ({"stages": [{"finetune": {}, "name": "../x"}]}, "may only use"),
    "unknown top-level key": ({"stages": [{"finetune": {}}], "speed": 1}, "speed"),
    "bad batch size": ({"stages": [{"finetune": {}}], "measure": {"batch_sizes": [0]}}, "batch"),
    "unknown measure key": (
        {"stages": [{"finetune": {}}], "measure": {"batch_size": [1]}},
        "batch_sizes",
    ),
    "export opset too old": ({"stages": [{"export": {"format": "onnx", "opset": 9}}]}, "opset"),
    "recipe is a list": ([{"finetune": {}}], "must be a mapping"),
}


@pytest.mark.parametrize("body, words", BAD.values(), ids=BAD.keys())
def test_bad_recipes_fail_at_load_with_one_clear_line(body, words):
    with pytest.raises(UserError) as info:
        parse_recipe(body)
    message = str(info.value)
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("body, words", list(BAD.values())[:16], ids=list(BAD)[:16])
def test_bad_recipes_exit_2_at_the_cli(run_cli, write_recipe, body, words):
    code, out, err = run_cli("run", write_recipe(body), "--model", "mlp")
    assert code == 2
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_malformed_yaml_names_the_line(run_cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("stages:\n  - prune: {method: structured\n  ratio: 0.5\n")
    code, _, err = run_cli("run", path)
    assert code == 2 and "invalid YAML at line" in err


def test_missing_and_empty_recipe_files(run_cli, tmp_path):
    code, _, err = run_cli("run", tmp_path / "nope.yaml")
    assert code == 2 and "not found" in err
    (tmp_path / "empty.yaml").write_text("")
    code, _, err = run_cli("run", tmp_path / "empty.yaml")
    assert code == 2 and "is empty" in err


def test_yaml_tags_cannot_construct_python_objects(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("stages: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(UserError, match="invalid YAML"):
        load_recipe(path)
    assert not (tmp_path / "pwned").exists()


def test_default_recipe_prunes_the_seed_cnn_to_int8_friendly_widths(digits):
    """The default keeps conv2 at a multiple of 32 channels (the vectorised int8 max-pool) and
    its pruned model is ~8x smaller than the seed CNN: exact counts, hand-computed."""
    import weightlight as wl

    prune = load_recipe("default").stages[0].prune.model_copy(update={"finetune": None})
    pruned = wl.prune(wl.models.mnist_cnn(), prune, digits)
    assert (pruned.conv1.out_channels, pruned.conv2.out_channels, pruned.fc1.out_features) == (
        8, 32, 32,
    )  # fmt: skip
    assert pruned.conv2.out_channels % 32 == 0
    # conv1 8*9+8, conv2 32*8*9+32, fc1 32*144*32+32, fc2 32*10+10
    assert sum(p.numel() for p in pruned.parameters()) == 80 + 2336 + 147488 + 330 == 150234
