"""AAE Wizard helpers: data, priors, models, losses, trainers, training, plots and widgets.

Notebooks use one namespace, so a reader always knows what lives in the library::

    import aae_helpers as aae
    data = aae.load_mnist()

Names are looked up lazily in the modules below, so `aae --help` starts
without importing TensorFlow.
"""

import importlib
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer TensorFlow C++ messages in notebooks

# TensorFlow's C++ start-up messages that say nothing to a reader (a CPU-only machine has no
# CUDA driver, so TensorFlow logs "failed call to cuInit: ... CUDA error" at its first use).
STARTUP_NOISE = re.compile(r"cuda drivers|cuInit|cuda_platform|cudart_stub|absl::InitializeLog|"
                           r"TF-TRT|oneDNN custom operations|rebuild TensorFlow with|TF_ENABLE_ONEDNN_OPTS")

__version__ = "0.1.0"

# Where `aae.NAME` is found, searched in this order.
MODULES = ("data", "priors", "runtime", "trainers", "training", "plots", "diagrams", "widgets", "metrics",
           "evaluation", "settings")
SUBMODULES = MODULES + ("models", "losses", "figures", "cli", "tensorboard", "speed", "improved")


def start_tensorflow():
    """Import TensorFlow and open its devices once, keeping STARTUP_NOISE out of stderr (and so
    out of notebook outputs); every other line it writes there is passed on."""
    if "tensorflow" in sys.modules:
        return
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not STARTUP_NOISE.search(line)))


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    start_tensorflow()
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


if "IPython" in sys.modules:  # a notebook: start TensorFlow now, before an `import keras` does it noisily
    start_tensorflow()
