"""Sphinx settings for the AAE Wizard website: the stored notebooks as a book, built offline.

Build it with `make site`: site_source/build.py lays the pages' sources out as in the repository
(site/source/: README.md, notebooks/*.ipynb, benchmarks/, ...; index.md from this folder) and runs
Sphinx there with this folder's settings. Nothing is executed, and nothing a page shows is loaded
from outside the site.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # aae_site, the extension beside this file

project = "AAE Wizard"
html_title = "AAE Wizard"

extensions = ["myst_nb", "aae_site"]

root_doc = "index"
# The pages: the landing page, the five notebooks, and the benchmarks the landing page links to.
include_patterns = ["index.md", "notebooks/*.ipynb", "benchmarks/README.md"]
exclude_patterns = ["**/.ipynb_checkpoints"]

# The stored outputs are the content: never execute a notebook.
nb_execution_mode = "off"
# myst-nb loads require.js and the widget manager from a CDN for saved widget state; load nothing.
# aae_site shows each explorer as the picture its saved state holds instead.
nb_ipywidgets_js = {}

myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3
myst_heading_slug_func = "github"     # the anchors GitHub gives the same headings (README links use them)
suppress_warnings = ["myst.header"]   # a skipped heading level in a notebook is no reason to fail the build

# MathJax 3 from the site itself (aae_site copies it into _static/mathjax).
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["aae-site.css"]
html_js_files = ["aae-site.js"]   # display formulas set smaller to fit the column
html_context = {"default_mode": "light"}   # without it the theme logs "Got invalid theme mode" on every page
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "toc_title": "On this page",
    "show_toc_level": 2,
    "navbar_persistent": [],       # the search field is in the sidebar already
    "footer_content_items": [],    # no "By Author name not set", no copyright line
}
html_show_sourcelink = False
html_use_index = False          # no empty "Index" page (the series has no index entries)
html_last_updated_fmt = None
