"""Difference target propagation with trained feedback weights (DTP with L-DRL), and backprop.

The digital baselines of the library, for systems with the ``"feedforward"`` capability
(:class:`physlearn.systems.feedforward.FeedforwardNetwork`): :class:`Backprop` is the exact
gradient as a rule; :class:`DTP` replaces the backward pass by targets sent down through
learned feedback maps, each layer learning locally to reach its own target (Ernoult et al.,
ICML 2022).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from ..costs import make_cost
from ..system import check_positive
from .base import Rule, check_strength
from .homeostasis import probe_seed

__all__ = ["DTP", "Backprop"]


class Backprop(Rule):
    """Backpropagation: the exact gradient of a feedforward network, as a rule.

    The reference DTP is compared with, and the baseline for training comparisons; it is
    ``system.exact_gradient`` (hand-written backprop), checked against finite differences of
    the loss by the contract suite. The rule has no hyperparameters.

    Raises
    ------
    ValueError
        From :meth:`gradient`, on a system without the ``"feedforward"`` capability.

    Notes
    -----
    For the layers :math:`h_i = f(a_i)`, :math:`a_i = W_i h_{i−1} + b_i`, the chain rule sends
    the error :math:`δ_N = f'(a_N) ⊙ ∂C/∂h_N` down by

    .. math::

        δ_{i−1} = f'(a_{i−1}) ⊙ W_i^{\\mathsf T} δ_i, \\qquad
        \\frac{∂L}{∂W_i} = δ_i\\, h_{i−1}^{\\mathsf T}, \\qquad \\frac{∂L}{∂b_i} = δ_i,

    which needs the transposed forward weights (weight transport) that DTP's learned feedback
    maps replace.

    References
    ----------
    .. [1] D. E. Rumelhart, G. E. Hinton, R. J. Williams, "Learning representations by
       back-propagating errors", Nature 323, 533–536 (1986).
    """

    requires = frozenset({"feedforward"})
    bias_order = None
    is_reference = True

    def __init__(self) -> None:
        pass

    def gradient(self, system, x, y, cost=None):
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        self.check_system(system)
        return system.exact_gradient(x, y, make_cost(cost))


def _per_layer(name, value, n, check):
    """``value`` (a number, or a sequence of one per feedback map) as a list of ``n`` checked
    numbers; a ValueError names the hyperparameter, the value and the expectation."""
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{name}={value!r} has {len(values)} entries but the network has {n} "
                         f"feedback maps (layers 2..{n + 1}): give one number or {n}")
    return [check(f"{name}[{k}]" if len(values) > 1 else name, v) for k, v in enumerate(values)]


def _count(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise ValueError(f"{name}={v!r} must be an integer >= 0 (feedback training steps per "
                         "mini-batch)")
    return int(v)


class DTP(Rule):
    """Difference target propagation with feedback weights trained by L-DRL.

    Parameters
    ----------
    beta : float, default 0.7
        Size of the first target step, ``t_N = h_N − β ∂C/∂h_N`` (per sample: the summed
        cross-entropy of a sample, not a batch mean), as the paper's ``β = 0.7``.
    feedback_iterations : int or sequence of int, default 20
        L-DRL steps of each feedback map per mini-batch, before the forward update (one
        number for every map, or one per map ``G_2 … G_N``); ``0`` uses the maps as they are.
    feedback_lr : float or sequence of float, default 0.05
        Learning rate of the feedback maps' plain SGD steps (their own, not the optimizer's).
    feedback_noise : float or sequence of float, default 0.1
        Standard deviation ``σ`` of the L-DRL perturbations (in units of the activities).
    feedback_samples : int, default 1
        Independent perturbations per sample in each L-DRL step (the paper's
        ``feedback_samples_per_iteration``): the step's loss is their mean, which lowers the
        noise of the feedback gradient (a ``B``-sample batch estimates an ``n_{i−1} × n_i``
        Jacobian mismatch from ``B × feedback_samples`` perturbations).
    seed : int, default 0
        Seed of the perturbations (see Notes: no random state is kept).

    Raises
    ------
    ValueError
        At construction: ``beta``, ``feedback_lr`` or ``feedback_noise`` not finite and
        positive, ``feedback_iterations`` not an integer >= 0, ``feedback_samples`` not an
        integer >= 1, ``seed`` not a non-negative integer. From :meth:`gradient`: a per-map
        sequence whose length is not the network's number of feedback maps, or a system
        without the ``"feedforward"`` and ``"feedback"`` capabilities.

    Notes
    -----
    **Targets.** A forward pass gives ``h_i = F_i(h_{i−1})``. The first target is
    ``t_N = h_N − β ∂C/∂h_N``; each feedback map ``G_i: h_i → h_{i−1}`` carries it down by
    the *difference correction*

    .. math::

        t_{i−1} = h_{i−1} + G_i(t_i) − G_i(h_i),

    which sends ``t_i = h_i`` to ``t_{i−1} = h_{i−1}`` whatever ``G_i`` is.

    **Forward update.** Each layer descends its own loss ``½‖h_i − t_i‖²`` (batch mean) in its
    own ``W_i, b_i`` with ``h_{i−1}`` and ``t_i`` held fixed (no gradient between layers):
    ``e_i = f′(a_i) ⊙ (h_i − t_i)``, ``ΔW_i ∝ e_i h_{i−1}ᵀ``. The rule returns these
    gradients **divided by β**, so that they compare with ``dL/dθ`` (sign convention: a
    gradient, which the optimizer descends); the feedback parameters' entries are zero.
    If every ``G_i`` is affine with Jacobian ``J_{F_i}ᵀ`` (linear layers with
    ``V_i = W_iᵀ``), ``t_{i−1} − h_{i−1} = −β ∂L/∂h_{i−1}`` exactly and the returned update
    *is* ``dL/dθ`` at every β. Otherwise it is biased (not an estimator of ``dL/dθ`` in a
    β-limit), so the rule claims no bias order.

    **Feedback training (L-DRL)**, layer by layer, before the forward update: with
    perturbations ``ε_x ~ N(0, σ²)`` of ``h_{i−1}`` and ``ε_y ~ N(0, σ²)`` of ``h_i``,
    ``feedback_iterations`` plain SGD steps on the batch mean of

    .. math::

        L_i = \\frac{1}{σ^2}\\Big(
              −2\\, ε_x^{\\mathsf T}\\big[G_i(F_i(h_{i−1} + ε_x)) − G_i(h_i)\\big]
              + ‖G_i(h_i + ε_y) − G_i(h_i)‖^2\\Big),

    whose expectation for small σ is ``‖J_{G_i} − J_{F_i}ᵀ‖²_F − ‖J_{F_i}‖²_F``: its minimum
    is the Jacobian matching ``J_{G_i} = J_{F_i}ᵀ`` that makes the targets backprop's (the
    paper's Theorems 4.2–4.3). Two choices differ from the paper's code: the loss is divided
    by σ² (the paper's is not), so that ``feedback_lr`` is a step size in units of the
    Jacobian mismatch whatever σ (a linear map converges at the rate ``2 feedback_lr`` per
    step) and the paper's learning rates correspond to ``feedback_lr = lr σ²``; and the
    feedback optimizer is plain SGD (the paper's has momentum 0.9), so that the rule keeps no
    optimizer state of its own that a checkpoint would miss.

    **Where the feedback weights live.** They are parameters of the network (``"V{i}"``,
    ``"c{i}"``, see :class:`~physlearn.systems.feedforward.FeedforwardNetwork`): the loss
    does not depend on them (exact gradient zero), and :meth:`gradient` trains them in place
    (``system.update_params``) before it computes the forward update. A training run's
    checkpoint therefore carries them, and a resumed run continues with them.
    :meth:`gradient` thus changes the system's feedback maps (by design); :meth:`estimate`
    is the forward update with the maps as they are, changing nothing.

    **Randomness without state.** The perturbations of a call are drawn from a generator
    seeded by ``seed``, the mini-batch and the current feedback weights
    (:func:`~physlearn.rules.homeostasis.probe_seed` of their bytes): fresh for every
    mini-batch and every step, yet the same system and batch always give the same result, so
    a resumed training run is bitwise equal to an uninterrupted one.

    Dimensionless: β, σ and the learning rates are pure numbers (activities are).

    References
    ----------
    .. [1] M. Ernoult, F. Normandin, A. Moudgil, S. Spinney, E. Belilovsky, I. Rish,
       B. Richards, Y. Bengio, "Towards scaling difference target propagation by learning
       backprop targets", ICML 2022, arXiv:2201.13415.
    .. [2] D.-H. Lee, S. Zhang, A. Fischer, Y. Bengio, "Difference target propagation",
       ECML PKDD 2015, arXiv:1412.7525.

    Examples
    --------
    >>> import numpy as np, physlearn as pl
    >>> from physlearn.systems.feedforward import FeedforwardNetwork
    >>> net = FeedforwardNetwork([3, 5, 4, 2], seed=0)
    >>> x, y = np.random.default_rng(0).normal(size=(8, 3)), np.eye(2)[[0, 1] * 4]
    >>> g = DTP(beta=0.1).gradient(net, x, y, "cross_entropy")
    >>> sorted(g) == sorted(net.params)
    True
    """

    requires = frozenset({"feedforward", "feedback"})
    bias_order = None

    def __init__(self, beta: float = 0.7, feedback_iterations: int | Sequence[int] = 20,
                 feedback_lr: float | Sequence[float] = 0.05,
                 feedback_noise: float | Sequence[float] = 0.1, feedback_samples: int = 1,
                 seed: int = 0):
        self.beta = beta
        self.feedback_iterations = feedback_iterations
        self.feedback_lr = feedback_lr
        self.feedback_noise = feedback_noise
        self.feedback_samples = feedback_samples
        self.seed = seed
        check_strength("beta", beta)
        for name, check in (("feedback_iterations", _count), ("feedback_lr", check_positive),
                            ("feedback_noise", check_positive)):
            value = getattr(self, name)      # entries checked now, their count per network
            n = len(value) if isinstance(value, (list, tuple, np.ndarray)) else 1
            _per_layer(name, value, n, check)
        if _count("feedback_samples", feedback_samples) < 1:
            raise ValueError(f"feedback_samples={feedback_samples!r} must be an integer >= 1 "
                             "(perturbations per sample and L-DRL step)")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")

    # -- the seam -----------------------------------------------------------------------------
    def gradient(self, system, x, y, cost=None):
        """Train the feedback maps on this batch (L-DRL, in place), then return the forward
        update divided by β (batch mean; zero for the feedback parameters)."""
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        self.check_system(system)
        self.train_feedback(system, x)
        return self._estimate(system, x, y, make_cost(cost))

    def estimate(self, system, x, y, cost=None):
        """The forward update divided by β with the feedback maps as they are (no feedback
        training; nothing changes): what :meth:`gradient` returns after its feedback step."""
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        self.check_system(system)
        return self._estimate(system, x, y, make_cost(cost))

    # -- targets and the forward update -------------------------------------------------------
    def targets(self, system, x, y, cost=None):
        """The activities ``[h_0 … h_N]``, pre-activations ``[a_1 … a_N]`` and targets
        ``{i: t_i}`` for ``i = 1 … N`` (difference correction through the feedback maps)."""
        cost = make_cost(cost)
        hs, pre = system.forward(x)
        beta = check_strength("beta", self.beta)
        t = {system.n_layers: hs[-1] - beta * cost.gradient(hs[-1], y)}
        for i in range(system.n_layers, 1, -1):
            t[i - 1] = (hs[i - 1] + system.feedback_map(i, t[i])[1]
                        - system.feedback_map(i, hs[i])[1])
        return hs, pre, t

    def _estimate(self, system, x, y, cost):
        hs, pre, t = self.targets(system, x, y, cost)
        scale = 1.0 / (float(self.beta) * x.shape[0])
        grads = {}
        for i in range(1, system.n_layers + 1):
            _, g = system.layer_backward(i, hs[i - 1], pre[i - 1], hs[i] - t[i])
            grads.update({k: v * scale for k, v in g.items()})
        for name in system.feedback_names:
            grads[name] = np.zeros(system.param_shapes[name])
        return {name: grads[name] for name in system.param_shapes}

    # -- feedback training --------------------------------------------------------------------
    def _schedule(self, system):
        n = len(system.feedback_layers)
        return zip(system.feedback_layers,
                   _per_layer("feedback_iterations", self.feedback_iterations, n, _count),
                   _per_layer("feedback_lr", self.feedback_lr, n, check_positive),
                   _per_layer("feedback_noise", self.feedback_noise, n, check_positive))

    def noise_generator(self, system, x):
        """The generator of this call's perturbations: seeded by ``seed``, the batch ``x`` and
        the current feedback weights (no state of its own)."""
        state = [np.asarray(x, dtype=float).ravel()]
        state += [np.asarray(system.params[k]).ravel() for k in system.feedback_names]
        return np.random.default_rng(probe_seed(self.seed, np.concatenate(state)))

    def feedback_loss(self, system, i, h_prev, h, eps_x, eps_y, sigma):
        """The L-DRL loss of ``G_i`` per unit noise variance (batch mean, divided by
        ``sigma²``) and its gradient in ``V_i``, ``c_i``, for given perturbations ``eps_x`` of
        ``h_prev = h_{i−1}`` and ``eps_y`` of ``h = h_i``."""
        batch, norm = h.shape[0], h.shape[0] * sigma ** 2
        y_noise = system.layer(i, h_prev + eps_x)[1]
        z = np.concatenate([h, y_noise, h + eps_y])
        u, r = system.feedback_map(i, z)
        r0, rx, ry = r[:batch], r[batch:2 * batch], r[2 * batch:]
        loss = (np.sum(-2.0 * eps_x * (rx - r0)) + np.sum((ry - r0) ** 2)) / norm
        dr = np.concatenate([2.0 * eps_x - 2.0 * (ry - r0), -2.0 * eps_x, 2.0 * (ry - r0)])
        grads = system.feedback_backward(i, z, u, dr / norm)
        return loss, grads

    def train_feedback(self, system, x):
        """L-DRL on every feedback map, layer by layer, in place; returns ``{i: loss}``, the
        loss of ``G_i`` at its last step (None where it took no step).

        ``x`` are checked inputs. The maps are written back by ``system.update_params``.
        """
        rng = self.noise_generator(system, x)
        hs, _ = system.forward(np.tile(x, (int(self.feedback_samples), 1)))
        params = system.params.copy()
        losses = {}
        for i, iterations, lr, sigma in self._schedule(system):
            losses[i] = None
            for _ in range(iterations):
                eps_x = sigma * rng.standard_normal(hs[i - 1].shape)
                eps_y = sigma * rng.standard_normal(hs[i].shape)
                losses[i], g = self.feedback_loss(system, i, hs[i - 1], hs[i], eps_x, eps_y,
                                                  sigma)
                for k, v in g.items():
                    params[k] = params[k] - lr * v
                system.update_params(params)
        return losses
