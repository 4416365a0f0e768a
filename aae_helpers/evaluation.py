"""What each lesson measures: an independent digit reader, label control, a class probe, gaps.

    reader = aae.digit_reader(data)                       # a small CNN, trained once and cached
    aae.label_control(trainer, reader).score              # share of generated digits read as asked
    aae.class_probe(trainer.encode(data.x_test), data.y_test)  # can a line read the digit from z?

The reader is never trained by a model under test: it learns the training digits on its own,
with augmentation, so it can judge any model's drawings.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from aae_helpers.infra.checkpoints import write_atomically
from aae_helpers.data import MnistData
from aae_helpers.models import build_digit_reader
from aae_helpers.checks import NUM_CLASSES, check_count, check_images, check_labels
from aae_helpers.trainers.base import in_batches

__all__ = ["digit_reader", "read_digits", "label_control", "LabelControl", "LabelControlEachEpoch",
           "class_probe", "farthest_point", "READER_STEPS", "NUM_STYLES"]

READER_STEPS = 1000        # optimizer steps of 100 digits: 25 epochs of 4,000 digits, 2 of 60,000
READER_BATCH = 100
READER_VERSION = 1         # part of the cache key: raise it when build_digit_reader changes
READER_TARGET = 0.97       # the reader should read at least this share of the test digits right
NUM_STYLES = 100           # styles label_control draws: 100 x 10 digits = 1,000 generated images


# ---- the reader ----------------------------------------------------------------------------
def _fingerprint(data: MnistData, steps: int, seed: int) -> str:
    """A short hash of everything the reader's weights depend on."""
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(f"{steps}-{seed}-{READER_VERSION}".encode())
    return digest.hexdigest()[:16]


def digit_reader(data: MnistData, run_dir=None, steps: int = READER_STEPS, seed: int = 0,
                 verbose: bool = True) -> keras.Model:
    """A digit classifier trained on data's training digits alone, cached in `run_dir`.

    The reader (models.build_digit_reader: random shifts, turns and zooms, then a small CNN)
    trains for `steps` batches of 100 and is saved as run_dir/reader-HASH.keras, HASH naming
    the training digits, steps and seed; a later call with the same ones loads it in a second.
    run_dir defaults to runs/digit_reader (runs/fast/digit_reader in fast mode), which all
    notebooks share. Returns a keras.Model: images (n, 784) -> logits (n, 10).
    """
    from aae_helpers.infra.training import check_training_data, run_folder

    check_training_data(data)
    steps = check_count(steps, "steps")
    run_dir = Path(run_dir) if run_dir is not None else run_folder("digit_reader")
    path = run_dir / f"reader-{_fingerprint(data, steps, seed)}.keras"
    report_path = path.with_suffix(".json")
    if path.is_file() and report_path.is_file():
        reader = keras.models.load_model(path, safe_mode=True)
        report = json.loads(report_path.read_text())
    else:
        reader, report = _train_reader(data, steps, seed)
        run_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        reader.save(temporary)
        os.replace(temporary, path)
        write_atomically(report_path, json.dumps(report, indent=1))
    if verbose:
        print(f"digit reader: reads {report['test_accuracy']:.1%} of the {report['num_test']:,} test "
              f"digits right (trained on {report['num_train']:,} training digits, {report['steps']} steps)")
    if report["test_accuracy"] < READER_TARGET:
        print(f"warning: the digit reader is below its {READER_TARGET:.0%} target; treat the "
              "label-control numbers with care (train it longer with steps=...).")
    return reader


def _train_reader(data: MnistData, steps: int, seed: int):
    keras.utils.set_random_seed(seed)
    reader = build_digit_reader(seed=seed)
    reader.compile(optimizer=keras.optimizers.Adam(1e-3),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    per_epoch = max(1, len(data.x_train) // READER_BATCH)
    epochs = -(-steps // per_epoch)
    reader.fit(data.x_train, data.y_train, batch_size=READER_BATCH, epochs=epochs,
               steps_per_epoch=min(per_epoch, steps), shuffle=True, verbose=0)
    accuracy = float(np.mean(read_digits(reader, data.x_test).argmax(axis=1) == data.y_test))
    return reader, {"test_accuracy": accuracy, "num_test": len(data.x_test),
                    "num_train": len(data.x_train), "steps": epochs * min(per_epoch, steps),
                    "seed": seed, "source": data.source}


def read_digits(reader, images) -> np.ndarray:
    """The reader's class probabilities (n, 10) for images (n, 784) in [0, 1]."""
    images = check_images(images)
    return in_batches(lambda x: keras.ops.softmax(reader(x, training=False)), images)


# ---- label control ---------------------------------------------------------------------------
class LabelControl(NamedTuple):
    """Result of `label_control`."""

    score: float           # share of generated digits the reader reads as the requested one
    per_digit: np.ndarray  # (10,) the same share for each requested digit
    images: np.ndarray     # (num_styles * 10, 784): row s holds digits 0..9 in style s
    read_as: np.ndarray    # (num_styles * 10,) the digit the reader saw in each image


def label_control(trainer, reader, num_styles: int = NUM_STYLES, seed: int = 0) -> LabelControl:
    """Does the decoder draw the digit it is asked for? Draw `num_styles` styles from the
    trainer's prior, decode each with every digit 0..9 and let the reader read them.

    About 0.1 for a decoder that ignores the label (each image is read as whatever digit the
    style draws), 1.0 for one that always draws the requested digit.
    """
    num_styles = check_count(num_styles, "num_styles")
    if not callable(getattr(trainer, "sample_styles", None)):
        raise ValueError(f"label_control needs a model that draws a chosen digit in a chosen style "
                         f"(a SupervisedAdversarialAutoencoder, SemiSupervisedAdversarialAutoencoder "
                         f"or ClassifierVAE); got {type(trainer).__name__}.")
    styles = trainer.sample_styles(num_styles, seed=seed)                    # (num_styles, latent_dim)
    digits = np.tile(np.arange(NUM_CLASSES), num_styles)                     # 0..9, 0..9, ...
    images = trainer.generate(digits, z=np.repeat(styles, NUM_CLASSES, axis=0))
    read_as = read_digits(reader, images).argmax(axis=1)
    correct = (read_as == digits).reshape(num_styles, NUM_CLASSES)
    return LabelControl(float(correct.mean()), correct.mean(axis=0), images, read_as)


class LabelControlEachEpoch(keras.callbacks.Callback):
    """Measure label_control(trainer, reader, num_styles) every `every` epochs and at the last one.

    `epochs` and `scores` list what was measured; with `path` they are also saved there (JSON),
    so a reloaded run can still show them.
    """

    def __init__(self, reader, path=None, every=1, num_styles=30, seed=0):
        super().__init__()
        self.reader, self.path, self.num_styles, self.seed = reader, path, num_styles, seed
        self.every = check_count(every, "every")
        self.epochs, self.scores = self.load(path)

    @staticmethod
    def load(path):
        """(epochs, scores) saved in `path`; two empty lists when nothing was saved yet."""
        if path is None or not Path(path).is_file():
            return [], []
        saved = json.loads(Path(path).read_text())
        return list(saved["epochs"]), list(saved["scores"])

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.params.get("epochs"):
            return
        kept = [index for index, done in enumerate(self.epochs) if done <= epoch]  # a resume redraws the rest
        self.epochs = [self.epochs[i] for i in kept] + [epoch + 1]
        score = label_control(self.model, self.reader, self.num_styles, self.seed).score
        self.scores = [self.scores[i] for i in kept] + [score]
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps({"epochs": self.epochs, "scores": self.scores}))


# ---- class probe -----------------------------------------------------------------------------
def class_probe(codes, labels, folds: int = 5, seed: int = 0) -> float:
    """How well a linear classifier reads the digit from codes (n, d): mean accuracy over
    `folds` cross-validation folds of a logistic regression on standardized codes.

    Near the share of the most common digit (about 0.1) when the codes hold no class
    information; near 1 when the digit can be read off them.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or not np.all(np.isfinite(codes)):
        raise ValueError(f"codes must be a finite array of shape (n, d), got shape {codes.shape}.")
    labels = check_labels(labels, len(codes))
    smallest = np.bincount(labels, minlength=NUM_CLASSES)
    smallest = smallest[smallest > 0].min()
    if smallest < folds:
        raise ValueError(f"class_probe needs at least {folds} codes of every digit present (one per "
                         f"fold), got {smallest}; pass more codes or fewer folds.")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, codes, labels, cv=splits).mean())


# ---- gaps ------------------------------------------------------------------------------------
def farthest_point(codes, steps: int = 200) -> tuple[np.ndarray, float]:
    """The centre of the largest hole among 2-D codes (n, 2): the point inside their convex hull
    that lies farthest from every code. Returns (point (2,), its distance to the nearest code).

    Searches a steps x steps grid over the codes' range; points outside the hull are skipped, so
    the answer lies between codes, not beyond them.
    """
    from scipy.spatial import Delaunay, cKDTree

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] != 2 or len(codes) < 3 or not np.all(np.isfinite(codes)):
        raise ValueError(f"codes must be at least 3 finite 2-D codes, shape (n, 2); got {codes.shape}.")
    low, high = codes.min(axis=0), codes.max(axis=0)
    axes = [np.linspace(low[dim], high[dim], check_count(steps, "steps")) for dim in range(2)]
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)             # (steps^2, 2)
    grid = grid[Delaunay(codes).find_simplex(grid) >= 0]                    # inside the hull only
    nearest, _ = cKDTree(codes).query(grid)                                 # distance to the nearest code
    best = int(nearest.argmax())
    return grid[best].astype(np.float32), float(nearest[best])
