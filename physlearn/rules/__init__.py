"""Learning rules: one class per rule, all on the same seam."""

from .base import Rule
from .contrastive import ContrastiveLearning, CoupledLearning
from .echo import BPTT, RHEL
from .ep import EP
from .generalized import GeneralizedEP
from .holomorphic import HolomorphicEP

__all__ = ["Rule", "EP", "HolomorphicEP", "ContrastiveLearning", "CoupledLearning", "RHEL", "BPTT",
           "GeneralizedEP"]
