"""Batched solves with a shared matrix (systems/batched.py) and the diode network's use of them.

Each method is checked against numpy's dense solve of the same per-sample matrices; the
indefinite case is checked to be flagged and shifted; chunking is checked to keep a chunk
within the memory budget; and the diode network's equilibria are checked to be the same, to
round-off, whichever method solves its Newton steps and whatever the batch size.
"""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from physlearn import exact_gradient
from physlearn.costs import make_cost
from physlearn.nudges import Nudge
from physlearn.systems import batched
from physlearn.systems.diode import NonlinearResistorNetwork


def _problem(n=40, m=25, batch=6, k=3, seed=0, stiffness_sign=1.0):
    rng = np.random.default_rng(seed)
    graph = nx.connected_watts_strogatz_graph(n, 6, 0.3, seed=seed)
    L = nx.laplacian_matrix(graph, weight=None).astype(float)
    K = sp.csr_matrix(L + sp.diags(rng.uniform(0.5, 1.0, n)))       # grounded: positive definite
    A = sp.csr_matrix((np.r_[np.ones(m), -np.ones(m)],
                       (np.r_[np.arange(m), np.arange(m)],
                        np.r_[rng.choice(n, m), rng.choice(n, m)])), shape=(m, n))
    c = rng.uniform(0.0, 5.0, (batch, m))
    out = np.arange(k)
    sign = np.where(np.arange(batch) % 2 == 0, 1.0, stiffness_sign)[:, None, None]
    S = sign * np.einsum("bij,bkj->bik", *(2 * [rng.normal(size=(batch, k, k))]))
    H = batched.BatchHessian(K, A, c, out, S)
    dense = np.stack([H.block(b, dense=True) for b in range(batch)])
    return H, dense, rng.normal(size=(batch, n))


@pytest.mark.parametrize("method", ["dense", "sparse", "cg"])
def test_every_method_solves_every_sample(method):
    H, dense, R = _problem()
    d, exact = batched.solve(H, R, method=method)
    assert np.all(exact)
    ref = np.linalg.solve(dense, R[..., None])[..., 0]
    assert np.max(np.abs(d - ref)) < 1e-10 * np.max(np.abs(ref))


def test_operator_matches_its_blocks():
    H, dense, R = _problem()
    assert np.allclose(H.matvec(R), np.einsum("bij,bj->bi", dense, R), rtol=1e-13, atol=1e-12)
    assert np.allclose(H.diagonal(), np.diagonal(dense, axis1=1, axis2=2))
    keep = np.arange(5, 40)
    sub = H.restrict(keep)
    assert np.allclose(sub.block(2, dense=True), dense[2][np.ix_(keep, keep)])


@pytest.mark.parametrize("method", ["dense", "sparse", "cg"])
def test_indefinite_blocks_are_flagged_and_shifted(method):
    H, dense, R = _problem(stiffness_sign=-40.0)
    indefinite = np.array([np.linalg.eigvalsh(D)[0] <= 0 for D in dense])
    assert indefinite.any() and not indefinite.all()
    d, exact = batched.solve(H, R, method=method)
    assert np.array_equal(exact, ~indefinite)
    ref = np.linalg.solve(dense[~indefinite], R[~indefinite][..., None])[..., 0]
    assert np.allclose(d[~indefinite], ref, rtol=1e-9, atol=1e-12)
    # a shifted direction is still a descent direction of the shifted (positive) model
    assert np.all(np.einsum("bi,bi->b", d[indefinite], R[indefinite]) > 0)


def test_sparse_chunks_stay_within_the_memory_budget(monkeypatch):
    H, dense, R = _problem(batch=12)
    sizes = []
    real = sp.block_diag
    monkeypatch.setattr(batched.sp, "block_diag",
                        lambda blocks, **kw: sizes.append(len(blocks)) or real(blocks, **kw))
    d, _ = batched.solve(H, R, method="sparse", memory=3 * 16 * H.n * H.n)
    # the first sample is solved with the factor that measured the fill (it is positive
    # definite), the other eleven in chunks within the budget
    assert max(sizes) < 12 and sum(sizes) == 11
    assert np.allclose(d, np.linalg.solve(dense, R[..., None])[..., 0], rtol=1e-10)


def test_cg_hands_unconverged_samples_to_a_direct_solve(monkeypatch):
    H, dense, R = _problem()
    real = batched._cg
    monkeypatch.setattr(batched, "_cg", lambda H, R, rtol: real(H, R, rtol, max_iter=2))
    d, exact = batched.solve(H, R, method="cg")
    assert np.all(exact)
    assert np.allclose(d, np.linalg.solve(dense, R[..., None])[..., 0], rtol=1e-10)


def test_auto_picks_cg_for_a_well_connected_network_and_direct_for_a_grid():
    """``"auto"`` judges the Hessian where a relaxation from rest starts: the Laplacian plus
    every diode's curvature at zero voltage. Shockley diodes barely conduct there, so a grid
    keeps the Laplacian's condition and goes direct; the smooth law's diodes conduct g_D/2 at
    rest, which makes the same grid's Hessian diagonally dominant, and CG reaches the same
    equilibrium."""
    dense_net = NonlinearResistorNetwork.random(400, n_inputs=40, n_outputs=4, degree=60,
                                                diode_law="shockley", seed=0)
    assert dense_net._solver_method() == "cg"
    grid = nx.convert_node_labels_to_integers(nx.grid_2d_graph(25, 25))
    args = (grid, [0, 1, 2], [600, 601], 624)
    assert NonlinearResistorNetwork(*args, diode_law="shockley", seed=0)._solver_method() \
        == "sparse"
    smooth = NonlinearResistorNetwork(*args, seed=0)
    assert smooth._solver_method() == "cg"
    x = np.random.default_rng(0).normal(size=(3, 3))
    direct = NonlinearResistorNetwork(*args, seed=0, linear_solver="sparse")
    assert np.allclose(smooth.equilibrium(x).s, direct.equilibrium(x).s, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match=r"linear_solver='lu' is not one of"):
        NonlinearResistorNetwork.layered([2, 3, 1], linear_solver="lu")


@pytest.mark.parametrize("law", ["smooth", "shockley"])
def test_diode_equilibria_do_not_depend_on_the_method_or_the_batch(law):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (7, 12))
    y = rng.uniform(-0.2, 0.2, (7, 3))
    states, grads = [], []
    for method in ("dense", "sparse", "cg"):
        net = NonlinearResistorNetwork.random(320, n_inputs=12, n_outputs=3, degree=40,
                                              diode_law=law, seed=3, linear_solver=method)
        free = net.equilibrium(x)
        nudged = net.equilibrium(x, Nudge(make_cost("squared_error"), y, -0.5), start=free)
        one = net.equilibrium(x[2:3])
        assert np.max(np.abs(net.residual(nudged))) < 1e-9
        assert np.max(np.abs(one.s - free.s[2:3])) < 1e-12
        states.append(np.c_[free.s, nudged.s])
        grads.append(exact_gradient(net, x, y)["conductance"])
    for other, g in zip(states[1:], grads[1:]):
        assert np.max(np.abs(other - states[0])) < 1e-11
        assert np.max(np.abs(g - grads[0])) < 1e-10 * np.max(np.abs(grads[0]))
