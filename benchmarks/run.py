"""Run every benchmark module (``bench_*.py``) and print the measured ratios.

Usage: ``python benchmarks/run.py [--quick] [--results FILE] [name ...]``. Exit status 1 if a
ratio misses its bound. ``--results`` also writes the table, headed by the date, the machine and
the git revision, to ``FILE`` (the documentation shows ``benchmarks/results.txt``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import pathlib
import platform
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--results", metavar="FILE",
                        help="also write the table, with date, machine and revision, to FILE")
    args = parser.parse_args(argv)
    lines = []
    modules = sorted(HERE.glob("bench_*.py"))
    if args.names:
        modules = [m for m in modules if any(n in m.stem for n in args.names)]
    failed = 0
    for path in modules:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        lines.append(f"== {path.stem}")
        print(lines[-1], flush=True)
        for ratio in module.run(quick=args.quick):
            lines.append(str(ratio))
            print(lines[-1], flush=True)
            failed += not ratio.ok
    lines.append(f"{failed} ratio(s) missed their bound" if failed else "all ratios within bounds")
    print(lines[-1])
    if args.results:
        pathlib.Path(args.results).write_text("\n".join(_provenance(args.quick) + lines) + "\n")
    return 1 if failed else 0


def _provenance(quick):
    """Where and when: what a reader needs to compare a table with their own run."""
    try:
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                  capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        revision = "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [f"# measured {now}, git {revision}, {'--quick' if quick else 'full sizes'}",
            f"# {platform.python_implementation()} {platform.python_version()} on "
            f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}", ""]


if __name__ == "__main__":
    sys.exit(main())
