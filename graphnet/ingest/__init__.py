"""Ingest: log files -> aggregated host graph in Neo4j.

get (graphnet.sources.read, streamed chunks) -> the connection archive -> the engine's edges
of the new files (graphnet.bulk_ingest: per-edge sums and categorical histograms, out of core,
each edge once) -> load (batched UNWIND in managed transactions, or the import tool into an
empty graph), exactly once per file content. The pure transform (`rows`, graphnet.accumulate)
gives the same edges in Python: for tests, and to finish a group an older graphnet began.

One concern per module, each importing only those listed before it (none imports this
`__init__`):

- `results`: what an ingest reports (`FileResult`, `IngestResult`) and `Progress`;
- `hosts`: which hosts are internal, their subnet (`host_classifier`, `internal_hosts`);
- `rows`: the pure transform, parsed connections -> per-edge sums and histograms, the rows of
  edges and hosts, `merge_props`;
- `choice`: the graph's window kind (`window_choice`; `auto` from `scan_span`);
- `parse`: a file -> the connection and record archives, its rejects, rows to aggregate;
- `writer`: a group's batches through Bolt, exactly once (the `(:Ingest)` and
  `(:IngestGroup)` ledger), record summaries, sensor recounts, the archive commit;
- `first_load`: a first load of graphnet's own empty Neo4j by the import tool;
- this package: the entry points `ingest`, `ingest_frame`, `reset`, `stats`, and the names
  callers use (`__all__`).

Details: docs/architecture.md, "Ingest: exactly once, crash-safe".
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet import accumulate, sources, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.errors import ConfigError, InputError
from graphnet.ingest.choice import (
    Span,
    WindowChoice,
    graph_window_kind,
    scan_span,
    window_choice,
)
from graphnet.ingest.first_load import bulk_load, bulk_wanted
from graphnet.ingest.hosts import host_classifier, internal_hosts
from graphnet.ingest.parse import (
    Member,
    format_hint,
    parse_member,
    sha256_of,
    tidy_rejects,
    with_sensor,
)
from graphnet.ingest.results import FileResult, IngestResult, Progress
from graphnet.ingest.rows import (
    EDGE_KEY,
    LABEL_COLUMNS,
    NUMERIC,
    OTHER,
    TOPN_COMPONENTS,
    TRANSFORM_ROWS,
    Aggregate,
    combine,
    edge_key,
    edge_rows,
    edge_top,
    host_rows,
    merge_props,
    transform,
)
from graphnet.ingest.writer import (
    PARTITIONS,
    ROWS_ARCHIVED,
    Group,
    commit,
    ledger_lookup,
    load_archived,
    load_group,
    plan_of,
    plan_rows,
)
from graphnet.store import Store

__all__ = [
    "EDGE_KEY",
    "LABEL_COLUMNS",
    "NUMERIC",
    "OTHER",
    "PARTITIONS",
    "TOPN_COMPONENTS",
    "TRANSFORM_ROWS",
    "Aggregate",
    "FileResult",
    "IngestResult",
    "Progress",
    "Span",
    "WindowChoice",
    "combine",
    "edge_key",
    "edge_rows",
    "edge_top",
    "graph_window_kind",
    "host_classifier",
    "host_rows",
    "ingest",
    "ingest_frame",
    "internal_hosts",
    "merge_props",
    "plan_of",
    "reset",
    "scan_span",
    "sha256_of",
    "stats",
    "transform",
    "window_choice",
    "with_sensor",
]

log = logging.getLogger(__name__)


def reset(store: Store, settings: Settings) -> None:
    """Delete the graph, the connection archive and stored results."""
    store.clear()
    Archive(settings).reset()


def ingest_frame(
    store: Store,
    frame: pd.DataFrame,
    settings: Settings,
    name: str = "<frame>",
    window: str | None = None,
) -> FileResult:
    """Ingest a normalised connection table that is already in memory (tests, generators,
    other front ends). Identified by a hash of its content: the same frame twice is a no-op."""
    with Archive(settings).ingesting(ledger_lookup(store)) as alone:
        if alone:
            tidy_rejects(settings)
        return _ingest_frame(store, frame, settings, name, window)


def _ingest_frame(
    store: Store, frame: pd.DataFrame, settings: Settings, name: str, window: str | None
) -> FileResult:
    ts_all = frame["ts"].to_numpy(dtype="float64") if not frame.empty else np.array([])
    finite = ts_all[np.isfinite(ts_all)]
    kind = window_choice(
        store,
        window,
        settings.window,
        lambda: (float(finite.min()), float(finite.max())) if len(finite) else None,
        Archive(settings).windows(),
    ).kind
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes()
    ).hexdigest()
    result = FileResult(path=name, format="frame", sha256=digest, accepted=len(frame))
    ledger = store.read("ingest_get", sha256=digest)
    if ledger and ledger[0]["status"] == "done":
        result.status = "already ingested"
        result.accepted = 0
        return result
    if not frame.empty:
        archive = Archive(settings).writer(digest, source=name)
        ts = frame["ts"].to_numpy(dtype="float64")
        archive.write(frame, windows.window_ids(ts, kind).to_numpy())
        archive.finish()
    result.windows = sorted(
        windows.window_ids(frame["ts"].to_numpy(dtype="float64"), kind).unique()
    )
    member = Member(Path(name), digest, result)
    load_archived(store, [member], settings, kind)
    Archive(settings).commit(digest, result.windows)  # after the ledger says done
    return result


def ingest(
    store: Store,
    paths: Sequence[Path],
    settings: Settings,
    window: str | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
    sensor: str | None = None,
) -> IngestResult:
    """Ingest every log file under `paths`, each exactly once (connections, and the dns and
    http records of Zeek logs; `sensor` names the sensor of records whose log names none).

    Files are parsed one by one into the connection archive; then the engine aggregates every
    edge of them from the archive (out of core) and they are loaded as one group, each edge
    written once however many files hold its connections, in bounded memory (into an empty
    graph by the import tool, otherwise through Bolt). A file that cannot be read is reported
    as failed and leaves the graph untouched; the others go on. An interrupted group (killed
    process, lost server) is completed by the next run over the same files.

    A file's archive files are committed (read by the detectors) only after the ledger says
    the file is done; a run that starts alone adopts or removes what killed runs left
    (`Archive.ingesting`). A full disk raises DiskFull and keeps nothing half-written.
    """
    with Archive(settings).ingesting(ledger_lookup(store)) as alone:
        if alone:
            tidy_rejects(settings)
        return _ingest(store, paths, settings, window, fmt, progress, sensor)


def _ingest(
    store: Store,
    paths: Sequence[Path],
    settings: Settings,
    window: str | None,
    fmt: str | None,
    progress: Progress | None,
    sensor: str | None = None,
) -> IngestResult:
    """`ingest`, while it holds the archive."""
    progress = progress or Progress()
    t0 = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(f"no such file or directory: {missing[0]}")
    if fmt is not None and fmt not in sources.FORMATS:
        raise ConfigError(
            f"unknown format {fmt!r}", hint=f"use one of {', '.join(sources.FORMATS)}"
        )
    files = sources.iter_log_files(list(paths))
    if not files:
        raise InputError(
            f"no log files found under {', '.join(map(str, paths))}", hint=format_hint()
        )
    progress.files(len(files))
    results: dict[Path, FileResult] = {}
    todo: list[tuple[Path, str]] = []
    first_of: dict[str, Path] = {}
    named = {p.resolve() for p in paths if p.is_file()}
    for path in files:
        detected = sources.detect(path)
        res = FileResult(path=str(path), format=fmt or detected.format)
        results[path] = res
        if fmt is None and detected.format is None:
            if path.resolve() not in named:
                # found while walking a folder: other files (notes, truth.json) are not errors
                res.status, res.message = "skipped", f"not a log: {detected.reason}"
                continue
            res.status, res.message = "failed", f"{path}: {detected.reason}"
            log.error("%s (%s)", res.message, format_hint())
            continue
        if fmt is None and not detected.readable:
            res.status, res.message = "skipped", detected.reason
            continue
        sha = sha256_of(path)
        res.sha256 = sha
        if sha in first_of:
            res.status = "already ingested"
            res.message = f"same content as {first_of[sha]}"
            continue
        first_of[sha] = path
        todo.append((path, sha))
    ledger = {
        r["sha256"]: r for r in store.read("ingest_status_many", shas=[sha for _, sha in todo])
    }
    fresh: list[tuple[Path, str]] = []
    interrupted: dict[str, list[tuple[Path, str]]] = {}
    for path, sha in todo:
        entry = ledger.get(sha)
        if entry and entry["status"] == "done":
            res = results[path]
            res.status = "already ingested"
            res.message = f"same content as {entry['path']} (ingested {entry['finished']})"
        elif entry and entry["group"]:
            interrupted.setdefault(entry["group"], []).append((path, sha))
        else:
            fresh.append((path, sha))

    # the window kind: recorded by the first ingest of a home (`auto`: chosen from the span
    # of the new files, read once more for it)
    choice = window_choice(
        store,
        window,
        settings.window,
        lambda: scan_span([p for p, _ in fresh], fmt),
        Archive(settings).windows(),
    )
    kind = choice.kind

    Parsed = tuple[Member, accumulate.EdgeAccumulator | None, list[pd.DataFrame]]

    def parse_one(path: Path, sha: str, aggregate: bool = True) -> Parsed | None:
        progress.file_started(path, path.stat().st_size)
        try:
            return parse_member(path, sha, fmt, settings, kind, progress, aggregate, sensor)
        except InputError as exc:
            results[path].status, results[path].message = "failed", str(exc)
            log.error("%s", exc)
            progress.file_done(results[path])
            return None

    def parse(items: Sequence[tuple[Path, str]]) -> Group:
        group = Group()
        for path, sha in items:
            if parsed := parse_one(path, sha):
                group.add(*parsed, kind)
        return group

    if not interrupted and bulk_wanted(store, settings, fresh):
        loaded = []
        for path, sha in fresh:
            if parsed := parse_one(path, sha, aggregate=False):
                loaded.append(parsed[0])
        conns = bulk_load(store, loaded, settings, kind, progress)
        for member in loaded:
            results[member.path] = member.result
            progress.file_done(member.result)
        ordered = [results[p] for p in files]
        return IngestResult(ordered, time.perf_counter() - t0, kind, conns, choice.reason)

    written = [0]  # connections this run committed

    def load(group: Group, gid: str | None = None) -> None:
        written[0] += load_group(
            store, group.members, group.close(kind), settings, kind, gid, progress
        )
        for m in group.members:
            # the ledger says done: the detectors may read the file's archive files now
            commit(settings, m)
            results[m.path] = m.result
            progress.file_done(m.result)

    def load_archived_members(members: list[Member], gid: str | None = None) -> None:
        written[0] += load_archived(store, members, settings, kind, gid, progress)
        for m in members:
            commit(settings, m)  # the ledger says done: the detectors may read its files now
            results[m.path] = m.result
            progress.file_done(m.result)

    # finish interrupted groups first: they need exactly their member files again
    for gid, items in interrupted.items():
        needed = store.read("ingest_group_members", id=gid)
        have = {sha for _, sha in items}
        for m in needed:
            if m["sha256"] in have:
                continue
            p = Path(m["path"])
            if p.is_file() and sha256_of(p) == m["sha256"]:
                items.append((p, m["sha256"]))
                have.add(m["sha256"])
        lacking = [m["path"] for m in needed if m["sha256"] not in have]
        if lacking:
            for path, _ in items:
                results[path].status = "failed"
                results[path].message = (
                    f"an interrupted ingest of this file also needs {lacking[0]}, which is gone "
                    "or changed; restore it and re-run"
                )
            continue
        plan = store.read("ingest_group_plan", id=gid)
        if plan and plan_rows(plan[0]["plan"]) == ROWS_ARCHIVED:
            again = [q[0] for path, sha in items if (q := parse_one(path, sha, aggregate=False))]
            load_archived_members(again, gid)
        else:  # begun by a graphnet that loaded from a group's aggregate in Python
            load(parse(items), gid)

    # the new files: parsed into the archive, then every edge of them aggregated by the engine
    # and written once (an edge's connections may be spread over every file of a week)
    archived = [q[0] for path, sha in fresh if (q := parse_one(path, sha, aggregate=False))]
    load_archived_members(archived)
    ordered = [results[p] for p in files]
    for res in ordered:
        log.info(
            "%s: %s (%d accepted, %d rejected)", res.path, res.status, res.accepted, res.rejected
        )
    return IngestResult(ordered, time.perf_counter() - t0, kind, written[0], choice.reason)


def stats(store: Store) -> dict[str, Any]:
    row = store.read("stats")[0]
    return {k: row[k] for k in ("hosts", "connections", "edges", "windows", "files", "window_kind")}
