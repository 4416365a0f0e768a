"""Tests for aae_helpers.metrics: the unbiased MMD^2, its bandwidths and its permutation test."""

import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers.metrics import median_bandwidths, mmd, mmd_permutation_test


def gaussian(n, d=2, shift=0.0, seed=0, std=1.0):
    return np.random.default_rng(seed).normal(shift, std, (n, d))


def direct_mmd(x, y, bandwidths):
    """The textbook formula on full kernel matrices (small inputs only)."""
    def kernel(a, b):
        squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-squared / (2 * sigma ** 2)) for sigma in bandwidths)
    m, n = len(x), len(y)
    kxx, kyy = kernel(x, x), kernel(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kernel(x, y).mean())


BANDWIDTHS = (0.5, 1.0, 2.0)


# ---- values ------------------------------------------------------------------------------------

def test_same_distribution_is_near_zero_and_can_be_negative():
    values = [mmd(gaussian(400, seed=2 * k), gaussian(400, seed=2 * k + 1), BANDWIDTHS) for k in range(12)]
    assert max(abs(v) for v in values) < 0.02
    assert min(values) < 0 < max(values)  # unbiased: scatters around 0, not a distance
    assert abs(np.mean(values)) < 0.005


def test_a_shifted_distribution_scores_clearly_higher():
    same = mmd(gaussian(500, seed=1), gaussian(500, seed=2), BANDWIDTHS)
    shifted = mmd(gaussian(500, seed=1), gaussian(500, shift=1.0, seed=2), BANDWIDTHS)
    assert shifted > 0.1 and shifted > 20 * abs(same)


def test_grows_with_the_shift():
    x = gaussian(400, seed=3)
    values = [mmd(x, gaussian(400, shift=shift, seed=4), BANDWIDTHS) for shift in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_a_wider_spread_is_detected_too():
    same = mmd(gaussian(500, seed=5), gaussian(500, seed=6), BANDWIDTHS)
    wider = mmd(gaussian(500, seed=5), gaussian(500, seed=6, std=2.0), BANDWIDTHS)
    assert wider > 0.05 and wider > 10 * abs(same)


def test_symmetric_and_invariant_to_row_order():
    x, y = gaussian(300, d=3, seed=7), gaussian(250, d=3, shift=0.3, seed=8)
    value = mmd(x, y, BANDWIDTHS)
    assert mmd(y, x, BANDWIDTHS) == pytest.approx(value, rel=1e-9, abs=1e-12)
    rng = np.random.default_rng(0)
    assert mmd(x[rng.permutation(len(x))], y[rng.permutation(len(y))], BANDWIDTHS) == \
        pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("block_size", [1, 7, 50, 2048])
def test_blockwise_equals_the_direct_formula(block_size):
    x, y = gaussian(53, d=4, seed=9), gaussian(41, d=4, shift=0.4, seed=10)
    assert mmd(x, y, BANDWIDTHS, block_size=block_size) == pytest.approx(direct_mmd(x, y, BANDWIDTHS),
                                                                         rel=1e-9, abs=1e-12)


def test_default_bandwidths_follow_the_median_distance():
    x, y = gaussian(200, seed=11), gaussian(200, seed=12)
    widths = median_bandwidths(x, y)
    pooled = np.concatenate([x, y])
    distances = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1))[np.triu_indices(400, 1)]
    np.testing.assert_allclose(widths, np.median(distances) * np.array([0.25, 0.5, 1, 2, 4]))
    assert mmd(x, y) == pytest.approx(mmd(x, y, widths))


def test_scaling_the_data_and_the_default_bandwidths_together_changes_nothing():
    x, y = gaussian(200, seed=13), gaussian(200, shift=0.5, seed=14)
    assert mmd(10 * x, 10 * y) == pytest.approx(mmd(x, y), rel=1e-6)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_clouds_of_any_scale_give_the_same_value(scale):
    """Squared distances of 1e-200 clouds underflow to 0 (every kernel value 1: MMD^2 = 0) and
    those of 1e200 clouds overflow (NaN), unless the data is rescaled first."""
    x, y = gaussian(200, seed=13), gaussian(200, shift=0.5, seed=14)
    expected = mmd(x, y)
    assert expected > 0.05
    assert mmd(scale * x, scale * y) == pytest.approx(expected, rel=1e-6)
    assert mmd_permutation_test(scale * x, scale * y, num_permutations=99).mmd2 == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(median_bandwidths(scale * x, scale * y), scale * median_bandwidths(x, y), rtol=1e-6)


def test_works_on_the_notebook_sizes_blockwise():
    x, y = gaussian(5000, d=2, std=5.0, seed=15), gaussian(5000, d=2, std=5.0, seed=16)
    assert abs(mmd(x, y, block_size=1024)) < 2e-3


def test_the_lazy_namespace_finds_it():
    assert aae.mmd is mmd


# ---- permutation test ---------------------------------------------------------------------------

def test_permutation_test_agrees_with_mmd_and_tells_near_from_far():
    x, same, far = gaussian(150, seed=17), gaussian(150, seed=18), gaussian(150, shift=1.0, seed=19)
    close = mmd_permutation_test(x, same, BANDWIDTHS, num_permutations=199, seed=1)
    apart = mmd_permutation_test(x, far, BANDWIDTHS, num_permutations=199, seed=1)
    assert close.mmd2 == pytest.approx(mmd(x, same, BANDWIDTHS))
    assert apart.mmd2 == pytest.approx(mmd(x, far, BANDWIDTHS))
    assert close.p_value > 0.05 and apart.p_value == pytest.approx(1 / 200)
    assert apart.mmd2 > apart.null_quantile_95 > apart.null_mean
    assert abs(close.null_mean) < 0.01


def test_permutation_test_refuses_too_many_points():
    with pytest.raises(ValueError, match=r"m \+ n = 30 \+ 30 = 60 points.*max_points=50"):
        mmd_permutation_test(gaussian(30), gaussian(30), max_points=50)


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("x, y, message", [
    (np.zeros((10, 2)), np.zeros((10, 3)), r"same number of columns.*\(10, 2\).*\(10, 3\)"),
    (np.zeros((1, 2)), np.zeros((10, 2)), r"x must hold at least 2 points.*\(1, 2\)"),
    (np.zeros((10, 2)), np.zeros((0, 2)), r"y must hold at least 2 points.*\(0, 2\)"),
    (np.zeros(10), np.zeros((10, 1)), r"x must be a 2-D array.*\(10,\).*reshape\(-1, 1\)"),
    (np.zeros((4, 2, 2)), np.zeros((4, 2)), r"x must be a 2-D array.*\(4, 2, 2\)"),
    (np.array([[0.0, np.nan], [1, 1], [2, 2]]), np.zeros((5, 2)), r"x contains NaN or infinite.*1 of its 3 rows"),
    (np.zeros((5, 2)), np.full((5, 2), np.inf), r"y contains NaN or infinite.*5 of its 5 rows"),
    ([["a", "b"], ["c", "d"]], np.zeros((5, 2)), r"x must be a numeric array.*dtype <U1"),
    (np.ones((5, 2), bool), np.zeros((5, 2)), r"x must be a numeric array.*dtype bool"),
    ([[1.0, 2.0], [3.0]], np.zeros((5, 2)), r"x must be a numeric array.*ragged"),
])
def test_bad_samples_raise_a_helpful_value_error(x, y, message):
    with pytest.raises(ValueError, match=message):
        mmd(x, y, BANDWIDTHS)


@pytest.mark.parametrize("bandwidths", [0.0, -1.0, [], [1.0, np.nan], "wide", [True], [[1.0, 2.0]]])
def test_bad_bandwidths_raise(bandwidths):
    with pytest.raises(ValueError, match="bandwidths must be one or more positive finite numbers"):
        mmd(gaussian(10), gaussian(10), bandwidths)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True])
def test_bad_block_size_raises(block_size):
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        mmd(gaussian(10), gaussian(10), BANDWIDTHS, block_size=block_size)


def test_integer_input_and_a_single_bandwidth_work():
    x = np.arange(20).reshape(10, 2)
    assert mmd(x, x + 1, 3) == pytest.approx(direct_mmd(x.astype(float), x + 1.0, [3.0]))
