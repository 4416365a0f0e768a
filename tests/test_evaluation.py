"""The lesson measures against oracles: a reader that reads real digits, label control of decoders
that ignore or obey the label, a class probe of codes with and without class information, and the
centre of a hole among codes."""

import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers.data import MnistData

READER_STEPS = 300  # enough for a reader of about 95% here; the notebooks' reader trains 1,000


@pytest.fixture(scope="module")
def digits():
    """The offline digits: 4,000 training and 1,000 test images."""
    return aae.load_mnist(fast=False)


@pytest.fixture(scope="module")
def reader(digits, tmp_path_factory):
    return aae.digit_reader(digits, run_dir=tmp_path_factory.mktemp("reader"), steps=READER_STEPS)


class StyleDrawsTheDigit:
    """A 'decoder' that ignores the label: the style alone picks a real test digit to show."""

    latent_dim = 4

    def __init__(self, data):
        self.data = data

    def sample_styles(self, num_styles, seed=0):
        return np.random.default_rng(seed).normal(size=(num_styles, self.latent_dim)).astype(np.float32)

    def pick(self, z):
        return (np.abs(z[:, 0]) * 1e4).astype(int)

    def generate(self, digits, z):
        return self.data.x_test[self.pick(z) % len(self.data.x_test)]


class LabelDrawsTheDigit(StyleDrawsTheDigit):
    """A decoder that obeys the label: a real test digit of the requested class."""

    def generate(self, digits, z):
        chosen = []
        for digit, index in zip(digits, self.pick(z)):
            pool = np.flatnonzero(self.data.y_test == digit)
            chosen.append(pool[index % len(pool)])
        return self.data.x_test[chosen]


def test_the_reader_reads_real_test_digits(digits, reader):
    accuracy = np.mean(aae.read_digits(reader, digits.x_test).argmax(axis=1) == digits.y_test)
    assert accuracy > 0.93, accuracy


def test_the_reader_is_cached_and_reloaded_from_its_run_folder(digits, reader, tmp_path, capsys):
    first = aae.digit_reader(digits, run_dir=tmp_path, steps=20)
    files = sorted(path.name for path in tmp_path.iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".keras"), files
    again = aae.digit_reader(digits, run_dir=tmp_path, steps=20)
    np.testing.assert_array_equal(aae.read_digits(first, digits.x_test[:50]),
                                  aae.read_digits(again, digits.x_test[:50]))
    assert sorted(path.name for path in tmp_path.iterdir()) == files  # loaded, nothing new written
    other = MnistData(digits.x_train[:3000], digits.y_train[:3000], digits.x_test, digits.y_test, "other")
    aae.digit_reader(other, run_dir=tmp_path, steps=20)  # other digits: another reader beside it
    assert len(list(tmp_path.glob("reader-*.keras"))) == 2
    assert "reads" in capsys.readouterr().out


def test_a_decoder_that_ignores_the_label_scores_about_one_in_ten(digits, reader):
    result = aae.label_control(StyleDrawsTheDigit(digits), reader, num_styles=100)
    assert 0.05 < result.score < 0.16, result.score
    assert result.images.shape == (1000, 784) and result.read_as.shape == (1000,)
    assert result.per_digit.shape == (10,)


def test_a_decoder_that_obeys_the_label_scores_near_the_readers_accuracy(digits, reader):
    result = aae.label_control(LabelDrawsTheDigit(digits), reader, num_styles=100)
    assert result.score > 0.93, result.score
    assert result.per_digit.min() > 0.8, result.per_digit


class ObeysTheLowDigits(LabelDrawsTheDigit):
    """A decoder that draws 0-4 when asked for them and a 9 whatever else it is asked for."""

    def generate(self, digits, z):
        return super().generate(np.where(np.asarray(digits) < 5, digits, 9), z)


def test_label_control_scores_each_requested_digit_against_its_own_target(digits, reader):
    """Scored against the digits asked for, digit by digit: 0-4 near the reader's accuracy, 5-8
    near 0, 9 again high; about half in all. A score against any other target (the style's
    digit, the digits in another order) gives another pattern."""
    result = aae.label_control(ObeysTheLowDigits(digits), reader, num_styles=100)
    assert result.per_digit[:5].min() > 0.85 and result.per_digit[5:9].max() < 0.05, result.per_digit
    assert result.per_digit[9] > 0.85, result.per_digit
    assert 0.5 < result.score < 0.62, result.score
    asked = np.tile(np.arange(10), 100)
    assert np.mean(result.read_as == asked) == pytest.approx(result.score)


def test_label_control_refuses_a_model_that_cannot_draw_a_chosen_digit(digits, reader):
    with pytest.raises(ValueError, match="draws a chosen digit"):
        aae.label_control(aae.Autoencoder(hidden_units=(8,)), reader)


def test_codes_without_class_information_probe_near_chance(digits):
    codes = np.random.default_rng(0).normal(size=(len(digits.y_test), 8))
    assert aae.class_probe(codes, digits.y_test) < 0.16


@pytest.mark.parametrize("width", [15, 50, 100])
def test_wide_codes_without_class_information_probe_near_chance(width):
    """A probe fitted and scored on the same codes reads chance-free noise: on 1,000 random codes
    it scores 0.15 (15-D), 0.25 (50-D), 0.35 (100-D). Held out, it stays near 0.1 at every width."""
    labels = np.tile(np.arange(10), 100)
    for seed in range(3):
        codes = np.random.default_rng(seed).normal(size=(len(labels), width))
        assert aae.class_probe(codes, labels) < 0.14, (width, seed)


def test_codes_that_hold_the_class_probe_near_one(digits):
    rng = np.random.default_rng(0)
    codes = np.eye(10)[digits.y_test] + 0.1 * rng.normal(size=(len(digits.y_test), 10))
    assert aae.class_probe(codes, digits.y_test) > 0.98


def test_the_class_probe_needs_a_few_codes_of_each_digit():
    with pytest.raises(ValueError, match="at least 5 codes of every digit"):
        aae.class_probe(np.zeros((8, 2)), np.array([0, 1] * 4))


def test_the_farthest_point_is_the_centre_of_a_hole():
    angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    ring = 10 * np.stack([np.cos(angles), np.sin(angles)], axis=1) + [3.0, -2.0]   # a hole at (3, -2)
    point, distance = aae.farthest_point(ring)
    np.testing.assert_allclose(point, [3.0, -2.0], atol=0.2)
    assert 9.8 < distance <= 10.0


def grid_with_holes(*holes, spacing=0.25):
    """Codes on a regular grid over [0, 10]^2, with every code within `radius` of a hole's
    centre removed: holes = ((x, y, radius), ...)."""
    axis = np.arange(0, 10 + spacing / 2, spacing)
    codes = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    for x, y, radius in holes:
        codes = codes[np.hypot(codes[:, 0] - x, codes[:, 1] - y) > radius]
    return codes


def test_the_farthest_point_finds_a_hole_away_from_the_centre():
    """The hole is off-centre: the centre of the plotted range (5, 5) lies inside it but 1.8
    from its centre (6.5, 6)."""
    point, distance = aae.farthest_point(grid_with_holes((6.5, 6.0, 3.0)))
    np.testing.assert_allclose(point, [6.5, 6.0], atol=0.1)
    assert 2.9 < distance < 3.2, distance


def test_the_farthest_point_prefers_the_larger_hole_to_the_central_one():
    """A small hole (radius 1.2) at the centre of the range, a larger one (1.8) near a corner."""
    point, distance = aae.farthest_point(grid_with_holes((5.0, 5.0, 1.2), (8.0, 2.0, 1.8)))
    np.testing.assert_allclose(point, [8.0, 2.0], atol=0.1)
    assert 1.7 < distance < 2.0, distance


def test_the_farthest_point_does_not_follow_the_codes_centroid():
    """A dense cluster in one corner pulls the codes' centroid 5 away from the hole."""
    codes = np.concatenate([grid_with_holes((6.5, 6.0, 3.0)),
                            np.random.default_rng(0).uniform(0, 3, size=(2000, 2))])
    assert np.hypot(*(codes.mean(axis=0) - [6.5, 6.0])) > 4.5
    point, distance = aae.farthest_point(codes)
    np.testing.assert_allclose(point, [6.5, 6.0], atol=0.1)
    assert 2.9 < distance < 3.2, distance


def test_the_farthest_point_stays_between_the_codes():
    along = np.linspace(0, 10, 200)
    codes = np.concatenate([np.stack([along, 0 * along], 1), np.stack([0 * along, along], 1)])  # an L
    point, distance = aae.farthest_point(codes)
    assert point.sum() <= 10.01, point  # inside the L's hull, not out at the empty corner (10, 10)
    np.testing.assert_allclose(distance, np.min(np.hypot(*(codes - point).T)), rtol=1e-6)


def test_the_reader_learns_from_the_training_split_only(digits, tmp_path):
    """Protects the reader's independence from the test digits it is scored on (e.g. a reader
    fitted to the test split): scrambling the test labels and the test images' order gives
    bit-identical weights, while shifting the training labels changes them."""
    small = MnistData(digits.x_train[:1000], digits.y_train[:1000], digits.x_test[:300], digits.y_test[:300], "small")

    def weights(data, name):
        return aae.digit_reader(data, run_dir=tmp_path / name, steps=5).get_weights()

    reference = weights(small, "reference")
    rng = np.random.default_rng(0)
    scrambled = MnistData(small.x_train, small.y_train, small.x_test[rng.permutation(len(small.x_test))],
                          (small.y_test + rng.integers(1, 10, len(small.y_test))) % 10, "small")
    for a, b in zip(reference, weights(scrambled, "scrambled")):
        np.testing.assert_array_equal(a, b, err_msg="the test split changed the reader's weights")
    relabelled = MnistData(small.x_train, (small.y_train + 1) % 10, small.x_test, small.y_test, "small")
    assert any(not np.array_equal(a, b) for a, b in zip(reference, weights(relabelled, "relabelled"))), \
        "the training labels changed no weight"
