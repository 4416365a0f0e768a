"""Every input check in one place: what each argument must be, and a clear ValueError that says
what was received, what was expected and how to fix it. numpy only (no TensorFlow), so the data
reader and the metrics can use it before TensorFlow starts."""

import math
import warnings

import numpy as np

IMAGE_SIDE = 28                     # an input digit is IMAGE_SIDE x IMAGE_SIDE pixels
IMAGE_SIZE = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10


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


def check_number(value, name, minimum=0.0, allow_minimum=False):
    """float(value), or a clear ValueError unless it is finite and > minimum (>= with allow_minimum)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (value >= minimum if allow_minimum else value > minimum))
    if not ok:
        bound = f">= {minimum:g}" if allow_minimum else ("positive" if minimum == 0 else f"> {minimum:g}")
        raise ValueError(f"{name} must be {bound} and finite, got {value!r}.")
    return float(value)


def check_count(value, name):
    """int(value), or a clear ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_images(images, name="images"):
    """float32 (n, 784) in [0, 1], or a clear ValueError saying what was received."""
    array = numeric_array(images, name, "(n, 784)")
    if array.ndim == 3 and array.shape[1:] == (28, 28):
        array = array.reshape(len(array), IMAGE_SIZE)
    if array.ndim != 2 or array.shape[1] != IMAGE_SIZE:
        raise ValueError(f"{name} must have shape (n, 784) or (n, 28, 28), got {np.shape(images)}.")
    if array.size and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain NaN or infinite values; expected pixels in [0, 1].")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1], found range [{array.min():g}, {array.max():g}]; "
                         "divide uint8 pixels by 255.")
    return array


def check_labels(labels, count=None, name="labels"):
    """int (n,) in 0..9, or a clear ValueError."""
    array = np.asarray(labels)
    if array.ndim != 1 or (count is not None and len(array) != count):
        expected = f"({count},)" if count is not None else "(n,)"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}.")
    if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0
                       or array.max() >= NUM_CLASSES):
        raise ValueError(f"{name} must be integers in 0..9, got dtype {array.dtype} "
                         f"with values {np.unique(array)[:10].tolist()}.")
    return array.astype(np.int32)


def check_codes(z, latent_dim, name="z"):
    """float32 (n, latent_dim) finite, or a clear ValueError."""
    array = numeric_array(z, name, f"(n, {latent_dim})")
    if array.ndim == 1 and array.shape[0] == latent_dim:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != latent_dim:
        raise ValueError(f"{name} must have shape (n, {latent_dim}), got {np.shape(z)}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def check_batch_size(batch_size, count):
    """A clear ValueError unless 1 <= batch_size <= count."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size > count:
        raise ValueError(f"batch_size={batch_size} is larger than the {count} training examples; "
                         f"use a batch size of at most {count}.")
    return int(batch_size)


def check_hidden_units(hidden_units):
    """hidden_units as a tuple of positive layer sizes, or a clear ValueError."""
    if isinstance(hidden_units, (str, bytes)) or not hasattr(hidden_units, "__iter__"):
        raise ValueError(f"hidden_units must be a sequence of layer sizes such as (1000, 1000), "
                         f"got {hidden_units!r}.")
    units = tuple(hidden_units)
    if not units:
        raise ValueError(f"hidden_units must list at least one layer size, got {hidden_units!r}.")
    for size in units:
        check_count(size, "every hidden_units entry")
    return units


def check_images_and_labels(images, labels, where: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert one split; returns float32 (n, 784) in [0, 1] and int64 (n,).

    Accepts images as uint8 0..255 or floats in [0, 1] (or 0..255), shaped
    (n, 28, 28) or (n, 784).
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3 and images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"{where}: images must be 28x28, got shape {images.shape}; "
                         "expected (n, 28, 28) or (n, 784).")
    if images.ndim == 2 and images.shape[1] != IMAGE_SIZE:
        raise ValueError(f"{where}: images must have 784 pixels each, got shape {images.shape}; "
                         "expected (n, 28, 28) or (n, 784).")
    if images.ndim not in (2, 3):
        raise ValueError(f"{where}: images must be (n, 28, 28) or (n, 784), got shape {images.shape}.")
    if not (np.issubdtype(images.dtype, np.number) and not np.issubdtype(images.dtype, np.complexfloating)):
        raise ValueError(f"{where}: images must be numeric, got dtype {images.dtype}.")
    if labels.ndim != 1:
        raise ValueError(f"{where}: labels must be a 1-D array of class ids, got shape {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{where}: {len(images)} images but {len(labels)} labels; "
                         "each image needs exactly one label.")
    if len(images) == 0:
        raise ValueError(f"{where}: the split is empty (0 images); expected at least one digit.")
    if not np.issubdtype(labels.dtype, np.integer):
        if not (np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0)):
            raise ValueError(f"{where}: labels must be integers 0..9, got dtype {labels.dtype}.")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES)]
        raise ValueError(f"{where}: labels must lie in 0..9, found {bad[:5].tolist()} "
                         f"(min {labels.min()}, max {labels.max()}).")
    images = images.reshape(len(images), IMAGE_SIZE)
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{where}: images contain NaN or infinite pixels; expected values in [0, 1] or 0..255.")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 255:
        raise ValueError(f"{where}: pixel values must lie in [0, 1] or 0..255, found range "
                         f"[{low:g}, {high:g}].")
    if images.dtype == np.uint8 and high <= 1:
        warnings.warn(f"{where}: the uint8 images hold only the values 0..{high:g} (binarised digits?). "
                      f"uint8 pixels are divided by 255, so these become at most {high / 255:.4f}, almost "
                      "black. If they are binarised, pass them as floats (images.astype('float32')), "
                      "which are used as they are.", UserWarning, stacklevel=3)
    scale = 255.0 if (images.dtype == np.uint8 or high > 1.0) else 1.0
    return (images.astype(np.float32) / np.float32(scale)), labels.astype(np.int64)
