"""Vector-field networks: Hopfield-like networks with separate forward and backward weights.

Physics
-------
A layered network of units with states ``s = (s_1, …, s_L)`` (hidden layers, then the
output layer ``s_L``) driven by an input ``x = s_0`` relaxes under

    ds/dt = F(θ, x, s) = −Φ(θ, x, s),
    Φ_l = s_l − ρ′(s_l) ⊙ (W_l a_{l−1} + B_{l+1} ρ(s_{l+1}) + b_l),

with ``a_0 = x``, ``a_l = ρ(s_l)``, ``ρ = tanh`` (or Laborieux & Zenke's sigmoid
``ρ(s) = 1/(1 + e^{−4s+2})``, both holomorphic), forward weights ``W_l`` (layer ``l−1 → l``),
backward weights ``B_{l+1}`` (layer ``l+1 → l``) and biases ``b_l``. When every
``B_{l+1} = W_{l+1}ᵀ`` the field is a gradient, ``Φ = ∂E/∂s`` of the Hopfield energy

    E = ½‖s‖² − Σ_l ρ(s_l)ᵀ W_l a_{l−1} − Σ_l b_lᵀ ρ(s_l),

(Scellier & Bengio 2017) and its Jacobian ``J = ∂Φ/∂s`` is the (symmetric) Hessian. With
``B ≠ Wᵀ`` there is no energy: ``J`` is not symmetric and the network is a pure vector field.
Equilibria ``Φ = 0`` are found by Newton's method (``J`` is available in closed form) and
must be stable (every eigenvalue of ``J`` with positive real part).

Sign convention: ``energy_gradient`` returns ``Φ = −F`` (the generalized force, equal to
``∂E/∂s`` when an energy exists), so ``residual`` and the implicit-differentiation reference
of :class:`~physlearn.EquilibriumSystem` apply unchanged, with :meth:`adjoint` solving with
the *true* transpose ``Jᵀ``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physlearn.nudges import Nudge
from physlearn.system import ConvergenceError, EquilibriumSystem, State
from physlearn.systems.solvers import residual_scale


class VectorFieldNetwork(EquilibriumSystem):
    """A layered Hopfield-like network with untied forward and backward weights.

    Parameters
    ----------
    layers : list of int
        Layer sizes ``[n_in, n_1, …, n_L]`` (at least two positive integers); the last layer
        is the output.
    alpha : float, default 0.0
        Asymmetry angle α (radians, 0 … π/2) of the initial backward weights
        ``B_{l+1} = sin α · B_rand + cos α · W_{l+1}ᵀ`` (Laborieux & Zenke 2024); α = 0 gives
        a symmetric network (an energy exists), α = π/2 unrelated random feedback.
    gain : float, default 1.0
        Scale of the initial weights, ``N(0, gain²/fan_in)`` (dimensionless, > 0).
    seed : int, default 0
        Seeds the initial weights (``W``, ``B_rand``; biases start at 0).
    tol : float, default 1e-10
        Newton stops once ``‖Φ + β ∂C/∂s‖∞ < tol`` (then takes one polishing step).
    max_iter : int, default 100
        Newton steps before :class:`~physlearn.ConvergenceError`. Where the Newton line
        search fails (far from the fixed point), 20 explicit Euler steps (``dt = 0.2``) of
        the dynamics itself are taken before Newton resumes; each counts as one step.
    activation : {"tanh", "sigmoid"}, default "tanh"
        The activation ``ρ``: ``"tanh"``, or ``"sigmoid"``, the one of Laborieux & Zenke's
        code, ``ρ(s) = 1/(1 + e^{−4s+2}) = ½(1 + tanh(2s − 1))`` (output in (0, 1), steepest
        at ``s = ½``). Both are holomorphic: complex nudges continue the fixed point.
    tied : bool, default False
        Tie the backward weights to the forward ones, ``B_{l+1} = W_{l+1}ᵀ`` at all times (the
        ``B`` parameters do not exist; needs ``alpha=0``): a layered Hopfield network with
        the energy ``E`` below, on which EP and holomorphic EP measure ``∂E/∂θ`` locally.

    Raises
    ------
    ValueError
        If ``layers`` has fewer than two entries or a non-positive size, ``alpha`` is outside
        ``[0, π/2]``, ``gain``, ``tol`` or ``max_iter`` is invalid, ``activation`` is unknown,
        ``tied`` is not a bool, or ``tied=True`` with ``alpha ≠ 0``.

    Notes
    -----
    **Dynamics.** With :math:`a_0 = x`, :math:`a_l = ρ(s_l)`, the units relax under

    .. math::

        \\frac{ds}{dt} = −Φ(θ, x, s), \\qquad
        Φ_l = s_l − ρ'(s_l) ⊙ \\big(W_l a_{l−1} + B_{l+1} ρ(s_{l+1}) + b_l\\big),

    to a stable fixed point :math:`Φ = 0` (found by Newton's method). When every
    :math:`B_{l+1} = W_{l+1}^{\\mathsf T}` the field is the gradient :math:`Φ = ∂E/∂s` of the
    Hopfield energy

    .. math::

        E = \\tfrac12 ‖s‖^2 − \\sum_l ρ(s_l)^{\\mathsf T} W_l a_{l−1}
            − \\sum_l b_l^{\\mathsf T} ρ(s_l);

    otherwise the Jacobian :math:`J = ∂Φ/∂s` is not symmetric and there is no energy.

    **Parameters** (``params``): ``"W1" … "WL"`` (shape ``(n_l, n_{l−1})``), ``"B2" … "BL"``
    (shape ``(n_{l−1}, n_l)``, feeding layer ``l`` back into layer ``l−1``), ``"b1" … "bL"``.
    Forward and backward weights are independent parameters; a learning rule that updates them
    differently breaks the symmetry even from α = 0.

    **Tied weights** (``tied=True``). With ``B_{l+1} ≡ W_{l+1}ᵀ`` the energy exists for every
    parameter value, and its local parameter derivatives are what EP contrasts:
    ``∂E/∂W_l = −ρ(s_l) a_{l−1}ᵀ`` and ``∂E/∂b_l = −ρ(s_l)`` (:meth:`param_gradient`).
    ``W_{l+1}`` then enters ``Φ_l`` through the feedback as well, and the reference
    (:meth:`mixed_vjp`) sums both uses. Capabilities ``"soft_nudge"``, ``"complex"`` and
    ``"vector_field"``: EP, holomorphic EP and generalized EP all apply (and agree).

    **Capabilities.** ``"vector_field"`` (no energy is assumed; a rule must use the field and
    its Jacobian) and ``"complex"`` (both activations are holomorphic: ``tanh`` has its poles
    at ``±iπ/2`` off the real axis, the sigmoid at ``½ ± iπ/4``, so complex nudges continue
    the fixed point). Not ``"soft_nudge"``: EP measures
    ``∂E/∂θ``, which does not exist here, so EP refuses these networks — also at α = 0, where
    :class:`~physlearn.rules.generalized.GeneralizedEP` reduces to EP's estimate
    (``−(∂Φ/∂θ)ᵀ ds/dβ = d/dβ ∂E/∂θ``) and is exact up to its bias in β. Not ``"clamp"``.

    **Exact reference.** Differentiating ``Φ(θ, s*) = 0``: ``ds*/dθ = −J⁻¹ ∂Φ/∂θ`` and
    ``dL/dθ = −(J⁻ᵀ ∂C/∂s)ᵀ ∂Φ/∂θ`` — recurrent backprop with the true transpose ``Jᵀ``
    (:meth:`adjoint`). A nudge ``Φ + β ∂C/∂s = 0`` gives ``ds*/dβ = −J⁻¹ ∂C/∂s``: the
    "neuronal error" a physical nudge can produce carries ``J⁻¹``, not ``J⁻ᵀ``
    (:func:`~physlearn.rules.generalized.error_alignment` compares the two, layer by layer).

    **Nudge radius** (:meth:`nudge_radius`). The nudged fixed point stops existing where the
    Jacobian of the nudged field ``J(s*(β)) + β Pᵀ ∂²C P`` becomes singular (``P`` picks the
    outputs); linearised in β at the free fixed point this happens at ``β = −1/μ`` for the
    eigenvalues μ of ``J⁻¹ (Pᵀ∂²C P + ∂J/∂s · ds*/dβ)``. The radius ``min 1/max|μ|`` is a
    first-order estimate of the radius of convergence of ``s*(β)``, which Cauchy points of
    :class:`~physlearn.rules.generalized.GeneralizedEP` must stay inside.

    Dimensionless units throughout.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation", Front. Comput. Neurosci. 11:24
       (2017).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.vector_field import VectorFieldNetwork
    >>> net = VectorFieldNetwork([2, 4, 1], alpha=0.5, seed=0)
    >>> state = net.equilibrium([[0.5, -0.2]])
    >>> bool(np.abs(net.residual(state)).max() < 1e-10)
    True
    """

    _EULER_STEPS = 20
    _FLOW_STEPS = 1000
    _EULER_DT = 0.2

    def __init__(self, layers: Sequence[int], *, alpha: float = 0.0, gain: float = 1.0,
                 seed: int = 0, tol: float = 1e-10, max_iter: int = 100,
                 activation: str = "tanh", tied: bool = False):
        self.layers = layers
        self.activation = activation
        self.tied = tied
        self.alpha = alpha
        self.gain = gain
        self.seed = seed
        self.tol = tol
        self.max_iter = max_iter
        sizes = [int(n) for n in layers]
        if len(sizes) < 2 or any(n < 1 or n != m for n, m in zip(sizes, layers)):
            raise ValueError(f"layers={layers!r} must list at least two positive integers")
        if not (np.isscalar(alpha) and 0 <= alpha <= np.pi / 2):
            raise ValueError(f"alpha={alpha!r} must be an angle in [0, pi/2]")
        check_relaxation_settings(gain, tol, max_iter)
        if activation not in ("tanh", "sigmoid"):
            raise ValueError(f"activation={activation!r} must be 'tanh' or 'sigmoid'")
        if not isinstance(tied, (bool, np.bool_)):
            raise ValueError(f"tied={tied!r} must be True or False")
        if tied and alpha != 0:
            raise ValueError(f"tied=True ties B to Wᵀ, so alpha={alpha!r} must be 0")
        self._set_layout(sizes)
        self.params = self._initial_params()

    def _set_layout(self, sizes):
        """Layer sizes ``[n_in, n_1, …, n_L]`` → the state's slices and output indices."""
        self._sizes = list(sizes)
        self._slices, start = [], 0
        for n in self._sizes[1:]:
            self._slices.append(slice(start, start + n))
            start += n
        self.n_state = start
        self.output_index = np.arange(start - self._sizes[-1], start)

    @property
    def capabilities(self):
        if self.tied:
            return frozenset({"soft_nudge", "complex", "vector_field"})
        return frozenset({"vector_field", "complex"})

    @property
    def unavailable(self):
        """Methods this instance does not have: ``energy`` and ``param_gradient`` unless tied."""
        return () if self.tied else ("energy", "param_gradient")

    @property
    def n_features(self):
        return self._sizes[0]

    @property
    def n_outputs(self):
        return self._sizes[-1]

    @property
    def n_layers(self):
        return len(self._sizes) - 1

    @property
    def layer_slices(self):
        """Where each layer sits in the state: a list of slices, hidden layers then output."""
        return list(self._slices)

    @property
    def param_shapes(self):
        n = self._sizes
        shapes = {}
        for l in range(1, len(n)):
            shapes[f"W{l}"] = (n[l], n[l - 1])
        for l in range(2, len(n) if not self.tied else 2):
            shapes[f"B{l}"] = (n[l - 1], n[l])
        for l in range(1, len(n)):
            shapes[f"b{l}"] = (n[l],)
        return shapes

    def _initial_params(self):
        rng = np.random.default_rng(self.seed)
        n = self._sizes
        p = {}
        for l in range(1, len(n)):
            p[f"W{l}"] = rng.normal(0.0, self.gain / np.sqrt(n[l - 1]), (n[l], n[l - 1]))
        for l in range(2, len(n)):
            rand = rng.normal(0.0, self.gain / np.sqrt(n[l - 1]), (n[l - 1], n[l]))
            p[f"B{l}"] = np.sin(self.alpha) * rand + np.cos(self.alpha) * p[f"W{l}"].T
        for l in range(1, len(n)):
            p[f"b{l}"] = np.zeros(n[l])
        return {k: p[k] for k in self.param_shapes}

    def _backward(self, l):
        """``B_l`` (layer ``l`` feeding back into layer ``l−1``): ``W_lᵀ`` when tied."""
        return self._params[f"W{l}"].T if self.tied else self._params[f"B{l}"]

    def is_symmetric(self):
        """True when every ``B_{l+1}`` equals ``W_{l+1}ᵀ`` exactly (an energy exists)."""
        p = self._params
        return all(np.array_equal(self._backward(l), p[f"W{l}"].T)
                   for l in range(2, self.n_layers + 1))

    # -- the field ------------------------------------------------------------------------------
    def _layers(self, state):
        """Per layer: ``s_l``, ``ρ(s_l)``, ``ρ′(s_l)``, ``ρ″(s_l)``, and the drive ``z_l``."""
        p = self._params
        s = [state.s[:, sl] for sl in self._slices]
        if self.activation == "sigmoid":       # ½(1 + tanh(2s − 1)) = 1/(1 + e^{−4s+2})
            t = [np.tanh(2.0 * v - 1.0) for v in s]
            rho = [0.5 * (1.0 + tv) for tv in t]
            d1 = [1.0 - tv * tv for tv in t]
            d2 = [-4.0 * tv * d for tv, d in zip(t, d1)]
        else:
            rho = [np.tanh(v) for v in s]
            d1 = [1.0 - r * r for r in rho]
            d2 = [-2.0 * r * d for r, d in zip(rho, d1)]
        L = self.n_layers
        z = []
        for l in range(1, L + 1):
            below = state.x.astype(state.s.dtype) if l == 1 else rho[l - 2]
            zl = below @ p[f"W{l}"].T + p[f"b{l}"]
            if l < L:
                zl = zl + rho[l] @ self._backward(l + 1).T
            z.append(zl)
        return s, rho, d1, d2, z

    def energy_gradient(self, state):
        """The generalized force ``Φ = −F = s − ρ′(s) ⊙ z`` (``∂E/∂s`` when symmetric)."""
        s, _, d1, _, z = self._layers(state)
        return np.concatenate([sl - dl * zl for sl, dl, zl in zip(s, d1, z)], axis=1)

    def vector_field(self, state):
        """The velocity ``F = ds/dt = −Φ`` of the free dynamics at ``state``."""
        return -self.energy_gradient(state)

    def jacobian(self, state, nudge=None):
        """``J = ∂Φ/∂s`` (plus ``β ∂²C/∂o²`` on the outputs under a nudge), (batch, n, n)."""
        p = self._params
        s, _, d1, d2, z = self._layers(state)
        batch, n = state.s.shape
        J = np.zeros((batch, n, n), dtype=state.s.dtype)
        idx = np.arange(n)
        J[:, idx, idx] = 1.0
        for l in range(1, self.n_layers + 1):
            a = self._slices[l - 1]
            J[:, a, a] -= np.einsum("bi,ij->bij", d2[l - 1] * z[l - 1], np.eye(a.stop - a.start))
            if l >= 2:
                below = self._slices[l - 2]
                J[:, a, below] -= d1[l - 1][:, :, None] * p[f"W{l}"] * d1[l - 2][:, None, :]
                J[:, below, a] -= d1[l - 2][:, :, None] * self._backward(l) * d1[l - 1][:, None, :]
        return self._add_stiffness(J, state, nudge)

    def _add_stiffness(self, J, state, nudge):
        """``J + β ∂²C/∂o²`` on the output block under a soft nudge (``J`` otherwise)."""
        if isinstance(nudge, Nudge):
            out = self.output_index
            J = J.astype(np.result_type(J, nudge.beta))
            J[:, out[:, None], out[None, :]] += nudge.stiffness(self.outputs(state))
        return J

    # -- the three questions ----------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Fixed point of ``ds/dt = F − β ∂C/∂s`` by Newton's method.

        Parameters
        ----------
        x : array_like, shape (batch, n_in)
        nudge : Nudge or None
            Adds ``β ∂C/∂o`` to ``Φ`` at the outputs; β may be complex (the fixed point is
            continued analytically from ``start`` or the free state).
        start : State, optional
            Initial state (typically the free state), refined by Newton directly. Default:
            ``s = 0``, relaxed by the dynamics itself (explicit Euler, ``dt = 0.2``, until
            ``‖Φ‖∞ < 10⁻³``) before Newton, which would converge to unstable fixed points
            as readily as to stable ones.

        Returns
        -------
        State

        Raises
        ------
        ConvergenceError
            If Newton does not converge within ``max_iter`` steps, its Jacobian
            ``∂(Φ + β∂C/∂s)/∂s`` becomes singular (the nudged fixed point does not exist), or
            (real β) the fixed point is unstable (an eigenvalue of ``J`` with non-positive
            real part); under a nudge the message names β.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        batch = x.shape[0]
        if nudge is not None and not isinstance(nudge, Nudge):
            raise ValueError(f"{type(self).__name__} takes soft nudges only, not "
                             f"{type(nudge).__name__}")
        s = np.zeros((batch, self.n_state))
        if start is not None and np.shape(start.s) == s.shape:
            s = np.array(start.s)
        if isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, batch), nudge.beta)
            if nudge.is_complex:
                if start is None:
                    s = self.equilibrium(x).s
                s = s.astype(complex)
            else:
                nudge = Nudge(nudge.cost, nudge.target, float(np.real(nudge.beta)))
                s = np.real(s)
        else:
            s = np.real(s)
        state = State(s=s, x=x, nudge=nudge)
        if start is None:
            # Newton finds any fixed point, stable or not: let the dynamics bring the state
            # near the stable one first (explicit Euler on ds/dt = −(Φ + β ∂C/∂s))
            state, _ = self._euler(state, 1e-3, self._FLOW_STEPS)
        before = state
        try:
            state = self._newton(state)
        except ConvergenceError as err:
            if "singular" in str(err):
                raise
            # Newton stalls where the fixed point is stable but barely (a small eigenvalue of
            # J): follow the dynamics, which converge there linearly, then polish by Newton
            state = self._newton(self._flow(getattr(err, "state", state), err))
        if not np.iscomplexobj(state.s):
            unstable = _unstable(self.jacobian(state, nudge))
            if unstable.size and start is None:
                # Newton jumped to an unstable fixed point from a start outside the basin of
                # the stable one: follow the dynamics of those samples all the way instead
                # (not from a given start: a continued branch that lost its stability has no
                # stable continuation, and another branch would be a different state)
                err = ConvergenceError(f"samples {unstable[:5].tolist()}: the flow did not "
                                       "reach a fixed point")
                rescued = self._newton(self._flow(_take(before, unstable), err))
                state = state.replace(s=state.s.copy())
                state.s[unstable] = rescued.s
                unstable = unstable[_unstable(self.jacobian(rescued, rescued.nudge))]
            if unstable.size:
                raise ConvergenceError(
                    f"{type(self).__name__}{_beta_text(nudge)}: the fixed point of samples "
                    f"{unstable[:5].tolist()} is unstable (an eigenvalue of the Jacobian has "
                    "non-positive real part); the dynamics would not settle there")
        return state

    _RESCUE_STEPS = 50_000

    def _flow(self, state, err):
        """Explicit Euler on ``ds/dt = −(Φ + β ∂C/∂s)`` until the residual is below ``tol``
        (at most ``_RESCUE_STEPS`` steps); ``err`` is raised again if the flow does not get
        there or diverges."""
        tol = self.tol * residual_scale(self, state, state.nudge)
        state, converged = self._euler(state, tol, self._RESCUE_STEPS)
        if not converged:
            raise ConvergenceError(f"{err}; {self._why_no_rest(state, tol)}") from err
        return state

    _WINDOW = 500

    def _why_no_rest(self, state, tol):
        """What the dynamics do where they do not come to rest (for error messages): the
        residual over ``_WINDOW`` more Euler steps tells circling (no decay: a limit cycle)
        from a slow approach (decay at the rate of the smallest eigenvalue of ``J``)."""
        r = np.max(np.abs(self.residual(state)), axis=1)
        moving = np.flatnonzero(~(r < tol))
        if not np.all(np.isfinite(state.s[moving])):
            return f"the dynamics of samples {moving[:5].tolist()} diverge"
        sub = _take(state, moving)
        history = []
        for _ in range(self._WINDOW):
            r = self.residual(sub)
            history.append(np.max(np.abs(r), axis=1))
            sub = sub.replace(s=sub.s - self._EULER_DT * r)
        history = np.array(history)
        decay = history[-1] / history[0]
        where = f"samples {moving[:5].tolist()} (of {moving.size})"
        steps = f"{self._RESCUE_STEPS} + {self._WINDOW} Euler steps (dt = {self._EULER_DT})"
        circling = decay > 0.5
        if np.any(circling):
            k = np.flatnonzero(circling)[0]
            return (f"samples {moving[circling][:5].tolist()} oscillate: after {steps} the "
                    f"residual still swings between {history[:, k].min():.2g} and "
                    f"{history[:, k].max():.2g} without decaying, the state bounded: the "
                    "dynamics circle (a limit cycle) instead of settling on a stable fixed "
                    "point")
        return (f"{where} approach their fixed point too slowly: after {steps} the residual "
                f"still falls only by {np.max(decay):.2g} per {self._WINDOW} steps (a nearly "
                "singular Jacobian: the fixed point is barely stable)")

    def _euler(self, state, tol, steps):
        """Explicit Euler (``dt = _EULER_DT``) on ``ds/dt = −(Φ + β ∂C/∂s)``, each sample until
        its own ``max|residual| < tol`` (so a sample's result does not depend on the batch it
        is relaxed in, and converged samples cost nothing), at most ``steps`` steps.
        Returns the state and whether every sample converged (False also on overflow)."""
        s = np.array(state.s)
        active = np.arange(len(s))
        for _ in range(steps):
            r = self.residual(_take(state.replace(s=s), active))
            if not np.all(np.isfinite(r)):
                return state.replace(s=s), False
            moving = np.max(np.abs(r), axis=1) >= tol
            s[active[moving]] -= self._EULER_DT * r[moving]
            active = active[moving]
            if not active.size:
                return state.replace(s=s), True
        return state.replace(s=s), False

    def _newton(self, state):
        """Damped Newton on ``Φ + β ∂C/∂s = 0``, each sample until its own residual is below
        ``tol`` (then one polishing step, kept where it helps); converged samples drop out,
        so a batch costs what its slowest samples cost, not its size times that."""
        nudge = state.nudge
        s = np.array(state.s)
        tol = self.tol * residual_scale(self, state, nudge)   # relative on large problems
        active = np.arange(len(s))
        sub = state.replace(s=s.copy())
        r = self.residual(sub)
        for _ in range(int(self.max_iter)):
            norm = np.max(np.abs(r), axis=1)
            J = self.jacobian(sub, sub.nudge)
            try:
                d = np.linalg.solve(J, r[..., None])[..., 0]
            except np.linalg.LinAlgError as err:
                raise ConvergenceError(
                    f"{type(self).__name__}: no fixed point{_beta_text(nudge)}: the Jacobian "
                    f"of Phi + beta dC/ds became singular ({err}) at residual "
                    f"max|F - beta dC/ds| = {np.max(np.abs(r)):.3e}; the nudged fixed point "
                    "does not exist there (|beta| too large?)") from err
            done = norm < tol
            if np.any(done):
                polished = _take(sub, done).replace(s=sub.s[done] - d[done])
                better = np.max(np.abs(self.residual(polished)), axis=1) <= norm[done]
                s[active[done]] = np.where(better[:, None], polished.s, sub.s[done])
                active, sub, r, d = active[~done], _take(sub, ~done), r[~done], d[~done]
                if not active.size:
                    return state.replace(s=s)
            t = np.ones(len(active))
            for _ in range(12):
                trial = sub.replace(s=sub.s - t[:, None] * d)
                with np.errstate(all="ignore"):
                    r_t = self.residual(trial)
                    ok = np.linalg.norm(r_t, axis=1) < (1 - 1e-4 * t) * np.linalg.norm(r, axis=1)
                if np.all(ok):
                    break
                t = np.where(ok, t, 0.5 * t)
            else:
                # Newton is lost (far from the fixed point, J nearly singular): follow the
                # dynamics ds/dt = −(Φ + β ∂C/∂s) for a while (explicit Euler), then retry
                for _ in range(self._EULER_STEPS):
                    sub = sub.replace(s=sub.s - self._EULER_DT * self.residual(sub))
                s[active] = sub.s
                r = self.residual(sub)
                if not np.all(np.isfinite(r)):
                    break
                continue
            sub, r = trial, r_t
            s[active] = sub.s
        err = ConvergenceError(
            f"{type(self).__name__}: no fixed point{_beta_text(nudge)} after {self.max_iter} "
            "Newton steps: "
            f"residual max|F - beta dC/ds| = {np.max(np.abs(r)):.3e} (tol={tol:g}); "
            "weights too strong for a stable fixed point, or |beta| too large")
        err.state = state.replace(s=s)      # where Newton got to, for a rescue by the flow
        raise err

    def outputs(self, state):
        return state.s[:, self.output_index]

    def nudge_radius(self, x, y, cost, beta=None, free=None):
        """First-order estimate of the radius in complex β of the nudged fixed point ``s*(β)``.

        Parameters
        ----------
        x : array_like, shape (batch, n_in)
        y : array_like, shape (batch, n_out)
        cost : Cost
            Needs ``gradient`` and ``hessian``.
        beta : float, optional
            Unused (the estimate costs one eigenvalue problem per sample anyway).
        free : State, optional
            The free fixed point of ``x`` (relaxed if not given).

        Returns
        -------
        float
            ``min over the batch of 1/max|μ|``, ``μ`` the eigenvalues of
            ``J⁻¹ (Pᵀ ∂²C P + ∂J/∂s · v)`` at the free fixed point, ``v = ds*/dβ``
            (``inf`` where all vanish).

        Notes
        -----
        The nudged fixed point ``Φ(s) + β Pᵀ ∂C/∂o = 0`` (outputs ``o = P s``) exists, and is
        an analytic function of β, as long as its Jacobian
        ``J_β = J(s*(β)) + β Pᵀ ∂²C P`` is invertible (implicit function theorem); where
        ``J_β`` becomes singular ``s*(β)`` has a branch point (two fixed points merge: on the
        real axis the relaxation finds none beyond it). To first order in β the state moves
        by ``β v``, ``v = ds*/dβ = −J⁻¹ Pᵀ ∂C/∂o``, so

            J_β ≈ J + β (Pᵀ ∂²C P + ∂J/∂s · v),

        singular at ``β = −1/μ`` for the eigenvalues μ of ``J⁻¹ (Pᵀ∂²C P + ∂J/∂s · v)``; the
        radius is the smallest ``1/|μ|`` over the samples. For a linear field (the resistor
        network's response matrix) the second term vanishes and this is exact; here it is a
        first-order estimate: the curvature of ``J_β`` along the path moves the branch point.
        Measured on digits (64-32-10 and 64-32-32-10, gain 1, α = 0°, 45°, 90°, 16 samples):
        the first real β without a fixed point (continuation along real β of both signs) lay
        at 0.67 … 2 times the estimate, and the radius of convergence read off the decay of
        the Cauchy coefficients of ``s*(β)`` (root test on a circle of radius 0.02) at
        0.67 … 1.6 times it (the estimate without the ``∂J/∂s · v`` term, the linear
        response's pole alone, overestimated the failure by up to 2×). Use ``|β|`` well inside
        it (half of it), and expect a failed relaxation (:class:`~physlearn.ConvergenceError`)
        or a :class:`~physlearn.rules.holomorphic.ContourWarning` close to it. ``∂J/∂s · v``
        is computed as a complex-step derivative (``Φ`` is holomorphic in ``s``).
        """
        x = self.check_inputs(x)
        free = self.equilibrium(x) if free is None else free
        y = self.check_targets(y, x.shape[0])
        out = self.output_index
        free = free.replace(s=np.real(free.s), nudge=None)
        J = self.jacobian(free)
        o = self.outputs(free)
        g = self.output_vjp(free, cost.gradient(o, y))
        v = -np.linalg.solve(J, g[..., None])[..., 0]
        h = 1e-30
        dJ = np.imag(self.jacobian(free.replace(s=free.s + 1j * h * v))) / h
        dJ[:, out[:, None], out[None, :]] += np.asarray(cost.hessian(o, y), dtype=float)
        mu = np.max(np.abs(np.linalg.eigvals(np.linalg.solve(J, dJ))), axis=1)
        with np.errstate(divide="ignore"):
            return float(np.min(1.0 / mu))

    def energy(self, state):
        """The Hopfield energy ``E`` per sample (tied weights only), shape (batch,).

        Raises ``NotImplementedError`` on untied networks: no energy exists for a vector field.
        """
        if not self.tied:
            raise NotImplementedError(f"{type(self).__name__}.energy: untied (vector field, "
                                      f"alpha={self.alpha!r}), no energy exists")
        _, rho, _, _, _ = self._layers(state)
        p = self._params
        E = 0.5 * np.sum(state.s * state.s, axis=1)
        for l in range(1, self.n_layers + 1):
            below = state.x.astype(state.s.dtype) if l == 1 else rho[l - 2]
            E = E - np.sum(rho[l - 1] * (below @ p[f"W{l}"].T + p[f"b{l}"]), axis=1)
        return E

    def param_gradient(self, state):
        """``∂E/∂θ`` (tied weights only): ``∂E/∂W_l = −ρ(s_l) a_{l−1}ᵀ``, ``∂E/∂b_l = −ρ(s_l)``.

        Untied networks refuse: a vector field has no energy, so there is no local ``∂E/∂θ``.
        """
        self._need_tied("param_gradient")
        _, rho, _, _, _ = self._layers(state)
        out = {}
        for l in range(1, self.n_layers + 1):
            below = state.x.astype(state.s.dtype) if l == 1 else rho[l - 2]
            out[f"W{l}"] = -rho[l - 1][:, :, None] * below[:, None, :]
            out[f"b{l}"] = -rho[l - 1]
        return out

    def _need_tied(self, what):
        if self.tied:
            return
        raise ValueError(f"{type(self).__name__}.{what}: no energy (vector field, alpha="
                         f"{self.alpha!r}); ∂E/∂θ is undefined — use GeneralizedEP, which "
                         "measures (∂Φ/∂θ)ᵀ ds/dβ, or tie the weights (tied=True)")

    # -- physics for references -----------------------------------------------------------------
    def output_vjp(self, state, g_out):
        out = np.zeros(state.s.shape, dtype=np.result_type(state.s, g_out))
        out[:, self.output_index] = g_out
        return out

    def adjoint(self, state, rhs):
        """Solve ``Jᵀ λ = rhs`` with the true transpose (recurrent backprop)."""
        J = self.jacobian(state)
        return np.linalg.solve(np.swapaxes(J, 1, 2), np.asarray(rhs)[..., None])[..., 0]

    def mixed_vjp(self, state, lam):
        """``Σ_i λ_i ∂Φ_i/∂θ``: dict name → array of shape ``(batch, *shape)``."""
        s, rho, d1, _, _ = self._layers(state)
        L = self.n_layers
        out = {}
        for l in range(1, L + 1):
            e = -lam[:, self._slices[l - 1]] * d1[l - 1]          # −λ_l ρ′(s_l)
            below = state.x.astype(state.s.dtype) if l == 1 else rho[l - 2]
            out[f"W{l}"] = e[:, :, None] * below[:, None, :]
            out[f"b{l}"] = e
            if l < L:
                out[f"B{l + 1}"] = e[:, :, None] * rho[l][:, None, :]
        if self.tied:                       # B_{l+1} = W_{l+1}ᵀ: W_{l+1} also feeds back
            for l in range(2, L + 1):
                out[f"W{l}"] = out[f"W{l}"] + np.swapaxes(out.pop(f"B{l}"), 1, 2)
        return {k: out[k] for k in self.param_shapes}

    def jacobian_param_vjp(self, state, a, b):
        """``∂/∂θ (aᵀ J b)`` at fixed ``s``, ``a``, ``b``: dict name → ``(batch, *shape)``.

        Used by Jacobian homeostasis. Computed as the complex-step derivative
        ``Im mixed_vjp(s + i h b, a) / h`` (exact to round-off: ``Φ`` is holomorphic in ``s``
        and ``mixed_vjp`` is linear in ``a``).
        """
        h = 1e-30
        moved = state.replace(s=np.real(state.s) + 1j * h * b)
        g = self.mixed_vjp(moved, a.astype(complex))
        return {k: np.imag(v) / h for k, v in g.items()}


def check_relaxation_settings(gain, tol, max_iter, name="max_iter"):
    """Refuse a weight scale (None: checked by the caller), Newton tolerance or step budget
    (called ``name``) that cannot work."""
    if gain is not None and not (np.isfinite(gain) and gain > 0):
        raise ValueError(f"gain={gain!r} must be a finite number > 0")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol={tol!r} must be a finite number > 0")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) \
            or max_iter < 1:
        raise ValueError(f"{name}={max_iter!r} must be a positive integer")


def _take(state, index):
    """The samples ``index`` of a state (inputs, targets of a nudge and all)."""
    nudge = state.nudge
    if isinstance(nudge, Nudge):
        nudge = Nudge(nudge.cost, np.asarray(nudge.target)[index], nudge.beta)
    return State(s=state.s[index], x=state.x[index], nudge=nudge)


def _unstable(J):
    """Indices of the samples whose Jacobian has an eigenvalue with non-positive real part.

    ``Re λ ≥ λ_min((J + Jᵀ)/2)`` for every eigenvalue λ, so a sample whose symmetric part is
    positive definite (one Cholesky, several times cheaper than a non-symmetric eigenvalue
    problem) is stable; only the others need their eigenvalues.
    """
    sym = 0.5 * (J + np.swapaxes(J, 1, 2))
    unknown = []
    for b in range(len(J)):       # batched Cholesky would fail for the whole batch at once
        try:
            np.linalg.cholesky(sym[b])
        except np.linalg.LinAlgError:
            unknown.append(b)
    if not unknown:
        return np.array([], dtype=int)
    eig = np.linalg.eigvals(J[unknown])
    return np.asarray(unknown)[np.min(eig.real, axis=1) <= 0]


def _beta_text(nudge):
    """`` at beta=…`` for a soft nudge (error messages), '' for the free state."""
    if not isinstance(nudge, Nudge):
        return ""
    beta = nudge.beta
    return f" at beta={complex(beta):.6g}" if nudge.is_complex else f" at beta={float(beta):g}"
