"""Copy the README's figures out of the stored notebooks' outputs, so every picture in the README
is one a notebook drew (run the notebooks first, then this).

Usage: .venv/bin/python docs/extract_figures.py
"""

import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (notebook, the code cell whose source contains this text, the figure's file name under docs/)
FIGURES = [
    ("01_autoencoder", "aae.plot_reading_map(", "notebooks/01_reading_map.png"),
    ("02_adversarial_autoencoder", "aae.plot_latent_grid(trainer.decode, -10.0, 10.0", "notebooks/02_grids.png"),
    ("03_style_and_content", "styles = trainer.sample_styles(10", "notebooks/03_style_grid.png"),
    ("04_semi_supervised_1000_labels", "aae.plot_digit_rows(trainer.generate(", "notebooks/04_digits_on_demand.png"),
    ("05_vae_with_digit_classifier", "aae.plot_digit_rows(rows,", "notebooks/05_rows_during_training.png"),
    ("06_unsupervised_clustering", "aae.plot_digit_rows(drawn.reshape(", "notebooks/06_clusters.png"),
]


def figure(notebook: str, marker: str) -> bytes:
    """The PNG of the code cell of `notebook` whose source contains `marker`."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    matches = [cell for cell in cells if cell["cell_type"] == "code" and marker in "".join(cell["source"])]
    if len(matches) != 1:
        raise SystemExit(f"{notebook}: {len(matches)} code cells contain {marker!r}; expected exactly one")
    pictures = [output["data"]["image/png"] for output in matches[0].get("outputs", [])
                if "image/png" in output.get("data", {})]
    if not pictures:
        raise SystemExit(f"{notebook}: the cell with {marker!r} has no figure; run the notebook first")
    return base64.b64decode(pictures[-1])


def main() -> int:
    for notebook, marker, name in FIGURES:
        path = ROOT / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(figure(notebook, marker))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
