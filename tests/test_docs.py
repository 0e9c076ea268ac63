"""The documentation stays true: generated references are current, examples in docs run."""

import doctest
from pathlib import Path

import pytest

from weightlight import reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", sorted(reference.PAGES))
def test_generated_reference_pages_are_current(page):
    expected = reference.PAGES[page]()
    actual = (DOCS / page).read_text(encoding="utf-8")
    assert actual == expected, f"docs/{page} is stale: run `python -m weightlight.reference docs/`"


DOCTEST_PAGES = sorted(p.name for p in DOCS.glob("*.md") if ">>> " in p.read_text())


@pytest.mark.parametrize("page", DOCTEST_PAGES)
def test_outputs_claimed_in_docs_are_reproduced(page):
    """Every `>>>` example in docs/*.md runs and prints what the page says."""
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=flags)
    assert result.attempted > 0 and result.failed == 0
