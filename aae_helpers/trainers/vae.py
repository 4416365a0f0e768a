"""The VAE article: a VAE whose latent vector includes a predicted one-hot digit."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from aae_helpers.losses import classification_loss, gaussian_kl, gaussian_negative_log_likelihood
from aae_helpers.checks import NUM_CLASSES, check_codes, check_hidden_units, check_images, check_labels, check_number
from aae_helpers.models import build_classifier, build_decoder, build_gaussian_encoder
from aae_helpers.priors import sample_prior
from aae_helpers.trainers.base import Trainer, in_batches, split_batch
from aae_helpers.trainers.semi_supervised import correct


@keras.saving.register_keras_serializable(package="aae_helpers")
class ClassifierVAE(Trainer):
    """q(z|x) encoder, classifier p(y|x) and decoder p(x | [y, z]); one loss, one optimizer.

    loss = -log N(x | decoder([y, z]), decoder_std^2) + KL(q(z|x) || N(0, I))
           + classifier_weight * cross-entropy(labels, classifier(x))
    """

    phases = ("vae",)
    tracker_names = ("loss", "vae_loss", "reconstruction_loss", "kl_loss", "classification_loss",
                     "accuracy")

    def __init__(self, latent_dim=10, hidden_units=(128,), activation="sigmoid",
                 classifier_weight=10.0, decoder_std=0.5, seed=0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.latent_dim = latent_dim
        self.hidden_units = check_hidden_units(hidden_units)
        self.activation = activation
        self.classifier_weight = check_number(classifier_weight, "classifier_weight", allow_minimum=True)
        self.decoder_std = check_number(decoder_std, "decoder_std")
        self.encoder = build_gaussian_encoder(latent_dim, self.hidden_units, activation, seed=seed)
        self.classifier = build_classifier(NUM_CLASSES, self.hidden_units, activation)
        self.decoder = build_decoder(latent_dim, num_classes=NUM_CLASSES,
                                     hidden_units=self.hidden_units, activation=activation)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "hidden_units": list(self.hidden_units), "activation": self.activation,
                "classifier_weight": self.classifier_weight, "decoder_std": self.decoder_std}

    def phase_variables(self):
        return {"vae": (self.encoder.trainable_variables + self.classifier.trainable_variables
                        + self.decoder.trainable_variables)}

    def losses_for(self, images, labels, training):
        mean, log_variance, z = self.encoder(images, training=training)
        class_logits = self.classifier(images, training=training)
        reconstructions = self.decoder([ops.softmax(class_logits), z], training=training)
        rec_loss = gaussian_negative_log_likelihood(images, reconstructions, self.decoder_std)
        kl_loss = gaussian_kl(mean, log_variance)
        class_loss = classification_loss(labels, class_logits)
        return {"loss": rec_loss + kl_loss + self.classifier_weight * class_loss,
                "vae_loss": rec_loss + kl_loss, "reconstruction_loss": rec_loss,
                "kl_loss": kl_loss, "classification_loss": class_loss,
                "accuracy": correct(labels, class_logits)}

    def train_step(self, data):
        images, labels = split_batch(data)
        # One phase: the ELBO and the weighted classifier loss, optimised together.
        with tf.GradientTape() as tape:
            values = self.losses_for(images, labels, training=True)
        self.apply_phase("vae", tape, values["loss"])
        return self.record(**values)

    def evaluate_batch(self, images, labels):
        return self.record(**self.losses_for(images, labels, training=False))

    # ---- what the notebooks use ------------------------------------------------------
    def encode(self, images):
        """images (n, 784) -> posterior means (n, latent_dim)."""
        return in_batches(lambda x: self.encoder(x, training=False)[0], check_images(images))

    def classify(self, images):
        """images (n, 784) -> class probabilities (n, 10)."""
        return in_batches(lambda x: ops.softmax(self.classifier(x, training=False)), check_images(images))

    def decode(self, z, class_probabilities):
        """z (n, latent_dim) and class probabilities or one-hot (n, 10) -> images (n, 784)."""
        z = check_codes(z, self.latent_dim)
        classes = check_codes(class_probabilities, NUM_CLASSES, name="class_probabilities")
        return in_batches(lambda y, c: self.decoder([y, c], training=False), classes, z)

    def reconstruct(self, images):
        """images (n, 784) -> reconstructions from the posterior mean and predicted class."""
        images = check_images(images)
        return self.decode(self.encode(images), self.classify(images))

    def sample_styles(self, num_styles, seed=0):
        """(num_styles, latent_dim) styles z drawn from the prior N(0, I)."""
        return np.asarray(sample_prior("gaussian", num_styles, self.latent_dim, seed=seed, std=1.0))

    def generate(self, digits, z=None, seed=0):
        """Decode one-hot digits (n,) with z (n, latent_dim) from N(0, I) unless given."""
        digits = check_labels(np.atleast_1d(digits), name="digits")
        z = self.sample_styles(len(digits), seed) if z is None else z
        return self.decode(z, np.eye(NUM_CLASSES, dtype=np.float32)[digits])
