"""Print benchmarks/README.md's few-label accuracy table from the saved results in benchmarks/results/.

Usage: .venv/bin/python benchmarks/report.py
Every number comes from a JSON file a benchmark script wrote; nothing is typed in by hand.
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
                  ("improved", "accuracy-improved.json"), ("improved", "accuracy-improved-5000-labels.json"))


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


def main():
    print(f"## Few-label accuracy\n\n{accuracy_table()}\n")


if __name__ == "__main__":
    main()
