"""Validation runs of candidate changes to the improved semi-supervised AAE recipe.

Usage: .venv/bin/python benchmarks/recipe_variants.py [--seeds 0 1] [--epochs 30] [--dropout 0.3]
                                                      [--input-noise 0.3]
                                                      [--ema 0.99 0.995 0.998] [--elastic 34]
                                                      [--filters 32 64 128] [--dense-units 256]
                                                      [--half-life 500] [--tta 8] [--data ...]

Trains the improved-recipe semi-supervised AAE (1000 labels) on the training digits less 500
held out (the --validation split of semi_supervised_accuracy.py; never the test set) and scores,
after every epoch, the encoder itself and, side by side from the same run, an exponential moving
average (EMA) of its weights for each --ema momentum (every weight, batch normalization's moving
statistics included, updated after every training step). --dropout RATE puts dropout after the
encoder's last pooling and dense layers; --input-noise STD adds Gaussian noise of that standard
deviation to the encoder's input pixels (after the augmentation). --elastic ALPHA adds an elastic
distortion (Simard et al. 2003: a random displacement field, uniform in [-1, 1] per pixel,
smoothed by a Gaussian of sigma 4 pixels and scaled by ALPHA) before the recipe's shifts,
rotations and zooms. --filters and --dense-units size the encoder (and its averages);
--half-life sets the learning rates' half-life in steps. --tta N also scores the encoder on each
digit averaged with N augmented copies of it (test-time augmentation, with an augmenter of its
own, so training draws the same numbers).

Prints every epoch and, per seed, each variant's mean validation accuracy over the last 10 epochs;
writes them to benchmarks/results/recipe-variants-SETTINGS.json, named after the settings that
differ from the recipe (keeping the runs of other seeds already there).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from semi_supervised_accuracy import DEFAULT_DATA, IMPROVED_EPOCHS, evaluation_data  # noqa: E402

from aae_helpers.data import NUM_CLASSES  # noqa: E402
from aae_helpers.models import (CONV_DENSE_UNITS, CONV_FILTERS, IMAGE_SIZE, build_augmenter,  # noqa: E402
                                build_conv_encoder)
from aae_helpers.trainers.base import in_batches  # noqa: E402
from aae_helpers.trainers.semi_supervised import (LEARNING_RATE_HALF_LIFE,  # noqa: E402
                                                   SemiSupervisedAdversarialAutoencoder)

LAST_EPOCHS = 10
ELASTIC_SIGMA = 4.0


def gaussian_matrix(size, sigma):
    """(size, size) matrix whose product with a signal blurs it by a Gaussian of `sigma` samples,
    truncated at 3 sigma, zero beyond the edges (one matrix product per axis: fast on a CPU)."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = int(round(3 * sigma))
    weights = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= radius)
    return (weights / np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()).astype("float32")


class ElasticDistortion(layers.Layer):
    """images (batch, 28, 28, 1) -> the digits warped by a smooth random displacement field, in
    training only: uniform noise in [-1, 1] per pixel and axis, blurred (Gaussian, `sigma` pixels),
    times `alpha` pixels; sampled bilinearly, zero outside the image."""

    def __init__(self, alpha, sigma=ELASTIC_SIGMA, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.sigma, self.seed = float(alpha), float(sigma), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        noise = keras.random.uniform((batch, height, width, 2), -1.0, 1.0, seed=self.generator)
        noise = ops.einsum("ij,bjkc->bikc", gaussian_matrix(height, self.sigma), noise)
        field = self.alpha * ops.einsum("kl,bilc->bikc", gaussian_matrix(width, self.sigma), noise)
        grid = [ops.broadcast_to(ops.reshape(ops.cast(ops.arange(n), "float32"), shape),
                                 (batch, height, width))
                for n, shape in ((batch, (-1, 1, 1)), (height, (1, -1, 1)), (width, (1, 1, -1)))]
        warped = ops.image.map_coordinates(images[..., 0], [grid[0], grid[1] + field[..., 0],
                                                             grid[2] + field[..., 1]], order=1)
        return warped[..., None]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "sigma": self.sigma, "seed": self.seed}


def elastic_augmenter(alpha, seed):
    """The recipe's augmenter (models.build_augmenter) with ElasticDistortion(alpha) first."""
    recipe = build_augmenter(seed=seed)
    return keras.Sequential([keras.Input((IMAGE_SIZE,)), recipe.layers[0],
                             ElasticDistortion(alpha, seed=seed + 3), *recipe.layers[1:]],
                            name="augment_elastic")


class AveragedEncoders(SemiSupervisedAdversarialAutoencoder):
    """The improved SS-AAE, optionally with encoder dropout, plus EMA copies of its encoder."""

    def __init__(self, momenta=(), dropout=0.0, input_noise=0.0, elastic=0.0, filters=CONV_FILTERS,
                 dense_units=CONV_DENSE_UNITS, half_life=LEARNING_RATE_HALF_LIFE, **kwargs):
        super().__init__(recipe="improved", **kwargs)
        self.learning_rate_half_life = half_life
        if elastic:
            self.augmenter = elastic_augmenter(elastic, self.seed)
        sizes = {"filters": tuple(filters), "dense_units": dense_units}
        if dropout or input_noise or sizes != {"filters": CONV_FILTERS, "dense_units": CONV_DENSE_UNITS}:
            self.encoder = build_conv_encoder(self.latent_dim, NUM_CLASSES, batch_norm=True, dropout=dropout,
                                              input_noise=input_noise, **sizes)
        self.momenta = tuple(momenta)
        self.averaged = [build_conv_encoder(self.latent_dim, NUM_CLASSES, batch_norm=True, name=f"ema_{i}",
                                            **sizes) for i in range(len(self.momenta))]
        for averaged in self.averaged:
            for mean, weight in zip(averaged.weights, self.encoder.weights, strict=True):
                mean.assign(weight)

    def train_step(self, data):
        logs = super().train_step(data)
        for momentum, averaged in zip(self.momenta, self.averaged):
            for mean, weight in zip(averaged.weights, self.encoder.weights):
                mean.assign(momentum * mean + (1.0 - momentum) * weight)
        return logs


def accuracy(encoder, data, augmenter=None, copies=0):
    """Validation accuracy of encoder's class head; with copies > 0, of its class probabilities
    averaged over each digit and `copies` augmented versions of it."""
    def probabilities(x):
        total = ops.softmax(encoder(x, training=False)[0])
        for _ in range(copies):
            total = total + ops.softmax(encoder(augmenter(x, training=True), training=False)[0])
        return total
    scores = in_batches(probabilities, data.x_test)
    return float(np.mean(np.asarray(scores).argmax(axis=1) == data.y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=IMPROVED_EPOCHS["semi-supervised-aae"])
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--input-noise", type=float, default=0.0)
    parser.add_argument("--ema", nargs="*", type=float, default=[0.99, 0.995, 0.998])
    parser.add_argument("--elastic", type=float, default=0.0)
    parser.add_argument("--filters", nargs="+", type=int, default=list(CONV_FILTERS))
    parser.add_argument("--dense-units", type=int, default=CONV_DENSE_UNITS)
    parser.add_argument("--half-life", type=int, default=LEARNING_RATE_HALF_LIFE)
    parser.add_argument("--tta", type=int, default=0)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not 0.0 <= args.dropout < 1.0 or not all(0.0 < m < 1.0 for m in args.ema) \
            or min(args.elastic, args.input_noise, args.tta) < 0 \
            or min(args.filters + [args.dense_units, args.half_life]) < 1:
        parser.error("--dropout must be in [0, 1), every --ema momentum in (0, 1), --elastic, "
                     "--input-noise and --tta at least 0, --filters, --dense-units and --half-life positive; got "
                     + ", ".join(f"{key} {value}" for key, value in vars(args).items()))
    data = evaluation_data(args.data, validation=True)
    names = ["encoder"] + [f"ema {m:g}" for m in args.ema] + ([f"encoder tta {args.tta}"] if args.tta else [])
    settings = {"dropout": args.dropout, "input_noise": args.input_noise, "elastic": args.elastic,
                "filters": args.filters, "dense_units": args.dense_units, "half_life": args.half_life}
    # the recipe's values: a setting that differs from its default goes into the results file's name
    defaults = {key: parser.get_default(key)
                for key in ("input_noise", "elastic", "filters", "dense_units", "half_life", "tta")}
    variant = f"dropout{args.dropout:g}" + "".join(
        f"-{key.replace('_', '')}{'-'.join(map(str, value)) if isinstance(value, list) else f'{value:g}'}"
        for key, value in {**settings, "tta": args.tta}.items() if value != defaults.get(key, value))
    out = Path(args.out or HERE / "results" / f"recipe-variants-{variant}.json")
    results = {**settings, "tta": args.tta, "num_scored": len(data.x_test), "runs": []}
    if out.exists():  # keep the other seeds' runs of an earlier call with the same settings
        earlier = {**defaults, **json.loads(out.read_text())}
        if all(earlier.get(key) == results[key] for key in [*settings, "tta", "num_scored"]):
            results["runs"] = [run for run in earlier["runs"] if run["seed"] not in args.seeds]
    tta_augmenter = build_augmenter(seed=10_000) if args.tta else None
    for seed in args.seeds:
        trainer = AveragedEncoders(momenta=args.ema, seed=seed, labels_per_class=100, **settings)
        trainer.compile()
        dataset, steps = trainer.make_dataset(data, 100), trainer.steps_per_epoch(data, 100)
        scores, elapsed = {name: [] for name in names}, 0.0
        for epoch in range(args.epochs):
            started = time.perf_counter()
            trainer.fit(dataset, steps_per_epoch=steps, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
            elapsed += time.perf_counter() - started
            for name, encoder in zip(names, [trainer.encoder, *trainer.averaged]):
                scores[name].append(accuracy(encoder, data))
            if args.tta:
                scores[names[-1]].append(accuracy(trainer.encoder, data, tta_augmenter, args.tta))
            print(f"seed {seed} epoch {epoch + 1:3d} ({elapsed:6.1f} s): "
                  + ", ".join(f"{name} {scores[name][-1]:.3f}" for name in names), flush=True)
        last = {name: statistics.mean(values[-LAST_EPOCHS:]) for name, values in scores.items()}
        results["runs"].append({"seed": seed, "epochs": args.epochs, "validation_accuracy": scores,
                                f"mean_of_last_{LAST_EPOCHS}_epochs": last})
        print(f"seed {seed}, {variant}, mean validation accuracy over the last "
              f"{min(LAST_EPOCHS, args.epochs)} epochs: " + ", ".join(f"{n} {a:.4f}" for n, a in last.items()))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
