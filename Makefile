# Two commands for a newcomer: `make repro` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: repro test test-slow lint bench plots-offline clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Stages run `python`: put the venv first on PATH so that is the project's Python.
repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@echo "Report: reports/index.md (self-contained: reports/index.html); metrics: $(BIN)/dvc metrics show"

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

lint: $(STAMP)
	$(BIN)/ruff check src stages tests bench tools

# DVC's own plots page loads vega from a CDN and is blank offline; this one is self-contained.
# Compare revisions with `make plots-offline REVS="HEAD~1 main"` (default: workspace vs HEAD).
plots-offline: $(STAMP)
	$(BIN)/python tools/plots_offline.py $(REVS)

# Benchmarks compare against reference libraries, installed only for this.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/tokenizer.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/generate.py

clean-venv:
	rm -rf $(VENV)
