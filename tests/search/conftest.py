"""Fixtures for the search tests: a small MLP trained briefly on digits (seconds, not minutes)."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl


@pytest.fixture(scope="session")
def trained_mlp(digits) -> torch.nn.Module:
    """The MLP after 2 epochs on digits (~92 %); do not mutate it."""
    torch.manual_seed(0)  # torch's own seed is random per process: fix the initial weights
    return wl.train(wl.models.mlp(), digits, epochs=2, seed=0, progress=False)


@pytest.fixture(scope="session")
def mlp_file(trained_mlp, tmp_path_factory):
    """The trained MLP saved as safetensors, for worker subprocesses and the CLI."""
    path = tmp_path_factory.mktemp("mlp") / "mlp.safetensors"
    wl.models.save_model(trained_mlp, path)
    return path
