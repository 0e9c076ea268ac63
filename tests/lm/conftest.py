"""The trained tiny LM shared by the LM tests (trained once per session, ~45 s)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import lm_helpers  # noqa: E402


@pytest.fixture(scope="session")
def trained_lm():
    import torch

    torch.set_num_threads(2)
    return lm_helpers.train_tiny_llama()


@pytest.fixture(scope="session")
def lm_data():
    return lm_helpers.lm_data()
