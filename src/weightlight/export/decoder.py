"""A Hugging Face causal LM exported to ONNX with its key/value cache as graph inputs/outputs.

The contract is the one optimum-onnx and onnxruntime-genai write, so a decoder exported here
runs in their runtimes and theirs in `OrtDecoder`:

    inputs   input_ids [batch, seq]   attention_mask [batch, past + seq]
             position_ids [batch, seq]   past_key_values.N.key / .value [batch, kv_heads, past, dim]
    outputs  logits [batch, seq, vocab]   present.N.key / .value [batch, kv_heads, past + seq, dim]

Prefill feeds the prompt with an empty past (length 0); each decode step feeds one token and
the previous step's `present.*` as `past_key_values.*`, so a step costs one token's work
instead of re-reading the whole text. Grouped-query attention (Llama's `num_key_value_heads`)
shows as fewer cache heads than attention heads: the shapes are read from a real forward pass.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch import nn

from weightlight._io import atomic_path
from weightlight._lazy import lazy_import
from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import check_onnx
from weightlight.export.ort_decoder import OrtDecoder, OrtDecoderModel

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched


def export_decoder(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int = 18,
    optimize: str = "all",
    simplify: bool = True,
    tolerance: float = 1e-4,
    threads: int | None = None,
) -> OrtDecoderModel:
    """Export a causal LM with its KV cache as named graph inputs and outputs, then check it.

    Parity: logits of an 8-token prefill and 4 greedy decode steps are compared with the torch
    model's own cached generation; an error above `tolerance` x max(1, max |logit|) raises.

    Args:
        model: a Hugging Face causal LM (`LlamaForCausalLM`, `GPT2LMHeadModel`, ...), fp32.
        path: the `.onnx` file (written atomically).
        opset: ONNX opset (17..23).
        optimize: ONNX Runtime graph optimization level of the returned model's sessions.
        simplify: fold constants with onnxslim (kept only if it still checks).
        tolerance: parity tolerance relative to the logits' scale.
        threads: intra-op threads of the returned model's sessions.

    Example:
        >>> dec = export_decoder(llama, "out/decoder.onnx")
        >>> OrtDecoder(dec, threads=2).generate(prompt_ids, 8)
        [17, 4, 90, ...]
    """
    path = Path(path)
    if path.suffix != ".onnx":
        raise UserError(f"ONNX output path '{path}' must end in .onnx", "e.g. out/decoder.onnx")
    cache_arg = _cache_argument(model)
    model = model.eval()
    layers, kv_heads, head_dim = cache_shape(model)
    wrapper = _CacheIO(model, cache_arg, layers).eval()
    past, seq = 3, 2  # > 1 each: torch.export specialises sizes 0 and 1
    vocab = int(getattr(model.config, "vocab_size", 2) or 2)
    ids = torch.randint(0, vocab, (2, seq))
    mask = torch.ones(2, past + seq, dtype=torch.long)
    positions = torch.arange(past, past + seq).repeat(2, 1)
    caches = [torch.randn(2, kv_heads, past, head_dim) for _ in range(2 * layers)]
    batch, length = torch.export.Dim("batch"), torch.export.Dim("sequence")
    past_dim, total = torch.export.Dim("past_sequence"), torch.export.Dim("total_sequence")
    shapes = (
        {0: batch, 1: length},
        {0: batch, 1: total},
        {0: batch, 1: length},
        tuple({0: batch, 2: past_dim} for _ in caches),
    )
    with atomic_path(path) as tmp:
        try:
            with quiet(), torch.no_grad():
                program = torch.onnx.export(
                    wrapper, (ids, mask, positions, *caches), dynamo=True,
                    input_names=input_names(layers), output_names=output_names(layers),
                    dynamic_shapes=shapes, opset_version=opset, external_data=False,
                )  # fmt: skip
                program.save(str(tmp))
        except Exception as exc:  # the exporter raises many types
            raise UserError(
                f"decoder export failed ({one_line(str(exc))[:200]})",
                "export a Hugging Face causal LM (Llama, GPT-2, ...) in fp32",
            ) from None
        if simplify:
            _simplify_in_place(tmp)
        check_onnx(tmp)
    result = OrtDecoderModel(path, optimize=optimize, exporter="dynamo", threads=threads)
    error, scale = decoder_parity(model, result, cache_arg=cache_arg)
    if error > tolerance * max(1.0, scale):
        raise UserError(
            f"the decoder export '{path}' differs from PyTorch: max abs logit error {error:.3g}",
            "report the model type; export without the cache (wl.export.onnx) meanwhile",
        )
    return result.with_info(notes=(f"KV-cache decoder, {layers} layers; parity {error:.2g}",))


def input_names(layers: int) -> list[str]:
    caches = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *caches]


def output_names(layers: int) -> list[str]:
    return ["logits", *(f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value"))]


def cache_shape(model: nn.Module) -> tuple[int, int, int]:
    """(layers, kv heads, head dim) of the model's cache, read from a 2-token forward pass."""
    with torch.no_grad():
        out = model(input_ids=torch.zeros(1, 2, dtype=torch.long), use_cache=True)
    cache = cache_of(out)
    layers = getattr(cache, "layers", None)
    if not layers:
        raise UserError(f"{type(model).__name__} returned no key/value cache", "export a causal LM")
    keys = layers[0].keys
    return len(layers), int(keys.shape[1]), int(keys.shape[-1])


def decoder_parity(
    model: nn.Module, decoder: OrtDecoderModel, *, prompt: int = 8, steps: int = 4,
    cache_arg: str | None = None, seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """(max abs logit error, max |logit|) of the ONNX decoder vs torch over a prefill of
    `prompt` random tokens and `steps` greedy decode steps, each side with its own cache."""
    cache_arg = cache_arg or _cache_argument(model)
    vocab = int(model.config.vocab_size)
    ids = torch.randint(0, vocab, (1, prompt), generator=torch.Generator().manual_seed(seed))
    runtime = OrtDecoder(decoder)
    errors, scale = [], 0.0
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
        cache = cache_of(out)
        reference, got = out.logits[0, -1], runtime.prefill(ids)
        for _ in range(steps + 1):
            errors.append(float((reference - got).abs().max()))
            scale = max(scale, float(reference.abs().max()))
            token = int(reference.argmax())
            out = model(input_ids=torch.tensor([[token]]), use_cache=True, **{cache_arg: cache})
            cache = cache_of(out)
            reference, got = out.logits[0, -1], runtime.step(token)
    return max(errors), scale


class _CacheIO(nn.Module):
    """Flat tensors in and out around the model's cache object (ONNX has no Cache type)."""

    def __init__(self, model: nn.Module, cache_arg: str, layers: int) -> None:
        super().__init__()
        self.model, self.cache_arg, self.layers = model, cache_arg, layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            use_cache=True, **{self.cache_arg: cache},
        )  # fmt: skip
        present = [t for layer in cache_of(out).layers for t in (layer.keys, layer.values)]
        return (out.logits, *present)


def cache_of(output):
    """The cache a forward pass returned (`cache` in transformers 5.2x, else `past_key_values`)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _cache_argument(model: nn.Module) -> str:
    """The forward argument that takes the cache: `cache` (transformers >= 5.2x) or the older
    `past_key_values`; a model with neither is not a cached causal LM."""
    if not isinstance(model, nn.Module) or not hasattr(model, "config"):
        raise UserError(
            f"a KV-cache export needs a Hugging Face causal LM, got {type(model).__name__}",
            "load it with transformers (AutoModelForCausalLM) or export with kv_cache: false",
        )
    params = inspect.signature(model.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    raise UserError(
        f"{type(model).__name__}.forward takes no key/value cache",
        "export a causal LM (AutoModelForCausalLM), or export with kv_cache: false",
    )


def _simplify_in_place(path: Path) -> None:
    """onnxslim folds the exporter's shape arithmetic; the graph is kept only if it checks."""
    import onnxslim

    try:
        with quiet():
            slim = onnxslim.slim(onnx.load(str(path)))
        if isinstance(slim, onnx.ModelProto):
            onnx.checker.check_model(slim, full_check=True)
            onnx.save(slim, str(path))
    except Exception:
        return
