"""Derivations: every one is proved and agrees with the code it names; wrong ones fail."""

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import physlearn as pl
from physlearn import derivations
from physlearn.derivations import CONTROLS, DERIVATIONS, Step, is_zero, resolve, witness
from physlearn.derivations import resistor as resistor_module
from physlearn.experiment.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs" / "derivations.md"
OWN = ("ep_identity", "bias", "resistor", "coupled")


@pytest.mark.parametrize("name", list(DERIVATIONS))
def test_derivation_is_proved(name):
    proof = DERIVATIONS[name].verify()
    assert proof, proof.report()


@pytest.mark.parametrize("name", list(DERIVATIONS))
def test_numeric_check_agrees_with_the_code(name):
    d = DERIVATIONS[name]
    resolve(d.implements)                   # the named code exists
    check = d.check_numeric()
    assert check, check.report()


def test_every_derivation_is_linked():
    for name, d in DERIVATIONS.items():
        assert d.implements and d.numeric is not None and d.tolerance > 0, name


def test_own_modules_keep_their_derivations():
    names = {n for n in DERIVATIONS if n.split(".")[0] in OWN}
    assert len(names) == 17
    assert {"bias.centered", "resistor.kirchhoff", "coupled.clamp_is_nudge"} <= names


@pytest.mark.parametrize("module", sorted(CONTROLS))
def test_negative_controls_fail(module):
    """A wrong sign, factor or estimator gives a non-zero expression (the checks can fail).

    ``witness`` evaluates at a random rational point: a non-zero value proves the expression is
    not identically zero, independently of ``simplify``.
    """
    controls = CONTROLS[module]()
    assert controls
    for statement, expr in controls.items():
        assert not is_zero(expr), f"{module}.{statement} unexpectedly simplifies to zero"
        assert witness(expr) != 0, f"{module}.{statement} vanishes at the witness point"


def test_is_zero_decides_simple_cases():
    x, y = sp.symbols("x y")
    assert is_zero((x + y) ** 2 - x**2 - 2 * x * y - y**2)
    assert is_zero(1 / (x - 1) - 1 / (x - 1))
    assert is_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1)              # via simplify
    assert is_zero(sp.Matrix([x - x, (1 + sp.sqrt(3)) * (1 - sp.sqrt(3)) + 2]))
    assert not is_zero(x / (x + 1))
    assert not is_zero(sp.Matrix([0, x]))


def test_series_steps():
    x, a = sp.symbols("x a")
    assert Step("removable", (sp.sin(x) - x) / x, series=(x, 2)).check()[0]
    assert Step("rational", (a * x + x**3) / x - a, series=(x, 2)).check()[0]
    assert not Step("too low", (a * x + x**2) / x - a, series=(x, 2)).check()[0]
    assert not Step("pole", 1 / x, series=(x, 1)).check()[0]


def test_verify_reports_by_name():
    assert derivations.verify("bias.centered") == {"bias.centered": True}
    assert "statement" in derivations.check("bias.centered").report()
    with pytest.raises(ValueError, match="unknown derivation"):
        derivations.verify("bias.nonexistent")


# -- deliberately wrong variants: editing the object changes the verdict ------------------------
def _plus(step, term):
    """The step with ``term`` added to its expression (each entry of a column)."""
    expr = step.expr.applyfunc(lambda e: e + term) if isinstance(step.expr, sp.MatrixBase) \
        else step.expr + term
    return Step(step.claim, expr, step.series)


def _symbols(*names):
    return sp.symbols(names)


def _one_sided_flipped(d):
    beta, a2 = _symbols("beta", "a_2")
    return d.edited(statement=_plus(d.statement, 2 * a2 * beta))      # +a₂β claimed as −a₂β


def _centered_dropped(d):
    beta, a3 = _symbols("beta", "a_3")
    return d.edited(statement=_plus(d.statement, a3 * beta**2))       # the a₃β² term dropped


def _cauchy_dropped(d):
    r = sp.Symbol("r", positive=True)
    entries = [e + sp.Symbol(f"a_{1 + n}") * r**n if k == 0 else e
               for k, (e, n) in enumerate(zip(d.statement.expr, (2, 3, 4, 6)))]
    return d.edited(statement=Step(d.statement.claim, sp.Matrix(entries)))  # N = 2 alias dropped


def _cocontent_factor(d):
    c = resistor_module.small_network()
    half = sp.Matrix([resistor_module._on(h, c, c.free_state()) for h in c.local()])
    return d.edited(statement=Step(d.statement.claim, d.statement.expr - half))  # ΔV², not ½ΔV²


def _pole_flipped(d):
    c = resistor_module.small_network()
    o0, R, beta = c.free_state()[c.output], c.response(), c.beta
    wrong = c.nudged_state()[c.output] - (o0 + beta * R * c.y) / (1 - beta * R)
    return d.edited(statement=Step(d.statement.claim, wrong))         # pole at +1/R


def _small_eta_without_R(d):
    c = resistor_module.small_network(resistor_module.LADDER)
    loss = (c.free_state()[c.output] - c.y) ** 2 / 2
    R = c.response()
    shift = sp.Matrix([sp.diff(loss, g) * (1 / R - 1) for g in c.g])
    return d.edited(statement=Step(d.statement.claim, d.statement.expr + shift))  # 1/R lost


def _general_step_flipped(d):
    s = sp.Symbol("s")
    steps = list(d.steps)
    k = next(i for i, st in enumerate(steps) if "dΦ/dβ" in st.claim)
    steps[k] = _plus(steps[k], 2 * sp.Function("C")(s))               # dΦ/dβ = −C(s_β)
    return d.edited(steps=steps)


WRONG = {
    "bias.one_sided": _one_sided_flipped,
    "bias.centered": _centered_dropped,
    "bias.cauchy": _cauchy_dropped,
    "resistor.cocontent_gradient": _cocontent_factor,
    "resistor.output_pole": _pole_flipped,
    "coupled.small_eta_limit": _small_eta_without_R,
    "ep_identity.general_energy": _general_step_flipped,
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_variant_fails(name):
    d = DERIVATIONS[name]
    wrong = WRONG[name](d)
    proof = wrong.verify()
    assert not proof, proof.report()
    assert "FAIL" in proof.report()
    assert d.verify(), "editing a copy must leave the registered derivation intact"


# -- breaking the code a derivation names makes its numerical check fail ------------------------
def _negated(function):
    def wrapped(*args, **kwargs):
        out = function(*args, **kwargs)
        return {k: -v for k, v in out.items()} if isinstance(out, dict) else -out
    return wrapped


def _unfolded(cauchy_nudges):
    """Cauchy nudges with the conjugate pairs not folded (weight 1): half the sum is lost."""
    return lambda radius, points: [(b, 1.0) for b, _ in cauchy_nudges(radius, points)]


BREAKS = [
    ("physlearn.rules.ep", "contrast", _negated, "bias.centered"),
    ("physlearn.rules.ep", "contrast", _negated, "resistor.ep_gradient"),
    ("physlearn.rules.contrastive", "contrast", _negated, "coupled.coupled_equals_contrastive"),
    ("physlearn.systems.resistor:ResistorNetwork", "param_gradient", _negated,
     "resistor.cocontent_gradient"),
    ("physlearn.systems.resistor:ResistorNetwork", "convergence_radius",
     lambda f: lambda self: 2 * f(self), "resistor.output_pole"),
    ("physlearn.system:EquilibriumSystem", "exact_gradient", _negated,
     "ep_identity.quadratic_energy_3x3_output"),
    ("physlearn.rules.holomorphic", "cauchy_nudges", _unfolded,
     "bias.conjugate_folding"),
]


@pytest.mark.parametrize("owner,attr,breaker,name", BREAKS,
                         ids=[f"{b[3]}-{b[1]}" for b in BREAKS])
def test_breaking_the_code_fails_the_numeric_check(monkeypatch, owner, attr, breaker, name):
    target = resolve(owner) if ":" in owner else __import__(owner, fromlist=[attr])
    monkeypatch.setattr(target, attr, breaker(getattr(target, attr)))
    check = DERIVATIONS[name].check_numeric()
    assert not check, check.report()


# -- text: LaTeX, markdown, the command line ------------------------------------------------------
def test_latex_and_markdown_show_every_claim():
    d = DERIVATIONS["bias.centered"]
    latex = d.latex()
    assert latex.count("\\[") == len(d.steps) + 1 and "O\\left(" in latex
    assert d.markdown().startswith("## `bias.centered`") and d.implements in d.markdown()


def test_docs_are_current():
    assert DOCS.exists(), "docs/derivations.md is missing: run `physlearn derive --markdown`"
    assert DOCS.read_text(encoding="utf-8") == derivations.markdown(), \
        "docs/derivations.md is out of date: run `physlearn derive --markdown`"


@pytest.fixture
def two_derivations(monkeypatch):
    small = {n: DERIVATIONS[n] for n in ("bias.one_sided", "bias.centered")}
    monkeypatch.setattr(derivations, "DERIVATIONS", small)
    return small


def test_cli_lists_verdicts_and_targets(two_derivations, capsys):
    assert main(["derive", "--numeric"]) == 0
    out = capsys.readouterr().out
    for name, d in two_derivations.items():
        assert name in out and d.implements in out
    assert "FAILED" not in out


def test_cli_list_fails_on_a_wrong_derivation(two_derivations, capsys):
    two_derivations["bias.centered"] = _centered_dropped(DERIVATIONS["bias.centered"])
    assert main(["derive"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_cli_prints_one_derivation(capsys):
    assert main(["derive", "bias.centered"]) == 0
    assert "bias.centered: verified" in capsys.readouterr().out
    assert main(["derive", "bias.centered", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "% bias.centered" in out and "\\[" in out


def test_cli_unknown_name_exits_2(capsys):
    assert main(["derive", "bias.nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "unknown derivation" in err and "bias.centered" in err


def test_cli_writes_markdown(two_derivations, tmp_path):
    path = tmp_path / "derivations.md"
    assert main(["derive", "--markdown", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert text == derivations.markdown()
    assert "physlearn derive --markdown" in text and "bias.one_sided" in text
    assert np.char.count(text, "## `").item() == 2


def _flipped(value):
    """``value`` with its sign flipped: numbers, arrays, dicts, sequences and dataclasses
    such as states and flows (every array they hold but the inputs ``x``)."""
    import dataclasses

    if isinstance(value, dict):
        return {k: _flipped(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: -getattr(value, f.name)
                                for f in dataclasses.fields(value) if f.name != "x"
                                and isinstance(getattr(value, f.name), np.ndarray)})
    if isinstance(value, (tuple, list)):
        return type(value)(_flipped(v) for v in value)
    return -value


@pytest.mark.parametrize("name", list(DERIVATIONS))
def test_flipping_the_sign_of_the_named_code_fails_the_numeric_check(monkeypatch, name):
    """Every derivation: the code at ``implements``, its output sign-flipped, fails the check
    (a wrong number, or an error such as a relaxation that no longer converges)."""
    d = DERIVATIONS[name]
    owner_path, _, attr = d.implements.rpartition(".")
    if ":" not in owner_path:                       # "package.module:function"
        owner_path, _, attr = d.implements.partition(":")
    owner = resolve(owner_path) if ":" in owner_path else __import__(owner_path,
                                                                       fromlist=[attr])
    original = getattr(owner, attr)

    def flipped(*args, **kwargs):
        return _flipped(original(*args, **kwargs))

    monkeypatch.setattr(owner, attr, flipped)
    try:
        check = d.check_numeric()
    except (pl.ConvergenceError, FloatingPointError, np.linalg.LinAlgError):
        return                  # the broken physics fails outright (no relaxation): caught
    assert not check, check.report()
