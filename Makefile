# churnml: build, install, demo, test and benchmark.
#
#   make demo   install everything, start the embedded server, load demo data, show the call-center answer
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
SHAREDIR = $(shell $(PG_CONFIG) --sharedir)
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
APT_PACKAGES := postgresql-$(PG_MAJOR) postgresql-plpython3-$(PG_MAJOR) postgresql-server-dev-$(PG_MAJOR) \
	python3-venv python3-dev libpostgresql-jdbc-java default-jdk-headless

BUILT_SQL := extension/$(EXTENSION)--$(VERSION).sql
SQL_SOURCES := $(sort $(wildcard sql/*.sql))
# Upgrade scripts (extension/<ext>--<release>--$(VERSION).sql) are built from the
# hand-written deltas in sql/upgrades/ and the new install script: see extension/tools/build_upgrades.py.
UPGRADE_DELTAS := $(wildcard sql/upgrades/*.sql sql/aws/upgrades/*.sql)
UPGRADES_STAMP := build/upgrades-$(VERSION).stamp
# churnml_aws, the opt-in Aurora-compatibility extension: SQL from sql/aws/, one C function.
AWS_BUILT_SQL := extension/churnml_aws--$(VERSION).sql
AWS_CONTROL := extension/churnml_aws.control
AWS_SQL_SOURCES := $(sort $(wildcard sql/aws/*.sql))
AWS_MODULE := build/churnml_aws.so
AWS_C_SOURCES := $(wildcard extension/aws/*.c)
# churnml.so, churnml's own C: only what PL/Python cannot do, or not fast or early enough (each file's
# header says which: bulk_scoring.c, copy_spool.c, limits.c, predict.c, progress.c, query_check.c).
CORE_MODULE := build/churnml.so
CORE_C_SOURCES := $(wildcard extension/core/*.c)
PKGLIBDIR = $(shell $(PG_CONFIG) --pkglibdir)

PY_SOURCES := $(shell find python_udfs loaders client -name '*.py' -not -path '*/__pycache__/*')

NATIVE_SRC := python_udfs/churnml/scoring/_native_trees.c
PY_EXT_SUFFIX = $(shell $(VENV)/bin/python -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
NATIVE_EXT = python_udfs/churnml/scoring/_native_trees$(PY_EXT_SUFFIX)
COPY_ROWS_SRC := loaders/churnml_loaders/_copy_rows.c
COPY_ROWS_EXT = loaders/churnml_loaders/_copy_rows$(PY_EXT_SUFFIX)
ENCODER_SRC := python_udfs/churnml/sentiment/_int8_encoder.c
ENCODER_EXT = python_udfs/churnml/sentiment/_int8_encoder$(PY_EXT_SUFFIX)

.PHONY: all deps build venv native runtime install demo test test-fast bench docs lint lock clean uninstall

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

## build: the install scripts, concatenated from sql/ (and sql/aws/) in file-name order
build: $(BUILT_SQL) $(AWS_BUILT_SQL) $(AWS_CONTROL) $(UPGRADES_STAMP)

$(UPGRADES_STAMP): $(BUILT_SQL) $(AWS_BUILT_SQL) $(UPGRADE_DELTAS) extension/tools/build_upgrades.py
	@mkdir -p build
	@python3 extension/tools/build_upgrades.py $(EXTENSION) $(VERSION) $(BUILT_SQL) sql/upgrades extension
	@python3 extension/tools/build_upgrades.py churnml_aws $(VERSION) $(AWS_BUILT_SQL) sql/aws/upgrades extension
	@touch $@

$(BUILT_SQL): $(SQL_SOURCES) extension/churnml.control
	@echo "==> building $@ from $(words $(SQL_SOURCES)) files in sql/"
	@build_id=$$(cat $(SQL_SOURCES) | sha256sum | cut -c1-16); \
	{ echo "-- churnml $(VERSION) install script, built by make from sql/*.sql: edit those, not this."; \
	   echo "-- build id: $$build_id"; \
	   echo '\echo Use "CREATE EXTENSION churnml" to load this file. \quit'; \
	   for f in $(SQL_SOURCES); do printf '\n-- ---- %s ----\n' "$$f"; cat "$$f"; done; \
	 } | sed -e 's/@EXTVERSION@/$(VERSION)/g' -e "s/@BUILD_ID@/$$build_id/g" > $@

$(AWS_BUILT_SQL): $(AWS_SQL_SOURCES) extension/churnml.control
	@echo "==> building $@ from $(words $(AWS_SQL_SOURCES)) files in sql/aws/"
	@{ echo "-- churnml_aws $(VERSION) install script, built by make from sql/aws/*.sql: edit those, not this."; \
	   echo '\echo Use "CREATE EXTENSION churnml_aws" to load this file. \quit'; \
	   for f in $(AWS_SQL_SOURCES); do printf '\n-- ---- %s ----\n' "$$f"; cat "$$f"; done; \
	 } | sed -e 's/@EXTVERSION@/$(VERSION)/g' > $@

$(AWS_CONTROL): extension/churnml_aws.control.in extension/churnml.control
	@sed -e 's/@EXTVERSION@/$(VERSION)/g' $< > $@

$(AWS_MODULE): $(AWS_C_SOURCES)
	@echo "==> compiling $@"
	@mkdir -p build
	@cc -O2 -fPIC -shared -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
		-I"$$($(PG_CONFIG) --includedir-server)" $(AWS_C_SOURCES) -o $@

$(CORE_MODULE): $(CORE_C_SOURCES)
	@echo "==> compiling $@"
	@mkdir -p build
	@cc -O2 -fPIC -shared -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
		-I"$$($(PG_CONFIG) --includedir-server)" $(CORE_C_SOURCES) -o $@

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

## native: the C tree evaluator, the COPY row scanner, the sentiment encoder and the extensions' C (a compiler and the backend Python's headers are Debian packages in deps)
native: venv
	@$(MAKE) --no-print-directory $(NATIVE_EXT) $(COPY_ROWS_EXT) $(ENCODER_EXT) $(AWS_MODULE) $(CORE_MODULE)

python_udfs/churnml/scoring/_native_trees.cpython-%.so: $(NATIVE_SRC)
	@echo "==> compiling $@"
	@cc -O3 -fPIC -shared -Wall -Wextra -Werror -I"$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
		$(NATIVE_SRC) -o $@ -lm -pthread

loaders/churnml_loaders/_copy_rows.cpython-%.so: $(COPY_ROWS_SRC)
	@echo "==> compiling $@"
	@cc -O3 -fPIC -shared -Wall -Wextra -Werror -I"$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
		$(COPY_ROWS_SRC) -o $@

# -fopenmp-simd: only the `#pragma omp simd` loop hints (reductions may be vectorized); no OpenMP runtime
python_udfs/churnml/sentiment/_int8_encoder.cpython-%.so: $(ENCODER_SRC)
	@echo "==> compiling $@"
	@cc -O3 -fopenmp-simd -fPIC -shared -Wall -Wextra -Werror -I"$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
		$(ENCODER_SRC) -o $@ -lm

## runtime: pinned packages + churnml's Python code in a versioned directory the server can read
runtime: venv native
	@extension/tools/install-runtime.sh "$(VENV)/bin/python" "$(RUNTIME_DIR)" "$(VERSION)"

## install: extension files into PostgreSQL's sharedir, the runtime, and .venv
install: deps build venv runtime
	@echo "==> installing extension files into $(SHAREDIR)/extension"
	@install -d "$(SHAREDIR)/extension"
	@install -m 644 extension/churnml.control $(BUILT_SQL) $$(ls extension/$(EXTENSION)--*--$(VERSION).sql 2>/dev/null) \
		"$(SHAREDIR)/extension/"
	@install -m 644 $(AWS_CONTROL) $(AWS_BUILT_SQL) $$(ls extension/churnml_aws--*--$(VERSION).sql 2>/dev/null) \
		"$(SHAREDIR)/extension/"
	@install -m 755 $(AWS_MODULE) $(CORE_MODULE) "$(PKGLIBDIR)/"
	@$(VENV)/bin/python -m churnml_client.install_info write --pg-config "$(PG_CONFIG)" \
		--runtime-site "$(RUNTIME_SITE)" --version "$(VERSION)"
	@echo "==> churnml $(VERSION) installed. The server needs PYTHONPATH=$(RUNTIME_SITE) in its environment" \
	      "(the embedded server gets it automatically; see docs/install.md for an existing server)."

uninstall:
	rm -f "$(SHAREDIR)/extension/churnml.control" "$(SHAREDIR)"/extension/churnml--*.sql
	rm -f "$(SHAREDIR)/extension/churnml_aws.control" "$(SHAREDIR)"/extension/churnml_aws--*.sql "$(PKGLIBDIR)/churnml_aws.so" "$(PKGLIBDIR)/churnml.so"
	rm -rf "$(RUNTIME_DIR)"

## demo: the call-center flow on the embedded server
demo: install
	@$(CHURNML) db start
	@$(CHURNML) data generate --customers 10000 --seed 42
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/train_churn.sql
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/call_center.sql
	@$(CHURNML) s3 start
	@$(CHURNML) export "SELECT * FROM customers" s3://churnml/incoming/customers --header --no-manifest --overwrite --quiet
	@$(CHURNML) db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f examples/loaders.sql
	@echo "==> the model report for Marketing:"
	@$(CHURNML) report churn --out reports/churn

## test: the whole suite against a real server (embedded, or CHURNML_TEST_DSN)
test: install
	@$(VENV)/bin/ruff check python_udfs loaders client tests bench
	@$(VENV)/bin/pytest

## bench: benchmarks under bench/, results in bench/results/ and docs/benchmarks.md
bench: install
	@$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

## docs: docs/sql-reference.md from the catalog of a fresh database (tests/docs checks it is current)
docs: install
	@$(CHURNML) docs sql-reference

lint: venv
	$(VENV)/bin/ruff check python_udfs loaders client tests bench

## lock: re-resolve requirements/*.in into requirements/constraints.txt
lock: deps
	rm -rf .lock-venv && $(BACKEND_PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -r requirements/runtime.in -r requirements/dev.in -r requirements/client.in
	{ echo "# Pinned versions (pip constraints) for both the backend runtime and the client environment."; \
	  echo "# Regenerate with 'make lock' after changing requirements/*.in."; \
	  .lock-venv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > requirements/constraints.txt
	rm -rf .lock-venv

clean:
	rm -f $(BUILT_SQL) $(AWS_BUILT_SQL) $(AWS_CONTROL) extension/*--*--*.sql python_udfs/churnml/scoring/_native_trees*.so python_udfs/churnml/sentiment/_int8_encoder*.so loaders/churnml_loaders/_copy_rows*.so
	rm -rf build *.egg-info python_udfs/*.egg-info .pytest_cache .ruff_cache
