"""Structured pruning: remove whole channels, filters, neurons, attention heads and blocks.

Two mechanisms behind one config:
- Hugging Face transformers of the families in `weightlight.models.hf_arch` (BERT, RoBERTa,
  DeBERTa-v2, DistilBERT, GPT-2, Llama, Qwen2, Mistral, ViT): whole heads, FFN neurons and
  blocks, sliced directly (`weightlight.prune.transformer`), the config rewritten.
- Everything else (CNNs, ResNets, depthwise convs, MLPs): Torch-Pruning's DependencyGraph:
  removing output channel i of one layer removes every tensor slice coupled to it (the next
  layer's input channel, BatchNorm entries, the other side of a residual add, the flattened fc
  inputs behind a conv), so the result is a plain, smaller nn.Module that runs without masks.
  Paper: Fang et al., "DepGraph: Towards Any Structural Pruning", CVPR 2023. Its graph search
  is bounded in time (`trace_timeout`).
"""

from __future__ import annotations

import contextlib
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
from weightlight.models.hf_arch import REFUSED, find_family, model_type
from weightlight.prune._base import OneShotPruneConfig
from weightlight.prune._layers import _tensors, output_layers
from weightlight.prune._time_limit import TimeLimitExceeded, time_limit
from weightlight.prune.dispatch import handler, run_finetune


class Structured(OneShotPruneConfig):
    """Remove a fraction of channels / neurons, attention heads or whole blocks for real.

    On a transformer (a Hugging Face family of `weightlight.models.hf_arch`) `head_ratio`,
    `ffn_ratio` (default: `ratio`) and `layers` say what goes, the same in every block; on any
    other model `ratio` is the share of every layer's channels.

    Example (YAML): `{method: structured, ratio: 0.5, importance: l2, finetune: {epochs: 3}}`,
    `{method: structured, head_ratio: 0.3, ffn_ratio: 0.3, layers: 1, importance: activation}`
    """

    method: Literal["structured"] = "structured"
    ratio: float = Field(
        0.5, ge=0, lt=1,
        description="Fraction of channels removed per layer (transformers: of FFN neurons, "
        "unless ffn_ratio is set).",
    )  # fmt: skip
    importance: Literal["l2", "l1", "taylor", "activation", "random"] = Field(
        "l2",
        description="Unit score: weight L2/L1 norm, Taylor (|w * grad|), activation (what the "
        "unit adds to the output on data; transformers) or random.",
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
        0.0, ge=0, lt=1,
        description="Transformers: fraction of attention heads removed per block (grouped-"
        "query attention: per key/value group).",
    )  # fmt: skip
    ffn_ratio: float | None = Field(
        None, ge=0, lt=1,
        description="Transformers: fraction of FFN neurons removed per block (default: ratio).",
    )  # fmt: skip
    layers: float = Field(
        0, ge=0,
        description="Transformers: blocks dropped, a count (2) or a fraction (0.25), the ones "
        "that change their input least on data.calib.",
    )  # fmt: skip
    round_to: int | None = Field(
        None, ge=1, description="Keep channel counts a multiple of this (e.g. 8 for SIMD)."
    )
    calib_batches: int = Field(
        4, ge=1, description="Batches of data.calib scored on (taylor, activation, blocks)."
    )
    trace_timeout: float = Field(
        60.0, gt=0,
        description="Seconds the dependency graph of a non-transformer model may take to "
        "trace and group before it is refused.",
    )  # fmt: skip

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
    if config.importance == "activation":
        raise UserError(
            "importance 'activation' scores transformer heads and FFN neurons, not channels",
            "use importance l2, l1 or taylor for this model",
        )
    if config.head_ratio > 0 or config.ffn_ratio is not None or config.layers > 0:
        raise UserError(
            "head_ratio / ffn_ratio / layers prune a transformer at once; channel pruning "
            "(gradual or with layer_ratios) does not take them",
            "prune heads, FFN neurons and blocks with a one-shot Structured config",
        )
    ignored = list(modules_by_name(model, config.ignore, "Structured.ignore").values())
    per_layer = modules_by_name(model, config.layer_ratios, "Structured.layer_ratios")
    # Declared so that channel pruning keeps every head's slices together; whole heads of
    # transformers are pruned by weightlight.prune.transformer instead.
    heads = _attention_heads(model)
    extra = {"iterative_pruning_ratio_scheduler": scheduler} if scheduler else {}
    try:
        ignored += output_layers(model, example)
    except Exception as exc:
        raise UserError(
            "structured pruning: the model does not run on data.example_input, so its "
            f"dependency graph cannot be traced ({type(exc).__name__}: {_first_line(exc)})",
            "give data whose example input the model takes",
        ) from None
    with _torch_pruning_stage("tracing the dependency graph", config.trace_timeout):
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
            prune_num_heads=False,
            # Head size stays, so the attention scaling stays right.
            prune_head_dims=not heads,
            output_transform=_output_sum,
            **extra,
        )


def structured_step(pruner: tp.pruner.BasePruner, model: nn.Module, config: Structured, data):
    """One pruning step: gradients for Taylor first, then remove channels and fix attributes."""
    if config.importance == "taylor":
        _accumulate_gradients(model, data, config.calib_batches)
    # Random importance draws from torch's global RNG: seed it (per step, without disturbing
    # the caller's RNG) so the same recipe prunes the same channels every time.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(getattr(pruner, "current_step", 0))
        # Grouping coupled layers (get_all_groups) is the search that did not end on a Llama.
        with _torch_pruning_stage("grouping and removing channels", config.trace_timeout):
            pruner.step()
    model.zero_grad(set_to_none=True)
    _fix_attention_attributes(model)


@contextlib.contextmanager
def _torch_pruning_stage(stage: str, seconds: float):
    """Torch-Pruning's failures and overlong graph searches as one line naming the stage."""
    try:
        with time_limit(seconds):
            yield
    except TimeLimitExceeded:
        raise UserError(
            f"structured pruning: {stage} took more than {seconds:g} s (Torch-Pruning's graph "
            "search does not end on this model)",
            "raise Structured.trace_timeout if it is merely large, or use Unstructured / NM "
            "pruning; transformers of the supported families use head_ratio / ffn_ratio",
        ) from None
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"structured pruning: Torch-Pruning failed while {stage} ({type(exc).__name__}: "
            f"{_first_line(exc)})",
            "make forward() run on data.example_input with plain tensor ops, list the "
            "layers it names in Structured.ignore, or use Unstructured pruning",
        ) from None


@handler(Structured)
def _prune_structured(model: nn.Module, config: Structured, data: Data) -> nn.Module:
    kind = model_type(model)
    if kind in REFUSED:
        raise UserError(f"structured pruning: {REFUSED[kind]}",
                        "use Unstructured or NM pruning, or quantize it")  # fmt: skip
    found = find_family(model)
    if found is not None and not config.layer_ratios:
        return _prune_transformer(model, config, data)
    if config.head_ratio > 0 or config.ffn_ratio is not None or config.layers > 0:
        from weightlight.models.hf_arch import FAMILIES

        raise UserError(
            f"head_ratio / ffn_ratio / layers apply to the transformer families "
            f"{', '.join(sorted(FAMILIES))}; this model is {kind or type(model).__name__}",
            "prune its channels with ratio, or use Unstructured pruning",
        )
    net = copy.deepcopy(model).eval()
    example = data.example_input
    pruner = build_pruner(net, config, example)  # traces the model; changes nothing yet
    expected = output_shapes(net, example)
    before = sum(p.numel() for p in net.parameters())
    if config.ratio > 0 or any(config.layer_ratios.values()):
        structured_step(pruner, net, config, data)
        if sum(p.numel() for p in net.parameters()) == before:
            raise UserError(
                "structured pruning removed nothing: the dependency graph found no prunable "
                "channels (forward detaches its output, or every layer is ignored)",
                "check Structured.ignore, or use Unstructured pruning for this model",
            )
    check_outputs(net, example, expected)
    return run_finetune(net, config.finetune, data).eval()


def _prune_transformer(model: nn.Module, config: Structured, data: Data) -> nn.Module:
    from weightlight.prune.transformer import prune_transformer

    if config.ignore or config.global_pruning:
        raise UserError(
            "Structured.ignore / global_pruning choose channels; a transformer loses the same "
            "heads, FFN neurons and blocks share in every block",
            "drop ignore / global_pruning, or name layers in layer_ratios to prune channels",
        )
    net = copy.deepcopy(model).eval()
    hf, family = find_family(net)
    expected = output_shapes(net, data.example_input)
    prune_transformer(net, hf, family, config, data)
    check_outputs(net, data.example_input, expected)
    return run_finetune(net, config.finetune, data).eval()


def check_outputs(model: nn.Module, example: torch.Tensor, expected: list[tuple]) -> None:
    """The pruned model must still run and return the same shapes as before."""
    try:
        got = output_shapes(model, example)
    except Exception as exc:
        where = _failing_module(model, example)
        raise UserError(
            f"the pruned model no longer runs"
            f"{f' at {where}' if where else ''} ({type(exc).__name__}: {_first_line(exc)})",
            f"keep {where}'s input layers: add them to Structured.ignore, or use Unstructured"
            if where
            else "use Unstructured pruning for this model",
        ) from None
    if got != expected:
        raise UserError(
            f"pruning changed the output shapes {expected} -> {got}",
            "add the output layer to Structured.ignore",
        )


def _failing_module(model: nn.Module, example) -> str | None:
    """The innermost module whose forward raised (run again with enter/exit hooks)."""
    stack: list[str] = []
    failed: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(lambda m, a, _n=name: stack.append(_n)))
        handles.append(module.register_forward_hook(lambda m, a, o: stack.pop()))
    try:
        output_shapes(model, example)
    except Exception:
        failed = stack[-1:]
    finally:
        for handle in handles:
            handle.remove()
    return f"'{failed[0]}'" if failed else None


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:160] if text else "no message"


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
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():  # the caller may be inside no_grad
        _backward(model, data, batches)


def _backward(model: nn.Module, data: Data, batches: int) -> None:
    from weightlight.batch import split
    from weightlight.tasks import task_loss

    for i, b in enumerate(data.calib):
        if i >= batches:
            break
        inputs, targets = split(b)
        task_loss(data.task_spec, data.adapter.forward(model, inputs), targets).backward()
