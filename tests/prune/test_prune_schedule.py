"""AGP and linear schedules as pure functions: exact values at chosen steps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weightlight.prune.schedule import agp, linear, ratios

RAMP = {"initial": 0.0, "final": 0.8, "start": 0, "steps": 10}


@pytest.mark.parametrize(
    ("t", "expected"),
    [(-3, 0.0), (0, 0.0), (5, 0.7), (8, 0.8 - 0.8 * 0.2**3), (10, 0.8), (50, 0.8)],
)
def test_agp_values(t, expected):
    # s_t = s_f + (s_i - s_f)(1 - (t - t0) / (n dt))^3, held outside [t0, t0 + n dt]
    assert agp(t, **RAMP) == pytest.approx(expected, abs=1e-12)


def test_agp_with_offset_and_interval():
    # t0 = 100, dt = 10, n = 4: step 120 is half-way -> 0.9 + (0.1 - 0.9) * 0.5^3 = 0.8
    assert agp(120, initial=0.1, final=0.9, start=100, steps=4, interval=10) == pytest.approx(0.8)
    assert agp(100, initial=0.1, final=0.9, start=100, steps=4, interval=10) == pytest.approx(0.1)


@pytest.mark.parametrize(("t", "expected"), [(0, 0.0), (5, 0.4), (7, 0.56), (10, 0.8), (11, 0.8)])
def test_linear_values(t, expected):
    assert linear(t, **RAMP) == pytest.approx(expected)


def test_ratios_lists_for_torch_pruning():
    assert ratios("linear", 0.5, 4) == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5])
    assert ratios("agp", 0.5, 2) == pytest.approx([0.0, 0.4375, 0.5])


@given(st.integers(-5, 30), st.integers(-5, 30))
def test_agp_is_monotone_and_ahead_of_linear(a, b):
    lo, hi = sorted((a, b))
    assert agp(lo, **RAMP) <= agp(hi, **RAMP) + 1e-12
    assert agp(lo, **RAMP) >= linear(lo, **RAMP) - 1e-12  # prunes early, then slows


def test_bad_window():
    with pytest.raises(ValueError):
        agp(1, initial=0.0, final=0.5, start=0, steps=0)
