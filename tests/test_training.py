"""fit_or_load's promise: a saved run is reused only when it was trained with the same settings,
compile settings included; otherwise it is moved aside, never overwritten."""

import json

import numpy as np
import pytest

import aae_helpers as aae
from aae_helpers.infra import training
from aae_helpers.data import MnistData
from conftest import small_digits


@pytest.fixture(scope="module")
def tiny_data():
    """300 real digits (30 per class) for training, 100 for testing."""
    return small_digits(300, 100, "training-tests")


def autoencoder(**compile_settings):
    trainer = aae.Autoencoder(hidden_units=(16,), seed=1)
    trainer.compile(**compile_settings)
    return trainer


def first_run(trainer, data, run):
    training.fit_or_load(trainer, data, 1, run, batch_size=50, verbose=0)
    return training.read_state(run)


@pytest.mark.parametrize("change", [{"learning_rate": 2e-3}, {"beta_1": 0.5}])
def test_other_compile_settings_retrain_and_move_the_old_run_aside(change, tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    old = first_run(autoencoder(learning_rate=1e-3), tiny_data, run)
    new = autoencoder(**{"learning_rate": 1e-3, **change})
    trained, history = training.fit_or_load(new, tiny_data, 1, run, batch_size=50, verbose=0)
    assert "was trained with other settings; it was moved to" in capsys.readouterr().out
    assert trained is new and len(history["reconstruction_loss"]) == 1
    kept = training.read_state(tmp_path / "run-previous-1")
    assert kept["compile"] == old["compile"] and kept["history"] == old["history"]
    assert {key: training.read_state(run)["compile"][key] for key in change} == change


def test_the_state_records_how_the_run_was_trained(tiny_data, tmp_path):
    run = tmp_path / "run"
    training.fit_or_load(autoencoder(), tiny_data, 1, run, batch_size=50, verbose=0)
    training.resume(run, tiny_data, 2, batch_size=50, verbose=0)
    state = training.read_state(run)
    assert state["batch_size"] == 50 and state["train_seconds"] > 0
    assert state["sessions"] == [{"from_epoch": 0, "to_epoch": 1}, {"from_epoch": 1, "to_epoch": 2}]
    assert state["data"] == training.data_record(tiny_data)
    flipped = MnistData(1 - tiny_data.x_train, tiny_data.y_train, tiny_data.x_test, tiny_data.y_test, "flipped")
    assert training.data_record(flipped)["fingerprint"] != state["data"]["fingerprint"]


def test_snapshots_every_few_epochs_are_saved_and_a_resume_redraws_only_the_rest(tiny_data, tmp_path,
                                                                                  monkeypatch):
    """SnapshotEachEpoch keeps the digits drawn at epochs 2, 4 and the last, beside the checkpoint."""
    monkeypatch.setenv("AAE_FAST", "0")  # all the epochs asked for
    trainer = aae.ClassifierVAE(hidden_units=(16,), seed=1)
    trainer.compile()
    path = tmp_path / "run" / "snapshots.npz"
    z = np.zeros((3, trainer.latent_dim), np.float32)
    snapshots = aae.SnapshotEachEpoch(digits=[0, 1, 2], z=z, path=path, every=2)
    training.fit_or_load(trainer, tiny_data, 5, tmp_path / "run", batch_size=50, verbose=0,
                         callbacks=[snapshots])
    epochs, images = aae.SnapshotEachEpoch.load(path)
    assert epochs.tolist() == [2, 4, 5] and images.shape == (3, 3, 784)
    np.testing.assert_allclose(images[-1], trainer.generate([0, 1, 2], z=z), atol=1e-6)
    again = aae.SnapshotEachEpoch(digits=[0, 1, 2], z=z, path=path, every=2)
    training.fit_or_load(trainer, tiny_data, 7, tmp_path / "run", batch_size=50, verbose=0, callbacks=[again])
    epochs, images = aae.SnapshotEachEpoch.load(path)
    assert epochs.tolist() == [2, 4, 5, 6, 7] and images.shape == (5, 3, 784)
    # `at` adds early epochs to `every`'s (epoch numbers count from 1)
    early = aae.SnapshotEachEpoch(digits=[0], z=z[:1], path=tmp_path / "early.npz", every=4, at=(1, 2))
    training.fit_or_load(trainer, tiny_data, 5, tmp_path / "early-run", batch_size=50, verbose=0,
                         callbacks=[early])
    assert aae.SnapshotEachEpoch.load(tmp_path / "early.npz")[0].tolist() == [1, 2, 4, 5]
    with pytest.raises(ValueError, match="every epoch number in at must be a positive integer"):
        aae.SnapshotEachEpoch(digits=[0], z=z[:1], at=(0,))
