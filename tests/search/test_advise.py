"""The advisor: exact per-layer costs, measured sensitivity, ranked advice quoting figures."""

from __future__ import annotations

import torch

import weightlight as wl
from weightlight.hardware import parse_cpuinfo
from weightlight.search.advise import LayerCost, layer_costs, recommend
from weightlight.search.probe import SpeedProbe, speed_probe


def _probe(int8: float, bf16: float, fp16: float = 0.3) -> SpeedProbe:
    return SpeedProbe(int8_gemm=int8, int8_conv=int8, int8_ort=int8, bf16=bf16, fp16=fp16,
                      seconds=1.0, threads=2)  # fmt: skip


def test_layer_costs_of_the_seed_cnn_are_exact():
    costs = {c.name: c for c in layer_costs(wl.models.mnist_cnn(), torch.zeros(1, 1, 28, 28))}
    assert costs["conv1"].macs == 32 * 26 * 26 * 9
    assert costs["conv2"].macs == 64 * 24 * 24 * 32 * 9
    assert (costs["fc1"].macs, costs["fc1"].params) == (9216 * 128, 9216 * 128 + 128)
    assert costs["fc1"].bytes == 4 * costs["fc1"].params


def test_advise_on_the_mlp_ranks_dynamic_int8_with_measured_reasons(trained_mlp, digits):
    advice = wl.search.advise(trained_mlp, digits)
    assert [c.name for c in advice.layers] == ["net.1", "net.3", "net.5"]
    assert advice.total_macs == 784 * 256 + 256 * 128 + 128 * 10
    cosines = [c for _, c in advice.quant_sensitivity]
    assert len(cosines) == 3 and cosines == sorted(cosines) and min(cosines) > 0.9
    names = [r.technique for r in advice.recommendations]
    assert "dynamic int8 (Linear)" in names and "ORT static int8" not in names  # no Conv layers
    dyn = next(r for r in advice.recommendations if r.technique == "dynamic int8 (Linear)")
    assert "100% of the MACs" in dyn.reason and advice.quant_sensitivity[0][0] in dyn.reason


def test_recommend_follows_the_cpu_flags():
    costs = [LayerCost("conv", "Conv2d", 10, 40, 900), LayerCost("fc", "Linear", 10, 40, 100)]
    fast = parse_cpuinfo("model name : X\nflags : avx512_vnni avx512_bf16\n")
    slow = parse_cpuinfo("model name : Y\nflags : sse4_2\n")
    fast_names = [r.technique for r in recommend(costs, fast, [], [], True, _probe(3.0, 2.0))]
    slow_recs = recommend(costs, slow, [], [], True, _probe(3.0, 2.0))
    assert fast_names[0] == "ORT static int8" and "bf16" in fast_names
    assert "bf16" not in [r.technique for r in slow_recs]  # not native: never suggested
    assert "lacks VNNI" in slow_recs[0].reason


def test_recommend_ranks_by_the_probed_speeds_and_quotes_them():
    costs = [LayerCost("conv", "Conv2d", 10, 40, 900), LayerCost("fc", "Linear", 10, 40, 100)]
    cpu = parse_cpuinfo("model name : X\nflags : avx512_vnni avx512_bf16\n")
    quick = {r.technique: r for r in recommend(costs, cpu, [], [], True, _probe(3.0, 2.0))}
    slow = {r.technique: r for r in recommend(costs, cpu, [], [], True, _probe(1.2, 0.8))}
    assert quick["ORT static int8"].score == 0.9 * 3.0 and "3.0x" in quick["ORT static int8"].reason
    assert slow["ORT static int8"].score == 0.9 * 1.2 and "1.2x" in slow["ORT static int8"].reason
    assert "bf16" in quick and "2.0x" in quick["bf16"].reason
    assert "bf16" not in slow  # native, but measured slower than fp32 on this CPU: not advised
    assert "0.30x" in quick["avoid fp16"].reason


def test_the_probe_times_every_kernel_once_per_process():
    probe = speed_probe()
    assert speed_probe() is probe  # cached: the advisor pays the seconds once
    ratios = [probe.int8_gemm, probe.int8_conv, probe.int8_ort, probe.bf16, probe.fp16]
    assert all(r is not None and r > 0 for r in ratios), probe  # values: the CPU decides
    assert "measured on this CPU" in probe.describe() and probe.seconds > 0
