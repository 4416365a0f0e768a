"""Minimal fused raw-TensorFlow training steps, one per trainer, for bench_speed.py.

Each reference does per step exactly the arithmetic of its trainer in aae_helpers/trainers
(same layer sizes and activations, same losses, same phases in the same order, one Adam per
phase updating the same variables), written with plain tf.Variables, tf.matmul and the fused
Adam kernel (tf.raw_ops.ResourceApplyAdam) inside one tf.function. No Keras, no tf.data: the
training images sit in a tensor and step i trains on rows [i*batch, (i+1)*batch) (cyclic).

Options (all keep the maths of the plain version):
  fused_adam=False   Keras' Adam update op by op instead of the fused kernel (the trainers'
                     adam="keras"; their default, adam="xla", does that arithmetic in one kernel);
  jit_compile=True   compile the step with XLA;
  steps_per_call=N   run N steps in one call of the compiled function (a tf.range loop);
  shared=True        the adversarial models encode each batch once for the discriminator and
                     generator phases (the discriminator phase changes no encoder weight, so the
                     codes are the same; the discriminator sees them through tf.stop_gradient).

FLOPs are counted from the layer shapes (see MLP.flops and Reference.flops_per_step).
"""

import math

import numpy as np
import tensorflow as tf

IMAGE_SIZE, NUM_CLASSES, HIDDEN = 784, 10, (1000, 1000)


class MLP:
    """Dense layers sizes[0] -> sizes[1] -> ... -> sizes[-1], Glorot-uniform weights, zero biases.

    `activation` follows every layer but the last; `output` (None: linear) follows the last.
    """

    def __init__(self, sizes, activation=tf.nn.relu, output=None, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes, self.activation, self.output = tuple(sizes), activation, output
        self.layers = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            kernel = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
            self.layers.append((tf.Variable(kernel), tf.Variable(tf.zeros([fan_out]))))
        self.variables = [v for layer in self.layers for v in layer]

    def __call__(self, x):
        for index, (kernel, bias) in enumerate(self.layers):
            x = tf.nn.bias_add(tf.matmul(x, kernel), bias)
            act = self.activation if index < len(self.layers) - 1 else self.output
            x = act(x) if act is not None else x
        return x

    def flops(self, batch, trained=True, input_grad=False, backward=True):
        """FLOPs of one pass: 2*m*k*n per matmul (batch m, k in, n out) forward; with
        `backward`, + the same again for the weight gradient of each layer when `trained`,
        and + the same again for the input gradient of each layer whose input needs one
        (every layer after the first of a trained stack, and the first when `input_grad`)."""
        total = 0
        for index, (k, n) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            one = 2 * batch * k * n
            needs_dx = backward and (input_grad or (trained and index > 0))
            total += one * (1 + (backward and trained) + needs_dx)
        return total


class Adam:
    """Keras' Adam (epsilon 1e-7, beta_2 0.999) on a fixed list of variables.

    fused=True: TensorFlow's fused kernel, one pass over each variable. fused=False: Keras'
    update_step op by op (about a dozen passes per variable, Keras' rounding of 1 - beta).
    """

    def __init__(self, variables, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 fused=True):
        self.variables, self.fused = list(variables), fused
        self.slots = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v)))
                      for v in self.variables]
        self.iterations = tf.Variable(0.0)
        self.betas = (beta_1, beta_2)
        self.constants = [tf.constant(c, tf.float32) for c in (learning_rate, beta_1, beta_2, epsilon)]

    def minimize(self, tape, loss):
        lr, beta_1, beta_2, epsilon = self.constants
        grads = tape.gradient(loss, self.variables)
        step = self.iterations.assign_add(1.0)
        beta_1_power, beta_2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        for variable, (m, v), grad in zip(self.variables, self.slots, grads):
            if self.fused:
                tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=m.handle, v=v.handle,
                                             beta1_power=beta_1_power, beta2_power=beta_2_power, lr=lr,
                                             beta1=beta_1, beta2=beta_2, epsilon=epsilon, grad=grad)
            else:
                m.assign_add((grad - m) * (1 - self.betas[0]))
                v.assign_add((tf.square(grad) - v) * (1 - self.betas[1]))
                variable.assign_sub((m * alpha) / (tf.sqrt(v) + epsilon))


# ---- losses (the same formulas as aae_helpers/losses.py) --------------------------------------
def mse(images, reconstructions):
    return tf.reduce_mean(tf.square(images - reconstructions))


def bce(labels_value, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), labels_value), logits=logits))


def discriminator_loss(real_logits, fake_logits):
    return bce(1.0, real_logits) + bce(0.0, fake_logits)


def cross_entropy(labels, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


# ---- the references ------------------------------------------------------------------------------
class Reference:
    """Base: data as tensors, a compiled call running `steps_per_call` steps; subclasses write step()."""

    def __init__(self, images, labels, labelled_images=None, labelled_labels=None, batch_size=100,
                 seed=0, learning_rate=1e-3, beta_1=0.9, jit_compile=False, steps_per_call=1,
                 shared=False, fused_adam=True):
        self.batch_size, self.steps_per_call, self.shared = batch_size, steps_per_call, shared
        self.adam = dict(learning_rate=learning_rate, beta_1=beta_1, fused=fused_adam)
        self.seed = seed
        self.random = tf.random.Generator.from_seed(seed)
        self.data = [tf.constant(images[:len(images) // batch_size * batch_size]),
                     tf.constant(np.asarray(labels[:len(images) // batch_size * batch_size], np.int32))]
        if labelled_images is not None:
            size = len(labelled_images) // batch_size * batch_size
            self.data += [tf.constant(labelled_images[:size]),
                          tf.constant(np.asarray(labelled_labels[:size], np.int32))]
        self.build()
        self.counter = tf.Variable(0, dtype=tf.int64)
        self.compiled = tf.function(self._run_steps, jit_compile=jit_compile)

    def mlp(self, sizes, **options):
        self.seed += 1
        return MLP(sizes, seed=self.seed, **options)

    def batch(self, step):
        """Rows [step*batch, (step+1)*batch) of each data tensor, cyclically."""
        out = []
        for tensor in self.data:
            batches = tf.shape(tensor, out_type=tf.int64)[0] // self.batch_size
            out.append(tf.gather(tensor, tf.range(self.batch_size, dtype=tf.int64)
                                 + (step % batches) * self.batch_size))
        return out

    def _run_steps(self):
        losses = self.step(*self.batch(self.counter.assign_add(1)))
        if self.steps_per_call > 1:  # a tf.while_loop over the remaining steps
            for _ in tf.range(self.steps_per_call - 1):
                losses = self.step(*self.batch(self.counter.assign_add(1)))
        return losses

    def run(self, steps):
        """Train `steps` steps (a multiple of steps_per_call); returns the last step's losses."""
        for _ in range(max(1, steps // self.steps_per_call)):
            losses = self.compiled()
        return [float(value) for value in losses]


class AutoencoderReference(Reference):
    def build(self, latent_dim=2):
        self.encoder = self.mlp((IMAGE_SIZE, *HIDDEN, latent_dim))
        self.decoder = self.mlp((latent_dim, *HIDDEN, IMAGE_SIZE), output=tf.sigmoid)
        self.optimizer = Adam(self.encoder.variables + self.decoder.variables, **self.adam)

    def step(self, images, labels, *_):
        with tf.GradientTape() as tape:
            loss = mse(images, self.decoder(self.encoder(images)))
        self.optimizer.minimize(tape, loss)
        return (loss,)

    def flops_per_step(self):
        b = self.batch_size
        return self.encoder.flops(b) + self.decoder.flops(b, input_grad=True)


class AdversarialReference(Reference):
    """Part 2 (supervised=False) and Part 3 (the decoder gets [one-hot label, z])."""

    latent_dim, supervised, prior_std = 2, False, 5.0

    def build(self):
        extra = NUM_CLASSES if self.supervised else 0
        self.encoder = self.mlp((IMAGE_SIZE, *HIDDEN, self.latent_dim))
        self.decoder = self.mlp((self.latent_dim + extra, *HIDDEN, IMAGE_SIZE), output=tf.sigmoid)
        self.discriminator = self.mlp((self.latent_dim, *HIDDEN, 1))
        self.autoencoder_adam = Adam(self.encoder.variables + self.decoder.variables, **self.adam)
        self.discriminator_adam = Adam(self.discriminator.variables, **self.adam)
        self.generator_adam = Adam(self.encoder.variables, **self.adam)

    def reconstruct(self, images, labels):
        codes = self.encoder(images)
        if self.supervised:
            codes = tf.concat([tf.one_hot(labels, NUM_CLASSES), codes], axis=1)
        return self.decoder(codes)

    def step(self, images, labels, *_):
        prior = lambda: self.random.normal(tf.shape(images[:, :self.latent_dim]),  # noqa: E731
                                           stddev=self.prior_std)
        with tf.GradientTape() as tape:  # 1) reconstruction: encoder + decoder
            rec_loss = mse(images, self.reconstruct(images, labels))
        self.autoencoder_adam.minimize(tape, rec_loss)
        generator_tape = tf.GradientTape()
        if self.shared:  # encode once for phases 2 and 3; the tape records it for phase 3
            with generator_tape:
                codes = self.encoder(images)
        with tf.GradientTape() as tape:  # 2) discriminator: prior samples real, codes fake
            fake = tf.stop_gradient(codes) if self.shared else self.encoder(images)
            disc_loss = discriminator_loss(self.discriminator(prior()), self.discriminator(fake))
        self.discriminator_adam.minimize(tape, disc_loss)
        with generator_tape:  # 3) generator: the encoder learns to fool the discriminator
            if not self.shared:
                codes = self.encoder(images)
            prior()  # drawn (and unused) as the trainer does, so the random stream matches
            gen_loss = bce(1.0, self.discriminator(codes))
        self.generator_adam.minimize(generator_tape, gen_loss)
        return rec_loss, disc_loss, gen_loss

    def flops_per_step(self):
        b, enc, dec, disc = self.batch_size, self.encoder, self.decoder, self.discriminator
        reconstruction = enc.flops(b) + dec.flops(b, input_grad=True)
        discriminator = (0 if self.shared else enc.flops(b, backward=False)) + 2 * disc.flops(b)
        generator = enc.flops(b) + disc.flops(b, trained=False, input_grad=True)
        return reconstruction + discriminator + generator


class SupervisedAdversarialReference(AdversarialReference):
    latent_dim, supervised = 15, True


class SemiSupervisedReference(Reference):
    """Part 4: encoder trunk with heads y (10 logits) and z (10); D_cat on softmax(y), D_gauss on z."""

    latent_dim, prior_std = 10, 5.0

    def build(self):
        self.trunk = self.mlp((IMAGE_SIZE, *HIDDEN), output=tf.nn.relu)
        self.y_head = self.mlp((HIDDEN[-1], NUM_CLASSES))
        self.z_head = self.mlp((HIDDEN[-1], self.latent_dim))
        self.decoder = self.mlp((NUM_CLASSES + self.latent_dim, *HIDDEN, IMAGE_SIZE), output=tf.sigmoid)
        self.d_cat = self.mlp((NUM_CLASSES, *HIDDEN, 1))
        self.d_gauss = self.mlp((self.latent_dim, *HIDDEN, 1))
        encoder = self.trunk.variables + self.y_head.variables + self.z_head.variables
        self.autoencoder_adam = Adam(encoder + self.decoder.variables, **self.adam)
        self.discriminator_adam = Adam(self.d_cat.variables + self.d_gauss.variables, **self.adam)
        self.generator_adam = Adam(encoder, **self.adam)
        self.classifier_adam = Adam(self.trunk.variables + self.y_head.variables, **self.adam)

    def encode(self, images):
        features = self.trunk(images)
        return self.y_head(features), self.z_head(features)

    def priors(self, batch):
        categories = tf.one_hot(self.random.uniform([batch], 0, NUM_CLASSES, dtype=tf.int32), NUM_CLASSES)
        return categories, self.random.normal([batch, self.latent_dim], stddev=self.prior_std)

    def step(self, images, labels, labelled_images, labelled_labels):
        batch = tf.shape(images)[0]
        with tf.GradientTape() as tape:  # 1) reconstruction on the unlabelled batch
            logits, z = self.encode(images)
            rec_loss = mse(images, self.decoder(tf.concat([tf.nn.softmax(logits), z], axis=1)))
        self.autoencoder_adam.minimize(tape, rec_loss)
        generator_tape = tf.GradientTape()
        if self.shared:  # encode once for phases 2 and 3; the tape records it for phase 3
            with generator_tape:
                logits, z = self.encode(images)
                y = tf.nn.softmax(logits)
        with tf.GradientTape() as tape:  # 2) D_cat and D_gauss
            if self.shared:
                fake_y, fake_z = tf.stop_gradient(y), tf.stop_gradient(z)
            else:
                fake_logits, fake_z = self.encode(images)
                fake_y = tf.nn.softmax(fake_logits)
            categories, styles = self.priors(batch)
            disc_loss = (discriminator_loss(self.d_cat(categories), self.d_cat(fake_y))
                         + discriminator_loss(self.d_gauss(styles), self.d_gauss(fake_z)))
        self.discriminator_adam.minimize(tape, disc_loss)
        with generator_tape:  # ... then the encoder learns to fool both
            if not self.shared:
                logits, z = self.encode(images)
                y = tf.nn.softmax(logits)
            self.priors(batch)  # drawn as the trainer does, so the random stream matches
            gen_loss = bce(1.0, self.d_cat(y)) + bce(1.0, self.d_gauss(z))
        self.generator_adam.minimize(generator_tape, gen_loss)
        with tf.GradientTape() as tape:  # 3) the y head on a labelled batch
            class_loss = cross_entropy(labelled_labels, self.y_head(self.trunk(labelled_images)))
        self.classifier_adam.minimize(tape, class_loss)
        return rec_loss, disc_loss, gen_loss, class_loss

    def encoder_flops(self, backward=True):
        b, heads = self.batch_size, (self.y_head, self.z_head)
        return self.trunk.flops(b, backward=backward) + sum(
            h.flops(b, input_grad=True, backward=backward) for h in heads)

    def flops_per_step(self):
        b, trunk, discs = self.batch_size, self.trunk, (self.d_cat, self.d_gauss)
        reconstruction = self.encoder_flops() + self.decoder.flops(b, input_grad=True)
        discriminator = ((0 if self.shared else self.encoder_flops(backward=False))
                         + sum(2 * d.flops(b) for d in discs))
        generator = self.encoder_flops() + sum(d.flops(b, trained=False, input_grad=True) for d in discs)
        classifier = trunk.flops(b) + self.y_head.flops(b, input_grad=True)
        return reconstruction + discriminator + generator + classifier


class BaselineReference(Reference):
    def build(self):
        self.classifier = self.mlp((IMAGE_SIZE, *HIDDEN, NUM_CLASSES))
        self.optimizer = Adam(self.classifier.variables, **self.adam)

    def step(self, images, labels, *_):
        with tf.GradientTape() as tape:
            loss = cross_entropy(labels, self.classifier(images))
        self.optimizer.minimize(tape, loss)
        return (loss,)

    def flops_per_step(self):
        return self.classifier.flops(self.batch_size)


class VAEReference(Reference):
    """q(z|x) 784-128 sigmoid -> mean, log_variance (10 each); classifier 784-128-10; decoder 20-128-784."""

    latent_dim, hidden, decoder_std, classifier_weight = 10, 128, 0.5, 10.0

    def build(self):
        self.encoder = self.mlp((IMAGE_SIZE, self.hidden), output=tf.sigmoid)
        self.mean_head = self.mlp((self.hidden, self.latent_dim))
        self.log_variance_head = self.mlp((self.hidden, self.latent_dim))
        self.classifier = self.mlp((IMAGE_SIZE, self.hidden, NUM_CLASSES), activation=tf.sigmoid)
        self.decoder = self.mlp((NUM_CLASSES + self.latent_dim, self.hidden, IMAGE_SIZE),
                                activation=tf.sigmoid, output=tf.sigmoid)
        networks = (self.encoder, self.mean_head, self.log_variance_head, self.classifier, self.decoder)
        self.optimizer = Adam([v for n in networks for v in n.variables], **self.adam)

    def step(self, images, labels, *_):
        std = self.decoder_std
        with tf.GradientTape() as tape:
            features = self.encoder(images)
            mean, log_variance = self.mean_head(features), self.log_variance_head(features)
            z = mean + tf.exp(0.5 * log_variance) * self.random.normal(tf.shape(mean))
            logits = self.classifier(images)
            reconstructions = self.decoder(tf.concat([tf.nn.softmax(logits), z], axis=1))
            rec_loss = tf.reduce_mean(tf.reduce_sum(
                tf.square(images - reconstructions) / (2.0 * std * std)
                + (math.log(std) + 0.5 * math.log(2.0 * math.pi)), axis=-1))
            kl_loss = tf.reduce_mean(tf.reduce_sum(
                0.5 * (tf.square(mean) + tf.exp(log_variance) - 1.0 - log_variance), axis=-1))
            loss = rec_loss + kl_loss + self.classifier_weight * cross_entropy(labels, logits)
        self.optimizer.minimize(tape, loss)
        return (loss,)

    def flops_per_step(self):
        b = self.batch_size
        return (self.encoder.flops(b) + self.mean_head.flops(b, input_grad=True)
                + self.log_variance_head.flops(b, input_grad=True) + self.classifier.flops(b)
                + self.decoder.flops(b, input_grad=True))


REFERENCES = {"autoencoder": AutoencoderReference, "aae": AdversarialReference,
              "supervised-aae": SupervisedAdversarialReference,
              "semi-supervised-aae": SemiSupervisedReference,
              "baseline-classifier": BaselineReference, "vae": VAEReference}
