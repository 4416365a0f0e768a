"""Epoch times of one few-label trainer under several compile settings, side by side in one process.

Usage: .venv/bin/python benchmarks/epoch_time.py [--model semi-supervised-aae] [--recipe improved]
                                                 [--epochs 3] [--settings xla,auto keras,1 ...]
                                                 [--data benchmarks/data/mlxtend5000_mnist10k.npz]

Each setting is "ADAM,STEPS" (compile(adam=ADAM, steps_per_execution=STEPS)); every setting trains
its own trainer (seed 0, 1000 labels) on the evaluation set of benchmarks/build_eval_set.py and
prints the wall seconds of each epoch (the first includes tracing and XLA compilation). The
trainer is the one semi_supervised_accuracy.py trains: with --recipe article notebook 04's model
(aae_helpers.settings.DEFAULTS), or the improved recipe.
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from full_mnist_time import time_epochs  # noqa: E402
from semi_supervised_accuracy import DEFAULT_DATA, build_trainer, evaluation_data  # noqa: E402


def setting(text):
    """'xla,auto' -> {'adam': 'xla', 'steps_per_execution': 'auto'}; 'keras,1' -> steps 1."""
    adam, _, steps = text.partition(",")
    if not adam or not (steps == "auto" or steps.isdigit() and int(steps) > 0):
        raise argparse.ArgumentTypeError(
            f"a setting is ADAM,STEPS such as xla,auto or keras,1 (STEPS: 'auto' or a positive "
            f"integer), got {text!r}")
    return {"adam": adam, "steps_per_execution": steps if steps == "auto" else int(steps)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="semi-supervised-aae",
                        choices=("semi-supervised-aae", "baseline-classifier"))
    parser.add_argument("--recipe", default="improved", choices=("article", "improved"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--settings", nargs="+", type=setting,
                        default=[setting("xla,auto"), setting("keras,1")])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the evaluation set (.npz)")
    args = parser.parse_args()
    data = evaluation_data(args.data, validation=False)
    for options in args.settings:
        trainer = build_trainer(args.model, args.recipe, seed=0, **options)
        _, seconds = time_epochs(trainer, data, args.epochs)
        print(f"{args.model} ({args.recipe}) {options}: epoch seconds "
              + ", ".join(f"{s:.1f}" for s in seconds), flush=True)


if __name__ == "__main__":
    main()
