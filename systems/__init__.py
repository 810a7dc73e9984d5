"""Physical systems (installed as ``physlearn.systems``): one module per family."""

from .diode import NonlinearResistorNetwork
from .drn import DeepResistiveNetwork, DRNState
from .elastic import ElasticNetwork, ElasticState
from .feedforward import FeedforwardNetwork
from .ffebm import FFEBM, Linear
from .hamiltonian import Hamiltonian
from .hopfield import Conv, HopfieldNetwork
from .hru import HRU
from .hssm import HSSM
from .ising import IsingModel, IsingState
from .ising_mean_field import MeanFieldIsing
from .oscillators import CoupledOscillators
from .phase_oscillators import PhaseOscillatorNetwork, PhaseState
from .resistor import ResistorNetwork, ResistorState
from .self_learning import SelfLearningMachine
from .spice_network import SpiceNetwork
from .spiking import SpikingNetwork
from .vector_field import VectorFieldNetwork

_LAZY = {"SpinChain": "spin_chain", "Coupling": "spin_chain", "SpinState": "spin_chain",
         "QuantumHarmonicNetwork": "quantum_oscillators",
         "OscillatorState": "quantum_oscillators", "SymbolicSystem": "symbolic"}


def __getattr__(name):
    """Quantum systems import QuTiP (about 2 s): load them on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ResistorNetwork", "ResistorState", "HRU", "HSSM", "CoupledOscillators", "Hamiltonian",
    "SelfLearningMachine", "NonlinearResistorNetwork", "ElasticNetwork", "ElasticState",
    "IsingModel", "IsingState", "MeanFieldIsing", "PhaseOscillatorNetwork", "PhaseState",
    "VectorFieldNetwork", "HopfieldNetwork", "Conv", "SpiceNetwork", "DeepResistiveNetwork",
    "DRNState", "FFEBM", "Linear", "FeedforwardNetwork", "SpikingNetwork",
    "SpinChain", "Coupling", "SpinState", "QuantumHarmonicNetwork", "OscillatorState",
    "SymbolicSystem",
]
