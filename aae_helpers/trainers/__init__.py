"""Keras trainers for the six tutorials, chosen by name."""

from aae_helpers.trainers.adversarial import AdversarialAutoencoder, SupervisedAdversarialAutoencoder
from aae_helpers.trainers.autoencoder import Autoencoder
from aae_helpers.trainers.base import Trainer
from aae_helpers.trainers.clustering import ClusteringAdversarialAutoencoder
from aae_helpers.trainers.semi_supervised import BaselineClassifier, SemiSupervisedAdversarialAutoencoder
from aae_helpers.trainers.vae import ClassifierVAE

__all__ = ["TRAINERS", "get_trainer_class", "Autoencoder", "AdversarialAutoencoder",
           "SupervisedAdversarialAutoencoder", "SemiSupervisedAdversarialAutoencoder",
           "BaselineClassifier", "ClassifierVAE", "ClusteringAdversarialAutoencoder"]

TRAINERS = {
    "autoencoder": Autoencoder,
    "aae": AdversarialAutoencoder,
    "supervised-aae": SupervisedAdversarialAutoencoder,
    "semi-supervised-aae": SemiSupervisedAdversarialAutoencoder,
    "baseline-classifier": BaselineClassifier,
    "vae": ClassifierVAE,
    "clustering-aae": ClusteringAdversarialAutoencoder,
}


def get_trainer_class(name):
    """The trainer class registered under `name` (see TRAINERS)."""
    if name not in TRAINERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(TRAINERS)}.")
    return TRAINERS[name]
