"""Batches as models take them: tensor, tuple, dict; the user's loaders kept as given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from transformer_helpers import PadCollate, tiny_bert, token_loaders

import weightlight as wl
from weightlight import batch as batches
from weightlight.data import from_loaders

pytest.importorskip("transformers")


class TwoInputs(nn.Module):
    """A model taking two tensors: model(a, b) (a tuple batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(2, 3)

    def forward(self, a, b):
        return self.a(a) + self.b(b)


class Named(TwoInputs):
    """The same, called by name: model(left=..., right=...) (a dict batch)."""

    def forward(self, left, right):  # type: ignore[override]
        return super().forward(left, right)


def _tuple_data(dict_batch: bool) -> wl.data.Data:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(48, 4, generator=g), torch.randn(48, 2, generator=g)
    y = (a[:, :3] + b[:, :1]).argmax(1)  # learnable only from both inputs together
    if dict_batch:
        rows = [{"left": a[i], "right": b[i], "labels": y[i]} for i in range(48)]
        return from_loaders(
            DataLoader(rows[:32], batch_size=8), DataLoader(rows[32:], batch_size=8)
        )
    ds = TensorDataset(a, b, y)

    def pairs(items):  # ((a, b), y): a tuple of inputs, then the labels
        a_, b_, y_ = (torch.stack(t) for t in zip(*items, strict=True))
        return (a_, b_), y_

    train = DataLoader(torch.utils.data.Subset(ds, range(32)), batch_size=8, collate_fn=pairs)
    held_out = DataLoader(
        torch.utils.data.Subset(ds, range(32, 48)), batch_size=8, collate_fn=pairs
    )
    return from_loaders(train, held_out)


@pytest.mark.parametrize("dict_batch", [False, True], ids=["tuple", "dict"])
def test_tuple_and_dict_batches_measure_and_train(dict_batch):
    data = _tuple_data(dict_batch)
    torch.manual_seed(0)
    model = (Named if dict_batch else TwoInputs)()
    x = data.example_batch(5)
    assert batches.size(x) == 5
    expected = model(**x) if dict_batch else model(*x)
    out = wl.measure.as_runnable(model, data.adapter).run(x)
    assert torch.allclose(out, expected.detach())
    m = wl.measure(model, data, runs=2, warmup=0, batch_sizes=(1, 4))
    assert m.macs == 4 * 3 + 2 * 3  # both Linear layers counted, batch 1
    assert 0.0 <= m.metric <= 100.0
    trained = wl.train(model, data, epochs=40, lr=0.05, progress=False)
    after = wl.measure(trained, data, runs=2, warmup=0, batch_sizes=(1,)).metric
    assert after >= 75.0 and after > m.metric  # 16 eval samples: 12 or more right


def test_tensor_batch_still_the_plain_case(digits):
    x = digits.example_batch(3)
    assert isinstance(x, torch.Tensor) and x.shape == (3, 1, 28, 28)
    assert batches.split((x, torch.zeros(3)))[0] is x


def test_the_users_dataloader_is_kept_as_given():
    train, held_out = token_loaders()
    data = from_loaders(train, held_out, task="embedding")
    assert data.train is train and data.eval is held_out and data.calib is train
    assert isinstance(data.train.collate_fn, PadCollate)
    before = PadCollate.calls
    model = tiny_bert()
    # Training on an embedding has no labels: a user loss (here: stay close to a target).
    target = torch.zeros(32)
    wl.train(model, data, epochs=1, progress=False,
             loss=lambda m, x, _y: ((data.adapter.forward(m, x) - target) ** 2).mean())  # fmt: skip
    assert PadCollate.calls - before == len(train)  # every training batch went through it


def test_a_shuffling_loader_keeps_its_collate_fn():
    seqs = [torch.randint(1, 50, (n,)) for n in (3, 5, 7, 9) * 4]
    collate = PadCollate()
    loader = DataLoader(seqs, batch_size=4, shuffle=True, collate_fn=collate)
    from weightlight.accelerator import Accelerator

    single = Accelerator(torch.device("cpu"))
    seeded = single.loader(loader, seed=0)
    assert seeded.collate_fn is collate
    first = [b["input_ids"].shape for b in seeded]
    again = [b["input_ids"].shape for b in single.loader(loader, seed=0)]
    assert first == again  # re-seeded: the same order every run
    # Under DDP (rank 1 of 2) the shard is read through the user's collate_fn too.
    shard = Accelerator(torch.device("cpu"), rank=1, world_size=2).loader(loader, seed=0)
    assert shard.collate_fn is collate and shard.batch_size == 2
    assert sum(b["input_ids"].shape[0] for b in shard) == len(seqs) // 2


def test_integer_npz_inputs_stay_integers(tmp_path):
    ids = np.random.default_rng(0).integers(1, 100, size=(40, 12)).astype(np.int64)
    np.savez(tmp_path / "tokens.npz", x=ids, y=np.arange(40) % 2)
    data = wl.data.load_data(str(tmp_path / "tokens.npz"))
    assert data.example_input.dtype == torch.int64
    assert torch.equal(next(iter(data.eval))[0], next(iter(data.eval))[0].long())
