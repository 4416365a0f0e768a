"""Validation runs of candidate changes to the improved semi-supervised AAE recipe.

Usage: .venv/bin/python benchmarks/recipe_variants.py [--seeds 0 1] [--epochs 30] [--dropout 0.3]
                                                      [--ema 0.99 0.995 0.998] [--data ...]

Trains the improved-recipe semi-supervised AAE (1000 labels) on the training digits less 500
held out (the --validation split of semi_supervised_accuracy.py; never the test set) and scores,
after every epoch, the encoder itself and, side by side from the same run, an exponential moving
average (EMA) of its weights for each --ema momentum (every weight, batch normalization's moving
statistics included, updated after every training step). --dropout RATE puts dropout after the
encoder's last pooling and dense layers. Prints every epoch and, per seed, each variant's mean
validation accuracy over the last 10 epochs; writes them to benchmarks/results/recipe-variants-*.json
(keeping the runs of other seeds already there).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from semi_supervised_accuracy import DEFAULT_DATA, evaluation_data  # noqa: E402

from aae_helpers.data import NUM_CLASSES  # noqa: E402
from aae_helpers.models import build_conv_encoder  # noqa: E402
from aae_helpers.trainers.base import in_batches  # noqa: E402
from aae_helpers.trainers.semi_supervised import SemiSupervisedAdversarialAutoencoder  # noqa: E402

LAST_EPOCHS = 10


class AveragedEncoders(SemiSupervisedAdversarialAutoencoder):
    """The improved SS-AAE, optionally with encoder dropout, plus EMA copies of its encoder."""

    def __init__(self, momenta=(), dropout=0.0, **kwargs):
        super().__init__(recipe="improved", **kwargs)
        if dropout:
            self.encoder = build_conv_encoder(self.latent_dim, NUM_CLASSES, batch_norm=True, dropout=dropout)
        self.momenta = tuple(momenta)
        self.averaged = [build_conv_encoder(self.latent_dim, NUM_CLASSES, batch_norm=True, name=f"ema_{i}")
                         for i in range(len(self.momenta))]
        for averaged in self.averaged:
            for mean, weight in zip(averaged.weights, self.encoder.weights, strict=True):
                mean.assign(weight)

    def train_step(self, data):
        logs = super().train_step(data)
        for momentum, averaged in zip(self.momenta, self.averaged):
            for mean, weight in zip(averaged.weights, self.encoder.weights):
                mean.assign(momentum * mean + (1.0 - momentum) * weight)
        return logs


def accuracy(encoder, data):
    logits = in_batches(lambda x: encoder(x, training=False)[0], data.x_test)
    return float(np.mean(np.asarray(logits).argmax(axis=1) == data.y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--ema", nargs="*", type=float, default=[0.99, 0.995, 0.998])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not 0.0 <= args.dropout < 1.0 or not all(0.0 < m < 1.0 for m in args.ema):
        parser.error(f"--dropout must be in [0, 1) and every --ema momentum in (0, 1), got "
                     f"{args.dropout} and {args.ema}")
    data = evaluation_data(args.data, validation=True)
    names = ["encoder"] + [f"ema {m:g}" for m in args.ema]
    out = Path(args.out or HERE / "results" / f"recipe-variants-dropout{args.dropout:g}.json")
    results = {"dropout": args.dropout, "num_scored": len(data.x_test), "runs": []}
    if out.exists():  # keep the other seeds' runs of an earlier call with the same settings
        earlier = json.loads(out.read_text())
        if all(earlier.get(key) == results[key] for key in ("dropout", "num_scored")):
            results["runs"] = [run for run in earlier["runs"] if run["seed"] not in args.seeds]
    for seed in args.seeds:
        trainer = AveragedEncoders(momenta=args.ema, dropout=args.dropout, seed=seed, labels_per_class=100)
        trainer.compile()
        dataset, steps = trainer.make_dataset(data, 100), trainer.steps_per_epoch(data, 100)
        scores, elapsed = {name: [] for name in names}, 0.0
        for epoch in range(args.epochs):
            started = time.perf_counter()
            trainer.fit(dataset, steps_per_epoch=steps, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
            elapsed += time.perf_counter() - started
            for name, encoder in zip(names, [trainer.encoder, *trainer.averaged]):
                scores[name].append(accuracy(encoder, data))
            print(f"seed {seed} epoch {epoch + 1:3d} ({elapsed:6.1f} s): "
                  + ", ".join(f"{name} {scores[name][-1]:.3f}" for name in names), flush=True)
        last = {name: statistics.mean(values[-LAST_EPOCHS:]) for name, values in scores.items()}
        results["runs"].append({"seed": seed, "epochs": args.epochs, "validation_accuracy": scores,
                                f"mean_of_last_{LAST_EPOCHS}_epochs": last})
        print(f"seed {seed}, dropout {args.dropout:g}, mean validation accuracy over the last "
              f"{min(LAST_EPOCHS, args.epochs)} epochs: " + ", ".join(f"{n} {a:.4f}" for n, a in last.items()))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
