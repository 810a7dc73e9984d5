"""Hamiltonian echo learning (RHEL) and its exact reference (BPTT) for trajectory systems.

The rule side of the seam for systems with the ``"echo"`` capability (time-reversible
Hamiltonian dynamics, :mod:`physlearn.systems.trajectory`): run the system forward, flip its
momenta, run it back with replayed inputs and a loss-gradient nudge of strength ``±ε``, and
contrast the local measurement ``∫ ∂H/∂θ dt`` of the two echoes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..costs import make_cost
from .base import Rule, check_choice, check_strength

_VARIANTS = {"centered": (1.0, -1.0), "one-sided": (1.0,)}
_MISS_FLOOR = 1e-8  # absolute miss (state units) below which an echo always counts as home


class EchoMissWarning(UserWarning):
    """The ±ε echoes of RHEL did not return to the flipped initial state: the trajectory is too
    chaotic for the echo at this time step and sequence length, and the gradient is unreliable."""


def echo_miss(result):
    """Per-sample miss of the centered echoes' midpoint and their response to the nudge.

    The echoes at ``±ε`` end at ``Σ_z S_0 ± ε dL/dS_0 + O(ε²)`` (even part ``O(ε²)``), and every
    block starts at rest, so the midpoint of the two final states must be the rest state and
    their half-difference is the echo's linear response.

    Returns
    -------
    miss, response : ndarray, shape (batch,)
        ``‖(S_+ + S_−)/2 − Σ_z S_0‖`` and ``‖(S_+ − S_−)/2‖`` over (q, p).
    """
    q, p = np.asarray(result.q), np.asarray(result.p)
    return (0.5 * np.sqrt(_squares(q[0] + q[1]) + _squares(p[0] + p[1])),
            0.5 * np.sqrt(_squares(q[0] - q[1]) + _squares(p[0] - p[1])))


def _squares(v):
    """``Σ v²`` over the last axis."""
    return np.einsum("...i,...i->...", v, v)


@dataclass
class EchoEstimate:
    """Per-sample output of :meth:`RHEL.estimate`.

    Attributes
    ----------
    params : dict
        ``dL/dθ`` estimates, name → ``(batch, *shape)``.
    inputs : ndarray or None
        ``dc_b/dx_b`` estimates, (batch, T, n_features).
    initial_state : tuple or None
        ``(dc/dq_0, dc/dp_0)`` of block 0, read from the final echo states alone.
    """

    params: dict
    inputs: np.ndarray = None
    initial_state: tuple = None


class RHEL(Rule):
    """Recurrent Hamiltonian echo learning: gradients from time-reversed, nudged echoes.

    Parameters
    ----------
    eps : float, default 1e-3
        Echo nudge strength ε > 0 (dimensionless: it multiplies the loss gradient, so the
        relevant scale is ε times the size of the adjoint, ``ε max_k ‖λ_k‖``).
    variant : {"centered", "one-sided"}, default "centered"
        Three passes (forward, echoes at ``±ε``; error ``O(ε²)``) or two passes (forward
        with read-outs, echo at ``+ε``; error ``O(ε)``).
    echo_tol : float or None, default 0.3
        Self-check of the centered echoes: the midpoint of the ``±ε`` echoes' final states must
        return to the flipped initial state (the end of the ``ε = 0`` echo) to within
        ``echo_tol`` times their half-difference (the echo's response to the nudge); a larger
        miss — a trajectory too chaotic for the echo at this time step and length, or ``ε`` too
        large — raises :class:`EchoMissWarning` with the measured miss. The square of the miss
        ratio is close to the relative error of the sample's gradient (the ``O(ε²)`` midpoint
        and the ``O(ε³)`` contrast error come from the same curvature), so 0.3 flags gradients
        off by about 10 % or more.
        It costs nothing (the two final states are computed anyway); None turns it off. The
        one-sided variant runs no second echo and is not checked.

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``eps`` not a finite positive real number, an unknown
        ``variant``, ``echo_tol`` neither None nor a finite positive ratio, or a system without
        the ``"echo"`` capability (friction, a non-symplectic kick, no trajectory).

    Warns
    -----
    EchoMissWarning
        When the centered echoes miss the flipped initial state by more than ``echo_tol``.

    Notes
    -----
    For a separable, time-reversal-invariant ``H = T(p) + V(q, u)`` integrated by leapfrog,
    the free run ends in ``S_K``. Each echo starts at ``(q_K, −p_K + ε ∂L/∂q_K)``, replays the
    inputs backwards, adds ``ε ∂L/∂q_k`` to the momenta after the step that mirrors ``S_k``,
    and integrates the half-step read-out ``∂H_{1/2}/∂θ`` (Pourcel & Ernoult 2025, Alg. 1,
    Cor. A.8). Then

    .. math::

        \\frac{dL}{dθ} ≈ −\\frac{1}{2ε}\\Big(\\int ∂_θH\\,dt\\Big|_{+ε}
                                          − \\int ∂_θH\\,dt\\Big|_{−ε}\\Big),

        \\frac{dL}{du_j} ≈ −\\frac{δ}{2ε}\\big(∂_uV_j\\big|_{+ε} − ∂_uV_j\\big|_{−ε}\\big),

        \\frac{dL}{dS_0} ≈ \\frac{1}{2ε}\\,Σ_x\\big(Φ^e_K(+ε) − Φ^e_K(−ε)\\big)

    (:math:`Σ_x` swaps positions and momenta),

    equal to backpropagation through time at every step in the limit ε → 0 (Thm. 3.2). When
    the loss is a quadratic function of a linear system (linear HRU, coupled springs), each
    echo is affine in ε and the estimate is exact for every ε. In a stack (HSSM) the input
    gradients of a block, pulled back through the coupling, nudge the echo of the block below
    (RHEL chaining, Thm. 3.3). Nothing of the trajectory is stored beyond the block inputs
    (and the per-step output errors of a trajectory readout).

    The echo retraces the run only for reversible dynamics: no friction, a symplectic
    (half-step) kick. Systems without these lack the ``"echo"`` capability and are refused.

    References
    ----------
    .. [1] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259.
    .. [2] V. López-Pastor, F. Marquardt, "Self-learning machines based on Hamiltonian echo
       backpropagation", Phys. Rev. X 13, 031020 (2023).

    Examples
    --------
    >>> import numpy as np, physlearn as pl
    >>> from physlearn.systems.hru import HRU
    >>> net = HRU(1, 8, 2, kind="linear", seed=0)
    >>> x, y = np.random.default_rng(0).normal(size=(4, 100, 1)), np.zeros((4, 2))
    >>> check = pl.gradient_check(net, RHEL(eps=1e-2), x, y)
    >>> check.total_relative_error < 1e-9
    True
    """

    requires = frozenset({"echo"})

    def __init__(self, eps: float = 1e-3, variant: str = "centered",
                 echo_tol: float | None = 0.3):
        self.eps = eps
        self.variant = variant
        self.echo_tol = echo_tol

    @property
    def bias_order(self):
        return 2 if self.variant == "centered" else 1

    def exact_on(self, system, cost=None):
        """Centered echoes on a linear system (``system.linear_dynamics``) under the squared
        error: each echo is affine in ε and the read-outs quadratic, so the centered contrast
        is exact at every ε (the one-sided one keeps an O(ε) term)."""
        from ..costs import SquaredError

        return (self.variant == "centered" and bool(getattr(system, "linear_dynamics", False))
                and isinstance(make_cost(cost), SquaredError))

    def nudges(self):
        """The echo nudge strengths: ``(ε, −ε)`` or ``(ε,)``."""
        eps = check_strength("eps", self.eps)
        signs = _VARIANTS[check_choice("variant", self.variant, _VARIANTS)]
        return np.array(signs) * eps

    def per_sample_gradient(self, system, x, y, cost):
        return self.estimate(system, x, y, cost, checked=True).params

    def input_gradient(self, system, x, y, cost=None):
        """Per-sample input gradients ``dc_b/dx_b``, shape (batch, T, n_features)."""
        return self.estimate(system, x, y, cost, want_inputs=True).inputs

    def estimate(self, system, x, y, cost=None, *, want_inputs=False, checked=False):
        """Per-sample echo estimates of parameter, input and initial-state gradients.

        Parameters
        ----------
        system : TrajectorySystem
        x, y : array_like
        cost : Cost, str or None
        want_inputs : bool
            Also estimate the input gradients of block 0 (stores ``T × n_features`` numbers).
        checked : bool
            ``x``, ``y`` and ``cost`` are already validated (and the system's capabilities).

        Returns
        -------
        EchoEstimate
        """
        if not checked:
            x = system.check_inputs(x)
            y = system.check_targets(y, x.shape[0])
            cost = make_cost(cost)
            self.check_system(system)
        eps = self.nudges()
        one_sided = len(eps) == 1
        run = system.run(x, y, cost, measure=one_sided, measure_inputs=one_sided and want_inputs)
        grads = dict(run.readout_grads)
        cot = run.cotangents
        inputs = initial = None
        for index in range(len(system.blocks()) - 1, -1, -1):
            need = index > 0 or want_inputs
            result = system.echo(run, index, cot, eps, want_inputs=need)
            if not one_sided:
                self._check_echo(system, index, result, x.shape[1])
            theta, du = self._contrast(system, run, index, result, eps, need)
            grads.update(theta)
            if index > 0:
                cot, coupling = system.pullback(run, index, du)
                grads.update(coupling)
            else:
                inputs = du
                initial = self._initial_state(run, result, eps)
        return EchoEstimate(system._complete(grads, x.shape[0]), inputs, initial)

    def _check_echo(self, system, index, result, n_steps):
        """Warn (:class:`EchoMissWarning`) when the ±ε echoes' midpoint misses the start."""
        tol = self.echo_tol
        if tol is None:
            return
        if not (np.isfinite(tol) and tol > 0):
            raise ValueError(f"echo_tol={tol!r} must be a finite positive ratio or None")
        miss, response = echo_miss(result)
        bad = ~(miss <= tol * response + _MISS_FLOOR)  # NaN counts as a miss
        if not np.any(bad):
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.nan_to_num(miss / response, nan=np.inf)
        worst = int(np.argmax(np.where(bad, ratios, -1.0)))
        ratio = ratios[worst]
        block = f" (block {index})" if len(system.blocks()) > 1 else ""
        warnings.warn(
            f"RHEL's echo{block} missed the flipped initial state: the midpoint of the ±ε "
            f"echoes ends {miss[worst]:.3g} from it, {ratio:.3g} times the echo's response to "
            f"the nudge ({response[worst]:.3g}; echo_tol={tol}), in {int(bad.sum())} of "
            f"{bad.size} samples. The trajectory is too chaotic for the echo at dt="
            f"{getattr(system, 'dt', None)} over {n_steps} steps (or eps={self.eps} is too "
            "large, or the dynamics are not reversible), so the gradient estimate is "
            "unreliable; use a smaller dt, shorter sequences or a smaller eps",
            EchoMissWarning, stacklevel=4)

    @staticmethod
    def _contrast(system, run, index, result, eps, need_inputs):
        """``−(m(+ε) − m(−ε)) / 2ε`` (centered) or ``−(m(+ε) − m(0)) / ε`` (one-sided)."""
        if len(eps) == 2:
            theta = {k: -(v[0] - v[1]) / (eps[0] - eps[1]) for k, v in result.measure.items()}
            du = None
            if need_inputs:
                du = -(result.measure_inputs[0] - result.measure_inputs[1]) / (eps[0] - eps[1])
            return theta, du
        free, free_u = system.free_measure(run, index)
        theta = {k: -(v[0] - free[k]) / eps[0] for k, v in result.measure.items()}
        du = -(result.measure_inputs[0] - free_u) / eps[0] if need_inputs else None
        return theta, du

    @staticmethod
    def _initial_state(run, result, eps):
        """HEB's identity: ``Σ_x`` of the final echo states' contrast is ``dL/dS_0``."""
        if len(eps) == 2:
            dq = (result.q[0] - result.q[1]) / (eps[0] - eps[1])
            dp = (result.p[0] - result.p[1]) / (eps[0] - eps[1])
        else:  # the ε = 0 echo ends at the flipped initial state, which is at rest
            dq, dp = result.q[0] / eps[0], result.p[0] / eps[0]
        return dp, dq


class BPTT(Rule):
    """Backpropagation through time: the exact gradient of a trajectory system, as a rule.

    Stores the whole trajectory (memory ``O(T)``); the reference RHEL is checked against, and
    a baseline for training comparisons. The rule has no hyperparameters.

    Raises
    ------
    ValueError
        From :meth:`gradient`, on a system without the ``"trajectory"`` capability.

    Notes
    -----
    The free run :math:`S_{k+1} = M(S_k, θ, u_k)` (one drift–kick–drift leapfrog step of
    :math:`H = T(p) + V(q, θ, u)`, :math:`S = (q, p)`) is stored, and the adjoint
    :math:`λ_k = dL/dS_k` is propagated backwards through the exact discrete map,

    .. math::

        λ_K = \\frac{∂ℓ_K}{∂S_K}, \\qquad
        λ_k = \\Big(\\frac{∂M}{∂S_k}\\Big)^{\\mathsf T} λ_{k+1} + \\frac{∂ℓ_k}{∂S_k}, \\qquad
        \\frac{dL}{dθ} = \\sum_k \\Big(\\frac{∂M}{∂θ}\\Big|_k\\Big)^{\\mathsf T} λ_{k+1},

    with :math:`ℓ_k` the loss read at step :math:`k` (only the last step for a final-state
    readout). It is the gradient of the discretised problem ("discretise, then optimise"),
    so RHEL matches it to :math:`O(ε^2)` without any time-step error.

    References
    ----------
    .. [1] P. J. Werbos, "Backpropagation through time: what it does and how to do it",
       Proc. IEEE 78, 1550–1560 (1990).
    .. [2] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259.
    """

    requires = frozenset({"trajectory"})
    bias_order = None
    is_reference = True

    def __init__(self) -> None:
        pass

    def per_sample_gradient(self, system, x, y, cost):
        return system.bptt(x, y, cost).params

    def input_gradient(self, system, x, y, cost=None):
        """Per-sample ``dc_b/dx_b`` (batch, T, n_features)."""
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        return system.bptt(x, y, make_cost(cost), want_inputs=True).inputs
