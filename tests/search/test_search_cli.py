"""`weightlight search` / `advise`: bad input is one line, exit 2; a tiny run prints the front."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-drop", "-1"], "max drop must be >= 0"),
        (["--trials", "0"], "trials must be >= 1"),
        (["--objective", "speed"], "unknown objective 'speed'"),
        (["--time-budget", "0"], "time budget"),
        (["--space", "nope.yaml"], "search space 'nope.yaml' not found"),
    ],
)
def test_bad_search_input_is_one_line_exit_2(run_cli, args, says):
    code, out, err = run_cli("search", *args)
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_search_cli_tiny_run(run_cli, mlp_file, tmp_path):
    code, out, err = run_cli("search", "--model", mlp_file, "--space", "tiny", "--trials", "2",
                             "--objective", "size", "--max-drop", "100", "--out", tmp_path,
                             "--seed", "1")  # fmt: skip
    assert code == 0, err
    saved = json.loads((tmp_path / "search.json").read_text())
    assert saved["best"] is not None and f"trial {saved['best']['trial']}" in out
    assert "Pareto front" in out and (tmp_path / "report.html").is_file()


def test_advise_cli_prints_the_layer_table_and_ranked_advice(run_cli, mlp_file, tmp_path):
    code, out, err = run_cli("advise", "--model", mlp_file, "--out", tmp_path)
    assert code == 0, err
    assert "net.1" in out and "200,704" in out  # 784 x 256 MACs
    assert "Try first:" in out and " 1. " in out and "CPU:" in out


def test_bad_storage_url_is_one_line_exit_2(run_cli, mlp_file, tmp_path):
    code, out, err = run_cli("search", "--model", mlp_file, "--space", "tiny", "--out", tmp_path,
                             "--storage", "nosuch://x")  # fmt: skip
    assert code == 2 and "cannot open study storage 'nosuch://x'" in err
    assert len(err.strip().splitlines()) == 1
