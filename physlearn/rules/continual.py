"""Continual equilibrium propagation: the parameters move at every step of the nudged phase."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..costs import make_cost
from ..nudges import Nudge
from ..system import ConvergenceError, batch_mean, check_positive
from .base import Rule, check_choice, check_strength, contrast

_SIGNS = {"positive": 1.0, "negative": -1.0}


@dataclass
class ContinualRun:
    """What one continual-EP pass did (:meth:`ContinualEP.run`).

    Attributes
    ----------
    gradient : dict
        The accumulated update divided by ``−lr``: ``Σ_t c_t`` with the per-step contrasts
        ``c_t = (∂E/∂θ(s_{t+1}) − ∂E/∂θ(s_t)) / β`` (batch means), keys of ``system.params``.
    params : dict
        The parameters the online updates reached, ``θ_0 − lr · gradient`` (projected onto
        the system's bounds, as every update is).
    steps : int
        Nudged steps taken until the dynamics converged.
    residual : float
        ``max |residual|`` of the last state at the last parameters (below the tolerance).
    updates : list of dict
        The per-step contrasts ``c_t`` (``θ_{t+1} − θ_t = −lr c_t``), in order (empty unless
        recorded).
    """

    gradient: dict
    params: dict
    steps: int
    residual: float
    updates: list


class ContinualEP(Rule):
    """Continual equilibrium propagation (C-EP): a local update at every nudged step.

    Parameters
    ----------
    beta : float, default 0.1
        Nudge strength β > 0 of the second phase (dimensionless, in units of the energy per
        unit cost).
    lr : float, default 0.01
        Learning rate η > 0 of the online updates (dimensionless). The deviation from EP at the
        same β is O(η/β), so η must be small against β (the papers: about a tenth of EP's).
    max_steps : int, default 1000
        Largest number of nudged steps; a nudged phase that has not converged by then raises
        :class:`~physlearn.ConvergenceError`.
    variant : {"positive", "negative"}, default "positive"
        Nudge ``+β`` or ``−β`` (the contrast is divided by the signed β); the bias is O(β)
        either way. A centered variant would need two nudged phases moving the same θ, which
        the rule does not define.
    tol : float or None, default None
        Convergence of the nudged dynamics: ``max |system.residual(s_t)|`` at the current
        parameters (the projected gradient of ``E + βC`` for the hard sigmoid) below ``tol``;
        None: the system's own relaxation tolerance ``system.tol``.

    Raises
    ------
    ValueError
        From :meth:`gradient` and :meth:`run`: ``beta`` or ``lr`` not finite and positive,
        ``max_steps`` not a positive integer, an unknown ``variant``, ``tol=None`` on a system
        without a tolerance, or a system without the ``"step"`` capability.
    ConvergenceError
        If the nudged phase has not converged within ``max_steps`` steps.

    Notes
    -----
    **The rule** (Ernoult et al. 2020). The free phase relaxes to the minimum ``s_0`` of
    ``E(θ_0, x, s)``. The nudged phase then runs the system's own relaxation dynamics of
    ``E + βC`` one step at a time (``system.step``, capability ``"step"``), from ``s_0``; after
    every step ``s_t → s_{t+1}`` the parameters move by the local rule

    .. math::

        θ_{t+1} = θ_t − \\frac{η}{β}\\Big[\\frac{∂E}{∂θ}(s_{t+1}) − \\frac{∂E}{∂θ}(s_t)\\Big],

    and the next step runs at ``θ_{t+1}``. Each measurement ``∂E/∂θ(s_t)`` is taken right after
    the step that reached ``s_t`` (at the parameters that step ran with) and serves both
    contrasts it enters, so the contrasts telescope exactly. The whole batch shares θ: each
    contrast is the batch mean. The phase ends when the residual of ``E + βC`` at the current
    parameters falls below ``tol``: then the state no longer moves, nor does θ.

    **What it returns.** :meth:`gradient` gives the accumulated update divided by ``−η``,
    ``ĝ = Σ_t (∂E/∂θ(s_{t+1}) − ∂E/∂θ(s_t))/β``, with EP's sign convention (``E + βC``
    minimised), so ``physlearn.train`` with ``SGD(lr=η)`` makes exactly the online updates:
    one SGD step ``θ_0 − η ĝ`` is the θ the nudged phase reached (:meth:`run` reports it).

    **Telescoping and the limit η → 0.** At η = 0 the nudged trajectory is EP's and
    ``ĝ = (∂E/∂θ(s_β) − ∂E/∂θ(s_0))/β``, the positive-EP estimate (O(β) from ``dL/dθ``).
    At η > 0 the parameters drift by O(η) during the phase, which moves the states the
    contrasts read by O(η): ``ĝ − ĝ_EP = O(η/β)`` (Ernoult et al.'s pitfall: the learning
    rate must be about ten times smaller than EP's). The drift feeds back on itself (with
    ``∂E/∂W = −ρ(s_l) a_{l−1}ᵀ``, a weight that grows correlates its units more, which grows
    it further), with a gain of order ``η ⟨a·a′⟩/β`` for a layer whose inputs ``a`` overlap by
    ``⟨a·a′⟩`` across the batch; as that gain approaches one the estimate leaves EP's.

    **Theorem 1** (Ernoult et al. 2020). With the free phase at its steady state and dynamics
    that derive from the energy, as η → 0 and then β → 0 each update follows the gradient
    of backpropagation through time, ``(θ_{t+1} − θ_t)/η → −∇_θ^BPTT(t)``: the sum of the first
    ``t`` contrasts tends to the gradient of the loss backpropagated through ``t`` steps of the
    same dynamics from the steady state (for the hard-sigmoid network with synchronous sweeps,
    :meth:`~physlearn.systems.hopfield.HopfieldNetwork.truncated_bptt` with ``steps=t``).

    Parameter bounds: every online update is projected onto the system's ``param_bounds``
    (``update_params``), as a device saturates; ``ĝ`` is the unprojected sum. The system's
    parameters are restored on return, also on error.

    References
    ----------
    .. [1] M. Ernoult, J. Grollier, D. Querlioz, Y. Bengio, B. Scellier, "Equilibrium
       propagation with continual weight updates", arXiv:2005.04168 (2020).
    .. [2] M. Ernoult, J. Grollier, D. Querlioz, Y. Bengio, B. Scellier, "Updates of
       equilibrium prop match gradients of backprop through time in an RNN with static
       input", NeurIPS 2019, arXiv:1905.13633.

    Examples
    --------
    >>> import numpy as np
    >>> import physlearn as pl
    >>> from physlearn.systems.hopfield import HopfieldNetwork
    >>> net = HopfieldNetwork([3, 5, 2], seed=0)
    >>> x, y = np.ones((2, 3)), np.full((2, 2), 0.5)
    >>> g = pl.ContinualEP(beta=0.01, lr=1e-8).gradient(net, x, y)
    >>> ep = pl.EP(beta=0.01, variant="positive").gradient(net, x, y)
    >>> bool(max(np.abs(g[k] - ep[k]).max() for k in g) < 1e-5)
    True
    """

    requires = frozenset({"soft_nudge", "step"})
    bias_order = 1

    def __init__(self, beta: float = 0.1, lr: float = 0.01, max_steps: int = 1000,
                 variant: str = "positive", tol: float | None = None):
        self.beta = beta
        self.lr = lr
        self.max_steps = max_steps
        self.variant = variant
        self.tol = tol

    def settings(self, system):
        """The checked ``(signed β, η, max_steps, tol)`` for ``system``."""
        beta = check_strength("beta", self.beta)
        sign = _SIGNS[check_choice("variant", self.variant, _SIGNS)]
        lr = check_strength("lr", self.lr)
        steps = self.max_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"max_steps={steps!r} must be a positive integer")
        tol = self.tol if self.tol is not None else getattr(system, "tol", None)
        if tol is None:
            raise ValueError(f"tol=None needs a system with a relaxation tolerance 'tol'; "
                             f"{type(system).__name__} has none: give tol")
        return sign * beta, lr, int(steps), check_positive("tol", tol)

    def gradient(self, system, x, y, cost=None):
        """The accumulated C-EP update divided by ``−lr`` (see Notes), batch mean."""
        return self.run(system, x, y, cost, record=False).gradient

    def run(self, system, x, y, cost=None, record=True):
        """One free phase and one continual nudged phase; the parameters are restored after.

        ``record=False`` keeps no per-step contrasts (``updates`` empty), as in training.

        Returns
        -------
        ContinualRun
            The estimate, the online parameters reached, the steps, the final residual and the
            per-step contrasts.

        Raises
        ------
        ConvergenceError
            If the nudged dynamics have not converged within ``max_steps`` steps (the message
            gives the residual reached), or the free phase does not converge.
        """
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        self.check_system(system)
        beta, lr, max_steps, tol = self.settings(system)
        cost = make_cost(cost)
        original = system._params
        try:
            state = system.equilibrium(x).replace(nudge=Nudge(cost, y, beta))
            measured = batch_mean(system.param_gradient(state))
            total = {k: np.zeros(np.shape(v)) for k, v in original.items()}
            updates, steps = [], 0
            for _ in range(max_steps):
                state = system.step(state)
                new = batch_mean(system.param_gradient(state))
                update = contrast(new, measured, beta)
                steps += 1
                if record:
                    updates.append(update)
                total = {k: total[k] + update[k] for k in total}
                system.update_params({k: original[k] - lr * total[k] for k in total})
                measured = new
                residual = float(np.max(np.abs(system.residual(state))))
                if residual < tol:
                    break
            else:
                raise ConvergenceError(
                    f"{type(self).__name__}: the nudged phase (beta={beta:g}, lr={lr:g}) did not "
                    f"converge within max_steps={max_steps} steps: residual max|dF/ds| = "
                    f"{residual:.3e} at the current parameters (tol={tol:g}); raise max_steps "
                    "or lower lr")
            reached = {k: np.array(v, copy=True) for k, v in system._params.items()}
        finally:
            system._params = original
        return ContinualRun(total, reached, steps, residual, updates)
