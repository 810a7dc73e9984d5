"""One table of bad inputs and bad states across every registered system: each must raise.

Every case is a callable that must raise the listed error type with a message naming what is
wrong (the parameter, the argument or ``x``). No case may return a result. Generated rows
(in-place edits of every parameter, NaN assignments, out-of-bound assignments read from each
system's declared ``param_bounds``, empty batches, non-numeric inputs) cover every system in
:data:`physlearn.registry.SYSTEMS`; hand-written rows cover each constructor's bad arguments.
"""

from __future__ import annotations

import functools
import re
import warnings

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.costs import CrossEntropy
from physlearn.nudges import Nudge
from physlearn.parameters import ReadOnlyParameterError
from physlearn.registry import SYSTEMS, make_system, system_entry
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.drn import DeepResistiveNetwork
from physlearn.systems.elastic import ElasticNetwork
from physlearn.systems.feedforward import FeedforwardNetwork
from physlearn.systems.ffebm import FFEBM, Linear
from physlearn.systems.hamiltonian import Hamiltonian
from physlearn.systems.hopfield import Conv, HopfieldNetwork
from physlearn.systems.hru import HRU
from physlearn.systems.hssm import HSSM
from physlearn.systems.ising import IsingModel
from physlearn.systems.oscillators import CoupledOscillators
from physlearn.systems.phase_oscillators import PhaseCost, PhaseOscillatorNetwork
from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork
from physlearn.systems.resistor import ResistorNetwork
from physlearn.systems.self_learning import SelfLearningMachine
from physlearn.systems.spice_network import SpiceNetwork
from physlearn.systems.spiking import SpikingNetwork
from physlearn.systems.spin_chain import SpinChain
from physlearn.systems.symbolic import SymbolicSystem, symbolic_resistor
from physlearn.systems.vector_field import VectorFieldNetwork
from physlearn.testing import missing_requirements


@functools.lru_cache(maxsize=None)
def system(name):
    """The default instance of a registered system (shared: refused edits change nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_system(name)


@functools.lru_cache(maxsize=None)
def example(name):
    return system_entry(name).problem(system(name))


def param(name):
    return re.escape(f"params[{name!r}]")


# -- generated rows: every registered system -------------------------------------------------
def _edit_in_place(sys_name, name, value):
    def case():
        p = system(sys_name).params[name]
        p[(0,) * p.ndim] = value
    return case


def _assign(sys_name, name, value):
    def case():
        s = system(sys_name)
        new = s.params.copy()
        new[name].ravel()[0] = value
        s.params = new
    return case


def _outside(bound):
    """A value outside a declared bound: below the lower bound, else above the upper one."""
    if bound.lower > -np.inf:
        return bound.lower - 1.0
    return bound.upper + 1.0


def _predict(sys_name, make_x):
    def case():
        x, _ = example(sys_name)
        system(sys_name).predict(make_x(np.asarray(x)))
    return case


def _loss_with_targets(sys_name, make_y):
    def case():
        x, y = example(sys_name)
        pl.loss(system(sys_name), x, make_y(np.asarray(y)))
    return case


def available(names):
    """The registered systems whose external programs (``requires``: ngspice) are present."""
    return sorted(n for n in names if not missing_requirements(n))


def generated_rows():
    rows = []
    for sys_name in available(SYSTEMS):
        s = system(sys_name)
        bounds = s.param_bounds
        for name in s.param_shapes:
            # in place: negative where a bound forbids it, NaN everywhere
            value = _outside(bounds[name]) if name in bounds else np.nan
            rows.append((f"{sys_name}-inplace-{name}", sys_name,
                         _edit_in_place(sys_name, name, value), ReadOnlyParameterError,
                         param(name) + " is read-only"))
        first = next(iter(s.param_shapes))
        rows.append((f"{sys_name}-assign-nan-{first}", sys_name, _assign(sys_name, first, np.nan),
                     ValueError, param(first) + " has non-finite entries"))
        for name, bound in bounds.items():
            rows.append((f"{sys_name}-assign-out-of-bound-{name}", sys_name,
                         _assign(sys_name, name, _outside(bound)), ValueError,
                         param(name) + r" at flat index 0.* values must be"))
            if bound.lower == 0:
                rows.append((f"{sys_name}-inplace-zero-{name}", sys_name,
                             _edit_in_place(sys_name, name, 0.0), ReadOnlyParameterError,
                             param(name)))
        rows.append((f"{sys_name}-empty-batch", sys_name, _predict(sys_name, lambda x: x[:0]),
                     ValueError, r"x is an empty batch"))
        rows.append((f"{sys_name}-non-numeric-x", sys_name,
                     _predict(sys_name, lambda x: np.full(x.shape, "volt")), ValueError,
                     r"x must be an array of real numbers"))
    for sys_name in ("resistor", "hru-linear", "ising-exact"):
        rows.append((f"{sys_name}-non-numeric-y", sys_name,
                     _loss_with_targets(sys_name, lambda y: np.full(y.shape, "high")), ValueError,
                     r"y must be an array of real numbers"))
    return rows


# -- hand-written rows: assignments of unphysical values -------------------------------------
def _assign_all(sys_name, name, value):
    def case():
        s = system(sys_name)
        s.params = {**s.params.copy(), name: np.full(s.param_shapes[name], value)}
    return case


ASSIGNMENTS = [
    ("resistor", "conductance", -0.5, r"negative conductance; conductance values must be >= 0"),
    ("resistor-layered", "conductance", 0.0, r"is below min_conductance = 1e-06"),
    ("diode-layered", "conductance", -1.0, r"\(edge .*\) = -1.0 is a negative conductance"),
    ("elastic", "stiffness", -0.1, r"negative stiffness"),
    ("elastic", "rest_length", 0.0, r"rest_length values must be > 0"),
    ("coupled-oscillators", "m", 0.0, r"not a positive mass"),
    ("coupled-oscillators", "kappa", -1.0, r"negative spring constant"),
    ("hru-nonlinear", "A", -0.5, r"= -0.5 is a negative stiffness.*min_stiffness"),
    ("hru-linear", "A", 0.005, r"is below min_stiffness = 0.01"),
    ("hssm", "1.A", 0.0, r"not a positive stiffness"),
    ("ising-exact", "J", 1.5, r"= 1.5 is above coupling_range = 1"),
    ("ising-monte-carlo", "h", -2.0,
     r"h values must be >= -field_range = -1 and <= field_range = 1"),
    ("ising-mean-field", "W", 3.0, r"coupling_range"),
    ("quantum-harmonic-network", "spring", -1.0, r"negative spring constant"),
    ("quantum-harmonic-network", "ground", 0.0, r"not a positive grounding spring"),
    ("phase-oscillators", "field", np.inf, r"non-finite"),
    ("vector-field", "W1", np.nan, r"non-finite"),
    ("vector-field-tied", "b1", np.inf, r"non-finite"),
    ("spin-chain-tfim", "h", np.nan, r"non-finite"),
    ("hamiltonian", "k", np.nan, r"non-finite"),
    ("self-learning-machine", "w", np.inf, r"non-finite"),
    ("drn", "g1", -0.5, r"\(input node 0 -> layer 1 node 0\) = -0.5 is a negative conductance"),
    ("drn", "b2", np.nan, r"non-finite"),
    ("spice-network", "conductance", -1.0, r"\(edge .*\) = -1.0 is a negative conductance"),
    ("symbolic-resistor", "conductance", -0.5,
     r"\(symbol g0\) = -0.5 is a negative conductance; conductance values must be >= 0"),
    ("symbolic-resistor", "conductance", 1e-9, r"is below floor = 1e-06"),
]


def assignment_rows():
    return [(f"{s}-assign-{name}={value}", s, _assign_all(s, name, value), ValueError,
             param(name) + ".*" + match) for s, name, value, match in ASSIGNMENTS]


# -- hand-written rows: constructors ---------------------------------------------------------
def _graph(kind=nx.Graph):
    g = kind()
    g.add_edges_from([("a", "b"), ("b", "c"), ("c", "g")])
    return g


def _graph_with(extra):
    g = _graph()
    g.add_node(extra)
    return g


def _ideal_chain(diodes):
    """a —1— b —1— c —1— g, input at a, output c: ideal diodes as given."""
    return NonlinearResistorNetwork(_graph(), ["a"], ["c"], "g", conductance=[1, 1, 1],
                                    diodes=diodes, diode_law="ideal")


def _points():
    return np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _continual(sys_name, **kwargs):
    """``ContinualEP(**kwargs).gradient`` on the registered system's example."""
    return lambda: pl.ContinualEP(**kwargs).gradient(system(sys_name), *example(sys_name))


CONSTRUCTORS = [
    # resistor and diode networks: networkx graphs
    ("resistor", "directed-graph", lambda: ResistorNetwork(_graph(nx.DiGraph), ["a"], ["b"], "g"),
     r"graph is a DiGraph"),
    ("resistor", "multigraph", lambda: ResistorNetwork(_graph(nx.MultiGraph), ["a"], ["b"], "g"),
     r"graph is a MultiGraph"),
    ("resistor", "missing-input-node", lambda: ResistorNetwork(_graph(), ["zz"], ["b"], "g"),
     r"input node 'zz' is not in the graph"),
    ("resistor", "repeated-node", lambda: ResistorNetwork(_graph(), ["a", "a"], ["b"], "g"),
     r"node\(s\) \['a'\] listed twice"),
    ("resistor", "self-loop", lambda: ResistorNetwork(
        nx.Graph([("a", "b"), ("b", "b"), ("b", "g")]), ["a"], ["b"], "g"), r"graph has self-loop"),
    ("resistor", "min_conductance=0",
     lambda: ResistorNetwork(_graph(), ["a"], ["b"], "g", min_conductance=0), r"min_conductance=0"),
    ("resistor", "n_nodes=0", lambda: ResistorNetwork.random(0), r"n_nodes=0"),
    ("resistor-layered", "layers", lambda: ResistorNetwork.layered([0, 2, 1]), r"layers="),
    ("diode-layered", "knee=0", lambda: NonlinearResistorNetwork.layered([2, 3, 1], knee=0),
     r"knee=0"),
    ("diode-layered", "max_iter=0",
     lambda: NonlinearResistorNetwork.layered([2, 3, 1], max_iter=0), r"max_iter=0"),
    ("diode-shockley", "saturation_current=0", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], diode_law="shockley", saturation_current=0), r"saturation_current=0"),
    ("diode-shockley", "diode_law", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], diode_law="zener"), r"diode_law='zener'"),
    ("diode-shockley", "series_resistance=-1", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], diode_law="shockley", series_resistance=-1.0), r"series_resistance=-1.0"),
    ("diode-shockley", "saturation_current<0", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], diode_law="shockley", saturation_current=-1e-9), r"saturation_current=-1e-09"),
    ("diode-layered", "series_resistance-smooth", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], series_resistance=1.0), r"applies to diode_law='shockley' only"),
    # ideal diodes: loops of voltage sources through diodes, nodes fixed by no resistor
    ("diode-ideal", "forward-biased-between-sources", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], diode_law="ideal", diodes=[("bias", "ground")]),
     r"\('bias', 'ground'\) forward-biased by sources: V_bias - V_ground = 1 V > 0"),
    ("diode-ideal", "input-to-ground", lambda: NonlinearResistorNetwork.layered(
        [2, 3, 1], diode_law="ideal", diodes=[(("in", 0, "+"), "ground")]),
     r"joins two source nodes and one of them is an input"),
    ("diode-ideal", "diode-path-shorts-sources", lambda: _ideal_chain(
        [("a", "b"), ("b", "g")]).predict([[-1.0], [2.0]]),
     r"ideal diodes \[\('a', 'b'\), \('b', 'g'\)\] form a path .*sample 1.*= 2 V > 0"),
    ("diode-ideal", "clamp-forward-biases-diode", lambda: _ideal_chain([("c", "g")]).equilibrium(
        [[1.0]], pl.nudges.Clamp([[0.5]])), r"\('c', 'g'\) forward-biased.*clamped outputs"),
    ("diode-ideal", "floating-through-ideal-diode", lambda: NonlinearResistorNetwork(
        _graph_with("x"), ["a"], ["c"], "g", diodes=[("b", "x")], diode_law="ideal"),
     r"floating node\(s\) \['x'\]: no path through resistors \(ideal diodes"),
    ("diode-ideal", "spice-of-a-shorting-sample", lambda: _ideal_chain(
        [("a", "b"), ("b", "g")]).to_spice([1.0]), r"would short the sources"),
    ("resistor", "input-pair-one-node", lambda: ResistorNetwork(_graph(), [("a", "a")], ["b"], "g"),
     r"input pair \('a', 'a'\) .*loop of voltage sources"),
    ("resistor", "input-is-ground", lambda: ResistorNetwork(_graph(), ["g"], ["b"], "g"),
     r"node\(s\) \['g'\] listed twice.*loop of voltage sources"),
    # elastic networks: edge lists
    ("elastic", "missing-node", lambda: ElasticNetwork(_points(), [(0, 1), (1, 9)], [0], [(0, 1)],
                                                       [(2, 3)]), r"edges refer to nodes outside"),
    ("elastic", "repeated-edge", lambda: ElasticNetwork(_points(), [(0, 1), (1, 0)], [0],
                                                        [(0, 1)], [(2, 3)]),
     r"spring twice: \[\(0, 1\)\]"),
    ("elastic", "self-loop", lambda: ElasticNetwork(_points(), [(0, 1), (2, 2)], [0], [(0, 1)],
                                                    [(2, 3)]), r"edges contain a pair joining"),
    ("elastic", "max_iter=0", lambda: ElasticNetwork.random(16, max_iter=0), r"max_iter=0"),
    ("elastic", "min_stiffness=0", lambda: ElasticNetwork.random(16, min_stiffness=0),
     r"min_stiffness=0"),
    # Ising models
    ("ising-exact", "temperature=0", lambda: IsingModel.layered([2, 3, 2], temperature=0),
     r"temperature=0"),
    ("ising-exact", "temperature=-1", lambda: IsingModel.layered([2, 3, 2], temperature=-1.0),
     r"temperature=-1"),
    ("ising-exact", "missing-spin", lambda: IsingModel(3, [(0, 5)], [2]), r"edge \(0, 5\)"),
    ("ising-exact", "repeated-edge", lambda: IsingModel(3, [(0, 1), (1, 0)], [2]),
     r"edges contains a pair twice: \[\(0, 1\)\]"),
    ("ising-exact", "coupling_range=0", lambda: IsingModel.layered([2, 3, 2], coupling_range=0.0),
     r"coupling_range=0"),
    ("ising-monte-carlo", "sweeps=0",
     lambda: IsingModel.layered([2, 3, 2], solver="monte-carlo", sweeps=0), r"sweeps=0"),
    ("ising-monte-carlo", "chains=0",
     lambda: IsingModel.layered([2, 3, 2], solver="monte-carlo", chains=0), r"chains=0"),
    ("ising-mean-field", "max_iter=0",
     lambda: IsingModel.layered([2, 3, 2], solver="mean-field", max_iter=0), r"max_iter=0"),
    # phase oscillators, vector fields
    ("phase-oscillators", "missing-node", lambda: PhaseOscillatorNetwork(2, 2, 1, edges=[(0, 9)]),
     r"edge \(0, 9\)"),
    ("phase-oscillators", "repeated-edge",
     lambda: PhaseOscillatorNetwork(2, 2, 1, edges=[(0, 2), (2, 0)]), r"lists a pair twice"),
    ("phase-oscillators", "max_iter=0", lambda: PhaseOscillatorNetwork(2, 2, 1, max_iter=0),
     r"max_iter=0"),
    ("phase-oscillators", "tol=0", lambda: PhaseOscillatorNetwork(2, 2, 1, tol=0), r"tol=0"),
    ("vector-field", "max_iter=0", lambda: VectorFieldNetwork([2, 3, 1], max_iter=0),
     r"max_iter=0"),
    ("vector-field", "gain=0", lambda: VectorFieldNetwork([2, 3, 1], gain=0.0), r"gain=0"),
    ("vector-field-tied", "tied-alpha", lambda: VectorFieldNetwork([2, 3, 1], tied=True, alpha=0.3),
     r"tied=True ties B to Wᵀ, so alpha=0.3 must be 0"),
    # quantum systems
    ("quantum-harmonic-network", "temperature=-1",
     lambda: QuantumHarmonicNetwork.chain(3, temperature=-1), r"temperature=-1"),
    ("quantum-harmonic-network", "missing-node",
     lambda: QuantumHarmonicNetwork(3, [(0, 7)], [0], [2]), r"edges=\[\(0, 7\)\]"),
    ("quantum-harmonic-network", "repeated-edge",
     lambda: QuantumHarmonicNetwork(3, [(0, 1), (1, 0)], [0], [2]), r"lists a spring twice"),
    ("quantum-harmonic-network", "repeated-input",
     lambda: QuantumHarmonicNetwork(3, [(0, 1)], [0, 0], [2]), r"inputs=\[0, 0\]"),
    ("quantum-harmonic-network", "min_spring=0",
     lambda: QuantumHarmonicNetwork.chain(3, min_spring=0), r"min_spring=0"),
    ("quantum-harmonic-network", "ground=0", lambda: QuantumHarmonicNetwork.chain(3, ground=0.0),
     param("ground")),
    ("spin-chain-tfim", "temperature=-1",
     lambda: SpinChain.transverse_field_ising(3, temperature=-1.0), r"temperature=-1"),
    ("spin-chain-xxz", "shots=0", lambda: SpinChain.xxz(3, shots=0), r"shots=0"),
    ("spin-chain-phase-sensor", "n_system=0", lambda: SpinChain.phase_sensor(n_system=0),
     r"n_s"),
    # trajectory systems
    ("hru-nonlinear", "dt=0", lambda: HRU(2, 3, 1, dt=0.0), r"dt=0"),
    ("hru-nonlinear", "dt<0", lambda: HRU(2, 3, 1, dt=-0.1), r"dt=-0.1"),
    ("hru-linear", "n_hidden=0", lambda: HRU(2, 0, 1, kind="linear"), r"n_hidden=0"),
    ("hru-linear", "min_stiffness=0", lambda: HRU(2, 3, 1, min_stiffness=0.0),
     r"min_stiffness=0"),
    ("hru-nonlinear", "stiffness-below-floor", lambda: HRU(2, 3, 1, stiffness=(0.0, 1.0)),
     r"stiffness=\(0.0, 1.0\)"),
    ("hssm", "dt=0", lambda: HSSM(2, [3, 3], 1, dt=0.0), r"dt=0"),
    ("hssm", "n_blocks=0", lambda: HSSM(2, 3, 1, n_blocks=0), r"n_blocks=0"),
    ("hssm", "n_hidden=0", lambda: HSSM(2, 0, 1), r"n_hidden=0"),
    ("coupled-oscillators", "dt=0", lambda: CoupledOscillators(4, readout_dofs=[3], dt=0.0),
     r"dt=0"),
    ("coupled-oscillators", "missing-node",
     lambda: CoupledOscillators(4, edges=[(0, 7)], readout_dofs=[3]), r"edges entry \(0, 7\)"),
    ("coupled-oscillators", "repeated-edge",
     lambda: CoupledOscillators(4, edges=[(0, 1), (1, 0)], readout_dofs=[3]),
     r"lists a spring twice"),
    ("coupled-oscillators", "min_mass=0",
     lambda: CoupledOscillators(4, readout_dofs=[3], min_mass=0.0), r"min_mass=0"),
    ("hamiltonian", "dt=0", lambda: Hamiltonian.duffing(dt=0.0), r"dt=0"),
    ("hamiltonian", "n_dof=0", lambda: Hamiltonian.duffing(n_dof=0), r"n_dof=0"),
    ("self-learning-machine", "dt=0", lambda: SelfLearningMachine(dt=0.0), r"dt=0"),
    ("self-learning-machine", "n_steps=0", lambda: SelfLearningMachine(n_steps=0), r"n_steps=0"),
    ("self-learning-machine", "omega=0", lambda: SelfLearningMachine(omega=0.0), r"omega=0"),
    ("self-learning-machine", "weight_mass=-1", lambda: SelfLearningMachine(weight_mass=-1.0),
     r"weight_mass=-1"),
    ("self-learning-machine", "n_oscillators='x'",
     lambda: SelfLearningMachine(n_oscillators="x"), r"n_oscillators='x'"),
    # a circuit simulated by ngspice
    ("spice-network", "circuit-not-a-network", lambda: SpiceNetwork("R1 a b 1"),
     r"circuit='R1 a b 1' must be a ResistorNetwork"),
    ("spice-network", "shockley_element", lambda: SpiceNetwork(
        NonlinearResistorNetwork.layered([2, 3, 1]), shockley_element="Q"),
     r"shockley_element='Q'"),
    ("spice-network", "timeout=0", lambda: SpiceNetwork(
        NonlinearResistorNetwork.layered([2, 3, 1]), timeout=0), r"timeout=0"),
    ("spice-network", "unsupported-cost", lambda: system("spice-network").equilibrium(
        *_nudged("spice-network", PhaseCost(), 0.1)), r"cannot write the nudge of the cost "
     r"PhaseCost\(\).*supported costs are SquaredError and CrossEntropy"),
    ("spice-network", "complex-beta", lambda: system("spice-network").equilibrium(
        *_nudged("spice-network", pl.SquaredError(), 0.1j)), r"complex beta=0\.1j"),
    # deep resistive networks
    ("drn", "layers-no-hidden", lambda: DeepResistiveNetwork([2, 2]), r"layers=\[2, 2\]"),
    ("drn", "layers-zero", lambda: DeepResistiveNetwork([2, 0, 2]), r"entry 1 = 0"),
    ("drn", "input_gain<0", lambda: DeepResistiveNetwork([2, 4, 2], input_gain=-1.0),
     r"input_gain=-1.0"),
    ("drn", "amplification=0", lambda: DeepResistiveNetwork([2, 4, 2], amplification=0),
     r"amplification=0"),
    ("drn", "weight_gain-length", lambda: DeepResistiveNetwork([2, 4, 2], weight_gain=[1.0]),
     r"weight_gain=\[1.0\] has 1 entries, expected 2"),
    ("drn", "sweeps=0", lambda: DeepResistiveNetwork([2, 4, 2], sweeps=0), r"sweeps=0"),
    ("drn", "tol=0", lambda: DeepResistiveNetwork([2, 4, 2], tol=0.0), r"tol=0.0"),
    ("drn", "wrong-feature-count", lambda: system("drn").predict(np.ones((3, 5))),
     r"x has shape \(3, 5\), expected \(batch, 2\)"),
    # systems from a symbolic energy (symbols given by name)
    ("symbolic-resistor", "undeclared-symbol", lambda: SymbolicSystem(
        "k*(s - x)**2/2 + z*s", state=["s"], params={"k": ["k"]}, inputs=["x"], outputs=["s"]),
     r"energy contains symbol\(s\) \['z'\] that are not declared"),
    ("symbolic-resistor", "output-not-state", lambda: SymbolicSystem(
        "k*(s - x)**2/2", state=["s"], params={"k": ["k"]}, inputs=["x"], outputs=["x"]),
     r"outputs entry x is not a state symbol"),
    ("symbolic-resistor", "nonnegative-unknown", lambda: SymbolicSystem(
        "k*(s - x)**2/2", state=["s"], params={"k": ["k"]}, inputs=["x"], outputs=["s"],
        nonnegative=["g"]), r"nonnegative names \['g'\] that are not parameters"),
    ("symbolic-resistor", "max_iter=0", lambda: symbolic_resistor(10, max_iter=0),
     r"max_iter=0"),
    ("symbolic-resistor", "wrong-feature-count",
     lambda: system("symbolic-resistor").predict(np.ones((3, 5))),
     r"x has shape \(3, 5\), expected \(batch, 2\)"),
    # Hopfield networks: dense and convolutional layers
    ("hopfield", "layers", lambda: HopfieldNetwork([3, 0, 2]), r"layers\[1\]=0"),
    ("hopfield", "activation", lambda: HopfieldNetwork([3, 5, 2], activation="relu"),
     r"activation='relu' must be one of"),
    ("hopfield", "tol=0", lambda: HopfieldNetwork([3, 5, 2], tol=0.0), r"tol=0"),
    ("hopfield", "initial-state-outside-box",
     lambda: HopfieldNetwork([3, 5, 2], activation="hard-sigmoid", initial_state=1.5),
     r"initial_state=1.5 must be a number in \[0, 1\]"),
    ("hopfield", "initial-state-smooth",
     lambda: HopfieldNetwork([3, 5, 2], initial_state=0.5), r"initial_state=0.5: smooth"),
    ("hopfield", "sign-by-newton", lambda: HopfieldNetwork([3, 5, 2], activation="sign"),
     r"activation='sign' needs relaxation='sync' or 'async' \(got 'newton'\)"),
    ("hopfield", "sign-exact-gradient",
     lambda: pl.exact_gradient(HopfieldNetwork([3, 5, 2], activation="sign", relaxation="sync"),
                               np.ones((2, 3)), np.zeros((2, 2))),
     r"exact_gradient of HopfieldNetwork\(activation='sign'\).*no exact reference"),
    ("hopfield-conv", "image-wrong-spatial-shape",
     lambda: system("hopfield-conv").predict(np.ones((2, 1, 5, 5))),
     r"x has image shape \(1, 5, 5\) .*expected input_shape \(1, 6, 6\)"),
    ("hopfield-conv", "kernel-larger-than-input",
     lambda: HopfieldNetwork([[1, 6, 6], Conv(2, 7), 2]),
     r"layers\[1\]: kernel=7 is larger than its input of 6×6.*expected kernel <= 6"),
    ("hopfield-conv", "pool-does-not-divide",
     lambda: HopfieldNetwork([[1, 6, 6], Conv(2, 3, pool_size=3), 2]),
     r"layers\[1\]: pool_size=3 does not divide the 4×4 feature map.*expected a divisor"),
    ("hopfield-conv", "pool-kind",
     lambda: HopfieldNetwork([[1, 6, 6], Conv(2, 3, pool="median"), 2]),
     r"layers\[1\]: pool='median' must be 'avg' or 'max'"),
    ("hopfield-conv", "conv-after-dense", lambda: HopfieldNetwork([36, 4, Conv(2, 3), 2]),
     r"layers\[2\]: a convolutional layer needs an image input"),
    ("hopfield-conv", "bad-conv-dict",
     lambda: HopfieldNetwork([[1, 6, 6], {"channels": 2, "size": 3}, 2]),
     r"layers\[1\]=.* is not a convolutional layer spec"),
    # continual EP on a Hopfield network: bad hyperparameters, a system without "step"
    *[("hopfield", f"continual-ep-{label}", _continual("hopfield", **kwargs), match)
      for label, kwargs, match in [
          ("lr=0", {"lr": 0}, r"lr=0\.0 must be a finite positive number"),
          ("lr<0", {"lr": -1e-3}, r"lr=-0.001 must be a finite positive number"),
          ("lr=nan", {"lr": float("nan")}, r"lr=nan must be a finite positive number"),
          ("beta=0", {"beta": 0.0}, r"beta=0.0 must be a finite positive number"),
          ("beta-complex", {"beta": 0.1j}, r"beta=0.1j must be real"),
          ("max_steps=0", {"max_steps": 0}, r"max_steps=0 must be a positive integer"),
          ("max_steps-float", {"max_steps": 2.5}, r"max_steps=2.5 must be a positive integer"),
          ("variant", {"variant": "centered"},
           r"variant='centered' is not one of \['positive', 'negative'\]"),
          ("tol<0", {"tol": -1.0}, r"tol=-1.0 must be a finite number > 0")]],
    ("resistor", "continual-ep-without-step", _continual("resistor"),
     r"ContinualEP needs \['step'\], which ResistorNetwork does not offer"),
    # feedforward-tied energy-based models: chains of blocks
    ("ff-ebm", "block-sizes", lambda: FFEBM([Linear(3, 4), HopfieldNetwork([5, 6, 2])]),
     r"blocks\[1\] \(HopfieldNetwork\) takes 5 inputs, but blocks\[0\] \(linear\) gives 4 "
     r"outputs; expected blocks\[1\] to take 4 inputs"),
    ("ff-ebm", "unknown-kind", lambda: FFEBM([{"kind": "conv", "n_in": 3, "n_out": 2}]),
     r"blocks\[0\]: kind='conv' is not one of \['linear', 'hopfield'\]"),
    ("ff-ebm", "empty-blocks", lambda: FFEBM([]), r"blocks=\[\] must be a non-empty list"),
    ("ff-ebm", "linear-activation",
     lambda: FFEBM([{"kind": "linear", "n_in": 3, "n_out": 2, "activation": "relu"}]),
     r"blocks\[0\] \(linear\): activation='relu' must be one of"),
    ("ff-ebm", "unknown-block-key",
     lambda: FFEBM([{"kind": "linear", "n_in": 3, "n_out": 2, "units": 4}]),
     r"blocks\[0\] \(linear\): .*unexpected keyword argument 'units'"),
    ("ff-ebm", "hopfield-layers", lambda: FFEBM([{"kind": "hopfield", "layers": [3, 0, 2]}]),
     r"blocks\[0\] \(hopfield\): layers\[1\]=0"),
    ("ff-ebm", "not-an-energy-block", lambda: FFEBM([VectorFieldNetwork([3, 4, 2])]),
     r"blocks\[0\]: VectorFieldNetwork cannot be an energy block"),
    ("ff-ebm", "wrong-feature-count", lambda: system("ff-ebm").predict(np.ones((3, 5))),
     r"x has shape \(3, 5\), expected \(batch, 3\) for FFEBM"),
    ("feedforward", "one-layer", lambda: FeedforwardNetwork([3]),
     r"layers=\[3\] must be a list of at least two layer sizes"),
    ("feedforward", "layer-size-0", lambda: FeedforwardNetwork([3, 0, 2]), r"layers\[1\]=0"),
    ("feedforward", "activation", lambda: FeedforwardNetwork([3, 4, 2], activation="relu"),
     r"activation='relu' must be one of \['elu', 'tanh', 'linear'\]"),
    ("feedforward", "gain", lambda: FeedforwardNetwork([3, 4, 2], gain=0.0), r"gain=0"),
    ("feedforward", "wrong-feature-count",
     lambda: system("feedforward").predict(np.ones((3, 5))),
     r"x has shape \(3, 5\), expected \(batch, 3\) for FeedforwardNetwork"),
    ("feedforward", "dtp-beta", lambda: pl.DTP(beta=-0.5), r"beta=-0.5 must be a finite positive"),
    ("feedforward", "dtp-iterations", lambda: pl.DTP(feedback_iterations=2.5),
     r"feedback_iterations=2.5 must be an integer >= 0"),
    ("feedforward", "dtp-lr", lambda: pl.DTP(feedback_lr=[0.1, 0.0]),
     r"feedback_lr\[1\]=0.0 must be a finite number > 0"),
    ("feedforward", "dtp-noise", lambda: pl.DTP(feedback_noise=float("nan")),
     r"feedback_noise=nan must be a finite number > 0"),
    ("feedforward", "dtp-samples", lambda: pl.DTP(feedback_samples=0),
     r"feedback_samples=0 must be an integer >= 1"),
    ("feedforward", "dtp-per-layer-count",
     lambda: pl.DTP(feedback_iterations=[1, 2, 3]).gradient(system("feedforward"),
                                                           *example("feedforward")),
     r"feedback_iterations=\[1, 2, 3\] has 3 entries but the network has 2 feedback maps"),
    ("feedforward", "dtp-without-feedback-maps",
     lambda: pl.DTP().gradient(FeedforwardNetwork([3, 4, 2], feedback=False),
                               np.ones((2, 3)), np.ones((2, 2))),
     r"DTP needs \['feedback'\], which FeedforwardNetwork does not offer"),
    # spiking networks
    ("spiking", "negative-threshold", lambda: SpikingNetwork([3, 5, 2], threshold=-1.0),
     r"threshold=-1.0 must be a finite number > 0"),
    ("spiking", "negative-tau", lambda: SpikingNetwork([3, 5, 2], neuron="lif", tau=-20.0),
     r"tau=-20.0 must be a finite number > 0"),
    ("spiking", "zero-dt", lambda: SpikingNetwork([3, 5, 2], dt=0.0),
     r"dt=0.0 must be a finite number > 0"),
    ("spiking", "negative-trace", lambda: SpikingNetwork([3, 5, 2], tau_trace=-1.0),
     r"tau_trace=-1.0 must be a finite number > 0"),
    ("spiking", "window-0", lambda: SpikingNetwork([3, 5, 2], window=0),
     r"window=0 must be an integer >= 1 \(time steps\)"),
    ("spiking", "neuron-kind", lambda: SpikingNetwork([3, 5, 2], neuron="hh"),
     r"neuron='hh' must be one of \('if', 'lif'\)"),
    ("spiking", "rate-above-1/dt",
     lambda: SpikingNetwork([3, 5, 2], dt=0.5).predict(np.array([[0.1, 2.5, 0.0]])),
     r"x\[0, 1\]=2.5 is an input firing rate outside \[0, 1/dt\] = \[0, 2\]"),
    ("spiking", "negative-rate", lambda: system("spiking").predict(np.array([[0.1, -0.2, 0.0]])),
     r"x\[0, 1\]=-0.2 is an input firing rate outside \[0, 1/dt\]"),
    ("spiking-conv", "negative-rate-image",
     lambda: system("spiking-conv").predict(-np.ones((1, 1, 6, 6))),
     r"x\[0, 0\]=-1.0 is an input firing rate outside \[0, 1/dt\]"),
    ("spiking-conv", "negative-threshold",
     lambda: SpikingNetwork([[1, 6, 6], Conv(2, 3), 2], threshold=0.0),
     r"threshold=0.0 must be a finite number > 0"),
    ("spiking", "gain-per-layer-count", lambda: SpikingNetwork([3, 5, 2], gain=[1.0, 0.5, 0.5]),
     r"gain=\[1.0, 0.5, 0.5\] has 3 entries; expected one number for every layer or one per "
     r"layer of couplings \(2\)"),
    ("spiking", "initial-bias-entry", lambda: SpikingNetwork([3, 5, 2], initial_bias=[0.0, None]),
     r"initial_bias\[1\]=None must be a finite number"),
    ("hopfield", "gain-entry", lambda: HopfieldNetwork([3, 5, 2], gain=[1.0, -0.5]),
     r"gain\[1\]=-0.5 must be a finite number > 0"),
    ("spiking", "surrogate-width", lambda: pl.SurrogateBPTT(width=-1.0).gradient(
        system("spiking"), *example("spiking")), r"width=-1.0 must be a finite number > 0"),
    ("spiking", "eqspike-beta", lambda: pl.EqSpike(beta=0.0).gradient(
        system("spiking"), *example("spiking")), r"beta=0.0 must be a finite positive"),
    # a cost
    (None, "squared-error-range", lambda: pl.SquaredError(low=0.9, high=0.1),
     r"high=0.1 must be above low=0.9"),
    (None, "cross-entropy-temperature=0", lambda: CrossEntropy(temperature=0.0),
     r"temperature=0"),
    (None, "cross-entropy-temperature<0", lambda: CrossEntropy(temperature=-1.0),
     r"temperature=-1"),
]


def _nudged(sys_name, cost, beta):
    x, y = example(sys_name)
    return x, Nudge(cost, y, beta)


def constructor_rows():
    return [(f"{s or 'cost'}-{label}", s, f, ValueError, match)
            for s, label, f, match in CONSTRUCTORS]


ROWS = generated_rows() + assignment_rows() + constructor_rows()


def test_the_table_is_large_and_covers_every_registered_system():
    assert len(ROWS) >= 40
    named = {row[1] for row in ROWS}
    missing = set(SYSTEMS) - named
    assert not missing, f"registered systems without a bad-input case: {sorted(missing)}"
    hand_written = {row[1] for row in assignment_rows() + constructor_rows()}
    assert set(SYSTEMS) <= hand_written, sorted(set(SYSTEMS) - hand_written)


@pytest.mark.parametrize("owner,case,error,match", [pytest.param(s, f, e, m, id=i)
                                                    for i, s, f, e, m in ROWS])
def test_bad_input_is_refused_with_a_message_naming_it(owner, case, error, match):
    if owner in SYSTEMS and missing_requirements(owner):
        pytest.skip(missing_requirements(owner))
    before = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            before = case()
    assert before is None          # no case may return a result


@pytest.mark.parametrize("sys_name", available(SYSTEMS))
def test_refused_edits_leave_the_parameters_unchanged(sys_name):
    s = system(sys_name)
    kept = s.params.copy()
    for _, owner, case, error, _ in ROWS:
        if owner == sys_name:
            with warnings.catch_warnings(), pytest.raises(error):
                warnings.simplefilter("ignore")
                case()
    for name, value in kept.items():
        np.testing.assert_array_equal(s.params[name], value, err_msg=name)


@pytest.mark.parametrize("sys_name", [n for n in available(SYSTEMS) if system(n).param_bounds])
def test_a_learning_step_clips_onto_the_declared_bounds(sys_name):
    s = make_system(sys_name)
    bounds = s.param_bounds
    new = s.params.copy()
    for name, bound in bounds.items():
        new[name].ravel()[0] = _outside(bound)
    s.update_params(new)
    for name, bound in bounds.items():
        assert s.params[name].ravel()[0] == (bound.low if bound.lower > -np.inf else bound.upper)
