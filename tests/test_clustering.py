"""aae.cluster_error and its helpers, against answers worked out by hand."""

import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers import clustering


def one_hot(clusters, k):
    return np.eye(k)[np.asarray(clusters)]


def test_a_perfect_clustering_has_no_error_and_a_relabelled_one_neither():
    labels = np.repeat(np.arange(10), 5)
    clusters = (labels * 3 + 1) % 16                     # each digit its own cluster, names shuffled
    probabilities = one_hot(clusters, 16)
    for protocol in clustering.PROTOCOLS:
        assert clustering.cluster_error(probabilities, labels, probabilities, labels, protocol) == 0.0


def test_the_paper_protocol_labels_a_cluster_by_its_most_sure_image():
    # Cluster 0 holds three 7s and one 1, but it is surest of the 1: the paper names it 1.
    val = np.array([[0.6, 0.4], [0.7, 0.3], [0.55, 0.45], [0.9, 0.1], [0.2, 0.8]])
    val_labels = np.array([7, 7, 7, 1, 4])
    assert clustering.cluster_digits(val, val_labels, "paper").tolist() == [1, 4]
    assert clustering.cluster_digits(val, val_labels, "majority").tolist() == [7, 4]
    test = one_hot([0, 0, 0, 1], 2)
    test_labels = np.array([7, 7, 1, 4])
    assert clustering.cluster_error(test, test_labels, val, val_labels, "paper") == 0.5       # the two 7s
    assert clustering.cluster_error(test, test_labels, val, val_labels, "majority") == 0.25   # the 1


def test_a_cluster_no_validation_image_falls_in_counts_as_wrong_under_majority():
    val, val_labels = one_hot([0, 0, 1], 3), np.array([2, 2, 5])
    assert clustering.cluster_digits(val, val_labels, "majority").tolist() == [2, 5, -1]
    test, test_labels = one_hot([0, 2, 2, 1], 3), np.array([2, 3, 3, 5])
    assert clustering.cluster_error(test, test_labels, val, val_labels, "majority") == 0.5


def test_one_cluster_for_everything_scores_like_guessing_the_commonest_digit():
    labels = np.repeat(np.arange(10), 10)
    labels[:5] = 3                                        # 3 is the commonest digit: 15 of 100
    probabilities = np.tile([0.9, 0.05, 0.05], (100, 1))
    assert clustering.cluster_error(probabilities, labels, probabilities, labels, "majority") == pytest.approx(0.85)


def test_confusion_and_usage_count_the_images():
    probabilities = one_hot([0, 0, 1, 3, 3, 3], 4)
    labels = np.array([1, 1, 2, 9, 9, 8])
    confusion = clustering.cluster_confusion(probabilities, labels)
    assert confusion.shape == (4, 10) and confusion.sum() == 6
    assert confusion[0, 1] == 2 and confusion[1, 2] == 1 and confusion[3, 9] == 2 and confusion[3, 8] == 1
    usage = clustering.cluster_usage(probabilities, min_share=0.1)
    assert usage["sizes"].tolist() == [2, 1, 0, 3] and usage["empty"] == 1 and usage["largest_share"] == 0.5


def test_the_functions_are_in_the_notebooks_namespace():
    assert aae.cluster_error is clustering.cluster_error and aae.cluster_confusion is clustering.cluster_confusion


@pytest.mark.parametrize("call, message", [
    (lambda: clustering.cluster_error(np.ones((3, 1)), [1, 2, 3], np.ones((3, 1)), [1, 2, 3]),
     r"test_probabilities must have shape \(n, k\) with n >= 1 images and k >= 2 clusters, got shape \(3, 1\)"),
    (lambda: clustering.cluster_error(np.ones((3, 4)), [1, 2, 3], np.ones((3, 5)), [1, 2, 3]),
     "must cover the same clusters, got 4 and 5 columns"),
    (lambda: clustering.cluster_digits(np.full((2, 3), np.nan), [1, 2]), "got 6 NaN or infinite values"),
    (lambda: clustering.cluster_digits(-np.ones((2, 3)), [1, 2]), "got values down to -1"),
    (lambda: clustering.cluster_digits(np.ones((2, 3)), [1, 2], "vote"), "protocol must be one of"),
    (lambda: clustering.cluster_digits(np.ones((2, 3)), [1, 2, 3]), r"labels must have shape \(2,\)"),
    (lambda: clustering.cluster_digits(np.ones((2, 3)), [1, 12]), "labels must be integers in 0..9"),
    (lambda: clustering.cluster_confusion("abc", [1]), "must be a numeric array"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
