"""Accuracy-aware search over compression recipes, and the technique advisor.

    result = wl.search(model, data, space="cnn", max_drop=1.0, objective="latency", trials=20)
    result.best.variant.name, [t.variant.name for t in result.front]
    advice = wl.search.advise(model, data)

`space.py` parses search spaces (a recipe where a list means "choose"), `study.py` runs the
optuna study (`storage.py` opens it, `trial.py` runs one trial, `results.py` holds what it
found), `sensitivity.py` ranks fragile layers to seed it, `advise.py` is the advisor.
"""

from weightlight._callable_module import make_callable
from weightlight.search.advise import Advice, advise
from weightlight.search.sensitivity import onnx_quantization_sensitivity, quantization_sensitivity
from weightlight.search.space import SearchSpace, builtin_spaces, load_space, parse_space
from weightlight.search.study import OBJECTIVES, SearchResult, TrialResult, search

__all__ = [
    "OBJECTIVES",
    "Advice",
    "SearchResult",
    "SearchSpace",
    "TrialResult",
    "advise",
    "builtin_spaces",
    "load_space",
    "parse_space",
    "onnx_quantization_sensitivity",
    "quantization_sensitivity",
    "search",
]

make_callable(__name__, search)
