"""Each task's metric and direction, and reading outputs: tensor, tuple, ModelOutput, pooled."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader
from transformer_helpers import PadCollate, sequences, tiny_bert, tiny_gpt2, token_loaders

import weightlight as wl
from weightlight.data import from_loaders
from weightlight.errors import UserError
from weightlight.measure.metric import score
from weightlight.measure.record import Measurement
from weightlight.outputs import output_tensor
from weightlight.pooling import pool
from weightlight.tasks import get_task

transformers = pytest.importorskip("transformers")


def test_classification_top1():
    out = [torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])]
    assert get_task("classification").score(out, [torch.tensor([0, 1, 1, 1])]).value == 75.0


def test_embedding_cosine_mean_and_worst():
    ref = [torch.tensor([[1.0, 0.0], [0.0, 1.0]])]
    out = [torch.tensor([[1.0, 0.0], [1.0, 1.0]])]  # cosines 1 and 1/sqrt(2)
    score = get_task("embedding").score(out, ref)
    assert score.value == pytest.approx(100 * (1 + 2**-0.5) / 2)
    assert score.worst == pytest.approx(100 * 2**-0.5)


def test_regression_mse_is_lower_better():
    task = get_task("regression")
    assert task.score([torch.tensor([1.0, 2.0])], [torch.tensor([1.0, 4.0])]).value == 2.0
    assert not task.higher_is_better and task.drop(base=2.0, value=3.0) == 1.0


def test_causal_lm_perplexity_matches_hf_loss_on_padded_batches():
    model = tiny_gpt2()
    seqs = sequences(12, seed=3)
    loader = DataLoader(seqs, batch_size=12, collate_fn=PadCollate(with_types=False))
    data = from_loaders(loader, loader, task="causal_lm")
    perplexity = score(wl.measure.as_runnable(model, data.adapter).run, data).value
    batch = next(iter(loader))
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        hf_loss = model(**batch, labels=labels).loss  # mean next-token loss, padding ignored
    assert data.task_spec.metric_name == "perplexity" and not data.task_spec.higher_is_better
    assert perplexity == pytest.approx(math.exp(float(hf_loss)), rel=1e-4)
    assert 50 < perplexity < 200  # random weights over a 100-token vocabulary


def test_embedding_task_scores_against_the_base_with_mean_pooling():
    base = tiny_bert(seed=0)
    data = from_loaders(*token_loaders(), task="embedding")
    assert data.adapter.output == "last_hidden_state" and data.adapter.pooling == "mean"
    data = data.with_reference(base)
    same = wl.measure(base, data, runs=2, warmup=0, batch_sizes=(1,))
    assert same.metric == pytest.approx(100.0, abs=1e-4)
    other = wl.measure(tiny_bert(seed=1), data, runs=2, warmup=0, batch_sizes=(1,))
    assert other.metric < 99.0 and other.metric_worst <= other.metric
    assert other.metric_drop(same) == pytest.approx(100.0 - other.metric, abs=1e-4)


def test_lower_is_better_drop_has_the_right_sign():
    def rec(value):
        return Measurement(
            name="x", runtime="torch", params=1, nonzero_params=1, size_bytes=1,
            size_zipped_bytes=1, artifact_format="pt", macs=None, threads=1, latency=(),
            metric_name="perplexity", metric=value, peak_memory_bytes=None, methods={},
            metric_higher_is_better=False,
        )  # fmt: skip

    assert rec(12.0).metric_drop(rec(10.0)) == 2.0  # higher perplexity: worse
    assert rec(9.0).metric_drop(rec(10.0)) == -1.0


def test_output_forms_and_declared_outputs():
    t = torch.ones(2, 3)
    model_output = transformers.modeling_outputs.BaseModelOutputWithPooling(
        last_hidden_state=torch.zeros(2, 4, 3), pooler_output=t
    )
    assert output_tensor(t) is t and output_tensor((t, None)) is t
    assert output_tensor(model_output).shape == (2, 4, 3)  # no logits: the first field
    assert output_tensor(model_output, "pooler_output") is t
    with pytest.raises(UserError, match="no output 'pooled'.*last_hidden_state, pooler_output"):
        output_tensor(model_output, "pooled")


def test_mean_pooling_ignores_padding():
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    pooled = pool(hidden, mask, "mean")
    assert torch.equal(pooled[0], hidden[0, :2].mean(0))
    assert torch.equal(pooled[1], hidden[1].mean(0))
