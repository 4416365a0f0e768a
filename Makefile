# Two commands do all the set-up:  `make lab`  and  `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml or constraints.txt changes.
# They install the exact versions in constraints.txt (the lock); `make lock` refreshes it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aae-installed
LOCK   := constraints.txt
LOCK_VENV := .venv-lock
HOST   ?= 127.0.0.1
PORT   ?= 8888
# The tests run in WORKERS processes (pytest-xdist), a test file each at a time, so a notebook's
# cells and a module's trained fixtures stay in one process. Much of the suite waits on subprocesses,
# a browser or a kernel, so 2 workers keep 2 cores busy; `make test WORKERS=1` runs them one by one.
WORKERS ?= 2
PARALLEL := -n $(WORKERS) --dist loadfile
# JupyterLab refuses to run as root (common on servers and in containers) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test unit notebooks site bench lessons bench-accuracy install lock clean-runs help

help:
	@echo "make lab    - set up .venv if needed and start JupyterLab on notebooks/"
	@echo "make test   - set up .venv if needed, run unit tests and every notebook (fast mode)"
	@echo "make site   - build the series as a static website into site/html (stored outputs, offline)"
	@echo "make lock   - refresh constraints.txt: newest allowed releases, in a fresh venv, kept only if the tests pass"
	@echo "make bench  - training speed: Keras Adam against the opt-in XLA Adam, and full-MNIST training times (~25 min)"
	@echo "make lessons - every notebook's lesson number (label control, class probe, MMD, accuracy), 2 seeds (~1 hour)"
	@echo "make bench-accuracy - few-label accuracy on the real test set (notebook 04: 5 seeds, the improved recipe: 3; hours on 2 cores)"

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Python 3.11+ is needed, found %d.%d; set PYTHON=python3.11 (or newer)" % v[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[notebooks,test,site]"
	@touch $(STAMP)

lab: $(STAMP)
	@echo "Starting JupyterLab on notebooks/ - open the http://$(HOST):$(PORT)/lab?token=... URL printed below."
	@echo "On a remote server: ssh -L $(PORT):localhost:$(PORT) you@server, then open that URL locally."
	$(BIN)/jupyter lab --notebook-dir=notebooks --no-browser --ip=$(HOST) --port=$(PORT) $(ROOT_FLAG)

# The notebooks run from an empty fast-mode run folder, so a used checkout retrains them too.
test: $(STAMP)
	rm -rf notebooks/runs/fast
	AAE_FAST=1 AAE_OFFLINE=1 $(BIN)/python -m pytest $(PARALLEL) tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

unit: $(STAMP)
	AAE_FAST=1 AAE_OFFLINE=1 $(BIN)/python -m pytest $(PARALLEL) tests -p no:cacheprovider

notebooks: $(STAMP)
	rm -rf notebooks/runs/fast
	AAE_FAST=1 AAE_OFFLINE=1 $(BIN)/python -m pytest $(PARALLEL) notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

# The website: every notebook as stored (nothing is run), into site/html; see site_source/build.py.
site: $(STAMP)
	$(BIN)/python site_source/build.py site

# Refresh the lock: install the newest releases pyproject.toml allows into a fresh environment,
# run the whole suite there (unit tests and notebooks), and only if it passes write their exact
# versions to constraints.txt (the project itself left out). Commit the new constraints.txt.
lock:
	rm -rf $(LOCK_VENV) notebooks/runs/fast
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e ".[notebooks,test,site]"
	AAE_FAST=1 AAE_OFFLINE=1 $(LOCK_VENV)/bin/python -m pytest $(PARALLEL) tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider
	$(LOCK_VENV)/bin/python -c 'import platform; print(f"# The exact versions `make test` passed with (Python {platform.python_version()}, {platform.system()} {platform.machine()}).\n# `make lab` and `make test` install them (pip -c); refresh with `make lock`, not by hand.")' > $(LOCK).new
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable >> $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV)

bench: $(STAMP)
	$(BIN)/python benchmarks/adam_speed.py --json benchmarks/results/adam_speed.json
	$(BIN)/python benchmarks/full_mnist_time.py --json benchmarks/results/full_mnist_time-steps.json

lessons: $(STAMP)
	AAE_OFFLINE=1 $(BIN)/python benchmarks/lessons.py --seeds 0 1 --out benchmarks/results/lessons.json
	AAE_OFFLINE=1 $(BIN)/python benchmarks/lessons.py --models supervised-aae semi-supervised-aae --article --seeds 0 1 --out benchmarks/results/lessons-article.json

# Needs the real MNIST test set as IDX files in MNIST_TEST (default: ../shared/data/mnist).
MNIST_TEST ?= ../shared/data/mnist
bench-accuracy: $(STAMP)
	$(BIN)/python benchmarks/build_eval_set.py --mnist $(MNIST_TEST)
	$(BIN)/python benchmarks/semi_supervised_accuracy.py --recipe article --seeds 0 1 2 3 4
	$(BIN)/python benchmarks/semi_supervised_accuracy.py --recipe article --article --seeds 0 1 2 3 4
	$(BIN)/python benchmarks/semi_supervised_accuracy.py --recipe improved --seeds 0 1 2
	$(BIN)/python benchmarks/semi_supervised_accuracy.py --models baseline-classifier --labels 5000 --epochs 30
	$(BIN)/python benchmarks/report.py

clean-runs:
	rm -rf runs notebooks/runs
