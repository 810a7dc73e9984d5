"""Every Python code block of the user guide runs as written.

The blocks of one page run in order in one namespace, from the repository's root (as a reader
following the page from a clone would), with the Agg backend. The two tutorials have their own
test (``test_tutorials.py``), which also checks what their code builds.
"""

import re
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = sorted(p for folder in (DOCS, DOCS / "systems", DOCS / "rules")
               for p in folder.glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page):
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in GUIDE if blocks(p)],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_code_blocks_run(page, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "__docs__"}
    for number, code in enumerate(blocks(page), start=1):
        try:
            exec(compile(code, f"{page.name}, block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{page.relative_to(ROOT)}: block {number} raised "
                                 f"{type(error).__name__}: {error}\n{code}") from error


def test_the_guide_has_code():
    assert len([p for p in GUIDE if blocks(p)]) >= 3
