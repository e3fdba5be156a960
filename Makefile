# Two commands a newcomer needs: `make demo` (the export end to end against the embedded
# ConnectWise sandbox) and `make test` (lint + the whole suite). Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The lowest Airflow we support (pyproject's lower bound), tested beside the latest in its own venv.
# Airflow is meant to be installed with its constraints; 3.2.0's metadata leaves fastapi uncapped and
# fastapi 0.163 breaks its task execution API, so we keep the cap later Airflow releases declare.
AIRFLOW_MIN := 3.2.0
MIN_PINS := 'apache-airflow==$(AIRFLOW_MIN)' 'fastapi<0.137'
VENV_MIN := .venv-min
INSTALLED_MIN := $(VENV_MIN)/.installed
# The package with its extras, and the test tools (a PEP 735 dependency group, not a user extra).
DEV := -e '.[s3,sandbox]' --group test
# The latest-Airflow venv also gets the other clouds' extras and the emulator group (about 170
# packages more: too heavy for the lowest-Airflow venv, whose cloud tests skip saying so).
DEV_LATEST := -e '.[s3,gcs,azure,sandbox]' --group test --group cloud-test
# Azurite (Microsoft's Azure Storage emulator) from npm, into a git-ignored folder of the repo.
AZURITE_VERSION := 3.37.0
AZURITE := .azurite/node_modules/.bin/azurite-blob
# Stoplight Prism (npm), the validating proxy the Xero tests put in front of the sandbox Xero.
PRISM_VERSION := 5.16.0
PRISM := .prism/node_modules/.bin/prism

.PHONY: demo test test-latest test-min e2e lint format bench clean xmlserializer azurite prism

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.8'
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(DEV_LATEST)
	touch $@

# Azurite, the Azure Blob emulator, from npm (npm itself from Debian's packages, as root). Without
# it the Azure tests skip, except under CI.
azurite: $(AZURITE)
$(AZURITE):
	(command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q nodejs npm)) \
		&& npm install --loglevel=error --no-audit --no-fund --prefix .azurite azurite@$(AZURITE_VERSION) \
		|| echo "Azurite could not be installed: the Azure tests in tests/output/test_cloud_storage.py will skip"

# Prism checks Xero traffic against Xero's OpenAPI description (tests marked xero_prism, in
# tests/sandbox/xero/test_xero_prism.py). Without it those tests skip, except under CI.
prism: $(PRISM)
$(PRISM):
	(command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q nodejs npm)) \
		&& npm install --loglevel=error --no-audit --no-fund --prefix .prism @stoplight/prism-cli@$(PRISM_VERSION) \
		|| echo "Prism could not be installed: the Xero tests marked xero_prism will skip"

$(INSTALLED_MIN): pyproject.toml $(INSTALLED)
	test -x $(VENV_MIN)/bin/python || $(BIN)/uv venv --quiet --python $(BIN)/python $(VENV_MIN)
	$(BIN)/uv pip install --quiet --python $(VENV_MIN)/bin/python $(DEV) $(MIN_PINS)
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The suite on the latest Airflow, then on the lowest supported one.
test: lint xmlserializer test-latest test-min

# .NET's XmlSerializer (Mono, from Debian's packages; about 10 s as root) reads our XML in
# tests/glexport/test_xmlserializer.py. Without root the tests skip, except under CI.
MONO_PACKAGES := mono-mcs mono-runtime libmono-system-xml4.0-cil libmono-system-core4.0-cil
xmlserializer:
	command -v mcs >/dev/null || (apt-get update -q && apt-get install -y -q --no-install-recommends $(MONO_PACKAGES)) \
		|| echo "Mono could not be installed: tests/glexport/test_xmlserializer.py will skip"

# Each suite is bounded (a test that hangs, e.g. a DAG run waiting for an approval nobody gives,
# fails the run in minutes, not at CI's limit); a whole suite takes 7 to 11 minutes.
SUITE_LIMIT := timeout --kill-after=30 1500

test-latest: $(INSTALLED) $(AZURITE) $(PRISM)
	$(SUITE_LIMIT) $(BIN)/pytest

test-min: $(INSTALLED_MIN) $(PRISM)
	$(VENV_MIN)/bin/python -c 'import airflow; print("Airflow", airflow.__version__)'
	$(SUITE_LIMIT) $(VENV_MIN)/bin/pytest

# The Airflow UI in headless Chromium (Debian's package; installed here if missing, as root).
# Latest Airflow only: the UI is Airflow's, our part of it is the provider metadata.
e2e: $(INSTALLED) $(PRISM)
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(DEV_LATEST) --group e2e
	$(BIN)/pytest -m e2e tests/e2e

# A distributed Airflow on loopback (tests/e2e_celery): CeleryExecutor with two workers, Postgres
# and Redis (Debian's packages, installed here if missing, as root), output on moto's S3. Bounded:
# after 10 minutes, SIGTERM lets the test stop every server it started.
.PHONY: e2e-celery
e2e-celery: $(INSTALLED)
	test -x /usr/bin/redis-server && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q --no-install-recommends postgresql redis-server)
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(DEV_LATEST) --group e2e-celery
	timeout --kill-after=60 600 $(BIN)/pytest -m e2e_celery tests/e2e_celery

demo: $(INSTALLED)
	$(BIN)/python scripts/demo.py

# Performance figures: the writer against its alternatives, the task's memory, references end to end.
bench: $(INSTALLED)
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(DEV) --group bench
	$(BIN)/python bench/writer.py
	$(BIN)/python bench/export_memory.py
	$(BIN)/python bench/references.py
	$(BIN)/python bench/xero_load.py

# The docs site (docs/, Sphinx + MyST): every warning fails, so does a broken internal reference
# or an example include whose [START]/[END] marker is gone.
.PHONY: docs
docs: $(INSTALLED)
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(DEV_LATEST) --group docs
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) $(VENV_MIN) .demo .pytest_cache .ruff_cache docs/_build .azurite .prism
