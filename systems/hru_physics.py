"""Hamiltonian recurrent units: the physics of one block (linear and nonlinear).

Both units have unit masses, ``T = ½‖p‖²``, and diagonal stiffness ``A`` (a bank of
oscillators with angular frequencies ``√A_i`` at small amplitude).

* **Linear HRU** (Pourcel & Ernoult 2025, Eq. 17; LinOSS-like):
  ``V = ½ Σ_i A_i q_i² − qᵀ B u``, parameters ``A`` (n,), ``B`` (n, n_in).
* **Nonlinear HRU** (Eq. 18; UnICORNN-like):
  ``V = (α/2)‖q‖² + Σ_i log cosh(A_i q_i + (Bu)_i + b_i) / A_i``, so
  ``∇_q V = α q + tanh(A q + B u + b)``; parameters ``A`` (n,), ``B`` (n, n_in), ``b`` (n,),
  ``alpha`` (scalar).

Both are even in ``p`` (time-reversal invariant) and separable, as the leapfrog echo needs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .leapfrog import SeparableHamiltonian
from .leapfrog_kernels import Physics, compile_loops


def log_cosh(z):
    """``log cosh z`` without overflow."""
    a = np.abs(z)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


# -- compiled physics of one oscillator (systems.leapfrog_kernels): P = (A, B), d = B u -------
# V_i = ½ A_i q_i² − q_i d_i
@njit(inline="always")
def _linear_kick(P, i, a, d, w, acc, r, read, couple):
    if read:
        acc[0][r, i] += w * 0.5 * a * a
    return P[0][i] * a - d, -a


@njit(inline="always")
def _linear_vjp(P, i, a, d, v, w, acc, r):
    acc[0][r, i] += w * v * a
    return P[0][i] * v, -v


LINEAR_LOOPS = compile_loops(Physics(_linear_kick, _linear_vjp))


class LinearHRUPhysics(SeparableHamiltonian):
    """``H = ½‖p‖² + ½ Σ A_i q_i² − qᵀBu`` (see module notes)."""

    linear = True
    loops = LINEAR_LOOPS

    @staticmethod
    def packed(params):
        """The parameters as the compiled loops take them: ``(A, B)``."""
        return (np.ascontiguousarray(params["A"], dtype=float),
                np.ascontiguousarray(params["B"], dtype=float))

    def __init__(self, n_dof, n_inputs):
        self.n_dof, self.n_inputs = n_dof, n_inputs

    def param_shapes(self):
        return {"A": (self.n_dof,), "B": (self.n_dof, self.n_inputs)}

    def potential(self, params, q, u):
        return 0.5 * np.sum(params["A"] * q * q, axis=-1) - np.sum(q * (u @ params["B"].T), -1)

    def potential_grad(self, params, q, u):
        return params["A"] * q - u @ params["B"].T

    def potential_param_grad(self, params, q, u):
        return {"A": 0.5 * q * q, "B": -q[..., :, None] * u[..., None, :]}

    def potential_input_grad(self, params, q, u):
        return -q @ params["B"]

    def potential_hvp(self, params, q, u, v):
        return params["A"] * v

    def potential_param_vjp(self, params, q, u, v):
        return {"A": v * q, "B": -v[..., :, None] * u[..., None, :]}

    def potential_input_vjp(self, params, q, u, v):
        return -v @ params["B"]

    def max_frequency(self, params):
        """``√max A``: the stiffest oscillator."""
        return float(np.sqrt(max(np.max(params["A"]), 0.0)))


# -- P = (A, B, b, [alpha]); V_i = (α/2) q_i² + log cosh(z_i)/A_i, z_i = A_i q_i + d_i + b_i ---
@njit(inline="always")
def _nonlinear_kick(P, i, a, d, w, acc, r, read, couple):
    A = P[0][i]
    z = A * a + d + P[2][i]
    t = math.tanh(z)
    c = t / A if read or couple else 0.0
    if read:
        z_abs = abs(z)
        if z_abs < 1.0:           # cosh² = 1/(1 − tanh²): no exp (accurate while t² < 0.6)
            log_cosh = -0.5 * math.log1p(-t * t)
        else:
            log_cosh = z_abs + math.log1p(math.exp(-2.0 * z_abs)) - math.log(2.0)
        acc[0][r, i] += w * (c * a - log_cosh / (A * A))
        acc[2][r, i] += w * c
        acc[3][r] += w * 0.5 * a * a
    return P[3][0] * a + t, c


@njit(inline="always")
def _nonlinear_vjp(P, i, a, d, v, w, acc, r):
    A = P[0][i]
    t = math.tanh(A * a + d + P[2][i])
    s = v * (1.0 - t * t)
    acc[0][r, i] += w * s * a
    acc[2][r, i] += w * s
    acc[3][r] += w * v * a
    return P[3][0] * v + A * s, s


NONLINEAR_LOOPS = compile_loops(Physics(_nonlinear_kick, _nonlinear_vjp))


class NonlinearHRUPhysics(SeparableHamiltonian):
    """``H = ½‖p‖² + (α/2)‖q‖² + Σ log cosh(A q + B u + b)/A`` (see module notes)."""

    loops = NONLINEAR_LOOPS

    @staticmethod
    def packed(params):
        """The parameters as the compiled loops take them: ``(A, B, b, [alpha])``."""
        A, B, b = (np.ascontiguousarray(params[k], dtype=float) for k in ("A", "B", "b"))
        return A, B, b, np.reshape(np.asarray(params["alpha"], dtype=float), 1)

    def __init__(self, n_dof, n_inputs):
        self.n_dof, self.n_inputs = n_dof, n_inputs

    def param_shapes(self):
        return {"A": (self.n_dof,), "B": (self.n_dof, self.n_inputs), "b": (self.n_dof,),
                "alpha": ()}

    @staticmethod
    def _z(params, q, u):
        return params["A"] * q + u @ params["B"].T + params["b"]

    def potential(self, params, q, u):
        z = self._z(params, q, u)
        return (0.5 * params["alpha"] * np.sum(q * q, axis=-1)
                + np.sum(log_cosh(z) / params["A"], axis=-1))

    def potential_grad(self, params, q, u):
        return params["alpha"] * q + np.tanh(self._z(params, q, u))

    def _param_grad(self, params, q, u, z, t):
        A = params["A"]
        w = t / A
        return {"A": -log_cosh(z) / (A * A) + w * q, "B": w[..., :, None] * u[..., None, :],
                "b": w, "alpha": 0.5 * np.sum(q * q, axis=-1)}

    def potential_param_grad(self, params, q, u):
        z = self._z(params, q, u)
        return self._param_grad(params, q, u, z, np.tanh(z))

    def potential_input_grad(self, params, q, u):
        return (np.tanh(self._z(params, q, u)) / params["A"]) @ params["B"]

    def kick_terms(self, params, q, u, want_params=True, want_inputs=False):
        z = self._z(params, q, u)
        t = np.tanh(z)
        force = params["alpha"] * q + t
        dtheta = self._param_grad(params, q, u, z, t) if want_params else None
        du = (t / params["A"]) @ params["B"] if want_inputs else None
        return force, dtheta, du

    def potential_hvp(self, params, q, u, v):
        s2 = 1.0 - np.tanh(self._z(params, q, u)) ** 2
        return params["alpha"] * v + s2 * params["A"] * v

    def potential_param_vjp(self, params, q, u, v):
        w = v * (1.0 - np.tanh(self._z(params, q, u)) ** 2)
        return {"A": w * q, "B": w[..., :, None] * u[..., None, :], "b": w,
                "alpha": np.sum(v * q, axis=-1)}

    def potential_input_vjp(self, params, q, u, v):
        w = v * (1.0 - np.tanh(self._z(params, q, u)) ** 2)
        return w @ params["B"]

    def max_frequency(self, params):
        """``√max(α + A)``: the curvature ``α + A_i sech²(z_i)`` is largest in the linear regime
        ``z = 0`` (for ``A > 0``)."""
        return float(np.sqrt(max(np.max(params["alpha"] + np.maximum(params["A"], 0.0)), 0.0)))


HRU_KINDS = {"linear": LinearHRUPhysics, "nonlinear": NonlinearHRUPhysics}
