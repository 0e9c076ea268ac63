"""Structured pruning: remove whole channels, filters, neurons and attention heads.

Built on Torch-Pruning's DependencyGraph: removing output channel i of one layer removes every
tensor slice coupled to it (the next layer's input channel, BatchNorm entries, the other side
of a residual add, the flattened fc inputs behind a conv), so the result is a plain, smaller
nn.Module that runs without any masks. Paper: Fang et al., "DepGraph: Towards Any Structural
Pruning", CVPR 2023.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch_pruning as tp
from pydantic import Field, field_validator
from torch import nn

from weightlight.batch import call
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.layer_names import modules_by_name
from weightlight.prune._base import OneShotPruneConfig
from weightlight.prune._layers import _tensors, output_layers
from weightlight.prune.dispatch import handler, run_finetune


class Structured(OneShotPruneConfig):
    """Remove a fraction of channels / neurons (and optionally attention heads) for real.

    Example (YAML): `{method: structured, ratio: 0.5, importance: l2, finetune: {epochs: 3}}`
    """

    method: Literal["structured"] = "structured"
    ratio: float = Field(0.5, ge=0, lt=1, description="Fraction of channels removed per layer.")
    importance: Literal["l2", "l1", "taylor", "random"] = Field(
        "l2", description="Channel score: weight L2/L1 norm, Taylor (|w * grad|) or random."
    )
    global_pruning: bool = Field(
        False, description="Rank channels across all layers instead of within each layer."
    )
    layer_ratios: dict[str, float] = Field(
        default_factory=dict, description="Per-layer ratios by module name, e.g. {conv1: 0.3}."
    )
    ignore: tuple[str, ...] = Field(
        (), description="Layers whose output channels are kept (output layers always are)."
    )
    head_ratio: float = Field(
        0.0, ge=0, lt=1, description="Fraction of attention heads removed (HF-style attention)."
    )
    round_to: int | None = Field(
        None, ge=1, description="Keep channel counts a multiple of this (e.g. 8 for SIMD)."
    )
    calib_batches: int = Field(
        4, ge=1, description="Batches of data.calib for Taylor importance gradients."
    )

    @property
    def needs_data(self) -> bool:
        return True

    @field_validator("layer_ratios")
    @classmethod
    def _ratios_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for name, r in value.items():
            if not 0 <= r < 1:
                raise ValueError(f"ratio for '{name}' must be in [0, 1), got {r}")
        return value


_IMPORTANCE = {
    "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
    "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
    "taylor": lambda: tp.importance.GroupTaylorImportance(),
    "random": lambda: tp.importance.RandomImportance(),
}


def build_pruner(
    model: nn.Module,
    config: Structured,
    example: torch.Tensor,
    *,
    steps: int = 1,
    scheduler=None,
) -> tp.pruner.BasePruner:
    """A Torch-Pruning pruner over `model` (pruned in place by `pruner.step()`).

    `steps` and `scheduler(ratio, steps) -> [ratio_0..ratio_steps]` spread the pruning over
    several steps (gradual pruning). Every dict argument is passed fresh: BasePruner's
    defaults are shared mutable dicts that would leak head counts between pruners.
    """
    ignored = list(modules_by_name(model, config.ignore, "Structured.ignore").values())
    per_layer = modules_by_name(model, config.layer_ratios, "Structured.layer_ratios")
    heads = _attention_heads(model)
    extra = {"iterative_pruning_ratio_scheduler": scheduler} if scheduler else {}
    try:
        ignored += output_layers(model, example)
        return tp.pruner.BasePruner(
            model,
            example,
            importance=_IMPORTANCE[config.importance](),
            global_pruning=config.global_pruning,
            pruning_ratio=config.ratio,
            pruning_ratio_dict={m: config.layer_ratios[n] for n, m in per_layer.items()},
            ignored_layers=ignored,
            round_to=config.round_to,
            iterative_steps=steps,
            in_channel_groups={},
            out_channel_groups={},
            num_heads=heads,
            prune_num_heads=bool(heads) and config.head_ratio > 0,
            # Whole heads only: head size stays, so the attention scaling stays right.
            prune_head_dims=not heads,
            head_pruning_ratio=config.head_ratio,
            output_transform=_output_sum,
            **extra,
        )
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"the dependency graph cannot trace this model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else 'no message'})",
            "make forward() run on data.example_input with plain tensor ops, or use Unstructured",
        ) from None


def structured_step(pruner: tp.pruner.BasePruner, model: nn.Module, config: Structured, data):
    """One pruning step: gradients for Taylor first, then remove channels and fix attributes."""
    if config.importance == "taylor":
        _accumulate_gradients(model, data, config.calib_batches)
    # Random importance draws from torch's global RNG: seed it (per step, without disturbing
    # the caller's RNG) so the same recipe prunes the same channels every time.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(getattr(pruner, "current_step", 0))
        pruner.step()
    model.zero_grad(set_to_none=True)
    _fix_attention_attributes(model)


@handler(Structured)
def _prune_structured(model: nn.Module, config: Structured, data: Data) -> nn.Module:
    net = copy.deepcopy(model).eval()
    example = data.example_input
    pruner = build_pruner(net, config, example)  # traces the model; changes nothing yet
    expected = output_shapes(net, example)
    before = sum(p.numel() for p in net.parameters())
    if config.ratio > 0 or any(config.layer_ratios.values()) or config.head_ratio > 0:
        structured_step(pruner, net, config, data)
        if sum(p.numel() for p in net.parameters()) == before:
            raise UserError(
                "structured pruning removed nothing: the dependency graph found no prunable "
                "channels (forward detaches its output, or every layer is ignored)",
                "check Structured.ignore, or use Unstructured pruning for this model",
            )
    check_outputs(net, example, expected)
    return run_finetune(net, config.finetune, data).eval()


def check_outputs(model: nn.Module, example: torch.Tensor, expected: list[tuple]) -> None:
    """The pruned model must still run and return the same shapes as before."""
    try:
        got = output_shapes(model, example)
    except Exception as exc:
        raise UserError(
            f"the pruned model no longer runs ({type(exc).__name__}: {str(exc)[:160]})",
            "add the failing layer to Structured.ignore",
        ) from None
    if got != expected:
        raise UserError(
            f"pruning changed the output shapes {expected} -> {got}",
            "add the output layer to Structured.ignore",
        )


def output_shapes(model: nn.Module, example: torch.Tensor) -> list[tuple]:
    with torch.no_grad():
        return [tuple(t.shape) for t in _tensors(call(model, example))]


def _output_sum(out) -> torch.Tensor:
    """Reduce any output (tensor, tuple, HF ModelOutput) to one scalar for graph tracing."""
    from weightlight.prune._layers import _tensors

    tensors = [t for t in _tensors(out) if t.is_floating_point()]
    if not tensors:
        raise UserError(
            "the model's output has no floating-point tensor to trace",
            "return logits (a tensor) from forward()",
        )
    return sum(t.sum() for t in tensors)


def _attention_heads(model: nn.Module) -> dict[nn.Module, int]:
    """q/k/v projections -> head count, for HF-style attention (BERT, RoBERTa, ViT ...)."""
    heads: dict[nn.Module, int] = {}
    for module in model.modules():
        n = getattr(module, "num_attention_heads", None)
        if type(n) is not int:
            continue
        for proj in ("query", "key", "value"):
            layer = getattr(module, proj, None)
            if isinstance(layer, nn.Linear):
                heads[layer] = n
    return heads


def _fix_attention_attributes(model: nn.Module) -> None:
    """Attention modules read head counts from attributes; make them match the new widths."""
    for module in model.modules():
        query = getattr(module, "query", None)
        size = getattr(module, "attention_head_size", None)
        if isinstance(query, nn.Linear) and type(size) is int and size > 0:
            module.num_attention_heads = query.out_features // size
            if hasattr(module, "all_head_size"):
                module.all_head_size = query.out_features


def _accumulate_gradients(model: nn.Module, data: Data, batches: int) -> None:
    """Taylor importance needs d(loss)/d(weight): sum gradients over a few calib batches."""
    from weightlight.batch import split
    from weightlight.tasks import task_loss

    model.zero_grad(set_to_none=True)
    for i, b in enumerate(data.calib):
        if i >= batches:
            break
        inputs, targets = split(b)
        task_loss(data.task_spec, data.adapter.forward(model, inputs), targets).backward()
