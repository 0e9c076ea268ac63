"""Unstructured and N:M pruning: exact sparsity, masks made permanent, honest size."""

from __future__ import annotations

import pytest
import torch
from prune_helpers import accuracy, assert_unchanged, snapshot
from torch import nn

import weightlight as wl
from weightlight.measure.params import count_params

# Weights of conv1 + conv2 + fc1 + fc2 in the seed CNN (biases are not pruned).
CNN_WEIGHTS = 288 + 18_432 + 1_179_648 + 1_280
CNN_PARAMS = 1_199_882


@pytest.fixture(scope="module")
def sparse_80(trained_cnn, digits):
    before = snapshot(trained_cnn)
    pruned = wl.prune(trained_cnn, wl.prune.Unstructured(ratio=0.8, scope="global"), digits)
    assert_unchanged(trained_cnn, before)
    return pruned


def test_global_80_has_exact_sparsity(sparse_80):
    total, nonzero = count_params(sparse_80)
    assert total == CNN_PARAMS
    assert nonzero == CNN_PARAMS - round(0.8 * CNN_WEIGHTS)  # 240,164
    # permanent: plain weights, no masks or re-parametrisation left
    assert not any(k.endswith(("_mask", "_orig")) for k in sparse_80.state_dict())


def test_global_80_zipped_size_at_least_2_5x_smaller(trained_cnn, sparse_80, digits):
    kw = {"batch_sizes": (1,), "runs": 2, "warmup": 1}
    dense = wl.measure(trained_cnn, digits, **kw)
    sparse = wl.measure(sparse_80, digits, **kw)
    assert dense.size_bytes == sparse.size_bytes  # same dense tensors on disk ...
    assert dense.size_zipped_bytes / sparse.size_zipped_bytes >= 2.5  # ... zeros compress
    assert sparse.nonzero_params == 240_164
    assert sparse.metric >= dense.metric - 3.0  # global magnitude keeps most accuracy


def test_layer_scope_prunes_each_layer_to_the_ratio(trained_cnn):
    pruned = wl.prune(trained_cnn, wl.prune.Unstructured(ratio=0.5, scope="layer"))
    for layer in (pruned.conv1, pruned.conv2, pruned.fc1, pruned.fc2):
        assert int((layer.weight == 0).sum()) == round(0.5 * layer.weight.numel())


def test_masks_kept_when_not_permanent_and_random_importance(trained_cnn):
    config = wl.prune.Unstructured(ratio=0.3, importance="random", permanent=False,
                                   layer_types=("Linear",), ignore=("fc2",))  # fmt: skip
    pruned = wl.prune(trained_cnn, config)
    state = pruned.state_dict()
    assert "fc1.weight_mask" in state and "conv1.weight" in state and "fc2.weight" in state
    assert int((state["fc1.weight_mask"] == 0).sum()) == round(0.3 * 1_179_648)
    permanent = wl.prune.make_permanent(pruned)
    assert "fc1.weight_mask" not in permanent.state_dict()


def test_finetune_keeps_pruned_weights_at_zero(trained_cnn, digits):
    config = wl.prune.Unstructured(ratio=0.9, finetune={"epochs": 0.5})
    pruned = wl.prune(trained_cnn, config, digits)
    assert count_params(pruned)[1] == CNN_PARAMS - round(0.9 * CNN_WEIGHTS)
    assert accuracy(pruned, digits) >= 95.0


def test_unstructured_bad_input():
    with pytest.raises(wl.UserError, match="Unstructured.ratio"):
        wl.prune.Unstructured(ratio=1.0)
    with pytest.raises(wl.UserError, match="Unstructured.scope"):
        wl.prune.Unstructured(scope="model")
    with pytest.raises(wl.UserError, match="no Conv1d layers"):
        wl.prune(nn.Sequential(nn.Linear(4, 2)), wl.prune.Unstructured(layer_types=("Conv1d",)))


# ---------------------------------------------------------------- N:M


def test_nm_mask_keeps_the_n_largest_of_each_group():
    w = torch.tensor([[4.0, -1.0, 3.0, 0.5, 0.1, -0.2, 0.3, 9.0]])
    expected = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]])
    assert torch.equal(wl.prune.nm_mask(w, 2, 4), expected)


def test_2_4_on_the_cnn(trained_cnn, digits):
    pruned = wl.prune(trained_cnn, wl.prune.NM(), digits)
    groups = pruned.fc1.weight.reshape(128, -1, 4)
    assert torch.equal((groups != 0).sum(-1), torch.full(groups.shape[:2], 2))
    conv2 = pruned.conv2.weight.reshape(64, -1, 4)  # 32 * 3 * 3 = 288 inputs per filter
    assert int((conv2 != 0).sum()) == conv2.numel() // 2
    # conv1 has 9 inputs per filter (not a multiple of 4): left dense
    assert torch.equal(pruned.conv1.weight, trained_cnn.conv1.weight)
    assert count_params(pruned)[1] == CNN_PARAMS - (18_432 + 1_179_648 + 1_280) // 2


def test_nm_rejects_n_not_below_m():
    with pytest.raises(wl.UserError, match="n must be smaller than m"):
        wl.prune.NM(n=4, m=4)
