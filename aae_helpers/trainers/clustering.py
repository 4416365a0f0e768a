"""The AAE paper's section 5: cluster digits with no label at all."""

import keras
import tensorflow as tf
from keras import ops

from aae_helpers.checks import check_codes, check_count, check_hidden_units, check_images, check_number
from aae_helpers.data import MnistData
from aae_helpers.losses import (balance_loss, categorical_kl, discriminator_loss, generator_loss,
                                reconstruction_loss)
from aae_helpers.models import HIDDEN_UNITS, build_decoder, build_discriminator, build_encoder
from aae_helpers.priors import sample_prior
from aae_helpers.trainers.adversarial import AdversarialPhases
from aae_helpers.trainers.base import Trainer, epoch_batches, in_batches


def unit_length(vectors):
    """Each row of vectors (n, d) scaled to length 1."""
    return vectors / (ops.sqrt(ops.sum(ops.square(vectors), axis=-1, keepdims=True)) + 1e-8)


@keras.saving.register_keras_serializable(package="aae_helpers")
class ClusteringAdversarialAutoencoder(AdversarialPhases, Trainer):
    """Encoder heads y (softmax over num_clusters) and z (latent_dim); D_cat pushes y towards
    one-hot samples of a uniform categorical, D_gauss pushes z towards N(0, prior_std^2 I); the
    decoder rebuilds the image from [y, z].

    Notebook 04's semi-supervised AAE with its labelled phase removed: no label reaches any loss
    (the training batches hold images alone), so what y comes to mean is whatever helps the
    decoder most within num_clusters one-hot choices.

    Two terms in the encoder's generator step are notebook 06's additions (0 in the paper's
    recipe): balance_weight x balance_loss (every cluster used within a batch) and
    smoothness_weight x the KL between q(y|x) and q(y|x + r), r the nudge of length
    smoothness_radius that changes q(y|x) most (virtual adversarial training).
    """

    phases = ("autoencoder", "discriminator", "generator")
    tracker_names = ("reconstruction_loss", "discriminator_loss", "generator_loss")
    default_beta_1 = 0.5  # the adversarial setting of notebooks 02-04

    def __init__(self, num_clusters=16, latent_dim=5, prior_std=1.0, hidden_units=HIDDEN_UNITS,
                 balance_weight=10.0, smoothness_weight=10.0, smoothness_radius=2.0, seed=0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.num_clusters = check_count(num_clusters, "num_clusters")
        if self.num_clusters < 2:
            raise ValueError(f"num_clusters must be at least 2, got {num_clusters!r}.")
        self.latent_dim = check_count(latent_dim, "latent_dim")
        self.prior_std = check_number(prior_std, "prior_std")
        self.hidden_units = check_hidden_units(hidden_units)
        self.balance_weight = check_number(balance_weight, "balance_weight", allow_minimum=True)
        self.smoothness_weight = check_number(smoothness_weight, "smoothness_weight", allow_minimum=True)
        self.smoothness_radius = check_number(smoothness_radius, "smoothness_radius")
        for name in ("balance_loss", "smoothness_loss"):
            if getattr(self, name.replace("loss", "weight")):
                self.trackers[name] = keras.metrics.Mean(name=name)
        self.encoder = build_encoder(latent_dim, num_classes=self.num_clusters, hidden_units=self.hidden_units)
        self.decoder = build_decoder(latent_dim, num_classes=self.num_clusters, hidden_units=self.hidden_units)
        self.category_discriminator = build_discriminator(self.num_clusters, self.hidden_units,
                                                          name="category_discriminator")
        self.style_discriminator = build_discriminator(latent_dim, self.hidden_units, name="style_discriminator")

    def get_config(self):
        return {**super().get_config(), "num_clusters": self.num_clusters, "latent_dim": self.latent_dim,
                "prior_std": self.prior_std, "hidden_units": list(self.hidden_units),
                "balance_weight": self.balance_weight, "smoothness_weight": self.smoothness_weight,
                "smoothness_radius": self.smoothness_radius}

    def phase_variables(self):
        encoder = self.encoder.trainable_variables
        return {"autoencoder": encoder + self.decoder.trainable_variables,
                "discriminator": (self.category_discriminator.trainable_variables
                                  + self.style_discriminator.trainable_variables),
                "generator": encoder}

    def make_dataset(self, data: MnistData, batch_size=100, first_epoch=0):
        """Batches of training images alone: the labels never enter training."""
        return epoch_batches((data.x_train,), batch_size, self.steps_per_epoch(data, batch_size),
                             self.seed, first_epoch)

    def adversarial_losses(self, codes, labels, training):
        """(discriminator_loss, generator_loss) of D_cat on softmax(cluster_logits) and D_gauss on
        z, for codes = [cluster_logits, z], each against as many prior samples."""
        cluster_logits, z = codes
        batch = ops.shape(z)[0]
        categories = sample_prior("categorical", batch, self.num_clusters, seed=self.seed_generator)
        styles = self.sample_prior("gaussian", batch, self.latent_dim, std=self.prior_std)
        fake_cat = self.category_discriminator(ops.softmax(cluster_logits), training=training)
        fake_style = self.style_discriminator(z, training=training)
        disc_loss = (discriminator_loss(self.category_discriminator(categories, training=training), fake_cat)
                     + discriminator_loss(self.style_discriminator(styles, training=training), fake_style))
        return disc_loss, generator_loss(fake_cat) + generator_loss(fake_style)

    def reconstruct_batch(self, images, training):
        cluster_logits, z = self.encoder(images, training=training)
        return self.decoder([ops.softmax(cluster_logits), z], training=training)

    def smoothness_loss(self, images, cluster_logits):
        """KL(q(y|x) || q(y|x + r)), batch mean, where r (length smoothness_radius) is the nudge of
        the images that changes q(y|x) most, found by one step of power iteration."""
        images, probabilities = ops.cast(images, "float32"), ops.softmax(cluster_logits)
        nudge = 0.1 * unit_length(keras.random.normal(ops.shape(images), seed=self.seed_generator))
        with tf.GradientTape() as tape:
            tape.watch(nudge)
            change = categorical_kl(probabilities, self.encoder(images + nudge, training=True)[0])
        worst = ops.stop_gradient(self.smoothness_radius * unit_length(tape.gradient(change, nudge)))
        return categorical_kl(probabilities, self.encoder(images + worst, training=True)[0])

    def train_step(self, images):
        # 1) Reconstruction phase: encoder + decoder.
        with tf.GradientTape() as tape:
            rec_loss = reconstruction_loss(images, self.reconstruct_batch(images, True))
        self.apply_phase("autoencoder", tape, rec_loss)
        # 2a) Regularization phase: D_cat and D_gauss learn to tell prior samples from y and z.
        with tf.GradientTape() as tape:
            disc_loss, _ = self.regularization_losses(images, None, training=True)
        self.apply_phase("discriminator", tape, disc_loss)
        # 2b) The encoder learns to fool both; our two terms (off in the paper's recipe) also
        #     make it use every cluster and keep each image's cluster under a small nudge.
        with tf.GradientTape() as tape:
            cluster_logits, z = self.encoder(images, training=True)
            _, gen_loss = self.adversarial_losses((cluster_logits, z), None, training=True)
            total, extra = gen_loss, {}
            if self.balance_weight:
                extra["balance_loss"] = balance_loss(cluster_logits)
                total += self.balance_weight * extra["balance_loss"]
            if self.smoothness_weight:
                extra["smoothness_loss"] = self.smoothness_loss(images, cluster_logits)
                total += self.smoothness_weight * extra["smoothness_loss"]
        self.apply_phase("generator", tape, total)
        return self.record(reconstruction_loss=rec_loss, discriminator_loss=disc_loss,
                           generator_loss=gen_loss, **extra)

    def evaluate_batch(self, images, labels):
        disc_loss, gen_loss = self.regularization_losses(images, None, training=False)
        return self.record(reconstruction_loss=reconstruction_loss(images, self.reconstruct_batch(images, False)),
                           discriminator_loss=disc_loss, generator_loss=gen_loss)

    # ---- what the notebook uses ------------------------------------------------------
    def encode(self, images):
        """images (n, 784) -> (cluster probabilities q(y|x) (n, num_clusters), z (n, latent_dim))."""
        def run(x):
            cluster_logits, z = self.encoder(x, training=False)
            return ops.softmax(cluster_logits), z
        return in_batches(run, check_images(images))

    def cluster_probabilities(self, images):
        """images (n, 784) -> q(y|x) (n, num_clusters)."""
        return self.encode(images)[0]

    def decode(self, z, cluster_probabilities):
        """z (n, latent_dim) and cluster probabilities or one-hot (n, num_clusters) -> images (n, 784)."""
        z = check_codes(z, self.latent_dim)
        clusters = check_codes(cluster_probabilities, self.num_clusters, name="cluster_probabilities")
        return in_batches(lambda y, c: self.decoder([y, c], training=False), clusters, z)

    def reconstruct(self, images):
        """images (n, 784) -> reconstructions (n, 784), through each image's cluster probabilities."""
        probabilities, z = self.encode(images)
        return self.decode(z, probabilities)

    def sample_styles(self, num_styles, seed=0):
        """(num_styles, latent_dim) styles z drawn from the Gaussian prior."""
        return ops.convert_to_numpy(sample_prior("gaussian", num_styles, self.latent_dim, seed=seed,
                                                 std=self.prior_std))

    def generate(self, clusters, z):
        """Decode cluster numbers (n,) in 0..num_clusters-1 with styles z (n, latent_dim)."""
        clusters = ops.convert_to_numpy(clusters).astype("int64").reshape(-1)
        if clusters.size and (clusters.min() < 0 or clusters.max() >= self.num_clusters):
            raise ValueError(f"clusters must be integers in 0..{self.num_clusters - 1}, got values from "
                             f"{clusters.min()} to {clusters.max()}.")
        return self.decode(z, ops.convert_to_numpy(ops.one_hot(clusters, self.num_clusters)))
