"""The one door to the database.

Only this package imports `neo4j`. Every statement lives in `graphnet/cypher/<name>.cypher` and
is run by name with `$parameters`; writes go through managed transactions that the driver retries on
transient errors and lost connections.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import neo4j
import pandas as pd
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from graphnet.config import Neo4jSettings
from graphnet.connection import neo4j_settings
from graphnet.errors import Neo4jUnavailable, StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: One-time rewrites of what older graphnet versions stored, applied in order the first time a
#: Store uses a graph: `graphnet/cypher/<name>.cypher`, one auto-commit statement each (batched
#: by `$rows`), idempotent, so that a killed run is completed by the next; recorded by name in
#: `(:GraphMeta {key: 'migrations'}).done`.
MIGRATIONS = ("edge_keys_v2", "talked_summary_v3")
#: rows per transaction of a migration
MIGRATION_ROWS = 10_000


@cache
def cypher(name: str) -> str:
    """The text of `graphnet/cypher/<name>.cypher` (package data), comment lines removed."""
    try:
        text = resources.files("graphnet.cypher").joinpath(f"{name}.cypher").read_text("utf-8")
    except FileNotFoundError:
        raise KeyError(f"no Cypher statement named {name!r}") from None
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("//")]
    return "\n".join(lines).strip().rstrip(";")


def statements(name: str) -> list[str]:
    """A file of several `;`-separated statements (only the schema file is allowed that)."""
    return [s.strip() for s in cypher(name).split(";") if s.strip()]


def _unavailable(settings: Neo4jSettings, exc: Exception) -> Neo4jUnavailable:
    if settings.origin == "local":
        hint = (
            "start graphnet's Neo4j with `graphnet neo4j start` (status: `graphnet neo4j status`)"
        )
    else:
        hint = "check NEO4J_URI, that the server is running, and NEO4J_USER/NEO4J_PASSWORD"
    if isinstance(exc, AuthError):
        return Neo4jUnavailable(f"Neo4j at {settings.uri} refused the credentials", hint=hint)
    return Neo4jUnavailable(f"no Neo4j answers at {settings.uri}", hint=hint)


class Tx:
    """What a transaction function sees: run statements by name."""

    def __init__(self, tx: neo4j.ManagedTransaction) -> None:
        self._tx = tx

    def run(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self._tx.run(cypher(name), params).data()

    def values(self, name: str, **params: Any) -> list[list[Any]]:
        """Rows as lists of plain values (cheaper than `run` for many rows)."""
        return self._tx.run(cypher(name), params).values()


class Store:
    def __init__(self, settings: Neo4jSettings, *, retry_seconds: float = 60.0) -> None:
        self.settings = settings
        self._retry_seconds = retry_seconds
        self._driver = self._new_driver()
        self._schema_ready = False

    # -- plumbing ---------------------------------------------------------------------------
    def _new_driver(self) -> neo4j.Driver:
        return neo4j.GraphDatabase.driver(
            self.settings.uri,
            auth=(self.settings.user, self.settings.password),
            max_transaction_retry_time=self._retry_seconds,
            notifications_min_severity="WARNING",
            connection_acquisition_timeout=30.0,
        )

    def close(self) -> None:
        self._driver.close()

    def reconnect(self) -> None:
        """Drop every connection and connect afresh: the server was restarted on another
        database (a bulk import, graphnet.store.bulk). The schema (and the MIGRATIONS check) is
        applied again on the next use, as on a new Store."""
        self._driver.close()
        self._driver = self._new_driver()
        self._schema_ready = False

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[neo4j.Session]:
        try:
            with self._driver.session(database=self.settings.database) as session:
                yield session
        except (ServiceUnavailable, SessionExpired, AuthError) as exc:
            raise _unavailable(self.settings, exc) from exc
        except Neo4jError as exc:
            raise StoreError(
                f"Neo4j error {exc.code}: {exc.message}",
                hint="the operation can be re-run safely",
            ) from exc

    def ping(self) -> str:
        """Check that the server answers with our credentials; return its version."""
        try:
            self._driver.verify_connectivity()
            info = self._driver.get_server_info()
        except (ServiceUnavailable, SessionExpired, AuthError, OSError) as exc:
            raise _unavailable(self.settings, exc) from exc
        return str(info.agent)

    # -- running statements -------------------------------------------------------------------
    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        self.ensure_schema()
        query = cypher(name)
        with self._session() as s:
            return s.execute_read(lambda tx: tx.run(query, params).data())

    def frame(self, name: str, **params: Any) -> pd.DataFrame:
        return pd.DataFrame(self.read(name, **params))

    def read_values(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """As `read`, for statements whose columns are plain values (numbers, strings, lists
        and maps of them): the records' values as the driver decoded them, without the
        per-value conversion `read` makes (nodes, relationships and paths to dicts), which
        dominates a large result. For large results, a statement returns a few rows of long
        lists (`collect`): decoding those is several times faster than as many rows."""
        self.ensure_schema()
        query = cypher(name)

        def values(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            result = tx.run(query, params)
            keys = result.keys()
            return [dict(zip(keys, record.values(), strict=True)) for record in result]

        with self._session() as s:
            return s.execute_read(values)

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        self.ensure_schema()
        query = cypher(name)
        with self._session() as s:
            return s.execute_write(lambda tx: tx.run(query, params).data())

    def transaction(self, fn: Callable[[Tx], T]) -> T:
        """Run fn in one managed write transaction (retried as a whole on transient errors)."""
        self.ensure_schema()
        with self._session() as s:
            return s.execute_write(lambda tx: fn(Tx(tx)))

    def write_batches(
        self,
        name: str,
        rows: Iterable[dict[str, Any]],
        batch_size: int = 5000,
        progress: Callable[[int], None] | None = None,
        **params: Any,
    ) -> int:
        """`UNWIND $rows AS row ...` in batches, one transaction each. Returns rows written."""
        done = 0
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                self.write(name, rows=batch, **params)
                done += len(batch)
                batch = []
                if progress:
                    progress(done)
        if batch:
            self.write(name, rows=batch, **params)
            done += len(batch)
            if progress:
                progress(done)
        return done

    # -- schema ------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Apply graphnet/cypher/schema.cypher (idempotent: CREATE ... IF NOT EXISTS), then the
        MIGRATIONS the graph has not recorded yet."""
        if self._schema_ready:
            return
        self._schema_ready = True
        try:
            with self._session() as s:
                for stmt in statements("schema"):
                    for attempt in range(1, 6):
                        try:
                            s.run(stmt).consume()
                            break
                        except Neo4jError as exc:
                            # another process created the same rule at the same moment
                            if "AlreadyExists" in (exc.code or ""):
                                break
                            # or its schema statements deadlocked with these: try again
                            if not exc.is_retryable() or attempt == 5:
                                raise
                            time.sleep(0.2 * attempt)
                s.run("CALL db.awaitIndexes(300)").consume()
                self._migrate(s)
        except BaseException:
            self._schema_ready = False
            raise

    def _migrate(self, s: neo4j.Session) -> None:
        """Apply the MIGRATIONS this graph has not recorded, in order (see MIGRATIONS)."""
        done = set(s.run(cypher("graphmeta_migrations")).single(strict=True)["done"])
        for name in MIGRATIONS:
            if name in done:
                continue
            log.info("migrating the graph: %s (once)", name)
            for attempt in range(1, 6):
                try:
                    s.run(cypher(name), {"rows": MIGRATION_ROWS}).consume()
                    break
                except Neo4jError as exc:
                    # another process migrating the same graph at the same moment: try again
                    if not exc.is_retryable() or attempt == 5:
                        raise
                    time.sleep(0.2 * attempt)
            s.execute_write(_record_migration, name)

    def clear(self) -> None:
        """Delete every node and relationship, in bounded transactions (tests, `graphnet reset`)."""
        while self.write("delete_some", limit=10000)[0]["deleted"]:
            pass


def _record_migration(tx: neo4j.ManagedTransaction, name: str) -> None:
    tx.run(cypher("graphmeta_migrated"), name=name).consume()


def open_store(settings: Neo4jSettings | None = None) -> Store:
    """A Store on the configured server (NEO4J_URI or graphnet's local Neo4j), checked to answer."""
    store = Store(settings or neo4j_settings())
    try:
        store.ping()
    except BaseException:
        store.close()
        raise
    return store
