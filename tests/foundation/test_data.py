import numpy as np
import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError


def test_digits_is_mnist_shaped_with_a_fixed_stratified_split(digits):
    assert digits.example_input.shape == (1, 1, 28, 28)
    assert len(digits.train.dataset) == 1221
    assert len(digits.val.dataset) == 216  # 15 % of the 1,437 non-test images
    assert len(digits.eval.dataset) == 360
    labels = torch.cat([y for _, y in digits.eval])
    counts = torch.bincount(labels, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~36 per class: stratified
    assert digits.num_classes == 10


def test_validation_is_carved_from_train_and_disjoint_from_train_and_test(digits):
    def rows(dataset):
        return {tuple(x.flatten().tolist()) for x, _ in dataset}

    train = rows(digits.train.dataset.dataset)  # the tensors behind the random shifts
    val, test = rows(digits.val.dataset), rows(digits.eval.dataset)
    assert len(val) > 200 and not val & train and not val & test
    assert digits.selection is digits.val


def test_without_a_validation_fraction_selection_falls_back_to_eval():
    x, y = torch.randn(40, 3), torch.arange(40) % 2
    data = wl.data.from_tensors(x[:30], y[:30], x[30:], y[30:], val_fraction=0.0)
    assert data.val is None and data.selection is data.eval
    assert len(data.train.dataset) == 30
    split = wl.data.from_tensors(x[:30], y[:30], x[30:], y[30:], val_fraction=0.2)
    assert len(split.train.dataset) == 24 and len(split.val.dataset) == 6


def test_digits_split_is_deterministic_for_a_seed():
    a = torch.cat([x for x, _ in wl.data.digits(seed=3).eval])
    b = torch.cat([x for x, _ in wl.data.digits(seed=3).eval])
    c = torch.cat([x for x, _ in wl.data.digits(seed=4).eval])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_npz_source(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(50, 4)).astype("f4"), y=rng.integers(0, 3, 50))
    data = wl.data.load_data(str(tmp_path / "d.npz"))
    sizes = [len(data.train.dataset), len(data.val.dataset), len(data.eval.dataset)]
    assert sum(sizes) == 50 and sizes[1] == 6  # 15 % of the 40 non-test samples validate
    assert data.example_input.shape == (1, 4)


def test_npz_without_x_and_y_names_the_keys(tmp_path):
    np.savez(tmp_path / "d.npz", inputs=np.zeros((4, 2)), labels=np.zeros(4))
    with pytest.raises(UserError, match="needs 'x' and 'y'"):
        wl.data.load_data(str(tmp_path / "d.npz"))


def test_nan_inputs_are_rejected(tmp_path):
    x = np.zeros((20, 3), dtype="f4")
    x[3, 1] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 2)
    with pytest.raises(UserError, match="NaN or inf"):
        wl.data.load_data(str(tmp_path / "d.npz"))


def test_image_folder_source(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.fromarray(np.full((10, 10), 40 * i, dtype=np.uint8)).save(
                tmp_path / cls / f"{i}.png"
            )
    data = wl.data.load_data(str(tmp_path))
    assert data.example_input.shape == (1, 1, 28, 28)
    assert data.num_classes == 2


def test_factory_that_does_not_exist():
    with pytest.raises(UserError, match="was not found"):
        wl.data.load_data("no_such_module_xyz:make")
