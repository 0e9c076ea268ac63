"""Fixtures of the encoder-technique tests: a tiny config-built BERT and padded batches.

The test modules import `encoder_helpers` by name; under `--import-mode=importlib` this folder
is not on sys.path by itself, so it is put there here (conftest loads before the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).parent))

from encoder_helpers import padded_batches, tiny_encoder  # noqa: E402

from weightlight.models.encoder import SentenceEncoder  # noqa: E402


@pytest.fixture
def encoder() -> SentenceEncoder:
    return tiny_encoder()


@pytest.fixture(scope="module")
def batches() -> list[dict[str, torch.Tensor]]:
    return padded_batches(6)
