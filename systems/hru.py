"""Hamiltonian recurrent units (HRU): a bank of oscillators driven by an input sequence.

Physics
-------
Positions ``q`` and momenta ``p`` of ``n_hidden`` unit-mass oscillators obey Hamilton's
equations for ``H = ½‖p‖² + V(q, u(t); θ)`` (see :mod:`physlearn.systems.hru_physics` for the
linear and the nonlinear potential), integrated by leapfrog with time step ``dt`` and one input
vector ``u_k = x[:, k]`` per step. The outputs are a linear readout of the positions, at the
final time or at every step (``readout=``). Dimensionless units: time in units of the inverse
natural frequency, the input sets the force scale.

The dynamics conserve energy and are time-reversal invariant, which is what lets the system
compute its own training gradient by an echo (:class:`physlearn.rules.echo.RHEL`).
"""

from __future__ import annotations

import numpy as np

from physlearn.system import Bound, check_positive

from .hru_physics import HRU_KINDS
from .trajectory import TrajectorySystem, check_count, init_readout


def init_hru_block(rng, kind, n_dof, n_inputs, stiffness=(0.5, 1.5)):
    """Initial parameters of one HRU block (stiffness uniform in ``stiffness``, Glorot-scaled
    input map)."""
    params = {"A": rng.uniform(*stiffness, n_dof),
              "B": rng.normal(scale=1.0 / np.sqrt(n_inputs), size=(n_dof, n_inputs))}
    if kind == "nonlinear":
        params["b"] = np.zeros(n_dof)
        params["alpha"] = np.array(0.5)
    return params


def stiffness_bound(min_stiffness):
    """The bound of an HRU block's stiffness ``A``: > 0, floored at ``min_stiffness``."""
    return Bound(0.0, strict=True, floor=min_stiffness, floor_name="min_stiffness",
                 label="stiffness")


def check_stiffness(min_stiffness, stiffness):
    """Refuse a non-positive ``min_stiffness`` and an initial ``stiffness`` range below it."""
    check_positive("min_stiffness", min_stiffness)
    try:
        low, high = (float(v) for v in stiffness)
    except (TypeError, ValueError):
        raise ValueError(f"stiffness={stiffness!r} must be a range (low, high)") from None
    if not (np.isfinite(high) and min_stiffness <= low <= high):
        raise ValueError(f"stiffness={stiffness!r} must be a range (low, high) with "
                         f"min_stiffness={min_stiffness!r} <= low <= high")


def check_kind(kind):
    if kind not in HRU_KINDS:
        raise ValueError(f"kind={kind!r} is not one of {sorted(HRU_KINDS)}")
    return kind


class HRU(TrajectorySystem):
    """A Hamiltonian recurrent unit with a linear readout of its positions.

    Parameters
    ----------
    n_features : int
        Input channels per time step (≥ 1).
    n_hidden : int
        Number of oscillators (≥ 1).
    n_outputs : int
        Outputs of the readout ``o = C q + d`` (≥ 1).
    kind : {"linear", "nonlinear"}, default "nonlinear"
        ``V = ½ΣA q² − qᵀBu`` (parameters A, B) or
        ``V = (α/2)‖q‖² + Σ log cosh(Aq + Bu + b)/A`` (parameters A, B, b, alpha).
    dt : float, default 0.1
        Leapfrog time step δ > 0 (units of the inverse natural frequency).
    readout : {"final", "trajectory"}, default "final"
        Read the outputs at the final time (targets (batch, n_outputs)) or at every step
        (targets (batch, T, n_outputs), loss averaged over time).
    damping : float, default 0
        Friction rate γ ≥ 0 (inverse time units; breaks time reversal, for negative controls
        only).
    kick : {"half-step", "start"}, default "half-step"
        Force evaluated at the half-step position (leapfrog) or at the start of the step
        (not symplectic; negative control).
    min_stiffness : float, default 1e-2
        Floor on ``A`` > 0 (squared frequency units; the nonlinear potential divides by
        ``A``): an assignment below it is refused, a learning step (:meth:`update_params`)
        clips onto it.
    stiffness : (float, float), default (0.5, 1.5)
        Range of the initial ``A`` (uniform; squared frequency units): the band of natural
        frequencies ``√A``. A wide band down to low frequencies gives a long memory of the
        input.
    seed : int, optional
        Seed of the initial parameters.

    Raises
    ------
    ValueError
        If a size is not a positive integer; ``kind``, ``readout`` or ``kick`` is unknown;
        ``dt`` is not finite and positive; ``damping`` is negative; ``min_stiffness`` is not
        positive or ``stiffness`` is not a range ``min_stiffness <= low <= high``.

    Notes
    -----
    Unit-mass oscillators obey Hamilton's equations for

    .. math::

        H(q, p, u) = \\tfrac12 ‖p‖^2 + V(q, u; θ), \\qquad
        V_{\\text{lin}} = \\tfrac12 \\sum_i A_i q_i^2 − q^{\\mathsf T} B u,

        V_{\\text{nl}} = \\frac{α}{2}‖q‖^2
        + \\sum_i \\frac{\\log\\cosh(A_i q_i + (Bu)_i + b_i)}{A_i},

    integrated by leapfrog (drift–kick–drift) with one input :math:`u_k = x[:, k]` per step:
    :math:`q_{k+1/2} = q_k + \\tfrac δ2 p_k`, :math:`p_{k+1} = p_k − δ\\,∇_qV(q_{k+1/2}, u_k)`,
    :math:`q_{k+1} = q_{k+1/2} + \\tfrac δ2 p_{k+1}`. The map is symplectic and satisfies
    :math:`M(Σ_z S_{k+1}) = Σ_z S_k` (momentum flip :math:`Σ_z`), so flipping the momenta at
    the end and replaying the inputs backwards retraces the run exactly; echo learning
    contrasts two such echoes nudged by :math:`±ε\\,∂L/∂q` (Pourcel & Ernoult 2025,
    Thm. 3.2). Trainable parameters: the block's ``A, B (, b, alpha)`` and the readout
    ``C, d``.

    References
    ----------
    .. [1] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259.
    .. [2] T. K. Rusch, D. Rus, "Oscillatory state-space models", ICLR 2025 (LinOSS).

    Examples
    --------
    >>> from physlearn.systems.hru import HRU
    >>> net = HRU(n_features=1, n_hidden=8, n_outputs=2, seed=0)
    >>> net.predict(np.zeros((3, 50, 1))).shape
    (3, 2)
    """

    def __init__(self, n_features: int, n_hidden: int, n_outputs: int, *,
                 kind: str = "nonlinear", dt: float = 0.1, readout: str = "final",
                 damping: float = 0.0, kick: str = "half-step", min_stiffness: float = 1e-2,
                 stiffness: tuple[float, float] = (0.5, 1.5), seed: int | None = None):
        self.n_features = n_features
        self.n_hidden = n_hidden
        self.n_outputs = n_outputs
        self.kind = check_kind(kind)
        self.dt = dt
        self.readout = readout
        self.damping = damping
        self.kick = kick
        self.min_stiffness = min_stiffness
        self.stiffness = stiffness
        self.seed = seed
        n_in, n_hid = check_count("n_features", n_features, 1), check_count("n_hidden", n_hidden, 1)
        n_out = check_count("n_outputs", n_outputs, 1)
        self._check_readout()
        _ = self.scheme  # validates dt, damping, kick
        check_stiffness(min_stiffness, stiffness)
        self._unit = HRU_KINDS[kind](n_hid, n_in)
        rng = np.random.default_rng(seed)
        params = init_hru_block(rng, kind, n_hid, n_in, stiffness)
        params.update(init_readout(rng, n_out, n_hid))
        self.params = params

    @property
    def param_shapes(self):
        return {**self._unit.param_shapes(), "C": (self.n_outputs, self.n_hidden),
                "d": (self.n_outputs,)}

    def blocks(self):
        return [(self._unit, "")]

    @property
    def param_bounds(self):
        """Stiffness ``A > 0``, floored at ``min_stiffness`` (the nonlinear potential divides
        by ``A``)."""
        return {"A": stiffness_bound(self.min_stiffness)}
