# Concord: what people do, as make targets. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## setup: create the virtualenv and install Concord with its development tools
setup: $(STAMP)

## demo: set up, then run the server with the demo world and the simulated scenario
demo: setup
	CONCORD_ENV=dev $(VENV)/bin/concord demo

## test: set up, then run every test (SQLite and a throw-away PostgreSQL)
test: setup
	scripts/test.sh

## test-fast: unit tests only
test-fast: setup
	$(PY) -m pytest tests/unit -q

## lint: formatting, lint, types and import contracts
lint: setup
	$(VENV)/bin/ruff format --check src
	$(VENV)/bin/ruff check src
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

## bench: run the benchmarks (prints JSON; figures go to docs/benchmarks.md)
bench: setup
	for b in bench/*.py; do case $$b in bench/_*) continue;; esac; echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var build dist src/*.egg-info
