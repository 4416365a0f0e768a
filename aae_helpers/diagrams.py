"""Block diagrams of the six models, drawn with matplotlib patches and arrows (no image files)."""

from matplotlib.patches import FancyBboxPatch

from aae_helpers.plots import _subplots
from aae_helpers.settings import DEFAULTS

__all__ = ["plot_architecture"]

COLOURS = {  # kind -> (fill, edge)
    "data": ("#f3f3f3", "#6b6b6b"),
    "network": ("#d9e8f6", "#2b6ca3"),
    "critic": ("#fbe1d7", "#b5472b"),
    "prior": ("#dff0d9", "#3c7d32"),
    "loss": ("#fff3c9", "#a07800"),
}
INCHES_PER_UNIT = 0.72
X_HAT = r"$\hat{x}$"


# ---- the six diagrams: boxes (name, centre x, centre y, width, height, text, kind) and arrows
#      (start, end, label, dashed); an end is "box" or "box.side" (side: left/right/top/bottom).
def _main_row(y, latent_text, encoder_text, decoder_text):
    """x -> encoder -> z -> decoder -> x_hat, centred at height y."""
    return [("x", 0.8, y, 1.2, 0.9, "x\nimage (784)", "data"),
            ("encoder", 3.3, y, 2.6, 1.1, encoder_text, "network"),
            ("z", 5.95, y, 1.3, 0.9, latent_text, "data"),
            ("decoder", 8.6, y, 2.6, 1.1, decoder_text, "network"),
            ("x_hat", 11.4, y, 1.5, 0.9, X_HAT + "\nreconstruction", "data")]


MAIN_ARROWS = [("x", "encoder", None, False), ("encoder", "z", None, False),
               ("z", "decoder", None, False), ("decoder", "x_hat", None, False)]


def _reconstruction_loss(y):
    return ("rec_loss", 11.4, y, 2.3, 0.8, "reconstruction_loss\nMSE(x, " + X_HAT + ")", "loss")


def _autoencoder():
    boxes = _main_row(2.0, "z\ncode (2)", "encoder\n784-1000-1000-2", "decoder\n2-1000-1000-784")
    boxes.append(_reconstruction_loss(0.5))
    return (12.8, 2.7), boxes, MAIN_ARROWS + [("x_hat.bottom", "rec_loss.top", None, True)]


def _regularised(latent_dim, decoder_text, latent_text, width=1000):
    """The AAE layout: the main row on top, prior samples and the discriminator D below."""
    boxes = _main_row(3.3, latent_text, f"encoder\n784-{width}-{width}-{latent_dim}", decoder_text)
    boxes += [("prior", 2.5, 1.0, 2.6, 1.0, "prior p(z) = N(0, 5² I)\nsamples z′", "prior"),
              ("critic", 5.95, 1.0, 2.0, 1.0, f"discriminator D\n{latent_dim}-{width}-{width}-1", "critic"),
              ("verdict", 8.6, 1.0, 2.4, 1.0, "real or fake?\ndiscriminator_loss\ngenerator_loss",
               "loss"),
              _reconstruction_loss(1.0)]
    arrows = MAIN_ARROWS + [("z.bottom", "critic.top", "fake (0)", False),
                            ("prior", "critic", "real (1)", False), ("critic", "verdict", None, False),
                            ("x_hat.bottom", "rec_loss.top", None, True)]
    return boxes, arrows


def _aae():
    boxes, arrows = _regularised(2, "decoder\n2-1000-1000-784", "z\ncode (2)")
    return (12.8, 4.0), boxes, arrows


def _supervised_aae():
    boxes, arrows = _regularised(15, "decoder\n10+15-500-500-784", "z\nstyle (15)", width=500)
    boxes.append(("label", 8.6, 5.1, 2.6, 0.9, "y: one-hot label (10)\nthe digit's class", "data"))
    return (12.8, 5.8), boxes, arrows + [("label.bottom", "decoder.top", None, False)]


def _two_headed_aae(k, style, y_text, z_text, decoder_name, gaussian, side_box, side_arrow):
    """Notebooks 04 and 06: an encoder with heads y (k categories) and z (style), D_cat and
    D_gauss, a decoder reading [y, z], and one more loss box (side_box text) at the top left,
    joined to y by side_arrow (start, end, label)."""
    width = 1000  # models.HIDDEN_UNITS
    boxes = [("x", 0.8, 4.0, 1.2, 0.9, "x\nimage (784)", "data"),
             ("encoder", 3.1, 4.0, 2.4, 1.4, f"encoder\n784-{width}-{width}\ntwo heads", "network"),
             ("y", 5.9, 5.4, 1.6, 0.9, y_text, "data"),
             ("z", 5.9, 2.6, 1.6, 0.9, z_text, "data"),
             ("decoder", 8.8, 4.0, 2.6, 1.1, f"{decoder_name}\n{k}+{style}-{width}-{width}-784", "network"),
             ("x_hat", 11.5, 4.0, 1.5, 0.9, X_HAT + "\nreconstruction", "data"),
             ("cat", 11.6, 7.1, 2.2, 0.9, f"prior Cat({k})\none-hot samples", "prior"),
             ("d_cat", 8.5, 7.1, 2.2, 0.9, f"D_cat: real or fake?\n{k}-{width}-{width}-1", "critic"),
             ("gauss", 11.6, 0.9, 2.2, 0.9, f"prior {gaussian}\nsamples", "prior"),
             ("d_gauss", 8.5, 0.9, 2.2, 0.9, f"D_gauss: real or fake?\n{style}-{width}-{width}-1", "critic"),
             ("side", 2.4, 7.1, 3.4, 0.9, side_box, "loss"),
             ("rec_loss", 11.5, 2.5, 2.3, 0.8, "reconstruction_loss\nMSE(x, " + X_HAT + ")", "loss")]
    arrows = [("x", "encoder", None, False), ("encoder.right", "y.left", None, False),
              ("encoder.right", "z.left", None, False), ("y.right", "decoder.left", None, False),
              ("z.right", "decoder.left", None, False), ("decoder", "x_hat", None, False),
              ("y.top", "d_cat.left", "fake", False), ("cat", "d_cat", "real", False),
              ("z.bottom", "d_gauss.left", "fake", False), ("gauss", "d_gauss", "real", False),
              (*side_arrow, True),
              ("x_hat.bottom", "rec_loss.top", None, True)]
    return (12.8, 7.8), boxes, arrows


def _semi_supervised_aae():
    return _two_headed_aae(10, 10, "y\nsoftmax (10)", "z\nstyle (10)", "decoder", "N(0, 5² I)",
                           "1000 labelled images\ncross-entropy on y", ("side.bottom", "y.left", "labels"))


def _clustering_aae():
    """Notebook 04's layout with the labelled phase replaced by notebook 06's two added terms."""
    options = DEFAULTS["clustering-aae"].options
    k, style, std = options["num_clusters"], options["latent_dim"], options["prior_std"]
    return _two_headed_aae(k, style, f"y: cluster ({k})\nsoftmax", f"z: style ({style})", "decoder [y, z]",
                           "N(0, I)" if std == 1 else f"N(0, {std:g}² I)",
                           "balance + smoothness\n(notebook 06's additions)", ("y.top", "side.right", "q(y|x)"))


def _vae():
    boxes = [("x", 0.8, 3.0, 1.2, 0.9, "x\nimage (784)", "data"),
             ("encoder", 3.3, 4.4, 2.4, 1.0, "encoder q(z|x)\n784-128", "network"),
             ("classifier", 3.3, 1.6, 2.4, 1.0, "classifier p(y|x)\n784-128-10", "network"),
             ("moments", 6.0, 4.4, 1.9, 1.0, "mean μ (10)\nlog-variance", "data"),
             ("sampling", 8.3, 4.4, 1.9, 1.0, "z = μ + σ·ε\nε ~ N(0, I)", "prior"),
             ("y", 6.0, 1.6, 1.9, 1.0, "y\nsoftmax (10)", "data"),
             ("decoder", 10.5, 3.0, 1.9, 1.2, "decoder\np(x | y, z)\n10+10-128-784", "network"),
             ("x_hat", 12.6, 3.0, 1.5, 0.9, X_HAT + "\nreconstruction", "data"),
             ("loss", 8.6, 0.5, 9.6, 0.6, "loss = reconstruction (Gaussian, σ = 0.5) "
              "+ KL(q(z|x) ‖ N(0, I)) + 10 × cross-entropy(y, label)", "loss")]
    arrows = [("x.right", "encoder.left", None, False), ("x.right", "classifier.left", None, False),
              ("encoder", "moments", None, False), ("moments", "sampling", None, False),
              ("sampling.right", "decoder.top", "z", False), ("classifier", "y", None, False),
              ("y.right", "decoder.bottom", None, False), ("decoder", "x_hat", None, False),
              ("x_hat.bottom", "loss.top", None, True)]
    return (13.5, 5.3), boxes, arrows


DIAGRAMS = {
    "autoencoder": ("Autoencoder (Part 1)", _autoencoder),
    "aae": ("Adversarial autoencoder (Part 2)", _aae),
    "supervised-aae": ("Supervised AAE: style and content (Part 3)", _supervised_aae),
    "semi-supervised-aae": ("Semi-supervised AAE (Part 4)", _semi_supervised_aae),
    "vae": ("VAE with a digit classifier", _vae),
    "clustering-aae": ("Clustering AAE: digits with no labels (paper, section 5)", _clustering_aae),
}


# ---- drawing -----------------------------------------------------------------------------
def _anchor(box, side, other):
    """The point on `box`'s `side` (auto when None) facing the point `other`."""
    x, y, width, height = box
    if side is None:
        dx, dy = other[0] - x, other[1] - y
        side = ("right" if dx > 0 else "left") if abs(dx) * height >= abs(dy) * width else \
            ("top" if dy > 0 else "bottom")
    if side in ("top", "bottom"):
        across = other[0] if abs(other[0] - x) < width / 2 else x   # straight when aligned
        return across, y + (height / 2 if side == "top" else -height / 2)
    across = other[1] if abs(other[1] - y) < height / 2 else y
    return x + (width / 2 if side == "right" else -width / 2), across


def _endpoints(geometry, start, end):
    (start_name, _, start_side), (end_name, _, end_side) = start.partition("."), end.partition(".")
    start_box, end_box = geometry[start_name], geometry[end_name]
    begin = _anchor(start_box, start_side or None, end_box[:2])
    return begin, _anchor(end_box, end_side or None, begin)


def plot_architecture(model_name):
    """A block diagram of a model: "autoencoder", "aae", "supervised-aae", "semi-supervised-aae", "vae"
    or "clustering-aae"."""
    if model_name not in DIAGRAMS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {', '.join(DIAGRAMS)}.")
    title, layout = DIAGRAMS[model_name]
    (width, height), boxes, arrows = layout()
    fig, axes = _subplots(figsize=(INCHES_PER_UNIT * width, INCHES_PER_UNIT * height + 0.3))
    ax = axes[0, 0]
    geometry = {}
    for name, x, y, box_width, box_height, text, kind in boxes:
        fill, edge = COLOURS[kind]
        ax.add_patch(FancyBboxPatch((x - box_width / 2, y - box_height / 2), box_width, box_height,
                                    boxstyle="round,pad=0,rounding_size=0.12", facecolor=fill,
                                    edgecolor=edge, linewidth=1.3))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, linespacing=1.25)
        geometry[name] = (x, y, box_width, box_height)
    for start, end, label, dashed in arrows:
        begin, finish = _endpoints(geometry, start, end)
        ax.annotate("", xy=finish, xytext=begin,
                    arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.3, "shrinkA": 0,
                                "shrinkB": 0, "mutation_scale": 12,
                                "linestyle": "--" if dashed else "-"})
        if label:  # beside the arrow: above a horizontal one, right of a vertical one
            middle = ((begin[0] + finish[0]) / 2, (begin[1] + finish[1]) / 2)
            horizontal = abs(finish[0] - begin[0]) >= abs(finish[1] - begin[1])
            ax.text(middle[0] + (0 if horizontal else 0.1), middle[1] + (0.06 if horizontal else 0),
                    label, ha="center" if horizontal else "left", va="bottom" if horizontal else "center",
                    fontsize=7.5, style="italic")
    ax.set(xlim=(0, width), ylim=(0, height), title=title)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
