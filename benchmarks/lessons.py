"""Each notebook's lesson, measured: train every notebook's default model with the settings in
aae_helpers.settings and report the number behind its lesson, per seed, with the training time.

  autoencoder (01)          test MSE per pixel
  aae (02)                  MMD² codes vs prior, beside prior vs prior (same kernel); test MSE
  supervised-aae (03)       label control, class probe of z, test MSE; --article: the article's recipe
  semi-supervised-aae (04)  test accuracy, label control of the decoder, class probe of z
  baseline-classifier (04)  test accuracy
  vae (05)                  label control, class probe of z, test MSE, classifier accuracy

Label control: every digit in 100 prior styles, read by aae.digit_reader (a CNN trained on the same
training digits, never by the model under test). With --validation N the models train on the
training digits minus N held out, and everything is measured on those N (for choosing settings);
otherwise on the test split.

Usage:
  AAE_OFFLINE=1 .venv/bin/python benchmarks/lessons.py                      # every model, seed 0
  AAE_OFFLINE=1 .venv/bin/python benchmarks/lessons.py --models supervised-aae --article --seeds 0 1 2
  AAE_OFFLINE=1 .venv/bin/python benchmarks/lessons.py --validation 500 --steps 2000 --set latent_dim=15
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aae_helpers as aae  # noqa: E402
from aae_helpers.infra import runtime  # noqa: E402
from aae_helpers.settings import ARTICLE, DEFAULTS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def parse_changes(items):
    """["latent_dim=15", "discriminator_sees_label=False"] -> {"latent_dim": 15, ...}."""
    changes = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name or not value:
            raise SystemExit(f"--set takes NAME=VALUE (a trainer option), got {item!r}")
        try:
            changes[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            changes[name] = value
    return changes


def measure(trainer, name, images, labels, reader) -> dict:
    """The lesson numbers of one trained model on images (n, 784) with labels (n,)."""
    result = {}
    if name == "baseline-classifier":
        return {"accuracy": float(np.mean(trainer.classify(images).argmax(1) == labels))}
    if name == "semi-supervised-aae":
        probabilities, codes = trainer.encode(images)
        result["accuracy"] = float(np.mean(probabilities.argmax(1) == labels))
        reconstructions = trainer.reconstruct(images)
    elif name == "supervised-aae":
        codes, reconstructions = trainer.encode(images), trainer.reconstruct(images, labels)
    else:
        codes, reconstructions = trainer.encode(images), trainer.reconstruct(images)
    result["mse"] = float(np.mean((reconstructions - images) ** 2))
    if name == "vae":
        result["accuracy"] = float(np.mean(trainer.classify(images).argmax(1) == labels))
    if name == "aae":
        prior, reference = (np.asarray(aae.sample_prior(trainer.prior, len(codes), trainer.latent_dim,
                                                        seed=seed, std=trainer.prior_std)) for seed in (1, 2))
        bandwidths = aae.median_bandwidths(prior)
        result["mmd2_codes_vs_prior"] = aae.mmd(codes, prior, bandwidths)
        result["mmd2_prior_vs_prior"] = aae.mmd(reference, prior, bandwidths)
        # the AAE as a generator: which digits 1,000 prior samples decode to, and whether the
        # digits survive the 2-D code at all (reconstructions read as their own digit)
        drawn = aae.read_digits(reader, trainer.generate(1000, seed=0)).argmax(1)
        shares = np.bincount(drawn, minlength=10) / len(drawn)
        result["sample_share_min"] = float(shares.min())
        result["sample_share_per_digit"] = [round(float(share), 3) for share in shares]
        read_back = aae.read_digits(reader, reconstructions).argmax(1)
        result["reconstructions_read_right"] = float(np.mean(read_back == labels))
        result["reconstructions_read_right_per_digit"] = [
            round(float(np.mean(read_back[labels == digit] == digit)), 3) for digit in range(10)]
    if callable(getattr(trainer, "sample_styles", None)):
        control = aae.label_control(trainer, reader)
        result["label_control"] = control.score
        result["label_control_per_digit"] = [round(float(v), 3) for v in control.per_digit]
        result["class_probe"] = aae.class_probe(codes, labels)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(DEFAULTS), default=list(DEFAULTS))
    parser.add_argument("--article", action="store_true",
                        help="train the article's recipe where a notebook compares with it (settings.ARTICLE)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", default=None, help="an MNIST .npz or IDX folder (default: load_mnist's)")
    parser.add_argument("--validation", type=int, default=0,
                        help="hold out this many training digits and measure on them, not on the test split")
    parser.add_argument("--steps", type=int, default=None, help="override every model's step budget")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="override trainer options, e.g. latent_dim=15")
    parser.add_argument("--out", default=None, help="JSON results file (default benchmarks/results/lessons-...json)")
    args = parser.parse_args(argv)
    if runtime.fast_mode():
        parser.error("AAE_FAST is set; it would shrink the data and the training. Unset it.")
    changes = parse_changes(args.set)
    data = aae.load_mnist(args.data, validation_size=args.validation, seed=0)
    images, labels = (data.x_val, data.y_val) if args.validation else (data.x_test, data.y_test)
    reader = aae.digit_reader(data, run_dir=ROOT / "runs" / "lessons" / "digit_reader")
    reader_accuracy = float(np.mean(aae.read_digits(reader, images).argmax(1) == labels))
    table = ARTICLE if args.article else DEFAULTS
    models = [name for name in args.models if name in table]
    runs = []
    for name in models:
        settings = table[name]
        if args.steps:
            settings = dataclasses.replace(settings, steps=args.steps)
        for seed in args.seeds:
            trainer = settings.build(seed=seed, **changes)
            epochs = settings.epochs(trainer, data)
            started = time.perf_counter()
            aae.train(trainer, data, epochs, batch_size=settings.batch_size, verbose=0)
            seconds = time.perf_counter() - started
            result = measure(trainer, name, images, labels, reader)
            runs.append({"model": name, "seed": seed, "epochs": epochs,
                         "steps": epochs * trainer.steps_per_epoch(data, settings.batch_size),
                         "train_seconds": round(seconds, 1), **result})
            shown = {key: (round(value, 4) if isinstance(value, float) else value)
                     for key, value in runs[-1].items() if key != "label_control_per_digit"}
            print(json.dumps(shown), flush=True)
    summary = {}
    for name in models:
        rows = [run for run in runs if run["model"] == name]
        numbers = [key for key, value in rows[0].items()
                   if isinstance(value, float) and key != "train_seconds"]
        summary[name] = {"train_seconds_median": statistics.median(run["train_seconds"] for run in rows),
                         **{f"{key}_mean": float(np.mean([run[key] for run in rows])) for key in numbers},
                         **{f"{key}_min": float(np.min([run[key] for run in rows])) for key in numbers}}
    tag = "-article" if args.article else ""
    tag += f"-validation{args.validation}" if args.validation else ""
    tag += f"-steps{args.steps}" if args.steps else ""
    tag += "".join(f"-{key}{value}" for key, value in changes.items())
    out = Path(args.out) if args.out else RESULTS / f"lessons{tag}.json"
    report = {"command": " ".join(["python", *sys.argv]),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": data.source, "num_train": len(data.x_train), "num_measured": len(labels),
              "measured_on": "validation split" if args.validation else "test split",
              "reader_accuracy": reader_accuracy, "changes": changes,
              "environment": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
              "runs": runs, "summary": summary}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
