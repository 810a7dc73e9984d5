"""First-order optimizers acting on parameter dictionaries.

A physical system exposes its trainable parameters as a dict of named float64
arrays (``system.params``) and a learning rule returns a gradient estimate with the
same keys and shapes. An optimizer turns the two into new parameters::

    system.params = optimizer.step(system.params, rule.gradient(system, x, y))

All optimizers *minimise* (they move against the gradient), never mutate their
inputs, and keep their internal state (step count, moment estimates) in a form
that :meth:`Optimizer.state_dict` can write to an ``.npz`` file, so that an
interrupted training run resumes bit for bit.

Physical constraints (a conductance stays non-negative, ...) are not the
optimizer's business: ``system.update_params`` (the training loop's assignment) clips
them onto the system's ``param_bounds``; a plain ``system.params = ...`` refuses them.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..abstract import not_implemented
from ..params import HyperParams

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "BinaryFlip", "Metaplastic", "SCHEDULES",
           "lr_factor", "make_optimizer"]


def _check_real(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    _check_real(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_nonnegative(name: str, value: float) -> None:
    _check_real(name, value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_unit_interval(name: str, value: float) -> None:
    _check_real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")


def _check_matching(params: Mapping, grads: Mapping) -> None:
    """Raise a ValueError if ``grads`` does not have the keys and shapes of ``params``."""
    missing = sorted(set(params) - set(grads))
    extra = sorted(set(grads) - set(params))
    if missing or extra:
        raise ValueError(
            f"grads keys do not match params keys: missing {missing}, unexpected {extra}"
        )
    for key in params:
        p_shape, g_shape = np.shape(params[key]), np.shape(grads[key])
        if p_shape != g_shape:
            raise ValueError(
                f"grads[{key!r}] has shape {g_shape} but params[{key!r}] has shape {p_shape}"
            )


class Optimizer(HyperParams):
    """Base class: a first-order update rule with resumable state.

    Hyperparameters are keyword arguments stored verbatim as attributes, so
    ``get_params`` / ``set_params`` (from :class:`~physlearn.params.HyperParams`) and
    ``type(opt)(**opt.get_params())`` work as in scikit-learn.

    Subclasses list the names of their per-parameter state arrays in ``_slots``
    (e.g. ``("m", "v")`` for Adam) and implement :meth:`_direction`, which
    returns the displacement to *subtract* from a parameter.

    Attributes
    ----------
    t : int
        Number of steps taken so far.
    lr_scale : float
        Factor on the learning rate, 1 unless a schedule sets it (``physlearn.train``'s
        ``schedule``, see :func:`lr_factor`); not a hyperparameter.
    weight_decay : float
        ``λ >= 0`` of an L2 penalty ``½λ‖θ‖²`` added to the loss: the step sees ``g + λθ``
        (before any moment estimate: L2 Adam, not AdamW) on the parameters whose names match
        the shell pattern (:mod:`fnmatch`) ``decayed``; a pattern that matches none is an
        error. 0 unless the subclass takes it as a hyperparameter. On an energy-based
        network it keeps the couplings, and with them the energy's negative curvature,
        small; ``decayed="*W*"`` decays the couplings of a Hopfield network or an ff-EBM,
        not its biases.
    decayed : str
        ``"*"`` (every parameter) unless the subclass takes it as a hyperparameter.

    Raises
    ------
    ValueError
        From :meth:`step`, when the gradient's keys or shapes differ from the parameters', the
        state was built for other parameters, or ``decayed`` matches no parameter while
        ``weight_decay > 0``; from :meth:`load_state_dict`, for a foreign state.

    Notes
    -----
    Every optimizer subtracts a direction :math:`d_t` computed from the (decayed) gradient,

    .. math::

        θ_{t+1} = θ_t − d_t\\big(g_t + λ θ_t\\big), \\qquad g_t ≈ \\frac{∂L}{∂θ}\\Big|_{θ_t},

    with :math:`λ` = ``weight_decay`` on the ``decayed`` parameters (0 elsewhere); the
    physical bounds are applied afterwards by ``system.update_params``.

    References
    ----------
    .. [1] H. Robbins, S. Monro, "A stochastic approximation method", Ann. Math. Stat. 22,
       400–407 (1951).
    """

    _slots: tuple[str, ...] = ()
    weight_decay: float = 0.0
    decayed: str = "*"

    def _set_decay(self, weight_decay: float, decayed: str) -> None:
        _check_nonnegative("weight_decay", weight_decay)
        if not isinstance(decayed, str):
            raise ValueError(f"decayed must be a name pattern (fnmatch), got {decayed!r}")
        self.weight_decay, self.decayed = weight_decay, decayed

    def __init__(self) -> None:
        self.lr_scale = 1.0
        self.reset()

    @property
    def _rate(self) -> float:
        """The learning rate of the next step: ``lr`` times the schedule's factor."""
        return self.lr * self.lr_scale

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all state (step count and moment estimates)."""
        self.t = 0
        self._state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self._slots}

    def state_dict(self) -> dict:
        """Snapshot of the internal state, suitable for ``numpy.savez``.

        Returns
        -------
        dict
            ``{"t": int}`` plus one copied array per slot and parameter, under the
            key ``"<slot>/<parameter name>"``.
        """
        state: dict = {"t": int(self.t)}
        for slot, arrays in self._state.items():
            for key, value in arrays.items():
                state[f"{slot}/{key}"] = value.copy()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a snapshot made by :meth:`state_dict` (possibly via an npz file).

        Parameters
        ----------
        state : Mapping
            Must contain ``"t"``; other keys must be ``"<slot>/<name>"`` with a slot
            of this optimizer.

        Raises
        ------
        ValueError
            If a key does not belong to this optimizer's state.
        """
        if "t" not in state:
            raise ValueError(f"{type(self).__name__} state must contain 't' (the step count)")
        new_state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self._slots}
        for full_key, value in state.items():
            if full_key == "t":
                continue
            slot, sep, key = full_key.partition("/")
            if not sep or slot not in new_state:
                raise ValueError(
                    f"unexpected key {full_key!r} in {type(self).__name__} state; "
                    f"expected 't' or '<slot>/<name>' with slot in {list(self._slots)}"
                )
            new_state[slot][key] = np.array(value, copy=True)
        self.t = int(np.asarray(state["t"]))
        self._state = new_state

    # -- the update -------------------------------------------------------------------
    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> dict:
        """One minimisation step.

        Parameters
        ----------
        params : Mapping[str, ndarray]
            Current parameters (not modified).
        grads : Mapping[str, ndarray]
            Gradient estimate of the loss, same keys and shapes as ``params``.

        Returns
        -------
        dict[str, ndarray]
            New parameters, in the key order of ``params``.

        Raises
        ------
        ValueError
            If keys or shapes of ``grads`` differ from ``params``, or if the state
            was built for a different set of parameters.
        """
        _check_matching(params, grads)
        self._check_state_keys(params)
        self.t += 1
        decayed = set(fnmatch.filter(params, self.decayed)) if self.weight_decay else set()
        if self.weight_decay and not decayed:
            raise ValueError(f"decayed={self.decayed!r} matches no parameter of "
                             f"{sorted(params)}; weight_decay={self.weight_decay!r} would "
                             "act on nothing")
        new = {}
        for key in params:
            p, g = np.asarray(params[key]), np.asarray(grads[key])
            new[key] = p - self._direction(key, g + self.weight_decay * p if key in decayed
                                           else g)
        return new

    def _check_state_keys(self, params: Mapping) -> None:
        for slot, arrays in self._state.items():
            if arrays and set(arrays) != set(params):
                raise ValueError(
                    f"{type(self).__name__} state ({slot!r}) holds parameters "
                    f"{sorted(arrays)} but step() got {sorted(params)}; call reset() "
                    "before reusing an optimizer on a different system"
                )

    def _slot(self, slot: str, key: str, like: np.ndarray) -> np.ndarray:
        """The state array ``slot`` for parameter ``key``, zero-initialised on first use."""
        arrays = self._state[slot]
        if key not in arrays:
            arrays[key] = np.zeros(like.shape, dtype=np.result_type(like, np.float64))
        return arrays[key]

    def _direction(self, key: str, grad: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise not_implemented(self, "_direction",
                              "the step direction for one parameter, an array shaped like its "
                              "gradient")


class SGD(Optimizer):
    """Plain gradient descent, ``θ ← θ − lr · g``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate (step size), > 0.
    weight_decay : float, default 0.0
        L2 penalty ``λ >= 0`` on the parameters ``decayed`` (see :class:`Optimizer`).
    decayed : str, default "*"
        Names (a shell pattern) of the decayed parameters; every one by default.

    Raises
    ------
    TypeError
        If a hyperparameter is not a real number.
    ValueError
        If ``lr`` is not finite and positive, ``weight_decay`` is negative, or ``decayed``
        is not a string.

    Notes
    -----
    :math:`θ_{t+1} = θ_t − η\\, s(t)\\, g_t`, with :math:`η` = ``lr`` (units of parameter² per
    unit of loss) and :math:`s(t)` the schedule's factor: stochastic gradient descent on the
    mini-batch estimates of a learning rule.

    References
    ----------
    .. [1] H. Robbins, S. Monro, "A stochastic approximation method", Ann. Math. Stat. 22,
       400–407 (1951).
    """

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0, decayed: str = "*") -> None:
        _check_positive("lr", lr)
        self.lr = lr
        self._set_decay(weight_decay, decayed)
        super().__init__()

    def _direction(self, key: str, grad: np.ndarray) -> np.ndarray:
        return self._rate * grad


class Momentum(Optimizer):
    """Heavy-ball momentum, ``v ← μ v + g``, ``θ ← θ − lr · v``.

    With a constant gradient the effective step approaches ``lr / (1 − μ)``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, > 0.
    momentum : float, default 0.9
        Decay ``μ`` of the velocity, in [0, 1). ``momentum=0`` is :class:`SGD`.
    weight_decay : float, default 0.0
        L2 penalty ``λ >= 0`` on the parameters ``decayed`` (see :class:`Optimizer`).
    decayed : str, default "*"
        Names (a shell pattern) of the decayed parameters; every one by default.

    Raises
    ------
    TypeError
        If a hyperparameter is not a real number.
    ValueError
        If ``lr`` is not finite and positive, ``momentum`` is outside [0, 1),
        ``weight_decay`` is negative, or ``decayed`` is not a string.

    Notes
    -----
    .. math::

        v_t = μ\\, v_{t−1} + g_t, \\qquad θ_{t+1} = θ_t − η\\, s(t)\\, v_t,

    Polyak's heavy ball, which averages the noisy estimates over about :math:`1/(1 − μ)`
    steps.

    References
    ----------
    .. [1] B. T. Polyak, "Some methods of speeding up the convergence of iteration methods",
       USSR Comput. Math. Math. Phys. 4(5), 1–17 (1964).
    """

    _slots = ("velocity",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.0, decayed: str = "*") -> None:
        _check_positive("lr", lr)
        _check_unit_interval("momentum", momentum)
        self.lr = lr
        self.momentum = momentum
        self._set_decay(weight_decay, decayed)
        super().__init__()

    def _direction(self, key: str, grad: np.ndarray) -> np.ndarray:
        velocity = self._slot("velocity", key, grad)
        velocity *= self.momentum
        velocity += grad
        return self._rate * velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected moment estimates.

    ``m ← β1 m + (1−β1) g``, ``v ← β2 v + (1−β2) |g|²``, ``θ ← θ − lr · m̂ / (√v̂ + eps)`` with
    ``m̂ = m / (1−β1^t)``, ``v̂ = v / (1−β2^t)`` (``|g|²`` so that complex parameters get a real
    second moment). The first step therefore moves every component by
    ``lr · |g| / (|g| + eps) ≈ lr``, whatever the scale of the gradient.

    Parameters
    ----------
    lr : float, default 1e-3
        Learning rate, > 0; roughly the largest per-component step (parameter units).
    beta1 : float, default 0.9
        Decay of the first-moment estimate, in [0, 1).
    beta2 : float, default 0.999
        Decay of the second-moment estimate, in [0, 1).
    eps : float, default 1e-8
        Regulariser of the denominator, > 0.
    weight_decay : float, default 0.0
        L2 penalty ``λ >= 0`` on the parameters ``decayed`` (see :class:`Optimizer`).
    decayed : str, default "*"
        Names (a shell pattern) of the decayed parameters; every one by default.

    Raises
    ------
    TypeError
        If a hyperparameter is not a real number.
    ValueError
        If ``lr`` or ``eps`` is not finite and positive, ``beta1`` or ``beta2`` is outside
        [0, 1), ``weight_decay`` is negative, or ``decayed`` is not a string.

    Notes
    -----
    .. math::

        m_t = β_1 m_{t−1} + (1 − β_1) g_t, \\qquad v_t = β_2 v_{t−1} + (1 − β_2) |g_t|^2,

        θ_{t+1} = θ_t − η\\, s(t)\\, \\frac{m_t/(1 − β_1^t)}{\\sqrt{v_t/(1 − β_2^t)} + ε}.

    References
    ----------
    .. [1] D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR 2015,
       arXiv:1412.6980.
    """

    _slots = ("m", "v")

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        weight_decay: float = 0.0, decayed: str = "*",
    ) -> None:
        _check_positive("lr", lr)
        _check_unit_interval("beta1", beta1)
        _check_unit_interval("beta2", beta2)
        _check_positive("eps", eps)
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self._set_decay(weight_decay, decayed)
        super().__init__()

    def _direction(self, key: str, grad: np.ndarray) -> np.ndarray:
        m = self._slot("m", key, grad)
        v = self._slot("v", key, grad)
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        # |g|² rather than g² so that complex parameters get a real second moment
        v += (1.0 - self.beta2) * (grad * np.conj(grad)).real
        m_hat = m / (1.0 - self.beta1**self.t)
        v_hat = v / (1.0 - self.beta2**self.t)
        return self._rate * m_hat / (np.sqrt(v_hat) + self.eps)


def _require_matches(what: str, patterns, names: list[str], kind: str) -> None:
    """Every shell pattern of ``what`` must match one of ``names`` (a typo is an error)."""
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            raise ValueError(f"{what} pattern {pattern!r} matches no {kind} of {sorted(names)}")


class _BinaryWeights:
    """What the binary optimizers share: which parameters are binary (``binary``, shell
    patterns of names), their first scale ``α = mean |W|``, and the check that every entry is
    still ``±α`` (a parameter edited outside the optimizer is an error)."""

    def _set_binary(self, binary) -> None:
        patterns = (binary,) if isinstance(binary, str) else binary
        if not isinstance(patterns, (tuple, list)) or not patterns or \
                not all(isinstance(p, str) for p in patterns):
            raise ValueError(f"binary must be a name pattern or a tuple of them, got {binary!r}")
        self.binary = binary

    def binary_names(self, params: Mapping) -> list[str]:
        """The names in ``params`` that are binary; raises if a pattern matches none."""
        patterns = (self.binary,) if isinstance(self.binary, str) else tuple(self.binary)
        _require_matches("binary", patterns, list(params), "parameter")
        return [k for k in params if any(fnmatch.fnmatchcase(k, p) for p in patterns)]

    def _binary_state(self, params: Mapping) -> list[str]:
        """The binary names, checked against the state built at the first step."""
        names = self.binary_names(params)
        alpha = self._state["alpha"]
        if alpha and set(alpha) != set(names):
            raise ValueError(f"{type(self).__name__} state holds binary parameters "
                             f"{sorted(alpha)} but step() got {sorted(names)}; call reset() "
                             "before reusing an optimizer on a different system")
        return names

    @staticmethod
    def _first_scale(key: str, p: np.ndarray) -> float:
        alpha = float(np.mean(np.abs(p)))
        if not alpha > 0:
            raise ValueError(f"params[{key!r}] is all zeros: its binary scale alpha = mean|W| "
                             "would be 0; start from nonzero weights")
        return alpha

    def _check_binary(self, key: str, p: np.ndarray, alpha: float) -> None:
        off = np.abs(np.abs(p) - alpha)
        if off.max() > 1e-12 * max(alpha, 1.0):
            i = np.unravel_index(int(np.argmax(off)), p.shape)
            raise ValueError(
                f"params[{key!r}] is not binary: entry {tuple(int(j) for j in i)} is "
                f"{p[i]!r}, expected +-{alpha!r} (alpha of this {type(self).__name__}); the "
                "weights were changed outside the optimizer (reset() to binarise afresh)")


class BinaryFlip(_BinaryWeights, Optimizer):
    """Binary weights ``±α`` that flip where a filtered gradient crosses a threshold.

    The binary optimizer of binary EP (Laydevant et al. 2021): the weights take two values
    only, and learning flips signs. A low-pass filter of the gradient estimates (any rule's:
    EP of any variant, or the exact gradient) accumulates evidence,
    ``m ← μ m + (1 − μ) g`` (``m = (1 − μ) g`` at the first step), and a weight flips,
    ``W ← −W``, where the filter says the loss falls by flipping it by more than the
    threshold: ``sign(W) m > τ`` (``m`` is kept across flips). The other parameters (biases)
    take plain gradient steps ``θ ← θ − lr · g``.

    Parameters
    ----------
    threshold : float or dict, default 1e-5
        Flip threshold ``τ >= 0`` on the filtered gradient; ``inf`` freezes the signs. A
        dict maps names (shell patterns) to thresholds, one per layer, e.g. ``{"W1": 1e-7,
        "W2": 1e-6}``: each binary parameter takes the value of the first pattern that
        matches it (the paper's per-layer thresholds: the gradient of a layer whose
        activities are binary is sparse, and its filter grows slowly). Every binary
        parameter must be matched, and every pattern must match one.
    momentum : float, default 0.9999
        Decay ``μ`` of the filter, in [0, 1) (the paper's rate ``γ = 1 − μ``): a long memory,
        about ``1/(1 − μ)`` steps, so that a weight flips on the trend of many batches, not
        on one batch's noise; ``0``: the last gradient alone decides.
    lr : float, default 0.01
        Learning rate of the full-precision parameters, > 0. A training ``schedule`` scales
        it, and scales the filter's intake alike, ``m ← μ m + (1 − μ) s(t) g``: as the
        schedule ``s(t)`` decays, the filter stops moving and the flips die out (annealing;
        with a constant schedule nothing changes).
    scale_lr : float, default 0.0
        Learning rate of the scales ``α`` (one per binary parameter), ``>= 0``: ``0`` keeps
        them fixed; otherwise ``α ← α − scale_lr · Σ sign(W) ⊙ g`` (gradient descent on
        ``α``, ``dL/dα = Σ sign(W) ⊙ ∂L/∂W``; scaled by a training ``schedule`` like ``lr``).
    binary : str or tuple of str, default "W*"
        Names (shell patterns, :mod:`fnmatch`) of the binary parameters: by default the
        weight matrices of :class:`~physlearn.systems.hopfield.HopfieldNetwork` (``W1``, …).
        A pattern that matches no parameter is an error.

    Notes
    -----
    **Binarisation.** At the first step each binary parameter is set to ``α sign(W)``, with
    the scale ``α = mean |W|`` of its initial values (XNOR-Net style; ``sign(0) = +1``), and
    the filter takes its first value; flips start from the second step. From then on every
    entry is ``±α`` (``|W| = α`` is checked at every step: parameters changed from outside
    are an error, not silently rebinarised). A learnt scale that would reach ``α <= 0`` is
    an error (the step is refused): the sign pattern, not the scale, must carry the change.

    **Sign convention.** ``g`` is the estimate of ``∂L/∂W`` (descent); the paper's signal is
    its negative, so its condition ``−sign(W) m > τ`` is ``sign(W) m > τ`` here.

    ``τ`` has the units of the gradient (loss per unit weight); ``momentum`` is dimensionless.

    Raises
    ------
    TypeError
        If ``threshold``, ``momentum``, ``lr`` or ``scale_lr`` is not a real number.
    ValueError
        If a threshold is negative, ``momentum`` is outside [0, 1), ``lr`` is not positive,
        ``scale_lr`` is negative, or ``binary`` is not a pattern or tuple of patterns; from
        :meth:`step`, when a pattern matches nothing, a binary parameter starts all zeros
        or is no longer ``±α``.

    References
    ----------
    .. [1] J. Laydevant, M. Ernoult, D. Querlioz, J. Grollier, "Training dynamical binary
       neural networks with equilibrium propagation", CVPR Workshops (2021),
       arXiv:2103.08953.
    .. [2] K. Helwegen et al., "Latent weights do not exist: rethinking binarized neural
       network optimization", NeurIPS (2019).
    """

    _slots = ("filter", "alpha")

    def __init__(self, threshold: float | Mapping[str, float] = 1e-5, momentum: float = 0.9999,
                 lr: float = 0.01, scale_lr: float = 0.0,
                 binary: str | Sequence[str] = "W*") -> None:
        for value in (threshold.values() if isinstance(threshold, Mapping) else (threshold,)):
            _check_real("threshold", value)
            if not value >= 0:
                raise ValueError(f"threshold must be >= 0 (inf freezes the weights), got "
                                 f"{threshold!r}")
        _check_unit_interval("momentum", momentum)
        _check_positive("lr", lr)
        _check_nonnegative("scale_lr", scale_lr)
        self.threshold = threshold
        self.momentum = momentum
        self.lr = lr
        self.scale_lr = scale_lr
        self._set_binary(binary)
        super().__init__()

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> dict:
        _check_matching(params, grads)
        names = self._binary_state(params)
        thresholds = self._thresholds(names)
        intake = (1.0 - self.momentum) * self.lr_scale     # a schedule anneals the flips
        alpha, filt = self._state["alpha"], self._state["filter"]
        first = not alpha
        new, scales, filters = {}, {}, {}
        for key in params:
            p, g = np.asarray(params[key], dtype=float), np.asarray(grads[key])
            if key not in names:
                new[key] = p - self._rate * g
                continue
            if first:
                scales[key] = self._first_scale(key, p)
                filters[key] = intake * g
                new[key] = scales[key] * np.where(p < 0, -1.0, 1.0)
                continue
            self._check_binary(key, p, float(alpha[key]))
            sign = np.sign(p)
            scales[key] = float(alpha[key]) - self.scale_lr * self.lr_scale * float(
                np.sum(sign * np.real(g)))
            if not scales[key] > 0:
                raise ValueError(f"the scale alpha of params[{key!r}] would become "
                                 f"{scales[key]!r} <= 0 (from {float(alpha[key])!r}); use a "
                                 "smaller scale_lr")
            filters[key] = self.momentum * filt[key] + intake * g
            new[key] = scales[key] * np.where(sign * filters[key] > thresholds[key], -sign,
                                                sign)
        for key in scales:                      # commit the state only once every check passed
            alpha[key], filt[key] = np.array(scales[key]), filters[key]
        self.t += 1
        return new

    def _thresholds(self, names: list[str]) -> dict:
        """Each binary parameter's threshold (``threshold`` a number, or per name)."""
        if not isinstance(self.threshold, Mapping):
            return dict.fromkeys(names, self.threshold)
        _require_matches("threshold", self.threshold, names, "binary parameter")
        found = {k: next((t for p, t in self.threshold.items() if fnmatch.fnmatchcase(k, p)),
                         None) for k in names}
        missing = [k for k, t in found.items() if t is None]
        if missing:
            raise ValueError(f"threshold={self.threshold!r} gives no threshold for the binary "
                             f"parameters {missing}")
        return found


class Metaplastic(_BinaryWeights, Adam):
    """Binary weights as the signs of hidden weights whose plasticity falls with their size.

    The metaplastic optimizer of Laborieux et al. (2021): every binary synapse ``W = α
    sign(W_h)`` carries a hidden weight ``W_h`` (the optimizer's state) that integrates the
    gradient estimates ``g = ∂L/∂W`` (of any rule) by Adam steps ``u``; a step that pushes
    ``W_h`` toward zero, toward a flip of the binary weight, is attenuated,

    .. math::

        u ← \\big(1 − \\tanh^2(m\\,|W_h|)\\big)\\,u \\quad\\text{where}\\quad
        \\operatorname{sign}(W_h)\\,u < 0,

    so a synapse that has grown large while learning one task becomes hard to flip while
    learning the next: the network consolidates what it learnt without knowing the task
    boundaries. ``m = 0`` is a plain binarised network trained by Adam on hidden weights.
    The other parameters (biases) take plain Adam steps.

    Parameters
    ----------
    m : float, default 1.0
        Metaplasticity ``m >= 0`` (dimensionless; it multiplies ``|W_h|``, in the units of
        the weights).
    lr : float, default 5e-3
        Adam's learning rate, > 0 (a training ``schedule`` scales it).
    beta1, beta2, eps : float
        Adam's moment decays and regulariser (see :class:`Adam`).
    binary : str or tuple of str, default "W*"
        Names (shell patterns) of the binary parameters, as for :class:`BinaryFlip`.

    Notes
    -----
    At the first step the hidden weights start at the parameters' values and the scale at
    ``α = mean |W|`` (fixed); that step's gradient was measured at these full-precision
    weights. The parameters returned are ``α sign(W_h)`` (``sign(0) = +1``),
    and every later step checks that the parameters it is given are still those (an edit
    from outside is an error). The hidden weights are not clipped. They persist across
    calls of :func:`physlearn.train`, so training task after task with one optimizer is
    the paper's protocol; :meth:`reset` forgets them (and the binarisation).

    Raises
    ------
    TypeError
        If a hyperparameter is not a real number.
    ValueError
        If ``m`` is negative, an Adam hyperparameter is invalid (as for :class:`Adam`), or
        ``binary`` is not a pattern or tuple of patterns; from :meth:`step`, when a binary
        parameter starts all zeros or was changed from outside.

    References
    ----------
    .. [1] A. Laborieux, M. Ernoult, T. Hirtzlin, D. Querlioz, "Synaptic metaplasticity in
       binarized neural networks", Nat. Commun. 12, 2549 (2021), arXiv:2003.03533.
    """

    _slots = ("m", "v", "hidden", "alpha")

    def __init__(self, m: float = 1.0, lr: float = 5e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8,
                 binary: str | Sequence[str] = "W*") -> None:
        _check_nonnegative("m", m)
        self._set_binary(binary)
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        self.m = m

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> dict:
        _check_matching(params, grads)
        names = self._binary_state(params)
        alpha, hidden = self._state["alpha"], self._state["hidden"]
        if not alpha:                                     # binarise: hidden weights start here
            scales = {key: self._first_scale(key, np.asarray(params[key])) for key in names}
            for key in names:
                alpha[key] = np.array(scales[key])
                hidden[key] = np.array(params[key], dtype=float)
        else:
            for key in names:
                self._check_binary(key, np.asarray(params[key], dtype=float), float(alpha[key]))
                self._check_signs(key, np.asarray(params[key]), hidden[key])
        self.t += 1
        new = {}
        for key in params:
            d = self._direction(key, np.asarray(grads[key]))     # the Adam step is −d
            if key not in names:
                new[key] = np.asarray(params[key], dtype=float) - d
                continue
            h = hidden[key]
            shrinks = np.sign(h) * d > 0                         # −d points toward zero
            h -= np.where(shrinks, 1.0 - np.tanh(self.m * np.abs(h)) ** 2, 1.0) * d
            new[key] = float(alpha[key]) * np.where(h < 0, -1.0, 1.0)
        return new

    def _check_signs(self, key: str, p: np.ndarray, h: np.ndarray) -> None:
        wrong = (p < 0) != (h < 0)
        if wrong.any():
            i = np.unravel_index(int(np.argmax(wrong)), p.shape)
            raise ValueError(
                f"params[{key!r}] is not the sign of its hidden weight: entry "
                f"{tuple(int(j) for j in i)} is {p[i]!r} but the hidden weight is {h[i]!r}; "
                "the weights were changed outside the optimizer (reset() to start afresh)")


SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """The factor on the learning rate in ``epoch`` (1-based) of ``epochs``.

    Parameters
    ----------
    schedule : {"constant", "cosine"}
        ``"constant"``: 1. ``"cosine"``: ``½(1 + cos(π (epoch − 1) / epochs))``, from 1 in the
        first epoch down to about ``(π / 2 epochs)²`` in the last (cosine annealing per
        epoch, as the deep-EP papers train).
    epoch, epochs : int
        The epoch about to run and the total number of epochs.

    Returns
    -------
    float
        The dimensionless factor ``s(epoch)`` in ``(0, 1]``.

    Raises
    ------
    ValueError
        For an unknown schedule (the message lists the known ones), or an epoch outside
        ``1..epochs``.

    Notes
    -----
    .. math::

        s(e) = \\tfrac12\\Big(1 + \\cos\\frac{π (e − 1)}{E}\\Big), \\qquad e = 1 … E,

    cosine annealing without restarts, evaluated once per epoch.

    References
    ----------
    .. [1] I. Loshchilov, F. Hutter, "SGDR: stochastic gradient descent with warm restarts",
       ICLR 2017, arXiv:1608.03983.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
    if not 1 <= epoch <= epochs:
        raise ValueError(f"epoch must be in 1..{epochs} (epochs), got {epoch}")
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def make_optimizer(name: str, **kwargs) -> Optimizer:
    """Build a registered optimizer by name.

    Parameters
    ----------
    name : str
        A name registered in :data:`physlearn.registry.OPTIMIZERS` (case-insensitive):
        ``"sgd"``, ``"momentum"``, ``"adam"``, ``"binary-flip"``, ``"metaplastic"``.
    **kwargs
        Hyperparameters passed to the optimizer's constructor.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the valid names.

    Examples
    --------
    >>> make_optimizer("adam", lr=0.01)
    Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    from physlearn.registry import OPTIMIZERS

    key = name.lower() if isinstance(name, str) else name
    return OPTIMIZERS.entry(key).build(**kwargs)
