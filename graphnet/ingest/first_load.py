"""A first load of graphnet's own empty Neo4j by the import tool (`neo4j-admin import`):
archive -> `graphnet.bulk_ingest` -> `graphnet.store.bulk`, the ledger imported with the graph.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from graphnet import bulk_ingest
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.ingest.hosts import host_classifier
from graphnet.ingest.parse import Member
from graphnet.ingest.results import Progress
from graphnet.ingest.writer import (
    commit,
    group_id,
    ledger_props,
    plan_of,
    recount_sensor_windows,
    write_records,
)
from graphnet.store import Store, bulk

log = logging.getLogger(__name__)


def bulk_wanted(store: Store, settings: Settings, fresh: Sequence[tuple[Path, str]]) -> bool:
    """A first load goes through the import tool: graphnet's own server, an empty graph (no
    hosts, no ingested files) and at least `settings.bulk_min_mb` MiB of log files."""
    local = store.settings
    if not fresh or local.origin != "local" or not local.instance or not local.home:
        return False
    size = sum(p.stat().st_size for p, _ in fresh)
    if size < settings.bulk_min_mb * 2**20:
        return False
    return bool(store.read("graph_empty")[0]["empty"])


def bulk_load(
    store: Store,
    members: Sequence[Member],
    settings: Settings,
    window_kind: str,
    progress: Progress,
) -> int:
    """Load parsed files into the empty graph with the import tool (`graphnet.bulk_ingest`):
    edges and hosts aggregated by the engine from the archive, the ledger imported with them
    (the files are done when the graph appears), then the archive files committed. Returns the
    connections loaded."""
    if not members:
        return 0
    shas = [m.sha for m in members]
    group = group_id(shas)
    now = int(time.time() * 1000)
    ingests = [
        {
            "sha256": m.sha,
            **ledger_props(m, window_kind),
            "group": group,
            "status": "done",
            "started": now,
            "finished": now,
        }
        for m in members
    ]
    groups = [
        {
            "id": group,
            "plan": plan_of(settings, window_kind),
            "status": "done",
            "batches_total": 0,
            "batches_done": 0,
            "done": [],
            "started": now,
            "finished": now,
            "loaded_by": "bulk import",
        }
    ]
    meta = [{"key": "graph", "window_kind": window_kind, "created": now}]
    archive_ = Archive(settings)
    folder = settings.home / "tmp" / "import"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    hosts = bulk_ingest.host_rows(archive_, shas, host_classifier(settings.internal_cidrs))
    edges = _counted(bulk_ingest.edge_rows(archive_, shas, settings.top_ports), progress)
    try:
        files = bulk.write_import_files(folder, hosts, edges, ingests, groups, meta)
        t1 = time.perf_counter()
        local = store.settings
        report = bulk.load_local(store, Path(local.home), local.instance, files)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    log.info(
        "first load by import: %d nodes, %d relationships; files written in %.1f s, "
        "imported in %.1f s (server stopped %.1f s, started %.1f s)",
        report.nodes,
        report.relationships,
        t1 - t0,
        report.import_seconds,
        report.stop_seconds,
        report.start_seconds,
    )
    # through Bolt (the import tool wrote every row): the windows several sensors logged,
    # and the summaries of dns / http records
    recount_sensor_windows(store, members, settings)
    write_records(store, members, settings)
    for m in members:
        # the ledger says done: the detectors may read the file's archive files now
        commit(settings, m)
        m.result.status = "ingested"
        m.result.ingested_by = "this run"
        if m.result.relative_ts:
            m.result.message = "relative timestamps (counted from epoch 0)"
    return sum(m.result.accepted for m in members)


def _counted(rows: Iterable[dict[str, Any]], progress: Progress) -> Iterator[dict[str, Any]]:
    """The rows, reporting every 10,000 to `progress` (edges written so far; total unknown)."""
    n = 0
    for r in rows:
        n += 1
        if n % 10_000 == 0:
            progress.edges(n, 0)
        yield r
    progress.edges(n, n)
