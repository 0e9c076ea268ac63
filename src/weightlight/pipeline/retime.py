"""The end of a run: every variant re-timed together, forward passes and generation alike.

Each variant was timed right after it was made, in whatever state the process and the machine
were in then; a slow spell that lands on one variant's turn changes the ratios, and with them
which variant is "best". Here all are timed again in interleaved rounds (every variant in
every round, rotating order, the same thread count), and the report's latency, energy and
generation figures come from these rounds. A variant whose model cannot be reloaded (a
resumed run) keeps its first figures, and the report's method table shows that they were
measured differently.
"""

from __future__ import annotations

import contextlib

import torch

from weightlight.measure.energy import with_energy
from weightlight.measure.generation import INTERLEAVED_METHOD as GENERATION_INTERLEAVED
from weightlight.measure.generation import (
    as_decoder,
    generate,
    interleaved_generation,
    prompt_from,
)
from weightlight.measure.latency import INTERLEAVED_METHOD, interleaved_latency
from weightlight.measure.runnable import as_runnable
from weightlight.recipe import Recipe

# Rounds of the final interleaved timing: enough that one slow spell is outvoted.
RETIME_ROUNDS = 5


def retime_latency(state, threads: int) -> dict:
    """Forward latency of every measured variant, interleaved; {name: updated Measurement}."""
    options = state.recipe.measure
    runs = {}
    for v in state.variants:
        model = state.model(v.name) if v.ok else None
        with contextlib.suppress(Exception):
            runnable = as_runnable(model, state.data.adapter)
            runnable.set_threads(threads)
            runs[v.name] = runnable.run
    if not runs:
        return {}
    points = interleaved_latency(
        runs, state.data.example_batch, tuple(options.batch_sizes),
        warmup=min(options.warmup, 3), runs_per_variant=options.runs, rounds=RETIME_ROUNDS,
    )  # fmt: skip
    method = INTERLEAVED_METHOD.format(
        n=len(runs), rounds=RETIME_ROUNDS, warmup=min(options.warmup, 3),
        per_round=max(1, -(-options.runs // RETIME_ROUNDS)), threads=threads,
    )  # fmt: skip
    fresh = {}
    for v in state.variants:
        if v.name not in points:
            continue
        m = v.measurement
        notes = tuple(n for n in m.notes if not n.startswith("int8 measured SLOWER"))
        m = m.with_updates(
            latency=points[v.name], methods={**m.methods, "latency": method}, notes=notes
        )
        if m.energy is not None:  # energy follows latency; a RAPL reading keeps its watts
            watts = None if m.energy.estimate else m.energy.watts
            m = with_energy(m, rapl_watts=watts, **energy_options(state.recipe))
        fresh[v.name] = m
    return fresh


def retime_generation(state, measurements: dict, threads: int) -> dict:
    """Generation of every variant that decoded when it was made, interleaved; updates
    `measurements` ({name: Measurement}, the latency re-timing's) and returns it."""
    options = state.recipe.measure.generation
    prompt = prompt_from(state.data.eval, options.prompt_tokens)
    decoders = {}
    for v in state.variants:
        if not v.ok or v.measurement is None or v.measurement.generation is None:
            continue
        with contextlib.suppress(Exception):  # not reloadable: keeps its first figures
            decoder = as_decoder(state.model(v.name))
            generate(decoder, prompt, 1)
            decoders[v.name] = decoder
    if not decoders:
        return measurements
    points = interleaved_generation(
        decoders, prompt,
        new_tokens=options.new_tokens, runs=options.runs, warmup=options.warmup,
        rounds=RETIME_ROUNDS, threads=threads,
    )  # fmt: skip
    method = GENERATION_INTERLEAVED.format(
        n=len(decoders), rounds=RETIME_ROUNDS, prompt=options.prompt_tokens,
        new=options.new_tokens, warmup=options.warmup,
        per_round=max(1, -(-options.runs // RETIME_ROUNDS)), threads=threads,
    )  # fmt: skip
    for v in state.variants:
        if v.name not in points:
            continue
        m = measurements.get(v.name, v.measurement)
        first = m.generation  # its peak memory was measured in a child of its own: kept
        point = points[v.name].model_copy(update={
            "peak_memory_bytes": first.peak_memory_bytes,
            "peak_memory_method": first.peak_memory_method,
        })  # fmt: skip
        measurements[v.name] = m.with_updates(
            generation=point, methods={**m.methods, "generation": method}
        )
    return measurements


def retime(state) -> dict:
    """Re-time every variant of `state` (a RunState) together: {name: new Measurement}."""
    options = state.recipe.measure
    threads = options.threads or torch.get_num_threads()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        measurements = retime_latency(state, threads)
        if state.data.task == "causal_lm":
            measurements = retime_generation(state, measurements, threads)
    finally:
        torch.set_num_threads(previous)
    return measurements


def energy_options(recipe: Recipe) -> dict:
    """The recipe's energy settings as `measure_energy` keywords (runs and searches alike)."""
    e = recipe.energy
    return {"carbon_g_per_kwh": e.carbon_g_per_kwh, "price_per_kwh": e.price_per_kwh,
            "currency": e.currency, "watts_per_thread": e.watts_per_thread}  # fmt: skip
