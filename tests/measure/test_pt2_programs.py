"""`.pt2` programs measure like any model: weightlight saves them with a dynamic batch (so a
program traced from one sample runs at batch 64), and a program someone else traced at a fixed
batch is refused in one line that says how to measure it."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError


def test_saved_program_measures_at_every_batch_size(tmp_path, digits) -> None:
    model = wl.models.load_model("mlp")
    path = wl.models.save_model(model, tmp_path / "m.pt2", example_input=torch.randn(1, 1, 28, 28))
    loaded = wl.models.load_model(str(path))
    loaded.eval()  # a plain exported program's module raises here
    x = torch.randn(5, 1, 28, 28)
    assert torch.allclose(loaded(x), model.eval()(x), atol=1e-6)
    record = wl.measure(loaded, digits, batch_sizes=(1, 64), runs=2, warmup=0)
    assert [lat.batch_size for lat in record.latency] == [1, 64]
    assert record.params == sum(p.numel() for p in model.parameters())


def test_fixed_batch_program_is_refused_in_one_line(tmp_path, digits) -> None:
    model = wl.models.load_model("mlp").eval()
    program = torch.export.export(model, (torch.randn(1, 1, 28, 28),))
    torch.export.save(program, str(tmp_path / "fixed.pt2"))
    loaded = wl.models.load_model(str(tmp_path / "fixed.pt2"))
    with pytest.raises(UserError, match="runs at batch size 1 but not at [0-9]+ .*dynamic batch"):
        wl.measure(loaded, digits, batch_sizes=(1, 64), runs=2, warmup=0)
