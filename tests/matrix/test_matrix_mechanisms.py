"""The matrix's own machinery: the per-cell time bound and the staleness check."""

from __future__ import annotations

import time

import matrix_cells
import pytest
from matrix_cells import CellTimeout, Result, all_cells, run_cell, time_limit
from matrix_page import parse, render, stale
from matrix_techniques import LOSSY, TECHNIQUES, Technique

from weightlight.errors import UserError


def test_time_limit_interrupts_a_busy_python_loop():
    start = time.perf_counter()
    with pytest.raises(CellTimeout), time_limit(0.3):
        while True:  # like Torch-Pruning's graph walk on a Llama: pure Python, no end
            pass
    assert time.perf_counter() - start < 2.0


def test_a_hanging_technique_fails_its_cell_in_bounded_time(monkeypatch):
    def hang(cell):
        try:
            while True:
                pass
        except Exception:  # a library's broad except must not swallow the time limit
            return cell.model

    monkeypatch.setitem(TECHNIQUES, "hang", Technique("hang", "hang", hang, LOSSY))
    matrix_cells.family_state("two-input")  # built (and trained) before the clock starts
    start = time.perf_counter()
    r = run_cell("two-input", "hang", limit_s=0.5)
    assert r.status == "fails" and r.message.startswith("timeout")
    assert time.perf_counter() - start < 5.0


def test_a_raw_exception_fails_its_cell_and_a_refusal_passes(monkeypatch):
    def raw(cell):
        raise IndexError("index out of range in self")

    def refuse(cell):
        raise UserError("not for this model", "use Dynamic")

    monkeypatch.setitem(TECHNIQUES, "raw", Technique("raw", "raw", raw, LOSSY))
    monkeypatch.setitem(TECHNIQUES, "refuse", Technique("refuse", "refuse", refuse, LOSSY))
    assert run_cell("two-input", "raw").message == "raw IndexError: index out of range in self"
    r = run_cell("two-input", "refuse")
    assert (r.status, r.message) == ("refuses", "not for this model; use Dynamic")


def _fake_results() -> dict:
    out = {}
    for i, (fam, tech) in enumerate(all_cells()):
        task = matrix_cells.FAMILIES[fam].task
        if tech == "onnx":
            out[fam, tech] = Result(fam, tech, "works", matrix_cells.PARITY, 3e-7)
        elif i % 3 == 0:
            out[fam, tech] = Result(fam, tech, "refuses", message=f"no {tech} here; use x")
        else:
            value = {"classification": 93.75, "embedding": 0.9987, "causal_lm": 1.004}[task]
            out[fam, tech] = Result(fam, tech, "works", matrix_cells.METRICS[task], value)
    return out


def test_the_page_reads_back_and_an_edit_makes_it_stale():
    results = _fake_results()
    page = render(results, {"cpu": "test"})
    assert stale(page, results) == []
    assert len(parse(page)) == len(all_cells())
    # another CPU's figures move a little: still current
    moved = {k: Result(**{**vars(r), "figure": r.figure * 1.001}) if r.figure else r
             for k, r in results.items()}  # fmt: skip
    assert stale(page, moved) == []
    # a refusal that now works, an edited refusal line, a figure far off: all reported
    cell = next(k for k, r in results.items() if r.status == "refuses")
    flipped = dict(results)
    flipped[cell] = Result(*cell, "works", matrix_cells.METRICS["classification"], 100.0)
    assert any("the page says refuses, the cell works" in d for d in stale(page, flipped))
    edited = page.replace(f"no {cell[1]} here; use x", f"no {cell[1]} here", 1)
    assert any("refusal" in d for d in stale(edited, results))
    worked = next(k for k, r in results.items() if r.metric == matrix_cells.METRICS["embedding"])
    assert stale(page.replace("0.9987", "0.9100", 1), results) == [
        f"{worked[0]} x {worked[1]}: the page says 0.9100, the cell 0.9987"
    ]
