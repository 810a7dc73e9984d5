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

import numpy as np

from .leapfrog import SeparableHamiltonian


def log_cosh(z):
    """``log cosh z`` without overflow."""
    a = np.abs(z)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


class LinearHRUPhysics(SeparableHamiltonian):
    """``H = ½‖p‖² + ½ Σ A_i q_i² − qᵀBu`` (see module notes)."""

    linear = True

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


class NonlinearHRUPhysics(SeparableHamiltonian):
    """``H = ½‖p‖² + (α/2)‖q‖² + Σ log cosh(A q + B u + b)/A`` (see module notes)."""

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
