"""The website (`make site`), built and read in a real browser.

The module builds the site from the stored notebooks into a temporary folder with the same script
as `make site` (site_source/build.py), serves it from a local http.server on 127.0.0.1, and opens
every page in Debian's headless Chromium (Python Playwright) at a desktop width (1280 px) and a
phone width (390 px). Every request that would leave the local server is aborted and counted. On
every page: no console error, no outside request, no failed request, every picture loaded, every
formula typeset by the site's own MathJax 3 with no raw TeX left in the text, no page wider than
the screen; over the whole site, no broken internal link (every local href answers, every #anchor
exists). The notebook pages: each has its figures (one <img> per stored picture at least, and the
README's headline figure of the notebook, notebook 03's style grid among them), the Run it yourself
box, previous/next links in chapter order and the five notebooks in the sidebar, and each explorer
shown as a card with its stored picture and no widget text. The landing page is the README's
front door. A last test breaks a copy of a page in each of those ways and checks every check sees
it. Screenshots of each page at both widths go to test-artifacts/site/.

Needs Debian's chromium: installed with apt-get when missing; the browser tests are skipped only
when that install fails.
"""

import contextlib
import functools
import hashlib
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import browser_support as support

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "site"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What a widget leaves on a page that cannot run it: its repr, the loading text, the raw mime data.
WIDGET_TEXT = ["VBox(", "HBox(", "Loading widget", "Interactive explorer: run the notebook in Jupyter",
               "widget-view+json"]
RAW_TEX = re.compile(r"\$[^\s$][^$]*\$|\\\(|\\\)|\\\[|\\\]|\\begin\{")

sys.path.insert(0, str(ROOT / "docs"))
import extract_figures  # noqa: E402  (docs/extract_figures.py: which cell holds each README figure)


# ---- building and serving ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site built by `make site`'s script into a temporary folder: (html folder, seconds, its output)."""
    out = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "site_source" / "build.py"), str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"the site build failed:\n{done.stdout}\n{done.stderr}"
    return out / "html", seconds, done.stdout + done.stderr


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):   # a closed tab's aborted transfer is no error
        pass


@contextlib.contextmanager
def serve(folder):
    """`folder` on http://127.0.0.1:PORT (a free port) for the duration of the block."""
    server = QuietServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    instance = None
    try:
        instance = playwright.chromium.launch(executable_path=str(chromium), args=support.CHROMIUM_ARGS,
                                              headless=True)
        yield instance
    finally:
        try:
            if instance is not None:
                instance.close()
        finally:
            playwright.stop()


def site_pages(html):
    """Every page of the site, as paths relative to its root (theme fragments under _static left out)."""
    return sorted(path.relative_to(html).as_posix() for path in html.rglob("*.html")
                  if path.relative_to(html).parts[0] not in ("_static", "_sources"))


# ---- reading a page in the browser ------------------------------------------------------------
# Load every picture (none lazily), then wait for MathJax to finish typesetting; at most 60 s.
SETTLE_JS = """async () => {
    const pictures = [...document.images].map((img) => {
        if (img.loading === 'lazy') img.loading = 'eager';
        return img.complete ? null : new Promise((done) => {
            img.addEventListener('load', done); img.addEventListener('error', done); });
    });
    const typeset = (async () => {
        if (!document.querySelector('.math') || !document.querySelector('script[src*="mathjax" i]')) return;
        for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
            await new Promise((done) => setTimeout(done, 50));
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    })();
    const timeout = new Promise((done) => setTimeout(() => done('timeout'), 60000));
    return await Promise.race([Promise.all([...pictures, typeset]).then(() => 'ok'), timeout]);
}"""

# What the checks read from a page.
REPORT_JS = """() => {
    const article = document.querySelector('.bd-article') || document.body;
    const prose = article.cloneNode(true);
    prose.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight')
        .forEach((e) => e.remove());
    const nextCell = (card) => {
        const cell = card.closest('.cell');
        const next = cell ? cell.nextElementSibling : null;
        return next && next.classList.contains('cell') ? next : null;
    };
    const loaded = (img) => img.complete && img.naturalWidth > 0;
    return {
        title: document.title,
        text: document.body.innerText,
        prose: prose.textContent,
        images: [...document.images].map((img) => ({
            src: img.currentSrc || img.src, ok: loaded(img), natural: img.naturalWidth,
            shown: img.getBoundingClientRect().width, output: !!img.closest('.cell_output')})),
        math: {
            count: document.querySelectorAll('.math').length,
            typeset: document.querySelectorAll('.math mjx-container').length,
            untypeset: [...document.querySelectorAll('.math')].filter((e) => !e.querySelector('mjx-container'))
                .map((e) => e.textContent.slice(0, 80)),
            errors: [...document.querySelectorAll('mjx-merror')].map((e) => e.textContent.slice(0, 80)),
            version: window.MathJax && window.MathJax.version ? String(window.MathJax.version) : null,
            script: [...document.scripts].map((s) => s.src).filter((src) => /mathjax/i.test(src)),
        },
        links: [...document.querySelectorAll('a[href]')].map((a) => ({href: a.href, raw: a.getAttribute('href')})),
        ids: [...document.querySelectorAll('[id]')].map((e) => e.id)
            .concat([...document.querySelectorAll('a[name]')].map((a) => a.name)),
        explorers: [...document.querySelectorAll('.aae-explorer')].map((card) => {
            const next = nextCell(card);
            return {
                text: card.innerText,
                below: card.classList.contains('aae-explorer-preview-below'),
                own: [...card.querySelectorAll('img')].map(loaded),
                next: next ? [...next.querySelectorAll('.cell_output img')].map(loaded) : [],
            };
        }),
        runBox: (document.querySelector('.aae-run-it') || {}).innerText || null,
        previous: (document.querySelector('a.left-prev') || {}).href || null,
        next: (document.querySelector('a.right-next') || {}).href || null,
        sidebar: [...document.querySelectorAll('nav.bd-docs-nav a[href]')].map((a) => a.href),
        codeBlocks: [...article.querySelectorAll('pre')].map((e) => e.innerText),
        tableLinks: [...article.querySelectorAll('table a[href]')].map((a) => a.href),
        tableImages: [...article.querySelectorAll('table img')].map(loaded),
        overflow: document.documentElement.scrollWidth - window.innerWidth,
    };
}"""


def is_local(url, base):
    return url == base or url.startswith(base + "/") or url.startswith(("data:", "blob:", "about:"))


def visit(browser, base, path, viewport, screenshot=None):
    """Open base/path in a fresh browser context; every request not to base is aborted and counted."""
    context = browser.new_context(viewport=viewport, service_workers="block")
    outside, failed, bad, console = [], [], [], []

    def route(request_route):
        url = request_route.request.url
        if is_local(url, base):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    try:
        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda message: console.append((message.type, message.text)))
        page.on("pageerror", lambda error: console.append(("pageerror", str(error))))
        page.on("requestfailed",
                lambda request: failed.append(request.url) if is_local(request.url, base) else None)
        page.on("response", lambda response: bad.append((response.url, response.status))
                if response.status >= 400 else None)
        started = time.perf_counter()
        page.goto(f"{base}/{path}", wait_until="load", timeout=60_000)
        settled = page.evaluate(SETTLE_JS)
        report = page.evaluate(REPORT_JS)
        report.update(path=path, settled=settled, seconds=round(time.perf_counter() - started, 2),
                      outside=outside, failed=failed, bad_status=bad,
                      errors=[(kind, text) for kind, text in console if kind in ("error", "pageerror")])
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
        return report
    finally:
        context.close()


@pytest.fixture(scope="module")
def crawl(built, browser):
    """{width name: {page: report}}: every page read at both widths, served from the built site."""
    html = built[0]
    reports = {}
    with serve(html) as base:
        for name, viewport in WIDTHS.items():
            reports[name] = {path: visit(browser, base, path, viewport,
                                         ARTIFACTS / f"{path.replace('/', '_')[:-5]}-{viewport['width']}.png")
                             for path in site_pages(html)}
        reports["_base"] = base
        # Link targets are fetched while the server runs (see the link check).
        reports["_links"] = link_statuses(base, reports["desktop"].values())
    return reports


def link_statuses(base, reports):
    """{local URL without fragment: HTTP status} for every local href on the given pages."""
    statuses = {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # straight to 127.0.0.1
    for report in reports:
        for link in report["links"]:
            url = urllib.parse.urldefrag(link["href"]).url
            if not url.startswith(base + "/") or url in statuses:
                continue
            try:
                with opener.open(url, timeout=30) as response:
                    statuses[url] = response.status
            except urllib.error.HTTPError as error:
                statuses[url] = error.code
    return statuses


# ---- the checks: each returns a list of problems (the last test checks they find them) ---------
def console_problems(report):
    return [f"{report['path']}: console {kind}: {text}" for kind, text in report["errors"]]


def network_problems(report):
    problems = [f"{report['path']}: request left the site: {url}" for url in report["outside"]]
    problems += [f"{report['path']}: request failed: {url}" for url in report["failed"]]
    problems += [f"{report['path']}: HTTP {status} for {url}" for url, status in report["bad_status"]]
    if report["settled"] != "ok":
        problems.append(f"{report['path']}: pictures or formulas still loading after 60 s")
    return problems


def picture_problems(report):
    return [f"{report['path']}: picture not shown (naturalWidth {image['natural']}): {image['src'][:100]}"
            for image in report["images"] if not image["ok"]]


def math_problems(report):
    math, problems = report["math"], []
    if math["count"]:
        if not (math["version"] or "").startswith("3."):
            problems.append(f"{report['path']}: MathJax {math['version']} is running, not MathJax 3")
        problems += [f"{report['path']}: MathJax loaded from outside the site: {src}"
                     for src in math["script"] if not src.startswith(report["base"] + "/")]
    problems += [f"{report['path']}: formula not typeset: {text!r}" for text in math["untypeset"]]
    problems += [f"{report['path']}: MathJax error: {text!r}" for text in math["errors"]]
    prose = report["prose"]
    problems += [f"{report['path']}: raw TeX left in the text: ...{prose[max(0, m.start() - 40):m.end() + 40]!r}..."
                 for m in RAW_TEX.finditer(prose)]
    return problems


def layout_problems(report):
    return [f"{report['path']}: the page is {report['overflow']} px wider than the screen"] \
        if report["overflow"] > 1 else []


def widget_problems(report):
    return [f"{report['path']}: widget text on the page: {text!r}"
            for text in WIDGET_TEXT if text in report["text"]]


def link_problems(reports, statuses, base):
    """Every local href answers 200, and every #anchor exists on the page it points to."""
    ids = {f"{base}/{report['path']}": set(report["ids"]) for report in reports}
    problems = []
    for report in reports:
        for link in report["links"]:
            url, fragment = urllib.parse.urldefrag(link["href"])
            if not url.startswith(base + "/"):
                continue
            status = statuses.get(url)
            if status != 200:
                problems.append(f"{report['path']}: link {link['raw']!r} answers {status}")
            elif fragment and url in ids and urllib.parse.unquote(fragment) not in ids[url]:
                problems.append(f"{report['path']}: link {link['raw']!r}: no #{fragment} on that page")
    return problems


def page_problems(report):
    return console_problems(report) + network_problems(report) + picture_problems(report) + \
        math_problems(report) + layout_problems(report) + widget_problems(report)


def with_base(report, base):
    return {**report, "base": base}


# ---- the tests -----------------------------------------------------------------------------------
def test_the_build_is_quick_and_warns_of_nothing(built):
    html, seconds, output = built
    assert (html / "index.html").is_file()
    assert "built" in output and "WARNING" not in output and "ERROR" not in output, output
    assert seconds < 120, f"the site took {seconds:.0f} s to build"


def test_every_page_is_read(built, crawl):
    pages = site_pages(built[0])
    expected = {"index.html", "benchmarks/README.html"} | {f"notebooks/{path.stem}.html" for path in NOTEBOOKS}
    assert expected <= set(pages), f"missing pages: {sorted(expected - set(pages))}"
    assert set(crawl["desktop"]) == set(pages) == set(crawl["phone"])


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_loads_cleanly_offline(crawl, width):
    """No console error, no request leaves 127.0.0.1, none fails, every picture shows, every formula
    is typeset by the site's MathJax 3, no raw TeX, no page wider than the screen, no widget text."""
    problems = []
    outside = 0
    for report in crawl[width].values():
        problems += page_problems(with_base(report, crawl["_base"]))
        outside += len(report["outside"])
    assert outside == 0 and not problems, "\n".join(problems)


def test_no_page_asks_for_anything_outside_the_site(built):
    """The static half of 'no CDN': no page names an outside script, style sheet or picture."""
    outside = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=[\"'](https?:)?//", re.I)
    found = [f"{path.relative_to(built[0])}: {match.group(0)[:120]}"
             for path in built[0].rglob("*.html") for match in outside.finditer(path.read_text(errors="replace"))]
    assert not found, "\n".join(found)


def test_no_widget_data_is_left_in_the_pages(built):
    """The explorers' saved widget state and views stay out of the pages: nothing on a static page
    could read them (the cards stand in for the widgets)."""
    found = [str(path.relative_to(built[0])) for path in built[0].rglob("*.html")
             if "application/vnd.jupyter.widget-" in path.read_text(errors="replace")]
    assert not found, found


def test_no_internal_link_is_broken(crawl):
    reports = list(crawl["desktop"].values())
    assert sum(len(report["links"]) for report in reports) > 50
    problems = link_problems(reports, crawl["_links"], crawl["_base"])
    assert not problems, "\n".join(problems)


def test_formulas_are_typeset(crawl):
    for notebook in NOTEBOOKS:
        report = crawl["desktop"][f"notebooks/{notebook.stem}.html"]
        dollars = sum("".join(cell["source"]).count("$") for cell in json.loads(notebook.read_text())["cells"]
                      if cell["cell_type"] == "markdown")
        if dollars:
            assert report["math"]["typeset"] >= dollars // 4, (notebook.name, report["math"])


def stored_pictures(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    return sum(1 for cell in cells if cell["cell_type"] == "code" for output in cell.get("outputs", [])
               if "image/png" in output.get("data", {}) or "image/jpeg" in output.get("data", {}))


def widget_outputs(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    return sum(1 for cell in cells if cell["cell_type"] == "code" for output in cell.get("outputs", [])
               if WIDGET_VIEW in output.get("data", {}))


@pytest.mark.parametrize("notebook", [path.name for path in NOTEBOOKS])
def test_each_notebook_page_has_its_figures_explorers_and_run_box(crawl, notebook):
    path = ROOT / "notebooks" / notebook
    report = crawl["desktop"][f"notebooks/{path.stem}.html"]
    shown = [image for image in report["images"] if image["output"] and image["ok"]]
    assert len(shown) >= stored_pictures(path), (len(shown), stored_pictures(path))

    assert len(report["explorers"]) == widget_outputs(path)
    for card in report["explorers"]:
        assert "make lab" in card["text"] and path.name in card["text"], card["text"]
        pictures = card["next"] if card["below"] else card["own"]
        assert pictures and all(pictures), f"an explorer with no stored picture shown: {card}"

    box = report["runBox"] or ""
    assert "Run it yourself" in box and "make lab" in box and "make test" in box and path.name in box, box


def test_chapter_navigation(crawl):
    base = crawl["_base"]
    order = ["index.html"] + [f"notebooks/{path.stem}.html" for path in NOTEBOOKS] + ["benchmarks/README.html"]
    for position in range(1, len(order) - 1):
        report = crawl["desktop"][order[position]]
        assert report["previous"] == f"{base}/{order[position - 1]}", (order[position], report["previous"])
        assert report["next"] == f"{base}/{order[position + 1]}", (order[position], report["next"])
        sidebar = {urllib.parse.urldefrag(href).url for href in report["sidebar"]}
        assert {f"{base}/{page}" for page in order} <= sidebar, (order[position], sorted(sidebar))


@pytest.mark.parametrize("notebook, marker, readme_picture", extract_figures.FIGURES)
def test_each_notebook_page_shows_its_headline_figure(built, crawl, notebook, marker, readme_picture):
    """The README's figure of each notebook (notebook 03's style grid among them), as the notebook
    stores it, is on the notebook's page, loaded and shown large."""
    wanted = hashlib.sha256(extract_figures.figure(notebook, marker)).hexdigest()
    report = crawl["desktop"][f"notebooks/{notebook}.html"]
    found = []
    for image in report["images"]:
        if not image["src"].startswith(crawl["_base"] + "/"):
            continue
        local = built[0] / urllib.parse.unquote(urllib.parse.urlparse(image["src"]).path.lstrip("/"))
        if local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == wanted:
            found.append(image)
    assert found, f"{notebook}'s page does not show the figure of the cell with {marker!r}"
    assert all(image["ok"] and image["shown"] >= 300 for image in found), found


def test_landing_page_is_the_readme_front_door(crawl):
    report = crawl["desktop"]["index.html"]
    readme = (ROOT / "README.md").read_text()
    intro = readme.split("\n\n")[1]
    assert " ".join(intro.split())[:80] in " ".join(report["text"].split())
    assert any("make lab" in block and "make test" in block for block in report["codeBlocks"])
    pages = {f"{crawl['_base']}/notebooks/{path.stem}.html" for path in NOTEBOOKS}
    assert pages <= set(report["tableLinks"]), report["tableLinks"]
    assert len(report["tableImages"]) >= len(NOTEBOOKS) and all(report["tableImages"])


LINKS_TO_FILES = ("\n\nLinks: [benchmarks](../benchmarks/README.md#training-speed), "
                  "[settings](../aae_helpers/settings.py), [results](../benchmarks/results/lessons.json), "
                  "[commands](../README.md#two-commands), "
                  "[command line](../README.md#command-line), [next](02_adversarial_autoencoder.ipynb).\n")


def test_links_from_a_notebook_to_repository_files_work_on_the_site(tmp_path):
    """A copy of the repository whose first notebook links to the benchmarks page, a module, a results
    file and README sections builds (no warning) into links that all lead somewhere on the site."""
    copy = tmp_path / "repo"
    for name in ("site_source", "notebooks", "benchmarks", "aae_helpers", "docs"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("runs", "__pycache__", "data"))
    shutil.copy2(ROOT / "README.md", copy / "README.md")
    notebook = copy / "notebooks" / "01_autoencoder.ipynb"
    content = json.loads(notebook.read_text())
    content["cells"][0]["source"] = "".join(content["cells"][0]["source"]) + LINKS_TO_FILES
    notebook.write_text(json.dumps(content))
    done = subprocess.run([sys.executable, str(copy / "site_source" / "build.py"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    html = tmp_path / "out" / "html"
    page = (html / "notebooks" / "01_autoencoder.html").read_text()
    found = {}
    for href, text in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(?:<span[^>]*>)?([^<]+)<', page):
        found.setdefault(text, href)
    assert found["benchmarks"] == "../benchmarks/README.html#training-speed"
    assert found["commands"] == "../index.html#two-commands"
    assert found["command line"] == "../index.html"          # a README section the landing page leaves out
    assert found["next"] == "02_adversarial_autoencoder.html"
    for name, file in (("settings", "settings.py"), ("results", "lessons.json")):
        assert found[name].startswith("../_downloads/") and found[name].endswith(file), found[name]
    for name in ("benchmarks", "settings", "results", "commands", "command line", "next"):
        href = found[name]
        target = (html / "notebooks" / href.split("#")[0]).resolve()
        assert target.is_file(), href


def test_search_finds_words_of_the_notebooks_offline(built, browser):
    """The theme's search runs in the page from the site's own index (no search service)."""
    context = browser.new_context(viewport=DESKTOP, service_workers="block")
    errors, outside = [], []
    with serve(built[0]) as base:
        try:
            context.route("**/*", lambda route: route.continue_() if is_local(route.request.url, base)
                          else (outside.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/search.html?q=discriminator", wait_until="load")
            page.wait_for_selector("#search-results li", timeout=30_000)
            hits = page.eval_on_selector_all("#search-results li a", "links => links.map((a) => a.href)")
        finally:
            context.close()
    assert not errors and not outside, (errors, outside)
    assert any("/notebooks/02_adversarial_autoencoder.html" in hit for hit in hits), hits


# ---- the checks catch what they are for ---------------------------------------------------------------
BREAKAGE = """
<p>$z_1$ left raw</p>
<p>VBox(children=(FloatSlider(value=0.0),))</p>
<a href="no-such-page.html">gone</a> <a href="#no-such-anchor">nowhere</a>
<div style="width: 2000px">too wide</div>
<script>console.error("broken on purpose");</script>
<script src="https://example.invalid/cdn/lib.js"></script>
"""


def test_the_checks_catch_a_broken_page(built, browser, tmp_path):
    """A copy of notebook 03's page with an outside script, a missing picture, MathJax removed, raw
    TeX, widget text, broken links, a console error and a too-wide block: every check reports it."""
    copy = tmp_path / "html"
    shutil.copytree(built[0], copy)
    page = copy / "notebooks" / "03_style_and_content.html"
    text = page.read_text()
    picture = re.search(r'src="\.\./(_images/[^"]+\.png)"', text).group(1)
    (copy / picture).unlink()
    text = re.sub(r'<script[^>]*src="[^"]*mathjax[^"]*"[^>]*></script>', "", text, flags=re.I)
    page.write_text(text.replace("</article>", BREAKAGE + "</article>", 1))
    with serve(copy) as base:
        report = with_base(visit(browser, base, "notebooks/03_style_and_content.html", PHONE), base)
        statuses = link_statuses(base, [report])
    assert report["outside"] == ["https://example.invalid/cdn/lib.js"]
    assert any("broken on purpose" in text for _, text in report["errors"])
    checks = {
        "console": console_problems(report),
        "network": network_problems(report),
        "pictures": picture_problems(report),
        "math": math_problems(report),
        "layout": layout_problems(report),
        "widgets": widget_problems(report),
        "links": link_problems([report], statuses, base),
    }
    silent = [name for name, problems in checks.items() if not problems]
    assert not silent, f"these checks missed the breakage: {silent}"
    assert any("raw TeX" in problem for problem in checks["math"])
    assert any("not typeset" in problem for problem in checks["math"])
    assert any("no-such-page.html' answers 404" in problem for problem in checks["links"]), checks["links"]
    assert any("no #no-such-anchor" in problem for problem in checks["links"]), checks["links"]


def test_readme_and_makefile_say_how_to_build_view_and_publish_it():
    readme = (ROOT / "README.md").read_text()
    for words in ("make site", "site/html", "http.server", "copy the folder"):
        assert words in readme, f"README.md does not say {words!r}"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^site: .*\n\t.*site_source/build\.py site\b", makefile, re.M), "no `make site` rule"
    assert "/site/" in (ROOT / ".gitignore").read_text().split()
