"""Test-only systems for the sweep tests: a resistor network that misbehaves on demand.

Imported by Dask workers (spawned processes) through ``[system] class =
"sweep_helpers:FlakyResistor"``; the workers find this module on the ``sys.path`` they
inherit from the test process (pytest puts ``tests/`` on it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from physlearn.systems import ResistorNetwork


class FlakyResistor(ResistorNetwork):
    """A layered resistor network whose first relaxation can misbehave, for one seed.

    Parameters
    ----------
    layers : list of int, default [3, 4, 2]
        As for :meth:`ResistorNetwork.layered`.
    seed : int, default 0
        Seed of the initial conductances; only the network with ``seed == bad_seed``
        misbehaves.
    bad_seed : int, default 0
        The seed of the misbehaving network.
    die : str, default "never"
        ``"never"``; ``"once"``: kill the worker process (``os._exit``) the first time any
        such network relaxes, coordinated through ``marker`` (created atomically by the one
        that dies); ``"always"``: kill it every time.
    marker : str, default ""
        File marking that ``die = "once"`` has happened (it holds the pid that died).
    fail_unless : str, default ""
        If given, raise ``RuntimeError`` while this file does not exist.
    wait_for : str, default ""
        If given, block (up to 60 s) until this file exists.
    """

    def __init__(self, layers=(3, 4, 2), *, seed=0, bad_seed=0, die="never", marker="",
                 fail_unless="", wait_for=""):
        proto = ResistorNetwork.layered(list(layers), seed=seed)
        super().__init__(proto.graph, proto.inputs, proto.output_nodes, proto.ground,
                         bias_sources=proto.bias_sources, seed=seed)
        self.layers, self.bad_seed, self.die = list(layers), bad_seed, die
        self.marker, self.fail_unless, self.wait_for = marker, fail_unless, wait_for
        self._checked = False

    def _misbehave(self):
        self._checked = True
        if self.seed != self.bad_seed:
            return
        if self.wait_for:
            deadline = time.monotonic() + 60
            while not Path(self.wait_for).exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.wait_for} did not appear")
                time.sleep(0.02)
        if self.fail_unless and not Path(self.fail_unless).exists():
            raise RuntimeError(f"{self.fail_unless} does not exist")
        if self.die == "always":
            os._exit(13)
        if self.die == "once":
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os._exit(13)

    def equilibrium(self, x, nudge=None, start=None):
        if not self._checked:
            self._misbehave()
        return super().equilibrium(x, nudge=nudge, start=start)


def warm_up():
    """Import what a point needs, so that the first points on a fresh worker are not slow."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    import physlearn.experiment.config  # noqa: F401
    import physlearn.experiment.train  # noqa: F401
    import physlearn.systems.diode  # noqa: F401
    import physlearn.systems.ising  # noqa: F401

    return os.getpid()
