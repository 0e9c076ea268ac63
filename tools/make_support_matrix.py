"""Write docs/support-matrix.md by running every cell of the support matrix (tests/matrix).

The families, techniques, bounds and the page's format live in tests/matrix (one place, shared
with the tests); tests/matrix/test_support_matrix.py fails when the page is stale.

    python tools/make_support_matrix.py            # run every cell (a few minutes), write the page
    python tools/make_support_matrix.py --json X   # also write each cell's result as JSON

Exit code 1 when a cell fails (a raw exception, a timeout, a figure outside its bound): the page
is written anyway and says FAILS there, so the failure is visible.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "matrix"))
sys.path.insert(0, str(ROOT / "src"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the cells' results here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)  # as the test suite runs them (tests/conftest.py)
    from matrix_cells import all_cells, cleanup, environment, result
    from matrix_page import PAGE_NAME, render

    from weightlight._io import write_text_atomic

    results, start = {}, time.perf_counter()
    for family, technique in all_cells():
        r = results[family, technique] = result(family, technique)
        shown = r.message if r.status != "works" else f"{r.figure:.4g}"
        print(f"{r.seconds:6.1f} s  {family:18} {technique:18} {r.status:8} {shown}",
              file=sys.stderr, flush=True)  # fmt: skip
    cleanup()
    write_text_atomic(ROOT / PAGE_NAME, render(results, environment()))
    if args.json:
        rows = [dataclasses.asdict(r) for r in results.values()]
        write_text_atomic(args.json, json.dumps(rows, indent=1) + "\n")
    failed = [r for r in results.values() if r.status == "fails"]
    print(f"wrote {PAGE_NAME}: {len(results)} cells in {time.perf_counter() - start:.0f} s, "
          f"{len(failed)} failing", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
