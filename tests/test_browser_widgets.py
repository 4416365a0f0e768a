"""The explorers, end to end: a real JupyterLab, a real (headless) Chromium, a real kernel.

For each notebook with explorers this test opens it in JupyterLab (served from this venv on 127.0.0.1
with a random token), runs its cells up to and including the last explorer with JupyterLab's own Run
commands (fast mode: AAE_FAST=1, AAE_OFFLINE=1, inherited by the kernel), then for every explorer
drags its first visible slider - and presses its button, when it has one - and checks that the picture
the browser shows changed (SHA-256 of the <img> bytes), that the widget rendered as a widget (not as the
plain text `VBox(children=...)` a missing frontend extension leaves), and that the browser console
logged no error: every console message of type "error" and every uncaught page error fails the test,
none is filtered out (the server runs offline-quiet: no news feed, no update check, no extension
manager index, so there is no network noise to ignore; the one warning JupyterLab logs, that the
terminals plugin is disabled, is expected since the test server has terminals switched off).
Screenshots of each explorer before and after go to test-artifacts/browser/, with summary.json
(what was moved or pressed, timings, every console message) and the server's log.

The kernels run in fast mode unless AAE_FAST is set otherwise in the environment (`make test` sets 1).

Needs Debian's chromium: installed with apt-get when missing; the test is skipped only when that
install fails.
"""

import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

import browser_support as support
from conftest import notebook_checkout

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
EXPLORER_CALL = re.compile(r"\baae\.(\w+_explorer)\(")
FAST = os.environ.get("AAE_FAST", "1")                      # `make test` sets 1; so does this test by default
RUN_TIMEOUT_S = 600 if FAST.strip().lower() not in ("", "0", "false", "no") else 3600
CHANGE_TIMEOUT_S = 60                                       # one re-render takes well under a second
VIEWPORT = {"width": 1100, "height": 1400}   # a laptop-wide notebook; taller when a widget needs it


def explorer_cells(path):
    """[(cell index, explorer function name)] of the code cells that build an explorer, in order."""
    cells = json.loads(Path(path).read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            match = EXPLORER_CALL.search("".join(cell["source"]))
            if match:
                found.append((index, match.group(1)))
    return found


NOTEBOOKS_WITH_EXPLORERS = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb") if explorer_cells(path))


# ---- fixtures: each cleans up in `finally`, whatever the test did --------------------------
@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    """JupyterLab on a copy of notebooks/ (conftest.notebook_checkout): what the kernels train goes
    to the copy's runs/, never to notebooks/runs/ that `make test`'s notebook run uses."""
    folder = notebook_checkout(tmp_path_factory.mktemp("checkout"), with_notebooks=True)
    server = support.start_lab_server(folder, {"AAE_FAST": FAST, "AAE_OFFLINE": os.environ.get("AAE_OFFLINE", "1")})
    try:
        yield server
    finally:
        server.stop(keep_log=ARTIFACTS / "jupyterlab.log")


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    context = None
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),   # a fresh user-data-dir
            executable_path=str(chromium), args=support.CHROMIUM_ARGS, headless=True,
            viewport=VIEWPORT, device_scale_factor=1)
        yield context
    finally:
        try:
            if context is not None:
                context.close()
        finally:
            playwright.stop()


@pytest.fixture(scope="module")
def summary(chromium):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results = {"_browser": support.chromium_version(chromium), "_kernel_env": {"AAE_FAST": FAST}}
    yield results
    (ARTIFACTS / "summary.json").write_text(json.dumps(results, indent=2) + "\n")


# ---- page helpers ----------------------------------------------------------------------------
class Console:
    """Every console message and uncaught page error, as (kind, text)."""

    def __init__(self, page):
        self.messages = []
        page.on("console", lambda message: self.messages.append((message.type, message.text)))
        page.on("pageerror", lambda error: self.messages.append(("pageerror", str(error))))

    def errors(self):
        return [(kind, text) for kind, text in self.messages if kind in ("error", "pageerror")]


def wait_for(condition, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def digest(image):
    return image.evaluate(support.IMAGE_DIGEST_JS)


def settle(page, image, timeout=CHANGE_TIMEOUT_S):
    """Wait until the kernel is idle and the picture stops changing; return its digest."""
    page.wait_for_function(support.KERNEL_IDLE_JS, timeout=timeout * 1000)
    last = [digest(image)]

    def stable():
        time.sleep(0.5)
        now = digest(image)
        same, last[0] = now is not None and now == last[0], now
        return same and page.evaluate(support.KERNEL_IDLE_JS)
    wait_for(stable, timeout, "the explorer's picture to settle")
    return last[0]


def wait_for_new_picture(page, image, before, action):
    wait_for(lambda: digest(image) not in (None, before), CHANGE_TIMEOUT_S,
             f"the explorer's picture to change after {action}")
    return settle(page, image)


def drag_slider(page, slider):
    """Drag the slider's handle to 25 % or 75 % of its track, whichever is farther: a real mouse drag."""
    handle, track = slider.locator(".noUi-handle"), slider.locator(".noUi-base")
    handle.scroll_into_view_if_needed()
    hbox, tbox = handle.bounding_box(), track.bounding_box()
    x, y = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
    target = tbox["x"] + tbox["width"] * (0.25 if x > tbox["x"] + tbox["width"] / 2 else 0.75)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(target, y, steps=8)
    page.mouse.up()


def slider_state(slider):
    return f"{slider.locator('.widget-label').inner_text()} = {slider.locator('.widget-readout').inner_text()}"


def shoot(page, element, path):
    """A screenshot of the element alone; the window grows first if the element is taller than the notebook."""
    height = element.evaluate("e => e.getBoundingClientRect().height")
    panel = page.evaluate("() => document.querySelector('.jp-NotebookPanel-notebook').clientHeight")
    if height + 40 > panel:
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": int(size["height"] + height + 40 - panel)})
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(path), animations="disabled")
    return path


def notebook_bytes_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- the test ------------------------------------------------------------------------------
@pytest.mark.parametrize("notebook", NOTEBOOKS_WITH_EXPLORERS)
def test_explorers_work_in_jupyterlab_in_chromium(notebook, lab, browser, summary):
    cells = explorer_cells(NOTEBOOKS / notebook)
    stem = Path(notebook).stem
    for old in ARTIFACTS.glob(f"{stem}*.png"):
        old.unlink()
    on_disk = notebook_bytes_digest(lab.root_dir / notebook)
    started = time.monotonic()
    record = summary.setdefault(notebook, {"explorers": []})
    page = browser.new_page()
    console = Console(page)
    try:
        page.goto(lab.lab_url(notebook), wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function(support.KERNEL_IDLE_JS, timeout=120_000)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")   # a wider notebook for the shots

        # Run the set-up, training and explorer cells with JupyterLab's Run commands; wait for the kernel.
        last = cells[-1][0]
        page.evaluate(support.RUN_UP_TO_JS, last)
        page.wait_for_function("() => window.aaeRun && window.aaeRun.done", timeout=RUN_TIMEOUT_S * 1000,
                               polling=500)
        run = page.evaluate("() => window.aaeRun")
        page.wait_for_function(support.KERNEL_IDLE_JS, timeout=120_000)
        record["cells_run_s"] = round(time.monotonic() - started, 1)
        report = page.evaluate(support.CELL_REPORT_JS)
        failed = [cell for cell in report if cell["index"] <= last and cell["errors"]]
        assert not failed, f"cells raised errors: {failed}"
        not_run = [cell["index"] for cell in report if cell["index"] <= last and cell["count"] is None]
        assert run["ok"] and not not_run, f"run {run}; cells not run: {not_run}"

        dom_cells = page.locator(".jp-Notebook .jp-Cell")
        assert dom_cells.count() == page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.cells.length")
        for number, (index, function) in enumerate(cells, start=1):
            entry = {"cell": index, "explorer": function, "actions": []}
            record["explorers"].append(entry)
            cell = dom_cells.nth(index)
            output = cell.locator(".jp-OutputArea-output")
            widget = cell.locator(".jp-OutputArea-output > .jupyter-widgets").first
            as_text = lambda: "VBox(children" in " ".join(output.all_inner_texts())   # noqa: E731
            wait_for(lambda: as_text() or widget.is_visible(), 60, f"{function}'s output")
            assert not as_text(), (f"{function} rendered as plain text `VBox(children=...)`: the ipywidgets "
                                   "frontend extension is missing or failed")
            image = widget.locator("img.widget-image")
            assert image.count() == 1, f"{function}: expected one picture in the widget, found {image.count()}"
            before = settle(page, image)
            assert before, f"{function}: the picture never loaded"
            natural, shown = image.evaluate(
                "e => [[e.naturalWidth, e.naturalHeight], [e.clientWidth, e.clientHeight]]")
            entry["picture_px"] = f"{natural[0]}x{natural[1]} shown at {shown[0]}x{shown[1]}"
            # device_scale_factor is 1: a figure shown wider than its pixels is stretched and blurred
            assert shown[0] <= natural[0], f"{function}: picture stretched: {entry['picture_px']}"
            name = f"{stem}-{number}-{function}"
            shoot(page, widget, ARTIFACTS / f"{name}-before.png")

            slider = widget.locator(".widget-slider:visible").first
            assert slider.count() == 1, f"{function}: no visible slider"
            old_state = slider_state(slider)
            drag_slider(page, slider)
            after_slider = wait_for_new_picture(page, image, before, f"dragging the slider {old_state}")
            new_state = slider_state(slider)
            assert new_state != old_state, f"{function}: the drag did not move the slider ({old_state})"
            entry["actions"].append(f"dragged slider {old_state} -> {new_state.split(' = ')[1]}: picture changed")
            current = after_slider

            buttons = widget.locator("button.widget-button:visible")
            if buttons.count():
                button = buttons.first
                label = button.inner_text().strip()
                shoot(page, widget, ARTIFACTS / f"{name}-slider.png")
                # "Random" may draw the image already shown (1 in len(images)); a second press cannot.
                for attempt in range(2):
                    button.click()
                    try:
                        current = wait_for_new_picture(page, image, after_slider, f"pressing {label!r}")
                        break
                    except AssertionError:
                        if attempt:
                            raise
                entry["actions"].append(f"pressed {label!r}: picture changed")
            assert current != before
            shoot(page, widget, ARTIFACTS / f"{name}-after.png")
            assert "VBox(children" not in widget.inner_text()

        page.screenshot(path=str(ARTIFACTS / f"{stem}-page.png"))   # the notebook around the last explorer
        errors = console.errors()
        assert not errors, f"the browser console logged errors: {errors}"
    except BaseException:
        try:
            page.screenshot(path=str(ARTIFACTS / f"{stem}-failure.png"))
        except Exception:   # noqa: BLE001 - the original failure matters more
            pass
        raise
    finally:
        record["console"] = console.messages
        try:
            page.evaluate(support.SHUTDOWN_KERNEL_JS)
        except Exception:   # noqa: BLE001 - the server's shutdown stops it anyway
            pass
        page.close()
        record["total_s"] = round(time.monotonic() - started, 1)
    assert notebook_bytes_digest(lab.root_dir / notebook) == on_disk, f"{notebook} was changed on disk by the test"
