"""Losses as small pure functions; each returns a scalar averaged over the batch.

Every loss computes in float32, whatever the dtype of the network outputs it gets (bfloat16
under a "mixed_bfloat16" policy); float32 inputs pass through unchanged.
"""

import math

import keras
from keras import ops


def _float32(*tensors):
    return [ops.cast(tensor, "float32") for tensor in tensors]


def reconstruction_loss(images, reconstructions):
    """Mean squared error, averaged over pixels and batch (the articles' loss)."""
    images, reconstructions = _float32(images, reconstructions)
    return ops.mean(ops.square(images - reconstructions))


def discriminator_loss(real_logits, fake_logits):
    """Cross-entropy of telling prior samples (label 1) from codes (label 0).

    The sum of the two batch means, so chance level is 2 ln 2 ~ 1.386.
    """
    real_logits, fake_logits = _float32(real_logits, fake_logits)
    real = keras.losses.binary_crossentropy(ops.ones_like(real_logits), real_logits, from_logits=True)
    fake = keras.losses.binary_crossentropy(ops.zeros_like(fake_logits), fake_logits, from_logits=True)
    return ops.mean(real) + ops.mean(fake)


def generator_loss(fake_logits):
    """Cross-entropy of the discriminator calling the encoder's codes real (label 1); batch mean."""
    (fake_logits,) = _float32(fake_logits)
    return ops.mean(keras.losses.binary_crossentropy(ops.ones_like(fake_logits), fake_logits,
                                                     from_logits=True))


def classification_loss(labels, logits):
    """Sparse softmax cross-entropy of integer labels (batch,) against logits (batch, 10); batch mean."""
    (logits,) = _float32(logits)
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def gaussian_kl(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)), summed over latent dims, batch mean."""
    mean, log_variance = _float32(mean, log_variance)
    per_dim = 0.5 * (ops.square(mean) + ops.exp(log_variance) - 1.0 - log_variance)
    return ops.mean(ops.sum(per_dim, axis=-1))


def gaussian_negative_log_likelihood(images, reconstructions, std=0.5):
    """-log N(images | reconstructions, std^2), summed over pixels, batch mean (VAE article: std 0.5)."""
    images, reconstructions = _float32(images, reconstructions)
    squared = ops.square(images - reconstructions) / (2.0 * std * std)
    constant = math.log(std) + 0.5 * math.log(2.0 * math.pi)
    return ops.mean(ops.sum(squared + constant, axis=-1))


def balance_loss(logits):
    """log k - H(mean of softmax(logits) over the batch): 0 when the batch spreads evenly over the
    k categories, up to log k when every image picks the same one. logits (batch, k)."""
    (logits,) = _float32(logits)
    share = ops.mean(ops.softmax(logits), axis=0)                       # (k,)
    return math.log(logits.shape[-1]) + ops.sum(share * ops.log(share + 1e-8))


def categorical_kl(probabilities, logits):
    """KL(p || softmax(logits)) over the last axis, batch mean: probabilities (batch, k) are held
    fixed, so the gradient moves softmax(logits) towards them."""
    probabilities, logits = _float32(ops.stop_gradient(probabilities), logits)
    return ops.mean(ops.sum(probabilities * (ops.log(probabilities + 1e-8) - ops.log_softmax(logits)), axis=-1))
