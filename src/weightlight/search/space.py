"""Search spaces: a recipe in YAML where a list means "choose one".

    name: cnn
    stages:
      - prune: {method: structured, ratio: [0.5, 0.7, 0.8], finetune: {epochs: 3}}
        optional: true                       # the trial may skip this stage
      - export: {format: onnx, quantize: [null, static_int8]}
      - quantize:                            # a list of mappings: choose the method too
          - {method: static_int8, calibration: [minmax, percentile]}
          - {method: dynamic_int8, exclude: {fragile: [0, 1, 2]}}
      - one_of:                              # choose the stage kind too (e.g. the runtime)
          - quantize: {method: static_int8}
          - export: {format: onnx, quantize: [null, static_int8]}
    measure: {batch_sizes: [1, 64]}

Rules:
- A list value is a choice. A value that is itself a list (e.g. `exclude`) is written inside
  the choice list: `exclude: [[], [fc2]]`.
- `{fragile: [0, 1, 2]}` chooses how many of the most sensitive layers (from the sensitivity
  analysis run before the search) go into that field: `exclude` keeps them in float, `ignore`
  keeps them unpruned.
- `optional: true` lets a trial drop the stage.
- `one_of: [<stage>, <stage>, ...]` picks one whole stage per trial, of any kind.
- The first value of every choice, without the optional stages, is the space's starting plan:
  the search runs it as its first trial (put the plan you would try by hand first), so its
  best is never worse than that plan.
Every sampled recipe is validated by the recipe loader, so a space cannot build a recipe that
`weightlight run` would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from weightlight.errors import UserError
from weightlight.recipe import Recipe, parse_recipe, stage_kinds

BUILTIN_DIR = Path(__file__).parent / "spaces"
_ENVELOPE = {"name", "optional"}
_ONE_OF = "one_of"


class Suggest(Protocol):
    """What a space needs from an optuna trial (so tests can pass a plain object)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class SearchSpace:
    """A parsed search space: stage templates plus the recipe envelope (measure, energy).

    Attributes:
        name: the space's name (used for the study name by default).
        stages: one template per stage: {"kind", "options" (list of config templates),
            "optional", "name"}.
        envelope: recipe keys copied to every sampled recipe (measure, energy).
    """

    name: str
    stages: tuple[dict, ...]
    envelope: dict

    def sample(self, trial: Suggest, fragile: Sequence[str] = ()) -> Recipe:
        """The concrete recipe for one trial (choices made with `trial.suggest_categorical`).

        Args:
            trial: an optuna trial (or anything with `suggest_categorical`).
            fragile: layer names, most sensitive first, for `{fragile: [...]}` fields.

        Example:
            >>> space = load_space("cnn")
            >>> recipe = space.sample(optuna.trial.FixedTrial({...}))  # doctest: +SKIP
        """
        stages = []
        for i, stage in enumerate(self.stages):
            key = f"s{i}.{stage['kind']}"
            # False first: the starting plan (every first choice) skips optional stages
            if stage["optional"] and not trial.suggest_categorical(f"{key}.use", [False, True]):
                continue
            if stage["kind"] == _ONE_OF:
                labels = [_label(c, k) for k, c in enumerate(stage["choices"])]
                stage = stage["choices"][labels.index(trial.suggest_categorical(key, labels))]
                key = f"{key}.{stage['kind']}"
            options = stage["options"]
            index = 0
            if len(options) > 1:
                methods = [str(o.get("method", o.get("format", k))) for k, o in enumerate(options)]
                index = methods.index(trial.suggest_categorical(f"{key}.method", methods))
                key = f"{key}.{methods[index]}"
            config = _resolve(options[index], trial, key, fragile)
            item = {stage["kind"]: config}
            stages.append(item)
        if not stages:  # every stage skipped: a recipe needs one; a no-op fine-tune is not free
            raise UserError(
                f"space '{self.name}' sampled a trial with no stage",
                "make at least one stage non-optional",
            )
        _name_chain(stages)
        return parse_recipe(
            {"name": self.name, "stages": stages, **self.envelope, "baselines": False},
            f"space '{self.name}'",
        )

    def uses_fragile(self) -> bool:
        """Whether any field chooses from the fragile layers (so sensitivity must run)."""
        return "fragile" in json.dumps([_flat(s) for s in self.stages])

    def start(self) -> dict[str, Any]:
        """The starting plan's choices (optuna params): every choice's first value."""
        recorder = _Recorder()
        self.sample(recorder, ["x"] * 64)  # placeholder layer names: only the counts are kept
        return recorder.params


class _Recorder:
    """A trial that takes every first choice and remembers what it was asked."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.params[name] = choices[0]
        return choices[0]


def alternatives(stage: dict, key: str) -> list[tuple[dict, str, dict]]:
    """(stage template, param key prefix, params that pick it) for each alternative."""
    if stage["kind"] != _ONE_OF:
        return [(stage, key, {})]
    return [(alt, f"{key}.{alt['kind']}", {key: _label(alt, k)})
            for k, alt in enumerate(stage["choices"])]  # fmt: skip


def _flat(stage: dict) -> list:
    """Every config template of a stage (a one_of stage's alternatives included)."""
    return [option for alt, _, _ in alternatives(stage, "") for option in alt["options"]]


def _label(stage: dict, index: int) -> str:
    """The choice label of a one_of alternative: its kind and method, e.g. 'export-onnx'."""
    first = stage["options"][0]
    return f"{index}-{stage['kind']}-{first.get('method', first.get('format', ''))}"


def _resolve(template: Any, trial: Suggest, key: str, fragile: Sequence[str]) -> Any:
    """Replace every choice in a config template by the trial's pick."""
    if isinstance(template, dict):
        if set(template) == {"fragile"}:
            counts = template["fragile"]
            counts = counts if isinstance(counts, list) else [counts]
            k = trial.suggest_categorical(f"{key}.fragile", counts)
            return list(fragile[: int(k)])
        return {k: _resolve(v, trial, f"{key}.{k}", fragile) for k, v in template.items()}
    if isinstance(template, list):
        # optuna stores only None/bool/int/float/str choices: lists travel as JSON text
        plain = all(v is None or isinstance(v, (bool, int, float, str)) for v in template)
        choices = template if plain else [json.dumps(v) for v in template]
        picked = trial.suggest_categorical(key, choices)
        value = picked if plain else json.loads(picked)
        return _resolve(value, trial, key, fragile) if isinstance(value, dict) else value
    return template


def _name_chain(stages: list[dict]) -> None:
    """Name each stage after its kind so a trial's variants read e.g. prune -> export."""
    for i, item in enumerate(stages):
        kind = next(iter(item))
        method = item[kind].get("method") or item[kind].get("format") or kind
        item["name"] = f"{i + 1}-{kind}-{method}"


def parse_space(data: Any, source: str = "space") -> SearchSpace:
    """Validate a search-space mapping; every problem is a one-line UserError.

    Each stage's first option is checked with every choice at its first value, so a typo in a
    key fails here, before any trial runs.
    """
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise UserError(
            f"{source}: a search space needs a non-empty 'stages' list",
            "write e.g. 'stages: [{prune: {method: structured, ratio: [0.3, 0.5]}}]'",
        )
    unknown = set(data) - {"name", "stages", "measure", "energy"}
    if unknown:
        raise UserError(f"{source}: unknown key(s) {sorted(unknown)}", "use name, stages, measure")
    stages = []
    for i, raw in enumerate(data["stages"]):
        if isinstance(raw, dict) and _ONE_OF in raw:
            stages.append(_parse_one_of(raw, i, source))
        else:
            stages.append(_parse_stage(raw, i, source))
    envelope = {k: data[k] for k in ("measure", "energy") if k in data}
    space = SearchSpace(str(data.get("name", "search")), tuple(stages), envelope)
    for i, stage in enumerate(stages):  # validate every option with its first choices
        for alternative, _, _ in alternatives(stage, ""):
            for option in alternative["options"]:
                first = _resolve(option, FirstChoice(), "check", ["x"])
                try:
                    parse_recipe({"stages": [{alternative["kind"]: first}], **envelope}, source)
                except UserError as exc:  # the one-stage probe is stage 0: name the real index
                    problem = exc.problem.replace("stages[0]", f"stages[{i}]", 1)
                    raise UserError(problem, exc.fix) from None
    return space


def _parse_stage(raw: Any, i: int, source: str, allowed: set[str] = _ENVELOPE) -> dict:
    """One stage template: {kind, options (config templates), optional}."""
    kinds = stage_kinds()
    if not isinstance(raw, dict):
        raise UserError(f"{source}: stages[{i}] is not a mapping", "write '- prune: {...}'")
    found = [k for k in raw if k in kinds]
    extra = set(raw) - set(kinds) - allowed
    if len(found) != 1 or extra:
        raise UserError(
            f"{source}: stages[{i}] needs exactly one of {', '.join(kinds)} or one_of "
            f"(got {found or 'none'}{', unknown ' + str(sorted(extra)) if extra else ''})",
            "plus optional 'optional: true'",
        )
    kind = found[0]
    options = raw[kind] if isinstance(raw[kind], list) else [raw[kind]]
    if not options or not all(isinstance(o, dict) for o in options):
        raise UserError(f"{source}: stages[{i}].{kind} must be a mapping or a list of them",
                        "write e.g. {method: static_int8}")  # fmt: skip
    return {"kind": kind, "options": options, "optional": bool(raw.get("optional"))}


def _parse_one_of(raw: dict, i: int, source: str) -> dict:
    """A stage chosen among whole stages of any kind: {kind: one_of, choices, optional}."""
    extra = set(raw) - {_ONE_OF, "optional"}
    alternatives = raw[_ONE_OF]
    if extra or not isinstance(alternatives, list) or len(alternatives) < 2:
        raise UserError(
            f"{source}: stages[{i}].one_of needs a list of at least two stages"
            + (f" (unknown {sorted(extra)})" if extra else ""),
            "write e.g. 'one_of: [{quantize: {method: static_int8}}, {export: {format: onnx}}]'",
        )
    choices = [_parse_stage(alt, i, source, allowed=set()) for alt in alternatives]
    return {"kind": _ONE_OF, "choices": choices, "optional": bool(raw.get("optional"))}


class FirstChoice:
    """A stand-in trial that always takes the first choice (validation, probes)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return choices[0]


def load_space(source: str | Path) -> SearchSpace:
    """Load a search space from a YAML file or a built-in name (`cnn`, `bert`, `tiny`).

    Example:
        >>> load_space("cnn").name
        'cnn'
    """
    path = Path(source)
    if not path.suffix and (BUILTIN_DIR / f"{source}.yaml").is_file():
        path = BUILTIN_DIR / f"{source}.yaml"
    if not path.is_file():
        raise UserError(
            f"search space '{source}' not found",
            f"pass a YAML file or a built-in space: {', '.join(builtin_spaces())}",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid YAML ({type(exc).__name__})", "fix the file") from None
    return parse_space(data, str(path))


def builtin_spaces() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))
