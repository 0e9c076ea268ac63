"""Fixtures shared by the pruning tests."""

from __future__ import annotations

import pytest
from prune_helpers import accuracy


@pytest.fixture(scope="session")
def cnn_accuracy(trained_cnn, digits) -> float:
    return accuracy(trained_cnn, digits)


@pytest.fixture(scope="session")
def resnet_accuracy(trained_resnet, digits) -> float:
    return accuracy(trained_resnet, digits)
