"""Timings taken while other work shared the cores say so, as pyperf warns about system noise.

The load average is faked: the figures and the report's sentence must follow it.
"""

from __future__ import annotations

import os

import pytest
import torch
from rich.console import Console

import weightlight as wl
from weightlight.measure.latency import interleaved_latency, measure_latency
from weightlight.report import build_report, measurement_table
from weightlight.variants import Variant, write_variants


def _fake_load(monkeypatch, *readings: float) -> None:
    """os.getloadavg returns `readings` one after another (the last one repeats)."""
    values = list(readings)

    def getloadavg():
        value = values.pop(0) if len(values) > 1 else values[0]
        return (value, value, value)

    monkeypatch.setattr(os, "getloadavg", getloadavg)


def test_each_point_keeps_the_highest_load_read_before_and_after(monkeypatch):
    _fake_load(monkeypatch, 0.5, 3.4, 1.0, 0.7)  # bs1: before 0.5, after 3.4; bs4: 1.0, 0.7
    points = measure_latency(lambda b: None, torch.zeros, (1, 4), warmup=0, runs=5)
    assert [p.load for p in points] == [3.4, 1.0]
    _fake_load(monkeypatch, 2.5, 0.2)
    timed = interleaved_latency({"a": lambda b: None, "b": lambda b: None}, torch.zeros, (1, 2),
                                warmup=0, runs_per_variant=2, rounds=2)  # fmt: skip
    assert {p.load for ps in timed.values() for p in ps} == {2.5}


@pytest.fixture
def two_rows(monkeypatch, digits):
    """The MLP measured with 2 threads under a load of 3.4, and again under 0.3."""
    model = wl.models.mlp()
    _fake_load(monkeypatch, 3.4)
    busy = wl.measure(model, digits, name="busy", threads=2, batch_sizes=(1,), runs=3, warmup=1)
    _fake_load(monkeypatch, 0.3)
    quiet = wl.measure(model, digits, name="quiet", threads=2, batch_sizes=(1,), runs=3, warmup=1)
    return busy, quiet


def test_the_report_says_a_busy_timing_beside_the_table(two_rows, tmp_path):
    busy, quiet = two_rows
    assert busy.latency[0].load == 3.4 and quiet.latency[0].load == 0.3
    write_variants(tmp_path, [
        Variant(name="quiet", parent=None, kind="base", status="ok", measurement=quiet),
        Variant(name="busy", parent="quiet", kind="quantize", status="ok", measurement=busy),
    ])  # fmt: skip
    report = build_report(tmp_path)
    assert report.summary["busy"] == [
        {"name": "busy", "runtime": "torch", "threads": 2, "load": 3.4, "batch_sizes": [1]}
    ]
    html = report.html_path.read_text()
    sentence = "timed while the machine was busy: load 3.4 &gt; 2 threads (busy)"
    assert sentence in html and html.index(sentence) < html.index("<table class='variants'>")
    console = Console(width=300, record=True)
    console.print(measurement_table([quiet, busy]))
    assert (
        "! timed while the machine was busy: load 3.4 > 2 threads (busy)" in console.export_text()
    )


def test_quiet_timings_add_no_warning(two_rows, tmp_path):
    _, quiet = two_rows
    write_variants(tmp_path, [Variant(name="quiet", parent=None, kind="base", status="ok",
                                      measurement=quiet)])  # fmt: skip
    report = build_report(tmp_path)
    assert report.summary["busy"] == [] and "machine was busy" not in report.html_path.read_text()
