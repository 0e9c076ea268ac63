"""Write docs/transformer-pruning.md: 30 % of heads and FFN neurons pruned on every transformer
family of the support matrix (tests/matrix/matrix_pruning.py holds the rows and the page's
format; tests/matrix/test_transformer_pruning.py fails when the page is stale).

    python tools/prune_transformers.py          # the matrix families (a minute or two)
    python tools/prune_transformers.py --big    # also a 156 M-parameter Llama (a few minutes)

Exit code 1 when a row fails (a raw exception, an ONNX or reload mismatch): the page is written
anyway and says FAILS there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "matrix"))
sys.path.insert(0, str(ROOT / "src"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add the 156 M-parameter Llama row")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)  # as the test suite runs them (tests/conftest.py)
    from matrix_pruning import PAGE_NAME, big_llama_row, families, render, row

    from weightlight._io import write_text_atomic
    from weightlight.hardware import cpu_features

    rows = []
    for name in families():
        r = row(name)
        rows.append(r)
        print(f"{name:12} {r.status:8} {r.params} {r.macs} {r.seconds} {r.onnx_max_abs} "
              f"{r.reload_max_abs} {r.message or ''}", file=sys.stderr, flush=True)  # fmt: skip
    if args.big:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(big_llama_row(Path(tmp)))
        print(rows[-1], file=sys.stderr)
    write_text_atomic(ROOT / PAGE_NAME, render(rows, cpu_features().summary()))
    failed = [r.family for r in rows if r.status == "fails"]
    print(f"wrote {PAGE_NAME}: {len(rows)} rows, failing: {failed or 'none'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
