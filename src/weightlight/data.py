"""Data bundles: what every technique and measurement reads its batches from.

A `Data` holds four loaders (train for fine-tuning, calib for calibration, val for choosing
between variants, eval for the metric reported on held-out data) plus one example input, so
techniques never guess shapes. Choosing the "best" variant on the same set whose figure is
reported would flatter it (the winner of many noisy comparisons looks better than it is), so
`val` is carved from the training split (seeded, stratified) and `eval` stays untouched.
User loaders are kept as given (their collate_fn, sampler and workers too); a batch is a
tensor, a tuple or a dict (see `weightlight.batch`). The task says what the metric is, and the
adapter which output of the model it reads (see `weightlight.adapter`). Sources: scikit-learn's
bundled digits (no download), MNIST's IDX files, a `.npz` file, an image folder, a text file
(`weightlight.text`) or a python factory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from weightlight import batch as batches
from weightlight._factory import import_factory, is_factory_spec
from weightlight.adapter import ModelAdapter
from weightlight.errors import UserError
from weightlight.tasks import Task, get_task
from weightlight.text import TEXT_SUFFIXES, text_loaders

# MNIST's mean/std, so digits resized to 28x28 look like MNIST to a model trained on it.
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclasses.dataclass(frozen=True)
class Data:
    """Train / calibration / evaluation loaders plus an example input.

    Attributes:
        train: loader for fine-tuning (shuffled, seeded).
        calib: a small loader drawn from the training split, for calibration.
        eval: held-out test loader: the metric every report shows.
        val: validation loader carved from the training data: what selection (the report's
            "best", search winners, sensitivity ranking) compares on. None for bundles built
            before it existed or by hand; selection then falls back to `eval` and says so.
        example_input: one batch of size 1 in the form the model takes (tensor, tuple, dict).
        task: classification, embedding, regression or causal_lm (see `weightlight.tasks`).
        num_classes: number of classes for classification.
        name: where the data came from, for reports.
        adapter: which model output the task reads, and its pooling.
        reference: the base model's outputs on each `eval` batch (the embedding task's
            targets), set by `with_reference`.
    """

    train: DataLoader
    calib: DataLoader
    eval: DataLoader
    example_input: batches.Inputs
    task: str = "classification"
    num_classes: int | None = None
    name: str = "data"
    adapter: ModelAdapter = ModelAdapter()
    reference: tuple[torch.Tensor, ...] | None = None
    val: DataLoader | None = None
    val_reference: tuple[torch.Tensor, ...] | None = None

    @property
    def selection(self) -> DataLoader:
        """The loader choices are made on: `val`, or `eval` when there is no validation split."""
        return self.val if self.val is not None else self.eval

    def __post_init__(self) -> None:
        get_task(self.task)  # an unknown task fails here, listing the tasks

    @property
    def task_spec(self) -> Task:
        return get_task(self.task)

    def example_batch(self, batch_size: int) -> batches.Inputs:
        """The example input repeated to `batch_size` (for latency and export)."""
        return batches.repeat(self.example_input, batch_size)

    def with_reference(self, model) -> Data:
        """A copy whose `reference` (and `val_reference`) hold `model`'s outputs on every eval
        (and val) batch.

        The embedding task scores a variant by the cosine of its embeddings with these.
        """
        was_training = getattr(model, "training", False)
        if hasattr(model, "eval"):
            model.eval()

        def outputs(loader: DataLoader) -> tuple[torch.Tensor, ...]:
            with torch.inference_mode():
                return tuple(
                    self.adapter.forward(model, batches.split(b)[0]).float() for b in loader
                )

        try:
            reference = outputs(self.eval)
            val_reference = outputs(self.val) if self.val is not None else None
        finally:
            if was_training:
                model.train()
        return dataclasses.replace(self, reference=reference, val_reference=val_reference)


def from_loaders(
    train: DataLoader,
    eval: DataLoader,
    calib: DataLoader | None = None,
    *,
    val: DataLoader | None = None,
    task: str = "classification",
    output: str | None = None,
    pooling: str | None = None,
    num_classes: int | None = None,
    name: str = "loaders",
) -> Data:
    """Bundle the user's own loaders, kept exactly as given (collate_fn, sampler, workers).

    Args:
        train, eval: loaders yielding `(inputs, targets)`, a dict batch (targets under
            `labels`) or bare inputs (no targets: the embedding task).
        calib: calibration loader; the training loader when None.
        val: validation loader selection compares on; `eval` is used (and reports say so)
            when None.
        task: classification, embedding, regression or causal_lm.
        output, pooling: the model output the task reads and how it is pooled (embedding:
            `last_hidden_state` with mask-weighted mean pooling unless told otherwise).

    Example:
        >>> data = from_loaders(train_dl, eval_dl, task="embedding")
        >>> data.adapter.pooling
        'mean'
    """
    spec = get_task(task)
    if spec.pooled and output is None and pooling is None:
        output, pooling = "last_hidden_state", "mean"
    try:
        example = batches.first_sample(eval)
    except StopIteration:
        raise UserError(f"{name}: the eval loader yields no batches", "give it data") from None
    return Data(
        train=train,
        calib=calib if calib is not None else train,
        eval=eval,
        example_input=example,
        task=task,
        num_classes=num_classes,
        name=name,
        adapter=ModelAdapter(output=output, pooling=pooling),
        val=val,
    )


def from_tensors(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor,
    *,
    batch_size: int = 64,
    calib_size: int = 256,
    val_fraction: float = 0.15,
    seed: int = 0,
    name: str = "tensors",
) -> Data:
    """Build a Data bundle from ready tensors, checking them first.

    `val_fraction` of the training tensors (stratified, seeded) become the validation split
    and are not trained on; 0 keeps them all for training (selection then uses `x_eval`).
    """
    for split, x, y in (("train", x_train, y_train), ("eval", x_eval, y_eval)):
        _check_split(name, split, x, y)
    if not 0 <= val_fraction < 1:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction:g}", "use e.g. 0.15")
    num_classes = int(max(y_train.max(), y_eval.max())) + 1
    val = None
    n_val = round(len(x_train) * val_fraction)
    if n_val >= 1 and len(x_train) - n_val >= 1:
        idx_train, idx_val = _split(y_train, n_val, seed)
        x_val, y_val = x_train[idx_val], y_train[idx_val]
        x_train, y_train = x_train[idx_train], y_train[idx_train]
        val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    g = torch.Generator().manual_seed(seed)
    calib_idx = torch.randperm(len(x_train), generator=g)[: min(calib_size, len(x_train))]
    train_ds = TensorDataset(x_train, y_train)
    return Data(
        train=DataLoader(
            train_ds,
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        ),
        calib=DataLoader(
            TensorDataset(x_train[calib_idx], y_train[calib_idx]), batch_size=batch_size
        ),
        eval=DataLoader(TensorDataset(x_eval, y_eval), batch_size=256),
        example_input=x_eval[:1].clone(),
        task="classification",
        num_classes=num_classes,
        name=name,
        val=val,
    )


def _split(y: torch.Tensor, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): stratified where every class has 2+ samples."""
    from sklearn.model_selection import train_test_split

    labels = y.numpy()
    stratify = labels if np.unique(labels, return_counts=True)[1].min() >= 2 else None
    try:
        return train_test_split(
            np.arange(len(labels)), test_size=n_val, random_state=seed, stratify=stratify
        )
    except ValueError:  # too few samples per class for a stratified split of this size
        return train_test_split(np.arange(len(labels)), test_size=n_val, random_state=seed)


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eval_fraction: float = 0.2,
    seed: int = 0,
    batch_size: int = 64,
    name: str = "arrays",
) -> Data:
    """Split arrays into train / eval (stratified, seeded) and bundle them."""
    from sklearn.model_selection import train_test_split

    x_t, y_t = _as_tensors(x, y, name)
    _check_split(name, "all", x_t, y_t)
    stratify = y_t.numpy() if np.bincount(y_t.numpy()).min() >= 2 else None
    idx_train, idx_eval = train_test_split(
        np.arange(len(y_t)), test_size=eval_fraction, random_state=seed, stratify=stratify
    )
    return from_tensors(
        x_t[idx_train], y_t[idx_train], x_t[idx_eval], y_t[idx_eval],
        batch_size=batch_size, seed=seed, name=name,
    )  # fmt: skip


def digits(
    *, seed: int = 0, batch_size: int = 64, image_size: int = 28, augment: bool = True
) -> Data:
    """scikit-learn's bundled handwritten digits, shaped like MNIST.

    The 1,797 8x8 images are scaled to [0, 1], resized to `image_size` (bilinear) and
    normalized with MNIST's mean/std; 360 images (20 %, stratified, fixed by `seed`) are held
    out as the test set, and 216 of the remaining 1,437 (15 %, stratified) form the validation
    split that selection uses. Nothing is downloaded. With `augment`, training images are shifted by
    up to 2 pixels: with only 1,221 training images this is what lifts the seed CNN from
    ~97.5 % to ~99 % test accuracy.

    Example:
        >>> data = digits()
        >>> tuple(data.example_input.shape)
        (1, 1, 28, 28)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x - _MNIST_MEAN) / _MNIST_STD
    data = from_arrays(
        x.numpy(), bunch.target, eval_fraction=360 / 1797, seed=seed,
        batch_size=batch_size, name="digits",
    )  # fmt: skip
    if not augment:
        return data
    train = DataLoader(
        RandomShift(data.train.dataset, pixels=2, fill=-_MNIST_MEAN / _MNIST_STD),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    return dataclasses.replace(data, train=train)


def mnist(
    root: str | Path = "data", *, seed: int = 0, batch_size: int = 64, limit: int | None = None
) -> Data:
    """MNIST from the IDX files a learner already has (nothing is downloaded).

    `root` holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
    and `t10k-labels-idx1-ubyte` (gzipped or not), loose or in torchvision's `MNIST/raw/`
    layout. Pixels are scaled to [0, 1] and normalized with MNIST's mean/std, as the seed
    course does; the t10k files are the evaluation split. `limit` keeps the first N training
    images (a quick run on 2 cores: 60,000 images are ~40x the digits' 1,437).

    Example:
        `data = wl.data.mnist("data")` or `weightlight run --data mnist:data`
    """
    from weightlight.idx import find_mnist, read_idx

    files = find_mnist(root)
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "eval"):
        images = arrays[f"{split}_images"]
        if images.ndim != 3:
            raise UserError(
                f"{files[f'{split}_images']} holds shape {images.shape}, not N x H x W images",
                "check that the images and labels files are not swapped",
            )
    if limit is not None:
        if limit < 1:
            raise UserError(f"MNIST limit must be >= 1, got {limit}", "omit it to use all images")
        arrays["train_images"] = arrays["train_images"][:limit]
        arrays["train_labels"] = arrays["train_labels"][:limit]

    def images(key: str) -> torch.Tensor:
        x = torch.from_numpy(arrays[key].astype(np.float32)).unsqueeze(1) / 255.0
        return (x - _MNIST_MEAN) / _MNIST_STD

    def labels(key: str) -> torch.Tensor:
        return torch.from_numpy(arrays[key].astype(np.int64))

    return from_tensors(
        images("train_images"), labels("train_labels"), images("eval_images"),
        labels("eval_labels"), batch_size=batch_size, seed=seed, name="mnist",
    )  # fmt: skip


class RandomShift(Dataset):
    """Translate each image by up to `pixels` in x and y, filling with the background value."""

    def __init__(self, dataset: Dataset, pixels: int = 2, fill: float = 0.0) -> None:
        self.dataset, self.pixels, self.fill = dataset, pixels, fill

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        x, y = self.dataset[index]
        p = self.pixels
        padded = F.pad(x, (p, p, p, p), value=self.fill)
        dx, dy = torch.randint(0, 2 * p + 1, (2,)).tolist()
        return padded[:, dy : dy + x.shape[1], dx : dx + x.shape[2]], y


def npz(path: str | Path, *, seed: int = 0, batch_size: int = 64) -> Data:
    """A `.npz` file with arrays `x` and `y` (and optionally `x_eval`, `y_eval`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file '{path}' does not exist", "check the path")
    try:
        with np.load(path, allow_pickle=False) as npz_file:  # pickles in .npz could run code
            arrays = {key: npz_file[key] for key in npz_file.files}  # arrays load lazily: now
        keys = set(arrays)
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise UserError(
                f"'{path}' is not a readable .npz file ({type(exc).__name__})",
                "save it with numpy.savez(path, x=..., y=...)",
            ) from None
        raise UserError(
            f"'{path}' stores object arrays, which only load by unpickling (that can run code)",
            "save plain numeric arrays with numpy.savez(path, x=..., y=...)",
        ) from None
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a readable .npz file ({type(exc).__name__})",
            "save it with numpy.savez(path, x=..., y=...)",
        ) from None
    if not {"x", "y"} <= keys:
        raise UserError(
            f"'{path}' has arrays {sorted(keys)} but needs 'x' and 'y'",
            "save it with numpy.savez(path, x=inputs, y=labels)",
        )
    if {"x_eval", "y_eval"} <= keys:
        x_t, y_t = _as_tensors(arrays["x"], arrays["y"], path.name)
        x_e, y_e = _as_tensors(arrays["x_eval"], arrays["y_eval"], path.name)
        return from_tensors(x_t, y_t, x_e, y_e, batch_size=batch_size, seed=seed, name=path.name)
    return from_arrays(arrays["x"], arrays["y"], seed=seed, batch_size=batch_size, name=path.name)


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


def load_data(
    spec: str,
    *,
    seed: int = 0,
    batch_size: int = 64,
    model: str | None = None,
    task: str | None = None,
    max_length: int = 128,
    fixed_length: bool = False,
) -> Data:
    """Resolve a data source: `digits`, `mnist[:FOLDER]`, a `.npz` file, an image folder, a
    text file (`.txt` one sentence a line, or `.jsonl` with a "text" field) or
    `module:function`.

    A text file is tokenized by the tokenizer of `model` (`hf:FOLDER`), into padded batches
    of at most `max_length` tokens (exactly `max_length` with `fixed_length`); its task is
    `task` (default: embedding). For other sources `task` replaces the source's task.
    """
    if Path(spec).suffix in TEXT_SUFFIXES:
        if model is None or not str(model).startswith("hf:"):
            raise UserError(
                f"text data '{spec}' needs a tokenizer",
                "pass the model as --model hf:FOLDER (its folder's tokenizer is used)",
            )
        return text_data(
            spec, str(model).removeprefix("hf:"), task=task or "embedding",
            max_length=max_length, fixed_length=fixed_length, seed=seed,
            batch_size=min(batch_size, 32),
        )  # fmt: skip
    data = _load_source(spec, seed=seed, batch_size=batch_size)
    if task is not None and task != data.task:
        spec_ = get_task(task)
        pooled = ("last_hidden_state", "mean") if spec_.pooled else (None, None)
        data = dataclasses.replace(data, task=task, adapter=ModelAdapter(*pooled))
    return data


def text_data(
    path: str | Path,
    tokenizer_folder: str | Path,
    *,
    task: str = "embedding",
    max_length: int = 128,
    fixed_length: bool = False,
    batch_size: int = 32,
    eval_fraction: float = 0.2,
    seed: int = 0,
) -> Data:
    """Unlabelled sentences of a .txt / .jsonl file for `task` (embedding or causal_lm),
    tokenized by a Hugging Face folder's tokenizer into padded dict batches (20 % held out as
    the test set, 15 % of the rest as the validation set selection uses).

    Example:
        >>> data = text_data("sentences.txt", get_model_path(), max_length=64)
        >>> sorted(data.example_input)
        ['attention_mask', 'input_ids', 'token_type_ids']
    """
    train, held_out, val = text_loaders(
        path, tokenizer_folder, max_length=max_length, fixed_length=fixed_length,
        batch_size=batch_size, eval_fraction=eval_fraction, seed=seed,
    )  # fmt: skip
    return from_loaders(train, held_out, val=val, task=task, name=Path(path).name)


def _load_source(spec: str, *, seed: int, batch_size: int) -> Data:
    if spec == "digits":
        return digits(seed=seed, batch_size=batch_size)
    if spec == "mnist" or spec.startswith("mnist:"):
        return mnist(spec.partition(":")[2] or "data", seed=seed, batch_size=batch_size)
    path = Path(spec)
    if path.suffix == ".npz":
        return npz(path, seed=seed, batch_size=batch_size)
    if path.is_dir():
        return image_folder(path, seed=seed, batch_size=batch_size)
    if is_factory_spec(spec):
        factory = import_factory(spec, "data")
        try:
            data = factory()
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"data factory '{spec}' raised {type(exc).__name__}: {exc}",
                "fix the factory so it returns a weightlight.data.Data",
            ) from None
        if not isinstance(data, Data):
            raise UserError(
                f"data factory '{spec}' returned {type(data).__name__}, not a Data",
                "return weightlight.data.from_tensors(...) or from_arrays(...)",
            )
        return data
    if path.exists():
        raise UserError(
            f"data file '{spec}' has an unsupported type",
            "use a .npz file (x, y), a .txt / .jsonl text file, a class-per-folder image "
            "directory, or module:function",
        )
    raise UserError(
        f"unknown data source '{spec}' (not a file, folder or module:function)",
        "use 'digits', mnist:FOLDER, a .npz file, an image folder, or mypkg.mod:make_data",
    )


def _as_tensors(x: np.ndarray, y: np.ndarray, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = np.asarray(x), np.asarray(y)
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{name}: inputs have dtype {x.dtype}", "store inputs as numbers")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise UserError(
                f"{name}: labels have dtype {y.dtype}", "store labels as integer class ids"
            )
    # Integer inputs (token ids) keep an integer dtype: an embedding table takes no floats.
    x_dtype = torch.float32 if not np.issubdtype(x.dtype, np.integer) else torch.long
    return torch.as_tensor(x, dtype=x_dtype), torch.as_tensor(y, dtype=torch.long)


def _check_split(name: str, split: str, x: torch.Tensor, y: torch.Tensor) -> None:
    if len(x) == 0:
        raise UserError(f"{name}: the {split} split is empty", "provide at least a few samples")
    if len(x) != len(y):
        raise UserError(
            f"{name}: {len(x)} inputs but {len(y)} labels in the {split} split",
            "give one label per input",
        )
    if y.dim() != 1:
        raise UserError(f"{name}: labels have shape {tuple(y.shape)}", "labels must be 1-D")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise UserError(
            f"{name}: the {split} inputs contain NaN or inf", "clean or impute them first"
        )
    if (y < 0).any():
        raise UserError(f"{name}: negative labels in the {split} split", "use ids 0..C-1")


def dataset_of(loader: DataLoader) -> Dataset:
    """The dataset behind a loader (used to re-shard it under DDP)."""
    return loader.dataset
