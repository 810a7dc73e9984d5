"""Wanjura & Marquardt's quantum-EP tasks, scaled to a laptop: a phase sensor and phase exploration.

Both loops use only the seam: ``rule.gradient(system, x, y, cost)`` for the physical gradient
estimate (a constant number of state preparations per sample) and an optimizer's
``step(params, grads)``. They are shared by the examples (``examples/12_*``, ``13_*``) and the
slow tests.

References
----------
.. [1] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training of
   quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
   arXiv:2406.06482 (Figs. 3 and 4; code ClaraWanjura/QuantumEP).
"""

from __future__ import annotations

import warnings

import numpy as np
from tqdm.auto import tqdm

from physlearn.costs import SquaredError

from .quantum import NegativeMagnitude, NudgeNearGapWarning

__all__ = ["train_phase_sensor", "sensor_accuracy", "explore_phase"]


def sensor_accuracy(sensor, x, labels):
    """Max-choice accuracy (argmax of the three projector outputs equals the phase) and
    single-shot accuracy (mean probability of the correct sensor outcome), exact expectations."""
    shots = sensor.shots
    sensor.set_params(shots=None)
    try:
        p = sensor.predict(x)
    finally:
        sensor.set_params(shots=shots)
    return float(np.mean(np.argmax(p, axis=1) == labels)), \
        float(np.mean(p[np.arange(len(labels)), labels]))


def train_phase_sensor(n_system=6, *, batches=1000, batch_size=10, beta=0.4,
                       variant="centered", shots=10, lr=0.01, n_test=200, eval_every=100,
                       system_ops="XYZ", seed=0, progress=True):
    """Train a 2-qubit phase sensor on a cluster-Ising ring with quantum EP.

    Every batch draws ``batch_size`` fresh couplings on the triangle g_zxz + g_zz + g_x = 4
    (:func:`physlearn.systems.spin_chain.cluster_ising_phases`), estimates the gradient of the
    squared error of the three sensor-projector expectations with ``EP(beta, variant)`` from
    ``shots`` measurements per expectation value, and takes an Adam step. ``system_ops`` are
    the system Paulis the sensor couples to (W&M: "Z" alone fails).

    Returns
    -------
    dict
        ``sensor`` (the trained SpinChain), ``history`` (list of (batch, max-choice accuracy,
        single-shot accuracy) on the test set), ``accuracy`` and ``single_shot`` (final),
        ``near_gap_warnings`` (how many nudges were flagged by the gap guard).
    """
    from physlearn.experiment.optim import Adam  # task loops sit on top of the rules
    from physlearn.rules import EP
    from physlearn.systems.spin_chain import SpinChain, cluster_ising_phases

    sensor = SpinChain.phase_sensor(n_system, system_ops=system_ops, shots=shots,
                                    gap_guard="warn", seed=seed)
    x_test, labels_test, _ = cluster_ising_phases(n_test, seed=seed + 10_000)
    rule, cost, opt = EP(beta=beta, variant=variant), SquaredError(), Adam(lr=lr)
    data_rng = np.random.default_rng(seed + 1)
    history, flagged = [(0, *sensor_accuracy(sensor, x_test, labels_test))], 0
    for step in tqdm(range(1, batches + 1), desc="phase sensor", disable=not progress):
        x, _, y = cluster_ising_phases(batch_size, seed=data_rng)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NudgeNearGapWarning)
            grads = rule.gradient(sensor, x, y, cost)
        flagged += sum(issubclass(w.category, NudgeNearGapWarning) for w in caught)
        sensor.params = opt.step(sensor.params, grads)
        if step % eval_every == 0 or step == batches:
            history.append((step, *sensor_accuracy(sensor, x_test, labels_test)))
    return {"sensor": sensor, "history": history, "accuracy": history[-1][1],
            "single_shot": history[-1][2], "near_gap_warnings": flagged}


def explore_phase(n_spins=10, *, steps=30, beta=0.1, variant="positive", lr=0.1,
                  theta=(-0.1, 0.4), shots=None, seed=0, progress=True):
    """Unsupervised phase exploration: maximise ``|⟨X₀X₄⟩|`` with normalised quantum-EP steps.

    ``θ ← θ − lr · ĝ/‖ĝ‖`` with ĝ the EP estimate of ``∂(−|⟨X₀X₄⟩|)/∂θ`` on
    :meth:`SpinChain.phase_exploration` (open chain, Lanczos ground states). The gap guard only
    warns: the starting points lie in a nearly degenerate ordered phase.

    Returns
    -------
    dict
        ``magnitude`` (``|⟨X₀X₄⟩|`` before each step and after the last, length steps + 1),
        ``theta`` (trajectory, shape (steps + 1, 2)), ``chain``.
    """
    from physlearn.rules import EP
    from physlearn.systems.spin_chain import SpinChain

    chain = SpinChain.phase_exploration(n_spins, theta=theta, shots=shots, gap_guard="warn",
                                        seed=seed)
    rule, cost = EP(beta=beta, variant=variant), NegativeMagnitude()
    x, y = np.zeros((1, 0)), np.zeros((1, 1))
    magnitude, thetas = [], [chain.params["theta"].copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NudgeNearGapWarning)
        for _ in tqdm(range(steps), desc="phase exploration", disable=not progress):
            magnitude.append(float(abs(chain.predict(x)[0, 0])))
            g = rule.gradient(chain, x, y, cost)["theta"]
            norm = np.linalg.norm(g)
            step = g / norm if norm > 0 else np.zeros_like(g)
            chain.params = {"theta": chain.params["theta"] - lr * step}
            thetas.append(chain.params["theta"].copy())
        magnitude.append(float(abs(chain.predict(x)[0, 0])))
    return {"magnitude": np.array(magnitude), "theta": np.array(thetas), "chain": chain}
