"""Train with checkpoints: save each finished epoch, stop on divergence, resume, or load instead.

What lands on disk, and how it survives kills, full disks and hostile edits, is
`aae_helpers.infra.checkpoints`; this module decides when to save and what to do when training
goes wrong.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import zlib
from pathlib import Path

import keras
import numpy as np

from aae_helpers.extras import speed
from aae_helpers.infra import runtime
from aae_helpers.infra.checkpoints import (SAVE_EVERY, STATE_FILE, RunFolderInUseError, atomic_path,
                                     check_no_foreign_models, check_run_dir, load_checkpoint, load_trainer, locked, plain,
                                     read_state, save_checkpoint, saved_epochs, sigint_held)
from aae_helpers.checks import IMAGE_SIZE, check_count, check_number
from aae_helpers.data import MnistData

__all__ = ["fit_or_load", "train", "resume", "run_folder", "load_trainer", "load_checkpoint",
           "save_checkpoint", "TrainingDivergedError", "RunFolderInUseError", "SnapshotEachEpoch"]

RUNS_FOLDER = "runs"
PROBE_SIZE = 100  # test digits whose outputs are checked for NaN after every epoch


class TrainingDivergedError(RuntimeError):
    """A loss, a weight, an optimizer's state or an output became NaN or infinite; the trainer
    was rolled back to its last good epoch."""


def run_folder(name: str, root: str | os.PathLike = RUNS_FOLDER) -> Path:
    """Where a notebook keeps its trained model: runs/NAME (runs/fast/NAME in fast mode)."""
    root = Path(root)
    return root / "fast" / name if runtime.fast_mode() else root / name


def _settings(config: dict) -> dict:
    """A trainer config without its Keras name (Keras renames a second instance 'x_1')."""
    return {key: value for key, value in config.items() if key != "name"}


def _numbers_settings(compile_config: dict | None) -> dict | None:
    """The compile settings that change the numbers: Adam's learning rate and beta_1."""
    if compile_config is None:
        return None
    return {key: compile_config.get(key) for key in ("learning_rate", "beta_1")}


def steps_per_call(steps_per_epoch: int, limit: int = 10) -> int:
    """Training steps per call of Keras' compiled training function: the largest count up to
    `limit` that divides the epoch. Keras' own `steps_per_execution`: several steps per call
    save Keras' fixed cost per step (it dominates for small networks such as notebook 05's)
    and give the same numbers; a count that does not divide the epoch would make Keras run
    past its end."""
    return max(count for count in range(1, limit + 1) if steps_per_epoch % count == 0)


# ---- divergence --------------------------------------------------------------------------
def training_variables(trainer) -> list:
    """Every variable training changes: the model's (weights, random streams) and each phase
    optimizer's (Adam's moments, step counter, learning rate), the optimizers built if needed."""
    for phase, optimizer in trainer.phase_optimizers.items():
        if not optimizer.built:
            optimizer.build(trainer.phase_variables()[phase])
    return list(trainer.variables) + [variable for optimizer in trainer.phase_optimizers.values()
                                      for variable in optimizer.variables]


def _outputs(trainer, images) -> dict:
    """{name: array} of what a reader gets from `images` (n, 784): codes and class probabilities."""
    outputs = {}
    if hasattr(trainer, "encode"):
        codes = trainer.encode(images)
        outputs.update(zip(("class probabilities", "codes"), codes) if isinstance(codes, tuple)
                       else [("codes", codes)])
    if hasattr(trainer, "classify"):
        outputs["class probabilities"] = trainer.classify(images)
    return outputs


def _finite(array) -> bool:
    array = np.asarray(array)
    return not np.issubdtype(array.dtype, np.floating) or bool(np.isfinite(array).all())


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, check that training has not diverged; save a checkpoint every
    `save_every` seconds of training, after the last epoch, and when training stops.

    Checked: the epoch's logged losses, every model variable, every optimizer variable, and the
    codes and class probabilities of `probe_images` (n, 784). A loss can stay finite while the
    weights have become NaN, so all four are looked at. If anything is NaN or infinite, every
    model and optimizer variable (Adam's moments and step counters included) is assigned back
    its value at the end of the last good epoch (or at the start), that epoch is saved if it was
    not yet, and training stops; `diverged` then says what went wrong. The trainer can train on
    from there, e.g. after lowering the learning rate.

    Saving a large model takes a few tenths of a second, longer than a small model's epoch, so
    epochs between saves are kept in memory only (save_every=0 saves each one). Ctrl-C saves the
    last finished epoch first (`save_last_good`): only a killed process loses up to `save_every`
    seconds of training.
    """

    def __init__(self, run_dir, history: dict, probe_images, record: dict | None = None,
                 initial_epoch: int = 0, save_every: float = 0.0):
        super().__init__()
        self.run_dir, self.history, self.probe_images = run_dir, history, probe_images
        self.record = dict(record or {})
        self.seconds_before = self.record.pop("train_seconds", 0.0)
        self.save_every = check_number(save_every, "save_every", allow_minimum=True)
        self.variables, self.diverged, self.started = [], None, None
        self.good = (initial_epoch, [])  # (epochs completed, the values then), replaced in one step
        self.saved_epoch, self.saved_at = initial_epoch, None

    def on_train_begin(self, logs=None):
        self.variables = training_variables(self.model)
        self.good = (self.good[0], [variable.numpy().copy() for variable in self.variables])
        self.started = self.saved_at = time.perf_counter()

    def problem(self, logs: dict, values: list) -> str | None:
        """What became NaN or infinite in this epoch, in words; None when all is finite.
        `values`: the current values of self.variables."""
        bad_logs = [key for key, value in logs.items() if not math.isfinite(value)]
        if bad_logs:
            return f"the loss {', '.join(bad_logs)}"
        bad = [variable.path for variable, value in zip(self.variables, values) if not _finite(value)]
        if bad:
            owner = "the optimizer state" if "optimizer" in bad[0] else "the weights"
            return f"{owner} ({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''})"
        bad_outputs = [name for name, output in _outputs(self.model, self.probe_images).items()
                       if not _finite(output)]
        if bad_outputs:
            return f"the {' and '.join(bad_outputs)} of test digits"
        return None

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        values = [variable.numpy().copy() for variable in self.variables]  # copies: training goes on
        problem = self.problem(logs, values)
        if problem:
            self.assign(self.good[1])
            self.diverged = (epoch + 1, problem)
            self.model.stop_training = True
            self.save()  # the restored epoch, if it was not saved yet
            return
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self.good = (epoch + 1, values)
        last = epoch + 1 == (self.params or {}).get("epochs")
        if last or time.perf_counter() - self.saved_at >= self.save_every:
            self.save()

    def on_train_end(self, logs=None):
        self.save()  # training stopped early (a callback's stop_training): keep its last epoch

    def save(self):
        """Save the last good epoch (the trainer holds it) unless it is saved already."""
        epoch = self.good[0]
        if self.run_dir is None or epoch <= self.saved_epoch:
            return
        seconds = self.seconds_before + time.perf_counter() - self.started
        history = {key: values[:epoch] for key, values in self.history.items()}  # lists run from epoch 1
        save_checkpoint(self.model, self.run_dir, history, epoch,
                        {**self.record, "train_seconds": round(seconds, 3)})
        self.saved_epoch, self.saved_at = epoch, time.perf_counter()

    def save_last_good(self):
        """After Ctrl-C mid-epoch: save the last finished epoch if it is not saved yet, and give
        the trainer back what it learned since. Ctrl-C is held until both are done."""
        epoch, values = self.good
        if self.run_dir is None or epoch <= self.saved_epoch:
            return
        with sigint_held():
            now = [variable.numpy().copy() for variable in self.variables]
            try:
                self.assign(values)
                self.save()
            finally:
                self.assign(now)

    def assign(self, values: list):
        """Give every training variable its value from `values` (in self.variables' order)."""
        for variable, value in zip(self.variables, values):
            variable.assign(value)

    def error(self) -> TrainingDivergedError:
        epoch, problem = self.diverged
        restored = f"of epoch {epoch - 1}" if epoch > 1 else "it started with"
        saved = f"; {self.run_dir} holds them" if self.run_dir is not None and epoch > 1 else ""
        return TrainingDivergedError(
            f"{problem} became NaN or infinite in epoch {epoch}; training stopped and the weights "
            f"{restored} were restored, with the optimizer's state{saved}. Lower the learning rate or "
            "check the input data.")


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where one display can be updated in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return type(get_ipython()).__name__ == "ZMQInteractiveShell"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


class EpochProgress(keras.callbacks.Callback):
    """Progress over epochs: every metric of the last epoch, training and test side by side.

    In a notebook it is one display, updated in place after every epoch, so the saved notebook
    keeps only the final summary; elsewhere it prints one line every few epochs (at most about
    LINES a run) and the summary at the end.
    """

    LINES = 20

    def __init__(self, epochs, initial_epoch=0):
        super().__init__()
        self.epochs, self.initial_epoch = epochs, initial_epoch
        self.every = max(1, (epochs - initial_epoch) // self.LINES)
        self.handle = None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
        if _in_notebook():
            from IPython.display import Pretty, display
            self.handle = display(Pretty(f"epoch {self.initial_epoch}/{self.epochs}: starting"),
                                  display_id=True)

    def summary(self, epoch, logs) -> str:
        """'epoch E/N, time' and a table of every metric: one row each, training and test."""
        seconds = time.perf_counter() - self.started
        done = epoch + 1 - self.initial_epoch
        lines = [f"epoch {epoch + 1}/{self.epochs} · {_duration(seconds)} "
                 f"({seconds / done:.2g} s per epoch)"]
        names = [key for key in logs if not key.startswith("val_")]
        width = max(len(name) for name in names) if names else 0
        lines.append(f"{'':{width}}  {'training':>10}  {'test':>10}")
        for name in names:
            test = logs.get(f"val_{name}")
            lines.append(f"{name:{width}}  {logs[name]:>10.4g}  {'' if test is None else format(test, '>10.4g')}")
        return "\n".join(lines)

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        if self.handle is not None:
            from IPython.display import Pretty
            self.handle.update(Pretty(self.summary(epoch, logs)))
        elif epoch + 1 >= self.epochs:
            print(self.summary(epoch, logs), flush=True)
        elif (epoch + 1 - self.initial_epoch) % self.every == 0:
            values = ", ".join(f"{key} {value:.4g}" for key, value in logs.items())
            print(f"epoch {epoch + 1}/{self.epochs} · {_duration(time.perf_counter() - self.started)} · "
                  f"{values}", flush=True)


def check_training_data(data) -> None:
    """A clear TypeError/ValueError, before any training, unless `data` is an MnistData whose
    splits hold float images (n, 784) in [0, 1] (no NaN) and one label 0..9 per image."""
    from aae_helpers.checks import check_images, check_labels

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


def data_record(data: MnistData) -> dict:
    """What state.json records about the data: its source, sizes and a CRC-32 fingerprint of
    the training and test images and labels (the same digits give the same fingerprint)."""
    fingerprint = 0
    for array, dtype in ((data.x_train, np.float32), (data.y_train, np.int64), (data.x_test, np.float32),
                         (data.y_test, np.int64)):
        fingerprint = zlib.crc32(np.ascontiguousarray(array, dtype=dtype), fingerprint)
    return {"source": data.source, "num_train": len(data.x_train), "num_test": len(data.x_test),
            "fingerprint": fingerprint}


def _run_record(data, batch_size, initial_epoch, epochs, previous) -> dict:
    """How the run is trained, for state.json: batch size, data, the sessions that trained it
    (from_epoch -> to_epoch, one per call) and the seconds spent; `previous` is the state
    continued (None for a fresh run)."""
    previous = previous or {}
    return {"batch_size": int(batch_size), "data": data_record(data),
            "sessions": [*previous.get("sessions", []), {"from_epoch": int(initial_epoch), "to_epoch": int(epochs)}],
            "train_seconds": previous.get("train_seconds", 0.0)}


def train(trainer, data: MnistData, epochs: int, *, batch_size: int = 100, run_dir=None,
          initial_epoch: int = 0, history: dict | None = None, verbose="epochs", callbacks=(),
          tensorboard_dir=None, save_every: float = SAVE_EVERY):
    """Fit `trainer` on `data` up to `epochs` in total, checkpointing into `run_dir` after the
    first epoch that ends `save_every` seconds after the last save, and after the last epoch.

    With `tensorboard_dir`, also log losses, code histograms and image grids there.

    Returns the full history (dict of per-epoch lists, including earlier epochs
    when resuming). Training that diverges is rolled back to its last good epoch and
    raises TrainingDivergedError (see EpochCheckpoint). Ctrl-C raises KeyboardInterrupt as
    usual, after the last finished epoch is saved: the trainer keeps what it learned, and
    `run_dir` holds that epoch (a save under way is completed first). A killed process leaves
    the last save, at most `save_every` seconds of training old. `run_dir` is locked while
    training, so a second process cannot train into it at the same time.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}.")
    from aae_helpers.trainers.base import Trainer
    if not isinstance(trainer, Trainer):
        raise TypeError(f"trainer must be an AAE Wizard trainer such as aae.Autoencoder(...), "
                        f"got {type(trainer).__name__}.")
    check_training_data(data)
    if not getattr(trainer, "compiled", False):
        trainer.compile()
    history = {key: list(values) for key, values in (history or {}).items()}
    record = None
    with contextlib.ExitStack() as stack:
        if run_dir is not None:  # a folder that cannot be written, or is in use, fails now
            run_dir = stack.enter_context(locked(check_run_dir(run_dir)))
            previous = read_state(run_dir) if (run_dir / STATE_FILE).is_file() else None
            check_no_foreign_models(run_dir, initial_epoch + 1, epochs)
            record = _run_record(data, batch_size, initial_epoch, epochs, previous if initial_epoch else None)
        checkpoint = EpochCheckpoint(run_dir, history, data.x_test[:PROBE_SIZE], record, initial_epoch,
                                     save_every)
        progress = [EpochProgress(epochs, initial_epoch)] if verbose == "epochs" else []
        if tensorboard_dir is not None:
            from aae_helpers.infra.tensorboard import TensorBoardLogger
            callbacks = [*callbacks, TensorBoardLogger(tensorboard_dir, data.x_test, data.y_test)]
        if speed.switched_on():  # AAE_XLA_ADAM=1: the opt-in XLA Adam (same numbers)
            speed.use_xla_adam(trainer)
        steps = trainer.steps_per_epoch(data, batch_size)
        # Exactly the batches this call trains on: when fit() returns, TensorFlow tears down an
        # endless stream's iterator slowly (37 s after 15 epochs of notebook 04's model).
        dataset = trainer.make_dataset(data, batch_size, first_epoch=initial_epoch).take(
            (epochs - initial_epoch) * steps)
        if trainer.steps_per_execution != (per_call := steps_per_call(steps)):  # Keras rebuilds its functions
            trainer.steps_per_execution = per_call
            trainer.train_function = trainer.test_function = trainer.predict_function = None
        try:
            trainer.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=steps, shuffle=False,
                        validation_data=trainer.evaluation_data(data), validation_batch_size=batch_size,
                        verbose=0 if verbose == "epochs" else verbose,
                        callbacks=[checkpoint, *progress, *callbacks])
        except KeyboardInterrupt:
            checkpoint.save_last_good()
            raise
    if checkpoint.diverged is not None:
        raise checkpoint.error()
    return history


class SnapshotEachEpoch(keras.callbacks.Callback):
    """Every `every` epochs, at the epoch numbers in `at` and at the last epoch, draw
    `trainer.generate(digits, z=z)` and keep it (`at`: e.g. the first epochs, where most is learned).

    `epochs` (k,) holds the epoch numbers drawn and `snapshots` (k, len(digits), 784) the images;
    with `path` both are also saved there (npz, atomically), so a reloaded run can still show them.
    """

    def __init__(self, digits, z, path=None, every=1, at=()):
        super().__init__()
        self.digits, self.z, self.path = np.asarray(digits), np.asarray(z, dtype=np.float32), path
        self.every = check_count(every, "every")
        self.at = {check_count(epoch, "every epoch number in at") for epoch in at}
        self.epochs, self.snapshots = self.load(path) if path is not None else self.load(None)

    @staticmethod
    def load(path):
        """(epochs (k,), snapshots (k, n, 784)) saved in `path`; empty when none were saved yet."""
        if path is None or not Path(path).is_file():
            return np.zeros(0, np.int64), np.zeros((0, 0, IMAGE_SIZE), np.float32)
        with np.load(path, allow_pickle=False) as archive:
            return archive["epochs"], archive["snapshots"]

    def on_train_begin(self, logs=None):
        if len(self.snapshots) and self.snapshots.shape[1] != len(self.digits):  # other digits: start over
            self.epochs, self.snapshots = self.load(None)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 not in self.at and epoch + 1 != self.params.get("epochs"):
            return
        images = self.model.generate(self.digits, z=self.z).astype(np.float32)
        kept = self.epochs <= epoch  # a resumed run redraws what came after its checkpoint
        self.epochs = np.append(self.epochs[kept], epoch + 1)
        self.snapshots = np.concatenate([self.snapshots[kept].reshape(-1, *images.shape), images[None]])
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as temporary:
                np.savez(temporary, epochs=self.epochs, snapshots=self.snapshots)


def _same_settings(state: dict, trainer) -> bool:
    """Was the saved run trained by this class with these settings (compile settings included)?"""
    return (state["trainer"] == type(trainer).__name__
            and _settings(state["config"]) == _settings(plain(trainer.get_config()))
            and _numbers_settings(state.get("compile"))
            in (None, _numbers_settings(plain(trainer.get_compile_config()))))


def fit_or_load(trainer, data: MnistData, epochs: int, run_dir, *, retrain: bool = False,
                batch_size: int = 100, verbose="epochs", callbacks=(), save_every: float = SAVE_EVERY):
    """Train `trainer` for `epochs` (2 in fast mode), or load the run saved in `run_dir`.

    A saved run with the same trainer and compile settings (learning rate, beta_1, ...) is
    loaded when it has enough epochs and resumed when it has fewer; `retrain=True` starts
    afresh. A saved run with other settings is never overwritten: it is moved to
    RUN_DIR-previous-N. Ctrl-C stops training and returns: the trainer keeps what it learned,
    the last finished epoch is saved, and the history is that epoch's. Checkpoints are saved
    as train() does (`save_every` seconds). Returns (trainer, history); use the returned trainer.
    """
    epochs = runtime.epochs_for_run(epochs)
    run_dir = Path(run_dir)
    if not getattr(trainer, "compiled", False):
        trainer.compile()
    initial_epoch, history = 0, None
    if not retrain and (run_dir / STATE_FILE).is_file():
        with locked(run_dir):
            state = read_state(run_dir)
            if _same_settings(state, trainer):
                trainer, state = load_checkpoint(run_dir)
                initial_epoch, history = state["epochs_completed"], state["history"]
                if initial_epoch >= epochs:
                    print(f"Loaded the model trained for {initial_epoch} epochs from {run_dir}. "
                          "Set RETRAIN = True to train it again.")
                    return trainer, history
                print(f"Resuming the run in {run_dir} at epoch {initial_epoch + 1} of {epochs}.")
            else:
                kept = _move_aside(run_dir)
                print(f"The model saved in {run_dir} was trained with other settings; it was moved to "
                      f"{kept} and a new one is trained.")
    try:
        return trainer, train(trainer, data, epochs, batch_size=batch_size, run_dir=run_dir,
                              initial_epoch=initial_epoch, history=history, verbose=verbose,
                              callbacks=callbacks, save_every=save_every)
    except KeyboardInterrupt:
        saved = saved_epochs(run_dir)
        where = (f"{run_dir} holds epoch {saved}, the last saved checkpoint; re-run the cell to resume "
                 "from there" if saved else f"{run_dir} holds no checkpoint yet")
        print(f"\nInterrupted. The trainer keeps what it learned so far; {where}.")
        return trainer, (read_state(run_dir)["history"] if saved else {})


def _move_aside(run_dir: Path) -> Path:
    """Rename a run folder to the first free RUN_DIR-previous-N; returns the new path."""
    number = 1
    while (target := run_dir.with_name(f"{run_dir.name}-previous-{number}")).exists():
        number += 1
    os.replace(run_dir, target)
    return target


def resume(run_dir, data: MnistData, epochs: int, *, batch_size: int = 100, verbose="epochs",
           save_every: float = SAVE_EVERY):
    """Continue the run saved in `run_dir` up to `epochs` in total; returns (trainer, history)."""
    trainer, state = load_checkpoint(run_dir)
    return trainer, train(trainer, data, epochs, batch_size=batch_size, run_dir=run_dir,
                          initial_epoch=state["epochs_completed"], history=state["history"],
                          verbose=verbose, save_every=save_every)
