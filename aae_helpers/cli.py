"""The `aae` command line: train any tutorial model headless, resume it, and report metrics."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

USAGE_MODELS = "autoencoder | aae | supervised-aae | semi-supervised-aae | baseline-classifier | vae"


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a wrong argument in one line and exits 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="aae", description="Train the AAE Wizard tutorial models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser("train", help="train a model and write it, its history, figures "
                                              "and metrics.json into --out")
    train.add_argument("model", help=USAGE_MODELS)
    train.add_argument("--data", help="an mnist.npz or a folder of the four IDX files "
                                      "(default: $AAE_MNIST_PATH, Keras cache/download, offline digits)")
    train.add_argument("--epochs", type=int, default=None, help="total epochs (default: the article's)")
    train.add_argument("--batch-size", type=int, default=100)
    train.add_argument("--latent-dim", type=int, default=None, help="size of z (default: the article's)")
    train.add_argument("--prior", default=None, help="aae/supervised-aae: gaussian, uniform, "
                                                      "mixture_of_gaussians, swiss_roll")
    train.add_argument("--prior-std", type=float, default=5.0)
    train.add_argument("--labels", type=int, default=1000,
                       help="semi-supervised-aae/baseline-classifier: labelled images, a multiple of 10")
    train.add_argument("--recipe", default=None, choices=("article", "improved"),
                       help="semi-supervised-aae/baseline-classifier: 'article' (default, the article's "
                            "dense networks) or 'improved' (small batch-normalized CNN, augmented digits, "
                            "learning-rate decay)")
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out up to --epochs")
    train.add_argument("--deterministic", action="store_true",
                       help="TensorFlow op determinism: the same --seed gives identical numbers")
    train.add_argument("--tensorboard", action="store_true",
                       help="also log losses, code histograms and images to OUT/tensorboard")
    return parser


DEFAULT_EPOCHS = {"autoencoder": 20, "aae": 20, "supervised-aae": 20, "semi-supervised-aae": 100,
                  "baseline-classifier": 100, "vae": 20}


def trainer_arguments(args) -> dict:
    """Constructor keyword arguments for the chosen model, checked against what it accepts."""
    name = args.model
    kwargs = {"seed": args.seed}
    if args.latent_dim is not None:
        if name == "baseline-classifier":
            raise ValueError("--latent-dim does not apply to baseline-classifier (it has no code).")
        kwargs["latent_dim"] = args.latent_dim
    if args.prior is not None or args.prior_std != 5.0:
        if name not in ("aae", "supervised-aae", "semi-supervised-aae"):
            raise ValueError(f"--prior/--prior-std apply to aae, supervised-aae and "
                             f"semi-supervised-aae, not {name}.")
        if args.prior is not None:
            if name == "semi-supervised-aae":
                raise ValueError("semi-supervised-aae uses a gaussian style prior; "
                                 "only --prior-std applies.")
            kwargs["prior"] = args.prior
        kwargs["prior_std"] = args.prior_std
    if name in ("semi-supervised-aae", "baseline-classifier"):
        if args.labels <= 0 or args.labels % 10:
            raise ValueError(f"--labels must be a positive multiple of 10 (balanced classes), "
                             f"got {args.labels}.")
        kwargs["labels_per_class"] = args.labels // 10
    if args.recipe is not None:
        if name not in ("semi-supervised-aae", "baseline-classifier"):
            raise ValueError(f"--recipe applies to semi-supervised-aae and baseline-classifier, not {name}.")
        kwargs["recipe"] = args.recipe
    return kwargs


def test_metrics(trainer, data, batch_size) -> dict:
    """The trainer's losses and accuracy on the test split, named test_*."""
    images, labels = trainer.evaluation_data(data)
    results = trainer.evaluate(images, labels, batch_size=min(batch_size, len(images)),
                               verbose=0, return_dict=True)
    return {f"test_{key}": float(value) for key, value in results.items()}


def write_history_csv(history: dict, path: Path) -> None:
    keys = sorted(history)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([epoch + 1, *(history[key][epoch] for key in keys)])


def run_train(args) -> dict:
    from aae_helpers import runtime, training
    from aae_helpers.data import load_mnist
    from aae_helpers.figures import save_run_figures
    from aae_helpers.trainers import get_trainer_class

    trainer_class = get_trainer_class(args.model)
    if args.deterministic:
        runtime.make_deterministic(args.seed)
    epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS[args.model]
    if epochs <= 0:
        raise ValueError(f"--epochs must be a positive integer, got {epochs}.")
    epochs = runtime.epochs_for_run(epochs)
    out = Path(args.out or Path("runs") / args.model)
    previous_metrics = {}
    data = load_mnist(args.data, seed=args.seed)
    if args.resume:
        trainer, state = training.load_checkpoint(out)
        if type(trainer) is not trainer_class:
            raise ValueError(f"{out} holds a {type(trainer).__name__} run, not {args.model}.")
        if (out / "metrics.json").is_file():
            previous_metrics = json.loads((out / "metrics.json").read_text())
        initial_epoch, history = state["epochs_completed"], state["history"]
        if initial_epoch >= epochs:
            print(f"{out} already holds {initial_epoch} epochs (asked for {epochs}); nothing to train.")
    else:
        if (out / training.STATE_FILE).exists():
            raise ValueError(f"{out} already holds a trained run; pass --resume to continue it or "
                             "choose another --out (nothing was overwritten).")
        trainer = trainer_class(**trainer_arguments(args))
        trainer.compile(learning_rate=args.learning_rate)
        initial_epoch, history = 0, {}
    training._check_run_dir(out)
    started = time.perf_counter()
    history = training.train(trainer, data, epochs, batch_size=args.batch_size, run_dir=out,
                             initial_epoch=initial_epoch, history=history,
                             tensorboard_dir=out / "tensorboard" if args.tensorboard else None)
    seconds = time.perf_counter() - started + previous_metrics.get("train_seconds", 0.0)
    completed = len(next(iter(history.values()), []))
    metrics = {"model": args.model, "epochs_completed": completed,
               "train_seconds": round(seconds, 2), "data_source": data.source, "seed": args.seed,
               "num_train": len(data.x_train), "num_test": len(data.x_test),
               "batch_size": args.batch_size, **test_metrics(trainer, data, args.batch_size)}
    write_history_csv(history, out / "history.csv")
    save_run_figures(trainer, data, history, out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def one_line(error) -> str:
    """The error's message on one line (Keras and TensorFlow messages can span several)."""
    return " ".join(str(error).split())


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        metrics = run_train(args)
    except (ValueError, OSError) as error:
        print(f"aae: error: {one_line(error)}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        from aae_helpers.training import TrainingDivergedError  # already imported by run_train
        if not isinstance(error, TrainingDivergedError):
            raise
        print(f"aae: error: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aae: interrupted; the last finished epoch is saved (continue with --resume).",
              file=sys.stderr)
        return 130
    print(json.dumps(metrics, indent=1))
    return 0
