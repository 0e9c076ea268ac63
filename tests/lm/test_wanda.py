"""Wanda: the score, the per-row and N:M counts, the verb, and the mechanism (it beats
magnitude pruning at 50 % on a trained LM because it reads the activations)."""

from __future__ import annotations

import pytest
import torch
from lm_helpers import perplexity, split_ids, tiny_llama

import weightlight as wl
from weightlight.errors import UserError
from weightlight.prune.wanda import wanda_mask


def test_wanda_keeps_a_small_weight_on_a_large_input():
    weight = torch.tensor([[0.1, 1.0, 0.9, 0.2], [3.0, 0.1, 0.2, 1.0]])
    norms = torch.tensor([100.0, 1.0, 1.0, 1.0])  # input 0 is an outlier feature
    mask = wanda_mask(weight, norms, 0.5)
    assert mask.tolist() == [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]]
    by_magnitude = wanda_mask(weight, torch.ones(4), 0.5)  # equal norms: plain magnitude
    assert by_magnitude[0].tolist() == [0.0, 1.0, 1.0, 0.0]
    nm = wanda_mask(torch.randn(6, 16), torch.rand(16), 0.0, n=2, m=4)
    assert (nm.reshape(6, 4, 4).sum(-1) == 2).all()


def test_wanda_through_the_verb(lm_data):
    model = tiny_llama(seed=1).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = wl.prune(model, wl.prune.Wanda(ratio=0.5, calibration_batches=2), lm_data)
    linears = {n: m for n, m in pruned.named_modules() if isinstance(m, torch.nn.Linear)}
    for name, layer in linears.items():
        zeros = (layer.weight == 0).sum(1)
        expected = 0 if name == "lm_head" else layer.in_features // 2
        assert zeros.tolist() == [expected] * layer.out_features, name
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    nm = wl.prune(model, wl.prune.Wanda(n=2, m=4, calibration_batches=1), lm_data)
    w = nm.model.layers[0].mlp.down_proj.weight
    assert ((w.reshape(w.shape[0], -1, 4) != 0).sum(-1) <= 2).all()
    with pytest.raises(UserError, match="data"):
        wl.prune(model, wl.prune.Wanda())
    with pytest.raises(UserError, match="n and m"):
        wl.prune.Wanda(n=2)


def _with_outlier_features(model, channels=(0, 1, 2, 3, 4, 5), scale=30.0):
    """The same function with a few large input features, as trained LLMs have (Dettmers et
    al., LLM.int8(), 2022): each norm's gain on `channels` times `scale`, and the columns of the
    Linears it feeds divided by it. Magnitude then sees tiny weights on the strongest inputs."""
    import copy

    net = copy.deepcopy(model)
    with torch.no_grad():
        for block in net.model.layers:
            feeds = ((block.input_layernorm, ("q_proj", "k_proj", "v_proj")),
                     (block.post_attention_layernorm, ("gate_proj", "up_proj")))  # fmt: skip
            for norm, layers in feeds:
                norm.weight[list(channels)] *= scale
                for owner in (block.self_attn, block.mlp):
                    for name in layers:
                        if hasattr(owner, name):
                            getattr(owner, name).weight[:, list(channels)] /= scale
    return net.eval()


@pytest.mark.slow
def test_wanda_beats_magnitude_at_half_sparsity(trained_lm, lm_data):
    # The tiny grammar LM alone is too redundant to tell them apart (dense 2.475, magnitude
    # 2.491, Wanda 2.486); with outlier features, magnitude prunes the strongest inputs away.
    _, held = split_ids()
    model = _with_outlier_features(trained_lm)

    def ppl(net):
        return perplexity(lambda ids: net(input_ids=ids).logits, held)

    dense = ppl(model)
    assert abs(dense - ppl(trained_lm)) < 1e-3 * dense  # the same function
    by_size = wl.prune.Unstructured(
        ratio=0.5, scope="layer", layer_types=("Linear",), ignore=("lm_head",)
    )
    by_magnitude = ppl(wl.prune(model, by_size, lm_data))
    by_wanda = ppl(wl.prune(model, wl.prune.Wanda(ratio=0.5), lm_data))
    assert by_wanda < by_magnitude - 0.5 * (by_magnitude - dense), (dense, by_magnitude, by_wanda)
