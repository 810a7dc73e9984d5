"""The rule side of the seam: which nudges to run and how to contrast their measurements."""

from __future__ import annotations

import numpy as np

from ..abstract import not_implemented
from ..costs import make_cost
from ..params import HyperParams
from ..system import batch_mean


class Rule(HyperParams):
    """Base class of learning rules.

    A rule estimates ``dL/dθ`` (batch mean over the rows of ``x``) from a few relaxations of the
    system. ``requires`` lists the system capabilities the rule needs; ``bias_order`` is the
    declared order ``p`` of the estimator's error ``O(β^p)`` (``None``: not a gradient
    estimator, e.g. contrastive learning). ``is_reference`` marks a rule that *is* the exact
    gradient (BPTT), checked against finite differences rather than against a reference.
    """

    requires = frozenset({"soft_nudge"})
    #: True for a rule that can train a chain of blocks nudged block by block (capability
    #: ``"chained_nudge"``, e.g. FFEBM) through the system's ``chained_gradient``
    chains = False
    bias_order = None
    is_reference = False

    def gradient(self, system, x, y, cost=None):
        """Gradient estimate: dict with the keys and shapes of ``system.params``."""
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        self.check_system(system)
        return batch_mean(self.per_sample_gradient(system, x, y, make_cost(cost)))

    def per_sample_gradient(self, system, x, y, cost):
        raise not_implemented(self, "per_sample_gradient",
                              "the per-sample gradient estimate: dict name → array of shape "
                              "(batch, *system.params[name].shape)")

    def check_system(self, system):
        if self.chains and "chained_nudge" in system.capabilities:
            return
        missing = self.requires - set(system.capabilities)
        if missing:
            raise ValueError(f"{type(self).__name__} needs {sorted(missing)}, which "
                             f"{type(system).__name__} does not offer")

    def applies_to(self, system):
        capabilities = set(system.capabilities)
        return (self.chains and "chained_nudge" in capabilities) or self.requires <= capabilities

    def exact_on(self, system, cost=None):
        """True where the estimate equals ``dL/dθ`` at every nudge strength (up to round-off),
        so there is no bias to measure; False by default."""
        return False


def contrast(g2, g1, denominator):
    """(∂E/∂θ(state 2) − ∂E/∂θ(state 1)) / denominator, per parameter, real part."""
    return {k: np.real(g2[k] - g1[k]) / denominator for k in g2}


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {list(choices)}")
    return value


def check_strength(name, value):
    """A nudge strength must be a finite non-zero real number."""
    if isinstance(value, complex) or np.iscomplexobj(value):
        raise ValueError(f"{name}={value!r} must be real")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a finite positive number")
    return value
