"""`weightlight sensitivity` and `weightlight prune` from the command line."""

from __future__ import annotations

import pytest

import weightlight as wl


@pytest.fixture(scope="module")
def cnn_file(trained_cnn, tmp_path_factory):
    return wl.models.save_model(trained_cnn, tmp_path_factory.mktemp("m") / "cnn.safetensors")


def test_sensitivity_prints_table_and_writes_plot(run_cli, cnn_file, tmp_path):
    plot = tmp_path / "plots" / "sens.png"
    code, out, err = run_cli("sensitivity", "--model", cnn_file, "--ratios", "0.5",
                             "--kind", "unstructured", "--plot", plot)  # fmt: skip
    assert code == 0, err
    assert all(layer in out for layer in ("conv1", "conv2", "fc1")) and "fc2" not in out
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_prune_command_saves_a_smaller_model(run_cli, cnn_file, tmp_path):
    out_file = tmp_path / "small.safetensors"
    code, out, err = run_cli("prune", cnn_file, "--method", "structured", "--ratio", "0.5",
                             "--out", out_file)  # fmt: skip
    assert code == 0, err
    reloaded = wl.models.load_model(out_file)
    assert sum(p.numel() for p in reloaded.parameters()) == 300_426


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["prune", "mnist_cnn", "--ratio", "1.5"], "Structured.ratio"),
        (["prune", "mnist_cnn", "--method", "magic"], "unknown --method"),
        (["sensitivity", "--model", "mnist_cnn", "--ratios", "0.5,1"], "must be in [0, 1)"),
        (["sensitivity", "--model", "mnist_cnn", "--kind", "rows"], "unknown --kind"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run_cli, tmp_path, args, words):
    out_file = tmp_path / "x.safetensors"
    extra = ["--out", out_file] if args[0] == "prune" else ["--plot", tmp_path / "p.png"]
    code, out, err = run_cli(*args, *extra)
    assert code == 2 and words in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
