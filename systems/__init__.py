"""Physical systems (installed as ``physlearn.systems``): one module per family."""

from .diode import NonlinearResistorNetwork
from .elastic import ElasticNetwork, ElasticState
from .hamiltonian import Hamiltonian
from .hru import HRU
from .hssm import HSSM
from .oscillators import CoupledOscillators
from .resistor import ResistorNetwork, ResistorState
from .self_learning import SelfLearningMachine

__all__ = [
    "ResistorNetwork", "ResistorState", "HRU", "HSSM", "CoupledOscillators", "Hamiltonian",
    "SelfLearningMachine", "NonlinearResistorNetwork", "ElasticNetwork", "ElasticState",
]
