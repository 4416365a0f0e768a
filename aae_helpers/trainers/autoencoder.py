"""Part 1: a plain autoencoder trained on reconstruction alone."""

import keras
import tensorflow as tf

from aae_helpers.losses import reconstruction_loss
from aae_helpers.checks import check_codes, check_hidden_units, check_images
from aae_helpers.models import HIDDEN_UNITS, build_decoder, build_encoder
from aae_helpers.trainers.base import Trainer, in_batches, split_batch


@keras.saving.register_keras_serializable(package="aae_helpers")
class Autoencoder(Trainer):
    """images (batch, 784) -> z (batch, latent_dim) -> reconstructions (batch, 784)."""

    phases = ("autoencoder",)
    tracker_names = ("reconstruction_loss",)

    def __init__(self, latent_dim=2, hidden_units=HIDDEN_UNITS, seed=0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.latent_dim = latent_dim
        self.hidden_units = check_hidden_units(hidden_units)
        self.encoder = build_encoder(latent_dim, hidden_units=self.hidden_units)
        self.decoder = build_decoder(latent_dim, num_classes=self.decoder_classes,
                                     hidden_units=self.hidden_units)

    decoder_classes = 0

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "hidden_units": list(self.hidden_units)}

    def phase_variables(self):
        return {"autoencoder": self.encoder.trainable_variables + self.decoder.trainable_variables}

    def train_step(self, data):
        images, _ = split_batch(data)
        # 1) Reconstruction phase: encoder and decoder learn to copy the images.
        with tf.GradientTape() as tape:
            reconstructions = self.decoder(self.encoder(images, training=True), training=True)
            loss = reconstruction_loss(images, reconstructions)
        self.apply_phase("autoencoder", tape, loss)
        return self.record(reconstruction_loss=loss)

    def evaluate_batch(self, images, labels):
        reconstructions = self.decoder(self.encoder(images))
        return self.record(reconstruction_loss=reconstruction_loss(images, reconstructions))

    # ---- what the notebooks use: numpy in, numpy out, batched -------------------------
    def encode(self, images):
        """images (n, 784) in [0, 1] -> codes z (n, latent_dim)."""
        return in_batches(lambda x: self.encoder(x, training=False), check_images(images))

    def decode(self, z):
        """codes z (n, latent_dim) -> images (n, 784) in [0, 1]."""
        return in_batches(lambda c: self.decoder(c, training=False), check_codes(z, self.latent_dim))

    def reconstruct(self, images):
        """images (n, 784) -> reconstructions (n, 784)."""
        return self.decode(self.encode(images))
