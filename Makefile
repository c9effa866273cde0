# totalplace: the two commands a new user needs are `make demo` and `make test`.
# Everything is installed by this file into .venv; a fresh machine needs only Python 3.11+ and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RESIDENTS ?= 100000
SEED ?= 1
DEMO_DIR ?= demo/anytown
PYTEST_ARGS ?=
# Test workers (pytest-xdist): each test folder is one unit of work, Spark tests one (tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: help setup demo test test-fast bench lint clean java chromium

help:
	@echo "make demo    build the demo place (Anytown, $(RESIDENTS) residents) and run every stage"
	@echo "make test    install with dev extras and run the whole test suite"
	@echo "make setup   install only (idempotent)"
	@echo "make bench   run the benchmarks (results in benchmarks/results/)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files make setup idempotent and fast when nothing changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed

# pyspark needs a Java runtime (17+); install Debian's when none is on the PATH.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "Installing a Java runtime for Spark (Debian default-jre-headless)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq default-jre-headless >/dev/null; }

# The browser tests drive Debian's chromium with Playwright (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

demo: $(VENV)/.installed
	$(BIN)/totalplace demo --residents $(RESIDENTS) --seed $(SEED) --out $(DEMO_DIR)

test: $(VENV)/.installed-dev java chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow and not spark" -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev java chromium
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo build *.egg-info src/*.egg-info
