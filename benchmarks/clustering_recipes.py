"""Issue 25's recipe search: the AAE paper's clustering model and its variants, chosen on held-out digits.

Trains aae_helpers.trainers.clustering.ClusteringAdversarialAutoencoder (k clusters, z of 5) on the
training digits minus 500 held out (stratified, seed 0), labels the clusters with the first 250 held-out
digits and scores the other 250: the paper's protocol and majority vote (aae.cluster_error). The
variants add terms to the generator step, for measuring only (no notebook uses them yet):

  --balance W      W x (log k - H(mean of q(y|x) over the batch)): every cluster used
  --consistency W  W x cross-entropy of q(y|x) on randomly shifted images against q(y|x) on the originals
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

    from aae_helpers.trainers.clustering import ClusteringAdversarialAutoencoder

    class Recipe(ClusteringAdversarialAutoencoder):
        def __init__(self, balance=0.0, consistency=0.0, **options):
            super().__init__(**options)
            self.balance, self.consistency = balance, consistency
            self.shift = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=self.seed + 7)

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
            return loss

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

        trainer = recipe_class()(balance=args.balance, consistency=args.consistency, num_clusters=args.k,
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
