"""What a command-line run writes beside its checkpoint: history.csv, PNG figures, metrics.json.

The report describes the saved checkpoint and nothing else. Each file is written atomically,
metrics.json last, listing the others; a run that trains the folder further first removes the
previous report (metrics.json first), so an interrupted run leaves no report rather than a stale
one. A damaged report never stops a run: it is only ever removed or rewritten.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from aae_helpers.infra.checkpoints import atomic_path, write_atomically

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"


def write_history_csv(history: dict, path) -> None:
    """history (dict of per-epoch lists) as CSV: a header `epoch,KEY...`, then one row per epoch."""
    keys = sorted(history)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([epoch + 1, *(history[key][epoch] for key in keys)])


def write_report(trainer, data, history: dict, out, metrics: dict) -> dict:
    """Write history.csv, the figures and metrics.json (with "files": the others) into `out`."""
    from aae_helpers.infra.figures import save_run_figures

    out = Path(out)
    with atomic_path(out / HISTORY_FILE) as temporary:
        write_history_csv(history, temporary)
    figures = save_run_figures(trainer, data, history, out)
    metrics = {**metrics, "files": [HISTORY_FILE, *(path.name for path in figures)]}
    write_atomically(out / METRICS_FILE, json.dumps(metrics, indent=1))
    return metrics


def remove_report(out) -> None:
    """Remove the report of an earlier run of `out`: metrics.json first, then history.csv and the
    figures metrics.json lists (only names the package writes; a damaged list lists none)."""
    from aae_helpers.infra.figures import FIGURE_NAMES

    out = Path(out)
    listed = []
    if (out / METRICS_FILE).is_file():
        try:
            listed = json.loads((out / METRICS_FILE).read_text()).get("files", [])
        except (ValueError, UnicodeDecodeError, AttributeError):
            listed = []
        (out / METRICS_FILE).unlink()
    (out / HISTORY_FILE).unlink(missing_ok=True)
    for name in FIGURE_NAMES:
        if isinstance(listed, list) and name in listed:
            (out / name).unlink(missing_ok=True)
