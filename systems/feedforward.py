"""A layered feedforward network: the digital baseline that target propagation trains.

Not a physical system that relaxes: a run is one pass ``h_i = f(W_i h_{i−1} + b_i)`` from the
inputs to the outputs. It stands on the system side of the seam so that the learning rules
of the digital literature (backpropagation, difference target propagation,
:class:`physlearn.rules.dtp.DTP`) are trained, checked and compared with the physical rules by
the same training loop, optimizers, configs and contract suite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physlearn.system import System, check_positive

__all__ = ["FeedforwardNetwork", "ACTIVATIONS"]

#: name → (f(u), f'(u)) for the hidden layers (and the feedback maps)
ACTIVATIONS = {
    "elu": (lambda u: np.maximum(u, 0.0) + np.expm1(np.minimum(u, 0.0)),
            lambda u: np.exp(np.minimum(u, 0.0))),
    "tanh": (np.tanh, lambda u: 1.0 - np.tanh(u) ** 2),
    "linear": (lambda u: u, np.ones_like),
}


def _check_layers(layers):
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) < 2:
        raise ValueError(f"layers={layers!r} must be a list of at least two layer sizes "
                         "(inputs, ..., outputs)")
    for i, n in enumerate(layers):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"layers[{i}]={n!r} must be a positive integer (layers={layers!r})")
    return [int(n) for n in layers]


class FeedforwardNetwork(System):
    """A layered feedforward network ``h_i = f(W_i h_{i−1} + b_i)`` with a linear last layer.

    Parameters
    ----------
    layers : list of int, default [64, 256, 256, 10]
        Layer sizes ``[n_0, n_1, …, n_N]``: ``n_0`` input features, ``N − 1`` hidden layers
        and ``n_N`` outputs (the logits a cost reads).
    activation : {"elu", "tanh", "linear"}, default "elu"
        ``f`` of the hidden layers and of the feedback maps (``"linear"``: the identity,
        a deep linear network). The last layer is linear.
    feedback : bool, default True
        Also carry learned feedback maps ``G_i: h_i → h_{i−1}`` for ``i = 2 … N`` (what
        difference target propagation trains, see Notes). The loss does not depend on them.
    gain : float, default 1.0
        Initial forward weights ``W_i ~ N(0, gain²/n_{i−1})``, biases 0.
    feedback_gain : float, default 1.0
        Initial feedback weights ``V_i ~ N(0, feedback_gain²/n_i)``, biases 0.
    seed : int, default 0
        Seeds the initial weights (forward and feedback, from one generator); >= 0.

    Raises
    ------
    ValueError
        If ``layers`` is not a list of at least two positive integers, ``activation`` is
        unknown, ``feedback`` is not a bool, ``gain`` or ``feedback_gain`` is not a finite
        positive number, or ``seed`` is not a non-negative integer.

    Notes
    -----
    **Forward pass.** :math:`h_0 = x` and, for :math:`i = 1 … N`,

    .. math::

        a_i = W_i h_{i−1} + b_i, \\qquad h_i = f(a_i) \\;(i < N), \\qquad h_N = a_N,

    the outputs (logits) a cost reads.

    **Parameters.** Forward: ``"W{i}"`` (shape ``(n_i, n_{i−1})``) and ``"b{i}"``
    (``(n_i,)``) for ``i = 1 … N``. Feedback (with ``feedback=True``): ``"V{i}"``
    (``(n_{i−1}, n_i)``) and ``"c{i}"`` (``(n_{i−1},)``) for ``i = 2 … N``, the map
    ``G_i(h) = f(V_i h + c_i)`` back from layer ``i`` to layer ``i − 1`` (a layer of the same
    form as the forward ones). They are parameters of the network, so that a checkpoint of a
    training run carries them and a resumed run continues with them; the loss
    ``L = mean_b C(h_N, y)`` does not depend on them, so their exact gradient is zero, and
    only a rule that trains them (DTP's feedback training) moves them.

    **Exact gradient** (:meth:`exact_gradient`): hand-written backpropagation. With the
    pre-activations :math:`a_i` and the error :math:`δ_N = ∂C/∂h_N`,

    .. math::

        e_i = f'(a_i) ⊙ δ_i, \\qquad
        \\frac{∂L}{∂W_i} = \\operatorname{mean}_b\\, e_i h_{i−1}^{\\mathsf T}, \\qquad
        \\frac{∂L}{∂b_i} = \\operatorname{mean}_b\\, e_i, \\qquad
        δ_{i−1} = W_i^{\\mathsf T} e_i,

    with :math:`f' = 1` for the last layer.

    Capabilities: ``"feedforward"`` (a layered forward pass, per-layer access for
    :meth:`layer` and :meth:`layer_backward`) and, with feedback maps, ``"feedback"``. It
    offers no nudge: the equilibrium rules (EP and its family) refuse it; DTP and the
    ``backprop`` rule refuse every other system.

    Dimensionless: activations, weights and costs are pure numbers.

    References
    ----------
    .. [1] M. Ernoult, F. Normandin, A. Moudgil, S. Spinney, E. Belilovsky, I. Rish,
       B. Richards, Y. Bengio, "Towards scaling difference target propagation by learning
       backprop targets", ICML 2022, arXiv:2201.13415.
    .. [2] D. Rumelhart, G. Hinton, R. Williams, "Learning representations by
       back-propagating errors", Nature 323, 533 (1986).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.feedforward import FeedforwardNetwork
    >>> net = FeedforwardNetwork([3, 5, 4, 2], seed=0)
    >>> net.predict(np.ones((6, 3))).shape
    (6, 2)
    >>> sorted(net.params)
    ['V2', 'V3', 'W1', 'W2', 'W3', 'b1', 'b2', 'b3', 'c2', 'c3']
    """

    reference_note = "FeedforwardNetwork.exact_gradient: hand-written backpropagation"

    def __init__(self, layers: Sequence[int] = (64, 256, 256, 10), activation: str = "elu", *,
                 feedback: bool = True, gain: float = 1.0, feedback_gain: float = 1.0,
                 seed: int = 0):
        self.layers = layers
        self.activation = activation
        self.feedback = feedback
        self.gain = gain
        self.feedback_gain = feedback_gain
        self.seed = seed
        sizes = _check_layers(layers)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} must be one of {list(ACTIVATIONS)}")
        if not isinstance(feedback, (bool, np.bool_)):
            raise ValueError(f"feedback={feedback!r} must be True or False")
        check_positive("gain", gain)
        check_positive("feedback_gain", feedback_gain)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        self._sizes = sizes
        self._f, self._df = ACTIVATIONS[activation]
        rng = np.random.default_rng(seed)
        scales = {"W": gain, "V": feedback_gain}       # N(0, scale²/fan-in); biases 0
        self.params = {name: rng.normal(0.0, scales[name[0]] / np.sqrt(shape[1]), shape)
                       if name[0] in scales else np.zeros(shape)
                       for name, shape in self.param_shapes.items()}

    # -- sizes and names --------------------------------------------------------------------------
    @property
    def n_layers(self):
        """``N``: the number of weight layers."""
        return len(self._sizes) - 1

    @property
    def feedback_layers(self):
        """``[2, …, N]``: the layers ``i`` that have a feedback map ``G_i: h_i → h_{i−1}``."""
        return list(range(2, self.n_layers + 1))

    @property
    def feedback_names(self):
        """The names of the feedback parameters (empty without feedback maps)."""
        if not self.feedback:
            return []
        return [name for i in self.feedback_layers for name in (f"V{i}", f"c{i}")]

    @property
    def n_features(self):
        return self._sizes[0]

    @property
    def n_outputs(self):
        return self._sizes[-1]

    @property
    def param_shapes(self):
        shapes = {}
        for i in range(1, len(self._sizes)):
            shapes[f"W{i}"] = (self._sizes[i], self._sizes[i - 1])
            shapes[f"b{i}"] = (self._sizes[i],)
        if self.feedback:
            for i in self.feedback_layers:
                shapes[f"V{i}"] = (self._sizes[i - 1], self._sizes[i])
                shapes[f"c{i}"] = (self._sizes[i - 1],)
        return shapes

    @property
    def capabilities(self):
        return frozenset({"feedforward", "feedback"} if self.feedback else {"feedforward"})

    # -- one layer --------------------------------------------------------------------------------
    def _act(self, i, a):
        """``f(a)`` of layer ``i`` (the identity for the last layer)."""
        return a if i == self.n_layers else self._f(a)

    def _dact(self, i, a):
        return np.ones(a.shape) if i == self.n_layers else self._df(a)

    def layer(self, i, h):
        """Forward layer ``F_i``: the pre-activation ``a_i = W_i h + b_i`` and ``h_i = f(a_i)``.

        Parameters
        ----------
        i : int
            Layer, ``1 … N``.
        h : ndarray, shape (batch, n_{i−1})
        """
        a = h @ self._params[f"W{i}"].T + self._params[f"b{i}"]
        return a, self._act(i, a)

    def layer_backward(self, i, h, a, delta):
        """Backprop an error ``δ = ∂ℓ/∂h_i`` through layer ``i`` (input ``h``, pre-activation
        ``a``): ``(∂ℓ/∂h_{i−1}, {"W{i}": …, "b{i}": …})``, the parameter part summed over the
        batch (divide by its size for a batch mean)."""
        e = self._dact(i, a) * delta
        return e @ self._params[f"W{i}"], {f"W{i}": e.T @ h, f"b{i}": e.sum(axis=0)}

    def feedback_map(self, i, h):
        """Feedback map ``G_i(h) = f(V_i h + c_i)`` from layer ``i`` back to layer ``i − 1``:
        its pre-activation and value."""
        if not self.feedback:
            raise ValueError(f"{type(self).__name__} was built with feedback=False: it has no "
                             "feedback maps")
        u = h @ self._params[f"V{i}"].T + self._params[f"c{i}"]
        return u, self._f(u)

    def feedback_backward(self, i, h, u, delta):
        """The gradient ``{"V{i}": …, "c{i}": …}`` (summed over the batch) of ``Σ δ · G_i(h)``
        at inputs ``h`` with pre-activations ``u``."""
        e = self._df(u) * delta
        return {f"V{i}": e.T @ h, f"c{i}": e.sum(axis=0)}

    # -- the network ------------------------------------------------------------------------------
    def forward(self, x):
        """Activities ``[h_0 = x, h_1, …, h_N]`` and pre-activations ``[a_1, …, a_N]``."""
        h, hs, pre = x, [x], []
        for i in range(1, self.n_layers + 1):
            a, h = self.layer(i, h)
            pre.append(a)
            hs.append(h)
        return hs, pre

    def predict(self, x):
        """The outputs (logits) ``h_N`` for inputs ``x``, shape (batch, n_outputs)."""
        return self.forward(self.check_inputs(x))[0][-1]

    def exact_gradient(self, x, y, cost):
        """Hand-written backpropagation, batch mean (zero for the feedback parameters, on
        which the loss does not depend)."""
        hs, pre = self.forward(x)
        delta = cost.gradient(hs[-1], y)
        grads = {}
        for i in range(self.n_layers, 0, -1):
            delta, g = self.layer_backward(i, hs[i - 1], pre[i - 1], delta)
            grads.update(g)
        grads.update({name: np.zeros(self.param_shapes[name]) for name in self.feedback_names})
        return {name: grads[name] / x.shape[0] for name in self.param_shapes}
