"""`.pt2` programs (`torch.export`) as models weightlight can run at any batch size.

A program exported from a batch of 1 is specialised to batch 1 (torch.export treats sizes 0 and
1 as constants), so a saved program could not be measured at batch 64. `export_program` traces
a batch of 2 (the example repeated) with the batch dimension marked dynamic, and keeps a static
program only where the model itself fixes its batch. `ProgramModule` wraps what
`ExportedProgram.module()` returns, whose `.eval()` / `.train()` raise: an exported program's
mode was fixed when it was traced, so switching mode is a no-op here.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn


class ProgramModule(nn.Module):
    """An exported program's module, usable wherever weightlight expects an nn.Module."""

    def __init__(self, program: nn.Module) -> None:
        super().__init__()
        self.program = program

    def forward(self, *args, **kwargs):
        return self.program(*args, **kwargs)

    def train(self, mode: bool = True) -> ProgramModule:
        self.training = mode  # the traced graph keeps the mode it was exported in
        return self


def export_program(model: nn.Module, args: tuple, kwargs: dict) -> torch.export.ExportedProgram:
    """`torch.export.export` with a dynamic batch dimension where the model allows one."""
    model = model.eval()
    try:
        bound = inspect.signature(model.forward).bind(*args, **kwargs).arguments
        shapes = {name: _batch_dim(value) for name, value in bound.items()}
        doubled = (tuple(_doubled(a) for a in args), {k: _doubled(v) for k, v in kwargs.items()})
        return torch.export.export(model, *doubled, dynamic_shapes=shapes)
    except Exception:  # noqa: BLE001 - e.g. a reshape to a fixed batch: export it as it is
        return torch.export.export(model, args, kwargs)


def _doubled(x):
    return torch.cat([x, x]) if isinstance(x, torch.Tensor) and x.dim() > 0 else x


def _batch_dim(x):
    return {0: torch.export.Dim.AUTO} if isinstance(x, torch.Tensor) and x.dim() > 0 else None
