"""Torch-Pruning's graph search is bounded in time, and its failures are one line naming the
stage (the channel path: CNNs and any model that is not a supported transformer family)."""

from __future__ import annotations

import signal
import time

import pytest
import torch_pruning as tp

import weightlight as wl
from weightlight.prune._time_limit import TimeLimitExceeded, time_limit


def _hang(*args, **kwargs):
    time.sleep(30)


def _boom(*args, **kwargs):
    raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")


def test_a_graph_search_that_runs_too_long_is_refused(digits, monkeypatch):
    monkeypatch.setattr(tp.pruner, "BasePruner", _hang)
    start = time.perf_counter()
    with pytest.raises(wl.UserError, match="tracing the dependency graph took more than 0.5 s"):
        wl.prune(wl.models.mnist_cnn(), wl.prune.Structured(trace_timeout=0.5), digits)
    assert time.perf_counter() - start < 10
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None)


def test_a_step_that_hangs_is_refused_too(digits, monkeypatch):
    monkeypatch.setattr(tp.pruner.BasePruner, "step", _hang)
    # 5 s: the real trace before the step must fit in the limit on a loaded machine
    with pytest.raises(wl.UserError, match="grouping and removing channels took more than 5 s"):
        wl.prune(wl.models.mnist_cnn(), wl.prune.Structured(trace_timeout=5), digits)


@pytest.mark.parametrize(("target", "stage"), [
    ("init", "tracing the dependency graph"), ("step", "grouping and removing channels"),
])  # fmt: skip
def test_torch_pruning_errors_are_one_line_naming_the_stage(digits, monkeypatch, target, stage):
    if target == "init":
        monkeypatch.setattr(tp.pruner, "BasePruner", _boom)
    else:
        monkeypatch.setattr(tp.pruner.BasePruner, "step", _boom)
    with pytest.raises(wl.UserError) as info:
        wl.prune(wl.models.mnist_cnn(), wl.prune.Structured(), digits)
    text = str(info.value)
    assert f"Torch-Pruning failed while {stage} (TypeError: unsupported operand" in text
    assert "\n" not in text


def test_time_limit_is_lifted_after_the_block():
    with time_limit(0.2) as enforced:
        pass
    assert enforced
    time.sleep(0.4)  # no alarm left behind
    with pytest.raises(TimeLimitExceeded), time_limit(0.1):
        time.sleep(5)


@pytest.mark.parametrize(("config", "words"), [
    (wl.prune.Structured(importance="activation"), "scores transformer heads"),
    (wl.prune.Structured(head_ratio=0.3), "apply to the transformer families"),
    (wl.prune.Structured(layers=1), "apply to the transformer families"),
])  # fmt: skip
def test_transformer_choices_on_a_cnn_are_one_line(digits, config, words):
    with pytest.raises(wl.UserError, match=words) as info:
        wl.prune(wl.models.mnist_cnn(), config, digits)
    assert "\n" not in str(info.value)
