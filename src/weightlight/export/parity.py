"""Parity: run two models on the same inputs and say how far apart their outputs are.

Used after export (ONNX vs the torch source: should agree to float rounding) and after int8
quantization (fidelity: cosine similarity and top-1 agreement say what int8 cost).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict

from weightlight import batch as batches
from weightlight.data import Data
from weightlight.measure.runnable import as_runnable


class ParityReport(BaseModel):
    """How closely a candidate model reproduces a reference on `samples` inputs.

    Attributes:
        max_abs: largest |candidate - reference| over all outputs.
        max_rel: max_abs divided by the largest |reference| output (scale-free).
        top1_agreement: % of samples whose arg-max matches (None for outputs without classes).
        mean_cosine, min_cosine: cosine similarity of each sample's flattened outputs.
        tolerance: the allowed error, max_abs <= tolerance * max(1, max |reference|).
        ok: the candidate is within tolerance.
    """

    model_config = ConfigDict(frozen=True)

    max_abs: float
    max_rel: float
    top1_agreement: float | None
    mean_cosine: float
    min_cosine: float
    samples: int
    tolerance: float
    ok: bool


def parity(
    reference,
    candidate,
    data: Data,
    *,
    tolerance: float = 1e-4,
    max_samples: int = 1024,
) -> ParityReport:
    """Compare `candidate` against `reference` on the inputs of `data.eval`.

    Args:
        reference: the source model (torch nn.Module or anything `measure` accepts).
        candidate: the exported / quantized model (an `OrtModel`, ...).
        data: its `eval` inputs are used (labels are ignored).
        tolerance: allowed max abs error relative to the output scale (see ParityReport).
        max_samples: stop after this many inputs.

    Example:
        >>> report = wl.export.parity(model, onnx_model, data)
        >>> report.ok, report.top1_agreement
        (True, 100.0)
    """
    ref_run = as_runnable(reference, data.adapter).run
    cand_run = as_runnable(candidate, data.adapter).run
    refs, cands, seen = [], [], 0
    for b in data.eval:
        inputs, _ = batches.split(b)
        refs.append(ref_run(inputs).float())
        cands.append(cand_run(inputs).float())
        seen += batches.size(inputs)
        if seen >= max_samples:
            break
    return compare_batches(refs, cands, tolerance=tolerance)


def compare_batches(
    refs: list[torch.Tensor], cands: list[torch.Tensor], *, tolerance: float
) -> ParityReport:
    """`compare_outputs` over batches whose outputs may differ in length (padded tokens)."""
    if all(r.shape[1:] == refs[0].shape[1:] for r in refs):
        return compare_outputs(torch.cat(refs), torch.cat(cands), tolerance=tolerance)
    flat = [(r.flatten(1), c.flatten(1)) for r, c in zip(refs, cands, strict=True)]
    reports = [compare_outputs(r, c, tolerance=tolerance) for r, c in flat]
    scale = max(float(r.abs().max()) for r, _ in flat)
    max_abs = max(x.max_abs for x in reports)
    samples = sum(x.samples for x in reports)
    return ParityReport(
        max_abs=max_abs,
        max_rel=max_abs / scale if scale else max_abs,
        top1_agreement=None,
        mean_cosine=sum(x.mean_cosine * x.samples for x in reports) / samples,
        min_cosine=min(x.min_cosine for x in reports),
        samples=samples,
        tolerance=tolerance,
        ok=max_abs <= tolerance * max(1.0, scale),
    )


def compare_outputs(ref: torch.Tensor, cand: torch.Tensor, *, tolerance: float) -> ParityReport:
    """The ParityReport of two output tensors of the same shape (batch first)."""
    diff = (cand - ref).abs()
    scale = float(ref.abs().max())
    max_abs = float(diff.max())
    flat_ref, flat_cand = ref.flatten(1), cand.flatten(1)
    cosine = torch.nn.functional.cosine_similarity(flat_cand, flat_ref, dim=1, eps=1e-12)
    top1 = None
    if ref.dim() == 2 and ref.shape[1] > 1:
        top1 = 100.0 * float((ref.argmax(1) == cand.argmax(1)).float().mean())
    return ParityReport(
        max_abs=max_abs,
        max_rel=max_abs / scale if scale else max_abs,
        top1_agreement=top1,
        mean_cosine=float(cosine.mean()),
        min_cosine=float(cosine.min()),
        samples=len(ref),
        tolerance=tolerance,
        ok=max_abs <= tolerance * max(1.0, scale),
    )
