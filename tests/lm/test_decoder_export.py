"""The KV-cache decoder export: parity with torch over prefill and decode, the runtime's
protocol, MatMulNBits on it through the export verb, and the refusals."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError
from weightlight.export.decoder import decoder_parity, export_decoder
from weightlight.export.ort_decoder import OrtDecoder


def _llama():
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def _gpt2():
    import transformers

    config = transformers.GPT2Config(vocab_size=96, n_embd=64, n_layer=2, n_head=4, n_positions=128)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.mark.slow
@pytest.mark.parametrize("build", [_llama, _gpt2], ids=["llama-gqa", "gpt2"])
def test_decoder_matches_torch_prefill_and_decode(build, tmp_path):
    model = build()
    dec = export_decoder(model, tmp_path / "decoder.onnx")
    names = [i.name for i in dec.session.get_inputs()]
    assert names[:3] == ["input_ids", "attention_mask", "position_ids"]
    assert names[3:5] == ["past_key_values.0.key", "past_key_values.0.value"]
    outputs = [o.name for o in dec.session.get_outputs()]
    assert outputs[:3] == ["logits", "present.0.key", "present.0.value"]
    # reloaded from its file (a resumed run), it is a decoder again, not a plain graph
    assert isinstance(wl.export.load_onnx(dec.path), wl.export.OrtDecoderModel)
    if build is _llama:  # grouped-query attention: 2 cache heads for 4 attention heads
        assert dec.session.get_inputs()[3].shape[1] == 2
    error, scale = decoder_parity(model, dec, prompt=11, steps=8, seed=3)
    assert error < 1e-4 * max(1.0, scale)
    prompt = torch.randint(0, 96, (1, 7), generator=torch.Generator().manual_seed(1))
    runtime = OrtDecoder(dec, threads=1)
    expected = model.generate(prompt, max_new_tokens=6, do_sample=False)[0, 7:].tolist()
    assert runtime.generate(prompt, 6) == expected
    # reset() forgets the text: the same prompt gives the same logits again
    first = runtime.prefill(prompt)
    runtime.step(3)
    runtime.reset()
    assert torch.equal(runtime.prefill(prompt), first)
    # a plain LM batch runs with an empty cache (so wl.measure reads logits / perplexity)
    logits = dec.run({"input_ids": prompt, "attention_mask": torch.ones_like(prompt)})
    assert (logits - model(prompt).logits).abs().max() < 1e-4


def test_decoder_refusals(tmp_path):
    with pytest.raises(UserError, match="causal LM"):
        export_decoder(torch.nn.Linear(4, 4), tmp_path / "d.onnx")
    with pytest.raises(UserError, match=".onnx"):
        export_decoder(_llama(), tmp_path / "d.bin")
    with pytest.raises(UserError, match="both"):
        wl.export.Export(quantize="dynamic_int8", weight_only={"bits": 4})


@pytest.mark.slow
def test_export_stage_writes_an_int4_decoder(tmp_path):
    """`Export(kv_cache=True, weight_only=...)` through the verb: MatMulNBits in the file,
    the decoder runtime on it, greedy tokens close to fp32's on a random model."""
    import onnx

    from weightlight.recipe import parse_recipe

    stage = {"format": "onnx", "kv_cache": True, "weight_only": {"bits": 4, "block_size": 32}}
    recipe = parse_recipe({"stages": [{"export": stage}]})
    config = recipe.stages[0].export
    model = _llama()
    ids = torch.randint(0, 96, (8, 12), generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(
        [{"input_ids": r, "attention_mask": torch.ones_like(r)} for r in ids], batch_size=4
    )
    data = wl.data.from_loaders(loader, loader, task="causal_lm")
    q = wl.export(model, config, data, tmp_path / "lm.onnx")
    assert q.path.name == "lm.int4.onnx"
    ops = [n.op_type for n in onnx.load(str(q.path)).graph.node]
    assert ops.count("MatMulNBits") == 2 * 7 + 1  # q k v o gate up down per block + lm_head
    fp32 = model(ids[:2]).logits
    got = q.run({"input_ids": ids[:2], "attention_mask": torch.ones_like(ids[:2])})
    cos = torch.nn.functional.cosine_similarity(got.flatten(), fp32.flatten(), dim=0)
    assert cos > 0.98
    assert len(OrtDecoder(q, threads=1).generate(ids[:1], 3)) == 3
