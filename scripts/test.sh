#!/usr/bin/env bash
# The test suite: installs what it needs, lints, type-checks, and runs every test (unit and
# integration against a real local Neo4j that the test session starts, or NEO4J_URI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== ruff" >&2
.venv/bin/ruff check .
echo "== mypy" >&2
.venv/bin/mypy
echo "== pytest" >&2
exec .venv/bin/python -m pytest -ra "$@"
