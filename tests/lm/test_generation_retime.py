"""A language-model run re-times generation at the end, all decoders together: "best" compares
tokens/s taken under the same conditions, not each variant's figure from when it was made."""

from __future__ import annotations

import time

import lm_helpers
import pytest

import weightlight as wl
from weightlight.measure.generation import TorchDecoder
from weightlight.pipeline.state import RunState
from weightlight.recipe import parse_recipe

SLEEP_S = 0.050  # added to each decode step of whichever variant is "slow" at the moment

RECIPE = {
    "name": "retime",
    "task": "causal_lm",
    "stages": [
        {"prune": {"method": "unstructured", "ratio": 0.5}, "name": "sparse"},
        {"export": {"format": "onnx", "kv_cache": True}, "name": "onnx-kv", "from": "base"},
        {"export": {"format": "onnx", "kv_cache": True,
                    "weight_only": {"bits": 4, "block_size": 32, "accuracy_level": 4}},
         "name": "onnx-int4", "from": "base"},
    ],  # fmt: skip
    "measure": {"batch_sizes": [1], "runs": 3, "warmup": 1, "threads": 2,
                "generation": {"prompt_tokens": 8, "new_tokens": 4, "runs": 5, "warmup": 1}},
    "baselines": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def swapped_run(tmp_path_factory):
    """A run in which the base decodes slowly while variants are made and fast at the end,
    and the pruned variant the other way round (a slow spell that moved)."""
    base = lm_helpers.tiny_llama()
    phase = {"final": False}
    step, retime = TorchDecoder.step, RunState.retime

    def timed_step(self, token_id):
        if (self.model is base) != phase["final"]:
            time.sleep(SLEEP_S)
        return step(self, token_id)

    def final_retime(state):
        phase["final"] = True
        return retime(state)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TorchDecoder, "step", timed_step)
        mp.setattr(RunState, "retime", final_retime)
        out = tmp_path_factory.mktemp("lm-retime")
        variants = wl.run(parse_recipe(RECIPE), base, lm_helpers.lm_data(), out)
    return {v.name: v for v in variants}


@pytest.mark.slow
def test_generation_figures_come_from_the_final_interleaved_timing(swapped_run):
    base = swapped_run["base"].measurement
    sparse = swapped_run["sparse"].measurement
    # the figures the report shows are the final ones: the base fast, the pruned copy slow
    # (with the re-timing off, each keeps its first figure and the order flips)
    assert sparse.generation.decode_ms_per_token_p50 >= SLEEP_S * 1000
    assert base.generation.decode_ms_per_token_p50 < SLEEP_S * 1000
    method = base.methods["generation"]
    assert method.startswith("interleaved: all 4 decoders") and "2 intra-op threads" in method
    assert sparse.methods["generation"] == method
    assert base.generation.runs == 5 and base.generation.threads == 2
    assert base.generation.peak_memory_bytes  # measured when the variant was made, kept
    summary = wl.report.summarize(list(swapped_run.values()), max_drop=1e9)
    ratios = {r["name"]: r["decode_speedup"] for r in summary["ratios"]}
    assert ratios["sparse"] < 1.0


@pytest.mark.slow
def test_kv_cache_exports_are_measured_as_decoders(swapped_run):
    fp32 = swapped_run["onnx-kv"].measurement
    int4 = swapped_run["onnx-int4"].measurement
    for m in (fp32, int4):
        assert m.runtime == "onnxruntime" and m.generation is not None
        assert m.generation.decode_tokens_per_s > 0 and m.generation.peak_memory_bytes
        assert m.methods["generation"].startswith("interleaved")
    # same weights, exported with the cache: the same perplexity as torch
    assert fp32.metric == pytest.approx(swapped_run["base"].measurement.metric, rel=1e-4)
    assert int4.size_bytes < fp32.size_bytes / 2  # the embedding table stays fp32
