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
