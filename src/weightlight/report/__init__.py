"""Reports: terminal table (table.py); JSON, plots and HTML come with the pipeline."""

from weightlight.report.table import measurement_table

__all__ = ["measurement_table"]
