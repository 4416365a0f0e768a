"""AAE Wizard helpers: data, priors, models, losses, trainers, plots and widgets.

Notebooks use one namespace, so a reader always knows what lives in the library::

    import aae_helpers as aae
    data = aae.load_mnist()
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of notebooks

from aae_helpers.data import MnistData, labelled_subset, load_mnist  # noqa: E402
from aae_helpers.priors import PRIORS, sample_prior  # noqa: E402
from aae_helpers.runtime import fast_mode  # noqa: E402
from aae_helpers.trainers import (TRAINERS, AdversarialAutoencoder, Autoencoder,  # noqa: E402
                                  BaselineClassifier, ClassifierVAE,
                                  SemiSupervisedAdversarialAutoencoder,
                                  SupervisedAdversarialAutoencoder, get_trainer_class)

__version__ = "0.1.0"
