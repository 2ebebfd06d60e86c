# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## run: start gridpulse on 127.0.0.1 with the embedded store and the demo data (loaded once)
run: install
	$(BIN)/gridpulse serve --demo

## lint: ruff, mypy (strict) and the import-layer contract
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: lint, then the whole suite against real DuckDB files and real servers on loopback
test: lint
	$(BIN)/pytest -q

## bench: the benchmarks in benchmarks/, results written to benchmarks/results/
bench: install
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
