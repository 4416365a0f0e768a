"""Opt-in: the improved few-label recipe, which no notebook trains (`aae train ... --recipe improved`).

Notebook 04 trains the article's dense networks. This recipe was chosen on a validation split of
the training digits to get the most out of 1,000 labels (benchmarks/README.md, "Few-label
accuracy"): the semi-supervised AAE's algorithm is unchanged, only its networks and what they see
differ:

- a small batch-normalized CNN as the encoder (heads y and z) and transposed convolutions as the
  decoder; 256-256 discriminators;
- every training batch randomly shifted, rotated and zoomed (models.build_augmenter);
- each Adam's learning rate halved every LEARNING_RATE_HALF_LIFE optimizer steps;
- Adam's beta_1 0.5.

ImprovedBaselineClassifier is the baseline with the same CNN (its class head), augmentation and
decay, trained on the labelled digits alone.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers, ops

from aae_helpers.checks import IMAGE_SIZE, NUM_CLASSES, check_count
from aae_helpers.models import build_augmenter
from aae_helpers.settings import Settings
from aae_helpers.trainers.base import split_batch
from aae_helpers.trainers.semi_supervised import BaselineClassifier, SemiSupervisedAdversarialAutoencoder

LEARNING_RATE_HALF_LIFE = 500              # optimizer steps
DISCRIMINATOR_UNITS = (256, 256)
CONV_FILTERS = (32, 64, 128)
CONV_DENSE_UNITS = 256


def build_conv_encoder(latent_dim=10, num_classes=NUM_CLASSES, name="encoder"):
    """images (batch, 784) -> [class_logits (batch, num_classes), z (batch, latent_dim)]:
    3x3 conv + batch norm + ReLU + 2x2 max-pool blocks (28 -> 14 -> 7 -> 3), then a dense
    layer. latent_dim=0: class_logits alone (a classifier)."""
    if latent_dim != 0:
        check_count(latent_dim, "latent_dim")
    check_count(num_classes, "num_classes")
    images = keras.Input((IMAGE_SIZE,), name="images")
    x = layers.Reshape((28, 28, 1), name="to_grid")(images)
    for index, count in enumerate(CONV_FILTERS):
        x = _normalized_relu(layers.Conv2D(count, 3, padding="same", use_bias=False,
                                           name=f"{name}_conv_{index + 1}"), x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool_{index + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    features = _normalized_relu(layers.Dense(CONV_DENSE_UNITS, use_bias=False, name=f"{name}_hidden"), x)
    class_logits = layers.Dense(num_classes, name="class_logits")(features)
    if not latent_dim:
        return keras.Model(images, class_logits, name=name)
    z = layers.Dense(latent_dim, name="z")(features)
    return keras.Model(images, [class_logits, z], name=name)


def _normalized_relu(layer, x):
    """ReLU(batch norm(layer(x)))."""
    x = layers.BatchNormalization(name=f"{layer.name}_norm")(layer(x))
    return layers.Activation("relu", name=f"{layer.name}_relu")(x)


def build_conv_decoder(latent_dim=10, num_classes=NUM_CLASSES, filters=(32, 16), name="decoder"):
    """[labels_one_hot (batch, num_classes), z (batch, latent_dim)] -> images (batch, 784), sigmoid:
    a dense layer to a 7x7 grid, then two stride-2 transposed convolutions (7 -> 14 -> 28)."""
    check_count(latent_dim, "latent_dim")
    check_count(num_classes, "num_classes")
    labels = keras.Input((num_classes,), name="labels_one_hot")
    z = keras.Input((latent_dim,), name="z")
    x = layers.Concatenate(name="label_and_z")([labels, z])
    x = layers.Dense(7 * 7 * filters[0], activation="relu", name=f"{name}_hidden")(x)
    x = layers.Reshape((7, 7, filters[0]), name="to_grid")(x)
    x = layers.Conv2DTranspose(filters[1], 3, strides=2, padding="same", activation="relu",
                               name=f"{name}_deconv_1")(x)
    x = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid",
                               name=f"{name}_deconv_2")(x)
    return keras.Model([labels, z], layers.Flatten(name="images")(x), name=name)


class ImprovedRecipe:
    """What the recipe adds to a trainer's step: augmented batches and decaying learning rates.
    The class it is mixed into defines the algorithm (its train_step)."""

    default_beta_1 = 0.5
    learning_rate_half_life = LEARNING_RATE_HALF_LIFE

    def seed_generators(self):
        """The trainer's own random stream, then the augmentation layers' (saved for exact resume)."""
        return super().seed_generators() + [layer.generator for layer in self.augmenter.layers
                                            if isinstance(getattr(layer, "generator", None),
                                                          keras.random.SeedGenerator)]

    def augment(self, images):
        """Training images (batch, 784), randomly shifted, rotated and zoomed."""
        return self.augmenter(images, training=True)

    def decay_learning_rates(self):
        base = self.compile_settings["learning_rate"]
        for optimizer in self.phase_optimizers.values():
            steps = ops.cast(optimizer.iterations, "float32")
            optimizer.learning_rate.assign(base * ops.power(0.5, steps / self.learning_rate_half_life))

    def train_step(self, data):
        self.decay_learning_rates()
        return super().train_step(self.augmented_batch(data))


@keras.saving.register_keras_serializable(package="aae_helpers")
class ImprovedSemiSupervisedAAE(ImprovedRecipe, SemiSupervisedAdversarialAutoencoder):
    """The semi-supervised AAE with the improved recipe's networks, augmentation and decay."""

    def __init__(self, latent_dim=10, prior_std=5.0, labels_per_class=100, hidden_units=DISCRIMINATOR_UNITS,
                 style_sees_class=False, label_swap=False, seed=0, **kwargs):
        super().__init__(latent_dim=latent_dim, prior_std=prior_std, labels_per_class=labels_per_class,
                         hidden_units=hidden_units, style_sees_class=style_sees_class,
                         label_swap=label_swap, seed=seed, **kwargs)

    def build_autoencoder(self):
        """(convolutional encoder with heads y and z, convolutional decoder), then the augmenter;
        `hidden_units` sizes the discriminators only."""
        networks = build_conv_encoder(self.latent_dim, NUM_CLASSES), build_conv_decoder(self.latent_dim, NUM_CLASSES)
        self.augmenter = build_augmenter(seed=self.seed)
        return networks

    def augmented_batch(self, data):
        images, (labelled_images, labels) = data
        return self.augment(images), (self.augment(labelled_images), labels)


@keras.saving.register_keras_serializable(package="aae_helpers")
class ImprovedBaselineClassifier(ImprovedRecipe, BaselineClassifier):
    """The baseline with the improved recipe's CNN (class head), augmentation and decay."""

    def build_classifier(self):
        """The convolutional encoder's class head alone, then the augmenter."""
        classifier = build_conv_encoder(0, NUM_CLASSES, name="classifier")
        self.augmenter = build_augmenter(seed=self.seed)
        return classifier

    def augmented_batch(self, data):
        images, labels = split_batch(data)
        return self.augment(images), labels


# The CLI's and benchmarks' names: `aae train semi-supervised-aae --recipe improved`.
IMPROVED = {"semi-supervised-aae": ImprovedSemiSupervisedAAE, "baseline-classifier": ImprovedBaselineClassifier}


@dataclasses.dataclass(frozen=True)
class ImprovedSettings(Settings):
    """Settings whose `build` makes the improved recipe's trainer (IMPROVED[model])."""

    def trainer_class(self):
        return IMPROVED[self.model]


# The recipe's settings (`aae train MODEL --recipe improved`, benchmarks/semi_supervised_accuracy.py):
# 1,500 steps are the 30 epochs of 5,000 digits (and 150 of the 1,000 labelled ones) it was chosen with.
SETTINGS = {
    "semi-supervised-aae": ImprovedSettings(
        notebook="04_semi_supervised_1000_labels", model="semi-supervised-aae",
        options={"latent_dim": 10, "prior_std": 5.0, "labels_per_class": 100, "style_sees_class": False,
                 "label_swap": False}, steps=1500, beta_1=0.5),
    "baseline-classifier": ImprovedSettings(
        notebook="04_semi_supervised_1000_labels", model="baseline-classifier",
        options={"labels_per_class": 100}, steps=1500, beta_1=0.5),
}
