# Set-up is part of every target: a fresh machine needs only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := $(shell find keras_fastsim -name '*.py' -o -name '*.yaml')

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet ".[test]"
	touch $@

$(VENV)/.package: $(VENV)/.deps $(SOURCES)
	$(BIN)/pip install --quiet --no-deps --force-reinstall .
	touch $@

install: $(VENV)/.package

demo: install
	$(BIN)/keras-fastsim demo --out runs/demo

test: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info runs
