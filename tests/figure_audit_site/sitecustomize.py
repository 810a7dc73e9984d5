"""Audit every figure a process saves (the example tests put this folder on PYTHONPATH).

With ``PHYSLEARN_FIGURE_AUDIT`` set to a folder, ``Figure.savefig`` first runs
:func:`physlearn.experiment.figure_check.figure_problems` on the figure and writes the
problems into ``<folder>/<n>.json``; the test reads them back. Scripts and notebook kernels
started by the tests both import this module at start-up.
"""

import os

if os.environ.get("PHYSLEARN_FIGURE_AUDIT"):
    import itertools
    import json
    from pathlib import Path

    import matplotlib.figure

    _folder = Path(os.environ["PHYSLEARN_FIGURE_AUDIT"])
    _count = itertools.count()
    _savefig = matplotlib.figure.Figure.savefig

    def _audited_savefig(self, fname, *args, **kwargs):
        from physlearn.experiment.figure_check import figure_problems

        name = os.path.basename(getattr(fname, "name", fname) if not isinstance(fname, str)
                                else fname)
        problems = figure_problems(self, tight=kwargs.get("bbox_inches") == "tight")
        report = {"figure": str(name), "problems": problems}
        (_folder / f"{os.getpid()}-{next(_count)}.json").write_text(json.dumps(report))
        return _savefig(self, fname, *args, **kwargs)

    matplotlib.figure.Figure.savefig = _audited_savefig
