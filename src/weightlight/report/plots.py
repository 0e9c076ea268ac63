"""PNG plots of a run: accuracy vs size and vs latency (Pareto front marked), latency per batch
size, and size per variant.

Figures are built with matplotlib's object API (`Figure`), not pyplot: no display is needed and
the user's backend (e.g. a notebook's inline one) is never switched by importing weightlight."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from weightlight._io import atomic_path
from weightlight.report.methods import energy_label
from weightlight.report.summary import largest_batch, latency_ms, measured, pareto_front
from weightlight.report.tradeoff import tradeoff_figure
from weightlight.variants import Variant


def write_plots(variants: Sequence[Variant], folder: Path) -> dict[str, Path]:
    """Write every plot into `folder`; returns {plot name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    ok = measured(variants)
    if not ok:
        return {}
    bs = largest_batch(variants)
    plots = {
        "accuracy_vs_size": tradeoff_figure(
            ok, lambda v: v.measurement.size_bytes / 1e6, "size on disk (MB, log)",
            pareto_front(ok, lambda v: v.measurement.size_bytes),
        ),
        "accuracy_vs_latency": tradeoff_figure(
            ok, lambda v: latency_ms(v, bs), f"p50 latency at batch {bs} (ms, log)",
            pareto_front(ok, lambda v: latency_ms(v, bs)),
        ),
        "latency_by_batch": _latency_bars(ok),
        "size": _size_bars(ok),
    }  # fmt: skip
    if any(v.measurement.energy for v in ok):
        plots["energy"] = _energy_bars(ok, energy_label(ok))
    paths = {}
    for name, fig in plots.items():
        path = folder / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        paths[name] = path
    return paths


def _figure(**kwargs):
    from matplotlib.figure import Figure  # ~0.9 s to import: only when a report is drawn

    return Figure(**kwargs)


def _latency_bars(ok):
    sizes = sorted({p.batch_size for v in ok for p in v.measurement.latency})
    fig = _figure(figsize=(5 * len(sizes), 0.35 * len(ok) + 1.5))
    axes = fig.subplots(1, len(sizes), squeeze=False)
    for ax, bs in zip(axes[0], sizes, strict=True):
        names = [v.name for v in ok]
        values = [latency_ms(v, bs) or 0 for v in ok]
        ax.barh(names, values, color="tab:blue")
        ax.invert_yaxis()
        ax.set_title(f"p50 latency, batch {bs} (ms)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    return fig


def _size_bars(ok):
    fig = _figure(figsize=(7, 0.35 * len(ok) + 1.5))
    ax = fig.subplots()
    names = [v.name for v in ok]
    ax.barh(names, [v.measurement.size_bytes / 1e6 for v in ok], label="raw", color="tab:blue")
    ax.barh(names, [v.measurement.size_zipped_bytes / 1e6 for v in ok], height=0.4,
            label="zipped", color="tab:orange")  # fmt: skip
    ax.invert_yaxis()
    ax.set_xlabel("size on disk (MB)")
    ax.legend(fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _energy_bars(ok, label: str):
    """Energy per inference; the title says whether it is a RAPL reading or the estimate."""
    fig = _figure(figsize=(7, 0.35 * len(ok) + 1.5))
    ax = fig.subplots()
    names = [v.name for v in ok]
    ax.barh(names, [v.measurement.energy.joules_per_1m / 1e3 if v.measurement.energy else 0
                    for v in ok], color="tab:green")  # fmt: skip
    ax.invert_yaxis()
    title = "energy per inference (mJ)"
    if label == "estimate":
        title += "\nESTIMATE: threads x W per thread x latency (no RAPL), not measured"
    elif label:
        title += f" ({label})"
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    return fig
