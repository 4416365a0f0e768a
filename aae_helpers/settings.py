"""Each notebook's default settings, in one table.

The notebooks' Hyperparameters cells show these values (a test keeps the two equal), the `aae`
command line takes its defaults from here, and the benchmarks train with them:

    settings = aae.DEFAULTS["supervised-aae"]        # notebook 03's model
    trainer = settings.build()                       # built and compiled
    epochs = settings.epochs(trainer, data)          # the step budget in epochs of this data

Training budgets are optimizer steps, not epochs: 3,000 steps are 75 epochs of the 4,000
offline digits and 5 epochs of full MNIST's 60,000, so a notebook takes about as long either way.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Settings", "DEFAULTS", "ARTICLE", "NOTEBOOK_NAMES", "epochs_for_steps"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """How one notebook builds, compiles and trains one model."""

    notebook: str                # the notebook whose Hyperparameters cell shows these values
    model: str                   # the trainer's name in trainers.TRAINERS
    options: dict                # the trainer's constructor arguments (seed aside)
    steps: int                   # optimizer steps, each on a batch of batch_size digits
    learning_rate: float = 1e-3
    beta_1: float = 0.9          # Adam's first-moment decay (the articles' 0.9)
    batch_size: int = 100
    seed: int = 0

    def trainer_class(self):
        """The class `build` makes: the model's trainer in trainers.TRAINERS."""
        from aae_helpers.trainers import get_trainer_class

        return get_trainer_class(self.model)

    def build(self, **changes):
        """The trainer these settings describe, compiled; `changes` override options or seed."""
        options = {**self.options, "seed": self.seed, **changes}
        trainer = self.trainer_class()(**options)
        trainer.compile(learning_rate=self.learning_rate, beta_1=self.beta_1)
        return trainer

    def epochs(self, trainer, data) -> int:
        """The step budget as whole epochs of `data` for `trainer` (at least one)."""
        return epochs_for_steps(trainer, data, self.steps, self.batch_size)


def epochs_for_steps(trainer, data, steps: int, batch_size: int = 100) -> int:
    """Whole epochs of `data` that come closest to `steps` optimizer steps (at least one)."""
    per_epoch = trainer.steps_per_epoch(data, batch_size)
    return max(1, round(steps / per_epoch))


# The model each notebook trains (the `aae train MODEL` defaults).
DEFAULTS = {
    "autoencoder": Settings(
        notebook="01_autoencoder", model="autoencoder", options={"latent_dim": 2}, steps=1200),
    "aae": Settings(
        notebook="02_adversarial_autoencoder", model="aae",
        options={"latent_dim": 2, "prior": "gaussian", "prior_std": 5.0}, steps=1200, beta_1=0.5),
    "supervised-aae": Settings(
        notebook="03_style_and_content", model="supervised-aae",
        options={"latent_dim": 8, "prior_std": 5.0, "hidden_units": (500, 500),
                 "discriminator_sees_label": True}, steps=3200, beta_1=0.5),
    "semi-supervised-aae": Settings(
        notebook="04_semi_supervised_1000_labels", model="semi-supervised-aae",
        options={"latent_dim": 10, "prior_std": 5.0, "labels_per_class": 100, "style_sees_class": True,
                 "label_swap": True}, steps=600, beta_1=0.5),
    "baseline-classifier": Settings(
        notebook="04_semi_supervised_1000_labels", model="baseline-classifier",
        options={"labels_per_class": 100}, steps=500, beta_1=0.5),
    "vae": Settings(
        notebook="05_vae_with_digit_classifier", model="vae",
        options={"latent_dim": 10, "hidden_units": (128,), "activation": "sigmoid",
                 "classifier_weight": 10.0, "decoder_std": 0.5}, steps=32000),
    "clustering-aae": Settings(
        notebook="06_unsupervised_clustering", model="clustering-aae",
        options={"num_clusters": 16, "latent_dim": 5, "prior_std": 1.0, "balance_weight": 10.0,
                 "smoothness_weight": 10.0, "smoothness_radius": 2.0}, steps=2000, beta_1=0.5),
}

# The article's (for clustering-aae: the paper's) own recipe, where a notebook trains it beside the
# default for comparison, with the same step budget (`aae train MODEL --article`).
ARTICLE = {
    "supervised-aae": dataclasses.replace(
        DEFAULTS["supervised-aae"],
        options={"latent_dim": 15, "prior_std": 5.0, "hidden_units": (500, 500),
                 "discriminator_sees_label": False}),
    "semi-supervised-aae": dataclasses.replace(
        DEFAULTS["semi-supervised-aae"],
        options={"latent_dim": 10, "prior_std": 5.0, "labels_per_class": 100, "style_sees_class": False,
                 "label_swap": False}),
    "clustering-aae": dataclasses.replace(
        DEFAULTS["clustering-aae"],
        options={"num_clusters": 16, "latent_dim": 5, "prior_std": 1.0, "balance_weight": 0.0,
                 "smoothness_weight": 0.0}),
}

# Hyperparameters-cell name -> (where in Settings, key in options or None)
NOTEBOOK_NAMES = {
    "LATENT_DIM": ("options", "latent_dim"), "PRIOR": ("options", "prior"),
    "PRIOR_STD": ("options", "prior_std"), "HIDDEN_UNITS": ("options", "hidden_units"),
    "CLASSIFIER_WEIGHT": ("options", "classifier_weight"), "DECODER_STD": ("options", "decoder_std"),
    "LABELS_PER_CLASS": ("options", "labels_per_class"), "LEARNING_RATE": ("learning_rate", None),
    "BETA_1": ("beta_1", None), "BATCH_SIZE": ("batch_size", None), "TRAINING_STEPS": ("steps", None),
    "SEED": ("seed", None), "NUM_CLUSTERS": ("options", "num_clusters"),
    "BALANCE_WEIGHT": ("options", "balance_weight"), "SMOOTHNESS_WEIGHT": ("options", "smoothness_weight"),
    "SMOOTHNESS_RADIUS": ("options", "smoothness_radius"),
}
