"""Shared fixtures: the digits data and a trained seed CNN, built once per test session."""

from __future__ import annotations

import os

import pytest
import torch

import weightlight as wl

# Pinned, so trained fixtures do not depend on the machine's core count (the same seed trains
# to a different model with 1 and with 2 threads); 2 cores is the smallest machine we run on.
THREADS = 2
torch.set_num_threads(THREADS)


def pytest_report_header(config) -> list[str]:
    """The CPU the figures come from: accuracy of int8 / bf16 depends on its flags."""
    from weightlight.hardware import cpu_features, quant_settings
    from weightlight.report.environment import environment

    cpu, env = cpu_features(), environment()
    return [
        f"cpu: {cpu.model_name}; flags: {' '.join(sorted(cpu.flags)) or '-'}",
        f"int8 path: {quant_settings().describe()}; bf16 / fp16: {env['bf16 / fp16']}; "
        f"torch threads: {THREADS}",
    ] + ([env["cpu read from"]] if "cpu read from" in env else [])


# CPU seconds per test (all threads), printed with WEIGHTLIGHT_TEST_CPU_TIMES=1: unlike wall time
# it hardly moves when other jobs share the machine, so it decides which tests to mark slow.
_CPU_TIMES: dict[str, float] = {}


def _cpu_seconds() -> float:
    t = os.times()  # this process's threads and its finished subprocesses (CLI runs, workers)
    return t.user + t.system + t.children_user + t.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = _cpu_seconds()  # setup (fixtures first built here), call and teardown
    yield
    _CPU_TIMES[item.nodeid] = _cpu_seconds() - start


def pytest_terminal_summary(terminalreporter):
    if os.environ.get("WEIGHTLIGHT_TEST_CPU_TIMES"):
        terminalreporter.section("CPU s per test, incl. fixtures it built (slowest 30)")
        for nodeid, seconds in sorted(_CPU_TIMES.items(), key=lambda kv: -kv[1])[:30]:
            terminalreporter.write_line(f"{seconds:8.1f}  {nodeid}")


# int8 vs fp32 on the 360 digits test images: at most 5 predictions may change (98.6 %). Another
# CPU's kernels move a borderline image or two (0.28 points each); int16 saturation of u8*s8
# without reduce_range on an AVX2 CPU changed 6+ (97.50 vs 99.17 %), so this still catches it.
MIN_INT8_AGREEMENT = 98.6


@pytest.fixture(scope="session")
def agreement():
    """top1(reference, candidate, data): % of data.eval predictions that match;
    `top1.int8_floor` is the least an int8 model must keep on any CPU."""

    def top1(reference, candidate, data) -> float:
        return wl.export.parity(reference, candidate, data, tolerance=1.0).top1_agreement

    top1.int8_floor = MIN_INT8_AGREEMENT
    return top1


@pytest.fixture(scope="session")
def digits() -> wl.data.Data:
    return wl.data.digits(seed=0)


@pytest.fixture(scope="session")
def trained_cnn(digits) -> torch.nn.Module:
    """The seed CNN trained on digits (15 epochs, 26 s on 2 AVX2 cores); do not mutate it."""
    torch.manual_seed(0)  # torch's own seed is random per process: fix the initial weights
    return wl.train(wl.models.mnist_cnn(), digits, seed=0, progress=False)


@pytest.fixture(scope="session")
def trained_resnet(digits) -> torch.nn.Module:
    """The small ResNet trained on digits; do not mutate it."""
    torch.manual_seed(0)
    return wl.train(wl.models.resnet_small(), digits, epochs=10, seed=0, progress=False)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run the real CLI entry point in-process: returns (exit_code, stdout, stderr)."""
    import sys

    from weightlight.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["weightlight", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
