"""Quantum spin chains: Hamiltonians as sums of Pauli strings with named couplings.

Physics
-------
A chain of ``n`` qubits has the Hamiltonian (dimensionless: energies in units of a reference
coupling J, ħ = 1, k_B = 1)

    H(θ, x, ν) = Σ_f c_f F_f + Σ_j θ_j A_j + Σ_l x_l X_l + Σ_k ν_k B_k,

with *fixed* couplings c_f, *trainable* couplings θ_j, *input* couplings x_l (fields or
couplings set by the data) and output nudges ν_k. Every operator is a Hermitian sum of Pauli
strings (a QuTiP ``Qobj``). A run prepares the ground state (or the Gibbs state at T > 0) and
reports expectation values: the outputs ⟨B_k⟩ and the local measurements ⟨A_j⟩ = ⟨∂H/∂θ_j⟩.

Quantum EP (Wanjura & Marquardt 2025): for a loss L(⟨B⟩) of expectation values, the chain
rule and Onsager reciprocity χ_{B_k A_j} = χ_{A_j B_k} give

    ∂L/∂θ_j = Σ_k ε_k ∂⟨B_k⟩/∂θ_j = d⟨A_j⟩/dβ |_{ν = β ε},    ε = ∂L/∂⟨B⟩ at the free state,

so nudging the outputs with ``ν = β ε`` and contrasting ⟨A_j⟩ gives the whole gradient from a
constant number of state preparations. The engine's :class:`physlearn.EP` does exactly that
through this module's ``equilibrium`` / ``param_gradient``; the exact reference
(``exact_gradient``) is the linear response: the reduced resolvent at T = 0, the isothermal
(Kubo–Mori) susceptibility at T > 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.system import ConvergenceError, State, System, batch_mean
from physlearn.systems.lanczos import first_excitation, lanczos_ground_state
from physlearn.systems.quantum import (
    NudgeNearGapWarning,
    ObservableCost,
    as_csr,
    check_gap,
    check_shots,
    check_temperature,
    kubo_mori_kernel,
    lowest_states,
    operator,
    serial_blas,
    shot_noise,
    thermal_ensemble,
)

__all__ = ["Coupling", "SpinChain", "SpinState", "cluster_ising_phases"]

ROLES = ("trainable", "input", "fixed")
SOLVERS = ("auto", "dense", "sparse")
GAP_GUARDS = ("raise", "warn", "off")
DENSE_MAX_DIM = 128          # "auto": dense LAPACK up to 7 qubits, Lanczos above (measured)


@dataclass(frozen=True)
class Coupling:
    """A named group of Hamiltonian terms sharing a role.

    Parameters
    ----------
    name : str
        The parameter name (trainable couplings appear under it in ``system.params``).
    operators : sequence
        One operator spec per entry (a Pauli label ``"Z0 Z1"``, a list of ``(coefficient,
        label)`` pairs, or a ``qutip.Qobj``); the coupling contributes ``Σ_i value_i O_i``.
    role : {"trainable", "input", "fixed"}
        Trainable entries are parameters; input entries are the features ``x`` (in order);
        fixed entries keep ``value``.
    value : float or array_like, optional
        Initial (trainable) or fixed value, in units of the reference coupling J; trainable
        couplings without one are drawn uniformly from [−1, 1] with the system's seed.

    Notes
    -----
    A coupling contributes :math:`\\sum_i v_i O_i` to the Hamiltonian of a
    :class:`SpinChain`: a term :math:`θ_j A_j` for a trainable entry (its local measurement
    is :math:`⟨A_j⟩ = ⟨∂H/∂θ_j⟩`), :math:`x_l X_l` for an input entry, :math:`c_f F_f` for a
    fixed one. The specs are checked when the chain is built (a ``ValueError`` names the
    coupling).

    References
    ----------
    .. [1] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training
       of quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
       arXiv:2406.06482.
    """

    name: str
    operators: tuple
    role: str = "trainable"
    value: object = None


@dataclass
class SpinState(State):
    """Ground or Gibbs states of a spin chain, one per sample.

    ``s`` is ``[Re ψ, Im ψ]`` (batch, 2·dim) for ground states and the Boltzmann populations of
    all levels (batch, dim) for Gibbs states.

    Parameters
    ----------
    s, x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`.
    psi : ndarray, shape (batch, dim), optional
        Ground states (None at T > 0).
    ensembles : list, optional
        T > 0: per sample, the ``(weights, eigenvectors)`` of the levels kept.
    energies : ndarray, shape (batch, 2), optional
        The two lowest levels ``(E₀, E₁)`` (units of J; ``E₁`` is nan for nudged states).
    nu : ndarray, shape (batch, n_outputs), optional
        The output nudges ``ν_k`` that were applied (units of J per unit of ``B_k``).
    expect : ndarray, shape (batch, n_ops), optional
        Exact expectation values ``⟨O⟩`` of every operator of the basis.
    measured : ndarray, shape (batch, n_ops), optional
        The same as measured (with shot noise if ``shots`` is set).
    temperature : float, default 0.0
        The temperature of the states (units of J, ``k_B = 1``).
    extra : dict
        Solver-specific data.

    Notes
    -----
    At T = 0 each row is the ground state :math:`|0⟩` of :math:`H(θ, x, ν)`; at T > 0 the
    Gibbs state :math:`ρ = e^{−H/T}/Z`. :attr:`gap` is :math:`Δ = E_1 − E_0`, which bounds the
    nudges a finite-difference estimate can take.

    References
    ----------
    .. [1] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training
       of quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
       arXiv:2406.06482.
    """

    psi: np.ndarray = None          # (batch, dim) ground states; None at T > 0
    ensembles: list = None          # T > 0: per sample (weights, eigenvectors) of kept levels
    energies: np.ndarray = None     # (batch, 2) lowest two levels (E₁ nan for nudged states)
    nu: np.ndarray = None           # (batch, n_outputs) output nudges ν_k that were applied
    expect: np.ndarray = None       # (batch, n_ops) exact ⟨O⟩ of every operator of the basis
    measured: np.ndarray = None     # same, as measured (with shot noise if shots are set)
    temperature: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def gap(self):
        """E₁ − E₀ per sample, shape (batch,)."""
        return self.energies[:, 1] - self.energies[:, 0]


class _OperatorBasis:
    """Operators on a common sparsity pattern: H = Σ c_i O_i is one matrix–vector product.

    Every operator's nonzeros are stored aligned to the union pattern (rows, cols), as the
    rows of one sparse table D (operator × pattern entry), so that a linear combination is
    ``Dᵀ c`` and all expectation values in a pure state are ``D (ψ*_rows ψ_cols)`` — one pass
    over each operator's own nonzeros, whatever the number of operators (a Pauli string has
    ``dim`` nonzeros, the union pattern many more).
    """

    def __init__(self, mats):
        self.dim = mats[0].shape[0]
        self.dtype = np.float64 if all(_is_real(m) for m in mats) else np.complex128
        pattern = sp.csr_matrix((self.dim, self.dim))
        for m in mats:
            pattern = pattern + abs(m)
        pattern = pattern.tocsr()
        pattern.sort_indices()
        coo = pattern.tocoo()
        self.rows, self.cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self.indptr, self.indices = pattern.indptr, pattern.indices
        keys = self.rows * self.dim + self.cols
        entries, positions, values = [], [], []
        for i, m in enumerate(mats):
            c = m.tocoo()
            positions.append(np.searchsorted(keys, c.row.astype(np.int64) * self.dim + c.col))
            entries.append(np.full(c.nnz, i))
            values.append(c.data.real if self.dtype == np.float64 else c.data)
        self.data = sp.csr_matrix((np.concatenate(values).astype(self.dtype),
                                   (np.concatenate(entries), np.concatenate(positions))),
                                  shape=(len(mats), len(keys)))       # duplicates are summed
        self._tables = {}
        self.mats = [(m.real if self.dtype == np.float64 else m).astype(self.dtype).tocsr()
                     for m in mats]

    def combine(self, coefs):
        """Σ_i c_i O_i as a CSR matrix."""
        return self.matrix(self.pattern_values(np.asarray(coefs)[None])[0])

    def pattern_values(self, coefs, rows=slice(None)):
        """The values of ``Σ_i c_i O_i`` on the pattern, for a batch ``coefs`` (batch, n_rows)
        of coefficients of the selected operators: shape (batch, nnz)."""
        return np.asarray((self._table(rows).T @ np.asarray(coefs).T).T)

    def matrix(self, values):
        """The CSR matrix with ``values`` on the pattern."""
        return sp.csr_matrix((values, self.indices, self.indptr), shape=(self.dim, self.dim))

    def expect_pure(self, psi, rows=slice(None)):
        """⟨ψ|O_i|ψ⟩/⟨ψ|ψ⟩ for the selected operators."""
        w = np.conj(psi[self.rows]) * psi[self.cols]
        return np.real(self._table(rows) @ w) / np.real(np.vdot(psi, psi))

    def cross(self, bra, ket, rows=slice(None)):
        """⟨bra|O_i|ket⟩ for the selected operators (complex)."""
        return self._table(rows) @ (np.conj(bra[self.rows]) * ket[self.cols])

    def trace(self, rho_t, rows=slice(None)):
        """Tr(O_i M) given ``rho_t = M`` (dense): Σ_rc O_rc M_cr."""
        return self._table(rows) @ rho_t[self.cols, self.rows]

    def _table(self, rows):
        """The rows of D for a slice of operators (sliced once: slicing copies)."""
        key = rows.indices(self.data.shape[0])
        if key not in self._tables:
            self._tables[key] = self.data if key == (0, self.data.shape[0], 1) else self.data[rows]
        return self._tables[key]


def _is_real(m):
    return m.nnz == 0 or not np.iscomplexobj(m.data) or np.abs(m.data.imag).max() == 0


class SpinChain(System):
    """A qubit chain whose Hamiltonian is a sum of Pauli strings with named couplings.

    Parameters
    ----------
    n_spins : int
        Number of qubits, 1 … 20 (Hilbert-space dimension 2**n_spins).
    couplings : sequence of Coupling
        The Hamiltonian terms: trainable, input and fixed couplings.
    observables : sequence
        Output observables B_k (operator specs, see
        :func:`physlearn.systems.quantum.operator`); the outputs are ⟨B_k⟩ (dimensionless for
        Pauli strings) and the nudge adds Σ_k ν_k B_k.
    temperature : float, default 0
        0: ground states; T > 0: Gibbs states e^{−H/T}/Z (k_B = 1, same units as H).
    shots : int, optional
        Measurements per expectation value; None means exact expectation values. With shots,
        every ⟨A_j⟩ and ⟨B_k⟩ is reported with Gaussian shot noise of variance Var/shots
        (:func:`physlearn.systems.quantum.shot_noise`).
    solver : {"auto", "dense", "sparse"}, default "auto"
        Dense LAPACK diagonalisation, or Lanczos (:mod:`physlearn.systems.lanczos`): the free
        state from a fixed random start with a loose second run for its gap, a nudged state
        warm-started from ``start`` (the free state) with no gap of its own. "auto" is dense
        up to ``DENSE_MAX_DIM`` (the measured crossover, ``benchmarks/bench_quantum.py``).
        Gibbs states are always dense.
    gap_guard : {"raise", "warn", "off"}, default "raise"
        What to do with a degenerate ground state (gap below ``min_gap``); with "raise" or
        "warn", a nudge with ``Σ_k |ν_k| ‖B_k‖ > nudge_gap_ratio · Δ`` also warns.
    min_gap : float, default 1e-8
        Relative gap ``Δ / max(1, |E₀|)`` (dimensionless, ≥ 0) below which the ground state
        counts as degenerate.
    nudge_gap_ratio : float, default 0.1
        Nudge strength, in units of the free gap Δ (max(Δ, T) for Gibbs states; ≥ 0), beyond
        which the finite-nudge estimate is flagged as unreliable (:class:`NudgeNearGapWarning`).
    tol : float, default 1e-13
        Lanczos tolerance: a ground state is converged when ``‖Hψ − Eψ‖ ≤ tol · max(1, |E|)``;
        its expectation values are then accurate to about ``2 ‖A‖ tol |E| / Δ``, and a
        finite-nudge gradient to that divided by β.
    seed : int, default 0
        Seeds the initial trainable couplings and the shot noise.

    Raises
    ------
    ValueError
        If ``n_spins`` is not an integer in 1..20; a coupling has an unknown role, no
        operators, a repeated name or an invalid operator spec; ``observables`` is empty or
        invalid; ``temperature`` is negative or not finite; ``shots`` is not a positive
        integer or None; ``solver`` or ``gap_guard`` is unknown; or ``min_gap``,
        ``nudge_gap_ratio`` or ``tol`` is negative or not finite.
    TypeError
        If a coupling is not a :class:`Coupling` or ``temperature`` is not a number.
    DegenerateGroundStateError
        (``gap_guard="raise"``.) When a relaxation meets a degenerate ground state.

    Notes
    -----
    The Hamiltonian (energies in units of a reference coupling J, ħ = 1, k_B = 1) is

    .. math::

        H(θ, x, ν) = \\sum_f c_f F_f + \\sum_j θ_j A_j + \\sum_l x_l X_l + \\sum_k ν_k B_k,

    with fixed, trainable and input couplings and output nudges :math:`ν_k`. For a loss of
    expectation values, the chain rule and Onsager reciprocity
    :math:`χ_{B_k A_j} = χ_{A_j B_k}` give (Wanjura & Marquardt 2025)

    .. math::

        \\frac{∂L}{∂θ_j} = \\sum_k ε_k \\frac{∂⟨B_k⟩}{∂θ_j}
        = \\frac{d⟨A_j⟩}{dβ}\\Big|_{ν = βε}, \\qquad ε = \\frac{∂L}{∂⟨B⟩}\\Big|_{\\text{free}}.

    The local measurement is ``param_gradient = ⟨∂H/∂θ_j⟩ = ⟨A_j⟩`` (Hellmann–Feynman). A soft
    nudge ``physlearn.Nudge(cost, y, β)`` adds ``Σ_k ν_k B_k`` with ``ν = β ∂C/∂⟨B⟩`` evaluated
    at the *free* outputs (read from ``start``, the free state the engine passes), as in
    Wanjura & Marquardt. Two objectives are available:

    * a loss of expectation values, ``L = C(⟨B⟩, y)`` — any cost of :mod:`physlearn.costs`;
    * an expected cost observable, ``L = ⟨Ĉ(y)⟩`` —
      :class:`physlearn.systems.quantum.ObservableCost`, whose nudge is ``β Ĉ`` (Scellier 2024).

    The exact reference :meth:`exact_gradient` is linear response at the free state: at T = 0
    ``∂L/∂θ_j = 2 Re ⟨0|A_j|δψ⟩`` with ``δψ = −(H − E₀)⁺ (O − ⟨O⟩)|0⟩`` and ``O = Σ_k ε_k B_k``
    (one linear solve per sample); at T > 0 the isothermal Kubo–Mori susceptibility. Both are
    symmetric in A ↔ B, which is why quantum EP works; see
    :func:`physlearn.systems.quantum.static_susceptibility`.

    Finite nudges are biased by O(β) (one-sided) or O(β²) (centered) with coefficients that grow
    like ``(|ε| ‖B‖/Δ)^k``: the estimate fails where the gap Δ is small (near-degenerate, ordered
    phases of finite chains) and once ``β|ε| ≳ Δ`` (the nudge crosses levels). A temperature T
    smooths both.

    References
    ----------
    .. [1] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training
       of quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
       arXiv:2406.06482.
    .. [2] B. Scellier, "Quantum equilibrium propagation: gradient-descent training of quantum
       systems", arXiv:2406.00879 (2024).
    .. [3] S. Massar, B. M. Mognetti, "Equilibrium propagation: the quantum and the thermal
       cases", arXiv:2405.08467 (2024).

    Examples
    --------
    >>> import physlearn as pl
    >>> from physlearn.systems.spin_chain import SpinChain
    >>> chain = SpinChain.transverse_field_ising(4, h=1.5, seed=0)
    >>> chain.param_shapes
    {'J': (3,), 'h': (4,)}
    >>> g = pl.EP(beta=1e-3).gradient(chain, [[0.3]], [[0.5]])
    """

    capabilities = frozenset({"soft_nudge"})
    _STRUCTURE = ("n_spins", "couplings", "observables", "seed")

    def __init__(self, n_spins: int, couplings: Sequence[Coupling], observables: Sequence, *,
                 temperature: float = 0.0, shots: int | None = None, solver: str = "auto",
                 gap_guard: str = "raise", min_gap: float = 1e-8, nudge_gap_ratio: float = 0.1,
                 tol: float = 1e-13, seed: int | None = 0):
        self.n_spins = n_spins
        self.couplings = couplings
        self.observables = observables
        self.temperature = temperature
        self.shots = shots
        self.solver = solver
        self.gap_guard = gap_guard
        self.min_gap = min_gap
        self.nudge_gap_ratio = nudge_gap_ratio
        self.tol = tol
        self.seed = seed
        self._build()

    def set_params(self, **params):
        """Set hyperparameters; changing the structure rebuilds the operators and parameters."""
        super().set_params(**params)
        if set(params) & set(self._STRUCTURE):
            self._build()
        self._check_settings()
        return self

    # -- construction -------------------------------------------------------------------------
    def _build(self):
        n = self.n_spins
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 20:
            raise ValueError(f"n_spins={n!r} must be an integer in 1..20")
        self._check_settings()
        groups = {role: [] for role in ROLES}
        names = set()
        for c in self.couplings:
            if not isinstance(c, Coupling):
                raise TypeError(f"couplings must be Coupling instances, got {c!r}")
            if c.role not in ROLES:
                raise ValueError(f"coupling {c.name!r} has role={c.role!r}, expected one of "
                                 f"{list(ROLES)}")
            if c.name in names:
                raise ValueError(f"coupling name {c.name!r} is used twice")
            names.add(c.name)
            ops = [operator(spec, n, f"coupling {c.name!r}[{i}]")
                   for i, spec in enumerate(c.operators)]
            if not ops:
                raise ValueError(f"coupling {c.name!r} has no operators")
            groups[c.role].append((c, ops))
        if not self.observables:
            raise ValueError("observables is empty: a spin chain needs at least one output")
        self.observable_operators = [operator(spec, n, f"observable {k} ({_describe(spec)})")
                                     for k, spec in enumerate(self.observables)]
        self.coupling_operators = {c.name: ops for role in ROLES for c, ops in groups[role]}
        self._layout(groups)
        self._init_params(groups["trainable"])

    def _check_settings(self):
        check_temperature(self.temperature)
        check_shots(self.shots)
        for name, value, choices in (("solver", self.solver, SOLVERS),
                                     ("gap_guard", self.gap_guard, GAP_GUARDS)):
            if value not in choices:
                raise ValueError(f"{name}={value!r} is not one of {list(choices)}")
        for name in ("min_gap", "nudge_gap_ratio", "tol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}={value!r} must be a finite number >= 0")

    def _layout(self, groups):
        """Order every operator in one basis: trainable | input | fixed | observables."""
        ops, self._slices, fixed_values = [], {}, []
        for role in ROLES:
            start = len(ops)
            for c, group in groups[role]:
                self._slices[c.name] = slice(len(ops), len(ops) + len(group))
                ops.extend(group)
                if role == "fixed":
                    fixed_values.append(_entry_values(c, len(group)))
            self._slices[f"<{role}>"] = slice(start, len(ops))
        k = len(self.observable_operators)
        self._slices["<outputs>"] = slice(len(ops), len(ops) + k)
        ops.extend(self.observable_operators)
        self._trainable = [(c.name, len(group)) for c, group in groups["trainable"]]
        self._fixed = np.concatenate(fixed_values) if fixed_values else np.zeros(0)
        self.n_features = self._slices["<input>"].stop - self._slices["<input>"].start
        self.n_outputs = k
        self.basis = _OperatorBasis([as_csr(op) for op in ops])
        with serial_blas():
            self._obs_norm = np.array([_spectral_norm(as_csr(b))
                                       for b in self.observable_operators])

    def _init_params(self, trainable):
        rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[0])
        params = {}
        for c, group in trainable:
            params[c.name] = (rng.uniform(-1.0, 1.0, len(group)) if c.value is None
                              else _entry_values(c, len(group)))
        self._noise_rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1])
        self.params = params

    @property
    def param_shapes(self):
        return {name: (size,) for name, size in self._trainable}

    @property
    def dim(self):
        """Hilbert-space dimension 2**n_spins."""
        return 2 ** self.n_spins

    # -- Hamiltonians -------------------------------------------------------------------------
    def _coefficients(self, x, nu):
        """Coefficients of every basis operator, shape (batch, n_ops)."""
        theta = np.concatenate([self._params[name] for name, _ in self._trainable] or
                               [np.zeros(0)])
        batch = x.shape[0]
        return np.hstack([np.broadcast_to(theta, (batch, theta.size)), x,
                          np.broadcast_to(self._fixed, (batch, self._fixed.size)), nu])

    def hamiltonian(self, x, nu=None):
        """The Hamiltonian(s) H(θ, x) + Σ_k ν_k B_k as QuTiP ``Qobj`` (a list for a batch).

        Parameters
        ----------
        x : array_like, shape (n_features,) or (batch, n_features)
        nu : array_like, shape (n_outputs,) or (batch, n_outputs), optional
        """
        import qutip as qt

        single = np.ndim(x) == 1
        x = self.check_inputs(x)
        nu = np.zeros((len(x), self.n_outputs)) if nu is None else \
            np.broadcast_to(np.asarray(nu, dtype=float), (len(x), self.n_outputs))
        dims = [[2] * self.n_spins] * 2
        out = [qt.Qobj(self.basis.combine(c), dims=dims) for c in self._coefficients(x, nu)]
        return out[0] if single else out

    def _solver(self):
        if self.solver == "auto":
            return "dense" if self.dim <= DENSE_MAX_DIM else "sparse"
        return self.solver

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Prepare the ground (T = 0) or Gibbs (T > 0) state of every sample.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : physlearn.Nudge, optional
            Adds ``Σ_k ν_k B_k`` with ``ν = β ∂C/∂⟨B⟩`` at the free outputs; for an
            :class:`~physlearn.systems.quantum.ObservableCost` this is ``β Ĉ`` up to a constant.
        start : SpinState, optional
            A state of the same ``x``. If free, its outputs set the nudge coefficients ε (else
            the free state is prepared first); it also warm-starts Lanczos.

        Returns
        -------
        SpinState

        Raises
        ------
        DegenerateGroundStateError
            If a ground state is degenerate and ``gap_guard="raise"``.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        if not self._same_inputs(start, x):
            start = None
        nu = np.zeros((len(x), self.n_outputs))
        if nudge is not None:
            free = start if start is not None and start.nudge is None else self.equilibrium(x)
            self.check_targets(nudge.target, len(x))
            if isinstance(nudge.cost, ObservableCost):
                nudge.cost.check_observables(self.observable_operators,
                                             [f"observable {k} ({_describe(b)})"
                                              for k, b in enumerate(self.observables)])
            nu = np.asarray(np.real(nudge.force(self.outputs(free))), dtype=float)
            self._guard_nudge(nu, free)
            start = start or free
        return self._prepare(x, nu, nudge, start)

    def _same_inputs(self, start, x):
        return (isinstance(start, SpinState) and start.x.shape == x.shape
                and np.array_equal(start.x, x))

    def _guard_nudge(self, nu, free):
        if self.gap_guard == "off":
            return
        strength = np.abs(nu) @ self._obs_norm
        scale = np.maximum(free.gap, free.temperature)
        bad = strength > self.nudge_gap_ratio * scale
        if np.any(bad):
            i = int(np.argmax(strength / scale))
            warnings.warn(
                f"nudge strength sum_k |nu_k| ||B_k|| = {strength[i]:.3e} exceeds "
                f"nudge_gap_ratio={self.nudge_gap_ratio} x gap {scale[i]:.3e} (sample {i}); the "
                "finite-beta estimate is biased and can jump at level crossings. Use a smaller "
                "beta, or T > 0.", NudgeNearGapWarning, stacklevel=3)

    def _prepare(self, x, nu, nudge, start):
        with serial_blas():
            return self._measure(self._solve_batch(x, nu, nudge, start))

    def _solve_batch(self, x, nu, nudge, start):
        T = check_temperature(self.temperature)
        coefs = self._coefficients(x, np.zeros_like(nu))
        if start is not None and np.array_equal(start.extra.get("couplings"), coefs):
            values = start.extra["hamiltonian"]          # the same H: assembled once
        else:
            values = self.basis.pattern_values(coefs)
        extra = {"couplings": coefs, "hamiltonian": values}
        if np.any(nu):
            values = values + self.basis.pattern_values(nu, self._slices["<outputs>"])
        hamiltonians = [self.basis.matrix(v) for v in values]
        state = SpinState(s=None, x=x, nudge=nudge, nu=nu, temperature=T, extra=extra)
        if T > 0:
            return self._gibbs_states(state, hamiltonians)
        return self._ground_states(state, hamiltonians, start)

    def _ground_states(self, state, hamiltonians, start):
        nudged = state.nudge is not None
        psi, energies = [], []
        for b, H in enumerate(hamiltonians):
            guess = None if start is None or start.psi is None else start.psi[b]
            e, v = self._ground_state(H, guess, with_gap=not nudged and self.gap_guard != "off")
            if not np.isnan(e[1]):
                check_gap(e, min_gap=self.min_gap, policy=self.gap_guard,
                          what=f"ground state of sample {b}")
            psi.append(v)
            energies.append(e)
        psi = np.array(psi)
        expect = np.array([self.basis.expect_pure(v) for v in psi])
        return state.replace(s=np.hstack([psi.real, psi.imag]), psi=psi,
                             energies=np.array(energies), expect=expect, measured=expect)

    def _ground_state(self, H, guess, with_gap):
        """``([E₀, E₁], ψ₀)``; ``E₁`` is nan unless ``with_gap`` (a nudged state needs no
        gap of its own: the free gap and the nudge guard bound it, by Weyl's inequality)."""
        if self._solver() == "dense" or self.dim <= 16:      # a handful of levels: LAPACK
            e, v = lowest_states(H, 2 if with_gap else 1, solver="dense")
            return (e if with_gap else np.r_[e, np.nan]), v[:, 0]
        if guess is None:
            guess = np.random.default_rng(self.dim).normal(size=self.dim)
        elif not np.iscomplexobj(H.data):
            guess = np.real(guess)              # a real H has a real ground state
        ground = lanczos_ground_state(H, guess, tol=self.tol)
        e1 = np.nan
        if with_gap:
            floor = self.min_gap * max(1.0, abs(ground.energy))
            e1 = first_excitation(H, ground, floor=floor).energy
        return np.array([ground.energy, e1]), ground.vector

    def _gibbs_states(self, state, hamiltonians):
        T = state.temperature
        ensembles, energies, populations = [], [], []
        for H in hamiltonians:
            e, p, vecs = thermal_ensemble(H, T)
            ensembles.append((p, vecs))
            energies.append(e[:2])
            weights = np.exp(-(e - e[0]) / T)
            populations.append(weights / weights.sum())
        expect = np.array([np.real(self.basis.trace(_density(p, v))) for p, v in ensembles])
        return state.replace(s=np.array(populations), ensembles=ensembles,
                             energies=np.array(energies), expect=expect, measured=expect)

    def _measure(self, state):
        """Attach shot noise to the measured operators (trainable A_j and outputs B_k)."""
        if self.shots is None:
            return state
        idx = np.r_[np.arange(self._slices["<trainable>"].start,
                              self._slices["<trainable>"].stop),
                    np.arange(self._slices["<outputs>"].start, self._slices["<outputs>"].stop)]
        second = np.array([self._second_moments(state, b, idx) for b in range(len(state.x))])
        variance = second - state.expect[:, idx] ** 2
        measured = state.expect.copy()
        measured[:, idx] = shot_noise(state.expect[:, idx], variance, self.shots,
                                      self._noise_rng)
        return state.replace(measured=measured)

    def _second_moments(self, state, b, idx):
        mats = [self.basis.mats[i] for i in idx]
        if state.psi is not None:
            v = state.psi[b]
            return np.array([np.real(np.vdot(m @ v, m @ v)) for m in mats])
        p, vecs = state.ensembles[b]
        return np.array([np.real(np.sum(p * np.sum(np.abs(m @ vecs) ** 2, axis=0)))
                         for m in mats])

    def outputs(self, state):
        """⟨B_k⟩ as measured, shape (batch, n_outputs)."""
        return state.measured[:, self._slices["<outputs>"]]

    def param_gradient(self, state):
        """⟨∂H/∂θ_j⟩ = ⟨A_j⟩ as measured: dict name → (batch, size)."""
        return {name: state.measured[:, self._slices[name]] for name, _ in self._trainable}

    def predict(self, x):
        """Outputs ⟨B_k⟩ of the free states."""
        return self.outputs(self.equilibrium(x))

    # -- exact reference: linear response ---------------------------------------------------------
    def exact_gradient(self, x, y, cost):
        """Linear-response (Onsager) reference ``dL/dθ``, batch mean, exact expectations.

        T = 0: ``∂L/∂θ_j = 2 Re ⟨0|A_j|δψ⟩`` with ``(H − E₀) δψ = −(O − ⟨O⟩)|0⟩``,
        ``O = Σ_k ε_k B_k``, solved on the complement of ``|0⟩`` (dense solve, or conjugate
        gradients for Lanczos-sized chains). T > 0: ``Σ_k ε_k χ^T_{A_j B_k}`` with the
        isothermal Kubo–Mori susceptibility (full diagonalisation).
        """
        free = self.equilibrium(x)
        eps = cost.gradient(free.expect[:, self._slices["<outputs>"]], y)
        with serial_blas():
            g = self._linear_response(x, free, eps)
        return batch_mean({name: g[:, self._slices[name]] for name, _ in self._trainable})

    def _linear_response(self, x, free, eps):
        rows = self._slices["<trainable>"]
        per_sample = []
        for b, c in enumerate(self._coefficients(x, np.zeros((len(x), self.n_outputs)))):
            H = self.basis.combine(c)
            o_coef = np.zeros(len(self.basis.mats))
            o_coef[self._slices["<outputs>"]] = eps[b]
            O = self.basis.combine(o_coef)
            if free.temperature == 0:
                per_sample.append(self._ground_response(H, free.energies[b, 0], free.psi[b],
                                                        O, rows))
            else:
                per_sample.append(self._thermal_response(H, free.temperature, O,
                                                         free.expect[b, rows], rows))
        return np.array(per_sample)

    def _ground_response(self, H, e0, psi, O, rows):
        rhs = O @ psi
        rhs = rhs - np.vdot(psi, rhs) * psi
        dpsi = -_reduced_solve(H, e0, psi, rhs, self._solver(), self.tol)
        return 2 * np.real(self.basis.cross(psi, dpsi, rows))

    def _thermal_response(self, H, T, O, mean_a, rows):
        energies, vecs = np.linalg.eigh(H.toarray())
        p, kernel = kubo_mori_kernel(energies, T)
        o_eig = vecs.conj().T @ (O @ vecs)
        mean_o = float(np.real(np.diag(o_eig) @ p))
        g_mat = vecs @ (o_eig * kernel) @ vecs.conj().T      # Tr(A G) = Σ_nm A_nm O_mn K_nm
        return np.real(self.basis.trace(g_mat, rows)) + mean_a * mean_o / T

    # -- the state-space view (ground states): E(ψ) = ⟨ψ|H|ψ⟩/⟨ψ|ψ⟩ ------------------------------
    def _psi(self, state):
        if state.psi is None:
            raise NotImplementedError(
                "state-space methods (with_s, energy_gradient, residual) are defined for ground "
                "states (temperature=0); a Gibbs state minimises the free-energy functional of "
                "a density matrix instead")
        return state.psi

    def with_s(self, state, s):
        """The state with ψ = s[:, :dim] + i s[:, dim:] (unnormalised; exact expectations)."""
        self._psi(state)
        psi = s[:, :self.dim] + 1j * s[:, self.dim:]
        expect = np.array([self.basis.expect_pure(v) for v in psi])
        return state.replace(s=s, psi=psi, expect=expect, measured=expect)

    def _rayleigh(self, state, nudged):
        psi = self._psi(state)
        nu = state.nu if nudged else np.zeros_like(state.nu)
        out = []
        for v, c in zip(psi, self._coefficients(state.x, nu)):
            hv = self.basis.combine(c) @ v
            norm = np.real(np.vdot(v, v))
            out.append((np.real(np.vdot(v, hv)) / norm, hv, norm))
        return out

    def energy(self, state):
        """Mean energy per sample: ⟨ψ|H|ψ⟩/⟨ψ|ψ⟩ (T = 0), or the free-energy functional
        Tr ρH − T S(ρ) at the state's fixed ρ (T > 0); H without the nudge."""
        if state.psi is not None:
            return np.array([r for r, _, _ in self._rayleigh(state, nudged=False)])
        out = []
        for (p, vecs), c in zip(state.ensembles, self._coefficients(
                state.x, np.zeros_like(state.nu))):
            H = self.basis.combine(c)
            mean_h = np.real(np.sum(p * np.sum(vecs.conj() * (H @ vecs), axis=0)))
            out.append(mean_h + state.temperature * np.sum(p * np.log(p)))
        return np.array(out)

    def energy_gradient(self, state):
        """∂E/∂s for s = [Re ψ, Im ψ]: 2 (Hψ − Eψ)/⟨ψ|ψ⟩ split into real and imaginary parts."""
        return self._rayleigh_gradient(state, nudged=False)

    def residual(self, state):
        """∂⟨H + Σ ν_k B_k⟩/∂s with the nudge the state was prepared under (0 at eigenstates)."""
        return self._rayleigh_gradient(state, nudged=True)

    def _rayleigh_gradient(self, state, nudged):
        psi = self._psi(state)
        g = np.array([2 * (hv - r * v) / n
                      for v, (r, hv, n) in zip(psi, self._rayleigh(state, nudged))])
        return np.hstack([g.real, g.imag])

    # -- builders -----------------------------------------------------------------------------
    @classmethod
    def from_families(cls, n_spins, families, *, values, roles, uniform=(), inputs=(),
                      observables=(), **kwargs):
        """Build a chain from named families of terms (used by the named builders).

        Parameters
        ----------
        families : dict
            name → list of operator specs (one per bond or site).
        values : dict
            name → scalar or per-term array (the coupling constants).
        roles : dict
            name → "trainable", "input", "fixed" or None (omit the family).
        uniform : iterable of str
            Families with one shared coupling for all their terms.
        inputs : sequence
            Extra input operators, one per feature, appended as coupling ``"input"``.
        """
        couplings = []
        for name, terms in families.items():
            role = roles.get(name)
            value = values.get(name)
            if not terms or role is None or (role == "fixed" and np.all(np.asarray(value) == 0)):
                continue
            if name in uniform:
                terms = [[t for term in terms for t in _as_terms(term)]]
                value = None if value is None else np.ravel(value)[:1]
            couplings.append(Coupling(name, tuple(terms), role,
                                      None if role == "input" else value))
        if inputs:
            couplings.append(Coupling("input", tuple(inputs), "input"))
        return cls(n_spins, couplings, list(observables), **kwargs)

    @classmethod
    def transverse_field_ising(cls, n_spins, *, J=1.0, h=1.0, g=0.0, periodic=False,
                               roles=None, uniform=(), inputs=("-Z0",), observables=None,
                               **kwargs):
        """Transverse-field Ising chain ``H = −Σ J_b Z_i Z_{i+1} − Σ h_i X_i − Σ g_i Z_i``.

        Parameters
        ----------
        J, h, g : float or array_like
            Bond couplings, transverse fields, longitudinal fields (in units of J).
        periodic : bool
            Closes the chain into a ring.
        roles : dict, optional
            Role of each family; default ``{"J": "trainable", "h": "trainable", "g":
            "fixed"}``.
        uniform : iterable of str
            Families sharing one coupling constant.
        inputs : sequence, default ``("-Z0",)``
            One operator per input feature: by default x is a longitudinal field on spin 0.
        observables : sequence, optional
            Outputs; default ``["Z{n-1}"]`` (the last spin).
        **kwargs
            Passed to :class:`SpinChain` (temperature, shots, solver, seed, ...).

        Notes
        -----
        Ferromagnetic for J > 0; the infinite chain is critical at h = J. In the ordered phase
        h < J a finite chain has two nearly degenerate ground states (gap ∝ (h/J)^n) unless a
        longitudinal field g breaks the Z₂ symmetry.
        """
        bonds = _bonds(n_spins, periodic)
        families = {"J": [(-1.0, f"Z{i} Z{j}") for i, j in bonds],
                    "h": [(-1.0, f"X{i}") for i in range(n_spins)],
                    "g": [(-1.0, f"Z{i}") for i in range(n_spins)]}
        return cls.from_families(
            n_spins, families, values={"J": J, "h": h, "g": g},
            roles={"J": "trainable", "h": "trainable", "g": "fixed", **(roles or {})},
            uniform=uniform, inputs=inputs,
            observables=observables or [f"Z{n_spins - 1}"], **kwargs)

    @classmethod
    def xxz(cls, n_spins, *, Jxy=1.0, Jz=1.0, h=0.0, dm=0.0, periodic=False, roles=None,
            uniform=(), inputs=("-Z0",), observables=None, **kwargs):
        """XXZ chain ``H = Σ_b [Jxy(XX + YY) + Jz ZZ] − Σ h_i Z_i + Σ_b D_b (X_i Y_j − Y_i X_j)``.

        ``Jz = Jxy`` is the Heisenberg chain (antiferromagnetic for J > 0). The
        Dzyaloshinskii–Moriya term D (``dm``) is imaginary in the σᶻ basis and breaks
        time-reversal symmetry. Default roles: Jxy, Jz trainable; h, dm fixed.

        Parameters
        ----------
        Jxy : float or array_like
            XY exchange, one value for every bond or one per bond.
        Jz : float or array_like
            Z exchange, one value for every bond or one per bond.
        h : float or array_like
            Longitudinal field, one value for every site or one per site.
        dm : float or array_like
            Dzyaloshinskii–Moriya coupling, one value for every bond or one per bond.
        periodic : bool
            Closes the chain into a ring.
        roles : dict, optional
            Role of each family; default ``{"Jxy": "trainable", "Jz": "trainable", "h":
            "fixed", "dm": "fixed"}``.
        uniform : iterable of str
            Families sharing one coupling constant.
        inputs : sequence, default ``("-Z0",)``
            One operator per input feature: by default x is a longitudinal field on spin 0.
        observables : sequence, optional
            Outputs; default ``["Z{n-1}"]`` (the last spin).
        **kwargs
            Passed to :class:`SpinChain` (temperature, shots, solver, seed, ...).
        """
        # The Parameters section above is read by the config schema (physlearn.experiment.
        # config): "float or array_like" is what lets a TOML config give per-bond arrays.
        bonds = _bonds(n_spins, periodic)
        families = {"Jxy": [[(1.0, f"X{i} X{j}"), (1.0, f"Y{i} Y{j}")] for i, j in bonds],
                    "Jz": [(1.0, f"Z{i} Z{j}") for i, j in bonds],
                    "h": [(-1.0, f"Z{i}") for i in range(n_spins)],
                    "dm": [[(1.0, f"X{i} Y{j}"), (-1.0, f"Y{i} X{j}")] for i, j in bonds]}
        return cls.from_families(
            n_spins, families, values={"Jxy": Jxy, "Jz": Jz, "h": h, "dm": dm},
            roles={"Jxy": "trainable", "Jz": "trainable", "h": "fixed", "dm": "fixed",
                   **(roles or {})},
            uniform=uniform, inputs=inputs,
            observables=observables or [f"Z{n_spins - 1}"], **kwargs)

    @classmethod
    def heisenberg(cls, n_spins, *, J=1.0, **kwargs):
        """Heisenberg chain: :meth:`xxz` with ``Jxy = Jz = J``."""
        return cls.xxz(n_spins, Jxy=J, Jz=J, **kwargs)

    @classmethod
    def cluster_ising(cls, n_spins, *, g_zxz=1.0, g_zz=1.0, g_x=1.0, periodic=True,
                      roles=None, uniform=("g_zxz", "g_zz", "g_x"), inputs=(),
                      observables=None, **kwargs):
        """Cluster-Ising chain ``H = g_zxz Σ Z_j X_{j+1} Z_{j+2} − g_zz Σ Z_j Z_{j+1} − g_x Σ X_j``.

        Three phases (Wanjura & Marquardt's sign convention): ferromagnet (g_zz dominant),
        paramagnet (g_x dominant) and the symmetry-protected topological cluster phase (g_zxz
        dominant). By default the three (uniform) couplings are the input features.
        """
        triples = _triples(n_spins, periodic)
        families = {"g_zxz": [(1.0, f"Z{i} X{j} Z{k}") for i, j, k in triples],
                    "g_zz": [(-1.0, f"Z{i} Z{j}") for i, j in _bonds(n_spins, periodic)],
                    "g_x": [(-1.0, f"X{i}") for i in range(n_spins)]}
        return cls.from_families(
            n_spins, families, values={"g_zxz": g_zxz, "g_zz": g_zz, "g_x": g_x},
            roles={"g_zxz": "input", "g_zz": "input", "g_x": "input", **(roles or {})},
            uniform=uniform, inputs=inputs,
            observables=observables or [f"Z{n_spins - 1}"], **kwargs)

    @classmethod
    def phase_sensor(cls, n_system=6, *, system_ops="XYZ", scale=0.1, **kwargs):
        """Wanjura & Marquardt's phase sensor: a cluster-Ising ring plus 2 trainable qubits.

        The ring (sites 0..n_system−1, periodic) has the three couplings
        (g_zxz, g_zz, g_x) as input features. Two sensor qubits s₁ = n_system, s₂ = n_system+1
        carry trainable couplings: ``system_sensor`` (system Paulis ``system_ops`` on sites 0,
        1 times X, Y, Z on each sensor: 36 terms for XYZ), ``sensor_field`` (6) and
        ``sensor_sensor`` (9). Outputs are the projectors onto the sensor outcomes (↑↑), (↑↓),
        (↓↓) — one per phase. Trainable couplings start uniform in ``[−scale, scale]``.

        **Parameter order against the paper's code.** The authors' θ is one vector: the 36
        system–sensor couplings, then the 6 sensor fields, then the 9 sensor–sensor
        couplings, which is the order of ``params`` here too. Within the last two blocks the
        orders agree (``X_{s1}, Y_{s1}, Z_{s1}, X_{s2}, …`` and ``a_{s1} b_{s2}`` with ``b``
        fastest). Within ``system_sensor`` they differ: here entry
        ``((a·2 + i)·3 + b)·2 + s`` couples system Pauli ``a`` on site ``i`` to sensor Pauli
        ``b`` on sensor ``s`` (sensor fastest), there entry ``((i·3 + a)·2 + s)·3 + b``
        (site slowest, sensor Pauli fastest); ``a, b`` count X, Y, Z from 0, ``i, s`` from
        0. The authors start from standard normal couplings, this builder from
        ``U(−scale, scale)``.

        References
        ----------
        .. [1] C. C. Wanjura, F. Marquardt, Nat. Commun. 16, 6595 (2025), Fig. 3.
        """
        n = n_system + 2
        s1, s2 = n_system, n_system + 1
        ring = cls.cluster_ising(n_system)
        couplings = [Coupling(c.name, c.operators, c.role, c.value) for c in ring.couplings]
        sensor = [f"{a}{i} {b}{s}" for a in system_ops for i in (0, 1) for b in "XYZ"
                  for s in (s1, s2)]
        field_ops = [f"{b}{s}" for s in (s1, s2) for b in "XYZ"]
        pair = [f"{a}{s1} {b}{s2}" for a in "XYZ" for b in "XYZ"]
        rng = np.random.default_rng(kwargs.get("seed", 0))
        for name, ops in (("system_sensor", sensor), ("sensor_field", field_ops),
                          ("sensor_sensor", pair)):
            couplings.append(Coupling(name, tuple(ops), "trainable",
                                      rng.uniform(-scale, scale, len(ops))))
        projectors = [[(0.25, ""), (0.25 * a, f"Z{s1}"), (0.25 * b, f"Z{s2}"),
                       (0.25 * a * b, f"Z{s1} Z{s2}")] for a, b in ((1, 1), (1, -1), (-1, -1))]
        return cls(n, couplings, projectors, **kwargs)

    @classmethod
    def phase_exploration(cls, n_spins=10, *, theta=(-0.1, 0.4), g_zxz=0.5,
                          observable="X0 X4", **kwargs):
        """Wanjura & Marquardt's unsupervised chain (open): the couplings are θ = (θ_X, θ_ZZ) in

            H = −(θ_X Σ_{j=0}^{N−1} X_j + θ_ZZ Σ_{j=0}^{N−2} Z_j Z_{j+1}
                  + g_zxz Σ_{j=1}^{N−3} Z_j X_{j+1} Z_{j+2}),

        no inputs, and the output is ``⟨X₀X₄⟩``; train with
        :class:`~physlearn.systems.quantum.NegativeMagnitude` to maximise ``|⟨X₀X₄⟩|``. Spins
        count from 0, and the cluster sum starts at ``j = 1``: ``N − 3`` terms, spin 0 in
        none of them, term for term the Hamiltonian of the paper's exploration example (its
        ``Σ_{j=1}^{N−3}`` over spins counted from 0).
        """
        xs = [(-1.0, f"X{i}") for i in range(n_spins)]
        zz = [(-1.0, f"Z{i} Z{j}") for i, j in _bonds(n_spins, False)]
        zxz = [(-1.0, f"Z{i} X{j} Z{k}") for i, j, k in _triples(n_spins, False)[1:]]
        couplings = [Coupling("theta", (xs, zz), "trainable", tuple(theta)),
                     Coupling("g_zxz", (zxz,), "fixed", g_zxz)]
        return cls(n_spins, couplings, [observable], **kwargs)


# -- helpers -----------------------------------------------------------------------------------
def _bonds(n, periodic):
    bonds = [(i, i + 1) for i in range(n - 1)]
    return bonds + [(n - 1, 0)] if periodic and n > 2 else bonds


def _triples(n, periodic):
    stop = n if periodic else n - 2
    return [(i, (i + 1) % n, (i + 2) % n) for i in range(max(stop, 0))] if n >= 3 else []


def _describe(spec):
    """A short name for an operator spec in error messages."""
    return repr(spec) if isinstance(spec, (str, list, tuple)) else type(spec).__name__


def _as_terms(spec):
    """A single operator spec as a list of (coefficient, label) pairs."""
    if isinstance(spec, str):
        return [(1.0, spec)]
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
        return [spec]
    return [t for s in spec for t in _as_terms(s)]


def _entry_values(coupling, size):
    if coupling.value is None:
        raise ValueError(f"{coupling.role} coupling {coupling.name!r} needs a value")
    value = np.asarray(coupling.value, dtype=float)
    try:
        return np.broadcast_to(value, (size,)).astype(float)
    except ValueError:
        raise ValueError(f"coupling {coupling.name!r}: value of shape {value.shape} does not "
                         f"fit its {size} operators") from None


def _spectral_norm(m):
    if m.nnz == 0:
        return 0.0
    if m.shape[0] <= DENSE_MAX_DIM:
        return float(np.max(np.abs(np.linalg.eigvalsh(m.toarray()))))
    return float(np.abs(spla.eigsh(m, k=1, which="LM", return_eigenvectors=False)[0]))


def _density(weights, vectors):
    """``ρ = Σ_n p_n |n⟩⟨n|`` (dense)."""
    return (vectors * weights) @ vectors.conj().T


def _reduced_solve(H, e0, psi, rhs, solver, tol):
    """Solve ``(H − E₀) z = rhs`` on the complement of ``|ψ⟩`` (``rhs ⊥ ψ``).

    The deflated operator ``H − E₀ + |ψ⟩⟨ψ|`` is positive definite (eigenvalues ≥ min(Δ, 1))
    and agrees with H − E₀ on the complement, so its solution is the reduced resolvent's.
    """
    if solver == "dense":
        a = H.toarray() - e0 * np.eye(H.shape[0]) + np.outer(psi, psi.conj())
        return np.linalg.solve(a, rhs)
    dtype = np.result_type(H.dtype, psi.dtype, rhs.dtype)
    op = spla.LinearOperator(H.shape, dtype=dtype,
                             matvec=lambda v: H @ v - e0 * v + psi * np.vdot(psi, v))
    z, info = spla.cg(op, rhs.astype(dtype), rtol=max(tol, 1e-14), atol=0.0, maxiter=10000)
    if info != 0:
        raise ConvergenceError(f"reduced-resolvent solve did not converge (cg info={info})")
    return z


def cluster_ising_phases(n_samples, *, total=4.0, seed=0):
    """Random cluster-Ising couplings on the triangle g_zxz + g_zz + g_x = total, with phases.

    Labels (infinite-chain phase diagram, Wanjura & Marquardt): 1 (ferromagnet, "II") if
    g_zz ≥ total/2; else 0 ("I", cluster/SPT) if g_x < g_zxz; else 2 ("III", paramagnet).

    Returns
    -------
    x : ndarray, shape (n_samples, 3)
        (g_zxz, g_zz, g_x).
    labels : ndarray of int, shape (n_samples,)
    y : ndarray, shape (n_samples, 3)
        One-hot targets for the three sensor projectors.
    """
    rng = np.random.default_rng(seed)
    x = total * rng.dirichlet(np.ones(3), size=n_samples)
    labels = np.where(x[:, 1] >= total / 2, 1, np.where(x[:, 2] < x[:, 0], 0, 2))
    return x, labels, np.eye(3)[labels]


# -- the contract suite's example problems (physlearn.registry) ----------------------------------
def contract_problem(system, rng):
    """Gaussian inputs and targets, 4 samples."""
    x = 0.5 * rng.normal(size=(4, system.n_features))
    y = 0.3 * rng.normal(size=(4, system.n_outputs))
    return x, y


def phase_sensor_problem(system, rng):
    """Four cluster-Ising couplings on the phase triangle and their one-hot phases."""
    x, _, y = cluster_ising_phases(4, seed=rng)
    return x, y
