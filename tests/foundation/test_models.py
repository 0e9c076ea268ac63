import pickle
from pathlib import Path

import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError

# Hand-computed: conv1 1*32*9+32, conv2 32*64*9+64, fc1 9216*128+128, fc2 128*10+10.
EXPECTED_PARAMS = {"mnist_cnn": 1_199_882, "resnet_small": 77_754, "mlp": 235_146}


@pytest.mark.parametrize("name", wl.models.names())
def test_builtin_parameter_counts_are_exact(name):
    model = wl.models.create(name)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name", wl.models.names())
def test_builtin_models_map_a_digit_batch_to_ten_logits(name, digits):
    out = wl.models.create(name).eval()(digits.example_batch(3))
    assert out.shape == (3, 10)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_save_and_load_round_trip_gives_identical_outputs(tmp_path, suffix, digits):
    model = wl.models.mnist_cnn().eval()
    path = wl.models.save_model(model, tmp_path / f"m{suffix}")
    loaded = wl.models.load_model(path, factory="mnist_cnn")
    x = digits.example_batch(4)
    assert torch.equal(model(x), loaded.eval()(x))


def test_safetensors_names_its_builtin_architecture(tmp_path, digits):
    model = wl.models.resnet_small(width=8).eval()
    path = wl.models.save_model(model, tmp_path / "r.safetensors")
    loaded = wl.models.load_model(path)  # no factory needed
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())
    x = digits.example_batch(2)
    assert torch.equal(loaded.eval()(x), model(x))  # its weights, not a fresh width-8 ResNet


def test_pt2_round_trip(tmp_path, digits):
    model = wl.models.mlp().eval()
    x = digits.example_batch(2)
    path = wl.models.save_model(model, tmp_path / "m.pt2", example_input=x)
    assert torch.allclose(wl.models.load_model(path)(x), model(x), atol=1e-6)


def test_narrower_saved_layers_are_rebuilt_to_fit(tmp_path, digits):
    """A structurally pruned model (fewer channels) reloads into the built-in architecture."""
    narrow = wl.models.mnist_cnn(width=0.5)
    narrow.weightlight_arch = {"name": "mnist_cnn", "kwargs": {}}  # claims the full-width arch
    path = wl.models.save_model(narrow, tmp_path / "n.safetensors")
    loaded = wl.models.load_model(path)
    x = digits.example_batch(2)
    assert loaded.conv2.out_channels == 32
    assert torch.equal(loaded.eval()(x), narrow.eval()(x))


def test_state_dict_of_wrong_architecture_is_a_user_error(tmp_path):
    path = tmp_path / "mlp.pt"
    torch.save(wl.models.mlp().state_dict(), path)
    with pytest.raises(UserError, match="do not fit the architecture"):
        wl.models.load_model(path, factory="mnist_cnn")


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_that_would_run_code_is_refused_without_trust(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(UserError, match="--trust"):
        wl.models.load_model(path, factory="mnist_cnn")
    assert not marker.exists()


def test_truncated_safetensors_is_a_user_error(tmp_path):
    path = wl.models.save_model(wl.models.mlp(), tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="truncated or corrupt"):
        wl.models.load_model(path)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(UserError, match="mnist_cnn"):
        wl.models.load_model("resnet9000")
