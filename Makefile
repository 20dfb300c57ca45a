# churnml: build, install, demo, test and benchmark.
#
#   make demo   install everything, start the embedded server, load demo data, show the call-center answer,
#               then a drift alert and a gated retrain on simulated months
#   make test   install everything and run the whole test suite against a real server
#
# Both are safe to re-run. Variables you may set:
#   PG_CONFIG=/path/to/pg_config   install into that PostgreSQL (default: Debian's 15)
#   RUNTIME_ROOT=/dir              where the backend's Python runtime goes (default /usr/local/lib/churnml as root)
#   CHURNML_HOME=/dir              where the embedded server keeps its state (see docs/install.md)

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

EXTENSION := churnml
# The version lives only in the control file.
VERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" extension/churnml.control)

PG_MAJOR ?= 15
# Lazily evaluated (=): on a fresh machine pg_config exists only after `make deps`.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config) pg_config)
BACKEND_PYTHON = $(shell extension/tools/backend-python.sh $(PG_CONFIG))

IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
ifeq ($(IS_ROOT),yes)
RUNTIME_ROOT ?= /usr/local/lib/churnml
else
RUNTIME_ROOT ?= $(HOME)/.local/lib/churnml
endif
RUNTIME_DIR := $(RUNTIME_ROOT)/$(VERSION)
RUNTIME_SITE := $(RUNTIME_DIR)/site

VENV := .venv
CHURNML := $(VENV)/bin/churnml
PIP_INSTALL := pip install --disable-pip-version-check --progress-bar on -c requirements/constraints.txt
# This machine's pip configuration names local package directories that lack some
# packages; pip says so for each one. Those lines are noise, not problems.
PIP_QUIET_NOISE := grep -v -e "^WARNING: Location 'file:" || true
APT_PACKAGES := postgresql-$(PG_MAJOR) postgresql-plpython3-$(PG_MAJOR) postgresql-server-dev-$(PG_MAJOR) postgresql-$(PG_MAJOR)-cron \
	python3-venv python3-dev libpostgresql-jdbc-java default-jdk-headless

# The extensions (churnml and churnml_aws: SQL, upgrade scripts, C) are built and installed by
# their own PGXS Makefiles, extension/Makefile and extension/aws/Makefile; this one calls them.
PGXS_MAKE = $(MAKE) --no-print-directory -C extension PG_CONFIG='$(PG_CONFIG)'

PY_SOURCES := $(shell find python_udfs loaders client -name '*.py' -not -path '*/__pycache__/*')

# The backend's CPython extensions (the tree evaluator, the sentiment encoder, the COPY row
# scanner) are setuptools ext_modules of the backend distribution (setup.py): `pip install -e .`
# builds them in place, next to their packages, which make install copies into the runtime.
NATIVE_SOURCES := $(wildcard python_udfs/churnml/*/_*.c loaders/churnml_loaders/_*.c)
NATIVE_STAMP := $(VENV)/.native

.PHONY: all deps build venv native runtime install installcheck demo test test-fast bench docs lint lock clean uninstall

all: build

## deps: Debian packages (only as root; otherwise say what is missing)
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$(IS_ROOT)" = yes ]; then \
		echo "==> apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "missing Debian packages: $$missing (run as root, or: sudo apt-get install $$missing)" >&2; exit 1; \
	fi

## build: the extensions (install scripts from sql/, churnml.so, churnml_aws.so), with PGXS
build: deps
	@$(PGXS_MAKE)

## venv: the client environment (.venv/bin/churnml, pytest, dask for `churnml train --engine dask`),
##       built with the backend's Python; requirements/client.in never reaches the backend runtime
venv: deps $(VENV)/.installed

$(VENV)/.installed: requirements/constraints.txt requirements/runtime.in requirements/dev.in requirements/client.in pyproject.toml client/pyproject.toml
	@echo "==> creating $(VENV) with $(BACKEND_PYTHON)"
	@[ -x $(VENV)/bin/python ] || $(BACKEND_PYTHON) -m venv $(VENV)
	@$(VENV)/bin/$(PIP_INSTALL) -q -r requirements/runtime.in -r requirements/dev.in -r requirements/client.in 2>&1 | { $(PIP_QUIET_NOISE); }
	@$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@# the client after the backend: it owns the `churnml` script, which 0.2.0's single distribution had
	@$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e client
	@touch $@

## native: the backend's CPython extensions, built by setuptools (setup.py) in place (a compiler and the
##         backend Python's headers are Debian packages in deps)
native: venv $(NATIVE_STAMP)

$(NATIVE_STAMP): setup.py pyproject.toml $(NATIVE_SOURCES)
	@echo "==> building the CPython extensions (setup.py ext_modules)"
	@$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . 2>&1 | { $(PIP_QUIET_NOISE); }
	@touch $@

## runtime: pinned packages + churnml's Python code in a versioned directory the server can read
runtime: venv native
	@extension/tools/install-runtime.sh "$(VENV)/bin/python" "$(RUNTIME_DIR)" "$(VERSION)"

## install: the extensions into PostgreSQL (PGXS: sharedir/extension, pkglibdir), the runtime, and .venv
install: deps build venv runtime
	@echo "==> installing the extensions into $$($(PG_CONFIG) --sharedir)/extension and $$($(PG_CONFIG) --pkglibdir)"
	@$(PGXS_MAKE) -s install
	@$(VENV)/bin/python -m churnml_client.install_info write --pg-config "$(PG_CONFIG)" \
		--runtime-site "$(RUNTIME_SITE)" --version "$(VERSION)"
	@echo "==> churnml $(VERSION) installed. The server needs PYTHONPATH=$(RUNTIME_SITE) in its environment" \
	      "(the embedded server gets it automatically; see docs/install.md for an existing server)."

uninstall:
	$(PGXS_MAKE) uninstall
	rm -rf "$(RUNTIME_DIR)"

## demo: the call-center flow on the embedded server
demo: install
	@$(CHURNML) db start
	@$(CHURNML) data generate --customers 10000 --seed 42 --months 4
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/train_churn.sql
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/call_center.sql
	@$(CHURNML) s3 start
	@$(CHURNML) export "SELECT * FROM customers" s3://churnml/incoming/customers --header --no-manifest --overwrite --quiet
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/loaders.sql
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/closed_loop.sql
	@echo "==> the model report for Marketing:"
	@$(CHURNML) report churn --out reports/churn
	@echo "==> the retrained model's report, with its drift and realized performance in production:"
	@$(CHURNML) report churn_monthly --out reports/churn_monthly

## test: the whole suite against a real server (embedded, or CHURNML_TEST_DSN)
test: install
	@$(VENV)/bin/ruff check python_udfs loaders client tests bench
	@$(VENV)/bin/mypy
	@$(VENV)/bin/pytest

## installcheck: only the pg_regress contract tests (extension/test), against the test server
installcheck: install
	@$(VENV)/bin/pytest tests/extension/test_regress.py

## bench: benchmarks under bench/, results in bench/results/ and docs/benchmarks.md
bench: install
	@$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

## docs: docs/sql-reference.md from the catalog of a fresh database (tests/docs checks it is current)
docs: install
	@$(CHURNML) docs sql-reference

## lint: ruff, and mypy over the backend, loaders and client (configured in pyproject.toml)
lint: venv
	$(VENV)/bin/ruff check python_udfs loaders client tests bench
	$(VENV)/bin/mypy

## lock: re-resolve requirements/*.in into requirements/constraints.txt
lock: deps
	rm -rf .lock-venv && $(BACKEND_PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -r requirements/runtime.in -r requirements/dev.in -r requirements/client.in
	{ echo "# Pinned versions (pip constraints) for both the backend runtime and the client environment."; \
	  echo "# Regenerate with 'make lock' after changing requirements/*.in."; \
	  .lock-venv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > requirements/constraints.txt
	rm -rf .lock-venv

clean:
	-$(PGXS_MAKE) clean
	rm -f python_udfs/churnml/scoring/_native_trees*.so python_udfs/churnml/sentiment/_int8_encoder*.so loaders/churnml_loaders/_copy_rows*.so $(NATIVE_STAMP)
	rm -rf build *.egg-info python_udfs/*.egg-info .pytest_cache .ruff_cache .mypy_cache
