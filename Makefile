# QBR warehouse. `make` alone prints this help.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QBR := $(BIN)/qbr
SINCE ?=
SOURCES ?=
DOCS_PORT ?=
PYTEST_ARGS ?=
SEED ?=
CHAOS_ARGS ?=
BENCH_PRESET ?= demo
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup demo refresh serve test lint format docs bench chaos clean db-start db-stop browser

help: ## show this help (bold target names only on a terminal)
	@if [ -t 1 ] && [ -z "$$NO_COLOR" ]; then b=$$(printf '\033[1m'); n=$$(printf '\033[0m'); else b=; n=; fi; \
	awk -v b="$$b" -v n="$$n" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-10s%s %s\n", b, $$1, n, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

VENDOR_STAMP := dashboard/static/vendor/uplot/.version

# the dashboard's chart library: a pinned npm tarball, sha512-checked (dashboard/vendor.py)
$(VENDOR_STAMP): dashboard/vendor.py | $(STAMP)
	$(BIN)/python -m dashboard.vendor

setup: $(STAMP) $(VENDOR_STAMP) ## create .venv and install everything (idempotent)

demo: setup ## database + sandbox + full refresh + API (gunicorn); prints URLs, key, how to stop
	$(QBR) demo

refresh: setup ## load every configured source and rebuild the marts (SINCE=YYYY-MM SOURCES=a,b)
	$(QBR) refresh $(if $(SINCE),--since $(SINCE)) $(if $(SOURCES),--sources $(SOURCES))

serve: setup ## run the API and dashboard under gunicorn (no refresh)
	$(QBR) serve

db-start: setup ## start the embedded PostgreSQL
	$(QBR) db start

db-stop: setup ## stop the embedded PostgreSQL
	$(QBR) db stop

lint: setup ## ruff + sqlfluff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m qbr.lint_sql

format: setup ## apply ruff formatting and sqlfluff fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser: ## Chromium + chromedriver for the dashboard's browser tests (apt-get as root)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else \
		echo "The dashboard's browser tests need chromium and chromedriver on PATH:"; \
		echo "  sudo apt-get install chromium chromium-driver   (Debian/Ubuntu)"; \
		exit 1; \
	fi

test: setup lint browser ## lint, then the whole test suite (throwaway databases)
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected: failing"; exit 1; fi; exit $$rc

docs: setup ## build and serve the dbt docs site (DOCS_PORT=N, default QBR_DOCS_PORT or 8080)
	$(QBR) docs --serve $(if $(DOCS_PORT),--port $(DOCS_PORT))

bench: setup ## refresh full/one-day/no-change vs floors, API, dashboard (BENCH_PRESET=large)
	$(BIN)/python -m bench --preset $(BENCH_PRESET)

chaos: setup ## fault suite: faults, kills, DB restart, bad files; prints a table (SEED=n to replay)
	$(BIN)/python -m qbr.app.chaos $(if $(SEED),--seed $(SEED)) $(CHAOS_ARGS)

clean: ## stop servers, remove .venv, build outputs and local data (.qbr)
	-@[ -x $(QBR) ] && $(QBR) sandbox down >/dev/null 2>&1 || true
	-@[ -x $(QBR) ] && $(QBR) db stop >/dev/null 2>&1 || true
	rm -rf $(VENV) .qbr dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
