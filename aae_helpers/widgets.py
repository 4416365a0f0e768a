"""Interactive explorers: thin ipywidgets controls wired to pure render_* functions that return Figures."""

import contextlib
import io
import math
import warnings

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from aae_helpers.checks import IMAGE_SIDE, NUM_CLASSES, check_images_and_labels
from aae_helpers.plots import (CLASS_CMAP, PRIOR_COLOUR, _as_cluster_digits, _show_digit, _show_tiled,
                               plot_class_probabilities)
from aae_helpers.priors import PRIORS, sample_prior
from aae_helpers.trainers import (ClassifierVAE, ClusteringAdversarialAutoencoder,
                                  SemiSupervisedAdversarialAutoencoder, SupervisedAdversarialAutoencoder)

__all__ = ["render_latent_view", "render_prior_samples", "render_style_view", "render_classification",
           "render_interpolation", "render_cluster_view", "latent_explorer", "prior_explorer",
           "style_explorer", "classification_explorer", "conditional_generation_explorer", "cluster_explorer"]

DPI = 80                      # small PNGs keep every render well under 150 ms
CODE_PIXELS = 150             # resolution of the codes picture in latent_explorer
CONDITIONAL_TRAINERS = (SupervisedAdversarialAutoencoder, SemiSupervisedAdversarialAutoencoder,
                        ClassifierVAE)   # generate(digits, z) draws a chosen digit in style z


# ---- plumbing: figures to PNG, one refresh per change ------------------------------------
def _figure(width, height, **margins):
    """A Figure outside pyplot (nothing keeps it once its PNG is made), with fixed margins for speed."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(**margins)
    return fig


def _to_png(fig):
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


class _Refresher:
    """Calls `draw()` and shows its Figure in `image`; `hold()` batches many control changes into one.

    A control set to NaN or infinity (from code: a slider's own checks let NaN through) is put
    back to its previous value instead of being drawn.
    """

    def __init__(self, draw, image):
        self.draw, self.image, self.holding = draw, image, False

    def __call__(self, change=None):
        new = change.get("new") if isinstance(change, dict) else None
        if isinstance(new, float) and not math.isfinite(new):
            name = getattr(change["owner"], "description", "") or "a control"
            warnings.warn(f"{name} must be a finite number, got {new}; it stays at {change['old']}.")
            change["owner"].value = change["old"]  # observed again, with a finite value
            return
        if not self.holding:
            self.image.value = _to_png(self.draw())

    @contextlib.contextmanager
    def hold(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        self()


def _wire(controls, draw):
    """An Image showing draw()'s Figure, re-rendered once per change of any control's `value`."""
    # flex-start: shown at the figure's own size, not stretched to the output area's width
    image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
    refresh = _Refresher(draw, image)
    for control in controls.values():
        for widget in control if isinstance(control, list) else [control]:
            if "value" in widget.trait_names():
                widget.observe(refresh, names="value")
    return image, refresh


class Explorer(widgets.VBox):
    """An explorer's box: `.controls`, `.image` and `.info` give tests and notebooks the parts.
    Where widgets cannot run (a saved notebook on GitHub or in nbviewer) it reads as one line."""

    def __repr__(self):
        return "Interactive explorer: run the notebook in Jupyter to use it."


def _explorer(children, controls, image, refresh, info=None):
    """The returned Explorer, drawn once."""
    box = Explorer(children)
    box.controls, box.image, box.info = controls, image, info
    refresh()
    return box


def _style_sliders(latent_dim, limit, initial):
    sliders = [widgets.FloatSlider(value=float(value), min=-limit, max=limit, step=limit / 50,
                                   description=f"z[{dim}]", readout_format=".2f",
                                   layout=widgets.Layout(width="260px"))
               for dim, value in enumerate(initial)]
    grid = widgets.GridBox(sliders, layout=widgets.Layout(grid_template_columns="repeat(3, 270px)"))
    return sliders, grid


def _prior_std(trainer):
    return float(getattr(trainer, "prior_std", 1.0))   # the VAE's prior is N(0, I)


def _random_style_button(trainer, sliders, refresh, seed):
    """A button that sets every slider to a new prior sample (seed + 1, seed + 2, ...) in one render."""
    button = widgets.Button(description="New random style", icon="random",
                            layout=widgets.Layout(width="auto"))
    clicks = [seed]

    def on_click(_):
        clicks[0] += 1
        with refresh.hold():
            for slider, value in zip(sliders, trainer.sample_styles(1, seed=clicks[0])[0]):
                slider.value = float(value)
    button.on_click(on_click)
    return button


def _digit_buttons():
    return widgets.ToggleButtons(options=[(str(digit), digit) for digit in range(NUM_CLASSES)], value=0,
                                 description="digit", style={"button_width": "34px"})


def _require(trainer, kinds, explorer):
    if not isinstance(trainer, kinds):
        names = ", ".join(kind.__name__ for kind in kinds)
        raise ValueError(f"{explorer} needs a {names}; got {type(trainer).__name__}.")


# ---- A. latent space of a 2-D model ------------------------------------------------------
def _describe_point(codes, labels, point):
    distances = np.linalg.norm(codes - np.asarray(point, dtype=np.float32), axis=1)   # (n,)
    nearest = int(distances.argmin())
    return (f"z = ({point[0]:.2f}, {point[1]:.2f}); nearest data code {distances[nearest]:.2f} away "
            f"(a {int(labels[nearest])})")


def _codes_image(codes, labels, extent, bins=CODE_PIXELS):
    """RGBA (bins, bins) of codes (n, 2): a cell takes its most common digit's colour; empty is clear."""
    counts = np.stack([np.histogram2d(codes[labels == digit, 1], codes[labels == digit, 0], bins=bins,
                                      range=[extent[2:], extent[:2]])[0] for digit in range(NUM_CLASSES)])
    rgba = np.zeros((bins, bins, 4))
    rgba[..., :3] = np.asarray(colormaps[CLASS_CMAP].colors)[counts.argmax(axis=0)]
    rgba[..., 3] = counts.sum(axis=0) > 0
    return rgba


def render_latent_view(decoded_image, codes, labels, point, extent):
    """Left: codes (n, 2) coloured by labels (n,), `point` marked; right: decoded_image (784,) of point.

    extent: (z0_min, z0_max, z1_min, z1_max) of the view. The codes are drawn as a fine
    per-class 2-D histogram, so a render costs the same for 500 or 60,000 codes.
    """
    fig = _figure(7.0, 3.4, left=0.1, right=0.98, bottom=0.14, top=0.86, wspace=0.3)
    scatter_ax, image_ax = fig.subplots(1, 2, width_ratios=[1.2, 1])
    scatter_ax.imshow(_codes_image(codes, labels, extent), origin="lower", extent=extent,
                      interpolation="nearest", aspect="auto")
    scatter_ax.set_box_aspect(1)
    colours = ScalarMappable(Normalize(-0.5, NUM_CLASSES - 0.5), CLASS_CMAP)
    fig.colorbar(colours, cax=scatter_ax.inset_axes([1.03, 0.0, 0.05, 1.0]), ticks=range(NUM_CLASSES))
    scatter_ax.plot(point[0], point[1], marker="X", markersize=12, color="black", markeredgecolor="white")
    scatter_ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="z[0]", ylabel="z[1]")
    _show_digit(image_ax, decoded_image, _describe_point(codes, labels, point).replace("; ", "\n"))
    return fig


def _latent_extent(extent, codes, trainer):
    if extent is None and hasattr(trainer, "prior_std"):
        extent = (-2 * trainer.prior_std, 2 * trainer.prior_std)      # (-10, 10) for the AAE
    elif extent is None:
        low, high = codes.min(axis=0), codes.max(axis=0)
        pad = 0.1 * (high - low) + 1e-3
        extent = (low[0] - pad[0], high[0] + pad[0], low[1] - pad[1], high[1] + pad[1])
    extent = tuple(float(value) for value in extent)
    extent = extent * 2 if len(extent) == 2 else extent
    if not all(math.isfinite(value) for value in extent):
        raise ValueError(f"extent must hold finite numbers (low, high) or (z0_min, z0_max, z1_min, z1_max), "
                         f"got {extent}; pass the code range to show, e.g. (-10, 10).")
    if len(extent) != 4 or extent[0] >= extent[1] or extent[2] >= extent[3]:
        raise ValueError(f"extent must be (low, high) or (z0_min, z0_max, z1_min, z1_max) with "
                         f"min < max, got {extent}.")
    return extent


def latent_explorer(trainer, images, labels, extent=None):
    """Sliders over a 2-D latent space: where a point sits among the codes, and what it decodes to."""
    if getattr(trainer, "latent_dim", None) != 2 or getattr(trainer, "decoder_classes", None) != 0:
        raise ValueError(f"latent_explorer needs an Autoencoder or AdversarialAutoencoder (a decoder "
                         f"that takes z alone) with latent_dim=2; got {type(trainer).__name__} with "
                         f"latent_dim={getattr(trainer, 'latent_dim', None)}.")
    images, labels = check_images_and_labels(images, labels, "latent_explorer")
    codes = trainer.encode(images)                                  # (n, 2), computed once
    extent = _latent_extent(extent, codes, trainer)
    x, y = (widgets.FloatSlider(value=float(np.clip(0.0, low, high)), min=low, max=high,
                                step=(high - low) / 200, description=name, readout_format=".2f")
            for name, low, high in (("z[0]", *extent[:2]), ("z[1]", *extent[2:])))
    info = widgets.HTML()

    def draw():
        point = (x.value, y.value)
        info.value = _describe_point(codes, labels, point)
        return render_latent_view(trainer.decode(np.array([point]))[0], codes, labels, point, extent)
    controls = {"x": x, "y": y}
    image, refresh = _wire(controls, draw)
    return _explorer([widgets.HBox([x, y]), info, image], controls, image, refresh, info)


# ---- B. priors ---------------------------------------------------------------------------
def render_prior_samples(samples, title, limit):
    """Scatter of samples (n, >= 2) in [-limit, limit]^2 and histograms of z[0] and z[1]."""
    fig = _figure(6.6, 3.0, left=0.09, right=0.97, bottom=0.16, top=0.88, wspace=0.15)
    scatter_ax, hist_ax = fig.subplots(1, 2, width_ratios=[1, 1.1])
    scatter_ax.scatter(samples[:, 0], samples[:, 1], s=3, color=PRIOR_COLOUR, alpha=0.5, linewidths=0)
    scatter_ax.set(xlim=(-limit, limit), ylim=(-limit, limit), xlabel="z[0]", ylabel="z[1]", title=title)
    scatter_ax.set_aspect("equal")
    bins = np.linspace(-limit, limit, 41)
    for dim, colour in ((0, "tab:blue"), (1, "tab:green")):
        hist_ax.hist(samples[:, dim], bins=bins, histtype="step", color=colour, label=f"z[{dim}]")
    hist_ax.set(yticks=[], title="per-dimension histograms")
    hist_ax.legend(fontsize=8)
    return fig


def _priors_for(latent_dim):
    """PRIORS names that can sample `latent_dim` dims, without the one-hot "categorical"."""
    def works(name):
        try:
            return sample_prior(name, 1, latent_dim, seed=0) is not None
        except ValueError:   # a 2-D-only prior asked for more dims
            return False
    return [name for name in PRIORS if name != "categorical" and works(name)]


def prior_explorer(latent_dim=2, num_samples=2000, seed=0):
    """Pick a prior and its std; `explorer.controls["prior"].value` is the chosen name."""
    for name, value, minimum in (("latent_dim", latent_dim, 2), ("num_samples", num_samples, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    prior = widgets.Dropdown(options=_priors_for(latent_dim), value="gaussian", description="prior")
    std = widgets.FloatSlider(value=5.0, min=0.5, max=8.0, step=0.5, description="std")
    limit = 2.5 * std.max

    def draw():
        samples = np.asarray(sample_prior(prior.value, num_samples, latent_dim, seed=seed, std=std.value))
        dims = "" if latent_dim == 2 else f", first 2 of {latent_dim} dims"
        return render_prior_samples(samples, f"{prior.value} (std {std.value:g}{dims})", limit)
    controls = {"prior": prior, "std": std}
    image, refresh = _wire(controls, draw)
    return _explorer([widgets.HBox([prior, std]), image], controls, image, refresh)


# ---- C. style and content ----------------------------------------------------------------
def render_style_view(image, digit, row=None):
    """The generated digit image (784,); with row (10, 784), also all ten digits in the same style."""
    if row is None:
        fig = _figure(2.2, 2.4, left=0.05, right=0.95, bottom=0.05, top=0.88)
        _show_digit(fig.subplots(), image, f"digit {digit}")
        return fig
    fig = _figure(8.0, 1.9, left=0.01, right=0.99, bottom=0.15, top=0.86, wspace=0.05)
    digit_ax, row_ax = fig.subplots(1, 2, width_ratios=[1.7, 10])
    _show_digit(digit_ax, image, f"digit {digit}")
    _show_tiled(row_ax, np.asarray(row), 1, NUM_CLASSES, column_labels=list(range(NUM_CLASSES)))
    row_ax.add_patch(Rectangle((digit * IMAGE_SIDE + 0.5, 0.5), IMAGE_SIDE - 2, IMAGE_SIDE - 2,
                               fill=False, edgecolor="tab:red", linewidth=2))
    row_ax.set_title("the same style z, digits 0-9", fontsize=9)
    return fig


def style_explorer(trainer, seed=0):
    """One slider per style dim and a digit selector: draw any digit in any style (Part 3)."""
    _require(trainer, CONDITIONAL_TRAINERS, "style_explorer")
    digit = _digit_buttons()
    sliders, grid = _style_sliders(trainer.latent_dim, 2.5 * _prior_std(trainer),
                                   trainer.sample_styles(1, seed=seed)[0])
    show_row = widgets.Checkbox(value=False, description="show the whole row 0-9")

    def draw():
        z = np.array([[slider.value for slider in sliders]], dtype=np.float32)   # (1, latent_dim)
        if not show_row.value:
            return render_style_view(trainer.generate([digit.value], z=z)[0], digit.value)
        row = trainer.generate(np.arange(NUM_CLASSES), z=np.repeat(z, NUM_CLASSES, axis=0))
        return render_style_view(row[digit.value], digit.value, row)
    controls = {"digit": digit, "z": sliders, "show_row": show_row}
    image, refresh = _wire(controls, draw)
    controls["random_style"] = _random_style_button(trainer, sliders, refresh, seed)
    return _explorer([digit, grid, widgets.HBox([controls["random_style"], show_row]), image],
                     controls, image, refresh)


# ---- D. classification -------------------------------------------------------------------
def render_classification(image, probabilities, true_label, reconstruction=None):
    """The input image (784,), its reconstruction when given, and class probabilities (10,)."""
    panels = 2 if reconstruction is None else 3
    fig = _figure(8.0 if panels == 3 else 6.0, 2.6, left=0.02, right=0.98, bottom=0.18, top=0.86,
                  wspace=0.3)
    axes = fig.subplots(1, panels, width_ratios=[1] * (panels - 1) + [2.4])
    _show_digit(axes[0], image, f"input (label {int(true_label)})")
    if reconstruction is not None:
        _show_digit(axes[1], reconstruction, "reconstruction")
    plot_class_probabilities(probabilities, ax=axes[-1], true_label=true_label)
    return fig


def classification_explorer(trainer, images, labels, seed=0):
    """Step through images: the input, its reconstruction and the predicted class probabilities."""
    if not callable(getattr(trainer, "classify", None)):
        raise ValueError(f"classification_explorer needs a trainer with classify(images), e.g. a "
                         f"SemiSupervisedAdversarialAutoencoder or ClassifierVAE; got {type(trainer).__name__}.")
    images, labels = check_images_and_labels(images, labels, "classification_explorer")
    probabilities = trainer.classify(images)                        # (n, 10), computed once
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    index = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")
    random_button = widgets.Button(description="Random", icon="random")
    generator = np.random.default_rng(seed)
    random_button.on_click(lambda _: setattr(index, "value", int(generator.integers(len(images)))))
    info = widgets.HTML()

    def draw():
        i = index.value
        predicted = int(probabilities[i].argmax())
        verdict = "correct" if predicted == labels[i] else "wrong"
        info.value = (f"image {i}: label {labels[i]}, predicted {predicted} ({verdict}); "
                      f"accuracy on these {len(images)} images: {accuracy:.1%}")
        reconstruction = trainer.reconstruct(images[i:i + 1])[0] if hasattr(trainer, "reconstruct") else None
        return render_classification(images[i], probabilities[i], labels[i], reconstruction)
    controls = {"index": index, "random": random_button}
    image, refresh = _wire(controls, draw)
    return _explorer([widgets.HBox([index, random_button]), info, image], controls, image, refresh, info)


# ---- E. conditional generation (VAE) -----------------------------------------------------
def render_interpolation(image, strip, t, from_digit, to_digit):
    """The image (784,) decoded at t, beside a strip (k, 784) of images for t = 0 .. 1."""
    fig = _figure(8.0, 1.9, left=0.01, right=0.99, bottom=0.15, top=0.86, wspace=0.05)
    image_ax, strip_ax = fig.subplots(1, 2, width_ratios=[1.7, len(strip)])
    _show_digit(image_ax, image, f"t = {t:.2f}")
    steps = np.linspace(0.0, 1.0, len(strip))
    _show_tiled(strip_ax, np.asarray(strip), 1, len(strip), column_labels=[f"{s:.2f}" for s in steps])
    strip_ax.axvline(t * (len(strip) - 1) * IMAGE_SIDE + IMAGE_SIDE / 2 - 0.5, color="tab:red", lw=2)
    strip_ax.set_title(f"class vector (1 - t) one_hot({from_digit}) + t one_hot({to_digit}), one style z",
                       fontsize=9)
    return fig


def conditional_generation_explorer(trainer, seed=0):
    """Generate a chosen digit from a chosen z, or morph between two digits in one style (VAE)."""
    _require(trainer, (ClassifierVAE, SemiSupervisedAdversarialAutoencoder), "conditional_generation_explorer")
    one_hot = np.eye(NUM_CLASSES, dtype=np.float32)
    digit = _digit_buttons()
    from_digit = widgets.Dropdown(options=list(range(NUM_CLASSES)), value=0, description="from digit")
    to_digit = widgets.Dropdown(options=list(range(NUM_CLASSES)), value=1, description="to digit")
    t = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
    tab = widgets.Tab(children=[digit, widgets.HBox([from_digit, to_digit, t])],
                      titles=["Generate a digit", "Interpolate between two digits"])
    sliders, grid = _style_sliders(trainer.latent_dim, 3.0 * _prior_std(trainer),
                                   trainer.sample_styles(1, seed=seed)[0])

    def draw():
        z = np.array([[slider.value for slider in sliders]], dtype=np.float32)   # (1, latent_dim)
        if tab.selected_index != 1:
            return render_style_view(trainer.decode(z, one_hot[[digit.value]])[0], digit.value)
        steps = np.append(np.linspace(0.0, 1.0, 9), t.value)[:, None]              # (10, 1)
        classes = (1 - steps) * one_hot[from_digit.value] + steps * one_hot[to_digit.value]
        images = trainer.decode(np.repeat(z, len(classes), axis=0), classes)       # one batched call
        return render_interpolation(images[-1], images[:-1], t.value, from_digit.value, to_digit.value)
    controls = {"tab": tab, "digit": digit, "from_digit": from_digit, "to_digit": to_digit, "t": t,
                "z": sliders}
    image, refresh = _wire(controls, draw)
    tab.observe(refresh, names="selected_index")
    controls["random_style"] = _random_style_button(trainer, sliders, refresh, seed)
    return _explorer([tab, grid, controls["random_style"], image], controls, image, refresh)


# ---- F. clusters found without labels ----------------------------------------------------
def _cluster_label(cluster, names=None, separator=" "):
    """"c3", or "c3 (7)" when names (k,) say cluster 3 was named digit 7 (-1: "none")."""
    if names is None:
        return f"c{cluster}"
    return f"c{cluster}{separator}({'none' if names[cluster] < 0 else names[cluster]})"


def render_cluster_view(image, cluster, strip, names=None):
    """The chosen cluster's image (784,), large, beside the same style through every cluster,
    strip (k, 784), the chosen one framed; names (k,): each cluster's digit, for the labels."""
    fig = _figure(10.0, 2.0, left=0.01, right=0.99, bottom=0.22, top=0.86, wspace=0.04)
    image_ax, strip_ax = fig.subplots(1, 2, width_ratios=[2.4, len(strip)])
    _show_digit(image_ax, image, f"cluster {_cluster_label(cluster, names)}")
    _show_tiled(strip_ax, np.asarray(strip), 1, len(strip),
                column_labels=[_cluster_label(index, names, "\n") for index in range(len(strip))])
    strip_ax.tick_params(labelsize=7)
    strip_ax.add_patch(Rectangle((cluster * IMAGE_SIDE + 0.5, 0.5), IMAGE_SIDE - 2, IMAGE_SIDE - 2,
                                 fill=False, edgecolor="tab:red", linewidth=2))
    strip_ax.set_title("the same style z through every cluster", fontsize=9)
    return fig


def cluster_explorer(trainer, names=None, seed=0):
    """Pick a cluster and a style: its digit, beside that style through all k clusters (notebook 06).
    names (k,): the digit each cluster was named, from cluster_digits, shown in the labels."""
    _require(trainer, (ClusteringAdversarialAutoencoder,), "cluster_explorer")
    num_clusters = trainer.num_clusters
    if names is not None:
        names = _as_cluster_digits(names, num_clusters, "names")
    options = [(_cluster_label(index, names), index) for index in range(num_clusters)]
    cluster = widgets.Dropdown(options=options, value=0, description="cluster")
    sliders, grid = _style_sliders(trainer.latent_dim, 3.0 * _prior_std(trainer),
                                   trainer.sample_styles(1, seed=seed)[0])

    def draw():
        z = np.array([[slider.value for slider in sliders]], dtype=np.float32)       # (1, latent_dim)
        strip = trainer.generate(np.arange(num_clusters), z=np.repeat(z, num_clusters, axis=0))   # (k, 784)
        return render_cluster_view(strip[cluster.value], cluster.value, strip, names)
    controls = {"cluster": cluster, "z": sliders}
    image, refresh = _wire(controls, draw)
    controls["random_style"] = _random_style_button(trainer, sliders, refresh, seed)
    return _explorer([cluster, grid, controls["random_style"], image], controls, image, refresh)
