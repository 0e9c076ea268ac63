"""Walk the bad-input corpus (cases.yaml): every case fails cleanly.

Clean means: the CLI exits with code 2 and prints one line on stderr (no traceback); the
Python API raises `UserError` with a one-line message; the message holds the case's expected
words; and no file is left behind that the case did not list under `creates` (no `*.tmp`, no
half-written output, no marker from a payload that ran).
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import sys
from pathlib import Path

import pytest
import torch
import yaml

import weightlight as wl
from weightlight.errors import UserError


def _load(name: str):
    """A sibling module by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"bad_input_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


makers, case_classes = _load("makers"), _load("case_classes")

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8"))
CASES += [case for make_cases in case_classes.CASE_CLASSES for case in make_cases()]


def _data(spec: str, digits):
    return digits if spec == "digits" else wl.data.load_data(spec)


def _model(spec: str):
    return wl.models.load_model(spec)


# Python API entry points a case can call by name; kwargs come from the case.
API = {
    "load_model": lambda digits, **kw: wl.models.load_model(**kw),
    "save_model": lambda digits, model="mlp", path="m.safetensors": wl.models.save_model(
        _model(model), path, digits.example_input
    ),
    "load_data": lambda digits, spec: wl.data.load_data(spec),
    "load_recipe": lambda digits, source: wl.recipe.load_recipe(source),
    "parse_recipe": lambda digits, data: wl.recipe.parse_recipe(data),
    "from_tensors": lambda digits, n_train=8, n_eval=4, fill=None, labels=None: (
        wl.data.from_tensors(*_tensors(n_train, fill, labels), *_tensors(n_eval, None, None))
    ),
    "prune": lambda digits, method, config, model="mlp": wl.prune(
        _model(model), getattr(wl.prune, method)(**config), digits
    ),
    "quantize": lambda digits, config, model="mlp": wl.quantize(_model(model), config, digits),
    "measure": lambda digits, model="mlp", data="digits", **kw: wl.measure(
        _model(model), _data(data, digits), **{"runs": 3, "warmup": 1, **kw}
    ),
    "measure_tensors": lambda digits, model="mlp", shape=(1, 28, 28), dtype="float32": wl.measure(
        _model(model), _tensor_data(shape, dtype), runs=3, warmup=1, batch_sizes=(1,)
    ),
    "train": lambda digits, model="mlp", data="digits", **kw: wl.train(
        _model(model), _data(data, digits), progress=False, **kw
    ),
    "write_text_atomic": lambda digits, path, text="hello": wl._io.write_text_atomic(path, text),
    "build_report": lambda digits, run_dir: wl.report.build_report(run_dir),
    "measure_pairing": lambda digits, model="mlp", keys=("input_ids", "attention_mask"), **kw: (
        wl.measure(_pair_model(model), _dict_data(keys, **kw), runs=2, warmup=0, batch_sizes=(1,))
    ),
    "run_pipeline": lambda digits, recipe, out, model="mlp": wl.pipeline.run(
        wl.recipe.parse_recipe(recipe), _model(model), digits, out
    ),
    "search": lambda digits, storage, model="mlp": wl.search(
        _model(model), digits, storage=storage, trials=1, out="s"
    ),
}


def _tensors(n: int, fill, labels):
    x = torch.randn(n, 1, 28, 28)
    if fill is not None:
        x[0, 0, 0, 0] = float(fill)
    y = torch.arange(n) % 2 if labels is None else torch.tensor(labels)
    return x, y


def _pair_model(name: str):
    """A built-in model, or `tiny_bert` (a 1-layer BertModel built from a config)."""
    if name != "tiny_bert":
        return _model(name)
    import transformers

    config = transformers.BertConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        vocab_size=50, max_position_embeddings=32,
    )  # fmt: skip
    return transformers.BertModel(config).eval()


def _dict_data(keys, task="classification", output=None, pooling=None):
    """Dict batches holding `keys` (padded token ids: the last two of each row are padding)."""
    ids = torch.randint(1, 50, (8, 6))
    ids[:, -2:] = 0
    tensors = {"input_ids": ids, "attention_mask": (ids != 0).long(),
               "token_type_ids": torch.zeros_like(ids)}  # fmt: skip
    rows = [{k: tensors[k][i] for k in keys} | {"labels": torch.tensor(i % 2)} for i in range(8)]
    loader = torch.utils.data.DataLoader(rows, batch_size=4)
    return wl.data.from_loaders(loader, loader, task=task, output=output, pooling=pooling)


def _tensor_data(shape, dtype: str):
    x = torch.zeros(8, *shape).to(getattr(torch, dtype))
    y = torch.arange(8) % 2
    return wl.data.from_tensors(x, y, x, y)


def _disk_full(monkeypatch) -> None:
    """Every file write puts down a few bytes, then fails as a full disk would."""

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def partial_then_full(self, *_args, **_kwargs):
        with open(self, "wb") as f:
            f.write(b"partial")
        full()

    def torch_save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        full()

    def st_save(model, filename, *args, **kwargs):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        full()

    monkeypatch.setattr(Path, "write_text", partial_then_full)
    monkeypatch.setattr(Path, "write_bytes", partial_then_full)
    monkeypatch.setattr(torch, "save", torch_save)
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_model", st_save)


def _work_started(name: str):
    def refuse(*_args, **_kwargs):
        raise AssertionError(f"{name} was reached: the bad input was not checked before the work")

    return refuse


def _library_log_lines(monkeypatch) -> list[str]:
    """Lines a library's own logging handler writes to the terminal (torch.export's logs a
    whole traceback). Its handler keeps the stream it was made with, so the captured stderr
    never shows them; they are collected here and counted as stderr lines."""
    lines: list[str] = []
    emit = logging.StreamHandler.emit

    def counted(self, record):
        if type(self).__module__.startswith("_pytest"):  # pytest's own log capture
            return emit(self, record)
        lines.extend(self.format(record).splitlines())

    monkeypatch.setattr(logging.StreamHandler, "emit", counted)
    return lines


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_fails_cleanly(case, tmp_path, monkeypatch, run_cli, digits):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # factories put the cwd on sys.path
    for name, spec in (case.get("files") or {}).items():
        makers.make_file(tmp_path / name, spec)
    before = _files(tmp_path)
    kept = {name: (tmp_path / name).read_bytes() for name in case.get("unchanged", [])}
    if case.get("disk_full"):
        _disk_full(monkeypatch)
    for name in case.get("before_work", []):  # the check must come before this is reached
        monkeypatch.setattr(name, _work_started(name))

    if "cli" in case:
        logged = _library_log_lines(monkeypatch)
        code, out, err = run_cli(*case["cli"])
        assert "Traceback" not in out + err
        assert code == 2, f"exit {code}: {err}{out}"
        assert logged == [], "a library logged on stderr too:\n" + "\n".join(logged[:5])
        lines = err.strip().splitlines()
        # A library's warning may come first, but as one line of its own (no source dump).
        warned = [line for line in lines if line.startswith("warning:")]
        for word in case.get("warns", []):
            assert any(word.lower() in line.lower() for line in warned), err
        assert not (case.get("quiet") and warned), err
        lines = [line for line in lines if not line.startswith("warning:")]
        assert len(lines) == 1, err
        message = lines[0]
        assert message.startswith("error:")
    else:
        with pytest.raises(UserError) as info:
            API[case["api"]](digits, **(case.get("kwargs") or {}))
        message = str(info.value)
        assert "\n" not in message
    monkeypatch.undo()  # restore the real file writes before inspecting the folder

    lowered = message.lower()
    for word in case["expect"]:
        assert word.lower() in lowered, message
    left = _files(tmp_path) - before
    assert left <= set(case.get("creates", [])), f"left behind: {sorted(left)}"
    for name, content in kept.items():
        assert (tmp_path / name).read_bytes() == content, f"{name} was changed"


def test_corpus_is_large_and_ids_are_unique():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 50
    assert sum("cli" in c for c in CASES) >= 20 and sum("api" in c for c in CASES) >= 20
