"""Experiments as data: a validated config (TOML file or dict) → system, rule, data, optimizer.

A config has one table per ingredient. Each table names a factory and passes its other keys
as keyword arguments; the factory is a name of :mod:`physlearn.registry` (whose registered
defaults the keys override), the name of a registered class (``"EP"``: the class with its own
defaults), or any importable ``"package.module:Name"``::

    [system]
    builder = "resistor-layered"        # or: class = "package.module:Class"
    layers = [3, 24, 2]
    seed = 0

    [rule]
    name = "EP"
    beta = 0.1
    variant = "centered"

    [data]
    name = "linear_regression"

    [optimizer]                         # optional, default adam
    name = "adam"
    lr = 0.02

    [cost]                              # optional, default squared_error
    name = "squared_error"

    [train]                             # optional: keyword arguments of physlearn.train
    epochs = 60
    batch_size = 16
    seed = 0
    run_dir = "runs/regression"

The whole config is checked before anything runs or is written (:func:`validate`): an unknown
table or key names itself, where it stands and the valid names, with a did-you-mean; a wrong
type names the key and the expected type; every ingredient is built, and the data are checked
against the system's inputs and outputs. Every table and key is listed in ``docs/config.md``,
generated from this module by :func:`schema_markdown`.
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..registry import TABLES, did_you_mean
from .encoding import decode

if TYPE_CHECKING:
    import os

__all__ = ["ConfigError", "Experiment", "load_config", "validate", "build", "run_experiment",
           "schema", "schema_markdown", "TRAIN_KEYS"]


class ConfigError(ValueError):
    """A config that cannot run; the message is one line naming the problem and the choices.

    Parameters
    ----------
    *args : object
        The one-line message (the table, the key, the problem and the valid choices), as for
        any exception. ``physlearn run`` prints it and exits with code 2.
    """


# -- the schema --------------------------------------------------------------------------------
# table -> (required, selector keys, default selector value)
_TABLES = {
    "system": (True, ("builder", "class"), None),
    "noise": (False, ("name", "class"), None),      # wraps the system: name(system, **keys)
    "rule": (True, ("name", "class"), None),
    "data": (True, ("name", "class"), None),
    "optimizer": (False, ("name", "class"), "adam"),
    "cost": (False, ("name", "class"), "squared_error"),
}
# [train]: keyword arguments of physlearn.train; type, default, meaning
TRAIN_KEYS = {
    "epochs": (int, 10, "total number of epochs (passes over the training set)"),
    "batch_size": (int, 16, "samples per gradient estimate"),
    "schedule": (str, "constant", "learning-rate schedule over the epochs: `constant` or "
                                  "`cosine` (lr · ½(1 + cos(π(e − 1)/epochs)) in epoch e)"),
    "seed": (int, 0, "seed of the generator that shuffles the training set each epoch"),
    "run_dir": (str, None, "run directory (config, history, checkpoints, figures); none: "
                           "nothing is written"),
    "resume": (bool, False, "continue from run_dir's checkpoint (same as `physlearn run "
                            "--resume`)"),
}
_SYSTEM_EXTRA = {"params_file": (str, None, "an .npz of parameters loaded after building "
                                            "(path relative to the config file)")}
_PROVENANCE = "provenance"          # written by runs, ignored on input
TABLE_NAMES = (*_TABLES, "train", _PROVENANCE)
_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "array", dict: "table"}


def _kind(value):
    """The TOML kind of a default value (None: anything goes)."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, (int, np.integer)):
        return int
    if isinstance(value, (float, np.floating)):
        return float
    if isinstance(value, str):
        return str
    if isinstance(value, (list, tuple)):
        return list
    return None


def _type_ok(value, kind):
    if kind is None or isinstance(value, dict) and any(k.startswith("$") for k in value):
        return True
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


@dataclass(frozen=True)
class Key:
    """One key of a config table: its expected type (None: any), default and meaning."""

    name: str
    kind: object = None
    default: object = inspect.Parameter.empty
    meaning: str = ""

    @property
    def type_name(self):
        return _TYPE_NAMES.get(self.kind, "any")

    @property
    def required(self):
        return self.default is inspect.Parameter.empty


def _docstring_params(obj):
    """``name -> (type text, first sentence)`` from the numpydoc Parameters section."""
    doc = inspect.getdoc(obj) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:^\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    out = {}
    if not match:
        return out
    names, kind, lines = [], "", []

    def flush():
        text = re.split(r"(?<=\.)\s", " ".join(lines), maxsplit=1)[0]
        for name in names:
            out.setdefault(name, (kind, text))

    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            flush()
            head, _, kind = line.partition(" : ")
            names = [n.strip().lstrip("*") for n in head.split(",")]
            lines = []
        elif line.strip():
            lines.append(line.strip())
    flush()
    return out


_ALTERNATIVES = re.compile(r"\bor\b|array|sequence|list|tuple|dict|callable|mapping|object",
                           re.I)


def _declared_kind(default, type_text):
    """The kind a value must have: the default's, unless the docstring allows others."""
    kind = _kind(default)
    return None if kind is None or _ALTERNATIVES.search(type_text or "") else kind


def _signature_keys(factory):
    """The keyword arguments a factory takes (following a builder's ``**kwargs`` into its
    class), with types from their defaults and meanings from the docstrings."""
    target = factory.__init__ if isinstance(factory, type) else factory
    params = list(inspect.signature(target).parameters.values())
    owner = getattr(factory, "__self__", None)
    meanings = _docstring_params(factory)
    keys, open_ended = {}, False
    for p in params:
        if p.name in ("self", "cls") or p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            open_ended = True
            continue
        type_text, meaning = meanings.get(p.name, ("", ""))
        keys[p.name] = Key(p.name, _declared_kind(p.default, type_text), p.default,
                           meaning or re.sub(r",?\s*(default|optional).*$", "", type_text))
    if open_ended and isinstance(owner, type):     # a builder forwarding **kwargs to cls
        inner, inner_open = _signature_keys(owner)
        for name, key in inner.items():
            if name not in keys and key.default is not inspect.Parameter.empty:
                keys[name] = key
        open_ended = inner_open
    return keys, open_ended


def factory_keys(factory, defaults=None):
    """The keys a factory accepts in a config table, registered defaults included."""
    keys, open_ended = _signature_keys(factory)
    for name, value in (defaults or {}).items():
        key = keys.get(name, Key(name))
        keys[name] = Key(name, key.kind, value, key.meaning)
    return keys, open_ended


def _table_keys(table, factory, defaults):
    """The keys of an ingredient table (a noise model's ``system`` is the built system)."""
    keys, open_ended = factory_keys(factory, defaults)
    if table == "noise":
        keys.pop("system", None)
    return keys, open_ended


def schema() -> dict:
    """Every table of a config and, for each registered factory, the keys it accepts.

    A key's type is that of its default, unless the type in the factory's numpydoc
    Parameters section allows alternatives (``"float or None"``, ``array_like``, ...); its
    meaning is the first sentence of the parameter's description.

    Returns
    -------
    dict
        ``table -> {"required": bool, "selectors": tuple, "entries": {name: (summary,
        {key: Key})}}``, and ``"train"`` → ``{key: Key}``.
    """
    out = {}
    for table, (required, selectors, default) in _TABLES.items():
        entries = {}
        for name, entry in sorted(TABLES[table].items()):
            keys, _ = _table_keys(table, entry.factory(), entry.defaults)
            if table == "system":
                keys.update({k: Key(k, *v) for k, v in _SYSTEM_EXTRA.items()})
            entries[name] = (entry.summary, keys)
        out[table] = {"required": required, "selectors": selectors, "default": default,
                      "entries": entries}
    out["train"] = {k: Key(k, *v) for k, v in TRAIN_KEYS.items()}
    return out


def schema_markdown() -> str:
    """``docs/config.md``: every table and key with type, default and meaning.

    Returns
    -------
    str
        The Markdown page (tables of every registered factory's keys), ending in a newline.
    """
    def default_text(key):
        if key.required:
            return "required"
        return "—" if key.default is None else f"`{key.default!r}`"

    def rows(keys):
        lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key in keys.values():
            meaning = key.meaning.replace("|", "\\|")
            lines.append(f"| `{key.name}` | {key.type_name} | {default_text(key)} | {meaning} |")
        return lines

    s = schema()
    lines = [
        "# Experiment configs",
        "",
        "<!-- generated from the code by physlearn.experiment.config.schema_markdown(); do not "
        "edit, regenerate: python -c \"from physlearn.experiment.config import "
        "schema_markdown as s; print(s(), end='')\" > docs/config.md -->",
        "",
        "A config is a TOML file (or a dict) with the tables below; `physlearn run CONFIG` "
        "trains it and `physlearn sweep CONFIG --grid table.key=values` sweeps it. The whole "
        "config is checked before anything runs or is written: an unknown table or key, a "
        "wrong type, a TOML syntax error or an unknown name is reported in one line (exit "
        "code 2) with the valid choices.",
        "",
        "Each ingredient table names its factory with a *selector* key and passes its other "
        "keys to it as keyword arguments. The selector is a registered name (the keys "
        "then override the registered defaults listed below), the name of a registered class "
        "(`name = \"EP\"`: the class with its own defaults), or any importable "
        "`\"package.module:Name\"` (a user's own class or function, importable on every Dask "
        "worker of a sweep).",
        "",
        "Values that TOML cannot hold directly (tuples, `None`, arrays with a dtype, graphs, "
        "objects) are written as one-key tables such as `{ \"$tuple\" = [0, 1] }`; run "
        "directories use them to save systems built in Python (see "
        "`physlearn.experiment.encoding`).",
        "",
        "| table | required | selector | default |",
        "| --- | --- | --- | --- |",
    ]
    for table, info in s.items():
        if table == "train":
            continue
        default = "—" if info["default"] is None else f"`{info['default']}`"
        lines.append(f"| `[{table}]` | {'yes' if info['required'] else 'no'} | "
                     f"{' or '.join(f'`{k}`' for k in info['selectors'])} | {default} |")
    lines += ["| `[train]` | no | — | — |",
              "| `[provenance]` | no | — | written by runs (versions, git revision, seed, "
              "wall time); ignored on input |", ""]
    lines += ["## `[train]`", "", *rows(s["train"]), ""]
    for table, info in s.items():
        if table == "train":
            continue
        lines += [f"## `[{table}]`", ""]
        for name, (summary, keys) in info["entries"].items():
            lines += [f"### `{name}`", "", f"{summary}", "", *rows(keys), ""]
    return "\n".join(lines).rstrip() + "\n"


# -- loading and validation --------------------------------------------------------------------
def load_config(source: dict | str | os.PathLike) -> dict:
    """A config dict from a dict (deep-copied) or the path of a TOML file.

    Parameters
    ----------
    source : dict, str or os.PathLike
        A config dict, or the path of a TOML file.

    Returns
    -------
    dict
        The config (a copy: editing it does not change ``source``).

    Raises
    ------
    ConfigError
        If the file is missing or not valid TOML (naming the file and line).
    """
    if isinstance(source, dict):
        return copy.deepcopy(source)
    from .runio import read_toml

    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        return read_toml(path)
    except Exception as err:   # tomllib.TOMLDecodeError: "... (at line 3, column 7)"
        message = str(err)
        where = re.search(r"line (\d+)", message)
        line = f":{where.group(1)}" if where else ""
        raise ConfigError(f"{path}{line}: invalid TOML: {message}") from None


def _table(config, table):
    value = config.get(table)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"[{table}] must be a table, got {type(value).__name__} {value!r}")
    return value


def _resolve(table, body):
    """``(factory, registered defaults, selector text, kwargs)`` of an ingredient table."""
    required, selectors, default = _TABLES[table]
    given = [k for k in selectors if k in body]
    if len(given) > 1:
        raise ConfigError(f"[{table}] has both {given[0]!r} and {given[1]!r}; give one")
    if not given and default is None:
        registered = ", ".join(sorted(TABLES[table]))
        raise ConfigError(f"[{table}] needs a {' or '.join(map(repr, selectors))} key naming "
                          f"the {TABLES[table].kind}; registered: {registered}")
    selector = given[0] if given else selectors[0]
    name = body.get(selector, default)
    if not isinstance(name, str):
        raise ConfigError(f"[{table}] {selector} = {name!r} must be a string")
    try:
        factory, defaults = TABLES[table].resolve(name)
    except ValueError as err:
        raise ConfigError(f"[{table}] {selector} = {name!r}: {err}") from None
    kwargs = {k: v for k, v in body.items() if k not in selectors}
    return factory, defaults, f"{selector} = {name!r}", kwargs


def _check_keys(where, kwargs, keys, open_ended, exempt=()):
    for name, value in kwargs.items():
        if name in exempt:
            continue
        if name not in keys:
            if open_ended:
                continue
            raise ConfigError(f"{where}: unknown key {name!r}{did_you_mean(name, keys)}; valid "
                              f"keys: {', '.join(sorted(keys)) or 'none'}")
        key = keys[name]
        if not _type_ok(value, key.kind):
            raise ConfigError(f"{where}: {name} = {value!r} should be of type {key.type_name}, "
                              f"got {type(value).__name__}")


def validate(config: dict) -> dict:
    """Check a config dict without building anything, raising on the first problem.

    Parameters
    ----------
    config : dict
        The config: one table per ingredient (see the module docstring).

    Returns
    -------
    dict
        ``config`` itself, unchanged.

    Raises
    ------
    ConfigError
        An unknown table or key (with a did-you-mean and the valid names), a missing required
        table, two selectors in one table, an unknown factory name, or a value of the wrong
        type.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"a config must be a table, got {type(config).__name__}")
    for table in config:
        if table not in TABLE_NAMES:
            raise ConfigError(f"unknown table [{table}]{did_you_mean(table, TABLE_NAMES)}; "
                              f"valid tables: {', '.join(f'[{t}]' for t in TABLE_NAMES)}")
    for table, (required, *_rest) in _TABLES.items():
        body = _table(config, table)
        if body is None:
            if required:
                raise ConfigError(f"config has no [{table}] table (required: "
                                  f"{', '.join(f'[{t}]' for t, v in _TABLES.items() if v[0])})")
            continue
        factory, defaults, selector, kwargs = _resolve(table, body)
        keys, open_ended = _table_keys(table, factory, defaults)
        extra = _SYSTEM_EXTRA if table == "system" else {}
        keys = {**keys, **{k: Key(k, *v) for k, v in extra.items()}}
        _check_keys(f"[{table}] {selector}", kwargs, keys, open_ended)
    train = _table(config, "train") or {}
    _check_keys("[train]", train, {k: Key(k, *v) for k, v in TRAIN_KEYS.items()}, False)
    _table(config, _PROVENANCE)
    return config


# -- building ----------------------------------------------------------------------------------
@dataclass
class Experiment:
    """The ingredients a config describes, built and checked against each other.

    Parameters
    ----------
    system : System
        The physical system (wrapped by the ``[noise]`` model if there is one).
    rule : Rule
        The learning rule.
    data : Dataset
        The train/test split.
    optimizer : Optimizer
        The optimizer.
    cost : Cost
        The cost.
    train : dict
        The keyword arguments of :func:`physlearn.train` from the ``[train]`` table.
    config : dict
        The validated config.
    """

    system: object
    rule: object
    data: object
    optimizer: object
    cost: object
    train: dict
    config: dict


def _construct(table, body, base_dir, system=None):
    factory, defaults, selector, kwargs = _resolve(table, body)
    params_file = kwargs.pop("params_file", None) if table == "system" else None
    kwargs = {k: decode(v) for k, v in kwargs.items()}
    args = (system,) if table == "noise" else ()
    try:
        obj = factory(*args, **{**decode(defaults), **kwargs})
    except (TypeError, ValueError, KeyError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"[{table}] {selector}: {message}") from None
    if params_file is not None:
        path = Path(params_file) if base_dir is None else Path(base_dir) / params_file
        try:
            with np.load(path) as npz:
                obj.params = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as err:
            raise ConfigError(f"[system] params_file = {params_file!r}: {err}") from None
    return obj


def build(config: dict | str | os.PathLike, *,
          base_dir: str | os.PathLike | None = None) -> Experiment:
    """Validate a config and build its ingredients.

    Parameters
    ----------
    config : dict or path
        A config dict or the path of a TOML file.
    base_dir : path, optional
        Folder that relative paths in the config (``params_file``) are read from; default the
        config file's folder.

    Returns
    -------
    Experiment

    Raises
    ------
    ConfigError
        On the first problem, before anything is written.
    """
    if base_dir is None and not isinstance(config, dict):
        base_dir = Path(config).parent
    config = validate(load_config(config))
    built = {}
    for table in _TABLES:
        body = _table(config, table)
        if table == "noise":            # optional: wraps the system built just before
            if body is not None:
                built["system"] = _construct(table, body, base_dir, built["system"])
            continue
        built[table] = _construct(table, body or {}, base_dir)
    system, rule, data = built["system"], built["rule"], built["data"]
    _check_fit(system, rule, data)
    return Experiment(system, rule, data, built["optimizer"], built["cost"],
                      dict(config.get("train", {})), config)


def _check_fit(system, rule, data):
    """The data must suit the system, and the rule the system's physics."""
    if not hasattr(data, "x_train"):
        raise ConfigError(f"[data] built a {type(data).__name__}, not a Dataset")
    try:
        x = system.check_inputs(data.x_train[:1])
        system.check_targets(data.y_train[:1], x.shape[0])
    except ValueError as err:
        raise ConfigError(f"[data] {getattr(data, 'name', 'data')!r} does not fit [system] "
                          f"{type(system).__name__}: {err}") from None
    if hasattr(rule, "check_system"):
        try:
            rule.check_system(system)
        except ValueError as err:
            raise ConfigError(f"[rule] {err}") from None


def run_experiment(config: dict | str | os.PathLike, *, progress: bool = True,
                   resume: bool | None = None, overwrite: bool = False,
                   run_dir: str | os.PathLike | None = None) -> dict:
    """Build and train the experiment a config describes; return a summary dict.

    A pure function of the config (so sweeps can map it over many configs with any engine).

    Parameters
    ----------
    config : dict or str or path
        A config dict, or the path of a TOML file.
    progress : bool, default True
        Show a progress bar over epochs.
    resume : bool, optional
        Continue the run in ``run_dir`` from its checkpoint (default: ``[train] resume``).
    overwrite : bool, default False
        Replace a run already in ``run_dir`` (otherwise that is an error).
    run_dir : path, optional
        Overrides ``[train] run_dir``.

    Returns
    -------
    dict
        ``final`` (the last history record), ``gradient_error`` (relative error of the rule's
        gradient against the system's exact reference at the final parameters on the first
        test samples; None where the rule is not a gradient estimator), ``run_dir`` and
        ``config``.

    Raises
    ------
    ConfigError
        If the config is invalid (before anything runs or is written).
    RunExistsError
        If ``run_dir`` already holds a run and neither ``resume`` nor ``overwrite`` is set.
    """
    from .train import train

    source = None if isinstance(config, dict) else Path(config)
    experiment = build(config)
    kw = dict(experiment.train)
    if run_dir is not None:
        kw["run_dir"] = str(run_dir)
    if resume is not None:
        kw["resume"] = resume
    saved = copy.deepcopy(experiment.config)
    saved.pop(_PROVENANCE, None)
    saved.setdefault("train", {}).pop("resume", None)
    if kw.get("run_dir") is not None:
        saved["train"]["run_dir"] = str(kw["run_dir"])
    _absolute_params_file(saved, source)
    history = train(experiment.system, experiment.rule, experiment.data,
                    optimizer=experiment.optimizer, cost=experiment.cost, progress=progress,
                    overwrite=overwrite, config=saved,
                    experiment=load_config(config) if source else experiment.config, **kw)
    final = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
             for k, v in history.final.items()}
    return {"final": final, "gradient_error": gradient_error(experiment),
            "run_dir": kw.get("run_dir"), "config": saved}


def _absolute_params_file(config, source):
    system = config.get("system", {})
    if "params_file" in system and source is not None:
        system["params_file"] = str((source.parent / system["params_file"]).resolve())


def gradient_error(experiment, n_samples=8):
    """Relative error of the rule's gradient against the exact reference on the first test
    samples (None where the rule claims no bias order or the system has no reference)."""
    from ..check import relative_error
    from ..reference import exact_gradient

    rule, system = experiment.rule, experiment.system
    if getattr(rule, "bias_order", None) is None:
        return None
    x = experiment.data.x_test[:n_samples]
    y = experiment.data.y_test[:n_samples]
    try:
        reference = exact_gradient(system, x, y, experiment.cost)
    except NotImplementedError:
        return None
    return relative_error(rule.gradient(system, x, y, experiment.cost), reference)

