"""30 % of heads and FFN neurons on every transformer family of the matrix: the counts are the
shapes' arithmetic, the pruned models export and reload, and docs/transformer-pruning.md says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from matrix_pruning import PAGE_NAME, families, row, stale

pytest.importorskip("transformers")

PAGE = Path(__file__).resolve().parents[2] / PAGE_NAME
# What 30 % removes per block, from the shapes (SEQ = 64 tokens):
# BERT: hidden 32, 4 heads of 8 -> 3, FFN 64 -> 45 (19 neurons).
_BERT_PARAMS = 8 * 33 * 3 + 8 * 32 + 19 * 33 + 19 * 32  # q/k/v rows (+bias), o columns; FFN
_BERT_MACS = 4 * 64 * 32 * 8 + 2 * 64 * 64 * 8 + 2 * 64 * 32 * 19  # projections, QK^T + AV, FFN
# Llama GQA: hidden 64, 4 query heads of 16 in 2 key/value groups -> 1 per group, FFN 128 -> 90
# (38 neurons of gate, up and down), no biases; the key/value heads stay.
_LLAMA_PARAMS = 2 * 16 * 64 * 2 + 38 * 64 * 3
_LLAMA_MACS = 2 * 64 * 64 * 32 + 2 * 64 * 64 * 32 + 3 * 64 * 64 * 38


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "params", "macs"),
    [("bert", _BERT_PARAMS, _BERT_MACS), ("llama-gqa", _LLAMA_PARAMS, _LLAMA_MACS)],
)
def test_params_and_macs_removed_are_the_shapes_arithmetic(family, params, macs):
    r = row(family)
    assert r.status == "works", r.message
    assert r.params[0] - r.params[1] == 2 * params  # 2 blocks
    assert r.macs[0] - r.macs[1] == 2 * macs  # attention products included (CPU SDPA)
    assert r.onnx_max_abs < 1e-4 and r.reload_max_abs == 0.0


@pytest.mark.slow
def test_page_is_current():
    """Statuses, refusal lines, params and MACs before / after of every row, exactly."""
    rows = [row(name) for name in families()]
    assert [r.status for r in rows].count("refuses") == 1  # ALBERT's shared weights
    diffs = stale(PAGE.read_text(encoding="utf-8"), rows)
    assert not diffs, f"{PAGE_NAME} is stale (run tools/prune_transformers.py): " + "; ".join(diffs)
