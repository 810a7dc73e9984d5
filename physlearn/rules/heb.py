"""Hamiltonian echo backpropagation (HEB): a machine that learns by its own dynamics.

The weights of a self-learning machine are the positions of heavy degrees of freedom inside the
same Hamiltonian system as the signal (:class:`physlearn.systems.self_learning.
SelfLearningMachine`). One learning cycle is purely physical:

1. evolve the machine for a time ``T`` from the input and the current weights (momenta zero);
2. *error injection*: a brief evolution under ``η C`` kicks the output momenta by ``−η ∂C/∂ψ``;
3. flip every momentum (time reversal);
4. evolve again for ``T`` under the same ``H``;
5. flip again: the machine is back at its start except for a kick ``p_w ≈ −η ∂C/∂w`` on the
   weights (and a spurious shift ``δw ≈ η ∂C/∂p_w``);
6. *decay*: friction turns the kick into a displacement, ``w ← w + κ p_w / m`` with
   ``κ = 1 − e^{−γ}``: a gradient step of rate ``η κ / m``.

"Averaged HEB" repeats the cycle with ``(−η, −m)`` from the same start: the gradient step keeps
its sign while the spurious shift flips, and the sum cancels it.
"""

from __future__ import annotations

import warnings

import numpy as np

from .base import Rule, check_choice, check_strength
from .echo import EchoMissWarning

ECHO_TOL = 0.3  # as RHEL's default echo_tol

_VARIANTS = ("simple", "averaged")


def heb_displacement(machine, x, y, cost, eta, mass, friction):
    """Per-sample change of the weights after one physical HEB cycle (steps 1–6).

    Parameters
    ----------
    machine : SelfLearningMachine
    eta : float
        Error-injection strength (may be negative for the averaged variant).
    mass : float
        Decay mass ``m`` (may be negative): sets the learning rate ``η κ / m``.
    friction : float
        ``γ`` of the decay step.

    Returns
    -------
    ndarray, shape (batch, n_weights)
    """
    q, p = machine.echo_cycle(x, y, cost, eta)
    return _shift(machine, q, p, mass, friction)


def _shift(machine, q, p, mass, friction):
    n = machine.n_oscillators
    kappa = 1.0 - np.exp(-friction)
    return (q[:, n:] - machine.params["w"]) + kappa * p[:, n:] / mass


def check_heb_echo(machine, x, plus, minus):
    """Warn (:class:`~physlearn.rules.echo.EchoMissWarning`) when the midpoint of the ``±η``
    cycles' final states misses the initial state by more than ``ECHO_TOL`` times their
    half-difference (the cycle's response to the error injection)."""
    q0, p0 = machine.initial_state(x)
    mid = np.concatenate([(plus[0] + minus[0]) / 2 - q0, (plus[1] + minus[1]) / 2 - p0], -1)
    half = np.concatenate([plus[0] - minus[0], plus[1] - minus[1]], -1) / 2
    miss, response = np.linalg.norm(mid, axis=-1), np.linalg.norm(half, axis=-1)
    bad = ~(miss <= ECHO_TOL * response + 1e-8)
    if np.any(bad):
        worst = int(np.argmax(np.where(bad, miss - ECHO_TOL * response, -np.inf)))
        warnings.warn(
            f"HEB's echo missed the initial state: the midpoint of the ±eta cycles ends "
            f"{miss[worst]:.3g} from it against a response of {response[worst]:.3g} "
            f"(tolerance {ECHO_TOL} times it), in {int(bad.sum())} of {bad.size} samples; "
            f"the dynamics are too chaotic for the echo at dt={machine.scheme.dt} over "
            f"{machine.n_steps} steps (or eta is too large): the gradient is unreliable",
            EchoMissWarning, stacklevel=4)


class HEB(Rule):
    """Hamiltonian echo backpropagation, as the gradient a self-learning machine applies.

    Parameters
    ----------
    eta : float, default 1e-3
        Error-injection strength η > 0 (dimensionless nudge of the output momenta).
    mass : float, default 1e-2
        Decay mass ``m`` > 0 of the decay step (a small ``m`` makes the momentum kick dominate
        the spurious position shift).
    friction : float, default 5.0
        Friction ``γ`` > 0 of the decay step (dimensionless: the momentum decays by
        ``e^{−γ}``).
    variant : {"averaged", "simple"}, default "averaged"
        One cycle, or the pair ``(η, m)``, ``(−η, −m)`` whose spurious shifts cancel.

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``eta``, ``mass`` or ``friction`` not a finite positive number,
        an unknown ``variant``, or a system without the ``"heb"`` capability (a
        :class:`~physlearn.systems.SelfLearningMachine`).

    Warns
    -----
    EchoMissWarning
        (Averaged variant.) When the midpoint of the ``±η`` cycles misses the initial state.

    Notes
    -----
    The estimate is the displacement the machine gives itself, rescaled to a gradient, with
    :math:`κ = 1 − e^{−γ}`:

    .. math::

        \\hat g = −\\frac{m\\,Δw}{η κ} \\quad\\text{(simple)}, \\qquad
        \\hat g = −\\frac{m\\,(Δw_+ + Δw_−)}{2 η κ} \\quad\\text{(averaged)}.

    With
    ``Δw = η s − (η κ / m) g + O(η²)`` (``g = ∂C/∂w_0``, ``s = ∂C/∂p_{w,0}``, from the echo
    identity ``Σ_x(Φ^e_K − Σ_z Φ_0) = η ∂C/∂Φ_0``), the simple estimate carries a bias
    ``−m s / κ`` that does not vanish with η, while the averaged one is exact up to ``O(η m)``.
    The rule needs no knowledge of ``H`` (it is black-box): only the final weights are read.

    References
    ----------
    .. [1] V. López-Pastor, F. Marquardt, "Self-learning machines based on Hamiltonian echo
       backpropagation", Phys. Rev. X 13, 031020 (2023), arXiv:2103.04992.
    .. [2] G. Pourcel, M. Ernoult, arXiv:2506.05259 (2025), App. A.1.4 (Cor. A.4).
    """

    requires = frozenset({"heb"})

    def __init__(self, eta: float = 1e-3, mass: float = 1e-2, friction: float = 5.0,
                 variant: str = "averaged"):
        self.eta = eta
        self.mass = mass
        self.friction = friction
        self.variant = variant

    @property
    def bias_order(self):
        return 1 if self.variant == "averaged" else None

    def per_sample_gradient(self, system, x, y, cost):
        eta = check_strength("eta", self.eta)
        mass = check_strength("mass", self.mass)
        friction = check_strength("friction", self.friction)
        variant = check_choice("variant", self.variant, _VARIANTS)
        kappa = 1.0 - np.exp(-friction)
        if variant == "simple":
            shift = heb_displacement(system, x, y, cost, eta, mass, friction)
            return {"w": -mass * shift / (eta * kappa)}
        plus = system.echo_cycle(x, y, cost, eta)
        minus = system.echo_cycle(x, y, cost, -eta)
        check_heb_echo(system, x, plus, minus)
        shift = (_shift(system, *plus, mass, friction)
                 + _shift(system, *minus, -mass, friction))
        return {"w": -mass * shift / (2 * eta * kappa)}

    def momentum_gradient(self, system, x, y, cost=None):
        """``(p_w(−η) − p_w(+η)) / 2η`` per sample: the kick on the weights' momenta alone
        (error ``O(η²)``; needs the momenta to be measured, which the decay step avoids)."""
        from ..costs import make_cost

        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        eta = check_strength("eta", self.eta)
        n = system.n_oscillators
        _, p_plus = system.echo_cycle(x, y, make_cost(cost), eta)
        _, p_minus = system.echo_cycle(x, y, make_cost(cost), -eta)
        return (p_minus[:, n:] - p_plus[:, n:]) / (2 * eta)


def heb_step(machine, x, y, cost=None, *, eta=1e-3, mass=1e-2, friction=5.0, averaged=True):
    """Let the machine learn from one batch physically: apply the mean HEB displacement.

    Returns the new weights (also assigned to ``machine.params``).
    """
    from ..costs import make_cost

    x = machine.check_inputs(x)
    y = machine.check_targets(y, x.shape[0])
    cost = make_cost(cost)
    shift = heb_displacement(machine, x, y, cost, eta, mass, friction)
    if averaged:
        shift = shift + heb_displacement(machine, x, y, cost, -eta, -mass, friction)
    machine.params = {"w": machine.params["w"] + shift.mean(axis=0)}
    return machine.params["w"]
