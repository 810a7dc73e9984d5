"""Where examples and experiments put their figures."""

from __future__ import annotations

import os
from pathlib import Path


def figure_dir(script=None):
    """The folder for figures: ``$PHYSLEARN_FIGURES``, else ``figures/`` beside ``script``.

    Parameters
    ----------
    script : str or path, optional
        The calling script's ``__file__`` (None in a notebook: ``./figures`` is used).

    Returns
    -------
    pathlib.Path
        The folder, created if needed.
    """
    base = Path(script).resolve().parent if script else Path.cwd()
    folder = Path(os.environ.get("PHYSLEARN_FIGURES", base / "figures"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
