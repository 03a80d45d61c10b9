# delivery_linkage — every target sets itself up; `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1

.PHONY: setup demo test lint lint-sql lint-python stress bench validate report evaluate db-start db-stop clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# headless Chromium renders the report in the tests (Debian's package; never a browser download)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "note: install Debian's chromium to run the report rendering test"
	touch $(STAMP)

demo: setup
	$(BIN)/linkage demo

test: setup lint
	$(BIN)/python -m pytest

lint: lint-sql lint-python

# sqlfluff with the dbt templater (.sqlfluff / .sqlfluffignore). The templater compiles the project, which
# reads the catalogs: libpq variables when set, else the embedded server.
lint-sql: setup
	@mkdir -p .dbt && cp profiles.example.yml .dbt/profiles.yml
	@if [ -z "$$PGHOST$$PGPORT$$PGUSER$$PGPASSWORD$$PGDATABASE" ]; then \
	    pgenv=$$($(BIN)/linkage db env --dbname postgres) || exit 1; eval "$$pgenv"; \
	fi; \
	DBT_PROFILES_DIR=$(CURDIR)/.dbt $(BIN)/sqlfluff lint models data-tests analyses macros

lint-python: setup
	$(BIN)/ruff check src tests

# the reliability suite at ten times its default size
stress: setup
	$(BIN)/python -m pytest -m reliability --stress

bench: setup
	$(BIN)/linkage bench

# dbt-labs' dbt-project-evaluator over the project, from local copies (not part of `make test`, no
# network): EVALUATOR_DIR (default vendor/dbt-project-evaluator) and DBT_UTILS_DIR (default
# vendor/dbt-utils); when absent it says where to put them. Exceptions kept on purpose, with reasons:
# tests/evaluator_project/seeds/dbt_project_evaluator_exceptions.csv.
evaluate: setup
	$(BIN)/python tests/evaluator_project/evaluate.py

validate: setup
	$(BIN)/linkage validate

report: setup
	$(BIN)/linkage report --out out/linkage-report.html

db-start: setup
	$(BIN)/linkage db start

db-stop: setup
	$(BIN)/linkage db stop

clean:
	rm -rf target target_* logs .dbt
