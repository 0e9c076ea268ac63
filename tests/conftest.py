"""Shared fixtures: the digits data and a trained seed CNN, built once per test session."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl

# Two cores on CI: keep torch from oversubscribing when pytest runs helpers in threads.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits() -> wl.data.Data:
    return wl.data.digits(seed=0)


@pytest.fixture(scope="session")
def trained_cnn(digits) -> torch.nn.Module:
    """The seed CNN trained on digits (15 epochs, ~10 s on 2 cores); do not mutate it."""
    torch.manual_seed(0)  # torch's own seed is random per process: fix the initial weights
    return wl.train(wl.models.mnist_cnn(), digits, seed=0, progress=False)


@pytest.fixture(scope="session")
def trained_resnet(digits) -> torch.nn.Module:
    """The small ResNet trained on digits; do not mutate it."""
    torch.manual_seed(0)
    return wl.train(wl.models.resnet_small(), digits, epochs=10, seed=0, progress=False)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run the real CLI entry point in-process: returns (exit_code, stdout, stderr)."""
    import sys

    from weightlight.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["weightlight", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
