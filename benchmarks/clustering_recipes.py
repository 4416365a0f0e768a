"""Issue 25's recipe search: the AAE paper's clustering model and its variants, chosen on held-out digits.

Trains aae_helpers.trainers.clustering.ClusteringAdversarialAutoencoder (k clusters, z of 5) on the
training digits minus 500 held out (stratified, seed 0), labels the clusters with the first 250 held-out
digits and scores the other 250: the paper's protocol and majority vote (aae.cluster_error). With no
option it trains the paper's recipe. --balance and --vat are the trainer's balance_weight and
smoothness_weight (notebook 06 trains with 10 and 3); the other variants are this script's, for
measuring only:

  --balance W      W x (log k - H(mean of q(y|x) over the batch)): every cluster used
  --consistency W  W x cross-entropy of q(y|x) on randomly shifted images against q(y|x) on the originals
  --vat W          W x KL(q(y|x) || q(y|x + r)), r the worst small perturbation of length --vat-eps found by
                   one power iteration (virtual adversarial training, as IMSAT uses it)
  --detach-y       the reconstruction's gradient does not reach y (the decoder still reads it): only the
                   adversarial and added terms shape the clusters
  --style-sees-cluster  D_gauss judges (z, one-hot argmax y) pairs, as notebook 04's style_sees_class
  --swap W         a fourth phase, as notebook 04's label swap but training encoder and decoder (InfoGAN's
                   mutual-information term): decode random clusters in prior styles, W x cross-entropy
                   of the encoder's q(y|x) on them against the clusters drawn
  --kmeans         the floor instead: k-means on raw pixels (k = 16, 4 starts, as notebook 06), seeds 0-2
  --eval-set PATH  train on PATH's training digits less 500 held out (they name the clusters) and score
                   on its test set: with benchmarks/data/mlxtend5000_mnist10k.npz (build_eval_set.py),
                   the 4,500 offline digits and the real 10,000-digit MNIST test set

Each run appends one JSON line to --out. Examples (about a minute each on 2 cores):
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --tag paper
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --tag balance3 --balance 3
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --kmeans
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --tag notebook-10k --balance 10 --vat 3 \
      --steps 2000 --eval-set benchmarks/data/mlxtend5000_mnist10k.npz --out benchmarks/results/clustering-10k.jsonl
"""
import argparse
import json
import time

import numpy as np

import aae_helpers as aae
from aae_helpers import clustering

HELD_OUT = 500


def score(probabilities, data, on_test: bool) -> dict:
    """Both protocols and the clusters' use. probabilities(images) -> q(y|x) (n, k). Without a test
    set (held-out mode) the clusters are named by the first half of the held-out digits and scored on
    the second; with --eval-set they are named by the held-out digits and scored on the test set."""
    held_out = probabilities(data.x_val)
    if not on_test:
        half = len(held_out) // 2
        named, named_labels, scored, scored_labels = held_out[:half], data.y_val[:half], held_out[half:], data.y_val[half:]
    else:
        named, named_labels, scored, scored_labels = held_out, data.y_val, probabilities(data.x_test), data.y_test
    result = {protocol: clustering.cluster_error(scored, scored_labels, named, named_labels, protocol)
              for protocol in clustering.PROTOCOLS}
    usage = clustering.cluster_usage(scored if on_test else held_out)
    return {**result, "empty": usage["empty"], "largest": usage["largest_share"], "num_scored": len(scored)}


def kmeans_runs(data, on_test, k=16) -> list:
    from scipy.special import softmax
    from sklearn.cluster import KMeans

    runs = []
    for seed in (0, 1, 2):
        model = KMeans(k, n_init=4, random_state=seed).fit(data.x_train)

        def probabilities(images):
            """q(y|x) as notebook 06 gives k-means one: a softmax of -|x - centre|^2 / 2."""
            return softmax(-0.5 * model.transform(images) ** 2, axis=1)

        runs.append({"tag": "kmeans", "seed": seed, **score(probabilities, data, on_test)})
    return runs


def cpu_name() -> str:
    """The CPU's model name (runs on another CPU give slightly other numbers for the same seed)."""
    import platform

    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def recipe_class():
    """The package's trainer (its balance and smoothness terms are --balance and --vat) plus the
    variants no notebook uses."""
    import keras
    import tensorflow as tf
    from keras import ops

    from aae_helpers.losses import (balance_loss, classification_loss, discriminator_loss, generator_loss,
                                    reconstruction_loss)
    from aae_helpers.models import build_discriminator
    from aae_helpers.priors import sample_prior
    from aae_helpers.trainers.clustering import ClusteringAdversarialAutoencoder

    class Recipe(ClusteringAdversarialAutoencoder):
        def __init__(self, consistency=0.0, style_sees_cluster=False, swap=0.0, detach_y=False, **options):
            super().__init__(**options)
            self.consistency, self.swap, self.detach_y = consistency, swap, detach_y
            self.style_sees_cluster = style_sees_cluster
            if style_sees_cluster:
                self.style_discriminator = build_discriminator(self.latent_dim + self.num_clusters,
                                                               self.hidden_units, name="style_discriminator")
            if swap:
                self.phases = (*self.phases, "swap")
            self.shift = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=self.seed + 7)

        def reconstruct_batch(self, images, training):
            if not self.detach_y:
                return super().reconstruct_batch(images, training)
            cluster_logits, z = self.encoder(images, training=training)
            return self.decoder([ops.stop_gradient(ops.softmax(cluster_logits)), z], training=training)

        def phase_variables(self):
            variables = super().phase_variables()
            if self.swap:
                variables["swap"] = self.encoder.trainable_variables + self.decoder.trainable_variables
            return variables

        def adversarial_losses(self, codes, labels, training):
            if not self.style_sees_cluster:
                return super().adversarial_losses(codes, labels, training)
            cluster_logits, z = codes
            batch = ops.shape(z)[0]
            categories = sample_prior("categorical", batch, self.num_clusters, seed=self.seed_generator)
            styles = self.sample_prior("gaussian", batch, self.latent_dim, std=self.prior_std)
            cluster = ops.one_hot(ops.argmax(cluster_logits, axis=-1), self.num_clusters)
            fake_cat = self.category_discriminator(ops.softmax(cluster_logits), training=training)
            fake_style = self.style_discriminator(ops.concatenate([z, cluster], -1), training=training)
            real_style = self.style_discriminator(ops.concatenate([styles, cluster], -1), training=training)
            disc_loss = (discriminator_loss(self.category_discriminator(categories, training=training), fake_cat)
                         + discriminator_loss(real_style, fake_style))
            return disc_loss, generator_loss(fake_cat) + generator_loss(fake_style)

        def swap_phase(self, batch):
            clusters = keras.random.randint((batch,), 0, self.num_clusters, seed=self.seed_generator)
            styles = self.sample_prior("gaussian", batch, self.latent_dim, std=self.prior_std)
            with tf.GradientTape() as tape:
                drawn = self.decoder([ops.one_hot(clusters, self.num_clusters), styles], training=True)
                cluster_logits, _ = self.encoder(drawn, training=True)
                loss = self.swap * classification_loss(clusters, cluster_logits)
            self.apply_phase("swap", tape, loss)

        def consistency_loss(self, images, cluster_logits):
            shifted = ops.reshape(self.shift(ops.reshape(images, (-1, 28, 28, 1)), training=True), (-1, 784))
            other, _ = self.encoder(shifted, training=True)
            return ops.mean(ops.sum(-ops.stop_gradient(ops.softmax(cluster_logits)) * ops.log_softmax(other),
                                    axis=-1))

        def train_step(self, images):
            """The package's train_step, with the consistency term and the swap phase."""
            with tf.GradientTape() as tape:
                rec_loss = reconstruction_loss(images, self.reconstruct_batch(images, True))
            self.apply_phase("autoencoder", tape, rec_loss)
            with tf.GradientTape() as tape:
                disc_loss, _ = self.regularization_losses(images, None, training=True)
            self.apply_phase("discriminator", tape, disc_loss)
            with tf.GradientTape() as tape:
                cluster_logits, z = self.encoder(images, training=True)
                _, gen_loss = self.adversarial_losses((cluster_logits, z), None, training=True)
                total = gen_loss
                if self.balance_weight:
                    total += self.balance_weight * balance_loss(cluster_logits)
                if self.smoothness_weight:
                    total += self.smoothness_weight * self.smoothness_loss(images, cluster_logits)
                if self.consistency:
                    total += self.consistency * self.consistency_loss(images, cluster_logits)
            self.apply_phase("generator", tape, total)
            if self.swap:
                self.swap_phase(ops.shape(images)[0])
            return self.record(reconstruction_loss=rec_loss, discriminator_loss=disc_loss,
                               generator_loss=gen_loss)

    return Recipe


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="run")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--z", type=int, default=5)
    parser.add_argument("--std", type=float, default=1.0)
    parser.add_argument("--balance", type=float, default=0.0)
    parser.add_argument("--consistency", type=float, default=0.0)
    parser.add_argument("--style-sees-cluster", action="store_true")
    parser.add_argument("--swap", type=float, default=0.0)
    parser.add_argument("--vat", type=float, default=0.0)
    parser.add_argument("--vat-eps", type=float, default=2.0)
    parser.add_argument("--detach-y", action="store_true")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--kmeans", action="store_true")
    parser.add_argument("--eval-set", default=None,
                        help="an npz from build_eval_set.py: train on its training digits less 500 held out "
                             "(which name the clusters), score on its test set (the real 10,000)")
    parser.add_argument("--out", default="benchmarks/results/clustering-recipes.jsonl")
    args = parser.parse_args()
    data = aae.load_mnist(args.eval_set, validation_size=HELD_OUT, seed=0)
    if args.kmeans:
        runs = kmeans_runs(data, on_test=args.eval_set is not None)
    else:
        from aae_helpers.infra.training import train

        trainer = recipe_class()(balance_weight=args.balance, consistency=args.consistency,
                                 style_sees_cluster=args.style_sees_cluster, swap=args.swap,
                                 smoothness_weight=args.vat, smoothness_radius=args.vat_eps,
                                 detach_y=args.detach_y, num_clusters=args.k,
                                 latent_dim=args.z, prior_std=args.std, seed=args.seed)
        trainer.compile(learning_rate=args.lr, beta_1=args.beta1)
        epochs = aae.epochs_for_steps(trainer, data, args.steps)
        started = time.perf_counter()
        train(trainer, data, epochs, verbose=0)
        runs = [{"tag": args.tag, **{k: v for k, v in vars(args).items() if k not in ("tag", "out", "kmeans")},
                 "epochs": epochs, "train_seconds": round(time.perf_counter() - started, 1),
                 **score(trainer.cluster_probabilities, data, on_test=args.eval_set is not None)}]
    with open(args.out, "a") as handle:
        for run in runs:
            run = {**run, "data": data.source, "num_train": len(data.x_train), "cpu": cpu_name()}
            print(json.dumps(run))
            handle.write(json.dumps(run) + "\n")


if __name__ == "__main__":
    main()
