"""Generation measured as LM users measure it: the key/value cache is really used, the protocol
lets any decoder runtime plug in, and the figures are what the record says they are."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.measure.generation import (
    DecoderRuntime,
    TorchDecoder,
    as_decoder,
    generate,
    interleaved_generation,
    measure_generation,
    prompt_from,
)
from weightlight.measure.record import Measurement

VOCAB = 96


def tiny_llama(seed: int = 0, positions: int = 2048):
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=positions,
    )  # fmt: skip
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config).eval()


def prompt(length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (1, length), generator=g)


def test_cached_decoding_gives_the_full_forward_logits():
    model = tiny_llama()
    ids = prompt(12)
    timing = generate(TorchDecoder(model), ids, new_tokens=6)
    text = torch.cat([ids, torch.tensor([timing.tokens[:-1]])], dim=1)
    with torch.inference_mode():
        full = model(input_ids=text).logits[0]
    # greedy from the full forward pass picks the same tokens the cached decoder picked
    assert full[ids.shape[1] - 1 :].argmax(-1).tolist() == timing.tokens
    decoder = TorchDecoder(model)
    first = decoder.prefill(ids)
    assert torch.allclose(first, full[ids.shape[1] - 1], atol=1e-4)
    nxt = decoder.step(timing.tokens[0])
    assert torch.allclose(nxt, full[ids.shape[1]], atol=1e-4)
    recomputed = generate(TorchDecoder(model, cache=False), ids, new_tokens=6)
    assert recomputed.tokens == timing.tokens


def _step_ms(decoder, context: int) -> float:
    point = measure_generation(decoder, prompt(context), new_tokens=12, runs=3, warmup=1,
                               threads=1)  # fmt: skip
    return point.decode_ms_per_token_p50


@pytest.mark.parametrize("cache", [True, False])
def test_decode_time_per_token_stays_flat_as_the_text_grows(cache):
    # The mechanism: with the key/value cache a step runs one token whatever came before; the
    # control (cache off: the whole text recomputed each step) must fail the same bound, which
    # shows the bound can tell the two apart.
    model = tiny_llama()
    decoder = TorchDecoder(model, cache=cache)
    short, long = _step_ms(decoder, 16), _step_ms(decoder, 1536)
    ratio = long / short
    if cache:
        assert ratio < 2.0, f"per-token decode {short:.2f} -> {long:.2f} ms as the text grew"
    else:
        assert ratio > 3.0, f"recomputing the prefix should grow: {short:.2f} -> {long:.2f} ms"


class SleepyDecoder:
    """A decoder runtime of another kind: 20 ms to prefill, 4 ms a step, its own counter."""

    runtime = "sleepy"

    def __init__(self) -> None:
        self.length = 0

    def reset(self) -> None:
        self.length = 0

    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        time.sleep(0.020)
        self.length = input_ids.shape[1]
        return torch.nn.functional.one_hot(torch.tensor(self.length % 7), 7).float()

    def step(self, token_id: int) -> torch.Tensor:
        time.sleep(0.004)
        self.length += 1
        return torch.nn.functional.one_hot(torch.tensor(self.length % 7), 7).float()


def test_any_object_with_the_protocol_is_measured_the_same_way():
    sleepy = SleepyDecoder()
    assert isinstance(sleepy, DecoderRuntime) and as_decoder(sleepy) is sleepy
    point = measure_generation(sleepy, prompt(10), new_tokens=8, runs=3, warmup=0)
    assert point.prompt_tokens == 10 and point.new_tokens == 8 and point.batch_size == 1
    assert 20.0 <= point.prefill_ms_p50 < 200.0
    assert 4.0 <= point.decode_ms_per_token_p50 <= point.decode_ms_per_token_p90 < 60.0
    assert 16 < point.decode_tokens_per_s <= 250.0
    assert point.peak_memory_bytes is None  # no fresh copy to build: not measured, said so
    assert sleepy.length == 18  # prompt + 8 steps: exactly new_tokens, no early stop


class CountingDecoder(SleepyDecoder):
    """A SleepyDecoder that logs its generations into a shared list (the turn order)."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        return super().prefill(input_ids)


def test_interleaved_generation_takes_turns_and_pools_the_rounds():
    log: list[str] = []
    decoders = {n: CountingDecoder(n, log) for n in ("a", "b", "c")}
    points = interleaved_generation(decoders, prompt(6), new_tokens=3, runs=5, warmup=1,
                                    rounds=5, threads=1)  # fmt: skip
    # warm-up in the first round only, then one timed generation per round, rotating order
    assert log == ["a", "a", "b", "b", "c", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c",
                   "b", "c", "a"]  # fmt: skip
    for point in points.values():
        assert (point.runs, point.warmup, point.threads, point.new_tokens) == (5, 1, 1, 3)
        assert 4.0 <= point.decode_ms_per_token_p50 < 60.0 and point.peak_memory_bytes is None


def test_as_decoder_wraps_generators_only():
    assert isinstance(as_decoder(tiny_llama()), TorchDecoder)
    assert as_decoder(nn.Linear(3, 3)) is None
    assert as_decoder("model.onnx") is None


def test_bad_prompts_and_order_are_user_errors():
    decoder = TorchDecoder(tiny_llama())
    with pytest.raises(UserError, match=r"\[1, P\]"):
        decoder.prefill(prompt(4).float())
    with pytest.raises(UserError, match=r"\[1, P\]"):
        measure_generation(decoder, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(UserError, match="before prefill"):
        TorchDecoder(tiny_llama()).step(3)


def test_prompt_from_skips_padding_and_repeats_short_text():
    batch = {"input_ids": torch.tensor([[5, 6, 0], [7, 0, 0]]),
             "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])}  # fmt: skip
    assert prompt_from([batch], 7).tolist() == [[5, 6, 7, 5, 6, 7, 5]]
    assert prompt_from([batch], 2).tolist() == [[5, 6]]


def test_measurements_without_generation_still_load():
    old = ('{"name":"x","runtime":"torch","params":1,"nonzero_params":1,"size_bytes":1,'
           '"size_zipped_bytes":1,"artifact_format":"safetensors","macs":null,"threads":1,'
           '"latency":[],"metric_name":"accuracy","metric":1.0,"peak_memory_bytes":null,'
           '"methods":{}}')  # fmt: skip
    assert Measurement.from_json(old).generation is None
