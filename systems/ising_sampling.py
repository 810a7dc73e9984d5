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
PAIR_BUDGET = 2**24   # bytes for the buffered sweeps of the pair sums, and for each product
MAX_CHUNK = 64        # measured sweeps buffered per round of products
MAX_BLOCK = 64        # spins per block of the pair products
DENSE_PER_EDGE = 64   # products only while they compute at most this many entries per edge


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

    *Update order.* A sweep visits the classes of :meth:`IsingModel.update_classes
    <physlearn.systems.ising.IsingModel.update_classes>` (a proper colouring of the coupling
    graph, in the order of their lowest spin) one after the other and decides the flips of all
    spins of a class at once. No two spins of a class are coupled, so this is exactly the
    sequential single-spin-flip sweep through the spins in class order, a systematic scan that
    leaves the Boltzmann distribution invariant; it equals the sweep in index order when every
    coupling joins a lower-numbered class to a higher one (e.g. a layered network without
    lateral couplings, or a fully coupled one).

    *Random numbers.* The initial spins are drawn as one ``(batch, chains, n_spins)`` block of
    ±1, then each sweep draws one ``(n_spins, batch, chains)`` block of uniforms; spin ``i`` of
    a chain uses entry ``i`` of its chain's column, whatever the update order. They come from
    the model's ``seed``: an int gives every run the same stream (common random numbers — the
    free and nudged runs of an EP estimate then differ only where the nudge changes an
    acceptance decision, which keeps the variance of the contrast ``(g(β₂) − g(β₁))/(β₂ − β₁)``
    from growing like 1/β²), a Generator is consumed.

    *Measurements.* ``σ`` and ``σ_iσ_j`` on the edges are summed over the measured sweeps of
    every chain; the pair sums come from batched matrix products over buffered sweeps
    (``_PairSums``).

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
        B, n, C = len(x), model.n_spins, model.chains
        field = np.real(field)
        start = rng.choice([-1.0, 1.0], size=(B, C, n))
        chains = _Chains(model, start.reshape(B * C, n).T.copy(), field, table, clamp)
        pairs = _PairSums(B * C, n, model._edges, model.sweeps)
        sum_s = np.zeros((n, B * C))
        half = model.sweeps // 2  # split-R̂: first and last `half` measured sweeps
        first = upto = None
        for sweep in range(model.burn_in + model.sweeps):
            chains.sweep(rng.random((n, B * C)))
            if sweep < model.burn_in:
                continue
            sum_s += chains.sigma
            pairs.add(chains.sigma)
            measured = sweep - model.burn_in + 1
            if measured == half:
                first = sum_s.copy()
            if measured == model.sweeps - half:
                upto = sum_s.copy()
        chain_s = _per_chain(sum_s, C) / model.sweeps           # (B, C, n) per-chain averages
        if half >= 2:
            MonteCarloSolver._check_chains(model, _per_chain(first, C) / half,
                                           _per_chain(sum_s - upto, C) / half, half, chains.free)
        chain_pair = pairs.totals().reshape(B, C, -1) / model.sweeps
        stderr = {"s": chain_s.std(axis=1, ddof=1) / np.sqrt(C),
                  "correlations": chain_pair.std(axis=1, ddof=1) / np.sqrt(C)}
        return IsingState(s=chain_s.mean(axis=1), x=x, correlations=chain_pair.mean(axis=1),
                          field=field, stderr=stderr, temperature=model.temperature)

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


class _Chains:
    """The spins of every chain and the sweep that updates them class by class.

    The spins are stored spins × chains: a class is a block of rows, updated by one matrix
    product and a few elementwise steps, and each sweep's uniforms arrive in the same layout.

    Parameters
    ----------
    model : IsingModel
    sigma : ndarray, shape (n_spins, batch · chains)
        Initial spins, updated in place; column ``b · chains + c`` is chain ``c`` of sample
        ``b``.
    field : ndarray, shape (batch, n_spins)
        Total field on every spin.
    table : ndarray, shape (batch, 2**n_output_spins), or None
        The nudge's cost of every output-spin pattern (``objective="expected"``).
    clamp : ndarray, shape (batch, n_output_spins), or None
        Values of clamped output spins, which are then never updated.
    """

    def __init__(self, model, sigma, field, table, clamp):
        C, out_spins = model.chains, model.output_index
        self.sigma, self.T = sigma, model.temperature
        self.heat_bath = model.update == "heat-bath"
        clamped = np.zeros(model.n_spins, dtype=bool)
        if clamp is not None:
            sigma[out_spins] = np.repeat(clamp, C, axis=0).T
            clamped[out_spins] = True
        self.free = np.flatnonzero(~clamped).tolist()
        self.table = self.pattern = None
        if table is not None:
            self.table = np.real(table)
            self.sample = np.arange(sigma.shape[1]) // C    # the table row of every chain
            bits = (sigma[out_spins] < 0).astype(np.int64)
            self.pattern = (1 << np.arange(len(out_spins))) @ bits
        self.steps = self._steps(model, np.repeat(field, C, axis=0).T, clamped)

    def _steps(self, model, field, clamped):
        """Per class of free spins: its spins, the range of spins coupled to them, the
        couplings from that range, the field on them (spins, chains) and :meth:`_output_in`."""
        Jm = model.coupling_matrix()
        bit = {int(s): 1 << k for k, s in enumerate(model.output_index)}
        steps = []
        for spins in model.update_classes():
            spins = spins[~clamped[spins]]
            if not len(spins):
                continue
            # φ needs only the spins coupled to the class: the range they span (in a two-layer
            # network, the other layer) is a view of the spins, cheaper than a gather
            coupled = np.flatnonzero(np.any(Jm[spins] != 0, axis=0))
            span = slice(int(coupled[0]), int(coupled[-1]) + 1) if len(coupled) else slice(0)
            steps.append((_index(spins), span, Jm[spins, span], field[spins],
                          self._output_in(spins, bit)))
        return steps

    def _output_in(self, spins, bit):
        """(row, pattern bit) of the class's output spin when the cost table needs it.

        Under a table the classes hold at most one output spin (:meth:`update_classes`), so
        the table difference of one flip per chain is the whole ΔC of the class."""
        if self.table is None:
            return None
        return next(((q, bit[s]) for q, s in enumerate(spins.tolist()) if s in bit), None)

    def sweep(self, u):
        """One sweep; ``u`` (n_spins, chains) holds the uniforms, row ``i`` for spin ``i``."""
        for spins, span, J, h, out in self.steps:
            s = self.sigma[spins]
            dE = 2.0 * s * (J @ self.sigma[span] + h)
            if out is not None:
                q, bit = out
                flipped = self.pattern ^ bit
                dE[q] = (dE[q] + self.table[self.sample, flipped]
                         - self.table[self.sample, self.pattern])
            accept = self._accept(u[spins], dE)
            self.sigma[spins] = s * (1.0 - 2.0 * accept)   # a product: no branch per spin
            if out is not None:
                self.pattern = np.where(accept[q], flipped, self.pattern)

    def _accept(self, u, dE):
        """The heat-bath or Metropolis decision for every flip."""
        with np.errstate(over="ignore"):     # e^{ΔE/T} = inf: refused, as it should be
            if self.heat_bath:
                return u * (1.0 + np.exp(dE / self.T)) < 1.0
            return u < np.exp(-dE / self.T)


class _PairSums:
    """Per-chain sums of ``σ_iσ_j`` on the edges over the measured sweeps.

    Gathering both ends of every edge after every sweep costs ~10 ns per edge and chain (10 ms
    a sweep for 4800 edges × 256 chains). Instead the sweeps are buffered, up to
    :data:`MAX_CHUNK` at a time, and per chunk every pair of spin blocks that holds edges is
    multiplied over the buffered sweeps (``S_a S_bᵀ``, a batched matrix product over the
    chains); the edge entries are read off the product. The buffer is float32: its entries are
    ±1 and a chunk's sums small integers, so the sums stay exact. When the blocks would compute
    more than :data:`DENSE_PER_EDGE` entries per edge (a large sparse graph) the per-sweep
    gather is kept.

    Parameters
    ----------
    rows, n : int
        Chains (of all samples) and spins.
    edges : ndarray, shape (n_edges, 2)
    sweeps : int
        Measured sweeps (no chunk is longer).
    budget : int
        Bytes for the buffer and for each block product (a product runs over as many chains
        at a time as fit).
    """

    def __init__(self, rows, n, edges, sweeps, budget=PAIR_BUDGET):
        self._order, plan = _block_plan(n, edges)
        self._sums = np.zeros((rows, len(edges)))             # edges in block order
        dense = sum(_size(a) * _size(b) for a, b, _, _ in plan)
        self._ends = None
        if not 0 < dense <= DENSE_PER_EDGE * len(edges):      # sparse (or no edges)
            self._ends = edges[self._order].T
            return
        chunk = min(MAX_CHUNK, sweeps, max(1, budget // (4 * rows * n)))
        self._buffer = np.empty((chunk, rows, n), dtype=np.float32)
        self._filled = 0
        # each product (chains, |a|, |b|) float32 within the budget: chains in groups
        self._plan = [(a, b, pair, flat, max(1, budget // (4 * _size(a) * _size(b))))
                      for a, b, pair, flat in plan]

    def add(self, sigma):
        """Count the spins ``sigma`` (n, rows) of one measured sweep."""
        if self._ends is not None:
            i, j = self._ends
            self._sums += (sigma[i] * sigma[j]).T
            return
        self._buffer[self._filled] = sigma.T
        self._filled += 1
        if self._filled == len(self._buffer):
            self._flush()

    def _flush(self):
        """Add the buffered sweeps' pair sums, one product per block pair (and chain group)."""
        S = self._buffer[:self._filled].transpose(1, 2, 0)     # (rows, n, sweeps)
        for a, b, pair, flat, group in self._plan:
            for start in range(0, len(S), group):
                rows = slice(start, start + group)
                block = S[rows, a] @ S[rows, b].transpose(0, 2, 1)
                block = block.reshape(len(block), -1)
                self._sums[rows, pair] += np.take(block, flat, axis=1)
        self._filled = 0

    def totals(self):
        """The sums, shape (rows, n_edges), edges in the model's order."""
        if self._ends is None and self._filled:
            self._flush()
        if np.array_equal(self._order, np.arange(len(self._order))):
            return self._sums
        out = np.empty_like(self._sums)
        out[:, self._order] = self._sums
        return out


def _block_plan(n, edges):
    """The edges grouped by the blocks (≤ :data:`MAX_BLOCK` consecutive spins) of their ends.

    Returns
    -------
    order : ndarray of int
        Permutation of the edges that sorts them by block pair, then by spins.
    plan : list of (slice, slice, slice, ndarray)
        Per block pair holding edges: the spins of both blocks, the pair's edges as a range of
        the sorted order, and their flat positions in the product ``S_a S_bᵀ``.
    """
    size = -(-n // -(-n // MAX_BLOCK))           # equal blocks of at most MAX_BLOCK spins
    i, j = edges.T
    block_i, block_j = i // size, j // size
    order = np.lexsort((j, i, block_j, block_i))
    key = (block_i * n + block_j)[order]
    bounds = [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), len(order)]
    plan = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi == lo:                              # no edges at all
            continue
        e = order[lo:hi]
        a, b = (slice(k * size, min(n, (k + 1) * size)) for k in (block_i[e[0]], block_j[e[0]]))
        flat = (i[e] - a.start) * _size(b) + (j[e] - b.start)
        plan.append((a, b, slice(lo, hi), flat))
    return order, plan


def _size(block):
    """Spins in a block (a slice)."""
    return block.stop - block.start


def _per_chain(a, chains):
    """Spins × chains (n, batch · chains) → (batch, chains, n)."""
    return a.T.reshape(-1, chains, a.shape[0])


def _index(spins):
    """A slice when the spins are consecutive (a view instead of a gather), else the array."""
    if len(spins) and spins[-1] - spins[0] == len(spins) - 1:
        return slice(int(spins[0]), int(spins[-1]) + 1)
    return spins


register_solver("monte-carlo", MonteCarloSolver)
