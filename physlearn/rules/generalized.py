"""Generalized equilibrium propagation for vector-field systems (no energy required)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..nudges import Nudge
from .base import Rule, check_strength
from .holomorphic import cauchy_nudges, check_circle, check_contour, relax_on_circle

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..costs import Cost
    from ..system import EquilibriumSystem


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
        ``ĝ + λ ∂L_homeo/∂θ`` (:func:`physlearn.rules.homeostasis.homeostatic_gradient`),
        with the homeostatic loss per unit of the state, ``½‖J − Jᵀ‖²_F / n``, as
        Laborieux & Zenke (2024): λ = 0.1 … 1 as in their runs, whatever the network's size.
    samples : int or None, default 5
        Gaussian probes per sample for the homeostatic gradient (``None``: exact).
    seed : int, default 0
        Seed of the probes. Every sample gets its own probes, fresh for every mini-batch
        (the generator is seeded by ``seed`` and the batch's inputs,
        :func:`~physlearn.rules.homeostasis.probe_seed`), as the paper draws new ones at
        every step; the same call always gives the same estimate, so the rule has no random
        state of its own (training runs resume bitwise).

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``beta`` not a finite positive real number, ``points`` not a
        positive integer, ``homeostasis`` negative or not finite, a Cauchy circle at or beyond
        the system's radius of convergence, or a system without the ``"vector_field"`` (and,
        for ``points ≥ 3``, ``"complex"``) capability.
    ConvergenceError
        If a nudged fixed point does not exist (see Notes).

    Notes
    -----
    With the generalized force ``Φ = −F`` (``∂E/∂s`` when an energy exists) and
    ``J = ∂Φ/∂s`` at the free fixed point, the nudged fixed point ``Φ + β ∂C/∂s = 0`` moves
    at the rate ``ds*/dβ = −J⁻¹ ∂C/∂s``. The estimate is the vector–Jacobian product at the
    free state (physlearn's sign convention; Laborieux & Zenke nudge with ``+β`` and omit the
    sign)

    .. math::

        \\hat g = \\Big(\\frac{∂Φ}{∂θ}\\Big)^{\\mathsf T} \\frac{ds^*}{dβ}
        = −\\Big(\\frac{∂Φ}{∂θ}\\Big)^{\\mathsf T} J^{-1} \\frac{∂C}{∂s},

    while the true gradient is
    :math:`dL/dθ = −(∂Φ/∂θ)^{\\mathsf T} J^{-\\mathsf T}\\, ∂C/∂s`. Their difference

    .. math::

        \\hat g − \\frac{dL}{dθ}
        = −\\Big(\\frac{∂Φ}{∂θ}\\Big)^{\\mathsf T} \\big(J^{-1} − J^{-\\mathsf T}\\big)
          \\frac{∂C}{∂s}
        = −\\Big(\\frac{∂Φ}{∂θ}\\Big)^{\\mathsf T} J^{-1} \\big(J^{\\mathsf T} − J\\big)
          J^{-\\mathsf T} \\frac{∂C}{∂s}

    is driven by the antisymmetric part ``J − Jᵀ`` and does not vanish as β → 0; the finite
    nudge adds a second, β-dependent bias that the centered and Cauchy estimates remove to
    O(β²) and O(β^N). For a symmetric network (an energy, ``J = Jᵀ``) ĝ is exactly EP's
    estimate ``d/dβ ∂E/∂θ`` and converges to the gradient. Jacobian homeostasis
    (``homeostasis > 0``) descends ``½‖J − Jᵀ‖²_F`` alongside the task, shrinking the first
    bias during training.

    A nudged fixed point that does not exist (Newton fails, or its Jacobian is singular)
    raises :class:`~physlearn.ConvergenceError` naming the β of the failed nudge (for the
    Cauchy estimate: a failed contour, the circle reaching a singularity of ``s*(β)``); the
    training loop records such a batch and does not train on it. With Cauchy points
    (``points ≥ 3``) the circle is first checked against the system's
    :meth:`~physlearn.System.nudge_radius` (for a vector-field network a first-order estimate
    of the radius of convergence of ``s*(β)``): ``beta`` at or beyond it is refused with a
    ``ValueError`` naming both (:func:`~physlearn.rules.holomorphic.check_circle`). Real
    nudges (``points ≤ 2``) need no series in β, only the two fixed points, and are checked
    by their relaxation alone.

    :func:`error_alignment` measures the bias where it arises, on the neuronal error vectors
    (the estimated ``ds*/dβ`` against recurrent backprop's ``−J⁻ᵀ ∂C/∂s``), layer by layer.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    .. [2] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """

    def __init__(self, beta: float = 0.1, points: int = 2, homeostasis: float = 0.0,
                 samples: int | None = 5, seed: int = 0):
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
        radius = check_circle(self, system, x, y, cost, free) if self._points() >= 3 else None
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
            from .homeostasis import homeostatic_gradient, probe_seed

            h = homeostatic_gradient(system, free, samples=self.samples,
                                     seed=probe_seed(self.seed, x))
            g = {k: g[k] + lam * h[k] for k in g}
        return g


def _cosines(a, b):
    """Per-row cosine of two (batch, m) arrays; 0 where either row vanishes (as ``nan → 0``)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.sum(a * b, axis=1) / (na * nb)
    return np.where(np.isfinite(c), c, 0.0)


def error_alignment(system: EquilibriumSystem, x: ArrayLike, y: ArrayLike,
                    cost: Cost | str | None = None, beta: float | None = 0.01, points: int = 2,
                    per_sample: bool = False) -> dict:
    """Cosine between generalized EP's and recurrent backprop's neuronal errors, per layer.

    Parameters
    ----------
    system : VectorFieldNetwork
        Needs ``jacobian``, ``adjoint``, ``output_vjp`` and ``layer_slices`` (hidden layers
        first, output layer last).
    x : array_like, shape (batch, n_in)
    y : array_like, shape (batch, n_out)
    cost : Cost, str or None
        None: squared error.
    beta : float or None, default 0.01
        Nudge of the :class:`GeneralizedEP` estimate of ``ds*/dβ`` (with ``points``); None:
        the exact ``ds*/dβ = −J⁻¹ ∂C/∂s`` (Laborieux & Zenke's ``N = 0``, no nudge bias: the
        cosine then measures the ``J⁻¹`` vs ``J⁻ᵀ`` bias alone).
    points : int, default 2
        Nudge points of the estimate (:class:`GeneralizedEP`).
    per_sample : bool, default False
        Also return the per-sample cosines (under ``"samples"``: name → (batch,)).

    Returns
    -------
    dict
        ``"hidden_1" … "hidden_{L−1}"`` and ``"output"``: the batch mean of the per-sample
        cosine on that layer's units; ``"hidden"``: the same over all hidden units pooled;
        ``"all"``: over every unit. Each also with a ``"_std"`` suffix (batch standard
        deviation). Cosines are dimensionless, in ``[−1, 1]``.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is malformed, ``cost`` is not a cost, or the nudge settings are
        invalid (as for :class:`GeneralizedEP`).
    ConvergenceError
        If the free or a nudged fixed point does not exist.

    Notes
    -----
    A nudge moves the fixed point at the rate ``ds*/dβ = −J⁻¹ ∂C/∂s`` (what generalized EP
    measures); recurrent backprop's error is the adjoint ``δ = −J⁻ᵀ ∂C/∂s`` (physlearn's
    sign convention, ``Φ = −F``: Laborieux & Zenke's ``δ`` and ``du/dβ`` are both of the
    opposite sign, which leaves the cosine unchanged). The parameter gradients are
    ``(∂Φ/∂θ)ᵀ`` of these vectors, so their cosine, layer by layer, is where the
    ``J − Jᵀ`` bias shows. As in the paper the cosine is taken per sample and per layer and
    averaged over the batch.

    The output layer is aligned by construction: the cost acts on it directly, so both
    vectors start there with ``∂C/∂o`` (for an output-only cost the leading term of both is
    ``−∂C/∂o`` on the outputs), and pooled cosines over all units are dominated by it (an
    untrained 64-32-10 net on 32 digits at α = 90°: 0.96 on the outputs, 0.73 over all
    units, −0.07 on the hidden layer; at α = 0 all are 1). The hidden layers, reached only
    through the feedback weights ``B`` in ``J⁻¹`` and the forward weights ``W`` in ``J⁻ᵀ``,
    measure the alignment; homeostasis should raise them.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    """
    from ..costs import make_cost

    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    free = system.equilibrium(x)
    g = system.output_vjp(free, cost.gradient(system.outputs(free), y))
    delta = -np.real(system.adjoint(free, g))
    if beta is None:
        ds = -np.linalg.solve(np.real(system.jacobian(free)), g[..., None])[..., 0]
    else:
        ds = GeneralizedEP(beta=beta, points=points).state_derivative(system, x, y, cost, free)
    slices = list(system.layer_slices)
    groups = {f"hidden_{i + 1}": sl for i, sl in enumerate(slices[:-1])}
    groups["output"] = slices[-1]
    if len(slices) > 1:
        groups["hidden"] = np.r_[tuple(slices[:-1])]
    groups["all"] = slice(None)
    out, samples = {}, {}
    for name, sl in groups.items():
        c = _cosines(ds[:, sl], delta[:, sl])
        samples[name] = c
        out[name] = float(np.mean(c))
        out[name + "_std"] = float(np.std(c))
    if per_sample:
        out["samples"] = samples
    return out
