"""Jacobian homeostasis: a loss that pulls a vector field's Jacobian toward symmetry.

Generalized EP on a network without an energy is biased by the antisymmetric part of the
Jacobian ``J = ∂Φ/∂s`` at the fixed point (``J⁻¹`` where the true gradient needs ``J⁻ᵀ``).
Laborieux & Zenke (2024) add a homeostatic loss that measures that asymmetry,

    L_homeo = E_ε[‖Jε‖² − εᵀJ²ε] = ‖J‖²_F − tr(J²) = ½‖J − Jᵀ‖²_F,   ε ~ N(0, 1),

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

import numpy as np


def _probes(n, samples, seed):
    if isinstance(samples, bool) or int(samples) != samples or samples < 1:
        raise ValueError(f"samples={samples!r} must be a positive integer or None (exact)")
    return np.random.default_rng(seed).normal(size=(int(samples), n))


def homeostatic_loss(J, samples=None, seed=0):
    """``½‖J − Jᵀ‖²_F``, exactly or by the Hutchinson estimate ``mean ‖Jε‖² − εᵀJ²ε``.

    Parameters
    ----------
    J : array_like, shape (n, n) or (batch, n, n)
        Jacobian(s).
    samples : int or None, default None
        Number of Gaussian probes ε (the same probes for every matrix of a batch); ``None``
        returns the exact value.
    seed : int, default 0
        Seed of the probes.

    Returns
    -------
    float or ndarray of shape (batch,)

    Notes
    -----
    ``E[εᵀAε] = tr A`` for ``ε ~ N(0, 1)``, so ``E[‖Jε‖² − εᵀJ²ε] = tr(JᵀJ) − tr(J²) =
    ‖J‖²_F − tr(J²) = ½‖J − Jᵀ‖²_F``. For a symmetric ``J`` every single probe gives exactly
    ``‖Jε‖² − εᵀJJε = 0``.
    """
    J = np.asarray(J, dtype=float)
    if J.ndim < 2 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"J has shape {J.shape}; expected square matrices (..., n, n)")
    if samples is None:
        A = J - np.swapaxes(J, -1, -2)
        return 0.5 * np.sum(A * A, axis=(-1, -2))
    eps = _probes(J.shape[-1], samples, seed)                # (k, n)
    Je = np.einsum("...ij,kj->...ki", J, eps)                # Jε
    JT = np.ascontiguousarray(np.swapaxes(J, -1, -2))        # same arithmetic as for J
    JTe = np.einsum("...ij,kj->...ki", JT, eps)              # Jᵀε: εᵀJ²ε = (Jᵀε)·(Jε)
    return np.mean(np.sum((Je - JTe) * Je, axis=-1), axis=-1)


def homeostatic_gradient(system, state, samples=5, seed=0):
    """Per-sample gradient ``∂L_homeo/∂θ`` at a (free) fixed point, state held fixed.

    Parameters
    ----------
    system : EquilibriumSystem
        Must provide ``jacobian(state)`` and ``jacobian_param_vjp(state, a, b)``
        (``∂(aᵀJb)/∂θ``), as :class:`~physlearn.systems.vector_field.VectorFieldNetwork` does.
    state : State
        The fixed point (batch of samples).
    samples : int or None, default 5
        Gaussian probes per sample; ``None``: the exact gradient of ``½‖J − Jᵀ‖²_F``.
    seed : int, default 0

    Returns
    -------
    dict
        name → (batch, *shape).

    Notes
    -----
    Per probe, ``L_ε = vᵀv − εᵀJv`` with ``v = Jε``, ``w = Jᵀε``; its differential is
    ``dL_ε = 2 vᵀdJ ε − εᵀdJ v − wᵀdJ ε``, three contractions ``aᵀ(∂J/∂θ)b``. Exactly,
    ``d ½‖A‖² = 2 Σ_j (Ae_j)ᵀ dJ e_j`` with the antisymmetric ``A = J − Jᵀ``.
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
            add(D(A[:, :, j], e), 2.0)
        return total
    eps = _probes(n, samples, seed)
    for e in eps:
        e = np.broadcast_to(e, (batch, n)).copy()
        v = np.einsum("bij,bj->bi", J, e)
        w = np.einsum("bji,bj->bi", J, e)
        add(D(v, e), 2.0 / len(eps))
        add(D(e, v), -1.0 / len(eps))
        add(D(w, e), -1.0 / len(eps))
    return total
