"""Tests for aae_helpers.losses, each against an independent NumPy/SciPy oracle."""

import math

import keras
import numpy as np
import pytest
from scipy import stats

from aae_helpers import losses


def value(tensor):
    result = keras.ops.convert_to_numpy(tensor)
    assert result.shape == ()  # every loss is a scalar
    return float(result)


def rng(seed=0):
    return np.random.default_rng(seed)


def sigmoid_cross_entropy(label, logits):
    """-[y log s(x) + (1 - y) log(1 - s(x))], written stably with logaddexp."""
    return label * np.logaddexp(0.0, -logits) + (1 - label) * np.logaddexp(0.0, logits)


# ----------------------------------------------------------------------------
# reconstruction_loss
# ----------------------------------------------------------------------------

def test_reconstruction_loss_is_mean_squared_error():
    images = rng(1).random((16, 784)).astype(np.float32)
    reconstructions = rng(2).random((16, 784)).astype(np.float32)
    expected = np.mean((images.astype(np.float64) - reconstructions) ** 2)
    assert value(losses.reconstruction_loss(images, reconstructions)) == pytest.approx(expected, rel=1e-5)


def test_reconstruction_loss_simple_values():
    assert value(losses.reconstruction_loss(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))) == 0.0
    images = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    # one pixel off by 1 out of four: 1/4 (a sum over pixels would give 1/2 or 1)
    assert value(losses.reconstruction_loss(images, np.zeros_like(images))) == pytest.approx(0.25)


# ----------------------------------------------------------------------------
# discriminator_loss and generator_loss
# ----------------------------------------------------------------------------

def test_discriminator_loss_at_chance_is_two_ln_two():
    zeros = np.zeros((32, 1), np.float32)
    assert value(losses.discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_discriminator_loss_matches_numpy():
    real = rng(3).normal(0, 3, (64, 1)).astype(np.float32)
    fake = rng(4).normal(0, 3, (48, 1)).astype(np.float32)
    expected = sigmoid_cross_entropy(1, real.astype(np.float64)).mean() + \
        sigmoid_cross_entropy(0, fake.astype(np.float64)).mean()
    assert value(losses.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)


def test_discriminator_loss_direction_and_stability():
    confident_right = value(losses.discriminator_loss(np.full((4, 1), 40.0, np.float32),
                                                      np.full((4, 1), -40.0, np.float32)))
    confident_wrong = value(losses.discriminator_loss(np.full((4, 1), -40.0, np.float32),
                                                      np.full((4, 1), 40.0, np.float32)))
    assert 0.0 <= confident_right < 1e-6
    assert confident_wrong == pytest.approx(80.0, rel=1e-4)  # no overflow, no clipping to log(1e-7)


def test_generator_loss_matches_numpy():
    assert value(losses.generator_loss(np.zeros((8, 1), np.float32))) == pytest.approx(math.log(2), rel=1e-6)
    fake = rng(5).normal(0, 3, (64, 1)).astype(np.float32)
    expected = sigmoid_cross_entropy(1, fake.astype(np.float64)).mean()
    assert value(losses.generator_loss(fake)) == pytest.approx(expected, rel=1e-5)
    # the generator wants the codes called real: high logits mean low loss
    assert value(losses.generator_loss(np.full((4, 1), 30.0, np.float32))) < 1e-6
    assert value(losses.generator_loss(np.full((4, 1), -30.0, np.float32))) == pytest.approx(30.0, rel=1e-4)


# ----------------------------------------------------------------------------
# classification_loss
# ----------------------------------------------------------------------------

def test_classification_loss_matches_numpy_log_softmax():
    logits = rng(6).normal(0, 4, (50, 10)).astype(np.float32)
    labels = rng(7).integers(0, 10, 50)
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(50), labels].mean()
    assert value(losses.classification_loss(labels, logits)) == pytest.approx(expected, rel=1e-5)


def test_classification_loss_simple_values():
    assert value(losses.classification_loss(np.array([0, 3]), np.zeros((2, 10), np.float32))) == \
        pytest.approx(math.log(10), rel=1e-6)
    big = np.full((1, 10), -50.0, np.float32)
    big[0, 4] = 50.0
    assert value(losses.classification_loss(np.array([4]), big)) < 1e-6
    assert value(losses.classification_loss(np.array([2]), big)) == pytest.approx(100.0, rel=1e-4)


# ----------------------------------------------------------------------------
# gaussian_kl
# ----------------------------------------------------------------------------

def kl_closed_form(mean, log_variance):
    """KL(N(mu, diag s2) || N(0, I)) = 1/2 (tr S + mu.mu - k - ln det S), per row, batch mean."""
    variance = np.exp(log_variance)
    k = mean.shape[1]
    per_row = 0.5 * (variance.sum(axis=1) + (mean ** 2).sum(axis=1) - k - np.log(variance.prod(axis=1)))
    return per_row.mean()


def test_gaussian_kl_is_zero_for_the_prior_itself():
    zeros = np.zeros((3, 7), np.float32)
    assert value(losses.gaussian_kl(zeros, zeros)) == pytest.approx(0.0, abs=1e-7)


def test_gaussian_kl_one_dimensional_values():
    # N(1, 1) vs N(0, 1): mu^2 / 2 = 0.5; N(0, e) vs N(0, 1): (e - 1 - 1) / 2
    assert value(losses.gaussian_kl(np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32))) == \
        pytest.approx(0.5, rel=1e-6)
    assert value(losses.gaussian_kl(np.zeros((1, 1), np.float32), np.ones((1, 1), np.float32))) == \
        pytest.approx((math.e - 2) / 2, rel=1e-6)


def test_gaussian_kl_matches_the_closed_form_and_sums_over_dims():
    mean = rng(8).normal(0, 1, (20, 10)).astype(np.float32)
    log_variance = rng(9).uniform(-2, 1, (20, 10)).astype(np.float32)
    expected = kl_closed_form(mean.astype(np.float64), log_variance.astype(np.float64))
    assert value(losses.gaussian_kl(mean, log_variance)) == pytest.approx(expected, rel=1e-5)
    # summed over dims: doubling the latent space (same rows twice) doubles the KL
    doubled = value(losses.gaussian_kl(np.tile(mean, 2), np.tile(log_variance, 2)))
    assert doubled == pytest.approx(2 * expected, rel=1e-5)


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    """KL = E_q[log q(z) - log p(z)], estimated with 200,000 draws from q per row."""
    mean = np.array([[0.5, -1.0, 0.0], [1.5, 0.2, -0.3]])
    log_variance = np.array([[0.0, -1.0, 0.7], [-0.5, 0.3, -2.0]])
    std = np.exp(0.5 * log_variance)
    generator = rng(10)
    estimates, errors = [], []
    for row in range(2):
        z = mean[row] + std[row] * generator.standard_normal((200_000, 3))
        log_ratio = (stats.norm.logpdf(z, mean[row], std[row]) - stats.norm.logpdf(z)).sum(axis=1)
        estimates.append(log_ratio.mean())
        errors.append(log_ratio.std() / math.sqrt(len(log_ratio)))
    monte_carlo = np.mean(estimates)
    standard_error = math.sqrt(sum(e * e for e in errors)) / 2
    got = value(losses.gaussian_kl(mean.astype(np.float32), log_variance.astype(np.float32)))
    assert abs(got - monte_carlo) < 5 * standard_error
    assert standard_error < 0.01 * got  # the check is sharp: the estimate is within ~5% of the value


# ----------------------------------------------------------------------------
# gaussian_negative_log_likelihood
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("std", [0.5, 1.0, 0.1])
def test_gaussian_nll_matches_scipy(std):
    images = rng(11).random((8, 784))
    reconstructions = rng(12).random((8, 784))
    expected = -stats.norm.logpdf(images, loc=reconstructions, scale=std).sum(axis=1).mean()
    got = value(losses.gaussian_negative_log_likelihood(images.astype(np.float32),
                                                        reconstructions.astype(np.float32), std=std))
    assert got == pytest.approx(expected, rel=1e-5)


def test_gaussian_nll_default_std_is_half():
    images = rng(13).random((4, 784)).astype(np.float32)
    reconstructions = rng(14).random((4, 784)).astype(np.float32)
    default = value(losses.gaussian_negative_log_likelihood(images, reconstructions))
    half = value(losses.gaussian_negative_log_likelihood(images, reconstructions, std=0.5))
    assert default == half
    # the formula written out: sum_i (x - r)^2 / (2 * 0.25) + ln 0.5 + ln(2 pi) / 2, batch mean
    d = images.astype(np.float64) - reconstructions
    expected = np.mean(np.sum(d ** 2 / 0.5 + math.log(0.5) + 0.5 * math.log(2 * math.pi), axis=1))
    assert default == pytest.approx(expected, rel=1e-5)


def test_gaussian_nll_of_a_perfect_reconstruction_is_the_normalising_constant():
    images = np.full((3, 784), 0.3, np.float32)
    got = value(losses.gaussian_negative_log_likelihood(images, images))
    assert got == pytest.approx(784 * (math.log(0.5) + 0.5 * math.log(2 * math.pi)), rel=1e-5)
