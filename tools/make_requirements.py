"""Write requirements.txt from pyproject.toml, so `pip install -r requirements.txt` works.

pyproject.toml is the one list of dependencies; requirements.txt is derived from it for the
courses whose first line is `pip install -r requirements.txt`. tests/test_requirements.py fails
when the two disagree.

    python tools/make_requirements.py          # rewrite requirements.txt
    python tools/make_requirements.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

HEADER = """\
# Generated from pyproject.toml by tools/make_requirements.py: edit pyproject.toml, then rerun it.
#
# Install the CPU build of torch FIRST: from PyPI, `torch>=2.4` alone resolves to a multi-GB
# CUDA build on Linux.
#   python -m venv .venv && . .venv/bin/activate
#   pip install torch==2.13.0         # the CPU wheel where your index serves one (see README)
#   pip install -r requirements.txt   # the rest; torch is already satisfied
#   pip install -e . --no-deps        # weightlight itself, importable from this checkout
# Contributors: `pip install -e .[dev]` adds pytest, ruff and the notebook runner.
"""


def render(pyproject: Path = ROOT / "pyproject.toml", extras: tuple[str, ...] = ()) -> str:
    """requirements.txt's text: the runtime dependencies (what the examples and notebooks need),
    then each extra's under a comment. The dev extra (pytest, ruff, transformers for the
    transformer tests) stays out: `pip install -e .[dev]` is the contributor's path."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    lines = [HEADER, *project["dependencies"]]
    # The optional libraries, as comments: a path that needs one names its extra when it is
    # missing (weightlight/_optional.py); uncomment a line to install it with the rest.
    optional = {k: v for k, v in project["optional-dependencies"].items() if k != "dev"}
    lines += ["", "# Optional extras: pip install 'weightlight[NAME]', or uncomment a line"]
    needed_by: dict[str, list[str]] = {}
    for name, reqs in optional.items():
        for req in reqs:
            needed_by.setdefault(req, []).append(f"[{name}]")
    lines += [f"# {req}  # {' '.join(names)}" for req, names in needed_by.items()]
    for extra in extras:
        lines += ["", f"# [{extra}] extra", *project["optional-dependencies"][extra]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if requirements.txt is stale")
    args = parser.parse_args()
    target, text = ROOT / "requirements.txt", render()
    if args.check:
        stale = not target.is_file() or target.read_text(encoding="utf-8") != text
        if stale:
            print(
                "requirements.txt is stale: run python tools/make_requirements.py", file=sys.stderr
            )
        return int(stale)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
