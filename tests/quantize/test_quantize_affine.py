"""Affine maths: the formulas, and the properties the hardening issue will fuzz."""

from __future__ import annotations

import pytest
import torch

from weightlight.quantize import affine

CASES = [(8, False, True), (8, True, True), (8, False, False), (4, True, True), (2, False, True)]


@pytest.mark.parametrize(("bits", "symmetric", "signed"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_error_is_at_most_half_a_step(bits, symmetric, signed, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 1000, generator=g) * (seed + 1) + seed
    qp = affine.scale_zero_point(x, bits, symmetric=symmetric, signed=signed, axis=0)
    qmin, qmax = affine.qrange(bits, signed)
    assert int(qp.zero_point.min()) >= qmin and int(qp.zero_point.max()) <= qmax
    q = affine.quantize(x, qp, bits, signed=signed, axis=0)
    assert int(q.min()) >= qmin and int(q.max()) <= qmax
    err = (affine.dequantize(q, qp, axis=0) - x).abs()
    bound = qp.scale.reshape(4, 1) / 2 * (1 + 1e-5)
    assert bool((err <= bound).all()), float((err - bound).max())


@pytest.mark.parametrize(("bits", "symmetric", "signed"), CASES)
def test_values_on_the_grid_round_trip_exactly(bits, symmetric, signed):
    qp = affine.qparams_from_range(-0.7, 2.3, bits, symmetric=symmetric, signed=signed)
    qmin, qmax = affine.qrange(bits, signed)
    grid = torch.arange(qmin, qmax + 1)
    values = affine.dequantize(grid, qp)
    assert torch.equal(affine.quantize(values, qp, bits, signed=signed), grid.to(torch.int32))


def test_formulas_match_the_docstring():
    # asymmetric uint8 over [-1, 3]: scale = 4 / 255, zero_point = 0 - round(-1 / scale) = 64
    qp = affine.qparams_from_range(-1.0, 3.0, 8, signed=False)
    assert float(qp.scale) == pytest.approx(4 / 255)
    assert int(qp.zero_point) == 64
    # symmetric int8 over [-2, 1]: scale = 2 / 127.5, zero point 0
    qp = affine.qparams_from_range(-2.0, 1.0, 8, symmetric=True)
    assert float(qp.scale) == pytest.approx(2 / 127.5)
    assert int(qp.zero_point) == 0
    # a range that excludes 0 is widened to contain it, so 0 is exact
    qp = affine.qparams_from_range(1.0, 2.0, 8, signed=False)
    assert int(qp.zero_point) == 0
    assert float(affine.fake_quantize(torch.tensor(0.0), qp, 8, signed=False)) == 0.0


def test_out_of_range_values_are_clamped_and_all_zero_tensor_is_safe():
    qp = affine.qparams_from_range(-1.0, 1.0, 8, symmetric=True)
    assert affine.quantize(torch.tensor([100.0, -100.0]), qp).tolist() == [127, -128]
    zero = affine.scale_zero_point(torch.zeros(10))
    assert float(zero.scale) > 0
    assert affine.quant_error(torch.zeros(10)).max_abs == 0.0


def test_quant_error_falls_as_bits_grow():
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    sqnr = [affine.quant_error(x, bits).sqnr_db for bits in (2, 4, 8)]
    # about 6 dB per bit: 8-bit is > 20 dB better than 4-bit
    assert sqnr[0] < sqnr[1] < sqnr[2]
    assert sqnr[2] - sqnr[1] > 20
