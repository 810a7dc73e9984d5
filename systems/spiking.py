"""Spiking convergent networks: integrate-and-fire neurons whose firing rates settle to the
fixed point of a Hopfield network.

Physics
-------
The layers of a :class:`~physlearn.systems.hopfield.HopfieldNetwork` (dense, or convolutions
with pooling) become populations of integrate-and-fire neurons. Every time step ``dt`` each
neuron integrates the spikes of its neighbours through the same symmetric couplings,

    v_l(t) = λ u_l(t−1) + (A_l z_{l−1}(t−1) + A_{l+1}ᵀ z_{l+1}(t−1) + b̂_l) / θ,
    z_l(t) = H(v_l(t) − 1),      u_l(t) = v_l(t) − z_l(t)      (reset by subtraction),

with ``λ = 1`` (IF) or ``exp(−dt/τ)`` (LIF), membranes in units of the threshold ``θ`` and the
input layer ``z_0`` a regular spike train of rate ``x``. A neuron fires at most once per step,
so its firing fraction ``r = count / steps`` lies in ``[0, 1]``; for a constant drive ``I`` an
IF neuron fires ``r = clip(I/θ, 0, 1)`` up to ``1/steps``: the hard sigmoid. The network's
firing fractions therefore settle to the fixed point ``r = clip((A r + b̂)/θ, 0, 1)`` of the
hard-sigmoid Hopfield network :meth:`SpikingNetwork.rate_network`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physlearn.nudges import Clamp, Nudge
from physlearn.params import per_layer
from physlearn.system import EquilibriumSystem, State, check_positive
from physlearn.systems.hopfield import HopfieldNetwork, _Dense

__all__ = ["SpikingNetwork", "stdp_window", "contract_problem"]

_NEURONS = ("if", "lif")
_CHUNK = 32                 # time steps whose spike pairs are correlated in one matrix product


class SpikingNetwork(EquilibriumSystem):
    """A convergent (recurrent, symmetric) network of integrate-and-fire neurons, trained by EP.

    Parameters
    ----------
    layers : list
        ``[input, layer_1, …, layer_L]`` as in :class:`~physlearn.systems.hopfield.
        HopfieldNetwork`: ints for dense layers, :class:`~physlearn.systems.hopfield.Conv`
        specs (or dicts) for convolutions with average or max pooling; the input an int or an
        image shape ``[C, H, W]``. The last layer is the output.
    neuron : {"if", "lif"}, default "if"
        Integrate-and-fire (no leak) or leaky integrate-and-fire (leak ``exp(−dt/τ)`` per step).
    threshold : float, default 1.0
        Firing threshold ``θ > 0`` (membrane units; the currents are divided by it).
    tau : float, default 20.0
        Membrane time constant ``τ > 0`` of the leaky neuron (time units; unused for ``"if"``).
    window : int, default 200
        Time steps (≥ 1) whose spikes are counted in each phase: the firing fractions (the
        state, dimensionless) are ``count / window``.
    settle : int or None, default None
        Time steps (≥ 0) run before the counting starts in each phase, so that a phase's
        transient is not counted; None: ``window // 2``.
    dt : float, default 1.0
        Duration of a time step (time units). Inputs are firing rates in ``[0, 1/dt]``.
    tau_trace : float, default 10.0
        Time constant ``τ_x > 0`` (time units) of each neuron's spike trace
        ``x ← x + (z − x)/(τ_x/dt)``: the running rate estimate that the output nudge reads and
        that EqSpike's synapses correlate with the other neuron's spikes.
    gain : float or sequence of float, default 1.0
        Initial weights ``N(0, gain²/fan_in)`` (dimensionless, > 0); a sequence gives one gain
        per layer of couplings, input side first.
    initial_bias : float or sequence of float, default 0.0
        Initial bias current of every neuron (threshold units), or one per layer: a positive
        value starts the neurons firing, inside the range where their rate responds to a
        nudge (a neuron silent for every input gets no gradient and, below ``−β``, no nudge
        either).
    seed : int, default 0
        Seeds the initial weights.

    Raises
    ------
    ValueError
        If ``neuron`` is unknown; ``threshold``, ``tau``, ``dt`` or ``tau_trace`` is not a
        finite positive number; ``window`` or ``settle`` is not a valid number of steps;
        ``tau_trace < dt``; or ``layers``, ``gain`` or ``initial_bias`` is invalid (as for
        :class:`~physlearn.systems.hopfield.HopfieldNetwork`).

    Notes
    -----
    **Dynamics.** Every step each neuron integrates its neighbours' spikes through the
    symmetric couplings of the Hopfield network,

    .. math::

        v_l(t) = λ\\, u_l(t−1) + \\frac{A_l z_{l−1}(t−1) + A_{l+1}^{\\mathsf T} z_{l+1}(t−1)
                 + \\hat b_l}{θ}, \\qquad
        z_l(t) = H\\big(v_l(t) − 1\\big), \\qquad u_l(t) = v_l(t) − z_l(t),

    (reset by subtraction; :math:`λ = 1` for IF, :math:`e^{−dt/τ}` for LIF). For a constant drive
    :math:`I` an IF neuron fires the fraction :math:`r = \\operatorname{clip}(I/θ, 0, 1)` of the
    steps, so the firing fractions settle to the fixed point
    :math:`r = \\operatorname{clip}((A r + \\hat b)/θ, 0, 1)` of the hard-sigmoid Hopfield network.
    All layers update synchronously from the spikes of the previous step; the input neurons are IF
    neurons driven by ``x·dt``, so they fire regular trains of rate ``x``. Convolutional layers feed
    forward the pooled map of the convolved spikes, ``P(W ⋆ z_{l−1}(t))``, and back the transposed
    convolution of the unpooled spikes of the layer above. **Average pooling** is linear, so the
    time average of the pooled spikes is the pooled average: the rates obey the rate network's
    fixed-point equation. **Max pooling** picks, at every step, the window maximum of the *spike*
    map and unpools onto it; the time average of a maximum is not the maximum of the averages (two
    alternating spikes: 1 against ½), so the spiking network settles elsewhere than the rate
    network, whose couplings the EP gradient assumes (Lin et al. 2024).

    **Phases.** :meth:`equilibrium` runs ``settle + window`` steps and returns the firing
    fractions of the last ``window`` as ``state.s``, with the membranes, last spikes and traces
    in ``state.info`` so that a nudged phase continues from the free one (``start``). A
    :class:`~physlearn.nudges.Nudge` adds the current ``−β ∂C/∂o`` to the output neurons,
    with ``o`` the output traces. Outputs are the output layer's firing fractions.

    **The rate network and the reference.** :meth:`rate_network` is the hard-sigmoid
    Hopfield network ``r = clip((A r + b̂)/θ, 0, 1)`` (for the LIF neuron the leak costs about
    ``(1 − λ)/2`` of the threshold per step, subtracted from its biases: an approximation). Its
    energy at ``s = r`` is :meth:`energy`, its ``∂E/∂θ`` is :meth:`param_gradient` (so EP on
    this system contrasts products of firing rates, as in Lin et al.), and the objective the
    rules estimate the gradient of, :meth:`loss`, is the rate network's loss: the loss of the
    spiking outputs is piecewise constant in θ. :meth:`exact_gradient` is the rate network's
    implicit differentiation. The spiking estimates reach it as the window grows (counting
    error ``1/window``) and, for EP, as β shrinks, until ``1/(window·β)`` dominates.

    **Spike pairs** (capability ``"spikes"``, :class:`physlearn.EqSpike`). With
    ``record="pairs"``, :meth:`equilibrium` also accumulates, per synapse, every pair of a
    spike with the other neuron's trace just before it,
    ``Σ_t ½ (z_i(t) x_j(t−1) + x_i(t−1) z_j(t))`` over the counted window, divided by the
    window and by ``−θ`` like ``∂E/∂W``: a symmetric spike-timing window
    ``e^{−|Δt|/τ_x}`` (:func:`stdp_window`) whose mean is ``r_i r_j`` up to spike-train
    covariances ``O(1/τ_x)``.

    **Memory.** A phase keeps the membranes, spikes and traces of one step: ``O(N)`` whatever
    ``window``; BPTT through the spikes (:meth:`surrogate_bptt`) keeps every step, ``O(N T)``.

    Dimensionless units: time in units of the step ``dt`` (default 1), currents and membranes
    in units of the threshold.

    References
    ----------
    .. [1] E. Martin, M. Ernoult, J. Laydevant, S. Li, D. Querlioz, T. Petrisor, J. Grollier,
       "EqSpike: spike-driven equilibrium propagation for neuromorphic implementations",
       iScience 24:102222 (2021), arXiv:2010.07859.
    .. [2] J. Lin, M. Bal, A. Sengupta, "Scaling SNNs trained using equilibrium propagation to
       convolutional architectures", ICONS 2024, arXiv:2405.02546.
    .. [3] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.spiking import SpikingNetwork
    >>> net = SpikingNetwork([3, 5, 2], window=400, seed=1)
    >>> x = np.array([[0.2, 0.9, 0.5]])
    >>> bool(np.abs(net.predict(x) - net.rate_network().predict(x)).max() < 0.02)
    True
    """

    def __init__(self, layers: Sequence, *, neuron: str = "if", threshold: float = 1.0,
                 tau: float = 20.0, window: int = 200, settle: int | None = None,
                 dt: float = 1.0, tau_trace: float = 10.0, gain: float | Sequence[float] = 1.0,
                 initial_bias: float | Sequence[float] = 0.0, seed: int = 0):
        self.layers = layers
        self.neuron = neuron
        self.threshold = threshold
        self.tau = tau
        self.window = window
        self.settle = settle
        self.dt = dt
        self.tau_trace = tau_trace
        self.gain = gain
        self.initial_bias = initial_bias
        self.seed = seed
        if neuron not in _NEURONS:
            raise ValueError(f"neuron={neuron!r} must be one of {_NEURONS}")
        for name in ("threshold", "tau", "dt", "tau_trace"):
            check_positive(name, getattr(self, name))
        _check_steps("window", window, 1)
        if settle is not None:
            _check_steps("settle", settle, 0)
        if tau_trace < dt:
            raise ValueError(f"tau_trace={tau_trace!r} must be at least one step dt={dt!r}")
        self._rate = HopfieldNetwork(layers, activation="hard-sigmoid", gain=gain, seed=seed)
        self._ops, self._slices = self._rate._ops, self._rate._slices
        self.n_state, self.output_index = self._rate.n_state, self._rate.output_index
        biases = per_layer("initial_bias", initial_bias, len(self._ops))
        self.params = {k: v + (biases[int(k[1:]) - 1] if k.startswith("b") else 0.0)
                       for k, v in self._rate.params.items()}

    capabilities = frozenset({"soft_nudge", "spikes"})
    #: the firing fractions approximate the rate network only to ``O(1/window)``: the contract
    #: suite compares rules with the exact reference by direction, at this nudge strength
    approximate_strength = 0.05

    # -- layout, read from the rate network ----------------------------------------------------
    @property
    def param_shapes(self):
        return self._rate.param_shapes

    @property
    def n_features(self):
        return self._rate.n_features

    @property
    def n_outputs(self):
        return self._rate.n_outputs

    @property
    def input_shape(self):
        return self._rate.input_shape

    @property
    def leak(self):
        """``λ`` per step: 1 for IF, ``exp(−dt/τ)`` for LIF."""
        return 1.0 if self.neuron == "if" else float(np.exp(-self.dt / self.tau))

    @property
    def n_settle(self):
        return self.window // 2 if self.settle is None else int(self.settle)

    def check_inputs(self, x):
        """Input firing rates, flat ``(batch, n_in)`` or images, each in ``[0, 1/dt]``."""
        x = self._rate.check_inputs(x)
        top = 1.0 / self.dt
        bad = (x < 0) | (x > top)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"x[{i}, {j}]={float(x[i, j])!r} is an input firing rate outside "
                             f"[0, 1/dt] = [0, {top:g}] (dt={self.dt!r}): a neuron fires at most "
                             "once per step")
        return x

    # -- the rate network ------------------------------------------------------------------------
    def rate_network(self):
        """The hard-sigmoid Hopfield network whose fixed point the firing fractions approach.

        Its parameters are this network's over the threshold, ``W/θ`` and ``b/θ`` (minus the
        leak's ``(1 − λ)/2`` for LIF neurons); it reads inputs ``x·dt``. A new copy: editing it
        does not change this network.
        """
        rate = HopfieldNetwork(**self._rate.get_params(deep=False))
        rate.params = self._rate_params()
        return rate

    def _rate_params(self):
        p, theta, shift = self._params, self.threshold, (1.0 - self.leak) / 2.0
        return {k: v / theta - (shift if k.startswith("b") else 0.0) for k, v in p.items()}

    def _rate_view(self):
        """The internal rate network, with parameters synchronised to this network's."""
        if getattr(self, "_rate_of", None) is not self._params:
            self._rate.params = self._rate_params()
            self._rate_of = self._params
        return self._rate

    def _rate_state(self, state):
        return State(s=state.s, x=state.x * self.dt, nudge=state.nudge)

    def energy(self, state):
        """The rate network's energy at the firing fractions ``s``, per sample (batch,)."""
        return self._rate_view().energy(self._rate_state(state))

    def param_gradient(self, state):
        """``∂E/∂θ`` at the firing fractions: products of rates, ``∂E/∂W_l = −r_l r_{l−1}ᵀ/θ``,
        ``∂E/∂b_l = −r_l/θ`` (per channel for convolutions)."""
        g = self._rate_view().param_gradient(self._rate_state(state))
        return {k: v / self.threshold for k, v in g.items()}

    def outputs(self, state):
        """The output layer's firing fractions, (batch, n_outputs)."""
        return state.s[:, self.output_index]

    def output_vjp(self, state, g_out):
        return self._rate_view().output_vjp(self._rate_state(state), g_out)

    def exact_gradient(self, x, y, cost):
        """The rate network's exact gradient (implicit differentiation at its fixed point),
        in this network's parameters (divided by ``θ``)."""
        x = self.check_inputs(x)
        g = self._rate_view().exact_gradient(x * self.dt, y, cost)
        return {k: v / self.threshold for k, v in g.items()}

    def loss(self, x, y, cost):
        """The rate network's loss, the objective whose gradient the rules estimate (the loss of
        the spiking outputs is piecewise constant in the parameters)."""
        return self._rate_view().loss(self.check_inputs(x) * self.dt, y, cost)

    def check_nudge(self, nudge):
        if isinstance(nudge, Clamp):
            raise ValueError("SpikingNetwork cannot clamp its outputs: its output neurons fire "
                             "at the rate their currents set; nudge them with a Nudge")
        super().check_nudge(nudge)

    # -- the spiking dynamics ---------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None, record=None):
        """Run one phase: ``settle + window`` steps from ``start`` (None: at rest).

        Parameters
        ----------
        x : array_like
            Input firing rates, ``(batch, n_features)`` (or images), each in ``[0, 1/dt]``.
        nudge : Nudge or None
            Adds ``−β ∂C/∂o`` (at the output traces) to the output neurons' currents.
        start : State or None
            A state returned by this method: the phase continues from its membranes, spikes
            and traces.
        record : {None, "pairs"}
            ``"pairs"`` also accumulates the spike-pair correlations of every synapse over the
            counted window (``state.info["pairs"]``, a dict like :meth:`param_gradient`).

        Returns
        -------
        State
            ``s`` the firing fractions over the counted window; ``info`` the membranes
            (``"membrane"``), last spikes (``"spikes"``), traces (``"trace"``), the input
            neurons' membranes and spikes, and ``"steps"``.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        if record not in (None, "pairs"):
            raise ValueError(f"record={record!r} must be None or 'pairs'")
        if isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, len(x)),
                          float(np.real(nudge.beta)))
        run = _Phase(self, x, start, record == "pairs")
        for _ in range(self.n_settle):
            run.step(nudge, count=False)
        for _ in range(self.window):
            run.step(nudge, count=True)
        return run.state(nudge)

    def surrogate_bptt(self, x, y, cost, width=1.0):
        """Backpropagation through time of the free phase with a surrogate spike derivative.

        The loss is ``C(r_out, y)`` of the output firing fractions counted in the free phase;
        ``H′(v − 1)`` is replaced by the triangle ``max(0, 1 − |v − 1|/width)/width``. Every
        step's membranes and spikes are kept: memory ``O(N (settle + window))``.

        Returns
        -------
        dict
            Per-sample gradients, name → ``(batch, *shape)``.
        """
        from physlearn.systems.spiking_bptt import surrogate_gradient

        check_positive("width", width)
        return surrogate_gradient(self, self.check_inputs(x), y, cost, width)


class _Phase:
    """The running state of one phase: membranes, spikes and traces of every layer."""

    def __init__(self, net, x, start, pairs):
        self.net, self.x, self.pairs = net, x, pairs
        batch, p = len(x), net._params
        self.W = [p[f"W{l}"] for l in range(1, len(net._ops) + 1)]
        self.b = [op.bias(p[f"b{l}"]) for l, op in enumerate(net._ops, 1)]
        info = start.info if start is not None else None
        if info is not None and np.shape(info["membrane"]) == (batch, net.n_state):
            take = lambda key: np.array(info[key], dtype=float)     # noqa: E731
            self.u, self.z, self.trace = take("membrane"), take("spikes"), take("trace")
            self.u0, self.z0, self.trace0 = take("input_membrane"), take("input_spikes"), \
                take("input_trace")
        else:
            self.u, self.z, self.trace = (np.zeros((batch, net.n_state)) for _ in range(3))
            self.u0, self.z0, self.trace0 = (np.zeros(x.shape) for _ in range(3))
        self.count = np.zeros((batch, net.n_state))
        self.rate_step = net.dt / net.tau_trace
        self.buffer = []
        self.acc = {k: np.zeros((batch, *v.shape)) for k, v in p.items()} if pairs else None

    def _layer(self, v, l):
        return v[:, self.net._slices[l]]

    def currents(self, nudge):
        """Every layer's input current from the previous step's spikes, over ``θ``."""
        net, z, ops = self.net, self.z, self.net._ops
        out = []
        for l, op in enumerate(ops):
            below = self.z0 if l == 0 else self._layer(z, l - 1)
            i = op.forward(self.W[l], below) + self.b[l]
            if l + 1 < len(ops):        # feedback, linearised at this layer's spikes
                i = i + ops[l + 1].transpose(self.W[l + 1], self._layer(z, l + 1),
                                             self._layer(z, l))
            out.append(i)
        current = np.concatenate(out, axis=1)
        if isinstance(nudge, Nudge):
            o = self.trace[:, net.output_index]
            current[:, net.output_index] -= nudge.force(o)
        return current / net.threshold

    def step(self, nudge, count):
        net = self.net
        current = self.currents(nudge)
        trace_before, trace0_before = self.trace, self.trace0
        # input neurons: IF driven by x dt
        v0 = self.u0 + self.x * net.dt
        self.z0 = (v0 >= 1.0).astype(float)
        self.u0 = v0 - self.z0
        v = net.leak * self.u + current
        self.z = (v >= 1.0).astype(float)
        self.u = v - self.z
        self.trace = self.trace + (self.z - self.trace) * self.rate_step
        self.trace0 = self.trace0 + (self.z0 - self.trace0) * self.rate_step
        if count:
            self.count += self.z
            if self.pairs:
                self.buffer.append((self.z, trace_before, self.z0, trace0_before))
                if len(self.buffer) == _CHUNK:
                    self._flush()

    def _flush(self):
        """Add the buffered steps' spike pairs to the accumulators."""
        if not self.buffer:
            return
        net = self.net
        z, xt, z0, x0 = (np.stack(a) for a in zip(*self.buffer))        # (K, batch, n)
        self.buffer = []
        for l, op in enumerate(net._ops):
            sl = net._slices[l]
            post_z, post_x = z[:, :, sl], xt[:, :, sl]
            if l == 0:
                pre_z, pre_x = z0, x0
            else:
                below = net._slices[l - 1]
                pre_z, pre_x = z[:, :, below], xt[:, :, below]
            pair = _correlate(op, self.W[l], post_z, pre_x, at=pre_z) \
                + _correlate(op, self.W[l], post_x, pre_z)
            self.acc[f"W{l + 1}"] += 0.5 * pair
            self.acc[f"b{l + 1}"] += op.bgrad(post_z.sum(axis=0))

    def state(self, nudge):
        net = self.net
        rates = self.count / net.window
        info = {"membrane": self.u, "spikes": self.z, "trace": self.trace,
                "input_membrane": self.u0, "input_spikes": self.z0, "input_trace": self.trace0,
                "steps": net.n_settle + net.window}
        if self.pairs:
            self._flush()
            info["pairs"] = {k: -v / (net.window * net.threshold) for k, v in self.acc.items()}
        return State(s=rates, x=self.x, nudge=nudge, info=info)


def _correlate(op, W, post, pre, at=None):
    """``Σ_k ∂(post_kᵀ A(W) pre_k)/∂W`` per sample, for (K, batch, n) stacks of steps (max
    pooling linearised at ``at``, default ``pre``)."""
    if isinstance(op, _Dense):
        return np.einsum("kbi,kbj->bij", post, pre, optimize=True)
    k, b = post.shape[:2]
    flat = lambda a: None if a is None else a.reshape(k * b, -1)      # noqa: E731
    g = op.wgrad(W, flat(post), flat(pre), flat(at))
    return g.reshape(k, b, *g.shape[1:]).sum(axis=0)


def stdp_window(lags, tau_trace=10.0, dt=1.0):
    """EqSpike's spike-pair update against the spike-time difference ``Δt = t_post − t_pre``.

    One pre- and one postsynaptic spike, ``Δt`` apart, in an otherwise silent window: the
    pair term ``Σ_t ½ (z_post(t) x_pre(t−1) + x_post(t−1) z_pre(t))`` that every synapse of a
    :class:`SpikingNetwork` accumulates (``record="pairs"``), computed by running the two
    traces. EqSpike adds it in the nudged phase and subtracts it in the free one (divided by
    β), so the nudged phase potentiates and the free phase depresses pairs of nearby spikes.

    Parameters
    ----------
    lags : array_like of int
        Spike-time differences in steps.
    tau_trace, dt : float
        The trace time constant and the step (time units).

    Returns
    -------
    ndarray
        The pair term for each lag: ``e^{−(|Δt|−1)/τ}·(dt/τ_x)/2`` for ``Δt ≠ 0`` with
        ``e^{−1/τ} = 1 − dt/τ_x``, and 0 for simultaneous spikes.
    """
    lags = np.asarray(lags, dtype=int)
    check_positive("tau_trace", tau_trace)
    rate = dt / tau_trace
    span = int(np.abs(lags).max()) + 2
    out = np.zeros(lags.shape)
    for i, lag in np.ndenumerate(lags):
        pre, post = np.zeros(2 * span + 1), np.zeros(2 * span + 1)
        pre[span], post[span + lag] = 1.0, 1.0
        x_pre = x_post = 0.0
        total = 0.0
        for t in range(pre.size):
            total += 0.5 * (post[t] * x_pre + x_post * pre[t])
            x_pre += (pre[t] - x_pre) * rate
            x_post += (post[t] - x_post) * rate
        out[i] = total
    return out


def contract_problem(system, rng):
    """The contract suite's example: input rates uniform in ``[0, 1/dt]``, targets in
    ``[0, 1]`` (firing fractions), four samples."""
    x = rng.uniform(0.0, 1.0 / system.dt, size=(4, *system.input_shape))
    return x, rng.uniform(0.0, 1.0, size=(4, system.n_outputs))


def _check_steps(name, value, least):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name}={value!r} must be an integer >= {least} (time steps)")
