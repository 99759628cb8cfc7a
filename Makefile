# Two commands: `make run` (set up, build the index if needed, start the REPL) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench clean

run: $(STAMP)
	$(BIN)/qabot repl

test: $(STAMP)
	$(BIN)/ruff check bot tests
	$(BIN)/lint-imports
	$(BIN)/pytest

setup: $(STAMP)

# torch first, pinned to the CPU wheel: letting sentence-transformers pick one pulls CUDA.
# pip is not upgraded: CI installs with the pip Python 3.11 ships, as many users do, so a
# dependency only a newer pip resolves fails here first.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

bench: $(STAMP)
	$(BIN)/qabot bench

lint: $(STAMP)
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests

clean:
	rm -rf $(VENV) index/index.db index/index.db-* index/manifest.json index/data-* index/.build-* .pytest_cache
