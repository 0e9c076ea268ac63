"""Recipes: YAML -> typed stages. Data only: a recipe never names code to import.

A recipe is a list of stages, each a one-key mapping from the stage kind to its config, plus
optional envelope keys:

    name: cnn-prune-int8
    stages:
      - prune: {method: structured, ratio: 0.5, finetune: {epochs: 3}}
        name: pruned                 # variant name (default: "<kind>-<method>")
      - quantize: {method: static_int8}
        from: base                   # parent variant (default: the previous stage's)
    measure: {batch_sizes: [1, 64], threads: 2}

Stage configs come from each technique package's `CONFIGS` and are discriminated on `method`,
so an unknown key, a wrong type or an unknown method fails at load with the field's path and
the valid choices.
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from weightlight.accelerator import DEVICES, check_device
from weightlight.config import RECIPE_DOCS, Config, Finetune, raw_validation_errors, user_error
from weightlight.errors import UserError
from weightlight.measure.generation import GenerationOptions

BUILTIN_DIR = Path(__file__).parent / "recipes"
# Stage kind -> package whose CONFIGS tuple lists that kind's method configs.
_KIND_PACKAGES = {
    "prune": "weightlight.prune",
    "quantize": "weightlight.quantize",
    "distill": "weightlight.distill",
    "export": "weightlight.export",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class FinetuneStage(Finetune):
    """A plain fine-tune of the parent variant through the one training loop."""

    method: Literal["finetune"] = "finetune"


class MeasureOptions(Config):
    """How every variant is measured."""

    batch_sizes: tuple[int, ...] = Field((1, 64), min_length=1, description="Batch sizes timed.")
    threads: int | None = Field(None, ge=1, description="Intra-op threads (default: all cores).")
    runs: int = Field(50, ge=3, description="Timed runs per batch size.")
    warmup: int = Field(10, ge=0, description="Untimed warm-up runs per batch size.")
    generation: GenerationOptions = Field(
        GenerationOptions(),
        description="Language models: prompt and generated lengths, runs (time to first "
        "token, decode tokens/s).",
    )

    @model_validator(mode="after")
    def _positive_batches(self) -> MeasureOptions:
        if any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch sizes must be >= 1, got {list(self.batch_sizes)}")
        return self


class EnergyOptions(Config):
    """Energy, CO2 and cost assumptions (see docs/energy.md for the defaults' sources)."""

    carbon_g_per_kwh: float = Field(475.0, ge=0, description="Grid carbon intensity, gCO2e/kWh.")
    price_per_kwh: float = Field(0.15, ge=0, description="Electricity price per kWh.")
    currency: str = Field("USD", description="Currency of the price.")
    watts_per_thread: float | None = Field(
        None, gt=0, description="CPU power per busy thread when RAPL is unreadable."
    )


def stage_configs(kind: str) -> tuple[type[BaseModel], ...]:
    """The config classes a stage kind accepts (from its package's CONFIGS)."""
    if kind == "finetune":
        return (FinetuneStage,)
    try:
        module = importlib.import_module(_KIND_PACKAGES[kind])
    except ImportError:
        return ()
    return tuple(getattr(module, "CONFIGS", ()))


def stage_kinds() -> list[str]:
    return [k for k in ("prune", "quantize", "distill", "finetune", "export") if stage_configs(k)]


@functools.cache
def _stage_model() -> type[BaseModel]:
    """Build the Stage model: optional envelope keys + exactly one kind key."""
    fields: dict[str, Any] = {
        "name": (str | None, Field(None, description="Variant name (letters, digits, ._+-).")),
        "from_": (
            str | None,
            Field(None, alias="from", description="Parent variant (default: previous stage)."),
        ),
        "teacher": (
            str | list[str] | None,
            Field(None, description="Teacher variant(s) for distill stages (default: base)."),
        ),
    }
    for kind in stage_kinds():
        configs = stage_configs(kind)
        union = configs[0] if len(configs) == 1 else Union[configs]  # noqa: UP007
        annotated = Annotated[union, Field(discriminator="method")] if len(configs) > 1 else union
        fields[kind] = (annotated | None, Field(None, description=f"A {kind} stage."))
    model = create_model(
        "Stage",
        __config__=ConfigDict(frozen=True, extra="forbid", populate_by_name=True),
        **fields,
    )
    return model


def _check_one_kind(stage: BaseModel) -> BaseModel:
    kinds = [k for k in stage_kinds() if getattr(stage, k) is not None]
    if len(kinds) != 1:
        raise ValueError(
            f"a stage needs exactly one of {', '.join(stage_kinds())}; got {kinds or 'none'}"
        )
    return stage


class Recipe(BaseModel):
    """A named list of stages plus measurement and energy options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field("recipe", description="Run name (used for the run folder by default).")
    stages: tuple[Any, ...] = Field(min_length=1, description="Stages, in order.")
    measure: MeasureOptions = MeasureOptions()
    energy: EnergyOptions = EnergyOptions()
    baselines: bool = Field(True, description="Also measure the one-liner peers (torch/ORT dyn).")
    model: str | None = Field(
        None,
        description="Model when --model is not given: a built-in name (default: mnist_cnn; "
        "tiny_llama: the embedded language model).",
    )
    data: str | None = Field(
        None, description="Data when --data is not given (default: digits; python-docs)."
    )
    task: str | None = Field(None, description="Task when --task is not given (e.g. causal_lm).")
    device: str | None = Field(
        None,
        description=f"Where training, distillation, QAT and calibration run: {DEVICES} "
        "(default: the caller's --device, else auto). Measurement stays on the CPU.",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        # Only the spelling is checked here: a recipe written on a GPU machine still loads on
        # a laptop; whether the device exists is checked when the run starts.
        try:
            return None if value is None else check_device(value)
        except UserError as exc:
            raise ValueError(f"{exc.problem}; {exc.fix}") from None

    @model_validator(mode="before")
    @classmethod
    def _parse_stages(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("stages"), (list, tuple)):
            stage_model = _stage_model()
            parsed = []
            for i, raw in enumerate(values["stages"]):
                if isinstance(raw, BaseModel):
                    parsed.append(raw)
                    continue
                if not isinstance(raw, dict):
                    raise UserError(
                        f"stages[{i}] is a {type(raw).__name__}, not a mapping",
                        f"write e.g. '- prune: {{method: structured, ratio: 0.5}}'; kinds: "
                        f"{', '.join(stage_kinds())}",
                    )
                unknown = set(raw) - {"name", "from", "teacher", *stage_kinds()}
                if unknown:
                    raise UserError(
                        f"stages[{i}] has unknown key(s) {sorted(unknown)}",
                        f"use one stage kind ({', '.join(stage_kinds())}) plus optional "
                        "name / from / teacher",
                    )
                try:
                    with raw_validation_errors():
                        stage = stage_model.model_validate(raw)
                    parsed.append(_check_one_kind(stage))
                except ValidationError as exc:
                    raise user_error(exc, f"stages[{i}]", _valid_keys) from None
                except UserError as exc:  # a config's own validator explained the problem
                    kinds = [k for k in stage_kinds() if k in raw]
                    where = f"stages[{i}]" + (f".{kinds[0]}" if kinds else "")
                    raise UserError(f"{where}: {exc.problem}", exc.fix) from None
                except ValueError as exc:
                    raise UserError(f"stages[{i}]: {exc}", f"see {RECIPE_DOCS}") from None
            values = {**values, "stages": parsed}
        return values

    @model_validator(mode="after")
    def _check_names(self) -> Recipe:
        seen = {"base"}
        for i, stage in enumerate(self.stages):
            name = variant_name(stage, i)
            if not _NAME.match(name):
                raise ValueError(f"stages[{i}].name '{name}' may only use letters, digits, ._+-")
            if name in seen:
                raise ValueError(f"stages[{i}].name '{name}' is used twice")
            teachers = [stage.teacher] if isinstance(stage.teacher, str) else stage.teacher or []
            for ref in (stage.from_, *teachers):
                if ref is not None and ref not in seen:
                    raise ValueError(
                        f"stages[{i}] refers to '{ref}', which is not an earlier variant "
                        f"(earlier: {', '.join(sorted(seen))})"
                    )
            seen.add(name)
        return self


def stage_kind(stage: BaseModel) -> str:
    return next(k for k in stage_kinds() if getattr(stage, k) is not None)


def stage_config(stage: BaseModel) -> BaseModel:
    return getattr(stage, stage_kind(stage))


def variant_name(stage: BaseModel, index: int) -> str:
    if stage.name:
        return stage.name
    config = stage_config(stage)
    method = getattr(config, "method", None) or getattr(config, "format", None)
    return f"{index + 1}-{stage_kind(stage)}" + (f"-{method}" if method else "")


def parse_recipe(data: Any, source: str = "recipe") -> Recipe:
    """Validate a recipe mapping; any problem becomes a one-line UserError."""
    if not isinstance(data, dict):
        raise UserError(
            f"{source}: a recipe must be a mapping with 'stages', got {type(data).__name__}",
            "start the file with 'name: ...' and 'stages:'",
        )
    try:
        with raw_validation_errors():
            return Recipe.model_validate(data)
    except ValidationError as exc:
        err = user_error(exc, "", _valid_keys)
        raise UserError(f"{source}: {err.problem}", err.fix) from None
    except UserError as exc:
        raise UserError(f"{source}: {exc.problem}", exc.fix) from None


def load_recipe(source: str | Path) -> Recipe:
    """Load a recipe from a YAML file or a built-in name (`default`, `cnn-max-compression`...)."""
    path = Path(source)
    if not path.suffix and (BUILTIN_DIR / f"{source}.yaml").is_file():
        path = BUILTIN_DIR / f"{source}.yaml"
    if not path.is_file():
        raise UserError(
            f"recipe '{source}' not found",
            f"pass a YAML file or a built-in recipe: {', '.join(builtin_recipes())}",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # safe_load: no tags, no code
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(
            f"{path}: invalid YAML{where} ({getattr(exc, 'problem', None) or 'syntax error'})",
            "fix the indentation / syntax there",
        ) from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file", "pass a YAML recipe") from None
    if data is None:
        raise UserError(f"{path} is empty", "write a recipe with 'stages:'")
    return parse_recipe(data, str(path))


def builtin_recipes() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe as YAML (defaults filled in), for the run folder."""
    stages = []
    for stage in recipe.stages:
        item: dict[str, Any] = {stage_kind(stage): stage_config(stage).model_dump(mode="json")}
        for key, value in (("name", stage.name), ("from", stage.from_), ("teacher", stage.teacher)):
            if value is not None:
                item[key] = value
        stages.append(item)
    body = recipe.model_dump(mode="json", exclude={"stages"})
    for key in ("device", "model", "data", "task"):  # unset: older run folders' recipe.yaml
        if body.get(key) is None:  # stays identical, so they still resume
            body.pop(key, None)
    if recipe.measure.generation == GenerationOptions():
        body["measure"].pop("generation", None)
    return yaml.safe_dump({"name": body.pop("name"), "stages": stages, **body}, sort_keys=False)


def _valid_keys(loc: tuple) -> list[str]:
    """Field names of the config that an unknown key was found in (for the error message)."""
    if not loc or loc[0] not in _KIND_PACKAGES and loc[0] != "finetune":
        model: Any = {"measure": MeasureOptions, "energy": EnergyOptions}.get(str(loc[0]))
        rest = loc[1:-1]
        if model is None:
            return sorted(Recipe.model_fields) if len(loc) == 1 else []
    else:
        configs = stage_configs(str(loc[0]))
        model = configs[0] if len(configs) == 1 else None
        rest = loc[1:-1]
        if model is None and len(loc) > 1:
            model = next((c for c in configs if _method_of(c) == loc[1]), None)
            rest = loc[2:-1]
    for key in rest:
        field = model.model_fields.get(str(key)) if model else None
        sub = getattr(field, "annotation", None) if field else None
        subs = [a for a in getattr(sub, "__args__", (sub,)) if isinstance(a, type)]
        model = next((a for a in subs if issubclass(a, BaseModel)), None)
    return sorted(model.model_fields) if model else []


def _method_of(config: type[BaseModel]) -> Any:
    field = config.model_fields.get("method")
    return field.default if field else None
