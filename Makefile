# Two commands a newcomer needs: `make demo` (the export end to end against the embedded
# ConnectWise sandbox) and `make test` (lint + the whole suite). Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test e2e lint format bench clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest

# The Airflow UI in headless Chromium (Debian's package; installed here if missing, as root).
e2e: $(INSTALLED)
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,e2e]'
	$(BIN)/pytest -m e2e tests/e2e

demo: $(INSTALLED)
	$(BIN)/python scripts/demo.py

# Issue 17's figures: the writer against its alternatives, the task's memory, references end to end.
bench: $(INSTALLED)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,bench]'
	$(BIN)/python bench/writer.py
	$(BIN)/python bench/export_memory.py
	$(BIN)/python bench/references.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
