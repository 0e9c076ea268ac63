"""Observers that pick their activation range with one of our calibration methods.

torch.ao ships MinMax and Histogram (an L2 search) observers; percentile and entropy (KL)
are not in it. `RangeObserver` keeps the exact running min/max (as MinMaxObserver does) plus a
bounded random sample of the values it saw, and at conversion time asks
`calibration.RANGE_METHODS[method]` for the range and `affine.qparams_from_range` for the
scale and zero point, so the static path uses the same maths the docs and tests describe.
`RangeMixin` holds that logic; torch.ao FX takes `RangeObserver`, PT2E (torchao, whose
observer classes are its own) takes `range_observer_for(torchao's MinMaxObserver)`.
"""

from __future__ import annotations

import torch
from torch.ao.quantization.observer import MinMaxObserver

from weightlight.quantize import affine
from weightlight.quantize.calibration import RANGE_METHODS

# Values kept per observer: enough for stable 99.99th percentiles, small enough for big maps.
_MAX_SAMPLES = 2**20
_PER_CALL = 2**15


class RangeMixin:
    """Per-tensor activation observer whose range comes from a calibration method; mixed
    into a MinMaxObserver class (torch.ao's or torchao's: they share this interface).

    Args:
        method: a key of `calibration.RANGE_METHODS` (minmax, percentile, entropy, mse).
        dtype: torch.quint8 (activations) or torch.qint8.
        seed: seeds the sub-sampling, so calibration is reproducible.
    """

    def __init__(
        self,
        method: str = "minmax",
        dtype: torch.dtype = torch.quint8,
        seed: int = 0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("qscheme", torch.per_tensor_affine)
        super().__init__(dtype=dtype, **kwargs)
        if method not in RANGE_METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        self._samples: list[torch.Tensor] = []
        self._kept = 0
        self._dropped = False  # some observed values are not in the sample
        self._gen = torch.Generator().manual_seed(seed)

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0 or not x_orig.is_floating_point():
            return x_orig  # integer tensors (ids, positions) are never quantized
        super().forward(x_orig)
        if self.method == "minmax":
            return x_orig
        if self._kept >= _MAX_SAMPLES:
            self._dropped = True
            return x_orig
        flat = x_orig.detach().flatten().float()
        if flat.numel() > _PER_CALL:
            idx = torch.randint(flat.numel(), (_PER_CALL,), generator=self._gen)
            flat, self._dropped = flat[idx.to(flat.device)], True
        # Kept on the CPU: the list is not a buffer, so moving the model (calibrated on a
        # GPU, converted on the CPU) would leave the samples behind on the GPU.
        self._samples.append(flat.cpu())
        self._kept += flat.numel()
        return x_orig

    def calculate_qparams(self):  # type: ignore[override]
        if self.min_val.numel() == 0 or torch.isinf(self.min_val).any():
            return super().calculate_qparams()  # never observed: torch's defaults
        signed = self.dtype in (torch.qint8, torch.qint32)
        bits = int(torch.tensor(self.quant_max - self.quant_min + 1).log2().round())
        if self.method == "minmax" or not self._samples:
            lo, hi = float(self.min_val), float(self.max_val)
        else:
            # A sub-sample may miss the extremes: they join it so tail-sensitive methods still
            # see them. A full sample has them already; duplicates would bias the percentiles.
            extremes = (
                [self.min_val.reshape(1).cpu(), self.max_val.reshape(1).cpu()]
                if self._dropped
                else []
            )
            values = torch.cat([*self._samples, *extremes])
            lo, hi = RANGE_METHODS[self.method](values, bits)
        symmetric = self.qscheme == torch.per_tensor_symmetric
        scale, zero_point = affine.qparams_from_range(
            lo, hi, bits, symmetric=symmetric, signed=signed
        )
        # Grids narrower than the dtype (reduce_range) start at quant_min, not at qmin.
        offset = self.quant_min - affine.qrange(bits, signed)[0]
        return scale.reshape(1), (zero_point + offset).to(torch.int32).reshape(1)

    def extra_repr(self) -> str:
        return f"method={self.method}, " + super().extra_repr()


class RangeObserver(RangeMixin, MinMaxObserver):
    """The torch.ao (FX) observer: `RangeMixin` over torch.ao's MinMaxObserver."""

    @torch.jit.export
    def calculate_qparams(self):  # type: ignore[override]
        return RangeMixin.calculate_qparams(self)


def range_observer_for(base: type) -> type:
    """`RangeMixin` over another MinMaxObserver class (torchao's, for PT2E)."""
    return type(f"Range{base.__name__}", (RangeMixin, base), {})
