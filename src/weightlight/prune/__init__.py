"""Pruning: `wl.prune(model, wl.prune.Structured(ratio=0.5), data)` -> a new, lighter model.

Methods (one config class each, `method` is the recipe discriminator):
- `Unstructured` ("unstructured"): magnitude / random weight masks, layer-wise or global.
- `Structured` ("structured"): channels and neurons physically removed (Torch-Pruning); on
  transformers, attention heads, FFN neurons and whole blocks (`prune.transformer`).
- `NM` ("nm"): N:M semi-structured masks (2:4 by default).
- `Wanda` ("wanda"): |W| x input-activation norm, per output row, unstructured or N:M,
  calibrated on the data (LLM pruning without retraining).
- `Gradual` ("gradual"): Unstructured or Structured reached step by step during training.
`sensitivity(model, data)` prunes each layer alone to show which layers tolerate pruning.
"""

from weightlight._callable_module import make_callable
from weightlight.prune._base import PruneConfig
from weightlight.prune.dispatch import handler, prune
from weightlight.prune.gradual import Gradual
from weightlight.prune.nm import NM, nm_mask
from weightlight.prune.schedule import agp, linear
from weightlight.prune.sensitivity import SensitivityResult, sensitivity
from weightlight.prune.structured import Structured
from weightlight.prune.unstructured import Unstructured, make_permanent
from weightlight.prune.wanda import Wanda

# The recipe schema is built from these (discriminated on `method`).
CONFIGS: tuple[type[PruneConfig], ...] = (Unstructured, Structured, NM, Gradual, Wanda)

__all__ = [
    "CONFIGS",
    "NM",
    "Gradual",
    "PruneConfig",
    "SensitivityResult",
    "Structured",
    "Unstructured",
    "Wanda",
    "agp",
    "handler",
    "linear",
    "make_permanent",
    "nm_mask",
    "prune",
    "sensitivity",
]

make_callable(__name__, prune)
