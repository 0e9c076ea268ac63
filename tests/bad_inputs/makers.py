"""Fixture files for the bad-input corpus, generated at test time (no binaries committed).

A case in `cases.yaml` names its files as `{relative path: spec}`; a spec is either the file's
text, or a mapping `{make: <maker>, ...}` handled by one of the functions below.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

import weightlight as wl

MAKERS = {}


def maker(fn):
    MAKERS[fn.__name__] = fn
    return fn


def make_file(path: Path, spec) -> None:
    """Create one corpus file from its spec."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        path.write_text(spec, encoding="utf-8")
        return
    spec = dict(spec)
    MAKERS[spec.pop("make")](path, **spec)


@maker
def raw_bytes(path: Path, hex: str = "", repeat: int = 1) -> None:  # noqa: A002
    path.write_bytes(bytes.fromhex(hex) * repeat)


@maker
def model(path: Path, arch: str = "mlp", keep: float = 1.0, kwargs: dict | None = None) -> None:
    """A saved built-in model (any save_model suffix), cut to `keep` of its bytes."""
    net = wl.models.create(arch, **(kwargs or {}))
    example = torch.zeros(1, 1, 28, 28)
    if path.suffix == ".onnx":
        _onnx(net, path)
    else:
        wl.models.save_model(net, path, example)
    _truncate(path, keep)


@maker
def zip_archive(path: Path, members: dict[str, str]) -> None:
    """A well-formed zip of text members (e.g. a `.pt2` name on an archive that is no program)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)


@maker
def state_dict(path: Path, arch: str = "mlp") -> None:
    """A plain state_dict (.pt) or safetensors without the architecture record."""
    net = wl.models.create(arch)
    if path.suffix == ".pt":
        torch.save(net.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


@maker
def safetensors_header(path: Path, metadata: dict, arch: str = "mlp") -> None:
    """Real weights under a hand-written header (strings as given, other values as JSON)."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in wl.models.create(arch).state_dict().items()}
    header = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    save_file(state, str(path), metadata=header)


@maker
def pickled(
    path: Path, payload: str = "marker", marker: str = "payload-ran", protocol: int = 5
) -> None:
    """A pickle whose unpickling would create `marker` (a stand-in for arbitrary code)."""
    if payload == "marker":
        path.write_bytes(pickle.dumps(TouchOnLoad(str(path.parent / marker)), protocol=protocol))
    elif payload == "list":  # weights-only loadable, but not a model or state_dict
        torch.save([1, 2, 3], path)
    elif payload == "tensor_dict_wrong_keys":
        torch.save({"nope.weight": torch.zeros(3)}, path)


class TouchOnLoad:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@maker
def npz(
    path: Path,
    x_shape=(40, 1, 28, 28),
    y_shape=None,
    fill: str | None = None,
    x_dtype: str = "float32",
    y_dtype: str = "int64",
    y_value: int | None = None,
    keys=("x", "y"),
    object_arrays: bool = False,
) -> None:
    """An .npz data file; every parameter bends one thing about it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape).astype(x_dtype) if x_dtype != "str" else np.array(["a"] * 4)
    n = x_shape[0] if x_dtype != "str" else 4
    y = (np.arange(n) % 2).astype(y_dtype) if y_shape is None else np.zeros(y_shape, y_dtype)
    if y_value is not None:
        y[...] = y_value
    if fill is not None and x.size:
        x.flat[3] = float(fill)
    arrays = dict(zip(keys, (x, y), strict=False))
    if object_arrays:
        # numpy pickles object arrays on save; loading them back would unpickle.
        np.savez(path, x=np.array([x[0], "evil"], dtype=object), y=y[:2])
        return
    np.savez(path, **arrays)


@maker
def onnx_model(path: Path, broken: str = "none") -> None:
    """A tiny ONNX graph; `broken` makes it fail the checker in one specific way."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    op = "NoSuchOperator" if broken == "unknown_op" else "Relu"
    inputs = ["missing_input"] if broken == "dangling_input" else ["x"]
    node = helper.make_node(op, inputs, ["y"])
    graph = helper.make_graph([node], "g", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(proto, str(path))


def _onnx(net, path: Path) -> None:
    torch.onnx.export(net.eval(), (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False)


def _truncate(path: Path, keep: float) -> None:
    if keep < 1.0:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])


@maker
def forged_safetensors(
    path: Path,
    arch: str = "mlp",
    shapes: dict | None = None,
    arch_record: dict | None = None,
    raw_shape: str | None = None,
) -> None:
    """A safetensors file written byte by byte, so its header can lie.

    `shapes` {tensor: shape} re-declares tensors (data: that many zero bytes, so the file is
    self-consistent and only the shape is wrong); `raw_shape` {tensor: JSON text} puts text
    the format forbids (a negative dimension) in place of a shape, keeping the real bytes;
    `arch_record` replaces the architecture record (e.g. absurd layer widths).
    """
    net = wl.models.create(arch)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    header, blobs, offset = {}, [], 0
    for name, tensor in state.items():
        shape = list((shapes or {}).get(name, tensor.shape))
        size = tensor.element_size() * int(np.prod(shape, dtype=np.int64))
        data = tensor.numpy().tobytes() if name not in (shapes or {}) else bytes(size)
        dtype = {torch.float32: "F32", torch.int64: "I64"}[tensor.dtype]
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    record = arch_record if arch_record is not None else {"name": arch, "kwargs": {}}
    header["__metadata__"] = {"weightlight.arch": json.dumps(record), "weightlight.attrs": "{}"}
    text = json.dumps(header)
    for name, shape_text in (raw_shape or {}).items():
        text = text.replace(
            json.dumps({"dtype": "F32", "shape": list(state[name].shape)})[:-1],
            f'{{"dtype": "F32", "shape": {shape_text}',
        )
    encoded = text.encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + b"".join(blobs))


@maker
def forged_quantized(path: Path, shapes: dict) -> None:
    """A dynamic-int8 MLP saved by weightlight whose float-skeleton record declares `shapes`."""
    quantized = wl.quantize(wl.models.create("mlp"), wl.quantize.Dynamic())
    payload = wl.quantize.io.quantized_payload(quantized)
    payload["float"]["shapes"].update(shapes)
    torch.save(payload, path)


@maker
def palette_images(path: Path, classes: int = 2, per_class: int = 4) -> None:
    """An image folder of palette PNGs with byte transparency (Pillow warns when converting)."""
    from PIL import Image

    for c in range(classes):
        (path / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = Image.new("P", (8, 8), color=i % 2)
            image.putpalette([0, 0, 0, 255, 255, 255] * 128)
            image.save(path / f"class{c}" / f"{i}.png", transparency=bytes([0, 255] * 128))


# ---- classes of cases: each function returns several cases of one kind of mistake ----------
# (test_corpus.py walks these after cases.yaml; a case is the same mapping as a YAML one, and
# `before_work` names functions that must not be reached: the check has to come first.)
CASE_CLASSES = []


def case_class(fn):
    CASE_CLASSES.append(fn)
    return fn


_NO_WORK = ["weightlight.data.load_data"]  # every command loads its data before working


@case_class
def output_under_a_file() -> list[dict]:
    """Every command's output path with a file where a folder must be, refused up front."""
    blocker = {"blocker": "a file, not a folder"}
    commands = {
        "train": ["train", "--model", "mlp", "--epochs", "0.1", "--out", "blocker/m.safetensors"],
        "distill": ["distill", "mlp", "--out", "blocker/s.safetensors"],
        "quantize": ["quantize", "mlp", "--method", "dynamic_int8", "--out", "blocker/q.pt"],
        "prune": ["prune", "mlp", "--method", "unstructured", "--out", "blocker/p.safetensors"],
        "export": ["export", "mlp", "--onnx", "blocker/m.onnx"],
        "sensitivity-plot": ["sensitivity", "--model", "mlp", "--ratios", "0.5",
                             "--plot", "blocker/s.png"],
        "search": ["search", "--model", "mlp", "--trials", "1", "--out", "blocker/s"],
        "advise": ["advise", "--model", "mlp", "--out", "blocker/a"],
    }  # fmt: skip
    cases = [
        {"id": f"blocked-{name}-output", "files": blocker, "cli": args, "before_work": _NO_WORK,
         "expect": ["cannot write", "blocker"]}
        for name, args in commands.items()
    ]  # fmt: skip
    # Inside a run folder: a sub-folder taken by a file, or an output file taken by a folder.
    taken = (("models", "a file"), ("plots", "a file"), ("cache", "a file"),
             ("report.html/keep", "a folder"), ("log.txt/keep", "a folder"))  # fmt: skip
    for inside, what in taken:
        name = inside.split("/")[0]
        cases.append({
            "id": f"blocked-run-{name.replace('.', '-')}", "files": {f"out/{inside}": "x"},
            "cli": ["run", "--model", "mlp", "--out", "out"], "before_work": _NO_WORK,
            "expect": ["cannot write", f"out/{name}", what],
        })  # fmt: skip
    cases.append({
        "id": "blocked-search-trials", "files": {"s/trials": "x"},
        "cli": ["search", "--model", "mlp", "--trials", "1", "--out", "s"],
        "before_work": _NO_WORK, "expect": ["cannot write", "s/trials", "a file"],
    })  # fmt: skip
    for inside, what in (("plots", "a file"), ("report.json/keep", "a folder")):
        name = inside.split("/")[0]
        cases.append({
            "id": f"blocked-report-{name.replace('.', '-')}",
            "files": {"r/variants.jsonl": "", f"r/{inside}": "x"}, "cli": ["report", "r"],
            "before_work": ["weightlight.report.write_plots"],
            "expect": ["cannot write", f"r/{name}", what],
        })  # fmt: skip
    return cases


@case_class
def forged_safetensors_headers() -> list[dict]:
    """A safetensors header that lies: impossible dimensions, the wrong rank, absurd widths."""
    forgeries = {
        "negative-dimension": ({"raw_shape": {"net.1.weight": "[-256, 784]"}},
                               ["not a valid safetensors"]),
        "huge-dimension-without-bytes": (
            {"raw_shape": {"net.1.weight": "[1099511627776, 784]"}}, ["not a valid safetensors"]),
        "huge-dimension-times-zero": ({"shapes": {"net.1.weight": [2**40, 0]}},
                                      ["net.1.weight", "empty dimension"]),
        "empty-layer": ({"shapes": {"net.1.weight": [0, 784], "net.1.bias": [0]}},
                        ["net.1.weight", "empty dimension"]),
        "linear-weight-rank-1": ({"shapes": {"net.1.weight": [256 * 784]}},
                                 ["net.1.weight", "1 dimensions", "linear has 2"]),
        "linear-weight-rank-3": ({"shapes": {"net.1.weight": [256, 784, 1]}},
                                 ["net.1.weight", "do not fit"]),
        "bias-rank-2": ({"shapes": {"net.1.bias": [256, 1]}}, ["net.1.bias", "do not fit"]),
        "conv-huge-times-zero": (
            {"arch": "mnist_cnn", "shapes": {"conv2.weight": [2**40, 0, 3, 3]}},
            ["conv2.weight", "empty dimension"]),
        "conv-weight-rank-2": ({"arch": "mnist_cnn", "shapes": {"conv1.weight": [32, 9]}},
                               ["conv1.weight", "do not fit"]),
        "batchnorm-weight-rank-2": (
            {"arch": "resnet_small", "shapes": {"stem.1.weight": [2**40, 0]}},
            ["stem.1.weight", "batchnorm2d has 1"]),
        "architecture-2-40-wide": (
            {"arch_record": {"name": "mlp", "kwargs": {"hidden": [2**40]}}},
            ["names a 'mlp'", "bytes"]),
        "architecture-5-billion-weights": (
            {"arch_record": {"name": "mlp", "kwargs": {"hidden": [2**20, 2**12]}}},
            ["names a 'mlp'", "bytes"]),
        "architecture-negative-width": (
            {"arch_record": {"name": "mlp", "kwargs": {"hidden": [-5]}}},
            ["cannot build", "negative"]),
    }  # fmt: skip
    cases = []
    for name, (spec, expect) in forgeries.items():
        files = {"w.safetensors": {"make": "forged_safetensors", **spec}}
        cases.append({"id": f"forged-header-{name}", "files": files,
                      "cli": ["measure", "w.safetensors", "--runs", "3", "--batch-sizes", "1"],
                      "expect": expect})  # fmt: skip
    for name, shapes, expect in (
        ("negative", {"net.1.weight": [-1, 784]}, ["malformed", "float"]),
        ("huge", {"net.1.weight": [2**40, 784]}, ["declares", "bytes"]),
    ):
        cases.append({
            "id": f"forged-quantized-record-{name}",
            "files": {"q.pt": {"make": "forged_quantized", "shapes": shapes}},
            "api": "load_model", "kwargs": {"source": "q.pt"}, "expect": expect,
        })  # fmt: skip
    return cases


@case_class
def undecodable_variants() -> list[dict]:
    """variants.jsonl that is not UTF-8 text, for `report` and for `run --resume`."""
    contents = {
        "binary": {"make": "raw_bytes", "hex": "00ff10fe8081c0", "repeat": 40},
        "latin-1": {"make": "raw_bytes", "hex": "7b226e616d65223a2022e9227d0a"},  # {"name": "é"}
        "utf-16": {"make": "raw_bytes", "hex": "fffe7b0022006e00"},
    }
    cases = []
    for name, spec in contents.items():
        cases.append(
            {
                "id": f"variants-{name}-report",
                "files": {"r/variants.jsonl": spec},
                "cli": ["report", "r"],
                "expect": ["variants.jsonl", "not utf-8"],
            }
        )
        cases.append({"id": f"variants-{name}-resume",
                      "files": {"out/variants.jsonl": spec},
                      "cli": ["run", "--model", "mlp", "--out", "out", "--resume"],
                      "before_work": _NO_WORK,
                      "expect": ["variants.jsonl", "not utf-8"]})  # fmt: skip
    return cases


@case_class
def unusable_storage_urls() -> list[dict]:
    """--storage values that are not a database URL optuna could open, caught before training."""
    urls = {
        "colons": ":::",
        "no-scheme": "study.db",
        "unknown-dialect": "nosuchdb://host/x",
        "unknown-driver": "postgresql+nosuchdriver://host/db",
        "bad-port": "mysql://h:port/x",
    }
    return [
        {"id": f"storage-{name}", "cli": ["search", "--model", "mlp", "--trials", "1",
                                          "--out", "s", "--storage", url],
         "before_work": _NO_WORK, "expect": ["storage", url]}
        for name, url in urls.items()
    ]  # fmt: skip


@case_class
def unreachable_storage_servers() -> list[dict]:
    """A database server nobody listens on (port 1 of this machine refuses at once): found by
    connecting before any training, not after the search printed its header; the password
    stays out of the message."""
    urls = {
        "postgresql": "postgresql://user:secret@127.0.0.1:1/db",
        "postgresql-psycopg": "postgresql+psycopg://user@127.0.0.1:1/db",
    }
    cases = [
        {"id": f"storage-unreachable-{name}", "cli": ["search", "--model", "mlp", "--trials", "1",
                                                      "--out", "s", "--storage", url],
         "before_work": _NO_WORK, "expect": ["cannot connect", "127.0.0.1", "refused"]}
        for name, url in urls.items()
    ]  # fmt: skip
    cases.append({
        "id": "storage-unreachable-api", "api": "search",
        "kwargs": {"storage": urls["postgresql"]},
        "before_work": ["weightlight.search.study.base_variant"],
        "expect": ["cannot connect", "user:***@127.0.0.1"],
    })  # fmt: skip
    return cases


@case_class
def out_of_range_max_drop() -> list[dict]:
    """An accuracy budget below zero or not finite, for every command that takes one."""
    cases = []
    for value in ("-1", "-0.01", "nan", "inf"):
        for command, args, files in (
            ("run", ["run", "--model", "mlp", "--out", "out"], {}),
            ("report", ["report", "r"], {"r/variants.jsonl": ""}),
            ("search", ["search", "--model", "mlp", "--trials", "1", "--out", "s"], {}),
        ):
            cases.append({
                "id": f"max-drop-{value}-{command}", "files": files,
                "cli": [*args, "--max-drop", value],
                "before_work": _NO_WORK + ["weightlight.report.write_plots"],
                "expect": ["max drop", ">= 0"],
            })  # fmt: skip
    return cases


@case_class
def library_warnings() -> list[dict]:
    """Inputs on which a library warns: the warning is one line too (no source-line dump)."""
    cases = [{
        "id": "warning-palette-images-then-wrong-shape",
        "files": {"imgs": {"make": "palette_images"}},
        "cli": ["measure", "mlp", "--data", "imgs", "--runs", "3", "--batch-sizes", "1"],
        "expect": ["cannot run on the data's input shape"], "warns": ["palette images"],
    }]  # fmt: skip
    # torch warns about pickle protocols other than its own before refusing the payload;
    # weightlight's own message says what matters, so no warning line at all (`quiet`).
    for protocol in (2, 3, 4):
        cases.append({
            "id": f"warning-free-pickle-protocol-{protocol}",
            "files": {"evil.pt": {"make": "pickled", "protocol": protocol}},
            "cli": ["measure", "evil.pt", "--runs", "3"], "quiet": True,
            "expect": ["could run code", "--trust"],
        })  # fmt: skip
    return cases
