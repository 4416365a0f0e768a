"""The `aae` command line: train any tutorial model headless, resume it, and report metrics.

Exit status: 0 trained (or nothing left to train); 1 training failed (diverged, out of memory,
an internal error); 2 a bad argument, file or run folder; 130 interrupted (Ctrl-C). Every error
is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from aae_helpers.infra.checkpoints import SAVE_EVERY  # no TensorFlow import

USAGE_MODELS = ("autoencoder | aae | supervised-aae | semi-supervised-aae | baseline-classifier | vae | "
                "clustering-aae")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a wrong argument in one line and exits 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="aae", description="Train the AAE Wizard tutorial models.",
                           epilog="Exit status: 0 done, 1 training failed (diverged, out of memory), "
                                  "2 bad input, 130 interrupted.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser("train", help="train a model and write it, its history, figures "
                                              "and metrics.json into --out")
    train.add_argument("model", help=USAGE_MODELS)
    train.add_argument("--data", help="an mnist.npz or a folder of the four IDX files "
                                      "(default: $AAE_MNIST_PATH, Keras cache/download, offline digits)")
    train.add_argument("--article", action="store_true",
                       help="supervised-aae/semi-supervised-aae: the article's own recipe, which the "
                            "notebook trains beside its default for comparison (clustering-aae: the paper's)")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=None,
                        help="training budget in optimizer steps, rounded to whole epochs "
                             "(default: the notebook's)")
    budget.add_argument("--epochs", type=int, default=None, help="training budget in total epochs")
    train.add_argument("--batch-size", type=int, default=None, help="default: the notebook's (100)")
    train.add_argument("--latent-dim", type=int, default=None, help="size of z (default: the notebook's)")
    train.add_argument("--prior", default=None, help="aae/supervised-aae: gaussian, uniform, "
                                                      "mixture_of_gaussians, swiss_roll")
    train.add_argument("--prior-std", type=float, default=None, help="default: the notebook's (5.0; clustering-aae 1.0)")
    train.add_argument("--labels", type=int, default=None,
                       help="semi-supervised-aae/baseline-classifier: labelled images, a multiple of 10 "
                            "(default 1000)")
    train.add_argument("--clusters", type=int, default=None,
                       help="clustering-aae: the number of clusters k (default 16, the paper's)")
    train.add_argument("--recipe", default=None, choices=("article", "improved"),
                       help="semi-supervised-aae/baseline-classifier: 'article' (default, the article's "
                            "dense networks) or 'improved' (small batch-normalized CNN, augmented digits, "
                            "learning-rate decay)")
    train.add_argument("--learning-rate", type=float, default=None, help="default: the notebook's (0.001)")
    train.add_argument("--beta-1", type=float, default=None, help="Adam's beta_1 (default: the notebook's)")
    train.add_argument("--seed", type=int, default=None, help="default 0")
    train.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out up to --epochs; settings left out are the run's, "
                            "settings given must match them")
    train.add_argument("--deterministic", action="store_true",
                       help="TensorFlow op determinism: the same --seed gives identical numbers")
    train.add_argument("--save-every", type=float, default=SAVE_EVERY, metavar="SECONDS",
                       help="save a checkpoint after the first epoch that ends SECONDS after the last "
                            f"one, and after the last epoch (default {SAVE_EVERY:g}; 0: every epoch)")
    train.add_argument("--tensorboard", action="store_true",
                       help="also log losses, code histograms and images to OUT/tensorboard")
    return parser


def output_folder(args) -> Path:
    return Path(args.out or Path("runs") / args.model)


# Command-line option -> (Settings field, key in Settings.options or None). --labels counts labelled
# images, the trainers' labels_per_class counts them per class: cli_value and with_cli_value convert.
OPTIONS = {"batch_size": ("batch_size", None), "learning_rate": ("learning_rate", None),
           "beta_1": ("beta_1", None), "seed": ("seed", None), "latent_dim": ("options", "latent_dim"),
           "prior": ("options", "prior"), "prior_std": ("options", "prior_std"),
           "labels": ("options", "labels_per_class"), "clusters": ("options", "num_clusters")}


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def recipe_settings(model: str, article: bool = False, recipe: str | None = None):
    """The settings.Settings a new run starts from: the notebook's model (DEFAULTS), with `article`
    the article's recipe it is compared with (ARTICLE), with recipe "improved" the improved recipe's
    (aae_helpers.extras.improved.SETTINGS)."""
    from aae_helpers.settings import ARTICLE, DEFAULTS
    from aae_helpers.trainers import get_trainer_class

    get_trainer_class(model)  # an unknown model name fails here, clearly
    if article and model not in ARTICLE:
        raise ValueError(f"--article applies to {' and '.join(ARTICLE)}, not {model}.")
    if recipe == "improved":
        from aae_helpers.extras.improved import SETTINGS

        if model not in SETTINGS:
            raise ValueError(f"--recipe applies to {' and '.join(SETTINGS)}, not {model}.")
        if article:
            raise ValueError("--article and --recipe improved are two different recipes; choose one.")
        return SETTINGS[model]
    return ARTICLE[model] if article else DEFAULTS[model]


def cli_value(settings, option: str):
    """The value `settings` gives a command-line option (None: the model has no such setting)."""
    field, key = OPTIONS[option]
    value = getattr(settings, field) if key is None else settings.options.get(key)
    return value * 10 if option == "labels" and value is not None else value


def with_cli_value(settings, option: str, value):
    """`settings` with one command-line option changed: a clear ValueError where the model has no
    such setting (its constructor takes no such argument) or the value cannot be one."""
    import dataclasses
    import inspect

    field, key = OPTIONS[option]
    if key is None:
        return dataclasses.replace(settings, **{field: value})
    if key not in inspect.signature(settings.trainer_class()).parameters:
        raise ValueError(f"{flag(option)} does not apply to {settings.model} (its model has no {key}).")
    if option == "labels":
        if value <= 0 or value % 10:
            raise ValueError(f"--labels must be a positive multiple of 10 (balanced classes), got {value}.")
        value //= 10
    return dataclasses.replace(settings, options={**settings.options, key: value})


def new_run_settings(args):
    """The Settings of a new run: its recipe's, with every option the command line gives."""
    settings = recipe_settings(args.model, args.article, args.recipe)
    for option in OPTIONS:
        if getattr(args, option) is not None:
            settings = with_cli_value(settings, option, getattr(args, option))
    return settings


def saved_run_settings(state: dict, model: str, out: Path):
    """(Settings, recipe) a saved run was trained with (its state.json: the trainer's config, the
    optimizer's settings, the batch size); recipe is "improved" or "article" by its trainer class."""
    import dataclasses

    from aae_helpers.extras.improved import IMPROVED

    recipe = "improved" if model in IMPROVED and state["trainer"] == IMPROVED[model].__name__ else "article"
    settings = recipe_settings(model, recipe=recipe)
    if state["trainer"] != settings.trainer_class().__name__:
        raise ValueError(f"{out} holds a {state['trainer']} run, not {model}.")
    config, compiled = state["config"], state.get("compile", {})
    options = {key: config[key] for _, key in OPTIONS.values() if key is not None and key in config}
    return dataclasses.replace(
        settings, options={**settings.options, **options}, seed=config.get("seed", settings.seed),
        learning_rate=compiled.get("learning_rate", settings.learning_rate),
        beta_1=compiled.get("beta_1", settings.beta_1),
        batch_size=state.get("batch_size", settings.batch_size)), recipe


def check_resume_options(args, saved, recipe: str, out: Path) -> None:
    """A clear ValueError naming each option given that differs from the saved run's (it would
    silently change the model), or that its model does not have."""
    for option in OPTIONS:
        if getattr(args, option) is not None:
            with_cli_value(saved, option, getattr(args, option))  # an option the model lacks fails here
    differ = [f"{flag(option)} {getattr(args, option)} (the run has {cli_value(saved, option)})"
              for option in OPTIONS
              if getattr(args, option) is not None and getattr(args, option) != cli_value(saved, option)]
    if args.recipe is not None and args.recipe != recipe:
        differ.append(f"--recipe {args.recipe} (the run has {recipe})")
    if differ:
        raise ValueError(f"--resume would continue {out} with other settings than it was trained with: "
                         f"{', '.join(differ)}. Leave these options out (the run's own are used) or "
                         "choose another --out to train a new model.")


def test_metrics(trainer, data, batch_size) -> dict:
    """The trainer's losses and accuracy on the test split, named test_*."""
    images, labels = trainer.evaluation_data(data)
    results = trainer.evaluate(images, labels, batch_size=min(batch_size, len(images)),
                               verbose=0, return_dict=True)
    metrics = {f"test_{key}": float(value) for key, value in results.items()}
    if hasattr(trainer, "cluster_probabilities"):
        metrics.update(cluster_metrics(trainer, images, labels))
    return metrics


def cluster_metrics(trainer, images, labels) -> dict:
    """A clustering model's test error under both protocols (aae.cluster_error): the clusters are
    named by the labels of the first half of the test split and scored on the second half."""
    from aae_helpers.clustering import PROTOCOLS, cluster_error, cluster_usage

    probabilities, half = trainer.cluster_probabilities(images), len(images) // 2
    errors = {f"test_cluster_error_{protocol}": cluster_error(probabilities[half:], labels[half:],
                                                             probabilities[:half], labels[:half], protocol)
              for protocol in PROTOCOLS}
    return {**errors, "cluster_error_named_by": f"the labels of the first {half} test digits",
            "test_empty_clusters": cluster_usage(probabilities)["empty"]}


def check_same_data(data, state: dict, out: Path) -> None:
    """A clear ValueError unless `data` holds the very digits the saved run was trained on."""
    from aae_helpers.infra.training import data_record

    saved = state.get("data")
    if saved is not None and data_record(data)["fingerprint"] != saved["fingerprint"]:
        raise ValueError(f"--resume would continue {out} on other data: this command loads {data.source} "
                         f"({len(data.x_train)} training digits), the run was trained on {saved['source']} "
                         f"({saved.get('num_train')}). Pass --data with the run's data.")


def run_train(args, out: Path) -> dict:
    from aae_helpers.infra.checkpoints import sigint_held

    # A Ctrl-C inside TensorFlow's import can end Python with SIGINT after all; hold it till the end.
    with sigint_held():
        import aae_helpers

        aae_helpers.start_tensorflow()  # TensorFlow, without its start-up noise
        from aae_helpers.infra import checkpoints, runtime, training
    from aae_helpers.data import load_mnist
    from aae_helpers.infra.report import remove_report, write_report
    from aae_helpers.settings import epochs_for_steps

    for name in ("epochs", "steps"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise ValueError(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    if not 0 <= args.save_every < float("inf"):
        raise ValueError(f"--save-every must be a number of seconds >= 0, got {args.save_every}; "
                         "0 saves every epoch.")
    asked = None
    if args.resume:
        if args.article:
            raise ValueError("--article chooses the recipe of a new run; a resumed run keeps its own "
                             "(leave --article out).")
        state = training.read_state(out)  # no checkpoint: fails before anything is created
        settings, recipe = saved_run_settings(state, args.model, out)
        check_resume_options(args, settings, recipe, out)
        asked = (state.get("sessions") or [{}])[-1].get("to_epoch")  # what the last session aimed for
        if args.epochs is not None and asked is not None and args.epochs != asked:
            print(f"--epochs {args.epochs}: the run was asked for {asked} epochs; it continues to "
                  f"{args.epochs} (state.json records each session).")
    else:
        settings = new_run_settings(args)
    if args.deterministic:
        runtime.make_deterministic(settings.seed)
    data = load_mnist(args.data, seed=settings.seed)
    if not args.resume:
        trainer = settings.build()

    def budget(trainer):
        """Total epochs to train: --epochs, else --steps (or the settings') in this data's epochs."""
        if args.epochs or (asked and not args.steps):
            return runtime.epochs_for_run(args.epochs or asked)
        return runtime.epochs_for_run(epochs_for_steps(trainer, data, args.steps or settings.steps,
                                                       settings.batch_size))

    with checkpoints.locked(checkpoints.check_run_dir(out)):
        checkpoints.remove_leftovers(out)
        if args.resume:
            trainer, state = training.load_checkpoint(out)
            check_same_data(data, state, out)
            initial_epoch, history = state["epochs_completed"], state["history"]
        elif (out / training.STATE_FILE).exists():
            raise ValueError(f"{out} already holds a trained run; pass --resume to continue it or "
                             "choose another --out (nothing was overwritten).")
        else:
            initial_epoch, history = 0, {}
        epochs = budget(trainer)
        if args.resume and initial_epoch >= epochs:
            print(f"{out} already holds {initial_epoch} epochs (asked for {epochs}); nothing to train.")
        remove_report(out)  # from here on the folder's checkpoint changes: no stale report may stay
        training.train(trainer, data, epochs, batch_size=settings.batch_size, run_dir=out,
                       initial_epoch=initial_epoch, history=history,
                       tensorboard_dir=out / "tensorboard" if args.tensorboard else None,
                       save_every=args.save_every)
        state = training.read_state(out)  # the report describes the saved checkpoint
        metrics = {"model": args.model, "epochs_completed": state["epochs_completed"],
                   "train_seconds": round(state.get("train_seconds", 0.0), 2), "data_source": data.source,
                   "seed": trainer.seed, "num_train": len(data.x_train), "num_test": len(data.x_test),
                   "batch_size": settings.batch_size, "learning_rate": trainer.compile_settings["learning_rate"],
                   "beta_1": trainer.compile_settings["beta_1"],
                   "sessions": state.get("sessions", []), **test_metrics(trainer, data, settings.batch_size)}
        return write_report(trainer, data, state["history"], out, metrics)


def one_line(error) -> str:
    """The error's message on one line (Keras and TensorFlow messages can span several)."""
    return " ".join(str(error).split())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"aae: warning: {one_line(message)}", file=sys.stderr)


def _out_of_memory(error) -> bool:
    return isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = output_folder(args)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            metrics = run_train(args, out)
    except KeyboardInterrupt:
        from aae_helpers.infra.checkpoints import saved_epochs  # no TensorFlow import (and its noise) here
        saved = saved_epochs(out)
        where = (f"{out} holds the checkpoint of epoch {saved}; continue with --resume" if saved
                 else f"no epoch was saved in {out}")
        print(f"aae: interrupted after {time.perf_counter() - started:.0f} s; {where}.", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        print(f"aae: error: {one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - each kind below becomes one line, the rest a traceback
        from aae_helpers.infra.training import TrainingDivergedError
        if isinstance(error, TrainingDivergedError):
            print(f"aae: error: {one_line(error)}", file=sys.stderr)
        elif _out_of_memory(error):
            print(f"aae: error: out of memory ({type(error).__name__}: {one_line(error)[:300]}); "
                  "use a smaller --batch-size, --latent-dim or data set.", file=sys.stderr)
        elif isinstance(error, (TypeError, AttributeError)):
            print(f"aae: error: internal error ({type(error).__name__}: {one_line(error)[:300]}); "
                  "please report it with the command you ran.", file=sys.stderr)
        else:
            raise
        return 1
    print(json.dumps(metrics, indent=1))
    return 0
