"""Python values as TOML values and back, so that any system's hyperparameters fit a config.

TOML has strings, numbers, booleans, arrays and tables, but no null, tuple, array with a dtype,
graph or object. A value of one of those kinds is written as a one-key table whose key starts
with ``$``, and read back to the same Python value:

==========================  =======================================================
Python                      TOML
==========================  =======================================================
``None``                    ``{ "$none" = true }``
``(1, "a")``                ``{ "$tuple" = [1, "a"] }``
``{(0, 1): 2.0}``           ``{ "$items" = [[{ "$tuple" = [0, 1] }, 2.0]] }``
``numpy.ndarray``           ``{ "$array" = [...], dtype = "float64" }`` (``imag`` if complex)
``networkx.Graph``          ``{ "$graph" = { nodes = [[id, {…}]], edges = [[u, v, {…}]] } }``
an object with parameters   ``{ "$class" = "package.module:Class", key = value, ... }``
a module-level function     ``{ "$callable" = "package.module:function" }``
==========================  =======================================================

Objects with parameters are those with ``get_params()`` (systems, rules, costs, optimizers) and
dataclasses; they are rebuilt by calling the class with their parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..registry import import_target

__all__ = ["encode", "decode", "EncodingError", "hyperparameters"]


class EncodingError(TypeError):
    """A value that cannot be written to a config file (a lambda, an open file, ...)."""


def hyperparameters(obj):
    """``obj.get_params(deep=False)`` (or ``get_params()`` of a class without ``deep``)."""
    try:
        return obj.get_params(deep=False)
    except TypeError:
        return obj.get_params()


def _class_path(obj):
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _callable_path(fn, where):
    path = f"{getattr(fn, '__module__', None)}:{getattr(fn, '__qualname__', '')}"
    try:
        same = import_target(path) is fn
    except ValueError:
        same = False
    if not same:
        raise EncodingError(f"{where} = {fn!r} cannot be written to a config: only functions "
                            "defined at the top level of an importable module can "
                            "(name it as 'package.module:function' instead)")
    return {"$callable": path}


def _encode_graph(graph, where):
    import networkx as nx

    if graph.is_multigraph():
        raise EncodingError(f"{where}: multigraphs cannot be written to a config")
    return {"$graph": {
        "directed": bool(graph.is_directed()),
        "nodes": [[encode(n, where), encode(dict(a), where)] for n, a in graph.nodes(data=True)],
        "edges": [[encode(u, where), encode(v, where), encode(dict(a), where)]
                  for u, v, a in graph.edges(data=True)],
    }} if isinstance(graph, nx.Graph) else None


def encode(value, where="value"):
    """A TOML-writable form of ``value`` (see the module docstring).

    Raises
    ------
    EncodingError
        For values no config can hold; the message names ``where``.
    """
    if value is None:
        return {"$none": True}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        out = {"$array": np.real(value).tolist(), "dtype": str(value.dtype)}
        if np.iscomplexobj(value):
            out["imag"] = np.imag(value).tolist()
        return out
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, f"{where}.{k}") for k, v in value.items()}
        return {"$items": [[encode(k, where), encode(v, f"{where}[{k!r}]")]
                           for k, v in value.items()]}
    graph = _encode_graph(value, where) if hasattr(value, "is_multigraph") else None
    if graph is not None:
        return graph
    if hasattr(value, "get_params"):
        params = hyperparameters(value)
        return {"$class": _class_path(value),
                **{k: encode(v, f"{where}.{k}") for k, v in params.items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$class": _class_path(value),
                **{f.name: encode(getattr(value, f.name), f"{where}.{f.name}")
                   for f in dataclasses.fields(value) if f.init}}
    if callable(value):
        return _callable_path(value, where)
    raise EncodingError(f"{where} = {value!r} ({type(value).__name__}) cannot be written to a "
                        "config file")


def _decode_graph(data):
    import networkx as nx

    graph = nx.DiGraph() if data.get("directed") else nx.Graph()
    for node, attrs in data["nodes"]:
        graph.add_node(_hashable(decode(node)), **decode(attrs))
    for u, v, attrs in data["edges"]:
        graph.add_edge(_hashable(decode(u)), _hashable(decode(v)), **decode(attrs))
    return graph


def _hashable(value):
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def decode(value):
    """The Python value a TOML value written by :func:`encode` stands for."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    if "$none" in value:
        return None
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    if "$items" in value:
        return {_hashable(decode(k)): decode(v) for k, v in value["$items"]}
    if "$array" in value:
        real = np.asarray(value["$array"], dtype=float)
        data = real + 1j * np.asarray(value["imag"], dtype=float) if "imag" in value else real
        return data.astype(value.get("dtype", "float64"))
    if "$graph" in value:
        return _decode_graph(value["$graph"])
    if "$callable" in value:
        return import_target(value["$callable"])
    if "$class" in value:
        kwargs = {k: decode(v) for k, v in value.items() if k != "$class"}
        return import_target(value["$class"])(**kwargs)
    return {k: decode(v) for k, v in value.items()}
