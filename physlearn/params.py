"""Keyword hyperparameters stored verbatim, scikit-learn style.

Every system, rule, cost and optimizer keeps its constructor arguments as attributes of the same
name, so an experiment can be written to a config file and rebuilt from it exactly.
"""

from __future__ import annotations

import inspect

import numpy as np


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

    def get_params(self):
        """Return the constructor hyperparameters as a dict (values as given)."""
        return {name: getattr(self, self._param_aliases.get(name, name))
                for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters by name; unknown names raise ``ValueError``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no hyperparameter {name!r}; valid: {valid}"
                )
            setattr(self, self._param_aliases.get(name, name), value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _short(value):
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape})"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
