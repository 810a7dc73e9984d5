"""The contract suite for users' own systems and rules (like scikit-learn's ``check_estimator``).

* :func:`check_system` — every check a system must pass: its energy gradient and its local
  measurement ``param_gradient`` against finite differences of its energy, a vanishing residual
  at the free, soft-nudged and clamped equilibria, parameters that round-trip (through the setter
  and through ``type(system)(**system.get_params(deep=False))``), refusal of wrong-shaped or NaN
  parameters and inputs, and ``exact_gradient`` against finite differences of the loss.
* :func:`check_rule` — a rule's gradient has the keys, shapes and dtype of the parameters; an
  estimator's error against the exact reference is small and its measured bias order is the
  declared one; without a system, on every registered system it applies to.
* :func:`check_pair` — one registered system × rule pair, with a printable :meth:`report`;
  :func:`check_all` — every pair (the ``physlearn check --all`` matrix); :func:`pairs` — every
  applicable pair and what is claimed for it.

What is checked for a pair follows from what the rule declares (its *claim*):

* ``"estimator"`` — ``bias_order = p``: the relative error against ``system.exact_gradient``
  (implicit differentiation, linear response or BPTT, per system kind) is below the registry's
  ``tolerance`` at the smallest strength of ``betas``, and the fitted log–log slope of the error
  against the strength is ``p ± 0.15``;
* ``"exact"`` — ``rule.exact_on(system)`` (centered RHEL on a linear trajectory system): the
  error is at round-off (< 1e-8) at every strength, so there is no slope to fit;
* ``"reference"`` — the rule *is* the exact reference (BPTT): it matches central finite
  differences of the loss;
* ``"biased"`` — ``bias_order = None`` (contrastive and coupled learning, generalized EP with
  homeostasis): biased by design; a small step along the estimate lowers the cost;
* ``"stochastic"`` — the system's runs are random (Monte Carlo): only keys, shapes, dtype and
  finiteness are checked;
* ``"approximate"`` — the system's runs approximate its reference model (a spiking network's
  firing fractions over a finite window, whose counting error does not vanish with β): the
  system sets ``approximate_strength``, the rule is run at that strength and its estimate
  must point along the exact reference (cosine ≥ :data:`APPROXIMATE_COSINE`).

Examples
--------
>>> from physlearn import testing
>>> result = testing.check_pair("resistor-layered", "ep-centered")
>>> result.passed
True
"""

from __future__ import annotations

import copy
import inspect
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .check import BiasOrder, GradientCheck, compare, cosine, fit_slope, relative_error
from .costs import CrossEntropy, SquaredError, make_cost
from .nudges import Clamp, Nudge
from .reference import exact_gradient, finite_difference_gradient, loss

__all__ = ["check_system", "check_rule", "check_pair", "check_all", "pairs", "claim_of",
           "describe_reference", "default_problem", "PairCheck", "CheckAllReport",
           "missing_requirements", "INSTALL_HINTS",
           "SYSTEM_CHECKS", "EXACT_TOLERANCE", "FD_TOLERANCE", "SLOPE_TOLERANCE",
           "APPROXIMATE_COSINE"]

EXACT_TOLERANCE = 1e-8     # "exact at every strength": error at round-off
FD_TOLERANCE = 1e-6        # exact references against central differences (h = 1e-6)
SLOPE_TOLERANCE = 0.15     # measured against declared bias order
STEP = 1e-3                # length of the "a small step lowers the cost" step
UNREGISTERED_TOLERANCE = 1e-2
APPROXIMATE_COSINE = 0.9   # direction agreement on systems whose runs approximate the reference


class _Skip(Exception):
    """A check that does not apply to this system (the reason is the message)."""


#: external program → how to install it (the ``requires`` of a registered system)
INSTALL_HINTS = {"ngspice": "apt-get install ngspice"}


def missing_requirements(system_name):
    """The external programs the registered system ``system_name`` needs and cannot find.

    Returns
    -------
    str or None
        ``"requires ngspice, not on the PATH (install: apt-get install ngspice)"``, or None
        when everything its entry's ``requires`` lists is on the ``PATH``. The contract suite
        skips such a system with this reason instead of failing.
    """
    import shutil

    from .registry import system_entry

    missing = [p for p in system_entry(system_name).requires if shutil.which(p) is None]
    if not missing:
        return None
    hints = "; ".join(f"{p}: {INSTALL_HINTS[p]}" if p in INSTALL_HINTS else p for p in missing)
    return f"{system_name} requires {', '.join(missing)}, not on the PATH (install {hints})"


def implements(system, method):
    """True where the system defines ``method`` beyond the base-class stub (and the instance
    does not list it in its ``unavailable`` methods, as an untied vector-field network lists
    ``energy``, which its class defines for tied weights only)."""
    from .system import EquilibriumSystem, System

    impl = getattr(type(system), method, None)
    if method in getattr(system, "unavailable", ()):
        return False
    return impl is not None and impl not in (getattr(EquilibriumSystem, method, None),
                                             getattr(System, method, None))


def _needs(system, *methods):
    missing = [m for m in methods if not implements(system, m)]
    if missing:
        raise _Skip(f"{type(system).__name__} has no {', '.join(missing)}")


# -- system checks ------------------------------------------------------------------------------
def _fd_state_grad(f, s, h=1e-6):
    """Central differences of a per-sample scalar function along each state component."""
    g = np.zeros(s.shape)
    for j in range(s.shape[1]):
        d = np.zeros_like(s)
        d[:, j] = h
        g[:, j] = (f(s + d) - f(s - d)) / (2 * h)
    return g


def _check_energy_gradient(system, x, y, cost):
    _needs(system, "energy", "energy_gradient", "equilibrium")
    state = system.equilibrium(x)
    s = state.s + 0.1 * np.random.default_rng(2).normal(size=state.s.shape)
    moved = system.with_s(state, s)
    fd = _fd_state_grad(lambda t: system.energy(system.with_s(state, t)), s)
    np.testing.assert_allclose(system.energy_gradient(moved), fd, rtol=1e-6, atol=1e-8,
                               err_msg="energy_gradient differs from finite differences of energy")


def _check_param_gradient(system, x, y, cost):
    _needs(system, "energy", "param_gradient", "equilibrium")
    state = system.equilibrium(x)
    measured = system.param_gradient(state)
    original = {k: v.copy() for k, v in system.params.items()}
    h = 1e-6
    try:
        for k, v in original.items():
            flat = v.ravel()
            picks = np.random.default_rng(3).choice(flat.size, min(flat.size, 8), replace=False)
            for i in picks:
                e = []
                for sign in (1, -1):
                    trial = {kk: vv.copy() for kk, vv in original.items()}
                    trial[k].ravel()[i] += sign * h
                    system._params = trial
                    e.append(system.energy(state))
                system._params = original
                np.testing.assert_allclose(
                    np.asarray(measured[k]).reshape(len(x), -1)[:, i], (e[0] - e[1]) / (2 * h),
                    rtol=1e-5, atol=1e-9,
                    err_msg=f"param_gradient[{k!r}] entry {i} differs from finite differences "
                            "of the energy")
    finally:
        system._params = original


def _residual_check(nudge_kind):
    def check(system, x, y, cost):
        _needs(system, "energy_gradient", "equilibrium")
        if nudge_kind == "free":
            nudge = None
        elif nudge_kind == "soft":
            nudge = Nudge(cost, y, 0.5)
        else:
            if "clamp" not in system.capabilities:
                raise _Skip("system cannot clamp")
            nudge = Clamp(y)
        try:
            state = system.equilibrium(x, nudge)
        except (ValueError, TypeError) as err:
            if nudge_kind != "soft" or "soft_nudge" in system.capabilities:
                raise
            raise _Skip(f"system refuses soft nudges ({err})") from None
        worst = float(np.max(np.abs(system.residual(state))))
        assert worst < 1e-10, f"residual {worst:.3e} at the {nudge_kind} equilibrium (> 1e-10)"
        if nudge_kind == "clamp":
            np.testing.assert_allclose(system.outputs(state), y, atol=1e-12,
                                       err_msg="clamped outputs are not at the clamp values")
    return check


def _check_params_round_trip(system, x, y, cost, stochastic=False):
    before = system.predict(x)
    params = {k: v.copy() for k, v in system.params.items()}
    system.params = params
    for k in params:
        assert system.params[k].dtype == np.float64, f"params[{k!r}] is not float64"
        np.testing.assert_array_equal(system.params[k], params[k],
                                      err_msg=f"params[{k!r}] changed by the setter")
    hyper = system.get_params(deep=False)
    names = [n for n, p in inspect.signature(type(system).__init__).parameters.items()
             if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert list(hyper) == names, f"get_params keys {list(hyper)} are not the __init__ " \
                                 f"arguments {names}"
    rebuilt = type(system)(**hyper)
    assert set(rebuilt.param_shapes) == set(system.param_shapes), \
        "type(system)(**get_params(deep=False)) has other parameters"
    rebuilt.params = params
    if not stochastic:
        np.testing.assert_allclose(rebuilt.predict(x), before, rtol=1e-12, atol=1e-14,
                                   err_msg="a system rebuilt from get_params(deep=False) with "
                                           "the same params predicts differently")


def _check_params_refused(system, x, y, cost):
    k, v = next(iter(system.params.items()))
    kept = {kk: vv.copy() for kk, vv in system.params.items()}
    try:
        system.params = {**system.params, k: np.zeros(v.size + 1)}
    except ValueError as err:
        assert k in str(err), f"the wrong-shape error does not name {k!r}: {err}"
    else:
        raise AssertionError(f"params[{k!r}] of the wrong shape were accepted")
    bad = v.copy()
    bad.ravel()[0] = np.nan
    try:
        system.params = {**system.params, k: bad}
    except ValueError as err:
        assert "non-finite" in str(err), f"the NaN error does not say 'non-finite': {err}"
    else:
        raise AssertionError(f"params[{k!r}] with a NaN were accepted")
    for kk in kept:
        np.testing.assert_array_equal(system.params[kk], kept[kk],
                                      err_msg="a refused assignment changed the parameters")


def _check_inputs_refused(system, x, y, cost):
    try:
        system.predict(np.asarray(x)[..., :-1])
    except ValueError as err:
        assert "x" in str(err), f"the wrong-shape error does not name x: {err}"
    else:
        raise AssertionError("inputs with a feature missing were accepted")
    bad = np.array(x, dtype=float)
    bad.flat[0] = np.nan
    try:
        system.predict(bad)
    except ValueError as err:
        assert "NaN" in str(err), f"the NaN-input error does not say 'NaN': {err}"
    else:
        raise AssertionError("inputs with a NaN were accepted")


def _check_exact_gradient(system, x, y, cost, costs=None):
    for c in costs or (cost,):
        ex = exact_gradient(system, x, y, c)
        assert set(ex) == set(system.params), f"exact_gradient keys {sorted(ex)}"
        fd = finite_difference_gradient(system, x, y, c, h=1e-6)
        err = relative_error(ex, fd)
        assert err < FD_TOLERANCE, (f"exact_gradient differs from finite differences of the "
                                    f"loss ({type(c).__name__}): relative error {err:.3e}")


#: name → (check, deterministic); deterministic checks are skipped for stochastic systems.
SYSTEM_CHECKS = {
    "energy_gradient": (_check_energy_gradient, True),
    "param_gradient": (_check_param_gradient, True),
    "residual_free": (_residual_check("free"), True),
    "residual_soft": (_residual_check("soft"), True),
    "residual_clamp": (_residual_check("clamp"), True),
    "params_round_trip": (_check_params_round_trip, False),
    "params_refused": (_check_params_refused, False),
    "inputs_refused": (_check_inputs_refused, False),
    "exact_gradient": (_check_exact_gradient, True),
}


def check_system(system, x, y, *, cost=None, stochastic=False, checks=None):
    """Run every applicable system check; raise ``AssertionError`` naming the failed ones.

    Parameters
    ----------
    system : System
        An instance (its parameters are restored after the checks that perturb them).
    x, y : array_like
        A small example problem (a few samples).
    cost : Cost, str or None
        The cost of the nudges and of the loss; None checks ``exact_gradient`` under both the
        squared error and the cross-entropy, and nudges with the squared error.
    stochastic : bool, default False
        The system's runs are random: skip the checks that compare deterministic numbers to
        tight tolerances (finite differences, residuals, ``exact_gradient``, reproducible
        predictions), keep the shape, parameter and input checks.
    checks : sequence of str, optional
        Run only these checks (names of :data:`SYSTEM_CHECKS`).

    Returns
    -------
    dict
        Check name → ``"passed"`` or ``"skipped: <reason>"``.

    Raises
    ------
    AssertionError
        ``check_system: <Class> failed <names>`` followed by each failure's message.
    """
    names = list(SYSTEM_CHECKS) if checks is None else list(checks)
    unknown = set(names) - set(SYSTEM_CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; valid: {list(SYSTEM_CHECKS)}")
    given = cost
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    status, failures = {}, []
    for name in names:
        check, deterministic = SYSTEM_CHECKS[name]
        if stochastic and deterministic:
            status[name] = "skipped: stochastic system"
            continue
        kwargs = {}
        if name == "params_round_trip":
            kwargs["stochastic"] = stochastic
        if name == "exact_gradient" and given is None:
            kwargs["costs"] = (SquaredError(), CrossEntropy())
        try:
            check(system, x, y, cost, **kwargs)
        except _Skip as why:
            status[name] = f"skipped: {why}"
        except Exception as err:  # noqa: BLE001 - any error fails the named check
            status[name] = "FAILED"
            failures.append(f"[{name}] {type(err).__name__}: {err}".strip())
        else:
            status[name] = "passed"
    if failures:
        failed = [n for n, s in status.items() if s == "FAILED"]
        raise AssertionError(f"check_system: {type(system).__name__} failed "
                             f"{', '.join(failed)}\n" + "\n".join(failures))
    return status


# -- rule checks --------------------------------------------------------------------------------
def describe_reference(system):
    """What ``system.exact_gradient`` computes, for reports: a class's ``reference_note`` or the
    first sentence of its ``exact_gradient`` docstring (implicit differentiation, linear
    response, BPTT, …)."""
    note = getattr(type(system), "reference_note", None)
    if note:
        return str(note)
    owner = next((c for c in type(system).__mro__ if "exact_gradient" in vars(c)), type(system))
    doc = inspect.getdoc(getattr(type(system), "exact_gradient", None)) or ""
    first = " ".join(doc.split("\n\n")[0].split()).replace("``", "")
    return f"{owner.__name__}.exact_gradient: {first}" if first else \
        f"{owner.__name__}.exact_gradient"


def claim_of(system, rule, cost=None, *, stochastic=False):
    """What is checked for ``rule`` on ``system`` (see the module notes).

    Returns
    -------
    str
        ``"not applicable"``, ``"stochastic"``, ``"approximate"``, ``"reference"``,
        ``"exact"``, ``"biased"`` or ``"estimator"``.
    """
    if not rule.applies_to(system):
        return "not applicable"
    if stochastic:
        return "stochastic"
    if getattr(system, "approximate_strength", None) is not None:
        return "approximate"
    if getattr(rule, "is_reference", False):
        return "reference"
    if rule.exact_on(system, cost):
        return "exact"
    if rule.bias_order is None:
        return "biased"
    return "estimator"


def _claim_text(claim, rule, betas, param, tolerance):
    if claim == "estimator":
        fit = f", fitted over {param} in {tuple(betas)}" if len(betas) >= 2 else ""
        return (f"estimator of dL/dθ, declared bias order {rule.bias_order}{fit}; "
                f"error < {tolerance:g} at the smallest strength")
    return {
        "exact": f"exact at every strength (error < {EXACT_TOLERANCE:g}, no slope to fit)",
        "reference": "the exact reference (checked against finite differences of the loss)",
        "biased": "biased by design (not an estimator of dL/dθ): a small step lowers the cost",
        "stochastic": "stochastic system: keys, shapes, dtype and finiteness only",
        "approximate": f"approximate system: at its own strength, the estimate points along "
                       f"the exact reference (cosine >= {APPROXIMATE_COSINE:g})",
        "not applicable": "not applicable",
    }[claim]


@dataclass
class PairCheck:
    """The result of checking one rule on one system.

    Attributes
    ----------
    system, rule : str
        Names (registered names, or class names of unregistered objects).
    claim : str
        See :func:`claim_of`.
    passed : bool
        Every check passed (False for a pair that is not applicable).
    checks : list of (str, bool, str)
        ``(name, ok, detail)`` of every check made.
    reference : str
        What the estimate was compared against.
    table : GradientCheck or None
        Per-parameter comparison with the reference (at the smallest strength).
    bias : BiasOrder or None
        Errors against strength and the fitted slope.
    """

    system: str
    rule: str
    claim: str
    passed: bool
    checks: list = field(default_factory=list)
    reference: str = ""
    claim_text: str = ""
    table: GradientCheck = None
    bias: BiasOrder = None
    seconds: float = 0.0
    caught: list = field(default_factory=list)

    @property
    def applicable(self):
        return self.claim != "not applicable"

    @property
    def status(self):
        """The cell of the :func:`check_all` matrix: pass, FAIL, biased or –."""
        if not self.applicable:
            return "–"
        if not self.passed:
            return "FAIL"
        return "biased" if self.claim == "biased" else "pass"

    def failures(self):
        return [(name, detail) for name, ok, detail in self.checks if not ok]

    def report(self):
        """A printable account: verdict, claim, reference, table, bias order, each check."""
        if not self.applicable:
            verdict = "not applicable"
        elif self.passed:
            verdict = "PASS (biased by design)" if self.claim == "biased" else "PASS"
        else:
            verdict = "FAIL"
        lines = [f"{self.rule} on {self.system}: {verdict}",
                 f"claim: {self.claim_text or self.claim}"]
        if self.reference:
            lines.append(f"reference: {self.reference}")
        if self.table is not None:
            lines += ["", str(self.table)]
        if self.bias is not None:
            lines += ["", str(self.bias)]
        if self.checks:
            lines += ["", "checks:"]
            lines += [f"  {'ok  ' if ok else 'FAIL'}  {name}: {detail}"
                      for name, ok, detail in self.checks]
        if self.caught:
            lines += ["", "warnings:"] + [f"  {w}" for w in self.caught]
        lines.append(f"({self.seconds:.2f} s)")
        return "\n".join(lines)

    def __str__(self):
        return self.report()


def _label(obj):
    return type(obj).__name__


def _registered_rule(rule):
    """The registry entry whose default instance has exactly ``rule``'s hyperparameters."""
    from .registry import RULES

    params = rule.get_params(deep=False)
    for entry in RULES.values():
        try:
            if entry.factory() is not type(rule):
                continue
            built = entry.build().get_params(deep=False)
        except Exception:  # noqa: BLE001 - an entry that cannot be built matches nothing
            continue
        if built.keys() == params.keys() and all(_same(built[k], params[k]) for k in params):
            return entry
    return None


def _same(a, b):
    try:
        return bool(np.all(a == b))
    except Exception:  # noqa: BLE001
        return False


def default_problem(system, seed=0):
    """An example ``(x, y)`` for a system: the registered example of its class when there is
    one, otherwise Gaussian inputs (input sequences for trajectory systems)."""
    from .registry import SYSTEMS, SystemEntry, import_target

    for entry in SYSTEMS.values():
        module = entry.path.partition(":")[0]
        try:
            cls = import_target(f"{module}:{entry.class_name}")
        except ValueError:
            continue
        if cls is type(system):
            return entry.problem(system, seed)
    from .systems.trajectory import TrajectorySystem, sequence_problem

    if isinstance(system, TrajectorySystem):
        return sequence_problem(system, np.random.default_rng(seed))
    return SystemEntry("system", "", None).problem(system, seed)


def _shape_check(system, grad):
    expected = system.params
    if set(grad) != set(expected):
        return False, f"keys {sorted(grad)} != parameters {sorted(expected)}"
    for k in grad:
        g = np.asarray(grad[k])
        if g.shape != expected[k].shape:
            return False, f"{k!r} has shape {g.shape}, expected {expected[k].shape}"
        if g.dtype != np.float64:
            return False, f"{k!r} has dtype {g.dtype}, expected float64"
        if not np.all(np.isfinite(g)):
            return False, f"{k!r} has non-finite entries"
    return True, f"{len(grad)} parameters, shapes and float64 dtype as system.params, finite"


def _strengths(rule, betas, param):
    """``(strength, rule copy)`` for each of ``betas`` (the rule itself when empty)."""
    if not len(betas):
        return [(getattr(rule, param, None), rule)]
    return [(float(b), copy.copy(rule).set_params(**{param: float(b)})) for b in betas]


def _evaluate(system, rule, x, y, *, cost=None, betas=(), param="beta", tolerance=1e-5,
              stochastic=False, reference=None, system_name=None, rule_name=None):
    """Check one rule on one system according to its claim; returns a :class:`PairCheck`.

    ``reference`` is a dict (the precomputed exact gradient under ``cost``), a callable
    returning it (called at most once), or None.
    """
    start = time.perf_counter()
    cost = make_cost(cost)
    claim = claim_of(system, rule, cost, stochastic=stochastic)
    result = PairCheck(system_name or _label(system), rule_name or repr(rule), claim,
                       passed=False, claim_text=_claim_text(claim, rule, betas, param, tolerance))
    if claim == "not applicable":
        missing = sorted(set(rule.requires) - set(system.capabilities))
        result.claim_text = (f"not applicable: {type(rule).__name__} needs {missing}, which "
                             f"{_label(system)} does not offer (checked: it refuses)")
    checks = result.checks

    def ref():
        nonlocal reference
        if callable(reference):
            reference = reference()
        elif reference is None:
            reference = exact_gradient(system, x, y, cost)
        return reference

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _run_claim(result, system, rule, x, y, cost, betas, param, tolerance, ref)
        except Exception as err:  # noqa: BLE001 - a crash fails the pair, with its message
            checks.append(("runs", False, f"{type(err).__name__}: {err}"))
    seen = {}
    for w in caught:
        key = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        seen[key] = seen.get(key, 0) + 1
    result.caught = [f"{k} (×{n})" if n > 1 else k for k, n in seen.items()]
    result.passed = result.applicable and bool(checks) and all(ok for _, ok, _ in checks)
    result.seconds = time.perf_counter() - start
    return result


def _run_claim(result, system, rule, x, y, cost, betas, param, tolerance, ref):
    checks, claim = result.checks, result.claim
    if claim == "not applicable":
        try:
            rule.gradient(system, x, y, cost)
        except ValueError as err:
            ok = "needs" in str(err)
            checks.append(("refuses", ok, f"ValueError: {err}"))
        else:
            checks.append(("refuses", False, "the rule ran on a system lacking "
                                             f"{sorted(rule.requires - set(system.capabilities))}"))
        return

    if claim in ("estimator", "exact"):
        result.reference = f"exact_gradient ({describe_reference(system)})"
        reference = ref()
        runs = _strengths(rule, betas, param)
        estimates = [(b, r, r.gradient(system, x, y, cost)) for b, r in runs]
        ok, detail = _shape_check(system, estimates[0][2])
        checks.append(("gradient_shapes", ok, detail))
        errors = np.array([relative_error(g, reference) for _, _, g in estimates])
        smallest = int(np.argmin([abs(b) if b is not None else 0 for b, _, _ in estimates]))
        b_min, r_min, g_min = estimates[smallest]
        result.table = compare(g_min, reference, repr(r_min), _label(system))
        at = f" at {param}={b_min:g}" if b_min is not None else ""
        if claim == "exact":
            worst = float(np.max(errors))
            checks.append(("exact_at_every_strength", worst < EXACT_TOLERANCE,
                           f"largest error {worst:.2e} over {param} in "
                           f"{tuple(b for b, _, _ in estimates)} (< {EXACT_TOLERANCE:g})"))
            return
        err = float(errors[smallest])
        checks.append(("error_vs_reference", err < tolerance,
                       f"relative error {err:.3e}{at} (tolerance {tolerance:g})"))
        if len(estimates) >= 2:
            bs = np.array([b for b, _, _ in estimates])
            result.bias = BiasOrder(bs, errors, fit_slope(bs, errors), param)
            slope, declared = result.bias.slope, rule.bias_order
            checks.append(("bias_order", abs(slope - declared) < SLOPE_TOLERANCE,
                           f"fitted slope {slope:.3f}, declared bias order {declared} "
                           f"(±{SLOPE_TOLERANCE})"))
        return

    if claim == "approximate":
        strength = system.approximate_strength
        if param in rule.get_params():
            rule = copy.copy(rule).set_params(**{param: strength})
    g = rule.gradient(system, x, y, cost)
    ok, detail = _shape_check(system, g)
    checks.append(("gradient_shapes", ok, detail))
    if claim == "approximate":
        result.reference = f"exact_gradient ({describe_reference(system)})"
        result.table = compare(g, ref(), repr(rule), _label(system))
        agree = cosine(g, ref())
        checks.append(("direction_vs_reference", agree >= APPROXIMATE_COSINE,
                       f"cosine {agree:.4f} with the reference at {param}={strength:g} "
                       f"(>= {APPROXIMATE_COSINE:g})"))
        return
    if claim == "stochastic":
        result.reference = "none (stochastic system: no deterministic comparison)"
        return
    if claim == "reference":
        result.reference = "central finite differences of the loss (h = 1e-6)"
        fd = finite_difference_gradient(system, x, y, cost, h=1e-6)
        result.table = compare(g, fd, repr(rule), _label(system))
        err = relative_error(g, fd)
        checks.append(("matches_finite_differences", err < FD_TOLERANCE,
                       f"relative error {err:.3e} (tolerance {FD_TOLERANCE:g})"))
        return
    # biased by design: the estimate must still be a descent direction
    result.reference = (f"the cost itself; exact_gradient ({describe_reference(system)}) "
                        "for information")
    try:
        result.table = compare(g, ref(), repr(rule), _label(system))
    except NotImplementedError:
        pass
    norm = float(np.sqrt(sum(np.sum(v * v) for v in g.values())))
    if not norm > 0:
        checks.append(("small_step_lowers_cost", False, "the estimate is zero"))
        return
    before = loss(system, x, y, cost)
    original = {k: v.copy() for k, v in system.params.items()}
    try:
        system.update_params({k: v - STEP * g[k] / norm for k, v in original.items()})
        after = loss(system, x, y, cost)
    finally:
        system._params = original
    checks.append(("small_step_lowers_cost", after < before,
                   f"loss {before:.6g} → {after:.6g} after a step of length {STEP:g} "
                   "against the estimate"))


def check_rule(rule, system=None, x=None, y=None, *, cost=None, betas=None, param=None,
               tolerance=None, stochastic=False, seed=0):
    """Check a rule on a system, or on every registered system it applies to.

    Parameters
    ----------
    rule : Rule
    system : System, optional
        None: every registered system (default instance and example problem, seeded by
        ``seed``); on those the rule does not apply to, it must refuse with a ``ValueError``.
    x, y : array_like, optional
        The problem; default :func:`default_problem`.
    cost : Cost, str or None
    betas, param, tolerance : optional
        Strengths of the bias-order fit, the hyperparameter they set, and the error allowed at
        the smallest. Default: those of the registered rule entry equal to ``rule``; for an
        unregistered rule no fit, and an error below 1e-2 at the rule's own settings.
    stochastic : bool, default False
        ``system`` is stochastic (only shapes are checked); registered systems say so
        themselves.

    Returns
    -------
    list of PairCheck

    Raises
    ------
    AssertionError
        Naming the system and the failed checks.
    """
    entry = _registered_rule(rule) if betas is None else None
    betas = tuple(entry.betas if entry else ()) if betas is None else tuple(betas)
    param = param or (entry.param if entry else "beta")
    if tolerance is None:
        tolerance = entry.tolerance if entry else UNREGISTERED_TOLERANCE
    if system is not None:
        if x is None or y is None:
            x, y = default_problem(system, seed)
        targets = [(system, x, y, stochastic, None)]
    else:
        from .registry import SYSTEMS, make_system

        targets = []
        for name, sentry in sorted(SYSTEMS.items()):
            if missing_requirements(name):
                continue
            built = make_system(name, seed=seed)
            px, py = sentry.problem(built, seed + 1)
            targets.append((built, px, py, sentry.stochastic, name))
    results, failed = [], []
    for sys_, sx, sy, stoch, name in targets:
        res = _evaluate(sys_, rule, sx, sy, cost=cost, betas=betas, param=param,
                        tolerance=tolerance, stochastic=stoch, system_name=name,
                        rule_name=repr(rule))
        results.append(res)
        if res.failures() or (res.applicable and not res.passed):
            failed.append(res)
    if failed:
        lines = [f"check_rule: {rule!r} failed"]
        for res in failed:
            for check, detail in res.failures() or [("runs", "no check passed")]:
                lines.append(f"  on {res.system}: [{check}] {detail}")
        raise AssertionError("\n".join(lines))
    return results


# -- registered pairs ---------------------------------------------------------------------------
class _Context:
    """A registered system's default instance, example problem and shared exact reference."""

    def __init__(self, name, seed):
        from .registry import make_system, system_entry

        self.name = name
        self.entry = system_entry(name)
        self.system = make_system(name, seed=seed)
        self.x, self.y = self.entry.problem(self.system, seed + 1)
        self._reference = None

    def reference(self):
        if self._reference is None:
            self._reference = exact_gradient(self.system, self.x, self.y)
        return self._reference


def _pair(context, rule_name):
    from .registry import make_rule, rule_entry

    entry = rule_entry(rule_name)
    return _evaluate(context.system, make_rule(rule_name), context.x, context.y,
                     betas=entry.betas, param=entry.param, tolerance=entry.tolerance,
                     stochastic=context.entry.stochastic, reference=context.reference,
                     system_name=context.name, rule_name=rule_name)


def check_pair(system_name, rule_name, seed=0) -> PairCheck:
    """Check the registered rule ``rule_name`` on the registered system ``system_name``.

    The system is the registry's default instance (``seed``), the problem its example; the
    rule is checked against its declared claim with the registry's ``betas``, ``param`` and
    ``tolerance`` (see the module notes). ``print(result.report())`` for the account.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered ones).
    """
    from .registry import rule_entry, system_entry

    system_entry(system_name), rule_entry(rule_name)  # unknown names: a clear ValueError
    return _pair(_Context(system_name, seed), rule_name)


def pairs(seed=0):
    """Every applicable registered ``(system, rule, claim)``, the claim as a sentence."""
    from .registry import RULES, SYSTEMS, make_rule, make_system

    rules = {name: make_rule(name) for name in sorted(RULES)}
    out = []
    for sname, sentry in sorted(SYSTEMS.items()):
        if missing_requirements(sname):
            continue
        system = make_system(sname, seed=seed)
        for rname, rule in rules.items():
            claim = claim_of(system, rule, stochastic=sentry.stochastic)
            if claim != "not applicable":
                e = RULES[rname]
                out.append((sname, rname, _claim_text(claim, rule, e.betas, e.param,
                                                      e.tolerance)))
    return out


@dataclass
class CheckAllReport:
    """Every registered pair: ``passed``, the results, and the matrix as ``str(report)``."""

    systems: list
    rules: list
    results: dict                      # (system, rule) → PairCheck
    errors: dict = field(default_factory=dict)   # system → message (could not be built)
    seconds: float = 0.0
    skipped: dict = field(default_factory=dict)  # system → missing external program

    @property
    def passed(self):
        return not self.errors and all(r.passed for r in self.results.values() if r.applicable)

    def failures(self):
        return [r for r in self.results.values() if r.applicable and not r.passed]

    def __str__(self):
        width = max(len(s) for s in self.systems) + 2
        cell = 7
        lines = ["system × rule contract matrix (pass / FAIL / biased: biased by design, "
                 "a small step lowers the cost / – not applicable)", ""]
        lines.append(" " * width + "".join(f"{i + 1:>{cell}}" for i in range(len(self.rules))))
        for s in self.systems:
            if s in self.errors:
                lines.append(f"{s:<{width}}  ERROR: {self.errors[s]}")
                continue
            row = "".join(f"{self.results[(s, r)].status:>{cell}}" for r in self.rules)
            lines.append(f"{s:<{width}}{row}")
        lines += ["", "rules:"]
        lines += [f"  {i + 1:>2} {r}" for i, r in enumerate(self.rules)]
        stochastic = sorted({r.system for r in self.results.values() if r.claim == "stochastic"})
        if stochastic:
            lines += ["", f"stochastic systems (keys, shapes, dtype, finiteness only): "
                          f"{', '.join(stochastic)}"]
        applicable = [r for r in self.results.values() if r.applicable]
        counts = {k: sum(r.status == k for r in applicable) for k in ("pass", "biased", "FAIL")}
        lines += ["", f"{len(applicable)} applicable pairs: {counts['pass']} pass, "
                      f"{counts['biased']} biased by design (pass), {counts['FAIL']} FAIL; "
                      f"{self.seconds:.1f} s"]
        if self.skipped:
            lines += ["", "skipped (external program missing): "
                          + "; ".join(self.skipped.values())]
        for r in self.failures():
            lines += ["", r.report()]
        return "\n".join(lines)


def check_all(seed=0, progress=True) -> CheckAllReport:
    """Check every registered rule on every registered system (default instances).

    Each system is built once; its exact reference is computed once and shared by the rules.
    ``progress`` prints one line per system to stderr. A system whose external program
    (its entry's ``requires``, e.g. ngspice) is missing is skipped and listed in the report.
    """
    from .registry import RULES, SYSTEMS

    start = time.perf_counter()
    systems, rules = sorted(SYSTEMS), sorted(RULES)
    results, errors, skipped = {}, {}, {}
    for i, sname in enumerate(systems):
        t0 = time.perf_counter()
        if missing_requirements(sname):
            skipped[sname] = missing_requirements(sname)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                context = _Context(sname, seed)
        except Exception as err:  # noqa: BLE001
            errors[sname] = f"{type(err).__name__}: {err}"
            continue
        for rname in rules:
            results[(sname, rname)] = _pair(context, rname)
        if progress:
            done = [results[(sname, r)] for r in rules if results[(sname, r)].applicable]
            bad = sum(not r.passed for r in done)
            print(f"[{i + 1:>2}/{len(systems)}] {sname:<28} {len(done):>2} pairs"
                  f"{f', {bad} FAIL' if bad else ''}  {time.perf_counter() - t0:5.1f} s",
                  file=sys.stderr, flush=True)
    systems = [s for s in systems if s not in skipped]
    return CheckAllReport(systems, rules, results, errors, time.perf_counter() - start, skipped)


# -- derivations: the theorems behind the code, checked symbolically and numerically ------------
def check_derivation(name, seed=0):
    """Prove a registered derivation and compare it with the code it justifies.

    Parameters
    ----------
    name : str
        A key of :data:`physlearn.derivations.DERIVATIONS`.
    seed : int, default 0
        Seed of the random inputs of :meth:`~physlearn.derivations.Derivation.check_numeric`.

    Returns
    -------
    ok : bool
        True iff the symbolic proof holds and the numerical check is within its tolerance.
    report : str
        The proof's report and the numerical comparison.
    """
    from physlearn import derivations

    derivation = derivations.get(name)
    proof, numeric = derivation.verify(), derivation.check_numeric(seed)
    return bool(proof) and bool(numeric), f"{proof.report()}\n{numeric.report()}"
