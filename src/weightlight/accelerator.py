"""Where training runs: one object owns the device and the process group (accelerate's idea).

`Accelerator.start(device)` resolves `auto | cpu | cuda | cuda:N` once and joins the process
group torchrun set up: nccl when this rank trains on a GPU, gloo on the CPU. Then
`prepare(model)` puts the model on the device (wrapped in DistributedDataParallel when there
are several ranks), `loader(...)` shards the training set across ranks and `place(batch)` moves
a batch (tensor, tuple or dict) to the device. Training code never calls `.to(device)` or picks
a backend itself.

The device is chosen at the edges (a recipe's `device:`, the CLI's `--device`, or the `device=`
argument of the verbs) with `use_device`, and everything that trains or calibrates below it
reads `current_device()`, so no technique passes a device through its signature.

Under torchrun each rank takes its local GPU: `auto` and `cuda` mean `cuda:<LOCAL_RANK>`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from weightlight.errors import UserError

DEVICES = "auto, cpu, cuda or cuda:N"
_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("weightlight_device", default="auto")


def check_device(spec: str) -> str:
    """The device spec, normalised, if it is well formed (availability is checked later).

    Example:
        >>> check_device(" CUDA:1 ")
        'cuda:1'
    """
    text = str(spec).strip().lower()
    if not _SPEC.match(text):
        raise UserError(f"unknown device '{spec}'", f"use {DEVICES}")
    return text


def world_size() -> int:
    """Processes in this job: torchrun's WORLD_SIZE, 1 when run alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(spec: str | None = None) -> torch.device:
    """The torch device `spec` (default: `current_device()`) means on this machine and rank.

    `auto` is this rank's GPU when torch sees CUDA, else the CPU. Under torchrun, `cuda` is
    `cuda:<LOCAL_RANK>`; naming one GPU (`cuda:N`) for every rank is refused.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    text = check_device(spec or current_device())
    if text == "cpu" or (text == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(
            f"device '{text}' was asked for but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}, CUDA {torch.version.cuda or 'not built in'})",
            "use --device cpu or auto, or install a CUDA build of torch on a GPU machine",
        )
    ranks = world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if ranks > 1 else 0
    if ":" in text and ranks > 1:
        raise UserError(
            f"device '{text}' names one GPU for all {ranks} torchrun ranks",
            "pass --device cuda (or auto): each rank then uses its local GPU (LOCAL_RANK)",
        )
    index = int(text.split(":")[1]) if ":" in text else local_rank
    count = torch.cuda.device_count()
    if index >= count:
        raise UserError(
            f"device cuda:{index} does not exist: torch sees {count} GPU(s)",
            f"use cuda:0 .. cuda:{count - 1}, or at most {count} torchrun processes per node",
        )
    return torch.device("cuda", index)


def current_device() -> str:
    """The device spec set by the innermost `use_device` (default: `auto`)."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_device(spec: str | None) -> Iterator[str]:
    """Train and calibrate on `spec` inside the block (None: keep the current choice).

    The spec is resolved on entry, so a bad or unavailable device fails before any work.

    Example:
        >>> with use_device("cpu"):
        ...     current_device()
        'cpu'
    """
    if spec is None:
        yield current_device()
        return
    text = check_device(spec)
    resolve_device(text)
    token = _CURRENT.set(text)
    try:
        yield text
    finally:
        _CURRENT.reset(token)


def device_of(model: nn.Module) -> torch.device:
    """Where a model's weights live (the CPU for a model without any)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def place(batch, device: torch.device):
    """`batch` (a tensor, or tuples / lists / dicts of them) on `device`; the rest untouched."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: place(v, device) for k, v in batch.items()})
    if isinstance(batch, (tuple, list)):
        return type(batch)(place(v, device) for v in batch)
    return batch


@dataclass(frozen=True)
class Accelerator:
    """The device and process group of one training run."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @classmethod
    def start(cls, device: str | None = None) -> Accelerator:
        """Resolve the device and join torchrun's process group (nccl on GPU, gloo on CPU)."""
        target = resolve_device(device)
        if world_size() <= 1:
            return cls(target)
        if not dist.is_initialized():
            if target.type == "cuda":
                torch.cuda.set_device(target)  # nccl binds each rank to its current GPU
            dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
        return cls(target, dist.get_rank(), dist.get_world_size())

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move `model` to the device (in place) and return what to call: DDP-wrapped or it."""
        model.to(self.device)
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def place(self, batch):
        return place(batch, self.device)

    def loader(self, loader: DataLoader, seed: int) -> DataLoader:
        """The user's training loader as given (its collate_fn, sampler, workers), with two
        changes: a shuffling loader shuffles from `seed` (so a run repeats whatever ran before
        it on the same loader), and under DDP each rank reads its shard of the dataset."""
        # Page-locked host memory makes host -> GPU copies faster; on the CPU keep the user's.
        pin = self.device.type == "cuda" or loader.pin_memory
        if self.distributed:
            # Each rank takes batch / world_size samples, so one step still sees the loader's
            # batch size in total and a run matches the single-process one step for step.
            sampler = DistributedSampler(
                loader.dataset, self.world_size, self.rank, shuffle=True, seed=seed
            )
            per_rank = max(1, (loader.batch_size or 1) // self.world_size)
            return DataLoader(
                loader.dataset, batch_size=per_rank, sampler=sampler, pin_memory=pin,
                **_worker_settings(loader),
            )  # fmt: skip
        if isinstance(loader.sampler, RandomSampler) and loader.batch_size is not None:
            return DataLoader(
                loader.dataset, batch_size=loader.batch_size, shuffle=True, pin_memory=pin,
                generator=torch.Generator().manual_seed(seed), drop_last=loader.drop_last,
                **_worker_settings(loader),
            )  # fmt: skip
        return loader  # a custom sampler or batch sampler: the user's order, as given


def _worker_settings(loader: DataLoader) -> dict:
    """What a re-created loader keeps of the user's: how it collates and its workers."""
    return {
        "collate_fn": loader.collate_fn,
        "num_workers": loader.num_workers,
        "worker_init_fn": loader.worker_init_fn,
        "persistent_workers": loader.persistent_workers,
    }
