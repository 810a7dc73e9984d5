"""Classical Ising models trained by thermal equilibrium propagation.

Physics
-------
Spins ``σ_i = ±1`` on a graph with trainable couplings ``J_e`` (edges ``e = (i, j)``), fields
``h_i`` and input couplings ``W_li`` from the input features ``x_l`` to the input-coupled spins
have, in physlearn's convention (``F = E + βC`` minimised),

    E(θ, x, σ) = −Σ_e J_e σ_i σ_j − Σ_i h_i σ_i − Σ_{l,i} x_l W_li σ_i .

At temperature ``T > 0`` (``k_B = 1``; energies and ``T`` in units of the maximal coupling,
everything dimensionless) a run returns Boltzmann averages ``⟨·⟩ ∝ Σ_σ · e^{−E/T}``. The local
measurements are the thermal averages ``⟨∂E/∂J_e⟩ = −⟨σ_iσ_j⟩``, ``⟨∂E/∂h_i⟩ = −⟨σ_i⟩`` and
``⟨∂E/∂W_li⟩ = −x_l⟨σ_i⟩``; the outputs are magnetisations ``o_k = ⟨σ̄_k⟩`` of output spins
(``σ̄_k`` the mean of a group of duplicated spins, Laydevant et al.).

Solvers are registered by name (:data:`SOLVERS`): ``"exact"`` (enumeration of the 2ⁿ states,
this module), ``"monte-carlo"`` (Metropolis / heat-bath sampling with standard errors,
:mod:`physlearn.systems.ising_sampling`) and ``"mean-field"`` (deterministic magnetisations
of the naive mean-field free energy, an equilibrium system with its own implicit-
differentiation reference, :mod:`physlearn.systems.ising_mean_field`).
"""

from __future__ import annotations

import importlib
import itertools
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physlearn.nudges import Clamp, Nudge
from physlearn.system import Bound, State, System, batch_mean

__all__ = ["IsingModel", "IsingState", "ExactSolver", "SOLVERS", "register_solver",
           "solver_class", "EXACT_MAX_SPINS", "OBJECTIVES", "contract_problem"]

EXACT_MAX_SPINS = 16          # 2**16 = 65 536 configurations per sample
TABLE_MAX_SPINS = 16          # per-configuration cost table over the output spins
OBJECTIVES = ("mean", "expected")

SOLVERS: dict[str, type] = {}
_BUILTIN_SOLVERS = {"monte-carlo": "ising_sampling", "mean-field": "ising_mean_field"}


def register_solver(name, cls):
    """Register a solver class under ``name`` (``IsingModel(..., solver=name)``).

    A thermal solver class has ``kind = "thermal"`` and a method
    ``run(model, x, field, table, clamp) -> IsingState``; a solver whose ``kind`` is
    ``"equilibrium"`` names the model class that implements it (``model_class``).
    """
    SOLVERS[name] = cls


def solver_class(name):
    """The solver class registered under ``name`` (built-in solvers are imported lazily)."""
    if name not in SOLVERS and name in _BUILTIN_SOLVERS:
        importlib.import_module(f".{_BUILTIN_SOLVERS[name]}", __package__)
    if not isinstance(name, str) or name not in SOLVERS:
        known = sorted(set(SOLVERS) | set(_BUILTIN_SOLVERS))
        raise ValueError(f"solver={name!r} is not one of {known}")
    return SOLVERS[name]


@dataclass
class IsingState(State):
    """Thermal averages of an Ising model, one row per sample.

    ``s`` holds the magnetisations ``⟨σ_i⟩`` (batch, n_spins).

    Parameters
    ----------
    s, x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`; ``s`` holds the magnetisations ``⟨σ_i⟩`` in
        ``[−1, 1]`` (dimensionless).
    correlations : ndarray, shape (batch, n_edges), optional
        The edge correlations ``⟨σ_i σ_j⟩`` (dimensionless).
    field : ndarray, shape (batch, n_spins), optional
        The total field ``h + xW`` (plus a linearised nudge), in units of the couplings.
    stderr : dict, optional
        Monte Carlo: standard errors of ``"s"`` and ``"correlations"``.
    temperature : float, default 1.0
        The temperature ``T`` of the ensemble (units of the couplings, ``k_B = 1``).
    extra : dict, optional
        Solver-specific data.

    Notes
    -----
    The averages are Boltzmann averages :math:`⟨A⟩ = \\sum_σ A(σ)\\, e^{−E(σ)/T}/Z`, which are
    the local measurements of thermal EP: :math:`⟨∂E/∂J_e⟩ = −⟨σ_iσ_j⟩`,
    :math:`⟨∂E/∂h_i⟩ = −⟨σ_i⟩`.

    References
    ----------
    .. [1] J. Laydevant, D. Marković, J. Grollier, "Training an Ising machine with equilibrium
       propagation", Nat. Commun. 15, 3671 (2024), arXiv:2305.18321.
    """

    correlations: np.ndarray = None   # (batch, n_edges) ⟨σ_i σ_j⟩ on the edges
    field: np.ndarray = None          # (batch, n_spins) total field h + xW (+ linear nudge)
    stderr: dict = None               # Monte Carlo: standard errors of "s", "correlations"
    temperature: float = 1.0
    extra: dict = None


class IsingModel(System):
    """Classical Ising model ``E = −Σ J_e σ_iσ_j − Σ h_i σ_i − Σ x_l W_li σ_i`` at temperature T.

    Parameters
    ----------
    n_spins : int
        Number of spins ``σ_i = ±1`` (≥ 1; at most 16 for the exact solver).
    edges : sequence of (int, int)
        Coupled pairs ``(i, j)``, ``i ≠ j``; one trainable coupling ``J_e`` each.
    output_spins : sequence of int or of tuples of int
        One entry per output: a spin, or a group of duplicated spins whose mean is the output
        (Laydevant et al. use 4 copies per class). Outputs are magnetisations in [−1, 1].
    input_spins : sequence of int, optional
        Spins the ``n_features`` input features couple to, through the trainable input
        couplings ``W`` (shape ``(n_features, len(input_spins))``); default: every spin that is
        not an output.
    n_features : int, default 1
        Number of input features (0: no inputs, no ``W``).
    temperature : float, default 1.0
        T > 0 in units of the couplings (k_B = 1; dimensionless).
    solver : {"exact", "monte-carlo", "mean-field"} or a registered name, default "exact"
        ``"exact"``: enumeration of the 2ⁿ states (n ≤ 16); ``"monte-carlo"``: sampling
        (:class:`~physlearn.systems.ising_sampling.MonteCarloSolver`); ``"mean-field"``: builds
        a :class:`~physlearn.systems.ising_mean_field.MeanFieldIsing`.
    objective : {"mean", "expected"}, default "mean"
        Which loss the nudge differentiates (see Notes): ``"mean"`` is ``L = C(⟨σ̄⟩, y)`` (the
        cost of the magnetisations, what :func:`physlearn.loss` measures), ``"expected"`` is
        ``L = ⟨C(σ̄, y)⟩`` (the thermal average of the cost of each configuration,
        :meth:`loss`).
    coupling_range : float, default 1.0
        The range of ``J`` and ``W``, ``[−coupling_range, coupling_range]`` (units of the
        couplings), as on an Ising machine: an assignment outside is refused, a learning step
        (:meth:`update_params`) clips onto it.
    field_range : float, default 1.0
        The range of ``h``, ``[−field_range, field_range]`` (units of the couplings), likewise.
    init_scale : float, default 0.5
        Initial parameters are uniform in ``±init_scale`` × their range (dimensionless).
    sweeps : int, default 1000
        Monte Carlo: measured sweeps per chain. Ignored by the other solvers.
    burn_in : int, default 100
        Monte Carlo: discarded sweeps before measuring. Ignored by the other solvers.
    chains : int, default 16
        Monte Carlo: independent chains per sample. Ignored by the other solvers.
    update : {"heat-bath", "metropolis"}, default "heat-bath"
        Monte Carlo: the single-spin update (heat bath is Gibbs sampling). Ignored by the
        other solvers.
    tol : float, default 1e-12
        Mean field: residual tolerance of the self-consistency equations (field units).
        Ignored by the other solvers.
    max_iter : int, default 100
        Mean field: Newton iterations. Ignored by the other solvers.
    seed : int or numpy.random.Generator, default 0
        Seeds the initial parameters and the Monte Carlo random numbers. With an int every
        Monte Carlo run draws the *same* random numbers (common random numbers: the free and
        nudged runs of one EP estimate are correlated, and every run is reproducible); with a
        Generator the runs consume it.

    Raises
    ------
    ValueError
        If ``n_spins`` is not a positive integer (or exceeds 16 for the exact solver); an
        edge does not join two different spins or repeats; ``output_spins`` is empty, uses a
        spin twice or outside the model; ``input_spins`` is invalid or missing while
        ``n_features > 0``; ``solver`` or ``objective`` is unknown; ``coupling_range``,
        ``field_range`` or ``init_scale`` is not a finite positive number; a solver setting
        is invalid; or ``seed`` is neither an int nor a Generator.

    Notes
    -----
    *Energy.* In physlearn's convention (:math:`F = E + βC` minimised),

    .. math::

        E(θ, x, σ) = −\\sum_{e = (i, j)} J_e σ_i σ_j − \\sum_i h_i σ_i
                     − \\sum_{l, i} x_l W_{li} σ_i, \\qquad σ_i = ±1,

    and a run returns Boltzmann averages :math:`⟨·⟩ ∝ \\sum_σ · \\, e^{−E/T}`; the outputs are
    the magnetisations :math:`o_k = ⟨σ̄_k⟩` of the output groups.

    *Sign conventions.* D-Wave (and Laydevant et al., Eq. 1) write
    ``E_DW = Σ_{i<j} J^DW_ij σ_iσ_j + Σ_i h^DW_i σ_i``; it maps onto physlearn's ``E`` by
    ``J = −J^DW``, ``h = −h^DW``. Laydevant's nudge ``h^DW_out ← h^DW_out − β y`` is ``+β Σ_k
    (−y_k) σ_k`` in ``E``, i.e. our ``"expected"`` objective with the squared error (for
    ``σ = ±1``, ``½(σ − y)² = −yσ + const``), and their update ``ΔJ^DW = −(η/β)(σ^βσ^β −
    σ⁰σ⁰)`` is EP's ``−η (∂E/∂θ(β) − ∂E/∂θ(0))/β`` in either parametrisation.

    *Inputs.* Inputs enter as fields ``x_l W_li`` on the input-coupled spins. For ``x = ±1``
    this is exactly a clamped input spin ``l`` coupled to spin ``i`` by ``W_li`` (Laydevant fold
    the input pixels into the hidden biases the same way); real-valued ``x`` are allowed.

    *Thermal EP.* With the free energy

    .. math::

        \\mathcal F(θ, β) = −T \\log \\sum_σ e^{−(E(σ) + βC(σ))/T}, \\qquad
        ∂_θ\\mathcal F = ⟨∂_θE⟩_β, \\qquad ∂_β\\mathcal F = ⟨C⟩_β,

    equality of the mixed derivatives gives :math:`∂_β⟨∂_θE⟩_β|_0 = ∂_θ⟨C⟩_0`. Two objectives
    follow:

    * ``objective="expected"``: the nudge adds ``β C(σ̄, y)`` to the energy of every
      configuration, and EP estimates ``d⟨C⟩/dθ``. As ``β → ∞`` (with ``y = ±1``) the nudged
      ensemble becomes the output-clamped one and the contrast becomes the Boltzmann-machine
      rule ``⟨σ_iσ_j⟩_clamped − ⟨σ_iσ_j⟩_free``.
    * ``objective="mean"``: the nudge is linearised, ``β Σ_k ε_k σ̄_k`` with ``ε = ∂C/∂o`` at the
      free magnetisations (read from ``start``), and EP estimates ``dC(⟨σ̄⟩)/dθ`` — the same
      construction as quantum EP (Wanjura & Marquardt 2025).

    Both exact references are fluctuation–dissipation covariances evaluated by enumeration:
    ``∂⟨A⟩/∂θ = −(1/T) Cov(A, ∂E/∂θ)`` with ``A = C(σ̄, y)`` (expected) or ``A = Σ_k ε_k σ̄_k``
    (mean); see :meth:`exact_gradient`. With the exact solver the Boltzmann weights are
    analytic in β, so complex nudges (holomorphic EP) are allowed.

    *Clamps.* ``Clamp(values)`` with ``values = ±1`` holds the output spins (every copy) and
    thermalises the rest. The model does not declare the generic ``"clamp"`` capability,
    because coupled learning clamps outputs at non-binary values; call
    ``equilibrium(x, Clamp(y))`` directly for the Boltzmann-machine rule.

    References
    ----------
    .. [1] J. Laydevant, D. Marković, J. Grollier, "Training an Ising machine with equilibrium
       propagation", Nat. Commun. 15, 3671 (2024), arXiv:2305.18321.
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    .. [3] D. H. Ackley, G. E. Hinton, T. J. Sejnowski, "A learning algorithm for Boltzmann
       machines", Cogn. Sci. 9, 147 (1985).

    Examples
    --------
    >>> import physlearn as pl
    >>> from physlearn.systems.ising import IsingModel
    >>> model = IsingModel.layered([2, 3, 1], temperature=1.0, seed=0)
    >>> model.param_shapes
    {'J': (3,), 'h': (4,), 'W': (2, 3)}
    >>> g = pl.EP(beta=1e-3).gradient(model, [[1.0, -1.0]], [[0.5]])
    """

    _STRUCTURE = ("n_spins", "edges", "output_spins", "input_spins", "n_features", "seed",
                  "coupling_range", "field_range", "init_scale")

    def __new__(cls, *args, solver="exact", **kwargs):
        if cls is IsingModel and isinstance(solver, str):
            target = solver_class(solver)
            if getattr(target, "kind", "thermal") == "equilibrium":
                cls = target.model_class
        return super().__new__(cls)

    def __init__(self, n_spins: int, edges: Sequence[tuple[int, int]],
                 output_spins: Sequence[int | Sequence[int]], *,
                 input_spins: Sequence[int] | None = None, n_features: int = 1,
                 temperature: float = 1.0, solver: str = "exact", objective: str = "mean",
                 coupling_range: float = 1.0, field_range: float = 1.0,
                 init_scale: float = 0.5, sweeps: int = 1000, burn_in: int = 100,
                 chains: int = 16, update: str = "heat-bath", tol: float = 1e-12,
                 max_iter: int = 100, seed: int | np.random.Generator | None = 0):
        self.n_spins = n_spins
        self.edges = edges
        self.output_spins = output_spins
        self.input_spins = input_spins
        self.n_features = n_features
        self.temperature = temperature
        self.solver = solver
        self.objective = objective
        self.coupling_range = coupling_range
        self.field_range = field_range
        self.init_scale = init_scale
        self.sweeps = sweeps
        self.burn_in = burn_in
        self.chains = chains
        self.update = update
        self.tol = tol
        self.max_iter = max_iter
        self.seed = seed
        self._build()

    def set_params(self, **params):
        """Set hyperparameters; a structural change rebuilds the graph and the parameters."""
        if "solver" in params:
            kind = getattr(solver_class(params["solver"]), "kind", "thermal")
            if kind != self._solver_kind:
                raise ValueError(
                    f"solver={params['solver']!r} needs a different model class than "
                    f"{type(self).__name__}; build a new one with IsingModel(**params)")
        super().set_params(**params)
        if set(params) & set(self._STRUCTURE):
            self._build()
        else:
            self._check_settings()
        return self

    _solver_kind = "thermal"

    # -- construction -------------------------------------------------------------------------
    def _build(self):
        n = _check_int("n_spins", self.n_spins, 1)
        self._check_settings()
        edges = []
        for e in self.edges:
            try:
                i, j = (int(v) for v in e)
            except (TypeError, ValueError):
                raise ValueError(f"edge {e!r} must be a pair of spin indices") from None
            if not (0 <= i < n and 0 <= j < n) or i == j:
                raise ValueError(f"edge {e!r} must join two different spins in 0..{n - 1}")
            edges.append((min(i, j), max(i, j)))
        if len(set(edges)) != len(edges):
            twice = sorted({e for e in edges if edges.count(e) > 1})
            raise ValueError(f"edges contains a pair twice: {twice}")
        self._edges = np.array(edges, dtype=int).reshape(-1, 2)
        groups = []
        for k, spec in enumerate(self.output_spins):
            group = (spec,) if isinstance(spec, numbers.Integral) else tuple(spec)
            if not group or not all(isinstance(v, numbers.Integral) and 0 <= v < n
                                    for v in group):
                raise ValueError(f"output_spins[{k}]={spec!r} must be a spin in 0..{n - 1} or "
                                 "a non-empty group of them")
            groups.append(tuple(int(v) for v in group))
        flat = [v for g in groups for v in g]
        if not groups:
            raise ValueError("output_spins is empty: an Ising model needs at least one output")
        if len(set(flat)) != len(flat):
            raise ValueError(f"output_spins={self.output_spins!r} uses a spin twice")
        self._groups = groups
        self.output_index = np.array(flat, dtype=int)
        self.n_outputs = len(groups)
        P = np.zeros((len(groups), n))
        for k, g in enumerate(groups):
            P[k, list(g)] = 1.0 / len(g)
        self._P = P
        n_features = _check_int("n_features", self.n_features, 0)
        inputs = ([i for i in range(n) if i not in set(flat)] if self.input_spins is None
                  else list(self.input_spins))
        if not all(isinstance(v, numbers.Integral) and 0 <= v < n for v in inputs):
            raise ValueError(f"input_spins={self.input_spins!r} must be spins in 0..{n - 1}")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"input_spins={self.input_spins!r} uses a spin twice")
        if n_features and not inputs:
            raise ValueError("n_features > 0 but no spin is input-coupled (input_spins)")
        self._inputs = np.array(inputs, dtype=int)
        self._configs_cache = None
        self._classes_cache = {}
        self._init_params()

    def _check_settings(self):
        _check_temperature(self.temperature)
        kind = getattr(solver_class(self.solver), "kind", "thermal")
        if kind != self._solver_kind:
            raise ValueError(f"solver={self.solver!r} cannot be used with "
                             f"{type(self).__name__}; build the model with IsingModel(...)")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r} is not one of {list(OBJECTIVES)}")
        for name in ("coupling_range", "field_range", "init_scale"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a finite positive number")
        if self.solver == "exact" and self.n_spins > EXACT_MAX_SPINS:
            raise ValueError(
                f"n_spins={self.n_spins} is too many for solver='exact' (2**{self.n_spins} "
                f"states; at most {EXACT_MAX_SPINS} spins): use solver='monte-carlo' (sampling) "
                "or solver='mean-field'")
        if not (self.seed is None or isinstance(self.seed, (numbers.Integral,
                                                            np.random.Generator))):
            raise ValueError(f"seed={self.seed!r} must be an int or a numpy.random.Generator")
        solver_class(self.solver).check_settings(self)

    def _rng(self, stream):
        """Generator for ``stream`` (0: initial parameters, 1: Monte Carlo)."""
        if isinstance(self.seed, np.random.Generator):
            return self.seed
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(stream,)))

    def _init_params(self):
        rng = self._rng(0)
        a, jr, hr = self.init_scale, self.coupling_range, self.field_range
        params = {"J": rng.uniform(-a * jr, a * jr, len(self._edges)),
                  "h": rng.uniform(-a * hr, a * hr, self.n_spins)}
        if self.n_features:
            params["W"] = rng.uniform(-a * jr, a * jr, (self.n_features, len(self._inputs)))
        self.params = self.project(params)     # init_scale > 1 saturates at the range

    @property
    def param_shapes(self):
        shapes = {"J": (len(self._edges),), "h": (self.n_spins,)}
        if self.n_features:
            shapes["W"] = (self.n_features, len(self._inputs))
        return shapes

    @property
    def capabilities(self):
        return solver_class(self.solver).capabilities

    @property
    def param_bounds(self):
        """``J``, ``W`` within ±coupling_range and ``h`` within ±field_range (the device's
        range): an assignment outside is refused, a learning step clips (saturation)."""
        j = Bound(-self.coupling_range, self.coupling_range, upper_name="coupling_range",
                  lower_name="-coupling_range")
        h = Bound(-self.field_range, self.field_range, upper_name="field_range",
                  lower_name="-field_range")
        return {"J": j, "W": j, "h": h}

    def describe_param_index(self, name, index):
        if name == "J":
            return f" (edge {tuple(self._edges[index].tolist())})"
        return f" (spin {index})" if name == "h" else ""

    @property
    def edge_list(self):
        """The edges as an (n_edges, 2) integer array, ``i < j``."""
        return self._edges.copy()

    def update_classes(self):
        """The classes of spins a Monte Carlo sweep updates together, in sweep order.

        Returns
        -------
        list of ndarray of int
            The colour classes of a greedy proper colouring of the coupling graph
            (:func:`networkx.greedy_color`, strategy ``"largest_first"``): no two spins of a
            class are coupled, so their flips can be decided at once. Each class is sorted and
            the classes come in the order of their lowest spin. With ``objective="expected"``
            the nudge's per-configuration cost couples the output spins, so they count as
            coupled: each class then holds at most one of them, for free and nudged runs alike
            (one order for both keeps their random numbers common).
        """
        coupled = self.objective == "expected"
        if coupled not in self._classes_cache:
            together = self.output_index if coupled else ()
            self._classes_cache[coupled] = _colour_classes(self.n_spins, self._edges, together)
        return [c.copy() for c in self._classes_cache[coupled]]

    def coupling_matrix(self):
        """Symmetric ``n × n`` matrix of the couplings (zero diagonal)."""
        n = self.n_spins
        Jm = np.zeros((n, n))
        i, j = self._edges.T
        Jm[i, j] = self._params["J"]
        Jm[j, i] = self._params["J"]
        return Jm

    def output_matrix(self):
        """``P`` (n_outputs × n_spins): outputs are ``o = P σ`` (group means)."""
        return self._P.copy()

    def fields(self, x):
        """Total field ``h + x W`` on every spin, shape (batch, n_spins)."""
        x = self.check_inputs(x)
        b = np.broadcast_to(self._params["h"], (len(x), self.n_spins)).copy()
        if self.n_features:
            b[:, self._inputs] += x @ self._params["W"]
        return b

    def configuration_energy(self, sigma, x):
        """``E(θ, x, σ)`` of spin configurations ``sigma`` (…, batch, n_spins), shape (…, batch)."""
        sigma = np.asarray(sigma, dtype=float)
        b = self.fields(x)
        return (-0.5 * np.einsum("...i,ij,...j->...", sigma, self.coupling_matrix(), sigma)
                - np.sum(b * sigma, axis=-1))

    # -- nudges and clamps --------------------------------------------------------------------
    def check_nudge(self, nudge):
        if isinstance(nudge, Clamp):
            return
        super().check_nudge(nudge)

    def _clamp_values(self, nudge, batch):
        """Spin values of the output spins under a hard clamp, shape (batch, n_output_spins)."""
        values = np.asarray(nudge.values)
        if values.shape != (batch, self.n_outputs):
            raise ValueError(f"clamp values have shape {values.shape}, expected "
                             f"({batch}, {self.n_outputs})")
        if np.iscomplexobj(values) or not np.all(np.isin(values, (-1.0, 1.0))):
            bad = np.argwhere(~np.isin(values, (-1.0, 1.0)))[0]
            raise ValueError(
                f"clamp value {values[tuple(bad)]!r} at {tuple(int(v) for v in bad)} is not ±1: "
                "Ising output spins can only be clamped to σ = ±1")
        return np.concatenate([np.repeat(values[:, [k]], len(g), axis=1)
                               for k, g in enumerate(self._groups)], axis=1).astype(float)

    def cost_table(self, cost, y):
        """``C(σ̄(p), y_b)`` for every pattern ``p`` of the output spins, (batch, 2**n_out_spins).

        Bit ``k`` of ``p`` set means output spin ``output_index[k]`` is −1.
        """
        n_o = len(self.output_index)
        if n_o > TABLE_MAX_SPINS:
            raise ValueError(f"objective='expected' tabulates the cost over the 2**{n_o} "
                             f"patterns of the output spins; at most {TABLE_MAX_SPINS} allowed")
        patterns = _spin_table(n_o)                       # (2**n_o, n_o)
        outs = patterns @ self._P[:, self.output_index].T  # (2**n_o, n_outputs)
        y = np.asarray(y)
        return np.real_if_close(cost.value(outs[None, :, :], y[:, None, :]))

    def _nudge_terms(self, x, nudge, start):
        """(field (batch, n) possibly complex, cost table × β or None, clamp values or None)."""
        b = self.fields(x).astype(complex if isinstance(nudge, Nudge) and nudge.is_complex
                                  else float)
        if nudge is None:
            return b, None, None
        if isinstance(nudge, Clamp):
            return b, None, self._clamp_values(nudge, len(x))
        y = self.check_targets(np.real(nudge.target), len(x))
        if self.objective == "expected":
            return b, nudge.beta * self.cost_table(nudge.cost, y), None
        free = start if self._is_free_state(start, x) else self.equilibrium(x)
        eps = nudge.cost.gradient(self.outputs(free), y)
        return b - nudge.beta * (eps @ self._P), None, None

    def _is_free_state(self, start, x):
        return (isinstance(start, IsingState) and start.nudge is None
                and start.x.shape == x.shape and np.array_equal(start.x, x))

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Thermal averages at temperature T, free or under a nudge / clamp.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : physlearn.Nudge or physlearn.Clamp, optional
            A soft nudge adds ``β C(σ̄, y)`` per configuration (``objective="expected"``) or
            ``β Σ_k ε_k σ̄_k`` with ``ε = ∂C/∂o`` at the free outputs (``objective="mean"``);
            a clamp holds the output spins at ``±1``.
        start : IsingState, optional
            The free state of the same ``x`` (sets ε for the linearised nudge).

        Returns
        -------
        IsingState
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        field, table, clamp = self._nudge_terms(x, nudge, start)
        state = solver_class(self.solver).run(self, x, field, table, clamp)
        return state.replace(nudge=nudge)

    def outputs(self, state):
        """Output magnetisations ``⟨σ̄_k⟩``, shape (batch, n_outputs)."""
        return state.s @ self._P.T

    def param_gradient(self, state):
        """``⟨∂E/∂θ⟩``: ``−⟨σ_iσ_j⟩`` (J), ``−⟨σ_i⟩`` (h), ``−x_l⟨σ_i⟩`` (W)."""
        out = {"J": -state.correlations, "h": -state.s}
        if self.n_features:
            out["W"] = -state.x[:, :, None] * state.s[:, None, self._inputs]
        return out

    def predict(self, x):
        """Output magnetisations of the free thermal state."""
        return self.outputs(self.equilibrium(x))

    def param_gradient_stderr(self, state):
        """Standard errors of :meth:`param_gradient` (Monte Carlo states; zeros if exact)."""
        err = state.stderr or {"s": np.zeros_like(np.real(state.s)),
                               "correlations": np.zeros_like(np.real(state.correlations))}
        out = {"J": err["correlations"], "h": err["s"]}
        if self.n_features:
            out["W"] = np.abs(state.x[:, :, None]) * err["s"][:, None, self._inputs]
        return out

    # -- losses and exact references ----------------------------------------------------------
    def expected_cost(self, x, y, cost=None):
        """Per-sample ``⟨C(σ̄, y)⟩`` by enumeration, shape (batch,)."""
        from physlearn.costs import make_cost

        cost = make_cost(cost)
        x = self.check_inputs(x)
        y = self.check_targets(y, len(x))
        p = self._exact_distribution(x)
        return np.sum(p * self.cost_table(cost, y)[:, self._pattern_index()], axis=1)

    def loss(self, x, y, cost=None):
        """The objective: ``mean_b C(⟨σ̄⟩, y)`` (``"mean"``) or ``mean_b ⟨C(σ̄, y)⟩`` (expected).

        Monte Carlo and mean-field models evaluate the ``"expected"`` loss by enumeration.
        """
        from physlearn.costs import make_cost

        cost = make_cost(cost)
        if self.objective == "expected":
            return float(np.mean(self.expected_cost(x, y, cost)))
        x = self.check_inputs(x)
        return cost.mean(self.predict(x), self.check_targets(y, len(x)))

    def exact_gradient(self, x, y, cost):
        """The exact thermal derivative ``dL/dθ`` (batch mean), by enumeration.

        ``∂⟨A⟩/∂θ = −(1/T) Cov(A, ∂E/∂θ)`` (fluctuation–dissipation) with ``A = C(σ̄, y)``
        (``objective="expected"``) or ``A = Σ_k ε_k σ̄_k``, ``ε = ∂C/∂o`` at the exact free
        magnetisations (``objective="mean"``).
        """
        p = self._exact_distribution(x)
        if self.objective == "expected":
            A = self.cost_table(cost, y)[:, self._pattern_index()]
        else:
            S = self._configs()
            eps = cost.gradient((p @ S) @ self._P.T, y)
            A = (eps @ self._P) @ S.T
        return batch_mean(self._covariance_derivative(x, p, A))

    def thermal_derivative(self, x, observable):
        """``∂⟨A⟩/∂θ = −(1/T) Cov(A, ∂E/∂θ)`` per sample for a per-configuration observable.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        observable : callable
            ``observable(S) -> (batch, 2**n)`` or ``(2**n,)`` given the table ``S`` of all
            configurations (shape (2**n, n_spins)).

        Returns
        -------
        dict
            name → ``(batch, *shape)``.
        """
        x = self.check_inputs(x)
        p = self._exact_distribution(x)
        A = np.broadcast_to(observable(self._configs()), p.shape)
        return self._covariance_derivative(x, p, A)

    def _covariance_derivative(self, x, p, A):
        T = self.temperature
        S = self._configs()
        i, j = self._edges.T
        mean_a = np.sum(p * A, axis=1)
        m, pair = _moments(p, S, i, j)
        ma, pair_a = _moments(p * A, S, i, j)
        cov_s = ma - mean_a[:, None] * m                  # Cov(A, σ_i)
        cov_pair = pair_a - mean_a[:, None] * pair          # Cov(A, σ_iσ_j)
        out = {"J": cov_pair / T, "h": cov_s / T}           # −(1/T)Cov(A, −σ…)
        if self.n_features:
            out["W"] = x[:, :, None] * cov_s[:, None, self._inputs] / T
        return out

    def nudge_radius(self, x, y, cost, beta=None):
        """Radius of convergence in β of the nudged thermal averages (exact solver), else None.

        Notes
        -----
        Under a nudge every configuration's energy gains ``β A_σ`` (``A = C(σ̄, y)`` for
        ``objective="expected"``, ``A = Σ_k ε_k σ̄_k`` for ``"mean"``), so the nudged averages
        ``⟨B⟩_β = Σ_σ B_σ e^{−(E_σ + βA_σ)/T} / Z(β)`` are ratios of entire functions of β:
        their only possible singularities are the complex zeros of the nudged partition
        function ``Z(β) = Σ_p c_p e^{−βA_p/T}`` (``c_p`` the free Boltzmann weight of the
        output-spin pattern ``p``, on which ``A`` depends). ``Z > 0`` on the real axis, so every
        real nudged equilibrium exists, but ``Z`` has complex zeros (Lee–Yang / Fisher zeros in
        β) and the Cauchy circle of holomorphic EP must stay inside the nearest one. It is
        found per sample by counting the zeros inside ``|β| = ρ`` with the argument principle,
        bisecting on ρ and polishing the zero by Newton (:func:`nearest_exponential_zero`,
        ~50 ms for the registered model's batch of 4); the smallest over the batch is returned
        (``inf`` when ``A`` takes a single value). A zero cancelled by one of the numerator
        would make the true radius larger: the bound is conservative.

        With ``beta``, the certified bound ``T·2 ln 2 / (max A − min A)`` is tried first: with
        ``A`` centred on its mid-range, ``|Z(β)/Z(0) − 1| ≤ e^{|β| spread/2T} − 1 < 1`` inside
        it, so ``Z`` has no zero there; when it already exceeds ``beta`` the root search is
        skipped and the bound returned.
        """
        if self.solver != "exact":
            return None
        x = self.check_inputs(x)
        y = self.check_targets(y, len(x))
        p = self._exact_distribution(x)
        index = self._pattern_index()
        n_pat = 2 ** len(self.output_index)
        if self.objective == "expected":
            A = self.cost_table(cost, y)
        else:
            eps = cost.gradient(self.outputs(self.equilibrium(x)), y)
            A = (eps @ self._P[:, self.output_index]) @ _spin_table(len(self.output_index)).T
        T = self.temperature
        A = np.real(A)
        spread = np.ptp(A, axis=1)
        certified = np.min(np.where(spread > 0, T * 2 * np.log(2) / np.where(
            spread > 0, spread, 1.0), np.inf))
        if beta is not None and certified > beta:
            return float(certified)
        radius = np.inf
        for b in range(len(x)):
            c = np.bincount(index, weights=p[b], minlength=n_pat)
            radius = min(radius, T * abs(nearest_exponential_zero(c, A[b])))
        return radius

    # -- enumeration --------------------------------------------------------------------------
    def _configs(self):
        """All 2ⁿ configurations, (2**n, n) float: bit i of the index set ⇔ σ_i = −1."""
        if self.n_spins > EXACT_MAX_SPINS:
            raise ValueError(
                f"n_spins={self.n_spins} is too many for exact enumeration (2**{self.n_spins} "
                f"states; at most {EXACT_MAX_SPINS} spins): use solver='monte-carlo' and compare "
                "against sampling error bars instead")
        if self._configs_cache is None:
            self._configs_cache = _spin_table(self.n_spins)
        return self._configs_cache

    def _pattern_index(self):
        """Index of each configuration's output-spin pattern in :meth:`cost_table`."""
        c = np.arange(2 ** self.n_spins)
        bits = (c[:, None] >> self.output_index[None, :]) & 1
        return bits @ (1 << np.arange(len(self.output_index)))

    def _exact_distribution(self, x, field=None, table=None, clamp=None):
        """Boltzmann probabilities of every configuration, (batch, 2**n) (complex under
        complex nudges)."""
        S = self._configs()
        T = _check_temperature(self.temperature)
        if field is None:
            field = self.fields(x)
        pair = -0.5 * np.sum((S @ self.coupling_matrix()) * S, axis=1)
        E = pair[None, :] - field @ S.T
        if table is not None:
            E = E + table[:, self._pattern_index()]
        logw = -E / T
        allowed = None
        if clamp is not None:
            allowed = np.all(S[None, :, self.output_index] == clamp[:, None, :], axis=2)
            logw = np.where(allowed, logw, -np.inf)
        logw = logw - np.max(np.real(logw), axis=1, keepdims=True)
        with np.errstate(under="ignore"):
            w = np.exp(logw)
        if allowed is not None:
            w = np.where(allowed, w, 0.0)
        return w / np.sum(w, axis=1, keepdims=True)

    # -- builders -----------------------------------------------------------------------------
    @classmethod
    def layered(cls, sizes, *, duplicates=1, lateral=False, **kwargs):
        """A layered Ising network: inputs → spin layers → output spins.

        Parameters
        ----------
        sizes : sequence of int
            ``[n_features, n_hidden_1, ..., n_outputs]``; consecutive spin layers are
            fully (bipartitely) coupled, the features couple to the first spin layer.
        duplicates : int, default 1
            Spins per output (Laydevant et al. use 4); the output is their mean.
        lateral : bool, default False
            Also couple the spins within each layer.
        **kwargs
            Passed to :class:`IsingModel` (temperature, solver, objective, seed, ...).
        """
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes[1:]) < 1 or sizes[0] < 0:
            raise ValueError(f"sizes={sizes!r} must be [n_features, ..., n_outputs] with at "
                             "least one output")
        duplicates = _check_int("duplicates", duplicates, 1)
        layer_sizes = sizes[1:-1] + [sizes[-1] * duplicates]
        layers, start = [], 0
        for size in layer_sizes:
            layers.append(list(range(start, start + size)))
            start += size
        edges = [(i, j) for a, b in zip(layers, layers[1:]) for i in a for j in b]
        if lateral:
            edges += [(i, j) for layer in layers for a, i in enumerate(layer)
                      for j in layer[a + 1:]]
        out = layers[-1]
        output_spins = ([tuple(out[k * duplicates:(k + 1) * duplicates])
                         for k in range(sizes[-1])] if duplicates > 1 else out)
        return cls(start, edges, output_spins, input_spins=layers[0], n_features=sizes[0],
                   **kwargs)

    @classmethod
    def fully_connected(cls, n_features, n_spins, n_outputs, **kwargs):
        """All-to-all couplings; the last ``n_outputs`` spins are the outputs, the features
        couple to every other spin."""
        edges = [(i, j) for i in range(n_spins) for j in range(i + 1, n_spins)]
        return cls(n_spins, edges, list(range(n_spins - n_outputs, n_spins)),
                   n_features=n_features, **kwargs)


class ExactSolver:
    """Exact enumeration of the 2ⁿ configurations, vectorised over the batch (n ≤ 16).

    Cost per run: O(batch · 2ⁿ · n²) (one dense product per sample for the pair moments).
    """

    kind = "thermal"
    capabilities = frozenset({"soft_nudge", "complex"})

    @staticmethod
    def check_settings(model):
        pass

    @staticmethod
    def run(model, x, field, table, clamp):
        p = model._exact_distribution(x, field, table, clamp)
        i, j = model._edges.T
        m, pair = _moments(p, model._configs(), i, j)
        return IsingState(s=m, x=x, correlations=pair, field=field,
                          temperature=model.temperature)


register_solver("exact", ExactSolver)


# -- helpers -----------------------------------------------------------------------------------
def _spin_table(n):
    """(2**n, n) table of spins: σ_i = 1 − 2·bit_i(index)."""
    c = np.arange(2 ** n)
    return 1.0 - 2.0 * ((c[:, None] >> np.arange(n)[None, :]) & 1)


def _colour_classes(n, edges, together=()):
    """Classes of a greedy proper colouring of ``n`` spins coupled by ``edges`` (and all
    pairs of ``together``), each sorted, in the order of their lowest spin."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges.tolist())
    graph.add_edges_from(itertools.combinations(np.asarray(together).tolist(), 2))
    colour = nx.greedy_color(graph, strategy="largest_first")
    classes = {}
    for spin in range(n):               # ascending: classes appear by their lowest spin
        classes.setdefault(colour[spin], []).append(spin)
    return [np.array(c) for c in classes.values()]


def _moments(weights, S, i, j):
    """``Σ_c w_c σ_c`` (batch, n) and ``Σ_c w_c σ_ci σ_cj`` on the edges (batch, n_edges)."""
    first = weights @ S
    pair = np.empty((len(weights), len(i)), dtype=first.dtype)
    for b, w in enumerate(weights):
        M = (S.T * w) @ S
        pair[b] = M[i, j]
    return first, pair


def nearest_exponential_zero(weights, exponents, rtol=1e-2):
    """The zero nearest 0 of ``Z(u) = Σ_p w_p e^{−u a_p}`` (``w_p ≥ 0``, real ``a_p``).

    Returns the complex ``u`` (``inf`` if ``Z`` has no zero: a single distinct exponent).
    The number of zeros inside ``|u| = ρ`` is the winding number of ``Z`` around the circle
    (argument principle, sampled finely enough that the phase moves < 1 rad per step); ρ is
    doubled until a zero is enclosed and bisected to ``rtol`` (``lo < |u*| ≤ hi``), then the
    zero is located by Newton from the point of the outer circle where ``|Z|`` is smallest
    (kept if it lands in the bracket, else the bracket's outer radius is returned).
    """
    w = np.asarray(weights, dtype=float)
    a = np.asarray(exponents, dtype=float)
    keep = w > 0
    w, a = w[keep], a[keep]
    spread = float(np.ptp(a)) if a.size else 0.0
    if a.size < 2 or spread <= 1e-12 * max(1.0, float(np.max(np.abs(a)))):
        return np.inf
    a = a - 0.5 * (a.max() + a.min())
    logw = np.log(w)

    def circle(rho):
        m = 512
        while True:
            u = rho * np.exp(2j * np.pi * np.arange(m) / m)
            L = logw[None, :] - u[:, None] * a[None, :]
            z = np.sum(np.exp(L - np.max(L.real, axis=1, keepdims=True)), axis=1)
            step = np.angle(np.roll(z, -1) / z)
            if np.max(np.abs(step)) < 1.0 or m >= 2 ** 15:
                return int(round(np.sum(step) / (2 * np.pi))), u, z
            m *= 2

    hi = np.pi / spread
    for _ in range(60):
        count, *_ = circle(hi)
        if count >= 1:
            break
        hi *= 2
    else:
        return np.inf
    lo = 0.0
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if circle(mid)[0] >= 1:
            hi = mid
        else:
            lo = mid
    _, u, z = circle(hi)
    root = u[np.argmin(np.abs(z))]
    guess = root
    with np.errstate(all="ignore"):
        for _ in range(60):     # Newton on Z(u)
            e = w * np.exp(-root * a)
            step = np.sum(e) / np.sum(-a * e)
            root = root - step
            if not np.isfinite(root) or abs(step) < 1e-15 * abs(root):
                break
    inside = np.isfinite(root) and lo * (1 - 1e-12) <= abs(root) <= hi * (1 + 1e-12)
    return root if inside else hi * np.exp(1j * np.angle(guess))


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def _check_temperature(temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise ValueError(f"temperature={temperature!r} must be a real number > 0")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature={temperature!r} must be finite and > 0 (in units of the "
                         "couplings, k_B = 1); a thermal Ising model has no T = 0 limit here")
    return float(temperature)


# -- the contract suite's example problem (physlearn.registry) -----------------------------------
def contract_problem(system, rng):
    """±1 inputs and targets inside the range of magnetisations, 4 samples."""
    x = rng.choice([-1.0, 1.0], size=(4, system.n_features))
    y = rng.uniform(-0.6, 0.6, size=(4, system.n_outputs))
    return x, y
