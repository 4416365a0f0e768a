"""Network builders with the articles' defaults (dense 1000-1000 ReLU MLPs)."""

import keras
from keras import layers

from aae_helpers.checks import IMAGE_SIZE, NUM_CLASSES, check_count

HIDDEN_UNITS = (1000, 1000)
# Notebook 03 halves the width: a third of the arithmetic, so its three models train in minutes on
# a laptop's CPU, with the same lesson (measured in benchmarks/README.md, 'Narrower networks').
NARROW_HIDDEN_UNITS = (500, 500)


def _hidden_stack(inputs, hidden_units, activation, prefix):
    if not hidden_units:
        raise ValueError(f"hidden_units must list at least one layer size, got {hidden_units!r}.")
    x = inputs
    for index, units in enumerate(hidden_units):
        check_count(units, "every hidden_units entry")
        x = layers.Dense(units, activation=activation, name=f"{prefix}_hidden_{index + 1}")(x)
    return x


def build_encoder(latent_dim=2, num_classes=0, hidden_units=HIDDEN_UNITS, activation="relu",
                  name="encoder"):
    """images (batch, 784) -> z (batch, latent_dim), linear.

    With `num_classes` > 0 it has a second head and returns
    [class_logits (batch, num_classes), z (batch, latent_dim)].
    """
    check_count(latent_dim, "latent_dim")
    images = keras.Input((IMAGE_SIZE,), name="images")
    features = _hidden_stack(images, hidden_units, activation, name)
    z = layers.Dense(latent_dim, name="z")(features)
    if not num_classes:
        return keras.Model(images, z, name=name)
    check_count(num_classes, "num_classes")
    class_logits = layers.Dense(num_classes, name="class_logits")(features)
    return keras.Model(images, [class_logits, z], name=name)


def build_decoder(latent_dim=2, num_classes=0, hidden_units=HIDDEN_UNITS, activation="relu",
                  name="decoder"):
    """z (batch, latent_dim) -> images (batch, 784), sigmoid.

    With `num_classes` > 0 it takes [labels_one_hot (batch, num_classes), z].
    """
    check_count(latent_dim, "latent_dim")
    z = keras.Input((latent_dim,), name="z")
    inputs, features = z, z
    if num_classes:
        check_count(num_classes, "num_classes")
        labels = keras.Input((num_classes,), name="labels_one_hot")
        inputs, features = [labels, z], layers.Concatenate(name="label_and_z")([labels, z])
    hidden = _hidden_stack(features, hidden_units, activation, name)
    images = layers.Dense(IMAGE_SIZE, activation="sigmoid", name="images")(hidden)
    return keras.Model(inputs, images, name=name)


def build_discriminator(input_dim=2, hidden_units=HIDDEN_UNITS, name="discriminator"):
    """codes (batch, input_dim) -> logit (batch, 1) that the codes came from the prior."""
    check_count(input_dim, "input_dim")
    codes = keras.Input((input_dim,), name="codes")
    hidden = _hidden_stack(codes, hidden_units, "relu", name)
    return keras.Model(codes, layers.Dense(1, name="logit")(hidden), name=name)


def build_classifier(num_classes=NUM_CLASSES, hidden_units=HIDDEN_UNITS, activation="relu",
                     name="classifier"):
    """images (batch, 784) -> class logits (batch, num_classes)."""
    check_count(num_classes, "num_classes")
    images = keras.Input((IMAGE_SIZE,), name="images")
    hidden = _hidden_stack(images, hidden_units, activation, name)
    return keras.Model(images, layers.Dense(num_classes, name="class_logits")(hidden), name=name)


class SavesSeedState:
    """Mixin: also save the random streams' states, so a reloaded model draws the same numbers.

    Keras does not save a SeedGenerator's state; `seed_generators()` lists the ones to save.
    """

    def seed_generators(self):
        """The SeedGenerators saved with the model, in a fixed order."""
        return [self.seed_generator]

    @staticmethod
    def _seed_key(index):
        return "seed_generator_state" if index == 0 else f"seed_generator_state_{index}"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for index, generator in enumerate(self.seed_generators()):
            store[self._seed_key(index)] = generator.state.numpy()

    def load_own_variables(self, store):
        entries = {key: store[key] for key in store.keys()}
        states = [entries.pop(self._seed_key(index), None) for index in range(len(self.seed_generators()))]
        super().load_own_variables(entries)
        for generator, state in zip(self.seed_generators(), states):
            if state is not None:
                generator.state.assign(state)


@keras.saving.register_keras_serializable(package="aae_helpers")
class GaussianSampling(SavesSeedState, layers.Layer):
    """[mean, log_variance] (batch, d) each -> z = mean + exp(log_variance / 2) * eps, seeded."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_variance = inputs
        noise = keras.random.normal(keras.ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * log_variance) * noise

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def build_gaussian_encoder(latent_dim=10, hidden_units=(128,), activation="sigmoid", seed=None,
                           name="gaussian_encoder"):
    """images (batch, 784) -> [mean, log_variance, z], each (batch, latent_dim); the VAE's q(z|x)."""
    check_count(latent_dim, "latent_dim")
    images = keras.Input((IMAGE_SIZE,), name="images")
    hidden = _hidden_stack(images, hidden_units, activation, name)
    mean = layers.Dense(latent_dim, name="mean")(hidden)
    log_variance = layers.Dense(latent_dim, name="log_variance")(hidden)
    z = GaussianSampling(seed=seed, name="sampling")([mean, log_variance])
    return keras.Model(images, [mean, log_variance, z], name=name)


def build_augmenter(seed=None, shift=0.1, rotation_degrees=10.0, zoom=0.1, name="augment"):
    """images (batch, 784) -> randomly shifted, rotated and zoomed images (batch, 784), in training only."""
    return keras.Sequential([
        keras.Input((IMAGE_SIZE,)),
        layers.Reshape((28, 28, 1)),
        layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed),
        layers.RandomRotation(rotation_degrees / 360.0, fill_mode="constant", seed=None if seed is None else seed + 1),
        layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=None if seed is None else seed + 2),
        layers.Reshape((IMAGE_SIZE,)),
    ], name=name)


# ---- the independent digit reader that scores generated digits (evaluation.digit_reader) ------
def build_digit_reader(seed=None, name="digit_reader"):
    """images (batch, 784) -> class logits (batch, 10): augmentation (in training only), then two
    3x3 conv + 2x2 max-pool blocks (32 and 64 filters), dropout 0.3 and 128 ReLU units."""
    images = keras.Input((IMAGE_SIZE,), name="images")
    x = build_augmenter(seed=seed, name="augment")(images)
    x = layers.Reshape((28, 28, 1), name="to_grid")(x)
    for index, count in enumerate((32, 64)):
        x = layers.Conv2D(count, 3, padding="same", activation="relu", name=f"{name}_conv_{index + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool_{index + 1}")(x)
    x = layers.Dropout(0.3, name="dropout", seed=seed)(layers.Flatten(name="flatten")(x))
    x = layers.Dense(128, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(images, layers.Dense(NUM_CLASSES, name="class_logits")(x), name=name)
