"""What every trainer shares: one Adam per phase, loss trackers, batching, saving config."""

import functools
import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from aae_helpers.checks import numeric_array
from aae_helpers.data import IMAGE_SIZE, NUM_CLASSES, MnistData
from aae_helpers.models import SavesSeedState

PREDICT_BATCH = 2000
SEED_LIMIT = 2**32


def check_number(value, name, minimum=0.0, allow_minimum=False):
    """float(value), or a clear ValueError unless it is finite and > minimum (>= with allow_minimum)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (value >= minimum if allow_minimum else value > minimum))
    if not ok:
        bound = f">= {minimum:g}" if allow_minimum else ("positive" if minimum == 0 else f"> {minimum:g}")
        raise ValueError(f"{name} must be {bound} and finite, got {value!r}.")
    return float(value)


def check_count(value, name):
    """int(value), or a clear ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_images(images, name="images"):
    """float32 (n, 784) in [0, 1], or a clear ValueError saying what was received."""
    array = numeric_array(images, name, "(n, 784)")
    if array.ndim == 3 and array.shape[1:] == (28, 28):
        array = array.reshape(len(array), IMAGE_SIZE)
    if array.ndim != 2 or array.shape[1] != IMAGE_SIZE:
        raise ValueError(f"{name} must have shape (n, 784) or (n, 28, 28), got {np.shape(images)}.")
    if array.size and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain NaN or infinite values; expected pixels in [0, 1].")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1], found range [{array.min():g}, {array.max():g}]; "
                         "divide uint8 pixels by 255.")
    return array


def check_labels(labels, count=None, name="labels"):
    """int (n,) in 0..9, or a clear ValueError."""
    array = np.asarray(labels)
    if array.ndim != 1 or (count is not None and len(array) != count):
        expected = f"({count},)" if count is not None else "(n,)"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}.")
    if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0
                       or array.max() >= NUM_CLASSES):
        raise ValueError(f"{name} must be integers in 0..9, got dtype {array.dtype} "
                         f"with values {np.unique(array)[:10].tolist()}.")
    return array.astype(np.int32)


def check_codes(z, latent_dim, name="z"):
    """float32 (n, latent_dim) finite, or a clear ValueError."""
    array = numeric_array(z, name, f"(n, {latent_dim})")
    if array.ndim == 1 and array.shape[0] == latent_dim:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != latent_dim:
        raise ValueError(f"{name} must have shape (n, {latent_dim}), got {np.shape(z)}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def in_batches(function, *arrays, batch_size=PREDICT_BATCH):
    """Apply `function` to aligned slices of `arrays` and concatenate the numpy results."""
    starts = range(0, len(arrays[0]), batch_size) or [0]  # no rows in: one empty batch, no rows out
    outputs = [function(*(array[start:start + batch_size] for array in arrays)) for start in starts]
    if isinstance(outputs[0], (tuple, list)):
        return tuple(np.concatenate([np.asarray(part[i]) for part in outputs])
                     for i in range(len(outputs[0])))
    return np.concatenate([np.asarray(part) for part in outputs])


def check_batch_size(batch_size, count):
    """A clear ValueError unless 1 <= batch_size <= count."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size > count:
        raise ValueError(f"batch_size={batch_size} is larger than the {count} training examples; "
                         f"use a batch size of at most {count}.")
    return int(batch_size)


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

    def compile(self, learning_rate=1e-3, beta_1=None, jit_compile=False, steps_per_execution="auto",
                adam="xla"):
        """One Adam per phase (the articles: learning rate 1e-3, beta_1 0.9; None: default_beta_1).

        `steps_per_execution`: training steps per compiled call; more steps per call mean fewer
        trips back to Python, with identical numbers. "auto" (default) picks, at each fit(), the largest
        count <= 10 that divides the epoch's steps. An integer N > 1 needs epochs whose step
        count is a multiple of N.
        `adam`: how each phase's Adam update runs.
          "xla"   (default) Keras' Adam formula, compiled by XLA into one kernel per phase:
                  the same bits as "keras" (tests/test_trainers.py checks it), fewer passes over
                  memory.
          "keras" Keras' own optimizer.apply_gradients, op by op.
          "fused" TensorFlow's fused Adam kernel (ResourceApplyAdam): usually the fastest, but its
                  float32 rounding of (1 - beta) differs from Keras' in the last bits, so a seeded
                  run does not repeat a Keras-Adam run bit for bit.
        """
        learning_rate = check_number(learning_rate, "learning_rate")
        if learning_rate < np.finfo(np.float32).tiny:  # Adam computes in float32, where it would be 0
            raise ValueError(f"learning_rate {learning_rate:g} is below float32's smallest normal number "
                             f"({np.finfo(np.float32).tiny:.3g}), which Adam computes in: it would round "
                             "to (nearly) 0 and train nothing. Use a value such as 1e-3.")
        beta_1 = self.default_beta_1 if beta_1 is None else beta_1
        if isinstance(beta_1, bool) or not isinstance(beta_1, (int, float, np.integer, np.floating)) \
                or not 0 <= beta_1 < 1:
            raise ValueError(f"beta_1 must be a number in [0, 1), got {beta_1!r}.")
        if not (isinstance(steps_per_execution, str) and steps_per_execution == "auto"):
            if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, (int, np.integer)) \
                    or steps_per_execution <= 0:
                raise ValueError("steps_per_execution must be 'auto' or a positive integer, "
                                 f"got {steps_per_execution!r}.")
            steps_per_execution = int(steps_per_execution)
        if adam not in ADAM_UPDATES:
            raise ValueError(f"adam must be one of {', '.join(map(repr, ADAM_UPDATES))}, got {adam!r}.")
        self.compile_settings = {"learning_rate": float(learning_rate), "beta_1": float(beta_1),
                                 "jit_compile": jit_compile, "steps_per_execution": steps_per_execution}
        if adam == "fused":  # "xla" and "keras" give the same numbers, so only "fused" is recorded
            self.compile_settings["adam"] = adam
        if adam == "xla" and not xla_available():
            warnings.warn("XLA is not available in this TensorFlow build; the trainers use Keras' "
                          "own Adam (adam='keras'), which gives the same numbers, only slower.")
            adam = "keras"
        self.adam = adam
        self.phase_optimizers = {}
        for phase in self.phases:
            optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name=f"{phase}_optimizer")
            setattr(self, f"{phase}_optimizer", optimizer)
            self.phase_optimizers[phase] = optimizer
        super().compile(optimizer=self.phase_optimizers[self.phases[0]], jit_compile=jit_compile,
                        steps_per_execution=1 if steps_per_execution == "auto" else steps_per_execution)

    def fit(self, *args, **kwargs):
        """keras.Model.fit, refusing epochs that steps_per_execution does not divide (Keras
        would silently run whole executions past the end of the epoch). For a tf.data.Dataset
        (make_dataset's batches are already shuffled) shuffle defaults to False, which Keras
        would otherwise ignore with a warning."""
        data = args[0] if args else kwargs.get("x")
        if isinstance(data, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)
        steps = kwargs.get("steps_per_epoch")
        if getattr(self, "compile_settings", {}).get("steps_per_execution") == "auto":
            self._run_steps_per_call(auto_steps_per_execution(steps))
        per_call = self.steps_per_execution
        if steps and per_call > 1 and steps % per_call:
            raise ValueError(f"steps_per_epoch={steps} is not a multiple of steps_per_execution="
                             f"{per_call}; compile with a steps_per_execution that divides it.")
        return super().fit(*args, **kwargs)

    def _run_steps_per_call(self, count):
        """Switch to `count` steps per compiled call; Keras rebuilds its functions on next use."""
        if count != self.steps_per_execution:
            self.steps_per_execution = count
            self.train_function = self.test_function = self.predict_function = None

    def get_compile_config(self):
        return dict(getattr(self, "compile_settings", {}))

    def compile_from_config(self, config):
        self.compile(**upgraded_compile_config(config))
        for phase, variables in self.phase_variables().items():
            self.phase_optimizers[phase].build(variables)

    # ---- training helpers ------------------------------------------------------------
    def apply_phase(self, phase, tape, loss):
        """Update only the variables that belong to `phase`."""
        variables = self.phase_variables()[phase]
        gradients = tape.gradient(loss, variables)
        optimizer = self.phase_optimizers[phase]
        adam = getattr(self, "adam", "keras")
        if adam == "keras" or not is_plain_adam(optimizer):
            optimizer.apply_gradients(zip(gradients, variables))
        else:
            (fused_adam_update if adam == "fused" else xla_adam_update)(optimizer, gradients, variables)

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


AUTO_STEPS_PER_EXECUTION = 10
ADAM_UPDATES = ("xla", "keras", "fused")


def upgraded_compile_config(config):
    """A saved compile config in today's terms: {"fused_adam": True}, as runs saved before the
    `adam` option say it, becomes {"adam": "fused"}."""
    config = dict(config)
    if config.pop("fused_adam", False):
        config["adam"] = "fused"
    return config


def auto_steps_per_execution(steps_per_epoch, limit=AUTO_STEPS_PER_EXECUTION):
    """The largest count <= limit that divides steps_per_epoch (1 when it is unknown)."""
    if not steps_per_epoch:
        return 1
    return max(count for count in range(1, limit + 1) if steps_per_epoch % count == 0)


def is_plain_adam(optimizer):
    """True for a keras Adam with nothing the hand-written updates leave out (clipping,
    weight decay, AMSGrad, EMA, loss scaling, gradient accumulation)."""
    return (type(optimizer) is keras.optimizers.Adam and not optimizer.amsgrad
            and optimizer.clipnorm is None and optimizer.clipvalue is None
            and optimizer.global_clipnorm is None and not optimizer.weight_decay
            and not optimizer.use_ema and optimizer.gradient_accumulation_steps is None)


def _adam_step_size(optimizer):
    """Keras' alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), op for op as Keras computes it."""
    step = tf.cast(optimizer.iterations + 1, tf.float32)
    beta_1_power = tf.pow(tf.cast(optimizer.beta_1, tf.float32), step)
    beta_2_power = tf.pow(tf.cast(optimizer.beta_2, tf.float32), step)
    return tf.cast(optimizer.learning_rate, tf.float32) * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)


def _moments(optimizer, variables):
    indices = [optimizer._get_variable_index(variable) for variable in variables]
    return ([optimizer._momentums[i].value for i in indices],
            [optimizer._velocities[i].value for i in indices])


@functools.cache
def xla_available():
    """Can this TensorFlow build compile with XLA here? (Tried once per process.)"""
    try:
        tf.function(lambda x: x + 1.0, jit_compile=True)(tf.constant(1.0))
    except Exception:  # noqa: BLE001 - any failure means: do without XLA
        return False
    return True


_ZERO = []


def _runtime_zero():
    """A float32 0 that XLA cannot see is zero (a variable read, not a constant)."""
    if not _ZERO:
        with tf.init_scope():
            _ZERO.append(tf.Variable(0.0, trainable=False, name="adam_zero"))
    return _ZERO[0].read_value()


@tf.function(jit_compile=True)
def _xla_adam_kernel(variables, momentums, velocities, gradients, alpha, one_minus_beta_1,
                     one_minus_beta_2, epsilon, zero):
    # Keras' update_step, term for term, on resource handles (so one trace serves every
    # trainer with these shapes). "+ zero" stops LLVM from fusing a multiply and the add or
    # subtract after it into one FMA instruction, which rounds once where Keras' separate ops
    # round twice; the result is then bit-identical to Keras' Adam.
    def read(handle):
        return tf.raw_ops.ReadVariableOp(resource=handle, dtype=tf.float32)

    for variable, m, v, gradient in zip(variables, momentums, velocities, gradients):
        new_m = read(m) + ((gradient - read(m)) * one_minus_beta_1 + zero)
        new_v = read(v) + (((tf.square(gradient) + zero) - read(v)) * one_minus_beta_2 + zero)
        tf.raw_ops.AssignVariableOp(resource=m, value=new_m)
        tf.raw_ops.AssignVariableOp(resource=v, value=new_v)
        tf.raw_ops.AssignVariableOp(resource=variable, value=read(variable) - (new_m * alpha) / (
            tf.sqrt(new_v) + epsilon))


def xla_adam_update(optimizer, gradients, variables):
    """What keras.optimizers.Adam.apply_gradients does (no clipping, decay or EMA), bit for bit,
    as one XLA kernel for all `variables`; uses and advances the optimizer's own moments and
    step counter. Compiled once per set of shapes and reused by every trainer that has them."""
    if not optimizer.built:
        optimizer.build(variables)
    momentums, velocities = _moments(optimizer, variables)
    _xla_adam_kernel([variable.value.handle for variable in variables],
                     [m.handle for m in momentums], [v.handle for v in velocities],
                     [tf.cast(g, variable.dtype) for g, variable in zip(gradients, variables)],
                     _adam_step_size(optimizer), tf.constant(1 - optimizer.beta_1, tf.float32),
                     tf.constant(1 - optimizer.beta_2, tf.float32),
                     tf.constant(optimizer.epsilon, tf.float32), _runtime_zero())
    optimizer.iterations.assign_add(1)


def fused_adam_update(optimizer, gradients, variables):
    """Adam by TensorFlow's fused kernel, one per variable (its last bits differ from Keras');
    uses and advances the optimizer's own moments and step counter."""
    if not optimizer.built:
        optimizer.build(variables)
    step = tf.cast(optimizer.iterations + 1, tf.float32)
    beta_1, beta_2 = tf.constant(optimizer.beta_1, tf.float32), tf.constant(optimizer.beta_2, tf.float32)
    learning_rate = tf.cast(optimizer.learning_rate, tf.float32)
    epsilon = tf.constant(optimizer.epsilon, tf.float32)
    beta_1_power, beta_2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
    momentums, velocities = _moments(optimizer, variables)
    for gradient, variable, m, v in zip(gradients, variables, momentums, velocities):
        tf.raw_ops.ResourceApplyAdam(
            var=variable.value.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
            beta2_power=beta_2_power, lr=learning_rate, beta1=beta_1, beta2=beta_2, epsilon=epsilon,
            grad=tf.cast(gradient, variable.dtype))
    optimizer.iterations.assign_add(1)


def split_batch(data):
    """(images, labels) from whatever fit() yields: images alone, (images,), or (images, labels)."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None
