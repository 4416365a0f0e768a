"""Parts 2 and 3: adversarial autoencoders, unsupervised and with the label fed to the decoder."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from aae_helpers.losses import discriminator_loss, generator_loss, reconstruction_loss
from aae_helpers.models import HIDDEN_UNITS, NARROW_HIDDEN_UNITS, build_discriminator
from aae_helpers.priors import get_prior, sample_prior
from aae_helpers.trainers.autoencoder import Autoencoder
from aae_helpers.checks import NUM_CLASSES, check_codes, check_images, check_labels, check_number
from aae_helpers.trainers.base import in_batches, split_batch


class AdversarialPhases:
    """The regularization phase every adversarial trainer runs: a discriminator step, then a
    generator step, on the codes `self.encoder` gives a batch. The trainer defines
    `adversarial_losses(codes, labels, training)` -> (discriminator_loss, generator_loss)."""

    def regularization_losses(self, images, labels, training):
        """(discriminator_loss, generator_loss) for one batch of images (and their labels)."""
        return self.adversarial_losses(self.encoder(images, training=training), labels, training)

    def regularization_phase(self, images, labels=None):
        """Train the discriminator, then the encoder against it; returns both losses."""
        # 2a) Discriminator step: prior samples are real (1), codes fake (0).
        with tf.GradientTape() as tape:
            disc_loss, _ = self.regularization_losses(images, labels, training=True)
        self.apply_phase("discriminator", tape, disc_loss)
        # 2b) Generator step: the encoder alone learns to make the discriminator call its codes real.
        with tf.GradientTape() as tape:
            _, gen_loss = self.regularization_losses(images, labels, training=True)
        self.apply_phase("generator", tape, gen_loss)
        return disc_loss, gen_loss


@keras.saving.register_keras_serializable(package="aae_helpers")
class AdversarialAutoencoder(AdversarialPhases, Autoencoder):
    """An autoencoder whose codes a discriminator pushes towards a prior (Part 2)."""

    phases = ("autoencoder", "discriminator", "generator")
    tracker_names = ("reconstruction_loss", "discriminator_loss", "generator_loss")
    # Adam's beta_1 = 0.5, the usual adversarial setting, not the article's 0.9: with 0.9 the
    # 15-D supervised AAE's discriminator and generator losses swung to 10-35 on the offline
    # digits; with 0.5 they settled near chance and the codes reached the prior's std.
    default_beta_1 = 0.5

    def __init__(self, latent_dim=2, prior="gaussian", prior_std=5.0, hidden_units=HIDDEN_UNITS,
                 seed=0, **kwargs):
        get_prior(prior)  # fail early on an unknown name
        check_number(prior_std, "prior_std")
        if prior in ("mixture_of_gaussians", "swiss_roll"):
            sample_prior(prior, 1, latent_dim)  # fail early on a 2-D-only prior
        super().__init__(latent_dim=latent_dim, hidden_units=hidden_units, seed=seed, **kwargs)
        self.prior = prior
        self.prior_std = float(prior_std)
        self.discriminator = build_discriminator(self.discriminator_input_dim(), hidden_units=self.hidden_units)

    def get_config(self):
        return {**super().get_config(), "prior": self.prior, "prior_std": self.prior_std}

    def phase_variables(self):
        return {"autoencoder": self.encoder.trainable_variables + self.decoder.trainable_variables,
                "discriminator": self.discriminator.trainable_variables,
                "generator": self.encoder.trainable_variables}

    def discriminator_input_dim(self):
        """The width of what the discriminator judges (see `judged`): latent_dim."""
        return self.latent_dim

    def draw_prior(self, num_samples):
        """(num_samples, latent_dim) samples of the prior, from the trainer's seed stream."""
        return self.sample_prior(self.prior, num_samples, self.latent_dim, std=self.prior_std)

    def reconstruct_batch(self, images, labels, training):
        return self.decoder(self.encoder(images, training=training), training=training)

    def judged(self, z, labels):
        """What the discriminator reads for codes or prior samples z: z itself."""
        return z

    def adversarial_losses(self, codes, labels, training):
        """(discriminator_loss, generator_loss) for a batch of codes against as many prior samples."""
        prior_samples = self.draw_prior(ops.shape(codes)[0])
        fake_logits = self.discriminator(self.judged(codes, labels), training=training)
        real_logits = self.discriminator(self.judged(prior_samples, labels), training=training)
        return discriminator_loss(real_logits, fake_logits), generator_loss(fake_logits)

    def train_step(self, data):
        images, labels = split_batch(data)
        # 1) Reconstruction phase: encoder + decoder.
        with tf.GradientTape() as tape:
            rec_loss = reconstruction_loss(images, self.reconstruct_batch(images, labels, True))
        self.apply_phase("autoencoder", tape, rec_loss)
        # 2) Regularization phase: the discriminator, then the encoder as its generator.
        disc_loss, gen_loss = self.regularization_phase(images, labels)
        return self.record(reconstruction_loss=rec_loss, discriminator_loss=disc_loss,
                           generator_loss=gen_loss)

    def evaluate_batch(self, images, labels):
        disc_loss, gen_loss = self.regularization_losses(images, labels, training=False)
        rec_loss = reconstruction_loss(images, self.reconstruct_batch(images, labels, False))
        return self.record(reconstruction_loss=rec_loss, discriminator_loss=disc_loss,
                           generator_loss=gen_loss)

    def generate(self, num_samples, seed=0):
        """Decode `num_samples` prior samples: images (num_samples, 784)."""
        z = sample_prior(self.prior, num_samples, self.latent_dim, seed=seed, std=self.prior_std)
        return self.decode(np.asarray(z))


@keras.saving.register_keras_serializable(package="aae_helpers")
class SupervisedAdversarialAutoencoder(AdversarialAutoencoder):
    """Part 3: the decoder sees [one-hot label, z], so z only has to hold the style.

    discriminator_sees_label=True (notebook 03's model; the article's has False and latent_dim=15;
    both have hidden layers of 500 units in the notebook, the article's 1000):
    the discriminator judges (z, label) pairs, a prior sample with the batch's label against a code
    with its own label. It can only be fooled when the codes of every digit follow the prior, so
    the code cannot carry the class.
    """

    decoder_classes = NUM_CLASSES

    def __init__(self, latent_dim=8, prior="gaussian", prior_std=5.0, hidden_units=NARROW_HIDDEN_UNITS,
                 discriminator_sees_label=True, seed=0, **kwargs):
        if not isinstance(discriminator_sees_label, (bool, np.bool_)):
            raise ValueError(f"discriminator_sees_label must be True or False, got {discriminator_sees_label!r}.")
        # Set first: the discriminator is built (once, at its width) inside super().__init__.
        self.discriminator_sees_label = bool(discriminator_sees_label)
        super().__init__(latent_dim=latent_dim, prior=prior, prior_std=prior_std,
                         hidden_units=hidden_units, seed=seed, **kwargs)

    def get_config(self):
        return {**super().get_config(), "discriminator_sees_label": self.discriminator_sees_label}

    def discriminator_input_dim(self):
        """latent_dim, plus the one-hot label's 10 when the discriminator sees it."""
        return self.latent_dim + (NUM_CLASSES if self.discriminator_sees_label else 0)

    def judged(self, z, labels):
        """What the discriminator reads: z, or [z, one-hot label] when it sees the label."""
        if not self.discriminator_sees_label:
            return z
        if labels is None:
            raise ValueError("this supervised AAE's discriminator judges (z, label) pairs; got images alone.")
        return ops.concatenate([z, ops.one_hot(ops.cast(labels, "int32"), NUM_CLASSES)], axis=-1)

    def reconstruct_batch(self, images, labels, training):
        if labels is None:
            raise ValueError("the supervised AAE trains on (images, labels) pairs; got images alone.")
        one_hot = ops.one_hot(ops.cast(labels, "int32"), NUM_CLASSES)
        return self.decoder([one_hot, self.encoder(images, training=training)], training=training)

    def decode(self, z, labels):
        """z (n, latent_dim) and digits (n,) in 0..9 -> images (n, 784)."""
        z = check_codes(z, self.latent_dim)
        one_hot = np.eye(NUM_CLASSES, dtype=np.float32)[check_labels(labels, len(z))]
        return in_batches(lambda y, c: self.decoder([y, c], training=False), one_hot, z)

    def reconstruct(self, images, labels):
        """images (n, 784) with their labels (n,) -> reconstructions (n, 784)."""
        images = check_images(images)
        return self.decode(self.encode(images), check_labels(labels, len(images)))

    def sample_styles(self, num_styles, seed=0):
        """(num_styles, latent_dim) styles z drawn from the prior."""
        return np.asarray(sample_prior(self.prior, num_styles, self.latent_dim, seed=seed, std=self.prior_std))

    def generate(self, digits, z=None, seed=0):
        """Draw the digits (n,) in one style each: z (n, latent_dim) given or sampled from the prior."""
        digits = check_labels(np.atleast_1d(digits), name="digits")
        return self.decode(self.sample_styles(len(digits), seed) if z is None else z, digits)
