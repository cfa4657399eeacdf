"""Load: a group of parsed files -> Neo4j through Bolt (batched UNWIND in managed
transactions), exactly once.

Exactly-once per file: a file is identified by the SHA-256 of its content and recorded in an
`(:Ingest)` ledger node. A group's edges (`load_archived`: the engine's edges of its archived
files, each edge once; `load_group`: a group's aggregate in Python, kept to finish groups that
an older graphnet began) are cut into deterministic batches (by partition of the edge key);
each batch's transaction takes its partition's lock, merges its edges and records its
index in `(:IngestGroup).done`, rolling back when another run already committed it. A run
killed at any moment resumes the group's missing batches, and the counts end up exactly as
after one clean run. Details: docs/architecture.md, "Ingest: exactly once, crash-safe".

Zeek dns and http records go through the same ledger: their archived rows are committed with
the connections, and a group writes the RESOLVED / REQUESTED summaries of the windows they add
to (`graphnet.record_graph`, absolute values: safe to repeat) before the group is marked done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from graphnet import accumulate, archive, bulk_ingest, record_graph
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.errors import StoreError
from graphnet.ingest.hosts import host_classifier
from graphnet.ingest.parse import Member
from graphnet.ingest.results import Progress
from graphnet.ingest.rows import TRANSFORM_ROWS, concat, edge_top, host_rows, merge_props
from graphnet.store import Store, Tx

log = logging.getLogger(__name__)

#: edges are split into this many partitions by key hash; one lock per partition
PARTITIONS = 8


#: how a group's batches are cut, recorded in its plan: from the group's aggregate in Python
#: (`graphnet.accumulate.EdgeRows`, `load_group`), or from the engine's edges of the archived
#: files (`load_archived`)
ROWS_ACCUMULATED = 2
ROWS_ARCHIVED = 3


def plan_of(settings: Settings, window_kind: str, rows: int = ROWS_ACCUMULATED) -> str:
    """Settings that decide how a file's batches are cut: a resumed ingest must use the same."""
    return json.dumps(
        {
            "window": window_kind,
            "top_ports": settings.top_ports,
            "top_history": settings.top_history,
            "batch": settings.batch_size,
            "rows": rows,
            "parts": PARTITIONS,
        },
        sort_keys=True,
    )


def plan_rows(plan: str | None) -> int:
    """How the batches of a group with this plan are cut (`ROWS_*`)."""
    try:
        return int(json.loads(plan or "{}").get("rows", ROWS_ACCUMULATED))
    except (ValueError, TypeError, AttributeError):
        return ROWS_ACCUMULATED


def ledger_lookup(store: Store) -> archive.LedgerLookup:
    """For the archive: which file contents (by the 16 hex digits naming their archive files)
    the ledger says are done."""

    def done(prefixes: Sequence[str]) -> dict[str, archive.Ledgered]:
        rows = store.read("ingest_done_prefixes", prefixes=list(prefixes)) if prefixes else []
        return {
            r["prefix"]: archive.Ledgered(
                r["sha256"], None if r["windows"] is None else tuple(r["windows"])
            )
            for r in rows
        }

    return done


def commit(settings: Settings, m: Member) -> None:
    """The ledger says the file is done: its connections and records are read from now on."""
    Archive(settings).commit(m.sha, m.result.windows)
    for name, wins in m.result.record_windows.items():
        Archive(settings).records(name).commit(m.sha, wins)


def write_records(store: Store, members: Sequence[Member], settings: Settings) -> None:
    """The RESOLVED / REQUESTED summaries of the windows the members add dns / http records
    to, recomputed from the archive (committed records and the members' files)."""
    by_table: dict[str, set[str]] = {}
    for m in members:
        for name, wins in m.result.record_windows.items():
            by_table.setdefault(name, set()).update(wins)
    if not by_table:
        return
    record_graph.write(
        store,
        Archive(settings),
        {k: sorted(v) for k, v in by_table.items()},
        [m.sha for m in members],
        host_classifier(settings.internal_cidrs),
        settings.batch_size,
    )


def recount_sensor_windows(
    store: Store, members: Sequence[Member], settings: Settings
) -> list[str]:
    """Recount the TALKED edges of the windows the members add connections to when their
    files name more than one sensor: each edge's totals, histograms and summaries as the
    detectors count them (a connection logged by several sensors once; `Archive.session`), and
    `sensors`, who logged it. Set, not added: a resumed load writes the same values again.
    Windows of one sensor pay nothing (the files' statistics say so). Returns the windows."""
    archive_ = Archive(settings)
    shas = [m.sha for m in members]
    wins = sorted({w for m in members for w in m.result.windows})
    several = archive_.several_sensors(wins, shas) if wins else []
    if not several:
        return []
    t0 = time.perf_counter()
    rows = bulk_ingest.window_edge_rows(archive_, several, shas, settings.top_ports)
    n = store.write_batches("edges_update", rows, settings.batch_size)
    log.info(
        "%d edges of %d windows logged by several sensors recounted in %.1f s",
        n,
        len(several),
        time.perf_counter() - t0,
    )
    return several


class _CommittedElsewhere(Exception):
    """Another run committed this batch while this transaction wrote it: roll it back."""


def _write_batch(
    store: Store, group: str, i: int, part: int, batch: list[dict[str, Any]], top: dict[str, int]
) -> bool:
    """Batch `i` of the group in one transaction holding the lock of its partition: its edges
    added to those the graph holds (read, merged, written), the batch claimed in the group's
    ledger. Returns False (and rolls back) when another run committed the batch already."""

    def work(tx: Tx) -> None:
        tx.run("graph_lock_part", key=f"lock/{part}")
        existing = {
            key: (first_ms, last_ms, props)
            for key, first_ms, last_ms, props in tx.values(
                "edges_existing", keys=[r["key"] for r in batch]
            )
        }
        created, updated = [], []
        for r in batch:
            old = existing.get(r["key"])
            if old is None:
                created.append(r)
                continue
            merged = dict(r)
            merged["props"] = merge_props(old[2], r["props"], top)
            merged["first_ms"] = min(r["first_ms"], old[0])
            merged["last_ms"] = max(r["last_ms"], old[1])
            updated.append(merged)
        if created:
            tx.run("edges_create", rows=created)
        if updated:
            tx.run("edges_update", rows=updated)
        if not tx.run("ingest_group_claim_batch", id=group, batch=i):
            raise _CommittedElsewhere(i)

    try:
        with accumulate.gc_paused():  # rows in and out of the driver: many small objects
            store.transaction(work)
    except _CommittedElsewhere:
        log.info("batch %d of group %s was committed by another run", i, group[:12])
        return False
    return True


def load_batches(
    store: Store,
    group: str,
    rows: accumulate.EdgeRows,
    done: set[int],
    settings: Settings,
    top: dict[str, int],
    writers: int,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write the group's batches not yet committed, `writers` transactions at a time.

    Returns (batches, connections) that this run committed: the batches another run committed
    meanwhile are rolled back here and not counted.

    A writer takes its batches from its own partitions (edge key hash), and each transaction
    holds the lock of its partition: concurrent ingests never interleave the read-merge-write
    of one edge, and this run's writers never wait for each other."""
    batches = rows.batches(settings.batch_size)
    progress = progress or Progress()
    lock = threading.Lock()
    written = [sum(hi - lo for i, (_, lo, hi) in enumerate(batches) if i in done)]
    mine = [0, 0]  # batches, connections committed by this run
    progress.edges(written[0], len(rows))

    def write(i: int, part: int, lo: int, hi: int) -> None:
        ours = _write_batch(store, group, i, part, rows.slice(lo, hi), top)
        with lock:
            if ours:
                mine[0] += 1
                mine[1] += int(rows.sums["conns"][lo:hi].sum())
            written[0] += hi - lo
            progress.edges(written[0], len(rows))

    def writer(w: int) -> None:
        for i, (part, lo, hi) in enumerate(batches):
            if part % writers == w and i not in done:
                write(i, part, lo, hi)

    if writers <= 1:
        writers = 1
        writer(0)
        return mine[0], mine[1]
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="graphnet-writer") as pool:
        futures = [pool.submit(writer, w) for w in range(writers)]
        for f in futures:
            f.result()
    return mine[0], mine[1]


class Group:
    """Files parsed into one running aggregate, to be loaded together."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.windows: set[str] = set()
        self.acc = accumulate.EdgeAccumulator()
        self.pending: list[pd.DataFrame] = []
        self.pending_rows = 0

    def add(
        self,
        member: Member,
        acc: accumulate.EdgeAccumulator | None,
        pending: Sequence[pd.DataFrame],
        window_kind: str,
    ) -> None:
        self.members.append(member)
        self.windows.update(member.result.windows)
        if acc is not None:
            self.acc.absorb(acc)
        self.pending.extend(pending)
        self.pending_rows += sum(len(f) for f in pending)
        if self.pending_rows >= TRANSFORM_ROWS:
            self.close(window_kind)

    @property
    def held_rows(self) -> int:
        """Upper bound of the histogram rows held, plus the connections not transformed yet."""
        return self.acc.held_rows + self.pending_rows

    def close(self, window_kind: str) -> accumulate.EdgeAccumulator:
        if self.pending:
            self.acc.add_frame(concat(self.pending), window_kind)
            self.pending, self.pending_rows = [], 0
        return self.acc


def ledger_props(m: Member, window_kind: str) -> dict[str, Any]:
    """What the ledger records of a file (`(:Ingest)` properties), by either load path."""
    return {
        "path": m.result.path,
        "format": m.result.format,
        "window_kind": window_kind,
        "rows_accepted": m.result.accepted,
        "rows_rejected": m.result.rejected,
        "rows_skipped": m.result.skipped,
        "relative_ts": m.result.relative_ts,
        "rejects_file": m.result.rejects_file,
        "windows": m.result.windows,
        "rows_dns": m.result.records.get("dns", 0),
        "rows_http": m.result.records.get("http", 0),
    }


def group_id(shas: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(shas)).encode()).hexdigest()


def _begin(
    store: Store,
    members: Sequence[Member],
    group: str,
    plan: str,
    window_kind: str,
    batches_total: int | None,
) -> set[int]:
    """Open (or find again) the group's ledger with its files marked loading; returns the
    batches committed so far. A group begun with another plan cannot be finished by this one."""
    files = [{"sha256": m.sha, "props": ledger_props(m, window_kind)} for m in members]
    began = store.write(
        "ingest_group_begin", id=group, plan=plan, batches_total=batches_total, files=files
    )[0]
    if began["plan"] != plan:
        raise StoreError(
            f"an interrupted ingest of {members[0].result.path} used other settings "
            f"({began['plan']})",
            hint="re-run with the same --window and settings to finish it",
        )
    return {int(i) for i in began["done"] or []}


def _finish(
    store: Store,
    members: Sequence[Member],
    settings: Settings,
    group: str,
    batches: int,
    mine: int,
    resumed: bool,
) -> None:
    """After the group's batches: the sensor recounts and record summaries (before the ledger
    says done: never left out), the ledger marked done, and each member's result."""
    recount_sensor_windows(store, members, settings)
    write_records(store, members, settings)
    store.write("ingest_group_finish", id=group, batches_total=batches)
    # the batches not committed by this run were committed by another one: a concurrent
    # ingest of the same files, or a killed one that this run resumed
    by = "this run" if mine == batches else "another run" if not mine else "this and another run"
    for m in members:
        m.result.status = "resumed" if resumed else "ingested"
        m.result.ingested_by = by
        if m.result.relative_ts:
            m.result.message = "relative timestamps (counted from epoch 0)"


def load_group(
    store: Store,
    members: Sequence[Member],
    acc: accumulate.EdgeAccumulator,
    settings: Settings,
    window_kind: str,
    group: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the combined aggregate of several parsed files exactly once.

    The group's batches are cut deterministically from the combined aggregate; each batch's
    transaction advances the group ledger. The member files become `done` together at the end.
    Returns the connections this run committed (not those another run committed meanwhile).
    """
    if not members:
        return 0
    group = group or group_id(m.sha for m in members)
    plan = plan_of(settings, window_kind)
    top = edge_top(settings)
    t0 = time.perf_counter()
    rows = acc.rows(top, PARTITIONS)
    batches = len(rows.batches(settings.batch_size))
    done = _begin(store, members, group, plan, window_kind, batches)
    start = len(done)
    hosts = host_rows(rows, host_classifier(settings.internal_cidrs))
    store.write_batches("hosts_upsert", hosts, settings.batch_size)
    t1 = time.perf_counter()
    mine, conns = load_batches(store, group, rows, done, settings, top, settings.writers, progress)
    _finish(store, members, settings, group, batches, mine, resumed=bool(start))
    log.info(
        "group of %d files: %d edges, %d hosts; prepared in %.1f s, written in %.1f s",
        len(members),
        len(rows),
        len(hosts),
        t1 - t0,
        time.perf_counter() - t1,
    )
    return conns


def archived_batches(
    rows: Iterable[dict[str, Any]], size: int, parts: int = PARTITIONS
) -> Iterator[list[tuple[int, list[dict[str, Any]]]]]:
    """Cut a stream of edge rows (each edge once) into rounds of batches: every `size * parts`
    rows of the stream are one round, split by partition (`graphnet.accumulate.partitions`)
    into (partition, rows) batches in partition order. The same stream gives the same batches,
    so a resumed load skips exactly those committed; the batches of a round hold different
    partitions, so they may be written at the same time."""
    chunk: list[dict[str, Any]] = []

    def split() -> list[tuple[int, list[dict[str, Any]]]]:
        column = {c: np.array([r[c] for r in chunk], dtype=object) for c in ("src", "dst")}
        wins = np.array([r["window"] for r in chunk], dtype=object)
        part = accumulate.partitions(column["src"], column["dst"], wins, parts)
        out = []
        for p in np.unique(part).tolist():
            out.append((int(p), [chunk[j] for j in np.flatnonzero(part == p).tolist()]))
        return out

    for r in rows:
        chunk.append(r)
        if len(chunk) >= size * parts:
            yield split()
            chunk = []
    if chunk:
        yield split()


def load_archived(
    store: Store,
    members: Sequence[Member],
    settings: Settings,
    window_kind: str,
    group: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the edges and hosts of parsed files, archived and not yet committed, exactly once:
    the engine aggregates every edge of the files from the archive (`graphnet.bulk_ingest`,
    out of core, the edges the import tool loads into an empty graph), streamed in batches.

    Each edge of the files comes once, however many files and windows they hold, so no edge is
    written twice by one load; an edge the graph already has (a window earlier ingests added
    to) is read, merged and written in its batch's transaction, as in `load_group`. The ledger
    is the same: a killed load is resumed from the batches not yet claimed.
    Returns the connections this run committed."""
    if not members:
        return 0
    shas = [m.sha for m in members]
    group = group or group_id(shas)
    plan = plan_of(settings, window_kind, ROWS_ARCHIVED)
    top = edge_top(settings)
    progress = progress or Progress()
    # the number of batches is known when the stream ends (`ingest_group_finish`)
    done = _begin(store, members, group, plan, window_kind, None)
    start = len(done)
    archive_ = Archive(settings)
    t0 = time.perf_counter()
    hosts = store.write_batches(
        "hosts_upsert",
        bulk_ingest.host_rows(archive_, shas, host_classifier(settings.internal_cidrs)),
        settings.batch_size,
    )
    t1 = time.perf_counter()
    edges = bulk_ingest.edge_rows(archive_, shas, settings.top_ports)
    counts = write_stream(store, group, edges, done, settings, top, progress)
    _finish(store, members, settings, group, counts["batches"], counts["mine"], bool(start))
    log.info(
        "%d files from the archive: %d edges, %d hosts; hosts written in %.1f s, edges in %.1f s",
        len(members),
        counts["edges"],
        hosts,
        t1 - t0,
        time.perf_counter() - t1,
    )
    return counts["conns"]


def write_stream(
    store: Store,
    group: str,
    edges: Iterable[dict[str, Any]],
    done: set[int],
    settings: Settings,
    top: dict[str, int],
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write a stream of edge rows as the group's batches (`archived_batches`), those not in
    `done`, `settings.writers` transactions at a time (the batches of one round). Returns the
    counts: `batches` (all), `mine` and `conns` (committed by this run: a batch another run
    committed meanwhile is rolled back and not counted), `edges` (all)."""
    progress = progress or Progress()
    lock = threading.Lock()
    counts = {"batches": 0, "mine": 0, "conns": 0, "edges": 0}
    progress.edges(0, 0)

    def write(i: int, part: int, batch: list[dict[str, Any]]) -> None:
        ours = i not in done and _write_batch(store, group, i, part, batch, top)
        with lock:
            if ours:
                counts["mine"] += 1
                counts["conns"] += sum(int(r["props"]["conns"]) for r in batch)
            counts["edges"] += len(batch)
            progress.edges(counts["edges"], 0)

    writers = max(1, settings.writers)
    pool = (
        ThreadPoolExecutor(max_workers=writers, thread_name_prefix="graphnet-writer")
        if writers > 1
        else None
    )
    try:
        for round_ in archived_batches(edges, settings.batch_size):
            numbered = [(counts["batches"] + k, p, b) for k, (p, b) in enumerate(round_)]
            counts["batches"] += len(round_)
            if pool is None:
                for i, p, b in numbered:
                    write(i, p, b)
            else:
                for f in [pool.submit(write, i, p, b) for i, p, b in numbered]:
                    f.result()
    finally:
        if pool is not None:
            pool.shutdown()
    progress.edges(counts["edges"], counts["edges"])
    return counts
