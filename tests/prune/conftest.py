"""Fixtures shared by the pruning tests.

The test modules import `prune_helpers` by name; under `--import-mode=importlib` this folder
is not on sys.path by itself, so it is put there here (conftest loads before the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from prune_helpers import accuracy  # noqa: E402


@pytest.fixture(scope="session")
def cnn_accuracy(trained_cnn, digits) -> float:
    return accuracy(trained_cnn, digits)


@pytest.fixture(scope="session")
def resnet_accuracy(trained_resnet, digits) -> float:
    return accuracy(trained_resnet, digits)
