"""Ingest: log files -> aggregated host graph in Neo4j.

get (graphnet.sources.read, streamed chunks) -> transform (pure: chunk -> per-edge sums and
categorical histograms in code form, graphnet.accumulate) -> a running aggregate per **group**
of files -> load (batched UNWIND in managed transactions).

Exactly-once per file: a file is identified by the SHA-256 of its content and recorded in an
`(:Ingest)` ledger node. A group's edges are cut into deterministic batches (by partition of the
edge key); each batch's transaction takes its partition's lock, merges its edges and records its
index in `(:IngestGroup).done`, rolling back when another run already committed it. A run
killed at any moment resumes the group's missing batches, and the counts end up exactly as
after one clean run. A file that fails to parse (unknown format, truncated gzip) writes
nothing. Details: docs/architecture.md, "Ingest: exactly once, crash-safe".

Zeek dns and http records (dns.log, http.log, or mixed JSON files) go through the same ledger:
their rows are archived per window beside the connections (`Archive.records`) and committed
with them, and a group writes the RESOLVED / REQUESTED summaries of the windows they add to
(`graphnet.record_graph`, absolute values: safe to repeat) before the group is marked done.
Every record carries a `sensor`: the log's own (`_node_name`, `@system`) or `sensor=`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet import accumulate, archive, bulk_ingest, record_graph, sources, windows
from graphnet.archive import Archive, ArchiveWriter
from graphnet.config import Settings
from graphnet.errors import ConfigError, DiskFull, InputError, StoreError, is_disk_full
from graphnet.store import Store, Tx, bulk

log = logging.getLogger(__name__)

NUMERIC = accumulate.NUMERIC
TOPN_COMPONENTS = ("dport", "history")
#: rows transformed at once (amortises per-call overhead over small files; bounds memory)
TRANSFORM_ROWS = 500_000
#: a group of files is loaded once its aggregate holds about this many histogram rows
GROUP_ROWS = 8_000_000
#: edges are split into this many partitions by key hash; one lock per partition
PARTITIONS = 8
LABEL_COLUMNS = archive.LABEL_COLUMNS
OTHER = accumulate.OTHER  # one folding value and one edge key for ingest and accumulate
EDGE_KEY = accumulate.EDGE_KEY


# --------------------------------------------------------------------------------------------
# transform: pure functions over DataFrames
# --------------------------------------------------------------------------------------------
@dataclass
class Aggregate:
    """Per-edge sums (`edges`) and long-format histograms (`hist`) of some connections."""

    edges: pd.DataFrame  # src, dst, window, conns, src_bytes..duration, first, last
    hist: pd.DataFrame  # src, dst, window, comp, value, n

    @staticmethod
    def empty() -> Aggregate:
        return Aggregate(
            pd.DataFrame(columns=[*EDGE_KEY, "conns", *NUMERIC, "first", "last"]),
            pd.DataFrame(columns=[*EDGE_KEY, "comp", "value", "n"]),
        )


def transform(frame: pd.DataFrame, window_kind: str) -> Aggregate:
    """Normalised connections -> per (src, dst, window) sums and categorical histograms."""
    if frame.empty:
        return Aggregate.empty()
    chunk = accumulate.chunk_codes(frame, window_kind)
    edge_keys = chunk.edges[EDGE_KEY]
    parts = []
    for comp, (e, v, n, vocab) in chunk.hist.items():
        part = edge_keys.iloc[e].reset_index(drop=True)
        part["comp"] = comp
        part["value"] = vocab[v]
        part["n"] = n
        parts.append(part)
    return Aggregate(chunk.edges, pd.concat(parts, ignore_index=True))


def combine(aggs: Sequence[Aggregate]) -> Aggregate:
    """Sum several aggregates (chunks of one file) into one."""
    aggs = [a for a in aggs if not a.edges.empty]
    if not aggs:
        return Aggregate.empty()
    if len(aggs) == 1:
        return aggs[0]
    edges = pd.concat([a.edges for a in aggs], ignore_index=True)
    edges = edges.groupby(EDGE_KEY, sort=False, as_index=False).agg(
        conns=("conns", "sum"),
        **{c: (c, "sum") for c in NUMERIC},
        first=("first", "min"),
        last=("last", "max"),
    )
    hist = pd.concat([a.hist for a in aggs], ignore_index=True)
    summed: pd.DataFrame = hist.groupby(  # type: ignore[assignment]
        [*EDGE_KEY, "comp", "value"], sort=False, as_index=False
    )["n"].sum()
    return Aggregate(edges, summed)


def host_rows(
    rows: accumulate.EdgeRows, classify: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """`hosts_upsert` rows for every host of the edges: its classification and time span."""
    return [
        {"id": h, "props": classify(h), "first_ms": span[0], "last_ms": span[1]}
        for h, span in rows.hosts().items()
    ]


def edge_rows(agg: Aggregate, top: dict[str, int]) -> list[dict[str, Any]]:
    """Aggregate -> one dict per edge (sorted by src, dst, window) ready for loading: the rows
    `graphnet.accumulate.EdgeRows` gives (the one implementation, used by ingest itself)."""
    if agg.edges.empty:
        return []
    pos = pd.MultiIndex.from_frame(agg.edges[EDGE_KEY]).get_indexer(
        pd.MultiIndex.from_frame(agg.hist[EDGE_KEY])
    )
    hist = {}
    for comp, h in agg.hist.assign(e=pos).groupby("comp", sort=False):
        codes, vocab = pd.factorize(h["value"].to_numpy(), sort=False)
        hist[str(comp)] = (
            h["e"].to_numpy(dtype=np.int64),
            codes.astype(np.int64),
            h["n"].to_numpy(dtype=np.int64),
            np.asarray(vocab, dtype=object),
        )
    acc = accumulate.EdgeAccumulator()
    acc.add(accumulate.ChunkCodes(agg.edges, hist))
    rows = acc.rows(top)
    return rows.slice(0, len(rows))


def edge_key(src: str, dst: str, window: str) -> str:
    """The `key` property of a TALKED edge (indexed): unique per (src, dst, window) for any
    strings, `<len(src)>:src|<len(dst)>:dst|window` (`graphnet.accumulate.edge_key`)."""
    return accumulate.edge_key(src, dst, window)


def edge_top(settings: Settings) -> dict[str, int]:
    """How many values of each summarised component an edge keeps (the rest: `other`)."""
    return {c: settings.top_ports for c in accumulate.EDGE_COMPONENTS}


def merge_props(old: dict[str, Any], new: dict[str, Any], top: dict[str, int]) -> dict[str, Any]:
    """Add a new file's edge aggregate to what the edge already holds."""
    out = dict(new)
    for key, value in old.items():
        if key in ("window", "first_seen", "last_seen", *accumulate.SUMMARY_PROPS.values()):
            continue
        if key.endswith("_k"):
            comp = key[:-2]
            counts: dict[str, int] = {}
            for k, n in zip(old.get(f"{comp}_k", []), old.get(f"{comp}_n", []), strict=False):
                counts[k] = counts.get(k, 0) + int(n)
            for k, n in zip(new.get(f"{comp}_k", []), new.get(f"{comp}_n", []), strict=False):
                counts[k] = counts.get(k, 0) + int(n)
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            limit = top.get(comp)
            if limit is not None and sum(1 for k, _ in items if k != OTHER) > limit:
                kept = [(k, n) for k, n in items if k != OTHER][:limit]
                folded = sum(counts.values()) - sum(n for _, n in kept)
                items = sorted([*kept, (OTHER, folded)], key=lambda kv: (-kv[1], kv[0]))
            out[f"{comp}_k"] = [k for k, _ in items]
            out[f"{comp}_n"] = [n for _, n in items]
        elif key.endswith("_n"):
            continue
        elif key.endswith("_distinct"):
            comp = key[: -len("_distinct")]
            union = {
                k for k in [*old.get(f"{comp}_k", []), *new.get(f"{comp}_k", [])] if k != OTHER
            }
            out[key] = max(int(value), int(new.get(key, 0)), len(union))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = type(value)(value + new.get(key, 0))
    for comp, prop in accumulate.SUMMARY_PROPS.items():
        if f"{comp}_k" in out:
            out[prop] = accumulate.summary(out[f"{comp}_k"], out[f"{comp}_n"])
    return out


# --------------------------------------------------------------------------------------------
# hosts
# --------------------------------------------------------------------------------------------
_DEFAULT_INTERNAL = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def host_classifier(
    internal_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
) -> Callable[[str], dict[str, Any]]:
    """id -> {ip, internal, subnet}: RFC 1918/4193 are internal unless CIDRs are configured."""
    nets = tuple(internal_cidrs) or _DEFAULT_INTERNAL

    @lru_cache(maxsize=1 << 18)
    def classify(host_id: str) -> dict[str, Any]:
        try:
            ip = ipaddress.ip_address(host_id.split("%", 1)[0])
        except ValueError:
            return {"ip": None, "internal": False, "subnet": None}
        prefix = 24 if ip.version == 4 else 64
        subnet = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
        internal = any(ip.version == n.version and ip in n for n in nets)
        return {"ip": str(ip), "internal": internal, "subnet": subnet}

    return classify


def internal_hosts(
    internal_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
) -> Callable[[np.ndarray], np.ndarray]:
    """Host ids -> a boolean array: internal (`host_classifier`)? The classifier's cache is
    emptied after each call, so that classifying many hosts in batches keeps no more than a
    batch."""
    classify = host_classifier(internal_cidrs)

    def internal(hosts: np.ndarray) -> np.ndarray:
        out = np.array([bool(classify(str(h))["internal"]) for h in hosts], dtype=bool)
        classify.cache_clear()  # type: ignore[attr-defined]
        return out

    return internal


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------
@dataclass
class FileResult:
    path: str
    format: str | None
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    status: str = "pending"  # ingested | resumed | already ingested | skipped | failed
    message: str = ""
    #: for an ingested or resumed file, which run committed its group's batches to the graph:
    #: "this run", "another run" (a concurrent ingest of the same file did it meanwhile, or a
    #: killed one) or "this and another run" (they shared the batches); empty otherwise
    ingested_by: str = ""
    rejects_file: str | None = None
    relative_ts: bool = False
    sha256: str = ""
    windows: list[str] = field(default_factory=list)
    #: dns / http records accepted (a file may hold connections and records: a mixed JSON log)
    records: dict[str, int] = field(default_factory=dict)
    #: the windows each record table was archived in
    record_windows: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class IngestResult:
    files: list[FileResult]
    seconds: float
    window_kind: str
    #: connections this run wrote to the graph: of concurrent ingests of the same files, these
    #: add up to the data once (`accepted` counts what each run parsed)
    written: int = 0
    #: how the window kind was chosen ("hour windows (auto: the data spans 55 minutes)")
    window_reason: str = ""

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [
                {k: v for k, v in asdict(f).items() if k not in ("sha256", "record_windows")}
                for f in self.files
            ],
            "accepted": self.accepted,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "window_kind": self.window_kind,
            "window_reason": self.window_reason,
            "written": self.written,
        }


class Progress:
    """Callbacks for a front end; the default does nothing."""

    def files(self, total: int) -> None: ...
    def file_started(self, path: Path, size: int) -> None: ...
    def rows(self, n: int, nbytes: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...
    def edges(self, written: int, total: int) -> None:
        """Edges of the group being loaded written so far (its files are done at the end)."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def plan_of(settings: Settings, window_kind: str) -> str:
    """Settings that decide how a file's batches are cut: a resumed ingest must use the same."""
    return json.dumps(
        {
            "window": window_kind,
            "top_ports": settings.top_ports,
            "top_history": settings.top_history,
            "batch": settings.batch_size,
            "rows": 2,  # how batches are cut from a group (graphnet.accumulate.EdgeRows)
            "parts": PARTITIONS,
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class WindowChoice:
    """The window kind an ingest uses, and how it was chosen (for people)."""

    kind: str
    reason: str
    #: whether the kind is recorded for the home (False: `auto` had no data to choose from,
    #: the next ingest chooses again)
    recorded: bool = True


#: `span()` of `window_choice`: the first and last time of the data being ingested (None:
#: no connection)
Span = Callable[[], tuple[float, float] | None]


def _check_kind(requested: str | None, default: str) -> str:
    """The kind asked for (`--window`, else `GRAPHNET_WINDOW`/the settings), checked."""
    if requested is not None and requested not in windows.CHOICES:
        raise ConfigError(
            f"unknown window {requested!r}", hint=f"use one of {', '.join(windows.CHOICES)}"
        )
    if requested is None and default not in windows.CHOICES:
        raise ConfigError(
            f"unknown window {default!r} (GRAPHNET_WINDOW)",
            hint=f"use one of {', '.join(windows.CHOICES)}",
        )
    return requested if requested is not None else default


def window_choice(
    store: Store,
    requested: str | None,
    default: str,
    span: Span | None = None,
    archived: Sequence[str] = (),
) -> WindowChoice:
    """The graph's window kind: the first ingest records it, later ones must agree.

    `auto` (`--window auto`, or the settings' default `auto`) keeps the kind a home has; a
    new home (no kind recorded) takes the kind of the windows its archive already holds
    (`archived`: another Neo4j behind the same home), else the one `windows.choose_kind`
    picks from the span of the data being ingested (`span()`, asked only then): hour windows
    for less than a day, day windows up to two weeks, week windows beyond. Without any
    connection to choose from, week windows are used and nothing is recorded."""
    want = _check_kind(requested, default)
    got = store.read("graphmeta_get")
    recorded = got[0]["window_kind"] if got else None
    if recorded is not None:
        if requested not in (None, windows.AUTO, recorded):
            raise ConfigError(
                f"this graph holds {recorded} windows; cannot add {requested} windows to it",
                hint=f"ingest with --window {recorded}, or start a new graph with `graphnet reset`",
            )
        return WindowChoice(str(recorded), f"{recorded} windows, as this graph holds")
    if want != windows.AUTO:
        reason = f"{want} windows" + (" (--window)" if requested is not None else "")
    elif archived:
        want = windows.kind_of(archived[0])
        reason = f"{want} windows (auto: those of the connection archive)"
    else:
        first_last = span() if span is not None else None
        if first_last is None:
            log.info("window auto: no connection to choose a window kind from (week for now)")
            return WindowChoice("week", "week windows (auto: no connections yet)", False)
        want = windows.choose_kind(*first_last)
        reason = f"{want} windows (auto: the data spans {windows.describe_span(*first_last)})"
    kind = str(store.write("graphmeta_init", window_kind=want)[0]["window_kind"])
    if kind != want:  # another ingest recorded its kind meanwhile
        return window_choice(store, requested, default, span, archived)
    log.info("window kind of this graph: %s", reason)
    return WindowChoice(kind, reason)


def graph_window_kind(store: Store, requested: str | None, default: str) -> str:
    """The graph's window kind (`window_choice` without data to choose `auto` from)."""
    return window_choice(store, requested, default).kind


def scan_span(paths: Sequence[Path], fmt: str | None) -> tuple[float, float] | None:
    """The first and last connection time of the files (None: no connection): what `auto`
    chooses the window kind of a new home from. Read once, before the files are parsed for
    good; files that cannot be read are left to the parse, which reports them."""
    lo, hi = np.inf, -np.inf
    for path in paths:
        try:
            for chunk in sources.read(path, fmt):
                for frame in (chunk.frame, *chunk.tables.values()):
                    ts = frame["ts"].to_numpy(dtype="float64")
                    ts = ts[np.isfinite(ts)]
                    if len(ts):
                        lo, hi = min(lo, float(ts.min())), max(hi, float(ts.max()))
        except InputError as exc:
            log.debug("window auto: %s is not scanned: %s", path, exc)
    return (lo, hi) if lo <= hi else None


def reset(store: Store, settings: Settings) -> None:
    """Delete the graph, the connection archive and stored results."""
    store.clear()
    Archive(settings).reset()


def _ledger_lookup(store: Store) -> archive.LedgerLookup:
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


def _tidy_rejects(settings: Settings) -> None:
    """Remove the temporary rejects files of killed ingests (call only when no other ingest
    runs: see `Archive.ingesting`)."""
    d = settings.rejects_dir
    if not d.is_dir():
        return
    for p in d.glob("*.tmp"):
        if not p.name.endswith(f".{os.getpid()}.tmp"):
            p.unlink(missing_ok=True)


def _write_rejects(path: Path, rejects: Iterable[sources.Reject], fh_holder: dict[str, Any]) -> int:
    n = 0
    for r in rejects:
        fh = fh_holder.get("fh")
        if fh is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = fh_holder["fh"] = path.open("w", encoding="utf-8")
            fh.write("file\tline\treason\ttext\n")
        text = r.text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        fh.write(f"{r.path}\t{r.line}\t{r.reason}\t{text}\n")
        n += 1
    return n


def _parse_file(
    path: Path,
    fmt: str,
    sha: str,
    settings: Settings,
    window_kind: str,
    result: FileResult,
    progress: Progress,
    aggregate: bool = True,
    sensor: str | None = None,
) -> tuple[accumulate.EdgeAccumulator | None, list[pd.DataFrame]]:
    """Read the whole file (into the archive too); raise InputError if unreadable. Without
    `aggregate` (a first load, whose edges the engine aggregates from the archive), only the
    archive is written. Its dns and http records go to their own archives; `sensor` names the
    sensor of records whose log names none.

    Returns the aggregate of what was transformed already (None if nothing) and the frames not
    transformed yet: small files' rows are transformed together with other files' (per-call
    overhead), large files every TRANSFORM_ROWS rows (bounded memory)."""
    archive = Archive(settings).writer(sha, source=str(path))
    record_writers: dict[str, ArchiveWriter] = {}
    record_windows: dict[str, set[str]] = {}
    rejects_path = settings.rejects_dir / f"{path.name}.{sha[:12]}.rejects.tsv"
    # written under a temporary name, renamed when complete: never a partial rejects file
    rejects_tmp = rejects_path.with_name(f"{rejects_path.name}.{os.getpid()}.tmp")
    holder: dict[str, Any] = {}
    acc: accumulate.EdgeAccumulator | None = None
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    windows_seen: set[str] = set()
    try:
        for chunk in sources.read(path, fmt):
            frame = with_sensor(chunk.frame, sensor)
            result.rejected += _write_rejects(rejects_tmp, chunk.rejects, holder)
            result.skipped += getattr(chunk, "skipped", 0)
            result.relative_ts = result.relative_ts or chunk.relative_ts
            for name, recs in chunk.tables.items():
                if recs.empty:
                    continue
                writer = record_writers.get(name)
                if writer is None:
                    writer = Archive(settings).records(name).writer(sha, source=str(path))
                    record_writers[name] = writer
                rwin = windows.window_ids(recs["ts"].to_numpy(dtype="float64"), window_kind)
                writer.write(with_sensor(recs, sensor), rwin.to_numpy())
                result.records[name] = result.records.get(name, 0) + len(recs)
                seen = pd.unique(rwin.to_numpy()).tolist()
                record_windows.setdefault(name, set()).update(seen)
                windows_seen.update(seen)
            if frame.empty:
                continue
            result.accepted += len(frame)
            win = windows.window_ids(frame["ts"].to_numpy(dtype="float64"), window_kind)
            archive.write(frame, win.to_numpy())
            windows_seen.update(pd.unique(win.to_numpy()).tolist())
            progress.rows(len(frame), 0)
            if not aggregate:
                continue
            pending.append(frame)
            pending_rows += len(frame)
            if pending_rows >= TRANSFORM_ROWS:
                acc = acc or accumulate.EdgeAccumulator()
                acc.add_frame(_concat(pending), window_kind)
                pending, pending_rows = [], 0
        rejects_fh = holder.pop("fh", None)
        if rejects_fh is not None:
            rejects_fh.close()  # flushes: a full disk fails here at the latest
        archive.finish()  # complete under final names; read once the ledger says done
        for writer in record_writers.values():
            writer.finish()
    except BaseException as exc:
        archive.abort()
        for writer in record_writers.values():
            writer.abort()
        if holder.get("fh"):
            with contextlib.suppress(OSError):  # closing fails again on a full disk
                holder["fh"].close()
        rejects_tmp.unlink(missing_ok=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise DiskFull.writing(
                f"the rejected lines of {path}", settings.rejects_dir, exc
            ) from exc
        raise
    if rejects_fh is not None:
        rejects_tmp.replace(rejects_path)
        result.rejects_file = str(rejects_path)
    else:
        rejects_path.unlink(missing_ok=True)
    result.windows = sorted(windows_seen)
    result.record_windows = {k: sorted(v) for k, v in record_windows.items()}
    return acc, pending


def with_sensor(frame: pd.DataFrame, sensor: str | None) -> pd.DataFrame:
    """The records of a frame whose log names no sensor get `sensor` (None: left unset)."""
    if not sensor:
        return frame
    if "sensor" not in frame.columns:
        return frame.assign(sensor=sensor)
    missing = frame["sensor"].isna()
    if not missing.any():
        return frame
    frame = frame.copy()
    frame["sensor"] = frame["sensor"].astype(object).where(~missing, sensor)
    return frame


def _commit(settings: Settings, m: _Member) -> None:
    """The ledger says the file is done: its connections and records are read from now on."""
    Archive(settings).commit(m.sha, m.result.windows)
    for name, wins in m.result.record_windows.items():
        Archive(settings).records(name).commit(m.sha, wins)


def _write_records(store: Store, members: Sequence[_Member], settings: Settings) -> None:
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


def _recount_sensor_windows(
    store: Store, members: Sequence[_Member], settings: Settings
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
        n, len(several), time.perf_counter() - t0,
    )
    return several


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


class _CommittedElsewhere(Exception):
    """Another run committed this batch while this transaction wrote it: roll it back."""


def _load_batches(
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
        batch = rows.slice(lo, hi)

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

        ours = True
        try:
            with accumulate.gc_paused():  # rows in and out of the driver: many small objects
                store.transaction(work)
        except _CommittedElsewhere:
            ours = False
            log.info("batch %d of group %s was committed by another run", i, group[:12])
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


@dataclass
class _Member:
    """One file of an ingest group, parsed."""

    path: Path
    sha: str
    result: FileResult


class _Group:
    """Files parsed into one running aggregate, to be loaded together."""

    def __init__(self) -> None:
        self.members: list[_Member] = []
        self.windows: set[str] = set()
        self.acc = accumulate.EdgeAccumulator()
        self.pending: list[pd.DataFrame] = []
        self.pending_rows = 0

    def add(
        self,
        member: _Member,
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
            self.acc.add_frame(_concat(self.pending), window_kind)
            self.pending, self.pending_rows = [], 0
        return self.acc


def _ledger_props(m: _Member, window_kind: str) -> dict[str, Any]:
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


def _group_id(shas: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(shas)).encode()).hexdigest()


def _load_group(
    store: Store,
    members: Sequence[_Member],
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
    group = group or _group_id(m.sha for m in members)
    plan = plan_of(settings, window_kind)
    top = edge_top(settings)
    t0 = time.perf_counter()
    rows = acc.rows(top, PARTITIONS)
    batches = len(rows.batches(settings.batch_size))
    files = [{"sha256": m.sha, "props": _ledger_props(m, window_kind)} for m in members]
    began = store.write(
        "ingest_group_begin", id=group, plan=plan, batches_total=batches, files=files
    )[0]
    if began["plan"] != plan:
        raise StoreError(
            f"an interrupted ingest of {members[0].result.path} used other settings "
            f"({began['plan']})",
            hint="re-run with the same --window and settings to finish it",
        )
    done = {int(i) for i in began["done"] or []}
    start = len(done)
    hosts = host_rows(rows, host_classifier(settings.internal_cidrs))
    store.write_batches("hosts_upsert", hosts, settings.batch_size)
    t1 = time.perf_counter()
    mine, conns = _load_batches(store, group, rows, done, settings, top, settings.writers, progress)
    # before the ledger says done: never left out
    _recount_sensor_windows(store, members, settings)
    _write_records(store, members, settings)
    store.write("ingest_group_finish", id=group)
    # the batches not committed by this run were committed by another one: a concurrent
    # ingest of the same files, or a killed one that this run resumed
    by = "this run" if mine == batches else "another run" if not mine else "this and another run"
    log.info(
        "group of %d files: %d edges, %d hosts; prepared in %.1f s, written in %.1f s",
        len(members),
        len(rows),
        len(hosts),
        t1 - t0,
        time.perf_counter() - t1,
    )
    for m in members:
        m.result.status = "resumed" if start else "ingested"
        m.result.ingested_by = by
        if m.result.relative_ts:
            m.result.message = "relative timestamps (counted from epoch 0)"
    return conns


def _format_hint() -> str:
    return (
        "expected a Zeek conn log (TSV or JSON, optionally .gz), a CIDDS-001 or CTU binetflow CSV, "
        "or nfdump CSV; force one with --format"
    )


def _parse_member(
    path: Path,
    sha: str,
    fmt: str | None,
    settings: Settings,
    window_kind: str,
    progress: Progress,
    aggregate: bool = True,
    sensor: str | None = None,
) -> tuple[_Member, accumulate.EdgeAccumulator | None, list[pd.DataFrame]]:
    detected_fmt = fmt or sources.detect(path).format
    result = FileResult(path=str(path), format=detected_fmt, sha256=sha)
    acc, pending = _parse_file(
        path, detected_fmt or "", sha, settings, window_kind, result, progress, aggregate, sensor
    )
    return _Member(path, sha, result), acc, pending


def _bulk_wanted(store: Store, settings: Settings, fresh: Sequence[tuple[Path, str]]) -> bool:
    """A first load goes through the import tool: graphnet's own server, an empty graph (no
    hosts, no ingested files) and at least `settings.bulk_min_mb` MiB of log files."""
    local = store.settings
    if not fresh or local.origin != "local" or not local.instance or not local.home:
        return False
    size = sum(p.stat().st_size for p, _ in fresh)
    if size < settings.bulk_min_mb * 2**20:
        return False
    return bool(store.read("graph_empty")[0]["empty"])


def _bulk_load(
    store: Store,
    members: Sequence[_Member],
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
    group = _group_id(shas)
    now = int(time.time() * 1000)
    ingests = [
        {
            "sha256": m.sha,
            **_ledger_props(m, window_kind),
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
    _recount_sensor_windows(store, members, settings)
    _write_records(store, members, settings)
    for m in members:
        # the ledger says done: the detectors may read the file's archive files now
        _commit(settings, m)
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


def ingest_frame(
    store: Store,
    frame: pd.DataFrame,
    settings: Settings,
    name: str = "<frame>",
    window: str | None = None,
) -> FileResult:
    """Ingest a normalised connection table that is already in memory (tests, generators,
    other front ends). Identified by a hash of its content: the same frame twice is a no-op."""
    with Archive(settings).ingesting(_ledger_lookup(store)) as alone:
        if alone:
            _tidy_rejects(settings)
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
    member = _Member(Path(name), digest, result)
    acc = accumulate.EdgeAccumulator()
    for i in range(0, len(frame), TRANSFORM_ROWS):
        acc.add_frame(frame.iloc[i : i + TRANSFORM_ROWS], kind)
    _load_group(store, [member], acc, settings, kind)
    Archive(settings).commit(digest, result.windows)  # after the ledger says done
    return result


def ingest(
    store: Store,
    paths: Sequence[Path],
    settings: Settings,
    window: str | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
    group_rows: int = GROUP_ROWS,
    sensor: str | None = None,
) -> IngestResult:
    """Ingest every log file under `paths`, each exactly once (connections, and the dns and
    http records of Zeek logs; `sensor` names the sensor of records whose log names none).

    Files are parsed one by one into a running aggregate and loaded in groups: a group closes
    when its aggregate holds about `group_rows` histogram rows (compact numbers, ~24 bytes
    each), so hourly rotated logs of a whole week usually become one set of edge writes (each
    edge written once) while memory stays bounded. A file that cannot be read
    is reported as failed and leaves the graph untouched; the others go on. An interrupted
    group (killed process, lost server) is completed by the next run over the same files.

    A file's archive files are committed (read by the detectors) only after the ledger says
    the file is done; a run that starts alone adopts or removes what killed runs left
    (`Archive.ingesting`). A full disk raises DiskFull and keeps nothing half-written.
    """
    with Archive(settings).ingesting(_ledger_lookup(store)) as alone:
        if alone:
            _tidy_rejects(settings)
        return _ingest(store, paths, settings, window, fmt, progress, group_rows, sensor)


def _ingest(
    store: Store,
    paths: Sequence[Path],
    settings: Settings,
    window: str | None,
    fmt: str | None,
    progress: Progress | None,
    group_rows: int,
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
            f"no log files found under {', '.join(map(str, paths))}", hint=_format_hint()
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
            log.error("%s (%s)", res.message, _format_hint())
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

    Parsed = tuple[_Member, accumulate.EdgeAccumulator | None, list[pd.DataFrame]]

    def parse_one(path: Path, sha: str, aggregate: bool = True) -> Parsed | None:
        progress.file_started(path, path.stat().st_size)
        try:
            return _parse_member(path, sha, fmt, settings, kind, progress, aggregate, sensor)
        except InputError as exc:
            results[path].status, results[path].message = "failed", str(exc)
            log.error("%s", exc)
            progress.file_done(results[path])
            return None

    def parse(items: Sequence[tuple[Path, str]]) -> _Group:
        group = _Group()
        for path, sha in items:
            if parsed := parse_one(path, sha):
                group.add(*parsed, kind)
        return group

    if not interrupted and _bulk_wanted(store, settings, fresh):
        loaded = []
        for path, sha in fresh:
            if parsed := parse_one(path, sha, aggregate=False):
                loaded.append(parsed[0])
        conns = _bulk_load(store, loaded, settings, kind, progress)
        for member in loaded:
            results[member.path] = member.result
            progress.file_done(member.result)
        ordered = [results[p] for p in files]
        return IngestResult(ordered, time.perf_counter() - t0, kind, conns, choice.reason)

    written = [0]  # connections this run committed

    def load(group: _Group, gid: str | None = None) -> None:
        written[0] += _load_group(
            store, group.members, group.close(kind), settings, kind, gid, progress
        )
        for m in group.members:
            # the ledger says done: the detectors may read the file's archive files now
            _commit(settings, m)
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
        load(parse(items), gid)

    # (writing a group in the background while parsing the next was tried: on a 2-core
    # machine parsing and Neo4j then compete for the cores, and two groups double the memory)
    group = _Group()
    for path, sha in fresh:
        parsed = parse_one(path, sha)
        if parsed is None:
            continue
        # a file that starts new windows closes a group of a fair size: a window's edges are
        # then written once, not once per group
        if group.held_rows >= group_rows // 16 and not group.windows & set(
            parsed[0].result.windows
        ):
            load(group)
            group = _Group()
        group.add(*parsed, kind)
        if group.held_rows >= group_rows:
            load(group)
            group = _Group()
    if group.members:
        load(group)
    ordered = [results[p] for p in files]
    for res in ordered:
        log.info(
            "%s: %s (%d accepted, %d rejected)", res.path, res.status, res.accepted, res.rejected
        )
    return IngestResult(ordered, time.perf_counter() - t0, kind, written[0], choice.reason)


def stats(store: Store) -> dict[str, Any]:
    row = store.read("stats")[0]
    return {k: row[k] for k in ("hosts", "connections", "edges", "windows", "files", "window_kind")}
