"""Run every benchmark module (``bench_*.py``) and print the measured ratios.

Usage: ``python benchmarks/run.py [--quick] [name ...]``. Exit status 1 if a ratio misses its
bound.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    modules = sorted(HERE.glob("bench_*.py"))
    if args.names:
        modules = [m for m in modules if any(n in m.stem for n in args.names)]
    failed = 0
    for path in modules:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem}")
        for ratio in module.run(quick=args.quick):
            print(ratio, flush=True)
            failed += not ratio.ok
    print(f"{failed} ratio(s) missed their bound" if failed else "all ratios within bounds")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
