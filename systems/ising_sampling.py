"""Monte Carlo solver for :class:`~physlearn.systems.ising.IsingModel` (``solver="monte-carlo"``).

Single-spin-flip Markov chains (Metropolis or heat-bath / Gibbs), systematic sweeps, run as
``chains`` independent chains per sample and vectorised over batch × chains. Thermal averages
are time averages over ``sweeps`` measured sweeps after ``burn_in`` discarded ones; the
standard error of each average is the spread of the per-chain averages over √chains, which
accounts for autocorrelation without estimating it.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .ising import IsingState, register_solver

__all__ = ["MonteCarloSolver", "UPDATES", "ChainsDisagreeWarning", "split_rhat"]

UPDATES = ("metropolis", "heat-bath")
RHAT_THRESHOLD = 1.1  # Gelman et al., Bayesian Data Analysis (3rd ed.), §11.4


class ChainsDisagreeWarning(UserWarning):
    """Independent Monte Carlo chains disagree (split-R̂ above the threshold): they sit in
    different basins or have not mixed, so the thermal averages are unreliable."""


def split_rhat(first, last, n):
    """Split-R̂ of ±1 spins from the per-chain means of the two halves of each chain.

    Parameters
    ----------
    first, last : ndarray, shape (batch, chains, n_spins)
        Mean spin over the first and the last ``n`` measured sweeps of every chain.
    n : int
        Sweeps per half (≥ 2).

    Returns
    -------
    ndarray, shape (batch, n_spins)
        ``R̂ = √(((n−1)/n W + B/n) / W)`` over the ``2 × chains`` half-chains, with the
        within-half variance ``W`` of a ±1 spin ``n/(n−1) (1 − m²)`` (its mean square is 1).
        1 where every half-chain holds the same constant spin, ∞ where they are frozen apart.
    """
    means = np.concatenate([first, last], axis=1)
    within = np.mean(np.clip(1.0 - means**2, 0.0, None), axis=1) * n / (n - 1)
    between = n * np.var(means, axis=1, ddof=1)
    pooled = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = np.sqrt(pooled / within)
    rhat = np.where(within > 0, rhat, np.where(between > 1e-12, np.inf, 1.0))
    return rhat


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
        half = model.sweeps // 2  # split-R̂: first and last `half` measured sweeps
        first = upto = None
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
                measured = sweep - model.burn_in + 1
                if measured == half:
                    first = sum_s.copy()
                if measured == model.sweeps - half:
                    upto = sum_s.copy()
        chain_s = sum_s / model.sweeps                    # (B, C, n) per-chain averages
        if half >= 2:
            MonteCarloSolver._check_chains(model, first / half, (sum_s - upto) / half, half,
                                           free)
        chain_pair = sum_pair / model.sweeps
        stderr = {"s": chain_s.std(axis=1, ddof=1) / np.sqrt(C),
                  "correlations": chain_pair.std(axis=1, ddof=1) / np.sqrt(C)}
        return IsingState(s=chain_s.mean(axis=1), x=x, correlations=chain_pair.mean(axis=1),
                          field=field, stderr=stderr, temperature=T)

    @staticmethod
    def _check_chains(model, first, last, half, free):
        """Warn (:class:`ChainsDisagreeWarning`) when split-R̂ of a free spin exceeds 1.1."""
        if not free:
            return
        rhat = split_rhat(first[:, :, free], last[:, :, free], half)
        worst = np.unravel_index(int(np.argmax(rhat)), rhat.shape)
        value = rhat[worst]
        if not value > RHAT_THRESHOLD:
            return
        b, i = int(worst[0]), free[int(worst[1])]
        means = (first[b, :, i] + last[b, :, i]) / 2
        bad = int(np.sum(np.any(rhat > RHAT_THRESHOLD, axis=1)))
        warnings.warn(
            f"Monte Carlo chains disagree: split-R̂ = {value:.3g} > {RHAT_THRESHOLD} for spin "
            f"{i} of sample {b} ({bad} of {rhat.shape[0]} samples affected), whose "
            f"{model.chains} chains average between {means.min():.3g} and {means.max():.3g} "
            f"after {model.burn_in} + {model.sweeps} sweeps at temperature={model.temperature}. "
            "The chains sit in different basins or have not mixed, so the thermal averages "
            "and their standard errors are unreliable; raise the temperature, run more "
            "sweeps or compare with solver='exact' on a small model",
            ChainsDisagreeWarning, stacklevel=3)


register_solver("monte-carlo", MonteCarloSolver)
