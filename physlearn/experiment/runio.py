"""Run-directory input and output.

A training run writes a handful of small files into its run directory: a
``config.toml`` to rebuild the experiment, a ``history.jsonl`` log with one line per
epoch, ``npz`` checkpoints and a learning-curve figure. Files that a crash must
never leave half-written are replaced atomically: written to a temporary file in
the same directory, flushed to disk, then renamed over the target with
:func:`os.replace` (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "remove_stale_temporaries",
    "atomic_savez",
    "dumps_toml",
    "write_toml",
    "read_toml",
    "append_jsonl",
    "read_jsonl",
    "plot_learning_curve",
]

PathLike = str | os.PathLike


# -- atomic writes ----------------------------------------------------------------------


def _fsync_directory(directory: Path) -> None:
    """Persist a rename on POSIX (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_file(path: PathLike) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # also on KeyboardInterrupt: never leave the temporary file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def remove_stale_temporaries(folder: PathLike) -> list[Path]:
    """Remove the temporary files (``.NAME.XXXX.tmp``) that atomic writes of a killed process
    left in ``folder``; call only while no other process writes there. Returns them."""
    stale = sorted(Path(folder).glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its parent directory is created if needed.
    data : bytes
        Content.

    Returns
    -------
    pathlib.Path
        The target path. Readers see either the old content or the new, never a mix.
    """
    with _atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_savez(path: PathLike, **arrays) -> Path:
    """Atomically save arrays in uncompressed ``.npz`` format.

    Parameters
    ----------
    path : str or os.PathLike
        Target file, used verbatim (no ``.npz`` suffix is appended).
    **arrays
        Named arrays, as for :func:`numpy.savez`. Keys may contain ``/``.

    Returns
    -------
    pathlib.Path
        The target path.
    """
    with _atomic_file(path) as handle:
        np.savez(handle, **arrays)
    return Path(path)


# -- TOML -------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:  # control characters must be escaped
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys must be str, got {key!r}")
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value, where: str) -> str:
    """Render a scalar, list or inline table; ``where`` names the key for errors."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest repr round-trips exactly, e.g. 0.1, 1e-08
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        items = [_toml_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return "[" + ", ".join(items) + "]"
    if isinstance(value, Mapping):
        items = [f"{_toml_key(k)} = {_toml_value(v, f'{where}.{k}')}" for k, v in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(
        f"cannot write {where} = {value!r} ({type(value).__name__}) to TOML; "
        "allowed: str, int, float, bool, lists of those, and dicts"
    )


def _toml_table(table: Mapping, prefix: tuple[str, ...], lines: list[str]) -> None:
    """Append ``table``'s scalars, then its sub-tables, as ``[a.b]`` sections."""
    subtables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    for key, value in table.items():
        if key not in subtables:
            if value is None:
                raise TypeError(f"cannot write {'.'.join((*prefix, key))} = None: TOML has no null")
            lines.append(f"{_toml_key(key)} = {_toml_value(value, '.'.join((*prefix, key)))}")
    for key, value in subtables.items():
        path = (*prefix, key)
        lines.append("")
        lines.append("[" + ".".join(_toml_key(part) for part in path) + "]")
        _toml_table(value, path, lines)


def dumps_toml(data: Mapping) -> str:
    """Serialise a nested dict to a TOML document.

    Parameters
    ----------
    data : Mapping
        Nested dicts whose leaves are str, int, float (including nan/inf), bool, or
        (nested) lists of those. Dicts become ``[tables]`` (inline tables inside lists).

    Returns
    -------
    str

    Raises
    ------
    TypeError
        For values TOML cannot hold (None, arbitrary objects), naming the key.
    """
    lines: list[str] = []
    _toml_table(data, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def write_toml(path: PathLike, data: Mapping) -> Path:
    """Atomically write ``data`` as a TOML file (see :func:`dumps_toml`).

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    data : Mapping
        Nested dict of TOML-representable values.

    Returns
    -------
    pathlib.Path
        The target path.
    """
    return atomic_write_bytes(path, dumps_toml(data).encode("utf-8"))


def read_toml(path: PathLike) -> dict:
    """Read a TOML file.

    Uses :mod:`tomllib` (Python >= 3.11) or the ``tomli`` package on older Pythons.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.

    Returns
    -------
    dict
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ImportError("reading TOML on Python < 3.11 needs the 'tomli' package") from exc
    with open(path, "rb") as handle:
        return tomllib.load(handle)


# -- JSON lines -------------------------------------------------------------------------


def _json_default(obj):
    """Convert numpy scalars and arrays, which :mod:`json` does not know."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable: {obj!r}")


def append_jsonl(path: PathLike, record: Mapping) -> None:
    """Append one record as a line of JSON and flush it to disk.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.jsonl`` file; created if absent.
    record : Mapping
        JSON-serialisable dict (numpy scalars and arrays are converted; NaN is
        written as ``NaN``, which :func:`read_jsonl` reads back).
    """
    line = json.dumps(dict(record), default=_json_default)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: PathLike) -> list[dict]:
    """Read all records of a JSON-lines file (blank lines are skipped).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.jsonl`` file.

    Returns
    -------
    list of dict

    Raises
    ------
    ValueError
        If a line is not valid JSON; the message gives file and line number.
    """
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: invalid JSON line ({exc.msg})") from exc
    return records


# -- figures ----------------------------------------------------------------------------------


def plot_learning_curve(history_records: Iterable[Mapping], path: PathLike, *, cost=None,
                        title: str | None = None) -> Path:
    """Draw train/test loss (log scale) and, when recorded, accuracy against epoch.

    The figure of :func:`physlearn.plots.learning_curve`, drawn with fixed margins instead of
    a layout engine (a run redraws it every epoch) on matplotlib's Agg canvas, so it neither
    needs a display nor touches pyplot's global state; the file is replaced atomically.

    Parameters
    ----------
    history_records : iterable of Mapping
        Per-epoch records with ``epoch`` and any of ``train_loss``, ``test_loss``,
        ``train_accuracy``, ``test_accuracy``.
    path : str or os.PathLike
        Output image; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
    cost : Cost, str or None
        The cost named in the loss label. Default, like ``title``: read from the
        ``config.toml`` beside ``path`` when there is one (a run directory).
    title : str, optional
        Figure title; default names the system and rule of that config.

    Returns
    -------
    pathlib.Path
        The output path.
    """
    from . import plots

    path = Path(path)
    if cost is None or title is None:
        context = plots._run_context(plots._read_run_config(path.parent))
        cost = context["cost"] if cost is None else cost
        title = context["title"] if title is None else title
    fig = plots._learning_figure(list(history_records), cost=plots._cost_name(cost),
                                 title=title, layout=None)
    with _atomic_file(path) as handle:
        fig.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=100)
    return path
