"""The support matrix: every technique on every family works within its bound or refuses in one
line, in bounded time; docs/support-matrix.md says what the cells do.

Each cell is its own test id (`test_cell[llama-gqa-structured]`); the expectation is data, not
code: a cell passes by working within its bound or by a clean one-line refusal, so a cell that
starts working changes only the generated page (rerun tools/make_support_matrix.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matrix_cells import all_cells, cleanup, result
from matrix_page import PAGE_NAME, stale

pytest.importorskip("transformers")

PAGE = Path(__file__).resolve().parents[2] / PAGE_NAME


@pytest.fixture(scope="module", autouse=True)
def _files():
    yield
    cleanup()  # the ONNX files the cells wrote


@pytest.mark.parametrize(
    ("family", "technique"), all_cells(), ids=[f"{f}-{t}" for f, t in all_cells()]
)
def test_cell(family, technique):
    r = result(family, technique)
    assert r.status in ("works", "refuses"), f"{family} x {technique} fails: {r.message}"
    if r.status == "refuses":
        assert r.message and "\n" not in r.message and len(r.message) < 400
    else:
        assert r.figure is not None


def test_page_is_current():
    """The published page says what the cells do (statuses, refusal lines, figures)."""
    results = {cell: result(*cell) for cell in all_cells()}
    diffs = stale(PAGE.read_text(encoding="utf-8"), results)
    assert not diffs, (
        f"{PAGE_NAME} is stale (run tools/make_support_matrix.py): {len(diffs)} cells differ: "
        + "; ".join(diffs[:8])
    )
