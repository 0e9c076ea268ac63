"""The metric-vs-cost plots: a readable Pareto picture however the points fall.

Two things made the default demo's plots unreadable: several variants share one point (five
names printed over each other), and one far-off variant (pruned without fine-tuning, at 57-69 %)
stretched the metric axis so every other point sat in its top tenth. Here each variant gets a
number, points that fall within a few pixels of each other share one label ("2,4,5"), a key
beside the plot names the numbers, and the metric axis spans the useful range
(`focus_range`): a variant far below it is drawn on the axis edge as an arrow with its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from weightlight.variants import Variant

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Labels of points closer than this (display pixels at the saved dpi) are merged.
_NEAR_PX = 9.0


def focus_range(values: Sequence[float], higher_is_better: bool = True) -> tuple[float, float]:
    """(low, high) limits of the metric axis that show the useful range.

    The useful range reaches from the best value down to 3x the 75th percentile of the drops
    from it (at least 1 % of the best's magnitude), so a few far-off points do not squeeze the
    rest; when every point fits, the limits simply hold them all. The span is at least 2 % of
    the best's magnitude; padding is 8 % either side.

    Example:
        >>> focus_range([98.3, 98.1, 97.8, 57.5])  # the far-off 57.5 is left out
        (96.17..., 98.45...)
    """
    best = max(values) if higher_is_better else min(values)
    drops = sorted(abs(best - v) for v in values)
    q75 = drops[min(len(drops) - 1, math.ceil(0.75 * len(drops)) - 1)]
    limit = max(3 * q75, 0.01 * abs(best), 1e-9)
    kept = [v for v in values if abs(best - v) <= limit]
    lo, hi = min(kept), max(kept)
    # At least 2 % of the best's magnitude (2 points of accuracy), grown on the worse side, so
    # a one-sample difference does not fill the whole axis.
    span = 0.02 * abs(best)
    if hi - lo < span:
        lo, hi = (hi - span, hi) if higher_is_better else (lo, lo + span)
    pad = 0.08 * max(hi - lo, 1e-9)
    return lo - pad, hi + pad


def label_groups(points: Sequence[tuple[float, float]], near: float = _NEAR_PX) -> list[list[int]]:
    """Indices of points grouped so that each group's members lie within `near` of its first
    (points in display pixels); groups keep the points' order.

    Example:
        >>> label_groups([(0, 0), (3, 4), (100, 0)])
        [[0, 1], [2]]
    """
    groups: list[list[int]] = []
    for i, (x, y) in enumerate(points):
        for group in groups:
            gx, gy = points[group[0]]
            if math.hypot(x - gx, y - gy) <= near:
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


def tradeoff_figure(
    ok: Sequence[Variant], x_of: Callable[[Variant], float | None], xlabel: str, front: list[str]
) -> Figure:
    """Metric against a cost (log x): Pareto front in red, numbered points, a key at the right."""
    from matplotlib.figure import Figure  # ~0.9 s to import: only when a report is drawn
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_axes((0.08, 0.12, 0.62, 0.8))
    pts = [(x_of(v), v.measurement.metric, v) for v in ok]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if not pts:
        return fig
    higher = ok[0].measurement.metric_higher_is_better
    lo, hi = focus_range([y for _, y, _ in pts], higher)
    ax.set_ylim(lo, hi)
    xs = [x for x, _, _ in pts]
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 1.4, max(xs) * 1.4)
    # Ticks at 1, 2, 5 x 10^k written plainly: within a decade or two matplotlib otherwise
    # labels every minor tick as "3x10^-1" and the labels run into each other.
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    shown = []  # (x, y drawn, variant, off-axis)
    for x, y, v in pts:
        off = y < lo or y > hi
        shown.append((x, min(max(y, lo), hi), v, off))
    for x, y, v, off in shown:
        on_front = v.name in front
        marker = ("v" if y <= lo else "^") if off else "s" if v.kind == "baseline" else "o"
        ax.scatter(x, y, s=70 if on_front else 35, marker=marker, clip_on=False,
                   color="tab:red" if on_front else "tab:gray", zorder=3)  # fmt: skip
    line = sorted((x, y) for x, y, v, _ in shown if v.name in front)
    if line:
        ax.step([p[0] for p in line], [p[1] for p in line], where="post", color="tab:red",
                alpha=0.6, label="Pareto front")  # fmt: skip
    if any(v.name in front for v in ok):  # beside the key: inside the axes it hid points
        ax.scatter([], [], s=70, color="tab:red", label="on the Pareto front")
        fig.legend(loc="lower left", bbox_to_anchor=(0.71, 0.1), fontsize=8, frameon=False)
    pixels = [tuple(ax.transData.transform((x, y))) for x, y, _, _ in shown]
    for group in label_groups(pixels, _NEAR_PX * fig.dpi / 72):
        x, y, _, off = shown[group[0]]
        text = ",".join(str(i + 1) for i in group)
        below = off and y <= lo
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, 5 if not below else 6),
                    fontsize=8, fontweight="bold", clip_on=False)  # fmt: skip
    key = []
    for number, (_, _, v, off) in enumerate(shown, 1):
        value = f" ({v.measurement.metric:.4g}, off the axis)" if off else ""
        key.append(f"{number:>2}  {v.name}{value}")
    fig.text(0.72, 0.92, "\n".join(key), va="top", ha="left", fontsize=7.5, family="monospace")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ok[0].measurement.metric_name)
    ax.grid(alpha=0.3)
    if any(off for *_, off in shown):
        ax.set_title("axis spans the useful range; arrows mark variants beyond it", fontsize=8)
    return fig
