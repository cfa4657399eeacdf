"""graphnet's own Neo4j 5.26 Community server, provisioned from Maven Central (no Docker).

Public API (used by `graphnet neo4j ...` and by `graphnet.connection.neo4j_settings`):

- `install(home)` -> Installation: download the jars once into `$GRAPHNET_HOME/neo4j/dist/<version>`
- `start(home, instance, bolt_port, http_port, heap, pagecache, timeout)` -> Neo4jStatus
- `stop(home, instance)` -> Neo4jStatus
- `status(home, instance)` -> Neo4jStatus
- `logs(home, instance, lines)` -> str
- `connection_for(home)` -> graphnet.config.Neo4jSettings (origin "local")
- `reveal_password_path(home, instance)` -> Path of the 0600 password file
- `remove_instance(home, instance)`: delete a stopped instance's folder
- `import_full(home, instance, files, after_start=...)` -> ImportReport: stop, load an empty
  graph with `neo4j-admin database import full` (files from `graphnet.store.bulk`), start
- `import_pending(home, instance)`: a bulk import did not complete (load again from scratch)
"""

from graphnet.neo4j_local.bulk import (
    ImportFiles,
    ImportReport,
    ImportSource,
    import_full,
    import_pending,
)
from graphnet.neo4j_local.dist import (
    BROWSER_VERSION,
    NEO4J_VERSION,
    Installation,
    install,
    installed,
)
from graphnet.neo4j_local.server import (
    DEFAULT_INSTANCE,
    INSTANCE_ENV,
    Neo4jStatus,
    connection_for,
    find_free_port,
    instance_dir,
    logs,
    port_in_use,
    remove_instance,
    reveal_password_path,
    start,
    status,
    stop,
)

__all__ = [
    "BROWSER_VERSION",
    "DEFAULT_INSTANCE",
    "INSTANCE_ENV",
    "NEO4J_VERSION",
    "ImportFiles",
    "ImportReport",
    "ImportSource",
    "Installation",
    "Neo4jStatus",
    "connection_for",
    "find_free_port",
    "import_full",
    "import_pending",
    "install",
    "installed",
    "instance_dir",
    "logs",
    "port_in_use",
    "remove_instance",
    "reveal_password_path",
    "start",
    "status",
    "stop",
]
