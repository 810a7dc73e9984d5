"""The error a base class raises for a method its subclass has not written.

A bare ``NotImplementedError`` leaves a new user guessing; this one names the class, the
method, the base class that declares it and what the method must return, so writing one's own
system, rule or cost can proceed from the traceback.
"""

from __future__ import annotations

__all__ = ["not_implemented"]


def not_implemented(obj, method: str, returns: str) -> NotImplementedError:
    """The ``NotImplementedError`` for ``obj.method`` missing in a subclass.

    Parameters
    ----------
    obj : object
        The instance whose class lacks the method.
    method : str
        The method's name.
    returns : str
        What the method must return (shapes included), in a few words.

    Returns
    -------
    NotImplementedError
        Ready to raise: ``raise not_implemented(self, "outputs", "...")``.
    """
    cls = type(obj)
    declared = next((base.__name__ for base in reversed(cls.__mro__)
                     if method in vars(base)), cls.__name__)
    return NotImplementedError(
        f"{cls.__name__}.{method} is not implemented: a subclass of {declared} must define "
        f"{method}() to return {returns}")
