"""The ``physlearn`` command line.

::

    physlearn demo                      train resistor networks with EP, check the gradient
    physlearn run CONFIG [--resume]     run the experiment a TOML config describes
    physlearn sweep CONFIG --grid k=v   run a grid of configs (local processes or Dask)
    physlearn check SYSTEM RULE         gradient check of a registered pair; --all for every pair
    physlearn list [--pairs]            everything registered
    physlearn plot DIR                  standard figures of a run or sweep directory
    physlearn derive [NAME] [--latex]   list, verify and print the symbolic derivations
                                        (--numeric: check the code; --markdown: docs)

Errors in what was asked (a config, a name, an argument) print one line and exit with 2;
``physlearn run`` interrupted by Ctrl-C exits with 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

DEMO_CONFIGS = {
    "regression": {
        "system": {"builder": "resistor-layered", "layers": [3, 24, 2], "seed": 0},
        "rule": {"name": "EP", "beta": 0.1, "variant": "centered"},
        "data": {"name": "linear_regression", "n_samples": 200, "seed": 0},
        "optimizer": {"name": "adam", "lr": 0.02},
        "cost": {"name": "squared_error"},
        "train": {"epochs": 20, "batch_size": 16, "seed": 0},
    },
    "iris": {
        "system": {"builder": "resistor-layered", "layers": [4, 16, 3], "seed": 0},
        "rule": {"name": "EP", "beta": 0.05, "variant": "centered"},
        "data": {"name": "iris", "seed": 0},
        "optimizer": {"name": "adam", "lr": 0.02},
        "cost": {"name": "cross_entropy", "temperature": 0.2},
        "train": {"epochs": 30, "batch_size": 16, "seed": 0},
    },
}


def demo(out="runs", progress=True, epochs=None):
    """The main job: gradient check, then two trainings of a layered resistor network."""
    import physlearn as pl
    from physlearn.experiment.config import run_experiment
    from physlearn.systems import ResistorNetwork

    net = ResistorNetwork.random(200, n_inputs=3, n_outputs=2, seed=1)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), 0.3 * rng.normal(size=(8, 2))
    reference = pl.exact_gradient(net, x, y)
    print("== EP on a 200-node random resistor network against implicit differentiation")
    for rule in (pl.EP(beta=1e-4, variant="centered"), pl.HolomorphicEP(beta=1e-2, points=6)):
        print(pl.gradient_check(net, rule, x, y, reference=reference), "\n")
    results = {}
    for name, config in DEMO_CONFIGS.items():
        config = {**config, "train": {**config["train"], "run_dir": f"{out}/demo-{name}"}}
        if epochs is not None:
            config["train"]["epochs"] = epochs
        print(f"== training a layered resistor network with centered EP: {name}")
        t0 = time.perf_counter()
        result = run_experiment(config, progress=progress, overwrite=True)
        final = result["final"]
        line = f"   test loss {final['test_loss']:.3e}"
        if name == "regression":
            from physlearn.experiment.datasets import load
            data = load(config["data"]["name"], **{k: v for k, v in config["data"].items()
                                                   if k != "name"})
            mse = 2 * final["test_loss"] / data.y_test.shape[1]   # cost is ½‖o−y‖²
            line += f", test MSE / target variance = {mse / np.var(data.y_test):.2e}"
        if "test_accuracy" in final:
            line += f", test accuracy {final['test_accuracy']:.3f}"
        print(f"{line}  ({time.perf_counter() - t0:.1f} s) -> {result['run_dir']}/")
        results[name] = result
    return results


def _run(args):
    from physlearn.experiment.config import run_experiment

    try:
        result = run_experiment(args.config, progress=not args.no_progress, run_dir=args.run_dir,
                                resume=True if args.resume else None, overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"physlearn run: interrupted; the last finished epoch is checkpointed: "
              f"`physlearn run {args.config} --resume` continues", file=sys.stderr)
        return 130
    final = {k: v for k, v in result["final"].items() if k != "seconds"}
    print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in final.items()))
    if result["gradient_error"] is not None:
        print(f"gradient error against the exact reference: {result['gradient_error']:.3e}")
    if result["run_dir"]:
        print(f"run directory: {result['run_dir']}")
    return 0


def _check(args):
    from physlearn import testing

    if args.all:
        report = testing.check_all(seed=args.seed, progress=not args.no_progress)
        print(report)
        return 0 if report.passed else 1
    if args.system is None or args.rule is None:
        raise ValueError("check needs SYSTEM and RULE, or --all")
    result = testing.check_pair(args.system, args.rule, seed=args.seed)
    print(result.report())
    return 0 if result.passed else 1


def _list(args):
    from physlearn.registry import TABLES

    for registry in TABLES.values():
        print(f"{registry.kind}s:")
        for name, entry in sorted(registry.items()):
            print(f"  {name:<28} {entry.summary}")
    if args.pairs:
        from physlearn import testing

        print("\napplicable system × rule pairs:")
        for system, rule, claim in testing.pairs():
            print(f"  {system:<28} {rule:<28} {claim}")
    return 0


def _plot(args):
    from physlearn.experiment.plots import plot_directory

    for path in plot_directory(args.directory):
        print(path)
    return 0


def _derive(args):
    from physlearn import derivations

    if args.markdown is not None:
        return _derive_markdown(derivations, args.markdown)
    if args.name is None:
        failed = 0
        for name, derivation in derivations.DERIVATIONS.items():
            ok = bool(derivation.verify())
            line = f"{'verified' if ok else 'FAILED  '}  {name:<44} {derivation.implements}"
            if args.numeric:
                numeric = derivation.check_numeric()
                ok = ok and bool(numeric)
                line += f"  [numeric {'ok' if numeric else 'FAILED'} {numeric.error:.1e}]"
            failed += not ok
            print(line, flush=True)
        return 1 if failed else 0
    derivation = derivations.get(args.name)
    proof = derivation.verify()
    print(derivation.latex() if args.latex else proof.report())
    ok = bool(proof)
    if args.numeric:
        numeric = derivation.check_numeric()
        print(numeric.report())
        ok = ok and bool(numeric)
    return 0 if ok else 1


def _derive_markdown(derivations, path):
    """Write ``derivations.markdown()`` (default: docs/derivations.md of the repository)."""
    path = Path(path) if path else Path(__file__).resolve().parents[2] / "docs" / "derivations.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(derivations.markdown(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


def _sweep(args):
    from physlearn.experiment.sweep import main as sweep_main

    return sweep_main(args)


def parser():
    """The argument parser of the ``physlearn`` command."""
    from physlearn import __version__

    top = argparse.ArgumentParser(prog="physlearn", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"physlearn {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train resistor networks with EP and check the gradient")
    p.add_argument("--out", default="runs", help="parent folder of the run directories")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("run", help="run the experiment a TOML config describes")
    p.add_argument("config", type=Path)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the config's run_dir from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh even if run_dir already holds a run")
    p.add_argument("--run-dir", default=None, help="override [train] run_dir")
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("sweep", help="run a grid of configs (local processes or Dask)")
    p.add_argument("config", type=Path)
    p.add_argument("--grid", action="append", default=[], metavar="TABLE.KEY=VALUES",
                   help="values as a,b,c or a half-open integer range start:stop[:step] "
                        "(0:5 is 0 … 4); repeat for a product grid")
    p.add_argument("--out", default=None, help="sweep folder (default sweeps/CONFIG-NAME)")
    p.add_argument("--workers", type=int, default=2, help="workers of the local Dask cluster")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("check", help="gradient check of a registered system and rule")
    p.add_argument("system", nargs="?")
    p.add_argument("rule", nargs="?")
    p.add_argument("--all", action="store_true", help="every applicable registered pair")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("list", help="list registered systems, noise models, rules, costs, "
                                    "data sets, optimizers")
    p.add_argument("--pairs", action="store_true", help="also every applicable system × rule")
    p = sub.add_parser("plot", help="draw the standard figures of a run or sweep directory")
    p.add_argument("directory", type=Path)
    p = sub.add_parser("derive", help="list and verify the symbolic derivations")
    p.add_argument("name", nargs="?", help="print this derivation's proof (default: list all)")
    p.add_argument("--latex", action="store_true", help="print the derivation as LaTeX")
    p.add_argument("--numeric", action="store_true",
                   help="also compare with the code it justifies (check_numeric)")
    p.add_argument("--markdown", nargs="?", const="", default=None, metavar="PATH",
                   help="write every derivation to PATH (default docs/derivations.md)")
    return top


_COMMANDS = {"run": _run, "sweep": _sweep, "check": _check, "list": _list, "plot": _plot,
             "derive": _derive}


def main(argv=None):
    """Entry point of ``physlearn`` and ``python -m physlearn``; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        if args.command == "demo":
            demo(args.out, progress=not args.no_progress, epochs=args.epochs)
            return 0
        return _COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"physlearn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:                 # `physlearn list | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (Python's documented recipe)
        return 0


if __name__ == "__main__":
    sys.exit(main())
