# Margin: `make run` starts the app on the demo workspace; `make test` runs every check CI runs;
# `make check` runs the static part of it (no root, no services). `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BASELINE ?= scripts/report-baseline.sha256

.DEFAULT_GOAL := help
.PHONY: help run check test fmt bench compare-reports clean-venv

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-16s %s\n", $$1, $$2}'

run: $(VENV)/.runtime ## the app on http://localhost:8501 (the demo workspace if the store is empty)
	$(PY) -c "from margin_core import demo; demo.ensure_demo()"
	$(VENV)/bin/streamlit run app.py

check: $(VENV)/.dev ## format, lint, types, import contracts: no root, no services
	bash scripts/check.sh

test: $(VENV)/.dev ## what CI runs: Debian packages, a throwaway PostgreSQL, `make check`, then pytest
	bash scripts/test.sh

fmt: $(VENV)/.dev ## ruff format and ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.dev ## the workload-L timings (needs a generated store, see README)
	$(PY) bench/run.py

compare-reports: $(VENV)/.dev ## every CLI report on fixed stores, byte for byte against BASELINE (dir or SHA256SUMS)
	$(PY) scripts/compare_reports.py --out /tmp/margin-reports --against $(BASELINE)

clean-venv: ## remove the virtualenv
	rm -rf $(VENV)
