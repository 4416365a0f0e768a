"""Fast mode: one switch (AAE_FAST=1) that shrinks data and epochs for tests."""

import os

__all__ = ["fast_mode", "epochs_for_run", "make_deterministic", "env_switch"]

FAST_ENV = "AAE_FAST"
FAST_EPOCHS = 2
FAST_TRAIN_SIZE = 2000
FAST_TEST_SIZE = 500
# The values an on/off environment variable (AAE_FAST, AAE_OFFLINE) may take, in any case.
SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("", "0", "false", "no", "off")


def env_switch(name: str) -> bool:
    """The on/off environment variable `name`: True for 1/true/yes/on, False for 0/false/no/off
    or unset; any other value is a clear ValueError (a typo must not flip the switch)."""
    value = os.environ.get(name, "")
    if value.strip().lower() in SWITCH_ON:
        return True
    if value.strip().lower() in SWITCH_OFF:
        return False
    raise ValueError(f"the environment variable {name}={value!r} is neither on ({', '.join(SWITCH_ON)}) "
                     f"nor off ({', '.join(SWITCH_OFF[1:])}, or unset); set one of these, e.g. {name}=1.")


def fast_mode() -> bool:
    """True when the environment variable AAE_FAST is on (see env_switch)."""
    return env_switch(FAST_ENV)


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
