"""Saving and loading models, treating every file as untrusted.

Formats:
- `.safetensors`: weights only, the default. The header metadata records the built-in
  architecture (registry name + kwargs) and any module shapes and integer attributes that
  differ from a fresh build, so a pruned model reloads without the code that pruned it.
- `.pt` / `.pth`: a state_dict read with `torch.load(weights_only=True)`; a whole pickled
  model loads only with `trust=True` (unpickling can run arbitrary code).
- `.pt2`: a `torch.export` program (architecture + weights, no Python class needed).
- `.onnx`: an ONNX Runtime session wrapped as a runnable model (see weightlight.export).

Code is imported only from a `module:function` the user passes explicitly; a file never names
code to import, only built-in registry names.
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightlight._factory import import_factory, is_factory_spec
from weightlight._io import atomic_path
from weightlight._registry import Registry
from weightlight.errors import UserError
from weightlight.models import registry
from weightlight.models.hf import is_hf_spec, load_hf
from weightlight.models.skeleton import (
    fit_to_state_dict,
    int_attrs,
    malformed_record,
    read_record,
    set_int_attrs,
)

# Formats other packages own register here, so model I/O never imports them:
# `.onnx` files (weightlight.export), self-contained quantized `.pt` files (weightlight.quantize).
FILE_LOADERS: Registry[Callable[[Path], nn.Module]] = Registry("model file type")
PT_LOADERS: Registry[Callable[[dict, Path, Any], nn.Module]] = Registry("weightlight .pt format")
# model attribute that marks a model -> the dict its .pt file holds
PT_SAVERS: Registry[Callable[[nn.Module], dict]] = Registry("weightlight .pt format")

_ARCH_KEY = "weightlight.arch"
_ATTRS_KEY = "weightlight.attrs"


def save_model(model: nn.Module, path: str | Path, example_input: torch.Tensor | None = None):
    """Save `model` atomically; the suffix of `path` picks the format."""
    path = Path(path)
    suffix = path.suffix
    with atomic_path(path) as tmp:
        if suffix == ".safetensors":
            _save_safetensors(model, tmp)
        elif suffix in (".pt", ".pth"):
            torch.save(_pt_payload(model), tmp)
        elif suffix == ".pt2":
            if example_input is None:
                raise UserError("saving a .pt2 needs an example input", "pass example_input=")
            args, kwargs = (
                ((), dict(example_input))
                if isinstance(example_input, dict)
                else (tuple(example_input), {})
                if isinstance(example_input, (tuple, list))
                else ((example_input,), {})
            )
            program = torch.export.export(model.eval(), args, kwargs)
            torch.export.save(program, tmp)
        else:
            raise UserError(
                f"cannot save a model as '{suffix or path.name}'",
                "use a .safetensors, .pt or .pt2 file name",
            )
    return path


def load_model(
    source: str | Path,
    *,
    factory: str | Callable[[], nn.Module] | None = None,
    trust: bool = False,
) -> nn.Module:
    """Load a model from a registry name, `module:function`, or a file.

    Args:
        source: `mnist_cnn` (built-in, untrained), `pkg.mod:build`, `hf:FOLDER` (a local
            Hugging Face model), or a path to a `.safetensors`, `.pt`, `.pth`, `.pt2` or
            `.onnx` file.
        factory: builds the architecture that a weights file fills in, when the file does
            not name a built-in one (a registry name, `module:function` or a callable).
        trust: allow unpickling a whole model object from `.pt` (runs code from the file).

    Example:
        >>> m = load_model("mnist_cnn")
        >>> sum(p.numel() for p in m.parameters())
        1199882
    """
    source = str(source)
    if is_hf_spec(source):
        return load_hf(source)
    path = Path(source)
    if path.suffix in (".safetensors", ".pt", ".pth", ".pt2", ".onnx"):
        if not path.is_file():
            raise UserError(f"model file '{path}' does not exist", "check the path")
        if path.stat().st_size == 0:
            raise UserError(f"model file '{path}' is empty", "re-save or re-download it")
        if path.suffix == ".safetensors":
            return _load_safetensors(path, factory)
        if path.suffix == ".pt2":
            return _load_pt2(path, trust)
        loader = FILE_LOADERS.get(path.suffix)
        if loader is not None:
            return loader(path)
        return _load_pickle(path, factory, trust)
    if registry.is_registered(source):
        return registry.create(source)
    if is_factory_spec(source):
        return build_from_factory(source)
    if path.exists():
        raise UserError(
            f"model file '{path}' has an unsupported type",
            "use .safetensors, .pt, .pth, .pt2 or .onnx",
        )
    raise UserError(
        f"unknown model '{source}' (not a file, a built-in name or module:function)",
        f"use a model file, one of {', '.join(registry.names())}, or mypkg.mod:build",
    )


def _pt_payload(model: nn.Module) -> dict:
    """A model a technique marked (wl.quantize) saves self-contained; others as a state_dict."""
    for attr in PT_SAVERS:
        if getattr(model, attr, None):
            return PT_SAVERS.get(attr)(model)
    return model.state_dict()


def build_from_factory(factory: str | Callable[[], nn.Module]) -> nn.Module:
    """Call a model factory (registry name, `module:function` or callable) and check it."""
    if isinstance(factory, str) and registry.is_registered(factory):
        return registry.create(factory)
    if isinstance(factory, str) and is_hf_spec(factory):
        return load_hf(factory)
    fn = import_factory(factory, "model") if isinstance(factory, str) else factory
    try:
        model = fn()
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"model factory {factory!r} raised {type(exc).__name__}: {exc}",
            "fix the factory so it returns an nn.Module",
        ) from None
    if not isinstance(model, nn.Module):
        raise UserError(
            f"model factory {factory!r} returned {type(model).__name__}, not an nn.Module",
            "return the model instance",
        )
    return model


def _save_safetensors(model: nn.Module, tmp: Path) -> None:
    from safetensors.torch import save_model as st_save

    metadata = {_ATTRS_KEY: json.dumps(int_attrs(model))}
    arch = getattr(model, "weightlight_arch", None)
    if arch is not None:
        metadata[_ARCH_KEY] = json.dumps(arch)
    try:
        # save_model (not save_file) de-duplicates tied weights instead of failing on them.
        st_save(model, str(tmp), metadata=metadata)
    except OSError:  # a full disk is not a format problem: atomic_path reports it
        raise
    except Exception as exc:  # e.g. packed int8 params that are not plain tensors
        raise UserError(
            f"this model cannot be stored as safetensors ({type(exc).__name__}: {exc})",
            "save it as .pt2 (torch.export) or .pt instead",
        ) from None


def _load_safetensors(path: Path, factory) -> nn.Module:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a valid safetensors file ({type(exc).__name__})",
            "the file is truncated or corrupt: re-save it",
        ) from None
    arch = _header_record(metadata, _ARCH_KEY, path) if _ARCH_KEY in metadata else None
    if arch is not None and not (
        isinstance(arch.get("name"), str) and isinstance(arch.get("kwargs", {}), dict)
    ):
        raise malformed_record(path, _ARCH_KEY)
    attrs = _header_record(metadata, _ATTRS_KEY, path) if _ATTRS_KEY in metadata else {}
    if not all(isinstance(v, dict) for v in attrs.values()):
        raise malformed_record(path, _ATTRS_KEY)
    problem = f"'{path}' holds weights but does not say which architecture they belong to"
    model = _architecture(arch, factory, problem, path)
    fit_to_state_dict(model, state, f"'{path}'")
    set_int_attrs(model, attrs)
    _load_state(model, state, path)
    return model


def _architecture(arch: dict | None, factory, problem: str, path: Path) -> nn.Module:
    """The model a file's weights go into: the user's factory, else the built-in it names.

    A built-in named by the file is built on the meta device first (no memory): arguments a
    forged header made absurd (negative or 2**40-wide layers) fail in one line, and a model
    far larger than the file's weights could fill is refused before it is allocated.
    """
    if factory is not None:
        return build_from_factory(factory)
    if arch is None:
        raise UserError(problem, "pass the architecture with --model mypkg.mod:build (or factory=)")
    name, kwargs = arch["name"], arch.get("kwargs", {})
    try:
        with torch.device("meta"):
            probe = registry.create(name, **kwargs)
    except (RuntimeError, ValueError, OverflowError) as exc:
        raise UserError(
            f"'{path}' names model '{name}' with arguments it cannot build ({_first_line(exc)})",
            "the file is damaged or forged: re-save the model with weightlight",
        ) from None
    elements = sum(t.numel() for t in (*probe.parameters(), *probe.buffers()))
    # Pruning shrinks a saved model below its architecture; 1000x is far beyond any pruning.
    if elements > 1000 * path.stat().st_size + 2**24:
        raise UserError(
            f"'{path}' names a '{name}' of {elements:,} weights but holds "
            f"{path.stat().st_size:,} bytes",
            "the file is damaged or forged: re-save the model with weightlight",
        )
    return registry.create(name, **kwargs)


def _header_record(metadata: dict, key: str, path: Path) -> dict:
    """A JSON object from the safetensors header (which an untrusted file may have forged)."""
    try:
        value = json.loads(metadata[key])
    except (json.JSONDecodeError, TypeError):
        value = None
    if not isinstance(value, dict):
        raise malformed_record(path, key)
    return value


def _load_pickle(path: Path, factory, trust: bool) -> nn.Module:
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol 4": we say what matters
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        imports = pickle_imports(path)
        if imports is None:  # not even a well-formed pickle: damaged, not dangerous
            raise UserError(
                f"'{path}' is not a readable PyTorch file (corrupt pickle data)",
                "the file is truncated or corrupt: re-save it",
            ) from None
        if not trust:
            named = ", ".join(imports[:3]) or "objects beyond tensors"
            raise UserError(
                f"'{path}' contains pickled objects that could run code when loaded "
                f"(it imports {named})",
                "load it only if you trust its source, with --trust (trust=True)",
            ) from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)  # noqa: S614
        except Exception as exc:  # e.g. the pickled model's class is not importable here
            raise UserError(
                f"'{path}' could not be unpickled ({type(exc).__name__}: {_first_line(exc)})",
                "make the model's class importable, or save a state_dict / .safetensors",
            ) from None
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a readable PyTorch file ({type(exc).__name__})",
            "the file is truncated or corrupt: re-save it",
        ) from None
    if isinstance(obj, nn.Module):
        return obj
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if isinstance(fmt, str) and PT_LOADERS.get(fmt) is not None:
        return PT_LOADERS.get(fmt)(obj, path, factory)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # common checkpoint layout: {"state_dict": ..., "epoch": ...}
    if not (isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise UserError(
            f"'{path}' holds a {type(obj).__name__}, not a state_dict or model",
            "save model.state_dict() or use a .safetensors file",
        )
    if factory is None:
        raise UserError(
            f"'{path}' is a state_dict and needs its architecture",
            "pass it with --model mypkg.mod:build or a built-in name (mnist_cnn, ...)",
        )
    model = build_from_factory(factory)
    fit_to_state_dict(model, obj, f"'{path}'")
    _load_state(model, obj, path)
    return model


def pickle_imports(path: str | Path) -> list[str] | None:
    """The `module.name` globals a pickle would import, read without unpickling anything.

    Looks inside torch's zip container (`*/data.pkl`) when there is one. Returns None when the
    bytes are not a well-formed pickle (a damaged file rather than a dangerous one).
    """
    return _pickle_imports(Path(path).read_bytes())


def _pickle_imports(data: bytes) -> list[str] | None:
    try:
        if data[:4] == b"PK\x03\x04":  # torch's zip container
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                member = next(n for n in zf.namelist() if n.endswith("data.pkl"))
                data = zf.read(member)
        ops = list(pickletools.genops(data))
    except Exception:  # bad opcode, truncated stream, zip without data.pkl
        return None
    # STACK_GLOBAL takes module and name from the two values pushed before it, which may be
    # memoized strings fetched again with a GET: track strings and the memo, nothing else.
    found: list[str] = []
    pushed: list[object] = []
    memo: dict[int, object] = {}
    for op, arg, _pos in ops:
        if op.name == "GLOBAL":
            found.append(str(arg).replace(" ", "."))
        elif op.name == "STACK_GLOBAL" and len(pushed) >= 2:
            found.append(f"{pushed[-2]}.{pushed[-1]}")
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name.endswith("PUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name.endswith("GET"):
            pushed.append(memo.get(arg))
        elif "UNICODE" in op.name or "STRING" in op.name:
            pushed.append(arg)
        else:
            pushed.append(None)
    return list(dict.fromkeys(found))


def pt2_pickled_members(path: str | Path) -> list[str]:
    """Members of a `.pt2` archive that `torch.export.load` would unpickle with code allowed.

    A program saved by `torch.export.save` stores weights as raw bytes and JSON, plus sample
    inputs that load with `weights_only=True`. But `torch.export.load` unpickles weights or
    constants marked `use_pickle`, custom/opaque objects, and falls back to
    `weights_only=False` when a weights-only load fails: any of those can run code.
    """
    risky = []
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                data = zf.read(name)
                if name.endswith("_config.json"):
                    entries = json.loads(data).get("config", {}).values()
                    if any(
                        e.get("use_pickle") or str(e.get("path_name", "")).startswith(
                            ("custom_obj", "opaque_obj"))
                        for e in entries
                    ):  # fmt: skip
                        risky.append(name)
                elif name.endswith((".pt", ".pkl")):  # sample inputs, legacy constants
                    try:
                        with warnings.catch_warnings():  # "unexpected protocol" noise
                            warnings.simplefilter("ignore")
                            torch.load(io.BytesIO(data), weights_only=True)
                    except Exception:
                        risky.append(name)
    except (zipfile.BadZipFile, ValueError, AttributeError):
        return []  # not a readable archive: torch.export.load reports that
    return risky


def _load_pt2(path: Path, trust: bool = False) -> nn.Module:
    risky = [] if trust else pt2_pickled_members(path)
    if risky:
        raise UserError(
            f"'{path}' contains pickled data that could run code when loaded "
            f"({', '.join(n.rsplit('/', 1)[-1] for n in risky[:3])})",
            "load it only if you trust its source, with --trust (trust=True)",
        )
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a valid torch.export program ({type(exc).__name__})",
            "the file is truncated or corrupt: re-export it",
        ) from None
    return program.module()


def _load_state(model: nn.Module, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = str(exc)
        detail = msg.split(":", 1)[-1].strip().split("\n")[0][:200]
        raise UserError(
            f"the weights in '{path}' do not fit the architecture ({detail})",
            "pass the --model that produced these weights",
        ) from None


def skeleton_from_record(record: dict, path: Path, factory=None) -> nn.Module:
    """The float architecture a `skeleton_record` describes (weights left at their init)."""
    arch, attrs, shapes = read_record(record, path)
    problem = f"'{path}' holds a quantized model of an architecture weightlight cannot rebuild"
    model = _architecture(arch, factory, problem, path)
    meta = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    fit_to_state_dict(model, meta, f"'{path}'")
    set_int_attrs(model, attrs)
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]
