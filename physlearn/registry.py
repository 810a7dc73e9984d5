"""Registries of systems and rules: one entry makes a class part of the contract suite.

A system entry builds a small instance and an example problem ``(x, y)``; a rule entry builds
a rule and names the nudge strengths at which its bias order is measured. The contract tests
(``tests/test_contract.py``) and the command line (``physlearn check SYSTEM RULE``) iterate over
everything registered here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rules import EP, ContrastiveLearning, CoupledLearning, HolomorphicEP


@dataclass(frozen=True)
class SystemEntry:
    """How to build a small instance of a system and an example problem for it."""

    build: object                     # (seed) -> system
    example: object = None            # (system, rng) -> (x, y); default: Gaussian x, y
    batch: int = 4

    def problem(self, system, seed=0):
        rng = np.random.default_rng(seed)
        if self.example is not None:
            return self.example(system, rng)
        x = rng.normal(size=(self.batch, system.n_features))
        y = 0.3 * rng.normal(size=(self.batch, system.n_outputs))
        return x, y


@dataclass(frozen=True)
class RuleEntry:
    """How to build a rule, and where (which nudge strengths) to measure its bias order."""

    build: object                     # () -> rule
    betas: tuple = field(default=(1e-2, 3e-3, 1e-3, 3e-4))
    param: str = "beta"
    tolerance: float = 1e-5           # relative error at the smallest beta


SYSTEMS: dict[str, SystemEntry] = {}
RULES: dict[str, RuleEntry] = {}


def register_system(name, build, **kwargs):
    """Register a system builder ``build(seed) -> system`` under ``name``."""
    SYSTEMS[name] = SystemEntry(build, **kwargs)


def register_rule(name, build, **kwargs):
    """Register a rule builder ``build() -> rule`` under ``name``."""
    RULES[name] = RuleEntry(build, **kwargs)


def _lookup(table, kind, name):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; registered: {sorted(table)}")
    return table[name]


def make_system(name, seed=0):
    """Build the registered system ``name``."""
    return _lookup(SYSTEMS, "system", name).build(seed)


def make_rule(name):
    """Build the registered rule ``name``."""
    return _lookup(RULES, "rule", name).build()


def system_entry(name):
    return _lookup(SYSTEMS, "system", name)


def rule_entry(name):
    return _lookup(RULES, "rule", name)


def _register_builtins():
    from physlearn.systems import ResistorNetwork

    register_system("resistor", lambda seed: ResistorNetwork.random(40, seed=seed))
    register_system("resistor-layered",
                    lambda seed: ResistorNetwork.layered([3, 6, 2], seed=seed))
    for variant, tol in (("positive", 5e-3), ("negative", 5e-3), ("centered", 1e-5)):
        register_rule(f"ep-{variant}", lambda v=variant: EP(beta=1e-3, variant=v),
                      tolerance=tol)
    register_rule("holomorphic-ep", lambda: HolomorphicEP(beta=0.02, points=3),
                  betas=(0.08, 0.04, 0.02), tolerance=5e-4)
    register_rule("contrastive", ContrastiveLearning, betas=())
    for variant in ("positive", "negative", "centered"):
        register_rule(f"coupled-{variant}", lambda v=variant: CoupledLearning(0.1, v),
                      betas=(), param="eta")
    from physlearn.systems import diode, elastic

    from .rules.echo import register as register_echo

    diode.register()
    elastic.register()
    register_echo()
    from physlearn.systems import quantum_oscillators, spin_chain

    spin_chain.register()             # "spin-chain-tfim", "spin-chain-xxz"
    from physlearn.systems import ising

    ising.register()                  # "ising-exact", "ising-mean-field"
    from physlearn.systems import phase_oscillators, vector_field

    phase_oscillators.register()      # "phase-oscillators"
    vector_field.register()           # "vector-field"; rules "generalized-ep-*"
    quantum_oscillators.register()    # "quantum-harmonic-network"


_register_builtins()
