#!/usr/bin/env bash
# The test suite: installs what it needs, lints, type-checks, checks the allowed import
# directions, and runs every test (unit and integration against a real local Neo4j that the
# test session starts, or NEO4J_URI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The report test renders HTML in headless Chromium (Debian's package); install it when we can.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the report rendering test ..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the rendering test will be skipped" >&2
  else
    echo "note: chromium not found; the report rendering test will be skipped" >&2
  fi
fi
echo "== ruff" >&2
.venv/bin/ruff check .
echo "== mypy" >&2
.venv/bin/mypy
echo "== import contracts (allowed import directions, no cycles)" >&2
.venv/bin/lint-imports --no-cache
echo "== pytest" >&2
exec .venv/bin/python -m pytest -ra "$@"
