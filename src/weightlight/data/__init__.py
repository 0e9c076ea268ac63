"""Data bundles and the sources they come from.

`Data` (bundle.py) holds the train / calib / val / eval loaders, an example input and the task.
One module per source: scikit-learn's bundled digits (sklearn_digits.py, no download), MNIST's
IDX files (mnist_idx.py), a `.npz` file (npz_file.py), an image folder (images.py), a text file
(text_file.py), tensors or arrays in memory (arrays.py); `load_data` (sources.py) resolves a
name, a path or a `module:function` factory to one of them.
"""

from weightlight.data.arrays import from_arrays, from_tensors
from weightlight.data.bundle import Data, dataset_of, from_loaders
from weightlight.data.images import IMAGE_SUFFIXES, image_folder
from weightlight.data.mnist_idx import mnist
from weightlight.data.npz_file import npz
from weightlight.data.sklearn_digits import RandomShift, digits
from weightlight.data.sources import load_data
from weightlight.data.text_file import text_data

__all__ = [
    "IMAGE_SUFFIXES",
    "Data",
    "RandomShift",
    "dataset_of",
    "digits",
    "from_arrays",
    "from_loaders",
    "from_tensors",
    "image_folder",
    "load_data",
    "mnist",
    "npz",
    "text_data",
]
