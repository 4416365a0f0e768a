"""The stored notebooks as a reader meets them: settings from the package's table, prose whose
numbers come from the outputs beside it, nothing of our test machinery, outputs that render
anywhere, and a length readable in one sitting."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from aae_helpers.settings import ARTICLE, DEFAULTS, NOTEBOOK_NAMES

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
MAX_PROSE_WORDS = 2200

# Figures a notebook may quote without printing them: the articles' and papers' own numbers and
# mathematical constants. Every other decimal number or percentage in the prose must appear in
# that notebook's outputs.
QUOTED = {
    "1.386",   # 2 ln 2, the discriminator loss at chance
    "0.693",   # ln 2, the generator loss at chance
    "2.77",    # 4 ln 2, two discriminators at chance
    "1.39",    # 2 ln 2, rounded
    "0.69",    # ln 2, rounded
    "98.4%",   # the AAE paper's accuracy with 1000 labels
    "87%",     # the article's (Part 4) baseline with 1000 labels
    "95%",     # the article's semi-supervised AAE, "a bit over"
    "1.60%",   # the AAE paper's error with 1000 labels
    "0.08%",   # its spread
    "1.90%",   # with 100 labels
    "0.85%",   # with all labels
    "9.55%",   # the AAE paper's clustering error with 16 clusters
    "4.10%",   # with 30 clusters
    "4.27%",   # CatGAN's, with 20
    "0.5",     # the VAE article's decoder std
    "0.1",     # exercise values a reader is asked to try
    "0.9",     # Adam's beta_1 in the articles
    "0.01",    # the original code's weight initialisation std
    "10%",     # chance for ten balanced digits
    "100%",    # everything
}
MACHINERY = re.compile(r"NBVAL|papermill|nbval|fast mode|AAE_FAST|benchmarks/|README|\bpytest\b|"
                       r"tagged `?parameters", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+%?|\d+%)")


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def output_texts(cell):
    """Every text a code cell's outputs show: streams, plain text, HTML."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            texts.append("".join(output["text"]))
        elif output["output_type"] in ("execute_result", "display_data"):
            for kind in ("text/plain", "text/html", "text/markdown"):
                if kind in output["data"]:
                    texts.append("".join(output["data"][kind]))
        elif output["output_type"] == "error":
            texts.append(f"ERROR {output['ename']}: {output['evalue']}")
    return texts


def prose(path):
    """The markdown of a notebook without its LaTeX, code spans and links' targets."""
    text = "\n".join(source(cell) for cell in cells(path) if cell["cell_type"] == "markdown")
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def parameters(path):
    """{NAME: value} of the notebook's Hyperparameters cell (tagged `parameters`)."""
    cell = next(c for c in cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {}
    for node in ast.parse(source(cell)).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def value_of(settings, name):
    """The value a Hyperparameters-cell NAME has in `settings` (None: not one of its settings)."""
    field, key = NOTEBOOK_NAMES[name]
    return getattr(settings, field) if key is None else settings.options.get(key)


def expected_parameters(notebook):
    """The Hyperparameters a notebook must show: its model's settings (aae_helpers.settings),
    BASELINE_STEPS for notebook 04's baseline, and ARTICLE_NAME where the article's recipe that the
    notebook trains beside its own differs from it (PAPER_NAME in notebook 06, whose recipe is the
    paper's)."""
    expected = {}
    for model, settings in DEFAULTS.items():
        if settings.notebook != notebook:
            continue
        if model == "baseline-classifier":
            expected["BASELINE_STEPS"] = settings.steps
            continue
        expected.update({name: value_of(settings, name) for name in NOTEBOOK_NAMES
                         if value_of(settings, name) is not None})
        if model in ARTICLE:
            prefix = "PAPER" if model == "clustering-aae" else "ARTICLE"
            expected.update({f"{prefix}_{name}": value_of(ARTICLE[model], name) for name in NOTEBOOK_NAMES
                             if value_of(ARTICLE[model], name) != value_of(settings, name)})
    return expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_hyperparameters_cell_shows_the_packages_settings(path):
    shown = parameters(path)
    for name, value in expected_parameters(path.stem).items():
        shown_value = shown.get(name)
        if isinstance(value, tuple):
            shown_value = tuple(shown_value) if isinstance(shown_value, (list, tuple)) else shown_value
        assert shown_value == value, f"{path.name}: {name} is {shown.get(name)!r}, the package's table says {value!r}"


@pytest.mark.parametrize("model", list(DEFAULTS))
def test_a_trainer_built_with_no_arguments_is_the_notebooks_model(model):
    """The constructors' defaults are the notebooks' models: aae.X() builds what DEFAULTS[model]
    describes, and the article's recipe (ARTICLE) is the one that must say how it differs."""
    from aae_helpers.trainers import get_trainer_class

    config = get_trainer_class(model)().get_config()
    table = {key: list(value) if isinstance(value, tuple) else value
             for key, value in DEFAULTS[model].options.items()}
    assert {key: config[key] for key in table} == table
    if model in ARTICLE:
        differs = {key for key, value in ARTICLE[model].options.items() if config[key] != value}
        assert differs, f"{model}: the article's recipe is the notebook's model"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_number_in_the_prose_is_printed_by_the_notebook(path):
    printed = "\n".join(text for cell in cells(path) if cell["cell_type"] == "code"
                        for text in output_texts(cell))
    stale = sorted({number for number in NUMBER.findall(prose(path))
                    if number not in QUOTED and number not in printed})
    assert not stale, f"{path.name}: the prose quotes {stale}, which no output of this run prints"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_nothing_of_the_test_machinery_is_in_front_of_a_reader(path):
    for index, cell in enumerate(cells(path)):
        found = MACHINERY.findall(source(cell))
        assert not found, f"{path.name} cell {index} mentions {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_stored_outputs_render_anywhere(path):
    for index, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("execution_count") is not None, f"{path.name} cell {index} was not run"
        for text in output_texts(cell):
            assert not re.search(r"[\x08\r\x1b]", text), f"{path.name} cell {index}: control characters"
            assert "children=(" not in text, f"{path.name} cell {index}: a raw widget repr"
            assert not re.search(r"retracing|WARNING|Traceback|ERROR ", text), \
                f"{path.name} cell {index}: a warning or error in the output:\n{text[:500]}"
        streams = [o for o in cell.get("outputs", []) if o["output_type"] == "stream"]
        assert len(streams) <= 3, f"{path.name} cell {index}: {len(streams)} stream outputs (one per epoch?)"


def figures_missing(notebook_cells):
    """Indices of the code cells that call an aae.plot_* function yet store no picture (a figure
    that is not the cell's last expression is never shown: plots leave nothing registered)."""
    return [index for index, cell in enumerate(notebook_cells)
            if cell["cell_type"] == "code" and re.search(r"\baae\.plot_\w+\(", source(cell))
            and not any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_plotting_cell_shows_its_figure(path):
    assert figures_missing(cells(path)) == [], f"{path.name}: these cells draw a figure nobody sees"


def test_the_missing_figure_check_can_fail():
    drawn = {"cell_type": "code", "source": ["aae.plot_history(h)"],
             "outputs": [{"output_type": "display_data", "data": {"image/png": "iVBOR"}}]}
    lost = {"cell_type": "code", "source": ["aae.plot_history(h)\n", "print(1)"],
            "outputs": [{"output_type": "stream", "text": ["1"]}]}
    assert figures_missing([drawn, lost]) == [1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_reads_in_one_sitting(path):
    words = len(re.findall(r"[A-Za-z][A-Za-z'-]*", prose(path)))
    assert words <= MAX_PROSE_WORDS, f"{path.name}: {words} words of prose, more than {MAX_PROSE_WORDS}"


def test_the_stale_number_check_can_fail():
    """The check above must catch a number the outputs do not print."""
    printed = "test reconstruction error (MSE per pixel): 0.0425"
    text = "The test error is 0.0425 here and 0.0458 there (92.8% of digits)."
    stale = {n for n in NUMBER.findall(text) if n not in QUOTED and n not in printed}
    assert stale == {"0.0458", "92.8%"}
