"""Experiments as data: a config (TOML or dict) → system, rule, data, optimizer → a result.

An experiment is a pure function ``run_experiment(config) -> dict`` so that sweeps can map it
over many configs with any engine. A config has one table per ingredient; each table names a
registered builder or class and passes the rest as keyword arguments::

    [system]                      # SYSTEM_BUILDERS
    builder = "resistor-layered"
    layers = [3, 24, 2]
    seed = 0

    [rule]                        # RULE_CLASSES
    name = "EP"
    beta = 0.1
    variant = "centered"

    [data]                        # physlearn.datasets.DATASETS
    name = "linear_regression"

    [optimizer]                   # physlearn.optim.OPTIMIZERS
    name = "adam"
    lr = 0.02

    [cost]                        # physlearn.costs.COSTS (optional; default squared error)
    name = "squared_error"

    [train]                       # keyword arguments of physlearn.train.train
    epochs = 60
    batch_size = 16
    seed = 0
    run_dir = "runs/regression"
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from . import datasets, optim, rules
from .costs import COSTS
from .runio import read_toml, write_toml

SYSTEM_BUILDERS = {}
RULE_CLASSES = {name: getattr(rules, name) for name in rules.__all__ if name != "Rule"}


def register_builder(name, builder):
    """Make ``builder(**kwargs) -> system`` available to configs as ``[system] builder=name``."""
    SYSTEM_BUILDERS[name] = builder


def _register_builtin_builders():
    from physlearn.systems import ElasticNetwork, NonlinearResistorNetwork, ResistorNetwork

    register_builder("resistor-layered", ResistorNetwork.layered)
    register_builder("resistor-random", ResistorNetwork.random)
    register_builder("diode-layered", NonlinearResistorNetwork.layered)
    register_builder("diode-random", NonlinearResistorNetwork.random)
    register_builder("elastic-random", ElasticNetwork.random)


_register_builtin_builders()


def _pick(table, section, key, registry):
    if not isinstance(table, dict) or key not in table:
        raise ValueError(f"config [{section}] needs a {key!r} entry; known: {sorted(registry)}")
    kwargs = dict(table)
    name = kwargs.pop(key)
    if name not in registry:
        raise ValueError(f"config [{section}] {key}={name!r} is unknown; known: {sorted(registry)}")
    return registry[name], kwargs


def build(config):
    """Build ``(system, rule, data, optimizer, cost, train_kwargs)`` from a config dict."""
    config = copy.deepcopy(dict(config))
    for section in ("system", "rule", "data"):
        if section not in config:
            raise ValueError(f"config has no [{section}] table")
    builder, kw = _pick(config["system"], "system", "builder", SYSTEM_BUILDERS)
    system = builder(**kw)
    rule_cls, kw = _pick(config["rule"], "rule", "name", RULE_CLASSES)
    rule = rule_cls(**kw)
    loader, kw = _pick(config["data"], "data", "name", datasets.DATASETS)
    data = loader(**kw)
    opt_cls, kw = _pick(config.get("optimizer", {"name": "adam"}), "optimizer", "name",
                        optim.OPTIMIZERS)
    optimizer = opt_cls(**kw)
    cost = None
    if "cost" in config:
        cost_cls, kw = _pick(config["cost"], "cost", "name", COSTS)
        cost = cost_cls(**kw)
    return system, rule, data, optimizer, cost, dict(config.get("train", {}))


def run_experiment(config, *, progress=True):
    """Build and train the experiment a config describes; return a summary dict.

    Parameters
    ----------
    config : dict or str or path
        A config dict, or the path of a TOML file.

    Returns
    -------
    dict
        ``final`` (the last history record), ``run_dir`` and ``config``.
    """
    from .train import train

    if not isinstance(config, dict):
        config = read_toml(config)
    system, rule, data, optimizer, cost, kw = build(config)
    if kw.get("run_dir"):   # the config that rebuilds this run, verbatim
        Path(kw["run_dir"]).mkdir(parents=True, exist_ok=True)
        write_toml(Path(kw["run_dir"]) / "experiment.toml", config)
    history = train(system, rule, data, optimizer=optimizer, cost=cost, progress=progress, **kw)
    final = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
             for k, v in history.final.items()}
    return {"final": final, "run_dir": kw.get("run_dir"), "config": config}
