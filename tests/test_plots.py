"""Tests for aae_helpers.plots and aae_helpers.diagrams: every plot returns a Figure of finite data."""

import matplotlib

matplotlib.use("Agg")

import dataclasses  # noqa: E402
import itertools  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from figure_checks import assert_finite  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from aae_helpers import diagrams, plots  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.random((40, 784), dtype=np.float32)
LABELS = np.arange(40) % 10


@pytest.fixture(autouse=True)
def no_files_and_no_open_figures(tmp_path, monkeypatch):
    """Plots never write files and never leave figures registered with pyplot."""
    monkeypatch.chdir(tmp_path)
    plt.close("all")
    yield
    assert plt.get_fignums() == []
    assert list(tmp_path.iterdir()) == []


def test_public_names_are_exported():
    defined_here = {name for name, value in vars(plots).items()
                    if callable(value) and not name.startswith("_")
                    and getattr(value, "__module__", None) == plots.__name__}
    assert set(plots.__all__) == defined_here
    assert diagrams.__all__ == ["plot_architecture"]
    assert all(callable(getattr(plots, name)) for name in plots.__all__)


# ---- digits ------------------------------------------------------------------------------
def test_plot_digits_grid_and_titles():
    fig = plots.plot_digits(IMAGES[:20], titles=[str(label) for label in LABELS[:20]])
    assert len(fig.axes) == 20 and all(len(ax.images) == 1 for ax in fig.axes)
    assert fig.axes[0].images[0].get_array().shape == (28, 28)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]
    assert fig.axes[0].get_xticks().size == 0
    assert_finite(fig)


def test_plot_digits_accepts_28x28_and_limits_rows():
    fig = plots.plot_digits(IMAGES.reshape(-1, 28, 28), nrows=1)
    assert len(fig.axes) == 10
    fig = plots.plot_digits(IMAGES[:13], ncols=5)         # 3 rows of 5, two empty cells
    assert len(fig.axes) == 15 and sum(len(ax.images) for ax in fig.axes) == 13


def test_plot_digits_errors():
    with pytest.raises(ValueError, match=r"\(n, 784\)"):
        plots.plot_digits(np.zeros((3, 100)))
    with pytest.raises(ValueError, match="titles"):
        plots.plot_digits(IMAGES[:5], titles=["a"])


def test_plot_reconstructions_two_labelled_rows():
    fig = plots.plot_reconstructions(IMAGES, 1 - IMAGES, num_samples=8)
    assert len(fig.axes) == 16
    np.testing.assert_allclose(fig.axes[8].images[0].get_array(), (1 - IMAGES[0]).reshape(28, 28))
    assert fig.axes[0].get_ylabel() == "input" and fig.axes[8].get_ylabel() == "reconstruction"
    assert_finite(fig)
    with pytest.raises(ValueError, match="same shape"):
        plots.plot_reconstructions(IMAGES, IMAGES[:5])


def test_plot_style_grid_tiles_rows_of_digits():
    fig = plots.plot_style_grid(IMAGES[:20].repeat(5, axis=0), row_labels=[f"style {i}" for i in range(10)])
    (ax,) = fig.axes
    tiled = ax.images[0].get_array()
    assert tiled.shape == (280, 280)
    np.testing.assert_allclose(tiled[28:56, 0:28], IMAGES[2].reshape(28, 28))   # row 1, column 0
    assert [label.get_text() for label in ax.get_xticklabels()] == [str(d) for d in range(10)]
    assert ax.get_yticklabels()[9].get_text() == "style 9"
    assert_finite(fig)
    with pytest.raises(ValueError, match="rows of 10"):
        plots.plot_style_grid(IMAGES[:15])
    with pytest.raises(ValueError, match="row_labels"):
        plots.plot_style_grid(IMAGES[:20], row_labels=["only one"])


def test_plot_digit_rows_one_row_per_label():
    rows = IMAGES[:30].reshape(3, 10, 784)
    fig = plots.plot_digit_rows(rows, [f"epoch {i}" for i in (1, 2, 3)])
    (ax,) = fig.axes
    assert ax.images[0].get_array().shape == (84, 280)
    assert ax.get_xlabel() == "digit fed to the decoder"
    assert plots.plot_digit_rows(rows, ["a", "b", "c"], xlabel="style").axes[0].get_xlabel() == "style"
    np.testing.assert_allclose(ax.images[0].get_array()[56:, 28:56], rows[2, 1].reshape(28, 28))
    assert_finite(fig)
    with pytest.raises(ValueError, match=r"\(num_rows, 10, 784\)"):
        plots.plot_digit_rows(IMAGES[:30], ["a"])
    with pytest.raises(ValueError, match="row_labels"):
        plots.plot_digit_rows(rows, ["a"])


# ---- codes and priors --------------------------------------------------------------------
def test_plot_latent_scatter_colours_by_digit():
    codes = RNG.normal(size=(40, 2))
    fig = plots.plot_latent_scatter(codes, LABELS)
    ax, colorbar = fig.axes
    np.testing.assert_allclose(ax.collections[0].get_offsets(), codes)
    np.testing.assert_array_equal(ax.collections[0].get_array(), LABELS)
    np.testing.assert_array_equal(colorbar.get_yticks(), np.arange(10))
    assert_finite(fig)


def test_plot_latent_scatter_high_dim_codes_and_given_ax():
    fig, ax = plt.subplots()
    plt.close(fig)
    returned = plots.plot_latent_scatter(RNG.normal(size=(40, 15)), LABELS, ax=ax, title="AAE codes")
    assert returned is fig
    assert "AAE codes" in ax.get_title() and "first 2 of 15 dims" in ax.get_title()


def test_plot_latent_scatter_errors():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        plots.plot_latent_scatter(RNG.normal(size=(40, 1)), LABELS)
    with pytest.raises(ValueError, match=r"\(40,\)"):
        plots.plot_latent_scatter(RNG.normal(size=(40, 2)), LABELS[:5])


def test_plot_code_histograms_per_dimension_with_prior():
    codes, prior = RNG.normal(size=(500, 2)), RNG.normal(scale=5, size=(500, 2))
    fig = plots.plot_code_histograms(codes, prior)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        heights = [patch.get_height() for patch in ax.patches if patch.get_label() != "prior samples"]
        assert len(heights) == 40 and np.all(np.isfinite(heights))
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["codes", "prior samples"]
    fig = plots.plot_code_histograms(RNG.normal(size=(100, 15)))
    assert len(fig.axes) == 4 and "first 4 of 15" in fig.get_suptitle()
    with pytest.raises(ValueError, match="latent_dim 2"):
        plots.plot_code_histograms(codes, RNG.normal(size=(10, 3)))


def test_plot_codes_vs_prior_side_by_side_on_shared_limits():
    codes, prior = RNG.normal(size=(200, 2)), RNG.normal(scale=5, size=(300, 2))
    fig = plots.plot_codes_vs_prior(codes, prior)
    assert len(fig.axes) == 4
    code_ax, prior_ax = fig.axes[:2]
    assert code_ax.get_xlim() == prior_ax.get_xlim() == code_ax.get_ylim()
    assert "prior's shape" in fig.get_suptitle() and "centred" not in fig.get_suptitle()  # a swiss roll is not
    assert_finite(fig)
    fig = plots.plot_codes_vs_prior(codes, prior, labels=np.arange(200) % 10)
    assert len(fig.axes) == 5                                   # plus the digit colorbar
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)                                           # lay out, as when it is shown
    colorbar, prior_ax = fig.axes[-1], fig.axes[1]
    bar_box = colorbar.get_tightbbox(renderer)
    # the bar sits right of both panels, not between them, where its label met the prior panel's z[1]
    assert bar_box.x0 >= prior_ax.get_tightbbox(renderer).x1


def test_plot_latent_grid_one_batched_call_in_the_right_orientation():
    calls = []

    def decode(z):                  # pixel value = where the point is: oracle for the tiling
        calls.append(z.shape)
        return np.repeat(((z[:, :1] + 10) / 20 + (z[:, 1:] + 10) / 40) / 1.5, 784, axis=1)

    fig = plots.plot_latent_grid(decode, steps=5)
    assert calls == [(25, 2)]
    (ax,) = fig.axes
    tiled = ax.images[0].get_array()
    assert tiled.shape == (140, 140)
    top_left, top_right, bottom_left = tiled[0, 0], tiled[0, -1], tiled[-1, 0]
    np.testing.assert_allclose([top_left, top_right, bottom_left],
                               np.array([0 + 0.5, 1 + 0.5, 0 + 0]) / 1.5, rtol=1e-6)
    np.testing.assert_allclose(ax.images[0].get_extent(), [-12.5, 12.5, -12.5, 12.5])
    assert_finite(fig)


def test_plot_latent_grid_per_axis_range_for_the_autoencoder():
    fig = plots.plot_latent_grid(lambda z: np.full((len(z), 784), 0.5), low=(-1.0, 0.0), high=(3.0, 8.0),
                                 steps=3)
    np.testing.assert_allclose(fig.axes[0].images[0].get_extent(), [-2, 4, -2, 10])
    with pytest.raises(ValueError, match="low < high"):
        plots.plot_latent_grid(lambda z: z, low=1.0, high=1.0)
    with pytest.raises(ValueError, match="returned 1 images for 4 points"):
        plots.plot_latent_grid(lambda z: np.zeros((1, 784)), steps=2)


# ---- training curves and classification --------------------------------------------------
class FakeHistory:
    history = {"discriminator_loss": [1.2, 1.3, 1.38], "generator_loss": [0.9, 0.8, 0.7]}


def test_plot_history_epochs_from_one_and_reference_line():
    fig = plots.plot_history(FakeHistory(), keys=["discriminator_loss"], title="AAE",
                             reference=(2 * np.log(2), "chance: 2 ln 2"))
    (ax,) = fig.axes
    curve, reference = ax.lines
    np.testing.assert_array_equal(curve.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(reference.get_ydata(), [2 * np.log(2)] * 2)
    assert reference.get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["discriminator_loss", "chance: 2 ln 2"]
    assert len(plots.plot_history(FakeHistory.history).axes[0].lines) == 2
    with pytest.raises(ValueError, match="no entries"):
        plots.plot_history(FakeHistory.history, keys=["accuracy"])


def test_plot_accuracy_curves_one_line_per_run():
    curves = {"baseline (1000 labels)": [0.7, 0.8, 0.86], "semi-supervised AAE": [0.6, 0.9, 0.95]}
    fig = plots.plot_accuracy_curves(curves)
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert "semi-supervised AAE (last 95.0%)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert_finite(fig)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_accuracy_curves({})


def test_plot_confusion_matrix_counts_match_numpy():
    labels = RNG.integers(0, 10, 300)
    predictions = np.where(RNG.random(300) < 0.7, labels, RNG.integers(0, 10, 300))
    fig = plots.plot_confusion_matrix(labels, predictions)
    (ax,) = fig.axes
    expected = np.array([[np.sum((labels == row) & (predictions == column)) for column in range(10)]
                         for row in range(10)])
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [int(text.get_text()) for text in ax.texts] == expected.ravel().tolist()
    assert f"{np.mean(labels == predictions):.1%}" in ax.get_title()
    probabilities = np.eye(10)[predictions]
    np.testing.assert_array_equal(plots.plot_confusion_matrix(labels, probabilities).axes[0].images[0]
                                  .get_array(), expected)
    with pytest.raises(ValueError, match="predictions"):
        plots.plot_confusion_matrix(labels, predictions + 0.5)


# Four clusters by hand: cluster (row) -> {digit: count}; cluster 3 holds no image.
CLUSTERS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0])
DIGITS = np.array([7, 7, 1, 3, 3, 0, 0, 0, 5, 7])
ORACLE = {0: {7: 3, 1: 1}, 1: {3: 2}, 2: {0: 3, 5: 1}, 3: {}}


def drawn_counts(ax):
    """{(row, column): count} read back from the annotations of plot_cluster_confusion."""
    return {(round(text.get_position()[1]), round(text.get_position()[0])): int(text.get_text())
            for text in ax.texts}


def tick_texts(labels):
    return [label.get_text() for label in labels]


def test_plot_cluster_confusion_counts_match_a_hand_count():
    fig = plots.plot_cluster_confusion(np.eye(4)[CLUSTERS], DIGITS)
    ax, sizes_axis = fig.axes[0], fig.axes[0].child_axes[0]
    assert drawn_counts(ax) == {(row, digit): count for row, counts in ORACLE.items()
                                for digit, count in counts.items()}              # no "0" drawn
    assert tick_texts(ax.get_yticklabels()) == ["c0", "c1", "c2", "c3"]
    assert tick_texts(sizes_axis.get_yticklabels()) == ["4", "2", "4", "0"]
    shares = ax.images[0].get_array()
    np.testing.assert_allclose(shares[0, [1, 7]], [0.25, 0.75])                 # share of the row
    assert shares[1, 3] == 1.0 and shares[3].sum() == 0.0
    assert ax.get_title() == "clusters (rows) against true digits (columns)"
    assert_finite(fig)


@pytest.mark.parametrize("digits, order", [
    ([7, 3, 0, -1], [2, 1, 0, 3]),             # by digit; a cluster named none last
    ([3, 3, 0, -1], [2, 0, 1, 3]),             # one digit: the larger cluster (4 images) first
])
def test_plot_cluster_confusion_rows_sorted_by_digit(digits, order):
    fig = plots.plot_cluster_confusion(np.eye(4)[CLUSTERS], DIGITS, digits=np.array(digits))
    ax = fig.axes[0]
    names = {cluster: "none" if digit < 0 else str(digit) for cluster, digit in enumerate(digits)}
    assert tick_texts(ax.get_yticklabels()) == [f"c{cluster} → {names[cluster]}" for cluster in order]
    assert drawn_counts(ax) == {(row, digit): count for row, cluster in enumerate(order)
                                for digit, count in ORACLE[cluster].items()}
    assert tick_texts(ax.child_axes[0].get_yticklabels()) == [str(sum(ORACLE[c].values())) for c in order]


@pytest.mark.parametrize("arguments, message", [
    ({"digits": np.array([7, 3, 0])}, r"one digit in -1..9 per cluster \(shape \(4,\)"),
    ({"digits": np.array([7, 3, 0, 10])}, r"one digit in -1..9 per cluster"),
    ({"digits": np.array([7.0, 3, 0, 1])}, r"got dtype float64"),
    ({"labels": DIGITS[:9]}, r"labels must have shape \(10,\)"),
    ({"probabilities": CLUSTERS}, r"probabilities must have shape \(n, k\)"),
])
def test_plot_cluster_confusion_errors(arguments, message):
    arguments = {"probabilities": np.eye(4)[CLUSTERS], "labels": DIGITS, **arguments}
    with pytest.raises(ValueError, match=message):
        plots.plot_cluster_confusion(**arguments)


def test_plot_class_probabilities_marks_prediction_and_truth():
    probabilities = np.full(10, 0.05)
    probabilities[7] = 0.55
    fig = plots.plot_class_probabilities(probabilities, true_label=2)
    (ax,) = fig.axes
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], probabilities)
    assert ax.patches[2].get_linewidth() == 2.0
    assert ax.get_title() == "predicted 7 (p = 0.55), true 2"
    with pytest.raises(ValueError, match=r"\(10,\)"):
        plots.plot_class_probabilities(np.ones(9) / 9)


# ---- diagrams ----------------------------------------------------------------------------
@pytest.mark.parametrize("model_name", list(diagrams.DIAGRAMS))
def test_plot_architecture_is_tidy(model_name):
    fig = diagrams.plot_architecture(model_name)
    (ax,) = fig.axes
    boxes = [patch for patch in ax.patches if isinstance(patch, FancyBboxPatch)]
    assert len(boxes) >= 6
    for first, second in itertools.combinations(boxes, 2):          # boxes never overlap
        a, b = first.get_bbox(), second.get_bbox()
        assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box_extents = [box.get_window_extent(renderer) for box in boxes]
    for text in ax.texts:                                           # every box label fits its box
        if text.get_style() == "italic" or not text.get_text():     # arrow labels, arrows
            continue
        extent = text.get_window_extent(renderer)
        assert any(box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0
                   and extent.y1 <= box.y1 for box in box_extents), text.get_text()
    arrows = [child for child in ax.get_children() if isinstance(child, matplotlib.text.Annotation)]
    assert len(arrows) >= 4
    for arrow in arrows:                                            # visible: inside the canvas, not empty
        start, end = np.array(arrow.xyann), np.array(arrow.xy)
        assert np.linalg.norm(end - start) > 0.3
        assert 0 <= min(start.min(), end.min()) and end[0] <= ax.get_xlim()[1]


def test_plot_architecture_names_what_each_model_adds():
    def words(name):
        return " ".join(text.get_text() for text in diagrams.plot_architecture(name).axes[0].texts)
    assert "784-1000-1000-2" in words("autoencoder") and "discriminator" not in words("autoencoder")
    assert "N(0, 5² I)" in words("aae") and "real (1)" in words("aae")
    assert "one-hot label" in words("supervised-aae")
    assert all(part in words("semi-supervised-aae") for part in ("D_cat", "D_gauss", "Cat(10)", "softmax"))
    assert all(part in words("vae") for part in ("q(z|x)", "p(y|x)", "p(x | y, z)", "log-variance"))
    clustering = words("clustering-aae")
    assert all(part in clustering for part in ("y: cluster (16)", "softmax", "z: style (5)", "D_cat", "D_gauss",
                                               "Cat(16)", "N(0, I)", "decoder [y, z]", "reconstruction_loss",
                                               "balance + smoothness\n(notebook 06's additions)", "q(y|x)"))
    assert "label" not in clustering                                   # no labelled phase


def test_plot_architecture_clustering_follows_its_settings(monkeypatch):
    settings = diagrams.DEFAULTS["clustering-aae"]
    options = {**settings.options, "num_clusters": 30, "latent_dim": 2, "prior_std": 2.0}
    monkeypatch.setitem(diagrams.DEFAULTS, "clustering-aae", dataclasses.replace(settings, options=options))
    words = " ".join(text.get_text() for text in diagrams.plot_architecture("clustering-aae").axes[0].texts)
    assert all(part in words for part in ("cluster (30)", "style (2)", "Cat(30)", "N(0, 2² I)", "30+2-1000"))


def test_plot_architecture_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="semi-supervised-aae"):
        diagrams.plot_architecture("gan")
