"""Weight-only int8 / int4: Linear weights stored as small integers, compute stays float.

Each group of `group_size` consecutive input weights of one output row gets its own symmetric
scale (`affine.scale_zero_point`, zero point 0); int4 values are packed two per byte. At run
time the weight is dequantized and a float matmul runs, so the win is memory and bytes on
disk (4x / ~7x smaller Linear weights), not CPU speed. torchao's weight-only configs were not
used: they store weights as tensor subclasses that safetensors cannot save and the size /
params measurements cannot read.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from weightlight.config import Config
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.layer_names import check_layer_names
from weightlight.quantize import affine
from weightlight.quantize.dispatch import handler, rebuilder


class WeightOnly(Config):
    """Group-wise symmetric int8 / int4 weights for Linear layers.

    Example (YAML): `quantize: {method: weight_only, bits: 4, group_size: 32}`
    """

    method: Literal["weight_only"] = "weight_only"
    bits: Literal[8, 4] = Field(8, description="Weight bits: 8 or 4 (packed two per byte).")
    group_size: int | None = Field(
        32, ge=2, description="Input weights per scale; null for one scale per output row."
    )
    exclude: tuple[str, ...] = Field((), description="Linear layer names kept in float.")


class WeightOnlyLinear(nn.Module):
    """A Linear whose weight is stored as int8 (or packed int4) plus fp16 group scales.

    Buffers: `qweight` (int8 [out, in], or uint8 [out, in/2] for 4 bits), `scales`
    (fp16 [out, in/group_size]); `bias` stays a float parameter.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool, bits: int, group: int):
        super().__init__()
        self.in_features, self.out_features, self.bits, self.group_size = (
            in_features, out_features, bits, group,
        )  # fmt: skip
        packed = in_features // 2 if bits == 4 else in_features
        dtype = torch.uint8 if bits == 4 else torch.int8
        self.register_buffer("qweight", torch.zeros(out_features, packed, dtype=dtype))
        self.register_buffer(
            "scales", torch.ones(out_features, in_features // group, dtype=torch.float16)
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int, group_size: int | None) -> WeightOnlyLinear:
        out_f, in_f = linear.weight.shape
        group = group_size or in_f
        mod = cls(in_f, out_f, linear.bias is not None, bits, group)
        w = linear.weight.detach().float().reshape(out_f * in_f // group, group)
        qp = affine.scale_zero_point(w, bits, symmetric=True, axis=0)
        # Scales are stored in fp16, rounded up (so the grid still spans each group's range)
        # and used as stored, so the bound |w - w_hat| <= scale/2 holds for what runs.
        s16 = qp.scale.half()
        s16 = torch.where(s16.float() < qp.scale, torch.nextafter(s16, s16 + float("inf")), s16)
        qp = affine.QParams(s16.float(), qp.zero_point)
        q = affine.quantize(w, qp, bits, axis=0).reshape(out_f, in_f)
        mod.qweight.copy_(_pack4(q) if bits == 4 else q.to(torch.int8))
        mod.scales.copy_(qp.scale.reshape(out_f, in_f // group).half())
        if linear.bias is not None:
            mod.bias.data.copy_(linear.bias.detach())
        return mod

    def dequantized_weight(self) -> torch.Tensor:
        q = _unpack4(self.qweight) if self.bits == 4 else self.qweight
        q = q.reshape(self.out_features, -1, self.group_size).float()
        w = q * self.scales.float().unsqueeze(-1)
        return w.reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dequantized_weight().to(x.dtype), self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bits={self.bits}, group_size={self.group_size}"
        )


def _pack4(q: torch.Tensor) -> torch.Tensor:
    """int values in [-8, 7] -> uint8, two per byte (even column in the low nibble)."""
    u = (q + 8).to(torch.uint8)
    return u[:, 0::2] | (u[:, 1::2] << 4)


def _unpack4(packed: torch.Tensor) -> torch.Tensor:
    low = (packed & 0x0F).to(torch.int8) - 8
    high = (packed >> 4).to(torch.int8) - 8
    return torch.stack([low, high], dim=-1).reshape(packed.shape[0], -1)


def _targets(model: nn.Module, config: WeightOnly) -> list[tuple[str, nn.Linear]]:
    check_layer_names(model, config.exclude, "WeightOnly.exclude")
    found = [(n, m) for n, m in model.named_modules() if type(m) is nn.Linear]
    if not found:
        raise UserError("weight_only: the model has no nn.Linear layers", "use StaticInt8 or Half")
    for name, m in found:
        if config.group_size and m.in_features % config.group_size:
            raise UserError(
                f"weight_only: layer {name!r} has {m.in_features} inputs, not a multiple of "
                f"group_size {config.group_size}",
                "pick a group_size that divides it, exclude the layer, or use group_size: null",
            )
        if config.bits == 4 and (config.group_size or m.in_features) % 2:
            raise UserError(f"weight_only: layer {name!r} has an odd group", "use an even size")
    return [(n, m) for n, m in found if n not in config.exclude]


def _replace(model: nn.Module, config: WeightOnly, convert: bool) -> nn.Module:
    for name, linear in _targets(model, config):
        if convert:
            new = WeightOnlyLinear.from_linear(linear, config.bits, config.group_size)
        else:
            new = WeightOnlyLinear(
                linear.in_features, linear.out_features, linear.bias is not None,
                config.bits, config.group_size or linear.in_features,
            )  # fmt: skip
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return model


@handler(WeightOnly)
def weight_only(model: nn.Module, config: WeightOnly, data: Data | None) -> nn.Module:
    return _replace(model, config, convert=True)


@rebuilder(WeightOnly)
def _rebuild(model: nn.Module, config: WeightOnly, example: torch.Tensor) -> nn.Module:
    return _replace(model, config, convert=False)
