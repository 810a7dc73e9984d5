"""Quantum building blocks: Pauli operators, ground and thermal states, susceptibilities, shots.

Everything here is in dimensionless units: energies in units of a reference coupling (the
``J`` of a spin chain, the spring constant of an oscillator), ħ = 1 and k_B = 1, so the
temperature is an energy and time is measured in units of ħ/J.

The module serves the quantum systems of :mod:`physlearn.systems` (``SpinChain``,
``QuantumHarmonicNetwork``) and states the physics they rely on:

* :func:`pauli`, :func:`operator` — Pauli strings and Hermitian operators as QuTiP ``Qobj``;
* :func:`lowest_states`, :func:`thermal_ensemble`, :func:`check_gap` — the states a quantum
  learning run prepares, with the gap guard that refuses (nearly) degenerate ground states;
* :func:`static_susceptibility`, :func:`kubo_response`, :func:`step_response` — linear
  response, to *show* (not assume) Onsager reciprocity: static susceptibilities are symmetric
  for any Hamiltonian, time-dependent ones only with time-reversal symmetry;
* :class:`ObservableCost`, :class:`NegativeMagnitude` — costs specific to quantum EP;
* :func:`shot_noise` — the finite-shot measurement model.

The two quantum-EP objectives
-----------------------------
*Loss of expectation values* (Wanjura & Marquardt): ``L = C(⟨B_1⟩, …, ⟨B_K⟩; y)`` with any
cost of :mod:`physlearn.costs`. The nudge adds ``β Σ_k ε_k B_k`` with ``ε = ∂C/∂⟨B⟩`` at the
free state. *Expected cost observable* (Scellier): ``L = ⟨Ĉ(y)⟩`` for an operator ``Ĉ``; the
nudge adds ``β Ĉ``. :class:`ObservableCost` is the second kind, for ``Ĉ = ½ Σ_k (B_k − y_k)²``.
For a Pauli output ``⟨Ĉ⟩ = ½(1 + y² − 2y⟨Z⟩)`` is minimised at ``⟨Z⟩ = sign y``, not at
``⟨Z⟩ = y``: the objectives differ and so do their gradients.

References
----------
.. [1] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training of
   quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
   arXiv:2406.06482.
.. [2] B. Scellier, "Quantum equilibrium propagation: gradient-descent training of quantum
   systems", arXiv:2406.00879 (2024).
.. [3] R. Kubo, "Statistical-mechanical theory of irreversible processes. I", J. Phys. Soc.
   Jpn. 12, 570 (1957).
"""

from __future__ import annotations

import re
import warnings
from numbers import Number

import numpy as np
import qutip as qt
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.costs import Cost

from .blas import serial_blas

__all__ = [
    "DegenerateGroundStateError", "NudgeNearGapWarning", "pauli", "operator", "as_csr",
    "lowest_states", "thermal_ensemble", "check_gap", "kubo_mori_kernel",
    "static_susceptibility", "kubo_response", "step_response", "is_time_reversal_symmetric",
    "ObservableCost", "NegativeMagnitude", "shot_noise", "check_temperature", "check_shots",
    "serial_blas",
]

_PAULI = {"I": qt.qeye(2), "X": qt.sigmax(), "Y": qt.sigmay(), "Z": qt.sigmaz()}
_TOKEN = re.compile(r"^([IXYZ])(\d+)$")


class DegenerateGroundStateError(ValueError):
    """The ground state is (nearly) degenerate: ⟨B⟩ is not a differentiable function of θ."""


class NudgeNearGapWarning(UserWarning):
    """The nudge ``‖β Σ ε_k B_k‖`` is not small against the gap: the finite-β estimate is biased."""


# -- operators ----------------------------------------------------------------------------------
def pauli(label, n_spins):
    """A Pauli string on ``n_spins`` qubits as a QuTiP ``Qobj``.

    Parameters
    ----------
    label : str
        Space-separated site tokens such as ``"Z0 X1 Z2"`` with an optional leading sign
        (``"-X3"``); ``""`` or ``"I"`` is the identity. Sites count from 0 (the first tensor
        factor).
    n_spins : int

    Returns
    -------
    qutip.Qobj
        Dimensions ``[[2]*n_spins, [2]*n_spins]``.

    Examples
    --------
    >>> pauli("Z0 Z1", 3).dims
    [[2, 2, 2], [2, 2, 2]]
    """
    sign, sites = _parse_pauli(label, n_spins)
    factors = [_PAULI[sites.get(i, "I")] for i in range(n_spins)]
    return sign * qt.tensor(factors).to("csr")


def _parse_pauli(label, n_spins):
    if not isinstance(label, str):
        raise TypeError(f"Pauli label {label!r} must be a string like 'Z0 X1'")
    text = label.strip()
    sign = 1.0
    if text[:1] in "+-" and text:
        sign, text = (-1.0 if text[0] == "-" else 1.0), text[1:].strip()
    sites = {}
    for token in text.split():
        if token == "I":
            continue
        match = _TOKEN.match(token)
        if not match:
            raise ValueError(f"Pauli label {label!r}: token {token!r} is not of the form "
                             "X3, Y0, Z12 (letter I/X/Y/Z, then a site index)")
        letter, site = match.group(1), int(match.group(2))
        if site >= n_spins:
            raise ValueError(f"Pauli label {label!r} acts on site {site}, but the chain has "
                             f"sites 0..{n_spins - 1} (wrong Hilbert space)")
        if site in sites:
            raise ValueError(f"Pauli label {label!r} names site {site} twice")
        if letter != "I":
            sites[site] = letter
    return sign, sites


def operator(spec, n_spins, what="operator"):
    """A Hermitian operator on ``n_spins`` qubits from a Pauli label, a Pauli sum or a ``Qobj``.

    Parameters
    ----------
    spec : str, sequence or qutip.Qobj
        A label (see :func:`pauli`); a sequence of labels and ``(coefficient, label)`` pairs,
        summed; or a ``Qobj`` with dimensions ``[[2]*n_spins, [2]*n_spins]``.
    n_spins : int
    what : str
        How the operator is named in error messages (e.g. ``"coupling 'J'[2]"``).

    Returns
    -------
    qutip.Qobj

    Raises
    ------
    ValueError
        If the operator lives on another Hilbert space, is not Hermitian or not finite.
    """
    dims = [[2] * n_spins, [2] * n_spins]
    if isinstance(spec, qt.Qobj):
        if spec.dims != dims:
            raise ValueError(f"{what} has dims {spec.dims}, expected {dims}: an operator on "
                             f"{n_spins} qubits (wrong Hilbert space)")
        op = spec.to("csr")
    elif isinstance(spec, str):
        op = pauli(spec, n_spins)
    elif _is_term(spec):
        op = complex(spec[0]) * pauli(spec[1], n_spins)
    elif isinstance(spec, (list, tuple)) and len(spec) > 0:
        op = 0 * pauli("", n_spins)
        for term in spec:
            op = op + (pauli(term, n_spins) if isinstance(term, str) else
                       operator(term, n_spins, what) if _is_term(term) else _bad_spec(term, what))
    else:
        _bad_spec(spec, what)
    return _check_hermitian(op, what)


def _is_term(spec):
    return (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], Number)
            and isinstance(spec[1], str))


def _bad_spec(spec, what):
    raise TypeError(f"{what}: {spec!r} is not a Pauli label ('Z0 Z1'), a list of labels or "
                    "(coefficient, label) pairs, or a qutip.Qobj")


def _check_hermitian(op, what):
    m = as_csr(op)
    if m.nnz and not np.all(np.isfinite(m.data)):
        raise ValueError(f"{what} has non-finite matrix elements")
    scale = max(1.0, abs(m).max()) if m.nnz else 1.0
    defect = abs(m - m.conj().T).max() if m.nnz else 0.0
    if defect > 1e-12 * scale:
        raise ValueError(f"{what} is not Hermitian: max |O − O†| = {defect:.3e}; Hamiltonian "
                         "terms and observables must be Hermitian (real coefficients on Pauli "
                         "strings)")
    return op


def as_csr(op):
    """The matrix of a ``Qobj`` (or sparse/dense array) as a ``scipy.sparse.csr_matrix``."""
    if isinstance(op, qt.Qobj):
        return op.to("csr").data_as("csr_matrix").tocsr()
    return sp.csr_matrix(op)


def is_time_reversal_symmetric(H, atol=1e-12):
    """Whether ``H`` is real in the computational (σᶻ) basis, i.e. commutes with complex
    conjugation K, the antiunitary time reversal used here (spinless convention)."""
    m = as_csr(H)
    return bool(m.nnz == 0 or abs(m.imag).max() <= atol)


# -- states -------------------------------------------------------------------------------------
def lowest_states(H, k=2, *, solver="dense", start=None, tol=1e-13):
    """The ``k`` lowest eigenpairs of a Hermitian matrix, ascending.

    Parameters
    ----------
    H : ndarray or sparse matrix, shape (dim, dim)
    k : int
    solver : {"dense", "sparse"}
        Dense LAPACK (``scipy.linalg.eigh`` on the lowest ``k``), or sparse Lanczos
        (``scipy.sparse.linalg.eigsh``, implicitly restarted).
    start : ndarray, optional
        Warm start for Lanczos (e.g. the free ground state when preparing a nudged one).
    tol : float
        Lanczos tolerance (relative residual of the eigenpairs).

    Returns
    -------
    energies : ndarray, shape (k,)
    vectors : ndarray, shape (dim, k)
    """
    dim = H.shape[0]
    if solver == "dense" or dim <= 4 * k + 8:
        dense = H.toarray() if sp.issparse(H) else np.asarray(H)
        return la.eigh(dense, subset_by_index=[0, k - 1], driver="evr")
    v0 = None
    if start is not None:
        v0 = np.asarray(start, dtype=H.dtype) if np.iscomplexobj(H) else np.real(start)
        v0 = v0 if np.linalg.norm(v0) > 0 else None
    energies, vectors = spla.eigsh(H, k=k, which="SA", v0=v0, tol=tol, ncv=max(20, 2 * k + 1))
    order = np.argsort(energies)
    return energies[order], vectors[:, order]


def thermal_ensemble(H, temperature, cutoff=1e-18):
    """The Gibbs state ρ = e^{−H/T}/Z as an ensemble of energy eigenstates.

    Parameters
    ----------
    H : ndarray or sparse matrix, shape (dim, dim)
    temperature : float
        T > 0 in units of the couplings (k_B = 1).
    cutoff : float
        Eigenstates with Boltzmann weight below ``cutoff`` are dropped (their contribution to
        any expectation value is below ``cutoff · dim · ‖A‖``).

    Returns
    -------
    energies : ndarray, shape (dim,)
        All eigenvalues, ascending.
    weights : ndarray, shape (n_kept,)
        Boltzmann weights p_n of the kept states (they sum to 1).
    vectors : ndarray, shape (dim, n_kept)

    Notes
    -----
    The weights are computed as exp(−(E_n − E_0)/T): shifting by the ground energy avoids
    overflow at low T. Dense diagonalisation: practical up to about 12 qubits.
    """
    dense = H.toarray() if sp.issparse(H) else np.asarray(H)
    energies, vectors = np.linalg.eigh(dense)
    weights = np.exp(-(energies - energies[0]) / temperature)
    weights /= weights.sum()
    keep = weights >= cutoff
    kept = weights[keep]
    return energies, kept / kept.sum(), vectors[:, keep]


def check_gap(energies, *, min_gap=1e-8, policy="raise", what="ground state"):
    """Refuse (or warn about) a (nearly) degenerate ground state.

    The gap ``Δ = E_1 − E_0`` counts as closed when ``Δ < min_gap · max(1, |E_0|)``.

    Returns
    -------
    float
        The gap Δ.
    """
    gap = float(energies[1] - energies[0])
    scale = max(1.0, abs(float(energies[0])))
    if policy != "off" and gap < min_gap * scale:
        message = (f"{what} is degenerate: gap E1 - E0 = {gap:.3e} < min_gap * max(1, |E0|) = "
                   f"{min_gap * scale:.3e}. The ground state (and every <B>) is then not a "
                   "differentiable function of the couplings, and quantum EP is meaningless. "
                   "Add a small symmetry-breaking field, work at temperature T > 0, or pass "
                   "gap_guard='warn'.")
        if policy == "raise":
            raise DegenerateGroundStateError(message)
        warnings.warn(message, NudgeNearGapWarning, stacklevel=3)
    return gap


def check_temperature(temperature):
    """Return T as a float ≥ 0 or raise a clear error."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise TypeError(f"temperature={temperature!r} must be a real number >= 0") from None
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"temperature={temperature!r} must be finite and >= 0 (0 means the "
                         "ground state; T is in units of the couplings, k_B = 1)")
    return t


def check_shots(shots):
    """Return the number of shots per expectation value (None: exact expectations)."""
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ValueError(f"shots={shots!r} must be a positive integer or None (exact "
                         "expectation values)")
    return int(shots)


def shot_noise(mean, variance, shots, rng):
    """Estimates of expectation values from ``shots`` measurements each.

    Gaussian model: the sample mean of M projective measurements of A has mean ⟨A⟩ and variance
    Var(A)/M (central limit theorem; accurate for M ≳ 5). Every operator is measured in its own
    setting with M fresh shots (as in Wanjura & Marquardt's code).

    Parameters
    ----------
    mean, variance : ndarray
        ⟨A⟩ and Var(A) = ⟨A²⟩ − ⟨A⟩² in the prepared state.
    shots : int or None
        None returns ``mean`` unchanged.
    rng : numpy.random.Generator
    """
    if shots is None:
        return mean
    return mean + np.sqrt(np.maximum(variance, 0.0) / shots) * rng.standard_normal(mean.shape)


# -- linear response -------------------------------------------------------------------------------
def kubo_mori_kernel(energies, temperature):
    """Boltzmann weights p and the isothermal (Kubo–Mori) kernel K_nm.

    ``K_nm = (p_n − p_m)/(E_n − E_m)`` for distinct levels and ``−(p_n + p_m)/(2T)`` in the
    limit of equal ones (the same formula continued smoothly), so that the isothermal
    susceptibility is ``χ^T_AB = Σ_nm A_nm B_mn K_nm + ⟨A⟩⟨B⟩/T`` in the eigenbasis.
    """
    e = np.asarray(energies, dtype=float)
    p = np.exp(-(e - e[0]) / temperature)
    p /= p.sum()
    de = e[:, None] - e[None, :]
    close = np.abs(de) < 1e-5 * temperature
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = np.where(close, -(p[:, None] + p[None, :]) / (2 * temperature),
                          (p[:, None] - p[None, :]) / np.where(close, 1.0, de))
    return p, kernel


def static_susceptibility(H, A, B, temperature=0.0, *, min_gap=1e-8):
    """Static susceptibility ``χ_AB = ∂⟨A⟩/∂ν`` for ``H → H + νB``, by exact diagonalisation.

    Parameters
    ----------
    H, A, B : qutip.Qobj
        Hermitian operators on the same Hilbert space (small: dense diagonalisation).
    temperature : float, default 0
        0: ground state (Lehmann sum); T > 0: isothermal response of the Gibbs state.

    Returns
    -------
    float

    Notes
    -----
    Ground state (second-order perturbation theory, non-degenerate ``|0⟩``):

        χ_AB = −2 Re Σ_{n≥1} A_0n B_n0 / (E_n − E_0),

    symmetric in A ↔ B for any Hermitian A, B — no time-reversal symmetry needed, because the
    static response is the mixed second derivative ∂²E_0/∂ν_A∂ν_B. At T > 0 the isothermal
    susceptibility (the response of a state that re-thermalises, which is what quantum EP
    measures) is ∂²F/∂ν_A∂ν_B with F = −T ln Z, symmetric for the same reason:

        χ^T_AB = Σ_{E_n≠E_m} A_nm B_mn (p_n − p_m)/(E_n − E_m)
                 − (1/T) [Σ_{E_n=E_m} p_n A_nm B_mn − ⟨A⟩⟨B⟩].
    """
    T = check_temperature(temperature)
    mats = _same_space(H, A, B)
    with serial_blas():
        energies, vectors = np.linalg.eigh(mats[0].toarray())
    a, b = (vectors.conj().T @ (m @ vectors) for m in mats[1:])
    if T == 0:
        check_gap(energies[:2], min_gap=min_gap)
        return float(-2 * np.real(np.sum(a[0, 1:] * b[1:, 0] / (energies[1:] - energies[0]))))
    p, kernel = kubo_mori_kernel(energies, T)
    mean_a, mean_b = np.real(np.diag(a) @ p), np.real(np.diag(b) @ p)
    return float(np.real(np.sum(a * b.T * kernel)) + mean_a * mean_b / T)


def _same_space(*ops):
    dims = ops[0].dims
    for name, op in zip("HAB", ops):
        if not isinstance(op, qt.Qobj):
            raise TypeError(f"{name} must be a qutip.Qobj, not {type(op).__name__}")
        if op.dims != dims:
            raise ValueError(f"{name} has dims {op.dims} but H has dims {dims} (wrong Hilbert "
                             "space)")
        _check_hermitian(op, name)
    return [as_csr(op) for op in ops]


def _ground_ket(H):
    energies, vectors = lowest_states(as_csr(H), 2)
    check_gap(energies)
    return qt.Qobj(vectors[:, 0], dims=[H.dims[0], [1] * len(H.dims[0])])


_SESOLVE = {"atol": 1e-12, "rtol": 1e-10, "nsteps": 100000}


def kubo_response(H, A, B, times, *, options=None):
    """Retarded response function ``χ_AB(t) = −i ⟨[A(t), B(0)]⟩`` in the ground state of H.

    Two Schrödinger evolutions (``qutip.sesolve``) give ``z(t) = ⟨ψ(t)| A |φ(t)⟩`` with
    ``ψ(t) = U(t)|0⟩`` and ``φ(t) = U(t) B|0⟩``; then ``χ_AB(t) = 2 Im z(t)`` for Hermitian A, B
    (ħ = 1, t ≥ 0).

    Parameters
    ----------
    H, A, B : qutip.Qobj
    times : array_like
        Increasing times, starting at 0.
    options : dict, optional
        ``sesolve`` options (default: atol 1e-12, rtol 1e-10).

    Returns
    -------
    ndarray, shape (len(times),)

    Notes
    -----
    A small perturbation ``ν(t)B`` changes ``⟨A(t)⟩`` by ``∫ χ_AB(t − t') ν(t') dt'``. In the
    eigenbasis ``χ_AB(t) = 2 Im Σ_n A_0n B_n0 e^{−i(E_n−E_0)t}``. If H is time-reversal
    symmetric (real) and A, B are real (even under time reversal), all matrix elements are real
    and χ_AB(t) = χ_BA(t) (Onsager–Casimir). Otherwise the phases of A_0n B_n0 make χ_AB(t) and
    χ_BA(t) differ, although their static limits still agree.
    """
    _same_space(H, A, B)
    psi0 = _ground_ket(H)
    opts = {**_SESOLVE, "store_states": True, "normalize_output": False, **(options or {})}
    psi = qt.sesolve(H, psi0, times, options=opts).states
    phi = qt.sesolve(H, B @ psi0, times, options=opts).states
    a = as_csr(A)
    return np.array([2 * np.imag(np.vdot(p.full().ravel(), a @ f.full().ravel()))
                     for p, f in zip(psi, phi)])


def step_response(H, A, B, times, *, nu=1e-4, ramp=None, options=None):
    """Response of ⟨A(t)⟩ when ``ν B`` is switched on at t = 0, per unit ν (physical protocol).

    The ground state of H is evolved under ``H + ν r(t) B`` with ``qutip.sesolve`` for
    ``ν = ±nu`` and ``(⟨A⟩_{+ν} − ⟨A⟩_{−ν})/(2ν)`` returned (error O(ν²)).

    Parameters
    ----------
    ramp : callable, optional
        Switch-on profile r(t) (default: a step, r = 1). With a step the result is
        ``∫_0^t χ_AB(t') dt'`` (see :func:`kubo_response`).

    Returns
    -------
    ndarray, shape (len(times),)
    """
    _same_space(H, A, B)
    psi0 = _ground_ket(H)
    opts = {**_SESOLVE, **(options or {})}
    out = []
    for sign in (1.0, -1.0):
        if ramp is None:
            drive = H + sign * nu * B
        else:
            drive = qt.QobjEvo([H, [B, lambda t, s=sign: s * nu * ramp(t)]])
        out.append(qt.sesolve(drive, psi0, times, e_ops=[A], options=opts).expect[0])
    return np.real(out[0] - out[1]) / (2 * nu)


# -- costs ----------------------------------------------------------------------------------------
_SQUARES = ("identity", "projector")


class ObservableCost(Cost):
    """Scellier's objective: the expectation ⟨Ĉ(y)⟩ of ``Ĉ = ½ Σ_k (B_k − y_k)²``.

    Parameters
    ----------
    square : {"identity", "projector"}, default "identity"
        What the output observables square to: ``B_k² = 1`` (Pauli strings) or ``B_k² = B_k``
        (projectors). Systems check it before nudging.

    Notes
    -----
    This is *not* the squared error of expectation values used by Wanjura & Marquardt
    (``½ Σ_k (⟨B_k⟩ − y_k)²``, :class:`physlearn.SquaredError`). The expectation of an operator
    is linear in the state: for Pauli outputs ``⟨Ĉ⟩ = ½ Σ_k (1 + y_k² − 2 y_k ⟨B_k⟩)``, minimised
    at ``⟨B_k⟩ = sign y_k``; for projectors ``⟨Ĉ⟩ = ½ Σ_k ((1 − 2y_k)⟨B_k⟩ + y_k²)``. Its nudge
    adds ``β Ĉ`` to the Hamiltonian, which equals ``β Σ_k (∂C/∂⟨B_k⟩) B_k`` up to a multiple of
    the identity — so the quantum-EP identity ``dL/dθ = d⟨∂H/∂θ⟩/dβ`` holds exactly, with
    ``∂C/∂⟨B⟩`` constant (``−y`` resp. ``½ − y``).

    References
    ----------
    .. [1] B. Scellier, "Quantum equilibrium propagation", arXiv:2406.00879 (2024).
    """

    def __init__(self, square="identity"):
        self.square = square

    def _square(self):
        if self.square not in _SQUARES:
            raise ValueError(f"square={self.square!r} is not one of {list(_SQUARES)}")
        return self.square

    def value(self, outputs, y):
        if self._square() == "identity":
            return 0.5 * np.sum(1.0 + y * y - 2.0 * y * outputs, axis=-1)
        return 0.5 * np.sum((1.0 - 2.0 * y) * outputs + y * y, axis=-1)

    def gradient(self, outputs, y):
        shift = 0.0 if self._square() == "identity" else 0.5
        return np.broadcast_to(shift - y, np.shape(outputs)).astype(np.result_type(outputs, y))

    def hessian(self, outputs, y):
        n = np.shape(outputs)[-1]
        return np.zeros(np.shape(outputs)[:-1] + (n, n))

    def operator(self, observables, y):
        """The cost observable ``Ĉ(y) = ½ Σ_k (B_k − y_k)²`` for one sample, as a ``Qobj``."""
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(observables):
            raise ValueError(f"y has {len(y)} entries for {len(observables)} observables")
        eye = qt.qeye_like(observables[0])
        return sum(0.5 * (b - yk * eye) @ (b - yk * eye) for b, yk in zip(observables, y))

    def check_observables(self, observables, names=None):
        """Raise ``ValueError`` unless every ``B_k`` squares as declared by ``square``."""
        square = self._square()
        for k, b in enumerate(observables):
            m = as_csr(b)
            target = sp.identity(m.shape[0], format="csr") if square == "identity" else m
            defect = abs(m @ m - target).max() if m.shape[0] else 0.0
            if defect > 1e-10:
                name = names[k] if names is not None else f"observable {k}"
                raise ValueError(
                    f"ObservableCost(square={square!r}) needs B_k² = "
                    f"{'1' if square == 'identity' else 'B_k'}, but {name} violates it by "
                    f"{defect:.3e}; use Pauli-string outputs, square='projector' for "
                    "projectors, or a cost of expectation values (SquaredError)")


class NegativeMagnitude(Cost):
    """Unsupervised order-parameter cost ``C = −Σ_k |o_k|`` (targets are ignored).

    Notes
    -----
    Minimising it maximises the magnitude of the output observables, e.g. the correlation
    ⟨X₀X₄⟩ in Wanjura & Marquardt's phase exploration. The nudge coefficient is
    ``ε = −sign⟨B⟩``. Not holomorphic: use it with real nudges only.
    """

    def __init__(self):
        pass

    def value(self, outputs, y):
        return -np.sum(np.abs(outputs), axis=-1)

    def gradient(self, outputs, y):
        return -np.sign(outputs).astype(float)

    def hessian(self, outputs, y):
        n = np.shape(outputs)[-1]
        return np.zeros(np.shape(outputs)[:-1] + (n, n))
