"""A system's trainable parameters as handed out: read-only, so they cannot be corrupted
behind the system's back.

``system.params`` is a :class:`Parameters` mapping of read-only float64 views. An edit in
place (``net.params["conductance"][3] = -0.5``) raises an error naming the parameter instead of
silently skipping every physical check; to change parameters, edit a copy and assign it::

    new = net.params.copy()            # a plain dict of writable copies
    new["conductance"][3] = 0.5
    net.params = new                   # validated: unphysical values are refused

The system keeps its own copies of what was assigned, so later edits of the assigned arrays do
not reach it either.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["Parameters", "ParameterArray", "ReadOnlyParameterError"]

_HOW = "edit a copy and assign it: new = system.params.copy(); ...; system.params = new"


class ReadOnlyParameterError(ValueError):
    """An attempt to edit a system's parameters in place."""


class ParameterArray(np.ndarray):
    """A read-only view of one parameter; item assignment names the parameter.

    Arrays computed from it (``2 * params["g"]``) are ordinary writable arrays.
    """

    param_name = None

    def __array_finalize__(self, obj):
        self.param_name = getattr(obj, "param_name", None)

    def __setitem__(self, index, value):
        if not self.flags.writeable:
            raise ReadOnlyParameterError(
                f"system.params[{self.param_name!r}] is read-only (setting index {index!r} to "
                f"{value!r}); {_HOW}")
        super().__setitem__(index, value)

    def copy(self, order="C"):
        """A plain writable ``numpy.ndarray`` copy."""
        return np.array(self, order=order, copy=True, subok=False)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        out = super().__array_wrap__(array, context, return_scalar)
        return out.view(np.ndarray) if isinstance(out, np.ndarray) else out


def _view(name, array):
    view = array.view(ParameterArray)
    view.param_name = name
    view.flags.writeable = False
    return view


class Parameters(Mapping):
    """Name → read-only parameter array; :meth:`copy` gives a writable dict."""

    def __init__(self, arrays):
        self._arrays = {name: _view(name, value) for name, value in arrays.items()}

    def __getitem__(self, name):
        return self._arrays[name]

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __setitem__(self, name, value):
        raise ReadOnlyParameterError(f"system.params is read-only (setting {name!r}); {_HOW}")

    def __delitem__(self, name):
        raise ReadOnlyParameterError(f"system.params is read-only (deleting {name!r}); {_HOW}")

    def copy(self):
        """A plain dict of writable float64 copies, to edit and assign back."""
        return {name: value.copy() for name, value in self._arrays.items()}

    def __repr__(self):
        inner = ", ".join(f"{k!r}: array(shape={v.shape})" for k, v in self._arrays.items())
        return f"Parameters({{{inner}}})"
