"""The system side of the system × rule seam.

A physical system answers three questions, batched over samples (rows of ``x``):

* :meth:`EquilibriumSystem.equilibrium` — relax ``E(θ, x, s) + β C(o(s), y)`` (or clamp the
  outputs) and return the state;
* :meth:`EquilibriumSystem.outputs` — the observables a cost reads;
* :meth:`EquilibriumSystem.param_gradient` — ∂E/∂θ at a state: the *local* measurement.

For exact references it also gives second-order information: the adjoint (a solve with the
Hessian ∂²E/∂s²) and the mixed derivative ∂²E/∂θ∂s contracted with a vector. Learning rules
never look further inside.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .abstract import not_implemented
from .nudges import Clamp, Nudge
from .parameters import Parameters
from .params import HyperParams


class ConvergenceError(RuntimeError):
    """A relaxation did not reach equilibrium; the message carries the residual.

    Raised by a system's ``equilibrium`` when its solver stops (iteration or time budget,
    stalled line search) with the residual :math:`‖∂(E + βC)/∂s‖` still above the tolerance,
    and by the references and rules that need such a relaxation.

    Parameters
    ----------
    *args : object
        The message (one string naming the system, the solver and the residual reached), as
        for any exception.

    Notes
    -----
    Physically, a relaxation fails when the (nudged) energy has no minimum the solver can
    reach: a negative or complex nudge strong enough to destroy the minimum of
    :math:`E + βC` (for a quadratic energy, :math:`β < −1/λ_{\\max}(R)` with :math:`R` the
    output response matrix), a complex β beyond the radius of convergence of :math:`s^*(β)`,
    or a saddle point. :func:`physlearn.train` skips a mini-batch whose nudged relaxation
    fails (and counts it), but not one whose free relaxation fails.
    """


@dataclass
class State:
    """An equilibrium (or clamped) state of a system, batched over samples.

    Parameters
    ----------
    s : ndarray, shape (batch, n_state)
        The free degrees of freedom (float64, or complex128 under a complex nudge), in the
        system's own units (node voltages, positions, magnetisations, phases, ...).
    x : ndarray, shape (batch, n_features)
        The inputs the state was relaxed with.
    nudge : Nudge, Clamp or None, default None
        How the outputs were pushed (None: free state).
    info : dict or None, default None
        What the relaxation that returned this state reports (method, iterations, residual),
        where a system records it.

    Notes
    -----
    A state is what a learning rule measures: for a nudge :math:`β` the system's
    ``equilibrium`` returns :math:`s^β = \\arg\\min_s E(θ, x, s) + β\\,C(o(s), y)` (one row per
    sample), and ``param_gradient(state)`` reads the local measurement :math:`∂E/∂θ` there.
    Systems with more structure subclass it (``ResistorState``, ``IsingState``, ...); use
    :meth:`replace` to change fields, since the systems treat states as values.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """

    s: np.ndarray
    x: np.ndarray
    nudge: object = None
    info: dict = None

    def replace(self, **changes) -> State:
        """A copy with the given fields replaced (:func:`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Bound:
    """The physical range of one parameter (every entry of it).

    An assignment (``system.params = new``) refuses any entry outside the range, naming the
    parameter, the flat index, the value and the bound; a learning step
    (:meth:`System.update_params`) clips entries onto it (:meth:`clip`), as a device saturates.

    Attributes
    ----------
    lower, upper : float
        The physical range (``-inf``/``inf``: open).
    strict : bool
        ``lower`` itself is excluded (a mass > 0); then ``floor`` is required.
    floor : float, optional
        A device floor ``>= lower`` (``min_conductance``, ``min_stiffness``): entries below it
        are refused by an assignment and raised to it by a learning step.
    floor_name, upper_name, lower_name : str, optional
        What sets ``floor``, ``upper`` and ``lower`` (``"min_conductance"``), for messages.
    label : str, optional
        What the parameter is ("conductance", "spring constant"), for messages.
    """

    lower: float = -np.inf
    upper: float = np.inf
    strict: bool = False
    floor: float = None
    floor_name: str = None
    upper_name: str = None
    lower_name: str = None
    label: str = None

    def __post_init__(self):
        if self.strict and self.floor is None:
            raise ValueError("a strict lower bound needs a floor to clip onto")

    @property
    def low(self):
        """Where :meth:`clip` puts entries from below."""
        return self.lower if self.floor is None else max(self.floor, self.lower)

    def clip(self, value):
        return np.clip(value, self.low, self.upper)

    def describe(self):
        parts = []
        if self.lower > -np.inf:
            parts.append(f"{'>' if self.strict else '>='} "
                         f"{self.lower_name + ' = ' if self.lower_name else ''}{self.lower:g}")
        if self.floor is not None and (self.floor > self.lower or self.strict):
            parts.append(f"at least {self.floor_name or 'the floor'} = {self.floor:g}")
        if self.upper < np.inf:
            parts.append(f"<= {self.upper_name + ' = ' if self.upper_name else ''}"
                         f"{self.upper:g}")
        return " and ".join(parts)

    def check(self, name, value, where=lambda name, index: ""):
        """Raise a ``ValueError`` at the first entry of ``value`` outside the bound."""
        flat = np.asarray(value).ravel()
        bad = (flat < self.low) | (flat > self.upper)
        if self.strict:
            bad |= flat <= self.lower
        if not np.any(bad):
            return
        i = int(np.flatnonzero(bad)[0])
        v = float(flat[i])
        label = self.label or name
        if v < self.lower or (self.strict and v <= self.lower):
            verdict = (f"is a negative {label}" if self.lower == 0 and v < 0 else
                       f"is not a positive {label}" if self.lower == 0 else
                       f"is below {self.lower_name or 'the bound'} = {self.lower:g}")
        elif v > self.upper:
            verdict = f"is above {self.upper_name or 'the bound'} = {self.upper:g}"
        else:
            verdict = f"is below {self.floor_name or 'the floor'} = {self.floor:g}"
        n_bad = int(np.count_nonzero(bad))
        more = f" ({n_bad - 1} more entries out of range)" if n_bad > 1 else ""
        raise ValueError(
            f"params[{name!r}] at flat index {i}{where(name, i)} = {v!r} {verdict}; {name} "
            f"values must be {self.describe()}{more}. An assignment refuses such values; a "
            "learning step (update_params) clips onto the bound")


class System(HyperParams):
    """Base class of every physical system: named parameters, input checks, capabilities.

    ``capabilities`` lists what the physics allows a rule to do: ``"soft_nudge"`` (finite β),
    ``"complex"`` (complex β: the energy is holomorphic), ``"clamp"`` (outputs can be held),
    ``"step"`` (``step(state)``: one step of the relaxation dynamics of ``E + βC`` at the
    current parameters, with ``residual`` and a tolerance ``tol``; continual EP), and for
    trajectory systems e.g. ``"echo"`` (time reversal).
    Subclasses define ``param_shapes`` (name → shape), ``n_outputs`` and ``n_features``.

    Its constructor arguments are its hyperparameters (``get_params``/``set_params``); its
    trainable parameters θ are :attr:`params`, checked against :attr:`param_bounds`.

    Raises
    ------
    ValueError
        From the parameter setter (a value outside its physical bound, a NaN, a wrong shape)
        and from :meth:`check_inputs`, :meth:`check_targets` and :meth:`check_nudge`.
    NotImplementedError
        From a method of the seam that a subclass does not define; the message names the
        method and what it must return.

    Notes
    -----
    A physical system learns when the gradient of its loss
    :math:`L(θ) = \\mathrm{mean}_b\\, C(o_b, y_b)` can be read from local measurements of the
    system itself. For a system whose state minimises an energy (an equilibrium system) or
    whose trajectory makes an action stationary (a Hamiltonian system), equilibrium
    propagation and its relatives give such a read-out; physlearn's rules work through this
    interface only, and :func:`physlearn.exact_gradient` checks them.

    References
    ----------
    .. [1] B. Scellier, "A deep learning theory for neural networks grounded in physics",
       PhD thesis, Université de Montréal (2021), arXiv:2103.09985.
    """

    capabilities = frozenset()

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self):
        """Trainable parameters: a read-only mapping of named float64 arrays.

        In-place edits raise :class:`~physlearn.parameters.ReadOnlyParameterError` naming the
        parameter; edit ``system.params.copy()`` and assign it back (validated).
        """
        source = self._params
        if getattr(self, "_params_view_of", None) is not source:
            self._params_view, self._params_view_of = Parameters(source), source
        return self._params_view

    @params.setter
    def params(self, new):
        """Assign parameters: values outside :attr:`param_bounds` (or NaN) are refused."""
        self._params = self.project(self._validate_params(new))

    def update_params(self, new):
        """Assign parameters after a learning step: project onto the physical constraints first.

        Unlike assigning ``system.params`` (which refuses values outside :attr:`param_bounds`,
        such as a negative conductance), an update that overshoots a bound is clipped back onto
        it, as a physical device would saturate. NaN is refused by both.
        """
        self._params = self._validate_params(self.project(self._validate_shapes(new)))

    @property
    def param_bounds(self):
        """The physical constraints, declared in one place: parameter name → :class:`Bound`.

        Read by the setter (refuse) and by :meth:`project` (clip, for :meth:`update_params`).
        Parameters without an entry are unconstrained. Default: none.
        """
        return {}

    def describe_param_index(self, name, index):
        """Where flat ``index`` of parameter ``name`` sits, for error messages (e.g. the edge)."""
        return ""

    def _validate_shapes(self, new):
        expected = self.param_shapes
        if set(new) != set(expected):
            raise ValueError(f"params keys {sorted(new)} do not match expected {sorted(expected)}")
        # the system's own copies: later edits of the caller's arrays cannot reach it
        return {name: np.array(new[name], dtype=float, copy=True) for name in expected}

    def _validate_params(self, new):
        out = self._validate_shapes(new)
        for name, value in out.items():
            if value.shape != tuple(self.param_shapes[name]):
                raise ValueError(f"params[{name!r}] has shape {value.shape}, "
                                 f"expected {self.param_shapes[name]}")
            if not np.all(np.isfinite(value)):
                bad = np.flatnonzero(~np.isfinite(value.ravel()))[:5]
                raise ValueError(f"params[{name!r}] has non-finite entries at flat indices {bad} "
                                 f"(values {value.ravel()[bad]})")
        for name, bound in self.param_bounds.items():
            if name in out:
                bound.check(name, out[name], self.describe_param_index)
        return out

    def project(self, params):
        """Clip every parameter onto its :attr:`param_bounds` (a device saturates)."""
        bounds = self.param_bounds
        return {name: bounds[name].clip(value) if name in bounds else value
                for name, value in params.items()}

    # -- inputs -------------------------------------------------------------------------------
    def check_inputs(self, x):
        """Return ``x`` as a float64 (batch, n_features) array or raise a clear error."""
        x = as_float_array(x, "x")
        if x.ndim == 1 and x.shape[0] == self.n_features:
            x = x[None, :]
        if x.ndim in (1, 2):
            check_batch(x, "x")
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"x has shape {x.shape}, expected (batch, {self.n_features}) for "
                f"{type(self).__name__} with {self.n_features} input features"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values")
        return x

    def check_targets(self, y, batch):
        """Return ``y`` as a float64 (batch, n_outputs) array or raise a clear error."""
        y = as_float_array(y, "y")
        if y.ndim == 1 and y.shape[0] == self.n_outputs and batch == 1:
            y = y[None, :]
        if y.shape != (batch, self.n_outputs):
            raise ValueError(f"y has shape {y.shape}, expected ({batch}, {self.n_outputs})")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values")
        return y

    def check_nudge(self, nudge):
        """Refuse nudges the physics cannot take (complex β on a non-holomorphic energy, ...)."""
        if nudge is None:
            return
        if isinstance(nudge, Clamp):
            if "clamp" not in self.capabilities:
                raise ValueError(f"{type(self).__name__} cannot clamp its outputs")
            return
        if not isinstance(nudge, Nudge):
            raise TypeError(f"nudge must be a Nudge, a Clamp or None, not {type(nudge).__name__}")
        if nudge.is_complex and "complex" not in self.capabilities:
            raise ValueError(
                f"complex beta={nudge.beta!r} given to {type(self).__name__}, whose energy is not "
                "holomorphic; use a real beta (EP) instead of HolomorphicEP"
            )

    def nudge_radius(self, x, y, cost, beta=None):
        """The radius of convergence in complex β of the nudged measurements, or None.

        Holomorphic EP (and generalized EP with Cauchy points) refuses a circle ``|β| = r`` at
        or beyond it. Systems that know it override this (the linear resistor network from its
        output response matrix, the exact Ising model from the zeros of its nudged partition
        function); None means unknown, and the rules then watch the contour itself. With
        ``beta``, a certified lower bound of the radius that exceeds ``beta`` may be returned
        instead of the radius itself (all the rule needs, and cheaper to find).
        """
        return None

    def exact_gradient(self, x, y, cost):
        """The exact reference ``dL/dθ`` (batch mean) for checked ``x``, ``y`` and a cost."""
        raise not_implemented(self, "exact_gradient",
                              "the exact dL/dθ (batch mean) as a dict name → array shaped like "
                              "params[name]")

    def loss(self, x, y, cost):
        """The objective ``L(θ)`` whose gradient the rules estimate: by default the batch mean
        of ``C(o, y)`` at the free outputs. Systems with another objective (e.g. a thermal
        expectation ``⟨C(σ)⟩``) override it, and references follow."""
        return cost.mean(self.predict(x), y)


class EquilibriumSystem(System):
    """Base class of systems that relax to a minimum of ``E + β C``.

    Subclasses also define ``output_index`` (the state components that are the outputs, for
    systems that can clamp them) and the physics methods below.

    Raises
    ------
    NotImplementedError
        From a physics method (:meth:`equilibrium`, :meth:`outputs`, :meth:`param_gradient`,
        :meth:`energy`, :meth:`adjoint`, ...) that a subclass does not define; the message
        names the method and what it must return.

    Notes
    -----
    The free state :math:`s^0` minimises the energy :math:`E(θ, x, s)`, the nudged state
    :math:`s^β` the total energy :math:`F_β = E + β C(o(s), y)`. Equilibrium propagation rests
    on the identity (from the envelope theorem and the symmetry of mixed partials of
    :math:`Φ(θ, β) = \\min_s F_β`)

    .. math::

        \\frac{dL}{dθ} = \\frac{d}{dβ}\\Big|_{β=0} \\frac{∂E}{∂θ}(θ, x, s^β),

    so a rule needs only :meth:`equilibrium`, :meth:`outputs` and :meth:`param_gradient`. The
    second-order methods (:meth:`adjoint`, :meth:`mixed_vjp`) give the exact reference by
    implicit differentiation, :math:`dL/dθ = −(∂^2E/∂θ∂s)\\,(∂^2E/∂s^2)^{-1}\\,∂C/∂s`.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    .. [2] F. J. Pineda, "Generalization of back-propagation to recurrent neural networks",
       Phys. Rev. Lett. 59, 2229 (1987).
    """

    capabilities = frozenset({"soft_nudge", "clamp"})

    def exact_gradient(self, x, y, cost):
        """Implicit differentiation at the free equilibrium.

        At the free equilibrium ``∂E/∂s = 0``. Differentiating in θ gives
        ``ds/dθ = −H⁻¹ ∂²E/∂s∂θ`` with the Hessian ``H = ∂²E/∂s²``, so
        ``dL/dθ = −(H⁻¹ ∂C/∂s) · ∂²E/∂s∂θ``: one adjoint solve per sample.
        """
        free = self.equilibrium(x)
        g_out = cost.gradient(self.outputs(free), y)
        lam = self.adjoint(free, self.output_vjp(free, g_out))
        return {k: -v for k, v in batch_mean(self.mixed_vjp(free, lam)).items()}

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Relax to equilibrium under ``nudge`` (None: free), warm-started from ``start``."""
        raise not_implemented(self, "equilibrium",
                              "a State whose s minimises E + βC for each sample (shape (batch, "
                              "n_state))")

    def outputs(self, state):
        """Output observables, shape (batch, n_outputs)."""
        raise not_implemented(self, "outputs",
                              "the output observables of a State, shape (batch, n_outputs)")

    def param_gradient(self, state):
        """∂E/∂θ at ``state``: dict name → array of shape ``(batch, *shape)``."""
        raise not_implemented(self, "param_gradient",
                              "∂E/∂θ at a State: dict name → array of shape (batch, "
                              "*params[name].shape)")

    def predict(self, x):
        """Outputs of the free equilibrium for inputs ``x``."""
        return self.outputs(self.equilibrium(x))

    # -- physics used by references and contract tests ----------------------------------------
    def with_s(self, state, s):
        """The same state with its degrees of freedom replaced by ``s`` (for finite differences)."""
        return state.replace(s=s)

    def energy(self, state):
        """E(θ, x, s) per sample, shape (batch,)."""
        raise not_implemented(self, "energy", "E(θ, x, s) per sample, shape (batch,)")

    def energy_gradient(self, state):
        """∂E/∂s, shape (batch, n_state)."""
        raise not_implemented(self, "energy_gradient", "∂E/∂s at a State, shape (batch, n_state)")

    def output_vjp(self, state, g_out):
        """Pull a cotangent on the outputs back to the state: (∂o/∂s)ᵀ g, shape like ``s``."""
        raise not_implemented(self, "output_vjp",
                              "(∂o/∂s)ᵀ g for a cotangent g on the outputs, shape like state.s")

    def adjoint(self, state, rhs):
        """Solve ``∂²E/∂s² · λ = rhs`` at ``state`` (batched rhs of shape like ``s``)."""
        raise not_implemented(self, "adjoint",
                              "λ solving (∂²E/∂s²) λ = rhs at a State, shape like rhs")

    def mixed_vjp(self, state, lam):
        """``Σ_i λ_i ∂²E/∂θ∂s_i`` at ``state``: dict name → array of shape ``(batch, *shape)``."""
        raise not_implemented(self, "mixed_vjp",
                              "Σ_i λ_i ∂²E/∂θ∂s_i: dict name → array of shape (batch, "
                              "*params[name].shape)")

    def residual(self, state):
        """∂(E + βC)/∂s at ``state`` on the unclamped degrees of freedom (zero at equilibrium)."""
        r = self.energy_gradient(state)
        nudge = state.nudge
        if isinstance(nudge, Nudge):
            r = r + self.output_vjp(state, nudge.force(self.outputs(state)))
        elif isinstance(nudge, Clamp):
            r = r.copy()
            r[:, self.output_index] = 0.0  # clamped outputs carry a reaction force
        return r


def as_float_array(value, what):
    """``value`` as a float64 array, or a ``ValueError`` naming ``what`` (strings, objects,
    complex numbers) instead of a bare numpy error."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{what} must be an array of numbers, got the string {value!r}")
    try:
        array = np.asarray(value)
        if array.dtype.kind == "c":
            raise TypeError("complex values")
        return np.asarray(array, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be an array of real numbers; got "
                         f"{type(value).__name__} that numpy cannot read as floats: {err}") \
            from None


def check_positive(name, value, *, allow_zero=False):
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless it is a finite real
    number > 0 (``>= 0`` with ``allow_zero``): temperatures, masses, frequencies, floors."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and np.isfinite(value) and (value >= 0 if allow_zero else value > 0))
    if not ok:
        sign = ">=" if allow_zero else ">"
        raise ValueError(f"{name}={value!r} must be a finite number {sign} 0")
    return float(value)


def check_batch(array, what):
    """Refuse an empty batch (0 rows): a batch mean over no samples is undefined."""
    if array.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch (shape {array.shape}): give at least one "
                         "sample (row)")


def batch_mean(per_sample):
    """Mean over the leading (batch) axis of every array in a dict."""
    # add.reduce / n is what np.mean computes, without its wrapper's microseconds per array
    return {name: np.add.reduce(value, axis=0) / value.shape[0]
            for name, value in per_sample.items()}
