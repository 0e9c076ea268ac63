"""Interleaved timing: every model is timed in every round, so a slow spell hits all alike."""

from __future__ import annotations

import pytest
import torch

from weightlight.measure.latency import interleaved_latency


def test_every_model_is_timed_in_every_round_in_rotating_order():
    calls: list[str] = []

    def runner(name):
        return lambda batch: calls.append(name)

    points = interleaved_latency(
        {n: runner(n) for n in "abc"}, lambda bs: torch.zeros(bs), (1, 4),
        warmup=1, runs_per_variant=6, rounds=3,
    )  # fmt: skip
    # Per round, each model: (1 warm-up + 2 timed) x 2 batch sizes = 6 calls, in blocks.
    blocks = [calls[i] for i in range(0, len(calls), 6)]
    assert blocks == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert all(len(calls[i : i + 6]) == 6 and set(calls[i : i + 6]) == {calls[i]}
               for i in range(0, len(calls), 6))  # fmt: skip
    assert {p.runs for ps in points.values() for p in ps} == {6}
    assert [p.batch_size for p in points["a"]] == [1, 4]


class _FakeClock:
    """perf_counter for the timer: each model call advances it, by 10 ms during a slow spell."""

    def __init__(self, slow_calls: int) -> None:
        self.now, self.calls, self.slow_calls = 0.0, 0, slow_calls

    def perf_counter(self) -> float:
        return self.now

    def call(self, _batch) -> None:
        self.calls += 1
        self.now += 0.010 if self.calls <= self.slow_calls else 0.001


def test_a_slow_spell_is_shared_rather_than_charged_to_one_model(monkeypatch):
    import weightlight.measure.latency as latency

    # The machine is slow for the first 8 calls. Timed one after the other, "a" would take
    # all of them (median 10 ms) and its twin "b" none (1 ms): a 10x "difference" between
    # identical models. Interleaved, each gets 4 of its 10 calls slow: identical medians.
    clock = _FakeClock(slow_calls=8)
    monkeypatch.setattr(latency, "time", clock)
    points = interleaved_latency({"a": clock.call, "b": clock.call}, lambda bs: None, (1,),
                                 warmup=0, runs_per_variant=10, rounds=5)  # fmt: skip
    a, b = points["a"][0], points["b"][0]
    assert a.p50_ms == pytest.approx(1.0) and b.p50_ms == pytest.approx(1.0)
    assert a.p90_ms == pytest.approx(10.0) and b.p90_ms == pytest.approx(10.0)
