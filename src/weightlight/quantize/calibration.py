"""Calibration range methods: from observed activations to the range `[lo, hi]` to quantize.

Each method is a pure function `method(x, bits) -> (lo, hi)` over a 1-D tensor of observed
values. They differ in how they treat outliers, the trade-off between clipping error (values
outside the range are clamped) and rounding error (a wider range means a coarser grid):

- `minmax`: the full observed range; no clipping, so one outlier coarsens the whole grid.
- `percentile`: the p-th / (100-p)-th percentiles; clips a fixed fraction of the tails.
- `entropy`: the clipping threshold whose quantized histogram is closest to the original
  in KL divergence (TensorRT's calibration, Migacz 2017, "8-bit Inference with TensorRT").
- `mse`: the clipping threshold that minimises the mean squared quantization error of the
  observed values (grid search, as in NVIDIA pytorch-quantization and INC).

`RangeObserver` (in `observer.py`) records activations during calibration and calls these.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from weightlight.quantize import affine

RangeMethod = Callable[[torch.Tensor, int], tuple[float, float]]


def minmax(x: torch.Tensor, bits: int = 8) -> tuple[float, float]:
    """The observed minimum and maximum.

    Example:
        >>> minmax(torch.tensor([-1.0, 0.5, 4.0]))
        (-1.0, 4.0)
    """
    return float(x.min()), float(x.max())


def percentile(x: torch.Tensor, bits: int = 8, pct: float = 99.99) -> tuple[float, float]:
    """The `100 - pct` and `pct` percentiles (both tails clipped by the same fraction).

    Example:
        >>> lo, hi = percentile(torch.arange(10001.0), pct=99.0)
        >>> lo, hi
        (100.0, 9900.0)
    """
    x = x.flatten().double()
    q = torch.tensor([(100 - pct) / 100, pct / 100], dtype=torch.float64)
    lo, hi = torch.quantile(x, q).tolist()
    return lo, hi


def entropy(x: torch.Tensor, bits: int = 8, num_bins: int = 2048) -> tuple[float, float]:
    """The threshold `t` minimising KL(P || Q) of the |x| histogram clipped at `t` (P) and
    that histogram merged into 2**(bits-1) quantization levels (Q); the range is `[-t, t]`
    intersected with the observed range.

    Following TensorRT: for each candidate bin `i`, P is the first `i` bins with the tail
    mass added to bin `i-1`; Q spreads each level's mass evenly over its non-empty bins.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.cat([torch.randn(100_000, generator=g), torch.tensor([40.0])])
        >>> lo, hi = entropy(x)
        >>> 2.0 < hi < 10.0
        True
    """
    x = x.flatten().double()
    amax = float(x.abs().max())
    if amax == 0.0:
        return 0.0, 0.0
    # Exact zeros (ReLU outputs, padding) are represented exactly whatever the threshold;
    # left in, their spike in the first bin dominates the KL and over-clips the rest.
    nonzero = x[x != 0]
    hist = torch.histc(nonzero.abs(), bins=num_bins, min=0.0, max=amax)
    # |x| of signed data uses half the grid; non-negative data (after ReLU) all of it.
    levels = 2 ** (bits - 1) if float(x.min()) < 0 else 2**bits
    best_kl, best_i = float("inf"), num_bins
    # Every 8th candidate: the KL curve is smooth, and this keeps a 2048-bin search ~0.1 s.
    for i in range(levels, num_bins + 1, 8):
        p = hist[:i].clone()
        p[-1] += hist[i:].sum()
        q = _merge_and_expand(hist[:i], levels)
        kl = _kl(p, q)
        if kl < best_kl:
            best_kl, best_i = kl, i
    t = (best_i + 0.5) * amax / num_bins
    return max(float(x.min()), -t), min(float(x.max()), t)


def mse(
    x: torch.Tensor, bits: int = 8, steps: int = 100, num_bins: int = 2048
) -> tuple[float, float]:
    """The range `alpha * [min, max]` (alpha in (0, 1]) with the least quantization MSE.

    The error of each candidate is computed on a histogram of `x` (bin centres weighted by
    counts, so the search costs the same for 1e3 or 1e7 values) with the affine maths of
    `affine.py`: exactly the rounding and clamping the quantized model will do.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.cat([torch.randn(100_000, generator=g), torch.tensor([40.0])])
        >>> lo, hi = mse(x)
        >>> 2.0 < hi < 40.0
        True
    """
    x = x.flatten().double()
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return lo, hi
    counts = torch.histc(x, bins=num_bins, min=lo, max=hi)
    width = (hi - lo) / num_bins
    centres = (lo + width * (torch.arange(num_bins, dtype=torch.float64) + 0.5)).float()
    signed = lo < 0
    best, best_alpha = float("inf"), 1.0
    for k in range(1, steps + 1):
        alpha = k / steps
        qp = affine.qparams_from_range(lo * alpha, hi * alpha, bits, signed=signed)
        err = affine.fake_quantize(centres, qp, bits, signed=signed) - centres
        value = float((err.double().pow(2) * counts).sum())
        if value < best:
            best, best_alpha = value, alpha
    return lo * best_alpha, hi * best_alpha


RANGE_METHODS: dict[str, RangeMethod] = {
    "minmax": minmax,
    "percentile": percentile,
    "entropy": entropy,
    "mse": mse,
}


def _merge_and_expand(p: torch.Tensor, levels: int) -> torch.Tensor:
    """Merge `len(p)` bins into `levels` groups, then spread each group's mass evenly over
    its non-empty bins (empty bins stay empty, as in TensorRT)."""
    group = torch.arange(len(p)) * levels // len(p)
    sums = torch.zeros(levels, dtype=p.dtype).index_add_(0, group, p)
    nonzero = (p > 0).to(p.dtype)
    counts = torch.zeros(levels, dtype=p.dtype).index_add_(0, group, nonzero)
    return nonzero * sums[group] / counts[group].clamp(min=1)


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    p = p / p.sum()
    q = q / q.sum()
    mask = p > 0
    # Where P has mass but Q has none the divergence is infinite; a tiny floor keeps the
    # comparison finite while still penalising it heavily.
    return float((p[mask] * torch.log(p[mask] / q[mask].clamp(min=1e-12))).sum())
