"""Run a KV-cache decoder ONNX file (`weightlight.export.decoder`'s contract) in ONNX Runtime.

- `OrtDecoderModel`: the file as an `OrtModel`. A plain LM batch (`input_ids`, optional
  `attention_mask`) is run with an empty cache, so `wl.measure` reads its logits and
  perplexity like any model's.
- `OrtDecoder`: the generation runtime: `reset()`, `prefill(ids)` and `step(token)`, each
  returning the last position's logits and keeping the cache between calls.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from weightlight import batch as batches
from weightlight.errors import UserError, one_line
from weightlight.export.ort import GRAPH_KINDS, OrtModel
from weightlight.measure.generation import as_decoder
from weightlight.measure.runnable import as_runnable

PAST_PREFIX, PRESENT_PREFIX = "past_key_values.", "present."


@dataclasses.dataclass(frozen=True, eq=False)
class OrtDecoderModel(OrtModel):
    """An `OrtModel` whose graph takes a key/value cache; plain batches run with none."""

    def feeds(self, inputs: batches.Inputs) -> dict[str, np.ndarray]:
        if isinstance(inputs, torch.Tensor):
            inputs = {"input_ids": inputs}
        if not isinstance(inputs, dict) or "input_ids" not in inputs:
            raise UserError(
                f"'{self.path.name}' is a decoder: it takes token ids, got "
                f"{batches.describe(inputs)}",
                "pass {'input_ids': ..., 'attention_mask': ...} batches (task causal_lm)",
            )
        ids = inputs["input_ids"].long()
        mask = inputs.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask.long()
        # Left- or right-padded alike: each real token's position counts the real ones before.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.session  # noqa: B018 (reads the graph's inputs once)
        feeds = {
            "input_ids": ids.numpy(),
            "attention_mask": mask.numpy(),
            "position_ids": positions.numpy(),
        }
        for name, shape, dtype in self._inputs:
            if name.startswith(PAST_PREFIX):
                feeds[name] = np.zeros((ids.shape[0], shape[1], 0, shape[3]), dtype)
        return {n: feeds[n] for n, _, _ in self._inputs if n in feeds}


as_runnable.register(OrtDecoderModel, lambda model, adapter=None: model)


class OrtDecoder:
    """Greedy-generation runtime over a KV-cache decoder file, batch 1.

    Args:
        model: an `OrtDecoderModel` / `OrtModel`, or a path to a decoder `.onnx` file.
        threads: intra-op threads (None: the model's setting, else ORT's default). Worker
            threads do not spin between calls (they would slow whatever runs next).

    Example:
        >>> dec = OrtDecoder("out/decoder.onnx", threads=2)
        >>> logits = dec.prefill(torch.tensor([[1, 5, 9]]))
        >>> logits = dec.step(int(logits.argmax()))
    """

    def __init__(self, model: OrtModel | str | Path, threads: int | None = None) -> None:
        if not isinstance(model, OrtModel):
            model = OrtDecoderModel(Path(model))
        if threads is not None:
            model = model.with_info(threads=threads)
        self.model = model
        self.session = model.new_session()
        inputs = {m.name: m for m in self.session.get_inputs()}
        self.past_names = [n for n in inputs if n.startswith(PAST_PREFIX)]
        needed = {"input_ids", "attention_mask"}
        if not self.past_names or not needed <= set(inputs):
            raise UserError(
                f"'{model.path.name}' has no key/value cache inputs ({', '.join(inputs)})",
                "export the LM with wl.export.decoder (or Export(kv_cache=True))",
            )
        self.has_positions = "position_ids" in inputs
        outputs = [m.name for m in self.session.get_outputs()]
        self.present_names = [PRESENT_PREFIX + n[len(PAST_PREFIX) :] for n in self.past_names]
        missing = [n for n in ["logits", *self.present_names] if n not in outputs]
        if missing:
            raise UserError(f"'{model.path.name}' lacks outputs {missing}", "re-export it")
        self.outputs = ["logits", *self.present_names]
        self._empty = [
            np.zeros((1, inputs[n].shape[1], 0, inputs[n].shape[3]), np.float32)
            for n in self.past_names
        ]
        self.reset()

    def reset(self) -> None:
        """Forget the text so far (the next call must be `prefill`)."""
        self.cache: list[np.ndarray] = list(self._empty)
        self.length = 0

    def prefill(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Run the prompt [1, P] from an empty cache; returns the last position's logits."""
        if input_ids.ndim != 2 or input_ids.shape[0] != 1:
            raise UserError(
                f"prefill takes ids of shape [1, P], got {tuple(input_ids.shape)}",
                "pass one prompt",
            )
        self.reset()
        return self._run(input_ids.detach().cpu().numpy().astype(np.int64))

    def step(self, token_id: int) -> torch.Tensor:
        """Feed one token after the text so far; returns its logits."""
        if self.length == 0:
            raise UserError("step() before prefill()", "call prefill(prompt_ids) first")
        return self._run(np.array([[int(token_id)]], dtype=np.int64))

    def generate(self, prompt_ids: torch.Tensor, n: int) -> list[int]:
        """The `n` greedy (arg-max) tokens that follow the prompt."""
        logits = self.prefill(prompt_ids)
        tokens: list[int] = []
        for i in range(n):
            tokens.append(int(logits.argmax()))
            if i + 1 < n:
                logits = self.step(tokens[-1])
        return tokens

    def _run(self, ids: np.ndarray) -> torch.Tensor:
        new = ids.shape[1]
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones((1, self.length + new), np.int64),
            **dict(zip(self.past_names, self.cache, strict=True)),
        }
        if self.has_positions:
            feeds["position_ids"] = np.arange(self.length, self.length + new, dtype=np.int64)[None]
        try:
            logits, *present = self.session.run(self.outputs, feeds)
        except Exception as exc:
            raise UserError(
                f"ONNX Runtime failed on the decoder ({one_line(str(exc))[:160]})",
                "check the prompt length against the model's maximum positions",
            ) from None
        self.cache, self.length = present, self.length + new
        return torch.from_numpy(logits[0, -1].astype(np.float32, copy=False))


# so `wl.measure` times a KV-cache export's generation like a torch LM's (its own session,
# at the model's thread count)
as_decoder.register(OrtDecoderModel, lambda model: OrtDecoder(model))


def _takes_a_cache(input_names: list[str]) -> bool:
    return any(name.startswith("past_key_values.") for name in input_names)


GRAPH_KINDS.append((_takes_a_cache, OrtDecoderModel))
