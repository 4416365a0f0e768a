"""Two-sample statistics: how far apart two clouds of points are (numpy only).

The squared maximum mean discrepancy (MMD^2) with Gaussian kernels answers
"do these codes look like samples of the prior?" with one number: about 0
when the two samples come from the same distribution, larger the more they
differ. The unbiased estimate used here can dip slightly below 0.

    codes = trainer.encode(data.x_test)                          # (n, d)
    prior = np.asarray(aae.sample_prior("gaussian", n, d, seed=0, std=5.0))
    aae.mmd(codes, prior)

Kernels are computed block by block, so 10,000 x 10,000 samples need only a
few tens of MB of memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from aae_helpers.checks import numeric_array

__all__ = ["mmd", "median_bandwidths", "mmd_permutation_test", "MmdTest"]

BANDWIDTH_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)  # multiples of the median pairwise distance
MEDIAN_POINTS = 1000   # points (drawn at random) the median heuristic looks at
BLOCK_SIZE = 2048      # rows per block: a block of kernel values is BLOCK_SIZE^2 float64 (32 MB)
PERMUTATION_POINTS = 5000  # the permutation test keeps one (m + n)^2 kernel matrix in memory
MAX_PERMUTATIONS = 100_000  # p-values down to 1e-5; more would take hours and say nothing new
PERMUTATION_CHUNK = 500     # relabellings scored at once: (m + n) x 500 floats per array


class MmdTest(NamedTuple):
    """Result of `mmd_permutation_test`."""

    mmd2: float             # unbiased MMD^2 of the two samples as given
    p_value: float          # (1 + #{permuted MMD^2 >= mmd2}) / (1 + num_permutations)
    null_mean: float        # mean MMD^2 over the random relabellings
    null_quantile_95: float  # 95th percentile of those: values above it are "far" at the 5% level
    num_permutations: int


# ---------------------------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------------------------

def _check_sample(values, name: str) -> np.ndarray:
    """float64 (n, d) with n >= 2, finite; or a ValueError saying what was received."""
    array = numeric_array(values, name, "(n, d)", dtype=np.float64)
    if array.ndim != 2:
        hint = " (for n scalars use x.reshape(-1, 1))" if array.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array of shape (n, d): n points of d numbers each; "
                         f"got shape {array.shape}{hint}.")
    if array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must hold at least 2 points of at least 1 number each (the unbiased "
                         f"estimate leaves out each point's kernel with itself); got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array).all(axis=1)))
        raise ValueError(f"{name} contains NaN or infinite values ({bad} of its {len(array)} rows); "
                         "expected finite numbers.")
    return array


def _check_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _check_sample(x, "x"), _check_sample(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of columns (dimensions); got x of shape "
                         f"{x.shape} and y of shape {y.shape}.")
    return x, y


def _check_bandwidths(bandwidths) -> np.ndarray:
    array = np.atleast_1d(np.asarray(bandwidths, dtype=object))
    try:
        values = array.astype(np.float64)
    except (TypeError, ValueError):
        values = None
    if (values is None or values.ndim != 1 or len(values) == 0
            or any(isinstance(v, (bool, np.bool_)) for v in array) or not np.all(np.isfinite(values))
            or np.any(values <= 0)):
        raise ValueError(f"bandwidths must be one or more positive finite numbers (kernel widths in "
                         f"the units of the data), got {bandwidths!r}.")
    return values


def _power_of_two_scale(*samples) -> float:
    """A power of two near the samples' largest magnitude. Dividing by it is exact, so statistics
    do not change, and brings clouds of size 1e-200 or 1e200 to where squared distances neither
    underflow to 0 nor overflow to infinity."""
    largest = max(float(np.abs(sample).max()) for sample in samples)
    return 1.0 if largest == 0 else float(2.0 ** np.frexp(largest)[1])


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------

def median_bandwidths(*samples, factors=BANDWIDTH_FACTORS, max_points: int = MEDIAN_POINTS,
                      seed: int = 0) -> np.ndarray:
    """Kernel widths from the median heuristic: `factors` times the median pairwise distance.

    samples: one or more arrays (n_i, d), pooled; at most `max_points` of them
    (drawn with `seed`) are used. Returns float64 (len(factors),).
    """
    if not samples:
        raise ValueError("median_bandwidths needs at least one sample of shape (n, d).")
    checked = [_check_sample(sample, f"sample {i}") for i, sample in enumerate(samples)]
    if len({sample.shape[1] for sample in checked}) > 1:
        raise ValueError(f"all samples must have the same number of columns; got shapes "
                         f"{[sample.shape for sample in checked]}.")
    factors = _check_bandwidths(factors)
    scale = _power_of_two_scale(*checked)
    pooled = np.concatenate(checked) / scale
    max_points = _check_positive_int(max_points, "max_points")
    if len(pooled) > max_points:
        pooled = pooled[np.random.default_rng(seed).choice(len(pooled), max_points, replace=False)]
    squared = _squared_distances(pooled, pooled)
    distances = np.sqrt(squared[np.triu_indices(len(pooled), k=1)])
    median = float(np.median(distances))
    if median <= 0:  # more than half the pairs coincide: fall back to the typical nonzero distance
        nonzero = distances[distances > 0]
        median = float(np.median(nonzero)) if len(nonzero) else 1.0 / scale
    return median * scale * factors


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(p, q) squared Euclidean distances between rows of a (p, d) and b (q, d), clipped at 0."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(squared, 0.0, out=squared)


def _kernel(a: np.ndarray, b: np.ndarray, scales: np.ndarray, same: bool = False) -> np.ndarray:
    """(p, q) sum over bandwidths of exp(-|a_i - b_j|^2 / (2 sigma^2)); scales = 1 / (2 sigma^2).

    same=True: a is b, so the diagonal distances are set to exactly 0.
    """
    squared = _squared_distances(a, b)
    if same:
        np.fill_diagonal(squared, 0.0)
    total = np.zeros_like(squared)
    work = np.empty_like(squared)
    for scale in scales:
        np.multiply(squared, -scale, out=work)
        np.exp(work, out=work)
        total += work
    return total


def _within_sum(x: np.ndarray, scales: np.ndarray, block_size: int) -> float:
    """Sum of k(x_i, x_j) over all i != j, visiting each pair of blocks once (k is symmetric)."""
    total = 0.0
    starts = range(0, len(x), block_size)
    for i in starts:
        a = x[i:i + block_size]
        for j in starts:
            if j < i:
                continue
            if j == i:
                total += _kernel(a, a, scales, same=True).sum() - len(a) * len(scales)  # drop k(x_i, x_i)
            else:
                total += 2.0 * _kernel(a, x[j:j + block_size], scales).sum()
    return total


def _cross_sum(x: np.ndarray, y: np.ndarray, scales: np.ndarray, block_size: int) -> float:
    """Sum of k(x_i, y_j) over all i, j."""
    return sum(_kernel(x[i:i + block_size], y[j:j + block_size], scales).sum()
               for i in range(0, len(x), block_size) for j in range(0, len(y), block_size))


# ---------------------------------------------------------------------------------------------
# The statistic
# ---------------------------------------------------------------------------------------------

def mmd(x, y, bandwidths=None, seed: int = 0, block_size: int = BLOCK_SIZE) -> float:
    """Unbiased squared maximum mean discrepancy between samples x (m, d) and y (n, d).

    MMD^2 = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)
    with k the sum of Gaussian kernels exp(-|a - b|^2 / (2 sigma^2)), one per bandwidth sigma,
    so k(a, a) = len(bandwidths). About 0 (either sign) when x and y come from one distribution.

    bandwidths: widths sigma (in the units of the data); default `median_bandwidths(x, y, seed=seed)`.
        Pass the same bandwidths to compare MMD values with each other.
    block_size: rows per block of kernel values (memory ~ 16 * block_size^2 bytes per array).
    Returns a Python float.
    """
    x, y = _check_pair(x, y)
    block_size = _check_positive_int(block_size, "block_size")
    bandwidths = median_bandwidths(x, y, seed=seed) if bandwidths is None else _check_bandwidths(bandwidths)
    scale = _power_of_two_scale(x, y)  # computed on rescaled data: the same value, no under/overflow
    x, y, bandwidths = x / scale, y / scale, bandwidths / scale
    scales = 1.0 / (2.0 * bandwidths ** 2)
    m, n = len(x), len(y)
    within_x = _within_sum(x, scales, block_size) / (m * (m - 1))
    within_y = _within_sum(y, scales, block_size) / (n * (n - 1))
    cross = _cross_sum(x, y, scales, block_size) / (m * n)
    return float(within_x + within_y - 2.0 * cross)


def mmd_permutation_test(x, y, bandwidths=None, num_permutations: int = 200, seed: int = 0,
                         max_points: int = PERMUTATION_POINTS) -> MmdTest:
    """MMD^2 of x (m, d) and y (n, d) and its p-value under "same distribution".

    The pooled points are relabelled at random `num_permutations` times; the p-value
    is the fraction of relabellings whose MMD^2 reaches the observed one. The pooled
    (m + n)^2 kernel matrix is held in memory, so m + n may be at most `max_points`;
    subsample larger inputs first.
    """
    x, y = _check_pair(x, y)
    num_permutations = _check_positive_int(num_permutations, "num_permutations")
    if num_permutations > MAX_PERMUTATIONS:
        raise ValueError(f"num_permutations must be at most {MAX_PERMUTATIONS:,}, got {num_permutations:,}: "
                         f"the p-value's resolution is 1 / (1 + num_permutations), and a few thousand "
                         "relabellings (e.g. 1000) already tell near from far.")
    max_points = _check_positive_int(max_points, "max_points")
    m, n = len(x), len(y)
    if m + n > max_points:
        raise ValueError(f"the permutation test holds a (m + n)^2 kernel matrix in memory; got "
                         f"m + n = {m} + {n} = {m + n} points, more than max_points={max_points}. "
                         f"Subsample x and y first, or use mmd() for the statistic alone.")
    bandwidths = median_bandwidths(x, y, seed=seed) if bandwidths is None else _check_bandwidths(bandwidths)
    scale = _power_of_two_scale(x, y)
    pooled = np.concatenate([x, y]) / scale
    kernel = _kernel(pooled, pooled, 1.0 / (2.0 * (bandwidths / scale) ** 2), same=True)
    np.fill_diagonal(kernel, 0.0)  # sums over i != j
    row_sums = kernel.sum(1)[:, None]
    rng = np.random.default_rng(seed)
    statistics = []
    for start in range(0, num_permutations + 1, PERMUTATION_CHUNK):  # column 0: the labelling as given
        columns = range(start, min(start + PERMUTATION_CHUNK, num_permutations + 1))
        in_x = np.zeros((m + n, len(columns)))
        for column, labelling in enumerate(columns):
            in_x[(rng.permutation(m + n) if labelling else np.arange(m + n))[:m], column] = 1.0
        in_y = 1.0 - in_x
        k_in_x = kernel @ in_x                 # (m + n, chunk): row sums over each x set
        k_in_y = row_sums - k_in_x
        within_x = (in_x * k_in_x).sum(0) / (m * (m - 1))
        within_y = (in_y * k_in_y).sum(0) / (n * (n - 1))
        cross = (in_y * k_in_x).sum(0) / (m * n)
        statistics.append(within_x + within_y - 2.0 * cross)
    statistics = np.concatenate(statistics)
    observed, null = float(statistics[0]), statistics[1:]
    p_value = (1 + int(np.count_nonzero(null >= observed))) / (1 + num_permutations)
    return MmdTest(observed, float(p_value), float(null.mean()), float(np.quantile(null, 0.95)),
                   num_permutations)
