"""Distil a half-width student from a saved teacher; run plain or under torchrun.

Usage: python ddp_script.py TEACHER.safetensors OUT.safetensors [EPOCHS]
Under `torchrun --nproc_per_node 2` the student is wrapped in DDP by `weightlight.train`
(gloo on CPU), each rank sees half of every batch, and rank 0 saves the result.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

import weightlight as wl


def run(teacher_path: str, out_path: str, epochs: float = 2) -> torch.nn.Module:
    data = wl.data.digits(seed=0)
    teacher = wl.models.load_model(teacher_path)
    torch.manual_seed(0)  # the same student initialisation in every process
    student = wl.models.shrink(teacher, width=0.5)
    config = wl.distill.Logit(temperature=4.0, alpha=0.7, epochs=epochs, seed=0)
    trained = wl.distill(student, config, data, teacher=teacher)
    if int(os.environ.get("RANK", "0")) == 0:
        wl.models.save_model(trained, out_path)
    return trained


if __name__ == "__main__":
    torch.set_num_threads(1)  # two ranks share two cores
    run(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 2)
    if dist.is_initialized():
        dist.destroy_process_group()
