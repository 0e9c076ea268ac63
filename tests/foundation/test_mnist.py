"""MNIST from IDX files: the reader, the layouts learners have, the messages, and a full run.

The files are written by the tests in the real IDX format; their images are scikit-learn's
digits resized to 28x28 and stored as unsigned bytes, so a model can learn them.
"""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import weightlight as wl
from weightlight.errors import UserError
from weightlight.idx import MNIST_FILES, read_idx, write_idx


def _digit_arrays(n_train: int, n_eval: int):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    images = (x.squeeze(1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    labels = bunch.target.astype(np.uint8)
    return (images[:n_train], labels[:n_train],
            images[n_train : n_train + n_eval], labels[n_train : n_train + n_eval])  # fmt: skip


def write_mnist(folder, n_train=300, n_eval=100, gz=False, dotted=False):
    """The four MNIST files in `folder`, in the IDX format."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = dict(zip(MNIST_FILES, _digit_arrays(n_train, n_eval), strict=True))
    for role, stem in MNIST_FILES.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        write_idx(folder / (name + (".gz" if gz else "")), arrays[role])
    return arrays


def test_idx_header_and_values_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a-idx3-ubyte", images)
    raw = (tmp_path / "a-idx3-ubyte").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])  # the magic number: ubyte, 3 dimensions
    assert raw[4:16] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert len(raw) == 16 + 24
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte"), images)


def test_gzipped_file_is_read(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    write_idx(tmp_path / "l-idx1-ubyte.gz", labels)
    assert gzip.decompress((tmp_path / "l-idx1-ubyte.gz").read_bytes())[:4] == b"\x00\x00\x08\x01"
    assert read_idx(tmp_path / "l-idx1-ubyte.gz").tolist() == [7, 2, 1, 0, 4]


LAYOUTS = [(".", False, False), (".", True, False), ("MNIST/raw", True, False), (".", False, True)]


@pytest.mark.parametrize(("layout", "gz", "dotted"), LAYOUTS)
def test_mnist_data_from_each_layout(tmp_path, layout, gz, dotted):
    arrays = write_mnist(tmp_path / layout, n_train=120, n_eval=40, gz=gz, dotted=dotted)
    data = wl.data.mnist(tmp_path, batch_size=32)
    # A seeded validation split is carved from the training files; the t10k files stay test.
    assert len(data.train.dataset) + len(data.val.dataset) == 120 and len(data.eval.dataset) == 40
    assert len(data.val.dataset) > 0
    assert tuple(data.example_input.shape) == (1, 1, 28, 28)
    assert data.num_classes == 10 and data.name == "mnist"
    x_eval, y_eval = data.eval.dataset.tensors
    assert y_eval.tolist() == arrays["eval_labels"].tolist()
    # Pixels 0 and 255 map to MNIST's normalization of 0.0 and 1.0.
    expected = (arrays["eval_images"][0].astype(np.float32) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(x_eval[0, 0].numpy(), expected, atol=1e-5)


def test_limit_keeps_the_first_training_images(tmp_path):
    arrays = write_mnist(tmp_path, n_train=200, n_eval=30)
    data = wl.data.mnist(tmp_path, limit=50)
    assert len(data.train.dataset) + len(data.val.dataset) == 50 and len(data.eval.dataset) == 30
    kept = data.train.dataset.tensors[1].tolist() + data.val.dataset.tensors[1].tolist()
    assert sorted(kept) == sorted(arrays["train_labels"][:50].tolist())


def test_load_data_spec_names_the_folder(tmp_path):
    write_mnist(tmp_path / "m", n_train=60, n_eval=20)
    assert len(wl.data.load_data(f"mnist:{tmp_path / 'm'}").eval.dataset) == 20


def test_no_files_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as exc:
        wl.data.load_data("mnist")  # the default folder ./data does not exist
    assert "train-images-idx3-ubyte" in str(exc.value) and "data" in str(exc.value)
    (tmp_path / "data").mkdir()
    with pytest.raises(UserError, match="nothing is downloaded") as exc:
        wl.data.mnist("data")
    assert "MNIST/raw" in str(exc.value) and len(str(exc.value).splitlines()) == 1


def test_missing_one_file_is_named(tmp_path):
    write_mnist(tmp_path, n_train=60, n_eval=20)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="lacks t10k-labels-idx1-ubyte"):
        wl.data.mnist(tmp_path)


def test_corrupt_files_are_one_line_errors(tmp_path):
    write_mnist(tmp_path, n_train=60, n_eval=20)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="truncated"):
        wl.data.mnist(tmp_path)
    path.write_bytes(b"\x89PNG not an idx file")
    with pytest.raises(UserError, match="bad magic"):
        wl.data.mnist(tmp_path)


def test_swapped_images_and_labels_are_caught(tmp_path):
    write_mnist(tmp_path, n_train=60, n_eval=20)
    shutil.copy(tmp_path / "train-labels-idx1-ubyte", tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(UserError, match="not N x H x W"):
        wl.data.mnist(tmp_path)


_TINY_RECIPE = """\
name: tiny-mnist
stages:
  - prune: {method: structured, ratio: 0.5, finetune: {epochs: 1}}
    name: pruned
measure: {batch_sizes: [1, 8], runs: 3, warmup: 1}
"""


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "gz"), [("MNIST/raw", True), (".", False)],
                         ids=["torchvision-gzipped", "loose-plain"])  # fmt: skip
def test_weightlight_run_reads_idx_files_end_to_end(tmp_path, run_cli, layout, gz):
    """`weightlight run --data mnist:DIR`: the base trains on the IDX images and is scored on
    exactly the t10k files' images, from torchvision's gzipped layout and from loose files."""
    write_mnist(tmp_path / "mnist" / layout, n_train=400, n_eval=150, gz=gz)
    (tmp_path / "tiny.yaml").write_text(_TINY_RECIPE)
    torch.manual_seed(0)
    code, out, err = run_cli("run", tmp_path / "tiny.yaml", "--data", f"mnist:{tmp_path / 'mnist'}",
                             "--epochs", "5", "--out", tmp_path / "run")  # fmt: skip
    assert code == 0, out + err
    assert "training mnist_cnn on mnist" in out
    rows = [json.loads(line) for line in (tmp_path / "run" / "variants.jsonl").open()]
    base = next(r for r in rows if r["name"] == "base")["measurement"]
    assert "150 samples" in base["methods"]["metric"]  # the t10k files, not a split of train
    # Learned from the files' images (chance is 10 %; 340 training images after validation).
    assert base["metric"] > 60.0
    assert {r["name"] for r in rows} >= {"base", "pruned"}
    assert (tmp_path / "run" / "cache" / "mnist_cnn-mnist-trained.safetensors").is_file()
