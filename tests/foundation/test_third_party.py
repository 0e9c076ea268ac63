"""A third-party failure inside a stage is one UserError line; a bug of weightlight's own is not
hidden behind one."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight._third_party import third_party
from weightlight.errors import UserError


class _Branchy(torch.nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x  # control flow on a value: torch.fx cannot trace it


def test_a_library_exception_inside_a_stage_becomes_one_line():
    with pytest.raises(UserError) as info, third_party("quantize (static_int8)", "use Dynamic"):
        torch.fx.symbolic_trace(_Branchy())
    message = str(info.value)
    assert message.startswith("quantize (static_int8) failed inside torch.fx (TraceError: ")
    assert message.endswith("; use Dynamic") and "\n" not in message


def test_weightlights_own_bug_stays_raw():
    with pytest.raises(AttributeError), third_party("prune (structured)", "use NM"):
        wl.batch.size(None)  # raised in weightlight's own frame: a bug of ours, not the user's
