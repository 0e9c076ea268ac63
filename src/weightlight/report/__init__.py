"""Reports of a run, rebuilt from `variants.jsonl` alone (no model is run).

`build_report(run_dir)` writes `report.json`, `plots/*.png` and a self-contained
`report.html`; `measurement_table` is the rich table the CLI prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from weightlight._callable_module import make_callable
from weightlight._io import check_writable_layout, write_text_atomic
from weightlight.errors import UserError
from weightlight.report.environment import environment
from weightlight.report.html import render_html
from weightlight.report.methods import column_methods, energy_label
from weightlight.report.plots import write_plots
from weightlight.report.summary import pareto_front, summarize
from weightlight.report.table import measurement_table
from weightlight.variants import VARIANTS_FILE, Variant, read_variants

__all__ = [
    "Report",
    "build_report",
    "check_max_drop",
    "measurement_table",
    "pareto_front",
    "summarize",
]


@dataclass(frozen=True)
class Report:
    variants: list[Variant]
    summary: dict
    json_path: Path
    html_path: Path
    plots: dict[str, Path]


def check_max_drop(max_drop: float) -> float:
    """The accuracy budget is a number of points the best variant may lose: >= 0 and finite."""
    if not (isinstance(max_drop, (int, float)) and 0 <= max_drop < float("inf")):
        raise UserError(
            f"max drop must be a finite number of points >= 0, got {max_drop:g}",
            "use e.g. --max-drop 1.0 (one accuracy point)",
        )
    return max_drop


def build_report(run_dir: str | Path, *, max_drop: float = 1.0) -> Report:
    """Rebuild every report file of a run folder from its variants.jsonl."""
    run_dir = Path(run_dir)
    if not (run_dir / VARIANTS_FILE).is_file():
        raise UserError(
            f"'{run_dir}' has no {VARIANTS_FILE}", "pass the folder of a `weightlight run`"
        )
    check_max_drop(max_drop)
    variants = read_variants(run_dir)
    check_writable_layout(run_dir, folders=("plots",), files=("report.json", "report.html"))
    summary = summarize(variants, max_drop=max_drop)
    plots = write_plots(variants, run_dir / "plots")
    recipe_path = run_dir / "recipe.yaml"
    recipe_yaml = recipe_path.read_text(encoding="utf-8") if recipe_path.is_file() else ""
    env = environment()
    payload = {
        "run": run_dir.name,
        "summary": summary,
        # Per column: the one method every row was measured with (or each method and its rows).
        "methods": column_methods(variants),
        "energy_is": energy_label(variants),
        "variants": [v.model_dump(mode="json") for v in variants],
        "environment": env,
        "plots": {k: str(p.relative_to(run_dir)) for k, p in plots.items()},
    }
    json_path = write_text_atomic(run_dir / "report.json", json.dumps(payload, indent=2))
    page = render_html(run_dir.name, variants, summary, plots, recipe_yaml, env)
    html_path = write_text_atomic(run_dir / "report.html", page)
    return Report(variants, summary, json_path, html_path, plots)


make_callable(__name__, build_report)
