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


def _sparsity_per_layer(model) -> dict[str, float]:
    return {n: float((m.weight == 0).float().mean()) for n, m in model.named_modules()
            if n in ("conv1", "conv2", "fc1")}  # fmt: skip


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_prune_scope_layer_vs_global(run_cli, cnn_file, tmp_path, scope):
    """Layer-wise: every layer at the ratio. Global: fc1 (98 % of the weights, small ones)
    takes nearly all the cuts and conv1 far fewer."""
    out_file = tmp_path / "p.safetensors"
    code, out, err = run_cli("prune", cnn_file, "--method", "unstructured", "--ratio", "0.6",
                             "--scope", scope, "--out", out_file)  # fmt: skip
    assert code == 0, err
    sparsity = _sparsity_per_layer(wl.models.load_model(out_file))
    if scope == "layer":
        assert all(s == pytest.approx(0.6, abs=0.01) for s in sparsity.values()), sparsity
    else:
        assert sparsity["conv1"] < 0.4 and sparsity["fc1"] > 0.6, sparsity


@pytest.mark.slow
def test_prune_gradual_reaches_the_target_while_training(run_cli, cnn_file, tmp_path):
    out_file = tmp_path / "g.safetensors"
    code, out, err = run_cli("prune", cnn_file, "--method", "gradual", "--target", "unstructured",
                             "--ratio", "0.8", "--scope", "layer", "--finetune-epochs", "2",
                             "--out", out_file)  # fmt: skip
    assert code == 0, err
    sparsity = _sparsity_per_layer(wl.models.load_model(out_file))
    assert all(s == pytest.approx(0.8, abs=0.01) for s in sparsity.values()), sparsity
    assert "gradual" in out


@pytest.mark.parametrize(("args", "words"), [
    (["--method", "gradual", "--target", "nm"], "unknown --target"),
    (["--method", "gradual", "--schedule", "cubic"], "unknown --schedule"),
    (["--scope", "everywhere"], "unknown --scope"),
    (["--method", "nm", "--scope", "global"], "does not apply to nm")])  # fmt: skip
def test_bad_gradual_and_scope_options_are_one_line(run_cli, tmp_path, args, words):
    code, out, err = run_cli("prune", "mnist_cnn", *args, "--out", tmp_path / "x.safetensors")
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
