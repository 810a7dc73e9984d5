"""Sphinx extension: the API pages from ``__all__`` and the gallery from ``examples/``.

Both are generated when the build starts, so a name added to ``physlearn.__all__`` or
``physlearn.systems.__all__`` and an example added to ``examples/`` reach the site without an
edit here. Files are rewritten only when their content changes, so Sphinx re-reads only what
changed.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
PACKAGES = {"physlearn": "The learner: rules, references, training",
            "physlearn.systems": "The physical systems"}


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _directive(qualified: str, obj) -> str:
    """The autodoc directive of one public name, documented under that name (so that
    ``physlearn.optim.SGD`` is a target, whatever module defines it)."""
    if inspect.ismodule(obj):
        return f".. automodule:: {qualified}\n   :members:\n"
    if inspect.isclass(obj):
        # inherited physics methods (exact_gradient, bptt, ...) belong on the page; the
        # hyperparameter plumbing of HyperParams does not
        return (f".. autoclass:: {qualified}\n   :members:\n   :inherited-members: HyperParams\n"
                "   :show-inheritance:\n")
    return f".. autofunction:: {qualified}\n"


def api_pages() -> None:
    """One page per public name, and an index per package listing them."""
    out = DOCS / "api" / "generated"
    keep = set()
    for package, heading in PACKAGES.items():
        module = importlib.import_module(package)
        rows = []
        for name in module.__all__:
            obj = getattr(module, name)
            qualified = f"{package}.{name}"
            title = f"``{qualified}``"
            _write(out / f"{qualified}.rst",
                   f"{title}\n{'=' * len(title)}\n\n.. currentmodule:: {package}\n\n"
                   + _directive(qualified, obj))
            keep.add(f"{qualified}.rst")
            summary = (inspect.getdoc(obj) or "").strip().split("\n")[0]
            rows.append(f"   * - :doc:`{name} <generated/{qualified}>`\n     - {summary}\n")
        title = f"``{package}``"
        _write(DOCS / "api" / f"{package}.rst",
               f"{title}\n{'=' * len(title)}\n\n{heading}.\n\n"
               ".. list-table::\n   :widths: 25 75\n\n" + "".join(rows) +
               "\n.. toctree::\n   :hidden:\n\n" +
               "".join(f"   generated/{package}.{n}\n" for n in module.__all__))
    for stale in out.glob("*.rst"):
        if stale.name not in keep:
            stale.unlink()


GROUPS = {"0": "Start here", "1": "Quantum systems", "2": "Hamiltonian echo learning",
          "3": "Resistive, elastic and SPICE circuits", "4": "Ising models",
          "5": "Oscillators, vector fields and deep energy-based networks",
          "6": "Hardware-constrained and spiking learning"}


def _title(script: Path) -> str:
    """The example's first markdown heading (``# %% [markdown]`` then ``# # Title``)."""
    for line in script.read_text().splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    raise ValueError(f"{script.name}: no '# # Title' line in its first markdown cell")


def gallery() -> None:
    """Copy every example into ``docs/gallery`` (executed there as a notebook by myst-nb)
    and write the gallery's index, grouped by the first digit of the example's number."""
    target = DOCS / "gallery"
    examples = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
    lines = ["# Gallery\n\n",
             "Every example of `examples/` is a notebook: run it as a script "
             "(`python examples/01_ep_on_a_resistor_network.py`), open it in Jupyter with "
             "jupytext, or read it here, executed in fast mode (`PHYSLEARN_FAST=1`: fewer "
             "samples, epochs and seeds than the script's default, so the numbers printed here "
             "are rougher than a full run's).\n"]
    for digit, heading in GROUPS.items():
        group = [s for s in examples if s.name[0] == digit]
        if group:
            lines.append(f"\n## {heading}\n\n```{{toctree}}\n:maxdepth: 1\n\n"
                         + "".join(f"{s.stem}\n" for s in group) + "```\n")
    unknown = [s.name for s in examples if s.name[0] not in GROUPS]
    if unknown:
        raise ValueError(f"examples {unknown} have no gallery group: add one to GROUPS")
    for script in examples:
        _title(script)
        _write(target / script.name, script.read_text())
    _write(target / "index.md", "".join(lines))
    names = {s.name for s in examples}
    for stale in target.glob("[0-9][0-9]_*.py"):
        if stale.name not in names:
            stale.unlink()
    figures = DOCS / "_build" / "example-figures"
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir(parents=True)


BENCHMARKS_INTRO = """\
Benchmarks
==========

physlearn measures its speed and memory as **ratios against a baseline timed in the same
run** — the floor of the computation (one sparse factorisation, one ground-state solve, one
forward pass) or what a user would otherwise write (a per-sample dense solve, scipy's
L-BFGS on the same energy, a per-spin Python loop, ``solve_ivp``, ngspice). A ratio is
machine-independent where an absolute time is not; each has a bound, and ``make bench``
exits non-zero when one misses it.

Reproduce
---------

.. code-block:: bash

   make bench                                  # every benchmark, full sizes
   .venv/bin/python benchmarks/run.py --quick  # smaller sizes, a smoke run
   .venv/bin/python benchmarks/run.py resistor rhel --results benchmarks/results.txt

Each line printed is ``name  value  <=|>= bound  ok|FAIL  detail``. ``--results FILE``
writes the same table with the date, the machine and the git revision it was measured on.

"""


def benchmarks_page() -> None:
    """``docs/benchmarks.rst``: the last recorded results and every benchmark's docstring."""
    import ast

    text = [BENCHMARKS_INTRO]
    results = ROOT / "benchmarks" / "results.txt"
    if results.exists():
        text.append("Recorded results\n----------------\n\nThe table ``benchmarks/run.py "
                    "--results`` wrote last (its first lines say where and when):\n\n"
                    ".. literalinclude:: ../benchmarks/results.txt\n   :language: text\n\n")
    text.append("What each benchmark measures\n----------------------------\n\n")
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        heading = f"``{path.name}``"
        text.append(f"{heading}\n{'~' * len(heading)}\n\n{doc}\n\n")
    _write(DOCS / "benchmarks.rst", "".join(text))


def read_example(text: str):
    """An example script (jupytext percent format) as a notebook, for myst-nb.

    The language is stated so that code cells are highlighted as Python also when the gallery
    is rendered without executing it (``PHYSLEARN_DOCS_EXECUTE=off``).
    """
    import jupytext

    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata.setdefault("language_info", {"name": "python",
                                                   "pygments_lexer": "ipython3"})
    return notebook


def _generate(app, config) -> None:
    api_pages()
    gallery()
    benchmarks_page()


def setup(app):
    app.connect("config-inited", _generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
