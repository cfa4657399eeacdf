#!/usr/bin/env bash
# Create .venv with graphnet and its dev tools (idempotent). Needs Python >= 3.11; Neo4j itself
# needs Java 17 and Maven, which `graphnet neo4j install` uses to fetch the server jars.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "error: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "warning: '$tool' not found: graphnet's local Neo4j needs Java 17 and Maven" \
         "(or point NEO4J_URI at an existing server)" >&2
  fi
done

stamp=.venv/.graphnet-installed
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing graphnet and its dependencies into .venv ..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
