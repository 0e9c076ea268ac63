"""One search worker, run as a subprocess by test_workers.py: argv = model, space, out, storage,
trials. Prints how many trials this worker finished."""

from __future__ import annotations

import sys

import torch

import weightlight as wl

if __name__ == "__main__":
    model_path, space, out, storage, trials = sys.argv[1:6]
    torch.set_num_threads(1)
    done = []
    wl.search(
        wl.models.load_model(model_path), wl.data.digits(seed=0), space=space, max_drop=2.0,
        objective="size", trials=int(trials), storage=storage, out=out,
        on_trial=lambda n, total, result: done.append(n),
    )  # fmt: skip
    print(f"finished {len(done)}")
