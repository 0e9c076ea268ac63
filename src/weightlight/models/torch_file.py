"""PyTorch's own files, untrusted: `.pt` / `.pth` read with `weights_only=True` (a whole pickled
model only with `trust=True`), `.pt2` programs checked for pickled members first, and what a
pickle would import read without unpickling anything."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import pickle
import pickletools
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightlight._registry import Registry
from weightlight.errors import UserError
from weightlight.models.build import build_from_factory, first_line, load_state
from weightlight.models.pt2_program import ProgramModule
from weightlight.models.skeleton import fit_to_state_dict

# Self-contained quantized `.pt` files (weightlight.quantize) register here, so model I/O
# never imports the package that owns them.
PT_LOADERS: Registry[Callable[[dict, Path, Any], nn.Module]] = Registry("weightlight .pt format")
# model attribute that marks a model -> the dict its .pt file holds
PT_SAVERS: Registry[Callable[[nn.Module], dict]] = Registry("weightlight .pt format")


def pt_payload(model: nn.Module) -> dict:
    """A model a technique marked (wl.quantize) saves self-contained; others as a state_dict."""
    for attr in PT_SAVERS:
        if getattr(model, attr, None):
            return PT_SAVERS.get(attr)(model)
    return model.state_dict()


def load_pickle(path: Path, factory, trust: bool) -> nn.Module:
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
                f"'{path}' could not be unpickled ({type(exc).__name__}: {first_line(exc)})",
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
    load_state(model, obj, path)
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


def load_pt2(path: Path, trust: bool = False) -> nn.Module:
    try:  # a truncated or foreign file fails here, before torch logs its own traceback
        zipfile.ZipFile(path).close()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(
            f"'{path}' is not a valid torch.export program ({type(exc).__name__})",
            "the file is truncated or corrupt: re-export it",
        ) from None
    risky = [] if trust else pt2_pickled_members(path)
    if risky:
        raise UserError(
            f"'{path}' contains pickled data that could run code when loaded "
            f"({', '.join(n.rsplit('/', 1)[-1] for n in risky[:3])})",
            "load it only if you trust its source, with --trust (trust=True)",
        )
    try:
        with quiet_logger("torch.export"):
            program = torch.export.load(str(path))
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a valid torch.export program ({type(exc).__name__})",
            "the file is truncated or corrupt: re-export it",
        ) from None
    return ProgramModule(program.module())


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Silence a library's logger (and its children) for the block.

    `torch.export.load` logs the full traceback of a failed deserialization (13 lines on
    stderr) and then raises; the raised error becomes our one line, so the log is noise.
    """
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)
