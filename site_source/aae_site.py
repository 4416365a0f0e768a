"""Sphinx extension for the AAE Wizard website (site_source/conf.py loads it).

- Each ipywidgets explorer becomes a card: its controls, its status line, its stored first view
  (the static preview the notebook stores in the next cell, or else the picture in the notebook's
  saved widget state) and one line on how to run it live. A static page cannot run the model, and
  myst-nb's default would load the widget manager from a CDN.
- Each notebook page gets a "Run it yourself" box with the two commands.
- A link to the repository's README.md leads to the landing page; links to other repository files
  that are not pages (a script, a results file) become downloads of the file (site_source/build.py
  lays them out beside the pages).
- MathJax 3 is copied into the site (from the pinned sphinx-mathjax-offline package, which ships
  MathJax 3.2.2), so formulas are typeset with no request leaving the site. Only what tex-chtml.js
  loads, or may load on demand (TeX extensions, the menu, accessibility), is copied.
"""

import base64
import html
import json
import re
from importlib import metadata
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.errors import ExtensionError
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset
from sphinx.util.images import get_image_size
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
NOTEBOOK_FOLDER = "notebooks/"

MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_MAJOR = "3"    # MathJax 4 fetches its fonts from a CDN: keep 3
# tex-chtml.js and what it loads by itself or on demand (\require, autoload, the right-click menu)
MATHJAX_PARTS = ["tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y", "sre"]

# The "Run it yourself" box; `x` is set as code.
RUN_BOX_TEXT = ("This page shows the notebook as it was last run. To run it yourself, change it and use its "
                "explorers, get the repository and, in its folder, run `make lab`: it sets up `.venv` and "
                "starts JupyterLab, where you open `{notebook}`. `make test` runs the tests and every notebook.")
RUN_COMMANDS = "make lab\nmake test"


# ---- MathJax --------------------------------------------------------------------------------
def mathjax_folder():
    """The MathJax 3 folder inside the installed sphinx-mathjax-offline package."""
    try:
        distribution = metadata.distribution(MATHJAX_PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise ExtensionError(f"{MATHJAX_PACKAGE} is not installed: run `make install`, which installs "
                             "the site tools (pyproject.toml's `site` extra)") from error
    folder = Path(distribution.locate_file("sphinx-mathjax-offline/static/mathjax"))
    script = folder / "tex-chtml.js"
    if not script.is_file():
        raise ExtensionError(f"{MATHJAX_PACKAGE} {distribution.version} has no {script}")
    found = re.search(r'VERSION="(\d+)\.', script.read_text(encoding="utf-8", errors="replace"))
    if not found or found.group(1) != MATHJAX_MAJOR:
        raise ExtensionError(f"{script} is not MathJax {MATHJAX_MAJOR}; MathJax 4 would load its fonts "
                             "from a CDN")
    return folder


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_folder(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        copy_asset(str(source / part), str(target / part) if (source / part).is_dir() else str(target))


# ---- explorers ------------------------------------------------------------------------------
def _number(value):
    return f"{value:.3g}".replace("-", "\u2212")


def _options(state):
    labels = [str(label) for label in state.get("_options_labels", [])]
    if len(labels) > 2 and all(label.isdigit() for label in labels) and \
            [int(label) for label in labels] == list(range(int(labels[0]), int(labels[0]) + len(labels))):
        return f"{labels[0]}\u2013{labels[-1]}"
    return ", ".join(labels)


def _control(model_name, state):
    """(what, description) of one control widget, or None for a container, picture or text."""
    name = state.get("description", "") or ""
    if model_name in ("FloatSliderModel", "IntSliderModel", "FloatLogSliderModel",
                      "FloatRangeSliderModel", "IntRangeSliderModel"):
        return f"slider, {_number(state['min'])} to {_number(state['max'])}", name
    if model_name in ("DropdownModel", "SelectModel", "RadioButtonsModel"):
        return f"menu: {_options(state)}", name
    if model_name == "ToggleButtonsModel":
        return f"buttons {_options(state)}", name
    if model_name == "ButtonModel":
        return "button", name
    if model_name in ("CheckboxModel", "ToggleButtonModel"):
        return "checkbox", name
    if model_name in ("TextModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel",
                      "BoundedFloatTextModel"):
        return "text box", name
    return None


def _text_of(markup):
    return html.unescape(re.sub(r"<[^>]+>", " ", markup)).split()


def explorer_parts(model_id, widget_state):
    """The pictures (PNG bytes), status lines and controls of the widget tree under model_id, in order."""
    pictures, lines, controls, seen = [], [], [], set()

    def walk(ident):
        if ident in seen or ident not in widget_state:
            return
        seen.add(ident)
        model = widget_state[ident]
        name, state = model.get("model_name", ""), model.get("state", {})
        if name == "ImageModel":
            for buffer in model.get("buffers", []):
                if buffer.get("path") == ["value"] and buffer.get("encoding", "base64") == "base64":
                    pictures.append((base64.b64decode(buffer["data"]), state.get("format", "png")))
        elif name in ("HTMLModel", "LabelModel", "HTMLMathModel") and state.get("value"):
            lines.append(" ".join(_text_of(state["value"])))
        else:
            control = _control(name, state)
            if control:
                controls.append(control)
        for child in state.get("children", []):
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                walk(child[len("IPY_MODEL_"):])

    walk(model_id)
    return pictures, lines, controls


def describe_controls(controls):
    """'digit (buttons 0–9); z[0]–z[7] (sliders, −12.5 to 12.5); ...': runs of name[i] grouped."""
    parts, index = [], 0
    indexed = re.compile(r"^(.*)\[(\d+)\]$")
    while index < len(controls):
        what, name = controls[index]
        match = indexed.match(name)
        end = index + 1
        if match:
            while end < len(controls) and controls[end][0] == what and indexed.match(controls[end][1]) and \
                    indexed.match(controls[end][1]).group(1) == match.group(1):
                end += 1
        if end - index > 1:
            kind, _, rest = what.partition(",")
            parts.append(f"{name}\u2013{controls[end - 1][1]} ({kind}s{',' if rest else ''}{rest})")
        else:
            parts.append(f"{name} ({what})" if name else what)
        index = end
    return "; ".join(parts)


def _widget_model_id(raw):
    """The model_id of a widget view that myst-nb rendered as a <script> tag, or None."""
    if raw.get("format") != "html" or WIDGET_VIEW not in raw.astext():
        return None
    found = re.search(r"<script[^>]*>(.*)</script>", raw.astext(), re.S)
    if not found:
        return None
    data = json.loads(found.group(1))
    if isinstance(data, str):     # myst-nb writes the view's JSON text as a JSON string
        data = json.loads(data)
    return data.get("model_id")


def _cell_index(node):
    """The index of the notebook cell whose output holds `node` (myst-nb marks each cell's container)."""
    while node is not None:
        if isinstance(node, nodes.Element) and node.get("cell_index") is not None:
            return node["cell_index"]
        node = node.parent
    return None


def _pictures_of_cell(cell):
    """The decoded image outputs of a notebook cell (bytes)."""
    found = []
    for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
        for mime, data in output.get("data", {}).items():
            if mime in ("image/png", "image/jpeg"):
                found.append(base64.b64decode("".join(data) if isinstance(data, list) else data))
    return found


def explorer_node(model_id, widget_state, notebook, next_cell):
    """The card that stands in for a widget: its controls, its status line, its stored picture (or a
    pointer to the same picture in the next cell, where the notebook stores a static preview) and
    how to run it live. Returns (card, whether a stored picture is shown)."""
    pictures, lines, controls = explorer_parts(model_id, widget_state)
    below = _pictures_of_cell(next_cell or {})
    if pictures:       # the next cell shows the very picture the widget state holds
        shown_below = all(data in below for data, _ in pictures)
    else:              # no saved widget state: the next cell's preview of the explorer's picture, if any
        shown_below = bool(below) and ".image" in "".join((next_cell or {}).get("source", ""))
    box = nodes.container(classes=["aae-explorer", "aae-explorer-preview-below" if shown_below
                                   else "aae-explorer-with-picture"])
    title = nodes.paragraph(classes=["aae-explorer-title"])
    title += nodes.strong(text="Interactive explorer")
    title += nodes.Text(" \u2014 it needs a running notebook; this page shows its first view"
                        + (", stored with the notebook just below." if shown_below else ", as stored."))
    box += title
    if controls:
        box += nodes.paragraph(text=f"Controls: {describe_controls(controls)}.", classes=["aae-explorer-controls"])
    for line in lines:
        box += nodes.paragraph(text=line, classes=["aae-explorer-status"])
    if not shown_below:
        for data, fmt in pictures:
            fmt = {"jpg": "jpeg", "svg": "svg+xml"}.get(fmt, fmt)
            uri = f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"
            alt = "The explorer's first view, as stored" + (f": {lines[0]}" if lines else "")
            # candidates as Sphinx's image collector sets them for a data: URI (it has run already)
            box += nodes.image(uri=uri, alt=alt, candidates={"?": uri}, classes=["aae-explorer-picture"])
    live = nodes.paragraph(classes=["aae-explorer-live"])
    live += nodes.Text("To use it live: ")
    live += nodes.literal(text="make lab")
    live += nodes.Text(", then open ")
    live += nodes.literal(text=notebook)
    live += nodes.Text(" in JupyterLab and run its cells.")
    box += live
    return box, bool(pictures) or shown_below


def replace_explorers(app, doctree, docname, notebook_json):
    widget_state = notebook_json.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    cells = notebook_json.get("cells", [])
    notebook = f"{Path(docname).name}.ipynb"
    for raw in list(doctree.findall(nodes.raw)):
        model_id = _widget_model_id(raw)
        if model_id is None:
            continue
        index = _cell_index(raw)
        next_cell = cells[index + 1] if index is not None and index + 1 < len(cells) else None
        box, has_picture = explorer_node(model_id, widget_state, notebook, next_cell)
        if not has_picture:
            logger.warning(f"{notebook}: the explorer {model_id} has no stored picture: neither the "
                           "notebook's saved widget state nor a preview in the next cell (Image(explorer.image"
                           ".value)); run the notebook in JupyterLab and save it with its widget state",
                           location=raw)
        raw.replace_self(box)


# ---- the "Run it yourself" box ----------------------------------------------------------------
def run_box(notebook):
    box = nodes.admonition(classes=["aae-run-it", "tip"])
    box += nodes.title(text="Run it yourself")
    text = nodes.paragraph()
    for index, piece in enumerate(RUN_BOX_TEXT.format(notebook=notebook).split("`")):
        text += nodes.literal(text=piece) if index % 2 else nodes.Text(piece)
    box += text
    box += nodes.literal_block(RUN_COMMANDS, RUN_COMMANDS, language="bash")
    return box


def add_run_box(doctree, docname):
    sections = list(doctree.findall(nodes.section))
    if not sections:
        return
    top = sections[0]
    titles = [index for index, child in enumerate(top.children) if isinstance(child, nodes.title)]
    top.insert(titles[0] + 1 if titles else 0, run_box(f"{Path(docname).name}.ipynb"))


# ---- outputs ----------------------------------------------------------------------------------
PYTHON_SOURCE = re.compile(r"^\s*(def \w+\(|class \w+(\(.*\))?:\s*$|@\w|return\b|import \w|from \w+ import\b)",
                           re.M)
ALIGNED = re.compile(r"\S {3,}\S")      # columns lined up with spaces
LINKED_WIDTH = 700   # output pictures wider than this are shrunk to the text column: link them to full size


def _in_cell_output(node):
    while node is not None:
        if isinstance(node, nodes.Element) and "cell_output" in node.get("classes", []):
            return True
        node = node.parent
    return False


def wraps(text):
    """Whether printed text may wrap: not Python source (its indentation must stay) and not a table
    (its columns must stay lined up); those scroll sideways in their box instead."""
    aligned = sum(1 for line in text.splitlines() if ALIGNED.search(line.strip()))
    return not PYTHON_SOURCE.search(text) and aligned < 2


def wrap_text_outputs(doctree):
    """Printed text wraps at the column's edge instead of scrolling sideways (class aae-wrap)."""
    for block in doctree.findall(nodes.literal_block):
        if _in_cell_output(block) and wraps(block.astext()):
            block["classes"].append("aae-wrap")


def link_large_pictures(app, doctree, docname):
    """Each output picture wider than the text column links to itself at full size."""
    if app.builder.format != "html":
        return
    pictures = app.builder.get_target_uri(docname)
    folder = relative_uri(pictures, "_images")
    for image in list(doctree.findall(nodes.image)):
        uri = image.get("uri", "")
        if uri.startswith("data:") or isinstance(image.parent, nodes.reference) or not _in_cell_output(image):
            continue
        stored = app.env.images.get(uri)
        size = get_image_size(str(Path(app.env.srcdir) / uri))
        if stored is None or size is None or size[0] <= LINKED_WIDTH:
            continue
        reference = nodes.reference("", "", internal=True, refuri=f"{folder}/{stored[1]}",
                                    classes=["aae-full-size"], reftitle="The picture at full size")
        image.replace_self(reference)
        reference += image


# ---- links to the repository's README -----------------------------------------------------------
# The README is not a page of its own: its front door is the landing page (index.md includes it).
DOC_ALIASES = {"README": "index"}


def alias_links(doctree):
    """A link to README.md (from a notebook: ../README.md) leads to the landing page."""
    for node in doctree.findall(addnodes.pending_xref):
        if node.get("refdomain") == "doc" and node.get("reftarget") in DOC_ALIASES:
            node["reftarget"] = DOC_ALIASES[node["reftarget"]]
            node["aae_alias"] = True


class AliasAnchors(SphinxPostTransform):
    """A link to a README section that the landing page does not include (README.md#command-line)
    leads to the top of the landing page. Runs before MyST resolves the links (priority 9)."""

    default_priority = 8

    def run(self, **kwargs):
        links = [node for node in self.document.findall(addnodes.pending_xref)
                 if node.get("aae_alias") and node.get("reftargetid")]
        present = {}
        for node in links:
            target = node["reftarget"]
            if target not in present:
                present[target] = {name for element in self.env.get_doctree(target).findall(nodes.Element)
                                   for name in element.get("ids", [])}
                present[target] |= set(self.env.metadata[target].get("myst_slugs", {}))
            if node["reftargetid"] not in present[target]:
                logger.info(f"README.md#{node['reftargetid']} is not on the landing page; the link leads to "
                            "its top", location=node)
                node["reftargetid"] = None


# ---- hooks ----------------------------------------------------------------------------------
def on_doctree_read(app, doctree):
    docname = app.env.docname
    alias_links(doctree)
    if not docname.startswith(NOTEBOOK_FOLDER):
        return
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    notebook_json = json.loads(path.read_text(encoding="utf-8"))
    replace_explorers(app, doctree, docname, notebook_json)
    add_run_box(doctree, docname)
    wrap_text_outputs(doctree)
    # The saved widget state (with its pictures) is not needed on the page: no widget manager reads it.
    nb_metadata = getattr(app.env, "nb_metadata", {})
    nb_metadata.get(docname, {}).get("js_files", {}).pop("ipywidgets_state", None)


def check_mathjax(app):
    """Fail at the start, not after the build, when MathJax 3 is missing."""
    if app.builder.format == "html":
        mathjax_folder()


def setup(app):
    app.connect("builder-inited", check_mathjax)
    app.connect("doctree-read", on_doctree_read)
    app.connect("doctree-resolved", link_large_pictures)
    app.add_post_transform(AliasAnchors)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
