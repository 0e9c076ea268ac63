"""Untrusted files: nothing in a file runs code unless the user says --trust.

Each payload, if it ever ran, would create a marker file; the tests assert the marker is
absent after a refused load, and (as a control) present when the user does trust the file,
so a passing test cannot come from a payload that simply never fires.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError


class TouchOnLoad:
    """Unpickling this calls Path.touch(marker): a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


def _raw_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(TouchOnLoad(marker)))
    return path


def _zip_checkpoint(path: Path, marker: Path) -> Path:
    """torch's own zip format: real weights plus one object that runs code."""
    state = dict(wl.models.mlp().state_dict())
    torch.save({"state_dict": state, "extra": TouchOnLoad(marker)}, path)
    return path


def _pt2_with_payload(tmp_path: Path, marker: Path) -> Path:
    """A genuine torch.export archive whose sample inputs were swapped for a payload."""
    good = wl.models.save_model(wl.models.mlp(), tmp_path / "good.pt2", torch.zeros(1, 784))
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("sample_inputs/model.pt"):
                data = pickle.dumps(TouchOnLoad(marker), protocol=2)
            dst.writestr(info, data)
    return evil


@pytest.mark.parametrize("make", [_raw_pickle, _zip_checkpoint], ids=["raw-pickle", "torch-zip"])
def test_pt_payload_is_refused_and_does_not_run(tmp_path, marker, make):
    path = make(tmp_path / "evil.pt", marker)
    with pytest.raises(UserError, match="--trust") as info:
        wl.models.load_model(path, factory="mlp")
    assert "could run code" in str(info.value)
    assert not marker.exists()


def test_refusal_names_what_the_pickle_would_import(tmp_path, marker):
    path = _raw_pickle(tmp_path / "evil.pt", marker)
    with pytest.raises(UserError, match=r"imports pathlib\.Path\.touch"):
        wl.models.load_model(path, factory="mlp")


def test_control_with_trust_the_payload_does_run(tmp_path, marker):
    """Proves the marker mechanism works: the same file, trusted, executes its payload."""
    path = _raw_pickle(tmp_path / "evil.pt", marker)
    with pytest.raises(UserError, match="could not be unpickled"):  # not a real checkpoint
        wl.models.load_model(path, factory="mlp", trust=True)
    assert marker.exists()


def test_whole_pickled_model_loads_only_with_trust(tmp_path, digits):
    model = wl.models.mlp().eval()
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    with pytest.raises(UserError, match=r"--trust.*|imports weightlight\.models\.zoo\.MLP"):
        wl.models.load_model(path)
    loaded = wl.models.load_model(path, trust=True)
    x = digits.example_batch(4)
    assert torch.equal(loaded(x), model(x))


def test_corrupt_pickle_is_called_corrupt_not_dangerous(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(bytes(range(7, 250)) * 3)
    for trust in (False, True):
        with pytest.raises(UserError, match="truncated or corrupt"):
            wl.models.load_model(path, factory="mlp", trust=trust)


COMMANDS = {
    "measure": ["measure", "evil.pt", "--model", "mlp"],
    "prune": ["prune", "evil.pt", "--arch", "mlp", "--out", "p.safetensors"],
    "quantize": ["quantize", "evil.pt", "--model", "mlp", "--method", "dynamic_int8"],
    "export": ["export", "evil.pt", "--model", "mlp", "--onnx", "m.onnx"],
    "sensitivity": ["sensitivity", "--model", "evil.pt", "--arch", "mlp"],
    "distill": ["distill", "evil.pt", "--arch", "mlp", "--out", "s.safetensors"],
    "run": ["run", "--model", "mlp", "--weights", "evil.pt", "--out", "run"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_cli_command_refuses_the_payload(command, run_cli, tmp_path, marker, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _raw_pickle(tmp_path / "evil.pt", marker)
    code, out, err = run_cli(*COMMANDS[command])
    assert code == 2, err + out
    assert "--trust" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()
    assert not {"p.safetensors", "m.onnx", "s.safetensors"} & {p.name for p in tmp_path.iterdir()}


def test_pt2_with_pickled_payload_is_refused_and_does_not_run(tmp_path, marker):
    path = _pt2_with_payload(tmp_path, marker)
    with pytest.raises(UserError, match="--trust"):
        wl.models.load_model(path)
    assert not marker.exists()
    # Control: torch.export.load itself would have run it (it falls back to weights_only=False).
    with pytest.raises(UserError, match="not a valid torch.export program"):
        wl.models.load_model(path, trust=True)
    assert marker.exists()


def test_clean_pt2_loads_without_trust(tmp_path, digits):
    model = wl.models.mnist_cnn().eval()
    path = wl.models.save_model(model, tmp_path / "m.pt2", digits.example_input)
    loaded = wl.models.load_model(path)
    x = digits.example_input  # the program was exported at batch 1
    torch.testing.assert_close(loaded(x), model(x))


def test_safetensors_metadata_cannot_name_code_to_import(tmp_path, marker, monkeypatch):
    """The architecture record in a safetensors header is looked up in the registry only."""
    from safetensors.torch import save_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "evil_arch.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\ndef build():\n    pass\n"
    )
    path = tmp_path / "m.safetensors"
    arch = {"name": "evil_arch:build", "kwargs": {}}
    save_file({"w": torch.zeros(1)}, str(path), metadata={"weightlight.arch": json.dumps(arch)})
    with pytest.raises(UserError, match="evil_arch:build"):
        wl.models.load_model(path)
    assert not marker.exists()


def test_recipe_yaml_tags_cannot_run_code(tmp_path, marker):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"stages: !!python/object/apply:pathlib.Path.touch [{str(marker)!r}]\n")
    with pytest.raises(UserError, match="invalid YAML"):
        wl.recipe.load_recipe(recipe)
    assert not marker.exists()


def test_npz_object_arrays_are_refused_and_do_not_run(tmp_path, marker):
    path = tmp_path / "d.npz"
    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = TouchOnLoad(marker), 1
    np.savez(path, x=evil, y=np.array([0, 1]))
    with pytest.raises(UserError, match="object arrays"):
        wl.data.load_data(str(path))
    assert not marker.exists()


def test_onnx_files_pass_the_checker_before_any_session(tmp_path, monkeypatch):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    calls: list[str] = []
    real_check, real_session = onnx.checker.check_model, ort.InferenceSession
    monkeypatch.setattr(
        onnx.checker, "check_model", lambda *a, **k: calls.append("check") or real_check(*a, **k)
    )
    monkeypatch.setattr(
        ort, "InferenceSession", lambda *a, **k: calls.append("session") or real_session(*a, **k)
    )

    def graph(op: str) -> Path:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
        g = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g", [x], [y])
        path = tmp_path / f"{op}.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
        return path

    with pytest.raises(UserError, match="not a valid ONNX model"):
        wl.models.load_model(graph("NoSuchOp"))
    assert calls == ["check"]  # refused before ONNX Runtime ever parsed it

    calls.clear()
    model = wl.models.load_model(graph("Relu"))
    out = model.run(torch.tensor([[-1.0, 2.0, -3.0, 4.0]]))
    assert calls[0] == "check" and "session" in calls
    assert out.tolist() == [[0.0, 2.0, 0.0, 4.0]]
