"""The Measurement record: one model on one runtime, frozen, JSON in and out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LatencyPoint(BaseModel):
    """Latency of one batch size: median and p90 over `runs` timed calls after `warmup`."""

    model_config = ConfigDict(frozen=True)

    batch_size: int
    p50_ms: float
    p90_ms: float
    mean_ms: float
    throughput_per_s: float  # samples per second at the median latency
    runs: int
    warmup: int
    # The highest 1-minute load average read before and after the timed calls (None: not
    # available, or a record written before it was kept). Above the threads in use, other work
    # shared the cores while this was timed: the report says so (`busy_timings`).
    load: float | None = None


class GenerationPoint(BaseModel):
    """Generation of a causal LM, as its users time it (`weightlight.measure.generation`):
    batch 1, a `prompt_tokens` prompt, then `new_tokens` greedy steps with the key/value cache.

    Prefill is the time to the first token; decode figures are per generated token (median and
    p90 over `runs` generations), and tokens per second is at the median.
    """

    model_config = ConfigDict(frozen=True)

    batch_size: int = 1
    prompt_tokens: int
    new_tokens: int
    prefill_ms_p50: float
    prefill_ms_p90: float
    decode_ms_per_token_p50: float
    decode_ms_per_token_p90: float
    decode_tokens_per_s: float
    runs: int
    warmup: int
    threads: int
    peak_memory_bytes: int | None = None
    peak_memory_method: str | None = None


class Energy(BaseModel):
    """Energy, CO2 and cost of one million inferences, and how they were estimated."""

    model_config = ConfigDict(frozen=True)

    joules_per_1m: float
    kwh_per_1m: float
    co2_g_per_1m: float
    cost_per_1m: float
    currency: str
    watts: float
    batch_size: int
    method: str
    # True: power is the model `threads x W per thread`, not a reading (old records: from
    # the method text, which then began with "estimate").
    estimate: bool | None = None

    def model_post_init(self, _context) -> None:
        if self.estimate is None:
            object.__setattr__(self, "estimate", self.method.startswith("estimate"))


class Measurement(BaseModel):
    """Everything weightlight measures about one model variant.

    `methods` says, for each field, how it was obtained (so a reader can judge it), and
    `notes` carries plain-language warnings such as "int8 measured slower than its fp32 source".
    """

    model_config = ConfigDict(frozen=True)

    name: str
    runtime: str
    params: int
    nonzero_params: int
    size_bytes: int
    size_zipped_bytes: int
    artifact_format: str
    macs: int | None
    threads: int
    latency: tuple[LatencyPoint, ...]
    metric_name: str
    metric: float | None
    peak_memory_bytes: int | None
    energy: Energy | None = None
    methods: dict[str, str]
    notes: tuple[str, ...] = ()
    # The task's direction and worst sample (embedding: the least faithful sentence);
    # defaults keep records written before tasks existed loadable.
    metric_higher_is_better: bool = True
    metric_worst: float | None = None
    # Selection uses the validation split, reports use the test split (`metric`); the sample
    # counts give the confidence intervals. Absent in records written before the split.
    val_metric: float | None = None
    metric_samples: int | None = None
    val_samples: int | None = None
    # The int8 kernels' path and settings, e.g. "x86 AVX2, reduce range on" (None: not int8).
    int8_path: str | None = None
    device: str | None = None  # what ran the timed calls ("cpu", "cuda:0"); None in old records
    # A causal LM's generation figures (None: another task, a runtime without a key/value
    # cache decoder, or a record written before they were measured).
    generation: GenerationPoint | None = None

    def metric_drop(self, base: Measurement) -> float | None:
        """How much worse this metric is than `base`'s (positive = worse), by its direction."""
        return self._worse_by(self.metric, base.metric)

    def val_drop(self, base: Measurement) -> float | None:
        """How much worse the validation metric is than `base`'s (positive = worse)."""
        return self._worse_by(self.val_metric, base.val_metric)

    def _worse_by(self, mine: float | None, theirs: float | None) -> float | None:
        if mine is None or theirs is None:
            return None
        diff = theirs - mine
        return diff if self.metric_higher_is_better else -diff

    def latency_at(self, batch_size: int) -> LatencyPoint | None:
        """The latency point for `batch_size`, if it was measured."""
        return next((p for p in self.latency if p.batch_size == batch_size), None)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero_params / self.params if self.params else 0.0

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        return cls.model_validate_json(text)

    def with_updates(self, **changes) -> Measurement:
        """A copy with some fields replaced (the record itself stays frozen)."""
        return self.model_copy(update=changes)
