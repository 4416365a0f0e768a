"""The PNG figures a command-line run writes next to its model (the notebooks show them inline)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from aae_helpers import plots  # noqa: E402
from aae_helpers.infra.checkpoints import atomic_path  # noqa: E402
from aae_helpers.priors import sample_prior  # noqa: E402

LOSS_KEYS = ("reconstruction_loss", "discriminator_loss", "generator_loss", "classification_loss",
             "vae_loss", "kl_loss", "accuracy", "balance_loss", "smoothness_loss")


def run_figures(trainer, data, history):
    """{file name: Figure} for a trained trainer: losses, reconstructions, codes, samples."""
    import aae_helpers as aae

    images, labels = data.x_test[:2000], data.y_test[:2000]
    keys = [key for key in LOSS_KEYS if key in history]
    figures = {"history.png": plots.plot_history(history, keys=keys + [f"val_{k}" for k in keys
                                                                       if f"val_{k}" in history],
                                                 title=f"{type(trainer).__name__}: per epoch")}
    if isinstance(trainer, aae.BaselineClassifier):
        predictions = trainer.classify(images).argmax(axis=1)
        figures["confusion_matrix.png"] = plots.plot_confusion_matrix(labels, predictions)
        return figures
    if isinstance(trainer, aae.ClusteringAdversarialAutoencoder):
        figures.update(cluster_figures(trainer, images, labels))
        return figures
    if isinstance(trainer, aae.SupervisedAdversarialAutoencoder):
        figures["reconstructions.png"] = plots.plot_reconstructions(images[:10], trainer.reconstruct(
            images[:10], labels[:10]))
        codes = trainer.encode(images)
    else:
        figures["reconstructions.png"] = plots.plot_reconstructions(images[:10], trainer.reconstruct(images[:10]))
        codes = trainer.encode(images)
        if isinstance(codes, tuple):  # semi-supervised: (class probabilities, z)
            figures["confusion_matrix.png"] = plots.plot_confusion_matrix(labels, codes[0].argmax(axis=1))
            codes = codes[1]
    if isinstance(trainer, aae.ClassifierVAE):
        figures["confusion_matrix.png"] = plots.plot_confusion_matrix(
            labels, trainer.classify(images).argmax(axis=1))
    figures["codes.png"] = plots.plot_latent_scatter(codes, labels, title="test codes")
    if isinstance(trainer, aae.AdversarialAutoencoder):
        prior = np.asarray(sample_prior(trainer.prior, len(codes), trainer.latent_dim, seed=0,
                                        std=trainer.prior_std))
        figures["codes_vs_prior.png"] = plots.plot_codes_vs_prior(codes, prior, labels)
    conditional = isinstance(trainer, (aae.SupervisedAdversarialAutoencoder,
                                       aae.SemiSupervisedAdversarialAutoencoder, aae.ClassifierVAE))
    if conditional:  # ten styles (rows) writing the ten digits (columns)
        std = getattr(trainer, "prior_std", 1.0)
        styles = np.random.default_rng(0).normal(0.0, std, (10, trainer.latent_dim))
        figures["samples.png"] = plots.plot_style_grid(trainer.generate(
            np.tile(np.arange(10), 10), z=np.repeat(styles, 10, axis=0).astype(np.float32)))
    elif trainer.latent_dim == 2:  # decode an evenly spaced grid of the code plane
        low, high = (-10.0, 10.0) if hasattr(trainer, "prior") else (float(codes.min()), float(codes.max()))
        figures["latent_grid.png"] = plots.plot_latent_grid(trainer.decode, low, high)
    return figures


def cluster_figures(trainer, images, labels):
    """A clustering model's figures: reconstructions, clusters against digits (each cluster named by
    its most-sure image's label), every cluster drawn in ten prior styles, and the style codes."""
    from aae_helpers.clustering import cluster_digits

    probabilities, codes = trainer.encode(images)
    names = cluster_digits(probabilities, labels, "paper")
    k = trainer.num_clusters
    styles = np.tile(trainer.sample_styles(10, seed=0), (k, 1))
    drawn = trainer.generate(np.repeat(np.arange(k), 10), styles).reshape(k, 10, -1)
    return {"reconstructions.png": plots.plot_reconstructions(images[:10], trainer.reconstruct(images[:10])),
            "cluster_confusion.png": plots.plot_cluster_confusion(probabilities, labels, digits=names),
            "samples.png": plots.plot_digit_rows(drawn, [f"cluster {c} ({names[c]})" for c in range(k)],
                                                 xlabel="style (the same in every row)"),
            "codes.png": plots.plot_latent_scatter(codes, labels, title="test style codes z")}


FIGURE_NAMES = ("history.png", "confusion_matrix.png", "reconstructions.png", "codes.png",
                "codes_vs_prior.png", "samples.png", "latent_grid.png",
                "cluster_confusion.png")  # every name run_figures uses


def save_run_figures(trainer, data, history, out):
    """Write `run_figures` as PNGs into the run folder `out`, each atomically; returns the paths."""
    paths = []
    for name, figure in run_figures(trainer, data, history).items():
        path = Path(out) / name
        try:
            with atomic_path(path) as temporary:
                figure.savefig(temporary, format="png", dpi=90, bbox_inches="tight")
        finally:
            plt.close(figure)
        paths.append(path)
    return paths
