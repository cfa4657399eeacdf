"""The first load of an empty graph: edges aggregated by the engine, loaded by the import tool.

When graphnet's own Neo4j holds no hosts and no ingested files (a first load, a backfill after
`graphnet reset`), ingest parses and archives the files as always, then, instead of writing
edges through Bolt transactions, aggregates every edge of the new files with the engine
(`graphnet/sql/ingest_edges.sql`, out of core) and loads hosts, edges and the ingest ledger with
`neo4j-admin database import full` (`graphnet.store.bulk`): the server is stopped, the files
are imported and it is started again. The edges are those the Bolt path writes for the same
files (`graphnet.accumulate.EdgeRows`): totals, the service/port/state histograms folded to the
top values and their readable summaries.

Exactly once: the ledger is imported with the graph, so the graph and the ledger appear
together. A run killed before the import leaves an empty graph and uncommitted archive files
(the next ingest removes them and starts again); one killed during the import leaves a marker
that the next start of the server sees: the half-imported database is replaced by an empty one
and the next ingest starts again; one killed after it has the ledger, and the next ingest adopts
its archive files (`Archive.ingesting`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from graphnet import accumulate
from graphnet.archive import Archive
from graphnet.features import COMPONENTS

log = logging.getLogger(__name__)

_TOTALS = ("conns", "src_bytes", "dst_bytes", "src_pkts", "dst_pkts", "duration")


def edge_rows(
    archive: Archive, shas: Sequence[str], top: int, batch_rows: int = 200_000
) -> Iterator[dict[str, Any]]:
    """The TALKED rows (`EdgeRows.slice` shapes) of the archived files `shas` (committed or
    not), streamed: the engine aggregates, Python only assembles each edge's lists."""
    with archive.session({}, staged={"new": shas, "seen": shas}, parts=["new"]) as s:
        yield from _assembled(s.batches("ingest_edges", {"top": top, "sensors": False},
                                        rows=batch_rows))


def window_edge_rows(
    archive: Archive,
    wins: Sequence[str],
    shas: Sequence[str],
    top: int,
    batch_rows: int = 200_000,
) -> Iterator[dict[str, Any]]:
    """The TALKED rows of whole windows as the detectors count their connections (committed
    files and those of the contents `shas`; a uid once, copies logged by several sensors
    once: `Archive.session`), with `sensors`, how many of the edge's connections each sensor
    logged (every copy). Streamed like `edge_rows`."""
    binding = {"new": (list(wins), list(shas), True), "seen": (list(wins), list(shas), False)}
    with archive.session({}, staged_windows=binding, parts=["new"]) as s:
        yield from _assembled(s.batches("ingest_edges", {"top": top, "sensors": True},
                                        rows=batch_rows))


def _assembled(batches: Iterable[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    """Edge rows from `ingest_edges.sql`'s rows (one per edge and listed value, by edge)."""
    assert set(accumulate.EDGE_COMPONENTS) <= set(COMPONENTS)
    current: dict[str, Any] | None = None
    key: tuple[str, str, str] | None = None
    for batch in batches:
        cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
        for i in range(batch.num_rows):
            k = (cols["src"][i], cols["dst"][i], cols["win"][i])
            if k != key:
                if current is not None:
                    yield _finish(current)
                key = k
                current = _start(cols, i)
            assert current is not None
            comp = cols["comp"][i]
            props = current["props"]
            props.setdefault(f"{comp}_k", []).append(cols["value"][i])
            props.setdefault(f"{comp}_n", []).append(int(cols["n"][i]))
            props[f"{comp}_distinct"] = int(cols["distinct_values"][i])
    if current is not None:
        yield _finish(current)


def _start(cols: dict[str, list[Any]], i: int) -> dict[str, Any]:
    src, dst, win = str(cols["src"][i]), str(cols["dst"][i]), str(cols["win"][i])
    props: dict[str, Any] = {"conns": int(cols["conns"][i])}
    for c in _TOTALS[1:]:
        props[c] = float(cols[c][i])
    return {
        "src": src,
        "dst": dst,
        "window": win,
        "key": accumulate.edge_key(src, dst, win),
        "first_ms": int(cols["first_ms"][i]),
        "last_ms": int(cols["last_ms"][i]),
        "props": props,
    }


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    props = row["props"]
    for comp, prop in accumulate.SUMMARY_PROPS.items():
        if f"{comp}_k" in props:
            props[prop] = accumulate.summary(props[f"{comp}_k"], props[f"{comp}_n"])
    if "sensor_k" in props:  # a summary only: the sensors are not a histogram of TALKED
        props["sensors"] = accumulate.summary(props.pop("sensor_k"), props.pop("sensor_n"))
        props.pop("sensor_distinct")
    return row


def host_rows(
    archive: Archive, shas: Sequence[str], classify: Callable[[str], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The `hosts_upsert` rows of every host of the archived files `shas`, streamed."""
    with archive.session({}, staged={"new": shas}) as s:
        for batch in s.batches("ingest_hosts"):
            hosts, first, last = (batch.column(c).to_pylist() for c in batch.schema.names)
            for h, f, lst in zip(hosts, first, last, strict=True):
                yield {"id": str(h), "props": classify(h), "first_ms": int(f), "last_ms": int(lst)}
