"""What a user with full MNIST waits: each notebook's model timed on 60,000-image epochs, at its step budget.

Usage:
  .venv/bin/python benchmarks/full_mnist_time.py                      # every notebook, this machine
  .venv/bin/python benchmarks/full_mnist_time.py --models semi-supervised-aae --recipe improved
  .venv/bin/python benchmarks/full_mnist_time.py --json benchmarks/results/full_mnist_time-steps.json

The notebooks train for a budget of optimizer steps (aae_helpers.settings), rounded to whole
epochs of the data they load, so with full MNIST (60,000 training digits instead of the 4,000
offline ones) they train fewer, longer epochs and should take about as long as offline. This
script builds an epoch of MNIST's size by repeating the training digits it loads (the offline ones
here; content does not change the speed), trains each notebook's model with its settings for a few
epochs, and reports the first epoch (tracing and compilation included), the median of the later
ones, the time per step they give, and the notebook's training at that speed: the first epoch's
extra time (compilation) plus the steps its budget trains, on full MNIST and on the digits loaded
(offline: 4,000). Evaluation after each epoch is not included. On a machine with a GPU the same
command measures the GPU.
"""

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
from semi_supervised_accuracy import build_trainer  # noqa: E402

from aae_helpers.data import MnistData, load_mnist  # noqa: E402
from aae_helpers.settings import DEFAULTS, epochs_for_steps  # noqa: E402


def full_size(data: MnistData, images: int, batch_size: int = 100) -> MnistData:
    """`data` with its training split repeated (or cut) to `images` digits, labels alongside."""
    if images < batch_size:
        raise ValueError(f"--images must be at least one batch ({batch_size}), got {images}.")
    repeats = -(-images // len(data.x_train))
    x_train = np.tile(data.x_train, (repeats, 1))[:images]
    y_train = np.tile(data.y_train, repeats)[:images]
    return MnistData(x_train, y_train, data.x_test, data.y_test,
                     f"{data.source}, training digits repeated to {images}")


def time_epochs(trainer, data, epochs, batch_size=100):
    """Wall seconds of each of `epochs` epochs of trainer.fit on `data`: (steps per epoch, seconds)."""
    dataset, steps = trainer.make_dataset(data, batch_size), trainer.steps_per_epoch(data, batch_size)
    seconds = []
    for epoch in range(epochs):
        started = time.perf_counter()
        trainer.fit(dataset, steps_per_epoch=steps, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        seconds.append(time.perf_counter() - started)
    return steps, seconds


def training_minutes(first_epoch_seconds, step_seconds, steps_per_epoch, steps):
    """Minutes to train `steps`: the first epoch's extra time (compilation) plus every step at
    `step_seconds`."""
    overhead = max(0.0, first_epoch_seconds - step_seconds * steps_per_epoch)
    return (overhead + step_seconds * steps) / 60


def time_model(model, settings, trainer, data, offline, timed_epochs):
    """One row: the epoch times on `data` and the notebook's training time on `data` and `offline`."""
    batch = settings.batch_size
    steps_per_epoch, seconds = time_epochs(trainer, data, timed_epochs, batch)
    later = statistics.median(seconds[1:])
    step_seconds = later / steps_per_epoch
    epochs = epochs_for_steps(trainer, data, settings.steps, batch)
    offline_epochs = epochs_for_steps(trainer, offline, settings.steps, batch)
    offline_steps = offline_epochs * trainer.steps_per_epoch(offline, batch)

    def minutes(steps):
        return round(training_minutes(seconds[0], step_seconds, steps_per_epoch, steps), 2)

    return {"notebook": settings.notebook[:2], "model": model,
            "settings": json.loads(json.dumps(dataclasses.asdict(settings), default=str)),
            "trainer": json.loads(json.dumps(trainer.get_config(), default=str)),
            "steps_per_epoch": steps_per_epoch, "epoch_seconds": [round(s, 3) for s in seconds],
            "first_epoch_seconds": round(seconds[0], 3), "later_epoch_seconds": round(later, 3),
            "step_milliseconds": round(step_seconds * 1000, 2),
            "images_per_second": round(steps_per_epoch * batch / later),
            "budget_steps": settings.steps, "epochs": epochs, "steps": epochs * steps_per_epoch,
            "training_minutes": minutes(epochs * steps_per_epoch),
            "offline_images": len(offline.x_train), "offline_epochs": offline_epochs,
            "offline_steps": offline_steps, "offline_training_minutes": minutes(offline_steps)}


def table(rows, images, offline_images):
    """The rows as a markdown table."""
    lines = [f"| notebook | model | step budget | one {images:,}-image epoch (median of the later ones) "
             f"| ms per step | training, {images:,} digits per epoch | training, {offline_images:,} digits "
             "(the data loaded) |", "| --- | --- | ---: | --- | ---: | --- | --- |"]
    for row in rows:
        model = row["model"] + (" (improved recipe)" if row.get("recipe") == "improved" else "")
        lines.append(f"| {row['notebook']} | {model} | {row['budget_steps']} | "
                     f"{row['later_epoch_seconds']:.2f} s ({row['steps_per_epoch']} steps) | "
                     f"{row['step_milliseconds']:.1f} | {row['training_minutes']:.1f} min ({row['epochs']} "
                     f"epochs, {row['steps']} steps) | {row['offline_training_minutes']:.1f} min "
                     f"({row['offline_epochs']} epochs, {row['offline_steps']} steps) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULTS), choices=list(DEFAULTS))
    parser.add_argument("--recipe", choices=("article", "improved"), default="article",
                        help="the semi-supervised AAE's recipe: notebook 04's model (article), or the "
                             "improved recipe as semi_supervised_accuracy.py trains it, at notebook 04's "
                             "step budget")
    parser.add_argument("--images", type=int, default=60_000, help="training digits per epoch")
    parser.add_argument("--timed-epochs", type=int, default=3,
                        help="epochs per model: the first (with compilation) and the later ones")
    parser.add_argument("--data", default=None, help="an MNIST .npz or IDX folder (default: load_mnist's)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.timed_epochs < 2:
        parser.error(f"--timed-epochs must be at least 2 (the first epoch includes compilation), "
                     f"got {args.timed_epochs}")
    try:
        offline = load_mnist(args.data, fast=False)
        data = full_size(offline, args.images)
    except ValueError as error:
        parser.error(str(error))
    import tensorflow as tf
    device = ", ".join(d.name for d in tf.config.list_logical_devices("GPU")) or "CPU only"
    print(f"{len(data.x_train)} training digits per epoch ({data.source}); {device}")

    rows = []
    for model in args.models:
        settings = DEFAULTS[model]
        if model == "semi-supervised-aae" and args.recipe == "improved":
            trainer = build_trainer(model, "improved", seed=settings.seed)
        else:
            trainer = settings.build()
        rows.append(time_model(model, settings, trainer, data, offline, args.timed_epochs))
        if model == "semi-supervised-aae":
            rows[-1]["recipe"] = args.recipe
        print(f"  {rows[-1]['notebook']} {model}: epoch seconds "
              + ", ".join(f"{s:.2f}" for s in rows[-1]["epoch_seconds"]), flush=True)

    print("\n" + table(rows, len(data.x_train), len(offline.x_train)))
    if args.json:
        result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs; {device}",
                  "data": data.source, "images_per_epoch": len(data.x_train), "recipe": args.recipe,
                  "rows": rows}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
