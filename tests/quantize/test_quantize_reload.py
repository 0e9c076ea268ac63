"""A model made by wl.quantize saves as one self-contained .pt that load_model rebuilds on its
own (float architecture, pruned widths and quantized structure included), bit for bit."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl

CONFIGS = {
    "static_int8": wl.quantize.StaticInt8(),
    "dynamic_int8": wl.quantize.Dynamic(),
    "qat": wl.quantize.QAT(finetune={"epochs": 0.1}),
    "weight_only_int4": wl.quantize.WeightOnly(bits=4),
    "bf16": wl.quantize.Half(),
}


@pytest.fixture(scope="module")
def pruned_cnn(digits):
    model = wl.train(wl.models.mnist_cnn(), digits, epochs=0.5, progress=False)
    return wl.prune(model, wl.prune.Structured(ratio=0.5), digits)


@pytest.mark.parametrize("method", CONFIGS)
def test_a_quantized_pruned_model_reloads_from_its_file_alone(pruned_cnn, digits, tmp_path,
                                                              method):  # fmt: skip
    quantized = wl.quantize(pruned_cnn, CONFIGS[method], digits)
    path = wl.models.save_model(quantized, tmp_path / "q.pt")
    back = wl.models.load_model(path)  # no factory, no float model, no data
    x = digits.example_batch(8)
    with torch.no_grad():
        assert torch.equal(quantized(x), back(x))
    # The pruned widths came back from the file (a fresh mnist_cnn has 64 and 9216).
    assert (back.conv2.out_channels, back.fc1.in_features) == (32, 32 * 144)
    assert type(back.fc1) is type(quantized.fc1)  # and the quantized structure with them
    again = wl.models.save_model(back, tmp_path / "again.pt")  # and it saves again
    assert torch.equal(back(x), wl.models.load_model(again)(x))


def test_a_run_keeps_its_torch_int8_variant_loadable(pruned_cnn, digits, tmp_path):
    recipe = wl.recipe.parse_recipe({
        "stages": [{"quantize": {"method": "static_int8"}, "name": "int8"}],
        "measure": {"batch_sizes": [1], "runs": 3, "warmup": 1}, "baselines": False,
    })  # fmt: skip
    variants = wl.run(recipe, pruned_cnn, digits, tmp_path)
    int8 = next(v for v in variants if v.name == "int8")
    assert int8.artifact.endswith(".pt")
    back = wl.models.load_model(tmp_path / int8.artifact)
    measured = wl.measure(back, digits, batch_sizes=(1,), runs=3)
    assert measured.metric == pytest.approx(int8.measurement.metric)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("example", {"shape": [1, 1, 28, 28], "dtype": "os.system"}, "example-input"),
        ("example", {"shape": [-1], "dtype": "float32"}, "example-input"),
        ("float", {"arch": "{not json", "shapes": {}}, "malformed"),
        ("config", "{}", "quantization method"),
    ],
)
def test_a_forged_quantized_file_fails_in_one_line(pruned_cnn, digits, tmp_path, field, value,
                                                   says):  # fmt: skip
    quantized = wl.quantize(pruned_cnn, wl.quantize.Dynamic(), digits)
    payload = wl.quantize.io.quantized_payload(quantized)
    payload[field] = value
    torch.save(payload, tmp_path / "forged.pt")
    with pytest.raises(wl.UserError, match=says):
        wl.models.load_model(tmp_path / "forged.pt")
