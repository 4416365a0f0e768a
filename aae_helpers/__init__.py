"""AAE Wizard helpers: data, priors, models, losses, trainers, training, plots and widgets.

Notebooks use one namespace, so a reader always knows what lives in the library::

    import aae_helpers as aae
    data = aae.load_mnist()

Names are looked up lazily in the modules below, so `aae --help` starts
without importing TensorFlow.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer TensorFlow C++ messages in notebooks

__version__ = "0.1.0"

# Where `aae.NAME` is found, searched in this order.
MODULES = ("data", "priors", "runtime", "trainers", "training", "plots", "diagrams", "widgets", "metrics")
SUBMODULES = MODULES + ("models", "losses", "figures", "cli", "tensorboard")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name in SUBMODULES:  # `from aae_helpers import data` and `aae.models` import the module
        return importlib.import_module(f"aae_helpers.{name}")
    for module_name in MODULES:
        try:
            module = importlib.import_module(f"aae_helpers.{module_name}")
        except ModuleNotFoundError as error:
            if error.name == f"aae_helpers.{module_name}":
                continue
            raise
        public = getattr(module, "__all__", None)
        if hasattr(module, name) and (public is None or name in public) and not name.startswith("_"):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'aae_helpers' has no attribute {name!r}")
