"""What the opt-in XLA Adam (aae_helpers.extras.speed) buys on each notebook's model, against the default
path (Keras' own Adam), and what several steps per compiled call buy.

Usage: .venv/bin/python benchmarks/adam_speed.py [--models aae vae ...] [--rounds 5]
                                                 [--json benchmarks/results/adam_speed.json]

Every notebook's model (aae_helpers.settings.DEFAULTS, seed 0) trains on the offline digits (or
AAE_MNIST_PATH) through training.train, as the notebooks train it, in three variants:

  keras        the default: Keras' Adam (optimizer.apply_gradients), several steps per call
  xla          aae_helpers.extras.speed.use_xla_adam: the same numbers as one XLA kernel per phase
  keras-1step  Keras' Adam, one step per call of Keras' compiled training function

Each variant has its own trainer, trained one epoch to warm up (tracing, compilation); then the
variants take turns, round by round, each training 2 more epochs, so a busy machine slows them
alike. The time per step runs from an epoch's start to the end of its last compiled call (no
validation, no checkpoint), divided by its steps; the table gives each variant's median over the
rounds and its ratio to the default.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import keras  # noqa: E402

from aae_helpers.extras import speed  # noqa: E402
from aae_helpers.infra import training  # noqa: E402
from aae_helpers.data import load_mnist  # noqa: E402
from aae_helpers.settings import DEFAULTS  # noqa: E402

VARIANTS = ("keras", "xla", "keras-1step")
MODELS = ("autoencoder", "aae", "supervised-aae", "semi-supervised-aae", "baseline-classifier", "vae")
EPOCHS_PER_ROUND = 2


class StepClock(keras.callbacks.Callback):
    """Seconds per training step in each epoch: from the epoch's start to the end of its last
    compiled call, divided by its steps (validation and checkpoints come after)."""

    def __init__(self):
        super().__init__()
        self.per_step, self.started, self.last = [], None, None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.per_step.append((self.last - self.started) / self.params["steps"])


class Run:
    """One variant's trainer and how far it has trained."""

    def __init__(self, model, variant, data):
        self.variant, self.data, self.settings = variant, data, DEFAULTS[model]
        self.trainer = self.settings.build()
        if variant == "xla":
            speed.use_xla_adam(self.trainer)
        self.epochs = 0
        self.train(1)   # warm-up: tracing and compilation

    def train(self, epochs, clock=None):
        real = training.steps_per_call
        if self.variant == "keras-1step":
            training.steps_per_call = lambda steps: 1
        try:
            training.train(self.trainer, self.data, self.epochs + epochs, initial_epoch=self.epochs,
                           batch_size=self.settings.batch_size, verbose=0, callbacks=[clock] if clock else [])
        finally:
            training.steps_per_call = real
        self.epochs += epochs


def measure(model, data, rounds):
    """{variant: [ms per step, median of each round]} for one model."""
    runs = [Run(model, variant, data) for variant in VARIANTS]
    times = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for run in runs:
            clock = StepClock()
            run.train(EPOCHS_PER_ROUND, clock)
            times[run.variant].append(1000 * statistics.median(clock.per_step))
    return times


def write_atomically(path, text):
    temporary = Path(f"{path}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    data = load_mnist()
    print(f"{len(data.x_train)} training digits ({data.source}); {args.rounds} rounds of "
          f"{EPOCHS_PER_ROUND} epochs per variant; ms per step, median over the rounds\n")
    print("| model | steps/epoch | keras (default) | xla | keras-1step | xla / keras | keras-1step / keras |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    results = {}
    for model in args.models:
        times = measure(model, data, args.rounds)
        median = {variant: statistics.median(values) for variant, values in times.items()}
        steps = DEFAULTS[model].build().steps_per_epoch(data, DEFAULTS[model].batch_size)
        results[model] = {"steps_per_epoch": steps, "ms_per_step": times, "median_ms_per_step": median,
                          "xla_over_keras": median["xla"] / median["keras"],
                          "one_step_over_keras": median["keras-1step"] / median["keras"]}
        row = results[model]
        print(f"| {model} | {steps} | {median['keras']:.2f} | {median['xla']:.2f} | {median['keras-1step']:.2f} "
              f"| {row['xla_over_keras']:.2f} | {row['one_step_over_keras']:.2f} |", flush=True)
        assert all(math.isfinite(value) and value > 0 for value in median.values())
    if args.json:
        report = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
                  "cores": os.cpu_count(), "data": data.source, "num_train": len(data.x_train),
                  "rounds": args.rounds, "epochs_per_round": EPOCHS_PER_ROUND, "results": results}
        write_atomically(args.json, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
