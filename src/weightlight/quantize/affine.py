"""Affine (uniform) quantization maths: scale, zero point, quantize, dequantize, error.

An integer grid of `bits` bits, `q in [qmin, qmax]`, stands for the real values
`x = scale * (q - zero_point)`. Given a real range `[lo, hi]` (first widened to contain 0, so
that 0 is exactly representable: zero padding and ReLU outputs stay exact):

Asymmetric (affine)::

    scale      = (hi - lo) / (qmax - qmin)
    zero_point = clamp(qmin - round(lo / scale), qmin, qmax)

Symmetric (zero_point fixed at the grid's middle; 0 for signed grids)::

    scale      = max(|lo|, |hi|) / ((qmax - qmin) / 2)
    zero_point = 0                          (signed)
    zero_point = (qmin + qmax + 1) // 2     (unsigned, e.g. 128 for uint8)

Then::

    quantize(x)   = clamp(round(x / scale) + zero_point, qmin, qmax)
    dequantize(q) = scale * (q - zero_point)

Guarantees (the hardening issue fuzzes them): for `x` inside `[lo, hi]` the round trip error
`|dequantize(quantize(x)) - x| <= scale / 2`; `zero_point` lies in `[qmin, qmax]`; any value
already on the grid round-trips exactly. Values outside the range are clamped (clipping
error), which is the trade-off the calibration methods in `calibration.py` tune.

These are the same formulas torch.ao observers use, written out so they can be read, tested
and reused (weight-only quantization and the calibration MSE search use them directly).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# Smallest scale: keeps an all-zero tensor from dividing by zero (torch.ao uses the same eps).
_EPS = torch.finfo(torch.float32).eps


class QParams(NamedTuple):
    """Scale and zero point (tensors: one element per tensor, or one per channel)."""

    scale: torch.Tensor
    zero_point: torch.Tensor


class QuantError(NamedTuple):
    """How much quantization changed a tensor."""

    max_abs: float  # largest |x - x_hat|
    mse: float  # mean squared error
    sqnr_db: float  # signal-to-quantization-noise ratio, 10 log10(sum x^2 / sum (x - x_hat)^2)


def qrange(bits: int = 8, signed: bool = True) -> tuple[int, int]:
    """The integer grid `(qmin, qmax)` of a `bits`-bit type.

    Example:
        >>> qrange(8, signed=True), qrange(8, signed=False), qrange(4)
        ((-128, 127), (0, 255), (-8, 7))
    """
    if not 1 < bits <= 16:
        raise ValueError(f"bits must be in 2..16, got {bits}")
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def qparams_from_range(
    lo: torch.Tensor | float,
    hi: torch.Tensor | float,
    bits: int = 8,
    *,
    symmetric: bool = False,
    signed: bool = True,
) -> QParams:
    """Scale and zero point that map the real range `[lo, hi]` onto the `bits`-bit grid.

    `lo`/`hi` may be tensors (one entry per channel). The range is widened to contain 0.

    Example:
        >>> s, z = qparams_from_range(-1.0, 3.0, 8, signed=False)
        >>> round(float(s), 6), int(z)
        (0.015686, 64)
    """
    qmin, qmax = qrange(bits, signed)
    lo = torch.clamp(torch.as_tensor(lo, dtype=torch.float64), max=0.0)
    hi = torch.clamp(torch.as_tensor(hi, dtype=torch.float64), min=0.0)
    if symmetric:
        amax = torch.maximum(-lo, hi)
        scale = torch.clamp(amax / ((qmax - qmin) / 2), min=_EPS)
        middle = 0 if signed else (qmin + qmax + 1) // 2
        zero_point = torch.full_like(scale, middle, dtype=torch.int64)
    else:
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=_EPS)
        zero_point = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int64)
    return QParams(_round_up_to_float32(scale), zero_point)


def scale_zero_point(
    x: torch.Tensor,
    bits: int = 8,
    *,
    symmetric: bool = False,
    signed: bool = True,
    axis: int | None = None,
) -> QParams:
    """Scale and zero point from the min/max of `x`, per tensor or per channel along `axis`.

    Example:
        >>> w = torch.tensor([[-1.0, 0.5], [0.0, 2.0]])
        >>> scale_zero_point(w, 8, symmetric=True, axis=0).scale
        tensor([0.0078, 0.0157])
    """
    if axis is None:
        lo, hi = x.min(), x.max()
    else:
        flat = x.detach().movedim(axis, 0).reshape(x.shape[axis], -1)
        lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    return qparams_from_range(lo, hi, bits, symmetric=symmetric, signed=signed)


def quantize(
    x: torch.Tensor,
    qparams: QParams,
    bits: int = 8,
    *,
    signed: bool = True,
    axis: int | None = None,
) -> torch.Tensor:
    """`clamp(round(x / scale) + zero_point, qmin, qmax)` as an integer tensor (int32).

    Example:
        >>> qp = qparams_from_range(-1.0, 1.0, 8, symmetric=True)
        >>> quantize(torch.tensor([-1.0, 0.0, 0.5, 9.0]), qp)
        tensor([-127,    0,   64,  127], dtype=torch.int32)
    """
    qmin, qmax = qrange(bits, signed)
    scale, zero_point = _broadcast(qparams, x.dim(), axis)
    # float64 so that round(x / scale) is exact for every float32 x and scale (no double
    # rounding), which is what makes the scale/2 bound hold to the last bit.
    q = torch.round(x.detach().double() / scale.double()) + zero_point
    return torch.clamp(q, qmin, qmax).to(torch.int32)


def dequantize(q: torch.Tensor, qparams: QParams, *, axis: int | None = None) -> torch.Tensor:
    """`scale * (q - zero_point)` as float32.

    Example:
        >>> qp = qparams_from_range(-1.0, 1.0, 8, symmetric=True)
        >>> dequantize(torch.tensor([-127, 0, 64]), qp)
        tensor([-0.9961,  0.0000,  0.5020])
    """
    scale, zero_point = _broadcast(qparams, q.dim(), axis)
    return ((q.double() - zero_point) * scale.double()).to(torch.float32)


def fake_quantize(
    x: torch.Tensor,
    qparams: QParams,
    bits: int = 8,
    *,
    signed: bool = True,
    axis: int | None = None,
) -> torch.Tensor:
    """`dequantize(quantize(x))`: the values a quantized model actually computes with."""
    q = quantize(x, qparams, bits, signed=signed, axis=axis)
    return dequantize(q, qparams, axis=axis)


def quant_error(
    x: torch.Tensor,
    bits: int = 8,
    *,
    symmetric: bool = False,
    signed: bool = True,
    axis: int | None = None,
    qparams: QParams | None = None,
) -> QuantError:
    """Error introduced by quantizing `x` (min/max qparams unless `qparams` is given).

    Example:
        >>> e = quant_error(torch.linspace(-1, 1, 1001), 8, symmetric=True)
        >>> e.max_abs <= (1 / 127.5) / 2 + 1e-7, round(e.sqnr_db)
        (True, 48)
    """
    qp = qparams or scale_zero_point(x, bits, symmetric=symmetric, signed=signed, axis=axis)
    diff = x.detach().double() - fake_quantize(x, qp, bits, signed=signed, axis=axis).double()
    signal = float(x.detach().double().pow(2).sum())
    noise = float(diff.pow(2).sum())
    sqnr = float("inf") if noise == 0 else 10 * torch.log10(torch.tensor(signal / noise)).item()
    return QuantError(float(diff.abs().max()), float(diff.pow(2).mean()), sqnr)


def _round_up_to_float32(scale: torch.Tensor) -> torch.Tensor:
    """float32 scale never smaller than the exact one, so the grid still spans [lo, hi]."""
    s32 = scale.to(torch.float32)
    up = torch.nextafter(s32, torch.full_like(s32, float("inf")))
    return torch.where(s32.double() < scale, up, s32)


def _broadcast(qparams: QParams, ndim: int, axis: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape per-channel scale/zero point so they broadcast along `axis` of an ndim tensor."""
    scale = torch.as_tensor(qparams.scale)
    zero_point = torch.as_tensor(qparams.zero_point)
    if axis is None or scale.numel() == 1:
        return scale.reshape(()), zero_point.reshape(())
    shape = [1] * ndim
    shape[axis] = -1
    return scale.reshape(shape), zero_point.reshape(shape)
