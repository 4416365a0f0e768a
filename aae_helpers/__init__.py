"""AAE Wizard helpers: what the notebooks import, as one small namespace.

    import aae_helpers as aae
    data = aae.load_mnist()

The package has three parts:

- the tutorial (this folder): data, priors, models, losses, trainers/ (one Keras trainer per
  notebook, each `train_step` the article's phases), evaluation, metrics and clustering (the
  lessons' measures), plots, diagrams and widgets, settings (each notebook's hyperparameters);
- infra/: how runs are trained, saved, resumed and reported (training, checkpoints, the `aae`
  command line, fast mode);
- extras/: opt-in additions no notebook uses (an XLA Adam, the improved few-label recipe).

`aae.NAME` is looked up in PUBLIC below, lazily, so `aae --help` starts without TensorFlow;
`dir(aae)` lists every public name. A name of a module that is not in PUBLIC is refused with
where to import it from.
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

# The public namespace: module -> the names `aae.NAME` gives (each name in exactly one module).
PUBLIC_BY_MODULE = {
    "data": ("MnistData", "load_mnist", "labelled_subset"),
    "priors": ("sample_prior",),
    "trainers": ("Autoencoder", "AdversarialAutoencoder", "SupervisedAdversarialAutoencoder",
                 "SemiSupervisedAdversarialAutoencoder", "BaselineClassifier", "ClassifierVAE",
                 "ClusteringAdversarialAutoencoder", "get_trainer_class"),
    "settings": ("DEFAULTS", "ARTICLE", "epochs_for_steps"),
    "evaluation": ("digit_reader", "read_digits", "label_control", "LabelControlEachEpoch", "class_probe",
                   "farthest_point"),
    "metrics": ("mmd", "median_bandwidths", "mmd_permutation_test"),
    "clustering": ("cluster_error", "cluster_digits", "cluster_confusion", "cluster_usage"),
    "plots": ("plot_digits", "plot_reconstructions", "plot_latent_scatter", "plot_code_histograms",
              "plot_codes_vs_prior", "plot_latent_grid", "plot_history", "plot_accuracy_curves",
              "plot_confusion_matrix", "plot_style_grid", "plot_class_probabilities", "plot_digit_rows",
              "plot_label_control", "plot_reading_map", "plot_cluster_confusion", "latent_grid"),
    "diagrams": ("plot_architecture",),
    "widgets": ("latent_explorer", "prior_explorer", "style_explorer", "classification_explorer",
                "conditional_generation_explorer", "cluster_explorer"),
    "infra.training": ("fit_or_load", "train", "resume", "run_folder", "SnapshotEachEpoch",
                       "TrainingDivergedError"),
    "infra.checkpoints": ("load_checkpoint", "load_trainer"),
}
PUBLIC = {name: module for module, names in PUBLIC_BY_MODULE.items() for name in names}
# Modules `aae.NAME` gives as such (`aae.data.read_npz`, `aae.infra.cli`).
SUBMODULES = ("data", "priors", "models", "losses", "trainers", "settings", "evaluation", "metrics",
              "clustering", "plots", "diagrams", "widgets", "checks", "infra", "extras")


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
    if name not in PUBLIC and name not in SUBMODULES:
        raise AttributeError(f"module 'aae_helpers' has no attribute {name!r}{_where(name)}")
    start_tensorflow()
    if name in SUBMODULES:  # `from aae_helpers import data` and `aae.models` import the module
        return importlib.import_module(f"aae_helpers.{name}")
    value = getattr(importlib.import_module(f"aae_helpers.{PUBLIC[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*PUBLIC, *SUBMODULES, "start_tensorflow", "__version__"})


def _where(name) -> str:
    """'; it lives in aae_helpers.M' for a public name of a module outside PUBLIC, else ''."""
    import ast
    from pathlib import Path

    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name and node.col_offset == 0:
                module = ".".join(path.relative_to(Path(__file__).parent.parent).with_suffix("").parts)
                return f"; it is not in the notebooks' namespace: use `from {module} import {name}`"
    return ""


if "IPython" in sys.modules:  # a notebook: start TensorFlow now, before an `import keras` does it noisily
    start_tensorflow()
