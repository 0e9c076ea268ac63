"""30 % of heads and FFN neurons pruned on every transformer family of the support matrix.

One row per family (the matrix's own tiny builders, random weights): parameters and MACs
before and after, seconds to prune, ONNX parity of the pruned model and a `hf:` reload.
tools/prune_transformers.py writes docs/transformer-pruning.md from the rows;
tests/matrix/test_transformer_pruning.py checks the page against them.
"""

from __future__ import annotations

import dataclasses
import datetime
import tempfile
import time
from pathlib import Path

import torch
from matrix_families import FAMILIES, VOCAB

import weightlight as wl
from weightlight.errors import UserError
from weightlight.measure.flops import count_macs
from weightlight.measure.params import count_params

PAGE_NAME = "docs/transformer-pruning.md"
CONFIG = wl.prune.Structured(head_ratio=0.3, ffn_ratio=0.3, importance="activation")
SEQ = 64  # tokens of the MACs count: the tiny configs hold 64 positions
RELOAD_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class Row:
    family: str
    status: str  # works | refuses | fails
    params: tuple[int, int] | None = None  # before, after
    macs: tuple[int, int] | None = None
    seconds: float | None = None
    onnx_max_abs: float | None = None
    reload_max_abs: float | None = None
    message: str | None = None  # the refusal line, or why the row fails


def families() -> list[str]:
    """The matrix families with attention heads."""
    return [f.name for f in FAMILIES.values() if f.attention]


def macs_input(name: str):
    """One input of the MACs count: SEQ tokens, or the 32x32 image the ViT takes (16 patches)."""
    g = torch.Generator().manual_seed(0)
    if FAMILIES[name].task == "classification":
        return torch.randn(1, 3, 32, 32, generator=g)
    ids = torch.randint(1, VOCAB, (1, SEQ), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def prune_row(name: str, folder: Path) -> Row:
    """Prune the family's model and check what came out (never raises a library's exception)."""
    family = FAMILIES[name]
    data, model = family.data(), family.build()
    x = macs_input(name)
    before = (count_params(model)[0], count_macs(model, x))
    start = time.perf_counter()
    try:
        pruned = wl.prune(model, CONFIG, data)
    except UserError as exc:
        return Row(name, "refuses", message=str(exc).strip())
    seconds = time.perf_counter() - start
    row = Row(
        name, "works", params=(before[0], count_params(pruned)[0]),
        macs=(before[1], count_macs(pruned, x)), seconds=seconds,
    )  # fmt: skip
    try:
        onnx = wl.export(pruned, wl.export.Export(), data, folder / f"{name}.onnx")
        pruned.save_pretrained(folder / name)
        reloaded = wl.models.load_model(f"hf:{folder / name}")
        same = wl.export.parity(pruned, reloaded, data, tolerance=RELOAD_TOLERANCE)
    except Exception as exc:  # a refused export is a failure here: the row says which
        first = (str(exc).strip().splitlines() or [""])[0]
        return dataclasses.replace(row, status="fails", message=f"{type(exc).__name__}: {first}")
    row = dataclasses.replace(row, onnx_max_abs=onnx.parity.max_abs, reload_max_abs=same.max_abs)
    if not (onnx.parity.ok and same.ok and count_params(reloaded)[0] == row.params[1]):
        return dataclasses.replace(row, status="fails", message="ONNX or reload differs")
    return row


_ROWS: dict[str, Row] = {}


def row(name: str) -> Row:
    """The family's row, computed once per process (the tests share it)."""
    if name not in _ROWS:
        with tempfile.TemporaryDirectory() as tmp:
            _ROWS[name] = prune_row(name, Path(tmp))
    return _ROWS[name]


def big_llama_row(folder: Path) -> Row:
    """A 156 M-parameter Llama (8 blocks, hidden 1024, 16 query / 4 key-value heads, FFN 2816,
    vocabulary 32000): the seconds to prune a model of a size users hold, and its reload.
    Scored on four 128-token sequences; not exported (a timing row)."""
    import transformers as t

    config = t.LlamaConfig(
        hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
        num_key_value_heads=4, vocab_size=32000, max_position_embeddings=256,
    )  # fmt: skip
    torch.manual_seed(0)
    model = t.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 32000, (4, 128), generator=torch.Generator().manual_seed(0))
    batches = [{"input_ids": ids[i : i + 1], "attention_mask": torch.ones(1, 128, dtype=torch.long)}
               for i in range(4)]  # fmt: skip
    data = wl.data.from_loaders(batches, batches, task="causal_lm")
    x = {"input_ids": ids[:1, :SEQ], "attention_mask": torch.ones(1, SEQ, dtype=torch.long)}
    before = (count_params(model)[0], count_macs(model, x))
    start = time.perf_counter()
    pruned = wl.prune(model, CONFIG, data)
    seconds = time.perf_counter() - start
    row = Row(
        "llama-156m", "works", params=(before[0], count_params(pruned)[0]),
        macs=(before[1], count_macs(pruned, x)), seconds=seconds,
    )  # fmt: skip
    try:
        pruned.save_pretrained(folder / "llama-156m")
        reloaded = wl.models.load_model(f"hf:{folder / 'llama-156m'}")
        with torch.no_grad():
            err = (reloaded(**x).logits - pruned(**x).logits).abs().max().item()
    except Exception as exc:  # the row says what failed
        first = (" ".join(str(exc).split()) or "")[:300]
        return dataclasses.replace(row, status="fails", message=f"{type(exc).__name__}: {first}")
    return dataclasses.replace(row, reload_max_abs=err)


# ---- the page ----------------------------------------------------------------------------------


def _cells(r: Row, note) -> list[str]:
    if r.status == "refuses":
        return [f"refused [{note(r.message)}]"] + [""] * 7
    if r.status == "fails" and r.params is None:
        return [f"FAILS [{note('FAILS: ' + r.message)}]"] + [""] * 7
    (p0, p1), (m0, m1) = r.params, r.macs
    onnx = "not exported" if r.onnx_max_abs is None else f"{r.onnx_max_abs:.1e}"
    reload = "" if r.reload_max_abs is None else f"{r.reload_max_abs:.1e}"
    if r.status == "fails":  # the figures it has, and why it fails in the last cell
        reload = f"FAILS [{note('FAILS: ' + r.message)}]"
    return [f"{p0:,}", f"{p1:,}", f"{m0:,}", f"{m1:,}", f"{m1 / m0:.3f}", f"{r.seconds:.2f}",
            onnx, reload]  # fmt: skip


def render(rows: list[Row], cpu: str, date: str | None = None) -> str:
    notes: list[str] = []

    def note(message: str) -> int:
        if message not in notes:
            notes.append(message)
        return notes.index(message) + 1

    header = [
        "family", "params before", "after", f"MACs before ({SEQ} tokens)", "after", "MACs kept",
        "seconds to prune", "ONNX max abs err", "`hf:` reload max abs err",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join([r.family, *_cells(r, note)]) + " |")
    note_lines = "\n".join(f"{i}. {text}" for i, text in enumerate(notes, 1)) or "None."
    date = date or datetime.date.today().isoformat()
    big = "" if all(r.family != "llama-156m" for r in rows) else _BIG
    return f"""# Structured pruning of transformers: 30 % of heads and FFN neurons

<!-- Generated by tools/prune_transformers.py from tests/matrix/matrix_pruning.py; do not edit
by hand: tests/matrix/test_transformer_pruning.py fails when the counts no longer match. -->

Every transformer family of the [support matrix](support-matrix.md), built as the matrix
builds it (tiny `transformers` configs, 2 blocks, random weights), pruned with

```python
wl.prune(model, wl.prune.Structured(head_ratio=0.3, ffn_ratio=0.3, importance="activation"), data)
```

scored on the family's 4 training batches. Each block keeps round(0.7 x heads) heads (with
grouped-query attention: per key/value group, at least one) and round(0.7 x FFN) neurons; the
hidden width, embeddings and head size stay. How it works: [pruning](pruning.md).
{big}
- params: `weightlight.measure.params.count_params` (the state dict, as reports count it; a
  tied embedding counts once, as it is stored once);
- MACs: `weightlight.measure.flops.count_macs`, as reports count them, on one sequence of {SEQ}
  tokens (the ViT: one 32x32 image, 16 patches + 1 token), attention products included;
- seconds to prune: wall time of `wl.prune`, scoring included, 2 threads, on a machine shared
  with other jobs (under load: compare rows, not machines);
- ONNX max abs err: the pruned model exported with `wl.export(pruned, Export(), data, path)`
  (ORT's attention fusions for BERT-like encoders), the largest |ONNX - torch| over the
  family's 32 held-out inputs (pooled embeddings, logits);
- reload: `save_pretrained`, then `wl.models.load_model("hf:DIR")`, the largest |reloaded -
  pruned| over the same inputs.

{chr(10).join(lines)}

## Refusals and failures

{note_lines}

## Where it ran

- CPU: {cpu}
- torch threads: {torch.get_num_threads()}
- {_versions()}
- date: {date}
"""


_BIG = """
The `llama-156m` row is a model of the size users prune (`--big`): a Llama of 156 M
parameters (8 blocks, hidden 1024, 16 query / 4 key-value heads, FFN 2816, vocabulary 32000),
random weights, scored on four 128-token sequences; not exported to ONNX (a timing row), its
reload compared on one 64-token sequence.
"""


def _versions() -> str:
    from importlib.metadata import version

    names = ("torch", "transformers", "onnxruntime")
    return ", ".join(f"{name} {version(name)}" for name in names)


def parse(text: str) -> dict[str, tuple[str, ...]]:
    """family -> (status, params before, after, MACs before, after) or (status, line)."""
    notes = {}
    for line in text.split("## Refusals and failures", 1)[-1].splitlines():
        num, _, rest = line.partition(". ")
        if num.isdigit():
            notes[num] = rest
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) < 2 or not line.startswith("| "):
            continue
        name, first = cells[0], cells[1]
        marked = [c for c in cells[1:] if c.startswith(("refused [", "FAILS ["))]
        if marked:
            status = "refuses" if marked[0].startswith("refused") else "fails"
            out[name] = (status, notes.get(marked[0].split("[")[1].rstrip("]"), "?"))
        elif len(cells) >= 5 and first.replace(",", "").isdigit():
            out[name] = ("works", *(int(c.replace(",", "")) for c in cells[1:5]))
    return out


def expected(r: Row) -> tuple[str, ...]:
    if r.status != "works":
        return (r.status, r.message if r.status == "refuses" else "FAILS: " + r.message)
    return ("works", *r.params, *r.macs)


def stale(page: str, rows: list[Row]) -> list[str]:
    """How the page differs from `rows`: statuses, refusal lines, params and MACs exactly."""
    said = parse(page)
    return [f"{r.family}: the page says {said.get(r.family)}, the row {expected(r)}"
            for r in rows if said.get(r.family) != expected(r)]  # fmt: skip
