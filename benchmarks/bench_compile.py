"""Training throughput of every trainer with and without XLA, measured side by side.

Usage: .venv/bin/python benchmarks/bench_compile.py [--rounds 3] [--steps 30]
Alternates the two settings round by round and prints the median images/s of each.
"""

import argparse
import statistics
import time

import numpy as np

import aae_helpers as aae
from aae_helpers.data import MnistData
from aae_helpers.trainers import TRAINERS


def synthetic_digits(count, seed=0):
    rng = np.random.default_rng(seed)
    return MnistData(rng.random((count, 784), dtype=np.float32), rng.integers(0, 10, count),
                     rng.random((200, 784), dtype=np.float32), rng.integers(0, 10, 200), "synthetic")


def images_per_second(name, jit_compile, data, steps, batch_size=100):
    trainer = TRAINERS[name](seed=0)
    trainer.compile(jit_compile=jit_compile)
    dataset = trainer.make_dataset(data, batch_size)
    trainer.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # trace and warm up
    started = time.perf_counter()
    trainer.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--models", nargs="*", default=list(TRAINERS))
    args = parser.parse_args()
    data = synthetic_digits(4000)
    print(f"{'model':22s} {'no XLA img/s':>13s} {'XLA img/s':>10s} {'XLA/no':>7s}")
    for name in args.models:
        results = {False: [], True: []}
        for _ in range(args.rounds):
            for jit in (False, True):
                results[jit].append(images_per_second(name, jit, data, args.steps))
        plain, xla = statistics.median(results[False]), statistics.median(results[True])
        print(f"{name:22s} {plain:13.0f} {xla:10.0f} {xla / plain:7.2f}", flush=True)


if __name__ == "__main__":
    main()
