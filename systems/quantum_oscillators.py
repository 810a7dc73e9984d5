"""Networks of coupled quantum harmonic oscillators with trainable springs.

Physics
-------
Unit masses at nodes i = 0..n−1 with position and momentum operators x̂_i, p̂_i
([x̂_i, p̂_j] = i δ_ij, ħ = 1), coupled by springs k_e along edges e = (i, j) and pinned by
grounding springs k⁰_i:

    H = Σ_i p̂_i²/2 + ½ Σ_e k_e (x̂_i − x̂_j)² + ½ Σ_i k⁰_i x̂_i² − Σ_l x_l x̂_{in_l}
      = Σ_i p̂_i²/2 + ½ x̂ᵀ K x̂ − fᵀ x̂,       K = Dᵀ diag(k) D + diag(k⁰).

Inputs are static forces f on input nodes; outputs are the mean positions ⟨x̂_o⟩. The
Hamiltonian is quadratic, so every ground or Gibbs state is Gaussian: mean μ = K⁻¹ f and
position covariance Σ = ½ K^{−1/2} coth(K^{1/2}/2T) (Σ = ½ K^{−1/2} at T = 0, the zero-point
spread). Dimensionless units: masses 1, spring constants in units of a reference k, so
frequencies are in units of √(k/m) and energies of ħ√(k/m).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from physlearn.system import Bound, ConvergenceError, State, System, batch_mean
from physlearn.systems.quantum import (
    ObservableCost,
    check_shots,
    check_temperature,
    lowest_states,
    serial_blas,
    shot_noise,
)
from physlearn.systems.solvers import check_nudge_stability, stability_interval

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["QuantumHarmonicNetwork", "OscillatorState"]


@dataclass
class OscillatorState(State):
    """Gaussian states, one per sample; ``s`` is the mean position μ (batch, n_modes).

    Parameters
    ----------
    s, x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`; ``s`` is the mean position μ (length units
        :math:`\\sqrt{ħ/(m ω_0)}` with ħ = m = 1).
    force : ndarray, shape (batch, n_modes), optional
        The input forces ``f`` (without the nudge).
    nu : ndarray, shape (batch, n_outputs), optional
        The output nudges that were applied (force units).
    cov_x : ndarray, shape (n_modes, n_modes), optional
        The symmetrised position covariance ``⟨{δx̂, δx̂}⟩/2``, shared by the batch.
    cov_p : ndarray, shape (n_modes, n_modes), optional
        The momentum covariance.
    measured : dict, optional
        name → ``(batch, size)``: ``⟨∂H/∂θ⟩`` as measured (with shot noise if set).
    outputs : ndarray, shape (batch, n_outputs), optional
        ``⟨x̂_o⟩`` as measured.

    Notes
    -----
    The ground or Gibbs state of a quadratic Hamiltonian is Gaussian: mean
    :math:`μ = K^{-1} f` and position covariance
    :math:`Σ = \\tfrac12 K^{-1/2}\\coth\\big(K^{1/2}/2T\\big)` (:math:`\\tfrac12 K^{-1/2}` at
    T = 0, the zero-point spread).

    References
    ----------
    .. [1] B. Scellier, "Quantum equilibrium propagation: gradient-descent training of quantum
       systems", arXiv:2406.00879 (2024).
    """

    force: np.ndarray = None        # (batch, n_modes) input forces f (without the nudge)
    nu: np.ndarray = None           # (batch, n_outputs) output nudges that were applied
    cov_x: np.ndarray = None        # (n_modes, n_modes) ⟨{δx̂, δx̂}⟩/2, shared by the batch
    cov_p: np.ndarray = None        # (n_modes, n_modes) momentum covariance
    measured: dict = None           # name → (batch, size): ⟨∂H/∂θ⟩ as measured
    outputs: np.ndarray = None      # (batch, n_outputs) ⟨x̂_o⟩ as measured


class QuantumHarmonicNetwork(System):
    """Coupled quantum oscillators trained through their spring constants.

    Parameters
    ----------
    n_modes : int
        Number of oscillators (unit masses), ≥ 1.
    edges : sequence of (int, int)
        Springs between oscillators.
    inputs : sequence of int
        Nodes driven by the input forces (one per feature; force units).
    outputs : sequence of int
        Nodes whose mean positions are the outputs.
    spring : array_like, optional
        Initial spring constants k_e ≥ 0 (units of the reference spring constant); default
        uniform in [0.5, 1.5] from ``seed``.
    ground : float or array_like, default 1.0
        Initial grounding springs k⁰_i > 0 (trainable; same units).
    temperature : float, default 0
        0: ground state; T > 0: Gibbs state (k_B = 1; units of ħ√(k/m)).
    shots : int, optional
        Measurements per expectation value (Gaussian shot noise); None: exact.
    min_spring : float, default 1e-3
        Floor of the grounding springs > 0 (keeps K positive definite): an assignment below it
        is refused, a learning step (:meth:`update_params`) clips onto it.
    nudge_mode : {"free", "self_consistent"}, default "free"
        "free": ``ν = β ∂C/∂⟨x̂_o⟩`` at the free outputs, a feed-forward force (Wanjura &
        Marquardt's protocol). "self_consistent": ν tracks the nudged outputs, i.e. the state
        minimises ``⟨H⟩ + β C(⟨x̂_o⟩)`` (the engine's ``F = E + βC``; a feedback force).
    seed : int, default 0
        Seeds the default spring constants and the shot noise.

    Raises
    ------
    ValueError
        If ``n_modes`` is not a positive integer; ``temperature`` or ``shots`` is invalid;
        ``nudge_mode`` is unknown; an input or output node is out of range or repeated; there
        are no outputs; an edge does not join two different nodes or repeats; ``min_spring``
        is not a finite number > 0; or the initial springs are outside their bounds.

    Notes
    -----
    Unit masses with :math:`[x̂_i, p̂_j] = iδ_{ij}` (ħ = 1), springs :math:`k_e` on the edges
    and grounding springs :math:`k^0_i`:

    .. math::

        H = \\sum_i \\frac{p̂_i^2}{2} + \\tfrac12 \\sum_{e=(i,j)} k_e (x̂_i − x̂_j)^2
            + \\tfrac12 \\sum_i k^0_i x̂_i^2 − \\sum_l x_l\\, x̂_{\\text{in}_l}
          = \\sum_i \\frac{p̂_i^2}{2} + \\tfrac12 x̂^{\\mathsf T} K x̂ − f^{\\mathsf T} x̂,

    so every ground or Gibbs state is Gaussian with mean :math:`μ = K^{-1}f`.

    The local measurement is ``⟨∂H/∂k_e⟩ = ½⟨(x̂_i − x̂_j)²⟩ = ½[(μ_i − μ_j)² + dᵀΣd]``: the mean
    strain plus its zero-point (or thermal) spread. A nudge ``Nudge(cost, y, β)`` adds
    ``Σ_k ν_k x̂_{o_k}`` with ``ν = β ∂C/∂⟨x̂_o⟩`` at the free outputs (Wanjura & Marquardt). It
    shifts the mean but not the covariance, so the spread cancels in the EP contrast and quantum
    EP for a loss of mean positions equals classical EP on the elastic network. With
    ``nudge_mode="free"`` the mean is exactly linear in β and ⟨∂H/∂θ⟩ quadratic, so *centered*
    EP is exact at any β (one-sided EP keeps an O(β) bias); with ``"self_consistent"`` the
    outputs solve ``μ_o = μ_o⁰ − β R ∇C(μ_o)`` (``R = P K⁻¹ Pᵀ``) and the usual O(β²) appears.
    That state is a minimum of ``⟨H⟩ + βC`` only while ``R⁻¹ + β ∂²C/∂o²`` is positive definite
    (squared error: ``β > −1/λ_max(R)``); beyond it the nudge raises
    :class:`~physlearn.ConvergenceError` naming β and the bound.
    (Scellier's cost *observable* ½(x̂_o − y)² would instead stiffen the output spring, and its
    gradient carries the zero-point term ½ ∂Σ_oo/∂k; it is not a function of the outputs and is
    not offered.)

    The exact reference is implicit differentiation of μ = K⁻¹f:
    ``dL/dk_e = −(d_eᵀλ)(d_eᵀμ)`` with ``λ = K⁻¹ Pᵀ ε``. :meth:`fock_hamiltonian` builds the same
    Hamiltonian in a truncated Fock basis (QuTiP) to cross-check the Gaussian formulas.

    References
    ----------
    .. [1] B. Scellier, "Quantum equilibrium propagation: gradient-descent training of quantum
       systems", arXiv:2406.00879 (2024).
    .. [2] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training
       of quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
       arXiv:2406.06482.

    Examples
    --------
    >>> from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork
    >>> net = QuantumHarmonicNetwork.chain(3, seed=0)
    >>> net.predict([[0.2]]).shape
    (1, 1)
    """

    capabilities = frozenset({"soft_nudge"})
    _param_aliases = {"outputs": "output_nodes"}   # ``outputs(state)`` is the seam's method

    def __init__(self, n_modes: int, edges: Sequence[tuple[int, int]], inputs: Sequence[int],
                 outputs: Sequence[int], *, spring: ArrayLike | None = None,
                 ground: float | ArrayLike = 1.0, temperature: float = 0.0,
                 shots: int | None = None, min_spring: float = 1e-3, nudge_mode: str = "free",
                 seed: int | None = 0):
        self.n_modes = n_modes
        self.edges = edges
        self.inputs = inputs
        self.output_nodes = outputs
        self.spring = spring
        self.ground = ground
        self.temperature = temperature
        self.shots = shots
        self.min_spring = min_spring
        self.nudge_mode = nudge_mode
        self.seed = seed
        self._build()

    def _build(self):
        n = self.n_modes
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_modes={n!r} must be a positive integer")
        check_temperature(self.temperature)
        check_shots(self.shots)
        if self.nudge_mode not in ("free", "self_consistent"):
            raise ValueError(f"nudge_mode={self.nudge_mode!r} is not one of ['free', "
                             "'self_consistent']")
        for what, nodes in (("input", self.inputs), ("output", self.output_nodes)):
            bad = [i for i in nodes if not 0 <= int(i) < n]
            if bad:
                raise ValueError(f"{what} node(s) {bad} out of range 0..{n - 1}")
            if len({int(i) for i in nodes}) != len(nodes):
                raise ValueError(f"{what}s={list(nodes)!r} names a node twice")
        if not len(self.output_nodes):
            raise ValueError("outputs is empty: the network needs at least one output node")
        edges = np.asarray(self.edges, dtype=int).reshape(-1, 2)
        if np.any((edges < 0) | (edges >= n)) or np.any(edges[:, 0] == edges[:, 1]):
            raise ValueError(f"edges={self.edges!r} must join two different nodes in 0..{n - 1}")
        if len({frozenset(e) for e in edges.tolist()}) != len(edges):
            raise ValueError(f"edges={self.edges!r} lists a spring twice")
        m = self.min_spring
        if isinstance(m, bool) or not isinstance(m, (int, float, np.number)) \
                or not (np.isfinite(m) and m > 0):
            raise ValueError(f"min_spring={m!r} must be a finite number > 0")
        self._incidence = np.zeros((len(edges), n))
        self._incidence[np.arange(len(edges)), edges[:, 0]] = 1.0
        self._incidence[np.arange(len(edges)), edges[:, 1]] = -1.0
        self._in = np.asarray(self.inputs, dtype=int)
        self._out = np.asarray(self.output_nodes, dtype=int)
        self.n_features, self.n_outputs = len(self._in), len(self._out)
        seeds = np.random.SeedSequence(self.seed).spawn(2)
        self._noise_rng = np.random.default_rng(seeds[1])
        spring = (np.random.default_rng(seeds[0]).uniform(0.5, 1.5, len(edges))
                  if self.spring is None else self.spring)
        self.params = {"spring": spring, "ground": np.broadcast_to(self.ground, (n,))}

    @property
    def param_shapes(self):
        return {"spring": (len(self._incidence),), "ground": (self.n_modes,)}

    @property
    def param_bounds(self):
        """Springs ``k_e ≥ 0``; grounding springs ``k⁰_i > 0``, floored at ``min_spring``
        (keeps K positive definite)."""
        return {"spring": Bound(0.0, label="spring constant"),
                "ground": Bound(0.0, strict=True, floor=self.min_spring, floor_name="min_spring",
                                label="grounding spring constant")}

    def describe_param_index(self, name, index):
        if name == "spring":
            edge = np.asarray(self.edges, dtype=int).reshape(-1, 2)[index]
            return f" (edge {tuple(edge.tolist())})"
        return f" (mode {index})"

    # -- Gaussian states --------------------------------------------------------------------------
    def stiffness(self):
        """K = Dᵀ diag(k) D + diag(k⁰), shape (n_modes, n_modes)."""
        d = self._incidence
        return d.T @ (self._params["spring"][:, None] * d) + np.diag(self._params["ground"])

    def covariances(self):
        """Position and momentum covariances (Σ_x, Σ_p) of the ground or Gibbs state.

        In normal modes of frequency ω: ⟨δx²⟩ = coth(ω/2T)/(2ω), ⟨δp²⟩ = ω coth(ω/2T)/2.
        """
        w2, u = np.linalg.eigh(self.stiffness())
        if w2[0] <= 0:
            raise ValueError(f"the stiffness matrix is not positive definite (lowest eigenvalue "
                             f"{w2[0]:.3e}): pin the network with grounding springs > 0")
        w = np.sqrt(w2)
        T = check_temperature(self.temperature)
        coth = 1.0 / np.tanh(w / (2 * T)) if T > 0 else np.ones_like(w)
        return (u * (coth / (2 * w))) @ u.T, (u * (w * coth / 2)) @ u.T

    def _forces(self, x):
        f = np.zeros((len(x), self.n_modes))
        np.add.at(f.T, self._in, x.T)
        return f

    def equilibrium(self, x, nudge=None, start=None):
        """Gaussian ground (or Gibbs) state of every sample; a nudge adds Σ_k ν_k x̂_{o_k}.

        ``start`` (a free state of the same x) supplies the free outputs that fix ν.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        f = self._forces(x)
        nu = np.zeros((len(x), self.n_outputs))
        if nudge is not None:
            if isinstance(nudge.cost, ObservableCost):
                raise ValueError("ObservableCost needs outputs with B² = 1 or B² = B; the "
                                 "positions of a QuantumHarmonicNetwork are neither. Use a "
                                 "cost of the mean positions (SquaredError, ...)")
            self.check_targets(nudge.target, len(x))
            free = start if (isinstance(start, OscillatorState) and start.nudge is None and
                             np.array_equal(start.x, x)) else self.equilibrium(x)
            nu = np.real(nudge.force(self.outputs(free))).astype(float)
            if self.nudge_mode == "self_consistent":
                nu = self._self_consistent_nudge(free, nudge)
        f_eff = f.copy()
        np.add.at(f_eff.T, self._out, -nu.T)
        mu = np.linalg.solve(self.stiffness(), f_eff.T).T
        cov_x, cov_p = self.covariances()
        state = OscillatorState(s=mu, x=x, nudge=nudge, force=f, nu=nu, cov_x=cov_x,
                                cov_p=cov_p)
        return self._measure(state)

    def _self_consistent_nudge(self, free, nudge, tol=1e-13, max_iter=50):
        """Newton on ``o = o⁰ − β R ∇C(o)`` for the nudged outputs; returns ν = β ∇C(o)."""
        k_inv_pt = np.linalg.solve(self.stiffness(), np.eye(self.n_modes)[:, self._out])
        R = k_inv_pt[self._out]
        o0 = free.s[:, self._out]
        o = o0.copy()
        with np.errstate(all="ignore"):   # round-off grows with the state and with β ∇C
            push = np.max(np.abs(nudge.force(o0) @ R.T), initial=0.0)
        scale = 1.0 + np.max(np.abs(o0)) + (push if np.isfinite(push) else 0.0)
        for _ in range(max_iter):
            r = o - o0 + nudge.force(o) @ R.T
            if np.max(np.abs(r)) <= tol * scale:
                # a minimum of ⟨H⟩ + βC only while R⁻¹ + β ∂²C/∂o² is positive definite
                lo, hi = stability_interval(R, nudge.cost.hessian(o, nudge.target))
                bound = (f"; for the squared error the bound is -1/lambda_max(R) = "
                         f"{-1.0 / np.linalg.eigvalsh(R).max():.6g}")
                check_nudge_stability(nudge.beta, lo, hi,
                                      f"{type(self).__name__} self-consistent nudge", bound)
                return np.real(nudge.force(o)).astype(float)
            J = np.eye(len(R)) + np.einsum("ij,bjk->bik", R, nudge.stiffness(o))
            o = o - np.linalg.solve(J, r[..., None])[..., 0]
        raise ConvergenceError(f"self-consistent nudge did not converge in {max_iter} Newton "
                               f"steps (residual {np.max(np.abs(r)):.3e}, beta={nudge.beta}); "
                               "R^-1 + beta d2C/do2 must stay positive definite (for the "
                               "squared error beta > -1/lambda_max(R) = "
                               f"{-1.0 / np.linalg.eigvalsh(R).max():.6g})")

    def _exact_measurements(self, mu, cov_x):
        d = self._incidence
        strain, spread = mu @ d.T, np.einsum("ei,ij,ej->e", d, cov_x, d)
        means = {"spring": 0.5 * (strain**2 + spread), "ground": 0.5 * (mu**2 + np.diag(cov_x))}
        # Var(u²/2) for a Gaussian u of mean m and variance s: s²/2 + m² s
        variances = {"spring": 0.5 * spread**2 + strain**2 * spread,
                     "ground": 0.5 * np.diag(cov_x) ** 2 + mu**2 * np.diag(cov_x)}
        return means, variances

    def _measure(self, state):
        means, variances = self._exact_measurements(state.s, state.cov_x)
        outputs = state.s[:, self._out]
        if self.shots is not None:
            rng = self._noise_rng
            means = {k: shot_noise(v, variances[k], self.shots, rng) for k, v in means.items()}
            var_out = np.broadcast_to(np.diag(state.cov_x)[self._out], outputs.shape)
            outputs = shot_noise(outputs, var_out, self.shots, rng)
        return state.replace(measured=means, outputs=outputs)

    def outputs(self, state):
        """⟨x̂_o⟩ as measured, shape (batch, n_outputs)."""
        return state.outputs

    def param_gradient(self, state):
        """⟨∂H/∂k_e⟩ = ½⟨(x̂_i − x̂_j)²⟩ and ⟨∂H/∂k⁰_i⟩ = ½⟨x̂_i²⟩ as measured."""
        return dict(state.measured)

    def predict(self, x):
        return self.outputs(self.equilibrium(x))

    def exact_gradient(self, x, y, cost):
        """Implicit differentiation of the mean: λ = K⁻¹Pᵀε, dL/dk_e = −(d_eᵀλ)(d_eᵀμ)."""
        mu = np.linalg.solve(self.stiffness(), self._forces(x).T).T
        eps = np.zeros_like(mu)
        eps[:, self._out] = cost.gradient(mu[:, self._out], y)
        lam = np.linalg.solve(self.stiffness(), eps.T).T
        d = self._incidence
        return batch_mean({"spring": -(lam @ d.T) * (mu @ d.T), "ground": -lam * mu})

    # -- state-space view: ⟨H⟩ as a function of the mean μ ----------------------------------------
    def with_s(self, state, s):
        return self._measure(state.replace(s=s))

    def energy(self, state):
        """⟨H⟩ = ½μᵀKμ − fᵀμ + ½Tr Σ_p + ½Tr(KΣ_x) at the state's covariances (no nudge)."""
        mu, K = state.s, self.stiffness()
        fluct = 0.5 * np.trace(state.cov_p) + 0.5 * np.sum(K * state.cov_x)
        return 0.5 * np.einsum("bi,ij,bj->b", mu, K, mu) - np.sum(state.force * mu, 1) + fluct

    def energy_gradient(self, state):
        return state.s @ self.stiffness() - state.force

    def residual(self, state):
        """∂⟨H + Σ ν_k x̂_{o_k}⟩/∂μ (zero at the prepared state)."""
        r = self.energy_gradient(state)
        np.add.at(r.T, self._out, state.nu.T)
        return r

    # -- Fock-basis cross-check (QuTiP) -----------------------------------------------------------
    def fock_hamiltonian(self, x, n_levels, nu=None):
        """The Hamiltonian of one sample in a truncated Fock basis, as a QuTiP ``Qobj``.

        Each mode is truncated to ``n_levels`` number states of a unit-frequency oscillator,
        with x̂ = (a + a†)/√2 and p̂ = i(a† − a)/√2. Practical for two or three modes.
        """
        import qutip as qt

        x = self.check_inputs(x)[0]
        n = self.n_modes
        a = [qt.tensor([qt.destroy(n_levels) if k == i else qt.qeye(n_levels)
                        for k in range(n)]) for i in range(n)]
        xs = [(op + op.dag()) / np.sqrt(2) for op in a]
        ps = [1j * (op.dag() - op) / np.sqrt(2) for op in a]
        K, f = self.stiffness(), self._forces(x[None])[0]
        if nu is not None:
            f = f.copy()
            np.add.at(f, self._out, -np.asarray(nu, dtype=float))
        H = sum(0.5 * p @ p for p in ps)
        H = H + sum(0.5 * K[i, j] * xs[i] @ xs[j] for i in range(n) for j in range(n))
        return H - sum(f[i] * xs[i] for i in range(n)), xs

    def fock_measurements(self, x, n_levels, nu=None):
        """Outputs, ⟨∂H/∂θ⟩ and ground energy of one sample from the Fock-basis ground state."""
        from physlearn.systems.quantum import as_csr

        H, xs = self.fock_hamiltonian(x, n_levels, nu)
        with serial_blas():
            energies, vecs = lowest_states(as_csr(H), 2,
                                           solver="dense" if H.shape[0] <= 1000 else "sparse")
        psi = vecs[:, 0]

        def mean(op):
            return float(np.real(np.vdot(psi, as_csr(op) @ psi)))

        d = self._incidence
        spring = [0.5 * mean(sum(c * xs[i] for i, c in enumerate(row) if c) ** 2) for row in d]
        ground = [0.5 * mean(q @ q) for q in xs]
        return {"outputs": np.array([mean(xs[o]) for o in self._out]),
                "spring": np.array(spring), "ground": np.array(ground),
                "energy": float(energies[0])}

    # -- builders ---------------------------------------------------------------------------------
    @classmethod
    def chain(cls, n_modes, *, inputs=(0,), outputs=None, **kwargs):
        """A linear chain of ``n_modes`` oscillators; by default driven at 0, read at the end."""
        edges = [(i, i + 1) for i in range(n_modes - 1)]
        return cls(n_modes, edges, list(inputs),
                   list(outputs) if outputs is not None else [n_modes - 1], **kwargs)

    @classmethod
    def random(cls, n_modes, *, n_inputs=2, n_outputs=1, p_edge=0.5, seed=0, **kwargs):
        """A random network: a ring plus random chords with probability ``p_edge``."""
        rng = np.random.default_rng(seed)
        edges = {(i, (i + 1) % n_modes) for i in range(n_modes)} if n_modes > 2 else {(0, 1)}
        edges |= {(i, j) for i in range(n_modes) for j in range(i + 2, n_modes)
                  if rng.random() < p_edge and (j - i) % n_modes != n_modes - 1}
        nodes = rng.permutation(n_modes)
        return cls(n_modes, sorted(edges), nodes[:n_inputs].tolist(),
                   nodes[n_inputs:n_inputs + n_outputs].tolist(), seed=seed, **kwargs)
