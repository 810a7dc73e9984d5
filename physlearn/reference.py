"""Exact references every rule is checked against.

* :func:`exact_gradient` — the system's own exact derivative: implicit differentiation at the
  free equilibrium (recurrent backprop / Almeida–Pineda) for equilibrium systems.
* :func:`finite_difference_gradient` — central differences of the loss, re-relaxing the
  system for every perturbed parameter (slow; small systems).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .costs import make_cost

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .costs import Cost
    from .system import System


def loss(system: System, x: ArrayLike, y: ArrayLike, cost: Cost | str | None = None) -> float:
    """The objective ``L(θ)`` whose gradient the rules estimate, at the current parameters.

    Parameters
    ----------
    system : System
        Any physical system (equilibrium, thermal, quantum or trajectory).
    x : array_like, shape (batch, n_features)
        Inputs, in the units the system reads them (volts for a resistor network's sources,
        fields for an Ising model, ...); a single sample may be given as a 1-D array.
    y : array_like, shape (batch, n_outputs)
        Targets, in the units of the output observables.
    cost : Cost, str or None, default None
        The cost ``C(o, y)``: an instance, a registered name (``"squared_error"``,
        ``"cross_entropy"``) or None for :class:`~physlearn.SquaredError`.

    Returns
    -------
    float
        The batch-mean loss (in the cost's units, e.g. squared output units).

    Raises
    ------
    ValueError
        If ``x`` or ``y`` has the wrong shape or non-finite entries, or ``cost`` is not a cost.

    Notes
    -----
    By default the loss of the free equilibrium,

    .. math::

        L(θ) = \\frac{1}{B} \\sum_{b=1}^{B} C\\big(o(s^0_b(θ, x_b)), y_b\\big),
        \\qquad s^0_b = \\arg\\min_s E(θ, x_b, s),

    evaluated by ``system.loss``; systems with another objective override it (the thermal
    expectation :math:`⟨C(σ)⟩` of ``IsingModel(objective="expected")``, the loss of the rate
    network behind a :class:`~physlearn.systems.SpikingNetwork`), and every reference
    differentiates that same objective.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    return system.loss(x, y, cost)


def exact_gradient(system: System, x: ArrayLike, y: ArrayLike,
                   cost: Cost | str | None = None) -> dict[str, np.ndarray]:
    """The exact ``dL/dθ`` (batch mean) of a system: the reference every rule is checked against.

    Parameters
    ----------
    system : System
        Any system that implements ``exact_gradient`` (every built-in system does).
    x : array_like, shape (batch, n_features)
        Inputs, in the system's input units.
    y : array_like, shape (batch, n_outputs)
        Targets, in the units of the output observables.
    cost : Cost, str or None, default None
        The cost ``C(o, y)``: an instance, a registered name, or None for squared error.

    Returns
    -------
    dict of str to ndarray
        ``dL/dθ`` with the same keys and shapes as ``system.params`` (units of the loss per
        unit of each parameter).

    Raises
    ------
    ValueError
        If ``x`` or ``y`` has the wrong shape or non-finite entries, or ``cost`` is not a cost.
    ConvergenceError
        If the free relaxation the reference needs does not converge.

    Notes
    -----
    Each system supplies its own exact reference through ``system.exact_gradient``. For an
    equilibrium system it is implicit differentiation at the free equilibrium (recurrent
    backpropagation, Almeida–Pineda; see :meth:`physlearn.EquilibriumSystem.exact_gradient`):
    from :math:`∂_s E(θ, s^0) = 0`,

    .. math::

        \\frac{dL}{dθ} = −\\frac{∂^2 E}{∂θ\\,∂s}\\,λ, \\qquad
        \\frac{∂^2 E}{∂s^2}\\,λ = \\frac{∂C}{∂s}\\Big|_{s^0},

    one adjoint solve per sample. Thermal systems use the fluctuation–dissipation identity
    :math:`∂⟨A⟩/∂θ = −\\mathrm{Cov}(A, ∂E/∂θ)/T`, quantum systems static linear response
    (Kubo), and trajectory systems backpropagation through time.

    References
    ----------
    .. [1] F. J. Pineda, "Generalization of back-propagation to recurrent neural networks",
       Phys. Rev. Lett. 59, 2229 (1987).
    .. [2] L. B. Almeida, "A learning rule for asynchronous perceptrons with feedback in a
       combinatorial environment", Proc. IEEE 1st Int. Conf. on Neural Networks (1987).
    .. [3] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    return system.exact_gradient(x, y, cost)


def finite_difference_gradient(system: System, x: ArrayLike, y: ArrayLike,
                               cost: Cost | str | None = None,
                               h: float = 1e-6) -> dict[str, np.ndarray]:
    """Central finite differences of the loss, one parameter entry at a time.

    Parameters
    ----------
    system : System
        Any system; its parameters are perturbed in place and restored on return, even when
        a relaxation raises.
    x : array_like, shape (batch, n_features)
        Inputs, in the system's input units.
    y : array_like, shape (batch, n_outputs)
        Targets, in the units of the output observables.
    cost : Cost, str or None, default None
        The cost ``C(o, y)``: an instance, a registered name, or None for squared error.
    h : float, default 1e-6
        Step added to and subtracted from each parameter entry, in that parameter's units.
        The perturbed parameters are neither checked against nor projected onto their
        physical bounds, so an entry at its bound is still differenced by exactly ``±h``.

    Returns
    -------
    dict of str to ndarray
        ``dL/dθ`` with the same keys and shapes as ``system.params``.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` has the wrong shape or non-finite entries, or ``cost`` is not a cost.
    ConvergenceError
        If a perturbed relaxation does not converge.

    Notes
    -----
    Each entry :math:`θ_i` gives

    .. math::

        \\frac{∂L}{∂θ_i} ≈ \\frac{L(θ + h e_i) − L(θ − h e_i)}{2h},

    re-relaxing the system for both evaluations of :func:`loss`: ``2 × (number of
    parameters)`` relaxations, for small systems only. The truncation error is
    :math:`O(h^2)`; round-off adds about :math:`ε_{\\text{relax}}/h`, where
    :math:`ε_{\\text{relax}}` is the accuracy of the relaxed loss.

    References
    ----------
    .. [1] W. H. Press, S. A. Teukolsky, W. T. Vetterling, B. P. Flannery, *Numerical Recipes:
       The Art of Scientific Computing*, 3rd ed., Cambridge University Press (2007), §5.7
       "Numerical derivatives".
    """
    cost = make_cost(cost)
    original = {k: v.copy() for k, v in system.params.items()}
    grads = {}
    try:
        for name, value in original.items():
            g = np.zeros(value.shape)
            for i in np.ndindex(value.shape):
                vals = []
                for sign in (1.0, -1.0):
                    trial = {k: v.copy() for k, v in original.items()}
                    trial[name][i] += sign * h
                    # no bounds, no projection: exact ±h also at a parameter on its bound
                    system._params = system._validate_shapes(trial)
                    vals.append(loss(system, x, y, cost))
                g[i] = (vals[0] - vals[1]) / (2 * h)
            grads[name] = g
    finally:
        system._params = original
    return grads
