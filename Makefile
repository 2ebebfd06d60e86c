# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint test-deps bench clean

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

## test-deps: the Debian programs the tests drive (Chromium for the dashboard, Alertmanager for alert
##            delivery, Mosquitto for the broker-restart test, Prometheus with its promtool and Caddy
##            for deploy/), installed with apt (as root) in one go when any is missing
TEST_DEBS := /usr/bin/chromium:chromium /usr/bin/prometheus-alertmanager:prometheus-alertmanager \
	/usr/sbin/mosquitto:mosquitto /usr/bin/prometheus:prometheus /usr/bin/promtool:prometheus \
	/usr/bin/caddy:caddy
test-deps:
	@missing=""; for pair in $(TEST_DEBS); do test -x "$${pair%%:*}" || missing="$$missing $${pair##*:}"; done; \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; then \
	    echo "test-deps: installed$$missing"; \
	else echo "test-deps: could not install$$missing with apt: the tests that need them skip (fail under CI=true)"; fi

## test: lint, then the whole suite against real DuckDB files and real servers on loopback,
##       spread over TEST_WORKERS pytest-xdist processes (a test file stays on one worker, so a
##       module's server starts once); make test TEST_WORKERS=0 runs it in this one process
TEST_WORKERS ?= 2
test: lint test-deps
	$(BIN)/pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.bench-*
	touch $(BENCH_STAMP)

## bench: ingest benchmarks against InfluxDB, VictoriaMetrics, PostgreSQL, SQLite and DuckDB;
##        results written to benchmarks/results/. Options: make bench BENCH_ARGS='--meters 100 --days 7'
##        (python benchmarks/run.py --help). The peers' servers come from Debian (apt, as root), once;
##        without apt those peers are reported as skipped.
bench: $(BENCH_STAMP)
	@if command -v influxd >/dev/null && command -v victoria-metrics >/dev/null; then :; \
	elif command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb victoria-metrics >/dev/null; then \
	    echo "bench: installed influxdb and victoria-metrics"; \
	else echo "bench: could not install influxdb and victoria-metrics with apt: those peers will be skipped"; fi
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
