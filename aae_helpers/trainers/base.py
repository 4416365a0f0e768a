"""What every trainer shares: one Adam per phase, loss trackers, batching, saving config."""

import keras
import numpy as np
import tensorflow as tf

from aae_helpers.checks import check_batch_size, check_number
from aae_helpers.data import MnistData
from aae_helpers.models import SavesSeedState

PREDICT_BATCH = 2000
SEED_LIMIT = 2**32


def in_batches(function, *arrays, batch_size=PREDICT_BATCH):
    """Apply `function` to aligned slices of `arrays` and concatenate the numpy results."""
    starts = range(0, len(arrays[0]), batch_size) or [0]  # no rows in: one empty batch, no rows out
    outputs = [function(*(array[start:start + batch_size] for array in arrays)) for start in starts]
    if isinstance(outputs[0], (tuple, list)):
        return tuple(np.concatenate([np.asarray(part[i]) for part in outputs])
                     for i in range(len(outputs[0])))
    return np.concatenate([np.asarray(part) for part in outputs])


def epoch_batches(arrays, batch_size, steps, seed, first_epoch=0):
    """An endless tf.data stream of `steps` batches per epoch, drawn from `arrays`.

    Epoch e's order depends only on (seed, e), so a run resumed at epoch e
    sees exactly the batches an uninterrupted run would have seen. When
    `steps * batch_size` exceeds the data, several seeded passes are chained.
    """
    count = len(arrays[0])
    batch_size = check_batch_size(batch_size, count)
    passes = -(-steps * batch_size // count)
    tensors = tuple(tf.constant(array) for array in arrays)

    def indices_for(epoch):
        orders = [tf.argsort(tf.random.stateless_uniform(
            [count], seed=tf.stack([tf.constant(seed, tf.int64), epoch * 1000 + k])))
            for k in range(passes)]
        return tf.reshape(tf.concat(orders, 0)[:steps * batch_size], [steps, batch_size])

    epochs = tf.data.Dataset.range(first_epoch, 2**31)
    dataset = epochs.flat_map(lambda epoch: tf.data.Dataset.from_tensor_slices(indices_for(epoch)))
    if len(tensors) == 1:
        dataset = dataset.map(lambda idx: tf.gather(tensors[0], idx))
    else:
        dataset = dataset.map(lambda idx: tuple(tf.gather(t, idx) for t in tensors))
    return dataset.prefetch(tf.data.AUTOTUNE)


class Trainer(SavesSeedState, keras.Model):
    """Base class: subclasses set `phases` and `tracker_names`, build networks, write train_step.

    Constructing a trainer calls keras.utils.set_random_seed(seed), which reseeds Python's, NumPy's
    and TensorFlow's global random generators: that is what makes the same seed give the same
    initial weights. Draw any random numbers of your own after building the trainer, or from your
    own generator (np.random.default_rng(seed)).
    """

    phases = ("autoencoder",)
    tracker_names = ("reconstruction_loss",)
    default_beta_1 = 0.9  # the articles' Adam setting

    def __init__(self, seed=0, **kwargs):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"seed must be an integer in 0..{SEED_LIMIT - 1}, got {seed!r}.")
        super().__init__(**kwargs)
        self.seed = int(seed)
        keras.utils.set_random_seed(self.seed)  # same seed -> same initial weights
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.tracker_names}
        self.built = True  # the networks are built by the subclass constructors

    # ---- configuration -------------------------------------------------------------
    def get_config(self):
        return {"seed": self.seed, "name": self.name}

    def build(self, input_shape=None):
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def phase_variables(self):
        """{phase name: the trainable variables that phase's optimizer updates}."""
        raise NotImplementedError

    def compile(self, learning_rate=1e-3, beta_1=None):
        """One Keras Adam per phase (the articles: learning rate 1e-3, beta_1 0.9; None: the
        trainer's default_beta_1)."""
        learning_rate = check_number(learning_rate, "learning_rate")
        if learning_rate < np.finfo(np.float32).tiny:  # Adam computes in float32, where it would be 0
            raise ValueError(f"learning_rate {learning_rate:g} is below float32's smallest normal number "
                             f"({np.finfo(np.float32).tiny:.3g}), which Adam computes in: it would round "
                             "to (nearly) 0 and train nothing. Use a value such as 1e-3.")
        beta_1 = self.default_beta_1 if beta_1 is None else beta_1
        if isinstance(beta_1, bool) or not isinstance(beta_1, (int, float, np.integer, np.floating)) \
                or not 0 <= beta_1 < 1:
            raise ValueError(f"beta_1 must be a number in [0, 1), got {beta_1!r}.")
        self.compile_settings = {"learning_rate": float(learning_rate), "beta_1": float(beta_1)}
        self.phase_optimizers = {}
        for phase in self.phases:
            optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name=f"{phase}_optimizer")
            setattr(self, f"{phase}_optimizer", optimizer)  # tracked, so saved with the model
            self.phase_optimizers[phase] = optimizer
        super().compile(optimizer=self.phase_optimizers[self.phases[0]])

    def get_compile_config(self):
        return dict(getattr(self, "compile_settings", {}))

    def compile_from_config(self, config):
        self.compile(learning_rate=config["learning_rate"], beta_1=config["beta_1"])
        for phase, variables in self.phase_variables().items():
            self.phase_optimizers[phase].build(variables)

    # ---- training helpers ------------------------------------------------------------
    def apply_phase(self, phase, tape, loss):
        """One optimizer step of `phase`: only the variables that phase trains are updated."""
        variables = self.phase_variables()[phase]
        gradients = tape.gradient(loss, variables)
        self.phase_optimizers[phase].apply_gradients(zip(gradients, variables))

    def record(self, **values):
        """Update the named trackers; returns their running means (what the progress bar shows)."""
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    def steps_per_epoch(self, data: MnistData, batch_size=100):
        """Batches in one epoch: one pass over the training images."""
        return len(data.x_train) // check_batch_size(batch_size, len(data.x_train))

    def make_dataset(self, data: MnistData, batch_size=100, first_epoch=0):
        """Endless (images, labels) batches; `steps_per_epoch` of them make one epoch."""
        return epoch_batches((data.x_train, data.y_train.astype(np.int32)), batch_size,
                             self.steps_per_epoch(data, batch_size), self.seed, first_epoch)

    def evaluation_data(self, data: MnistData):
        """(images, labels) the trainer is scored on: the test split."""
        return data.x_test, data.y_test.astype(np.int32)

    def test_step(self, data):
        images, labels = split_batch(data)
        return self.evaluate_batch(images, labels)

    def sample_prior(self, name, num_samples, latent_dim, **options):
        from aae_helpers.priors import sample_prior
        return sample_prior(name, num_samples, latent_dim, seed=self.seed_generator, **options)


def split_batch(data):
    """(images, labels) from whatever fit() yields: images alone, (images,), or (images, labels)."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None
