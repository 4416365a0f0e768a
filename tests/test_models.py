"""Tests for aae_helpers.models: shapes, parameter counts, activations and the seeded sampler."""

import keras
import numpy as np
import pytest

from aae_helpers import models
from aae_helpers.extras import improved
from aae_helpers.models import (GaussianSampling, build_classifier, build_decoder, build_discriminator,
                                build_encoder, build_gaussian_encoder)


def dense(inputs, units):
    """Parameters of a Dense layer: weights plus biases."""
    return inputs * units + units


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def trainable_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


@pytest.fixture(scope="module")
def article_encoder():
    return build_encoder(latent_dim=2)


@pytest.fixture(scope="module")
def article_decoder():
    return build_decoder(latent_dim=2, num_classes=10)


def images(batch=5, seed=0):
    return np.random.default_rng(seed).random((batch, 784)).astype(np.float32)


# ----------------------------------------------------------------------------
# Parameter counts of the article architecture
# ----------------------------------------------------------------------------

def test_hand_computed_dense_counts():
    assert dense(784, 1000) + dense(1000, 1000) + dense(1000, 2) == 1_788_002


def test_encoder_parameter_count(article_encoder):
    expected = 784 * 1000 + 1000 + 1000 * 1000 + 1000 + 1000 * 2 + 2
    assert article_encoder.count_params() == expected == 1_788_002
    assert trainable_count(article_encoder) == expected


def test_encoder_with_classes_parameter_count():
    model = build_encoder(latent_dim=2, num_classes=10)
    assert model.count_params() == dense(784, 1000) + dense(1000, 1000) + dense(1000, 2) + dense(1000, 10)
    assert model.count_params() == 1_798_012


def test_decoder_with_classes_parameter_count(article_decoder):
    expected = dense(2 + 10, 1000) + dense(1000, 1000) + dense(1000, 784)
    assert article_decoder.count_params() == expected == 1_798_784


def test_decoder_parameter_count():
    assert build_decoder(latent_dim=2).count_params() == dense(2, 1000) + dense(1000, 1000) + dense(1000, 784)


@pytest.mark.parametrize("input_dim, expected", [(2, 1_005_001), (10, 1_013_001)])
def test_discriminator_parameter_count(input_dim, expected):
    model = build_discriminator(input_dim=input_dim)
    assert model.count_params() == dense(input_dim, 1000) + dense(1000, 1000) + dense(1000, 1) == expected


def test_classifier_parameter_count():
    model = build_classifier()
    assert model.count_params() == dense(784, 1000) + dense(1000, 1000) + dense(1000, 10) == 1_796_010


def test_gaussian_encoder_parameter_count():
    model = build_gaussian_encoder()  # 784-128 (sigmoid) -> mean 10, log_variance 10
    expected = dense(784, 128) + 2 * dense(128, 10)
    assert trainable_count(model) == expected == 103_060
    assert model.count_params() == expected  # the sampler's seed state is not a parameter


def test_custom_hidden_units():
    model = build_encoder(latent_dim=3, hidden_units=(16, 8, 4))
    assert model.count_params() == dense(784, 16) + dense(16, 8) + dense(8, 4) + dense(4, 3)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [16, 8, 4, 3]


# ----------------------------------------------------------------------------
# Shapes and activations
# ----------------------------------------------------------------------------

def test_encoder_output_shape_and_linear_codes(article_encoder):
    z = numpy(article_encoder(images(7)))
    assert z.shape == (7, 2) and z.dtype == np.float32
    assert article_encoder.get_layer("z").activation is keras.activations.linear
    assert [article_encoder.get_layer(f"encoder_hidden_{i}").activation for i in (1, 2)] == \
        [keras.activations.relu] * 2


def test_encoder_with_classes_returns_logits_then_codes():
    model = build_encoder(latent_dim=3, num_classes=10, hidden_units=(32,))
    outputs = model(images(4))
    assert isinstance(outputs, (list, tuple)) and len(outputs) == 2
    class_logits, z = (numpy(output) for output in outputs)
    assert class_logits.shape == (4, 10) and z.shape == (4, 3)
    # check the order against the named heads, computed by hand from the weights
    hidden = np.maximum(images(4) @ model.get_layer("encoder_hidden_1").kernel.numpy()
                        + model.get_layer("encoder_hidden_1").bias.numpy(), 0)
    head = model.get_layer("class_logits")
    np.testing.assert_allclose(class_logits, hidden @ head.kernel.numpy() + head.bias.numpy(), rtol=1e-4, atol=1e-5)


def test_decoder_output_shape_and_range(article_decoder):
    rng = np.random.default_rng(0)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 6)]
    z = rng.normal(0, 50, (6, 2)).astype(np.float32)  # far out: pre-activations are large
    out = numpy(article_decoder([labels, z]))
    assert out.shape == (6, 784)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_decoder_is_relu_mlp_with_sigmoid_output():
    model = build_decoder(latent_dim=4, hidden_units=(32, 16))
    z = np.random.default_rng(1).normal(0, 3, (5, 4)).astype(np.float32)
    x = z
    for name in ("decoder_hidden_1", "decoder_hidden_2"):
        layer = model.get_layer(name)
        x = np.maximum(x @ layer.kernel.numpy() + layer.bias.numpy(), 0.0)
    out_layer = model.get_layer("images")
    expected = 1.0 / (1.0 + np.exp(-(x @ out_layer.kernel.numpy() + out_layer.bias.numpy())))
    got = numpy(model(z))
    assert got.shape == (5, 784)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert np.all((got > 0.0) & (got < 1.0))


def test_decoder_without_classes_takes_only_codes():
    model = build_decoder(latent_dim=5, hidden_units=(8,))
    assert len(model.inputs) == 1 and tuple(model.inputs[0].shape) == (None, 5)
    assert numpy(model(np.zeros((3, 5), np.float32))).shape == (3, 784)


def test_decoder_with_classes_takes_labels_then_codes(article_decoder):
    assert [tuple(tensor.shape) for tensor in article_decoder.inputs] == [(None, 10), (None, 2)]


def test_discriminator_and_classifier_shapes():
    discriminator = build_discriminator(input_dim=6, hidden_units=(16,))
    assert numpy(discriminator(np.zeros((9, 6), np.float32))).shape == (9, 1)
    assert discriminator.get_layer("logit").activation is keras.activations.linear  # a logit, not a probability
    classifier = build_classifier(num_classes=7, hidden_units=(16,))
    assert numpy(classifier(images(3))).shape == (3, 7)


def test_gaussian_encoder_outputs():
    model = build_gaussian_encoder(latent_dim=6, seed=1)
    mean, log_variance, z = (numpy(output) for output in model(images(4)))
    assert mean.shape == log_variance.shape == z.shape == (4, 6)
    assert model.get_layer("gaussian_encoder_hidden_1").activation is keras.activations.sigmoid
    assert not np.allclose(z, mean)  # noise was added


def test_gaussian_encoder_is_seeded():
    first = build_gaussian_encoder(latent_dim=4, seed=21)
    second = build_gaussian_encoder(latent_dim=4, seed=21)
    second.set_weights(first.get_weights())
    x = images(8)
    z_first, z_second = numpy(first(x)[2]), numpy(second(x)[2])
    np.testing.assert_array_equal(z_first, z_second)
    other = build_gaussian_encoder(latent_dim=4, seed=22)
    other.set_weights(first.get_weights())
    assert not np.allclose(numpy(other(x)[2]), z_first)


# ----------------------------------------------------------------------------
# GaussianSampling
# ----------------------------------------------------------------------------

def test_gaussian_sampling_same_seed_same_samples():
    mean = np.zeros((100, 3), np.float32)
    log_variance = np.zeros((100, 3), np.float32)
    a = numpy(GaussianSampling(seed=3)([mean, log_variance]))
    b = numpy(GaussianSampling(seed=3)([mean, log_variance]))
    c = numpy(GaussianSampling(seed=4)([mean, log_variance]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    layer = GaussianSampling(seed=3)
    layer([mean, log_variance])
    assert not np.array_equal(numpy(layer([mean, log_variance])), a)  # a second call draws afresh


def test_gaussian_sampling_matches_mean_and_variance():
    n = 40_000
    means = np.array([1.0, -2.0, 3.0, 0.0], np.float32)
    variances = np.array([0.25, 1.0, 4.0, 0.01], np.float32)
    mean = np.tile(means, (n, 1))
    log_variance = np.tile(np.log(variances), (n, 1))
    z = numpy(GaussianSampling(seed=0)([mean, log_variance])).astype(np.float64)
    assert z.shape == (n, 4)
    standard_error = np.sqrt(variances / n)
    assert np.all(np.abs(z.mean(axis=0) - means) < 5 * standard_error)
    np.testing.assert_allclose(z.var(axis=0), variances, rtol=0.04)


def test_gaussian_sampling_config_round_trip():
    layer = GaussianSampling(seed=17, name="sampler")
    config = layer.get_config()
    assert config["seed"] == 17 and config["name"] == "sampler"
    clone = GaussianSampling.from_config(config)
    inputs = [np.full((5, 2), 0.5, np.float32), np.zeros((5, 2), np.float32)]
    np.testing.assert_array_equal(numpy(clone(inputs)), numpy(GaussianSampling(seed=17)(inputs)))


# ----------------------------------------------------------------------------
# Bad sizes
# ----------------------------------------------------------------------------

BAD_SIZES = [0, -1, 2.5, True, None, "2"]


@pytest.mark.parametrize("bad", BAD_SIZES)
@pytest.mark.parametrize("builder", [build_encoder, build_decoder, build_gaussian_encoder])
def test_bad_latent_dim(builder, bad):
    with pytest.raises(ValueError, match=f"latent_dim must be a positive integer, got {bad!r}"):
        builder(latent_dim=bad)


@pytest.mark.parametrize("bad", BAD_SIZES)
def test_bad_input_dim(bad):
    with pytest.raises(ValueError, match=f"input_dim must be a positive integer, got {bad!r}"):
        build_discriminator(input_dim=bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_num_classes_for_the_classifier(bad):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        build_classifier(num_classes=bad)


@pytest.mark.parametrize("bad", [-1, 2.5, "10"])
@pytest.mark.parametrize("builder", [build_encoder, build_decoder])
def test_bad_num_classes_for_the_heads(builder, bad):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        builder(latent_dim=2, num_classes=bad)


@pytest.mark.parametrize("hidden_units, message", [
    ((), "at least one layer"),
    ((10, 0), "every hidden_units entry"),
    ((10, 2.5), "every hidden_units entry"),
    ((True,), "every hidden_units entry"),
])
@pytest.mark.parametrize("builder", [build_encoder, build_decoder, build_discriminator, build_classifier,
                                     build_gaussian_encoder])
def test_bad_hidden_units(builder, hidden_units, message):
    with pytest.raises(ValueError, match=message):
        builder(hidden_units=hidden_units)


def test_article_defaults():
    assert models.HIDDEN_UNITS == (1000, 1000)


# ----------------------------------------------------------------------------
# The improved recipe's convolutional encoder
def test_conv_encoder_heads_and_classifier_only_shapes():
    logits, z = improved.build_conv_encoder(latent_dim=3, num_classes=10)(images(4))
    assert numpy(logits).shape == (4, 10) and numpy(z).shape == (4, 3)
    assert numpy(improved.build_conv_encoder(latent_dim=0, num_classes=10)(images(4))).shape == (4, 10)


def test_conv_encoder_normalizes_every_convolution_and_the_dense_layer():
    norms = [layer.name for layer in improved.build_conv_encoder(latent_dim=2).layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 4  # 3 convs + dense


def test_conv_encoder_batch_norm_uses_batch_statistics_only_in_training():
    encoder = improved.build_conv_encoder(latent_dim=0, num_classes=10)
    first, others = images(1, seed=1), images(7, seed=2)
    alone = numpy(encoder(first, training=False))
    with_others = numpy(encoder(np.concatenate([first, others]), training=False))[:1]
    np.testing.assert_allclose(alone, with_others, rtol=1e-5, atol=1e-5)
    trained_alone = numpy(encoder(np.concatenate([first, first]), training=True))[:1]
    trained_with_others = numpy(encoder(np.concatenate([first, others]), training=True))[:1]
    assert np.abs(trained_alone - trained_with_others).max() > 1e-3
