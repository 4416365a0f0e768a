"""Input checks shared by modules that must not import TensorFlow (numpy only)."""

import numpy as np


def numeric_array(values, name, expected, dtype=np.float32):
    """values as a `dtype` array, or a clear ValueError for text, booleans, complex or ragged input.

    `expected` describes the wanted shape in the message, e.g. "(n, 784)".
    """
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nested lists
        raise ValueError(f"{name} must be a numeric array of shape {expected}, got a ragged "
                         f"{type(values).__name__} (rows of different lengths).") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must be a numeric array (floats or integers) of shape {expected}, "
                         f"got {type(values).__name__} of dtype {array.dtype}.")
    return array.astype(dtype, copy=False)
