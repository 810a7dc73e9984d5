"""Sphinx configuration of the physlearn documentation (``make docs``)."""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import physlearn  # noqa: E402

project = "physlearn"
author = "the physlearn developers"
copyright = "2026, the physlearn developers"
release = physlearn.__version__ if hasattr(physlearn, "__version__") else "0.2.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.viewcode", "numpydoc",
              "myst_nb", "physlearn_docs"]
exclude_patterns = ["_build", "_ext", "conf.py", "figures", "**/.ipynb_checkpoints"]
nitpicky = False
# numpydoc turns every References section into citations; a docstring need not cite each.
suppress_warnings = ["ref.citation"]

# -- the examples: jupytext percent scripts executed as notebooks, in fast mode ---------------
nb_custom_formats = {".py": "physlearn_docs.read_example"}
nb_execution_mode = os.environ.get("PHYSLEARN_DOCS_EXECUTE", "force")  # "off": render only
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
os.environ["PHYSLEARN_FAST"] = "1"
os.environ["PHYSLEARN_FIGURES"] = str(DOCS / "_build" / "example-figures")
# Figures show inline in the rendered notebooks (CI exports MPLBACKEND=Agg for the tests).
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- API reference ----------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"          # numpydoc puts the types in the Parameters section
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = "physlearn"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
