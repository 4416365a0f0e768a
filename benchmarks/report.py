"""Print benchmarks/README.md's accuracy and quality tables from the saved results in benchmarks/results/.

Usage: .venv/bin/python benchmarks/report.py
Every number comes from a JSON file a benchmark script wrote; nothing is typed in by hand. Files
measured before the step budgets of aae_helpers.settings are printed too, marked as such, until
their re-measured successors replace them in benchmarks/README.md.
"""

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def seconds_list(values):
    return ", ".join("never" if value is None else f"{value:.0f}" for value in values)


# (recipe as the table shows it, results file), in the order of the table
ACCURACY_FILES = (("notebook", "accuracy-notebook.json"), ("article-steps", "accuracy-article-steps.json"),
                  ("article (old settings: 15 epochs)", "accuracy-article.json"),
                  ("improved", "accuracy-improved.json"), ("improved", "accuracy-improved-5000-labels.json"))
QUALITY_FILES = (("Model quality (step budgets)", "model_quality-steps.json"),
                 ("Model quality (old settings: epoch budgets)", "model_quality.json"))


def accuracy_table(results=None):
    """Markdown table of [(recipe, accuracy result), ...]; by default the saved results of
    ACCURACY_FILES: notebook 04's models and the article's recipe with 1000 labels, the improved
    recipe, then the improved recipe's baseline with every label (its ceiling)."""
    if results is None:
        results = [(recipe, load(name)) for recipe, name in ACCURACY_FILES]
    lines = ["| recipe | model | labels | test accuracy, mean ± std | per seed | training time (median) "
             "| seconds to 98%, per seed | seconds to 99%, per seed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for recipe, result in results:
        if result is None:
            continue
        for model, row in result["summary"].items():
            finals = [run["final_accuracy"] for run in result["runs"] if run["model"] == model]
            epochs = next(run["epochs"] for run in result["runs"] if run["model"] == model)
            lines.append(f"| {recipe} | {model} ({epochs} epochs) | {result.get('labels', 1000)} | "
                         f"{row['final_accuracy_mean']:.2%} ± {row['final_accuracy_std']:.2%} | "
                         f"{', '.join(f'{a:.2%}' for a in finals)} | "
                         f"{row['train_seconds_median']:.0f} s | {seconds_list(row['seconds_to']['0.98'])} | "
                         f"{seconds_list(row['seconds_to']['0.99'])} |")
    return "\n".join(lines)


def quality_table(result):
    """Markdown tables of a model_quality.py report: one row per model, then the VAE's test losses."""
    if result is None:
        return ""
    lines = ["| notebook | model | steps (epochs) | test MSE per pixel | MMD² codes vs prior "
             "| MMD² prior vs prior (reference) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, row in result["models"].items():
        epochs = row.get("epochs", row["settings"].get("epochs"))   # older reports: settings.epochs
        # older reports: every model's epoch was one pass over the training digits
        per_epoch = row.get("steps_per_epoch") or result["data"]["num_train"] // result.get("batch_size", 100)
        steps = f"{epochs * per_epoch} ({epochs})"
        match = row.get("prior_match") or {}
        mmd = f"{match['mmd2_codes_vs_prior']:.4f}" if match else "—"
        reference = f"{match['mmd2_prior_vs_prior']:.4f}" if match else "—"
        if name == "autoencoder":
            mmd += " (no prior; contrast)"
        lines.append(f"| {row['notebook'][:2]} | {name} | {steps} | "
                     f"{row['test_mse_per_pixel']:.4f} | {mmd} | {reference} |")
    vae = result["models"].get("vae", {}).get("evaluate")
    if vae:
        lines += ["", "| VAE (05) on the test set | value |", "| --- | --- |"]
        lines += [f"| {key} | {value:.4f} |" for key, value in vae.items()]
    return "\n".join(lines)


def main():
    tables = [("Few-label accuracy", accuracy_table())]
    tables += [(title, quality_table(load(name))) for title, name in QUALITY_FILES]
    for title, text in tables:
        if text:
            print(f"## {title}\n\n{text}\n")


if __name__ == "__main__":
    main()
