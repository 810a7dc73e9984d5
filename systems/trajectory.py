"""Trajectory systems: the system side of the seam for Hamiltonian dynamics driven by sequences.

A trajectory system is a chain of Hamiltonian *blocks* (one for an HRU or a mechanical model,
several for an HSSM). Block 0 is driven by the input sequence ``x``; the positions of block
``ℓ`` are mapped by a feedforward *coupling* to the inputs of block ``ℓ+1``; a linear
*readout* of the top block's positions gives the outputs. Every block starts at rest
(``q = p = 0``) and is integrated with the leapfrog of :mod:`physlearn.systems.leapfrog`.

Where the loss is read (``readout=``):

* ``"final"`` — ``o = C q_K + d`` at the final time; the per-sample loss is ``c(o, y)`` with
  ``y`` of shape (batch, n_outputs). Echo learning then needs a single momentum nudge at the
  start of the echo, so nothing of the trajectory is stored (memory independent of ``T``).
* ``"trajectory"`` — ``o_k = C q_k + d`` at every step ``k = 1 … T``; ``y`` has shape
  (batch, T, n_outputs) and the per-sample loss is the time average ``(1/T) Σ_k c(o_k, y_k)``
  (so ``physlearn.loss`` — a mean over every leading axis — is that loss, batch-averaged). This
  is the paper's ``L = Σ_k ℓ_k`` up to the factor ``1/T``; the echo's explicit nudges
  ``∂c/∂o_k`` are stored (size ``T × n_outputs``, like the targets).

What a rule may ask (the seam):

* :meth:`run` — the free forward run of the chain, returning a :class:`Run`;
* :meth:`echo` — an echo of one block at several nudges, reporting ``∫ ∂H/∂θ dt`` read at the
  half steps and ``δ ∂V/∂u_j`` per replayed input;
* :meth:`pullback` — the coupling's chain rule: input gradients of block ``ℓ`` become the
  position nudges of block ``ℓ−1`` (RHEL chaining, Remark 8 of Pourcel & Ernoult 2025);
* :meth:`bptt` — the exact reference, backpropagation through time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physlearn.abstract import not_implemented
from physlearn.system import System, as_float_array, check_batch

from . import leapfrog as lf

READOUTS = ("final", "trajectory")


@dataclass
class Run:
    """A free run of a trajectory system (per-block results and the read-out).

    Attributes
    ----------
    inputs : list of ndarray
        Input sequence of each block, (batch, T, n_in_ℓ); block 0's is ``x``.
    positions : list
        Positions ``q_1 … q_T`` of each block below the top (for the couplings' chain rule),
        (batch, T, n_ℓ); None for the top block.
    flows : list of Flow
        Final states (and, when stored, trajectories and free measurements) of each block.
    outputs : ndarray
        (batch, n_out) or (batch, T, n_out).
    loss : ndarray or None
        Per-sample loss, (batch,).
    cotangents : Cotangents or None
        Loss gradients on the top block's positions.
    readout_grads : dict
        Per-sample ``dL/dθ`` of the readout parameters (a local measurement: output error
        times position).
    """

    inputs: list
    positions: list
    flows: list
    outputs: np.ndarray
    loss: np.ndarray = None
    cotangents: object = None
    readout_grads: dict = field(default_factory=dict)


@dataclass
class Gradients:
    """Per-sample gradients of a trajectory system (BPTT or an echo estimate).

    Attributes
    ----------
    params : dict
        name → ``(batch, *shape)``.
    inputs : ndarray or None
        ``dc_b/dx_b`` per sample, (batch, T, n_features).
    blocks : list
        Per-block details (:class:`~physlearn.systems.leapfrog.Adjoint` for BPTT).
    """

    params: dict
    inputs: np.ndarray = None
    blocks: list = None


class TrajectorySystem(System):
    """Base class of Hamiltonian trajectory systems (chains of leapfrog blocks + readout).

    Subclasses set the hyperparameters ``dt``, ``readout``, ``damping`` and ``kick`` as
    attributes and define :meth:`blocks` (list of ``(unit, prefix)``), ``n_features``,
    ``n_outputs`` and ``param_shapes``. The readout is ``o = C q + d`` from parameters ``"C"``
    and ``"d"`` when the system has them, otherwise the positions listed in ``readout_dofs``.
    Systems with couplings between blocks override :meth:`couple` and :meth:`couple_vjp`.
    """

    readout_dofs = None

    # -- capabilities -----------------------------------------------------------------------
    @property
    def scheme(self):
        return lf.Leapfrog(self.dt, self.damping, self.kick)

    @property
    def capabilities(self):
        """``"trajectory"`` always; ``"echo"`` only when the dynamics are time-reversible."""
        if self.scheme.reversible:
            return frozenset({"trajectory", "echo"})
        return frozenset({"trajectory"})

    @property
    def linear_dynamics(self):
        """True when every block's equations of motion are linear. With the squared error,
        each echo is then affine in ε (couplings between blocks enter only through their
        chain rule along the free run), so centered echoes are exact at every ε."""
        return all(getattr(unit, "linear", False) for unit, _ in self.blocks())

    def _check_readout(self):
        if self.readout not in READOUTS:
            raise ValueError(f"readout={self.readout!r} is not one of {list(READOUTS)}")

    # -- chain structure (overridden by stacks) ---------------------------------------------
    def blocks(self):
        """List of ``(unit, prefix)``: the Hamiltonian of each block and its parameter prefix."""
        raise not_implemented(self, "blocks",
                              "a list of (unit, prefix): each block's Hamiltonian and its "
                              "parameter prefix")

    def local(self, index):
        """The parameters of block ``index`` under their local names."""
        unit, prefix = self.blocks()[index]
        return {name: self.params[prefix + name] for name in unit.param_shapes()}

    def couple(self, index, positions):
        """Inputs of block ``index+1`` from the positions of block ``index`` (batch, T, n)."""
        raise not_implemented(self, "couple",
                              "the inputs of block index+1 from the positions of block index, "
                              "(batch, T, n)")

    def couple_vjp(self, index, positions, inputs, cotangent):
        """Chain rule of :meth:`couple`: ``(∂L/∂positions, per-sample coupling grads)``."""
        raise not_implemented(self, "couple_vjp",
                              "(∂L/∂positions, per-sample coupling gradients), the chain rule of "
                              "couple")

    # -- readout ----------------------------------------------------------------------------
    def read(self, q):
        """Outputs from positions (..., n_top) → (..., n_out)."""
        if "C" in self.params:
            return q @ self.params["C"].T + self.params["d"]
        return q[..., list(self.readout_dofs)]

    def read_vjp(self, g_out):
        """Pull an output cotangent back to the top block's positions (the readout is linear)."""
        if "C" in self.params:
            return g_out @ self.params["C"]
        unit, _ = self.blocks()[-1]
        g = np.zeros(g_out.shape[:-1] + (unit.n_dof,))
        g[..., list(self.readout_dofs)] += g_out
        return g

    def read_param_grad(self, q, g_out):
        """Per-sample ``dL/dθ`` of the readout parameters: ``q`` and ``g_out`` of shape
        (batch, n) for one read-out time, or (batch, T, n) summed over the times."""
        if "C" not in self.params:
            return {}
        if q.ndim == 2:
            return {"C": g_out[:, :, None] * q[:, None, :], "d": g_out}
        return {"C": np.einsum("bto,btn->bon", g_out, q), "d": g_out.sum(axis=1)}

    # -- inputs -----------------------------------------------------------------------------
    def check_inputs(self, x):
        """Return ``x`` as float64 (batch, T, n_features), or raise a clear error.

        A 2-D ``x`` is read as (batch, T) when ``n_features == 1`` (scalar sequences, e.g. an
        image read pixel by pixel). A list of sequences of different lengths is refused.
        """
        if isinstance(x, (list, tuple)):
            lengths = [len(s) if np.ndim(s) > 0 else 0 for s in x]
            if len(set(lengths)) > 1:
                raise ValueError(
                    f"x holds sequences of different lengths {lengths}; every sequence in a "
                    f"batch must have the same number of time steps (pad or bucket them)")
        x = as_float_array(x, "x")
        if x.ndim >= 1:
            check_batch(x, "x")
        if x.ndim == 2 and self.n_features == 1:
            x = x[:, :, None]
        if x.ndim != 3 or x.shape[2] != self.n_features or x.shape[1] < 1:
            raise ValueError(
                f"x has shape {x.shape}, expected (batch, T, {self.n_features}) for "
                f"{type(self).__name__}: a batch of input sequences with T >= 1 steps of "
                f"{self.n_features} features")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values")
        return x

    def check_targets(self, y, batch):
        """``(batch, n_outputs)`` for a final readout, ``(batch, T, n_outputs)`` otherwise."""
        if self.readout == "final":
            return super().check_targets(y, batch)
        y = as_float_array(y, "y")
        if y.ndim == 2 and self.n_outputs == 1:
            y = y[:, :, None]
        if y.ndim != 3 or y.shape[0] != batch or y.shape[2] != self.n_outputs:
            raise ValueError(f"y has shape {y.shape}, expected ({batch}, T, {self.n_outputs}) "
                             f"for readout='trajectory'")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values")
        return y

    def _check_lengths(self, x, y):
        if y is not None and self.readout == "trajectory" and y.shape[1] != x.shape[1]:
            raise ValueError(f"y has {y.shape[1]} time steps but x has {x.shape[1]}; a "
                             "trajectory readout needs one target per input step")

    # -- the free run -----------------------------------------------------------------------
    def run(self, x, y=None, cost=None, *, store=False, measure=False, measure_inputs=False):
        """Free forward run of the whole chain (checked ``x``; ``y`` and ``cost`` optional).

        Parameters
        ----------
        store : bool
            Keep every block's trajectory (for BPTT).
        measure, measure_inputs : bool
            Integrate the free-run read-outs (the ``ε = 0`` echo measurement) of every block,
            and record per-step input read-outs (blocks above the first always, block 0 when
            ``measure_inputs``).
        """
        self._check_lengths(x, y)
        batch, n_steps = x.shape[:2]
        units = self.blocks()
        inputs, positions, flows = [x], [], []
        for index, (unit, _) in enumerate(units):
            top = index == len(units) - 1
            zeros = np.zeros((batch, unit.n_dof))
            flow = lf.forward(unit, self.local(index), zeros, zeros, inputs[index], self.scheme,
                              store=store, positions=not top or self.readout == "trajectory",
                              measure=measure,
                              measure_inputs=measure and (index > 0 or measure_inputs))
            flows.append(flow)
            positions.append(None if top else flow.positions)
            if not top:
                inputs.append(self.couple(index, flow.positions))
        run = Run(inputs, positions, flows, None)
        self._finish_readout(run, y, cost, n_steps)
        return run

    def _finish_readout(self, run, y, cost, n_steps):
        flow = run.flows[-1]
        if self.readout == "final":
            run.outputs = self.read(flow.q)
            if y is not None:
                g = cost.gradient(run.outputs, y)
                run.loss = cost.value(run.outputs, y)
                run.cotangents = lf.Cotangents(n_steps, final=self.read_vjp(g))
                run.readout_grads = self.read_param_grad(flow.q, g)
            return
        # a trajectory read-out: every step at once, from the kept positions
        q, flow.positions = flow.positions, None
        run.outputs = self.read(q)
        if y is not None:
            batch, n_out = y.shape[0], y.shape[-1]
            g = cost.gradient(run.outputs.reshape(-1, n_out), y.reshape(-1, n_out))
            g = g.reshape(batch, n_steps, n_out) / n_steps
            run.loss = np.mean(cost.value(run.outputs, y), axis=1)
            run.cotangents = lf.Cotangents(n_steps, dense=self.read_vjp(g))
            run.readout_grads = self.read_param_grad(q, g)

    def predict(self, x):
        """Outputs of the free run: (batch, n_out), or (batch, T, n_out) for a trajectory."""
        return self.run(self.check_inputs(x)).outputs

    # -- echoes and chaining ----------------------------------------------------------------
    def echo(self, run, index, cotangents, eps, *, want_inputs=False, record=False):
        """Echoes of block ``index`` at the nudges ``eps`` (see :func:`leapfrog.echo`).

        Returns the :class:`~physlearn.systems.leapfrog.Echo` with ``measure`` renamed to the
        system's parameter names and broadcast to ``(S, batch, *shape)``.
        """
        unit, prefix = self.blocks()[index]
        flow = run.flows[index]
        result = lf.echo(unit, self.local(index), flow.q, flow.p, run.inputs[index], self.scheme,
                         eps, cotangents, want_inputs=want_inputs, record=record)
        lead = (len(np.atleast_1d(eps)), flow.q.shape[0])
        result.measure = self._named(unit, prefix, result.measure, lead)
        return result

    def free_measure(self, run, index):
        """The free run's read-outs of block ``index`` (needs ``run(..., measure=True)``)."""
        unit, prefix = self.blocks()[index]
        flow = run.flows[index]
        if flow.measure is None:
            raise ValueError("the run was made without measure=True")
        return self._named(unit, prefix, flow.measure, (flow.q.shape[0],)), flow.measure_inputs

    @staticmethod
    def _named(unit, prefix, measure, lead):
        out = {}
        for name, shape in unit.param_shapes().items():
            out[prefix + name] = _shaped(measure.get(name, 0.0), tuple(lead) + tuple(shape))
        return out

    def pullback(self, run, index, input_grad):
        """Cotangents of block ``index−1`` from the input gradients of block ``index``.

        Returns ``(Cotangents, per-sample coupling gradients)``.
        """
        dq, grads = self.couple_vjp(index - 1, run.positions[index - 1], run.inputs[index],
                                    input_grad)
        return lf.Cotangents(dq.shape[1], dense=dq), grads

    # -- the exact reference ----------------------------------------------------------------
    def bptt(self, x, y, cost, *, want_inputs=False, record=False):
        """Backpropagation through time of the whole chain: per-sample exact gradients.

        Returns
        -------
        Gradients
            ``params`` (every parameter), ``inputs`` (with ``want_inputs``) and, per block,
            the :class:`~physlearn.systems.leapfrog.Adjoint` (adjoints ``λ_k`` with
            ``record``).
        """
        run = self.run(x, y, cost, store=True)
        grads = {k: np.array(v) for k, v in run.readout_grads.items()}
        cot = run.cotangents
        units = self.blocks()
        details = [None] * len(units)
        input_grad = None
        for index in range(len(units) - 1, -1, -1):
            unit, prefix = units[index]
            need = index > 0 or want_inputs
            adj = lf.backward(unit, self.local(index), run.flows[index], run.inputs[index],
                              self.scheme, cot, want_inputs=need, record=record)
            details[index] = adj
            grads.update(self._named(unit, prefix, adj.params, (x.shape[0],)))
            if index > 0:
                cot, coupling = self.pullback(run, index, adj.inputs)
                grads.update(coupling)
            else:
                input_grad = adj.inputs
        grads = self._complete(grads, x.shape[0])
        return Gradients(grads, input_grad, details)

    def _complete(self, grads, batch):
        """Every parameter present, float64, ``(batch, *shape)``."""
        return {name: np.array(_shaped(grads.get(name, 0.0), (batch,) + tuple(shape)),
                               dtype=float)
                for name, shape in self.param_shapes.items()}

    def exact_gradient(self, x, y, cost):
        """BPTT ``dL/dθ``, batch mean (the reference every echo rule is checked against)."""
        return {k: v.mean(axis=0) for k, v in self.bptt(x, y, cost).params.items()}

    def input_gradient(self, x, y, cost):
        """BPTT ``dc_b/dx_b`` per sample, (batch, T, n_features)."""
        return self.bptt(x, y, cost, want_inputs=True).inputs

    def energy(self, q, p, u, index=0):
        """Energy of block ``index`` at the given state and input (for conservation checks)."""
        unit, _ = self.blocks()[index]
        return unit.energy(self.local(index), q, p, u)


def _shaped(value, shape):
    """``value`` broadcast to ``shape`` (itself when it has that shape already: the common
    case, and ``np.broadcast_to`` costs microseconds)."""
    return value if np.shape(value) == shape else np.broadcast_to(value, shape)


def check_count(name, value, low=0):
    """``value`` as an int for internal use, or a ``ValueError`` if it is not an integer
    ``>= low`` (constructors store the argument itself, so ``sklearn.base.clone`` works)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def init_readout(rng, n_outputs, n_dof):
    """Random readout ``C`` (Glorot-scaled) and ``d = 0``."""
    return {"C": rng.normal(scale=1.0 / np.sqrt(n_dof), size=(n_outputs, n_dof)),
            "d": np.zeros(n_outputs)}


def sequence_problem(system, rng, n_steps=40):
    """Gaussian input sequences and targets shaped for the read-out, 3 samples (the contract
    suite's problem for trajectory systems)."""
    x = 0.5 * rng.normal(size=(3, n_steps, system.n_features))
    shape = (3, system.n_outputs) if system.readout == "final" else (3, n_steps, system.n_outputs)
    return x, 0.5 * rng.normal(size=shape)
