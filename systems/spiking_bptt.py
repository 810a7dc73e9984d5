"""Backpropagation through time through a spiking network, with a surrogate spike derivative.

The baseline EP is compared with on spiking hardware's terms (accuracy and memory): the free
phase of a :class:`~physlearn.systems.spiking.SpikingNetwork` is run forward keeping every
step, and the loss of the counted output firing fractions is differentiated backward through
the membranes, the resets and the recurrent couplings, with ``H′(v − 1)`` replaced by a
triangle of half-width ``width`` (Neftci, Mostafa & Zenke 2019).
"""

from __future__ import annotations

import numpy as np

from physlearn.systems.spiking import _correlate, _Phase

__all__ = ["surrogate_gradient"]


def surrogate_gradient(net, x, y, cost, width):
    """Per-sample surrogate-gradient BPTT of ``C(r_out, y)`` (see the module docstring).

    Returns
    -------
    dict
        name → ``(batch, *shape)``.
    """
    y = net.check_targets(y, len(x))
    steps, window = net.n_settle + net.window, net.window
    run = _Phase(net, x, None, False)
    v_all, z_all, z0_all = [], [run.z], [run.z0]          # z_all[t]: spikes after step t
    for t in range(steps):
        run.step(None, count=t >= net.n_settle)
        v_all.append(run.u + run.z)                          # the membrane before the reset
        z_all.append(run.z)
        z0_all.append(run.z0)
    rates = run.count / window
    g_rate = cost.gradient(rates[:, net.output_index], y) / window
    theta, lam, ops, sl = net.threshold, net.leak, net._ops, net._slices
    g_read = np.zeros_like(rates)        # ∂L/∂z(t) through the currents of step t + 1
    gu = np.zeros_like(rates)
    gc_all = [None] * steps
    for t in range(steps - 1, -1, -1):
        gz = g_read
        if t >= net.n_settle:
            gz = gz.copy()
            gz[:, net.output_index] += g_rate
        v = v_all[t]
        surrogate = np.maximum(0.0, 1.0 - np.abs(v - 1.0) / width) / width
        gv = gu + (gz - gu) * surrogate                      # u = v − z: the reset feeds back
        gc_all[t] = gv
        gu = lam * gv
        # currents of step t read the spikes of step t−1: carry gv back to them
        z_prev = z_all[t]
        back = np.zeros_like(rates)
        for l, op in enumerate(ops):
            g_l = gv[:, sl[l]] / theta
            if l > 0:
                back[:, sl[l - 1]] += op.transpose(run.W[l], g_l, z_prev[:, sl[l - 1]])
            if l + 1 < len(ops):
                back[:, sl[l + 1]] += ops[l + 1].forward(run.W[l + 1], g_l, z_prev[:, sl[l]])
        g_read = back
    gc = np.stack(gc_all) / theta                              # (T, batch, n_state)
    z_prev = np.stack(z_all[:-1])                              # spikes read at each step
    z0_prev = np.stack(z0_all[:-1])
    grads = {}
    for l, op in enumerate(ops):
        pre = z0_prev if l == 0 else z_prev[:, :, sl[l - 1]]
        g_l = gc[:, :, sl[l]]
        dW = _correlate(op, run.W[l], g_l, pre)
        if l + 1 < len(ops):                                   # the feedback term of layer l
            dW_up = _correlate(ops[l + 1], run.W[l + 1], z_prev[:, :, sl[l + 1]], g_l,
                               at=z_prev[:, :, sl[l]])
            grads[f"W{l + 2}"] = grads.get(f"W{l + 2}", 0.0) + dW_up
        grads[f"W{l + 1}"] = grads.get(f"W{l + 1}", 0.0) + dW
        grads[f"b{l + 1}"] = op.bgrad(g_l.sum(axis=0))
    return {k: grads[k] for k in net.param_shapes}
