"""Jacobian homeostasis: a loss that pulls a vector field's Jacobian toward symmetry.

Generalized EP on a network without an energy is biased by the antisymmetric part of the
Jacobian ``J = ∂Φ/∂s`` at the fixed point (``J⁻¹`` where the true gradient needs ``J⁻ᵀ``).
Laborieux & Zenke (2024) add a homeostatic loss that measures that asymmetry per unit of the
state (``n`` units),

.. math::

    L_{\\text{homeo}} = \\frac{1}{n}\\,\\mathbb{E}_ε\\big[‖Jε‖^2 − ε^{\\mathsf T}J^2ε\\big]
    = \\frac{‖J‖_F^2 − \\operatorname{tr}(J^2)}{n} = \\frac{‖J − J^{\\mathsf T}‖_F^2}{2n},
    \\qquad ε \\sim \\mathcal N(0, I),

estimated Hutchinson-style from a few Gaussian probes (each needs only the Jacobian-vector
products ``Jε`` and ``J(Jε)``: local in a physical system), and descend its gradient together
with the task gradient. The Jacobian is taken at the free fixed point and the state is held
fixed (a partial derivative in θ, not differentiated through the relaxation).

References
----------
.. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
   through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..system import EquilibriumSystem, State


def _probes(shape, samples, seed):
    """``samples`` independent standard-normal probes of ``shape`` (one per matrix)."""
    if isinstance(samples, bool) or int(samples) != samples or samples < 1:
        raise ValueError(f"samples={samples!r} must be a positive integer or None (exact)")
    return np.random.default_rng(seed).normal(size=(int(samples),) + tuple(shape))


def probe_seed(seed: int, x: ArrayLike) -> np.random.SeedSequence:
    """The seed of a mini-batch's probes: fresh for every batch, yet no random state.

    Parameters
    ----------
    seed : int
        The rule's seed.
    x : ndarray
        The mini-batch's inputs; their bytes (CRC-32) are mixed into the seed.

    Returns
    -------
    numpy.random.SeedSequence
        Seeded by ``[seed, crc32(x)]``.

    Notes
    -----
    Laborieux & Zenke draw new probes at every training step. Deriving them from the seed and
    the batch gives a different draw for every mini-batch of a shuffled epoch while the same
    call always returns the same estimate, so a resumed run stays bitwise equal to an
    uninterrupted one.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    """
    crc = zlib.crc32(np.ascontiguousarray(np.asarray(x, dtype=float)).tobytes())
    return np.random.SeedSequence([int(seed), crc])


def homeostatic_loss(J: ArrayLike, samples: int | None = None,
                     seed: int | np.random.SeedSequence = 0) -> float | np.ndarray:
    """``½‖J − Jᵀ‖²_F / n``, exactly or by the Hutchinson estimate ``mean (‖Jε‖² − εᵀJ²ε)/n``.

    Parameters
    ----------
    J : array_like, shape (n, n) or (batch, n, n)
        Jacobian(s).
    samples : int or None, default None
        Number of Gaussian probes ε per matrix (drawn independently for every matrix of a
        batch, as Laborieux & Zenke do); ``None`` returns the exact value.
    seed : int or numpy.random.SeedSequence, default 0
        Seed of the probes.

    Returns
    -------
    float or ndarray of shape (batch,)
        The loss per matrix, in the squared units of the Jacobian's entries.

    Raises
    ------
    ValueError
        If ``J`` is not a (batch of) square matrices, or ``samples`` is not a positive integer
        or None.

    Notes
    -----
    :math:`\\mathbb{E}[ε^{\\mathsf T}Aε] = \\operatorname{tr} A` for
    :math:`ε \\sim \\mathcal N(0, I)` (Hutchinson's trace estimator), so

    .. math::

        \\mathbb{E}\\big[‖Jε‖^2 − ε^{\\mathsf T}J^2ε\\big]
        = \\operatorname{tr}(J^{\\mathsf T}J) − \\operatorname{tr}(J^2)
        = ‖J‖_F^2 − \\operatorname{tr}(J^2) = \\tfrac12 ‖J − J^{\\mathsf T}‖_F^2.

    For a symmetric ``J`` every single probe gives exactly ``‖Jε‖² − εᵀJJε = 0``.

    **Normalisation.** The value is divided by the number ``n`` of units (the state size), as
    in Laborieux & Zenke (2024): ``½‖J − Jᵀ‖²_F`` sums ``n²`` entries and grows with the
    network, while the task cost does not, so an unnormalised coefficient λ would weigh the
    homeostasis more the larger the network is. Per unit, ``½‖J − Jᵀ‖²_F / n`` is the mean
    squared antisymmetric coupling a unit sees, of the same order for every width and depth
    at a fixed weight scale, and one λ transfers between network sizes.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    .. [2] M. F. Hutchinson, "A stochastic estimator of the trace of the influence matrix for
       Laplacian smoothing splines", Commun. Stat. Simul. Comput. 18, 1059–1076 (1989).
    """
    J = np.asarray(J, dtype=float)
    if J.ndim < 2 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"J has shape {J.shape}; expected square matrices (..., n, n)")
    n = J.shape[-1]
    if samples is None:
        A = J - np.swapaxes(J, -1, -2)
        return 0.5 * np.sum(A * A, axis=(-1, -2)) / n
    eps = _probes(J.shape[:-1], samples, seed)               # (k, ..., n)
    Je = np.einsum("...ij,k...j->k...i", J, eps)             # Jε
    JT = np.ascontiguousarray(np.swapaxes(J, -1, -2))        # same arithmetic as for J
    JTe = np.einsum("...ij,k...j->k...i", JT, eps)           # Jᵀε: εᵀJ²ε = (Jᵀε)·(Jε)
    return np.mean(np.sum((Je - JTe) * Je, axis=-1), axis=0) / n


def homeostatic_gradient(system: EquilibriumSystem, state: State, samples: int | None = 5,
                         seed: int | np.random.SeedSequence = 0) -> dict[str, np.ndarray]:
    """Per-sample gradient ``∂L_homeo/∂θ`` at a (free) fixed point, state held fixed.

    Parameters
    ----------
    system : EquilibriumSystem
        Must provide ``jacobian(state)`` and ``jacobian_param_vjp(state, a, b)``
        (``∂(aᵀJb)/∂θ``), as :class:`~physlearn.systems.vector_field.VectorFieldNetwork` does.
    state : State
        The fixed point (batch of samples).
    samples : int or None, default 5
        Gaussian probes per sample (5, as Laborieux & Zenke), drawn independently for every
        sample; ``None``: the exact gradient of ``½‖J − Jᵀ‖²_F / n``.
    seed : int or numpy.random.SeedSequence, default 0
        Seed of the probes (:func:`probe_seed` gives a fresh one per mini-batch).

    Returns
    -------
    dict
        name → ``(batch, *shape)``: the gradient of each sample's loss (their batch mean is the
        gradient of the batch-mean loss, which is what Laborieux & Zenke descend).

    Raises
    ------
    ValueError
        If the system has no ``jacobian`` or ``jacobian_param_vjp``, or ``samples`` is not a
        positive integer or None.

    Notes
    -----
    Per probe, ``L_ε = (vᵀv − εᵀJv)/n`` with ``v = Jε``, ``w = Jᵀε``; its differential is
    ``n dL_ε = 2 vᵀdJ ε − εᵀdJ v − wᵀdJ ε``, three contractions ``aᵀ(∂J/∂θ)b``. Exactly,
    ``d ½‖A‖² = 2 Σ_j (Ae_j)ᵀ dJ e_j`` with the antisymmetric ``A = J − Jᵀ``. The loss is per
    unit (divided by the state size ``n``, see :func:`homeostatic_loss`), so the coefficient λ
    of a rule does not have to be retuned with the network's size.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Improving equilibrium propagation without weight symmetry
       through Jacobian homeostasis", ICLR 2024, arXiv:2309.02214.
    """
    for method in ("jacobian", "jacobian_param_vjp"):
        if not hasattr(system, method):
            raise ValueError(f"{type(system).__name__} has no {method}(); Jacobian homeostasis "
                             "needs the Jacobian of its vector field")
    J = np.real(system.jacobian(state))
    batch, n = J.shape[0], J.shape[-1]

    def D(a, b):
        return system.jacobian_param_vjp(state, a, b)

    total = None

    def add(g, weight):
        nonlocal total
        if total is None:
            total = {k: weight * v for k, v in g.items()}
        else:
            for k in total:
                total[k] = total[k] + weight * g[k]

    if samples is None:
        A = J - np.swapaxes(J, 1, 2)
        for j in range(n):
            e = np.zeros((batch, n))
            e[:, j] = 1.0
            add(D(A[:, :, j], e), 2.0 / n)
        return total
    eps = _probes((batch, n), samples, seed)                  # (k, batch, n)
    w = 1.0 / (len(eps) * n)
    for e in eps:
        v = np.einsum("bij,bj->bi", J, e)
        wt = np.einsum("bji,bj->bi", J, e)
        add(D(v, e), 2.0 * w)
        add(D(e, v), -w)
        add(D(wt, e), -w)
    return total
