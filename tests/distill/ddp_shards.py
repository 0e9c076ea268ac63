"""Two gloo ranks train on *different* shards through `weightlight.train`; save what they end with.

Usage: python ddp_shards.py OUT_DIR

Writes OUT_DIR/{rank0,rank1,alone0,alone1}.pt, each a dict of tensors:
- `rank0` / `rank1`: the two ranks of one DDP run (rank r trains on shard r only);
- `alone0` / `alone1`: the same training of one shard in a single process.
For each, `plain.*` holds a cross-entropy run's weights and `feature.*` a feature-distillation
run's student weights and its adapter (the adapter sits outside DDP: `DistillLoss` averages
its gradients itself). Ranks that average gradients end identical; ranks that do not end
like their own shard alone.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import weightlight as wl
from weightlight.distill.core import frozen
from weightlight.distill.feature import FeatureLoss

WORLD = 2


def shard(rank: int) -> wl.data.Data:
    """Shard `rank` of a small synthetic 4-class problem (labels from a fixed linear map)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2 * 128, 16, generator=g)
    y = (x @ torch.randn(16, 4, generator=g)).argmax(1)
    part = slice(rank * 128, (rank + 1) * 128)
    return wl.data.from_tensors(x[part], y[part], x[:64], y[:64], batch_size=32)


def build(hidden: tuple[int, ...]) -> torch.nn.Module:
    torch.manual_seed(0)  # the same initial weights in every process
    return wl.models.mlp(in_features=16, num_classes=4, hidden=hidden)


def train_both(data: wl.data.Data) -> dict[str, torch.Tensor]:
    plain = wl.train(build((32, 16)), data, epochs=2, seed=0, progress=False)
    student = build((8, 16))
    loss = FeatureLoss(
        student, frozen(build((32, 16))), wl.distill.Feature(pairs={"net.2": "net.2"}), data
    )
    wl.train(student, data, loss=loss, epochs=2, seed=0, progress=False, in_place=True)
    loss.remove()
    result = {f"plain.{k}": v for k, v in plain.state_dict().items()}
    result |= {f"feature.{k}": v for k, v in student.state_dict().items()}
    result |= {f"adapter.{k}": v for k, v in loss.adapters.state_dict().items()}
    return {k: v.detach().clone() for k, v in result.items()}


def rank_main(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))  # fmt: skip
    try:
        torch.save(train_both(shard(rank)), Path(out) / f"rank{rank}.pt")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    out_dir = sys.argv[1]
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        os.environ.pop(key, None)
    mp.spawn(rank_main, args=(free_port(), out_dir), nprocs=WORLD, join=True)
    torch.set_num_threads(1)
    for rank in range(WORLD):
        torch.save(train_both(shard(rank)), Path(out_dir) / f"alone{rank}.pt")
