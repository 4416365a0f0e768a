"""Tests for aae_helpers.priors: shapes, seeding and sample statistics of every prior."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aae_helpers.priors import PRIORS, get_prior, sample_prior

TWO_D_ONLY = ("mixture_of_gaussians", "swiss_roll")
LARGE = 20_000


def draw(name, num_samples, latent_dim, seed=0, **options):
    samples = sample_prior(name, num_samples, latent_dim, seed=seed, **options)
    assert keras.backend.standardize_dtype(samples.dtype) == "float32"
    return keras.ops.convert_to_numpy(samples)


def dim_for(name, latent_dim=4):
    return 2 if name in TWO_D_ONLY else latent_dim


def test_the_registry_lists_the_five_priors():
    assert set(PRIORS) == {"gaussian", "uniform", "mixture_of_gaussians", "swiss_roll", "categorical"}
    for name, sampler in PRIORS.items():
        assert get_prior(name) is sampler


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_shape_dtype_and_finite(name):
    dim = dim_for(name, 5)
    samples = draw(name, 64, dim, seed=1)
    assert samples.shape == (64, dim) and samples.dtype == np.float32
    assert np.all(np.isfinite(samples))


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_same_seed_same_samples_other_seed_other_samples(name):
    dim = dim_for(name, 3)
    first, again, other = draw(name, 200, dim, seed=11), draw(name, 200, dim, seed=11), draw(name, 200, dim, seed=12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_a_seed_generator_advances_and_replays(name):
    dim = dim_for(name, 3)
    generator = keras.random.SeedGenerator(5)
    first = keras.ops.convert_to_numpy(sample_prior(name, 100, dim, seed=generator))
    second = keras.ops.convert_to_numpy(sample_prior(name, 100, dim, seed=generator))
    assert not np.array_equal(first, second)  # a training step gets fresh samples every time
    replay = keras.random.SeedGenerator(5)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(sample_prior(name, 100, dim, seed=replay)), first)


@pytest.mark.parametrize("std", [1.0, 5.0])
def test_gaussian_statistics(std):
    samples = draw("gaussian", LARGE, 2, seed=3, std=std)
    standard_error = std / math.sqrt(LARGE)
    assert np.all(np.abs(samples.mean(axis=0)) < 5 * standard_error)
    np.testing.assert_allclose(samples.std(axis=0), std, rtol=0.03)
    np.testing.assert_allclose(np.corrcoef(samples.T)[0, 1], 0.0, atol=0.04)
    # Normal, not merely the right variance: about 68.3% within one std, 95.4% within two.
    assert abs(np.mean(np.abs(samples) < std) - 0.6827) < 0.015
    assert abs(np.mean(np.abs(samples) < 2 * std) - 0.9545) < 0.01


def test_gaussian_default_std_is_5():
    np.testing.assert_allclose(draw("gaussian", LARGE, 1, seed=4).std(), 5.0, rtol=0.03)


@pytest.mark.parametrize("std", [1.0, 5.0])
def test_uniform_statistics(std):
    samples = draw("uniform", LARGE, 2, seed=3, std=std)
    half_width = std * math.sqrt(3.0)
    assert np.all(np.abs(samples) <= half_width)
    assert samples.min() < -0.99 * half_width and samples.max() > 0.99 * half_width
    np.testing.assert_allclose(samples.std(axis=0), std, rtol=0.03)
    assert np.all(np.abs(samples.mean(axis=0)) < 5 * std / math.sqrt(LARGE))
    counts, _ = np.histogram(samples[:, 0], bins=10, range=(-half_width, half_width))
    np.testing.assert_allclose(counts / LARGE, 0.1, atol=0.015)  # flat


@pytest.mark.parametrize("classes", [2, 10])
def test_categorical_is_one_hot_and_uniform(classes):
    samples = draw("categorical", LARGE, classes, seed=3)
    assert set(np.unique(samples).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(samples.sum(axis=1), 1.0)
    frequencies = samples.mean(axis=0)
    standard_error = math.sqrt((1 / classes) * (1 - 1 / classes) / LARGE)
    np.testing.assert_allclose(frequencies, 1 / classes, atol=5 * standard_error)


@pytest.mark.parametrize("name", TWO_D_ONLY)
@pytest.mark.parametrize("latent_dim", [1, 3, 10])
def test_two_d_priors_reject_other_dims(name, latent_dim):
    with pytest.raises(ValueError, match=f"2-D distribution, got latent_dim={latent_dim}"):
        sample_prior(name, 10, latent_dim, seed=0)


def test_mixture_of_gaussians_has_ten_equal_components_on_a_circle():
    std = 5.0
    samples = draw("mixture_of_gaussians", LARGE, 2, seed=3, std=std)
    radius = np.hypot(samples[:, 0], samples[:, 1])
    assert abs(np.median(radius) - 1.4 * std) < 0.05 * std
    assert 0.3 * std < samples.std() < 3 * std
    angle = np.arctan2(samples[:, 1], samples[:, 0])
    component = np.rint(angle / (2 * np.pi / 10)).astype(int) % 10
    np.testing.assert_allclose(np.bincount(component, minlength=10) / LARGE, 0.1, atol=0.015)
    offset = angle - component * (2 * np.pi / 10)
    offset = (offset + np.pi) % (2 * np.pi) - np.pi
    assert np.mean(np.abs(offset) < 0.2) > 0.9  # clustered on the ten spokes, not smeared round


def test_swiss_roll_scale():
    std = 5.0
    samples = draw("swiss_roll", LARGE, 2, seed=3, std=std)
    radius = np.hypot(samples[:, 0], samples[:, 1])
    assert radius.max() < 2.5 * std  # "about +-2 std"
    assert radius.max() > 1.9 * std
    assert 0.5 * std < np.sqrt(np.mean(samples ** 2)) < 2 * std
    # radius = 2 std sqrt(u), u uniform: P(radius < std / 2) = 1/16, P(radius > 1.5 std) = 7/16
    assert abs(np.mean(radius < 0.5 * std) - 1 / 16) < 0.01
    assert abs(np.mean(radius > 1.5 * std) - 7 / 16) < 0.02
    # a spiral: the angle is pi/2 + 3 pi * radius / (2 std), up to the small jitter
    predicted = np.pi / 2 + 3 * np.pi * radius / (2 * std)
    angle = np.arctan2(samples[:, 1], samples[:, 0])
    error = np.abs((angle - predicted + np.pi) % (2 * np.pi) - np.pi)[radius > 0.5 * std]
    assert np.median(error) < 0.3 and np.quantile(error, 0.9) < 0.6


@pytest.mark.parametrize("name", ["gaussian", "uniform", "mixture_of_gaussians", "swiss_roll"])
def test_std_scales_the_samples(name):
    """With one seed, doubling `std` exactly doubles every sample."""
    small = draw(name, 500, 2, seed=9, std=2.0)
    large = draw(name, 500, 2, seed=9, std=4.0)
    np.testing.assert_allclose(large, 2 * small, rtol=1e-5, atol=1e-5)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown prior 'laplace'") as error:
        sample_prior("laplace", 10, 2)
    for name in PRIORS:
        assert name in str(error.value)
    with pytest.raises(ValueError, match="choose one of"):
        get_prior("Gaussian")


@pytest.mark.parametrize("num_samples, latent_dim", [(0, 2), (-1, 2), (10, 0), (10, -3), (0, 0)])
@pytest.mark.parametrize("name", sorted(PRIORS))
def test_non_positive_sizes_are_rejected(name, num_samples, latent_dim):
    with pytest.raises(ValueError, match="must be positive") as error:
        sample_prior(name, num_samples, latent_dim, seed=0)
    assert f"num_samples={num_samples}" in str(error.value)
    assert f"latent_dim={latent_dim}" in str(error.value)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(PRIORS)), num_samples=st.integers(1, 40),
       latent_dim=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_property_shape_dtype_finite_and_seeded(name, num_samples, latent_dim, seed):
    latent_dim = dim_for(name, latent_dim)
    samples = draw(name, num_samples, latent_dim, seed=seed)
    assert samples.shape == (num_samples, latent_dim)
    assert np.all(np.isfinite(samples))
    np.testing.assert_array_equal(samples, draw(name, num_samples, latent_dim, seed=seed))
    if name == "categorical":
        np.testing.assert_array_equal(samples.sum(axis=1), 1.0)
    if name == "uniform":
        assert np.all(np.abs(samples) <= 5.0 * math.sqrt(3.0))
