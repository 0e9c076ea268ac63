"""requirements.txt is generated from pyproject.toml and never drifts from it."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "make_requirements", ROOT / "tools/make_requirements.py"
)
make_requirements = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_requirements)


def _requirements(text: str) -> list[str]:
    return [s for s in text.splitlines() if s.strip() and not s.startswith("#")]


def test_requirements_txt_is_current():
    actual = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert actual == make_requirements.render(), (
        "requirements.txt is stale: run python tools/make_requirements.py"
    )


def test_every_runtime_dependency_is_listed_once():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = _requirements((ROOT / "requirements.txt").read_text())
    assert listed == project["dependencies"]
    assert "torch>=2.4" in listed and len(set(listed)) == len(listed)


def test_a_new_dependency_makes_it_stale(tmp_path):
    """The staleness check compares content: an added dependency changes the rendered file."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(pyproject.replace('"optuna>=4",', '"optuna>=4",\n  "tqdm>=4",'))
    rendered = make_requirements.render(changed)
    assert "tqdm>=4" in _requirements(rendered)
    assert rendered != (ROOT / "requirements.txt").read_text()


def test_uv_takes_torch_from_the_cpu_index_only():
    """Without [tool.uv.sources], `uv pip install -e .` resolves torch>=2.4 to PyPI's CUDA build
    (torch plus 15 nvidia-* packages); the explicit index serves torch and nothing else."""
    import tomllib

    uv = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]
    (index,) = [i for i in uv["index"] if i["name"] == uv["sources"]["torch"]["index"]]
    assert index["url"].rstrip("/").endswith("/whl/cpu") and index["explicit"] is True
    assert set(uv["sources"]) == {"torch"}
