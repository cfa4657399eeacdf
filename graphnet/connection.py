"""Which Neo4j server a command talks to.

It sits above `graphnet.config` (the settings types and the `NEO4J_*` environment) and
`graphnet.neo4j_local` (graphnet's own server, which uses config): config imports neither.
"""

from __future__ import annotations

from pathlib import Path

from graphnet.config import Neo4jSettings, graphnet_home, neo4j_settings_from_env
from graphnet.neo4j_local import connection_for


def neo4j_settings(home: Path | None = None) -> Neo4jSettings:
    """The server every command talks to.

    `NEO4J_URI` (+ `NEO4J_USER`, `NEO4J_PASSWORD` or `NEO4J_PASSWORD_FILE`) selects an existing
    server; otherwise graphnet's local server under `$GRAPHNET_HOME` is used.
    """
    settings = neo4j_settings_from_env()
    if settings is not None:
        return settings
    return connection_for(home or graphnet_home())
