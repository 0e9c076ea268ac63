"""The support matrix's modules import each other by name (as tools/make_support_matrix.py
does); under `--import-mode=importlib` this folder is put on sys.path here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
