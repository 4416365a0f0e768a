"""Fixtures shared by the behaviour and lesson tests: the offline digits and one digit reader
(a test module may define its own under the same names)."""

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
