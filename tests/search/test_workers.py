"""Two worker processes share one SQLite study: every trial number once, none lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

SPACE = """
name: shared
stages:
  - prune: {method: unstructured, ratio: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]}
measure: {batch_sizes: [1], runs: 3, warmup: 1}
"""
TRIALS = 6


@pytest.mark.slow  # several fresh processes (torch import + training each)
def test_two_workers_complete_one_study(mlp_file, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "run"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    worker = Path(__file__).with_name("search_worker.py")
    args = [str(mlp_file), str(space), str(out), storage, str(TRIALS)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    finished = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        finished.append(int(stdout.strip().split()[-1]))
    assert sum(finished) == TRIALS  # each trial run by exactly one worker

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == list(range(TRIALS))
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    for t in complete:  # its own measured run folder, or a reuse of an identical earlier trial
        if "same_as" in t.user_attrs:
            assert study.trials[t.user_attrs["same_as"]].params == t.params
        else:
            assert (out / "trials" / str(t.number) / "variants.jsonl").is_file()
    # The same choices run twice only when two workers sampled them at the same time (a
    # finished identical trial is reused instead of re-run).
    ran = [t for t in complete if "same_as" not in t.user_attrs]
    for a in ran:
        for b in ran:
            if a.number < b.number and a.params == b.params:
                assert b.datetime_start < a.datetime_complete
