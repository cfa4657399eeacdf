"""What a person explores of dns and http records in Neo4j: small per-window summaries.

- `(:Host)-[:RESOLVED {key, window, count, names, nxdomain, qtypes, rcodes, sensors,
  first_seen, last_seen}]->(:Domain {name})`: per window, client and registered domain
  (`features.registered_domain`): how many queries, how many distinct names under the domain,
  how many NXDOMAIN answers, and short summaries of the query types, response codes and sensors.
- `(:Host)-[:REQUESTED {key, window, requests, hosts, hosts_distinct, user_agents,
  agents_distinct, uris_distinct, methods, statuses, sensors, request_bytes, response_bytes,
  first_seen, last_seen}]->(:Host)`: per window, http client and server: the requested hosts and
  user agents (summaries such as `"a.org 120, b.org 3, 2 more"`), methods and status codes.

Every value is aggregated by the engine from the archive (`graphnet/sql/records_*.sql`), never
from single records in Python, and written by `UNWIND` batches through the store. The rows of a
window are recomputed whole from the window's committed records plus the files being loaded and
set, not added: writing them again (a resumed or repeated ingest) gives the same graph, which is
what makes them exactly-once without a ledger of their own. The queries themselves stay in the
archive (the detectors read them there); the graph holds one edge per (client, domain, window).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from graphnet.accumulate import summary
from graphnet.archive import Archive
from graphnet.features import registered_domain
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

Classify = Callable[[str], dict[str, Any]]


def _key(a: str, b: str, window: str) -> str:
    """Unambiguous edge key (lengths in characters, as TALKED's)."""
    return f"{len(a)}:{a}|{len(b)}:{b}|{window}"


def _ms(ts: Any) -> int:
    return round(float(ts) * 1000)


def _folded(values: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], dict[str, str]]:
    """(key) -> {what: summary} from rows (key..., what, value, n), most frequent first."""
    out: dict[tuple[Any, ...], dict[str, str]] = defaultdict(dict)
    if values.empty:
        return out
    values = values.sort_values([*keys, "what", "n", "value"],
                                ascending=[True] * len(keys) + [True, False, True])
    for group, part in values.groupby([*keys, "what"], sort=False):
        *key, what = group
        out[tuple(key)][str(what)] = summary([str(v) for v in part["value"]],
                                             part["n"].tolist())
    return out


def domain_lookup(names: Sequence[str]) -> pa.Table:
    """query name -> registered domain, for the distinct names of a binding."""
    domains = [registered_domain(n) for n in names]
    kept = [(n, d) for n, d in zip(names, domains, strict=True) if d]
    return pa.table({"query": pa.array([n for n, _ in kept], type=pa.string()),
                     "domain": pa.array([d for _, d in kept], type=pa.string())})


def resolved_rows(archive: Archive, wins: Sequence[str], shas: Sequence[str],
                  classify: Classify) -> list[dict[str, Any]]:
    """`resolved_upsert` rows of `wins` (committed dns records and those of the contents
    `shas` being loaded)."""
    binding = {"dns": ("dns", list(wins), list(shas))}
    with archive.session({}, staged_records=binding) as s:
        names = [str(q) for q in s.table("records_dns_names").column("query").to_pylist()
                 if q is not None]
        s.lookup("dns_domains", domain_lookup(names))
        edges = s.table("records_resolved").to_pandas()
        values = s.table("records_resolved_values").to_pandas()
    folded = _folded(values, ["win", "src", "domain"])
    rows = []
    for e in edges.itertuples(index=False):
        f = folded.get((e.win, e.src, e.domain), {})
        rows.append({
            "key": _key(str(e.src), str(e.domain), str(e.win)), "window": str(e.win),
            "src": str(e.src), "domain": str(e.domain), "host": classify(str(e.src)),
            "queries": int(e.queries), "names": int(e.names), "nxdomain": int(e.nxdomain),
            "qtypes": f.get("qtype", ""), "rcodes": f.get("rcode", ""),
            "sensors": f.get("sensor", ""),
            "first_ms": _ms(e.first_ts), "last_ms": _ms(e.last_ts),
        })
    return rows


def requested_rows(archive: Archive, wins: Sequence[str], shas: Sequence[str],
                   classify: Classify) -> list[dict[str, Any]]:
    """`requested_upsert` rows of `wins` (committed http records and those of `shas`)."""
    binding = {"http": ("http", list(wins), list(shas))}
    with archive.session({}, staged_records=binding) as s:
        edges = s.table("records_requested").to_pandas()
        values = s.table("records_requested_values").to_pandas()
    folded = _folded(values, ["win", "src", "dst"])
    rows = []
    for e in edges.itertuples(index=False):
        f = folded.get((e.win, e.src, e.dst), {})
        rows.append({
            "key": _key(str(e.src), str(e.dst), str(e.win)), "window": str(e.win),
            "src": str(e.src), "dst": str(e.dst),
            "src_host": classify(str(e.src)), "dst_host": classify(str(e.dst)),
            "requests": int(e.requests), "hosts_distinct": int(e.hosts_distinct),
            "agents_distinct": int(e.agents_distinct), "uris_distinct": int(e.uris_distinct),
            "request_bytes": _number(e.request_bytes), "response_bytes": _number(e.response_bytes),
            "hosts": f.get("host", ""), "user_agents": f.get("user_agent", ""),
            "methods": f.get("method", ""), "statuses": f.get("status", ""),
            "sensors": f.get("sensor", ""),
            "first_ms": _ms(e.first_ts), "last_ms": _ms(e.last_ts),
        })
    return rows


def _number(value: Any) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def write(store: GraphStore, archive: Archive, windows_by_table: dict[str, Sequence[str]],
          shas: Sequence[str], classify: Classify, batch_size: int) -> dict[str, int]:
    """Write the RESOLVED and REQUESTED edges of the windows the loading files add records to
    (`windows_by_table`: "dns" / "http" -> windows). Returns the edges written per type."""
    written = {"resolved": 0, "requested": 0}
    wins = sorted(windows_by_table.get("dns", ()))
    if wins:
        rows = resolved_rows(archive, wins, shas, classify)
        written["resolved"] = store.write_batches("resolved_upsert", _iter(rows), batch_size)
    wins = sorted(windows_by_table.get("http", ()))
    if wins:
        rows = requested_rows(archive, wins, shas, classify)
        written["requested"] = store.write_batches("requested_upsert", _iter(rows), batch_size)
    if any(written.values()):
        log.info("dns and http summaries: %d RESOLVED, %d REQUESTED edges",
                 written["resolved"], written["requested"])
    return written


def _iter(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from rows
