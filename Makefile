# Two commands do all the set-up:  `make lab`  and  `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aae-installed
HOST   ?= 127.0.0.1
PORT   ?= 8888
# JupyterLab refuses to run as root (common on servers and in containers) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test unit notebooks bench install clean-runs help

help:
	@echo "make lab    - set up .venv if needed and start JupyterLab on notebooks/"
	@echo "make test   - set up .venv if needed, run unit tests and every notebook (fast mode)"
	@echo "make bench  - time every trainer with and without XLA, side by side (benchmarks/)"

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Python 3.11+ is needed, found %d.%d; set PYTHON=python3.11 (or newer)" % v[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test]"
	@touch $(STAMP)

lab: $(STAMP)
	@echo "Starting JupyterLab on notebooks/ - open the http://$(HOST):$(PORT)/lab?token=... URL printed below."
	@echo "On a remote server: ssh -L $(PORT):localhost:$(PORT) you@server, then open that URL locally."
	$(BIN)/jupyter lab --notebook-dir=notebooks --no-browser --ip=$(HOST) --port=$(PORT) $(ROOT_FLAG)

test: $(STAMP)
	AAE_FAST=1 AAE_OFFLINE=1 $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

unit: $(STAMP)
	AAE_FAST=1 AAE_OFFLINE=1 $(BIN)/python -m pytest tests -p no:cacheprovider

notebooks: $(STAMP)
	AAE_FAST=1 AAE_OFFLINE=1 $(BIN)/python -m pytest notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_compile.py

clean-runs:
	rm -rf runs notebooks/runs
