"""Hamiltonian state-space models (HSSM): stacks of HRUs joined by feedforward couplings.

Block 0 is driven by the input sequence; the positions of block ``ℓ`` at every step pass
through a coupling ``u^{(ℓ+1)}_k = F(W^{(ℓ)} q^{(ℓ)}_{k+1} + c^{(ℓ)})`` (``F = tanh`` or the
identity) to drive block ``ℓ+1``; a linear readout of the top block gives the outputs.

Echo learning chains through the stack (Pourcel & Ernoult 2025, Eqs. 15–16, Thm. 3.3): the
top block's echo estimates its input gradients, the coupling's chain rule turns them into
position nudges for the block below, whose echo is then nudged at every step. Only the input
sequence of each block is stored, never a trajectory of momenta.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .hru import check_kind, check_stiffness, init_hru_block, stiffness_bound
from .hru_physics import HRU_KINDS
from .trajectory import TrajectorySystem, check_count, init_readout

COUPLINGS = ("tanh", "linear")


class HSSM(TrajectorySystem):
    """A stack of Hamiltonian recurrent units.

    Parameters
    ----------
    n_features : int
        Input channels per step (≥ 1).
    n_hidden : int or sequence of int
        Oscillators per block (an int repeats for every block).
    n_outputs : int
        Outputs of the readout of the top block (≥ 1).
    n_blocks : int, default 2
        Number of HRU blocks (≥ 1).
    kind : {"linear", "nonlinear"}, default "nonlinear"
        HRU potential of every block (see :class:`~physlearn.systems.hru.HRU`).
    coupling : {"tanh", "linear"}, default "tanh"
        Feedforward map between blocks, ``u = tanh(W q + c)`` or ``u = W q + c``.
    dt : float, default 0.1
        Leapfrog time step δ > 0 of every block (units of the inverse natural frequency).
    readout : {"final", "trajectory"}, default "final"
        Read the top block's outputs at the final time or at every step, as for
        :class:`~physlearn.systems.hru.HRU`.
    damping : float, default 0
        Friction rate γ ≥ 0 (inverse time units; breaks time reversal, negative controls
        only).
    kick : {"half-step", "start"}, default "half-step"
        Where the force is evaluated, as for :class:`~physlearn.systems.hru.HRU`.
    min_stiffness : float, default 1e-2
        Floor on every block's ``A`` > 0 (squared frequency units).
    stiffness : (float, float), default (0.5, 1.5)
        Range of the initial ``A`` of every block (uniform; squared frequency units).
    seed : int, optional
        Seed of the initial parameters.

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``n_hidden`` has not ``n_blocks`` entries,
        ``coupling``, ``kind``, ``readout`` or ``kick`` is unknown, or ``dt``, ``damping``,
        ``min_stiffness`` or ``stiffness`` is invalid (as for
        :class:`~physlearn.systems.hru.HRU`).

    Notes
    -----
    Block :math:`ℓ` is an HRU with Hamiltonian
    :math:`H^{(ℓ)} = \\tfrac12‖p^{(ℓ)}‖^2 + V(q^{(ℓ)}, u^{(ℓ)}; θ^{(ℓ)})`; block 0 is driven
    by the inputs and block :math:`ℓ + 1` by the positions of block :math:`ℓ`,

    .. math::

        u^{(ℓ+1)}_k = F\\big(W^{(ℓ)} q^{(ℓ)}_{k+1} + c^{(ℓ)}\\big), \\qquad
        F = \\tanh \\text{ or the identity}.

    Echo learning chains through the stack (Pourcel & Ernoult 2025, Thm. 3.3): the top
    block's echo estimates its input gradients, the coupling's chain rule turns them into
    position nudges for the block below, whose echo is nudged at every step.

    Parameters are named ``"{ℓ}.A"``, ``"{ℓ}.B"`` (, ``"{ℓ}.b"``, ``"{ℓ}.alpha"``) for block
    ``ℓ``, ``"{ℓ}.W"``, ``"{ℓ}.c"`` for the coupling from block ``ℓ`` to ``ℓ+1``, and ``"C"``,
    ``"d"`` for the readout. Every block has the time step ``dt`` and starts at rest.

    References
    ----------
    .. [1] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259.
    .. [2] T. K. Rusch, D. Rus, "Oscillatory state-space models", ICLR 2025 (LinOSS).
    """

    def __init__(self, n_features: int, n_hidden: int | Sequence[int], n_outputs: int, *,
                 n_blocks: int = 2, kind: str = "nonlinear", coupling: str = "tanh",
                 dt: float = 0.1, readout: str = "final", damping: float = 0.0,
                 kick: str = "half-step", min_stiffness: float = 1e-2,
                 stiffness: tuple[float, float] = (0.5, 1.5), seed: int | None = None):
        self.n_features = n_features
        self.n_hidden = n_hidden
        self.n_outputs = n_outputs
        self.n_blocks = n_blocks
        self.kind = check_kind(kind)
        self.coupling = coupling
        self.dt = dt
        self.readout = readout
        self.damping = damping
        self.kick = kick
        self.min_stiffness = min_stiffness
        self.stiffness = stiffness
        self.seed = seed
        n_features, n_blocks = check_count("n_features", n_features, 1), check_count(
            "n_blocks", n_blocks, 1)
        check_count("n_outputs", n_outputs, 1)
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling={coupling!r} is not one of {list(COUPLINGS)}")
        self._check_readout()
        _ = self.scheme
        check_stiffness(min_stiffness, stiffness)
        sizes = ([check_count("n_hidden", n_hidden, 1)] * n_blocks if np.ndim(n_hidden) == 0
                 else [check_count("n_hidden entry", n, 1) for n in n_hidden])
        if len(sizes) != n_blocks:
            raise ValueError(f"n_hidden={n_hidden!r} must be an int or have n_blocks="
                             f"{self.n_blocks} entries")
        self.sizes = sizes
        fan_in = [n_features] + sizes[1:]  # a coupling feeds n_{ℓ+1} inputs to block ℓ+1
        self._units = [HRU_KINDS[kind](n, m) for n, m in zip(sizes, fan_in)]
        rng = np.random.default_rng(seed)
        params = {}
        for index, (n, m) in enumerate(zip(sizes, fan_in)):
            block = init_hru_block(rng, kind, n, m, stiffness)
            params.update({f"{index}.{k}": v for k, v in block.items()})
            if index + 1 < n_blocks:
                params[f"{index}.W"] = rng.normal(scale=1.0 / np.sqrt(n),
                                                  size=(sizes[index + 1], n))
                params[f"{index}.c"] = np.zeros(sizes[index + 1])
        params.update(init_readout(rng, self.n_outputs, sizes[-1]))
        self.params = params

    @property
    def param_shapes(self):
        shapes = {}
        for index, unit in enumerate(self._units):
            shapes.update({f"{index}.{k}": v for k, v in unit.param_shapes().items()})
            if index + 1 < self.n_blocks:
                shapes[f"{index}.W"] = (self.sizes[index + 1], self.sizes[index])
                shapes[f"{index}.c"] = (self.sizes[index + 1],)
        shapes["C"] = (self.n_outputs, self.sizes[-1])
        shapes["d"] = (self.n_outputs,)
        return shapes

    def blocks(self):
        return [(unit, f"{index}.") for index, unit in enumerate(self._units)]

    @property
    def param_bounds(self):
        """Every block's stiffness ``"{ℓ}.A" > 0``, floored at ``min_stiffness``."""
        return {f"{index}.A": stiffness_bound(self.min_stiffness)
                for index in range(len(self._units))}

    # -- couplings --------------------------------------------------------------------------
    def couple(self, index, positions):
        z = positions @ self.params[f"{index}.W"].T + self.params[f"{index}.c"]
        return np.tanh(z) if self.coupling == "tanh" else z

    def couple_vjp(self, index, positions, inputs, cotangent):
        gz = cotangent * (1.0 - inputs**2) if self.coupling == "tanh" else cotangent
        dq = gz @ self.params[f"{index}.W"]
        grads = {f"{index}.W": np.einsum("bki,bkj->bij", gz, positions),
                 f"{index}.c": gz.sum(axis=1)}
        return dq, grads
