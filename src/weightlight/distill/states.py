"""What transformer distillation reads from a model: its hidden states and logits, by asking.

Any Hugging Face encoder or decoder returns every block's output when called with
`output_hidden_states=True` (`hidden_states[0]` is the embedding output, `hidden_states[k]`
the k-th block's), so the methods here never walk attribute paths like `encoder.layer`: a BERT,
a DistilBERT, a GPT-2 and a Llama are read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.outputs import output_tensor


def forward_states(model: nn.Module, inputs, role: str = "model"):
    """(model output, tuple of hidden states) of one dict batch."""
    if not isinstance(inputs, Mapping):
        raise UserError(
            f"hidden-state distillation needs dict batches of tokens, the {role} got a "
            f"{type(inputs).__name__}",
            "use text data (input_ids, attention_mask), e.g. --data text.txt",
        )
    try:
        out = model(**inputs, output_hidden_states=True)
    except TypeError as exc:
        raise UserError(
            f"the {role} ({type(model).__name__}) does not take output_hidden_states "
            f"({str(exc).splitlines()[0][:120]})",
            "pass a Hugging Face transformers model (encoder or decoder)",
        ) from None
    states = getattr(out, "hidden_states", None)
    if states is None and isinstance(out, Mapping):
        states = out.get("hidden_states")
    if not states:
        raise UserError(
            f"the {role} ({type(model).__name__}) returns no hidden_states",
            "pass a Hugging Face transformers model (it returns them with "
            "output_hidden_states=True)",
        )
    return out, tuple(states)


def logits(out) -> torch.Tensor:
    """The logits of a model output (the causal LM head's)."""
    return output_tensor(out, "logits")


def layer_map(n_student: int, n_teacher: int, given: dict[int, int] | None) -> dict[int, int]:
    """Student hidden-state index -> teacher index (0 = embeddings, k = block k's output).

    Default: the uniform map of TinyBERT (Jiao et al. 2020, arXiv:1909.10351, section 3.3),
    student block i <- teacher block round(i * n_teacher / n_student), so the last blocks are
    matched and a student with half the blocks learns every second teacher block.

    Example:
        >>> layer_map(3, 6, None)
        {0: 0, 1: 2, 2: 4, 3: 6}
    """
    if given is None:
        return {i: round(i * n_teacher / n_student) for i in range(n_student + 1)}
    for s, t in given.items():
        if not (0 <= s <= n_student and 0 <= t <= n_teacher):
            raise UserError(
                f"layers maps student {s} -> teacher {t}, but the student has hidden states "
                f"0..{n_student} and the teacher 0..{n_teacher}",
                "use indices 0 (embeddings) .. number of blocks",
            )
    return dict(given)
