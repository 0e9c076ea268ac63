"""Generation measured as language-model users measure it: time to first token, decode
tokens per second with the key/value cache, peak memory.

A model is timed through one small protocol, `DecoderRuntime`, so every runtime is measured by
the same loop:

    reset()                     forget the previous text (empty the key/value cache)
    prefill(input_ids[1, P])    run the whole prompt at once, fill the cache, return the last
                                position's logits (vocab,)         <- time to first token
    step(token_id)              feed one token, extend the cache, return its logits (vocab,)
                                                                    <- one decode step

`TorchDecoder` implements it for a Hugging Face causal LM (`past_key_values`, a
`DynamicCache`); another runtime (an ONNX Runtime decoder whose graph takes the cache as inputs
and outputs) implements the same three methods, or registers a wrapper with
`as_decoder.register(ItsType)`, and is measured by `measure_generation` unchanged.

What is timed (batch 1, greedy, exactly `new_tokens` tokens: end-of-text does not stop it, so
every variant decodes the same number of steps): `warmup` untimed generations, then `runs`
timed ones; per run, the prefill time and the mean time of one decode step. The record keeps
their medians and p90s and the decode tokens per second at the median.

Example:
    >>> decoder = as_decoder(model)                       # a LlamaForCausalLM, GPT2LMHeadModel ...
    >>> point = measure_generation(decoder, prompt_ids, new_tokens=32, runs=5, threads=2)
    >>> point.decode_tokens_per_s
    812.4
"""

from __future__ import annotations

import copy
import functools
import inspect
import statistics
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from pydantic import Field
from torch import nn

from weightlight.config import Config
from weightlight.errors import UserError
from weightlight.measure.latency import _percentile
from weightlight.measure.record import GenerationPoint

METHOD = (
    "batch 1, {prompt}-token prompt, {new} new tokens (greedy, end-of-text ignored), "
    "key/value cache on; {warmup} warm-up + {runs} timed generations, perf_counter; prefill = "
    "time to first token; decode = mean time of one step per generation; median and p90 over "
    "generations; {threads} intra-op threads"
)


@runtime_checkable
class DecoderRuntime(Protocol):
    """A causal LM that generates one token at a time and keeps its own key/value cache.

    Attributes:
        runtime: what executes it ("torch", "onnxruntime"), for reports.
    """

    runtime: str

    def reset(self) -> None:
        """Forget the text so far (the next call is a prefill)."""

    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Run a [1, P] int64 prompt, fill the cache; the last position's logits (vocab,)."""

    def step(self, token_id: int) -> torch.Tensor:
        """Append one token to the text (using the cache); its logits (vocab,)."""


class GenerationOptions(Config):
    """How generation is timed (language models only; other tasks ignore it)."""

    prompt_tokens: int = Field(64, ge=1, description="Prompt length (time to first token).")
    new_tokens: int = Field(32, ge=2, description="Tokens decoded one by one after the prompt.")
    runs: int = Field(5, ge=1, description="Timed generations (median and p90 over them).")
    warmup: int = Field(1, ge=0, description="Untimed generations first.")


class TorchDecoder:
    """A Hugging Face causal LM (anything with `past_key_values`) as a `DecoderRuntime`.

    With `cache=False` every step recomputes the whole text so far instead (what generation
    costs without the cache: the control of the test that shows the cache is used).
    """

    runtime = "torch"

    def __init__(self, model: nn.Module, *, cache: bool = True) -> None:
        self.model, self.cache = model.eval(), cache
        self._device = next((p.device for p in model.parameters()), torch.device("cpu"))
        # transformers 5 renamed `past_key_values` to `cache` (the old name is deprecated)
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.reset()

    def reset(self) -> None:
        self._past = None
        self._ids: torch.Tensor | None = None

    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        _check_prompt(input_ids)
        self.reset()
        return self._forward(input_ids.to(self._device))

    def step(self, token_id: int) -> torch.Tensor:
        if self._ids is None:
            raise UserError("step() came before prefill()", "call prefill(prompt_ids) first")
        token = torch.tensor([[int(token_id)]], dtype=torch.long, device=self._device)
        return self._forward(token)

    def _forward(self, new_ids: torch.Tensor) -> torch.Tensor:
        from transformers import DynamicCache

        self._ids = new_ids if self._ids is None else torch.cat([self._ids, new_ids], dim=1)
        with torch.inference_mode():
            if not self.cache:  # the whole text again, no cache kept
                out = self.model(input_ids=self._ids, use_cache=False)
            else:
                past = self._past if self._past is not None else DynamicCache()
                kwargs = {self._cache_arg: past}
                out = self.model(input_ids=new_ids, use_cache=True, **kwargs)
                cache = getattr(out, "cache", None)
                self._past = cache if cache is not None else out.past_key_values
        return out.logits[0, -1].float().cpu()


@functools.singledispatch
def as_decoder(model) -> DecoderRuntime | None:
    """`model` as a DecoderRuntime, or None when it cannot generate token by token.

    An object with `reset`, `prefill` and `step` is one already; an nn.Module that is a
    Hugging Face model able to generate is wrapped in `TorchDecoder`. Other runtimes register
    their own wrapper: `@as_decoder.register(TheirType)`.
    """
    names = ("reset", "prefill", "step")
    return model if all(callable(getattr(model, n, None)) for n in names) else None


@as_decoder.register
def _(model: nn.Module) -> DecoderRuntime | None:
    can_generate = getattr(model, "can_generate", None)
    try:
        able = bool(can_generate()) if callable(can_generate) else False
    except Exception:  # a library's own check failing means: not a generator we know
        able = False
    return TorchDecoder(model) if able else None


def measure_generation(
    decoder: DecoderRuntime,
    prompt_ids: torch.Tensor,
    *,
    new_tokens: int = 32,
    runs: int = 5,
    warmup: int = 1,
    threads: int | None = None,
    fresh: Callable[[], DecoderRuntime] | None = None,
) -> GenerationPoint:
    """Time greedy generation of `new_tokens` after a [1, P] prompt (see the module docstring).

    Args:
        decoder: the model as a DecoderRuntime (`as_decoder(model)`).
        prompt_ids: int64 [1, P] token ids.
        new_tokens: decode steps per generation (the first token comes from the prefill).
        runs, warmup: timed and untimed generations.
        threads: torch intra-op threads while timing (a decoder of another runtime sets its
            own; the record states the figure either way); the current setting when None.
        fresh: builds a fresh copy of the decoder; when given, peak memory is measured in a
            forked child that builds it and generates once (see `weightlight.measure.memory`).
    """
    _check_prompt(prompt_ids)
    if new_tokens < 1 or runs < 1 or warmup < 0:
        raise UserError(
            f"new_tokens={new_tokens}, runs={runs}, warmup={warmup}",
            "use new_tokens >= 1, runs >= 1 and warmup >= 0",
        )
    previous = torch.get_num_threads()
    threads = threads or previous
    torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            generate(decoder, prompt_ids, new_tokens)
        timings = [generate(decoder, prompt_ids, new_tokens) for _ in range(runs)]
    finally:
        torch.set_num_threads(previous)
    peak, peak_method = None, "not measured (no fresh decoder to build)"
    if fresh is not None:
        from weightlight.measure.memory import forked_peak

        peak, peak_method = forked_peak(lambda: generate(fresh(), prompt_ids, new_tokens), batch=1)
    return generation_point(
        timings, prompt_tokens=int(prompt_ids.shape[1]), new_tokens=new_tokens, warmup=warmup,
        threads=threads, peak_memory_bytes=peak,
        peak_memory_method=peak_method.replace("one batch-1 forward", "one generation"),
    )  # fmt: skip


def generation_point(timings: list[Timing], **fields) -> GenerationPoint:
    """The record of `timings` (one per timed generation): medians and p90s over them."""
    prefill = [t.prefill_ms for t in timings]
    per_token = [statistics.fmean(t.step_ms) for t in timings]
    p50 = statistics.median(per_token)
    return GenerationPoint(
        prefill_ms_p50=statistics.median(prefill),
        prefill_ms_p90=_percentile(prefill, 90),
        decode_ms_per_token_p50=p50,
        decode_ms_per_token_p90=_percentile(per_token, 90),
        decode_tokens_per_s=1000.0 / p50 if p50 > 0 else float("inf"),
        runs=len(timings),
        **fields,
    )


class Timing:
    """One generation's prefill time and every decode step's time, in ms."""

    def __init__(self, prefill_ms: float, step_ms: list[float], tokens: list[int]) -> None:
        self.prefill_ms, self.step_ms, self.tokens = prefill_ms, step_ms, tokens


def generate(decoder: DecoderRuntime, prompt_ids: torch.Tensor, new_tokens: int) -> Timing:
    """Greedy generation of `new_tokens` after the prompt, each call timed."""
    decoder.reset()
    start = time.perf_counter()
    logits = decoder.prefill(prompt_ids)
    prefill_ms = (time.perf_counter() - start) * 1000.0
    tokens = [int(torch.argmax(logits))]
    steps = []
    for _ in range(new_tokens):
        start = time.perf_counter()
        logits = decoder.step(tokens[-1])
        steps.append((time.perf_counter() - start) * 1000.0)
        tokens.append(int(torch.argmax(logits)))
    return Timing(prefill_ms, steps, tokens)


INTERLEAVED_METHOD = (
    "interleaved: all {n} decoders of the run re-timed in the same process after the last "
    "was made, {rounds} rounds in rotating order; batch 1, {prompt}-token prompt, {new} new "
    "tokens (greedy, end-of-text ignored), key/value cache on; {warmup} warm-up "
    "generation(s) in the first round, {per_round} timed per round; prefill = time to first "
    "token; decode = mean time of one step per generation; median and p90 over all rounds; "
    "{threads} intra-op threads"
)


def interleaved_generation(
    decoders: dict[str, DecoderRuntime],
    prompt_ids: torch.Tensor,
    *,
    new_tokens: int = 32,
    runs: int = 5,
    warmup: int = 1,
    rounds: int = 5,
    threads: int | None = None,
) -> dict[str, GenerationPoint]:
    """Time several decoders under the same conditions, so their tokens/s compare alike.

    Timed one by one as each variant is made, a slow spell on a shared machine lands on
    whichever variant was being timed then (and can crown a slower decoder "best"). Here every
    decoder generates in every round, in a rotating order, and its figures pool all rounds,
    as `weightlight.measure.latency.interleaved_latency` does for forward passes. Peak memory
    is not measured here (the records carry None).

    Args:
        decoders: name -> DecoderRuntime (`as_decoder(model)`).
        prompt_ids: int64 [1, P], the same prompt for all.
        new_tokens: decode steps per generation.
        runs: timed generations per decoder in all, spread over the rounds (at least one per
            round).
        warmup: untimed generations per decoder, in the first round.
        rounds: how many times each decoder takes its turn.
        threads: torch intra-op threads meanwhile (other runtimes set their own).
    """
    _check_prompt(prompt_ids)
    per_round = max(1, -(-runs // rounds))
    names = list(decoders)
    timings: dict[str, list[Timing]] = {n: [] for n in names}
    previous = torch.get_num_threads()
    threads = threads or previous
    torch.set_num_threads(threads)
    try:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)] if names else []:
                # warm-up in the first round only: a generation of a slow variant (emulated
                # bf16) takes seconds, and its own first steps warm what the others cooled
                for _ in range(warmup if r == 0 else 0):
                    generate(decoders[name], prompt_ids, new_tokens)
                timings[name] += [
                    generate(decoders[name], prompt_ids, new_tokens) for _ in range(per_round)
                ]
    finally:
        torch.set_num_threads(previous)
    return {
        n: generation_point(
            timings[n],
            prompt_tokens=int(prompt_ids.shape[1]),
            new_tokens=new_tokens,
            warmup=warmup,
            threads=threads,
        )  # fmt: skip
        for n in names
    }


def prompt_from(loader, length: int) -> torch.Tensor:
    """A [1, length] prompt: the first non-padding tokens of `loader`'s batches, in order
    (repeated when the loader holds fewer), so every variant is timed on the same text."""
    ids: list[int] = []
    for _ in range(2):
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not isinstance(inputs, dict) or "input_ids" not in inputs:
                raise UserError(
                    "a language model's batches need an input_ids entry",
                    "yield dict batches {'input_ids': ..., 'attention_mask': ...}",
                )
            mask = inputs.get("attention_mask")
            for row, seq in enumerate(inputs["input_ids"]):
                keep = seq if mask is None else seq[mask[row].bool()]
                ids += keep.tolist()
                if len(ids) >= length:
                    return torch.tensor([ids[:length]], dtype=torch.long)
        if not ids:
            break
    if not ids:
        raise UserError("the data holds no tokens to prompt with", "give non-empty text")
    while len(ids) < length:
        ids += ids
    return torch.tensor([ids[:length]], dtype=torch.long)


def measure_model_generation(
    model, loader, options: GenerationOptions, threads: int
) -> GenerationPoint | None:
    """Generation figures of `model` on a prompt from `loader`; None when it cannot generate
    token by token (e.g. a plain ONNX graph without a cache)."""
    decoder = as_decoder(model)
    if decoder is None:
        return None
    fresh = None  # builds the decoder anew in the child that measures peak memory
    if isinstance(model, nn.Module):
        fresh = lambda: TorchDecoder(copy.deepcopy(model))  # noqa: E731
    elif decoder is not model:  # a registered wrapper (an ORT decoder) opens a new session
        fresh = lambda: as_decoder(model)  # noqa: E731
    return measure_generation(
        decoder, prompt_from(loader, options.prompt_tokens), new_tokens=options.new_tokens,
        runs=options.runs, warmup=options.warmup, threads=threads, fresh=fresh,
    )  # fmt: skip


def _check_prompt(input_ids: torch.Tensor) -> None:
    if not (
        isinstance(input_ids, torch.Tensor)
        and input_ids.dim() == 2
        and input_ids.shape[0] == 1
        and input_ids.shape[1] >= 1
        and not input_ids.is_floating_point()
    ):
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else input_ids
        raise UserError(
            f"a prompt is int64 token ids of shape [1, P], got {shape}",
            "pass tokenizer(text, return_tensors='pt').input_ids",
        )
