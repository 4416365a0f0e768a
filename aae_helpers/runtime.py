"""Fast mode: one switch (AAE_FAST=1) that shrinks data and epochs for tests."""

import os

__all__ = ["fast_mode", "epochs_for_run", "make_deterministic"]

FAST_ENV = "AAE_FAST"
FAST_EPOCHS = 2
FAST_TRAIN_SIZE = 2000
FAST_TEST_SIZE = 500


def fast_mode() -> bool:
    """True when the environment variable AAE_FAST is set to a true value."""
    return os.environ.get(FAST_ENV, "").strip().lower() not in ("", "0", "false", "no")


def epochs_for_run(epochs: int) -> int:
    """The number of epochs to train: `epochs`, capped at 2 in fast mode."""
    return min(int(epochs), FAST_EPOCHS) if fast_mode() else int(epochs)


def make_deterministic(seed: int = 0) -> None:
    """Seed Python, NumPy and TensorFlow and turn on TensorFlow's op determinism.

    After this, the same seed gives bit-identical training in this process (a
    little slower). It is process-wide and cannot be turned off again.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
