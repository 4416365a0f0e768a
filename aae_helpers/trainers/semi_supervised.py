"""Part 4: classify digits from 1000 labels with a semi-supervised AAE, and its baseline."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from aae_helpers.data import MnistData, labelled_subset
from aae_helpers.losses import (classification_loss, discriminator_loss, generator_loss,
                                reconstruction_loss)
from aae_helpers.checks import (NUM_CLASSES, check_batch_size, check_codes, check_count, check_hidden_units, check_images,
                                check_labels, check_number)
from aae_helpers.models import HIDDEN_UNITS, build_classifier, build_decoder, build_discriminator, build_encoder
from aae_helpers.priors import sample_prior
from aae_helpers.trainers.adversarial import AdversarialPhases
from aae_helpers.trainers.base import Trainer, epoch_batches, in_batches, split_batch


def correct(labels, logits):
    """1.0 where argmax(logits) equals the label, else 0.0: (batch,)."""
    return ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int64")), "float32")


@keras.saving.register_keras_serializable(package="aae_helpers")
class SemiSupervisedAdversarialAutoencoder(AdversarialPhases, Trainer):
    """Encoder heads y (softmax, 10) and z (latent_dim); D_cat on y, D_gauss on z; decoder([y, z]).

    The article's dense 784-1000-1000 networks. style_sees_class and label_swap are notebook 04's
    additions (its model has both; the article's recipe has neither: pass False for both).
    """

    phases = ("autoencoder", "discriminator", "generator", "classifier")
    tracker_names = ("reconstruction_loss", "discriminator_loss", "generator_loss",
                     "classification_loss", "accuracy")

    def __init__(self, latent_dim=10, prior_std=5.0, labels_per_class=100, hidden_units=HIDDEN_UNITS,
                 style_sees_class=True, label_swap=True, seed=0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for name, value in (("style_sees_class", style_sees_class), ("label_swap", label_swap)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {value!r}.")
        self.style_sees_class, self.label_swap = bool(style_sees_class), bool(label_swap)
        if self.label_swap:
            self.phases = (*self.phases, "label_swap")
            self.trackers["label_swap_loss"] = keras.metrics.Mean(name="label_swap_loss")
        self.latent_dim = latent_dim
        self.prior_std = check_number(prior_std, "prior_std")
        self.labels_per_class = check_count(labels_per_class, "labels_per_class")
        self.hidden_units = check_hidden_units(hidden_units)
        self.encoder, self.decoder = self.build_autoencoder()
        self.category_discriminator = build_discriminator(NUM_CLASSES, self.hidden_units,
                                                          name="category_discriminator")
        self.style_discriminator = build_discriminator(
            latent_dim + (NUM_CLASSES if self.style_sees_class else 0), self.hidden_units,
            name="style_discriminator")

    def build_autoencoder(self):
        """(encoder, decoder): the article's dense networks, the encoder with heads y and z."""
        return (build_encoder(self.latent_dim, num_classes=NUM_CLASSES, hidden_units=self.hidden_units),
                build_decoder(self.latent_dim, num_classes=NUM_CLASSES, hidden_units=self.hidden_units))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "prior_std": self.prior_std,
                "labels_per_class": self.labels_per_class, "hidden_units": list(self.hidden_units),
                "style_sees_class": self.style_sees_class, "label_swap": self.label_swap}

    def phase_variables(self):
        encoder = self.encoder.trainable_variables
        swap = {"label_swap": self.decoder.trainable_variables} if self.label_swap else {}
        return {"autoencoder": encoder + self.decoder.trainable_variables,
                "discriminator": (self.category_discriminator.trainable_variables
                                  + self.style_discriminator.trainable_variables),
                "generator": encoder,
                # The class head and the shared layers; the z head gets no gradient here.
                "classifier": [v for v in encoder if not any(
                    v is z_var for z_var in self.encoder.get_layer("z").trainable_variables)],
                **swap}

    def make_dataset(self, data: MnistData, batch_size=100, first_epoch=0):
        """Unlabelled batches (one pass over all training images per epoch), each zipped with
        a batch of the labelled subset (drawn from the training split, seeded)."""
        steps = self.steps_per_epoch(data, batch_size)
        labelled_images, labelled_labels = labelled_subset(data, self.labels_per_class, seed=self.seed)
        unlabelled = epoch_batches((data.x_train,), batch_size, steps, self.seed, first_epoch)
        labelled = epoch_batches((labelled_images, labelled_labels.astype(np.int32)),
                                 min(batch_size, len(labelled_labels)), steps, self.seed + 1, first_epoch)
        return tf.data.Dataset.zip((unlabelled, labelled))

    def judged_style(self, z, class_logits):
        """What D_gauss reads: z, or [z, one-hot predicted class] when it sees the class."""
        if not self.style_sees_class:
            return z
        return ops.concatenate([z, ops.one_hot(ops.argmax(class_logits, axis=-1), NUM_CLASSES)], axis=-1)

    def adversarial_losses(self, codes, labels, training):
        """(discriminator_loss, generator_loss) of D_cat on softmax(class_logits) and D_gauss on z,
        for codes = [class_logits, z], each against as many prior samples."""
        class_logits, z = codes
        batch = ops.shape(z)[0]
        categories = sample_prior("categorical", batch, NUM_CLASSES, seed=self.seed_generator)
        styles = self.sample_prior("gaussian", batch, self.latent_dim, std=self.prior_std)
        fake_cat = self.category_discriminator(ops.softmax(class_logits), training=training)
        fake_style = self.style_discriminator(self.judged_style(z, class_logits), training=training)
        real_style = self.style_discriminator(self.judged_style(styles, class_logits), training=training)
        disc_loss = (discriminator_loss(self.category_discriminator(categories, training=training), fake_cat)
                     + discriminator_loss(real_style, fake_style))
        return disc_loss, generator_loss(fake_cat) + generator_loss(fake_style)

    def label_swap_phase(self, batch):
        """The decoder draws `batch` random digits in prior styles and learns to draw them so that the
        encoder's class head reads the digit it was asked for; returns that cross-entropy."""
        digits = keras.random.randint((batch,), 0, NUM_CLASSES, seed=self.seed_generator)
        styles = self.sample_prior("gaussian", batch, self.latent_dim, std=self.prior_std)
        with tf.GradientTape() as tape:
            drawn = self.decoder([ops.one_hot(digits, NUM_CLASSES), styles], training=True)
            class_logits, _ = self.encoder(drawn, training=False)
            loss = classification_loss(digits, class_logits)
        self.apply_phase("label_swap", tape, loss)
        return loss

    def reconstruct_batch(self, images, training):
        class_logits, z = self.encoder(images, training=training)
        return self.decoder([ops.softmax(class_logits), z], training=training)

    def train_step(self, data):
        images, (labelled_images, labels) = data
        # 1) Reconstruction phase: encoder + decoder on the unlabelled batch.
        with tf.GradientTape() as tape:
            rec_loss = reconstruction_loss(images, self.reconstruct_batch(images, True))
        self.apply_phase("autoencoder", tape, rec_loss)
        # 2) Regularization phase: D_cat and D_gauss learn to spot the encoder's y and z, then the
        #    encoder learns to fool both.
        disc_loss, gen_loss = self.regularization_phase(images)
        # 3) Semi-supervised classification phase: the y head on a labelled batch.
        with tf.GradientTape() as tape:
            class_logits, _ = self.encoder(labelled_images, training=True)
            class_loss = classification_loss(labels, class_logits)
        self.apply_phase("classifier", tape, class_loss)
        losses = {}
        if self.label_swap:
            # 4) Label-swap phase (not in the article): the decoder learns to draw the digit it is given.
            losses["label_swap_loss"] = self.label_swap_phase(ops.shape(images)[0])
        return self.record(reconstruction_loss=rec_loss, discriminator_loss=disc_loss,
                           generator_loss=gen_loss, classification_loss=class_loss,
                           accuracy=correct(labels, class_logits), **losses)

    def evaluate_batch(self, images, labels):
        class_logits, z = self.encoder(images)
        rec_loss = reconstruction_loss(images, self.decoder([ops.softmax(class_logits), z]))
        values = {"reconstruction_loss": rec_loss}
        if labels is not None:
            values.update(classification_loss=classification_loss(labels, class_logits),
                          accuracy=correct(labels, class_logits))
        return self.record(**values)

    # ---- what the notebooks use ------------------------------------------------------
    def encode(self, images):
        """images (n, 784) -> (class_probabilities (n, 10), z (n, latent_dim))."""
        def run(x):
            class_logits, z = self.encoder(x, training=False)
            return ops.softmax(class_logits), z
        return in_batches(run, check_images(images))

    def classify(self, images):
        """images (n, 784) -> class probabilities (n, 10)."""
        return self.encode(images)[0]

    def decode(self, z, class_probabilities):
        """z (n, latent_dim) and class probabilities or one-hot (n, 10) -> images (n, 784)."""
        z = check_codes(z, self.latent_dim)
        classes = check_codes(class_probabilities, NUM_CLASSES, name="class_probabilities")
        return in_batches(lambda y, c: self.decoder([y, c], training=False), classes, z)

    def reconstruct(self, images):
        """images (n, 784) -> reconstructions (n, 784), through the predicted class."""
        probabilities, z = self.encode(images)
        return self.decode(z, probabilities)

    def sample_styles(self, num_styles, seed=0):
        """(num_styles, latent_dim) styles z drawn from the Gaussian prior."""
        return np.asarray(sample_prior("gaussian", num_styles, self.latent_dim, seed=seed, std=self.prior_std))

    def generate(self, digits, z=None, seed=0):
        """Decode one-hot digits (n,) with styles z (n, latent_dim), sampled when not given."""
        digits = check_labels(np.atleast_1d(digits), name="digits")
        z = self.sample_styles(len(digits), seed) if z is None else z
        return self.decode(z, np.eye(NUM_CLASSES, dtype=np.float32)[digits])


@keras.saving.register_keras_serializable(package="aae_helpers")
class BaselineClassifier(Trainer):
    """The encoder's architecture (784-1000-1000-10) trained on the labelled images alone."""

    phases = ("classifier",)
    tracker_names = ("classification_loss", "accuracy")

    def __init__(self, labels_per_class=100, hidden_units=HIDDEN_UNITS, seed=0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.labels_per_class = check_count(labels_per_class, "labels_per_class")
        self.hidden_units = check_hidden_units(hidden_units)
        self.classifier = self.build_classifier()

    def build_classifier(self):
        """The article's dense classifier: the encoder's layers and its class head."""
        return build_classifier(NUM_CLASSES, hidden_units=self.hidden_units)

    def get_config(self):
        return {**super().get_config(), "labels_per_class": self.labels_per_class,
                "hidden_units": list(self.hidden_units)}

    def phase_variables(self):
        return {"classifier": self.classifier.trainable_variables}

    def steps_per_epoch(self, data: MnistData, batch_size=100):
        """Batches in one epoch: one pass over the labelled subset."""
        count = self.labels_per_class * NUM_CLASSES
        return count // check_batch_size(batch_size, count)

    def make_dataset(self, data: MnistData, batch_size=100, first_epoch=0):
        """Batches of the labelled subset (the same one the semi-supervised AAE gets)."""
        images, labels = labelled_subset(data, self.labels_per_class, seed=self.seed)
        return epoch_batches((images, labels.astype(np.int32)), batch_size,
                             self.steps_per_epoch(data, batch_size), self.seed, first_epoch)

    def train_step(self, data):
        images, labels = split_batch(data)
        # Supervised classification: the only phase.
        with tf.GradientTape() as tape:
            logits = self.classifier(images, training=True)
            loss = classification_loss(labels, logits)
        self.apply_phase("classifier", tape, loss)
        return self.record(classification_loss=loss, accuracy=correct(labels, logits))

    def evaluate_batch(self, images, labels):
        logits = self.classifier(images)
        return self.record(classification_loss=classification_loss(labels, logits),
                           accuracy=correct(labels, logits))

    def classify(self, images):
        """images (n, 784) -> class probabilities (n, 10)."""
        return in_batches(lambda x: ops.softmax(self.classifier(x, training=False)), check_images(images))
