"""How much does a supervised AAE's decoder obey the label? ("class control")

Trains the 15-D supervised AAE of notebook 03 (article settings, Adam beta_1 0.5) and, at each
requested epoch count, generates every digit 0-9 in 30 random prior styles and lets an
independently trained classifier (784-1000-1000-10 on all training labels) read them. Prints
the fraction drawn as the requested digit (10% = label ignored, 100% = full control).

Usage: .venv/bin/python benchmarks/label_control.py [--epochs 30 60] [--data PATH] [--out DIR]
"""

import argparse
import shutil

import numpy as np

import aae_helpers as aae


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="runs/label_control")
    args = parser.parse_args()
    data = aae.load_mnist(args.data)
    judge = aae.BaselineClassifier(labels_per_class=int(np.bincount(data.y_train).min()), seed=1)
    aae.train(judge, data, 15, verbose=0)
    print(f"judge test accuracy: {(judge.classify(data.x_test).argmax(1) == data.y_test).mean():.3f}")
    digits = np.tile(np.arange(10), 30)
    styles = np.repeat(np.random.default_rng(0).normal(0.0, 5.0, (30, 15)), 10, axis=0).astype(np.float32)
    shutil.rmtree(args.out, ignore_errors=True)
    trainer = aae.SupervisedAdversarialAutoencoder(latent_dim=15, seed=0)
    trainer.compile()
    aae.train(trainer, data, args.epochs[0], run_dir=args.out, verbose=0)
    for index, total in enumerate(args.epochs):
        if index:
            trainer, _ = aae.resume(args.out, data, total, verbose=0)
        drawn = judge.classify(trainer.generate(digits, z=styles)).argmax(1)
        print(f"epochs {total}: class control {np.mean(drawn == digits):.3f}", flush=True)


if __name__ == "__main__":
    main()
