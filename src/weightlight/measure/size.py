"""Bytes on disk: the saved artifact raw, and zip-compressed (so pruned zeros show up)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def file_sizes(path: Path) -> tuple[int, int]:
    """(raw bytes, bytes after zip DEFLATE at level 9) of one file."""
    raw = path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(path.name, raw)
    return len(raw), buf.getbuffer().nbytes
