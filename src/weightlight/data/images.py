"""An image folder: one sub-folder of images per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weightlight.data.arrays import from_arrays
from weightlight.data.bundle import Data
from weightlight.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def image_folder(
    path: str | Path, *, image_size: int = 28, seed: int = 0, batch_size: int = 64
) -> Data:
    """A folder with one sub-folder of images per class (the class names sort to labels)."""
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise UserError(f"image folder '{root}' does not exist", "check the path")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise UserError(
            f"image folder '{root}' has {len(classes)} class sub-folder(s)",
            "put each class's images in its own sub-folder (at least two classes)",
        )
    images, labels = [], []
    mode = None
    for label, cls in enumerate(classes):
        for file in sorted((root / cls).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    mode = mode or ("L" if img.mode in ("L", "1", "I", "F") else "RGB")
                    img = img.convert(mode).resize((image_size, image_size))
                    images.append(np.asarray(img, dtype=np.float32) / 255.0)
            except OSError:
                raise UserError(
                    f"image '{file}' could not be read", "remove or replace the file"
                ) from None
            labels.append(label)
    if not images:
        raise UserError(f"image folder '{root}' holds no images", "add .png or .jpg files")
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return from_arrays(x, np.array(labels), seed=seed, batch_size=batch_size, name=root.name)
