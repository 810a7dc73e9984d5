"""Keyword hyperparameters stored verbatim, scikit-learn style.

Every system, rule, cost and optimizer keeps its constructor arguments as attributes of the same
name, so an experiment can be written to a config file and rebuilt from it exactly.
"""

from __future__ import annotations

import inspect

import numpy as np


def check_finite(name, value):
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless it is a finite real
    number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return float(value)


def per_layer(name, value, n_layers, check=check_finite):
    """One float per layer of couplings: a number serves every layer, a sequence gives them in
    order and must have ``n_layers`` entries. Each entry passes ``check(name, v)``, which
    returns it as a float or raises naming it (``gain[1]`` for a sequence's second entry)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != n_layers:
            raise ValueError(f"{name}={list(value)!r} has {len(value)} entries; expected one "
                             f"number for every layer or one per layer of couplings "
                             f"({n_layers})")
        return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(value))
    return (check(name, value),) * n_layers


class HyperParams:
    """Mixin giving ``get_params`` / ``set_params`` from the ``__init__`` signature.

    ``_param_aliases`` maps a hyperparameter to the attribute that stores it, where the name
    is taken by a method of the seam (a system's ``outputs`` hyperparameter versus its
    ``outputs(state)`` method).
    """

    _param_aliases = {}

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [
            name
            for name, p in sig.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep=True):
        """The constructor hyperparameters as a dict (values as given).

        Parameters
        ----------
        deep : bool, default True
            Also return the hyperparameters of hyperparameters that have their own
            (``"cost__temperature"``), as scikit-learn does, so ``sklearn.base.clone`` works.
        """
        out = {name: getattr(self, self._param_aliases.get(name, name))
               for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def set_params(self, **params):
        """Set hyperparameters by name (``"cost__temperature"`` reaches into a hyperparameter);
        unknown names raise ``ValueError``."""
        valid = self._param_names()
        for name, value in params.items():
            outer, _, inner = name.partition("__")
            if outer not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no hyperparameter {outer!r}; valid: {valid}"
                )
            if inner:
                getattr(self, self._param_aliases.get(outer, outer)).set_params(**{inner: value})
            else:
                setattr(self, self._param_aliases.get(outer, outer), value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


def _short(value):
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape})"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
