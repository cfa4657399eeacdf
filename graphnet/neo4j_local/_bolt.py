"""The one place in neo4j_local that talks Bolt: the readiness probe of `start`."""

from __future__ import annotations

from enum import Enum


class Probe(Enum):
    OK = "ok"  # authenticated `RETURN 1` on the default database answered
    CHANGED = "changed"  # the server still had neo4j/neo4j; it now has our password
    UNAVAILABLE = "unavailable"  # not listening yet, or the database is still starting
    AUTH_FAILED = "auth_failed"  # neither our password nor the default one is accepted


def probe(uri: str, password: str, timeout: float = 5.0) -> Probe:
    """Run `RETURN 1` as `neo4j` with `password`; set it if the server still has the default.

    The fallback (`ALTER CURRENT USER ... FROM 'neo4j'`, password as a query parameter)
    covers a server whose initial password file was not applied.
    """
    from neo4j import Driver, GraphDatabase
    from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable

    def driver(secret: str) -> Driver:
        return GraphDatabase.driver(
            uri, auth=("neo4j", secret), connection_timeout=timeout, max_connection_pool_size=1
        )

    try:
        with driver(password) as drv:
            records, _, _ = drv.execute_query("RETURN 1 AS ok", database_="neo4j")
            return Probe.OK if records and records[0]["ok"] == 1 else Probe.UNAVAILABLE
    except AuthError:
        pass
    except (ServiceUnavailable, DriverError, Neo4jError, OSError):
        return Probe.UNAVAILABLE
    try:
        with driver("neo4j") as drv:
            drv.execute_query(
                "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                old="neo4j",
                new=password,
                database_="system",
            )
        return Probe.CHANGED
    except AuthError:
        return Probe.AUTH_FAILED
    except (ServiceUnavailable, DriverError, Neo4jError, OSError):
        return Probe.UNAVAILABLE
