"""Calibration range methods: different, sensible ranges on a tensor with outliers, and the
chosen one is what sets a static int8 model's activation scales."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import weightlight as wl
from weightlight.quantize import StaticInt8, affine
from weightlight.quantize.calibration import RANGE_METHODS
from weightlight.quantize.observer import RangeObserver


@pytest.fixture(scope="module")
def outliers() -> torch.Tensor:
    """200k standard normal values plus two outliers, 40 and -30 standard deviations out."""
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.randn(200_000, generator=g), torch.tensor([40.0, -30.0])])


def test_each_method_gives_a_different_sensible_range(outliers):
    ranges = {name: fn(outliers, 8) for name, fn in RANGE_METHODS.items()}
    assert ranges["minmax"] == (-30.0, 40.0)
    # percentile 99.99 of N(0,1) is 3.72: the outliers are clipped away
    assert ranges["percentile"][1] == pytest.approx(3.72, abs=0.15)
    for name, (lo, hi) in ranges.items():
        # every range keeps the bulk of the data (|x| < 2.5 is 98.8 %) and stays inside min/max
        assert -30.0 <= lo < -2.5 and 2.5 < hi <= 40.0, (name, lo, hi)
    for (a, ra), (b, rb) in itertools.combinations(ranges.items(), 2):
        assert abs(ra[1] - rb[1]) > 0.05 * max(ra[1], rb[1]), (a, b, ra, rb)
    # The trade-off each makes: mse has the least total error; percentile and entropy give
    # up the outliers for a finer grid, so the bulk (|x| < 3) is quantized far better.
    bulk = outliers[outliers.abs() < 3]

    def mse_of(x, lo, hi):
        qp = affine.qparams_from_range(lo, hi, 8)
        return float((affine.fake_quantize(x, qp) - x).pow(2).mean())

    assert mse_of(outliers, *ranges["mse"]) < mse_of(outliers, *ranges["minmax"])
    for name in ("percentile", "entropy"):
        assert mse_of(bulk, *ranges[name]) < mse_of(bulk, *ranges["minmax"]) / 20, name


def test_mse_minimises_the_error_it_measures(outliers):
    lo, hi = RANGE_METHODS["mse"](outliers, 8)
    best = affine.quant_error(outliers, qparams=affine.qparams_from_range(lo, hi, 8)).mse
    for alpha in (0.05, 0.1, 0.5, 1.0):
        qp = affine.qparams_from_range(-30.0 * alpha, 40.0 * alpha, 8)
        assert best <= affine.quant_error(outliers, qparams=qp).mse * 1.02


@pytest.mark.parametrize("method", sorted(RANGE_METHODS))
def test_observer_uses_the_method_and_the_affine_maths(method, outliers):
    obs = RangeObserver(method=method)
    for chunk in outliers.relu().split(50_000):
        obs(chunk)
    scale, zero_point = obs.calculate_qparams()
    lo, hi = RANGE_METHODS[method](outliers.relu(), 8)
    expected = affine.qparams_from_range(lo, hi, 8, signed=False)
    assert int(zero_point) == 0  # non-negative activations: the grid starts at 0
    if method == "minmax":
        assert float(scale) == pytest.approx(float(expected.scale))
    else:  # sub-sampled values: within 15 % of the full-tensor range
        assert float(scale) == pytest.approx(float(expected.scale), rel=0.15)


@pytest.fixture(scope="module")
def heavy_tailed() -> tuple[nn.Module, wl.data.Data, torch.Tensor]:
    """A Linear-ReLU-Linear model and Student-t inputs (3 degrees of freedom: Z / sqrt(V / 3)
    with V a sum of three squared normals): a bulk within +-3 and a few values past 20."""
    g = torch.Generator().manual_seed(0)
    chi2 = torch.randn(3, 512, 64, generator=g).pow(2).sum(0)
    x = torch.randn(512, 64, generator=g) / (chi2 / 3).sqrt()
    y = torch.arange(512) % 4
    data = wl.data.from_tensors(x, y, x[:64], y[:64], batch_size=64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 4)).eval()
    calib = torch.cat([batch for batch, _ in data.calib])
    return model, data, calib


def test_static_int8_input_scale_is_the_chosen_methods_range(heavy_tailed):
    # The model's first quantizer sees the calibration inputs themselves (4 batches of 4,096
    # values: no sub-sampling), so its scale must be exactly the chosen method's range on
    # them. Measured input scales: minmax
    # 0.24, mse 0.23 (8 bits leave rounding error small enough that clipping a t(3) tail
    # costs more), percentile 0.20, entropy 0.16.
    model, data, calib = heavy_tailed
    scales = {}
    for method, range_of in RANGE_METHODS.items():
        # reduce_range off: the same 8-bit grid on every CPU, so the expected scale is exact.
        q = wl.quantize(model, StaticInt8(calibration=method, reduce_range=False), data)
        scales[method] = float(getattr(q, "0_input_scale_0"))
        lo, hi = range_of(calib.flatten(), 8)
        expected = float(affine.qparams_from_range(lo, hi, 8, signed=False).scale)
        assert scales[method] == pytest.approx(expected, rel=1e-3), (method, scales)
    # The tail-clipping methods give a finer grid than the full range.
    assert scales["percentile"] <= 0.9 * scales["minmax"], scales
    assert scales["entropy"] <= 0.75 * scales["minmax"], scales
    assert scales["mse"] <= scales["minmax"] * 1.0001, scales
