"""physlearn: learning in physical systems with equilibrium propagation and its family.

The package has two axes meeting at one seam: physical *systems* (``physlearn.systems``) relax
or evolve and report local measurements; learning *rules* choose nudges and contrast those
measurements into a gradient. Exact references (implicit differentiation, finite differences)
check every rule.
"""

from . import datasets, glep, homeostasis, optim
from .check import bias_order, gradient_check
from .costs import CrossEntropy, SquaredError
from .heb import HEB
from .nudges import Clamp, Nudge
from .reference import exact_gradient, finite_difference_gradient, loss
from .rules import (
    BPTT,
    EP,
    RHEL,
    ContrastiveLearning,
    CoupledLearning,
    GeneralizedEP,
    HolomorphicEP,
    Rule,
)
from .system import ConvergenceError, EquilibriumSystem, State, System
from .train import History, evaluate, train

__version__ = "0.1.0"

__all__ = [
    "EP", "HolomorphicEP", "ContrastiveLearning", "CoupledLearning", "RHEL", "BPTT", "HEB",
    "GeneralizedEP", "homeostasis",
    "Rule", "glep",
    "SquaredError", "CrossEntropy", "Nudge", "Clamp",
    "exact_gradient", "finite_difference_gradient", "loss", "gradient_check", "bias_order",
    "System", "EquilibriumSystem", "State", "ConvergenceError",
    "train", "evaluate", "History", "datasets", "optim",
]
