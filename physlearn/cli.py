"""The ``physlearn`` command line: ``demo``, ``run CONFIG.toml``, ``check SYSTEM RULE``."""

from __future__ import annotations

import argparse
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
    from physlearn.config import run_experiment
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
        result = run_experiment(config, progress=progress)
        final = result["final"]
        line = f"   test loss {final['test_loss']:.3e}"
        if name == "regression":
            from physlearn.datasets import load
            data = load(config["data"]["name"], **{k: v for k, v in config["data"].items()
                                                   if k != "name"})
            mse = 2 * final["test_loss"] / data.y_test.shape[1]   # cost is ½‖o−y‖²
            line += f", test MSE / target variance = {mse / np.var(data.y_test):.2e}"
        if "test_accuracy" in final:
            line += f", test accuracy {final['test_accuracy']:.3f}"
        print(f"{line}  ({time.perf_counter() - t0:.1f} s) -> {result['run_dir']}/")
        results[name] = result
    return results


def check(system_name, rule_name, seed=0):
    """Gradient check (and bias order) of a registered system × rule pair."""
    import physlearn as pl
    from physlearn.registry import make_rule, make_system, rule_entry, system_entry

    system = make_system(system_name, seed=seed)
    x, y = system_entry(system_name).problem(system, seed=seed)
    rule, entry = make_rule(rule_name), rule_entry(rule_name)
    print(pl.gradient_check(system, rule, x, y))
    if rule.bias_order is not None and entry.betas:
        measured = pl.bias_order(system, rule, x, y, entry.betas, param=entry.param)
        print(f"declared bias order {rule.bias_order}; measured {measured}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="physlearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train resistor networks with EP and check the gradient")
    p.add_argument("--out", default="runs", help="parent folder of the run directories")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("run", help="run the experiment a TOML config describes")
    p.add_argument("config", type=Path)
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("check", help="gradient check of a registered system and rule")
    p.add_argument("system")
    p.add_argument("rule")
    p.add_argument("--seed", type=int, default=0)
    sub.add_parser("list", help="list registered systems, rules, builders and data sets")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            demo(args.out, progress=not args.no_progress, epochs=args.epochs)
        elif args.command == "run":
            from physlearn.config import run_experiment
            result = run_experiment(args.config, progress=not args.no_progress)
            print(result["final"])
        elif args.command == "check":
            check(args.system, args.rule, args.seed)
        else:
            _list()
    except (ValueError, FileNotFoundError) as err:
        print(f"physlearn {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


def _list():
    from physlearn import datasets
    from physlearn.config import RULE_CLASSES, SYSTEM_BUILDERS
    from physlearn.registry import RULES, SYSTEMS

    print("systems (check):", ", ".join(sorted(SYSTEMS)))
    print("rules (check):  ", ", ".join(sorted(RULES)))
    print("builders (run): ", ", ".join(sorted(SYSTEM_BUILDERS)))
    print("rules (run):    ", ", ".join(sorted(RULE_CLASSES)))
    print("data sets (run):", ", ".join(sorted(datasets.DATASETS)))


if __name__ == "__main__":
    sys.exit(main())
