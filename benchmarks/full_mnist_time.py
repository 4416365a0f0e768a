"""What a user with full MNIST waits: each notebook's main model timed on 60,000-image epochs.

Usage:
  .venv/bin/python benchmarks/full_mnist_time.py                      # every notebook, this machine
  .venv/bin/python benchmarks/full_mnist_time.py --models semi-supervised-aae --recipe improved
  .venv/bin/python benchmarks/full_mnist_time.py --json benchmarks/results/full_mnist_time.json

The notebooks keep their epoch counts whatever data they load, so with full MNIST (60,000
training digits instead of the 4,000 offline ones) every epoch has 15 times the batches. This
script builds an epoch of MNIST's size by repeating the training digits it loads (the offline
ones here; content does not change the speed), trains each notebook's main model with the
notebook's settings and batch size 100 for a few epochs, and reports the first epoch (tracing
and compilation included), the median of the later ones, and the notebook's whole training run
at that speed. On a machine with a GPU the same command measures the GPU.
"""

import argparse
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
from model_quality import BATCH_SIZE, MODELS, check_notebook  # noqa: E402

from aae_helpers.data import MnistData, load_mnist  # noqa: E402
from aae_helpers.trainers import TRAINERS  # noqa: E402

# Each notebook's main model with its `parameters` cell: the four model_quality.py describes, and
# notebook 04's semi-supervised AAE, in notebook order. check_notebook compares them at run time.
NOTEBOOK_RUNS = dict(sorted({**MODELS, "semi-supervised-aae": {
    "notebook": "04_semi_supervised_1000_labels",
    "kwargs": {"latent_dim": 10, "prior_std": 5.0, "labels_per_class": 100},
    "learning_rate": 1e-3, "beta_1": 0.9, "epochs": 15}}.items(), key=lambda item: item[1]["notebook"]))


def full_size(data: MnistData, images: int) -> MnistData:
    """`data` with its training split repeated (or cut) to `images` digits, labels alongside."""
    if images < BATCH_SIZE:
        raise ValueError(f"--images must be at least one batch ({BATCH_SIZE}), got {images}.")
    repeats = -(-images // len(data.x_train))
    x_train = np.tile(data.x_train, (repeats, 1))[:images]
    y_train = np.tile(data.y_train, repeats)[:images]
    return MnistData(x_train, y_train, data.x_test, data.y_test,
                     f"{data.source}, training digits repeated to {images}")


def time_epochs(trainer, data, epochs):
    """Wall seconds of each of `epochs` epochs of trainer.fit on `data` (batch 100)."""
    dataset, steps = trainer.make_dataset(data, BATCH_SIZE), trainer.steps_per_epoch(data, BATCH_SIZE)
    seconds = []
    for epoch in range(epochs):
        started = time.perf_counter()
        trainer.fit(dataset, steps_per_epoch=steps, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        seconds.append(time.perf_counter() - started)
    return steps, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(NOTEBOOK_RUNS), choices=list(NOTEBOOK_RUNS))
    parser.add_argument("--recipe", choices=("article", "improved"), default="article",
                        help="the semi-supervised AAE's recipe (notebook 04's default: article)")
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
        data = full_size(load_mnist(args.data, fast=False), args.images)
    except ValueError as error:
        parser.error(str(error))
    import tensorflow as tf
    device = ", ".join(d.name for d in tf.config.list_logical_devices("GPU")) or "CPU only"
    print(f"{len(data.x_train)} training digits per epoch ({data.source}); {device}")

    rows = []
    for model, run in NOTEBOOK_RUNS.items():
        if model not in args.models:
            continue
        problems = check_notebook(run)
        if problems:
            print(f"WARNING: {model} settings differ from notebook {run['notebook']}: " + "; ".join(problems))
        settings = {**run["kwargs"], **({"recipe": args.recipe} if model == "semi-supervised-aae" else {})}
        trainer = TRAINERS[model](seed=0, **settings)
        trainer.compile(learning_rate=run["learning_rate"], beta_1=run["beta_1"])
        steps, seconds = time_epochs(trainer, data, args.timed_epochs)
        later, notebook, notebook_epochs = statistics.median(seconds[1:]), run["notebook"][:2], run["epochs"]
        rows.append({"notebook": notebook, "model": model, "settings": {k: str(v) for k, v in settings.items()},
                     "steps_per_epoch": steps, "epoch_seconds": [round(s, 3) for s in seconds],
                     "first_epoch_seconds": round(seconds[0], 3), "later_epoch_seconds": round(later, 3),
                     "images_per_second": round(steps * BATCH_SIZE / later),
                     "notebook_epochs": notebook_epochs,
                     "notebook_training_minutes": round((seconds[0] + later * (notebook_epochs - 1)) / 60, 2)})
        print(f"  {notebook} {model}: epoch seconds {', '.join(f'{s:.2f}' for s in seconds)}", flush=True)

    print("\n| notebook | model | first epoch (with compilation) | later epoch (median) | images/s "
          "| the notebook's training at this speed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        name = row["model"] + (f" ({args.recipe})" if row["model"] == "semi-supervised-aae" else "")
        print(f"| {row['notebook']} | {name} | {row['first_epoch_seconds']:.1f} s | "
              f"{row['later_epoch_seconds']:.2f} s | {row['images_per_second']} | "
              f"{row['notebook_training_minutes']:.1f} min ({row['notebook_epochs']} epochs) |")
    if args.json:
        result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs; {device}",
                  "data": data.source, "images_per_epoch": len(data.x_train), "batch_size": BATCH_SIZE,
                  "recipe": args.recipe, "rows": rows}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
