"""Tests of the transformer contract: batches, outputs, tasks, masks, loading, bad pairings.

The test modules import `transformer_helpers` by name; under `--import-mode=importlib` this
folder is not on sys.path by itself, so it is put there here (conftest loads before them).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
