"""Every command line printed in README.md and docs/*.md runs as written.

A learner copies these lines first, so each one is executed: every line of a fenced ```bash
block that starts with `weightlight`, `python` or `make`. A block that cannot run in a test
(a GPU, several machines, a server, minutes of set-up) is preceded by the line
`<!-- no-test: why -->` and skipped, with its reason shown by pytest.

Each page runs in its own scratch folder, its commands in the order printed, as a reader would.
What the pages take for granted is prepared once, by a fixture that stands in for the reader:
a trained seed CNN saved as `model.safetensors` / `teacher.safetensors` / `my.safetensors`, its
ONNX export `model.onnx`, a small `my.yaml` recipe, `my-space.yaml` search space, and a
`mypkg` package with the `build` / `load` functions the pages name. The trained-base cache of
each run folder is filled with that same model, so `weightlight run` and `search` skip the 15
epochs they would spend training it first (the training itself is tested elsewhere).
Optional arguments written `[--flag]` run without the flag.
Opening lines that several pages share (the default `weightlight run` opens four) run once,
in the first page's folder; the later pages start from a copy of the folder those lines left.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

import weightlight as wl

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAMS = ("weightlight", "python", "make", "torchrun")
NO_TEST = re.compile(r"<!--\s*no-test:\s*(.+?)\s*-->")
# A block that runs for many minutes (a study whose figures the page prints) is marked
# `<!-- long: why -->`: `make test-docs` runs it, CI leaves it out to stay well under 30 min.
LONG = re.compile(r"<!--\s*long:\s*(.+?)\s*-->")
# Run folders the commands use by default; `--out X` folders of these commands are added.
DEFAULT_RUN_FOLDERS = ("runs/default", "runs/search", "runs/advise")
CACHED_COMMANDS = ("run", "search", "advise")  # they train a built-in base model into cache/


class Block(NamedTuple):
    """A ```bash block: where it opens, its command lines, and the marker line before it."""

    line_no: int
    commands: list[str]
    reason: str | None  # `<!-- no-test: why -->`: skipped
    long: bool  # `<!-- long: why -->`: make test-docs only


def bash_blocks(page: Path) -> list[Block]:
    """Each ```bash block of a page, with the marker on the line before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            previous = next((s for s in reversed(lines[:i]) if s.strip()), "")
            reason = NO_TEST.search(previous)
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            commands = [s.strip() for s in lines[i + 1 : end] if s.strip().startswith(PROGRAMS)]
            blocks.append(Block(i + 1, commands, reason.group(1) if reason else None,
                                bool(LONG.search(previous))))  # fmt: skip
            i = end
        i += 1
    return blocks


def to_argv(line: str) -> list[str]:
    """The command as a subprocess argv: comments and `[optional]` parts dropped, and the
    `weightlight` / `python` of the page mapped to this interpreter (the source under test)."""
    line = re.sub(r"\s\[[^\]]*\]", "", line)
    argv = shlex.split(line, comments=True)
    if argv[0] == "weightlight":
        return [sys.executable, "-m", "weightlight", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    if argv[0] == "torchrun":  # the launcher of the torch under test, not whichever is on PATH
        return [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
    return argv


def test_every_page_block_is_found_and_parsed():
    """The parser sees the README's command block (a parser that saw nothing would pass all)."""
    readme = bash_blocks(ROOT / "README.md")
    commands = [c for block in readme if block.reason is None for c in block.commands]
    assert "weightlight run recipes/cnn-max-compression.yaml --model mnist_cnn --out runs/max" in (
        commands
    )
    assert to_argv("weightlight measure model.onnx --data digits [--json]")[3:] == [
        "measure", "model.onnx", "--data", "digits"]  # fmt: skip


def test_no_test_markers_give_a_reason():
    for page in PAGES:
        for line_no, _, reason, _ in bash_blocks(page):
            assert reason is None or len(reason) > 10, f"{page.name}:{line_no}: say why"


def test_long_blocks_are_marked_and_few():
    """CI leaves out only what a page marks long: search.md's 8-trial search (tests/search
    runs the command on a tiny space) and the 20-trial study it reproduces."""
    long = [c.id for c in CASES if c.marks]
    assert long == ["search.md:10", "search.md:160"], long


_MY_RECIPE = """\
# A small recipe standing in for the reader's own.
name: my
stages:
  - prune: {method: structured, ratio: 0.5, finetune: {epochs: 1}}
    name: pruned
  - quantize: {method: static_int8}
    name: pruned-int8
measure: {batch_sizes: [1, 8], runs: 5, warmup: 1}
"""

_MY_SPACE = """\
name: my-space
stages:
  - prune: {method: structured, ratio: [0.25, 0.5]}
measure: {batch_sizes: [1, 8], runs: 5, warmup: 1}
"""

_MYPKG_MODELS = """\
import weightlight as wl


def build():
    return wl.models.load_model("model.safetensors")
"""

_MYPKG_DATA = """\
import weightlight as wl


def load():
    return wl.data.digits()
"""


@pytest.fixture(scope="module")
def reader_files(tmp_path_factory, trained_cnn, digits) -> Path:
    """The files the pages assume the reader has, made once and copied into each page's folder."""
    folder = tmp_path_factory.mktemp("reader")
    for name in ("model.safetensors", "teacher.safetensors", "my.safetensors"):
        wl.models.save_model(trained_cnn, folder / name)
    wl.export(trained_cnn, wl.export.Export(), digits, folder / "model.onnx")
    (folder / "my.yaml").write_text(_MY_RECIPE)
    (folder / "my-space.yaml").write_text(_MY_SPACE)
    (folder / "mypkg").mkdir()
    (folder / "mypkg" / "__init__.py").write_text("")
    (folder / "mypkg" / "models.py").write_text(_MYPKG_MODELS)
    (folder / "mypkg" / "data.py").write_text(_MYPKG_DATA)
    return folder


def _run_folders(commands: list[str]) -> set[str]:
    """The folders whose cache/ a command of the page reads: the defaults, and `--out X` of
    `run`, `search` and `advise` (`train --out` and `distill --out` name a file)."""
    outs = set()
    for line in commands:
        argv = to_argv(line)
        if any(name in argv for name in CACHED_COMMANDS) and "--out" in argv:
            outs.add(argv[argv.index("--out") + 1])
    return {*DEFAULT_RUN_FOLDERS, *outs}


def test_only_run_folders_get_a_cache():
    folders = _run_folders(["weightlight train --model mlp --out runs/scaling/mlp.safetensors",
                            "weightlight run my.yaml --out runs/x"])  # fmt: skip
    assert folders == {*DEFAULT_RUN_FOLDERS, "runs/x"}


def _seed_caches(work: Path, commands: list[str], model_file: Path) -> None:
    for run_folder in _run_folders(commands):
        cache = work / run_folder / "cache" / "mnist_cnn-digits-trained.safetensors"
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(model_file, cache)


CASES = [
    pytest.param(
        page,
        block.line_no,
        block.commands,
        block.reason,
        id=f"{page.name}:{block.line_no}",
        marks=[pytest.mark.doc_long] if block.long else [],
    )  # fmt: skip
    for page in PAGES
    for block in bash_blocks(page)
]


def _prefixes(commands: list[str]) -> list[tuple[tuple[str, ...], ...]]:
    """The argv of the first 1, 2, ... lines of a block."""
    argvs = [tuple(to_argv(line)) for line in commands]
    return [tuple(argvs[: i + 1]) for i in range(len(argvs))]


# Several pages open with the same lines (`weightlight run`, the default job, opens four): a
# prefix that more than one tested block shares runs once, in the first such page's folder, and
# the later pages start from a copy of that folder as those lines left it. Every line still runs
# as written, from the same reader's files; it is not run again with the same inputs.
_TESTED = [commands for _, _, commands, reason in (c.values for c in CASES) if reason is None]
_SHARED = {p for p, n in Counter(p for cs in _TESTED for p in _prefixes(cs)).items() if n > 1}
_AFTER: dict[tuple[tuple[str, ...], ...], Path] = {}  # shared prefix -> the folder it left


def test_shared_prefixes_are_the_repeated_opening_lines():
    default_run = (tuple(to_argv("weightlight run")),)
    assert default_run in _SHARED  # README, getting-started, search and why-compress open with it


@pytest.mark.slow
@pytest.mark.doc_commands  # `make test-docs`; CI runs all but the doc_long ones
@pytest.mark.parametrize(("page", "line_no", "commands", "reason"), CASES)
def test_page_commands_run(page, line_no, commands, reason, reader_files, tmp_path):
    if reason is not None:
        pytest.skip(f"{page.name}:{line_no} no-test: {reason}")
    assert commands, f"{page.name}:{line_no}: no line starts with {PROGRAMS}: mark it no-test"
    work, prefixes = tmp_path / "work", _prefixes(commands)
    done = max((i + 1 for i, prefix in enumerate(prefixes) if prefix in _AFTER), default=0)
    if done:
        shutil.copytree(_AFTER[prefixes[done - 1]], work, symlinks=True)
        print(f"lines 1-{done} ran in an earlier page's folder, copied from there")
    else:
        shutil.copytree(reader_files, work)
        for shared in ("recipes", "benchmarks", "examples"):  # the repository's, read-only
            (work / shared).symlink_to(ROOT / shared)
    _seed_caches(work, commands, work / "model.safetensors")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(work)]),
           "COLUMNS": "200"}  # fmt: skip
    torch.set_num_threads(2)
    for i in range(done, len(commands)):
        line = commands[i]
        # The timeout guards against a hang: the default job took over 600 s on 2 loaded cores.
        start = time.perf_counter()
        proc = subprocess.run(to_argv(line), cwd=work, env=env, capture_output=True, text=True,
                              timeout=1800)  # fmt: skip
        assert proc.returncode == 0, f"{page.name}:{line_no}: `{line}` failed:\n" + (
            proc.stdout[-1500:] + proc.stderr[-2500:]
        )
        assert "Traceback" not in proc.stderr, proc.stderr[-2500:]
        print(f"{time.perf_counter() - start:6.1f} s  {line}")  # shown by pytest -rP
        if prefixes[i] in _SHARED:
            _AFTER[prefixes[i]] = shutil.copytree(work, tmp_path / f"after-{i + 1}", symlinks=True)
