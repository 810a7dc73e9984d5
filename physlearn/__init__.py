"""physlearn: learning in physical systems with equilibrium propagation and its family.

The package has two axes meeting at one seam: physical *systems* (``physlearn.systems``) relax
or evolve and report local measurements; learning *rules* (:mod:`physlearn.rules`) choose
nudges and contrast those measurements into a gradient. Exact references (implicit
differentiation, linear response, backpropagation through time, finite differences) check
every rule.

Three layers: the seam at the top level (base classes, nudges, costs, references, checks, the
registry), the rules in :mod:`physlearn.rules`, and the experiment layer (training, optimizers,
data sets, configs, sweeps, run directories, figures, command line) in
:mod:`physlearn.experiment`.
"""

import sys as _sys

from . import noise  # noise models wrapping any system (physlearn.noise)
from .check import bias_order, gradient_check
from .costs import CrossEntropy, SquaredError
from .nudges import Clamp, Nudge
from .reference import exact_gradient, finite_difference_gradient, loss
from .rules import (
    BPTT,
    DTP,
    EP,
    HEB,
    RHEL,
    Backprop,
    ContinualEP,
    ContrastiveLearning,
    CoupledLearning,
    EqSpike,
    GeneralizedEP,
    HolomorphicEP,
    Rule,
    SurrogateBPTT,
    glep,
    homeostasis,
)
from .rules.generalized import error_alignment
from .system import ConvergenceError, EquilibriumSystem, State, System

__version__ = "0.2.0"

from .experiment import config, datasets, optim, plots  # noqa: E402  (needs __version__)
from .experiment.sweep import sweep  # noqa: E402
from .experiment.train import History, evaluate, train  # noqa: E402

# the module paths users import from stay where they were before the layers were split
for _name, _module in {"glep": glep, "homeostasis": homeostasis, "datasets": datasets,
                       "optim": optim, "plots": plots, "config": config}.items():
    _sys.modules.setdefault(f"{__name__}.{_name}", _module)
del _name, _module

__all__ = [
    "EP", "ContinualEP", "HolomorphicEP", "ContrastiveLearning", "CoupledLearning", "RHEL", "BPTT",
    "HEB", "GeneralizedEP", "homeostasis", "error_alignment", "DTP", "Backprop",
    "EqSpike", "SurrogateBPTT", "Rule", "glep",
    "SquaredError", "CrossEntropy", "Nudge", "Clamp",
    "exact_gradient", "finite_difference_gradient", "loss", "gradient_check", "bias_order",
    "System", "EquilibriumSystem", "State", "ConvergenceError",
    "train", "evaluate", "History", "datasets", "optim", "plots", "config", "sweep",
    "noise",
]
