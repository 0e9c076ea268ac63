"""Kill a real `weightlight run` mid-stage, then --resume: nothing is lost, only the
unfinished stage is redone."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

RECIPE = {
    "name": "kill",
    "stages": [
        {"finetune": {"epochs": 0.3}, "name": "quick"},
        {"finetune": {"epochs": 40}, "name": "slow"},  # long enough to be killed inside
        {"quantize": {"method": "dynamic_int8"}, "name": "slow-int8"},
    ],
    "measure": {"batch_sizes": [1, 8], "runs": 3, "warmup": 1},
    "baselines": False,
}


def _cli(*args):
    return [sys.executable, "-m", "weightlight", *args]


def _records(out):
    path = out / "variants.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate, proc, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended early with code {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.2)
    pytest.fail("timed out waiting for the run")


@pytest.mark.slow  # several fresh processes (torch import + training each)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_without_losing_or_redoing_work(tmp_path, sig):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "run"
    args = ("run", str(recipe), "--model", "mlp", "--epochs", "1", "--out", str(out))
    proc = subprocess.Popen(_cli(*args), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    log = out / "log.txt"
    _wait_for(lambda: log.exists() and "slow: running" in log.read_text(), proc)
    time.sleep(1.0)  # inside the slow stage's training loop
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=120)
    if sig == signal.SIGINT:
        assert code == 130 and "resume" in proc.stderr.read()
    before = _records(out)
    assert [r["name"] for r in before] == ["base", "quick"]
    assert not list((out / "models").glob("slow*")) and not list(out.rglob("*.tmp"))

    done = subprocess.run(_cli(*args, "--resume"), cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = _records(out)
    assert [r["name"] for r in after] == ["base", "quick", "slow", "slow-int8"]
    # Earlier variants kept, not redone: same creation time, artifact bytes and scores. Only
    # their timings move: the finished run re-times every variant together, in rounds.
    assert [_kept(r, out) for r in after[:2]] == [_kept(r, out) for r in before]
    assert "quick: done earlier, kept" in done.stdout and "slow: running" in done.stdout


def _kept(record: dict, out) -> tuple:
    m = record["measurement"]
    artifact = (out / record["artifact"]).read_bytes() if record.get("artifact") else None
    return (record["name"], record["created"], artifact, m["metric"], m["val_metric"],
            m["size_bytes"], m["params"])  # fmt: skip
