"""Feedforward-tied energy-based models (ff-EBMs): feedforward blocks and energy blocks in a chain.

Physics
-------
A chain of blocks ``a_k = F_k(a_{k−1})`` with ``a_0 = x``: a *feedforward* block is a layer
``a_k = σ(W_k a_{k−1} + b_k)``; an *energy* block (a :class:`HopfieldNetwork`) relaxes to a
minimum ``s_k*`` of its energy ``E_k(θ_k, a_{k−1}, s_k)`` with its input clamped at the previous
block's output, and hands on its output layer's activity ``ρ(s_{k,L})`` (its state ``s_{k,L}``
if it is the last block). Nest & Ernoult (2024) train such chains by backpropagating through
the feedforward blocks and running equilibrium propagation inside each energy block, nudging
it by the error signal arriving from the blocks above it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from physlearn.costs import Cost
from physlearn.nudges import Nudge
from physlearn.params import HyperParams
from physlearn.rules.base import contrast
from physlearn.system import System, as_float_array, batch_mean, check_positive
from physlearn.systems.hopfield import HopfieldNetwork

__all__ = ["FFEBM", "Linear"]

_LINEAR_ACTIVATIONS = ("identity", "sigmoid", "tanh")
_KINDS = ("linear", "hopfield")
#: what an energy block must offer besides the equilibrium seam (see HopfieldNetwork)
_ENERGY_METHODS = ("equilibrium", "outputs", "param_gradient", "adjoint", "output_vjp",
                   "mixed_vjp", "activity", "activity_vjp", "input_gradient", "input_vjp")


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


class Linear(HyperParams):
    """A feedforward block ``a_out = σ(W a_in + b)``, differentiated by hand-written backprop.

    Parameters
    ----------
    n_in, n_out : int
        Input and output sizes (≥ 1).
    activation : {"identity", "sigmoid", "tanh"}, default "identity"
        ``σ``: the identity, the sigmoid ``½(1 + tanh(2u − 1))`` of
        :class:`~physlearn.systems.hopfield.HopfieldNetwork`, or ``tanh``.
    gain : float, default 1.0
        Initial weights ``N(0, gain²/n_in)`` (dimensionless, > 0); biases start at 0.
    seed : int, default 0
        Seeds the initial weights.

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``activation`` is unknown or ``gain`` is not a
        finite positive number.

    Notes
    -----
    Parameters ``"W"`` (shape ``(n_out, n_in)``) and ``"b"`` (``(n_out,)``). With
    :math:`u = W a + b` and an error :math:`δ = ∂L/∂a_{\\text{out}}`,

    .. math::

        \\frac{∂L}{∂W} = \\big(σ'(u) ⊙ δ\\big)\\, a^{\\mathsf T}, \\qquad
        \\frac{∂L}{∂b} = σ'(u) ⊙ δ, \\qquad
        \\frac{∂L}{∂a} = W^{\\mathsf T}\\big(σ'(u) ⊙ δ\\big),

    the backpropagation step an ff-EBM runs through its feedforward (digital) blocks.

    References
    ----------
    .. [1] T. Nest, M. Ernoult, "Towards training digitally-tied analog blocks via hybrid
       gradient computation", NeurIPS 2024, arXiv:2409.03306.
    """

    def __init__(self, n_in: int, n_out: int, activation: str = "identity", *,
                 gain: float = 1.0, seed: int = 0):
        self.n_in = n_in
        self.n_out = n_out
        self.activation = activation
        self.gain = gain
        self.seed = seed
        _check_count("n_in", n_in), _check_count("n_out", n_out)
        if activation not in _LINEAR_ACTIVATIONS:
            raise ValueError(f"activation={activation!r} must be one of {_LINEAR_ACTIVATIONS}")
        check_positive("gain", gain)
        rng = np.random.default_rng(seed)
        self._params = {"W": rng.normal(0.0, gain / np.sqrt(n_in), (int(n_out), int(n_in))),
                        "b": np.zeros(int(n_out))}

    @property
    def n_features(self):
        return int(self.n_in)

    @property
    def n_outputs(self):
        return int(self.n_out)

    @property
    def param_shapes(self):
        return {"W": (self.n_outputs, self.n_features), "b": (self.n_outputs,)}

    @property
    def params(self):
        return self._params

    def _act(self, u):
        """``σ(u)`` and ``σ′(u)``."""
        if self.activation == "identity":
            return u, np.ones(u.shape)
        if self.activation == "sigmoid":
            t = np.tanh(2.0 * u - 1.0)
            return 0.5 * (1.0 + t), 1.0 - t * t
        t = np.tanh(u)
        return t, 1.0 - t * t

    def forward(self, a):
        """The pre-activation ``u = W a + b`` and the output ``σ(u)``, per sample."""
        u = a @ self._params["W"].T + self._params["b"]
        return u, self._act(u)[0]

    def backward(self, a, u, delta):
        """Backprop an error ``δ = ∂L/∂a_out``: ``(∂L/∂a_in, {"W": …, "b": …})`` per sample."""
        du = self._act(u)[1] * delta
        return du @ self._params["W"], {"W": du[:, :, None] * a[:, None, :], "b": du}


class _LinearCost(Cost):
    """``C(o, δ) = ⟨δ, o⟩``: the nudge of an intermediate energy block by the error ``δ``
    arriving at its outputs (gradient ``δ``, Hessian 0), so that ``d/dβ`` of its equilibrium is
    the response to that error alone."""

    def __init__(self):
        pass

    def value(self, outputs, y):
        return np.sum(y * outputs, axis=-1)

    def gradient(self, outputs, y):
        return np.broadcast_to(y, np.shape(outputs)).astype(np.result_type(y, outputs))

    def hessian(self, outputs, y):
        n = np.shape(outputs)[-1]
        return np.zeros(np.shape(outputs)[:-1] + (n, n))


class FFEBM(System):
    """A feedforward-tied energy-based model: feedforward and energy blocks in a chain.

    Parameters
    ----------
    blocks : list
        The blocks, input first. Each is a :class:`Linear` (feedforward), a
        :class:`~physlearn.systems.hopfield.HopfieldNetwork` (energy block, dense or
        convolutional), or a dict as in a config: ``{kind = "linear", n_in = 64, n_out = 32,
        activation = "sigmoid"}`` or ``{kind = "hopfield", layers = [32, 64, 10],
        activation = "sigmoid"}`` (the other keys are the class's arguments). Each block's
        input size must be the previous block's output size. Instances are copied: the
        model's parameters start as theirs and are not shared with them.
    seed : int, default 0
        Blocks given as dicts without a ``seed`` are seeded with ``seed + index`` (None is
        accepted too).

    Raises
    ------
    ValueError
        If ``blocks`` is empty or not a list, a block spec is not a block (or its dict is
        invalid), consecutive blocks' sizes do not match, or ``seed`` is not an integer or
        None.

    Notes
    -----
    **Forward pass.** ``a_0 = x``; a feedforward block gives ``a_k = σ(W_k a_{k−1} + b_k)``; an
    energy block relaxes to its free equilibrium ``s_k*`` with input ``a_{k−1}`` and gives
    ``a_k = ρ(s_{k,L}*)`` (its :meth:`~HopfieldNetwork.activity`, as the next layer of an unsplit
    Hopfield network would read it), or ``o = s_{k,L}*`` if it is the last block, so that
    ``FFEBM([net])`` is ``net``. The loss is ``C(o, y)``.

    **Exact gradient** (:meth:`exact_gradient`). Backward over the blocks with the error
    ``δ_k = ∂L/∂a_k``: backprop through a feedforward block; through an energy block implicit
    differentiation, ``δ_s = ρ′(s_L) ⊙ δ_k`` (``∂C/∂o`` for the last block),
    ``λ = H⁻¹ (∂o/∂s)ᵀ δ_s`` with the Hessian ``H = ∂²E_k/∂s²``, ``dL/dθ_k = −λᵀ ∂²E_k/∂s∂θ_k``
    and ``δ_{k−1} = −λᵀ ∂²E_k/∂s∂a_{k−1}``.

    **The ff-EBM rule** (:meth:`chained_gradient`, run by
    :class:`~physlearn.rules.ep.EP`). The same backward sweep, last block first, with
    each energy block's implicit differentiation replaced by EP: the block is relaxed from
    its free state under two nudges ``β₁ < β₂`` of ``E_k + β C_k`` — the true cost for the
    last block, the linear cost ``C_k = ⟨δ_s, s_L⟩`` otherwise — with its input held at
    ``a_{k−1}``, and

    .. math::

        \\hat g_{θ_k} = \\frac{∂_{θ_k}E_k(s^{β_2}) − ∂_{θ_k}E_k(s^{β_1})}{β_2 − β_1}, \\qquad
        \\hat δ_{k−1} = \\frac{∂_{a_{k−1}}E_k(s^{β_2}) − ∂_{a_{k−1}}E_k(s^{β_1})}{β_2 − β_1},

    the EP identity ``d/dβ ∂E/∂θ(s^β)|₀ = dL/dθ`` applied to the parameters and to the input
    of the block. Both are exact as β → 0; the error is ``O(β)`` for the positive ``(0, β)``
    and negative ``(−β, 0)`` pairs and ``O(β²)`` for the centered pair ``(−β, β)``, whose
    first-order errors cancel also where they pass through later blocks. Sign convention:
    ``δ = +∂L/∂a``, and ``E + β⟨δ, s⟩`` is minimised. With a single energy block this is EP.

    **Not one energy.** The model is not a minimum of one energy: it has no ``energy``,
    ``equilibrium`` or ``param_gradient`` of its own, so the contract suite skips the checks
    that need them, and only EP applies: its capability is ``"chained_nudge"`` (finite real
    nudges, block by block, through :meth:`chained_gradient`), not ``"soft_nudge"``, so a rule
    that relaxes ``equilibrium`` itself (holomorphic, contrastive, coupled, generalized EP, or
    one's own rule) refuses it by name instead of failing inside.

    **Parameters** are named ``"{k}.{name}"`` for block ``k``: ``"0.W"``, ``"0.b"`` for a
    feedforward block, ``"1.W1"``, ``"1.b1"``, … for an energy block.

    References
    ----------
    .. [1] T. Nest, M. Ernoult, "Towards training digitally-tied analog blocks via hybrid
       gradient computation", NeurIPS 2024, arXiv:2409.03306.
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.ffebm import FFEBM, Linear
    >>> from physlearn.systems.hopfield import HopfieldNetwork
    >>> model = FFEBM([Linear(4, 3, "sigmoid"), HopfieldNetwork([3, 5, 2])])
    >>> model.predict(np.ones((2, 4))).shape
    (2, 2)
    """

    capabilities = frozenset({"chained_nudge"})
    reference_note = ("FFEBM.exact_gradient: backprop through the feedforward blocks, implicit "
                      "differentiation at the free equilibrium of each energy block")

    def __init__(self, blocks: Sequence, *, seed: int | None = 0):
        self.blocks = blocks
        self.seed = seed
        if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed={seed!r} must be an integer or None")
        if not isinstance(blocks, (list, tuple)) or not blocks:
            raise ValueError(f"blocks={blocks!r} must be a non-empty list of blocks")
        self._blocks = [_make_block(spec, k, seed) for k, spec in enumerate(blocks)]
        _check_sizes(self._blocks)
        self.params = {f"{k}.{name}": value for k, block in enumerate(self._blocks)
                       for name, value in block.params.items()}

    # -- parameters: one flat dict, routed to the blocks -----------------------------------------
    @property
    def _params(self):
        return self.__dict__["_flat"]

    @_params.setter
    def _params(self, new):
        # every assignment (the setter, update_params, finite differences) reaches the blocks
        self.__dict__["_flat"] = new
        for k, block in enumerate(self._blocks):
            block._params = {name: new[f"{k}.{name}"] for name in block.param_shapes}

    @property
    def param_shapes(self):
        return {f"{k}.{name}": tuple(shape) for k, block in enumerate(self._blocks)
                for name, shape in block.param_shapes.items()}

    @property
    def n_features(self):
        return self._blocks[0].n_features

    @property
    def n_outputs(self):
        return self._blocks[-1].n_outputs

    def check_inputs(self, x):
        """``(batch, n_features)`` inputs, or images ``(batch, C, H, W)`` where the first block
        is a convolutional Hopfield network (flattened, as that network reads them)."""
        first = self._blocks[0]
        if len(getattr(first, "input_shape", ())) == 3 and np.ndim(x) in (3, 4):
            return first.check_inputs(as_float_array(x, "x"))
        return super().check_inputs(x)

    # -- forward --------------------------------------------------------------------------------
    def _forward(self, x):
        """Outputs and, per block, ``(input, pre-activation or free state)``."""
        a, records = x, []
        last = len(self._blocks) - 1
        for k, block in enumerate(self._blocks):
            if isinstance(block, Linear):
                u, out = block.forward(a)
                records.append((a, u))
            else:
                state = block.equilibrium(a)
                out = block.outputs(state) if k == last else block.activity(state)
                records.append((a, state))
            a = out
        return a, records

    def predict(self, x):
        """The outputs ``o`` of the chain (free equilibria of the energy blocks)."""
        return self._forward(self.check_inputs(x))[0]

    # -- backward -------------------------------------------------------------------------------
    def _backward(self, x, y, cost, energy_step):
        """The per-sample gradient of one backward sweep, last block first; ``energy_step``
        turns an energy block's output error into its parameter gradient and input error."""
        out, records = self._forward(x)
        grads, delta = {}, None
        last = len(self._blocks) - 1
        for k in range(last, -1, -1):
            block, (a, rec) = self._blocks[k], records[k]
            if isinstance(block, Linear):
                if k == last:
                    delta = cost.gradient(out, y)
                delta, g = block.backward(a, rec, delta)
            else:
                nudge = (lambda beta: Nudge(cost, y, beta)) if k == last else \
                    _error_nudge(block.activity_vjp(rec, delta))
                g, delta = energy_step(block, a, rec, nudge, need_input=k > 0)
            grads.update({f"{k}.{name}": v for name, v in g.items()})
        return {name: grads[name] for name in self.param_shapes}

    def exact_gradient(self, x, y, cost):
        """Backprop through the chain, implicit differentiation inside each energy block.

        Feedforward blocks by hand-written backprop; an energy block at its free equilibrium by
        the adjoint ``λ = H⁻¹ (∂o/∂s)ᵀ δ_s``: ``dL/dθ = −λᵀ ∂²E/∂s∂θ`` and the error on its
        input ``−λᵀ ∂²E/∂s∂x`` (see the class Notes). Batch mean.
        """
        return batch_mean(self._backward(x, y, cost, _implicit_step))

    def chained_gradient(self, nudges, x, y, cost):
        """The ff-EBM estimate of ``dL/dθ`` per sample for a nudge pair ``(β₁, β₂)``.

        Parameters
        ----------
        nudges : tuple of float
            ``(β₁, β₂)`` as :meth:`physlearn.rules.ep.EP.nudges` gives them (0 means the free
            state itself).
        x, y : ndarray
            Checked inputs and targets.
        cost : Cost

        Returns
        -------
        dict
            Name → ``(batch, *shape)``: EP inside every energy block, backprop between them
            (see the class Notes).
        """
        b1, b2 = nudges

        def step(block, a, free, nudge, need_input):
            def relax(beta):
                return free if beta == 0 else block.equilibrium(a, nudge(beta), start=free)

            s1, s2 = relax(b1), relax(b2)
            g = contrast(block.param_gradient(s2), block.param_gradient(s1), b2 - b1)
            if not need_input:
                return g, None
            d = np.real(block.input_gradient(s2) - block.input_gradient(s1)) / (b2 - b1)
            return g, d

        return self._backward(x, y, cost, step)


def _implicit_step(block, a, free, nudge, need_input):
    """Implicit differentiation of an energy block at its free equilibrium."""
    probe = nudge(1.0)          # carries the block's cost and target: ∂C/∂o is its δ_s
    delta_s = probe.cost.gradient(block.outputs(free), probe.target)
    lam = block.adjoint(free, block.output_vjp(free, delta_s))
    g = {name: -v for name, v in block.mixed_vjp(free, lam).items()}
    return g, (-block.input_vjp(free, lam) if need_input else None)


def _error_nudge(delta_s):
    """β ↦ the nudge ``β ⟨δ_s, o⟩`` of an intermediate energy block."""
    cost = _LinearCost()
    return lambda beta: Nudge(cost, delta_s, beta)


# -- building the chain ---------------------------------------------------------------------------
def _make_block(spec, index, seed):
    """A block (a private copy) from an instance or a config dict."""
    if isinstance(spec, Linear):
        return copy.deepcopy(spec)
    if isinstance(spec, System):
        missing = [m for m in _ENERGY_METHODS if not callable(getattr(spec, m, None))]
        if missing or "soft_nudge" not in spec.capabilities:
            raise ValueError(f"blocks[{index}]: {type(spec).__name__} cannot be an energy block "
                             f"(it lacks {missing or ['soft nudges']}); give a Linear, a "
                             "HopfieldNetwork or a dict with kind 'linear' or 'hopfield'")
        return copy.deepcopy(spec)
    if not isinstance(spec, dict):
        raise ValueError(f"blocks[{index}]={spec!r} must be a Linear, a HopfieldNetwork or a "
                         "dict with kind 'linear' or 'hopfield'")
    kwargs = dict(spec)
    kind = kwargs.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"blocks[{index}]: kind={kind!r} is not one of {list(_KINDS)}")
    if seed is not None:
        kwargs.setdefault("seed", int(seed) + index)
    factory = Linear if kind == "linear" else HopfieldNetwork
    try:
        return factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"blocks[{index}] ({kind}): {err}") from None
    except ValueError as err:
        raise ValueError(f"blocks[{index}] ({kind}): {err}") from None


def _describe(block):
    return "linear" if isinstance(block, Linear) else type(block).__name__


def _check_sizes(blocks):
    for k in range(1, len(blocks)):
        given, taken = blocks[k - 1].n_outputs, blocks[k].n_features
        if given != taken:
            raise ValueError(
                f"blocks[{k}] ({_describe(blocks[k])}) takes {taken} inputs, but blocks[{k - 1}] "
                f"({_describe(blocks[k - 1])}) gives {given} outputs; expected blocks[{k}] to "
                f"take {given} inputs")
