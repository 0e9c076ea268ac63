"""Sparsity schedules for gradual pruning: pure functions of the step.

Both ramp from `initial` at step `start` to `final` at step `start + steps * interval`, and
hold the end values outside that window.
"""

from __future__ import annotations

from collections.abc import Callable

Schedule = Callable[..., float]


def _progress(t: int, start: int, steps: int, interval: int) -> float:
    if steps < 1 or interval < 1:
        raise ValueError("steps and interval must be >= 1")
    return min(max((t - start) / (steps * interval), 0.0), 1.0)


def agp(
    t: int, *, initial: float, final: float, start: int, steps: int, interval: int = 1
) -> float:
    """Automated gradual pruning (Zhu & Gupta 2017, "To prune, or not to prune").

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3: prunes fast while many redundant
    weights remain, then slows down so training can recover.

    Example:
        >>> round(agp(5, initial=0.0, final=0.8, start=0, steps=10), 4)
        0.7
    """
    return final + (initial - final) * (1.0 - _progress(t, start, steps, interval)) ** 3


def linear(
    t: int, *, initial: float, final: float, start: int, steps: int, interval: int = 1
) -> float:
    """Sparsity rising in a straight line from `initial` to `final`.

    Example:
        >>> linear(5, initial=0.0, final=0.8, start=0, steps=10)
        0.4
    """
    return initial + (final - initial) * _progress(t, start, steps, interval)


SCHEDULES: dict[str, Schedule] = {"agp": agp, "linear": linear}


def ratios(name: str, final: float, steps: int) -> list[float]:
    """Sparsity after each of `steps` equal pruning events: [s_0 = 0, s_1, ..., s_steps = final].

    This is the shape Torch-Pruning's `iterative_pruning_ratio_scheduler` returns.
    """
    fn = SCHEDULES[name]
    return [fn(i, initial=0.0, final=final, start=0, steps=steps) for i in range(steps + 1)]
