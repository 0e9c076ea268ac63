"""Generation speed of a causal LM, torch vs its peers vs weightlight, side by side, one process.

Batch 1, greedy, KV cache, one thread count for all (default 2): prefill ms (time to the first
token) for a `--prompt`-token prompt and decode tokens/s over `--new` generated tokens, each
the median over `--rounds` interleaved rounds (one generation of each candidate per round, so
a busy machine slows all alike), plus ratios against torch fp32:

    torch fp32             HF `generate` with its cache (eager, as users run it)
    torch dynamic int8     `torch.ao.quantization.quantize_dynamic` (Linear layers), generate
    weightlight KV-cache   the KV-cache decoder (weightlight.export.decoder) in ONNX Runtime, fp32
    ORT int4 defaults      `MatMulNBitsQuantizer(model)` with ORT's defaults (4 bits, block 128,
                           asymmetric, accuracy level unset), the peer a user would pick
    weightlight int4/int8  MatMulNBits through wl.export (block 32, int8 compute; int4 GPTQ
                           too where the model is trained and --text is given)

Default model: a Llama built from a config (~100 M parameters, random weights: speed only).
`--model hf:DIR` runs a trained causal LM folder; with `--text FILE` perplexity on that text
is printed too (tokenized by the folder's tokenizer; GPTQ calibrates on its first half and
perplexity reads the second half).

    .venv/bin/python benchmarks/bench_lm.py --threads 2
    .venv/bin/python benchmarks/bench_lm.py --smoke          # a tiny model, seconds
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F

from weightlight.export.decoder import export_decoder
from weightlight.export.ort_decoder import OrtDecoder, OrtDecoderModel
from weightlight.export.ort_nbits import quantize_nbits
from weightlight.hardware import cpu_features


def llama_100m(smoke: bool):
    import transformers

    if smoke:
        config = transformers.LlamaConfig(
            vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        )  # fmt: skip
    else:
        config = transformers.LlamaConfig(
            vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=8,
            num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=1024,
            tie_word_embeddings=False,
        )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval(), None


def load_hf(folder: str):
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return model.eval(), transformers.AutoTokenizer.from_pretrained(folder)


class TorchLM:
    """HF generate with its cache; prefill timed as one cached forward pass of the prompt."""

    def __init__(self, model) -> None:
        self.model = model

    def prefill_ms(self, prompt: torch.Tensor) -> float:
        with torch.inference_mode():
            t0 = time.perf_counter()
            self.model(input_ids=prompt, use_cache=True, logits_to_keep=1)
            return (time.perf_counter() - t0) * 1e3

    def decode_rate(self, prompt: torch.Tensor, new: int) -> float:
        """Tokens/s after the first: generate(new) minus generate(1), both HF generate (nan
        when noise makes the difference <= 0: too few new tokens for this model)."""
        spent = self.generate_s(prompt, new) - self.generate_s(prompt, 1)
        return (new - 1) / spent if spent > 0 else float("nan")

    def generate_s(self, prompt: torch.Tensor, new: int) -> float:
        with torch.inference_mode():
            t0 = time.perf_counter()
            self.model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                max_new_tokens=new, min_new_tokens=new, pad_token_id=0)  # fmt: skip
            return time.perf_counter() - t0

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(input_ids=ids).logits


class OrtLM:
    def __init__(self, model: OrtDecoderModel, threads: int) -> None:
        self.model, self.runtime = model, OrtDecoder(model, threads=threads)

    def prefill_ms(self, prompt: torch.Tensor) -> float:
        t0 = time.perf_counter()
        self.runtime.prefill(prompt)
        return (time.perf_counter() - t0) * 1e3

    def decode_rate(self, prompt: torch.Tensor, new: int) -> float:
        """Tokens/s of the `new - 1` greedy steps after the prefill."""
        token = int(self.runtime.prefill(prompt).argmax())
        t0 = time.perf_counter()
        for _ in range(new - 1):
            token = int(self.runtime.step(token).argmax())
        return (new - 1) / (time.perf_counter() - t0)

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.run({"input_ids": ids})


def ort_defaults(fp32: OrtDecoderModel, path: Path) -> OrtDecoderModel:
    """The peer: ORT's quantizer exactly as its docs call it, every default kept."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32.path)))
    quantizer.process()
    quantizer.model.save_model_to_file(str(path), use_external_data_format=False)
    return fp32.with_info(path=path, parity=None, notes=())


def perplexity(lm, chunks: list[torch.Tensor]) -> float:
    total, count = 0.0, 0
    for ids in chunks:
        logits = lm.logits(ids).float()
        total += float(F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum"))
        count += ids.shape[1] - 1
    return math.exp(total / count)


def text_chunks(tokenizer, path: str, length: int) -> list[torch.Tensor]:
    ids = tokenizer(Path(path).read_text(encoding="utf-8"), return_tensors="pt")["input_ids"][0]
    return [ids[i : i + length][None] for i in range(0, len(ids) - length + 1, length)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="hf:DIR of a causal LM (default: ~100M Llama)"
    )
    parser.add_argument("--text", default=None, help="held-out text for perplexity (hf models)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="where the ONNX files go")
    parser.add_argument("--smoke", action="store_true", help="tiny model, short runs")
    args = parser.parse_args()
    if args.smoke:
        args.prompt, args.new, args.rounds = min(args.prompt, 16), min(args.new, 8), 2
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if args.model:
        if not args.model.startswith("hf:"):
            sys.exit("--model takes hf:DIR")
        model, tokenizer = load_hf(args.model[3:])
    else:
        model, tokenizer = llama_100m(args.smoke)
    params = sum(p.numel() for p in model.parameters())
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_lm_"))
    chunks = text_chunks(tokenizer, args.text, 128) if tokenizer and args.text else []
    calib, held = chunks[: len(chunks) // 2][:16], chunks[len(chunks) // 2 :][:32]

    t0 = time.perf_counter()
    fp32 = export_decoder(model, out / "decoder.onnx", threads=args.threads)
    print(f"exported in {time.perf_counter() - t0:.0f} s: {fp32.notes[0]}")
    best = dict(bits=4, block_size=32, accuracy_level=4, symmetric=True)
    candidates = {
        "torch fp32": TorchLM(model),
        "torch dynamic int8": TorchLM(torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8)),
        "weightlight KV-cache ONNX fp32": OrtLM(fp32, args.threads),
        "ORT int4 (quantizer defaults)": OrtLM(ort_defaults(fp32, out / "ort_default.onnx"),
                                               args.threads),
        "weightlight int4 rtn b32 int8-compute": OrtLM(
            quantize_nbits(fp32, out / "wl_rtn.onnx", **best), args.threads),
        "weightlight int8 rtn b32 int8-compute": OrtLM(
            quantize_nbits(fp32, out / "wl_int8.onnx", **{**best, "bits": 8}), args.threads),
    }  # fmt: skip
    if calib:
        feeds = [fp32.feeds({"input_ids": c}) for c in calib]
        gptq = quantize_nbits(fp32, out / "wl_gptq.onnx", algorithm="gptq", calibration=feeds,
                              **best)  # fmt: skip
        candidates["weightlight int4 gptq b32 int8-compute"] = OrtLM(gptq, args.threads)

    vocab = int(model.config.vocab_size)
    prompt = torch.randint(0, vocab, (1, args.prompt), generator=torch.Generator().manual_seed(0))
    if held:
        prompt = torch.cat(held)[:, : args.prompt] if held[0].shape[1] >= args.prompt else prompt
    prefill = {n: [] for n in candidates}
    decode = {n: [] for n in candidates}
    for lm in candidates.values():  # warm-up
        lm.prefill_ms(prompt[:1])
        lm.decode_rate(prompt[:1], 3)
    for _ in range(args.rounds):
        for name, lm in candidates.items():
            prefill[name].append(lm.prefill_ms(prompt[:1]))
            decode[name].append(lm.decode_rate(prompt[:1], args.new))

    cpu = cpu_features()
    weights = "" if args.model else " (random weights)"
    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f} (timings need a quiet machine)")
    print(f"CPU: {cpu.model_name} ({cpu.isa}); threads {args.threads}; batch 1; prompt "
          f"{args.prompt} tokens; {args.new} new tokens (greedy); {args.rounds} rounds; "
          f"model {params / 1e6:.1f} M params{weights}")  # fmt: skip
    base_pre = statistics.median(prefill["torch fp32"])
    base_dec = statistics.median(decode["torch fp32"])
    header = (
        f"{'candidate':42s} {'prefill ms':>10s} {'x fp32':>7s} {'decode tok/s':>12s} {'x fp32':>7s}"
    )
    print(header + ("  perplexity" if held else ""))
    rows = {}
    for name, lm in candidates.items():
        pre, dec = statistics.median(prefill[name]), statistics.median(decode[name])
        ppl_value = perplexity(lm, held) if held else None
        rows[name] = (dec / base_dec, ppl_value)
        ppl = f"  {ppl_value:10.3f}" if held else ""
        size = ""
        if isinstance(lm, OrtLM):
            size = f"  {lm.model.path.stat().st_size / 1e6:.1f} MB"
        print(f"{name:42s} {pre:10.1f} {pre / base_pre:7.2f} {dec:12.1f} "
              f"{dec / base_dec:7.2f}{ppl}{size}")  # fmt: skip
    print(goal(rows))


def goal(rows: dict[str, tuple[float, float | None]]) -> str:
    """Issue 25's goal: a weightlight candidate decoding >= 3x torch fp32 with perplexity
    within 5 % of fp32's (when perplexity is measured), ahead of every peer."""
    base_ppl = rows["torch fp32"][1]

    def faithful(ppl):
        return base_ppl is None or (ppl is not None and ppl <= base_ppl * 1.05)

    ours = {n: r for n, r in rows.items() if n.startswith("weightlight") and faithful(r[1])}
    peers = max(r[0] for n, r in rows.items() if not n.startswith(("weightlight", "torch fp32")))
    if not ours:
        return "goal: no weightlight candidate within 5 % perplexity"
    name, (speed, _) = max(ours.items(), key=lambda item: item[1][0])
    met = speed >= 3 and speed > peers
    return (
        f"goal (>= 3x torch fp32 decode, ppl within 5 %, ahead of every peer): "
        f"{'MET' if met else 'not met'} by {name}: {speed:.2f}x, best peer {peers:.2f}x"
    )


if __name__ == "__main__":
    main()
