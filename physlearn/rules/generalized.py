"""Generalized equilibrium propagation for vector-field systems (no energy required)."""

from __future__ import annotations

import numpy as np

from ..nudges import Nudge
from .base import Rule, check_strength
from .holomorphic import cauchy_nudges, check_circle, check_contour, relax_on_circle


class GeneralizedEP(Rule):
    """Generalized EP: estimate ``ds*/dβ`` from nudged fixed points, contract with ``∂Φ/∂θ``.

    Parameters
    ----------
    beta : float, default 0.1
        Nudge strength (``points`` ≤ 2) or radius of the circle of complex nudges
        (``points`` ≥ 3).
    points : int, default 2
        ``1``: one-sided difference ``(s_β − s_0)/β`` (error O(β)); ``2``: centered
        ``(s_β − s_{−β})/2β`` (O(β²)); ``N ≥ 3``: Cauchy estimate
        ``(1/N) Σ_k (s_{β_k} − s_0)/β_k`` on ``β_k = β e^{2πik/N}`` (O(β^N); needs a
        holomorphic system, ``"complex"``).
    homeostasis : float, default 0.0
        Coefficient λ of the Jacobian-homeostasis gradient added to the estimate,
        ``ĝ + λ ∂L_homeo/∂θ`` (:func:`physlearn.rules.homeostasis.homeostatic_gradient`).
    samples : int or None, default 5
        Gaussian probes per sample for the homeostatic gradient (``None``: exact).
    seed : int, default 0
        Seed of the probes. The same probes are drawn at every call, so the rule has no
        random state of its own (training runs resume bitwise).

    Notes
    -----
    With the generalized force ``Φ = −F`` (``∂E/∂s`` when an energy exists) and
    ``J = ∂Φ/∂s`` at the free fixed point, the nudged fixed point ``Φ + β ∂C/∂s = 0`` moves
    at the rate ``ds*/dβ = −J⁻¹ ∂C/∂s``. The estimate is the vector–Jacobian product at the
    free state (physlearn's sign convention; Laborieux & Zenke nudge with ``+β`` and omit the
    sign)

        ĝ = (∂Φ/∂θ)ᵀ ds*/dβ = −(∂Φ/∂θ)ᵀ J⁻¹ ∂C/∂s,

    while the true gradient is ``dL/dθ = −(∂Φ/∂θ)ᵀ J⁻ᵀ ∂C/∂s``. Their difference

        ĝ − dL/dθ = −(∂Φ/∂θ)ᵀ (J⁻¹ − J⁻ᵀ) ∂C/∂s = −(∂Φ/∂θ)ᵀ J⁻¹ (Jᵀ − J) J⁻ᵀ ∂C/∂s

    is driven by the antisymmetric part ``J − Jᵀ`` and does not vanish as β → 0; the finite
    nudge adds a second, β-dependent bias that the centered and Cauchy estimates remove to
    O(β²) and O(β^N). For a symmetric network (an energy, ``J = Jᵀ``) ĝ is exactly EP's
    estimate ``d/dβ ∂E/∂θ`` and converges to the gradient. Jacobian homeostasis
    (``homeostasis > 0``) descends ``½‖J − Jᵀ‖²_F`` alongside the task, shrinking the first
    bias during training.

    A nudged fixed point that does not exist (Newton fails, or its Jacobian is singular)
    raises :class:`~physlearn.ConvergenceError` naming the β of the failed nudge (for the
    Cauchy estimate: a failed contour, the circle reaching a singularity of ``s*(β)``).

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    .. [2] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """

    def __init__(self, beta=0.1, points=2, homeostasis=0.0, samples=5, seed=0):
        self.beta = beta
        self.points = points
        self.homeostasis = homeostasis
        self.samples = samples
        self.seed = seed

    @property
    def requires(self):
        need = {"vector_field"}
        if self._points() >= 3:
            need.add("complex")
        return frozenset(need)

    @property
    def bias_order(self):
        """``points`` (the order of the nudge bias, exact for a symmetric network); None with
        homeostasis: the estimate then adds ``λ ∂L_homeo/∂θ`` and is not one of ``dL/dθ``."""
        if float(self.homeostasis) > 0:
            return None
        return self._points()

    def _points(self):
        n = self.points
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"points={n!r} must be a positive integer")
        return int(n)

    def nudge_points(self):
        """``(β_k, weight_k)`` whose weighted sum ``Σ w_k (s(β_k) − s₀)`` gives ``ds/dβ``
        (the N-point Cauchy estimate, conjugate pairs folded; N = 1, 2: finite differences)."""
        n = self._points()
        return [(beta, fold / (n * beta))
                for beta, fold in cauchy_nudges(check_strength("beta", self.beta), n)]

    def state_derivative(self, system, x, y, cost, free=None):
        """The estimate of ``ds*/dβ`` at β = 0, shape (batch, n_state), real."""
        free = system.equilibrium(x) if free is None else free
        radius = check_circle(self, system, x, y, cost)
        ds = np.zeros(free.s.shape)
        moves = []
        for beta, weight in self.nudge_points():
            nudged = relax_on_circle(self, system, x, Nudge(cost, y, beta), free, radius)
            moves.append(nudged.s - free.s)
            ds += np.real(weight * (nudged.s - free.s))
        if radius is None:
            check_contour(self, moves, self._points())
        return ds

    def per_sample_gradient(self, system, x, y, cost):
        lam = float(self.homeostasis)
        if not np.isfinite(lam) or lam < 0:
            raise ValueError(f"homeostasis={self.homeostasis!r} must be a finite number >= 0")
        free = system.equilibrium(x)
        ds = self.state_derivative(system, x, y, cost, free)
        g = {k: np.real(v) for k, v in system.mixed_vjp(free, ds).items()}
        if lam > 0:
            from .homeostasis import homeostatic_gradient

            h = homeostatic_gradient(system, free, samples=self.samples, seed=self.seed)
            g = {k: g[k] + lam * h[k] for k in g}
        return g
