"""How well clusters found without labels match the digits (numpy only).

A clustering model assigns each image a probability q(y = c | x) over k clusters, with no label
ever seen. To score it, each cluster is given a digit from a small labelled validation set, and
the error is the share of test digits whose cluster's digit is wrong. Two ways to give a cluster
its digit:

- "paper" (Makhzani et al., 2015, section 5): the digit of the validation image with the highest
  q(y = c | x), the one image the cluster is most sure of;
- "majority": the most common digit among the validation images assigned to the cluster.

    probabilities = trainer.cluster_probabilities(images)        # (n, k)
    aae.cluster_error(test_probabilities, y_test, val_probabilities, y_val, protocol="paper")
"""

from __future__ import annotations

import numpy as np

from aae_helpers.checks import NUM_CLASSES, check_labels, numeric_array

__all__ = ["cluster_digits", "cluster_error", "cluster_confusion", "cluster_usage", "PROTOCOLS"]

PROTOCOLS = ("paper", "majority")


def _check_probabilities(probabilities, name: str) -> np.ndarray:
    """float64 (n, k) with k >= 2, finite and >= 0: cluster probabilities (or scores) per image."""
    array = numeric_array(probabilities, name, "(n, k)").astype(np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, k) with n >= 1 images and k >= 2 clusters, "
                         f"got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite and non-negative (probabilities q(y|x)); got "
                         f"{np.sum(~np.isfinite(array))} NaN or infinite values.")
    if (array < 0).any():
        raise ValueError(f"{name} must be finite and non-negative (probabilities q(y|x)); got values "
                         f"down to {array.min():g}.")
    return array


def cluster_digits(probabilities, labels, protocol: str = "paper") -> np.ndarray:
    """The digit (k,) each cluster stands for, read from labelled images: probabilities (n, k),
    labels (n,). A cluster no image is assigned to gets -1 under "majority" (its images then
    count as errors); under "paper" every cluster has a most-sure image."""
    probabilities = _check_probabilities(probabilities, "probabilities")
    labels = check_labels(labels, len(probabilities))
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}.")
    if protocol == "paper":
        return labels[probabilities.argmax(axis=0)]
    counts = cluster_confusion(probabilities, labels)             # (k, 10)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)


def cluster_error(test_probabilities, test_labels, val_probabilities, val_labels,
                  protocol: str = "paper") -> float:
    """Share of test images whose cluster's digit (read from the validation images with
    `protocol`) is not their own: 0 is perfect; one digit per cluster by chance is about 0.9."""
    test_probabilities = _check_probabilities(test_probabilities, "test_probabilities")
    test_labels = check_labels(test_labels, len(test_probabilities))
    val_probabilities = _check_probabilities(val_probabilities, "val_probabilities")
    if val_probabilities.shape[1] != test_probabilities.shape[1]:
        raise ValueError(f"test and validation probabilities must cover the same clusters, got "
                         f"{test_probabilities.shape[1]} and {val_probabilities.shape[1]} columns.")
    digits = cluster_digits(val_probabilities, val_labels, protocol)
    return float(np.mean(digits[test_probabilities.argmax(axis=1)] != test_labels))


def cluster_confusion(probabilities, labels) -> np.ndarray:
    """Counts (k, 10): how many images of each digit (columns) land in each cluster (rows)."""
    probabilities = _check_probabilities(probabilities, "probabilities")
    labels = check_labels(labels, len(probabilities))
    counts = np.zeros((probabilities.shape[1], NUM_CLASSES), np.int64)
    np.add.at(counts, (probabilities.argmax(axis=1), labels), 1)
    return counts


def cluster_usage(probabilities, min_share: float = 0.01) -> dict:
    """How the images spread over the k clusters: {"sizes" (k,) counts, "empty": clusters holding
    under `min_share` of the images, "largest_share": the biggest cluster's share}."""
    probabilities = _check_probabilities(probabilities, "probabilities")
    sizes = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
    return {"sizes": sizes, "empty": int(np.sum(sizes < min_share * len(probabilities))),
            "largest_share": float(sizes.max() / len(probabilities))}
