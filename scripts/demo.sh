#!/usr/bin/env bash
# The main job, end to end: install graphnet, start its local Neo4j, generate a realistic
# 4-week network with planted attacks, ingest it, run every analysis, and print what was found
# next to the ground truth and where to look in Neo4j Browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/graphnet neo4j start
exec .venv/bin/graphnet demo "$@"
