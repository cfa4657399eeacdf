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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from graphnet import accumulate
from graphnet.archive import Archive
from graphnet.features import COMPONENTS

log = logging.getLogger(__name__)

_TOTALS = ("conns", "src_bytes", "dst_bytes", "src_pkts", "dst_pkts", "duration")


def edge_rows(
    archive: Archive, shas: Sequence[str], top: int, batch_rows: int = 100_000
) -> Iterator[dict[str, Any]]:
    """The TALKED rows (`EdgeRows.slice` shapes) of the archived files `shas` (committed or
    not), streamed: the engine aggregates each edge into one row with its lists, Python only
    names them and adds the readable summaries."""
    assert set(accumulate.EDGE_COMPONENTS) <= set(COMPONENTS)
    listed = [
        (comp, f"{comp}_k", f"{comp}_n", f"{comp}_distinct", accumulate.SUMMARY_PROPS[comp])
        for comp in accumulate.EDGE_COMPONENTS
    ]
    with archive.session({}, staged={"new": shas}, parts=["new"]) as s:
        for batch in s.batches("ingest_edges", {"top": top}, rows=batch_rows):
            cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
            src, dst, win = cols["src"], cols["dst"], cols["win"]
            conns, first, last = cols["conns"], cols["first_ms"], cols["last_ms"]
            totals = [(c, cols[c]) for c in _TOTALS[1:]]
            comps = [(k, n, d, prop, cols[k], cols[n], cols[d]) for _, k, n, d, prop in listed]
            for i in range(batch.num_rows):
                props: dict[str, Any] = {"conns": int(conns[i])}
                for c, col in totals:
                    props[c] = float(col[i])
                for k, n, d, prop, ks, ns, ds in comps:
                    values, counts = ks[i], ns[i]
                    if values is None:
                        continue
                    props[k] = values
                    props[n] = [int(x) for x in counts]
                    props[d] = int(ds[i])
                    props[prop] = accumulate.summary(values, counts)
                a, b, w = str(src[i]), str(dst[i]), str(win[i])
                yield {
                    "src": a,
                    "dst": b,
                    "window": w,
                    "key": accumulate.edge_key(a, b, w),
                    "first_ms": int(first[i]),
                    "last_ms": int(last[i]),
                    "props": props,
                }


def host_rows(
    archive: Archive, shas: Sequence[str], classify: Callable[[str], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The `hosts_upsert` rows of every host of the archived files `shas`, streamed."""
    with archive.session({}, staged={"new": shas}) as s:
        for batch in s.batches("ingest_hosts"):
            hosts, first, last = (batch.column(c).to_pylist() for c in batch.schema.names)
            for h, f, lst in zip(hosts, first, last, strict=True):
                yield {"id": str(h), "props": classify(h), "first_ms": int(f), "last_ms": int(lst)}
