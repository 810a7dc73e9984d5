"""The derivation object: assumptions, a statement and its steps as sympy expressions, a
symbolic verdict, LaTeX, and a numerical tie to the code the theorem justifies.

A *step* is an identity rearranged to ``lhs − rhs`` (a scalar or a matrix) that must vanish
identically, or, with ``series=(x, n)``, an expression that must be ``O(xⁿ)`` as ``x → 0``
(its Taylor coefficients below order ``n`` vanish). A derivation holds its statement and steps
as data, so :meth:`Derivation.verify` proves what the object holds: editing a step (a flipped
sign, a dropped term) changes the verdict.

The numerical tie (:meth:`Derivation.check_numeric`) evaluates the derivation's result —
lambdified from the same expressions — and what the code named by ``implements`` returns on
the same random inputs, and compares them to the tolerance the derivation states.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import textwrap
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

from ._algebra import is_zero

__all__ = ["Step", "Proof", "NumericCheck", "Derivation", "resolve", "content",
           "notes_of"]


@dataclass
class Step:
    """One claim of a derivation.

    Attributes
    ----------
    claim : str
        What the step says, in words.
    expr : sympy expression or Matrix
        ``lhs − rhs``: zero when the claim holds (or ``O(xⁿ)``, see ``series``).
    series : tuple (Symbol, int), optional
        ``(x, n)``: the claim is ``expr = O(xⁿ)`` as ``x → 0``, proved by the Taylor
        coefficients of orders ``0 … n−1`` vanishing.
    """

    claim: str
    expr: object
    series: tuple | None = None

    def check(self):
        """``(holds, how)``: whether the claim holds, and the method that decided it."""
        if self.series is None:
            return is_zero(self.expr), "simplifies to zero"
        x, n = self.series
        entries = list(self.expr) if isinstance(self.expr, sp.MatrixBase) else [self.expr]
        for entry in entries:
            failure = _order_failure(sp.sympify(entry), x, int(n))
            if failure:
                return False, failure
        return True, f"is O({x}^{n}) (Taylor coefficients 0…{int(n) - 1} vanish)"

    def latex(self):
        """The claim as a LaTeX formula, ``expr = 0`` or ``expr = O(xⁿ)``."""
        body = sp.latex(self.expr)
        if self.series is None:
            return f"{body} = 0"
        x, n = self.series
        return f"{body} = O\\left({sp.latex(x)}^{{{n}}}\\right)"


@dataclass
class Proof:
    """The verdict of :meth:`Derivation.verify`: one line per claim, truthy iff all hold."""

    name: str
    lines: list = field(default_factory=list)      # (role, claim, holds, how)

    @property
    def holds(self):
        return all(line[2] for line in self.lines)

    def __bool__(self):
        return self.holds

    def __len__(self):
        return len(self.lines)

    def values(self):
        """The verdict of each claim (steps, then the statement)."""
        return [line[2] for line in self.lines]

    def __str__(self):
        return self.report()

    def report(self):
        out = [f"{self.name}: {'verified' if self.holds else 'NOT verified'}"]
        for role, claim, ok, how in self.lines:
            out.append(f"  {'ok  ' if ok else 'FAIL'} {role}: {claim} — {how}")
        return "\n".join(out)


@dataclass
class NumericCheck:
    """The verdict of :meth:`Derivation.check_numeric`."""

    name: str
    implements: str
    error: float
    tolerance: float
    detail: str = ""

    @property
    def ok(self):
        return bool(self.error <= self.tolerance)

    def __bool__(self):
        return self.ok

    def report(self):
        return (f"{self.name} vs {self.implements}: relative error {self.error:.3e} "
                f"(tolerance {self.tolerance:g}) {'ok' if self.ok else 'FAILED'}"
                + (f"; {self.detail}" if self.detail else ""))


def _order_failure(expr, x, n):
    """Why ``expr`` is not ``O(xⁿ)`` as ``x → 0`` (empty string if it is).

    A rational function of ``x`` is cancelled to ``N/D``: with ``D(0) ≠ 0`` it is ``O(xⁿ)`` iff
    the coefficients of ``x⁰ … x^{n−1}`` in ``N`` vanish (exact, and removable singularities
    such as ``(g(β) − g(0))/β`` need no limit); ``D(0) = 0`` is a pole. Anything else is
    expanded with :func:`sympy.series`.
    """
    if expr.is_rational_function(x):
        num, den = sp.fraction(sp.cancel(sp.together(expr)))
        if is_zero(den.subs(x, 0)):
            return f"it has a pole at {x} = 0"
        poly = sp.Poly(sp.expand(num), x)
        coefficients = [poly.coeff_monomial(x**k) for k in range(n)]
    else:
        taylor = sp.series(expr, x, 0, n).removeO()
        coefficients = [taylor.coeff(x, k) for k in range(n)]
    for k, c in enumerate(coefficients):
        if not is_zero(c):
            return f"its order-{k} Taylor coefficient in {x} is not zero"
    return ""


def content(statements, statement, claims, assumptions=()):
    """``build()`` content from a dict ``{key: expression or Step}`` of a derivation function.

    Parameters
    ----------
    statements : dict
        Key → expression that must vanish (or a :class:`Step`). Keys ``name_1, name_2, …``
        that differ only by a numeric suffix form one claim (a column of expressions).
    statement : str
        The key (or the shared prefix of keys) of the theorem; the rest become the steps.
    claims : dict of str → str
        Key or prefix → the claim in words.
    assumptions : sequence of (str, expression or None), optional

    Returns
    -------
    dict
        ``{"statement": Step, "steps": [Step, ...], "assumptions": [...]}``.
    """
    groups = {}
    for key, value in statements.items():
        prefix = re.sub(r"_\d+$", "", key)
        group = key if isinstance(value, Step) or prefix not in claims else prefix
        groups.setdefault(group, []).append((key, value))
    steps = {group: _step(group, members, claims) for group, members in groups.items()}
    if statement not in steps:
        raise ValueError(f"no statement {statement!r} among {sorted(steps)}")
    main = steps.pop(statement)
    return {"statement": main, "steps": list(steps.values()), "assumptions": list(assumptions)}


def _step(group, members, claims):
    """One Step from the entries of a group (a column of expressions if several)."""
    if len(members) == 1 and isinstance(members[0][1], Step):
        return members[0][1]
    keys = [key for key, _ in members]
    words = claims.get(group, claims.get(keys[0], group))
    exprs = [value for _, value in members]
    flat = [x for e in exprs for x in (e if isinstance(e, sp.MatrixBase) else [e])]
    expr = exprs[0] if len(exprs) == 1 else sp.Matrix(flat)
    label = keys[0] if len(keys) == 1 else f"{keys[0]} … {keys[-1]}"
    return Step(f"{words} [`{label}`]", expr)


def notes_of(function):
    """The ``Notes`` section of a numpydoc docstring (dedented), or ``""``."""
    doc = textwrap.dedent("\n".join((function.__doc__ or "").splitlines()[1:]))
    match = re.search(r"^Notes\n-----\n(.*?)(?=^\w[\w ]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    return match.group(1).strip() if match else ""


def resolve(path):
    """The object a dotted path names: ``"package.module:attr.attr"`` (or ``module.attr``)."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _rst_to_markdown(text):
    """numpydoc/RST markup as Markdown: double-backtick literals, roles, math blocks."""
    text = re.sub(r"\.\. math::\n\n((?:[ ]{4}.*\n?|\n)+)",
                  lambda m: "$$ " + " ".join(m.group(1).split()) + " $$\n\n", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    return re.sub(r":(?:func|meth|class|data|mod):`~?([^`]+)`", r"`\1`", text)


MARKDOWN_SIZE_LIMIT = 200
"""Largest expression (in tree nodes) :meth:`Derivation.markdown` typesets; larger ones are
referred to ``physlearn derive NAME --latex``."""


def _flat(value):
    if isinstance(value, dict):
        return np.concatenate([np.ravel(np.asarray(value[k], dtype=complex)) for k in
                               sorted(value)])
    return np.ravel(np.asarray(value, dtype=complex))


@dataclass(eq=False)
class Derivation:
    """A theorem the learner relies on, proved in sympy and tied to the code it justifies.

    Parameters
    ----------
    name : str
        Registered name (``physlearn derive NAME``).
    title : str
        One line: what is proved.
    build : callable
        ``build() -> {"statement": Step, "steps": [Step, ...], "assumptions": [(text, expr),
        ...]}`` (``steps`` and ``assumptions`` optional), called once on first access: the
        sympy work is deferred until a derivation is used.
    implements : str
        Dotted path (``"package.module:attr"``) of the function or method the theorem
        justifies.
    numeric : callable
        ``numeric(rng) -> (derived, implemented)``: the derivation's result lambdified and
        evaluated at random inputs drawn from ``rng``, and what ``implements`` returns on the
        same inputs (arrays, or dicts of arrays with the same keys).
    tolerance : float
        The relative error :meth:`check_numeric` allows (round-off, or the stated bias of an
        estimator at the inputs ``numeric`` draws).
    notes : str, optional
        The argument in words (shown by :meth:`latex` and in ``docs/derivations.md``).
    references : tuple of str, optional

    Attributes
    ----------
    assumptions : list of (str, sympy expression)
        What the statement assumes (symmetry, positivity, ...), as sympy relations where they
        can be written.
    statement : Step
        The theorem.
    steps : list of Step
        The intermediate claims that lead to it (each proved too).
    """

    name: str
    title: str
    build: Callable = field(repr=False)
    implements: str = ""
    numeric: Callable | None = field(default=None, repr=False)
    tolerance: float = 1e-10
    notes: str = ""
    references: tuple = ()
    _built: dict | None = field(default=None, init=False, repr=False)
    _proved: tuple | None = field(default=None, init=False, repr=False)  # (claims, Proof)

    # -- the symbolic content (built lazily, then held and editable) -------------------------
    def _content(self):
        if self._built is None:
            content = self.build()
            if "statement" not in content:
                raise ValueError(f"derivation {self.name!r}: build() returned no statement")
            self._built = {"statement": content["statement"],
                           "steps": list(content.get("steps", ())),
                           "assumptions": list(content.get("assumptions", ()))}
        return self._built

    @property
    def statement(self):
        return self._content()["statement"]

    @statement.setter
    def statement(self, step):
        self._content()["statement"] = step

    @property
    def steps(self):
        return self._content()["steps"]

    @steps.setter
    def steps(self, steps):
        self._content()["steps"] = list(steps)

    @property
    def assumptions(self):
        return self._content()["assumptions"]

    def edited(self, *, statement=None, steps=None):
        """A copy with the statement and/or steps replaced (the original is untouched)."""
        copy = dataclasses.replace(self)
        content = dict(self._content())
        content["steps"] = list(content["steps"] if steps is None else steps)
        if statement is not None:
            content["statement"] = statement
        copy._built = content
        return copy

    # -- verdicts ------------------------------------------------------------------------------
    def verify(self):
        """Prove the statement and every step the object holds.

        Returns
        -------
        Proof
            Truthy iff every claim holds; :meth:`Proof.report` says what was proved, and how
            (simplification to zero, or a series to the stated order). The verdict is kept
            and reused while the claims stay the same (an edit is proved afresh).
        """
        claims = self._claims()
        if self._proved is None or self._proved[0] != claims:
            proof = Proof(self.name)
            for i, step in enumerate(self.steps):
                proof.lines.append((f"step {i + 1}", step.claim, *step.check()))
            proof.lines.append(("statement", self.statement.claim, *self.statement.check()))
            self._proved = (claims, proof)
        return Proof(self.name, list(self._proved[1].lines))

    def _claims(self):
        """A frozen snapshot of the claims: the verdict is reused only while it is unchanged."""
        def frozen(expr):
            return sp.ImmutableMatrix(expr) if isinstance(expr, sp.MatrixBase) else expr
        return [(s.claim, frozen(s.expr), s.series) for s in (*self.steps, self.statement)]

    def check_numeric(self, seed=0):
        """Compare the lambdified result with what ``implements`` returns on random inputs.

        Returns
        -------
        NumericCheck
            Truthy iff the relative error ``‖derived − implemented‖ / ‖derived‖`` is within
            :attr:`tolerance`.
        """
        if self.numeric is None:
            raise ValueError(f"derivation {self.name!r} has no numerical check")
        derived, implemented = self.numeric(np.random.default_rng(seed))
        if isinstance(derived, dict) and set(derived) != set(implemented):
            raise ValueError(f"derivation {self.name!r}: derived keys {sorted(derived)} but "
                             f"{self.implements} returned {sorted(implemented)}")
        a, b = _flat(derived), _flat(implemented)
        if a.shape != b.shape:
            raise ValueError(f"derivation {self.name!r}: derived shape {a.shape} but "
                             f"{self.implements} returned shape {b.shape}")
        scale = max(np.linalg.norm(a), np.finfo(float).tiny)
        error = float(np.linalg.norm(a - b) / scale)
        return NumericCheck(self.name, self.implements, error, self.tolerance)

    # -- text ------------------------------------------------------------------------------------
    def latex(self):
        """The derivation as LaTeX: assumptions, steps and statement (one per line)."""
        lines = [f"% {self.name}: {self.title}"]
        for text, expr in self.assumptions:
            shown = "" if expr is None else f": ${sp.latex(expr)}$"
            lines.append(f"% assume {text}{shown}")
        for i, step in enumerate(self.steps):
            lines.append(f"% step {i + 1}: {step.claim}")
            lines.append(f"\\[ {step.latex()} \\]")
        lines.append(f"% statement: {self.statement.claim}")
        lines.append(f"\\[ {self.statement.latex()} \\]")
        return "\n".join(lines)

    def _shown(self, step):
        """A step's display formula, or a pointer to it when it is too long to read."""
        size = sum(1 for _ in sp.preorder_traversal(step.expr))
        if size <= MARKDOWN_SIZE_LIMIT:
            return f"$$ {step.latex()} $$"
        return (f"*(an expression of {size} nodes; `physlearn derive {self.name} --latex` "
                "prints it)*")

    def markdown(self):
        """A section of ``docs/derivations.md``."""
        out = [f"## `{self.name}`", "", self.title, ""]
        if self.implements:
            compares = (self.numeric.__doc__ or "").strip().split("\n\n")[0] \
                if self.numeric is not None else ""
            out += [f"Justifies `{self.implements}`; numerical check to a relative tolerance "
                    f"of {self.tolerance:g}" + (f": {_rst_to_markdown(compares)}"
                                                if compares else "."), ""]
        if self.notes:
            out += [_rst_to_markdown(textwrap.dedent(self.notes).strip()), ""]
        if self.assumptions:
            out += ["**Assumptions**", ""]
            for text, expr in self.assumptions:
                out.append(f"- {text}" + ("" if expr is None else f": ${sp.latex(expr)}$"))
            out.append("")
        for i, step in enumerate(self.steps):
            out += [f"**Step {i + 1}.** {step.claim}", "", self._shown(step), ""]
        out += [f"**Statement.** {self.statement.claim}", "", self._shown(self.statement), ""]
        if self.references:
            out += ["References: " + "; ".join(self.references), ""]
        return "\n".join(out)
