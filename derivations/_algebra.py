"""Small exact-algebra helpers shared by the derivations (not part of the public API).

The derivations produce rational functions of many symbols. ``sympy.simplify`` on such
expressions is slow and sometimes inconclusive; bringing an expression over a common
denominator and expanding the numerator is fast and decides exactly whether a rational
function is zero. These helpers do that, and fall back to ``simplify`` otherwise.
"""

from __future__ import annotations

import random

import sympy as sp
from sympy.core.function import AppliedUndef


def is_zero(expr):
    """Decide whether ``expr`` (a scalar or a matrix) is identically zero.

    Parameters
    ----------
    expr : sympy expression, sympy Matrix, or number

    Returns
    -------
    bool

    Notes
    -----
    A rational function of its generators (symbols, undefined functions, their derivatives,
    algebraic numbers such as ``sqrt(3)``) is zero iff the expanded numerator over a common
    denominator is zero; this test is exact and fast. Anything else goes to ``simplify``.
    """
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    expr = sp.sympify(expr).doit()
    if expr == 0:
        return True
    numerator = sp.expand(sp.fraction(sp.together(expr))[0])
    if numerator == 0:
        return True
    if expr.is_rational_function(*_generators(expr)) and not _has_algebraic(expr):
        return False
    return sp.simplify(expr) == 0


def _generators(expr):
    """Free symbols plus undefined-function applications and derivatives (treated as symbols)."""
    return (expr.free_symbols | expr.atoms(AppliedUndef) | expr.atoms(sp.Derivative)
            | expr.atoms(sp.Subs))


def _has_algebraic(expr):
    """True if ``expr`` holds a radical or I, which expansion alone may not reduce to zero."""
    radical = any(not p.exp.is_Integer for p in expr.atoms(sp.Pow))
    return radical or expr.has(sp.I)


def witness(expr, seed=0):
    """Value of ``expr`` at a random rational point: a certificate that it is not zero.

    Every free symbol, undefined-function value and derivative is replaced by an independent
    random rational in ``[1, 3]`` (positive, so conductances and radii stay physical).

    Returns
    -------
    sympy number, or Matrix of numbers
    """
    rng = random.Random(seed)
    expr = sp.sympify(expr)
    # Largest atoms first, so that Derivative(E(θ, s), s) is replaced before E(θ, s) inside it.
    atoms = sorted(_generators(expr), key=lambda a: (-sp.count_ops(a), sp.default_sort_key(a)))
    for atom in atoms:
        expr = expr.xreplace({atom: sp.Rational(rng.randint(100, 300), 100)})
    return sp.simplify(expr)


def limit_at_zero(num, den, var):
    """``lim_{var→0} num/den`` for functions analytic at 0, by l'Hôpital's rule, exactly.

    Parameters
    ----------
    num, den : sympy expression
        Analytic in ``var`` at 0 (e.g. rational functions regular there); ``den`` not
        identically zero.
    var : Symbol

    Returns
    -------
    sympy expression

    Raises
    ------
    ValueError
        If the limit is infinite (``num`` vanishes to a lower order than ``den``).

    Notes
    -----
    Both are differentiated until the denominator's derivative at 0 is non-zero; the
    numerator's derivatives of lower order must vanish there. Only values at 0 are expanded,
    which is much cheaper than bringing the quotient over a common denominator.
    """
    for _ in range(8):
        den0 = den.subs(var, 0)
        if not is_zero(den0):
            return num.subs(var, 0) / den0
        if not is_zero(num.subs(var, 0)):
            raise ValueError("the limit is infinite")
        num, den = sp.diff(num, var), sp.diff(den, var)
    raise ValueError("denominator vanishes to order > 8 at 0")


def limit_at_infinity(expr, var):
    """``lim_{var→∞} expr`` for a rational function of ``var``, exactly.

    Notes
    -----
    With ``expr = N/D`` as polynomials in ``var``, the limit is the ratio of the leading
    coefficients if the degrees agree, 0 if ``deg N < deg D``.
    """
    num, den = sp.fraction(sp.together(expr))
    p, q = sp.Poly(sp.expand(num), var), sp.Poly(sp.expand(den), var)
    if p.degree() > q.degree():
        raise ValueError("the limit is infinite")
    if p.degree() < q.degree():
        return sp.Integer(0)
    return p.LC() / q.LC()


def solve_linear(matrix, rhs):
    """``matrix⁻¹ rhs`` as one fraction ``adj(matrix) rhs / det(matrix)`` (Cramer's rule).

    A single common denominator keeps the later zero tests cheap, unlike nested fractions from
    Gaussian elimination.
    """
    return matrix.adjugate() * rhs / matrix.det()


def symmetric_matrix(name, n, *args):
    """``n × n`` symmetric matrix of symbols ``name_ij`` (or functions of ``args``)."""
    def entry(i, j):
        label = f"{name}_{min(i, j) + 1}{max(i, j) + 1}"
        return sp.Function(label)(*args) if args else sp.Symbol(label)
    return sp.Matrix(n, n, entry)


def column(name, n, *args):
    """Column vector of symbols ``name_i`` (or functions of ``args``)."""
    def entry(i, _):
        return sp.Function(f"{name}_{i + 1}")(*args) if args else sp.Symbol(f"{name}_{i + 1}")
    return sp.Matrix(n, 1, entry)
