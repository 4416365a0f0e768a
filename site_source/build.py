"""Build the series' website from the stored notebooks, offline: `make site`, or

    .venv/bin/python site_source/build.py [OUT]      (OUT defaults to site/)

OUT/html/index.html is the landing page. The pages' sources are laid out in OUT/source as in the
repository (the notebooks and what the pages link to, plus this folder's index.md), so every link
between them works as it does on GitHub; Sphinx then builds OUT/html with the settings in
site_source/conf.py, treating every warning as an error. Each build starts from empty OUT/source,
OUT/html, OUT/doctrees and OUT/jupyter_execute (myst-nb's pictures); nothing else in OUT is touched.
"""

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "site_source"
# What the pages are built from or may link to: (folder, file patterns), relative to the repository.
SOURCES = [
    (".", ["README.md"]),                       # index.md includes its front door
    ("docs/notebooks", ["*.png"]),              # the README's pictures
    ("notebooks", ["*.ipynb"]),
    ("benchmarks", ["README.md", "*.py", "results/*.json"]),
    ("aae_helpers", ["**/*.py"]),
]
BUILT = ("source", "html", "doctrees", "jupyter_execute")


def stage(source: Path) -> int:
    """Copy the pages' sources into `source`; return how many files."""
    count = 0
    for folder, patterns in SOURCES:
        for pattern in patterns:
            for path in sorted((ROOT / folder).glob(pattern)):
                if not path.is_file() or "__pycache__" in path.parts or ".ipynb_checkpoints" in path.parts:
                    continue
                target = source / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                count += 1
    for page in sorted(CONF_DIR.glob("*.md")):
        shutil.copy2(page, source / page.name)
        count += 1
    return count


class RepositoryPaths:
    """A text stream that names the repository's files where Sphinx names their staged copies."""

    def __init__(self, stream, staged: Path):
        self.stream, self.staged = stream, f"{staged}{os.sep}"

    def write(self, text):
        return self.stream.write(text.replace(self.staged, ""))

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return self.stream.isatty()


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def build(out: Path, verbose: bool = False) -> int:
    from sphinx.cmd.build import build_main

    out = out.resolve()
    started = time.perf_counter()
    for name in BUILT:
        shutil.rmtree(out / name, ignore_errors=True)
    stage(out / "source")
    arguments = ["-b", "html", "-W", "--keep-going", "-c", str(CONF_DIR), "-d", str(out / "doctrees"),
                 str(out / "source"), str(out / "html")]
    # Warnings name notebooks/01_autoencoder.ipynb, not OUT/source/notebooks/01_autoencoder.ipynb.
    with contextlib.redirect_stderr(RepositoryPaths(sys.stderr, out / "source")), \
            contextlib.redirect_stdout(RepositoryPaths(sys.stdout, out / "source")):
        status = build_main(arguments if verbose else ["-q"] + arguments)
    seconds = time.perf_counter() - started
    if status != 0:
        print(f"site build failed (status {status}) after {seconds:.1f} s", file=sys.stderr)
        return status
    html = out / "html"
    pages = len(list(html.rglob("*.html")))
    mathjax = folder_size(html / "_static" / "mathjax")
    print(f"built {html} in {seconds:.1f} s: {pages} HTML files, {folder_size(html) / 1e6:.1f} MB "
          f"({mathjax / 1e6:.1f} MB of it MathJax); open {html / 'index.html'} or serve it with "
          f"`python -m http.server -d {html}`")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "site"), help="output folder (default: site/)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's progress lines too")
    args = parser.parse_args(argv)
    return build(Path(args.out), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
