"""Each notebook runs top to bottom in a fresh kernel (fast mode), and running a training cell or a
widget cell twice in a row, as a reader does, breaks none of the cells after it.

A cell is run twice when its code calls `fit_or_load(` (the second run loads the model the first
one trained) or builds a widget (`..._explorer(`). The notebooks run in a fresh folder shared by
this module, in order, so `runs/` starts empty ("after a restart") and a later notebook can find
the runs of an earlier one, as it would in notebooks/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import notebook_checkout

NOTEBOOK_FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("*.ipynb"))
RUN_TWICE = re.compile(r"\bfit_or_load\(|_explorer\(")
CELL_TIMEOUT = 1200  # seconds; fast mode needs far less, but the test machine may be shared


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of notebooks/ without its notebooks, trained runs or checkpoints (conftest)."""
    return notebook_checkout(tmp_path_factory.mktemp("checkout"), with_notebooks=False)


def test_the_tutorial_notebooks_are_all_here():
    assert len(NOTEBOOKS) >= 5, [path.name for path in NOTEBOOKS]


def _code(cell):
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_runs_top_to_bottom_with_training_and_widget_cells_run_twice(path, workdir):
    notebook = nbformat.read(path, as_version=4)
    twice = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and RUN_TWICE.search(_code(cell))]
    assert twice, f"{path.name} has no training or widget cell"
    env = {**os.environ, "AAE_FAST": "1", "AAE_OFFLINE": "1"}
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    executed = 0
    with client.setup_kernel(env=env, cwd=str(workdir)):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            runs = 2 if index in twice else 1
            for attempt in range(1, runs + 1):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as error:
                    rerun_before = [i for i in twice if i < index]
                    pytest.fail(f"{path.name}: code cell {index} failed on run {attempt} of {runs} "
                                f"(cells run twice before it: {rerun_before}):\n{str(error)[-4000:]}",
                                pytrace=False)
                executed += 1
            if runs == 2 and "fit_or_load(" in _code(cell):  # the second run loads, it does not retrain
                printed = "".join(output.get("text", "") for output in cell.outputs)
                assert "Loaded the model" in printed, \
                    f"{path.name}: code cell {index} trained again when run twice:\n{printed[-2000:]}"
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    assert executed == code_cells + len(twice)
