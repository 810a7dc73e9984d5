"""Deep resistive networks (DRNs): layered resistors and ideal diodes, relaxed exactly.

Physics
-------
Layers of nodes joined all-to-all by trainable resistors: the inputs, held by voltage sources
at ``γ (x, −x)`` (input gain ``γ``, a differential drive so that non-negative conductances can
realise signed weights), hidden layers of units with an ideal diode to ground each (half of
them *excitatory*, ``v ≥ 0``, half *inhibitory*, ``v ≤ 0``) and a linear output layer. A bias
current source ``b_k`` feeds every non-input node. The steady state minimises the power
dissipation function (the co-content of the linear elements)

    E(v) = Σ_ℓ ½ Σ_{i∈ℓ, j∈ℓ+1} g_ij (a_ℓ v_i − v_j)²  −  Σ_k b_k v_k,

over the free node voltages, subject to the diode constraints; an ideal diode is exactly the
inequality constraint ``v ≥ 0`` (``v ≤ 0``). ``a_ℓ`` is the gain of the amplifiers behind
layer ``ℓ`` (1: none; see :class:`DeepResistiveNetwork`). Scellier (2024) turns this
quadratic programme into an *exact* block coordinate descent: nodes of one layer are not
coupled to each other, so a whole layer is minimised in closed form given its two neighbour
layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.costs import SquaredError
from physlearn.nudges import Clamp, Nudge
from physlearn.system import Bound, ConvergenceError, EquilibriumSystem, State

__all__ = ["DeepResistiveNetwork", "DRNState", "OuterSquares"]


@dataclass
class DRNState(State):
    """A state of a :class:`DeepResistiveNetwork`.

    Parameters
    ----------
    s, x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`: ``s`` holds the voltages of the hidden and output
        layers (units of the input scale).
    sources : ndarray, shape (batch, 2 n_features)
        The input voltages ``γ (x, −x)``.
    kkt : ndarray, shape (batch,), optional
        The KKT certificate of ``s`` per sample (units of current; see
        :meth:`DeepResistiveNetwork.kkt`), computed by :meth:`~DeepResistiveNetwork.equilibrium`.
    sweeps : int, default 0
        Sweeps the relaxation took.

    Notes
    -----
    ``s`` minimises the power :math:`E = ½\\sum g\\,ΔV^2 − b·v` under the diode constraints
    (:math:`v ≥ 0` on excitatory, :math:`v ≤ 0` on inhibitory hidden units); ``kkt`` is the
    largest violation of its Karush–Kuhn–Tucker conditions, as a current.

    References
    ----------
    .. [1] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
       ICML 2024, arXiv:2402.11674.
    """

    sources: np.ndarray = None
    kkt: np.ndarray = None
    sweeps: int = 0


def _is_number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                              np.floating))


def _positive(name, value, allow_zero=False):
    ok = _is_number(value) and np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name}={value!r} must be a finite number "
                         f"{'>= 0' if allow_zero else '> 0'}")
    return float(value)


def _per_interface(name, value, n, allow_zero=False):
    """A scalar or a list of ``n`` numbers (one per interface / per amplifier)."""
    if _is_number(value):
        return [_positive(name, value, allow_zero)] * n
    try:
        values = list(value)
    except TypeError:
        raise ValueError(f"{name}={value!r} must be a number or a list of {n} numbers") \
            from None
    if len(values) != n:
        raise ValueError(f"{name}={value!r} has {len(values)} entries, expected {n} (one per "
                         f"{'interface between layers' if name == 'weight_gain' else 'amplifier'})")
    return [_positive(f"{name}[{i}]", v, allow_zero) for i, v in enumerate(values)]


class OuterSquares:
    """Per-sample resistor measurements ``M[b, i, j] = Σ_t c_t ½ (w^t_bi − z^t_bj)²``, kept
    factored.

    What :meth:`DeepResistiveNetwork.param_gradient` returns for the conductances: the squared
    voltage drop across every resistor between two layers (``w``: the drive of the lower
    layer, ``z``: the upper layer's voltages), without forming the ``(batch, n_pre, n_post)``
    array. ``numpy.asarray`` materialises it exactly; so does every numpy operation except the
    ones a learning rule applies to measurements, which stay factored: sums and differences of
    measurements, scaling by a number, ``numpy.real`` and the batch mean
    ``numpy.mean(M, axis=0)``. The batch mean of a contrast of two measurements ``c (M₂ − M₁)``
    is computed from ``(Δ₂² − Δ₁²) = (Δ₂ − Δ₁)(Δ₂ + Δ₁)`` with one matrix product, so its
    rounding error is relative to the *difference* of the drops, as for the materialised
    contrast. For a 128 × 1024 interface and a batch of 4 this avoids about 20 MB of memory
    traffic per EP step.

    Parameters
    ----------
    terms : list of (float, ndarray (batch, n), ndarray (batch, m))
        The coefficients ``c_t`` and the node voltages ``w^t``, ``z^t``.
    """

    __slots__ = ("terms", "shape")
    dtype = np.dtype(np.float64)
    ndim = 3

    def __init__(self, terms):
        self.terms = list(terms)
        _, w, z = self.terms[0]
        self.shape = (w.shape[0], w.shape[1], z.shape[1])

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        return self.shape[0]

    @property
    def real(self):
        return self

    def __array__(self, dtype=None, copy=None):
        out = np.zeros(self.shape)
        for c, w, z in self.terms:
            d = np.subtract(w[:, :, None], z[:, None, :])
            np.square(d, out=d)
            out += (0.5 * c) * d
        return out if dtype is None else out.astype(dtype)

    def __repr__(self):
        return f"OuterSquares(shape={self.shape}, terms={len(self.terms)})"

    def _combine(self, other, sign):
        if not isinstance(other, OuterSquares) or other.shape != self.shape:
            return NotImplemented
        return OuterSquares(self.terms + [(sign * c, w, z) for c, w, z in other.terms])

    def _scale(self, factor):
        if not (np.isscalar(factor) and np.isreal(factor)):
            return NotImplemented
        return OuterSquares([(float(factor) * c, w, z) for c, w, z in self.terms])

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            result = NotImplemented
            if ufunc in (np.add, np.subtract) and len(inputs) == 2 and inputs[0] is self:
                result = self._combine(inputs[1], 1.0 if ufunc is np.add else -1.0)
            elif ufunc is np.multiply and len(inputs) == 2:
                other = inputs[1] if inputs[0] is self else inputs[0]
                result = self._scale(other) if isinstance(other, (int, float, np.number)) \
                    and not isinstance(other, OuterSquares) else NotImplemented
            elif ufunc is np.true_divide and len(inputs) == 2 and inputs[0] is self \
                    and isinstance(inputs[1], (int, float, np.number)) and inputs[1] != 0:
                result = self._scale(1.0 / inputs[1])
            elif ufunc is np.negative:
                result = self._scale(-1.0)
            if result is not NotImplemented:
                return result
        inputs = [np.asarray(i) if isinstance(i, OuterSquares) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, OuterSquares) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.mean and len(args) == 1 and set(kwargs) <= {"axis"} \
                and kwargs.get("axis", None) == 0:
            return self.batch_mean()
        if func is np.real and len(args) == 1 and not kwargs:
            return self

        def dense(a):
            if isinstance(a, OuterSquares):
                return np.asarray(a)
            if isinstance(a, (list, tuple)):
                return type(a)(dense(b) for b in a)
            return a

        return func(*dense(args), **{k: dense(v) for k, v in kwargs.items()})

    def __getitem__(self, index):
        return np.asarray(self)[index]

    __add__ = lambda self, other: np.add(self, other)            # noqa: E731
    __radd__ = lambda self, other: np.add(other, self)           # noqa: E731
    __sub__ = lambda self, other: np.subtract(self, other)       # noqa: E731
    __rsub__ = lambda self, other: np.subtract(other, self)      # noqa: E731
    __mul__ = lambda self, other: np.multiply(self, other)       # noqa: E731
    __rmul__ = lambda self, other: np.multiply(other, self)      # noqa: E731
    __truediv__ = lambda self, other: np.true_divide(self, other)  # noqa: E731
    __neg__ = lambda self: np.negative(self)                     # noqa: E731

    def batch_mean(self):
        """``mean_b M[b]``, shape (n, m): exact for a contrast of two measurements."""
        batch = self.shape[0]
        terms = self.terms
        if len(terms) == 2 and terms[0][0] == -terms[1][0]:
            (c, w2, z2), (_, w1, z1) = terms
            p, r = w2 - w1, w2 + w1
            q, t = z2 - z1, z2 + z1
            k = 0.5 * c / batch
            ones_i, ones_j = np.ones((1, p.shape[1])), np.full((1, q.shape[1]), k)
            # Σ_b (p_i − q_j)(r_i − t_j) = Σ p_i r_i − Σ p_i t_j − Σ r_i q_j + Σ q_j t_j, as
            # one matrix product of stacked factors
            a = np.concatenate([p, r, np.einsum("bi,bi->i", p, r)[None, :], ones_i])
            b = np.concatenate([-k * t, -k * q, ones_j, k * np.einsum("bj,bj->j", q, t)[None]])
            return a.T @ b
        return np.mean(np.asarray(self), axis=0)


class DeepResistiveNetwork(EquilibriumSystem):
    """A deep resistive network (DRN) of Scellier (2024), trained through its conductances.

    Parameters
    ----------
    layers : list of int
        ``[n_features, *hidden, n_outputs]``; each input feature drives two nodes (``±γx``),
        so the first interface has ``2 n_features`` rows. At least one hidden layer.
        Hidden layer ``k`` has ``n_k // 2`` excitatory units (its first ones, ``v ≥ 0``) and
        the rest inhibitory (``v ≤ 0``), as in the authors' code.
    input_gain : float, default 1.0
        ``γ > 0``: the inputs are voltage sources at ``γ (x, −x)``. The paper uses 100 to 4000
        on MNIST pixels in [0, 1] (100 for its 100-unit network, 480 for 1024 units). On the
        64 standardised pixels of scikit-learn's digits the hidden voltages have the same
        spread at gains about ten times smaller; the digits examples use 20 (100 units) and
        40 (1024 units).
    weight_gain : float or list of float, default 1.0
        Initialisation: the conductances of interface ``k`` are ``max(u, 0)`` with ``u``
        uniform in ``±weight_gain_k / sqrt(n_{k−1})`` (the authors' "half Kaiming uniform";
        about half start at exactly zero). One number, or one per interface.
    amplification : float or list of float, default 1.0
        Gain ``a_ℓ > 0`` of the bidirectional amplifiers placed behind every hidden layer
        (one number, or one per hidden layer): the resistors to layer ``ℓ + 1`` see
        ``a_ℓ v`` instead of ``v``. 1 means no amplifiers, as in the authors' public code,
        which compensates the attenuation of a passive network with the input gain alone.
    sweeps : int or None, default None
        ``None``: relax until the KKT certificate is below ``tol`` (a
        :class:`~physlearn.ConvergenceError` after ``max_sweeps``). An integer: a fixed number
        of sweeps, as in the paper (4 to 6); the certificate is still computed and stored on
        the state (``state.kkt``).
    tol : float, default 1e-11
        Stop when the KKT certificate (in units of current, > 0) is at most ``tol`` for every
        sample.
    max_sweeps : int, default 100000
        Sweeps allowed to reach ``tol`` (≥ 1).
    warm_start : bool, default False
        Start a free relaxation without ``start`` from the state the network was left in by
        its previous relaxation of a batch of the same size (zeros otherwise). This is the
        authors' warm start across mini-batches: their free phase starts from the last nudged
        state of the previous mini-batch, and so does this one under physlearn's EP rule
        (there the −β phase, the last one it runs). It is hidden state: a resumed training run
        is then not bitwise equal to an uninterrupted one.
    seed : int, optional
        Seed of the initial conductances (biases start at zero).

    Raises
    ------
    ValueError
        If ``layers`` is not a list of at least three integers >= 1; ``input_gain``,
        ``weight_gain``, ``amplification`` or ``tol`` is not a finite positive number (or a
        per-interface list has the wrong length); ``sweeps`` is neither None nor an integer
        >= 1; ``max_sweeps`` is not an integer >= 1; or ``warm_start`` is not a bool.

    Notes
    -----
    **Energy.** With layer voltages :math:`u^0 = γ(x, −x)` (sources), :math:`u^1 … u^L`
    (hidden) and :math:`u^{L+1} = o` (outputs),

    .. math::

        E = \\sum_{ℓ=0}^{L} \\tfrac12 \\sum_{ij} g^{ℓ+1}_{ij}\\big(a_ℓ u^ℓ_i − u^{ℓ+1}_j\\big)^2
            − \\sum_{k≥1} b^k · u^k,

    ``a₀ = 1`` (the input sources carry the gain). ``½ Σ g ΔV²`` is the power dissipated in
    the resistors and ``−b·v`` the work of the bias current sources; an ideal diode to ground
    dissipates nothing and only imposes ``v ≥ 0`` (excitatory) or ``v ≤ 0`` (inhibitory). The
    free steady state is the minimiser of ``E`` under these constraints; a nudge adds ``β C(o)``.
    The learning signal is local: ``∂E/∂g_ij = ½ (a_ℓ u_i − u_j)²`` and ``∂E/∂b_k = −u_k``.

    **KKT conditions.** ``s`` is the constrained minimiser iff, with ``r = ∂(E + βC)/∂s``
    (the net current a node would need from its diode): ``r_k = 0`` on every unclipped node;
    on a clipped excitatory node (``v_k = 0``) the diode pushes current in, ``r_k ≥ 0``; on a
    clipped inhibitory node ``r_k ≤ 0``; and every hidden voltage respects its diode.
    :meth:`kkt` returns the largest violation of these per sample, as a current.

    **Why block coordinate descent is exact.** ``E`` restricted to one layer, the others
    fixed, is a sum of independent one-dimensional parabolas ``½ d_k v_k² − c_k v_k`` with
    ``d_k = Σ_i g_ik + a_k² Σ_j g_kj`` and ``c_k = Σ_i g_ik a_{k−1} u_i + a_k Σ_j g_kj u_j +
    b_k``, and the diode constraint is an interval per node, so the layer's exact minimiser is
    ``v_k = Π(c_k / d_k)`` (the projection onto the interval). Layers of the same parity are
    not coupled either, so one *sweep* minimises exactly over the even-numbered layers and
    then over the odd ones (the authors' "asynchronous" schedule): the energy never increases,
    and for a strictly convex ``E`` the sweeps converge to the unique minimiser. A squared-error
    nudge adds ``½β(o − y)²`` to the output parabolas (``o = (c + βy)/(d + β)``); another
    cost's output block is minimised exactly by Newton's method; a clamp holds the outputs.

    **The amplifier.** A bidirectional amplifier of gain ``a`` behind layer ``ℓ`` drives the
    resistors to layer ``ℓ + 1`` with ``a v`` and feeds the current drawn from it back into the
    node multiplied by ``a`` (an ideal DC transformer: power-conserving, so the circuit keeps
    the energy above). A one-way voltage-controlled voltage source would make the circuit
    non-reciprocal, without an energy function for EP to use.

    **Exact gradient.** The free equilibrium is piecewise linear in the parameters; away from
    switching points the clipped nodes are constants, so implicit differentiation uses the
    Hessian restricted to the unclipped nodes (:meth:`adjoint`; λ = 0 on clipped nodes).

    Dimensionless units: voltages in units of the input scale, conductances in units of a
    reference conductance, currents in their product.

    References
    ----------
    .. [1] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
       ICML 2024, arXiv:2402.11674.
    .. [2] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems import DeepResistiveNetwork
    >>> net = DeepResistiveNetwork([2, 4, 2], seed=0)
    >>> state = net.equilibrium([[0.5, -0.2]])
    >>> bool(state.kkt.max() <= net.tol)
    True
    """

    capabilities = frozenset({"soft_nudge", "clamp"})

    def __init__(self, layers: Sequence[int], *, input_gain: float = 1.0,
                 weight_gain: float | Sequence[float] = 1.0,
                 amplification: float | Sequence[float] = 1.0, sweeps: int | None = None,
                 tol: float = 1e-11, max_sweeps: int = 100000, warm_start: bool = False,
                 seed: int | None = None):
        self.layers = layers
        self.input_gain = input_gain
        self.weight_gain = weight_gain
        self.amplification = amplification
        self.sweeps = sweeps
        self.tol = tol
        self.max_sweeps = max_sweeps
        self.warm_start = warm_start
        self.seed = seed
        self._build()
        self._cache = None
        self._last_s = None
        self._drive_memo = None
        self.params = self._initial_params()

    # -- structure ----------------------------------------------------------------------------
    def _build(self):
        try:
            sizes = list(self.layers)
        except TypeError:
            raise ValueError(f"layers={self.layers!r} must be a list [n_features, *hidden, "
                             "n_outputs]") from None
        if len(sizes) < 3:
            raise ValueError(f"layers={self.layers!r} needs [n_features, *hidden, n_outputs] "
                             "with at least one hidden layer (the diodes live there)")
        for k, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"layers={self.layers!r}: entry {k} = {n!r} must be an integer "
                                 ">= 1")
        sizes = [int(n) for n in sizes]
        self.n_features, self.n_outputs = sizes[0], sizes[-1]
        self._gamma = _positive("input_gain", self.input_gain)
        self._widths = [2 * sizes[0]] + sizes[1:]          # node count per layer, sources first
        n_int = len(sizes) - 1
        self._wgains = _per_interface("weight_gain", self.weight_gain, n_int)
        n_hidden = len(sizes) - 2
        amps = _per_interface("amplification", self.amplification, n_hidden)
        self._amps = [1.0] + amps                           # a_ℓ behind layer ℓ (sources: 1)
        if self.sweeps is not None and (isinstance(self.sweeps, bool) or not isinstance(
                self.sweeps, (int, np.integer)) or self.sweeps < 1):
            raise ValueError(f"sweeps={self.sweeps!r} must be None (relax to tol) or an "
                             "integer >= 1")
        _positive("tol", self.tol)
        if isinstance(self.max_sweeps, bool) or not isinstance(self.max_sweeps,
                                                               (int, np.integer)) \
                or self.max_sweeps < 1:
            raise ValueError(f"max_sweeps={self.max_sweeps!r} must be an integer >= 1")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"warm_start={self.warm_start!r} must be True or False")
        # free layers 1..K (K = output); their slices in s
        free = self._widths[1:]
        offsets = np.concatenate([[0], np.cumsum(free)])
        self._slices = [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]
        self.n_state = int(offsets[-1])
        self.output_index = np.arange(self._slices[-1].start, self.n_state)
        self._n_exc = [n // 2 for n in free[:-1]]           # excitatory units per hidden layer
        K = len(free)
        self._groups = (list(range(0, K, 2)), list(range(1, K, 2)))
        lower = np.full(self.n_state, -np.inf)
        upper = np.full(self.n_state, np.inf)
        for k, n_exc in enumerate(self._n_exc):
            sl = self._slices[k]
            lower[sl.start:sl.start + n_exc] = 0.0
            upper[sl.start + n_exc:sl.stop] = 0.0
        self._lower, self._upper = lower, upper
        self._sig = [np.where(np.arange(n) < n_exc, 1.0, -1.0)
                     for n, n_exc in zip(free[:-1], self._n_exc)] + [np.ones(free[-1])]
        self._hidden_mask = np.zeros(self.n_state, bool)
        self._hidden_mask[:self._slices[-1].start] = True

    @property
    def param_shapes(self):
        """``g{k}``: conductances from layer ``k − 1`` to layer ``k`` (layer 0: the ``2 n_features``
        input nodes), shape ``(n_{k−1}, n_k)``; ``b{k}``: bias currents into layer ``k``."""
        shapes = {}
        for k in range(1, len(self._widths)):
            shapes[f"g{k}"] = (self._widths[k - 1], self._widths[k])
        for k in range(1, len(self._widths)):
            shapes[f"b{k}"] = (self._widths[k],)
        return shapes

    @property
    def param_bounds(self):
        """Conductances ``g ≥ 0`` (a learning step clips onto 0, as the authors do); biases are
        currents of either sign."""
        return {f"g{k}": Bound(0.0, label="conductance") for k in range(1, len(self._widths))}

    def describe_param_index(self, name, index):
        if name.startswith("g"):
            k = int(name[1:])
            i, j = divmod(int(index), self._widths[k])
            lower = "input node" if k == 1 else f"layer {k - 1} node"
            return f" ({lower} {i} -> {'output' if k == len(self._widths) - 1 else f'layer {k}'}" \
                   f" node {j})"
        return ""

    def _initial_params(self):
        rng = np.random.default_rng(self.seed)
        params = {}
        for k in range(1, len(self._widths)):
            n_pre, n_post = self._widths[k - 1], self._widths[k]
            scale = self._wgains[k - 1] / np.sqrt(n_pre)
            params[f"g{k}"] = np.maximum(rng.uniform(-scale, scale, (n_pre, n_post)), 0.0)
        for k in range(1, len(self._widths)):
            params[f"b{k}"] = np.zeros(self._widths[k])
        return params

    def update_params(self, new):
        """A learning step: clip the conductances onto ``g ≥ 0`` (NaN refused).

        Same contract as :meth:`System.update_params`, without the second bound check that the
        clip makes redundant (this runs once per mini-batch on every conductance).
        """
        expected = self.param_shapes
        if set(new) != set(expected):
            return super().update_params(new)
        out = {}
        for name, shape in expected.items():
            value = np.array(new[name], dtype=float, copy=True)
            if value.shape != shape or not np.isfinite(np.sum(value)):
                return super().update_params(new)          # the detailed error messages
            if name[0] == "g":
                np.maximum(value, 0.0, out=value)
            out[name] = value
        self._params = out

    # -- cached matrices (per parameter set) ----------------------------------------------------
    def _factor(self):
        p = self._params
        cache = self._cache
        if cache is not None and cache["params"] is p:
            return cache
        widths, amps = self._widths, self._amps
        K = len(widths) - 1
        g = [p[f"g{k}"] for k in range(1, K + 1)]           # g[k-1]: layer k-1 -> k
        # coupling of free layer k (1-based) to its neighbours in c_k:
        #   c_k = u_{k-1} @ down[k] + u_{k+1} @ up[k] + b_k
        down = [g[k - 1] if amps[k - 1] == 1.0 else amps[k - 1] * g[k - 1]
                for k in range(1, K + 1)]
        up = [np.ascontiguousarray(g[k].T if amps[k] == 1.0 else amps[k] * g[k].T)
              if k < K else None for k in range(1, K + 1)]
        diag = []
        for k in range(1, K + 1):
            d = g[k - 1].sum(axis=0)
            if k < K:
                d = d + amps[k] ** 2 * g[k].sum(axis=1)
            diag.append(d)
        bias = [p[f"b{k}"] for k in range(1, K + 1)]
        inv = []
        for k, (d, b) in enumerate(zip(diag, bias)):
            floating = d <= 0
            if np.any(floating & (b != 0)):
                j = int(np.flatnonzero(floating & (b != 0))[0])
                raise ValueError(
                    f"node {j} of layer {k + 1} has every conductance at zero but a bias "
                    f"current b{k + 1}[{j}] = {float(b[j])!r}: the current has nowhere to go, so "
                    "the network has no steady state")
            with np.errstate(divide="ignore"):
                inv.append(np.where(floating, 0.0, 1.0 / np.where(floating, 1.0, d)))
        # the same couplings divided by the upper node's diagonal: hidden layer k's
        # unconstrained minimiser is u_k = c_k / d_k = u_{k-1} @ down_s + u_{k+1} @ up_s + b_s
        # The relaxation works with w_k = σ_k v_k on hidden layers (σ = +1 excitatory, −1
        # inhibitory), so every diode reads w >= 0, and with the couplings divided by the upper
        # node's diagonal: hidden layer k's unconstrained minimiser (in w) is
        #   u_k = w_{k-1} @ down_s[k] + w_{k+1} @ up_s[k] + bias_s[k],
        # and the output layer's c = w_{K-2} @ down_o + b.
        sig = self._sig
        inv_sig = [inv[k] * sig[k] for k in range(K)]
        down_s = [sig[k - 1][:, None] * down[k] * inv_sig[k] if 0 < k < K - 1 else None
                  for k in range(K)]
        up_s = [sig[k + 1][:, None] * up[k] * inv_sig[k] if k < K - 1 else None
                for k in range(K)]
        bias_s = [bias[k] * inv_sig[k] for k in range(K)]
        down_o = sig[K - 2][:, None] * down[K - 1]
        self._cache = cache = {"params": p, "down": down, "up": up, "diag": diag,
                               "inv": inv, "bias": bias, "down_s": down_s, "up_s": up_s,
                               "bias_s": bias_s, "sig": sig, "inv_sig": inv_sig,
                               "down_o": down_o}
        return cache

    def clear_cache(self):
        """Forget the cached coupling matrices (rebuilt on the next relaxation)."""
        self._cache = None
        self._drive_memo = None

    # -- inputs -------------------------------------------------------------------------------
    def source_voltages(self, x):
        """The input voltages ``γ (x, −x)``, shape (batch, 2 n_features)."""
        u = np.empty((x.shape[0], 2 * self.n_features))
        np.multiply(x, self._gamma, out=u[:, :self.n_features])
        np.negative(u[:, :self.n_features], out=u[:, self.n_features:])
        return u

    def check_inputs(self, x):
        if isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 2 \
                and x.shape[1] == self.n_features and x.shape[0] > 0:
            if not np.isfinite(np.sum(x)):
                return super().check_inputs(x)               # names the bad values
            return x
        return super().check_inputs(x)

    def check_targets(self, y, batch):
        if isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == (
                batch, self.n_outputs) and np.isfinite(np.sum(y)):
            return y
        return super().check_targets(y, batch)

    # -- relaxation -----------------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """The steady state for inputs ``x`` by exact block coordinate descent.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : Nudge, Clamp or None
            ``Nudge``: minimise ``E + β C(o, y)`` (real β; closed form for the squared error,
            Newton's method on the output block for other costs). ``Clamp``: hold the outputs.
        start : DRNState, optional
            Initial state (e.g. the free state of the same ``x``); default zeros, or with
            ``warm_start`` the state the network was left in.

        Returns
        -------
        DRNState
            With ``kkt``, the certificate per sample, and ``sweeps``.

        Raises
        ------
        ConvergenceError
            In tolerance mode (``sweeps=None``), if the certificate is above ``tol`` after
            ``max_sweeps`` sweeps; with any nudge for which ``E + βC`` has no minimum (an
            output stiffness ``d + β ≤ 0``).
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        batch = x.shape[0]
        f = self._factor()
        u0 = self.source_voltages(x)
        K = len(self._slices)
        if start is not None:
            if not isinstance(start, State) or np.shape(start.s) != (batch, self.n_state):
                raise ValueError(f"start must be a state of shape ({batch}, {self.n_state}), "
                                 f"got {np.shape(getattr(start, 's', start))}")
            s0 = np.asarray(start.s, dtype=float)
            if not (isinstance(start, DRNState) and start.kkt is not None):
                s0 = np.clip(s0, self._lower, self._upper)   # not one of ours: make feasible
        elif self.warm_start and self._last_s is not None and self._last_s.shape[0] == batch:
            s0 = self._last_s
        else:
            s0 = None
        # one contiguous array per free layer while relaxing, hidden layers as w = σ v
        V = [np.zeros((batch, sl.stop - sl.start)) if s0 is None else s0[:, sl] * f["sig"][k]
             for k, sl in enumerate(self._slices)]
        mode, y, beta, cost = "free", None, 0.0, None
        if isinstance(nudge, Clamp):
            mode = "clamp"
            V[-1][:] = self.check_targets(nudge.values, batch)
        elif isinstance(nudge, Nudge):
            y = self.check_targets(nudge.target, batch)
            beta = float(np.real(nudge.beta))
            cost = nudge.cost
            if beta != 0.0:
                mode = "squared" if type(cost) is SquaredError else "cost"
                stiff = f["diag"][-1] + beta
                if beta < 0 and np.any(stiff <= 0):
                    raise ConvergenceError(
                        f"beta={beta!r} out-weighs the conductances of output "
                        f"{int(np.argmin(stiff))} (total {float(np.min(f['diag'][-1])):.6g}): "
                        "E + beta*C has no minimum; reduce |beta|")
        # the input layer's drive of layer 1 is fixed during the relaxation
        drive = [self._input_drive(x, u0, f)] + [f["bias_s"][k] for k in range(1, K - 1)] \
            + [f["bias"][K - 1]]
        scaled = None
        if mode == "squared":   # the output update o = (c + βy) / (d + β)
            scaled = (beta * y, 1.0 / (f["diag"][-1] + beta))
        ctx = (f, V, drive, mode, y, beta, cost, scaled)

        fixed = self.sweeps is not None
        first, second = self._groups
        n, kkt = 0, None
        while True:
            sums = [self._layer_sum(ctx, k) for k in first]
            if n > 0 and (not fixed or n >= self.sweeps):
                # the second group is exactly optimal: certify through the first
                kkt = self._certificate(ctx, first, sums)
                if fixed and n >= self.sweeps or not fixed and np.max(kkt) <= self.tol:
                    break
                if not fixed and n >= self.max_sweeps:
                    raise ConvergenceError(
                        f"the relaxation did not converge in max_sweeps={self.max_sweeps} "
                        f"sweeps: KKT certificate {np.max(kkt):.3e} > tol={self.tol:g}. Raise "
                        "max_sweeps, or use a fixed number of sweeps (sweeps=...)")
            self._write(ctx, first, sums)
            self._write(ctx, second, [self._layer_sum(ctx, k) for k in second])
            n += 1
        s = np.concatenate(V, axis=1)
        s[:, :self._slices[-1].start] *= np.concatenate(f["sig"][:-1])
        if self.warm_start:
            self._last_s = s.copy()
        return DRNState(s=s, x=x, nudge=nudge, sources=u0, kkt=kkt, sweeps=n)

    def _input_drive(self, x, u0, f):
        """``σ (u⁰ @ g¹ + b¹) / d¹``: what the sources drive into layer 1 (fixed while relaxing).

        Remembered for the last ``x`` (and parameters): the nudged phases of an EP step reuse
        the free phase's.
        """
        memo = self._drive_memo
        if memo is not None and memo[1] is f["params"] and memo[0].shape == x.shape \
                and np.array_equal(memo[0], x):
            return memo[2]
        drive = u0 @ f["down"][0]
        drive += f["bias"][0]
        drive *= f["inv_sig"][0]
        drive.flags.writeable = False
        self._drive_memo = (np.array(x, copy=True), f["params"], drive)
        return drive

    def _layer_sum(self, ctx, k):
        """Hidden layer ``k`` (0-based): its unconstrained minimiser ``u_k = c_k / d_k``.
        Output layer: ``c_K``, the current its neighbours would drive into it at zero voltage
        plus its bias (the nudge decides the divisor)."""
        f, V, drive = ctx[0], ctx[1], ctx[2]
        K = len(V)
        if k == K - 1:
            c = V[k - 1] @ f["down_o"]
            c += drive[k]
            return c
        if k == 0:
            u = V[1] @ f["up_s"][0]
            u += drive[0]
            return u
        u = V[k - 1] @ f["down_s"][k]
        u += drive[k]
        u += V[k + 1] @ f["up_s"][k]
        return u

    def _certificate(self, ctx, group, sums):
        """KKT violation per sample on the layers of ``group`` (units of current), for a state
        that satisfies the diode constraints (the relaxation keeps it so)."""
        f, V, _, mode, y, beta, cost, _ = ctx
        K = len(V)
        kkt = np.zeros(V[0].shape[0])
        for k, c in zip(group, sums):
            v = V[k]
            if k < K - 1:
                # in w = σ v: q = σ ∂E/∂v = d (w − u). A clipped node (w = 0) needs q >= 0 (its
                # diode can only push current one way); an unclipped node needs q = 0.
                q = v - c
                q *= f["diag"][k]
                worst = np.max(np.where(v > 0.0, np.abs(q), -q), axis=1)
                np.maximum(kkt, worst, out=kkt)
                continue
            if mode == "clamp":
                continue
            r = f["diag"][k] * v
            r -= c                                        # ∂E/∂o
            if mode == "squared":
                r += beta * (v - y)
            elif mode == "cost":
                r += beta * cost.gradient(v, y)
            np.maximum(kkt, np.max(np.abs(r), axis=1), out=kkt)
        return kkt

    def _write(self, ctx, group, sums):
        """Minimise exactly over the layers of ``group`` (independent given the others)."""
        f, V, _, mode, y, beta, cost, scaled = ctx
        K = len(V)
        for k, c in zip(group, sums):
            if k < K - 1:                                   # hidden: the diode clip of u_k
                np.maximum(c, 0.0, out=V[k])
            elif mode == "free":
                np.multiply(c, f["inv"][k], out=V[k])
            elif mode == "squared":
                c += scaled[0]
                np.multiply(c, scaled[1], out=V[k])
            elif mode == "cost":
                V[k][:] = self._output_newton(V[k], c, f["diag"][k], y, beta, cost)

    def _layer_current(self, V, sources, k):
        """``c_k``: the current the neighbours of free layer ``k`` drive into it at zero
        voltage, plus its bias (``∂E/∂v_k = d_k v_k − c_k``)."""
        f = self._factor()
        c = (sources if k == 0 else V[k - 1]) @ f["down"][k]
        c += f["bias"][k]
        if k + 1 < len(V):
            c += V[k + 1] @ f["up"][k]
        return c

    def _output_newton(self, v, c, d, y, beta, cost, max_iter=60):
        """Exact minimiser of ``½ d·o² − c·o + β C(o, y)`` per sample (Newton, backtracking)."""
        o = v.copy()
        eye = np.eye(v.shape[1])

        def grad(o):
            return d * o - c + beta * cost.gradient(o, y)

        def value(o):
            return 0.5 * np.sum(d * o * o, axis=1) - np.sum(c * o, axis=1) \
                + beta * cost.value(o, y)

        g = grad(o)
        scale = 1.0 + np.max(np.abs(c)) + np.max(np.abs(d))
        for _ in range(max_iter):
            if np.max(np.abs(g)) <= 1e-15 * scale:
                return o
            H = d[None, :, None] * eye + beta * np.asarray(cost.hessian(o, y))
            try:
                np.linalg.cholesky(H)
            except np.linalg.LinAlgError:
                raise ConvergenceError(
                    f"beta={beta!r}: the output block of E + beta*C is not convex at the current "
                    "state (its Hessian is indefinite); reduce |beta|") from None
            step = np.linalg.solve(H, g[..., None])[..., 0]
            f0 = value(o)
            t = np.ones(o.shape[0])
            for _ in range(40):
                trial = o - t[:, None] * step
                worse = value(trial) > f0 + 1e-14 * np.abs(f0)
                if not np.any(worse):
                    break
                t = np.where(worse, t / 2, t)
            o = trial
            g_new = grad(o)
            if np.max(np.abs(g_new)) >= np.max(np.abs(g)) and np.max(np.abs(g_new)) \
                    <= 1e-12 * scale:
                return o
            g = g_new
        return o

    # -- observables and measurements -----------------------------------------------------------
    def layer_voltages(self, state):
        """``[u⁰, u¹, …, o]``: the voltages of every layer (sources first), each (batch, n)."""
        return [state.sources] + [state.s[:, sl] for sl in self._slices]

    def outputs(self, state):
        return state.s[:, self._slices[-1]]

    def _drive(self, state):
        """``a_ℓ u^ℓ`` for ℓ = 0..L: what the resistors of each interface see from below."""
        layers = self.layer_voltages(state)
        return [layers[0]] + [self._amps[l] * layers[l] if self._amps[l] != 1.0 else layers[l]
                              for l in range(1, len(layers) - 1)]

    def param_gradient(self, state):
        """``∂E/∂g_ij = ½ (a_ℓ u_i − u_j)²`` and ``∂E/∂b_k = −u_k``, per sample.

        Returns
        -------
        dict
            ``b{k}``: arrays (batch, n_k). ``g{k}``: :class:`OuterSquares` of shape
            (batch, n_{k−1}, n_k), the squared drops kept factored as the node voltages they
            come from; ``numpy.asarray`` gives the array, and a rule's contrast of two
            measurements and its batch mean are computed without forming it.
        """
        layers = self.layer_voltages(state)
        below = self._drive(state)
        out = {}
        for k in range(1, len(layers)):
            out[f"g{k}"] = OuterSquares([(1.0, np.array(below[k - 1]), np.array(layers[k]))])
        for k in range(1, len(layers)):
            out[f"b{k}"] = -np.array(layers[k])
        return out

    def with_s(self, state, s):
        return state.replace(s=s, kkt=None)

    def energy(self, state):
        layers = self.layer_voltages(state)
        below = self._drive(state)
        p = self._params
        e = np.zeros(state.s.shape[0])
        for k in range(1, len(layers)):
            g = p[f"g{k}"]
            w, z = below[k - 1], layers[k]
            # ½ Σ g (w_i − z_j)² = ½ [w² · Σ_j g + z² · Σ_i g] − w · g · z
            e += 0.5 * ((w * w) @ g.sum(axis=1) + (z * z) @ g.sum(axis=0)) \
                - np.einsum("bi,ij,bj->b", w, g, z)
            e -= layers[k] @ p[f"b{k}"]
        return e

    def energy_gradient(self, state):
        f = self._factor()
        V = [state.s[:, sl] for sl in self._slices]
        r = np.empty_like(state.s)
        for k, sl in enumerate(self._slices):
            r[:, sl] = f["diag"][k] * V[k] - self._layer_current(V, state.sources, k)
        return r

    def residual(self, state):
        """The KKT residual per node: ``∂(E + βC)/∂s`` with the diode currents taken out.

        Unclipped nodes: the gradient; clipped nodes: only a gradient of the wrong sign (a
        diode cannot supply it); infeasible nodes: ``d × violation``. Clamped outputs carry a
        reaction force (zero). Zero exactly at the constrained equilibrium.
        """
        r = EquilibriumSystem.residual(self, state).copy()
        d = np.concatenate(self._factor()["diag"])
        v = state.s
        for k, sl in enumerate(self._slices[:-1]):
            n_exc = self._n_exc[k]
            e = slice(sl.start, sl.start + n_exc)
            i = slice(sl.start + n_exc, sl.stop)
            re, ve = r[:, e], v[:, e]
            r[:, e] = np.where(ve > 0, re, np.minimum(re, 0.0)) - d[e] * np.maximum(-ve, 0)
            ri, vi = r[:, i], v[:, i]
            r[:, i] = np.where(vi < 0, ri, np.maximum(ri, 0.0)) + d[i] * np.maximum(vi, 0)
        return r

    def kkt(self, state):
        """The KKT certificate per sample: ``max |residual|`` (units of current)."""
        return np.max(np.abs(self.residual(state)), axis=1)

    def output_vjp(self, state, g_out):
        out = np.zeros(state.s.shape, dtype=np.result_type(state.s, g_out))
        out[:, self._slices[-1]] = g_out
        return out

    def clipped(self, state):
        """Boolean (batch, n_state): hidden nodes held by their diode (``v`` at the bound)."""
        v = state.s
        return self._hidden_mask & (v == 0.0)

    def hessian(self, state):
        """``∂²E/∂s²`` (the same for every sample; constant, as ``E`` is quadratic), sparse."""
        f = self._factor()
        K = len(self._slices)
        blocks = [[None] * K for _ in range(K)]
        for k in range(K):
            blocks[k][k] = sp.diags(f["diag"][k])
            if k + 1 < K:
                coupling = -sp.csr_matrix(self._amps[k + 1] * self._params[f"g{k + 2}"])
                blocks[k][k + 1] = coupling
                blocks[k + 1][k] = coupling.T
        return sp.bmat(blocks, format="csr")

    def adjoint(self, state, rhs):
        """Solve ``H_FF λ_F = rhs_F`` on the unclipped nodes, ``λ = 0`` on clipped ones.

        ``H`` is the Hessian of ``E`` (plus ``β ∂²C/∂o²`` under a soft nudge); a node held by
        its diode does not move under a small parameter change (away from switching points),
        so it drops out of the linear response.
        """
        H = self.hessian(state).tocsr()
        if isinstance(state.nudge, Nudge):
            hc = np.asarray(state.nudge.stiffness(self.outputs(state)))
        else:
            hc = None
        clipped = self.clipped(state)
        lam = np.zeros(rhs.shape, dtype=np.result_type(rhs, float))
        for b in range(rhs.shape[0]):
            keep = np.flatnonzero(~clipped[b])
            Hb = H[keep][:, keep]
            if hc is not None:                          # outputs are never clipped
                pos = np.searchsorted(keep, self.output_index)
                Hb = Hb + sp.csr_matrix(
                    (np.real(hc[b]).ravel(), (np.repeat(pos, len(pos)), np.tile(pos, len(pos)))),
                    shape=Hb.shape)
            try:
                lam[b, keep] = spla.splu(sp.csc_matrix(Hb)).solve(np.asarray(rhs[b, keep]))
            except RuntimeError as err:
                raise ValueError(f"the Hessian restricted to the unclipped nodes is singular "
                                 f"for sample {b} ({err}): some nodes are cut off from every "
                                 "source by zero conductances") from err
        return lam

    def mixed_vjp(self, state, lam):
        """``Σ_i λ_i ∂²E/∂θ∂s_i``: ``(a_ℓ u_i − u_j)(a_ℓ λ_i − λ_j)`` and ``−λ_k``."""
        layers = self.layer_voltages(state)
        below = self._drive(state)
        lam_layers = [np.zeros_like(layers[0], dtype=lam.dtype)] + [lam[:, sl]
                                                                   for sl in self._slices]
        out = {}
        for k in range(1, len(layers)):
            a = self._amps[k - 1]
            diff = below[k - 1][:, :, None] - layers[k][:, None, :]
            dl = a * lam_layers[k - 1][:, :, None] - lam_layers[k][:, None, :]
            out[f"g{k}"] = diff * dl
        for k in range(1, len(layers)):
            out[f"b{k}"] = -np.array(lam_layers[k])
        return out
