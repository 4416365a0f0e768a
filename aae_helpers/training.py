"""Train with checkpoints: save each epoch atomically, resume, or load instead of retraining.

A run folder holds `state.json` (epochs completed, history, the trainer's
class and config) and the model file it points to (`model-epoch0005.keras`).
The model is written first under a temporary name and renamed, then the
state is renamed over the old one, and only then is the old model removed:
a run killed at any instant leaves a consistent, loadable checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import keras
import numpy as np

from aae_helpers import runtime
from aae_helpers.data import IMAGE_SIZE, MnistData
from aae_helpers.trainers.base import upgraded_compile_config

__all__ = ["fit_or_load", "train", "resume", "run_folder", "load_trainer", "load_checkpoint",
           "save_checkpoint", "TrainingDivergedError", "SnapshotEachEpoch"]

STATE_FILE = "state.json"
RUNS_FOLDER = "runs"


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the trainer was rolled back to its last good epoch."""


def run_folder(name: str, root: str | os.PathLike = RUNS_FOLDER) -> Path:
    """Where a notebook keeps its trained model: runs/NAME (runs/fast/NAME in fast mode)."""
    root = Path(root)
    return root / "fast" / name if runtime.fast_mode() else root / name


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _check_run_dir(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} exists but is a file; pass a folder path.")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the run folder {run_dir} ({error}); "
                         "choose a writable location.") from error
    if not os.access(run_dir, os.W_OK):
        raise ValueError(f"run folder {run_dir} is not writable; choose a writable location.")
    return run_dir


def save_checkpoint(trainer, run_dir, history: dict, epochs_completed: int, extra: dict | None = None) -> Path:
    """Save the whole trainer (weights, optimizers, random stream) and its history, atomically."""
    run_dir = _check_run_dir(run_dir)
    model_name = f"model-epoch{epochs_completed:04d}.keras"
    temporary = run_dir / f".tmp-{os.getpid()}-{model_name}"
    trainer.save(temporary)
    os.replace(temporary, run_dir / model_name)
    previous = read_state(run_dir) if (run_dir / STATE_FILE).is_file() else None
    state = {"model_file": model_name, "epochs_completed": int(epochs_completed),
             "trainer": type(trainer).__name__, "config": _plain(trainer.get_config()),
             "compile": _plain(trainer.get_compile_config()),
             "history": {key: [float(v) for v in values] for key, values in history.items()},
             **(extra or {})}
    _write_atomically(run_dir / STATE_FILE, json.dumps(state, indent=1))
    if previous and previous["model_file"] != model_name:
        (run_dir / previous["model_file"]).unlink(missing_ok=True)
    _remove_leftovers(run_dir, keep=model_name)
    return run_dir / model_name


_TEMPORARY = re.compile(r"^\.(?:tmp-(\d+)[-.]|" + re.escape(STATE_FILE) + r"\.(\d+)\.tmp$)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _remove_leftovers(run_dir: Path, keep: str) -> None:
    """Delete what a run killed mid-save can leave behind: half-written temporaries of processes
    that no longer exist, and model files that state.json no longer names."""
    for path in run_dir.iterdir():
        name = path.name
        if name.startswith("model-epoch") and name.endswith(".keras") and name != keep:
            path.unlink(missing_ok=True)
            continue
        match = _TEMPORARY.match(name)
        if match:
            pid = int(match.group(1) or match.group(2))
            if pid != os.getpid() and not _alive(pid):
                path.unlink(missing_ok=True)


def _plain(value):
    """JSON-friendly copy (tuples become lists) so configs compare equal after a round-trip."""
    return json.loads(json.dumps(value))


def _settings(config: dict) -> dict:
    """A trainer config without its Keras name (Keras renames a second instance 'x_1')."""
    return {key: value for key, value in config.items() if key != "name"}


def _numbers_settings(compile_config: dict | None) -> dict | None:
    """The compile settings that change the numbers: not steps_per_execution (same results
    with any value)."""
    if compile_config is None:
        return None
    settings = upgraded_compile_config(compile_config)
    settings.pop("steps_per_execution", None)
    return settings


def read_state(run_dir) -> dict:
    """The checkpoint's state.json, checked."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {run_dir}: {STATE_FILE} is missing. "
                                "Train first, or check the path.")
    try:
        state = json.loads(path.read_text())
        state["model_file"], state["epochs_completed"], state["history"]  # noqa: B018
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a valid checkpoint state ({error}); "
                         "delete the run folder to start again.") from error
    return state


def load_checkpoint(run_dir):
    """Load (trainer, state) from a run folder; the trainer is compiled and ready to resume."""
    state = read_state(run_dir)
    model_path = Path(run_dir) / state["model_file"]
    if not model_path.is_file():
        raise FileNotFoundError(f"checkpoint {model_path} named by {STATE_FILE} is missing.")
    return load_trainer(model_path), state


def load_trainer(path):
    """Load a saved trainer (`.keras`) in Keras safe mode (no arbitrary code is run)."""
    import aae_helpers.trainers  # noqa: F401  (registers the custom classes)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"saved model not found: {path}")
    try:
        trainer = keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for a bad file
        if "arbitrary code" in str(error) or "safe_mode" in str(error):
            raise ValueError(f"{path} is not a saved AAE Wizard model: it holds Python code (such as a "
                             "Lambda layer), and models are loaded in Keras safe mode, which never runs "
                             "code from a file.") from error
        raise ValueError(f"{path} is not a saved AAE Wizard model ({type(error).__name__}: "
                         f"{str(error)[:200]}).") from error
    from aae_helpers.trainers.base import Trainer
    if not isinstance(trainer, Trainer):
        raise ValueError(f"{path} holds a {type(trainer).__name__}, not an AAE Wizard trainer.")
    return trainer


class EpochCheckpoint(keras.callbacks.Callback):
    """Save a checkpoint after every epoch; on a NaN/inf loss restore the last good weights."""

    def __init__(self, run_dir, history: dict, every: int = 1):
        super().__init__()
        self.run_dir, self.history, self.every = run_dir, history, every
        self.good_weights = None
        self.diverged_at = None

    def on_train_begin(self, logs=None):
        self.good_weights = [v.numpy() for v in self.model.variables]

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        if not all(math.isfinite(value) for value in logs.values()):
            for variable, value in zip(self.model.variables, self.good_weights):
                variable.assign(value)
            self.diverged_at = epoch + 1
            self.model.stop_training = True
            return
        self.good_weights = [v.numpy() for v in self.model.variables]
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        completed = epoch + 1
        if self.run_dir is not None and completed % self.every == 0:
            save_checkpoint(self.model, self.run_dir, self.history, completed)


class EpochProgress(keras.callbacks.Callback):
    """One progress bar over epochs (compact in notebooks), showing the epoch's losses."""

    def __init__(self, epochs, initial_epoch=0, keys=None):
        super().__init__()
        self.bar = keras.utils.Progbar(epochs, unit_name="epoch")
        self.initial_epoch, self.keys = initial_epoch, keys
        self.bar.update(initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        keys = self.keys or [key for key in logs if not key.startswith("val_")][:3] + \
            [key for key in logs if key.startswith("val_")][:2]
        self.bar.stateful_metrics.update(keys)  # show this epoch's values, not a running mean
        self.bar.update(epoch + 1, values=[(key, float(logs[key])) for key in keys if key in logs],
                        finalize=epoch + 1 >= self.bar.target)


def check_training_data(data) -> None:
    """A clear TypeError/ValueError, before any training, unless `data` is an MnistData whose
    splits hold float images (n, 784) in [0, 1] (no NaN) and one label 0..9 per image."""
    from aae_helpers.trainers.base import check_images, check_labels

    if not isinstance(data, MnistData):
        raise TypeError(f"data must be an MnistData (from aae.load_mnist()), got {type(data).__name__}.")
    for split in ("train", "test", "val"):
        images, labels = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if split == "val" and images is None and labels is None:
            continue
        shape = np.shape(images)
        if len(shape) != 2 or shape[1] != IMAGE_SIZE:
            raise ValueError(f"data.x_{split} must have shape (n, 784), got {shape}; "
                             "load the data with aae.load_mnist().")
        if shape[0] == 0:
            raise ValueError(f"data.x_{split} is empty (0 images); expected at least one digit.")
        check_images(images, f"data.x_{split}")
        check_labels(labels, shape[0], f"data.y_{split}")


def train(trainer, data: MnistData, epochs: int, *, batch_size: int = 100, run_dir=None,
          initial_epoch: int = 0, history: dict | None = None, verbose="epochs", callbacks=(),
          tensorboard_dir=None):
    """Fit `trainer` on `data` up to `epochs` in total, checkpointing into `run_dir`.

    With `tensorboard_dir`, also log losses, code histograms and image grids there.

    Returns the full history (dict of per-epoch lists, including earlier epochs
    when resuming). Ctrl-C stops training cleanly: the trainer keeps what it
    learned and the last finished epoch stays saved.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}.")
    from aae_helpers.trainers.base import Trainer
    if not isinstance(trainer, Trainer):
        raise TypeError(f"trainer must be an AAE Wizard trainer such as aae.Autoencoder(...), "
                        f"got {type(trainer).__name__}.")
    check_training_data(data)
    if run_dir is not None:
        _check_run_dir(run_dir)  # a folder that cannot be written fails now, not after an epoch
    if not getattr(trainer, "compiled", False):
        trainer.compile()
    history = {key: list(values) for key, values in (history or {}).items()}
    checkpoint = EpochCheckpoint(run_dir, history)
    progress = [EpochProgress(epochs, initial_epoch)] if verbose == "epochs" else []
    if tensorboard_dir is not None:
        from aae_helpers.tensorboard import TensorBoardLogger
        callbacks = [*callbacks, TensorBoardLogger(tensorboard_dir, data.x_test, data.y_test)]
    dataset = trainer.make_dataset(data, batch_size, first_epoch=initial_epoch)
    try:
        trainer.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                    steps_per_epoch=trainer.steps_per_epoch(data, batch_size), shuffle=False,
                    validation_data=trainer.evaluation_data(data), validation_batch_size=batch_size,
                    verbose=0 if verbose == "epochs" else verbose,
                    callbacks=[checkpoint, *progress, *callbacks])
    except KeyboardInterrupt:
        done = len(next(iter(history.values()), []))
        print(f"\nInterrupted. The model keeps what it learned; the last finished epoch "
              f"({done}) is saved{' in ' + str(run_dir) if run_dir else ''}.")
    if checkpoint.diverged_at is not None:
        raise TrainingDivergedError(
            f"a loss became NaN or infinite in epoch {checkpoint.diverged_at}; training stopped and "
            f"the weights of epoch {checkpoint.diverged_at - 1} were restored. Lower the learning rate "
            "or check the input data.")
    return history


class SnapshotEachEpoch(keras.callbacks.Callback):
    """After every epoch, draw `trainer.generate(digits, z=z)` and keep it.

    `snapshots` is a float32 array (epochs, len(digits), 784); with `path` it is
    also saved there (npz, atomically), so a reloaded run can still show it.
    """

    def __init__(self, digits, z, path=None):
        super().__init__()
        self.digits, self.z, self.path = np.asarray(digits), np.asarray(z, dtype=np.float32), path
        self.snapshots = self.load(path) if path is not None else np.zeros((0, len(self.digits), 784),
                                                                            np.float32)

    @staticmethod
    def load(path):
        """The saved snapshots (epochs, n, 784); empty when none were saved yet."""
        if path is None or not Path(path).is_file():
            return np.zeros((0, 0, 784), np.float32)
        with np.load(path, allow_pickle=False) as archive:
            return archive["snapshots"]

    def on_train_begin(self, logs=None):
        self.snapshots = self.snapshots[:self.params.get("initial_epoch", len(self.snapshots))] \
            if len(self.snapshots) and self.snapshots.shape[1] == len(self.digits) else \
            np.zeros((0, len(self.digits), 784), np.float32)

    def on_epoch_end(self, epoch, logs=None):
        images = self.model.generate(self.digits, z=self.z).astype(np.float32)
        self.snapshots = np.concatenate([self.snapshots[:epoch], images[None]])
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            temporary = Path(self.path).with_name(f".tmp-{os.getpid()}.npz")
            np.savez(temporary, snapshots=self.snapshots)
            os.replace(temporary, self.path)


def fit_or_load(trainer, data: MnistData, epochs: int, run_dir, *, retrain: bool = False,
                batch_size: int = 100, verbose="epochs", callbacks=()):
    """Train `trainer` for `epochs` (2 in fast mode), or load the run saved in `run_dir`.

    A saved run with the same trainer settings is loaded when it has enough
    epochs and resumed when it has fewer; `retrain=True` starts afresh. A saved
    run with other settings is never overwritten: it is moved to RUN_DIR-previous-N.
    Returns (trainer, history); use the returned trainer.
    """
    epochs = runtime.epochs_for_run(epochs)
    run_dir = Path(run_dir)
    if not getattr(trainer, "compiled", False):
        trainer.compile()
    if not retrain and (run_dir / STATE_FILE).is_file():
        state = read_state(run_dir)
        same = (state["trainer"] == type(trainer).__name__
                and _settings(state["config"]) == _settings(_plain(trainer.get_config()))
                and _numbers_settings(state.get("compile"))
                in (None, _numbers_settings(_plain(trainer.get_compile_config()))))
        if same:
            saved, state = load_checkpoint(run_dir)
            done = state["epochs_completed"]
            if done >= epochs:
                print(f"Loaded the model trained for {done} epochs from {run_dir}. "
                      "Set RETRAIN = True to train it again.")
                return saved, state["history"]
            print(f"Resuming the run in {run_dir} at epoch {done + 1} of {epochs}.")
            return saved, train(saved, data, epochs, batch_size=batch_size, run_dir=run_dir,
                                initial_epoch=done, history=state["history"], verbose=verbose,
                                callbacks=callbacks)
        kept = _move_aside(run_dir)
        print(f"The model saved in {run_dir} was trained with other settings; it was moved to "
              f"{kept} and a new one is trained.")
    return trainer, train(trainer, data, epochs, batch_size=batch_size, run_dir=run_dir,
                          verbose=verbose, callbacks=callbacks)


def _move_aside(run_dir: Path) -> Path:
    """Rename a run folder to the first free RUN_DIR-previous-N; returns the new path."""
    number = 1
    while (target := run_dir.with_name(f"{run_dir.name}-previous-{number}")).exists():
        number += 1
    os.replace(run_dir, target)
    return target


def resume(run_dir, data: MnistData, epochs: int, *, batch_size: int = 100, verbose="epochs"):
    """Continue the run saved in `run_dir` up to `epochs` in total; returns (trainer, history)."""
    trainer, state = load_checkpoint(run_dir)
    return trainer, train(trainer, data, epochs, batch_size=batch_size, run_dir=run_dir,
                          initial_epoch=state["epochs_completed"], history=state["history"],
                          verbose=verbose)
