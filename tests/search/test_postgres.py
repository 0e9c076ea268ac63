"""Two search workers, as if on two machines, share one study through a PostgreSQL server.

.ci/run starts a local server and exports its URL as WEIGHTLIGHT_TEST_PG. Outside CI the test
skips (and says why) when no server is reachable; under CI=true a missing server fails it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest

TRIALS = 6
SPACE = """
name: {name}
stages:
  - prune: {{method: unstructured, ratio: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]}}
measure: {{batch_sizes: [1], runs: 3, warmup: 1}}
"""


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL, or skip (fail under CI) saying why there is none."""
    url = os.environ.get("WEIGHTLIGHT_TEST_PG", "")
    why = "WEIGHTLIGHT_TEST_PG is not set (.ci/run starts a local server and sets it)"
    if url:
        try:
            import sqlalchemy

            with sqlalchemy.create_engine(url).connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
            return url
        except Exception as exc:  # no driver, no server, wrong password: all mean "none here"
            why = f"cannot reach WEIGHTLIGHT_TEST_PG ({type(exc).__name__}: {str(exc)[:120]})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"no PostgreSQL server under CI: {why}")
    pytest.skip(f"no PostgreSQL server reachable: {why}")


def _worker(mlp_file, space: Path, out: Path, storage: str) -> subprocess.Popen:
    worker = Path(__file__).with_name("search_worker.py")
    args = [str(mlp_file), str(space), str(out), storage, str(TRIALS)]
    return subprocess.Popen(
        [sys.executable, str(worker), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _finished(proc: subprocess.Popen) -> int:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    return int(stdout.strip().split()[-1])


@pytest.mark.slow
def test_two_workers_share_a_postgres_study(postgres_url, mlp_file, tmp_path):
    storage = postgres_url  # first argument: no model is trained when the test skips
    name = f"shared-{uuid.uuid4().hex[:12]}"  # reruns on the same database start afresh
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(name=name))
    try:
        # Separate run folders, as on two machines: only the database is shared.
        procs = [_worker(mlp_file, space, tmp_path / host, storage) for host in ("a", "b")]
        finished = [_finished(p) for p in procs]
        assert sum(finished) == TRIALS  # each trial run by exactly one worker

        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert sorted(t.number for t in complete) == list(range(TRIALS))  # once each, none lost
        assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        ran_on = {
            t.number: host
            for host in ("a", "b")
            for t in complete
            if (tmp_path / host / "trials" / str(t.number) / "variants.jsonl").is_file()
        }
        reused = {t.number for t in complete if "same_as" in t.user_attrs}
        assert set(ran_on) | reused == set(range(TRIALS))

        # A third worker on a machine that ran nothing: the study is full, so it runs no
        # trial and its report comes from the database alone.
        assert _finished(_worker(mlp_file, space, tmp_path / "c", storage)) == 0
        assert not (tmp_path / "c" / "trials").exists()
        report = json.loads((tmp_path / "c" / "search.json").read_text())
        distinct = sorted(set(range(TRIALS)) - reused)  # a repeated trial is listed once
        assert sorted(row["trial"] for row in report["trials"]) == distinct
        assert report["best"] is not None and report["storage"] == storage
        lines = (tmp_path / "c" / "variants.jsonl").read_text().splitlines()
        assert len(lines) == 1 + len(distinct)  # base + one variant per distinct trial
        assert (tmp_path / "c" / "report.html").is_file()
    finally:
        optuna.delete_study(study_name=name, storage=storage)
