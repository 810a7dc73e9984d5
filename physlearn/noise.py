"""Noise models as wrappers over any system.

Each wrapper holds a system and presents the same interface (the seam of
:mod:`physlearn.system`), overriding only what its noise touches, so every rule, the training
loop and the contract suite (:mod:`physlearn.testing`) run on it unchanged:

* :class:`MeasurementNoise` — Gaussian noise on the local measurements ``param_gradient``;
* :class:`RelaxationNoise` — Langevin (thermal) noise in the relaxation dynamics: the returned
  state fluctuates around the fixed point;
* :class:`DeviceVariability` — frozen multiplicative mismatch of every parameter;
* :class:`QuantisedUpdates` — parameters restricted to a grid of levels after every update;
* :class:`ReadoutNoise` — Gaussian noise on the outputs (and on the reading the nudge uses).

Zero noise (``std=0``, ``temperature=0``, ``level=0``, ``levels=None``) is an exact
pass-through: the same objects and bitwise-identical gradients as the bare system. Every
wrapper is seeded (``seed``: a :class:`numpy.random.Generator` held by the wrapper) and keeps
its constructor arguments, so ``type(w)(**w.get_params(deep=False))`` rebuilds it (wrapping
the same system object).

What stays noiseless: the exact references (``exact_gradient``, ``loss``, ``energy``,
``energy_gradient``, ``adjoint``, ``mixed_vjp``, ``residual``) describe the noiseless physics
whose gradient the noisy rules estimate; only the measurement side of the seam
(``equilibrium``, ``outputs``, ``param_gradient``, ``predict``) carries the noise, and the
parameters are those the learner controls.

Examples
--------
>>> from physlearn import EP, noise
>>> from physlearn.registry import make_system
>>> net = noise.MeasurementNoise(make_system("resistor-layered"), std=1e-4, seed=0)
>>> g = EP(beta=0.1).gradient(net, [[0.3, -0.2, 0.1]], [[0.1, 0.0]])
>>> sorted(g)
['conductance']

References
----------
.. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact gradients
   through finite size oscillations", NeurIPS 2022, arXiv:2209.00530 (EP under noisy
   dynamics and measurements).
.. [2] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
   propagation", arXiv:2006.01981 (2020) (device mismatch and nonideal conductances).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

from .costs import Cost
from .nudges import Clamp, Nudge
from .params import HyperParams
from .system import EquilibriumSystem, System, check_positive

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["NoisySystem", "MeasurementNoise", "RelaxationNoise", "DeviceVariability",
           "QuantisedUpdates", "ReadoutNoise"]

#: seam methods the contract suite looks for on the class (``testing.implements``)
_LOOKED_UP = ("equilibrium", "outputs", "param_gradient", "energy", "energy_gradient",
              "adjoint", "mixed_vjp", "output_vjp", "with_s", "residual", "exact_gradient",
              "predict", "loss", "nudge_radius")
_STUBS = {name: getattr(base, name) for base in (EquilibriumSystem, System)
          for name in _LOOKED_UP if hasattr(base, name)}


def _implements(cls, name):
    impl = getattr(cls, name, None)
    return impl is not None and impl is not _STUBS.get(name)


def _delegate(name):
    def method(self, *args, **kwargs):
        return getattr(self._physics, name)(*args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"The wrapped system's ``{name}`` (noiseless)."
    return method


class NoisySystem(HyperParams):
    """Base class of the noise wrappers: delegate everything to the wrapped system.

    Parameters
    ----------
    system : System
        The wrapped system (not copied: its parameters are the wrapper's, and training the
        wrapper trains it; :class:`DeviceVariability` adds a device copy).
    seed : int or None, default 0
        Seeds the wrapper's generator (``self.rng``).

    Raises
    ------
    TypeError
        If ``system`` is not a physlearn :class:`~physlearn.System` (or another wrapper).

    Notes
    -----
    A wrapper leaves the physics :math:`E(θ, x, s)` and the objective :math:`L(θ)` of the
    wrapped system unchanged and perturbs only what a real device measures or holds, so a
    rule's estimate :math:`\\hat g` becomes a random variable whose mean and variance can be
    compared with the exact :math:`dL/dθ`.

    An instance is of a subclass made per wrapped class, which carries the seam methods the
    wrapped class implements (so ``physlearn.testing`` sees the same capabilities); every
    other attribute is looked up on the wrapped system. Subclasses override only what their
    noise touches and set ``_noisy_methods`` (the seam methods the noise needs: wrapping a
    system without them is refused).

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """

    _noisy_methods = ()
    _specialised = {}

    def __new__(cls, system=None, *args, **kwargs):
        base = cls.__dict__.get("_wrapper_base", cls)
        key = (base, type(system))
        sub = NoisySystem._specialised.get(key)
        if sub is None:
            inner = type(system)
            namespace = {"_wrapper_base": base, "__module__": base.__module__,
                         "__doc__": base.__doc__, "__qualname__": base.__qualname__}
            for name in _LOOKED_UP:
                if _implements(base, name):
                    continue       # the wrapper's own (noisy) version
                if _implements(inner, name):
                    namespace[name] = _delegate(name)
            sub = type(base.__name__, (base,), namespace)
            NoisySystem._specialised[key] = sub
        return super().__new__(sub)

    def __reduce_ex__(self, protocol):   # picklable although the class is made on the fly
        return (_rebuild, (self._wrapper_base, self.__dict__))

    def __init__(self, system: System, *, seed: int | None = 0):
        self._bind(system, seed)

    def _bind(self, system, seed):
        if not isinstance(system, (System, NoisySystem)):
            raise TypeError(f"system must be a physlearn System, got {type(system).__name__}")
        self.system = system
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def _refuse_missing(self, active):
        """A wrapper whose noise is on needs the methods it acts on."""
        if not active:
            return
        missing = [m for m in self._noisy_methods if not _implements(type(self.system), m)]
        if missing:
            raise ValueError(f"{type(self).__name__} acts on {', '.join(missing)}, which "
                             f"{type(self.system).__name__} does not have")

    # -- delegation -----------------------------------------------------------------------
    @property
    def _physics(self):
        """The object the physics runs on (the wrapped system)."""
        return self.__dict__["system"]

    def __getattr__(self, name):
        if name.startswith("__") or "system" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._physics, name)

    @property
    def capabilities(self):
        """The wrapped system's, without ``"step"`` where the noise acts on the relaxation or
        the outputs: the one-step map (continual EP) runs on the wrapped physics and would
        skip that noise, so a rule that needs it refuses instead."""
        caps = frozenset(self.system.capabilities)
        if {"equilibrium", "outputs"} & set(self._noisy_methods):
            caps -= {"step"}
        return caps

    @property
    def params(self):
        """The wrapped system's parameters (the same read-only mapping)."""
        return self.system.params

    @params.setter
    def params(self, new):
        self.system.params = new

    @property
    def _params(self):
        return self.system._params

    @_params.setter
    def _params(self, new):
        self.system._params = new

    def update_params(self, new):
        self.system.update_params(new)

    @property
    def unwrapped(self):
        """The bare system under every wrapper."""
        inner = self.system
        return inner.unwrapped if isinstance(inner, NoisySystem) else inner


def _rebuild(base, state):
    obj = NoisySystem.__new__(base, state["system"])
    obj.__dict__.update(state)
    return obj


def _draw_like(rng, arrays, scale):
    return {k: scale * rng.standard_normal(np.shape(v)) for k, v in arrays.items()}


# -- measurement noise ------------------------------------------------------------------------
class MeasurementNoise(NoisySystem):
    """Gaussian noise on the local measurements ``∂E/∂θ`` a rule reads.

    Parameters
    ----------
    system : System
        The wrapped system (needs ``param_gradient`` when ``std > 0``).
    std : float, default 0.0
        Standard deviation ≥ 0 of the additive noise, in the units of ``param_gradient`` (for
        a resistor network: of ``½ΔV²``). 0 is the bare system.
    seed : int or None, default 0
        Seeds the noise.

    Raises
    ------
    TypeError
        If ``system`` is not a physlearn system.
    ValueError
        If ``std`` is negative or not finite, or (``std > 0``) the system has no
        ``param_gradient``.

    Notes
    -----
    Every call of ``param_gradient`` (each phase a rule measures is one call) adds independent
    :math:`\\mathcal N(0, σ^2)` noise (:math:`σ` = ``std``) to every entry — the instrument noise of
    reading a voltage drop, a current or a spin correlation. Independence between phases is what a
    physical measurement gives (two readings at two times), and it is what makes the noise matter
    for EP: the contrast ``(g(β₂) − g(β₁))/(β₂ − β₁)`` of two independent readings has variance
    ``2 std²/(β₂ − β₁)²`` per entry, i.e. ``2 std²/β²`` for one-sided EP (``(0, β)``) and
    ``std²/(2β²)`` for centered EP (``(−β, β)``),

    .. math::

        \\operatorname{Var}\\hat g = \\frac{2σ^2}{(β_2 − β_1)^2},

    on top of EP's ``O(β)``/``O(β²)`` bias: the nudge cannot be made arbitrarily small under noise
    (Laborieux & Zenke 2022 [1]_). The noise is averaged over the batch like the gradient, so a
    batch of ``B`` divides these variances by ``B``. With a complex nudge (holomorphic EP) the noise
    is added to the real and imaginary parts alike (std each).

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """

    _noisy_methods = ("param_gradient",)

    def __init__(self, system: System, *, std: float = 0.0, seed: int | None = 0):
        self._bind(system, seed)
        self.std = std
        check_positive("std", std, allow_zero=True)
        self._refuse_missing(std > 0)

    def param_gradient(self, state):
        """``∂E/∂θ`` at ``state`` plus independent ``N(0, std²)`` noise per entry and call."""
        g = self.system.param_gradient(state)
        std = float(self.std)
        if std == 0:
            return g
        out = {}
        for k, v in g.items():
            v = np.asarray(v)
            noise = std * self.rng.standard_normal(v.shape)
            if np.iscomplexobj(v):
                noise = noise + 1j * std * self.rng.standard_normal(v.shape)
            out[k] = v + noise
        return out


# -- readout noise ----------------------------------------------------------------------------
class _NoisyReading(Cost):
    """A cost read at shifted outputs ``o + shift`` (a nudge driven from a noisy reading)."""

    def __init__(self, cost, shift):
        self.cost = cost
        self.shift = shift

    def value(self, outputs, y):
        return self.cost.value(outputs + self.shift, y)

    def gradient(self, outputs, y):
        return self.cost.gradient(outputs + self.shift, y)

    def hessian(self, outputs, y):
        return self.cost.hessian(outputs + self.shift, y)


class ReadoutNoise(NoisySystem):
    """Gaussian noise on the outputs a cost and a nudge read.

    Parameters
    ----------
    system : System
        The wrapped system (needs ``outputs`` when ``std > 0``).
    std : float, default 0.0
        Standard deviation ≥ 0 of the output noise (output units). 0 is the bare system.
    seed : int or None, default 0
        Seeds the noise.

    Raises
    ------
    TypeError
        If ``system`` is not a physlearn system.
    ValueError
        If ``std`` is negative or not finite, or (``std > 0``) the system has no ``outputs``.

    Notes
    -----
    Models the read-out electronics (an ADC, a probe): each call of :meth:`outputs`
    returns :math:`o(s) + η` with fresh :math:`η \\sim \\mathcal N(0, σ^2)` per entry, so
    ``predict`` and ``evaluate`` see noisy outputs. A soft nudge is driven from a reading too: for
    each nudged relaxation one offset ``η`` per sample and output is drawn and the nudging force is
    ``β ∂C/∂o(o + η, y)`` (the reading is slow compared with the relaxation, so the offset is
    constant during one phase and independent between phases). The physics (the state, the local
    measurements) is otherwise unchanged.

    Effect on EP: the nudge error enters multiplied by β, so the estimate's noise does not
    grow as β → 0 (unlike :class:`MeasurementNoise`): with the squared error ``∂C/∂o`` is
    affine in ``η`` and each phase is shifted by ``β R η`` to first order, giving an unbiased
    estimate with a variance independent of β (``O(std²)``). For a nonlinear cost the
    average of ``∂C/∂o(o + η)`` differs from ``∂C/∂o(o)`` at ``O(std²)``: a bias of that order.
    Clamps are not read (they are set): a :class:`~physlearn.Clamp` is passed on unchanged.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """

    _noisy_methods = ("outputs",)

    def __init__(self, system: System, *, std: float = 0.0, seed: int | None = 0):
        self._bind(system, seed)
        self.std = std
        check_positive("std", std, allow_zero=True)
        self._refuse_missing(std > 0)

    def outputs(self, state):
        """``o(state)`` plus fresh ``N(0, std²)`` noise per entry and call."""
        o = self.system.outputs(state)
        if float(self.std) == 0:
            return o
        return o + float(self.std) * self.rng.standard_normal(np.shape(o))

    def predict(self, x):
        """Noisy outputs of the free equilibrium."""
        if float(self.std) == 0:
            return self.system.predict(x)
        return self.outputs(self.equilibrium(x))

    def equilibrium(self, x, nudge=None, start=None):
        """The wrapped relaxation; a soft nudge is driven from a noisy reading (see Notes)."""
        if float(self.std) == 0 or not isinstance(nudge, Nudge):
            return self.system.equilibrium(x, nudge, start)
        batch = self.system.check_inputs(x).shape[0]
        shift = float(self.std) * self.rng.standard_normal((batch, self.system.n_outputs))
        noisy = Nudge(_NoisyReading(nudge.cost, shift), nudge.target, nudge.beta)
        return self.system.equilibrium(x, noisy, start)


# -- relaxation (Langevin) noise --------------------------------------------------------------
class RelaxationNoise(NoisySystem):
    """Langevin noise in the relaxation: states fluctuate thermally around the fixed point.

    Parameters
    ----------
    system : EquilibriumSystem
        A system with continuous degrees of freedom, ``adjoint`` (Hessian solves) or
        ``jacobian`` (an explicit Jacobian of the generalized force, as the vector-field
        network has).
    temperature : float, default 0.0
        ``T ≥ 0`` in units of the energy (``k_B = 1``). 0 is the bare system.
    seed : int or None, default 0
        Seeds the fluctuations.

    Raises
    ------
    TypeError
        If ``system`` is not a physlearn system.
    ValueError
        If ``temperature`` is negative or not finite, or (``T > 0``) the system has no
        ``equilibrium`` or neither ``adjoint`` nor ``jacobian``.

    Notes
    -----
    The relaxation is the overdamped Langevin dynamics

    .. math::

        ds = −Φ(s)\\,dt + \\sqrt{2T}\\,dW, \\qquad Φ = \\frac{∂(E + βC)}{∂s}

    (``energy_gradient`` plus the nudge; for a vector field ``−F``). Observed a long time after
    relaxing, the state is a sample of its stationary distribution. This wrapper draws that sample
    at harmonic order around the noiseless fixed point :math:`s^*` returned by the wrapped system:
    :math:`s = s^* + δ` with :math:`δ \\sim \\mathcal N(0, Σ)`, where :math:`Σ` solves the Lyapunov
    equation :math:`JΣ + ΣJ^{\\mathsf T} = 2T\\,I` for the Jacobian :math:`J = ∂Φ/∂s` at
    :math:`s^*`. For an energy ``J = H`` is the (nudged) Hessian and ``Σ = T H⁻¹``: equipartition,
    ``⟨δᵀ H δ⟩ = T n`` (Boltzmann ``exp(−E/T)`` to second order). ``J`` is the system's
    ``jacobian(state, nudge)`` when it has one; otherwise it is assembled from ``n`` adjoint solves
    (``adjoint`` solves with ``Jᵀ``) plus the nudge's stiffness ``β Pᵀ ∂²C/∂o² P`` on the outputs.
    Clamped outputs do not fluctuate: ``Σ`` is that of the unclamped block. Sampling the linearised
    stationary law (instead of integrating Langevin steps) is exact for the linear systems (resistor
    networks) and correct to ``O(T)`` otherwise, costs ``n`` solves and a Cholesky factorisation per
    sample, and has no step-size bias. Complex nudges: ``Σ`` is built from ``Re J`` and a real
    fluctuation is added.

    Every relaxation draws an independent fluctuation (each phase is a separate observation
    of a fluctuating state); the nudged phases are warm-started from the *noiseless* free
    fixed point, so the free phase's fluctuation does not leak into them. For EP the
    fluctuation's first-order effect on ``∂E/∂θ`` has zero mean, so the estimate is unbiased
    at ``O(T)`` only for a measurement linear in ``s``; for a quadratic one (``½ΔV²``) each
    phase gains ``T`` times a curvature term that cancels in the contrast when it does not
    depend on β (linear networks), while its variance adds ``O(T/β²)`` (Laborieux & Zenke
    2022).

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    .. [2] C. W. Gardiner, *Stochastic Methods: A Handbook for the Natural and Social
       Sciences*, 4th ed., Springer (2009), ch. 4 (the Ornstein–Uhlenbeck process).
    """

    _noisy_methods = ("equilibrium",)

    def __init__(self, system: System, *, temperature: float = 0.0, seed: int | None = 0):
        self._bind(system, seed)
        self.temperature = temperature
        check_positive("temperature", temperature, allow_zero=True)
        self._refuse_missing(temperature > 0)
        if temperature > 0 and not (hasattr(system, "jacobian")
                                    or _implements(type(system), "adjoint")):
            raise ValueError(f"RelaxationNoise needs adjoint() or jacobian() of "
                             f"{type(system).__name__} to linearise the dynamics")

    def equilibrium(self, x, nudge=None, start=None):
        """A fluctuating state ``s* + δ``, ``δ ~ N(0, Σ)`` drawn afresh (see Notes)."""
        start = getattr(start, "_noiseless", start)
        fixed = self.system.equilibrium(x, nudge, start)
        if float(self.temperature) == 0:
            return fixed
        cov = self.covariance(fixed)
        z = self.rng.standard_normal(np.shape(fixed.s))     # the same stream, row by row
        delta = np.einsum("bij,bj->bi", _sqrt_psd(cov), z)
        noisy = self.system.with_s(fixed, fixed.s + delta)
        object.__setattr__(noisy, "_noiseless", fixed)
        return noisy

    def linearisation(self, state):
        """``J = ∂Φ/∂s`` (nudge included) at ``state``, (batch, n, n), real part."""
        nudge = state.nudge
        system = self.system
        if hasattr(system, "jacobian"):
            return np.real(system.jacobian(state, nudge if isinstance(nudge, Nudge) else None))
        batch, n = np.shape(state.s)
        free = state.replace(nudge=None) if nudge is not None else state
        eye = np.broadcast_to(np.eye(n), (batch, n, n))
        # adjoint solves Jᵀ λ = rhs: the columns of (Jᵀ)⁻¹
        inv_t = np.stack([np.real(system.adjoint(free, np.ascontiguousarray(eye[:, :, j])))
                          for j in range(n)], axis=2)
        J = np.swapaxes(np.linalg.inv(inv_t), 1, 2)
        if isinstance(nudge, Nudge):
            out = np.asarray(system.output_index)
            k = np.real(nudge.stiffness(system.outputs(state)))
            J = J.copy()
            J[:, out[:, None], out[None, :]] += k
        return J

    def covariance(self, state):
        """The stationary covariance ``Σ`` (Lyapunov ``JΣ + ΣJᵀ = 2T·1``), (batch, n, n)."""
        T = float(self.temperature)
        J = self.linearisation(state)
        batch, n = J.shape[:2]
        free = np.ones(n, bool)
        if isinstance(state.nudge, Clamp):
            free[np.asarray(self.system.output_index)] = False
        idx = np.flatnonzero(free)
        cov = np.zeros((batch, n, n))
        for b in range(batch):
            Jb = J[b][np.ix_(idx, idx)]
            if np.allclose(Jb, Jb.T, rtol=1e-12, atol=1e-14 * np.max(np.abs(Jb))):
                sigma = T * np.linalg.inv(0.5 * (Jb + Jb.T))
            else:
                sigma = scipy.linalg.solve_continuous_lyapunov(Jb, 2 * T * np.eye(len(idx)))
            cov[b][np.ix_(idx, idx)] = 0.5 * (sigma + sigma.T)
        return cov

    def predict(self, x):
        """Outputs of a fluctuating free state."""
        if float(self.temperature) == 0:
            return self.system.predict(x)
        return self.system.outputs(self.equilibrium(x))


def _sqrt_psd(sigma):
    """Matrices ``A`` with ``A Aᵀ = sigma`` for a stack of symmetric positive semi-definite
    ``sigma`` (one stacked ``eigh``, single-threaded: small matrices)."""
    from physlearn.systems.blas import serial_blas

    with serial_blas():
        w, v = np.linalg.eigh(sigma)
    return v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]


# -- device variability -----------------------------------------------------------------------
class DeviceVariability(NoisySystem):
    """Frozen multiplicative mismatch of every parameter (device-to-device variability).

    Parameters
    ----------
    system : System
        The nominal design: its parameters are the *nominal* (programmed) values the learner
        reads and updates.
    level : float, default 0.0
        Relative standard deviation ≥ 0 of the mismatch factor (dimensionless). 0 is the
        bare system.
    distribution : {"normal", "lognormal"}, default "normal"
        ``"normal"``: factor ``m = 1 + level·ξ``; ``"lognormal"``: ``m = exp(σξ − σ²/2)``
        with ``σ² = ln(1 + level²)`` (mean 1, std ``level``, always positive).
    measure : {"nominal", "device"}, default "nominal"
        What ``param_gradient`` reports (see Notes).
    seed : int or None, default 0
        Seeds the (one) draw of ``ξ ~ N(0, 1)``, per parameter entry, in the order of
        ``param_shapes``.

    Raises
    ------
    TypeError
        If ``system`` is not a physlearn system.
    ValueError
        If ``level`` is negative or not finite, or ``distribution`` or ``measure`` is unknown.

    Notes
    -----
    Fabricated devices differ from their design: a resistor programmed to :math:`g` conducts
    :math:`g(1 + \\text{level}·ξ)` with a frozen :math:`ξ` per device (Kendall et al. 2020),

    .. math::

        θ_{\\text{dev}} = Π\\big(m ⊙ θ_{\\text{nom}}\\big), \\qquad
        \\frac{dL}{dθ_{\\text{nom}}} = m ⊙ \\frac{dL}{dθ_{\\text{dev}}},

    with :math:`Π` the projection onto the bounds. The wrapper keeps
    the nominal parameters in ``system`` and runs the physics on a copy (``device``) whose
    parameters are ``project(m ⊙ θ_nominal)`` — clipped onto the wrapped system's
    :attr:`param_bounds`, so a conductance stays above its floor (with ``"normal"`` a factor
    ``m ≤ 0`` needs ``ξ ≤ −1/level``, probability ``Φ(−1/level)``: ~3e-7 at level 0.2;
    ``"lognormal"`` never clips at a lower bound of 0). The factor is drawn at construction
    and never again; ``update_params`` moves the nominal values and the device follows with
    the same ``m``.

    The loss is that of the device, a function of the nominal parameters:
    ``dL/dθ_nom = m ⊙ dL/dθ_dev`` (chain rule; 0 where the device value is clipped).
    ``measure="nominal"`` reports ``∂E/∂θ_nom = m ⊙ ∂E/∂θ_dev`` (a learner that knows its
    devices' gains), so the wrapper is a consistent system in the nominal coordinates and EP
    estimates ``dL/dθ_nom``. ``measure="device"`` reports the raw local measurement
    ``∂E/∂θ_dev`` (e.g. ``½ΔV²``: a probe does not know the mismatch), so EP estimates
    ``dL/dθ_dev = dL/dθ_nom / m`` — a positive diagonal rescaling, still a descent direction
    but not the gradient; ``exact_gradient`` stays ``dL/dθ_nom`` in both cases.

    References
    ----------
    .. [1] J. Kendall, R. Pantone, K. Manickavasagam, Y. Bengio, B. Scellier, "Training
       end-to-end analog neural networks with equilibrium propagation", arXiv:2006.01981
       (2020).
    """

    _noisy_methods = ()

    def __init__(self, system: System, *, level: float = 0.0, distribution: str = "normal",
                 measure: str = "nominal", seed: int | None = 0):
        self._bind(system, seed)
        self.level = level
        self.distribution = distribution
        self.measure = measure
        check_positive("level", level, allow_zero=True)
        if distribution not in ("normal", "lognormal"):
            raise ValueError(f"distribution={distribution!r} is not one of "
                             "['normal', 'lognormal']")
        if measure not in ("nominal", "device"):
            raise ValueError(f"measure={measure!r} is not one of ['nominal', 'device']")
        xi = {k: self.rng.standard_normal(shape) for k, shape in system.param_shapes.items()}
        self.xi = xi
        if distribution == "normal":
            self.factor = {k: 1.0 + float(level) * v for k, v in xi.items()}
        else:
            s = np.sqrt(np.log1p(float(level) ** 2))
            self.factor = {k: np.exp(s * v - 0.5 * s * s) for k, v in xi.items()}
        self.device = system if level == 0 else _device_copy(system)
        self._synced = None
        self._sync()

    @property
    def _physics(self):
        if self.__dict__.get("device") is not self.__dict__.get("system"):
            self._sync()
        return self.__dict__["device"]

    def _sync(self):
        """Set the device parameters from the nominal ones (when these changed)."""
        nominal = self.system._params
        if self.device is self.system or self._synced is nominal:
            return
        raw = {k: self.factor[k] * v for k, v in nominal.items()}
        real = self.device.project(raw)
        self._chain = {k: np.where(real[k] == raw[k], self.factor[k], 0.0) for k in real}
        self.device._params = real
        self._synced = nominal

    def realised_params(self):
        """The device's parameters ``project(m ⊙ θ_nominal)``."""
        return self._physics.params

    def chain_factor(self):
        """``∂θ_dev/∂θ_nom`` per entry: ``m``, or 0 where the device value is clipped."""
        if self.device is self.system:
            return {k: np.ones(v.shape) for k, v in self.system.params.items()}
        self._sync()
        return {k: v.copy() for k, v in self._chain.items()}

    def _to_nominal(self, grads):
        if self.device is self.system:
            return grads
        chain = self.chain_factor()
        return {k: v * chain[k] for k, v in grads.items()}

    def param_gradient(self, state):
        """``∂E/∂θ`` in nominal coordinates (``measure="nominal"``) or the device's own."""
        g = self._physics.param_gradient(state)
        return g if self.measure == "device" else self._to_nominal(g)

    def exact_gradient(self, x, y, cost):
        """``dL/dθ_nom = m ⊙ dL/dθ_dev`` (chain rule through the mismatch)."""
        return self._to_nominal(self._physics.exact_gradient(x, y, cost))

    def mixed_vjp(self, state, lam):
        """``Σ λ_i ∂²E/∂θ_nom ∂s_i`` (chain rule, for references and generalized EP)."""
        return self._to_nominal(self._physics.mixed_vjp(state, lam))


def _device_copy(system):
    """An independent copy of ``system`` to hold the device parameters: a deep copy, or
    where something in it cannot be copied (a sparse factorisation) a shallow copy with its
    caches cleared (``clear_cache``), which the system rebuilds from its own parameters."""
    try:
        return copy.deepcopy(system)
    except (TypeError, copy.Error, NotImplementedError):
        device = copy.copy(system)
        if callable(getattr(device, "clear_cache", None)):
            device.clear_cache()
        return device


# -- quantised updates ------------------------------------------------------------------------
class QuantisedUpdates(NoisySystem):
    """Parameters restricted to a grid of levels after every update (memristors, binary weights).

    Parameters
    ----------
    system : System
        The wrapped system; its parameters are quantised in place.
    levels : None, int, array_like or dict, default None
        None: exact (the bare system). An int ``K ≥ 2``: ``K`` evenly spaced levels over each
        parameter's range — ``value_range`` if given, else its :attr:`param_bounds` from
        ``Bound.low`` to ``Bound.upper`` (both must be finite: an unbounded parameter needs
        ``value_range``). An array: the same explicit levels for every parameter. A dict:
        parameter name → int or array.
    value_range : tuple or dict, optional
        ``(low, high)`` of the evenly spaced grid, for every parameter or per name.
    seed : int or None, default 0
        Unused (rounding is deterministic); kept for a uniform interface.

    Raises
    ------
    TypeError
        If ``system`` is not a physlearn system.
    ValueError
        If an int ``levels`` is below 2, a grid's range is not finite (an unbounded parameter
        without ``value_range``), or levels lie outside a parameter's bounds.

    Notes
    -----
    With the grid :math:`\\{q_1 < … < q_K\\}` (evenly spaced,
    :math:`q_k = \\text{low} + (k − 1)(\\text{high} − \\text{low})/(K − 1)`, or explicit), every
    entry becomes :math:`Q(θ) = \\arg\\min_{q_k} |θ − q_k|`.

    A device with a finite number of stable states (a multi-level memristor, a binary or
    ternary weight) can only hold values on a grid. After construction (in place, on the
    wrapped system) and after every ``update_params`` or assignment of ``params`` each entry
    is rounded to the nearest level (after the wrapped system's own projection onto its
    bounds), so the rounding error is at most half the local level spacing for values inside
    the grid's range. An update smaller than half a spacing is lost: the learning rule's
    estimate is unchanged, but gradient descent stalls once the steps are below the
    resolution (the usual remedy, stochastic rounding, is not modelled). The relaxations and
    measurements are those of the bare system at the quantised parameters. Levels outside a
    parameter's bounds are refused.

    References
    ----------
    .. [1] M. Courbariaux, Y. Bengio, J.-P. David, "BinaryConnect: training deep neural
       networks with binary weights during propagations", NeurIPS 2015, arXiv:1511.00363.
    .. [2] J. Laydevant, M. Ernoult, D. Querlioz, J. Grollier, "Training dynamical binary
       neural networks with equilibrium propagation", CVPR Workshops 2021, arXiv:2103.08953.
    """

    def __init__(self, system: System, *, levels: int | ArrayLike | Mapping | None = None,
                 value_range: tuple[float, float] | Mapping | None = None,
                 seed: int | None = 0):
        self._bind(system, seed)
        self.levels = levels
        self.value_range = value_range
        self._grids = None if levels is None else {
            name: self._grid(name) for name in system.param_shapes}
        if self._grids is not None:
            self.system.update_params(self.quantise(system.params))

    def _grid(self, name):
        spec = self.levels[name] if isinstance(self.levels, dict) else self.levels
        bound = self.system.param_bounds.get(name)
        if spec is None:
            return None
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            if spec < 2:
                raise ValueError(f"levels={spec!r} must be at least 2")
            span = self.value_range
            if isinstance(span, dict):
                span = span.get(name)
            if span is None:
                span = (bound.low, bound.upper) if bound is not None else (-np.inf, np.inf)
            lo, hi = (float(v) for v in span)
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ValueError(
                    f"QuantisedUpdates: parameter {name!r} has the range ({lo:g}, {hi:g}); "
                    f"{spec} evenly spaced levels need a finite range: give value_range="
                    "(low, high) or explicit levels")
            grid = np.linspace(lo, hi, int(spec))
        else:
            grid = np.unique(np.asarray(spec, dtype=float).ravel())
            if grid.size < 1 or not np.all(np.isfinite(grid)):
                raise ValueError(f"levels for {name!r} must be finite numbers, got {spec!r}")
        if bound is not None:
            bound.check(f"levels[{name!r}]", grid)
        return grid

    def quantise(self, params):
        """Each entry rounded to the nearest level of its parameter's grid (a new dict)."""
        if self._grids is None:
            return dict(params)
        out = {}
        for name, value in params.items():
            grid = self._grids.get(name)
            value = np.asarray(value, dtype=float)
            if grid is None:
                out[name] = value.copy()
                continue
            i = np.clip(np.searchsorted(grid, value), 1, max(len(grid) - 1, 1))
            lower, upper = grid[i - 1], grid[np.minimum(i, len(grid) - 1)]
            out[name] = np.where(np.abs(value - lower) <= np.abs(upper - value), lower, upper)
        return out

    @property
    def params(self):
        return self.system.params

    @params.setter
    def params(self, new):
        self.system.params = self.quantise(self.system.project(self.system._validate_params(new)))

    def update_params(self, new):
        """The wrapped system's update (clipped onto bounds), then rounded onto the grid."""
        if self._grids is None:
            return self.system.update_params(new)
        self.system.update_params(new)
        self.system.update_params(self.quantise(self.system.params))
