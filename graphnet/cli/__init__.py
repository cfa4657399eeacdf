"""The `graphnet` command: a thin layer over the library.

Each command builds settings, calls one graphnet function and maps named errors to a one-line
message (plus what to do next) and an exit code. Logging handlers are set here only
(`common`).

The commands live in one module per concern and register themselves on `app` when imported:
common (the app, consoles, logging, error mapping, shared helpers and options), neo4j (the
local server), data (ingest, stats, generate, reset), analysis (the detectors, analyse, risk,
findings, evaluate), feedback (analyst verdicts), demo, operate (schedule, report, browser).
The import order below is the order of `graphnet --help`.
"""

from __future__ import annotations

# isort: off
from graphnet.cli.common import app
from graphnet.cli import neo4j  # noqa: F401  (sub-app `neo4j`)
from graphnet.cli import data  # noqa: F401  (ingest, stats, generate, reset)
from graphnet.cli import analysis  # noqa: F401  (snapshot ... evaluate)
from graphnet.cli import feedback  # noqa: F401  (sub-app `feedback`)
from graphnet.cli import demo  # noqa: F401  (demo)
from graphnet.cli import operate  # noqa: F401  (report, browser, sub-app `schedule`)

# isort: on

__all__ = ["app"]
