"""Run a recipe into a run folder (runner.py); state.py keeps the folder and its variants,
stages.py makes each stage's variant from its parent."""

from weightlight.pipeline.runner import RUN_FILES, RUN_FOLDERS, process_rank, run
from weightlight.pipeline.state import energy_options

__all__ = [
    "RUN_FILES",
    "RUN_FOLDERS",
    "energy_options",
    "process_rank",
    "run",
]
