"""`weightlight run` under torchrun: training stages run with DDP on 2 CPU processes (gloo),
rank 0 alone measures and writes the run folder."""

import json
import os
import subprocess
import sys

import pytest
import yaml


@pytest.mark.slow  # several fresh processes (torch import + training each)
def test_run_under_torchrun_two_processes(tmp_path):
    recipe = {
        "name": "ddp",
        "stages": [{"finetune": {"epochs": 1}, "name": "tuned"},
                   {"quantize": {"method": "dynamic_int8"}, "name": "tuned-int8"}],
        "measure": {"batch_sizes": [1, 8], "runs": 3, "warmup": 1},
        "baselines": False,
    }  # fmt: skip
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "weightlight", "run", "r.yaml", "--model", "mlp", "--epochs", "1",
           "--out", "out"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (tmp_path / "out" / "variants.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["name"] for r in records] == ["base", "tuned", "tuned-int8"]
    # One epoch of the MLP on 1,221 digits split over two ranks: far above chance (10 %).
    assert all(r["status"] == "ok" and r["measurement"]["metric"] > 60 for r in records)
    assert (tmp_path / "out" / ".ranks" / "1").is_dir()  # rank 1 kept its copies apart
    assert proc.stdout.count("report:") == 1  # only rank 0 reports
