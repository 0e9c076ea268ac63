"""GPTQ beats round-to-nearest at 4 bits on the trained tiny LM because it reads the
calibration text: the same grid, block and packing, only the integers differ.

The setting is the one the export stage uses by default (block 32, symmetric, int8 compute).
On this small, redundant model 4-bit RTN costs little (perplexity 2.4483 -> 2.4528 when
measured), so the test asks GPTQ to win back at least half of what RTN lost; GPTQ won back
~98 % (2.4484). With its Hessians replaced by I, GPTQ writes RTN's bytes (tests/export/
test_gptq.py) and this test fails.
"""

from __future__ import annotations

import pytest
import torch
from lm_helpers import perplexity, split_ids

from weightlight.export.decoder import export_decoder
from weightlight.export.ort_nbits import calibration_feeds, quantize_nbits


@pytest.mark.slow
def test_gptq_beats_rtn_at_4_bits(trained_lm, lm_data, tmp_path):
    _, held = split_ids()
    fp32 = export_decoder(trained_lm, tmp_path / "lm.onnx", threads=2)
    feeds = calibration_feeds(fp32, lm_data, 8)  # 128 training sequences of 32 tokens
    assert len(feeds) == 8 * 16 and feeds[0]["past_key_values.0.key"].shape[2] == 0

    def ppl(model):
        return perplexity(lambda ids: torch.as_tensor(model.run({"input_ids": ids})), held)

    common = dict(bits=4, block_size=32, accuracy_level=4, symmetric=True)
    rtn = quantize_nbits(fp32, tmp_path / "rtn.onnx", algorithm="rtn", **common)
    gptq = quantize_nbits(fp32, tmp_path / "gptq.onnx", algorithm="gptq",
                          calibration=feeds, **common)  # fmt: skip
    dense, by_rtn, by_gptq = ppl(fp32), ppl(rtn), ppl(gptq)
    assert by_rtn > dense + 1e-3, (dense, by_rtn)  # 4 bits cost something to win back
    assert by_gptq < by_rtn - 0.5 * (by_rtn - dense), (dense, by_rtn, by_gptq)
