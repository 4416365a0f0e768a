"""Smoke test of benchmarks/bench_speed.py: a tiny run prints the ratio table and writes JSON."""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_quick_speed_benchmark_prints_a_ratio_table_and_writes_json(tmp_path):
    out = tmp_path / "speed.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_speed.py"), "--quick",
         "--models", "autoencoder", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = cells(next(line for line in lines if line.startswith("| model | trainer img/s")))
    row = cells(next(line for line in lines if line.startswith("| autoencoder |")))
    assert len(row) == len(header)
    ratio = float(row[header.index("ratio trainer/ref")])
    trainer, reference = (float(row[header.index(name)]) for name in ("trainer img/s", "reference img/s"))
    assert trainer > 0 and reference > 0 and ratio > 0
    assert math.isclose(ratio, trainer / reference, rel_tol=0.02, abs_tol=0.01)

    report = json.loads(out.read_text())
    rows = report["results"]["autoencoder"]
    assert {"plain", "ref"} <= set(rows)
    assert math.isclose(rows["plain"]["ratio_to_reference"],
                        rows["plain"]["images_per_s"] / rows["ref"]["images_per_s"])
    assert rows["plain"]["gflop_per_step"] == rows["ref"]["gflop_per_step"] > 0
    assert report["peak_used_gflop_per_s"] > 0
    assert not out.with_name(out.name + ".tmp").exists()


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
    table = accuracy_table({"improved": {"summary": summary, "runs": runs}})
    header, rule, row = table.splitlines()
    assert cells(row) == ["improved", "baseline-classifier (150 epochs)", "98.00% ± 1.00%",
                          "97.00%, 98.00%, 99.00%", "61 s", "never, 50, 40", "never, never, 60"]
    assert len(cells(header)) == len(cells(row)) == len(cells(rule))
