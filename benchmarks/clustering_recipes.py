"""Issue 25's recipe search: the AAE paper's clustering model and its variants, chosen on held-out digits.

Trains aae_helpers.trainers.clustering.ClusteringAdversarialAutoencoder (k clusters, z of 5) on the
training digits minus 500 held out (stratified, seed 0), labels the clusters with the first 250 held-out
digits and scores the other 250: the paper's protocol and majority vote (aae.cluster_error). The
variants add terms to the generator step, for measuring only (no notebook uses them yet):

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
  --kmeans         the floor instead: k-means on raw pixels (k = 16, 10 starts), seeds 0-2

Each run appends one JSON line to --out. Examples (about a minute each on 2 cores):
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --tag paper
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --tag balance3 --balance 3
  AAE_OFFLINE=1 .venv/bin/python benchmarks/clustering_recipes.py --kmeans
"""
import argparse
import json
import time

import numpy as np

import aae_helpers as aae
from aae_helpers import clustering

HELD_OUT = 500


def score(probabilities, labels) -> dict:
    """Both protocols: clusters labelled by the first half of the held-out digits, scored on the second."""
    half = len(probabilities) // 2
    result = {protocol: clustering.cluster_error(probabilities[half:], labels[half:], probabilities[:half],
                                                 labels[:half], protocol) for protocol in clustering.PROTOCOLS}
    usage = clustering.cluster_usage(probabilities)
    return {**result, "empty": usage["empty"], "largest": usage["largest_share"]}


def kmeans_runs(data) -> list:
    from sklearn.cluster import KMeans

    runs = []
    for seed in (0, 1, 2):
        distances = KMeans(16, n_init=10, random_state=seed).fit(data.x_train).transform(data.x_val)
        nearest = np.eye(16)[distances.argmin(axis=1)]
        closeness = np.exp(-(distances - distances.min(axis=1, keepdims=True)))
        probabilities = 0.5 * nearest + 0.5 * closeness / closeness.sum(axis=1, keepdims=True)  # argmax: nearest
        runs.append({"tag": "kmeans", "seed": seed, **score(probabilities, data.y_val)})
    return runs


def recipe_class():
    import keras
    import tensorflow as tf
    from keras import ops

    from aae_helpers.losses import classification_loss, discriminator_loss, generator_loss
    from aae_helpers.models import build_discriminator
    from aae_helpers.priors import sample_prior
    from aae_helpers.trainers.clustering import ClusteringAdversarialAutoencoder

    class Recipe(ClusteringAdversarialAutoencoder):
        def __init__(self, balance=0.0, consistency=0.0, style_sees_cluster=False, swap=0.0, vat=0.0,
                     vat_eps=2.0, detach_y=False, **options):
            super().__init__(**options)
            self.balance, self.consistency, self.swap = balance, consistency, swap
            self.vat, self.vat_eps, self.detach_y = vat, vat_eps, detach_y
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

        def train_step(self, images):
            results = super().train_step(images)
            if self.swap:
                self.swap_phase(ops.shape(images)[0])
            return results

        def extra_loss(self, images, cluster_logits):
            loss = 0.0
            probabilities = ops.softmax(cluster_logits)
            if self.balance:
                mean = ops.mean(probabilities, axis=0)
                loss += self.balance * (np.log(self.num_clusters) + ops.sum(mean * ops.log(mean + 1e-8)))
            if self.consistency:
                shifted = ops.reshape(self.shift(ops.reshape(images, (-1, 28, 28, 1)), training=True), (-1, 784))
                other, _ = self.encoder(shifted, training=True)
                loss += self.consistency * ops.mean(ops.sum(
                    -ops.stop_gradient(probabilities) * ops.log_softmax(other), axis=-1))
            if self.vat:
                loss += self.vat * self.vat_loss(images, probabilities)
            return loss

        def vat_loss(self, images, probabilities):
            """KL(q(y|x) || q(y|x + r_adv)), batch mean; r_adv from one power iteration."""
            target = ops.stop_gradient(probabilities)

            def kl(logits):
                return ops.mean(ops.sum(target * (ops.log(target + 1e-8) - ops.log_softmax(logits)), axis=-1))

            def unit(d):
                return d / (ops.sqrt(ops.sum(d * d, axis=-1, keepdims=True)) + 1e-8)

            d = 1e-1 * unit(keras.random.normal(ops.shape(images), seed=self.seed_generator))
            with tf.GradientTape() as inner:
                inner.watch(d)
                distance = kl(self.encoder(images + d, training=True)[0])
            r_adv = ops.stop_gradient(self.vat_eps * unit(inner.gradient(distance, d)))
            return kl(self.encoder(images + r_adv, training=True)[0])

        def regularization_phase(self, images, labels=None):
            with tf.GradientTape() as tape:
                disc_loss, _ = self.regularization_losses(images, labels, training=True)
            self.apply_phase("discriminator", tape, disc_loss)
            with tf.GradientTape() as tape:
                codes = self.encoder(images, training=True)
                _, gen_loss = self.adversarial_losses(codes, labels, training=True)
                total = gen_loss + self.extra_loss(images, codes[0])
            self.apply_phase("generator", tape, total)
            return disc_loss, gen_loss

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
    parser.add_argument("--out", default="benchmarks/results/clustering-recipes.jsonl")
    args = parser.parse_args()
    data = aae.load_mnist(validation_size=HELD_OUT, seed=0)
    if args.kmeans:
        runs = kmeans_runs(data)
    else:
        from aae_helpers.infra.training import train

        trainer = recipe_class()(balance=args.balance, consistency=args.consistency,
                                 style_sees_cluster=args.style_sees_cluster, swap=args.swap, vat=args.vat,
                                 vat_eps=args.vat_eps, detach_y=args.detach_y, num_clusters=args.k,
                                 latent_dim=args.z, prior_std=args.std, seed=args.seed)
        trainer.compile(learning_rate=args.lr, beta_1=args.beta1)
        epochs = aae.epochs_for_steps(trainer, data, args.steps)
        started = time.perf_counter()
        train(trainer, data, epochs, verbose=0)
        runs = [{"tag": args.tag, **{k: v for k, v in vars(args).items() if k not in ("tag", "out", "kmeans")},
                 "epochs": epochs, "train_seconds": round(time.perf_counter() - started, 1),
                 **score(trainer.cluster_probabilities(data.x_val), data.y_val)}]
    with open(args.out, "a") as handle:
        for run in runs:
            run = {**run, "data": data.source, "num_train": len(data.x_train)}
            print(json.dumps(run))
            handle.write(json.dumps(run) + "\n")


if __name__ == "__main__":
    main()
