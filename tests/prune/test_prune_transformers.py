"""Heads, FFN neurons and blocks of every supported transformer family, pruned for real."""

from __future__ import annotations

import time

import pytest
import torch

import weightlight as wl

pytest.importorskip("transformers")

from hf_families import HEAD_DIM, HIDDEN, SPECS, build, data_for, expected_removed  # noqa: E402
from prune_helpers import assert_unchanged, n_params, snapshot  # noqa: E402

from weightlight.models.hf_arch import FAMILIES, blocks  # noqa: E402
from weightlight.prune.transformer_scores import as_out_in  # noqa: E402

THIRTY = wl.prune.Structured(ratio=0.3, head_ratio=0.3)


def logits(model, data) -> torch.Tensor:
    with torch.no_grad():
        return model(**data.example_batch(4)).logits


@pytest.mark.parametrize("name", sorted(SPECS))
def test_thirty_percent_of_heads_and_ffn(name, tmp_path):
    spec, model = SPECS[name], build(name)
    data = data_for(spec)
    before, original = n_params(model), snapshot(model)
    pruned = wl.prune(model, THIRTY, data)
    assert_unchanged(model, original)  # the input model is never modified
    assert before - n_params(pruned) == expected_removed(spec, 0.3, 0.3)
    family, config = FAMILIES[name], pruned.config
    heads = 2 if spec.kv_heads < 4 else 3  # GQA: 1 of each group's 2 query heads stays
    assert getattr(config, family.config_heads) == heads
    assert getattr(config, family.config_ffn) == 90  # round(128 * 0.7)
    assert getattr(config, family.config_head_dim or "head_dim") == HEAD_DIM
    if family.config_kv_heads:
        assert getattr(config, family.config_kv_heads) == spec.kv_heads
    out = logits(pruned, data)
    assert out.shape == logits(model, data).shape and torch.isfinite(out).all()

    pruned.save_pretrained(tmp_path)
    reloaded = wl.models.load_model(f"hf:{tmp_path}")
    assert type(reloaded) is type(pruned) and n_params(reloaded) == n_params(pruned)
    torch.testing.assert_close(logits(reloaded, data), out, rtol=0, atol=1e-6)
    if spec.reads_head_dim:  # transformers alone rebuilds it from the config
        plain = type(pruned).from_pretrained(tmp_path).eval()
        torch.testing.assert_close(logits(plain, data), out, rtol=0, atol=1e-6)
        assert n_params(type(pruned)(config)) == n_params(pruned)  # the config is the model


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "vit"])
def test_pruning_equals_zeroing_what_was_removed(name):
    """Removing heads / neurons changes the output exactly as zeroing their outgoing weights
    (output-projection columns) does: the slices removed are the units' own, and nothing else
    moved (GQA groups, GPT-2's fused q|k|v thirds, padding included)."""
    spec, model = SPECS[name], build(name)
    data = data_for(spec)
    pruned = wl.prune(model, wl.prune.Structured(ratio=0.3, head_ratio=0.5,
                                                 importance="activation"), data)  # fmt: skip
    family = FAMILIES[name]
    zeroed = build(name)
    for old, new in zip(blocks(zeroed, family)[1], blocks(pruned, family)[1], strict=True):
        for path in (family.out, family.ffn_out):
            w_old = as_out_in(old.get_submodule(path)).detach()
            w_new = as_out_in(new.get_submodule(path)).detach()
            kept = [
                int((w_old == w_new[:, [j]]).all(0).nonzero()[0]) for j in range(w_new.shape[1])
            ]
            gone = sorted(set(range(w_old.shape[1])) - set(kept))
            assert len(gone) == w_old.shape[1] - w_new.shape[1] > 0
            w_old[:, gone] = 0  # a view of the weight: zeroes the removed units' columns
    torch.testing.assert_close(logits(pruned, data), logits(zeroed, data), rtol=1e-5, atol=1e-5)


def test_llama_prunes_in_seconds_and_keeps_generating():
    """The 2-block Llama hung for > 10 min in Torch-Pruning's graph search; sliced, it takes
    well under a second (the figure goes in docs/pruning.md)."""
    model, spec = build("llama"), SPECS["llama"]
    start = time.perf_counter()
    pruned = wl.prune(model, wl.prune.Structured(ratio=0.3), data_for(spec))
    assert time.perf_counter() - start < 10
    assert pruned.config.intermediate_size == 90 and pruned.config.num_attention_heads == 4
    ids = torch.tensor([[5, 6, 7]])
    out = pruned.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape == (1, 7)


def _make_identity(model, family, index: int) -> None:
    """Zero a pre-norm block's output projections: it then returns its input unchanged."""
    block = blocks(model, family)[1][index]
    for path in (family.out, family.ffn_out):
        torch.nn.init.zeros_(block.get_submodule(path).weight)


@pytest.mark.parametrize("name", ["llama", "qwen2"])
def test_block_dropping_removes_the_block_that_changes_least(name):
    import transformers as t

    family = FAMILIES[name]
    cls, cfg = ((t.LlamaForCausalLM, t.LlamaConfig) if name == "llama"
                else (t.Qwen2ForCausalLM, t.Qwen2Config))  # fmt: skip
    torch.manual_seed(0)
    config = cfg(hidden_size=HIDDEN, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, vocab_size=100)  # fmt: skip
    model = cls(config).eval()
    _make_identity(model, family, 2)
    layers = blocks(model, family)[1]
    kept = [layers[i] for i in (0, 1, 3)]
    pruned = wl.prune(model, wl.prune.Structured(ratio=0, layers=1), data_for(SPECS[name]))
    new = blocks(pruned, family)[1]
    assert pruned.config.num_hidden_layers == 3 and len(new) == 3
    for a, b in zip(kept, new, strict=True):
        assert torch.equal(a.mlp.down_proj.weight, b.mlp.down_proj.weight)
    assert [b.self_attn.layer_idx for b in new] == [0, 1, 2]  # the KV cache is indexed by it
    if name == "qwen2":
        assert len(pruned.config.layer_types) == 3
    data = data_for(SPECS[name])
    # the identity block did nothing, so dropping it changes nothing
    torch.testing.assert_close(logits(pruned, data), logits(model, data), rtol=1e-5, atol=1e-5)
    half = wl.prune(model, wl.prune.Structured(ratio=0, layers=0.5), data)
    assert half.config.num_hidden_layers == 2
    ids = torch.tensor([[5, 6, 7]])
    assert pruned.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=0).shape == (1, 6)


def test_block_dropping_on_an_encoder_updates_the_config(tmp_path):
    data = data_for(SPECS["bert"])
    pruned = wl.prune(build("bert"), wl.prune.Structured(ratio=0, layers=1), data)
    assert pruned.config.num_hidden_layers == 1 and len(pruned.bert.encoder.layer) == 1
    pruned.save_pretrained(tmp_path)
    torch.testing.assert_close(logits(wl.models.load_model(f"hf:{tmp_path}"), data),
                               logits(pruned, data), rtol=0, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (wl.prune.Structured(layers=2), "drops 2 of the model's 2 blocks"),
        (wl.prune.Structured(layers=1.5), "neither a count nor a fraction"),
        (wl.prune.Structured(ignore=("classifier",)), "ignore / global_pruning"),
    ],
)
def test_transformer_mistakes_are_one_line(config, words):
    with pytest.raises(wl.UserError, match=words) as info:
        wl.prune(build("bert"), config, data_for(SPECS["bert"]))
    assert "\n" not in str(info.value)


def test_albert_is_refused_in_one_line():
    import transformers as t

    model = t.AlbertModel(t.AlbertConfig(hidden_size=HIDDEN, num_attention_heads=4,
                                         intermediate_size=128, embedding_size=32,
                                         vocab_size=100, num_hidden_layers=2))  # fmt: skip
    with pytest.raises(wl.UserError, match="shares one layer's weights"):
        wl.prune(model, wl.prune.Structured(head_ratio=0.3), data_for(SPECS["bert"]))


def test_round_to_keeps_simd_friendly_ffn_widths():
    pruned = wl.prune(build("bert"), wl.prune.Structured(ratio=0.3, round_to=16),
                      data_for(SPECS["bert"]))  # fmt: skip
    assert pruned.config.intermediate_size == 96  # 89.6 -> 96, a multiple of 16
    assert pruned.bert.encoder.layer[0].attention.self.num_attention_heads == 4
    assert pruned.config.hidden_size == HIDDEN  # the residual width never changes


@pytest.mark.parametrize("name", ["bert", "roberta", "distilbert"])
def test_head_pruned_encoders_export_fused_and_faithful(name, tmp_path):
    """ORT's fusions get the pruned attention's head count and width (3 heads x 16 = 48, not
    the residual 64): DistilBERT, whose attention has neither `num_attention_heads` nor
    `all_head_size`, was fused with 64 / 3 and its export refused."""
    import onnx

    spec = SPECS[name]
    data = data_for(spec)
    pruned = wl.prune(build(name), THIRTY, data)
    onnx_model = wl.export(pruned, wl.export.Export(), data, tmp_path / "pruned.onnx")
    assert onnx_model.fusions["Attention"] == 2
    attention = [n for n in onnx.load(str(onnx_model.path)).graph.node if n.op_type == "Attention"]
    assert [a.i for n in attention for a in n.attribute if a.name == "num_heads"] == [3, 3]
    assert onnx_model.parity.max_abs < 1e-4  # measured 5e-7 .. 6e-7


def test_a_llama_whose_pruned_heads_do_not_divide_its_width_saves_and_reloads(tmp_path):
    """transformers' LlamaConfig refuses hidden_size % heads != 0 in save_pretrained and
    from_pretrained, even with head_dim given: 8 heads of 8 in 2 groups, 30 % pruned, keep 3
    per group, 6 heads for a width of 64. The config keeps 8, the pruned count is saved under
    its own key, and the hf: loader rebuilds the model (156 M Llama: 16 -> 12 heads of 64)."""
    import transformers as t

    from weightlight.models.hf_arch import PRUNED_HEADS_KEY

    torch.manual_seed(0)
    config = t.LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
                           num_key_value_heads=2, head_dim=8, intermediate_size=128,
                           vocab_size=100)  # fmt: skip
    model, data = t.LlamaForCausalLM(config).eval(), data_for(SPECS["llama"])
    pruned = wl.prune(model, wl.prune.Structured(ratio=0.3, head_ratio=0.3), data)
    assert pruned.model.layers[0].self_attn.q_proj.out_features == 6 * 8
    assert pruned.config.num_attention_heads == 8 and getattr(pruned.config, PRUNED_HEADS_KEY) == 6
    pruned.save_pretrained(tmp_path)
    reloaded = wl.models.load_model(f"hf:{tmp_path}")
    assert n_params(reloaded) == n_params(pruned)
    torch.testing.assert_close(logits(reloaded, data), logits(pruned, data), rtol=0, atol=0)
    reloaded.save_pretrained(tmp_path / "again")  # a reloaded model saves again
    again = wl.models.load_model(f"hf:{tmp_path / 'again'}")
    torch.testing.assert_close(logits(again, data), logits(pruned, data), rtol=0, atol=0)


def test_a_llama_with_a_block_removed_reloads_from_a_weights_file(tmp_path):
    """Saved as .safetensors and rebuilt by its factory (how a run reloads its variants): the
    fresh 2-block build is cut to the 1 block the file holds, then fitted to its widths."""
    data = data_for(SPECS["llama"])
    config = wl.prune.Structured(ratio=0.3, head_ratio=0.3, layers=1)
    pruned = wl.prune(build("llama"), config, data)
    assert len(pruned.model.layers) == 1 and pruned.config.num_hidden_layers == 1
    path = wl.models.save_model(pruned, tmp_path / "pruned.safetensors")
    reloaded = wl.models.load_model(path, factory=lambda: build("llama"))
    assert len(reloaded.model.layers) == 1 and reloaded.config.num_hidden_layers == 1
    assert n_params(reloaded) == n_params(pruned)
    torch.testing.assert_close(logits(reloaded, data), logits(pruned, data), rtol=0, atol=0)
