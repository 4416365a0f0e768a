"""Plots for the notebooks: digits, codes against priors, grids and training curves; each returns its Figure."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator, PercentFormatter

from aae_helpers.checks import IMAGE_SIDE, IMAGE_SIZE, NUM_CLASSES
from aae_helpers.clustering import cluster_confusion

__all__ = ["plot_digits", "plot_reconstructions", "plot_latent_scatter", "plot_code_histograms",
           "plot_codes_vs_prior", "plot_latent_grid", "plot_history", "plot_accuracy_curves",
           "plot_confusion_matrix", "plot_style_grid", "plot_class_probabilities", "plot_digit_rows",
           "plot_label_control", "plot_reading_map", "plot_cluster_confusion", "latent_grid"]

DIGIT_CMAP = "gray_r"      # dark ink on white paper
CLASS_CMAP = "tab10"       # one colour per digit class
CODES_COLOUR, PRIOR_COLOUR = "tab:blue", "tab:orange"


# ---- shared helpers ----------------------------------------------------------------------
def _subplots(nrows=1, ncols=1, figsize=None, **kwargs):
    """plt.subplots, then let go of the figure: Jupyter shows the returned Figure exactly once."""
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained", **kwargs)
    plt.close(fig)
    return fig, axes


def _figure_and_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig, axes = _subplots(figsize=figsize)
    return fig, axes[0, 0]


def _as_images(images, name="images"):
    """float32 (n, 784), or a ValueError saying what was received."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3 and array.shape[1:] == (IMAGE_SIDE, IMAGE_SIDE):
        array = array.reshape(len(array), IMAGE_SIZE)
    if array.ndim == 1 and array.shape[0] == IMAGE_SIZE:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != IMAGE_SIZE or len(array) == 0:
        raise ValueError(f"{name} must have shape (n, 784) or (n, 28, 28) with n >= 1, "
                         f"got {np.shape(images)}.")
    return array


def _as_codes(codes, name="codes", min_dim=1):
    array = np.asarray(codes, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] < min_dim or len(array) == 0:
        raise ValueError(f"{name} must have shape (n, latent_dim) with latent_dim >= {min_dim}, "
                         f"got {np.shape(codes)}.")
    return array


def _as_labels(labels, count, name="labels"):
    array = np.asarray(labels)
    if array.shape != (count,) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integers of shape ({count},) to match the codes, "
                         f"got dtype {array.dtype} and shape {array.shape}.")
    return array


def _as_cluster_digits(digits, num_clusters, name="digits"):
    """int (num_clusters,) in -1..9, the digit each cluster was named (-1: none), or a ValueError."""
    array = np.asarray(digits)
    if (array.shape != (num_clusters,) or not np.issubdtype(array.dtype, np.integer)
            or array.min() < -1 or array.max() >= NUM_CLASSES):
        raise ValueError(f"{name} must give one digit in -1..9 per cluster (shape ({num_clusters},), from "
                         f"cluster_digits), got dtype {array.dtype}, shape {array.shape}: {array.tolist()}.")
    return array


def _show_digit(ax, image, title=None):
    ax.imshow(np.reshape(image, (IMAGE_SIDE, IMAGE_SIDE)), cmap=DIGIT_CMAP, vmin=0.0, vmax=1.0)
    ax.set(xticks=[], yticks=[])
    if title is not None:
        ax.set_title(title, fontsize=8)


def _tile(images, nrows, ncols):
    """images (nrows * ncols, 784) in row-major order -> one (nrows * 28, ncols * 28) picture."""
    digits = images.reshape(nrows, ncols, IMAGE_SIDE, IMAGE_SIDE)
    return digits.transpose(0, 2, 1, 3).reshape(nrows * IMAGE_SIDE, ncols * IMAGE_SIDE)


def _show_tiled(ax, images, nrows, ncols, row_labels=None, column_labels=None):
    ax.imshow(_tile(images, nrows, ncols), cmap=DIGIT_CMAP, vmin=0.0, vmax=1.0)
    centres = IMAGE_SIDE * np.arange(max(nrows, ncols)) + IMAGE_SIDE / 2 - 0.5
    ax.set_xticks(centres[:ncols], column_labels if column_labels is not None else [])
    ax.set_yticks(centres[:nrows], row_labels if row_labels is not None else [])
    ax.tick_params(length=0)


def _scatter_codes(ax, codes, labels=None, size=4):
    """Scatter the first two dims of `codes`, coloured by digit when `labels` are given."""
    if labels is None:
        return ax.scatter(codes[:, 0], codes[:, 1], s=size, color=CODES_COLOUR, alpha=0.5, linewidths=0)
    return ax.scatter(codes[:, 0], codes[:, 1], c=labels, s=size, cmap=CLASS_CMAP, vmin=-0.5,
                      vmax=NUM_CLASSES - 0.5, alpha=0.8, linewidths=0)


def _class_colorbar(fig, points, ax):
    bar = fig.colorbar(points, ax=ax, ticks=range(NUM_CLASSES), fraction=0.05, pad=0.02)
    bar.set_label("digit")
    bar.solids.set_alpha(1.0)
    return bar


# ---- digits ------------------------------------------------------------------------------
def plot_digits(images, nrows=None, ncols=10, titles=None):
    """A grid of the first nrows * ncols digits. images: (n, 784) in [0, 1]; titles: one per digit."""
    images = _as_images(images)
    ncols = min(ncols, len(images))
    nrows = nrows or -(-len(images) // ncols)
    shown = min(len(images), nrows * ncols)
    if titles is not None and len(titles) < shown:
        raise ValueError(f"titles must give one string per digit shown ({shown}), got {len(titles)}.")
    fig, axes = _subplots(nrows, ncols, figsize=(0.9 * ncols, (1.05 if titles else 0.9) * nrows))
    for index, ax in enumerate(axes.flat):
        if index < shown:
            _show_digit(ax, images[index], None if titles is None else titles[index])
        else:
            ax.axis("off")
    return fig


def plot_reconstructions(images, reconstructions, num_samples=10):
    """Inputs (top row) above their reconstructions (bottom row); both (n, 784)."""
    images, reconstructions = _as_images(images), _as_images(reconstructions, "reconstructions")
    if images.shape != reconstructions.shape:
        raise ValueError(f"images {images.shape} and reconstructions {reconstructions.shape} "
                         "must have the same shape.")
    count = min(num_samples, len(images))
    fig, axes = _subplots(2, count, figsize=(0.9 * count + 0.8, 2.0))
    for column in range(count):
        _show_digit(axes[0, column], images[column])
        _show_digit(axes[1, column], reconstructions[column])
    axes[0, 0].set_ylabel("input", fontsize=9)
    axes[1, 0].set_ylabel("reconstruction", fontsize=9)
    return fig


def plot_style_grid(images, row_labels=None):
    """Rows are styles, columns the digits 0..9. images: (num_rows * 10, 784) in row-major order."""
    images = _as_images(images)
    if len(images) % NUM_CLASSES:
        raise ValueError(f"images must hold whole rows of 10 digits (e.g. shape (100, 784)), "
                         f"got {len(images)} images.")
    nrows = len(images) // NUM_CLASSES
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"row_labels must give one label per row ({nrows}), got {len(row_labels)}.")
    fig, axes = _subplots(figsize=(6.5, 0.6 * nrows + 0.7))
    _show_tiled(axes[0, 0], images, nrows, NUM_CLASSES, row_labels, list(range(NUM_CLASSES)))
    axes[0, 0].set_xlabel("digit fed to the decoder")
    return fig


def plot_digit_rows(rows, row_labels, xlabel="digit fed to the decoder"):
    """One row of 10 digits per entry (e.g. per epoch). rows: (num_rows, 10, 784); `xlabel` says
    what the columns 0..9 are (e.g. "style" when each column keeps one style)."""
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 3 or rows.shape[1:] != (NUM_CLASSES, IMAGE_SIZE):
        raise ValueError(f"rows must have shape (num_rows, 10, 784), got {rows.shape}.")
    if len(row_labels) != len(rows):
        raise ValueError(f"row_labels must give one label per row ({len(rows)}), got {len(row_labels)}.")
    fig, axes = _subplots(figsize=(6.5, 0.6 * len(rows) + 0.5))
    _show_tiled(axes[0, 0], rows.reshape(-1, IMAGE_SIZE), len(rows), NUM_CLASSES, row_labels,
                list(range(NUM_CLASSES)))
    axes[0, 0].set_xlabel(xlabel)
    return fig


# ---- codes and priors --------------------------------------------------------------------
def plot_latent_scatter(codes, labels, ax=None, title=None):
    """Codes (n, latent_dim >= 2) coloured by digit labels (n,); only the first two dims are drawn."""
    codes = _as_codes(codes, min_dim=2)
    labels = _as_labels(labels, len(codes))
    fig, ax = _figure_and_axes(ax, (5.5, 4.5))
    points = _scatter_codes(ax, codes, labels)
    _class_colorbar(fig, points, ax)
    title = title or "codes of the images, coloured by digit"
    if codes.shape[1] > 2:
        title += f"\n(first 2 of {codes.shape[1]} dims)"
    ax.set(xlabel="z[0]", ylabel="z[1]", title=title)
    return fig


def _overlaid_histogram(ax, values, prior_values, dim):
    bins = np.histogram_bin_edges(values if prior_values is None
                                  else np.concatenate([values, prior_values]), bins=40)
    ax.hist(values, bins=bins, density=True, color=CODES_COLOUR, alpha=0.6, label="codes")
    if prior_values is not None:
        ax.hist(prior_values, bins=bins, density=True, histtype="step", lw=1.5,
                color=PRIOR_COLOUR, label="prior samples")
    ax.axvline(0.0, color="gray", lw=0.8, ls="--")
    ax.set(title=f"z[{dim}]", yticks=[])


def plot_code_histograms(codes, prior_samples=None):
    """Histogram of each of the first (up to 4) code dims; prior samples overlaid when given."""
    codes = _as_codes(codes)
    if prior_samples is not None:
        prior_samples = _as_codes(prior_samples, "prior_samples")
        if prior_samples.shape[1] != codes.shape[1]:
            raise ValueError(f"prior_samples must have latent_dim {codes.shape[1]} like the codes, "
                             f"got shape {prior_samples.shape}.")
    dims = min(codes.shape[1], 4)
    fig, axes = _subplots(1, dims, figsize=(3.0 * dims, 2.6))
    for dim, ax in enumerate(axes.flat):
        _overlaid_histogram(ax, codes[:, dim], None if prior_samples is None else prior_samples[:, dim], dim)
    axes[0, 0].legend(fontsize=8)
    if codes.shape[1] > dims:
        fig.suptitle(f"first {dims} of {codes.shape[1]} dims", fontsize=9)
    return fig


def plot_codes_vs_prior(codes, prior_samples, labels=None):
    """Codes and prior samples (n, latent_dim >= 2) side by side, plus histograms of z[0], z[1]."""
    codes, prior_samples = _as_codes(codes, min_dim=2), _as_codes(prior_samples, "prior_samples", 2)
    fig, axes = _subplots(2, 2, figsize=(9.0, 7.5), gridspec_kw={"height_ratios": [2, 1]})
    code_ax, prior_ax = axes[0]
    points = _scatter_codes(code_ax, codes, None if labels is None else _as_labels(labels, len(codes)))
    if labels is not None:  # at the right of both panels, clear of the prior panel's axis label
        _class_colorbar(fig, points, axes[0].tolist())
    prior_ax.scatter(prior_samples[:, 0], prior_samples[:, 1], s=4, color=PRIOR_COLOUR, alpha=0.5,
                     linewidths=0)
    limit = 1.05 * float(np.max(np.abs(np.concatenate([codes[:, :2], prior_samples[:, :2]]))))
    for ax, title in ((code_ax, "encoder codes"), (prior_ax, "prior samples")):
        ax.set(xlim=(-limit, limit), ylim=(-limit, limit), xlabel="z[0]", ylabel="z[1]", title=title)
        ax.set_aspect("equal")
        ax.axhline(0.0, color="gray", lw=0.6)
        ax.axvline(0.0, color="gray", lw=0.6)
    for dim, ax in enumerate(axes[1]):
        _overlaid_histogram(ax, codes[:, dim], prior_samples[:, dim], dim)
    axes[1, 0].legend(fontsize=8)
    dims = "" if codes.shape[1] == 2 else f" (first 2 of {codes.shape[1]} dims)"
    fig.suptitle(f"encoder codes vs prior samples{dims}: the codes should take the prior's shape")
    return fig


def latent_grid(low=-10.0, high=10.0, steps=20):
    """(steps * steps, 2) points evenly spaced from `low` to `high` (scalars or (z0, z1) pairs),
    row by row from the top (largest z[1]) down, as the grid pictures show them."""
    low = np.broadcast_to(np.asarray(low, dtype=np.float32), (2,))
    high = np.broadcast_to(np.asarray(high, dtype=np.float32), (2,))
    if not np.all(high > low) or int(steps) < 2:
        raise ValueError(f"need low < high and steps >= 2, got low={low.tolist()}, "
                         f"high={high.tolist()}, steps={steps}.")
    xs = np.linspace(low[0], high[0], int(steps))
    ys = np.linspace(high[1], low[1], int(steps))                # top row = largest z[1]
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)


def plot_latent_grid(decode, low=-10.0, high=10.0, steps=20, ax=None):
    """Decode a steps x steps grid of 2-D points from `low` to `high` (scalars or (z0, z1) pairs).

    decode: callable z (n, 2) -> images (n, 784), called once on the whole grid.
    """
    z = latent_grid(low, high, steps)                            # (steps * steps, 2), row-major
    low, high, steps = z.min(axis=0), z.max(axis=0), int(steps)
    images = _as_images(decode(z), "decode(z)")
    if len(images) != len(z):
        raise ValueError(f"decode returned {len(images)} images for {len(z)} points.")
    half = (high - low) / (2 * (steps - 1))                      # half a cell, in latent units
    fig, ax = _figure_and_axes(ax, (7.0, 7.0))
    span = (high - low) + 2 * half
    ax.imshow(_tile(images, steps, steps), cmap=DIGIT_CMAP, vmin=0.0, vmax=1.0,
              extent=(low[0] - half[0], high[0] + half[0], low[1] - half[1], high[1] + half[1]),
              aspect=float(span[0] / span[1]))
    ax.set(xlabel="z[0]", ylabel="z[1]", title="decoded grid of latent points")
    return fig


def plot_reading_map(points, probabilities, codes=None):
    """What a digit reader sees over a square grid of 2-D points (from `latent_grid`).

    Left: the digit read at each point, in its class colour; right: how sure the reader is (its
    largest probability). probabilities: (steps * steps, 10); codes (n, 2), when given, are drawn
    on top of both as black dots.
    """
    points, probabilities = np.asarray(points), np.asarray(probabilities)
    steps = int(round(np.sqrt(len(points))))
    if points.shape != (steps * steps, 2) or probabilities.shape != (len(points), NUM_CLASSES):
        raise ValueError(f"points must be a square grid (steps^2, 2) from latent_grid and probabilities "
                         f"(steps^2, 10); got {points.shape} and {probabilities.shape}.")
    extent = (points[:, 0].min(), points[:, 0].max(), points[:, 1].min(), points[:, 1].max())
    fig, axes = _subplots(1, 2, figsize=(11.5, 4.6))
    read = probabilities.argmax(axis=1).reshape(steps, steps)
    axes[0, 0].imshow(read, cmap=CLASS_CMAP, vmin=-0.5, vmax=NUM_CLASSES - 0.5, extent=extent,
                      aspect="auto", interpolation="nearest", alpha=0.8)
    sure = axes[0, 1].imshow(probabilities.max(axis=1).reshape(steps, steps), cmap="viridis", vmin=0,
                             vmax=1, extent=extent, aspect="auto", interpolation="nearest")
    fig.colorbar(sure, ax=axes[0, 1], label="reader's confidence")
    for ax, title in zip(axes[0], ("digit the reader sees", "how sure it is")):
        if codes is not None:
            ax.scatter(codes[:, 0], codes[:, 1], s=2, color="black", alpha=0.5, linewidths=0)
        ax.set(xlabel="z[0]", ylabel="z[1]", title=title)
    digits = fig.colorbar(ScalarMappable(Normalize(-0.5, NUM_CLASSES - 0.5), CLASS_CMAP), ax=axes[0, 0],
                          ticks=range(NUM_CLASSES))
    digits.set_label("digit")
    return fig


# ---- training curves and classification --------------------------------------------------
def plot_history(history, keys=None, ax=None, title=None, reference=None):
    """Per-epoch curves of `history` (dict name -> values, or a Keras History) against epoch 1, 2, ...

    reference: optional (value, label), or a list of them, each drawn as a dashed horizontal line,
    e.g. (2 ln 2, "chance").
    """
    history = getattr(history, "history", history)
    keys = list(history) if keys is None else list(keys)
    missing = [key for key in keys if key not in history]
    if missing or not keys:
        raise ValueError(f"history has no entries {missing or keys}; it holds {sorted(history)}.")
    fig, ax = _figure_and_axes(ax, (6.0, 3.5))
    for key in keys:
        values = np.asarray(history[key], dtype=float)
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o" if len(values) <= 30 else None, ms=3, label=key)
    references = [] if reference is None else [reference] if np.isscalar(reference[0]) else reference
    for (value, label), style in zip(references, ("--", ":", "-.")):
        ax.axhline(value, color="gray", ls=style, lw=1.0, label=label)
    ax.set(xlabel="epoch", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return fig


def plot_accuracy_curves(curves, ax=None):
    """Test accuracy per epoch for each named run: curves maps name -> list of accuracies in [0, 1]."""
    if not curves:
        raise ValueError("curves is empty; pass e.g. {'baseline (1000 labels)': [0.8, 0.85, ...]}.")
    fig, ax = _figure_and_axes(ax, (6.0, 3.5))
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, label=f"{name} (last {values[-1]:.1%})")
    ax.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy per epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8)
    return fig


def plot_label_control(curves, ax=None):
    """Label control over training for each named run: curves maps name -> (steps, scores in [0, 1])."""
    if not curves:
        raise ValueError("curves is empty; pass e.g. {'article': (steps, scores)}.")
    fig, ax = _figure_and_axes(ax, (6.0, 3.5))
    for name, (steps, scores) in curves.items():
        ax.plot(steps, scores, marker="o", ms=3, label=f"{name} (last {scores[-1]:.0%})")
    ax.axhline(1 / NUM_CLASSES, color="gray", ls="--", lw=1.0, label="label ignored (10%)")
    ax.set(xlabel="training steps", ylabel="digits drawn as asked", ylim=(0, 1.02),
           title="label control during training")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8)
    return fig


def plot_confusion_matrix(labels, predictions, ax=None):
    """10x10 counts of true labels (rows) vs predictions (columns); predictions (n,) or probabilities (n, 10)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        predictions = predictions.argmax(axis=1)
    labels = _as_labels(labels, len(predictions))
    predictions = _as_labels(predictions, len(labels), "predictions")
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    fig, ax = _figure_and_axes(ax, (5.5, 5.0))
    ax.imshow(counts, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        ax.text(column, row, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > counts.max() / 2 else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set(xticks=range(NUM_CLASSES), yticks=range(NUM_CLASSES), xlabel="predicted digit",
           ylabel="true digit", title=f"confusion matrix (accuracy {accuracy:.1%})")
    return fig


def plot_class_probabilities(probabilities, ax=None, true_label=None):
    """Bar chart of class probabilities (10,) over the digits 0..9; the true label is marked."""
    probabilities = np.asarray(probabilities, dtype=float).reshape(-1)
    if probabilities.shape != (NUM_CLASSES,):
        raise ValueError(f"probabilities must have shape (10,), got {np.shape(probabilities)}.")
    fig, ax = _figure_and_axes(ax, (4.0, 2.8))
    predicted = int(probabilities.argmax())
    colours = ["tab:blue" if digit == predicted else "lightsteelblue" for digit in range(NUM_CLASSES)]
    bars = ax.bar(range(NUM_CLASSES), probabilities, color=colours)
    title = f"predicted {predicted} (p = {probabilities[predicted]:.2f})"
    if true_label is not None:
        bars[int(true_label)].set(edgecolor="tab:red", linewidth=2.0)
        title += f", true {int(true_label)}"
    ax.set(xticks=range(NUM_CLASSES), ylim=(0.0, 1.0), xlabel="digit", ylabel="probability", title=title)
    if true_label is not None:
        ax.get_xticklabels()[int(true_label)].set(color="tab:red", fontweight="bold")
    return fig


def plot_cluster_confusion(probabilities, labels, digits=None, ax=None):
    """Counts of each true digit (columns) among each cluster's images (rows), from probabilities
    (n, k) and labels (n,); colour is the share of the row, so a pure cluster is one dark cell.
    digits (k,), from cluster_digits: the digit each cluster was named (-1: none); rows are then
    sorted by it, largest cluster first."""
    counts = cluster_confusion(probabilities, labels)                       # (k, 10)
    sizes, clusters = counts.sum(axis=1), np.arange(len(counts))             # (k,), (k,)
    names = [f"c{cluster}" for cluster in clusters]
    if digits is not None:
        digits = _as_cluster_digits(digits, len(clusters))
        clusters = np.lexsort((-sizes, np.where(digits < 0, NUM_CLASSES, digits)))   # "none" last
        names = [f"{name} → {'none' if digit < 0 else digit}" for name, digit in zip(names, digits)]
    shares = counts[clusters] / np.maximum(sizes[clusters], 1)[:, None]     # (k, 10), rows in order
    fig, ax = _figure_and_axes(ax, (6.5, 0.3 * len(clusters) + 1.6))
    cells = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for (row, column), count in np.ndenumerate(counts[clusters]):
        if count:
            ax.text(column, row, str(count), ha="center", va="center", fontsize=7,
                    color="white" if shares[row, column] > 0.5 else "black")
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(len(clusters)), [names[cluster] for cluster in clusters])
    sizes_axis = ax.secondary_yaxis("right")
    sizes_axis.set_yticks(range(len(clusters)), [str(sizes[cluster]) for cluster in clusters])
    sizes_axis.set_ylabel("images in the cluster")
    ax.tick_params(length=0)
    fig.colorbar(cells, ax=ax, pad=0.02, fraction=0.05, label="share of the cluster's images")
    ax.set(xlabel="true digit", ylabel="cluster" if digits is None else "cluster → digit it was named",
           title="clusters (rows) against true digits (columns)")
    return fig
