# make demo: set up .venv from scratch and run the main job on the bundled example.
# make test: set up .venv from scratch, lint (ruff), check the import contracts (import-linter) and the
# runtime's types (mypy: the stages, catalog, workflow, web, CLI and API; files in pyproject.toml), then run the tests.
# make ultralytics-env: Ultralytics' test environment (.venv-ultralytics, about 6 GiB, built once), a test tool
# only (AGPL-3.0, never a sitewatch dependency): tests/ultralytics_env.sh; its tests skip, saying why, without it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean ultralytics-env

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[all,train,test,web-test]"
	touch $(STAMP)

ultralytics-env:
	PYTHON=$(PYTHON) bash tests/ultralytics_env.sh

demo: $(STAMP)
	$(BIN)/sitewatch demo --out sitewatch-demo

# Catalog tests run on SQLite and, when SITEWATCH_TEST_PG_URL names a server, on PostgreSQL
# (.ci/run installs and starts one); without it the PostgreSQL cases skip and say why.
test: $(STAMP) ultralytics-env
	@if [ -z "$$SITEWATCH_TEST_PG_URL" ]; then echo "make test: SITEWATCH_TEST_PG_URL is unset, PostgreSQL cases will skip (see .ci/run)"; \
	else echo "make test: catalog tests on SQLite and on PostgreSQL"; fi
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) sitewatch-demo sitewatch-data .venv-ultralytics .venv-ultralytics.failed .venv-ultralytics.log
