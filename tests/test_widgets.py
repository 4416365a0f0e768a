"""Tests for aae_helpers.widgets: drive every control over its range; the picture changes and stays finite."""

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import ipywidgets  # noqa: E402
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figure_checks import assert_finite  # noqa: E402

import aae_helpers.widgets as explorers  # noqa: E402
from aae_helpers.priors import PRIORS, sample_prior  # noqa: E402
from aae_helpers.trainers import (AdversarialAutoencoder, Autoencoder, BaselineClassifier,  # noqa: E402
                                  ClassifierVAE, ClusteringAdversarialAutoencoder,
                                  SemiSupervisedAdversarialAutoencoder, SupervisedAdversarialAutoencoder)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)
IMAGES = RNG.random((60, 784), dtype=np.float32)
LABELS = np.arange(60) % 10


# ---- tiny untrained trainers, built once -------------------------------------------------
@pytest.fixture(scope="module")
def aae():
    return AdversarialAutoencoder(latent_dim=2, hidden_units=(16,), seed=0)


@pytest.fixture(scope="module")
def supervised_aae():
    return SupervisedAdversarialAutoencoder(latent_dim=15, hidden_units=(16,))


@pytest.fixture(scope="module")
def semi_supervised_aae():
    return SemiSupervisedAdversarialAutoencoder(hidden_units=(16,))


@pytest.fixture(scope="module")
def vae():
    return ClassifierVAE(hidden_units=(16,))


@pytest.fixture(scope="module")
def clustering_aae():
    return ClusteringAdversarialAutoencoder(hidden_units=(16,))       # 16 clusters, 5 style dims


@pytest.fixture
def rendered(monkeypatch):
    """Every Figure an explorer turns into PNG bytes, checked for finite data on the way."""
    figures = []
    to_png = explorers._to_png

    def checked_to_png(fig):
        assert_finite(fig)
        figures.append(fig)
        return to_png(fig)
    monkeypatch.setattr(explorers, "_to_png", checked_to_png)
    return figures


@pytest.fixture(autouse=True)
def no_pyplot_figures_left():
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def drive(explorer, control, values):
    """Set `control` to each value; each must show new PNG bytes."""
    for value in values:
        before = png(explorer)
        control.value = value
        assert control.value == pytest.approx(value)
        assert png(explorer).startswith(PNG_SIGNATURE)
        assert png(explorer) != before, f"{control.description}={value} left the picture unchanged"


def png(explorer):
    return bytes(explorer.image.value)


def ends_and_middle(slider):
    return [slider.min, slider.max, (slider.min + slider.max) / 2]


def count_renders(explorer):
    renders = []
    explorer.image.observe(lambda change: renders.append(1), names="value")
    return renders


def first_image(fig, index=0):
    return fig.axes[index].images[0].get_array()


def panel_pixels(png_bytes, fig, index=0):
    """The RGBA pixels (h, w, 4) of the PNG inside axes `index` of the Figure it was made from:
    the picture itself, without its title or the figure's other panels."""
    picture = matplotlib.image.imread(io.BytesIO(png_bytes), format="png")
    box = fig.axes[index].get_window_extent()                       # display pixels, origin bottom left
    height = picture.shape[0]
    rows = slice(int(np.ceil(height - box.y1)) + 2, int(height - box.y0) - 2)   # 2 px in: no frame
    columns = slice(int(np.ceil(box.x0)) + 2, int(box.x1) - 2)
    return picture[rows, columns]


def changed_share(before, after):
    """The share of pixels whose colour changed by more than rounding (1.5 of 255 levels)."""
    return float((np.abs(before - after).max(axis=-1) > 1.5 / 255).mean())


def digit_panels(explorer, rendered, digits):
    """The digit panel's pixels shown for each of `digits`, the style unchanged."""
    panels = []
    for digit in digits:
        explorer.controls["digit"].value = digit
        panels.append(panel_pixels(png(explorer), rendered[-1]))
    return panels


# ---- every explorer ----------------------------------------------------------------------
def test_public_names_are_exported():
    names = {name for name in dir(explorers)
             if not name.startswith("_") and (name.startswith("render_") or name.endswith("_explorer"))}
    assert set(explorers.__all__) == names


@pytest.mark.parametrize("build", [
    lambda m: explorers.latent_explorer(m["aae"], IMAGES, LABELS),
    lambda m: explorers.prior_explorer(),
    lambda m: explorers.style_explorer(m["supervised_aae"]),
    lambda m: explorers.classification_explorer(m["semi_supervised_aae"], IMAGES, LABELS),
    lambda m: explorers.conditional_generation_explorer(m["vae"]),
    lambda m: explorers.cluster_explorer(m["clustering_aae"]),
], ids=["latent", "prior", "style", "classification", "conditional_generation", "cluster"])
def test_explorers_are_standard_containers_showing_a_png(build, aae, supervised_aae, semi_supervised_aae,
                                                         vae, clustering_aae, rendered):
    explorer = build({"aae": aae, "supervised_aae": supervised_aae,
                      "semi_supervised_aae": semi_supervised_aae, "vae": vae,
                      "clustering_aae": clustering_aae})
    assert isinstance(explorer, ipywidgets.VBox)
    assert explorer.image in explorer.children and explorer.image.format == "png"
    assert png(explorer).startswith(PNG_SIGNATURE)
    assert len(rendered) == 1                         # one render when built


# ---- A. latent_explorer ------------------------------------------------------------------
def test_latent_explorer_sliders_over_the_prior_range(aae, rendered):
    explorer = explorers.latent_explorer(aae, IMAGES, LABELS)
    x, y = explorer.controls["x"], explorer.controls["y"]
    assert (x.min, x.max, y.min, y.max) == (-10.0, 10.0, -10.0, 10.0)   # +- 2 prior std for the AAE
    drive(explorer, x, ends_and_middle(x))
    drive(explorer, y, ends_and_middle(y))
    point = np.array([[x.value, y.value]], dtype=np.float32)
    np.testing.assert_allclose(first_image(rendered[-1], 1), aae.decode(point).reshape(28, 28), rtol=1e-5)
    distances = np.linalg.norm(aae.encode(IMAGES) - point, axis=1)
    assert f"nearest data code {distances.min():.2f} away" in explorer.info.value
    assert f"(a {LABELS[distances.argmin()]})" in explorer.info.value


def test_latent_explorer_default_extent_covers_autoencoder_codes():
    autoencoder = Autoencoder(latent_dim=2, hidden_units=(16,), seed=0)
    explorer = explorers.latent_explorer(autoencoder, IMAGES, LABELS)
    codes = autoencoder.encode(IMAGES)
    x, y = explorer.controls["x"], explorer.controls["y"]
    assert x.min < codes[:, 0].min() and codes[:, 0].max() < x.max
    assert y.min < codes[:, 1].min() and codes[:, 1].max() < y.max
    drive(explorer, x, ends_and_middle(x))


def test_latent_explorer_extent_argument(aae):
    explorer = explorers.latent_explorer(aae, IMAGES, LABELS, extent=(-3, 3))
    assert (explorer.controls["x"].min, explorer.controls["y"].max) == (-3.0, 3.0)
    explorer = explorers.latent_explorer(aae, IMAGES, LABELS, extent=(-1, 2, -4, 5))
    assert (explorer.controls["x"].max, explorer.controls["y"].min) == (2.0, -4.0)


def test_latent_explorer_errors(aae, supervised_aae):
    with pytest.raises(ValueError, match="latent_dim=2; got SupervisedAdversarialAutoencoder with latent_dim=15"):
        explorers.latent_explorer(supervised_aae, IMAGES, LABELS)
    with pytest.raises(ValueError, match="60 images but 5 labels"):
        explorers.latent_explorer(aae, IMAGES, LABELS[:5])
    with pytest.raises(ValueError, match="extent"):
        explorers.latent_explorer(aae, IMAGES, LABELS, extent=(2, 1))


def test_render_latent_view():
    codes = RNG.normal(size=(500, 2))
    fig = explorers.render_latent_view(IMAGES[0], codes, np.arange(500) % 10, (0.5, -0.5), (-3, 3, -3, 3))
    codes_ax, image_ax = fig.axes
    (colorbar_ax,) = codes_ax.child_axes
    picture = first_image(fig)
    assert picture.shape == (150, 150, 4) and picture[..., 3].sum() > 100       # the codes are drawn
    np.testing.assert_allclose(codes_ax.lines[0].get_xydata(), [[0.5, -0.5]])
    np.testing.assert_allclose(first_image(fig, 1), IMAGES[0].reshape(28, 28))
    np.testing.assert_array_equal(colorbar_ax.get_yticks(), np.arange(10))
    nearest = np.linalg.norm(codes - [0.5, -0.5], axis=1).min()
    assert f"{nearest:.2f} away" in image_ax.get_title()
    assert_finite(fig)


# ---- B. prior_explorer -------------------------------------------------------------------
def test_prior_explorer_every_prior_and_std(rendered):
    explorer = explorers.prior_explorer(num_samples=500)
    prior, std = explorer.controls["prior"], explorer.controls["std"]
    assert list(prior.options) == [name for name in PRIORS if name != "categorical"]
    assert prior.value == "gaussian"
    drive(explorer, prior, ["uniform", "mixture_of_gaussians", "swiss_roll", "gaussian"])
    drive(explorer, std, [std.min, std.max, 2.5])
    expected = np.asarray(sample_prior("gaussian", 500, 2, seed=0, std=2.5))
    np.testing.assert_allclose(rendered[-1].axes[0].collections[0].get_offsets(), expected, rtol=1e-6)


def test_prior_explorer_more_dims_keeps_only_priors_that_can():
    explorer = explorers.prior_explorer(latent_dim=3, num_samples=100)
    assert list(explorer.controls["prior"].options) == ["gaussian", "uniform"]
    drive(explorer, explorer.controls["prior"], ["uniform"])


@pytest.mark.parametrize("arguments", [{"latent_dim": 1}, {"num_samples": 0}, {"latent_dim": 2.0}])
def test_prior_explorer_errors(arguments):
    with pytest.raises(ValueError, match="must be an integer"):
        explorers.prior_explorer(**arguments)


def test_render_prior_samples():
    samples = RNG.normal(size=(300, 2))
    fig = explorers.render_prior_samples(samples, "gaussian", 20.0)
    scatter_ax, hist_ax = fig.axes
    np.testing.assert_allclose(scatter_ax.collections[0].get_offsets(), samples)
    assert scatter_ax.get_xlim() == (-20.0, 20.0) and len(hist_ax.patches) == 2
    assert_finite(fig)


# ---- C. style_explorer -------------------------------------------------------------------
def test_style_explorer_every_digit_and_every_style_slider(supervised_aae, rendered):
    explorer = explorers.style_explorer(supervised_aae)
    digit, sliders = explorer.controls["digit"], explorer.controls["z"]
    assert len(sliders) == 15 and (sliders[0].min, sliders[0].max) == (-12.5, 12.5)   # 2.5 prior_std
    drive(explorer, digit, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
    for slider in sliders:
        drive(explorer, slider, ends_and_middle(slider))
    z = np.array([[slider.value for slider in sliders]])
    np.testing.assert_allclose(first_image(rendered[-1]), supervised_aae.decode(z, [0]).reshape(28, 28),
                               rtol=1e-5)


def test_the_panel_pixels_ignore_the_title():
    """The oracle for the tests below: the same image under another title gives the same digit
    panel pixels (other PNG bytes), another image other pixels."""
    same = [explorers.render_style_view(IMAGES[0], digit) for digit in (3, 7)]
    pngs = [explorers._to_png(fig) for fig in same]
    assert pngs[0] != pngs[1]
    np.testing.assert_array_equal(panel_pixels(pngs[0], same[0]), panel_pixels(pngs[1], same[1]))
    other = explorers.render_style_view(IMAGES[1], 3)
    assert changed_share(panel_pixels(explorers._to_png(other), other), panel_pixels(pngs[0], same[0])) > 0.5
    assert panel_pixels(pngs[0], same[0]).shape[0] > 20     # about the 28x28 digit, scaled


@pytest.mark.parametrize("model", ["supervised_aae", "semi_supervised_aae"])
def test_style_explorer_draws_another_digit_for_another_label(model, request, rendered):
    """Protects the style explorer's lesson: digit 3 and digit 7 in the same style are different
    pictures, in the digit panel's pixels, not only in the title (a decoder that ignores its
    label draws the same pixels twice). The untrained test decoders change 52% and 67% of the
    panel's pixels with the label; an ignoring one, none."""
    explorer = explorers.style_explorer(request.getfixturevalue(model))
    three, seven, three_again = digit_panels(explorer, rendered, [3, 7, 3])
    np.testing.assert_array_equal(three, three_again)
    assert changed_share(three, seven) > 0.05, "digit 3 and digit 7 look the same in one style"


def test_style_explorer_whole_row(supervised_aae, rendered):
    explorer = explorers.style_explorer(supervised_aae)
    drive(explorer, explorer.controls["show_row"], [True])
    drive(explorer, explorer.controls["digit"], [7])
    row = first_image(rendered[-1], 1)
    assert row.shape == (28, 280)
    z = np.array([[slider.value for slider in explorer.controls["z"]]] * 10)
    np.testing.assert_allclose(row[:, 7 * 28:8 * 28], supervised_aae.decode(z, np.arange(10))[7]
                               .reshape(28, 28), rtol=1e-5)
    drive(explorer, explorer.controls["show_row"], [False])


def test_style_explorer_random_style_renders_once_per_click(supervised_aae):
    explorer = explorers.style_explorer(supervised_aae, seed=3)
    sliders = explorer.controls["z"]
    renders = count_renders(explorer)
    for click in (1, 2):
        before = png(explorer)
        explorer.controls["random_style"].click()
        expected = np.clip(np.asarray(sample_prior("gaussian", 1, 15, seed=3 + click, std=5.0))[0], -12.5, 12.5)
        np.testing.assert_allclose([slider.value for slider in sliders], expected, rtol=1e-5)
        assert len(renders) == click and png(explorer) != before


def test_style_explorer_errors(aae):
    with pytest.raises(ValueError, match="got AdversarialAutoencoder"):
        explorers.style_explorer(aae)


def test_render_style_view():
    fig = explorers.render_style_view(IMAGES[0], 4)
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "digit 4"
    fig = explorers.render_style_view(IMAGES[0], 4, row=IMAGES[:10])
    assert len(fig.axes) == 2 and first_image(fig, 1).shape == (28, 280)
    assert fig.axes[1].patches[0].get_x() == pytest.approx(4 * 28 + 0.5)     # the chosen digit framed
    assert_finite(fig)


# ---- D. classification_explorer ----------------------------------------------------------
def test_classification_explorer_index_and_random(semi_supervised_aae, rendered):
    explorer = explorers.classification_explorer(semi_supervised_aae, IMAGES, LABELS, seed=1)
    index = explorer.controls["index"]
    assert (index.min, index.max) == (0, 59)
    drive(explorer, index, [index.max, 30, index.min])
    probabilities = semi_supervised_aae.classify(IMAGES)
    assert f"label 0, predicted {probabilities[0].argmax()}" in explorer.info.value
    accuracy = np.mean(probabilities.argmax(axis=1) == LABELS)
    assert f"accuracy on these 60 images: {accuracy:.1%}" in explorer.info.value
    fig = rendered[-1]
    np.testing.assert_allclose(first_image(fig, 1), semi_supervised_aae.reconstruct(IMAGES[:1]).reshape(28, 28),
                               rtol=1e-5)
    np.testing.assert_allclose([bar.get_height() for bar in fig.axes[2].patches], probabilities[0], rtol=1e-5)
    seen = set()
    for _ in range(5):
        explorer.controls["random"].click()
        seen.add(index.value)
    assert len(seen) > 1 and all(0 <= value <= 59 for value in seen)


def test_classification_explorer_without_reconstruct():
    explorer = explorers.classification_explorer(BaselineClassifier(hidden_units=(16,)), IMAGES, LABELS)
    drive(explorer, explorer.controls["index"], [5])


def test_classification_explorer_errors(aae, semi_supervised_aae):
    with pytest.raises(ValueError, match="classify"):
        explorers.classification_explorer(aae, IMAGES, LABELS)
    with pytest.raises(ValueError, match="60 images but 59 labels"):
        explorers.classification_explorer(semi_supervised_aae, IMAGES, LABELS[1:])


def test_render_classification():
    probabilities = np.eye(10)[3] * 0.9 + 0.01
    fig = explorers.render_classification(IMAGES[0], probabilities, 5, reconstruction=IMAGES[1])
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "predicted 3 (p = 0.91), true 5"
    assert len(explorers.render_classification(IMAGES[0], probabilities, 5).axes) == 2
    assert_finite(fig)


# ---- E. conditional_generation_explorer --------------------------------------------------
def test_conditional_generation_digits_and_latent_sliders(vae, rendered):
    explorer = explorers.conditional_generation_explorer(vae)
    sliders = explorer.controls["z"]
    assert len(sliders) == 10 and (sliders[0].min, sliders[0].max) == (-3.0, 3.0)
    drive(explorer, explorer.controls["digit"], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
    for slider in sliders:
        drive(explorer, slider, ends_and_middle(slider))
    z = np.array([[slider.value for slider in sliders]])
    np.testing.assert_allclose(first_image(rendered[-1]), vae.generate([0], z=z).reshape(28, 28), rtol=1e-5)


def test_conditional_generation_draws_another_digit_for_another_label(vae, rendered):
    """Protects notebook 05's explorer: digit 3 and digit 7 from one z differ in the digit panel's
    pixels, not only in the title (15% of them for the untrained test VAE; none for a decoder
    that ignores the label)."""
    explorer = explorers.conditional_generation_explorer(vae)
    three, seven, three_again = digit_panels(explorer, rendered, [3, 7, 3])
    np.testing.assert_array_equal(three, three_again)
    assert changed_share(three, seven) > 0.05, "digit 3 and digit 7 look the same from one z"


def test_conditional_generation_interpolation(vae, rendered):
    explorer = explorers.conditional_generation_explorer(vae)
    controls = explorer.controls
    before = png(explorer)
    controls["tab"].selected_index = 1
    assert png(explorer) != before and len(rendered[-1].axes) == 2
    drive(explorer, controls["from_digit"], [9, 5, 3])
    drive(explorer, controls["to_digit"], [0, 4, 8])
    drive(explorer, controls["t"], [0.0, 1.0, 0.5])
    z = np.array([[slider.value for slider in controls["z"]]])
    mixed = vae.decode(z, 0.5 * np.eye(10)[[3]] + 0.5 * np.eye(10)[[8]])
    np.testing.assert_allclose(first_image(rendered[-1]), mixed.reshape(28, 28), rtol=1e-5)
    controls["t"].value = 0.0
    np.testing.assert_allclose(first_image(rendered[-1]), vae.generate([3], z=z).reshape(28, 28), rtol=1e-5)
    renders = count_renders(explorer)
    controls["random_style"].click()
    assert len(renders) == 1


def test_conditional_generation_errors(supervised_aae):
    with pytest.raises(ValueError, match="ClassifierVAE"):
        explorers.conditional_generation_explorer(supervised_aae)


def test_render_interpolation():
    fig = explorers.render_interpolation(IMAGES[0], IMAGES[:9], 0.25, 2, 7)
    image_ax, strip_ax = fig.axes
    assert first_image(fig, 1).shape == (28, 252)
    assert strip_ax.lines[0].get_xdata()[0] == pytest.approx(0.25 * 8 * 28 + 13.5)
    assert "one_hot(2)" in strip_ax.get_title() and image_ax.get_title() == "t = 0.25"
    assert_finite(fig)


# ---- F. cluster_explorer -----------------------------------------------------------------
def style_of(explorer):
    return np.array([[slider.value for slider in explorer.controls["z"]]], dtype=np.float32)   # (1, 5)


def test_cluster_explorer_every_cluster_and_every_style_slider(clustering_aae, rendered):
    explorer = explorers.cluster_explorer(clustering_aae)
    cluster, sliders = explorer.controls["cluster"], explorer.controls["z"]
    assert list(cluster.options) == [(f"c{index}", index) for index in range(16)]
    assert len(sliders) == 5 and (sliders[0].min, sliders[0].max) == (-3.0, 3.0)     # 3 prior_std
    drive(explorer, cluster, [*range(1, 16), 0])
    for slider in sliders:
        drive(explorer, slider, ends_and_middle(slider))
    cluster.value = 9
    z = style_of(explorer)
    np.testing.assert_allclose(first_image(rendered[-1]), clustering_aae.generate([9], z).reshape(28, 28),
                               rtol=1e-5, atol=1e-6)
    every_cluster = clustering_aae.generate(np.arange(16), np.repeat(z, 16, axis=0))       # (16, 784)
    np.testing.assert_allclose(first_image(rendered[-1], 1), every_cluster.reshape(16, 28, 28)
                               .transpose(1, 0, 2).reshape(28, 16 * 28), rtol=1e-5, atol=1e-6)
    assert rendered[-1].axes[1].patches[0].get_x() == pytest.approx(9 * 28 + 0.5)      # cluster 9 framed


def test_cluster_explorer_draws_another_digit_for_another_cluster(clustering_aae, rendered):
    """Two clusters in one style differ in the large panel's pixels, not only in its title."""
    explorer = explorers.cluster_explorer(clustering_aae)
    panels = []
    for value in (3, 7, 3):
        explorer.controls["cluster"].value = value
        panels.append(panel_pixels(png(explorer), rendered[-1]))
    np.testing.assert_array_equal(panels[0], panels[2])
    assert changed_share(panels[0], panels[1]) > 0.05, "clusters 3 and 7 look the same in one style"


def test_cluster_explorer_random_style_is_reproducible(clustering_aae):
    explorer, twin = (explorers.cluster_explorer(clustering_aae, seed=3) for _ in range(2))
    renders = count_renders(explorer)
    for click in (1, 2):
        before = png(explorer)
        explorer.controls["random_style"].click()
        twin.controls["random_style"].click()
        expected = np.clip(np.asarray(sample_prior("gaussian", 1, 5, seed=3 + click, std=1.0))[0], -3.0, 3.0)
        np.testing.assert_allclose(style_of(explorer)[0], expected, rtol=1e-5)
        np.testing.assert_array_equal(style_of(twin), style_of(explorer))
        assert len(renders) == click and png(explorer) != before
    fresh, other_seed = (explorers.cluster_explorer(clustering_aae, seed=seed) for seed in (3, 4))
    assert not np.allclose(style_of(fresh), style_of(other_seed))                  # the seed picks the style


def test_cluster_explorer_names_label_the_clusters(clustering_aae, rendered):
    names = np.array([7, -1, *np.arange(14) % 10])
    explorer = explorers.cluster_explorer(clustering_aae, names=names)
    labels = [label for label, _ in explorer.controls["cluster"].options]
    assert labels[:3] == ["c0 (7)", "c1 (none)", "c2 (0)"]
    drive(explorer, explorer.controls["cluster"], [1])
    image_ax, strip_ax = rendered[-1].axes
    assert image_ax.get_title() == "cluster c1 (none)"
    assert [text.get_text() for text in strip_ax.get_xticklabels()][:2] == ["c0\n(7)", "c1\n(none)"]


def test_cluster_explorer_errors(clustering_aae, supervised_aae):
    with pytest.raises(ValueError, match="cluster_explorer needs a ClusteringAdversarialAutoencoder; "
                                         "got SupervisedAdversarialAutoencoder"):
        explorers.cluster_explorer(supervised_aae)
    with pytest.raises(ValueError, match=r"names must give one digit in -1..9 per cluster \(shape \(16,\)"):
        explorers.cluster_explorer(clustering_aae, names=np.arange(10))


def test_render_cluster_view():
    fig = explorers.render_cluster_view(IMAGES[5], 5, IMAGES[:16])
    image_ax, strip_ax = fig.axes
    np.testing.assert_allclose(first_image(fig), IMAGES[5].reshape(28, 28))
    assert first_image(fig, 1).shape == (28, 16 * 28) and image_ax.get_title() == "cluster c5"
    assert strip_ax.patches[0].get_x() == pytest.approx(5 * 28 + 0.5)                # the chosen one framed
    assert [text.get_text() for text in strip_ax.get_xticklabels()][:2] == ["c0", "c1"]
    assert_finite(fig)
