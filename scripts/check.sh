#!/usr/bin/env bash
# The static gate: format, lint, types and import contracts. No root, no services, no network;
# `make check` runs it alone, and scripts/test.sh runs it before pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

echo "== ruff format";      "$VENV/bin/ruff" format --check .
echo "== ruff check";       "$VENV/bin/ruff" check .
echo "== mypy";             "$VENV/bin/mypy"
echo "== import contracts"; "$VENV/bin/lint-imports"
