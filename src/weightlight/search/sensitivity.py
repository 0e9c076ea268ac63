"""Which layers are fragile: measured before the search so its first trials avoid them.

Quantization: each Linear/Conv layer is quantized ALONE (every other layer excluded) and the
model's outputs are compared with fp32 by cosine similarity; the lowest cosine is the most
fragile layer. Cosine rather than accuracy because one layer alone rarely moves top-1 on a
small eval set, while the output drift it causes adds up when all layers are quantized.
ONNX Runtime int8 (an export stage with `exclude_nodes: {fragile: ...}`): per ONNX node of the
exported (for BERT-like models: fused) graph; a cheap proxy error orders every node and only
the worst few are quantized alone by ORT (`export/onnx_rank.py`: minutes, not an hour).
Pruning: `wl.prune.sensitivity` at one ratio (metric drop with that layer pruned alone).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from weightlight._io import write_text_atomic
from weightlight.config import Config
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.export.onnx_rank import NodeRanking, Progress, rank_onnx_nodes

QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def quantizable_layers(model: nn.Module, config: Config) -> list[str]:
    """Names of the layers `config` would quantize (Linear only for dynamic int8)."""
    kinds = (nn.Linear,) if getattr(config, "method", "") == "dynamic_int8" else QUANTIZABLE
    return [n for n, m in model.named_modules() if n and isinstance(m, kinds)]


def output_cosine(reference: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor]) -> float:
    """Mean per-sample cosine similarity between two lists of output batches.

    Example:
        >>> output_cosine([torch.ones(2, 3)], [torch.ones(2, 3)])
        1.0
    """
    sims = [
        torch.nn.functional.cosine_similarity(r.flatten(1).double(), o.flatten(1).double(), dim=1)
        for r, o in zip(reference, outputs, strict=True)
    ]
    return round(float(torch.cat(sims).mean()), 6)


def eval_outputs(model, data: Data, batches: int = 4, loader=None) -> list[torch.Tensor]:
    """Outputs of `model` (torch or any runnable) on the first `batches` batches of `loader`.

    The default is the validation split (`data.selection`): rankings choose layers, and
    choices are not made on the test split the report scores.
    """
    from weightlight.batch import split
    from weightlight.measure.runnable import as_runnable

    run = as_runnable(model, data.adapter).run
    outs = []
    with torch.inference_mode():
        for i, b in enumerate(data.selection if loader is None else loader):
            if i >= batches:
                break
            outs.append(run(split(b)[0]).float())
    return outs


def quantization_sensitivity(
    model: nn.Module, data: Data, config: Config, *, batches: int = 4
) -> list[tuple[str, float]]:
    """(layer, output cosine vs fp32) with only that layer quantized, most fragile first.

    Args:
        model: the fp32 model (not modified).
        data: eval batches for the comparison, calib batches for static quantization.
        config: a quantize config with an `exclude` field (StaticInt8, Dynamic).
        batches: eval batches compared.

    Example:
        >>> quantization_sensitivity(model, data, wl.quantize.Dynamic())[0]  # doctest: +SKIP
        ('encoder.layer.1.output.dense', 0.9812)
    """
    from weightlight.quantize.dispatch import quantize

    if "exclude" not in type(config).model_fields:
        raise UserError(
            f"{type(config).__name__} has no 'exclude' field",
            "use fragile layers with static_int8 or dynamic_int8",
        )
    layers = quantizable_layers(model, config)
    reference = eval_outputs(model, data, batches)
    scores = []
    for layer in layers:
        alone = config.model_copy(update={"exclude": tuple(n for n in layers if n != layer)})
        quantized = quantize(model, alone, data)
        scores.append((layer, output_cosine(reference, eval_outputs(quantized, data, batches))))
    return sorted(scores, key=lambda s: s[1])


def onnx_quantization_sensitivity(
    model: nn.Module,
    data: Data,
    config: Config,
    *,
    measure_top: int = 8,
    batches: int = 2,
    on_progress: Progress | None = None,
) -> NodeRanking:
    """The weighted ONNX nodes of `model`'s export, most fragile under ORT int8 first (names
    as `exclude_nodes` takes them): a proxy error for every node, then the `measure_top`
    worst quantized alone by ORT and scored by output cosine vs fp32 (`export.onnx_rank`).

    Args:
        model: the fp32 torch model (exported once, as the stage would).
        data: validation batches for both passes (calibration batches for static int8).
        config: an export config (`wl.export.Export`) with `quantize` set.
        measure_top, batches, on_progress: see `rank_onnx_nodes`.
    """
    import tempfile

    from weightlight.export.stage import export

    if getattr(config, "quantize", None) is None:
        raise UserError("ONNX node sensitivity needs quantize: static_int8 or dynamic_int8",
                        "set quantize on the export stage that uses fragile nodes")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wl-onnx-sensitivity-") as tmp:
        fp32_config = config.model_copy(update={"quantize": None, "exclude_nodes": ()})
        if on_progress:
            on_progress(0, 1, "exporting fp32")
        fp32 = export(model, fp32_config, data, Path(tmp) / "fp32.onnx")
        return rank_onnx_nodes(fp32, data, config.quant_config(), measure_top=measure_top,
                               batches=batches, on_progress=on_progress)  # fmt: skip


def pruning_sensitivity(
    model: nn.Module, data: Data, ratio: float = 0.5
) -> list[tuple[str, float]]:
    """(layer, metric drop) with only that layer pruned at `ratio`, most fragile first."""
    from weightlight.prune.sensitivity import sensitivity

    result = sensitivity(model, data, ratios=(ratio,))
    return sorted(((r["layer"], r["drop"]) for r in result.table()), key=lambda s: -s[1])


def fragile_layers(
    model: nn.Module, data: Data, space, on_progress: Progress | None = None
) -> tuple[list[str], dict]:
    """Layers ranked most fragile first for the space's `{fragile: ...}` fields.

    The ranking comes from the first stage that uses `fragile`: quantization sensitivity for
    a quantize stage (with that stage's first method), pruning sensitivity otherwise.

    Returns:
        (names, record): record holds the kind and the per-layer scores, for the run folder.
    """
    from weightlight.recipe import stage_configs
    from weightlight.search.space import alternatives

    templates = [(alt["kind"], option) for stage in space.stages
                 for alt, _, _ in alternatives(stage, "") for option in alt["options"]]  # fmt: skip
    for kind, option in templates:
        if "fragile" in str(option):
            if kind == "export":
                cls = stage_configs("export")[0]
                fixed = {k: v for k, v in option.items() if not isinstance(v, (list, dict))}
                fixed["quantize"] = int8_choice(option)
                ranked = onnx_quantization_sensitivity(model, data, cls(**fixed),
                                                       on_progress=on_progress)  # fmt: skip
                return ranked.names, {"kind": "onnx-quantize-cosine", "scores": ranked.measured,
                                      "proxy_error": ranked.proxy}  # fmt: skip
            if kind == "quantize":
                cls = next(c for c in stage_configs("quantize")
                           if c.model_fields["method"].default == option.get("method"))  # fmt: skip
                fixed = {k: v for k, v in option.items() if not isinstance(v, (list, dict))}
                scores = quantization_sensitivity(model, data, cls(**fixed))
                return [n for n, _ in scores], {"kind": "quantize-cosine", "scores": scores}
            scores = pruning_sensitivity(model, data)
            return [n for n, _ in scores], {"kind": "prune-drop", "scores": scores}
    return [], {}


def int8_choice(option: dict) -> str | None:
    """The first int8 value an export template's `quantize` offers (a value or a choice)."""
    quant = option.get("quantize")
    return next((q for q in (quant if isinstance(quant, list) else [quant]) if q), None)


def rank_and_seed(
    model, data, space, out: Path, study, fresh: bool, on_progress: Progress | None = None
) -> list[str]:
    """Rank fragile layers (cached in the folder) and, on a fresh study, enqueue seed trials
    that keep the most fragile layers out of harm's way."""
    path = out / "sensitivity.json"
    if path.is_file():
        names = json.loads(path.read_text(encoding="utf-8"))["layers"]
    else:
        names, record = fragile_layers(model, data, space, on_progress)
        write_text_atomic(path, json.dumps({"layers": names, **record}, indent=2))
    if fresh:
        for params in seed_params(space):
            study.enqueue_trial(params, skip_if_exists=True)
    return names


def seed_params(space) -> list[dict]:
    """Partial trial params that keep 1, then 2, ... fragile layers protected (the rest of each
    seeded trial is sampled as usual). Param names follow `SearchSpace.sample`."""
    from weightlight.search.space import alternatives

    seeds = []
    for i, stage in enumerate(space.stages):
        use = {f"s{i}.{stage['kind']}.use": True} if stage["optional"] else {}
        for alt, key0, pick in alternatives(stage, f"s{i}.{stage['kind']}"):
            options = alt["options"]
            for k, option in enumerate(options):
                method = str(option.get("method", option.get("format", k)))
                key = key0 if len(options) == 1 else f"{key0}.{method}"
                chosen = {} if len(options) == 1 else {f"{key0}.method": method}
                # protecting fragile nodes only means something when the stage quantizes
                int8, chosen_quant = int8_choice(option), isinstance(option.get("quantize"), list)
                quantizes = {f"{key}.quantize": int8} if chosen_quant and int8 else {}
                for fname, value in option.items():
                    if isinstance(value, dict) and set(value) == {"fragile"}:
                        counts = value["fragile"] if isinstance(value["fragile"], list) else []
                        for n in sorted(c for c in counts if c > 0)[:2]:
                            seeds.append({f"{key}.{fname}.fragile": n, **use, **pick, **chosen,
                                          **quantizes})  # fmt: skip
    return seeds
