"""Running netlists in ngspice: a check of physlearn circuits in a circuit simulator.

:meth:`ResistorNetwork.to_spice <physlearn.systems.ResistorNetwork.to_spice>` (and the diode
networks' override of its elements) writes a netlist; :func:`operating_point` runs it with
``ngspice -b`` and returns the DC operating point. ngspice is an external program (Debian:
``apt-get install ngspice``); :func:`ngspice_available` says whether it is on the ``PATH``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from .resistor import SPICE_RAW_FILE

INSTALL_HINT = "apt-get install ngspice"

_LINE = re.compile(r"line\s+(?:no\.\s*)?(\d+)", re.IGNORECASE)


def ngspice_available(executable="ngspice"):
    """Whether the ngspice executable is on the ``PATH``."""
    return shutil.which(executable) is not None


def operating_point(netlist, *, executable="ngspice", timeout=120):
    """DC operating point of a netlist: run ``ngspice -b`` and parse the node voltages.

    Parameters
    ----------
    netlist : str
        A netlist that writes its operating point as an ASCII raw file ``op.raw`` in the
        working directory, such as ``net.to_spice(x)`` (an ``.op`` analysis run in a
        ``.control`` block: ``set filetype=ascii``, ``run``, ``write op.raw``).
    executable : str, default "ngspice"
    timeout : float, default 120
        Seconds before the run is abandoned.

    Returns
    -------
    dict
        SPICE node name (lower case, as ngspice writes it) → voltage. Ground ``0`` is
        included at 0 V.

    Raises
    ------
    RuntimeError
        If ngspice is not installed (the message names the install command), fails, times
        out or prints no node voltage; the message quotes ngspice's errors and, when ngspice
        names a line number, that netlist line.
    """
    path = shutil.which(executable)
    if path is None:
        raise RuntimeError(f"ngspice ({executable!r}) is not on the PATH; install it "
                           f"(Debian/Ubuntu: {INSTALL_HINT})")
    with tempfile.TemporaryDirectory(prefix="physlearn-spice-") as tmp:
        cir = os.path.join(tmp, "circuit.cir")
        with open(cir, "w") as fh:
            fh.write(netlist)
        try:
            run = subprocess.run([path, "-b", cir], cwd=tmp, capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"ngspice did not finish within {timeout} s") from err
        raw = os.path.join(tmp, SPICE_RAW_FILE)
        voltages = _read_raw(raw) if os.path.exists(raw) else {}
    out = run.stdout + "\n" + run.stderr
    errors = [line.strip() for line in out.splitlines()
              if re.search(r"\berror\b|fatal|singular|failed|timestep too small", line, re.I)
              and "warning" not in line.lower()]
    if run.returncode != 0 or errors or not voltages:
        detail = "; ".join(errors[:5]) or out.strip()[-800:]
        lines = netlist.splitlines()
        for m in _LINE.finditer(" ".join(errors)):
            k = int(m.group(1))
            if 1 <= k <= len(lines):
                detail += f"; netlist line {k}: {lines[k - 1]!r}"
                break
        raise RuntimeError(f"ngspice failed (exit status {run.returncode}): {detail}")
    voltages.setdefault("0", 0.0)
    return voltages


def _read_raw(path):
    """Node voltages of the first point of an ASCII raw file: ``{name: volts}``."""
    with open(path) as fh:
        text = fh.read().splitlines()
    names, values, section = [], [], None
    for line in text:
        if line.startswith("Variables:"):
            section = "vars"
            continue
        if line.startswith("Values:"):
            section = "values"
            continue
        if section == "vars":
            parts = line.split()
            if len(parts) >= 3:
                names.append((parts[1], parts[2]))
        elif section == "values":
            parts = line.split()
            if not parts:
                continue
            values.append(float(parts[-1]))
            if len(values) == len(names):
                break
    out = {}
    for (name, kind), value in zip(names, values):
        m = re.fullmatch(r"v\((.+)\)", name, re.IGNORECASE)
        if kind == "voltage" and m:
            out[m.group(1).lower()] = value
        elif kind == "voltage" and "(" not in name:
            out[name.lower()] = value
    return out
