"""Layered continuous Hopfield networks: dense and convolutional layers, one energy.

Physics
-------
Units ``s = (s_1, …, s_L)`` (hidden layers, then the output layer ``s_L``), driven by an input
``x = a_0``, relax to a minimum of the energy of Scellier & Bengio (2017),

    E(θ, x, s) = ½‖s‖² − Σ_l ρ(s_l)ᵀ A_l(W_l) a_{l−1} − Σ_l b̂_lᵀ ρ(s_l),
    a_0 = x,  a_l = ρ(s_l),

where ``A_l(W_l)`` maps layer ``l−1`` to layer ``l`` and is linear in its weights: a dense
matrix ``W_l``, or (Laborieux et al. 2021) a convolution followed by average (linear) or max
(piecewise linear) pooling, ``A_l a = P(W_l ⋆ a)``, whose layer state is the pooled map.
``b̂_l`` is the bias (per unit for dense layers, per channel for convolutional ones, added
before pooling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from physlearn.costs import make_cost
from physlearn.nudges import Clamp, Nudge
from physlearn.params import per_layer
from physlearn.system import (
    ConvergenceError,
    EquilibriumSystem,
    State,
    as_float_array,
    batch_mean,
    check_batch,
    check_positive,
)
from physlearn.systems.vector_field import (
    VectorFieldNetwork,
    _beta_text,
    check_relaxation_settings,
)

__all__ = ["Conv", "HopfieldNetwork"]

_ACTIVATIONS = ("sigmoid", "tanh", "hard-sigmoid", "sign")
_BOXED = ("hard-sigmoid", "sign")           # states confined to [0, 1]
_RELAXATIONS = ("newton", "sync", "async")


@dataclass(frozen=True)
class Conv:
    """A convolutional layer of a Hopfield network: a convolution, then pooling.

    ``channels`` feature maps of a ``kernel × kernel`` convolution (stride 1, zero
    ``padding``), then non-overlapping pooling of ``pool_size × pool_size``.

    Parameters
    ----------
    channels : int
        Output channels (feature maps), ≥ 1.
    kernel : int
        Side of the square kernel (pixels), ≥ 1.
    pool : {"avg", "max"}, default "avg"
        Pooling: "avg" (a linear map: the energy stays bilinear) or "max" (piecewise linear;
        needs activities >= 0, see :class:`HopfieldNetwork`).
    pool_size : int, default 2
        Side of the pooling window (pixels); it must divide the feature map.
    padding : int, default 0
        Zeros added on every side of the input before the convolution (pixels).

    Notes
    -----
    The layer map of the energy :math:`E = ½‖s‖^2 − \\sum_l ρ(s_l)^{\\mathsf T}(A_l a_{l−1} +
    \\hat b_l)` is :math:`A_l a = P(W_l ⋆ a)`: cross-correlation with kernels of shape
    ``(channels, C, kernel, kernel)``, stride 1, then pooling :math:`P`. Its transpose (unpool,
    then transposed convolution) carries the feedback of the layer into the one below. The
    fields are checked when a :class:`HopfieldNetwork` is built (a ``ValueError`` names the
    layer).

    References
    ----------
    .. [1] A. Laborieux, M. Ernoult, B. Scellier, Y. Bengio, J. Grollier, D. Querlioz,
       "Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
       estimator bias", Front. Neurosci. 15:633674 (2021).
    .. [2] B. Scellier, M. Ernoult, J. Kendall, S. Kumar, "Energy-based learning algorithms
       for analog computing: a comparative study", NeurIPS 2023, arXiv:2312.15103.
    """

    channels: int
    kernel: int
    pool: str = "avg"
    pool_size: int = 2
    padding: int = 0


def _as_conv(spec, index):
    """A :class:`Conv` from a ``Conv`` or a dict of its fields (as written in a config)."""
    if isinstance(spec, Conv):
        conv = spec
    else:
        try:
            conv = Conv(**dict(spec))
        except TypeError as err:
            raise ValueError(f"layers[{index}]={spec!r} is not a convolutional layer spec: "
                             f"{err}; give Conv(channels, kernel, pool='avg', pool_size=2, "
                             "padding=0) or a dict of those keys") from None
    for name in ("channels", "kernel", "pool_size"):
        value = getattr(conv, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"layers[{index}]: {name}={value!r} must be a positive integer")
    if isinstance(conv.padding, bool) or not isinstance(conv.padding, (int, np.integer)) \
            or conv.padding < 0:
        raise ValueError(f"layers[{index}]: padding={conv.padding!r} must be an integer >= 0")
    if conv.pool not in ("avg", "max"):
        raise ValueError(f"layers[{index}]: pool={conv.pool!r} must be 'avg' or 'max'")
    return conv


class _Dense:
    """``A(W) a = W a``: a dense layer of ``n_out`` units."""

    def __init__(self, n_in, n_out):
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.w_shape, self.b_shape = (self.n_out, self.n_in), (self.n_out,)
        self.fan_in = self.n_in

    linear = True

    def forward(self, W, a, at=None):
        return a @ W.T

    def transpose(self, W, g, at=None):
        return g @ W

    def wgrad(self, W, g, a, at=None):
        """∂(gᵀ A(W) a)/∂W per sample."""
        return g[:, :, None] * a[:, None, :]

    def matrix(self, W, at):
        return W

    def bias(self, b):
        return b

    def bgrad(self, g):
        return g


def _same(a, b):
    """``a`` and ``b`` hold the same values (and shape and dtype): a cache key check."""
    return a.shape == b.shape and a.dtype == b.dtype and bool((a == b).all())


class _ConvPool:
    """``A(W) a = P(W ⋆ a)``: cross-correlation (stride 1, zero padding), then average or max
    pooling. Max pooling is piecewise linear: its linearisation at ``at`` (the input whose
    window maxima it picks) is used for derivatives (``at=None``: at ``a`` itself)."""

    def __init__(self, in_shape, conv, index):
        self.in_shape = tuple(int(n) for n in in_shape)
        c, h, w = self.in_shape
        k, p, q = conv.kernel, conv.padding, conv.pool_size
        hp, wp = h + 2 * p, w + 2 * p
        if k > min(hp, wp):
            raise ValueError(f"layers[{index}]: kernel={k} is larger than its input of "
                             f"{h}×{w} (padded to {hp}×{wp}); expected kernel <= {min(hp, wp)}")
        ho, wo = hp - k + 1, wp - k + 1
        if ho % q or wo % q:
            raise ValueError(f"layers[{index}]: pool_size={q} does not divide the {ho}×{wo} "
                             f"feature map (kernel {k} on a {hp}×{wp} input); expected a "
                             f"divisor of {ho} and {wo}")
        self.k, self.pad, self.q, self.channels = k, p, q, conv.channels
        self.reads_input = index == 1
        self.linear = conv.pool == "avg" or q == 1
        self.map_shape = (conv.channels, ho, wo)
        self.out_shape = (conv.channels, ho // q, wo // q)
        self.n_in, self.n_out = c * h * w, int(np.prod(self.out_shape))
        self.w_shape, self.b_shape = (conv.channels, c, k, k), (conv.channels,)
        self.fan_in = c * k * k
        self._n_map = int(np.prod(self.map_shape))
        self._nonzeros = None

    def _index(self):
        """Where each kernel entry lands in the unrolled convolution (built once): per
        nonzero, its row (map unit ``(o, i, j)``), its column (input pixel ``(c, y, x)``), its
        kernel entry (flat ``(o, c, u, v)``) and its pooled row (``(o, i // q, j // q)``)."""
        if self._nonzeros is None:
            (c_in, h, w), (_, ho, wo), k, q = self.in_shape, self.map_shape, self.k, self.q
            o, c, u, v, i, j = np.meshgrid(*(np.arange(n) for n in
                                             (self.channels, c_in, k, k, ho, wo)), indexing="ij")
            y, x = i + u - self.pad, j + v - self.pad
            ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
            o, c, u, v, i, j, y, x = (t[ok] for t in (o, c, u, v, i, j, y, x))
            self._nonzeros = ((o * ho + i) * wo + j, (c * h + y) * w + x,
                              ((o * c_in + c) * k + u) * k + v,
                              (o * (ho // q) + i // q) * (wo // q) + j // q)
        return self._nonzeros

    def _patches(self, a):
        """(batch, C, Ho, Wo, k, k) windows of the padded input."""
        x = a.reshape(len(a), *self.in_shape)
        if self.pad:
            x = np.pad(x, ((0, 0), (0, 0), (self.pad,) * 2, (self.pad,) * 2))
        return sliding_window_view(x, (self.k, self.k), axis=(2, 3))

    # the unrolled convolution is cached while it has at most this many entries (8 MB float64)
    _DENSE_LIMIT = 1 << 20

    def _dense(self, W):
        """``W ⋆ ·`` unrolled as a dense matrix, (O·Ho·Wo, n_in), and the pooled map
        ``P(W ⋆ ·)`` for average pooling, (n_out, n_in) (``None`` for max pooling), both
        read-only. Built once per weight value (a relaxation applies the same ``W`` hundreds
        of times; one build costs about one convolution of ``n_in`` inputs) and reused while
        ``W`` holds the same values. ``None`` when the unrolled matrix would exceed
        ``_DENSE_LIMIT`` entries: the layer then convolves directly."""
        n_map = self._n_map
        if n_map * self.n_in > self._DENSE_LIMIT:
            return None
        cached = getattr(self, "_cache", None)
        if cached is not None and _same(cached[0], W):
            return cached[1]
        row, col, entry, pooled_row = self._index()
        values = np.asarray(W).ravel()[entry]
        conv = np.zeros((n_map, self.n_in), dtype=values.dtype)
        conv[row, col] = values                      # one nonzero per (row, col): no sums
        pooled = None
        if self.linear:                              # average: sum the window, / q²
            flat, size = pooled_row * self.n_in + col, self.n_out * self.n_in
            pooled = np.bincount(flat, np.real(values), size)
            if np.iscomplexobj(values):
                pooled = pooled + 1j * np.bincount(flat, np.imag(values), size)
            pooled = pooled.reshape(self.n_out, self.n_in) / self.q ** 2
            pooled.flags.writeable = False
        conv.flags.writeable = False
        self._cache = (np.array(W, copy=True), (conv, pooled))
        return conv, pooled

    def _conv_direct(self, W, a):
        """``W ⋆ a`` by a sum over the input windows, (batch, O, Ho, Wo)."""
        return np.einsum("bcijuv,ocuv->boij", self._patches(a), W, optimize=True)

    def _conv(self, W, a):
        """The feature maps ``W ⋆ a``, (batch, O, Ho, Wo)."""
        dense = self._dense(W)
        if dense is None:
            return self._conv_direct(W, a)
        return (a @ dense[0].T).reshape(len(a), *self.map_shape)

    def _windows(self, maps):
        """(batch, O, Hq, q, Wq, q) view of feature maps for pooling."""
        o, hq, wq = self.out_shape
        return maps.reshape(len(maps), o, hq, self.q, wq, self.q)

    def _weights(self, W, at):
        """Pooling weights on the feature map, (batch, O, Ho, Wo): ``1/q²`` (average), or 1
        at the first maximum of each window of ``W ⋆ at`` and 0 elsewhere (max)."""
        if self.linear:
            return np.full((1, *self.map_shape), 1.0 / self.q ** 2)
        win = np.real(self._windows(self._conv(W, at)))
        b, o, hq, q, wq, _ = win.shape
        flat = win.transpose(0, 1, 2, 4, 3, 5).reshape(b, o, hq, wq, q * q)
        onehot = np.eye(q * q)[np.argmax(flat, axis=-1)].reshape(b, o, hq, wq, q, q)
        return onehot.transpose(0, 1, 2, 4, 3, 5).reshape(b, *self.map_shape)

    def _pool(self, maps, weights):
        return self._windows(maps * weights).sum(axis=(3, 5)).reshape(len(maps), -1)

    def _unpool(self, g, weights):
        """Transpose of the (linearised) pooling: (batch, n_out) → (batch, O, Ho, Wo)."""
        o, hq, wq = self.out_shape
        g = np.broadcast_to(g.reshape(len(g), o, hq, 1, wq, 1),
                            (len(g), o, hq, self.q, wq, self.q))
        return g.reshape(len(g), *self.map_shape) * weights

    def forward(self, W, a, at=None):
        """``P(W ⋆ a)``; with ``at``, the pooling linearised at ``at`` applied to ``W ⋆ a``."""
        if self.linear:
            dense = self._dense(W)
            if dense is not None:
                if not self.reads_input:
                    return a @ dense[1].T
                # the first layer reads the input, fixed during a relaxation: the last
                # product is kept (for the matrix ``dense[1]`` it was computed with)
                last = getattr(self, "_last", None)
                if last is not None and last[0] is dense[1] and _same(last[1], a):
                    return last[2]
                out = a @ dense[1].T
                out.flags.writeable = False
                self._last = (dense[1], np.array(a, copy=True), out)
                return out
        return self._pool(self._conv(W, a), self._weights(W, a if at is None else at))

    def transpose(self, W, g, at=None):
        """``(∂A/∂a)ᵀ g`` at ``at``: unpooling, then the transposed convolution."""
        dense = self._dense(W)
        if dense is not None and self.linear:
            return g @ dense[1]
        gm = self._unpool(g, self._weights(W, at))
        if dense is not None:
            return gm.reshape(len(g), -1) @ dense[0]
        k = self.k
        full = np.pad(gm, ((0, 0), (0, 0), (k - 1,) * 2, (k - 1,) * 2))
        win = sliding_window_view(full, (k, k), axis=(2, 3))
        da = np.einsum("boyxuv,ocuv->bcyx", win, W[:, :, ::-1, ::-1], optimize=True)
        if self.pad:
            p = self.pad
            da = da[:, :, p:-p, p:-p]
        return da.reshape(len(g), -1)

    def wgrad(self, W, g, a, at=None):
        """∂(gᵀ A(W) a)/∂W per sample (pooling linearised at ``at``, default ``a``): the
        correlation of the unpooled feature-map cotangent with the input patches."""
        gm = self._unpool(g, self._weights(W, a if at is None else at))
        b, (o, ho, wo) = len(gm), self.map_shape
        cols = self._patches(a).transpose(0, 2, 3, 1, 4, 5).reshape(b, ho * wo, self.fan_in)
        return (gm.reshape(b, o, ho * wo) @ cols).reshape(b, *self.w_shape)

    def matrix(self, W, at):
        """``∂A/∂a`` as a dense matrix: (n_out, n_in), or per sample (batch, n_out, n_in) for
        max pooling (linearised at ``at``)."""
        dense = self._dense(W)
        if dense is not None and self.linear:
            return dense[1]
        maps = self._conv(W, np.eye(self.n_in))                     # (n_in, O, Ho, Wo)
        if self.linear:
            return self._pool(maps, self._weights(W, at)).T
        weights = self._weights(W, at)                               # (batch, O, Ho, Wo)
        pooled = self._windows((maps[None] * weights[:, None]).reshape(-1, *self.map_shape))
        return pooled.sum(axis=(3, 5)).reshape(len(at), self.n_in, -1).transpose(0, 2, 1)

    def bias(self, b):
        return np.repeat(b, self.n_out // self.channels)

    def bgrad(self, g):
        return g.reshape(len(g), self.channels, -1).sum(axis=2)


class HopfieldNetwork(VectorFieldNetwork):
    """A layered continuous Hopfield network (dense and convolutional layers), trained by EP.

    Parameters
    ----------
    layers : list
        ``[input, layer_1, …, layer_L]``. The input is an int ``n_in`` (flat inputs) or an
        image shape ``[C, H, W]``; each layer is an int (a dense layer of that many units) or
        a :class:`Conv` (or a dict of its fields, as in a config) for a convolution with
        pooling, whose input must be an image (the input, or a previous convolutional
        layer's pooled maps). Dense layers after convolutional ones read the flattened maps.
        The last layer is the output.
    activation : {"sigmoid", "tanh", "hard-sigmoid", "sign"}, default "sigmoid"
        ``ρ``: Laborieux & Zenke's sigmoid ``ρ(s) = ½(1 + tanh(2s − 1))`` (output in (0, 1)),
        or ``tanh``: both smooth and holomorphic (capability ``"complex"``). Or the papers'
        hard sigmoid ``ρ(s) = clip(s, 0, 1)``, whose energy has kinks at 0 and 1 (see Notes;
        real β only). Or binary activations, ``"sign"``: each unit holds ``s ∈ [0, 1]`` and
        communicates the step ``ρ(s) = H(s − ½) = (1 + sign(s − ½))/2 ∈ {0, 1}`` (Laydevant et
        al. 2021; needs ``relaxation="sync"`` or ``"async"``; no exact reference, see Notes).
    gain : float or sequence of float, default 1.0
        Initial weights ``N(0, gain²/fan_in)`` (dimensionless, > 0; fan-in ``C k²`` for a
        convolution); biases 0.
        A sequence gives one gain per layer of couplings, input side first (a convolution
        whose units should start in the hard sigmoid's kinks, not in its linear range, needs
        a larger one than the read-out).
    seed : int, default 0
        Seeds the initial weights.
    tol : float, default 1e-10
        Relaxation stops once ``max|∂(E + βC)/∂s| < tol`` (dimensionless energy units);
        otherwise :class:`~physlearn.ConvergenceError` names the residual reached.
    max_iter : int, default 100
        Newton steps before :class:`~physlearn.ConvergenceError`.
    relaxation : {"newton", "sync", "async"}, default "newton"
        How :meth:`equilibrium` relaxes (see Notes): Newton's method, or the papers'
        fixed-point sweeps, synchronous or odd/even (hard sigmoid only).
    max_sweeps : int, default 20000
        Fixed-point sweeps before :class:`~physlearn.ConvergenceError` (``"sync"``,
        ``"async"``).
    linear_output : bool, default False
        A linear output layer, ``ρ(o) = o`` (unbounded), as in the papers' networks (their
        output ``o = W s_L + b`` at rest); the hidden layers keep ``activation``. With the
        hard sigmoid this keeps a one-sided nudge informative where a clipped output would
        sit saturated on the wrong side of its target.
    initial_state : float, default 0.0
        Where the hard sigmoid's relaxations start when no ``start`` is given: all units at
        this value in ``[0, 1]``; 0 is the papers' start, the network at rest. It matters only
        where the energy has several minima (see :meth:`curvature`). Smooth activations
        always start at 0 (then flow, then Newton).
    replicas : int, default 1
        Copies of each output unit in the output layer (dense): the outputs the costs, nudges
        and predictions see are each output's mean over its replicas, so output ``c`` reads
        units ``c·replicas … (c + 1)·replicas − 1``. A nudge ``β`` on the mean pulls each
        replica with ``β/replicas``. The papers' remedy for coarse binary outputs
        (``activation="sign"``): the mean of ``r`` binary units takes ``r + 1`` values.

    Raises
    ------
    ValueError
        If a layer spec is invalid (a size, a :class:`Conv` field, a kernel larger than its
        input, a pool size that does not divide the map); ``activation`` or ``relaxation`` is
        unknown or the two do not fit together; ``tanh`` is combined with max pooling;
        ``gain``, ``tol``, ``max_iter`` or ``max_sweeps`` is invalid; ``initial_state`` is
        outside ``[0, 1]`` (or not 0 for a smooth activation); or ``replicas`` is not a
        positive integer or the output layer is not dense.

    Notes
    -----
    **Energy.** With :math:`a_0 = x` and :math:`a_l = ρ(s_l)` (Scellier & Bengio 2017),

    .. math::

        E(θ, x, s) = \\tfrac12 ‖s‖^2
                     − \\sum_l ρ(s_l)^{\\mathsf T}\\big(A_l a_{l−1} + \\hat b_l\\big).

    For a dense layer ``A_l a = W_l a``; for a convolutional layer (Laborieux et al. 2021)
    ``A_l a = P(W_l ⋆ a)``: cross-correlation with kernels ``W_l`` of shape ``(channels, C, k, k)``,
    stride 1 and zero padding, then pooling ``P`` over ``q × q`` windows (average; max: see below);
    the layer's units are the pooled maps, its bias ``b_l`` has one entry per channel (added before
    pooling, so ``b̂_l`` repeats it over the pooled map). Average pooling is linear, so ``E`` is
    bilinear in neighbouring layers' activities like the dense energy and ``A_lᵀ`` (unpooling, then
    the transposed convolution) carries the feedback of layer ``l`` into layer ``l−1``:

    .. math::

        \\frac{∂E}{∂s_l} = s_l − ρ'(s_l) ⊙ \\big(A_l a_{l−1} + \\hat b_l
                          + A_{l+1}^{\\mathsf T} ρ(s_{l+1})\\big).

    **Local gradients** (:meth:`param_gradient`): ``∂E/∂W_l = −ρ(s_l) a_{l−1}ᵀ`` for a dense
    layer, and for a convolution the correlation of the unpooled ``ρ(s_l)/q²`` with the input
    patches, ``∂E/∂W_l[o, c, u, v] = −Σ_ij P̃ᵀρ(s_l)[o, i, j] a_{l−1}[c, i+u, j+v]``;
    ``∂E/∂b_l = −ρ(s_l)`` (summed over each channel's map for a convolution).

    **Relaxation** (``relaxation="newton"``). Explicit Euler steps of the gradient flow
    ``ds/dt = −∂(E + βC)/∂s`` (the papers' relaxation in continuous time) until the residual
    is below 10⁻³, then damped Newton with the dense per-sample Hessian ``∂²E/∂s²`` (each
    ``A_l`` is assembled once as a dense matrix from the layer map); the fixed point must be a
    minimum (positive-definite Hessian). A warm ``start`` skips the flow. Complex β continues
    the fixed point analytically. **Convergence criterion** for every method:
    ``max|∂(E + βC)/∂s| < tol`` over the batch (projected on the box for the hard sigmoid);
    the returned state's ``info`` gives the method, the iterations and that residual.

    **Start.** Every relaxation starts from the given ``start``, or else from
    ``s = initial_state`` everywhere (default 0, the network at rest, as the papers start;
    smooth activations always from 0). Where ``E + βC`` has several minima (the Hessian
    ``I − A`` of the hard sigmoid's box energy is not positive definite once the couplings
    grow; see :meth:`curvature`), the equilibrium reached depends on that start.

    **Fixed-point sweeps** (Scellier et al. 2023; hard sigmoid). ``"sync"``: every layer at
    once, ``s_l ← clip(z_l, 0, 1)`` (the papers' Hopfield update; it can oscillate, as the
    papers note: no descent guarantee). ``"async"``: the odd layers, then the even ones;
    units of one parity do not interact, so each half-sweep minimises ``E + βC`` exactly over
    them and the energy never rises. On a nudged output layer the update is the exact
    minimiser ``clip(s − g/(1 + β ∂²C/∂o²), 0, 1)`` rather than the papers'
    ``clip(z − β(o − y))``, which diverges for ``β ≥ 1``.

    **Clamped outputs** (:class:`~physlearn.nudges.Clamp`, contrastive and coupled
    learning): the output layer is held at the given values and the hidden layers relax
    under ``E`` alone (projected Newton, or sweeps).

    **Exact reference.** Implicit differentiation (:class:`~physlearn.EquilibriumSystem`):
    the adjoint solves with the Hessian, :meth:`mixed_vjp` gives ``λᵀ ∂²E/∂s∂θ``.
    Capabilities ``"soft_nudge"``, ``"clamp"``, ``"step"`` (:meth:`step`, the one-step map of
    continual EP) and ``"complex"`` (not ``"complex"`` for the hard sigmoid or max pooling).

    **Hard sigmoid.** With ``ρ(s) = clip(s, 0, 1)`` the energy has kinks at the faces of the
    box ``[0, 1]ⁿ``: a unit driven beyond them (``z_l > 1`` or ``< 0``) has no stationary
    point and rests on the kink. As in the papers' update ``s ← clip(z(s), 0, 1)``, the
    state is confined to the box, where ``ρ(s) = s`` and ``E`` is quadratic; equilibria are
    the minima over the box (KKT points), found by projected Newton, and :meth:`residual`
    is the projected gradient ``s − clip(s − ∂(E + βC)/∂s, 0, 1)``. ``ρ′ = 1`` on the
    closed box (the derivative from inside). The exact reference holds saturated units
    (``s = 0`` or ``1``) fixed: the adjoint solves with the Hessian of the unsaturated units
    only, ``λ = 0`` on the others — exact where every saturated unit is pushed strictly
    beyond its bound (strict complementarity), so that small changes of θ keep it there.
    EP's finite nudges agree with it until a nudge moves a unit across a kink; then the
    estimate jumps (not an O(β²) bias any more).

    **Max pooling** (``pool="max"``, Laborieux et al. 2021). ``P`` takes the maximum of each
    window: ``A_l`` is piecewise linear, and on each piece (fixed window maxima) it is the
    linear map that picks the maxima. Derivatives use that piece: the feedback
    ``A_lᵀ`` unpools onto the positions of the maxima (the papers' inverse pooling), the
    Hessian and the reference use the same selection (exact away from ties, where the
    energy has kinks). With activities ``ρ ≥ 0`` the term ``−ρ(s_l)ᵀ max(…)`` is concave
    across the kinks, so minima do not sit on them; ``tanh`` (negative activities) would
    make them convex, so it is refused with max pooling. Not holomorphic: no ``"complex"``.

    **Binary activations** (``activation="sign"``, Laydevant et al. 2021). Each unit holds a
    state ``s ∈ [0, 1]`` and communicates ``ρ(s) = H(s − ½) ∈ {0, 1}``: the drive of layer
    ``l`` is ``z_l = A_l H(s_{l−1}) + b̂_l + A_{l+1}ᵀ H(s_{l+1})``. The papers' update is damped,
    ``s ← clip((1 − γ) s + γ z, 0, 1)`` with ``γ = ½`` (on a nudged output, ``γ`` times the
    step to the output's exact minimiser, as above), synchronous or odd/even. Its fixed points
    ``s = clip(z(H(s)), 0, 1)`` are those of the hard sigmoid's box update with ``ρ′ = 1``
    (the papers' straight-through derivative), and :meth:`residual` measures them the same
    way; once no unit crosses ½ any more the states converge geometrically (rate ``1 − γ``),
    while binary states that keep flipping (a cycle) end in
    :class:`~physlearn.ConvergenceError`. ``E`` is not a Lyapunov function of this update.
    EP's local gradients contrast the binary states, ``∂E/∂W_l = −H(s_l) H(s_{l−1})ᵀ``, so a
    small ``β`` that flips no unit gives a zero estimate: the papers nudge with ``β ≈ 2``.
    ``∂L/∂θ`` itself is zero almost everywhere (``H′ = 0``): there is no exact reference, and
    :meth:`exact_gradient`, :meth:`adjoint` and :meth:`truncated_bptt` refuse. Pair with
    :class:`physlearn.optim.BinaryFlip` for binary weights as well.

    **Not implemented.** Matrix-free (CG) Hessian
    solves for large convolutional nets (the Hessian is assembled densely per sample,
    ``O(n_state²)`` memory, ``O(n_state³)`` per Newton step).

    Dimensionless units throughout.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    .. [2] A. Laborieux, M. Ernoult, B. Scellier, Y. Bengio, J. Grollier, D. Querlioz,
       "Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
       estimator bias", Front. Neurosci. 15:633674 (2021).
    .. [3] B. Scellier, M. Ernoult, J. Kendall, S. Kumar, "Energy-based learning algorithms
       for analog computing: a comparative study", NeurIPS 2023, arXiv:2312.15103.
    .. [4] J. Laydevant, M. Ernoult, D. Querlioz, J. Grollier, "Training dynamical binary
       neural networks with equilibrium propagation", CVPR Workshops 2021, arXiv:2103.08953.

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.hopfield import Conv, HopfieldNetwork
    >>> net = HopfieldNetwork([[1, 6, 6], Conv(2, 3), 2])
    >>> state = net.equilibrium(np.ones((1, 1, 6, 6)))
    >>> bool(np.abs(net.residual(state)).max() < 1e-10)
    True
    """

    def __init__(self, layers: Sequence, *, activation: str = "sigmoid",
                 gain: float | Sequence[float] = 1.0, seed: int = 0, tol: float = 1e-10,
                 max_iter: int = 100, relaxation: str = "newton", max_sweeps: int = 20_000,
                 linear_output: bool = False, initial_state: float = 0.0, replicas: int = 1):
        self.layers = layers
        self.activation = activation
        self.gain = gain
        self.seed = seed
        self.tol = tol
        self.max_iter = max_iter
        self.relaxation = relaxation
        self.max_sweeps = max_sweeps
        self.linear_output = linear_output
        self.initial_state = initial_state
        self.replicas = replicas
        self.tied, self.alpha = True, 0.0
        check_relaxation_settings(None, tol, max_iter)
        check_relaxation_settings(None, tol, max_sweeps, "max_sweeps")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r} must be one of {_ACTIVATIONS}")
        if relaxation not in _RELAXATIONS:
            raise ValueError(f"relaxation={relaxation!r} must be one of {_RELAXATIONS}")
        if activation == "sign" and relaxation == "newton":
            raise ValueError(
                "activation='sign' needs relaxation='sync' or 'async' (got 'newton'): binary "
                "activations H(s - 1/2) have no derivative for Newton's method to use; the "
                "papers relax them by their damped fixed-point update")
        if relaxation != "newton" and activation not in _BOXED:
            raise ValueError(
                f"relaxation={relaxation!r} needs activation='hard-sigmoid' (got "
                f"{activation!r}): the papers' update s <- clip(z, 0, 1) minimises the energy "
                "of a layer exactly only where rho(s) = s; with a curved rho the fixed-point map "
                "s <- rho'(s) z is not a contraction in general. Use relaxation='newton'")
        hi = 1.0 if activation in _BOXED else 0.0
        if (isinstance(initial_state, bool) or not isinstance(initial_state, (int, float))
                or not 0.0 <= initial_state <= hi):
            raise ValueError(
                f"initial_state={initial_state!r} must be a number in [0, 1] (the hard sigmoid's "
                "box)" if hi else f"initial_state={initial_state!r}: smooth activations start "
                "at s = 0 and relax by the gradient flow before Newton; only 0 is accepted")
        if isinstance(replicas, bool) or not isinstance(replicas, (int, np.integer)) \
                or replicas < 1:
            raise ValueError(f"replicas={replicas!r} must be a positive integer (copies of each "
                             "output unit)")
        self._input_shape, self._ops = _build(layers)
        if replicas > 1:
            if not isinstance(self._ops[-1], _Dense):
                raise ValueError(f"replicas={replicas}: the output layer {layers[-1]!r} must be "
                                 "dense (a number of units) to be replicated")
            self._input_shape, self._ops = _build([*layers[:-1], layers[-1] * replicas])
        if activation == "tanh" and not all(op.linear for op in self._ops):
            raise ValueError("activation='tanh' with pool='max': a negative activity times a "
                             "window maximum makes the energy's kinks convex, so minima can sit "
                             "on them (no equilibrium ∂E/∂s = 0); use activation='sigmoid' or "
                             "'hard-sigmoid' (activities >= 0) with max pooling")
        self._gains = per_layer("gain", gain, len(self._ops), check_positive)
        self._set_layout([self._ops[0].n_in] + [op.n_out for op in self._ops])
        self.params = self._initial_params()

    @property
    def capabilities(self):
        if self._boxed or not all(op.linear for op in self._ops):
            return frozenset({"soft_nudge", "clamp", "step"})        # not holomorphic
        return frozenset({"soft_nudge", "clamp", "complex", "step"})

    unavailable = ()

    @property
    def _boxed(self):
        """States confined to the box ``[0, 1]`` (hard sigmoid, binary activations)."""
        return self.activation in _BOXED

    # -- replicated outputs: the output layer holds `replicas` copies of every output --------------
    @property
    def n_outputs(self):
        return self._sizes[-1] // self.replicas

    def _mean(self, units):
        """Output-layer units (batch, n_outputs · replicas) → their replicas' mean."""
        r = self.replicas
        return units if r == 1 else units.reshape(len(units), -1, r).mean(axis=2)

    def _spread(self, values):
        """Per output (batch, n_outputs) → the same value on each of its replicas."""
        return values if self.replicas == 1 else np.repeat(values, self.replicas, axis=1)

    def outputs(self, state):
        """The outputs: the output layer's states, averaged over replicas."""
        return self._mean(state.s[:, self.output_index])

    def output_vjp(self, state, g_out):
        return super().output_vjp(state, self._spread(np.asarray(g_out)) / self.replicas)

    def _add_stiffness(self, J, state, nudge):
        if not isinstance(nudge, Nudge) or self.replicas == 1:
            return super()._add_stiffness(J, state, nudge)
        r, out = self.replicas, self.output_index
        stiff = nudge.stiffness(self.outputs(state))
        J = J.astype(np.result_type(J, nudge.beta))
        J[:, out[:, None], out[None, :]] += np.repeat(np.repeat(stiff, r, 1), r, 2) / r ** 2
        return J

    @property
    def input_shape(self):
        """``(C, H, W)`` of image inputs, or ``(n_in,)`` for flat inputs."""
        return self._input_shape

    @property
    def param_shapes(self):
        shapes = {}
        for l, op in enumerate(self._ops, 1):
            shapes[f"W{l}"] = op.w_shape
        for l, op in enumerate(self._ops, 1):
            shapes[f"b{l}"] = op.b_shape
        return shapes

    def _initial_params(self):
        rng = np.random.default_rng(self.seed)
        p = {}
        for l, (op, gain) in enumerate(zip(self._ops, self._gains), 1):
            p[f"W{l}"] = rng.normal(0.0, gain / np.sqrt(op.fan_in), op.w_shape)
        for l, op in enumerate(self._ops, 1):
            p[f"b{l}"] = np.zeros(op.b_shape)
        return p

    def is_symmetric(self):
        """Always True: the feedback is the transpose of the forward map by construction."""
        return True

    # -- inputs ---------------------------------------------------------------------------------
    def check_inputs(self, x):
        """Flat ``(batch, n_in)`` inputs, or images ``(batch, C, H, W)`` of ``input_shape``."""
        arr = as_float_array(x, "x")
        if arr.ndim == 4 or (arr.ndim == 3 and len(self._input_shape) == 3):
            if arr.ndim == 3:
                arr = arr[None]
            if tuple(arr.shape[1:]) != self._input_shape:
                raise ValueError(
                    f"x has image shape {tuple(arr.shape[1:])} (C, H, W) per sample, expected "
                    f"input_shape {self._input_shape} for {type(self).__name__}")
            check_batch(arr, "x")
            arr = arr.reshape(len(arr), -1)
        return super().check_inputs(arr)

    # -- the energy -------------------------------------------------------------------------------
    def _act(self, l, s):
        """``ρ``, ``ρ′``, ``ρ″`` of layer ``l`` (0-based; −1 the output layer, linear with
        ``linear_output``)."""
        if self.linear_output and l in (-1, self.n_layers - 1):
            return s, np.ones(s.shape), np.zeros(s.shape)
        return self._activation(s)

    def _rhos(self, state):
        """``ρ(s_l)`` of every layer."""
        return [self._act(l, state.s[:, sl])[0] for l, sl in enumerate(self._slices)]

    def _activation(self, s):
        """``ρ(s)``, ``ρ′(s)``, ``ρ″(s)`` elementwise (the hard sigmoid's ``ρ′`` is 1 on the
        closed box ``[0, 1]``: its one-sided derivative from inside)."""
        if self.activation in _BOXED:             # sign: the papers' straight-through ρ′
            inside = ((s >= 0) & (s <= 1)).astype(float)
            rho = np.clip(s, 0.0, 1.0) if self.activation == "hard-sigmoid" else _step(s)
            return rho, inside, np.zeros(s.shape)
        if self.activation == "sigmoid":       # ½(1 + tanh(2s − 1)) = 1/(1 + e^{−4s+2})
            t = np.tanh(2.0 * s - 1.0)
            d1 = 1.0 - t * t
            return 0.5 * (1.0 + t), d1, -4.0 * t * d1
        r = np.tanh(s)
        d1 = 1.0 - r * r
        return r, d1, -2.0 * r * d1

    def _below(self, state, rho, l):
        """``a_{l−1}``: the input for ``l = 1``, else ``ρ(s_{l−1})``."""
        return state.x.astype(state.s.dtype) if l == 1 else rho[l - 2]

    def _drives(self, state, rho):
        """Feed-forward drives ``A_l a_{l−1} + b̂_l`` per layer."""
        p = self._params
        return [op.forward(p[f"W{l}"], self._below(state, rho, l)) + op.bias(p[f"b{l}"])
                for l, op in enumerate(self._ops, 1)]

    def _layers(self, state):
        """Per layer: ``s_l``, ``ρ(s_l)``, ``ρ′(s_l)``, ``ρ″(s_l)`` and the total drive ``z_l``."""
        p = self._params
        s = [state.s[:, sl] for sl in self._slices]
        rho, d1, d2 = zip(*(self._act(l, v) for l, v in enumerate(s)))
        z = self._drives(state, rho)
        for l in range(1, self.n_layers):
            z[l - 1] = z[l - 1] + self._ops[l].transpose(p[f"W{l + 1}"], rho[l], rho[l - 1])
        return s, list(rho), list(d1), list(d2), z

    def energy(self, state):
        """The Hopfield energy ``E`` per sample, shape (batch,)."""
        rho = self._rhos(state)
        E = 0.5 * np.sum(state.s * state.s, axis=1)
        for r, z in zip(rho, self._drives(state, rho)):
            E = E - np.sum(r * z, axis=1)
        return E

    def layer_matrices(self, state):
        """Each layer map's derivative ``∂A_l/∂a_{l−1}`` at ``state`` as a dense matrix:
        (n_l, n_{l−1}), or (batch, n_l, n_{l−1}) for max pooling (its window maxima)."""
        p = self._params
        rho = self._rhos(state)
        return [op.matrix(p[f"W{l}"], self._below(state, rho, l))
                for l, op in enumerate(self._ops, 1)]

    def hessian_vector(self, state, v):
        """``(∂²E/∂s²) v`` matrix-free, ``v`` of shape like ``s``."""
        p = self._params
        _, rho, d1, d2, z = self._layers(state)
        vl = [v[:, sl] for sl in self._slices]
        u = [d * w for d, w in zip(d1, vl)]
        out = []
        for l, op in enumerate(self._ops, 1):
            h = vl[l - 1] - d2[l - 1] * z[l - 1] * vl[l - 1]
            coupling = 0.0
            if l >= 2:
                coupling = coupling + op.forward(p[f"W{l}"], u[l - 2], rho[l - 2])
            if l < self.n_layers:
                coupling = coupling + self._ops[l].transpose(p[f"W{l + 1}"], u[l], rho[l - 1])
            out.append(h - d1[l - 1] * coupling)
        return np.concatenate(out, axis=1)

    def curvature(self, state):
        """The smallest eigenvalue of the energy's Hessian ``∂²E/∂s²`` at ``state``, per sample.

        For the hard sigmoid the energy is quadratic on the box, with Hessian ``I − A``
        (``A`` the symmetric couplings between layers; for max pooling, those of the state's
        window maxima): a positive curvature makes ``E`` strictly convex there, with one
        minimum whatever the start; a negative one allows several, and then the equilibrium
        depends on where the relaxation starts (see the Notes). For smooth activations it is
        the local curvature at ``state``.

        Returns
        -------
        ndarray, shape (batch,)
        """
        return np.linalg.eigvalsh(self.jacobian(state))[:, 0]

    def jacobian(self, state, nudge=None):
        """The Hessian ``∂²E/∂s²`` (plus ``β ∂²C/∂o²`` under a nudge), (batch, n, n)."""
        _, _, d1, d2, z = self._layers(state)
        batch, n = state.s.shape
        M = self.layer_matrices(state)
        J = np.zeros((batch, n, n), dtype=state.s.dtype)
        idx = np.arange(n)
        J[:, idx, idx] = 1.0 - np.concatenate([a * b for a, b in zip(d2, z)], axis=1)
        for l in range(2, self.n_layers + 1):
            a, below = self._slices[l - 1], self._slices[l - 2]
            block = d1[l - 1][:, :, None] * M[l - 1] * d1[l - 2][:, None, :]
            J[:, a, below] -= block
            J[:, below, a] -= np.swapaxes(block, 1, 2)
        return self._add_stiffness(J, state, nudge)

    # -- relaxation: Newton, projected Newton, or the papers' fixed-point sweeps ----------------
    def equilibrium(self, x, nudge=None, start=None):
        """Relax to a minimum of ``E + βC`` under ``nudge`` (None: free), from ``start``.

        By ``relaxation`` (see the class Notes): ``"newton"`` — smooth activations by gradient
        flow, then Newton; the hard sigmoid, and clamped outputs, by projected Newton
        (:meth:`_box_newton`); ``"sync"`` / ``"async"`` — the papers' fixed-point sweeps
        (:meth:`_sweep`). A :class:`~physlearn.nudges.Clamp` holds the outputs at its values
        and relaxes the hidden layers under ``E`` alone.

        Returns
        -------
        State
            With ``info = {"relaxation", "iterations", "residual"}``: the method, the Newton
            steps or sweeps taken, and the largest residual ``max|∂(E + βC)/∂s|`` (the
            projected one for the hard sigmoid) at the state returned, below ``tol``.

        Raises
        ------
        ConvergenceError
            If that residual does not fall below ``tol`` within ``max_iter`` Newton steps or
            ``max_sweeps`` sweeps, or the sweeps diverge; the message gives the residual reached.
        """
        clamp = isinstance(nudge, Clamp)
        if self.relaxation == "newton" and not self._boxed and not clamp:
            state = super().equilibrium(x, nudge, start)
            return self._report(state, "newton", None)
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        batch = len(x)
        if clamp:
            nudge = Clamp(self.check_targets(nudge.values, batch))
        elif isinstance(nudge, Nudge):      # real: complex β needs a smooth ρ and Newton
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, batch),
                          float(np.real(nudge.beta)))
        lo, hi = self._box
        s = np.full((batch, self.n_state), float(self.initial_state))
        if start is not None and np.shape(start.s) == s.shape:
            s = np.array(start.s)
        s = np.clip(np.real(s), lo, hi)
        if clamp:
            s[:, self.output_index] = self._spread(nudge.values)
        state = State(s=s, x=x, nudge=nudge)
        if self.relaxation == "newton":
            return self._box_newton(state)
        return self._sweep(state)

    @property
    def _box(self):
        """Bounds of each unit, arrays (n_state,): the hard sigmoid's box ``[0, 1]``, none
        for smooth activations and a linear output layer."""
        lo, hi = np.full(self.n_state, -np.inf), np.full(self.n_state, np.inf)
        if self._boxed:
            lo[:], hi[:] = 0.0, 1.0
            if self.linear_output:
                lo[self.output_index], hi[self.output_index] = -np.inf, np.inf
        return lo, hi

    def _report(self, state, method, iterations):
        worst = float(np.max(np.abs(self.residual(state)))) if state.s.size else 0.0
        state.info = {"relaxation": method, "iterations": iterations, "residual": worst}
        return state

    def _held(self, state):
        """Units a relaxation must not move: the clamped outputs (per sample mask)."""
        held = np.zeros(state.s.shape, dtype=bool)
        if isinstance(state.nudge, Clamp):
            held[:, self.output_index] = True
        return held

    def _sweep(self, state):
        """The papers' fixed-point relaxation, every layer at once (``"sync"``), or odd layers,
        then even ones (``"async"``), until the residual is below ``tol`` (hard sigmoid
        only; the sweeps are :meth:`_sweeps`)."""
        worst, mark = np.inf, (0, np.inf)    # mark: (sweep, residual) last cut by 10 %
        sweeps = self._sweeps(state, odd_even=self.relaxation == "async")
        for sweep, (s, worst) in zip(range(1, int(self.max_sweeps) + 1), sweeps):
            if worst < self.tol:
                return self._report(state.replace(s=s), self.relaxation, sweep)
            if worst < 0.9 * mark[1]:
                mark = (sweep, worst)
            if not worst < 1e8 or sweep - mark[0] > self._STALL:
                break
        how = ("diverge" if not worst < 1e8 else
               f"stall (the residual fell by less than 10 % in {self._STALL} sweeps)"
               if sweep - mark[0] > self._STALL else "converge too slowly")
        raise ConvergenceError(
            f"{type(self).__name__}{_beta_text(state.nudge)} ({self.relaxation} fixed-point "
            f"sweeps): residual max|dE/ds| = {worst:.3e} after {sweep} sweeps "
            f"(tol={self.tol:g}); the sweeps {how}: use relaxation='newton', smaller weights "
            "or a larger max_sweeps")

    def _sweeps(self, state, odd_even):
        """Yield ``(s, residual)`` after each sweep from ``state`` (hard sigmoid; clamped
        outputs held): every layer at once, or (``odd_even``) the odd layers, then the even
        ones. Each layer moves to ``clip(s − g/(1 + β ∂²C/∂o²|_diag), 0, 1)``: on a hidden
        layer (and at β = 0) the papers' update ``s_l ← clip(z_l, 0, 1)``; on a nudged output
        layer its exact minimiser, where the papers' ``clip(z − β(o − y))`` diverges for
        ``β ≥ 1`` (with replicated outputs, coupled through their mean, a projected gradient
        step of the output layer's largest curvature instead). Units of one parity do not
        interact, so an odd/even half-sweep minimises ``E + βC`` exactly over them.

        Works layer by layer: a half-sweep evaluates the gradient of the layers it moves
        only, the input drive ``A_1 x + b̂_1`` is computed once, and the gradient of the
        stopping test is the next first half-sweep's. Units stay in their box, where
        ``ρ(s) = s`` and ``ρ′ = 1``."""
        L, p, nudge = self.n_layers, self._params, state.nudge
        soft = nudge if isinstance(nudge, Nudge) else None
        bounds = self._layer_bounds()
        moving = [l for l in range(1, L + 1) if not (isinstance(nudge, Clamp) and l == L)]
        groups = [[l for l in moving if l % 2 == q] for q in (1, 0)] if odd_even else [moving]
        groups = [g for g in groups if g]
        bias = [op.bias(p[f"b{l}"]) for l, op in enumerate(self._ops, 1)]
        drive = self._ops[0].forward(p["W1"], state.x) + bias[0]
        s = [state.s[:, sl].copy() for sl in self._slices]         # s_l, l = 1..L
        a = [self._emit(v, b) for v, b in zip(s, bounds)]          # ρ(s_l) (clamps may lie
                                                                   # outside the box)
        rate = self._SIGN_RATE if self.activation == "sign" else 1.0

        def gradient(l):                                          # ∂(E + βC)/∂s_l
            z = drive if l == 1 else self._ops[l - 1].forward(p[f"W{l}"], a[l - 2]) + bias[l - 1]
            if l < L:
                z = z + self._ops[l].transpose(p[f"W{l + 1}"], a[l], a[l - 1])
            g = s[l - 1] - z
            if soft is None or l < L:
                return g
            return g + self._spread(soft.force(self._mean(s[l - 1]))) / self.replicas

        known = {}
        while True:
            for group in groups:
                steps = {l: known.pop(l) if l in known else gradient(l) for l in group}
                for l, g in steps.items():
                    if soft is not None and l == L:         # the exact minimiser, not a step
                        g = g / self._output_curvature(soft, s[l - 1])
                    s[l - 1] = _clip(s[l - 1] - rate * g, bounds[l - 1])
                    a[l - 1] = self._emit(s[l - 1], bounds[l - 1])
            known = {l: gradient(l) for l in groups[0]}
            worst = max(_projected(s[l - 1], known[l] if l in known else gradient(l),
                                   bounds[l - 1]) for l in moving)
            yield np.concatenate(s, axis=1), worst

    _SIGN_RATE = 0.5      # the papers' damping of binary units, s <- (1 - γ)s + γ clip(z)

    def _emit(self, v, bound):
        """What a layer communicates: ``ρ(s)`` on its box, ``H(s − ½)`` for binary units."""
        v = _clip(v, bound)
        return _step(v) if self.activation == "sign" and bound is not None else v

    def _layer_bounds(self):
        """Per layer, its box ``(lo, hi)``, or None (unbounded: a linear output)."""
        lo, hi = self._box
        return [None if lo[sl][0] == -np.inf else (lo[sl][0], hi[sl][0])
                for sl in self._slices]

    def _output_curvature(self, nudge, outputs):
        """``1 + β ∂²C/∂o²`` on the diagonal (``outputs``: the output layer's units): the
        output units' own curvature of ``E + βC`` (with replicas, which interact through their
        mean, the largest curvature of the output layer: a step that surely descends);
        where it is not positive the nudged energy has no minimum (an error)."""
        stiff = np.real(nudge.stiffness(self._mean(outputs)))
        if self.replicas == 1:
            curvature = 1.0 + np.diagonal(stiff, axis1=1, axis2=2)
            convex = curvature
        else:   # replicas couple through their mean: a step of 1/(largest curvature) descends
            eig = np.linalg.eigvalsh(stiff) / self.replicas      # the mean modes' curvatures
            curvature = np.maximum(1.0, 1.0 + eig[:, -1:])
            convex = 1.0 + eig[:, :1]
        if np.any(convex <= 0):
            raise ConvergenceError(
                f"{type(self).__name__}{_beta_text(nudge)}: the nudged output energy is not "
                "convex (1 + beta * d2C/do2 <= 0), so E + beta*C has no minimum over the box "
                "there; use a smaller |beta|")
        return curvature

    _STALL = 2000     # sweeps without a 10 % cut of the residual: a cycle, not slow convergence

    def residual(self, state):
        """``∂(E + βC)/∂s``; for the hard sigmoid its projection on the box,
        ``s − clip(s − ∂(E + βC)/∂s, 0, 1)`` (zero at a box-constrained minimum)."""
        g = EquilibriumSystem.residual(self, state)
        if not self._boxed:
            return g
        r = state.s - np.clip(state.s - g, *self._box)
        if isinstance(state.nudge, Clamp):
            r[:, self.output_index] = 0.0      # held, possibly outside the box (coupled learning)
        return r

    def _box_newton(self, state):
        """Projected Newton, descending ``E + βC`` with the clamped units held: a Newton step
        on the units not held at a bound by the gradient, projected back onto the box
        (``[0, 1]`` for the hard sigmoid, none otherwise), where the Hessian of those units is
        positive definite and the step lowers ``E + βC``; elsewhere a projected gradient step
        ``s ← clip(s − g/L, 0, 1)``, ``L`` the largest Hessian eigenvalue in modulus (for weak
        couplings, ``L = 1``, this is the papers' ``s ← clip(z, 0, 1)``)."""
        lo, hi = self._box
        held = self._held(state)
        s = state.s.copy()
        for step in range(int(self.max_iter)):
            st = state.replace(s=s)
            g = EquilibriumSystem.residual(self, st)
            if np.all(np.max(np.abs(np.where(held, 0.0, s - np.clip(s - g, lo, hi))),
                             axis=1) < self.tol):
                return self._report(st, "newton", step)
            free = ~(((s <= lo) & (g > 0)) | ((s >= hi) & (g < 0)) | held)
            J = self.jacobian(st, state.nudge)
            d = _masked_solve(J, g, free)
            convex = np.linalg.eigvalsh(_masked(J, free))[:, 0] > 0
            f0 = self._merit(st)
            accept = np.zeros(len(s), dtype=bool)
            new = s.copy()
            for alpha in 0.5 ** np.arange(8):        # backtrack along the projected path
                trial = np.where(held, s, np.clip(s - alpha * d, lo, hi))
                ok = convex & ~accept & (self._merit(state.replace(s=trial))
                                         <= f0 + 1e-12 * (1.0 + np.abs(f0)))
                new[ok], accept = trial[ok], accept | ok
                if accept[convex].all():
                    break
            s = np.where(accept[:, None], new, self._descend(state.replace(s=s), g, J))
        worst = float(np.max(np.abs(self.residual(state.replace(s=s)))))
        raise ConvergenceError(
            f"{type(self).__name__}: no minimum of E + beta*C found after {self.max_iter} "
            f"(projected) Newton steps: residual max|s - clip(s - dE/ds, 0, 1)| = "
            f"{worst:.3e} (tol={self.tol:g})")

    def step(self, state):
        """One step of the relaxation dynamics of ``E + βC`` (``βC`` from ``state.nudge``) at
        the current parameters: the one-step map of continual EP (:class:`physlearn.ContinualEP`).

        For the hard sigmoid and binary activations, one sweep of the papers' fixed-point
        update (synchronous for ``relaxation="sync"``, odd/even otherwise; see
        :meth:`_sweeps`); for smooth activations, one step of the gradient flow
        ``s ← s − ∂(E + βC)/∂s / λ_max``, ``λ_max`` the largest Hessian eigenvalue in modulus
        (stable: it never overshoots along the stiffest direction). Clamped outputs are held
        at their values. Every step lowers ``E + βC`` or leaves it, except the synchronous
        sweep (which may oscillate, as the papers note) and the binary units' update (whose
        ``E`` is no Lyapunov function).

        Parameters
        ----------
        state : State
            From :meth:`equilibrium` (or a previous step); its ``nudge`` sets the dynamics.

        Returns
        -------
        State
            The state after the step, with the same ``x`` and ``nudge``.
        """
        if not isinstance(state, State) or np.shape(state.s) != (len(state.x), self.n_state):
            raise ValueError(f"state must be a State of {type(self).__name__} with s of shape "
                             f"(batch, {self.n_state}), got {type(state).__name__}")
        self.check_nudge(state.nudge)
        if isinstance(state.nudge, Clamp):              # held at the clamp, as in equilibrium
            s = np.array(state.s)
            s[:, self.output_index] = self._spread(self.check_targets(state.nudge.values, len(s)))
            state = state.replace(s=s)
        if self._boxed:
            s = next(self._sweeps(state, odd_even=self.relaxation != "sync"))[0]
            return state.replace(s=s)
        g = np.where(self._held(state), 0.0, EquilibriumSystem.residual(self, state))
        return state.replace(s=self._descend(state, g, self.jacobian(state, state.nudge)))

    def _descend(self, state, g, J):
        """Where Newton fails, a step that surely lowers ``E + βC``: for the hard sigmoid
        one odd/even sweep of exact layer minimisations; otherwise a gradient step
        ``s − g/L``, ``L`` the largest Hessian eigenvalue in modulus."""
        if self.activation == "hard-sigmoid":
            return next(self._sweeps(state, odd_even=True))[0]
        L = np.max(np.abs(np.linalg.eigvalsh(J)), axis=1)
        return state.s - g / L[:, None]          # g = 0 on held units

    def _merit(self, state):
        """``E + βC`` per sample."""
        E = self.energy(state)
        nudge = state.nudge
        if isinstance(nudge, Nudge):
            E = E + nudge.beta * nudge.cost.value(self.outputs(state), nudge.target)
        return E

    def exact_gradient(self, x, y, cost):
        self._refuse_reference("exact_gradient")
        return super().exact_gradient(x, y, cost)

    exact_gradient.__doc__ = EquilibriumSystem.exact_gradient.__doc__

    def _refuse_reference(self, what):
        """Binary activations have no exact reference: say so rather than return zeros."""
        if self.activation == "sign":
            raise ValueError(
                f"{what} of {type(self).__name__}(activation='sign'): the binary activations "
                "H(s - 1/2) have zero derivative almost everywhere, so dL/dtheta is zero or "
                "undefined and there is no exact reference; EP's contrast of the binary states "
                "is the papers' straight-through estimate. Use activation='hard-sigmoid' for a "
                "network with a reference")

    def adjoint(self, state, rhs):
        """Solve ``∂²E/∂s² λ = rhs``; for the hard sigmoid on the unsaturated units only
        (``λ = 0`` on units at 0 or 1: they stay saturated under small changes of θ)."""
        self._refuse_reference("the adjoint")
        if self.activation != "hard-sigmoid":
            return super().adjoint(state, rhs)
        lo, hi = self._box
        free = (state.s > lo) & (state.s < hi)
        return _masked_solve(self.jacobian(state), np.asarray(rhs), free)

    def param_gradient(self, state):
        """``∂E/∂θ`` at ``state`` (local): ``∂E/∂W_l = −∂(ρ(s_l)ᵀ A_l a_{l−1})/∂W_l``,
        ``∂E/∂b_l = −ρ(s_l)`` (summed per channel for a convolution)."""
        p = self._params
        rho = self._rhos(state)
        out = {}
        for l, op in enumerate(self._ops, 1):
            out[f"W{l}"] = -op.wgrad(p[f"W{l}"], rho[l - 1], self._below(state, rho, l))
        for l, op in enumerate(self._ops, 1):
            out[f"b{l}"] = -op.bgrad(rho[l - 1])
        return out

    def mixed_vjp(self, state, lam):
        """``Σ_i λ_i ∂²E/∂θ∂s_i``: dict name → array of shape ``(batch, *shape)``."""
        p = self._params
        _, rho, d1, _, _ = self._layers(state)
        lam = np.asarray(lam)
        e = [-lam[:, sl] * d for sl, d in zip(self._slices, d1)]        # −λ_l ρ′(s_l)
        out = {}
        for l, op in enumerate(self._ops, 1):
            W, below = p[f"W{l}"], self._below(state, rho, l)
            g = op.wgrad(W, e[l - 1], below)
            if l >= 2:                       # W_l also carries the feedback into layer l−1
                g = g + op.wgrad(W, rho[l - 1], e[l - 2], below)
            out[f"W{l}"] = g
        for l, op in enumerate(self._ops, 1):
            out[f"b{l}"] = op.bgrad(e[l - 1])
        return out


    # -- the papers' baseline: truncated backpropagation through the updates -------------------
    def truncated_bptt(self, x, y, cost=None, steps=20, step=1.0):
        """Truncated BPTT (the papers' TBP baseline): backpropagate the loss through the last
        ``steps`` synchronous updates ``s ← Π(s − η ∂E/∂s)`` of the free phase.

        Parameters
        ----------
        x, y : array_like
            Inputs and targets.
        cost : Cost, str or None
            None: squared error.
        steps : int, default 20
            Updates backpropagated through (the truncation).
        step : float, default 1.0
            ``η``; ``Π`` is ``clip(·, 0, 1)`` for the hard sigmoid (where ``η = 1`` is the
            papers' update ``s ← clip(z, 0, 1)``), the identity otherwise.

        Returns
        -------
        dict
            ``dL/dθ`` through the truncated unrolled updates (batch mean).

        Notes
        -----
        The updates are unrolled from the relaxed free state ``s*``, where every update
        returns ``s*``: the Jacobian of one update is ``D(I − ηH)`` (``H = ∂²E/∂s²``, ``D``
        zero on saturated units), so the truncated gradient is
        ``−η Σ_{j<K} ∂²E/∂θ∂s · D[(I − ηH)D]^j ∂L/∂s``, a truncated Neumann series of the
        implicit-differentiation gradient ``−∂²E/∂θ∂s · H_F⁻¹ ∂L/∂s`` (recurrent backprop),
        which it approaches geometrically as ``K`` grows when the spectrum of ``ηH`` on the
        unsaturated units lies in ``(0, 2)``. Computed matrix-free (:meth:`hessian_vector`).

        References
        ----------
        .. [1] B. Scellier et al., "Energy-based learning algorithms for analog computing: a
           comparative study", NeurIPS 2023, arXiv:2312.15103 (TBP and RBP baselines).
        """
        self._refuse_reference("truncated_bptt")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps={steps!r} must be a positive integer")
        if not (np.isfinite(step) and step > 0):
            raise ValueError(f"step={step!r} must be a finite number > 0")
        x = self.check_inputs(x)
        y = self.check_targets(y, len(x))
        cost = make_cost(cost)
        free = self.equilibrium(x)
        lo, hi = self._box
        unsaturated = ((free.s > lo) & (free.s < hi)).astype(float)
        lam = self.output_vjp(free, cost.gradient(self.outputs(free), y))
        total = np.zeros(free.s.shape)
        for _ in range(int(steps)):
            lam = unsaturated * lam
            total += lam
            lam = lam - step * self.hessian_vector(free, lam)
        return {k: -step * v for k, v in batch_mean(self.mixed_vjp(free, total)).items()}

    # -- the input side: what a feedforward block before this one needs (ff-EBMs) --------------
    def activity(self, state):
        """``ρ(s_L)``: the output layer's activity, what a next block reads, (batch, n_out)."""
        return self._act(-1, self.outputs(state))[0]

    def activity_vjp(self, state, g):
        """``ρ′(s_L) ⊙ g``: a cotangent on :meth:`activity` pulled back to the outputs."""
        return self._act(-1, self.outputs(state))[1] * g

    def input_gradient(self, state):
        """``∂E/∂x`` at ``state`` (local, like :meth:`param_gradient`): ``−A_1ᵀ ρ(s_1)``,
        shape (batch, n_features)."""
        rho = self._act(0, state.s[:, self._slices[0]])[0]
        return -self._ops[0].transpose(self._params["W1"], rho, self._below(state, [], 1))

    def input_vjp(self, state, lam):
        """``Σ_i λ_i ∂²E/∂x∂s_i = −A_1ᵀ (ρ′(s_1) ⊙ λ_1)``: with the adjoint ``λ`` the exact
        ``dL/dx = −input_vjp(λ)`` at a free equilibrium, shape (batch, n_features)."""
        d1 = self._act(0, state.s[:, self._slices[0]])[1]
        lam1 = np.asarray(lam)[:, self._slices[0]]
        return -self._ops[0].transpose(self._params["W1"], d1 * lam1, self._below(state, [], 1))


def _build(layers):
    """The input shape and the layer maps from a ``layers`` spec."""
    if not isinstance(layers, (list, tuple)) or len(layers) < 2:
        raise ValueError(f"layers={layers!r} must list the input and at least one layer")
    first = layers[0]
    if isinstance(first, (list, tuple)):
        shape = tuple(first)
        if len(shape) != 3 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                  or n < 1 for n in shape):
            raise ValueError(f"layers[0]={first!r} must be an image shape [C, H, W] of "
                             "positive integers, or the number of inputs")
    elif isinstance(first, (int, np.integer)) and not isinstance(first, bool) and first >= 1:
        shape = (int(first),)
    else:
        raise ValueError(f"layers[0]={first!r} must be a positive integer (inputs) or an image "
                         "shape [C, H, W]")
    ops, current = [], shape
    for i, spec in enumerate(layers[1:], 1):
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            if spec < 1:
                raise ValueError(f"layers[{i}]={spec!r} must be a positive number of units")
            ops.append(_Dense(np.prod(current), spec))
            current = (int(spec),)
            continue
        if not isinstance(spec, (Conv, dict)):
            raise ValueError(f"layers[{i}]={spec!r} must be a number of units or a Conv spec")
        conv = _as_conv(spec, i)
        if len(current) != 3:
            raise ValueError(f"layers[{i}]: a convolutional layer needs an image input, but "
                             f"layer {i - 1} is flat (shape {current}); put convolutions first "
                             "and give layers[0] as [C, H, W]")
        op = _ConvPool(current, conv, i)
        ops.append(op)
        current = op.out_shape
    return shape, ops


def _step(v):
    """``H(v − ½)`` as floats: 1 where ``v ≥ ½``, else 0 (binary activations)."""
    return (v >= 0.5).astype(float)


def _clip(v, bound):
    """``v`` clipped to ``bound = (lo, hi)``, or ``v`` itself for None."""
    return v if bound is None else np.minimum(np.maximum(v, bound[0]), bound[1])


def _projected(v, g, bound):
    """``max|v − clip(v − g)|``: the projected gradient, zero at a minimum over the box."""
    return float(np.max(np.abs(v - _clip(v - g, bound)))) if v.size else 0.0


def _masked(J, free):
    """``J`` on the ``free`` components, the identity on the others (per sample)."""
    both = free[:, :, None] & free[:, None, :]
    return np.where(both, J, 0.0) + np.where(free, 0.0, 1.0)[:, :, None] * np.eye(J.shape[1])


def _masked_solve(J, rhs, free):
    """Per sample, solve ``J_FF x_F = rhs_F`` on the ``free`` components; ``x = 0`` elsewhere."""
    return np.linalg.solve(_masked(J, free), np.where(free, rhs, 0.0)[..., None])[..., 0]
