"""What a second process costs or buys: one fine-tune in 1 process vs 2 torchrun ranks.

Run by hand (timings on a shared machine are noisy: read the ratios, rerun to confirm):

    .venv/bin/python benchmarks/bench_ddp.py --epochs 2 --rounds 3 --device cpu

Three runs of `wl.train` on digits from the same initial seed CNN, same epochs, same total
batch per step (DDP ranks take half each, see weightlight.accelerator):
  1 process x all threads, 1 process x 1 thread, and `torchrun --nproc-per-node 2` x 1
  thread each (gloo on the CPU, nccl with --device cuda on a machine with 2 GPUs).
Prints medians over interleaved rounds of the seconds inside `wl.train` (rank 0), the
whole command's seconds (interpreter start, imports, process-group setup included) and the
accuracy, with ratios against the first row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def worker(epochs: float, threads: int, device: str) -> None:
    """One training run; rank 0 prints a JSON line with its seconds and accuracy."""
    import torch

    import weightlight as wl
    from weightlight.measure.metric import evaluate

    torch.set_num_threads(threads)
    data = wl.data.digits(seed=0)
    torch.manual_seed(0)  # the same initial weights in every process
    model = wl.models.mnist_cnn()
    started = time.perf_counter()
    trained = wl.train(model, data, epochs=epochs, progress=False, device=device)
    seconds = time.perf_counter() - started
    if int(os.environ.get("RANK", "0")) == 0:
        accuracy = evaluate(trained.cpu().eval(), data.eval)
        print(json.dumps({"train_s": seconds, "accuracy": accuracy}), flush=True)
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def launch(args: argparse.Namespace, ranks: int, threads: int) -> dict:
    me = [__file__, "--worker", "--epochs", str(args.epochs), "--threads", str(threads),
          "--device", args.device]  # fmt: skip
    if ranks > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={ranks}", *me]  # fmt: skip
    else:
        cmd = [sys.executable, *me]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    line = next(x for x in done.stdout.splitlines() if x.startswith("{"))
    return {**json.loads(line), "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (nccl, 2 GPUs)")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds (medians).")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.epochs, args.threads, args.device)
    setups = {
        f"1 process x {args.threads} threads": (1, args.threads),
        "1 process x 1 thread": (1, 1),
        "2 ranks x 1 thread (torchrun)": (2, 1),
    }
    runs: dict[str, list[dict]] = {name: [] for name in setups}
    for _ in range(args.rounds):  # interleaved, so a busy spell hits every setup alike
        for name, (ranks, threads) in setups.items():
            runs[name].append(launch(args, ranks, threads))
    rows = [
        (name, {k: statistics.median(r[k] for r in results) for k in results[0]})
        for name, results in runs.items()
    ]
    first = rows[0][1]
    print(f"{'run':34} {'train s':>8} {'ratio':>6} {'command s':>10} {'ratio':>6} {'acc %':>6}")
    for name, r in rows:
        train, wall = r["train_s"], r["wall_s"]
        print(f"{name:34} {train:8.2f} {train / first['train_s']:6.2f} "
              f"{wall:10.2f} {wall / first['wall_s']:6.2f} {r['accuracy']:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
