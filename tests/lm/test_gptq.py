"""GPTQ through ORT's MatMulNBits quantizer beats round-to-nearest at 4 bits on a trained LM:
it reads the calibration text (the layers' input statistics), RTN does not."""

from __future__ import annotations

import pytest
from lm_helpers import perplexity, split_ids

from weightlight.export.decoder import export_decoder
from weightlight.export.ort_nbits import calibration_feeds, quantize_nbits


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="not shown: ORT 1.32's GPTQ came out worse than RTN on the tiny LM (ppl 2.642 vs "
    "2.476 at block 32, fp32 2.475) and identical with the Hessian replaced by I: to debug",
)
def test_gptq_beats_rtn_at_4_bits(trained_lm, lm_data, tmp_path):
    _, held = split_ids()
    fp32 = export_decoder(trained_lm, tmp_path / "lm.onnx")
    feeds = calibration_feeds(fp32, lm_data, 8)
    assert len(feeds) == 8 * 16 and feeds[0]["past_key_values.0.key"].shape[2] == 0

    def ppl(model):
        return perplexity(lambda ids: model.run({"input_ids": ids}), held)

    common = dict(bits=4, block_size=32, accuracy_level=4, symmetric=True)
    rtn = quantize_nbits(fp32, tmp_path / "rtn.onnx", algorithm="rtn", **common)
    gptq = quantize_nbits(fp32, tmp_path / "gptq.onnx", algorithm="gptq",
                          calibration=feeds, **common)  # fmt: skip
    dense, by_rtn, by_gptq = ppl(fp32), ppl(rtn), ppl(gptq)
    assert by_rtn > dense  # 4 bits cost something, or the comparison says nothing
    assert by_gptq < by_rtn - 0.2 * (by_rtn - dense), (dense, by_rtn, by_gptq)
