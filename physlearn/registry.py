"""One registry: every system, rule, cost, data set and optimizer physlearn knows by name.

An entry names a factory (a class, a builder classmethod or a function) and the keyword
arguments of a small default instance. That one entry is then reachable from everywhere:

* the contract suite (``tests/test_contract.py``, :mod:`physlearn.testing`) builds the default
  instance of every system and runs every applicable rule on it;
* ``physlearn list`` and ``physlearn check SYSTEM RULE`` read the same tables;
* a config table ``[system] builder = "resistor-layered"`` calls the same factory, with the
  table's keys on top of the entry's defaults; so do sweeps.

Factories are given as ``"package.module:attribute"`` strings and imported only when used, so
this module imports nothing of physlearn (no import cycle, no QuTiP at start-up). A user's own
class or function is reachable without registering it, as ``"package.module:Class"``; or it is
registered with :func:`register_system` (and friends) and then appears everywhere.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Entry", "SystemEntry", "RuleEntry", "Registry", "SYSTEMS", "RULES", "COSTS", "DATASETS",
    "OPTIMIZERS", "TABLES", "register_system", "register_rule", "register_cost",
    "register_dataset", "register_optimizer", "make_system", "make_rule", "system_entry",
    "rule_entry", "import_target", "did_you_mean",
]


def did_you_mean(name, valid):
    """`` (did you mean 'x'?)`` for the closest valid name, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def import_target(target):
    """Import ``"package.module:attr.attr"`` (or return a callable unchanged).

    Raises
    ------
    ValueError
        If the module or attribute cannot be found; the message names the target.
    """
    if callable(target):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"{target!r} is not of the form 'package.module:Name'")
    module_name, _, attrs = target.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r} named in {target!r}: {err}") \
            from None
    for attr in attrs.split("."):
        if not hasattr(obj, attr):
            raise ValueError(f"module {module_name!r} has no attribute {attrs!r} "
                             f"(named in {target!r})")
        obj = getattr(obj, attr)
    return obj


def _target_name(target):
    """``"package.module:Class.builder"`` of a registered target (string or callable)."""
    if isinstance(target, str):
        return target
    owner = getattr(target, "__self__", None)          # a bound classmethod
    if isinstance(owner, type):
        return f"{owner.__module__}:{owner.__qualname__}.{target.__name__}"
    return f"{target.__module__}:{target.__qualname__}"


@dataclass(frozen=True)
class Entry:
    """A registered factory and the keyword arguments of its default instance.

    Attributes
    ----------
    kind : str
        ``"system"``, ``"rule"``, ``"cost"``, ``"dataset"`` or ``"optimizer"``.
    name : str
        The registered name (used in configs, on the command line and in the contract suite).
    target : str or callable
        ``"package.module:attr"`` of the factory, or the factory itself.
    defaults : Mapping
        Keyword arguments of the default instance; a config's keys override them.
    summary : str
        One line for ``physlearn list`` and the config docs.
    """

    kind: str
    name: str
    target: object
    defaults: Mapping = field(default_factory=dict)
    summary: str = ""

    @property
    def path(self):
        """``"package.module:attr"`` of the factory."""
        return _target_name(self.target)

    @property
    def class_name(self):
        """The name of the class the factory belongs to (``"EP"``, ``"ResistorNetwork"``)."""
        return self.path.partition(":")[2].split(".")[0]

    def factory(self):
        """The factory, imported on first use."""
        return import_target(self.target)

    def build(self, **overrides):
        """An instance: the factory called with the defaults updated by ``overrides``."""
        return self.factory()(**{**_copy(self.defaults), **overrides})


def _copy(defaults):
    return {k: (list(v) if isinstance(v, list) else v) for k, v in defaults.items()}


@dataclass(frozen=True)
class SystemEntry(Entry):
    """A system entry, with the example problem the contract suite checks it on.

    Attributes
    ----------
    example : str, callable or None
        ``example(system, rng) -> (x, y)``; default Gaussian ``x`` and ``0.3 ×`` Gaussian ``y``
        of ``batch`` rows.
    example_kwargs : Mapping
        Extra keyword arguments of ``example``.
    batch : int
        Rows of the default example.
    stochastic : bool
        The system's runs are random (Monte Carlo, shots): the contract suite skips the checks
        that compare deterministic numbers to tight tolerances.
    requires : tuple of str
        External programs the system runs (``("ngspice",)``): where one is not on the ``PATH``
        the contract suite skips the system, naming the install command
        (:func:`physlearn.testing.missing_requirements`).
    """

    example: object = None
    example_kwargs: Mapping = field(default_factory=dict)
    batch: int = 4
    stochastic: bool = False
    requires: tuple = ()

    def problem(self, system, seed=0):
        """The example problem ``(x, y)`` for an instance of this system."""
        rng = np.random.default_rng(seed)
        if self.example is not None:
            return import_target(self.example)(system, rng, **self.example_kwargs)
        x = rng.normal(size=(self.batch, system.n_features))
        y = 0.3 * rng.normal(size=(self.batch, system.n_outputs))
        return x, y


@dataclass(frozen=True)
class RuleEntry(Entry):
    """A rule entry, with where (which strengths) its bias order is measured.

    Attributes
    ----------
    betas : tuple of float
        Nudge strengths of the bias-order fit (empty: no claim).
    param : str
        The hyperparameter the strengths set (``"beta"``, ``"eps"``, ``"eta"``).
    tolerance : float
        Relative error allowed against the exact reference at the smallest strength.
    """

    betas: tuple = (1e-2, 3e-3, 1e-3, 3e-4)
    param: str = "beta"
    tolerance: float = 1e-5


class Registry(dict):
    """Name → entry for one kind of object, with lookups that name the valid choices."""

    def __init__(self, kind, entry_type=Entry):
        super().__init__()
        self.kind = kind
        self.entry_type = entry_type

    def add(self, name, target, defaults=None, **fields):
        """Register ``target`` under ``name`` (replacing an entry of the same name)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        self[name] = self.entry_type(self.kind, name, target, dict(defaults or {}), **fields)
        return self[name]

    def entry(self, name):
        """The entry ``name``, or a ``ValueError`` listing the registered names."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}{did_you_mean(name, self)}; "
                             f"registered: {', '.join(sorted(self))}")
        return self[name]

    def class_paths(self):
        """Class name → ``"package.module:Class"`` of every registered factory's class."""
        return {e.class_name: e.path.partition(":")[0] + ":" + e.class_name
                for e in self.values()}

    def resolve(self, name):
        """A factory and its defaults from a registered name, a registered class's name
        (``"EP"``: the class with its own defaults) or ``"package.module:attr"``."""
        if name in self:
            return self[name].factory(), dict(self[name].defaults)
        classes = self.class_paths()
        if name in classes:
            return import_target(classes[name]), {}
        if isinstance(name, str) and ":" in name:
            return import_target(name), {}
        valid = sorted(self) + sorted(set(classes) - set(self))
        raise ValueError(f"unknown {self.kind} {name!r}{did_you_mean(name, valid)}; valid: "
                         f"{', '.join(valid)}, or 'package.module:Name'")


SYSTEMS = Registry("system", SystemEntry)
RULES = Registry("rule", RuleEntry)
COSTS = Registry("cost")
DATASETS = Registry("dataset")
OPTIMIZERS = Registry("optimizer")
NOISES = Registry("noise model")
TABLES = {"system": SYSTEMS, "noise": NOISES, "rule": RULES, "cost": COSTS, "data": DATASETS,
          "optimizer": OPTIMIZERS}


def register_system(name, target, defaults=None, **fields):
    """Register a system factory; it joins the contract suite, configs, sweeps and the CLI.

    Parameters
    ----------
    name : str
        Registered name.
    target : callable or str
        A class, builder or function returning a system, or its ``"package.module:attr"``.
    defaults : dict, optional
        Keyword arguments of the small default instance (``seed`` is set by the caller).
    **fields
        ``example``, ``example_kwargs``, ``batch``, ``stochastic``, ``requires``, ``summary``
        (see :class:`SystemEntry`).
    """
    return SYSTEMS.add(name, target, defaults, **fields)


def register_rule(name, target, defaults=None, **fields):
    """Register a rule factory (fields: ``betas``, ``param``, ``tolerance``, ``summary``)."""
    return RULES.add(name, target, defaults, **fields)


def register_cost(name, target, defaults=None, **fields):
    """Register a cost class."""
    return COSTS.add(name, target, defaults, **fields)


def register_dataset(name, target, defaults=None, **fields):
    """Register a data-set loader ``loader(**kwargs) -> Dataset``."""
    return DATASETS.add(name, target, defaults, **fields)


def register_optimizer(name, target, defaults=None, **fields):
    """Register an optimizer class."""
    return OPTIMIZERS.add(name, target, defaults, **fields)


def system_entry(name) -> SystemEntry:
    return SYSTEMS.entry(name)


def rule_entry(name) -> RuleEntry:
    return RULES.entry(name)


def make_system(name, seed=0, **overrides):
    """The default instance of the registered system ``name`` (seeded)."""
    return SYSTEMS.entry(name).build(**{"seed": seed, **overrides})


def make_rule(name, **overrides):
    """The default instance of the registered rule ``name``."""
    return RULES.entry(name).build(**overrides)


# -- the built-in entries ----------------------------------------------------------------------
_S = "physlearn.systems."
_SEQ = {"example": _S + "trajectory:sequence_problem"}


def _builtin_systems(add: Callable):
    add("resistor", _S + "resistor:ResistorNetwork.random", {"n_nodes": 40},
        summary="linear resistor network on a random small-world graph")
    add("resistor-layered", _S + "resistor:ResistorNetwork.layered", {"layers": [3, 6, 2]},
        summary="linear resistor network, all-to-all between layers, inputs at ±x")
    add("symbolic-resistor", _S + "symbolic:symbolic_resistor", {"n_nodes": 10},
        example=_S + "symbolic:contract_problem",
        summary="SymbolicSystem: a resistor co-content written in sympy, differentiated by "
                "physlearn")
    add("diode-layered", _S + "diode:NonlinearResistorNetwork.layered", {"layers": [2, 5, 2]},
        summary="layered resistor network with smooth diodes")
    add("diode-shockley", _S + "diode:NonlinearResistorNetwork.layered",
        {"layers": [2, 5, 2], "diode_law": "shockley"},
        summary="layered resistor network with Shockley diodes (exportable to SPICE)")
    add("diode-ideal", _S + "diode:NonlinearResistorNetwork.layered",
        {"layers": [2, 5, 2], "diode_law": "ideal"},
        summary="layered resistor network with ideal diodes (a convex QP, solved exactly)")
    add("drn", _S + "drn:DeepResistiveNetwork", {"layers": [2, 4, 2]},
        summary="deep resistive network: resistors, ideal diodes, exact coordinate descent")
    add("elastic", _S + "elastic:ElasticNetwork.random", {"n_nodes": 16},
        example=_S + "elastic:contract_problem",
        summary="2-D spring network on a Delaunay graph (stiffness, rest length)")
    ising = {"sizes": [2, 3, 2], "lateral": True, "temperature": 1.0}
    add("ising-exact", _S + "ising:IsingModel.layered", {**ising, "solver": "exact"},
        example=_S + "ising:contract_problem",
        summary="±1 Ising spins at temperature T, exact enumeration")
    add("ising-monte-carlo", _S + "ising:IsingModel.layered",
        {**ising, "solver": "monte-carlo", "sweeps": 200, "chains": 8},
        example=_S + "ising:contract_problem", stochastic=True,
        summary="±1 Ising spins at temperature T, Monte Carlo (heat bath)")
    add("ising-mean-field", _S + "ising:IsingModel.layered",
        {**ising, "solver": "mean-field", "init_scale": 0.3},
        example=_S + "ising:contract_problem",
        summary="Ising model in the mean-field approximation (an equilibrium system)")
    add("phase-oscillators", _S + "phase_oscillators:PhaseOscillatorNetwork",
        {"n_inputs": 3, "n_hidden": 3, "n_outputs": 2},
        example=_S + "phase_oscillators:contract_problem",
        summary="coupled phase oscillators (XY / Kuramoto energy)")
    add("vector-field", _S + "vector_field:VectorFieldNetwork", {"layers": [3, 5, 2]},
        summary="non-symmetric (vector-field) network with asymmetry angle alpha")
    add("vector-field-tied", _S + "vector_field:VectorFieldNetwork",
        {"layers": [3, 5, 2], "tied": True},
        summary="vector-field network with B = W^T tied: a Hopfield energy, EP and holomorphic EP")
    add("hopfield", _S + "hopfield:HopfieldNetwork", {"layers": [3, 5, 2]},
        summary="layered continuous Hopfield network (Scellier & Bengio), dense layers")
    add("hopfield-conv", _S + "hopfield:HopfieldNetwork",
        {"layers": [[1, 6, 6], {"channels": 2, "kernel": 3, "pool": "avg", "pool_size": 2}, 2]},
        summary="convolutional Hopfield network: 1x6x6 images, 3x3 conv, avg pool 2, dense 2")
    add("ff-ebm", _S + "ffebm:FFEBM",
        {"blocks": [{"kind": "linear", "n_in": 3, "n_out": 4, "activation": "tanh"},
                    {"kind": "hopfield", "layers": [4, 5, 3]},
                    {"kind": "linear", "n_in": 3, "n_out": 2}]},
        summary="feedforward-tied energy-based model: linear -> Hopfield block -> linear "
                "(Nest & Ernoult), EP inside energy blocks, backprop between them")
    add("feedforward", _S + "feedforward:FeedforwardNetwork",
        {"layers": [3, 5, 4, 2], "activation": "elu"},
        summary="layered feedforward network h = f(W h + b) with learned feedback maps "
                "(the digital baseline: backprop, DTP)")
    spiking = {"example": _S + "spiking:contract_problem"}
    add("spiking", _S + "spiking:SpikingNetwork",
        {"layers": [3, 5, 2], "window": 400, "initial_bias": 0.3}, **spiking,
        summary="integrate-and-fire network whose firing rates settle to a hard-sigmoid Hopfield "
                "fixed point (EqSpike)")
    add("spiking-conv", _S + "spiking:SpikingNetwork",
        {"layers": [[1, 6, 6], {"channels": 2, "kernel": 3, "pool": "avg", "pool_size": 2}, 2],
         "window": 400}, **spiking,
        summary="convolutional spiking convergent network, average pooling (Lin et al.)")
    chain = {"example": _S + "spin_chain:contract_problem"}
    add("spin-chain-tfim", _S + "spin_chain:SpinChain.transverse_field_ising",
        {"n_spins": 4, "J": [0.8, 0.9, 0.6], "h": [1.3, 1.1, 1.4, 1.2], "g": 0.1,
         "observables": ["Z2", "Z3"]}, **chain,
        summary="transverse-field Ising chain (QuTiP), quantum ground state")
    add("spin-chain-xxz", _S + "spin_chain:SpinChain.xxz",
        {"n_spins": 4, "Jxy": [0.8, 0.9, 0.6], "Jz": [0.7, 0.55, 0.95], "h": 0.2, "dm": 0.3,
         "observables": ["Z2", "Z3"]}, **chain,
        summary="XXZ chain with a Dzyaloshinskii–Moriya term (time reversal broken)")
    add("spin-chain-phase-sensor", _S + "spin_chain:SpinChain.phase_sensor",
        {"n_system": 4}, example=_S + "spin_chain:phase_sensor_problem",
        summary="Wanjura & Marquardt's phase sensor: cluster-Ising ring + 2 sensor qubits")
    add("quantum-harmonic-network", _S + "quantum_oscillators:QuantumHarmonicNetwork.random",
        {"n_modes": 5, "n_inputs": 2, "n_outputs": 2, "nudge_mode": "self_consistent"},
        summary="coupled quantum harmonic oscillators, Gaussian ground state")
    add("hru-nonlinear", _S + "hru:HRU",
        {"n_features": 2, "n_hidden": 5, "n_outputs": 2, "kind": "nonlinear"},
        example_kwargs={"n_steps": 40}, **_SEQ,
        summary="Hamiltonian recurrent unit, nonlinear (leapfrog)")
    add("hru-linear", _S + "hru:HRU",
        {"n_features": 2, "n_hidden": 5, "n_outputs": 2, "kind": "linear"},
        example_kwargs={"n_steps": 40}, **_SEQ,
        summary="Hamiltonian recurrent unit, linear (RHEL exact for every eps)")
    add("hssm", _S + "hssm:HSSM", {"n_features": 2, "n_hidden": [4, 3], "n_outputs": 2},
        example_kwargs={"n_steps": 30}, **_SEQ,
        summary="Hamiltonian state-space model: a stack of HRU blocks")
    add("coupled-oscillators", _S + "oscillators:CoupledOscillators",
        {"n_oscillators": 4, "readout_dofs": [3], "readout": "final"},
        example_kwargs={"n_steps": 80}, **_SEQ,
        summary="masses on springs with trainable masses and springs")
    add("hamiltonian", _S + "hamiltonian:Hamiltonian.duffing", {},
        example_kwargs={"n_steps": 30}, **_SEQ,
        summary="a user Hamiltonian: driven Duffing oscillators from numpy energy terms")
    add("self-learning-machine", _S + "self_learning:SelfLearningMachine", {},
        summary="parameters as dynamical degrees of freedom (Hamiltonian echo backprop)")
    add("spice-network", _S + "spice_network:SpiceNetwork.layered", {"layers": [2, 5, 2]},
        requires=("ngspice",),
        summary="layered Shockley-diode circuit whose equilibria are ngspice operating points")


def _builtin_rules(add: Callable):
    r = "physlearn.rules:"
    for variant, tol in (("positive", 5e-3), ("negative", 5e-3), ("centered", 1e-5)):
        add(f"ep-{variant}", r + "EP", {"beta": 1e-3, "variant": variant}, tolerance=tol,
            summary=f"equilibrium propagation, {variant} nudges")
    add("continual-ep", r + "ContinualEP", {"beta": 1e-3, "lr": 1e-10}, tolerance=5e-3,
        summary="continual EP: the parameters move at every nudged step (deviation from "
                "positive EP O(lr/beta))")
    add("holomorphic-ep", r + "HolomorphicEP", {"beta": 0.02, "points": 3},
        betas=(0.08, 0.04, 0.02), tolerance=5e-4,
        summary="N-point Cauchy estimate on a circle of complex nudges")
    add("contrastive", r + "ContrastiveLearning", betas=(),
        summary="contrastive learning: outputs clamped at the target")
    for variant in ("positive", "negative", "centered"):
        add(f"coupled-{variant}", r + "CoupledLearning", {"eta": 0.1, "variant": variant},
            betas=(), param="eta", summary=f"coupled learning, {variant} clamps")
    add("generalized-ep-centered", r + "GeneralizedEP", {"beta": 1e-3, "points": 2},
        tolerance=1e-5, summary="generalized EP for vector fields, centered nudges")
    add("generalized-ep-cauchy", r + "GeneralizedEP", {"beta": 0.02, "points": 3},
        betas=(0.08, 0.04, 0.02), tolerance=5e-4,
        summary="generalized EP with the Cauchy estimate")
    add("generalized-ep-homeostasis", r + "GeneralizedEP",
        {"beta": 1e-3, "points": 2, "homeostasis": 0.1}, betas=(),
        summary="generalized EP plus Jacobian homeostasis (not an estimate of dL/dθ alone)")
    add("rhel", r + "RHEL", {"eps": 1e-3}, betas=(3e-2, 1e-2, 3e-3), param="eps",
        tolerance=1e-5, summary="recurrent Hamiltonian echo learning, centered echoes")
    add("rhel-one-sided", r + "RHEL", {"eps": 1e-3, "variant": "one-sided"},
        betas=(1e-3, 3e-4, 1e-4), param="eps", tolerance=5e-3,
        summary="recurrent Hamiltonian echo learning, one echo")
    add("bptt", r + "BPTT", betas=(),
        summary="backpropagation through time (the exact reference, as a rule)")
    add("backprop", r + "Backprop", betas=(),
        summary="backpropagation through a feedforward network (the exact reference, as a "
                "rule)")
    add("dtp", r + "DTP", betas=(),
        summary="difference target propagation, feedback maps trained by L-DRL (biased: no "
                "beta-limit claim)")
    add("eqspike", r + "EqSpike", {"beta": 0.05}, betas=(),
        summary="EqSpike: EP whose synapses contrast spike pairs (a symmetric STDP window) "
                "between the nudged and free phases")
    add("surrogate-bptt", r + "SurrogateBPTT", betas=(),
        summary="BPTT through the spikes with a surrogate derivative (the spiking baseline; "
                "memory O(N T))")
    add("heb-averaged", r + "HEB", {"eta": 1e-4}, betas=(1e-3, 3e-4, 1e-4), param="eta",
        tolerance=1e-6, summary="Hamiltonian echo backpropagation, averaged over ±eta")


def _builtin_costs(add: Callable):
    add("squared_error", "physlearn.costs:SquaredError", summary="½ Σ (o − y)²")
    add("cross_entropy", "physlearn.costs:CrossEntropy",
        summary="cross-entropy of a softmax of the outputs at a temperature")
    add("phase", _S + "phase_oscillators:PhaseCost",
        summary="log-cosine cost of phase outputs (phase oscillators)")
    add("chord", _S + "phase_oscillators:ChordCost",
        summary="chord distance 1 − cos(o − y) of phase outputs")
    add("observable", _S + "quantum:ObservableCost",
        summary="expected cost observable ⟨C⟩ (quantum systems)")
    add("negative_magnitude", _S + "quantum:NegativeMagnitude",
        summary="−|⟨O⟩| (unsupervised phase exploration)")


def _builtin_datasets(add: Callable):
    d = "physlearn.experiment.datasets:"
    add("xor", d + "xor", summary="the four XOR points")
    add("iris", d + "iris", summary="scikit-learn's iris, standardised")
    add("digits", d + "digits", summary="scikit-learn's 8×8 digits, standardised")
    add("linear_regression", d + "linear_regression", summary="y = A x + b + noise (generated)")
    add("sequences", d + "sequences",
        summary="input sequences and a linear read-out of their filtered history (generated)")
    add("cluster_ising_phases", d + "cluster_ising_phases",
        summary="couplings of the cluster-Ising chain labelled by their phase (generated)")


def register_noise(name, target, defaults=None, **fields):
    """Register a noise model: a wrapper ``target(system, **kwargs)`` over any system (the
    ``[noise]`` table of a config wraps the ``[system]`` it builds)."""
    return NOISES.add(name, target, defaults, **fields)


def _builtin_noises(add: Callable):
    n = "physlearn.noise:"
    add("measurement", n + "MeasurementNoise",
        summary="Gaussian noise on the local measurements dE/dtheta, fresh in every phase")
    add("relaxation", n + "RelaxationNoise",
        summary="Langevin noise at temperature T: states fluctuate around the fixed point")
    add("device", n + "DeviceVariability",
        summary="frozen multiplicative mismatch of every parameter (device variability)")
    add("quantised", n + "QuantisedUpdates",
        summary="parameters restricted to a grid of levels after every update")
    add("readout", n + "ReadoutNoise", summary="Gaussian noise on the outputs a rule reads")


def _builtin_optimizers(add: Callable):
    o = "physlearn.experiment.optim:"
    add("sgd", o + "SGD", summary="plain gradient descent")
    add("momentum", o + "Momentum", summary="heavy-ball momentum")
    add("adam", o + "Adam", summary="Adam")
    add("binary-flip", o + "BinaryFlip",
        summary="binary weights +-alpha flipped where a filtered gradient crosses a threshold")
    add("metaplastic", o + "Metaplastic",
        summary="binary weights as signs of hidden weights whose plasticity falls with size")


_builtin_systems(register_system)
_builtin_rules(register_rule)
_builtin_costs(register_cost)
_builtin_datasets(register_dataset)
_builtin_optimizers(register_optimizer)
_builtin_noises(register_noise)
