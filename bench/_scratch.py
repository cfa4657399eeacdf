"""A throw-away graphnet Neo4j instance for benchmarks and evaluations that wipe their graph.

With NEO4J_URI set, that server is used instead (and wiped: point it at a scratch server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from graphnet import neo4j_local
from graphnet.config import Neo4jSettings, graphnet_home
from graphnet.connection import neo4j_settings


@contextmanager
def scratch_neo4j(
    instance: str, heap: str = "2g", pagecache: str = "1g"
) -> Iterator[Neo4jSettings]:
    """Start `instance` on free ports (installing Neo4j once), export NEO4J_* for child
    processes, and stop and remove it afterwards."""
    if os.environ.get("NEO4J_URI"):
        yield neo4j_settings()
        return
    home = graphnet_home()
    neo4j_local.install(home)
    st = neo4j_local.start(
        home,
        instance=instance,
        bolt_port=neo4j_local.find_free_port(),
        http_port=neo4j_local.find_free_port(),
        heap=heap,
        pagecache=pagecache,
    )
    settings = neo4j_local.connection_for(home, instance)
    saved = {k: os.environ.get(k) for k in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD_FILE")}
    os.environ.update(
        NEO4J_URI=st.bolt_uri,
        NEO4J_USER=settings.user,
        NEO4J_PASSWORD_FILE=str(neo4j_local.reveal_password_path(home, instance)),
    )
    try:
        yield settings
    except BaseException:
        print(neo4j_local.logs(home, instance, 30))
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        neo4j_local.stop(home, instance)
        neo4j_local.remove_instance(home, instance)
