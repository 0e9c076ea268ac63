"""Sentence encoders (Hugging Face BERT-like models) as the encoder techniques call them.

The one place that knows how to call an encoder and read its output, so the compression
techniques on transformers (`distill.hidden`, `quantize.smooth`) stay
generic. A batch is a dict of token tensors, as a tokenizer returns it (`input_ids`,
`attention_mask`, optionally `token_type_ids`); the output read is the last hidden state,
and an embedding is its mean over real (unmasked) tokens, as sentence-transformers pools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from weightlight.errors import UserError

Batch = Mapping[str, torch.Tensor]


class SentenceEncoder(nn.Module):
    """A Hugging Face encoder as a module taking (input_ids, attention_mask) and returning the
    last hidden state (batch, tokens, hidden): one input tensor (plus its mask), one tensor out.

    `config` is the wrapped model's, so exporters and ORT's transformer fusions still see a
    BERT-like model.

    Example:
        >>> enc = SentenceEncoder(transformers.AutoModel.from_pretrained(path))
        >>> enc(ids, mask).shape
        torch.Size([1, 12, 384])
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not hasattr(model, "encoder") or not hasattr(model, "config"):
            raise UserError(
                f"{type(model).__name__} is not a Hugging Face encoder (no .encoder / .config)",
                "pass transformers.AutoModel.from_pretrained(...) of a BERT-like model",
            )
        self.model = model
        self.config = model.config

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def as_encoder(model: nn.Module) -> SentenceEncoder:
    """`model` itself when already a SentenceEncoder, else wrapped."""
    return model if isinstance(model, SentenceEncoder) else SentenceEncoder(model)


def encoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks (`encoder.layer[i]`) of a BERT-like model or its wrapper."""
    inner = model.model if isinstance(model, SentenceEncoder) else model
    layers = getattr(getattr(inner, "encoder", None), "layer", None)
    if layers is None:
        raise UserError(
            f"{type(inner).__name__} has no encoder.layer blocks",
            "pass a BERT-like Hugging Face encoder (BERT, RoBERTa, MiniLM ...)",
        )
    return list(layers)


def check_batch(batch: Batch) -> Batch:
    """`batch` itself when it holds input_ids and attention_mask; else a one-line UserError."""
    if not isinstance(batch, Mapping) or not {"input_ids", "attention_mask"} <= set(batch):
        got = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
        raise UserError(
            f"an encoder batch needs input_ids and attention_mask, got {got}",
            "pass tokenizer outputs, e.g. tokenizer(texts, padding=True, return_tensors='pt')",
        )
    return batch


def run_encoder(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Last hidden state of `model` (a SentenceEncoder or HF encoder) on one dict batch."""
    check_batch(batch)
    return as_encoder(model)(batch["input_ids"], batch["attention_mask"])


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: (batch, tokens, hidden) -> (batch, hidden); padding ignored."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def embeddings(model: nn.Module, batches: Iterable[Batch]) -> torch.Tensor:
    """Mean-pooled embeddings of every sentence in `batches`, stacked (sentences, hidden)."""
    out = []
    with torch.inference_mode():
        for batch in batches:
            out.append(mean_pool(run_encoder(model, batch), batch["attention_mask"]).float())
    return torch.cat(out)


def embedding_agreement(reference: torch.Tensor, other: torch.Tensor) -> tuple[float, float]:
    """(mean, worst) cosine between matching rows of two embedding matrices.

    Example:
        >>> e = torch.randn(5, 8)
        >>> embedding_agreement(e, 2 * e)
        (1.0, 1.0)
    """
    cos = torch.nn.functional.cosine_similarity(reference.double(), other.double(), dim=1)
    return round(float(cos.mean()), 6), round(float(cos.min()), 6)
