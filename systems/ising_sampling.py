"""Monte Carlo solver for :class:`~physlearn.systems.ising.IsingModel` (``solver="monte-carlo"``).

Single-spin-flip Markov chains (Metropolis or heat-bath / Gibbs), systematic sweeps, run as
``chains`` independent chains per sample and vectorised over batch × chains. Thermal averages
are time averages over ``sweeps`` measured sweeps after ``burn_in`` discarded ones; the
standard error of each average is the spread of the per-chain averages over √chains, which
accounts for autocorrelation without estimating it.
"""

from __future__ import annotations

import numbers

import numpy as np

from .ising import IsingState, register_solver

__all__ = ["MonteCarloSolver", "UPDATES"]

UPDATES = ("metropolis", "heat-bath")


class MonteCarloSolver:
    """Single-spin-flip sampling of ``e^{−(E + βC)/T}``.

    Notes
    -----
    Flipping spin ``i`` changes the energy by ``ΔE = 2σ_i φ_i`` with the local field
    ``φ_i = Σ_j J_ij σ_j + h_i + Σ_l x_l W_li`` (plus the linearised nudge), and — under the
    per-configuration nudge of ``objective="expected"`` — by ``β ΔC`` read from a table of the
    cost over output-spin patterns. Metropolis accepts with ``min(1, e^{−ΔE/T})``, heat-bath with
    ``1/(1 + e^{ΔE/T})``; both satisfy detailed balance. Clamped output spins are not updated.

    The random numbers come from the model's ``seed``: an int gives every run the same stream
    (common random numbers — the free and nudged runs of an EP estimate then differ only
    where the nudge changes an acceptance decision, which keeps the variance of the contrast
    ``(g(β₂) − g(β₁))/(β₂ − β₁)`` from growing like 1/β²), a Generator is consumed.

    References
    ----------
    .. [1] N. Metropolis et al., J. Chem. Phys. 21, 1087 (1953).
    .. [2] M. E. J. Newman, G. T. Barkema, *Monte Carlo Methods in Statistical Physics*,
       Oxford University Press (1999), ch. 3.
    """

    kind = "thermal"
    capabilities = frozenset({"soft_nudge"})

    @staticmethod
    def check_settings(model):
        for name, low in (("sweeps", 1), ("burn_in", 0), ("chains", 2)):
            value = getattr(model, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low}")
        if model.update not in UPDATES:
            raise ValueError(f"update={model.update!r} is not one of {list(UPDATES)}")

    @staticmethod
    def run(model, x, field, table, clamp):
        rng = model._rng(1)
        T = model.temperature
        B, n, C = len(x), model.n_spins, model.chains
        Jm = model.coupling_matrix()
        field = np.real(field)
        sigma = rng.choice([-1.0, 1.0], size=(B, C, n))
        out_spins = model.output_index
        clamped = set()
        if clamp is not None:
            sigma[:, :, out_spins] = clamp[:, None, :]
            clamped = set(out_spins.tolist())
        position = {int(s): k for k, s in enumerate(out_spins)}
        pattern = None
        if table is not None:
            table = np.real(table)
            bits = (sigma[:, :, out_spins] < 0).astype(np.int64)
            pattern = bits @ (1 << np.arange(len(out_spins)))
        rows = np.arange(B)[:, None]
        free = [i for i in range(n) if i not in clamped]
        i_e, j_e = model._edges.T
        sum_s = np.zeros((B, C, n))
        sum_pair = np.zeros((B, C, len(i_e)))
        heat_bath = model.update == "heat-bath"
        for sweep in range(model.burn_in + model.sweeps):
            u = rng.random((n, B, C))
            for i in free:
                phi = sigma @ Jm[:, i] + field[:, None, i]
                dE = 2.0 * sigma[:, :, i] * phi
                if pattern is not None and i in position:
                    flipped = pattern ^ (1 << position[i])
                    dE = dE + table[rows, flipped] - table[rows, pattern]
                with np.errstate(over="ignore"):
                    if heat_bath:
                        accept = u[i] * (1.0 + np.exp(dE / T)) < 1.0
                    else:
                        accept = u[i] < np.exp(-dE / T)
                sigma[:, :, i] = np.where(accept, -sigma[:, :, i], sigma[:, :, i])
                if pattern is not None and i in position:
                    pattern = np.where(accept, flipped, pattern)
            if sweep >= model.burn_in:
                sum_s += sigma
                sum_pair += sigma[:, :, i_e] * sigma[:, :, j_e]
        chain_s = sum_s / model.sweeps                    # (B, C, n) per-chain averages
        chain_pair = sum_pair / model.sweeps
        stderr = {"s": chain_s.std(axis=1, ddof=1) / np.sqrt(C),
                  "correlations": chain_pair.std(axis=1, ddof=1) / np.sqrt(C)}
        return IsingState(s=chain_s.mean(axis=1), x=x, correlations=chain_pair.mean(axis=1),
                          field=field, stderr=stderr, temperature=T)


register_solver("monte-carlo", MonteCarloSolver)
