"""Learning rules: one class per rule, all on the same seam.

Equilibrium rules (EP, continual EP, holomorphic EP, contrastive and coupled learning,
generalized EP with Jacobian homeostasis; EqSpike and surrogate BPTT on spiking networks),
trajectory rules (RHEL, BPTT, HEB), Lagrangian EP
(:mod:`.glep`), and the digital baselines for feedforward networks (difference target
propagation, backprop).
"""

from . import glep, homeostasis
from .base import Rule
from .continual import ContinualEP
from .contrastive import ContrastiveLearning, CoupledLearning
from .dtp import DTP, Backprop
from .echo import BPTT, RHEL
from .ep import EP
from .eqspike import EqSpike
from .generalized import GeneralizedEP
from .heb import HEB
from .holomorphic import HolomorphicEP
from .surrogate import SurrogateBPTT

__all__ = ["Rule", "EP", "ContinualEP", "HolomorphicEP", "ContrastiveLearning", "CoupledLearning",
           "RHEL", "BPTT", "EqSpike", "SurrogateBPTT", "GeneralizedEP", "HEB", "DTP", "Backprop",
           "glep", "homeostasis"]
