"""SpinChain: quantum EP against exact references, bias orders, objectives, guards, bad input."""

import warnings

import numpy as np
import pytest
import qutip as qt

import physlearn as pl
from physlearn.check import cosine, relative_error
from physlearn.systems import quantum as q
from physlearn.systems.quantum import (
    DegenerateGroundStateError,
    NudgeNearGapWarning,
    ObservableCost,
    static_susceptibility,
)
from physlearn.systems.spin_chain import Coupling, SpinChain, cluster_ising_phases

pytestmark = pytest.mark.filterwarnings("ignore::physlearn.systems.quantum.NudgeNearGapWarning")


def six_spin_chain(**kwargs):
    """A 6-spin transverse-field Ising chain in its paramagnetic phase (gap ≈ 1.2)."""
    return SpinChain.transverse_field_ising(
        6, J=np.linspace(0.8, 1.2, 5), h=np.linspace(1.2, 1.5, 6), g=0.1,
        observables=["Z5", "X2"], seed=0, **kwargs)


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 1)), 0.3 * rng.normal(size=(3, 2))


# -- the Hamiltonian -----------------------------------------------------------------------------
def test_hamiltonian_matches_a_hand_built_qutip_operator():
    chain = SpinChain.transverse_field_ising(3, J=[0.7, 1.1], h=[0.2, 0.5, 0.9], g=0.3)
    sx, sz, i2 = qt.sigmax(), qt.sigmaz(), qt.qeye(2)

    def site(op, k):
        return qt.tensor([op if j == k else i2 for j in range(3)])

    x = 0.4
    expected = (-0.7 * site(sz, 0) @ site(sz, 1) - 1.1 * site(sz, 1) @ site(sz, 2)
                - sum(h * site(sx, k) for k, h in enumerate([0.2, 0.5, 0.9]))
                - 0.3 * sum(site(sz, k) for k in range(3)) - x * site(sz, 0))
    H = chain.hamiltonian([x])
    assert H.dims == expected.dims
    np.testing.assert_allclose(H.full(), expected.full(), atol=1e-14)


def test_builders_shapes_and_time_reversal():
    xxz = SpinChain.xxz(4, dm=0.3, periodic=True)
    assert xxz.param_shapes == {"Jxy": (4,), "Jz": (4,)}
    assert not q.is_time_reversal_symmetric(xxz.hamiltonian([0.1]))
    assert q.is_time_reversal_symmetric(SpinChain.heisenberg(4).hamiltonian([0.1]))
    sensor = SpinChain.phase_sensor(6)
    assert sensor.n_features == 3 and sensor.n_outputs == 3 and sensor.n_spins == 8
    assert sum(v.size for v in sensor.params.values()) == 51
    probs = sensor.predict(cluster_ising_phases(4)[0])
    assert np.all(probs > -1e-12) and np.all(probs.sum(axis=1) <= 1 + 1e-12)
    cluster = SpinChain.cluster_ising(6, roles={"g_x": "trainable"})
    assert cluster.param_shapes == {"g_x": (1,)} and cluster.n_features == 2


def test_exploration_chain_is_the_papers_term_for_term():
    """Wanjura & Marquardt's exploration example: X on every spin, ZZ on every open bond, and
    the cluster terms Z_j X_{j+1} Z_{j+2} for j = 1 … N − 3 (spin 0 in none); from
    θ = (−0.1, 0.4) its ground state has |⟨X₀X₄⟩| = 0.0087, the example's first record."""
    chain = SpinChain.phase_exploration(10)
    (xs, zz), (zxz,) = (c.operators for c in chain.couplings)
    assert [label for _, label in xs] == [f"X{j}" for j in range(10)]
    assert [label for _, label in zz] == [f"Z{j} Z{j + 1}" for j in range(9)]
    assert [label for _, label in zxz] == [f"Z{j} X{j + 1} Z{j + 2}" for j in range(1, 8)]
    assert {c for c, _ in xs + zz + zxz} == {-1.0}        # H = −(θ_X ΣX + θ_ZZ ΣZZ + g ΣZXZ)
    assert [c.value for c in chain.couplings] == [(-0.1, 0.4), 0.5]
    start = abs(chain.predict(np.zeros((1, 0)))[0, 0])
    assert abs(start - 0.0087) <= 1e-4, start


def test_phase_sensor_parameter_order_is_the_documented_one():
    """The index formulas of :meth:`SpinChain.phase_sensor`'s docstring, entry by entry."""
    sensor = SpinChain.phase_sensor(6)
    terms = {c.name: list(c.operators) for c in sensor.couplings if c.role == "trainable"}
    assert list(terms) == ["system_sensor", "sensor_field", "sensor_sensor"]
    pauli = "XYZ"
    for a, i, b, s in np.ndindex(3, 2, 3, 2):
        label = f"{pauli[a]}{i} {pauli[b]}{6 + s}"
        assert terms["system_sensor"][((a * 2 + i) * 3 + b) * 2 + s] == label
    assert terms["sensor_field"] == ["X6", "Y6", "Z6", "X7", "Y7", "Z7"]
    assert terms["sensor_sensor"] == [f"{a}6 {b}7" for a in pauli for b in pauli]


def test_cluster_ising_phase_labels():
    x, labels, y = cluster_ising_phases(500, seed=1)
    np.testing.assert_allclose(x.sum(axis=1), 4.0)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert np.all(labels[x[:, 1] >= 2] == 1)
    np.testing.assert_array_equal(np.argmax(y, axis=1), labels)


def test_ground_state_is_an_eigenstate_and_energy_is_e0(problem):
    chain = six_spin_chain()
    state = chain.equilibrium(problem[0])
    np.testing.assert_allclose(chain.energy(state), state.energies[:, 0], rtol=1e-13)
    assert np.max(np.abs(chain.residual(state))) < 1e-12
    assert np.all(state.gap > 0.5)


# -- acceptance: gradients on a 6-spin chain -----------------------------------------------------
def test_linear_response_matches_finite_differences(problem):
    chain = six_spin_chain()
    fd = pl.finite_difference_gradient(chain, *problem, h=1e-5)
    assert relative_error(pl.exact_gradient(chain, *problem), fd) < 1e-8


def test_linear_response_is_the_lehmann_susceptibility(problem):
    """Independent check: Σ_k ε_k χ(A_j, B_k) from full exact diagonalisation."""
    chain = six_spin_chain()
    x, y = problem
    eps = chain.predict(x) - y
    exact = pl.exact_gradient(chain, x, y)
    ops = chain.coupling_operators["h"]
    expected = np.mean([[sum(e * static_susceptibility(H, a, b) for e, b in
                             zip(eps[s], chain.observable_operators)) for a in ops]
                        for s, H in enumerate(chain.hamiltonian(x))], axis=0)
    np.testing.assert_allclose(exact["h"], expected, rtol=1e-9, atol=1e-12)


def test_centered_quantum_ep_matches_finite_differences(problem):
    chain = six_spin_chain()
    fd = pl.finite_difference_gradient(chain, *problem, h=1e-5)
    ep = pl.EP(beta=1e-3, variant="centered").gradient(chain, *problem)
    assert relative_error(ep, fd) < 1e-6


@pytest.mark.parametrize("variant,order,tol", [("positive", 1, 0.15), ("negative", 1, 0.15),
                                               ("centered", 2, 0.2)])
def test_measured_bias_order(problem, variant, order, tol):
    chain = six_spin_chain()
    measured = pl.bias_order(chain, pl.EP(variant=variant), *problem,
                             betas=(3e-2, 1e-2, 3e-3, 1e-3))
    assert abs(measured.slope - order) < tol, str(measured)


@pytest.mark.parametrize("temperature", [0.2, 1.0, 5.0])
def test_thermal_quantum_ep_and_kubo_mori_reference(problem, temperature):
    chain = six_spin_chain(temperature=temperature)
    fd = pl.finite_difference_gradient(chain, *problem, h=1e-5)
    assert relative_error(pl.EP(beta=1e-3).gradient(chain, *problem), fd) < 1e-6
    assert relative_error(pl.exact_gradient(chain, *problem), fd) < 1e-8


def test_thermal_reference_is_the_isothermal_susceptibility():
    chain = SpinChain.transverse_field_ising(4, h=0.8, observables=["Z3"], temperature=0.7)
    x, y = np.array([[0.2]]), np.array([[0.4]])
    eps = chain.predict(x)[0, 0] - y[0, 0]
    H = chain.hamiltonian(x[0])
    expected = [eps * static_susceptibility(H, a, chain.observable_operators[0], 0.7)
                for a in chain.coupling_operators["J"]]
    np.testing.assert_allclose(pl.exact_gradient(chain, x, y)["J"], expected, rtol=1e-10)


def test_thermal_state_goes_to_the_ground_state_at_low_temperature(problem):
    cold = six_spin_chain(temperature=0.02)
    np.testing.assert_allclose(cold.predict(problem[0]), six_spin_chain().predict(problem[0]),
                               atol=1e-12)


def test_sign_convention_is_read_from_the_operators(problem):
    """H written as −(θ·A'): A = ∂H/∂θ carries the sign, so the gradient still matches."""
    base = six_spin_chain()
    flipped = SpinChain(6, [Coupling(c.name, tuple((-s[0], s[1]) for s in c.operators) if
                                     c.role == "trainable" else c.operators, c.role, c.value)
                            for c in base.couplings], base.observables, seed=0)
    flipped.params = {k: -v for k, v in base.params.items()}
    np.testing.assert_allclose(flipped.predict(problem[0]), base.predict(problem[0]),
                               atol=1e-12)
    g_base = pl.EP(beta=1e-3).gradient(base, *problem)
    g_flip = pl.EP(beta=1e-3).gradient(flipped, *problem)
    for k in g_base:
        np.testing.assert_allclose(g_flip[k], -g_base[k], rtol=1e-6, atol=1e-10)
    fd = pl.finite_difference_gradient(flipped, *problem, h=1e-5)
    assert relative_error(g_flip, fd) < 1e-6


def test_sparse_lanczos_and_conjugate_gradients_agree_with_dense(problem):
    dense, sparse = six_spin_chain(), six_spin_chain(solver="sparse")
    np.testing.assert_allclose(sparse.predict(problem[0]), dense.predict(problem[0]),
                               atol=1e-10)
    assert relative_error(pl.exact_gradient(sparse, *problem),
                          pl.exact_gradient(dense, *problem)) < 1e-9
    assert relative_error(pl.EP(beta=1e-2).gradient(sparse, *problem),
                          pl.EP(beta=1e-2).gradient(dense, *problem)) < 1e-7


def test_nudge_coefficients_come_from_the_free_state(problem):
    """ν = β ∂C/∂⟨B⟩ at the free outputs, whether the free state is passed or recomputed."""
    chain = six_spin_chain()
    x, y = problem
    nudge = pl.Nudge(pl.SquaredError(), y, 0.05)
    free = chain.equilibrium(x)
    with_start = chain.equilibrium(x, nudge, start=free)
    np.testing.assert_allclose(with_start.nu, 0.05 * (chain.outputs(free) - y), rtol=1e-14)
    np.testing.assert_allclose(chain.equilibrium(x, nudge).expect, with_start.expect,
                               atol=1e-13)
    # the nudged state is the ground state of H + Σ ν_k B_k built by hand
    H = chain.hamiltonian(x[0]) + sum(n * b for n, b in
                                      zip(with_start.nu[0], chain.observable_operators))
    psi = H.groundstate()[1]
    np.testing.assert_allclose(chain.outputs(with_start)[0],
                               [qt.expect(b, psi) for b in chain.observable_operators],
                               atol=1e-12)


# -- the two objectives --------------------------------------------------------------------------
def single_output_chain():
    """Output ⟨Z₀⟩ on the spin that feels the input field −x Z₀."""
    return SpinChain.transverse_field_ising(5, J=1.0, h=1.3, g=0.0, observables=["Z0"],
                                            seed=0)


def test_observable_cost_nudge_is_beta_times_the_cost_observable():
    chain, cost = single_output_chain(), ObservableCost()
    x, y, beta = np.array([[1.0]]), np.array([[-0.5]]), 0.3
    state = chain.equilibrium(x, pl.Nudge(cost, y, beta))
    c_hat = cost.operator(chain.observable_operators, y[0])
    psi = (chain.hamiltonian(x[0]) + beta * c_hat).groundstate()[1]
    np.testing.assert_allclose(chain.outputs(state)[0, 0],
                               qt.expect(chain.observable_operators[0], psi), atol=1e-12)


def test_observable_cost_gradient_is_the_gradient_of_the_expected_cost():
    """Scellier's objective: EP with βĈ matches finite differences of ⟨ψ|Ĉ|ψ⟩ (literal)."""
    chain, cost = single_output_chain(), ObservableCost()
    x, y = np.array([[1.0]]), np.array([[-0.5]])
    c_hat = cost.operator(chain.observable_operators, y[0])

    def expected_cost():
        return qt.expect(c_hat, chain.hamiltonian(x[0]).groundstate()[1])

    original, h, fd = chain.params, 1e-5, {}
    for k, v in original.items():
        fd[k] = np.zeros(v.shape)
        for i in range(v.size):
            vals = []
            for sign in (1, -1):
                trial = {kk: vv.copy() for kk, vv in original.items()}
                trial[k][i] += sign * h
                chain.params = trial
                vals.append(expected_cost())
            fd[k][i] = (vals[0] - vals[1]) / (2 * h)
    chain.params = original
    np.testing.assert_allclose(pl.loss(chain, x, y, cost), expected_cost(), rtol=1e-12)
    assert relative_error(pl.EP(beta=1e-3).gradient(chain, x, y, cost), fd) < 1e-6
    assert relative_error(pl.exact_gradient(chain, x, y, cost), fd) < 1e-8


def test_the_two_objectives_point_in_opposite_directions():
    """⟨Z⟩ ≈ −0.7 and y = −0.5: ½(⟨Z⟩ − y)² wants ⟨Z⟩ up, ⟨½(Z − y)²⟩ wants ⟨Z⟩ → −1."""
    chain = single_output_chain()
    x, y = np.array([[-1.0]]), np.array([[-0.5]])
    out = chain.predict(x)[0, 0]
    assert -0.8 < out < -0.6
    rule = pl.EP(beta=1e-3)
    g_values = rule.gradient(chain, x, y, pl.SquaredError())
    g_operator = rule.gradient(chain, x, y, ObservableCost())
    flat = [np.concatenate([g[k] for k in sorted(g)]) for g in (g_values, g_operator)]
    assert cosine(*flat) < -0.99
    assert relative_error(g_values, g_operator) > 1.0


def test_observable_cost_refuses_observables_that_do_not_square_as_declared():
    chain = SpinChain.transverse_field_ising(3, observables=[[(1.0, "Z2"), (1.0, "Z1")]])
    with pytest.raises(ValueError, match="B_k² = 1"):
        pl.EP(beta=1e-3).gradient(chain, [[0.1]], [[0.2]], ObservableCost())


def test_observable_cost_with_projectors():
    chain = SpinChain.transverse_field_ising(
        4, h=1.2, observables=[[(0.5, ""), (0.5, "Z3")]], seed=1)   # |↑⟩⟨↑| on spin 3
    cost, x, y = ObservableCost("projector"), np.array([[0.3]]), np.array([[1.0]])
    fd = pl.finite_difference_gradient(chain, x, y, cost, h=1e-5)
    assert relative_error(pl.EP(beta=1e-3).gradient(chain, x, y, cost), fd) < 1e-6


# -- gap guard: where quantum EP breaks down and what repairs it ---------------------------------
def ordered_chain(**kwargs):
    """Ordered phase, weak symmetry-breaking field: a small gap (≈ 1e-2)."""
    return SpinChain.transverse_field_ising(5, J=1.0, h=0.5, g=0.003, inputs=("-X0",),
                                            observables=["Z4"], **kwargs)


def test_degenerate_ground_state_is_refused():
    chain = SpinChain.transverse_field_ising(4, h=0.0, g=0.0, inputs=("-X0",))
    with pytest.raises(DegenerateGroundStateError, match="degenerate: gap"):
        chain.predict([[0.0]])
    chain.set_params(gap_guard="warn")
    with pytest.warns(NudgeNearGapWarning, match="degenerate"):
        chain.predict([[0.0]])
    chain.set_params(temperature=0.5)        # a Gibbs state is fine
    assert np.isfinite(chain.predict([[0.0]])).all()


def test_degenerate_ground_state_is_refused_by_the_lanczos_solver():
    """Lanczos sees one copy of a degenerate level; the gap run on the complement sees both."""
    chain = SpinChain.transverse_field_ising(10, h=0.0, g=0.0, inputs=("-X0",),
                                             solver="sparse")
    with pytest.raises(DegenerateGroundStateError, match="degenerate: gap"):
        chain.predict([[0.0]])


def test_phase_sensor_gradient_equals_arpack_ground_states():
    """The centered quantum-EP gradient of Wanjura & Marquardt's phase sensor (8 + 2 qubits,
    51 couplings, beta = 0.4) from the Lanczos ground states equals the one from ARPACK's
    (eigsh, k = 2, tol 1e-13: the earlier implementation) to 1e-9."""
    import scipy.sparse.linalg as spla

    from physlearn.systems.spin_chain import phase_sensor_problem

    chain = SpinChain.phase_sensor(8)
    x, y = phase_sensor_problem(chain, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NudgeNearGapWarning)      # beta = 0.4 is the paper's
        g = pl.EP(beta=0.4, variant="centered").gradient(chain, x, y)
    free = chain.equilibrium(x)
    eps = pl.SquaredError().gradient(chain.outputs(free), y)
    contrast = 0
    for sign in (1, -1):
        states = []
        for c in chain._coefficients(x, sign * 0.4 * eps):
            e, v = spla.eigsh(chain.basis.combine(c), k=2, which="SA", tol=1e-13)
            states.append(v[:, np.argmin(e)])
        contrast = contrast + sign * np.array([chain.basis.expect_pure(v) for v in states])
    reference = {name: contrast[:, chain._slices[name]].mean(axis=0) / 0.8 for name in g}
    assert relative_error(g, reference) < 1e-9


def test_nudge_near_the_gap_warns_and_breaks_the_estimate():
    chain = ordered_chain()
    x, y = np.array([[0.1]]), np.array([[-0.5]])
    gap = chain.equilibrium(x).gap[0]
    eps = abs(chain.predict(x)[0, 0] - y[0, 0])
    exact = pl.exact_gradient(chain, x, y)
    small = 1e-3 * gap / eps
    with warnings.catch_warnings():
        warnings.simplefilter("error", NudgeNearGapWarning)
        assert relative_error(pl.EP(beta=small).gradient(chain, x, y), exact) < 1e-4
    with pytest.warns(NudgeNearGapWarning, match="exceeds"):
        broken = pl.EP(beta=gap / eps).gradient(chain, x, y)
    assert relative_error(broken, exact) > 0.1


def test_temperature_repairs_the_small_gap():
    x, y = np.array([[0.1]]), np.array([[-0.5]])
    cold, warm = ordered_chain(), ordered_chain(temperature=0.5)
    beta = 0.1
    err_cold = relative_error(pl.EP(beta=beta).gradient(cold, x, y),
                              pl.exact_gradient(cold, x, y))
    err_warm = relative_error(pl.EP(beta=beta).gradient(warm, x, y),
                              pl.exact_gradient(warm, x, y))
    assert err_cold > 0.3 and err_warm < 0.02


# -- shot noise ----------------------------------------------------------------------------------
def test_shot_noise_has_the_binomial_mean_and_variance():
    chain = SpinChain.transverse_field_ising(3, h=1.0, observables=["Z2"], shots=10, seed=3)
    x = np.full((4000, 1), 0.3)
    state = chain.equilibrium(x)
    exact, measured = state.expect[0, chain._slices["<outputs>"]][0], chain.outputs(state)[:, 0]
    sigma = np.sqrt((1 - exact**2) / 10)
    assert abs(measured.mean() - exact) < 5 * sigma / np.sqrt(len(x))
    assert abs(measured.std() / sigma - 1) < 0.1
    again = SpinChain.transverse_field_ising(3, h=1.0, observables=["Z2"], shots=10, seed=3)
    np.testing.assert_array_equal(again.predict(x[:5]), chain.outputs(state)[:5])


def test_ep_variance_with_shots_scales_as_one_over_shots_beta_squared():
    """Var(ĝ) ≈ Var(A)/(2 M β²) for the centered estimate (noise-dominated regime)."""
    chain = SpinChain.transverse_field_ising(3, h=1.0, observables=["Z2"], shots=100, seed=4)
    x, y = np.full((3000, 1), 0.3), np.full((3000, 1), 0.5)
    beta = 0.05
    g = pl.EP(beta=beta).per_sample_gradient(chain, x, y, pl.SquaredError())["h"]
    state = chain.equilibrium(x[:1])
    var_a = 1 - state.expect[0, chain._slices["h"]] ** 2          # A = −X_i: A² = 1
    np.testing.assert_allclose(g.var(axis=0), var_a / (2 * 100 * beta**2), rtol=0.1)
    exact = pl.exact_gradient(chain, x[:1], y[:1])["h"]
    assert np.all(np.abs(g.mean(axis=0) - exact) < 5 * g.std(axis=0) / np.sqrt(len(x)) + 1e-3)


# -- bad input -----------------------------------------------------------------------------------
def test_non_hermitian_hamiltonian_is_refused():
    with pytest.raises(ValueError, match=r"coupling 'J'\[0\] is not Hermitian"):
        SpinChain(2, [Coupling("J", [(1j, "Z0 Z1")]), Coupling("x", ["X0"], "input")], ["Z1"])
    with pytest.raises(ValueError, match="not Hermitian"):
        SpinChain(2, [Coupling("J", [qt.tensor(qt.sigmap(), qt.qeye(2))]),
                      Coupling("x", ["X0"], "input")], ["Z1"])


def test_observable_on_the_wrong_hilbert_space_is_refused():
    with pytest.raises(ValueError, match=r"observable 0 .* dims \[\[2, 2, 2\], \[2, 2, 2\]\], "
                                         r"expected \[\[2, 2\], \[2, 2\]\]"):
        SpinChain.transverse_field_ising(2, observables=[q.pauli("Z0", 3)])
    with pytest.raises(ValueError, match="site 5, but the chain has sites 0..3"):
        SpinChain.transverse_field_ising(4, observables=["Z5"])
    with pytest.raises(ValueError, match="wrong Hilbert space"):
        static_susceptibility(q.pauli("Z0", 2), q.pauli("Z0", 3), q.pauli("Z1", 3))


def test_negative_temperature_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match=r"temperature=-0.5 must be finite and >= 0"):
        SpinChain.transverse_field_ising(3, temperature=-0.5)
    chain = SpinChain.transverse_field_ising(3)
    with pytest.raises(ValueError, match="temperature=-1"):
        chain.set_params(temperature=-1)
    with pytest.raises(ValueError, match="shots=0 must be a positive integer"):
        SpinChain.transverse_field_ising(3, shots=0)
    with pytest.raises(ValueError, match="solver='qr' is not one of"):
        SpinChain.transverse_field_ising(3, solver="qr")
    with pytest.raises(ValueError, match="role='output'"):
        SpinChain(2, [Coupling("J", ["Z0 Z1"], "output")], ["Z1"])
    with pytest.raises(ValueError, match="token 'Q1'"):
        SpinChain.transverse_field_ising(3, observables=["Q1"])
    with pytest.raises(ValueError, match="fixed coupling 'F' needs a value"):
        SpinChain(2, [Coupling("F", ["Z0"], "fixed")], ["Z1"])


def test_complex_nudges_and_clamps_are_refused():
    chain = SpinChain.transverse_field_ising(3)
    with pytest.raises(ValueError, match="needs \\['complex'\\]"):
        pl.HolomorphicEP(beta=0.01).gradient(chain, [[0.1]], [[0.2]])
    with pytest.raises(ValueError, match="cannot clamp"):
        chain.equilibrium([[0.1]], pl.Clamp(np.array([[0.2]])))


def test_params_round_trip_through_get_params():
    chain = six_spin_chain(temperature=0.3, shots=None)
    rebuilt = SpinChain(**chain.get_params())
    rebuilt.params = chain.params
    np.testing.assert_allclose(rebuilt.predict([[0.2]]), chain.predict([[0.2]]), atol=1e-14)
