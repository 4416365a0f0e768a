"""What each training phase may change, written out here, not read back from the trainers; and
the few-label models learn from training-split labels only.

tests/test_trainers.py checks each phase against the trainer's own phase_variables(); a wrong
declaration would pass there. Here the algorithm's answer is written out by network and layer
(the article's Figure 1 and section 2, plus this package's additions), and one train step shows
that each phase changes exactly those variables.
"""

import dataclasses

import numpy as np
import pytest

from aae_helpers.infra import training
from aae_helpers.data import labelled_subset
from aae_helpers.extras.improved import ImprovedBaselineClassifier, ImprovedSemiSupervisedAAE
from conftest import small_digits
from aae_helpers.trainers import (AdversarialAutoencoder, Autoencoder, BaselineClassifier, ClassifierVAE,
                                  SemiSupervisedAdversarialAutoencoder, SupervisedAdversarialAutoencoder)
from aae_helpers.trainers.clustering import ClusteringAdversarialAutoencoder

SMALL = {"hidden_units": (32,), "seed": 3}
NETWORKS = ("encoder", "decoder", "discriminator", "category_discriminator", "style_discriminator",
            "classifier")   # the trainers' attributes that hold networks

# Every trainer variant: (class, options).
VARIANTS = {
    "autoencoder": (Autoencoder, {}),
    "aae": (AdversarialAutoencoder, {}),
    "supervised-aae/article": (SupervisedAdversarialAutoencoder, {"discriminator_sees_label": False}),
    "supervised-aae": (SupervisedAdversarialAutoencoder, {}),       # notebook 03's: D sees the label
    "semi-supervised-aae/article": (SemiSupervisedAdversarialAutoencoder, {
        "labels_per_class": 20, "style_sees_class": False, "label_swap": False}),
    "semi-supervised-aae": (SemiSupervisedAdversarialAutoencoder, {"labels_per_class": 20}),  # notebook 04's
    "semi-supervised-aae/improved": (ImprovedSemiSupervisedAAE, {"labels_per_class": 20}),
    "semi-supervised-aae/improved+style_sees_class+label_swap": (
        ImprovedSemiSupervisedAAE, {"labels_per_class": 20,
                                               "style_sees_class": True, "label_swap": True}),
    "baseline-classifier": (BaselineClassifier, {"labels_per_class": 20}),
    "baseline-classifier/improved": (ImprovedBaselineClassifier, {"labels_per_class": 20}),
    "vae": (ClassifierVAE, {}),
    "clustering-aae": (ClusteringAdversarialAutoencoder, {}),                    # notebook 06's
    "clustering-aae/paper": (ClusteringAdversarialAutoencoder, {"balance_weight": 0.0, "smoothness_weight": 0.0}),
}

# phase -> the networks whose every trainable variable it updates, and nothing else.
# "encoder without z": every encoder layer but the z head (the class head and the shared layers).
ADVERSARIAL = {"autoencoder": {"encoder", "decoder"},      # 1) reconstruction
               "discriminator": {"discriminator"},         # 2a) D tells prior samples from codes
               "generator": {"encoder"}}                   # 2b) the encoder fools D
SEMI_SUPERVISED = {"autoencoder": {"encoder", "decoder"},
                   "discriminator": {"category_discriminator", "style_discriminator"},
                   "generator": {"encoder"},
                   "classifier": {"encoder without z"}}    # 3) the class head on labelled digits
CLUSTERING = {"autoencoder": {"encoder", "decoder"},          # no labelled phase; the balance and
              "discriminator": {"category_discriminator", "style_discriminator"},   # smoothness terms
              "generator": {"encoder"}}                      # are the encoder's, in its generator step
EXPECTED = {
    "autoencoder": {"autoencoder": {"encoder", "decoder"}},
    "aae": ADVERSARIAL,
    "supervised-aae/article": ADVERSARIAL,
    "supervised-aae": ADVERSARIAL,
    "semi-supervised-aae/article": SEMI_SUPERVISED,
    "semi-supervised-aae": {**SEMI_SUPERVISED, "label_swap": {"decoder"}},
    "semi-supervised-aae/improved": SEMI_SUPERVISED,
    "semi-supervised-aae/improved+style_sees_class+label_swap": {**SEMI_SUPERVISED, "label_swap": {"decoder"}},
    "baseline-classifier": {"classifier": {"classifier"}},
    "baseline-classifier/improved": {"classifier": {"classifier"}},
    "vae": {"vae": {"encoder", "classifier", "decoder"}},   # one loss, one optimizer, all three
    "clustering-aae": CLUSTERING,
    "clustering-aae/paper": CLUSTERING,
}


@pytest.fixture(scope="module")
def tiny_data():
    """600 real digits (60 per class) for training, 200 (20 per class) for testing."""
    return small_digits(600, 200, "phase-tests")


def make(name, **changes):
    trainer_class, options = VARIANTS[name]
    trainer = trainer_class(**{**SMALL, **options, **changes})
    trainer.compile(learning_rate=2e-3)
    return trainer


def variable_names(trainer):
    """{id(variable): 'network/layer/variable'} for every trainable variable of every network."""
    names = {}
    for network in NETWORKS:
        for layer in getattr(getattr(trainer, network, None), "layers", []):
            for variable in layer.trainable_weights:
                names[id(variable)] = f"{network}/{layer.name}/{variable.name}"
    return names


def expected_names(trainer, parts):
    """The variable names `parts` (network names, or 'NETWORK without LAYER') stand for."""
    names = set()
    for part in parts:
        network, _, without = part.partition(" without ")
        names |= {name for name in variable_names(trainer).values()
                  if name.startswith(f"{network}/") and name.split("/")[1] != without}
    return names


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_phase_changes_exactly_the_variables_the_algorithm_says(name, tiny_data, monkeypatch):
    """Protects the phase isolation (e.g. a generator step that also moves a discriminator, a
    label-swap step that moves the encoder): one train step, each phase's changes recorded."""
    trainer = make(name)
    names = variable_names(trainer)
    assert {id(v) for v in trainer.trainable_variables} == set(names), "a trainable variable outside the networks"
    changed = {}
    original = type(trainer).apply_phase

    def recording_apply_phase(self, phase, tape, loss):
        before = [v.numpy().copy() for v in self.trainable_variables]
        original(self, phase, tape, loss)
        changed[phase] = {names[id(v)] for v, old in zip(self.trainable_variables, before)
                          if not np.array_equal(v.numpy(), old)}

    monkeypatch.setattr(type(trainer), "apply_phase", recording_apply_phase)
    trainer.run_eagerly = True
    trainer.train_step(next(iter(trainer.make_dataset(tiny_data, batch_size=50))))
    assert set(changed) == set(EXPECTED[name]), f"phases run: {sorted(changed)}"
    for phase, parts in EXPECTED[name].items():
        expected = expected_names(trainer, parts)
        assert expected, f"{phase}: {parts} names no variable"
        assert changed[phase] == expected, (f"{phase} phase: changed but not allowed "
                                            f"{sorted(changed[phase] - expected)}; allowed but unchanged "
                                            f"{sorted(expected - changed[phase])}")


# ---- training-split labels only ------------------------------------------------------------
LABEL_USERS = ["supervised-aae/article", "supervised-aae", "semi-supervised-aae/article",
               "semi-supervised-aae", "semi-supervised-aae/improved",
               "baseline-classifier", "baseline-classifier/improved", "vae"]


def trained_weights(name, data):
    trainer = make(name)
    training.train(trainer, data, 1, batch_size=50, verbose=0)
    return [v.numpy() for v in trainer.variables]


def a_labelled_training_index(name, data):
    """The training-split index of a digit whose label the trainer learns from."""
    trainer = make(name)
    if not hasattr(trainer, "labels_per_class"):
        return 0                                              # every training label is used
    images, _ = labelled_subset(data, trainer.labels_per_class, seed=trainer.seed)
    return int(np.flatnonzero((data.x_train == images[0]).all(axis=1))[0])


@pytest.mark.parametrize("name", LABEL_USERS)
def test_only_training_split_labels_reach_the_weights(name, tiny_data):
    """Protects the test split from leaking into training (e.g. labelled batches drawn from the
    test split): scrambling the test labels and the test images' order gives bit-identical
    weights, while changing one training label the trainer learns from changes them."""
    reference = trained_weights(name, tiny_data)
    rng = np.random.default_rng(0)
    scrambled = dataclasses.replace(tiny_data, x_test=tiny_data.x_test[rng.permutation(len(tiny_data.x_test))],
                                    y_test=(tiny_data.y_test + rng.integers(1, 10, len(tiny_data.y_test))) % 10)
    for a, b in zip(reference, trained_weights(name, scrambled)):
        np.testing.assert_array_equal(a, b, err_msg="the test split changed the weights")
    index = a_labelled_training_index(name, tiny_data)
    y_train = tiny_data.y_train.copy()
    y_train[index] = (y_train[index] + 1) % 10
    relabelled = dataclasses.replace(tiny_data, y_train=y_train)
    assert any(not np.array_equal(a, b) for a, b in zip(reference, trained_weights(name, relabelled))), \
        "a training label changed no weight"


FEW_LABEL_USERS = [name for name in LABEL_USERS if name.startswith(("semi-supervised-aae", "baseline-classifier"))]


@pytest.mark.parametrize("name", FEW_LABEL_USERS)
def test_the_labels_of_the_labelled_digits_reach_the_loss(name, tiny_data, monkeypatch):
    """Changing a training label above also changes which digits labelled_subset picks, so it
    would change the weights even if no loss read a label. Here the labelled images stay the
    same and only their labels change: one label changed, or the labels permuted among the
    labelled images, must each change the weights; the same labels give bit-identical ones."""
    from aae_helpers.trainers import semi_supervised

    def with_labels(change):
        def subset(data, labels_per_class, seed):
            images, labels = labelled_subset(data, labels_per_class, seed)
            return images, change(labels.copy())
        monkeypatch.setattr(semi_supervised, "labelled_subset", subset)
        return trained_weights(name, tiny_data)

    def one_changed(labels):
        labels[0] = (labels[0] + 1) % 10
        return labels

    def permuted(labels):
        return labels[np.random.default_rng(0).permutation(len(labels))]

    reference = with_labels(lambda labels: labels)
    for a, b in zip(reference, with_labels(lambda labels: labels)):
        np.testing.assert_array_equal(a, b, err_msg="the same labels gave other weights")
    for change in (one_changed, permuted):
        assert any(not np.array_equal(a, b) for a, b in zip(reference, with_labels(change))), \
            f"{change.__name__}: the labels of the labelled digits changed no weight"


def test_no_label_reaches_the_clustering_models_weights(tiny_data):
    """The clustering AAE never sees a label: scrambling every training label (and the test
    labels its validation reads) gives bit-identical weights."""
    reference = trained_weights("clustering-aae", tiny_data)
    rng = np.random.default_rng(0)
    scrambled = dataclasses.replace(tiny_data, y_train=rng.permutation(tiny_data.y_train),
                                    y_test=(tiny_data.y_test + 1) % 10)
    for a, b in zip(reference, trained_weights("clustering-aae", scrambled)):
        np.testing.assert_array_equal(a, b, err_msg="a label changed the weights")
