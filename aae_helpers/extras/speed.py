"""Opt-in speed tuning: each phase's Adam as one XLA-compiled kernel. No notebook needs it.

The trainers update their weights with Keras' own Adam (`optimizer.apply_gradients` in
`Trainer.apply_phase`), which runs about a dozen small ops, each a pass over every weight.
`XlaAdam` runs Keras' formula term for term as one XLA kernel over all of a phase's weights:
the same numbers, bit for bit, in fewer passes over memory. What it buys on each notebook's
model is measured in benchmarks/README.md ("Training speed").

Switch it on for one trainer, after compile() and before it trains:

    trainer.compile(learning_rate=1e-3, beta_1=0.5)
    aae_helpers.extras.speed.use_xla_adam(trainer)

or for every model a notebook or `aae train` trains, with AAE_XLA_ADAM=1 in the environment.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from aae_helpers.infra.runtime import env_switch

SWITCH = "AAE_XLA_ADAM"


@functools.cache
def xla_available() -> bool:
    """Can this TensorFlow build compile with XLA here? (Tried once per process.)"""
    try:
        tf.function(lambda x: x + 1.0, jit_compile=True)(tf.constant(1.0))
    except Exception:  # noqa: BLE001 - any failure means: do without XLA
        return False
    return True


def switched_on() -> bool:
    """True when AAE_XLA_ADAM is on in the environment (see runtime.env_switch)."""
    return env_switch(SWITCH)


def use_xla_adam(trainer):
    """Give every phase of a compiled trainer an XlaAdam with its Adam's settings and state
    (moments, step count): training goes on with the same numbers. Returns the trainer.
    Without XLA in this TensorFlow build, the trainer keeps Keras' Adam."""
    if not getattr(trainer, "phase_optimizers", None):
        raise ValueError("use_xla_adam needs a compiled trainer: call trainer.compile(...) first.")
    if not xla_available():
        return trainer
    for phase, optimizer in list(trainer.phase_optimizers.items()):
        if isinstance(optimizer, XlaAdam):
            continue
        tuned = XlaAdam.from_config(optimizer.get_config())
        if optimizer.built:  # a trainer that has trained (or was loaded): carry its state over
            tuned.build(optimizer._trainable_variables)
            for target, value in zip(tuned.variables, optimizer.variables, strict=True):
                target.assign(value)
        trainer.phase_optimizers[phase] = tuned
        setattr(trainer, f"{phase}_optimizer", tuned)
    trainer.optimizer = trainer.phase_optimizers[trainer.phases[0]]
    return trainer


class XlaAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam whose update runs as one XLA kernel per call; bit-identical to
    Keras' own update. Clipping, weight decay, AMSGrad, EMA, loss scaling and gradient
    accumulation are not supported (a ValueError says so)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        unsupported = [name for name, value in (
            ("amsgrad", self.amsgrad), ("clipnorm", self.clipnorm), ("clipvalue", self.clipvalue),
            ("global_clipnorm", self.global_clipnorm), ("weight_decay", self.weight_decay),
            ("use_ema", self.use_ema), ("loss_scale_factor", self.loss_scale_factor),
            ("gradient_accumulation_steps", self.gradient_accumulation_steps)) if value]
        if unsupported:
            raise ValueError(f"XlaAdam runs plain Adam only; these options are not supported: "
                             f"{', '.join(unsupported)}. Use keras.optimizers.Adam for them.")

    def apply(self, grads, trainable_variables=None):
        variables = list(trainable_variables if trainable_variables is not None else self._trainable_variables)
        if not self.built:
            self.build(variables)
        indices = [self._get_variable_index(variable) for variable in variables]
        _adam_kernel([variable.value.handle for variable in variables],
                     [self._momentums[i].value.handle for i in indices],
                     [self._velocities[i].value.handle for i in indices],
                     [tf.cast(gradient, variable.dtype) for gradient, variable in zip(grads, variables)],
                     self._step_size(), tf.constant(1 - self.beta_1, tf.float32),
                     tf.constant(1 - self.beta_2, tf.float32), tf.constant(self.epsilon, tf.float32),
                     _runtime_zero())
        self.iterations.assign_add(1)

    def _step_size(self):
        """Keras' alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), op for op as Keras computes it."""
        step = tf.cast(self.iterations + 1, tf.float32)
        beta_1_power = tf.pow(tf.cast(self.beta_1, tf.float32), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, tf.float32), step)
        return tf.cast(self.learning_rate, tf.float32) * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)


_ZERO = []


def _runtime_zero():
    """A float32 0 that XLA cannot see is zero (a variable read, not a constant)."""
    if not _ZERO:
        with tf.init_scope():
            _ZERO.append(tf.Variable(0.0, trainable=False, name="adam_zero"))
    return _ZERO[0].read_value()


@tf.function(jit_compile=True)
def _adam_kernel(variables, momentums, velocities, gradients, alpha, one_minus_beta_1,
                 one_minus_beta_2, epsilon, zero):
    # Keras' Adam.update_step, term for term, on resource handles (so one trace serves every
    # trainer with these shapes). "+ zero" stops LLVM from fusing a multiply and the add or
    # subtract after it into one FMA instruction, which rounds once where Keras' separate ops
    # round twice; with it the result is bit-identical to Keras' Adam.
    def read(handle):
        return tf.raw_ops.ReadVariableOp(resource=handle, dtype=tf.float32)

    for variable, m, v, gradient in zip(variables, momentums, velocities, gradients):
        new_m = read(m) + ((gradient - read(m)) * one_minus_beta_1 + zero)
        new_v = read(v) + (((tf.square(gradient) + zero) - read(v)) * one_minus_beta_2 + zero)
        tf.raw_ops.AssignVariableOp(resource=m, value=new_m)
        tf.raw_ops.AssignVariableOp(resource=v, value=new_v)
        tf.raw_ops.AssignVariableOp(resource=variable, value=read(variable) - (new_m * alpha) / (
            tf.sqrt(new_v) + epsilon))
