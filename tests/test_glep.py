"""Lagrangian EP under its four boundary conditions: which contrasts give which gradient."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.rules.echo import RHEL
from physlearn.rules.glep import boundary_gradient, boundary_loss, glep_gradient
from physlearn.systems.hru import HRU

BLOCK = ("A", "B", "b", "alpha")


@pytest.fixture(scope="module")
def problem():
    """A driven nonlinear HRU over one period of a periodic drive (T = 2, 20 steps)."""
    system = HRU(1, 3, 1, kind="nonlinear", readout="trajectory", dt=0.1, seed=0)
    t = np.arange(20) * system.dt
    phase = 2 * np.pi * t / 2.0
    x = np.stack([np.sin(phase), np.sin(phase + 1.0)])[:, :, None]
    y = 0.5 * np.stack([np.cos(phase), np.sin(phase)])[:, :, None]
    return system, x, y


def block(grads):
    return {k: grads[k] for k in BLOCK}


def test_final_value_contrast_is_rhel_and_the_causal_gradient(problem):
    system, x, y = problem
    causal = block(pl.exact_gradient(system, x, y))
    errors = [relative_error(glep_gradient(system, x, y, boundary="final-value", beta=b), causal)
              for b in (1e-2, 1e-3)]
    assert errors[1] < 1e-8 and 70 < errors[0] / errors[1] < 130        # O(β²)
    rhel = block(RHEL(eps=1e-3).gradient(system, x, y))
    assert relative_error(glep_gradient(system, x, y, boundary="final-value", beta=1e-3),
                          rhel) < 1e-10                                  # the same echo


def test_initial_value_contrast_needs_its_boundary_residual(problem):
    system, x, y = problem
    causal = block(pl.exact_gradient(system, x, y))
    naive = glep_gradient(system, x, y, boundary="initial-value", beta=1e-3)
    fixed = glep_gradient(system, x, y, boundary="initial-value", beta=1e-3, residual=True)
    assert relative_error(naive, causal) > 0.5
    assert relative_error(fixed, causal) < 1e-7


@pytest.mark.parametrize("boundary", ["fixed-endpoints", "periodic"])
def test_global_boundary_problems_give_their_own_models_gradient(problem, boundary):
    system, x, y = problem
    own = boundary_gradient(system, x, y, boundary=boundary)
    errors = [relative_error(glep_gradient(system, x, y, boundary=boundary, beta=b), own)
              for b in (1e-1, 1e-2, 1e-3)]
    assert errors[2] < 1e-6 and 70 < errors[0] / errors[1] < 130
    causal = block(pl.exact_gradient(system, x, y))
    assert relative_error(own, causal) > 0.3          # ... which is not the causal model


def test_causal_boundary_models_are_the_forward_run(problem):
    system, x, y = problem
    loss = pl.loss(system, x, y)
    for boundary in ("initial-value", "final-value"):
        assert abs(boundary_loss(system, x, y, boundary=boundary) - loss) < 1e-14
    own = boundary_gradient(system, x, y, boundary="final-value")
    assert relative_error(own, block(pl.exact_gradient(system, x, y))) < 1e-7


def test_bad_boundary_and_system_are_refused(problem):
    system, x, y = problem
    with pytest.raises(ValueError, match="boundary='open' is not one of"):
        glep_gradient(system, x, y, boundary="open")
    with pytest.raises(ValueError, match="beta=0.0 must be a finite positive number"):
        glep_gradient(system, x, y, beta=0.0)
    with pytest.raises(ValueError, match="readout='trajectory'"):
        glep_gradient(HRU(1, 3, 1, seed=0), x, y[:, -1])
