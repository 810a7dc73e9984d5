"""Equilibrium systems built from a symbolic energy (sympy).

Physics
-------
A user writes the energy ``E(θ, x, s)`` of a physical system as one sympy expression of its
state symbols ``s`` (the free degrees of freedom), input symbols ``x`` (held by the
environment) and parameter symbols ``θ`` (grouped into named parameters). physlearn
differentiates it once, symbolically — the gradient ``∂E/∂s``, the Hessian ``∂²E/∂s²`` (with
its sparsity pattern: a sum over the edges of a graph gives a sparse Hessian), the local
measurements ``∂E/∂θ`` and the mixed derivatives ``∂²E/∂θ∂s`` — and lambdifies each into a
numpy function evaluated over a batch of samples by broadcasting. The equilibrium is the
minimum of ``E + βC(o(s), y)`` over ``s``, with outputs ``o`` a subset of the state symbols,
found by damped Newton.

Dimensionless units: every symbol is a pure number in the units the energy is written in
(for the co-content of a resistor network: voltages in units of the input scale,
conductances in units of a reference conductance, energies in their product).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla
import sympy as sp

from physlearn.nudges import Clamp, Nudge
from physlearn.system import Bound, ConvergenceError, EquilibriumSystem, State
from physlearn.systems.solvers import newton_direction, relax

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["SymbolicSystem", "resistor_cocontent", "symbolic_resistor", "spring_network",
           "SPARSE_ABOVE"]

#: n_state above which the Hessian is assembled as a scipy.sparse matrix (sparse="auto")
SPARSE_ABOVE = 50
_CACHE = {}     # (energy, state, inputs, params) → derivatives and lambdified functions


def _as_symbols(values, what):
    """A tuple of sympy Symbols from symbols or names, or a ``ValueError`` naming ``what``."""
    if isinstance(values, (sp.Symbol, str)):
        values = [values]
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{what} must be a list of sympy symbols, got "
                         f"{type(values).__name__}") from None
    out = []
    for v in values:
        if isinstance(v, str):
            v = sp.Symbol(v)
        if not isinstance(v, sp.Symbol):
            raise ValueError(f"{what} entry {v!r} ({type(v).__name__}) is not a sympy Symbol")
        out.append(v)
    if len(set(out)) != len(out):
        twice = sorted({str(v) for v in out if out.count(v) > 1})
        raise ValueError(f"{what} lists symbol(s) {twice} twice")
    return tuple(out)


class _Compiled:
    """A list of expressions lambdified over ``(s, x, θ)``, evaluated to ``(batch, k)``."""

    def __init__(self, args, exprs):
        self.k = len(exprs)
        try:
            self.f = sp.lambdify(args, list(exprs), modules="numpy", cse=True) if exprs \
                else None
        except Exception as err:  # noqa: BLE001 - sympy raises printer errors of many kinds
            raise ValueError(f"a derivative of the energy has no numpy form ({type(err).__name__}"
                             f": {err}); write the energy with functions numpy evaluates "
                             "(a smooth energy: no Abs or sign whose derivatives are "
                             "DiracDelta)") from None

    def __call__(self, s, x, theta):
        batch = s.shape[0]
        out = np.empty((batch, self.k), dtype=np.result_type(s, x, theta))
        if self.k:
            with np.errstate(all="ignore"):
                values = self.f(s.T, x.T, theta)
            for i, v in enumerate(values):
                out[:, i] = v
        return out


class SymbolicSystem(EquilibriumSystem):
    """An equilibrium system whose energy is a sympy expression.

    Parameters
    ----------
    energy : sympy expression or str
        ``E(θ, x, s)``: a real scalar expression of the declared symbols only, in the user's
        energy units (the units of every other quantity follow from the symbols).
    state : list of sympy.Symbol
        The free degrees of freedom ``s`` (relaxed to the minimum of ``E + βC``).
    params : dict of str → list of sympy.Symbol
        The trainable parameters: name → the symbols of its entries (a parameter of shape
        ``(len(symbols),)``).
    inputs : list of sympy.Symbol
        One symbol per input feature (the columns of ``x``).
    outputs : list of sympy.Symbol
        The observables the cost reads: state symbols.
    init : dict of str → array_like, optional
        Initial parameter values; default a draw from ``seed``: uniform in ``[0.5, 1.5]`` for
        the ``nonnegative`` parameters, standard normal for the others.
    nonnegative : sequence of str, default ()
        Parameters held ``≥ 0`` (``≥ floor``): an assignment below is refused naming the
        parameter, its symbol, the value and the bound; a learning step clips onto it.
    floor : float, default 0.0
        Device floor ``≥ 0`` of the ``nonnegative`` parameters, in their units (a minimum
        conductance keeps the Hessian non-singular); 0 for none.
    seed : int, default 0
        Seed of the default initial parameters.
    initial_state : array_like, optional
        Where a relaxation without a warm start begins (shape ``(n_state,)``); default zeros.
    sparse : {"auto", True, False}, default "auto"
        Assemble the Hessian as a block-diagonal ``scipy.sparse`` matrix over the batch (from
        the symbolic sparsity pattern) instead of dense per-sample blocks; ``"auto"``: sparse
        when ``n_state > 50``.
    tol : float, default 1e-10
        Newton stops once ``‖∂(E + βC)/∂s‖∞ < tol`` (energy per unit of state; then one more
        full step to round-off).
    max_iter : int, default 100
        Newton steps before :class:`~physlearn.ConvergenceError` is raised.

    Raises
    ------
    ValueError
        If ``energy`` is not a real scalar sympy expression; ``state``, ``inputs`` or
        ``params`` is empty or malformed; a symbol is declared twice, undeclared, or a state
        symbol does not appear in the energy; an output is not a state symbol; ``tol`` is
        not a finite number > 0, ``floor`` is negative, ``max_iter`` is not a positive
        integer or ``sparse`` is not "auto", True or False; or the initial parameters are
        outside their bounds.

    Notes
    -----
    **Energy.** The free state minimises the given energy, the nudged state the total energy,

    .. math::

        s^0 = \\arg\\min_s E(θ, x, s), \\qquad s^β = \\arg\\min_s E(θ, x, s) + β\\,C(o(s), y),

    and every derivative a rule or a reference needs (:math:`∂E/∂s`, :math:`∂^2E/∂s^2`,
    :math:`∂E/∂θ`, :math:`∂^2E/∂θ∂s`) is differentiated symbolically by sympy and lambdified
    to numpy.

    **Relaxation.** Damped (modified) Newton on the lambdified gradient with the lambdified
    Hessian (:func:`~physlearn.systems.solvers.relax`): a Hessian that is not positive
    definite is shifted until it is, and only steps that lower ``E + βC`` are accepted there,
    so the relaxation converges to minima; a stationary point that is not a minimum, or no
    convergence within ``max_iter`` steps (an energy without a minimum), raises
    :class:`~physlearn.ConvergenceError` naming the residual. Warm starts (``start``) are
    used by the nudged phases of every rule.

    **Nudges.** A soft nudge minimises ``E + βC(o, y)`` (real β): its Hessian adds
    ``β ∂²C/∂o²`` on the output block. A clamp holds the output symbols at the targets and
    relaxes the others (the reaction force on the outputs is not part of the residual).
    When the energy is holomorphic (no ``Abs``, ``re``, ``im``, ``conjugate``, ``sign``,
    ``Max``, ``Min``, ``Piecewise``, …) the system also offers ``"complex"``: a complex β
    continues the free minimum analytically by Newton on the residual (holomorphic EP);
    otherwise complex β is refused.

    **Exact reference.** :meth:`exact_gradient` is implicit differentiation at the free
    equilibrium, ``dL/dθ = −(H⁻¹ Pᵀ∂C/∂o)·∂²E/∂s∂θ``, with the symbolic Hessian ``H`` and
    mixed derivatives. :meth:`derivation` proves the EP identity for this very energy.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).

    Examples
    --------
    >>> import sympy as sp
    >>> from physlearn.systems import SymbolicSystem
    >>> s, x, k = sp.symbols("s x k")
    >>> system = SymbolicSystem(k * (s - x) ** 2 / 2 + s ** 4 / 4, state=[s],
    ...                         params={"k": [k]}, inputs=[x], outputs=[s],
    ...                         nonnegative=["k"])
    >>> system.predict([[0.5]]).shape
    (1, 1)
    """

    capabilities = frozenset({"soft_nudge", "clamp"})
    _param_aliases = {"energy": "energy_expr", "state": "state_symbols",
                      "params": "param_symbols", "inputs": "input_symbols",
                      "outputs": "output_symbols"}

    def __init__(self, energy: sp.Expr | str, *, state: Sequence[sp.Symbol],
                 params: Mapping[str, Sequence[sp.Symbol]], inputs: Sequence[sp.Symbol],
                 outputs: Sequence[sp.Symbol], init: Mapping[str, ArrayLike] | None = None,
                 nonnegative: Sequence[str] = (), floor: float = 0.0, seed: int = 0,
                 initial_state: ArrayLike | None = None, sparse: str | bool = "auto",
                 tol: float = 1e-10, max_iter: int = 100):
        self.energy_expr = energy
        self.state_symbols = state
        self.param_symbols = params
        self.input_symbols = inputs
        self.output_symbols = outputs
        self.init = init
        self.nonnegative = nonnegative
        self.floor = floor
        self.seed = seed
        self.initial_state = initial_state
        self.sparse = sparse
        self.tol = tol
        self.max_iter = max_iter
        self._check_hyperparameters()
        self._parse()
        self._differentiate()
        self.params = self._initial_params()

    # -- construction ---------------------------------------------------------------------------
    def _check_hyperparameters(self):
        for name in ("tol", "floor"):
            v = getattr(self, name)
            ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.number))
                  and np.isfinite(v) and (v > 0 if name == "tol" else v >= 0))
            if not ok:
                raise ValueError(f"{name}={v!r} must be a finite number "
                                 f"{'> 0' if name == 'tol' else '>= 0'}")
        m = self.max_iter
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"max_iter={m!r} must be a positive integer")
        if self.sparse not in ("auto", True, False):
            raise ValueError(f"sparse={self.sparse!r} must be 'auto', True or False")

    def _parse(self):
        try:
            E = sp.sympify(self.energy_expr)
        except (sp.SympifyError, TypeError) as err:
            raise ValueError(f"energy={self.energy_expr!r} is not a sympy expression: "
                             f"{err}") from None
        if not isinstance(E, sp.Expr) or isinstance(E, (sp.MatrixBase, sp.MatrixExpr)):
            raise ValueError(f"energy must be a scalar sympy expression, got "
                             f"{type(E).__name__}")
        self.s_sym = _as_symbols(self.state_symbols, "state")
        self.x_sym = _as_symbols(self.input_symbols, "inputs")
        if not self.s_sym:
            raise ValueError("state is empty: give at least one state symbol")
        if not self.x_sym:
            raise ValueError("inputs is empty: give at least one input symbol (a column of x)")
        if not isinstance(self.param_symbols, dict) or not self.param_symbols:
            raise ValueError("params must be a non-empty dict: parameter name → list of "
                             f"sympy symbols, got {self.param_symbols!r}")
        self.theta_names = tuple(self.param_symbols)
        blocks = {}
        for name in self.theta_names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"params names must be non-empty strings, got {name!r}")
            blocks[name] = _as_symbols(self.param_symbols[name], f"params[{name!r}]")
            if not blocks[name]:
                raise ValueError(f"params[{name!r}] has no symbols")
        self.theta_blocks = blocks
        self.t_sym = tuple(s for name in self.theta_names for s in blocks[name])
        roles = [("state", self.s_sym), ("inputs", self.x_sym), ("params", self.t_sym)]
        seen = {}
        for role, syms in roles:
            for sym in syms:
                if sym in seen:
                    raise ValueError(f"symbol {sym} is declared twice: in {seen[sym]} and in "
                                     f"{role}; every symbol has one role")
                seen[sym] = role
        undeclared = sorted(str(v) for v in E.free_symbols - set(seen))
        if undeclared:
            raise ValueError(f"energy contains symbol(s) {undeclared} that are not declared "
                             "as state, inputs or params; declare each (or substitute a "
                             "number for it)")
        missing = [str(v) for v in self.s_sym if v not in E.free_symbols]
        if missing:
            raise ValueError(f"state symbol(s) {missing} do not appear in the energy: their "
                             "equilibrium is undefined (a zero mode of the Hessian)")
        if E.has(sp.I):
            raise ValueError("energy is complex (contains I): it must be real")
        outs = _as_symbols(self.output_symbols, "outputs")
        if not outs:
            raise ValueError("outputs is empty: give at least one state symbol as an output")
        index = {v: i for i, v in enumerate(self.s_sym)}
        for o in outs:
            if o not in index:
                raise ValueError(f"outputs entry {o} is not a state symbol: outputs must be "
                                 f"among state = {[str(v) for v in self.s_sym]}")
        self.o_sym = outs
        self.output_index = np.array([index[o] for o in outs], dtype=int)
        nonneg = [self.nonnegative] if isinstance(self.nonnegative, str) else \
            list(self.nonnegative)
        unknown = [n for n in nonneg if n not in blocks]
        if unknown:
            raise ValueError(f"nonnegative names {unknown} that are not parameters; "
                             f"parameters: {list(self.theta_names)}")
        self._nonneg = tuple(nonneg)
        self.E = E
        self.n_state = len(self.s_sym)
        self.n_features = len(self.x_sym)
        self.n_outputs = len(outs)
        if self.initial_state is None:
            self._s_start = np.zeros(self.n_state)
        else:
            start = np.asarray(self.initial_state, dtype=float)
            if start.shape != (self.n_state,) or not np.all(np.isfinite(start)):
                raise ValueError(f"initial_state has shape {start.shape}, expected "
                                 f"({self.n_state},) finite values")
            self._s_start = start
        self._sparse = self.n_state > SPARSE_ABOVE if self.sparse == "auto" else self.sparse
        holomorphic = not E.has(sp.Abs, sp.re, sp.im, sp.conjugate, sp.arg, sp.sign,
                                sp.Heaviside, sp.Max, sp.Min, sp.Piecewise, sp.floor,
                                sp.ceiling)
        self.capabilities = type(self).capabilities | ({"complex"} if holomorphic else set())

    def _differentiate(self):
        """Symbolic derivatives, their sparsity patterns and lambdified evaluators.

        Cached per ``(energy, state, inputs, params)``: a system rebuilt from its
        ``get_params`` (a config, a clone) does not differentiate again.
        """
        key = (self.E, self.s_sym, self.x_sym, self.t_sym)
        cached = _CACHE.get(key)
        if cached is None:
            cached = self._derivatives()
            while len(_CACHE) >= 16:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = cached
        self.__dict__.update(cached)
        self._slices, start = {}, 0
        for name in self.theta_names:
            n = len(self.theta_blocks[name])
            self._slices[name] = slice(start, start + n)
            start += n

    def _derivatives(self):
        E, s, t = self.E, self.s_sym, self.t_sym
        out = {}
        pos = {v: i for i, v in enumerate(s)}
        terms = sp.Add.make_args(E)           # a sum over edges: differentiate term by term
        where = {}
        for k, term in enumerate(terms):
            for v in term.free_symbols:
                where.setdefault(v, []).append(k)

        def partial(v):
            return sp.Add(*[sp.diff(terms[k], v) for k in where.get(v, ())])

        grad = [partial(v) for v in s]
        rows, cols, hess = [], [], []
        for i, g in enumerate(grad):          # the pattern follows each gradient's symbols
            for v in sorted(g.free_symbols & set(s), key=lambda v: pos[v]):
                j = pos[v]
                if j < i:
                    continue
                h = sp.diff(g, v)
                if h != 0:
                    rows.append(i)
                    cols.append(j)
                    hess.append(h)
        dtheta = [partial(v) for v in t]
        m_theta, m_state, mixed = [], [], []
        for j, d in enumerate(dtheta):
            for v in sorted(d.free_symbols & set(s), key=lambda v: pos[v]):
                h = sp.diff(d, v)
                if h != 0:
                    m_theta.append(j)
                    m_state.append(pos[v])
                    mixed.append(h)
        out["gradient_exprs"], out["param_gradient_exprs"] = grad, dtheta
        out["hessian_pattern"] = (np.array(rows, int), np.array(cols, int))
        out["hessian_exprs"] = hess
        out["mixed_pattern"] = (np.array(m_theta, int), np.array(m_state, int))
        out["mixed_exprs"] = mixed
        args = (list(s), list(self.x_sym), list(t))
        out["_f_energy"] = _Compiled(args, [E])
        out["_f_grad"] = _Compiled(args, grad)
        out["_f_hess"] = _Compiled(args, hess)
        out["_f_dtheta"] = _Compiled(args, dtheta)
        out["_f_mixed"] = _Compiled(args, mixed)
        r, c = out["hessian_pattern"]
        off = r != c
        out["_full_pattern"] = (np.r_[r, c[off]], np.r_[c, r[off]], np.r_[np.arange(len(r)),
                                                                          np.flatnonzero(off)])
        out["_mixed_scatter"] = sps.csr_matrix(
            (np.ones(len(mixed)), (np.arange(len(mixed)), out["mixed_pattern"][0])),
            shape=(len(mixed), len(t)))
        return out

    @property
    def param_shapes(self):
        return {name: (len(self.theta_blocks[name]),) for name in self.theta_names}

    def _initial_params(self):
        rng = np.random.default_rng(self.seed)
        given = {} if self.init is None else dict(self.init)
        unknown = sorted(set(given) - set(self.theta_names))
        if unknown:
            raise ValueError(f"init names {unknown} that are not parameters; parameters: "
                             f"{list(self.theta_names)}")
        out = {}
        for name in self.theta_names:
            n = len(self.theta_blocks[name])
            draw = rng.uniform(0.5, 1.5, n) if name in self._nonneg else rng.normal(size=n)
            out[name] = np.asarray(given[name], dtype=float) if name in given else draw
        return out

    @property
    def param_bounds(self):
        """The ``nonnegative`` parameters: ``≥ 0``, floored at ``floor`` when it is > 0."""
        floor = float(self.floor) if self.floor > 0 else None
        return {name: Bound(0.0, floor=floor, floor_name="floor", label=name)
                for name in self._nonneg}

    def describe_param_index(self, name, index):
        return f" (symbol {self.theta_blocks[name][index]})"

    # -- numerics -------------------------------------------------------------------------------
    def _theta(self):
        return np.concatenate([self._params[name] for name in self.theta_names])

    def _eval(self, compiled, state):
        return compiled(state.s, state.x, self._theta())

    def hessian(self, state, nudge=None, active=None):
        """``∂²(E + βC)/∂s²`` at ``state``.

        Returns a dense ``(batch, n, n)`` array, or with ``sparse`` a block-diagonal
        ``scipy.sparse.csc_matrix`` of shape ``(batch·n, batch·n)``. With ``active`` (a mask),
        the rows and columns of the held components are replaced by the identity.
        """
        batch, n = state.s.shape
        vals = self._eval(self._f_hess, state)
        rows, cols, which = self._full_pattern
        vals = vals[:, which]
        extra = None
        if isinstance(nudge, Nudge):
            extra = nudge.stiffness(self.outputs(state))
        if not self._sparse:
            H = np.zeros((batch, n, n), dtype=np.result_type(vals, 0.0 if extra is None
                                                             else extra))
            H[:, rows, cols] = vals
            if extra is not None:
                oi = self.output_index
                H[:, oi[:, None], oi[None, :]] += extra
            if active is not None:
                held = np.flatnonzero(~active)
                H[:, held, :] = 0.0
                H[:, :, held] = 0.0
                H[:, held, held] = 1.0
            return H
        oi = self.output_index
        r_all, c_all, v_all = [rows], [cols], [vals]
        if extra is not None:
            r_all.append(np.repeat(oi, len(oi)))
            c_all.append(np.tile(oi, len(oi)))
            v_all.append(extra.reshape(batch, -1))
        r_all, c_all = np.concatenate(r_all), np.concatenate(c_all)
        v_all = np.concatenate(v_all, axis=1)
        if active is not None:
            keep = active[r_all] & active[c_all]
            held = np.flatnonzero(~active)
            r_all = np.r_[r_all[keep], held]
            c_all = np.r_[c_all[keep], held]
            v_all = np.concatenate([v_all[:, keep], np.ones((batch, len(held)))], axis=1)
        offset = n * np.arange(batch)[:, None]
        return sps.csc_matrix((v_all.ravel(), ((r_all[None] + offset).ravel(),
                                               (c_all[None] + offset).ravel())),
                              shape=(batch * n, batch * n))

    def _newton_step(self, state, r, nudge, active):
        H = self.hessian(state, nudge, active)
        if self._sparse:
            return newton_direction(H, r, len(r))
        return _dense_direction(H, r)

    # -- the three questions --------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """The minimum of ``E + βC`` over the state for inputs ``x``.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : Nudge, Clamp or None
            ``Nudge``: minimise ``E + β C(o, y)`` (real β). ``Clamp``: hold the outputs at
            the given values and relax the other state symbols.
        start : State, optional
            A warm start (typically the free state of the same ``x``).

        Returns
        -------
        State

        Raises
        ------
        ConvergenceError
            If the residual does not fall below ``tol`` within ``max_iter`` Newton steps, or
            the stationary point reached is not a minimum; the message names the residual.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        batch = len(x)
        if start is not None and np.shape(start.s) == (batch, self.n_state):
            s0 = np.array(np.real(start.s), dtype=float)
        else:
            s0 = np.tile(self._s_start, (batch, 1))
        active = None
        if isinstance(nudge, Clamp):
            c = self.check_targets(nudge.values, batch)
            s0[:, self.output_index] = c
            active = np.ones(self.n_state, bool)
            active[self.output_index] = False
        elif isinstance(nudge, Nudge) and nudge.is_complex:
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, batch), nudge.beta)
            if start is None or start.nudge is not None or np.iscomplexobj(start.s) \
                    or np.shape(start.s) != (batch, self.n_state) \
                    or not np.array_equal(start.x, x):
                start = self.equilibrium(x, start=start)
            return State(s=self._complex_newton(x, nudge, start.s), x=x, nudge=nudge)
        elif isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, batch),
                          float(np.real(nudge.beta)))

        def at(s):
            return State(s=s, x=x, nudge=nudge)

        s = relax(self, at, s0, nudge,
                  lambda state, r: self._newton_step(state, r, nudge, active), active=active)
        if active is not None:
            s[:, self.output_index] = c
        return at(s)

    def _complex_newton(self, x, nudge, s_free):
        """Newton on ``∂(E + βC)/∂s = 0`` for complex β, from the free state.

        The energy is holomorphic, so the nudged stationary point continues analytically from
        the free minimum; there is no merit function to decrease, so steps are accepted when
        the residual norm falls (halved until it does).
        """
        s = np.array(s_free, dtype=complex)
        tol = self.tol * max(1.0, 64 * np.finfo(float).eps * float(np.max(np.abs(s)))
                             / self.tol)

        def residual(s):
            return self.residual(State(s=s, x=x, nudge=nudge))

        r = residual(s)
        for step in range(int(self.max_iter)):
            worst = np.max(np.abs(r), axis=1)
            if np.all(worst < tol):
                break
            H = self.hessian(State(s=s, x=x, nudge=nudge), nudge)
            if self._sparse:
                d = spla.splu(H.tocsc()).solve(np.ascontiguousarray(r).ravel()).reshape(r.shape)
            else:
                d = np.linalg.solve(H, r[..., None])[..., 0]
            t = np.ones(len(s))
            for _ in range(40):
                trial = s - t[:, None] * d
                with np.errstate(all="ignore"):
                    r_t = residual(trial)
                ok = (np.linalg.norm(r_t, axis=1) < np.linalg.norm(r, axis=1)) | (worst < tol)
                ok &= np.all(np.isfinite(r_t), axis=1)
                if np.all(ok):
                    break
                t = np.where(ok, t, 0.5 * t)
            else:
                raise ConvergenceError(
                    f"{type(self).__name__} (beta={complex(nudge.beta):.6g}): complex Newton "
                    f"line search failed at step {step}: residual max|dF/ds| = "
                    f"{np.max(worst):.3e}; |beta| may exceed the radius of convergence")
            s, r = trial, r_t
        worst = float(np.max(np.abs(r)))
        if worst >= tol:
            raise ConvergenceError(
                f"{type(self).__name__} (beta={complex(nudge.beta):.6g}): no nudged equilibrium "
                f"after {self.max_iter} Newton steps: residual max|dF/ds| = {worst:.3e}")
        H = self.hessian(State(s=s, x=x, nudge=nudge), nudge)     # one more step: round-off
        d = (spla.splu(H.tocsc()).solve(np.ascontiguousarray(r).ravel()).reshape(r.shape)
             if self._sparse else np.linalg.solve(H, r[..., None])[..., 0])
        trial = s - d
        better = np.max(np.abs(residual(trial)), axis=1) <= np.max(np.abs(r), axis=1)
        return np.where(better[:, None], trial, s)

    def outputs(self, state):
        """The output state symbols, shape (batch, n_outputs)."""
        return state.s[:, self.output_index]

    def param_gradient(self, state):
        """``∂E/∂θ`` at ``state`` (lambdified): dict name → (batch, n_name)."""
        d = self._eval(self._f_dtheta, state)
        return {name: d[:, sl] for name, sl in self._slices.items()}

    # -- physics for references and contract tests ----------------------------------------------
    def energy(self, state):
        return self._eval(self._f_energy, state)[:, 0]

    def energy_gradient(self, state):
        return self._eval(self._f_grad, state)

    def output_vjp(self, state, g_out):
        out = np.zeros(state.s.shape, dtype=np.result_type(state.s, g_out))
        out[:, self.output_index] = g_out
        return out

    def adjoint(self, state, rhs):
        """Solve ``∂²E/∂s² λ = rhs`` per sample (dense, or one sparse LU for the batch)."""
        H = self.hessian(state.replace(nudge=None))
        rhs = np.asarray(rhs, dtype=float)
        try:
            if self._sparse:
                return spla.splu(H).solve(np.ascontiguousarray(rhs).ravel()).reshape(rhs.shape)
            return np.linalg.solve(H, rhs[..., None])[..., 0]
        except (RuntimeError, np.linalg.LinAlgError) as err:
            raise ConvergenceError(f"singular Hessian ∂²E/∂s² at the state ({err}): the "
                                   "equilibrium is not isolated (a zero mode)") from err

    def mixed_vjp(self, state, lam):
        """``Σ_i λ_i ∂²E/∂θ∂s_i`` from the lambdified mixed derivatives."""
        vals = self._eval(self._f_mixed, state)
        contrib = vals * lam[:, self.mixed_pattern[1]]
        total = np.asarray(self._mixed_scatter.T @ contrib.T).T
        return {name: total[:, sl] for name, sl in self._slices.items()}

    def exact_gradient(self, x, y, cost):
        """Implicit differentiation at the free equilibrium with the symbolic Hessian.

        ``dL/dθ = −(H⁻¹ Pᵀ ∂C/∂o) · ∂²E/∂s∂θ``, batch mean (see
        :meth:`physlearn.system.EquilibriumSystem.exact_gradient`).
        """
        return super().exact_gradient(x, y, cost)

    # -- the EP theorem for this energy ---------------------------------------------------------
    def derivation(self, mode="auto"):
        """The EP identity ``dL/dθ = d/dβ|₀ ∂E/∂θ(s_β)`` proved for this very energy.

        Parameters
        ----------
        mode : {"auto", "concrete", "generic"}
            ``"concrete"``: the derivatives of ``E`` itself enter every step (below).
            ``"generic"``: the Hessian and the mixed derivatives are generic symbols
            ``h_ij = h_ji`` and ``m_ij`` on this energy's sparsity patterns (zero elsewhere),
            and only the statement is proved — the EP identity for every energy with those
            patterns, Schwarz's symmetry assumed; cheap for energies whose derivatives are
            large non-rational expressions (square roots of a spring length), where the
            exact zero tests of the concrete steps are slow. ``"auto"``: concrete when ``E``
            is a rational function of its symbols, generic otherwise.

        Returns
        -------
        physlearn.derivations._derivation.Derivation
            ``verify()`` proves, with the symbolic derivatives of ``E``:

            1. the Hessian ``H = ∂²E/∂s²`` is symmetric;
            2. along ``s + βu`` the β-derivative of the nudged stationarity condition
               ``∂E/∂s + β Pᵀ∂C/∂o`` at β = 0 is ``Hu + Pᵀc`` (``c = ∂C/∂o``), so the implicit
               derivative ``u = ds/dβ`` solves ``Hu = −Pᵀc``;
            3. along ``(s + tv, θ + tδ)`` the t-derivative of ``∂E/∂s`` is ``Hv + Mδ``
               (``M = ∂²E/∂s∂θ``), so ``v = (ds/dθ)δ`` solves ``Hv = −Mδ``;
            4. statement: for generic ``u, v, c, δ``,
               ``d/dβ ∂E/∂θ(s + βu)·δ − cᵀPv = uᵀ(Hv + Mδ) − vᵀ(Hu + Pᵀc)``; at the
               equilibrium branch the right side vanishes (2, 3), so the EP derivative equals
               ``dL/dθ·δ`` for every direction δ.

            The implicit derivatives ``u, v`` stay generic symbols (the Hessian is never
            inverted symbolically), which keeps the proof linear in the size of ``E``.
            ``check_numeric()`` compares a centered finite nudge (β = 1e-4) of the lambdified
            ``∂E/∂θ`` with :meth:`exact_gradient` on random inputs.
        """
        from physlearn.derivations._derivation import Derivation

        if mode not in ("auto", "concrete", "generic"):
            raise ValueError(f"mode={mode!r} must be 'auto', 'concrete' or 'generic'")
        if mode == "auto":
            rational = self.E.is_rational_function(*sorted(self.E.free_symbols, key=str))
            mode = "concrete" if rational else "generic"

        def build():
            return _ep_steps(self, generic=mode == "generic")

        def numeric(rng):
            from physlearn.costs import SquaredError

            x = 0.5 * rng.normal(size=(3, self.n_features))
            y = 0.3 * rng.normal(size=(3, self.n_outputs))
            cost, beta = SquaredError(), 1e-4
            free = self.equilibrium(x)
            g = []
            for b in (beta, -beta):
                nudged = self.equilibrium(x, Nudge(cost, y, b), start=free)
                g.append(self.param_gradient(nudged))
            ep = {k: np.mean(g[0][k] - g[1][k], axis=0) / (2 * beta) for k in g[0]}
            return ep, self.exact_gradient(x, y, cost)

        return Derivation(
            name="symbolic.ep_identity",
            title="EP identity d/dβ ∂E/∂θ(s_β)|₀ = dL/dθ for the energy of this SymbolicSystem "
                  + ("(implicit differentiation with its symbolic Hessian)" if mode == "concrete"
                     else "(implicit differentiation; Hessian and mixed derivatives as generic "
                          "symbols on its sparsity patterns)"),
            build=build, implements="physlearn.systems.symbolic:SymbolicSystem.exact_gradient",
            numeric=numeric, tolerance=1e-6,
            notes=self.derivation.__doc__ or "",
            references=("B. Scellier, Y. Bengio, Front. Comput. Neurosci. 11:24 (2017)",))


_STATIONARY = ("s is a stationary point of E + βC with a non-singular Hessian (implicit "
               "function theorem)", None)


def _ep_steps(system, generic=False):
    """The steps and statement of :meth:`SymbolicSystem.derivation` (sympy)."""
    from physlearn.derivations._derivation import Step

    s, t = system.s_sym, system.t_sym
    n = len(s)
    u = sp.Matrix(sp.symbols(f"u0:{n}"))
    v = sp.Matrix(sp.symbols(f"v0:{n}"))
    c = sp.Matrix(sp.symbols(f"c0:{system.n_outputs}"))
    delta = sp.Matrix(sp.symbols(f"delta0:{len(t)}"))
    beta, tt = sp.symbols("beta t")
    grad = sp.Matrix(system.gradient_exprs)
    H = sp.zeros(n, n)
    for i in range(n):
        for v_ in grad[i].free_symbols & set(s):
            j = s.index(v_)
            H[i, j] = sp.diff(grad[i], v_)
    M = sp.zeros(n, len(t))
    for j, d in enumerate(system.param_gradient_exprs):
        for v_ in d.free_symbols & set(s):
            M[s.index(v_), j] = sp.diff(d, v_)
    P = sp.zeros(system.n_outputs, n)
    for k, i in enumerate(system.output_index):
        P[k, int(i)] = 1
    if generic:
        return _generic_statement(system, u, v, c, delta, P)
    along_beta = {si: si + beta * ui for si, ui in zip(s, u)}
    along_t = {**{si: si + tt * vi for si, vi in zip(s, v)},
               **{tj: tj + tt * dj for tj, dj in zip(t, delta)}}
    stationarity = grad.xreplace(along_beta) + beta * P.T * c
    d_beta = stationarity.diff(beta).subs(beta, 0)
    d_t = grad.xreplace(along_t).diff(tt).subs(tt, 0)
    dtheta = sp.Matrix(system.param_gradient_exprs)
    ep = (dtheta.xreplace(along_beta).diff(beta).subs(beta, 0).T * delta)[0]
    dloss = (c.T * P * v)[0]
    lagrangian = (u.T * (H * v + M * delta))[0] - (v.T * (H * u + P.T * c))[0]
    return {
        "assumptions": [
            _STATIONARY,
            ("u = ds/dβ at β = 0 and v = (ds/dθ)·δ for a direction δ of the parameters; c = "
             "∂C/∂o at the free outputs", None)],
        "steps": [
            Step("the Hessian ∂²E/∂s² of this energy is symmetric", H - H.T),
            Step("d/dβ of the nudged stationarity ∂E/∂s + βPᵀ∂C/∂o along s + βu is Hu + Pᵀc "
                 "(so u = ds/dβ solves Hu = −Pᵀc)", d_beta - (H * u + P.T * c)),
            Step("d/dt of ∂E/∂s along (s + tv, θ + tδ) is Hv + (∂²E/∂s∂θ)δ (so v = (ds/dθ)δ "
                 "solves Hv = −(∂²E/∂s∂θ)δ)", d_t - (H * v + M * delta)),
        ],
        "statement": Step(
            "d/dβ|₀ ∂E/∂θ(s + βu)·δ − (∂C/∂o)ᵀ P v = uᵀ(Hv + (∂²E/∂s∂θ)δ) − vᵀ(Hu + Pᵀc), "
            "which vanishes on the equilibrium branch (steps 2, 3): the EP derivative is "
            "dL/dθ·δ for every δ", ep - dloss - lagrangian),
    }


def _generic_statement(system, u, v, c, delta, P):
    """The statement with ``H`` and ``∂²E/∂s∂θ`` as generic symbols on their patterns."""
    from physlearn.derivations._derivation import Step

    n, m = len(system.s_sym), len(system.t_sym)
    H = sp.zeros(n, n)
    for i, j in zip(*system.hessian_pattern):
        H[i, j] = H[j, i] = sp.Symbol(f"h_{i}_{j}")
    M = sp.zeros(n, m)
    for j, i in zip(*system.mixed_pattern):
        M[i, j] = sp.Symbol(f"m_{i}_{j}")
    ep = (u.T * M * delta)[0]
    dloss = (c.T * P * v)[0]
    lagrangian = (u.T * (H * v + M * delta))[0] - (v.T * (H * u + P.T * c))[0]
    return {
        "assumptions": [
            _STATIONARY,
            ("H = ∂²E/∂s² and M = ∂²E/∂s∂θ are generic symbols on this energy's sparsity "
             "patterns; H symmetric (Schwarz); d/dβ ∂E/∂θ(s + βu) = Mᵀu (chain rule)", None),
            ("u = ds/dβ solves Hu = −Pᵀc and v = (ds/dθ)δ solves Hv = −Mδ", None)],
        "steps": [],
        "statement": Step(
            "uᵀMδ − (∂C/∂o)ᵀ P v = uᵀ(Hv + Mδ) − vᵀ(Hu + Pᵀc) for every symmetric H on the "
            "pattern, which vanishes on the equilibrium branch: the EP derivative is "
            "dL/dθ·δ for every δ", ep - dloss - lagrangian),
    }


def _dense_direction(H, r):
    """Solve ``H_b d_b = r_b`` per sample, shifting indefinite blocks (modified Newton).

    Returns ``(d, exact)`` as :func:`~physlearn.systems.solvers.newton_direction`: a block
    whose smallest eigenvalue is not positive is replaced by ``H_b + τ_b 1`` with
    ``τ_b = 10⁻³ max|H_b| − λ_min``, which makes ``d`` a descent direction.
    """
    Hs = 0.5 * (H + np.swapaxes(H, 1, 2))
    w = np.linalg.eigvalsh(Hs)
    scale = np.maximum(np.max(np.abs(Hs), axis=(1, 2)), 1e-12)
    exact = w[:, 0] > 1e-14 * scale
    tau = np.where(exact, 0.0, 1e-3 * scale - w[:, 0])
    n = H.shape[1]
    shifted = Hs + tau[:, None, None] * np.eye(n)
    d = np.linalg.solve(shifted, r[..., None])[..., 0]
    return d, exact


# -- builders -----------------------------------------------------------------------------------
def resistor_cocontent(graph, inputs, outputs, ground, *, conductance=None, element=None,
                       extra_params=None, **kwargs):
    """A :class:`SymbolicSystem` for the co-content of a resistor network on ``graph``.

    Parameters
    ----------
    graph : networkx.Graph
        Every edge is a two-terminal element.
    inputs : list
        Nodes held at ``+x_k`` volts (one per feature).
    outputs : list
        Free nodes whose voltages are the outputs.
    ground : node
        The node held at 0 V.
    conductance : array_like, optional
        Initial conductances aligned with ``graph.edges`` (default: the seeded draw).
    element : callable, optional
        ``element(dv, g, e) -> co-content`` of edge ``e`` (index) with voltage drop ``dv`` and
        conductance symbol ``g``, plus any symbols of ``extra_params``; default the linear
        resistor ``½ g dv²``.
    extra_params : dict of str → list of Symbol, optional
        Further parameters the element uses.
    **kwargs
        Passed to :class:`SymbolicSystem` (``nonnegative`` defaults to ``["conductance"]``,
        ``floor`` to 1e-6 as ``ResistorNetwork.min_conductance``).

    Notes
    -----
    With node voltages ``V`` (free nodes: state symbols ``V<i>``; inputs ``x<k>``; ground 0)
    the energy is ``E = Σ_e ½ g_e (V_a − V_b)²``, minimised by Kirchhoff's current law.
    Dimensionless units as :class:`~physlearn.systems.ResistorNetwork`.
    """
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    for what, group in (("input", inputs), ("output", outputs), ("ground", [ground])):
        for node in group:
            if node not in index:
                raise ValueError(f"{what} node {node!r} is not in the graph")
    x = sp.symbols(f"x0:{len(inputs)}")
    voltage, free = {}, []
    for k, node in enumerate(inputs):
        voltage[node] = x[k]
    voltage[ground] = sp.Integer(0)
    for node in nodes:
        if node not in voltage:
            voltage[node] = sp.Symbol(f"V{index[node]}")
            free.append(voltage[node])
    edges = list(graph.edges)
    g = sp.symbols(f"g0:{len(edges)}")
    terms = []
    for e, (a, b) in enumerate(edges):
        dv = voltage[a] - voltage[b]
        terms.append(sp.Rational(1, 2) * g[e] * dv ** 2 if element is None
                     else element(dv, g[e], e))
    params = {"conductance": list(g), **(extra_params or {})}
    init = kwargs.pop("init", None)
    if conductance is not None:
        init = {**(init or {}), "conductance": np.asarray(conductance, dtype=float)}
    kwargs.setdefault("nonnegative", ["conductance"])
    kwargs.setdefault("floor", 1e-6)
    return SymbolicSystem(sp.Add(*terms), state=free, params=params, inputs=list(x),
                          outputs=[voltage[n] for n in outputs], init=init, **kwargs)


def symbolic_resistor(n_nodes=10, *, n_inputs=2, n_outputs=2, degree=4, rewire=0.3, seed=0,
                      conductance_range=(0.1, 1.0), **kwargs):
    """The co-content of :meth:`ResistorNetwork.random`'s graph as a :class:`SymbolicSystem`.

    Same graph, inputs, outputs, ground and conductances as
    ``ResistorNetwork.random(n_nodes, n_inputs=..., n_outputs=..., degree=..., seed=...)``,
    so the two give the same equilibria and gradients (the registered ``symbolic-resistor``).

    Parameters
    ----------
    n_nodes : int, default 10
        Nodes of the connected small-world graph.
    n_inputs : int, default 2
        Input nodes, each held at ``+x_k`` volts.
    n_outputs : int, default 2
        Output nodes (free nodes whose voltages are read).
    degree : int, default 4
        Mean degree of the Watts–Strogatz graph.
    rewire : float, default 0.3
        Rewiring probability of the Watts–Strogatz graph.
    seed : int, default 0
        Seed of the graph, the node picks and the conductances.
    conductance_range : tuple of float, default (0.1, 1.0)
        Conductances are uniform in this range.
    **kwargs
        Passed to :func:`resistor_cocontent` and :class:`SymbolicSystem` (``tol``,
        ``sparse``, ``floor``, ...).

    Returns
    -------
    SymbolicSystem
    """
    from physlearn.systems.resistor import ResistorNetwork

    net = ResistorNetwork.random(n_nodes, n_inputs=n_inputs, n_outputs=n_outputs,
                                 degree=degree, rewire=rewire, seed=seed,
                                 conductance_range=conductance_range)
    return resistor_cocontent(net.graph, net.inputs, net.output_nodes, net.ground,
                              conductance=net.params["conductance"], seed=seed, **kwargs)


def spring_network(n_side=3, *, lj_sigma=0.9, seed=0, **kwargs):
    """A 2-D spring network with a Lennard-Jones–like term on every bond (sympy energy).

    Nodes of an ``n_side × n_side`` square lattice with one diagonal per cell (spacing 1)
    sit at their reference positions plus displacements ``(uX_i, uY_i)``, the state. The left
    column is pinned, the bottom-right node is displaced along x by the input ``x0``, and the
    outputs are the displacement of the top-right node. Every bond ``e`` of reference length
    ``r⁰_e`` has

        E_e = ½ k_e (r_e − r⁰_e)² + ε_e [(σ r⁰_e/r_e)¹² − 2 (σ r⁰_e/r_e)⁶],

    a harmonic spring of stiffness ``k_e ≥ 0`` (parameter ``"stiffness"``) plus a
    Lennard-Jones well of depth ``ε_e ≥ 0`` (parameter ``"lj"``) at ``r = σ r⁰`` (``lj_sigma``),
    whose short-range repulsion keeps bonds from collapsing. Dimensionless units: lengths in
    the lattice spacing, energies in a reference stiffness times spacing squared.

    Returns
    -------
    SymbolicSystem
    """
    coords = [(i, j) for j in range(n_side) for i in range(n_side)]
    index = {p: k for k, p in enumerate(coords)}
    edges = []
    for (i, j) in coords:
        for di, dj in ((1, 0), (0, 1), (1, 1)):
            q = (i + di, j + dj)
            if q in index:
                edges.append((index[(i, j)], index[q]))
    x0 = sp.Symbol("x0")
    pos, free = {}, []
    for (i, j), k in index.items():
        if i == 0:
            pos[k] = (sp.Integer(i), sp.Integer(j))
        elif (i, j) == (n_side - 1, 0):
            pos[k] = (sp.Integer(i) + x0, sp.Integer(0))
        else:
            ux, uy = sp.symbols(f"uX{k} uY{k}")
            pos[k] = (i + ux, j + uy)
            free += [ux, uy]
    k_sym = sp.symbols(f"k0:{len(edges)}")
    eps = sp.symbols(f"eps0:{len(edges)}")
    sigma = sp.nsimplify(lj_sigma)
    terms = []
    for e, (a, b) in enumerate(edges):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        rest2 = (coords[a][0] - coords[b][0]) ** 2 + (coords[a][1] - coords[b][1]) ** 2
        r2 = (xb - xa) ** 2 + (yb - ya) ** 2
        q6 = (sigma ** 2 * rest2 / r2) ** 3
        terms.append(k_sym[e] * (sp.sqrt(r2) - sp.sqrt(rest2)) ** 2 / 2
                     + eps[e] * (q6 ** 2 - 2 * q6))
    top = index[(n_side - 1, n_side - 1)]
    rng = np.random.default_rng(seed)
    init = kwargs.pop("init", None) or {"stiffness": rng.uniform(0.5, 1.5, len(edges)),
                                        "lj": rng.uniform(0.01, 0.05, len(edges))}
    kwargs.setdefault("nonnegative", ["stiffness", "lj"])
    outputs = [sp.Symbol(f"uX{top}"), sp.Symbol(f"uY{top}")]
    return SymbolicSystem(sp.Add(*terms), state=free,
                          params={"stiffness": list(k_sym), "lj": list(eps)}, inputs=[x0],
                          outputs=outputs, init=init, seed=seed, **kwargs)


def contract_problem(system, rng):
    """Small inputs and targets, 4 samples (the contract suite's problem)."""
    x = 0.5 * rng.normal(size=(4, system.n_features))
    y = 0.3 * rng.normal(size=(4, system.n_outputs))
    return x, y
