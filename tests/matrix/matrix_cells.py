"""Run one cell of the support matrix (family x technique), bounded in time, and judge it.

A cell works (a fidelity figure within the technique's bound), refuses (one `UserError`
line), or fails: a raw exception, a message of several lines, a figure outside its bound, a
modified base model, or no answer within `CELL_LIMIT_S`. The time bound is a real-time timer
in the main thread: its signal interrupts Python code wherever it runs (Torch-Pruning's graph
walk included) with `CellTimeout`, a BaseException so that no library's `except Exception`
can turn it into an answer. Models, data and the fp32 ONNX export are built once per family
and process, and shared by every cell of that family (the verbs never modify their input; a
fingerprint checks it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import torch
from matrix_families import FAMILIES
from matrix_techniques import ONNX_PARITY, TECHNIQUES, Cell, Technique

import weightlight as wl
from weightlight.errors import UserError
from weightlight.measure.metric import score

# Seconds one cell may take, fidelity check included. The slowest cells take a few seconds on
# 2 busy cores; a hang is what this catches, so the limit leaves room for a loaded machine.
CELL_LIMIT_S = float(os.environ.get("WEIGHTLIGHT_MATRIX_CELL_LIMIT_S", "60"))

METRICS = {  # task -> the figure a working cell reports
    "classification": "top-1 agreement %",
    "embedding": "embedding cosine",
    "causal_lm": "perplexity ratio",
}
PARITY = "ONNX parity (max rel. error)"


class CellTimeout(BaseException):
    """The cell ran past its time limit (BaseException: no `except Exception` swallows it)."""


@dataclasses.dataclass(frozen=True)
class Result:
    family: str
    technique: str
    status: str  # works | refuses | fails
    metric: str | None = None
    figure: float | None = None
    message: str | None = None  # the refusal line, or why the cell fails
    seconds: float = 0.0


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise CellTimeout in the main thread after `seconds` of real time."""

    def expire(signum, frame):
        raise CellTimeout(f"no answer within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- per-family state, built once per process -------------------------------------------------


@dataclasses.dataclass
class _FamilyState:
    model: torch.nn.Module
    data: wl.data.Data
    fingerprint: float
    folder: Path
    base_ppl: float | None = None
    onnx: object = None  # the fp32 OrtModel, or the exception its export raised


_STATE: dict[str, _FamilyState] = {}
_ROOT: list[Path] = []


def _fingerprint(model: torch.nn.Module) -> float:
    with torch.no_grad():
        return float(sum(t.double().abs().sum() for t in model.state_dict().values()))


def family_state(name: str) -> _FamilyState:
    if name not in _STATE:
        if not _ROOT:
            _ROOT.append(Path(tempfile.mkdtemp(prefix="wl-matrix-")))
        family = FAMILIES[name]
        data = family.data()
        model = family.base(data)
        folder = _ROOT[0] / name
        folder.mkdir()
        state = _FamilyState(model, data, _fingerprint(model), folder)
        if family.task == "causal_lm":
            state.base_ppl = _perplexity(model, data)
        _STATE[name] = state
    return _STATE[name]


def cleanup() -> None:
    """Remove the ONNX files the cells wrote."""
    _STATE.clear()
    while _ROOT:
        shutil.rmtree(_ROOT.pop(), ignore_errors=True)


def _onnx_fp32(state: _FamilyState):
    if state.onnx is None:
        try:
            state.onnx = wl.export(
                state.model, wl.export.Export(), state.data, state.folder / "model.onnx"
            )
        except BaseException as exc:  # kept, so the int8 cells answer as the export did
            state.onnx = exc
    if isinstance(state.onnx, BaseException):
        raise state.onnx
    return state.onnx


# ---- fidelity ----------------------------------------------------------------------------------


def _perplexity(model, data) -> float:
    return score(wl.measure.as_runnable(model, data.adapter).run, data).value


def fidelity(state: _FamilyState, technique: Technique, candidate) -> tuple[str, float, bool]:
    """(metric, figure, within the technique's bound) of `candidate` against the base."""
    bound = technique.bound
    if technique.parity:
        report = wl.export.parity(state.model, candidate, state.data, tolerance=ONNX_PARITY)
        return PARITY, report.max_rel, report.max_rel <= ONNX_PARITY
    task = state.data.task
    if task == "causal_lm":
        ratio = _perplexity(candidate, state.data) / state.base_ppl
        return METRICS[task], ratio, ratio <= bound.ppl_ratio
    report = wl.export.parity(state.model, candidate, state.data, tolerance=1.0)
    if task == "embedding":
        return METRICS[task], report.mean_cosine, report.mean_cosine >= bound.cosine
    return METRICS[task], report.top1_agreement, report.top1_agreement >= bound.top1


# ---- one cell ----------------------------------------------------------------------------------


def _clean(message: str, state: _FamilyState) -> str:
    """The message as the page shows it: this run's temporary folder named generically."""
    return message.replace(str(state.folder), "<out>")


def run_cell(family: str, technique: str, limit_s: float = CELL_LIMIT_S) -> Result:
    """Run one cell and say what it did (never raises, except on Ctrl-C)."""
    state = family_state(family)
    tech = TECHNIQUES[technique]
    cell = Cell(FAMILIES[family], state.model, state.data, state.folder, lambda: _onnx_fp32(state))
    start = time.perf_counter()

    def result(status: str, **kw) -> Result:
        return Result(family, technique, status, seconds=time.perf_counter() - start, **kw)

    try:
        with time_limit(limit_s):
            candidate = tech.apply(cell)
            metric, figure, within = fidelity(state, tech, candidate)
    except CellTimeout as exc:
        out = result("fails", message=f"timeout: {exc}")
    except UserError as exc:
        text = str(exc)
        if "\n" in text.strip():
            out = result("fails", message=f"multi-line UserError: {text!r}")
        else:
            out = result("refuses", message=_clean(text.strip(), state))
    except Exception as exc:  # a raw exception: the cell fails, the matrix goes on
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        out = result("fails", message=f"raw {type(exc).__name__}: {_clean(first, state)}")
    else:
        out = result("works", metric=metric, figure=figure)
        if not within:
            out = result("fails", metric=metric, figure=figure, message="outside its bound")
    if _fingerprint(state.model) != state.fingerprint:
        out = dataclasses.replace(out, status="fails", message="the base model was modified")
        _STATE.pop(family)  # rebuilt for the next cell
    return out


def all_cells() -> list[tuple[str, str]]:
    return [(f, t) for f in FAMILIES for t in TECHNIQUES]


_RESULTS: dict[tuple[str, str], Result] = {}


def result(family: str, technique: str) -> Result:
    """The cell's result, run once per process (the test and the page check share it)."""
    if (family, technique) not in _RESULTS:
        _RESULTS[family, technique] = run_cell(family, technique)
    return _RESULTS[family, technique]


def environment() -> dict[str, str]:
    """The machine and versions the page names: the figures depend on both."""
    from weightlight.report.environment import environment as full

    env = full()
    isa = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
    flags = set(env.get("cpu flags", "").split())
    out = {"cpu": env["cpu"], "int8-relevant flags": " ".join(f for f in isa if f in flags)}
    out |= {k: env[k] for k in ("int8 path", "bf16 / fp16", "python") if k in env}
    out |= {k: v for k, v in env.items() if k in ("torch", "onnxruntime", "onnx", "torch-pruning",
                                                 "transformers")}  # fmt: skip
    out["torch threads"] = str(torch.get_num_threads())
    return out
