"""Smoke tests of the benchmark scripts: tiny runs print their tables and write their files."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script, *args, timeout=300):
    """benchmarks/SCRIPT run with args in a fresh interpreter: the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_adam_speed_times_every_variant_and_writes_json(tmp_path):
    out = tmp_path / "adam_speed.json"
    result = run_benchmark("adam_speed.py", "--models", "autoencoder", "--rounds", "1", "--json", str(out),
                           timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = cells(next(line for line in lines if line.startswith("| model |")))
    row = dict(zip(header, cells(next(line for line in lines if line.startswith("| autoencoder |")))))
    keras_ms, xla_ms = float(row["keras (default)"]), float(row["xla"])
    assert keras_ms > 0 and xla_ms > 0
    assert math.isclose(float(row["xla / keras"]), xla_ms / keras_ms, rel_tol=0.02, abs_tol=0.01)
    report = json.loads(out.read_text())
    results = report["results"]["autoencoder"]
    assert set(results["ms_per_step"]) == {"keras", "xla", "keras-1step"}
    assert all(len(values) == 1 for values in results["ms_per_step"].values())
    assert results["steps_per_epoch"] == 20 and not out.with_name(out.name + ".tmp").exists()


def test_accuracy_table_reports_each_models_mean_spread_and_thresholds():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from report import accuracy_table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    runs = [{"model": "baseline-classifier", "epochs": 150, "final_accuracy": accuracy}
            for accuracy in (0.97, 0.98, 0.99)]
    summary = {"baseline-classifier": {"final_accuracy_mean": 0.98, "final_accuracy_std": 0.01,
                                       "train_seconds_median": 61.4,
                                       "seconds_to": {"0.98": [None, 50.2, 40.0], "0.99": [None, None, 59.9]}}}
    table = accuracy_table([("improved", {"summary": summary, "runs": runs, "labels": 500})])
    header, rule, row = table.splitlines()
    assert cells(row) == ["improved", "baseline-classifier (150 epochs)", "500", "98.00% ± 1.00%",
                          "97.00%, 98.00%, 99.00%", "61 s", "never, 50, 40", "never, never, 60"]
    assert len(cells(header)) == len(cells(row)) == len(cells(rule))


def tiny_eval_set(path, per_class=100, seed=0):
    """An .npz in Keras' MNIST layout: per_class random 'digits' of each class, 200 test images."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    np.savez_compressed(path, x_train=rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8),
                        y_train=labels, x_test=rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
                        y_test=rng.integers(0, 10, 200, dtype=np.uint8))
    return path


def test_semi_supervised_accuracy_scores_each_seed_and_appends_missing_runs(tmp_path):
    data, out = tiny_eval_set(tmp_path / "tiny.npz"), tmp_path / "accuracy.json"
    common = ("--recipe", "article", "--models", "baseline-classifier", "--labels", "500", "--epochs", "5",
              "--data", str(data), "--out", str(out))
    result = run_benchmark("semi_supervised_accuracy.py", *common, "--seeds", "0")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    row = cells(next(line for line in result.stdout.splitlines() if "| baseline-classifier (5 epochs) |" in line))
    assert row[:3] == ["notebook", "baseline-classifier (5 epochs)", "500"]   # notebook 04's settings
    first = json.loads(out.read_text())
    assert first["labels"] == 500 and first["num_train"] == 1000 and first["num_scored"] == 200
    (run,) = first["runs"]
    assert (run["seed"], run["steps_per_epoch"], run["scored_epochs"]) == (0, 5, [5])
    assert 0.0 <= run["final_accuracy"] <= 1.0 and run["train_seconds"] > 0

    result = run_benchmark("semi_supervised_accuracy.py", *common, "--seeds", "0", "1", "--append")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    runs = json.loads(out.read_text())["runs"]
    assert runs[0] == run and [r["seed"] for r in runs] == [0, 1]   # seed 0 kept, not retrained

    result = run_benchmark("semi_supervised_accuracy.py", "--data", str(tmp_path / "missing.npz"))
    assert result.returncode == 1 and "missing.npz is missing: build it with" in result.stderr


def benchmark_module(name):
    """benchmarks/NAME.py imported (the benchmarks import each other as top-level modules)."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_accuracy_results_for_other_settings_or_label_counts_never_overwrite_the_1000_label_files():
    accuracy = benchmark_module("semi_supervised_accuracy")
    names = [accuracy.default_output("improved", labels, validation).name
             for labels, validation in ((1000, False), (5000, False), (1000, True), (5000, True))]
    assert names == ["accuracy-improved.json", "accuracy-improved-5000-labels.json",
                     "accuracy-improved-validation.json", "accuracy-improved-5000-labels-validation.json"]
    # notebook 04's settings, the article's at the same step budget, the improved recipe
    labels = [accuracy.label(recipe, article) for recipe, article in
              (("article", False), ("article", True), ("improved", False))]
    assert labels == ["notebook", "article-steps", "improved"]
    assert [accuracy.default_output(name).name for name in labels] == [
        "accuracy-notebook.json", "accuracy-article-steps.json", "accuracy-improved.json"]


def test_semi_supervised_accuracy_trains_notebook_04s_settings_or_the_articles(tmp_path):
    from aae_helpers.data import load_mnist
    from aae_helpers.settings import ARTICLE, DEFAULTS

    accuracy = benchmark_module("semi_supervised_accuracy")
    data = load_mnist(tiny_eval_set(tmp_path / "tiny.npz"))          # 1000 digits: 10 steps per epoch
    notebook = accuracy.build_trainer("semi-supervised-aae", "article", seed=3)
    options = DEFAULTS["semi-supervised-aae"].options
    assert (notebook.style_sees_class, notebook.label_swap, notebook.latent_dim, notebook.seed) == \
        (options["style_sees_class"], options["label_swap"], options["latent_dim"], 3)
    assert notebook.compile_settings["beta_1"] == DEFAULTS["semi-supervised-aae"].beta_1
    assert accuracy.run_epochs("semi-supervised-aae", "article", notebook, data) == \
        DEFAULTS["semi-supervised-aae"].steps // 10

    article = accuracy.build_trainer("semi-supervised-aae", "article", seed=0, article=True)
    assert not article.style_sees_class and not article.label_swap
    assert article.compile_settings["beta_1"] == ARTICLE["semi-supervised-aae"].beta_1
    # the baseline has no article variant: --article trains notebook 04's
    baseline = accuracy.build_trainer("baseline-classifier", "article", seed=0, labels=500, article=True)
    assert baseline.labels_per_class == 50 and baseline.steps_per_epoch(data) == 5
    assert accuracy.run_epochs("baseline-classifier", "article", baseline, data, article=True) == \
        DEFAULTS["baseline-classifier"].steps // 5

    improved = accuracy.build_trainer("baseline-classifier", "improved", seed=0)
    assert type(improved).__name__ == "ImprovedBaselineClassifier" and improved.compile_settings["beta_1"] == 0.5
    assert accuracy.run_epochs("baseline-classifier", "improved", improved, data) == 150


def test_semi_supervised_accuracy_refuses_the_article_flag_with_the_improved_recipe(tmp_path):
    result = run_benchmark("semi_supervised_accuracy.py", "--recipe", "improved", "--article",
                           "--data", str(tmp_path / "missing.npz"), timeout=120)
    assert result.returncode == 2 and "--article applies to --recipe article" in result.stderr


def test_full_mnist_time_times_each_notebooks_step_budget_on_epochs_of_the_asked_size(tmp_path):
    from aae_helpers.settings import DEFAULTS

    data, out = tiny_eval_set(tmp_path / "tiny.npz"), tmp_path / "full.json"
    result = run_benchmark("full_mnist_time.py", "--models", "autoencoder", "--images", "2500",
                           "--timed-epochs", "2", "--data", str(data), "--json", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["images_per_epoch"] == 2500 and "repeated to 2500" in report["data"]
    (row,) = report["rows"]
    budget = DEFAULTS["autoencoder"].steps                      # 1200 steps
    assert row["settings"]["steps"] == budget and row["settings"]["options"] == DEFAULTS["autoencoder"].options
    assert (row["notebook"], row["model"], row["steps_per_epoch"], row["budget_steps"]) == \
        ("01", "autoencoder", 25, budget)
    assert (row["epochs"], row["steps"]) == (budget // 25, budget)               # 2,500 digits per epoch
    assert (row["offline_images"], row["offline_epochs"], row["offline_steps"]) == (1000, budget // 10, budget)
    first, later = row["epoch_seconds"]
    assert first > 0 and later > 0 and row["later_epoch_seconds"] == later
    # later is rounded to the ms (an error of up to 0.02 ms a step over 25 steps), the step time to 0.01 ms
    assert math.isclose(row["step_milliseconds"], later / 25 * 1000, abs_tol=0.5 / 25 + 0.005)
    # the first epoch's extra time (compilation) plus every step of the budget at the later speed
    expected = (max(0.0, first - later) + later / 25 * budget) / 60
    assert math.isclose(row["training_minutes"], expected, abs_tol=0.01)
    assert row["offline_training_minutes"] == row["training_minutes"]          # the same steps
    line = next(line for line in result.stdout.splitlines() if line.startswith("| 01 | autoencoder |"))
    assert cells(line)[-2] == f"{row['training_minutes']:.1f} min ({budget // 25} epochs, {budget} steps)"


def test_full_mnist_training_time_is_the_compilation_plus_the_budgets_steps():
    full_mnist_time = benchmark_module("full_mnist_time")
    # a 30 s first epoch of 600 steps at 0.04 s per step: 6 s of compilation, then 1200 steps
    assert math.isclose(full_mnist_time.training_minutes(30.0, 0.04, 600, 1200), (6.0 + 48.0) / 60)
    # a first epoch faster than the later ones (a noisy machine) adds no negative compilation time
    assert math.isclose(full_mnist_time.training_minutes(20.0, 0.04, 600, 600), 24.0 / 60)


def test_full_mnist_time_refuses_impossible_sizes(tmp_path):
    data = tiny_eval_set(tmp_path / "tiny.npz")
    result = run_benchmark("full_mnist_time.py", "--images", "50", "--data", str(data))
    assert result.returncode == 2 and "--images must be at least one batch (100), got 50" in result.stderr
    result = run_benchmark("full_mnist_time.py", "--timed-epochs", "1", "--data", str(data))
    assert result.returncode == 2 and "--timed-epochs must be at least 2" in result.stderr


def test_lessons_measures_the_aae_as_a_generator(tmp_path, monkeypatch):
    """lessons.py trains each model for its (here: 20) steps and reports its lesson numbers; for
    notebook 02's AAE, which digits its prior samples decode to and whether digits survive its code."""
    import aae_helpers as aae

    lessons = benchmark_module("lessons")
    monkeypatch.delenv("AAE_FAST", raising=False)          # the script refuses fast mode's shrinking
    monkeypatch.setattr(lessons, "ROOT", tmp_path)          # the reader's cache
    reader = aae.digit_reader                               # a quick reader: the numbers' shape is tested here
    monkeypatch.setattr(aae, "digit_reader", lambda data, run_dir=None: reader(data, run_dir, steps=20, verbose=False))
    data, out = tiny_eval_set(tmp_path / "tiny.npz"), tmp_path / "lessons.json"
    assert lessons.main(["--models", "aae", "--seeds", "0", "--steps", "20", "--data", str(data),
                         "--out", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["steps"] == 20 and run["model"] == "aae"
    shares = run["sample_share_per_digit"]
    assert len(shares) == 10 and math.isclose(sum(shares), 1.0, abs_tol=0.01)
    assert run["sample_share_min"] == min(shares)
    assert 0 <= run["reconstructions_read_right"] <= 1 and len(run["reconstructions_read_right_per_digit"]) == 10
    assert {"mse", "mmd2_codes_vs_prior", "mmd2_prior_vs_prior"} <= set(run)
