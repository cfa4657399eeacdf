"""Parse: a log file, read whole (graphnet.sources.read, streamed chunks), into the connection
archive, its rejected lines into a rejects file, and its rows kept for the group's aggregate. A
file is identified by the SHA-256 of its content. A file that fails to parse (unknown format,
truncated gzip) writes nothing.

Zeek dns and http records (dns.log, http.log, or mixed JSON files) are archived per window
beside the connections (`Archive.records`). Every record carries a `sensor`: the log's own
(`_node_name`, `@system`) or `sensor=`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graphnet import accumulate, sources, windows
from graphnet.archive import Archive, ArchiveWriter
from graphnet.config import Settings
from graphnet.errors import DiskFull, is_disk_full
from graphnet.ingest.results import FileResult, Progress
from graphnet.ingest.rows import TRANSFORM_ROWS, concat


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def tidy_rejects(settings: Settings) -> None:
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
                acc.add_frame(concat(pending), window_kind)
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


@dataclass
class Member:
    """One file of an ingest group, parsed."""

    path: Path
    sha: str
    result: FileResult


def format_hint() -> str:
    return (
        "expected a Zeek conn log (TSV or JSON, optionally .gz), a CIDDS-001 or CTU binetflow CSV, "
        "or nfdump CSV; force one with --format"
    )


def parse_member(
    path: Path,
    sha: str,
    fmt: str | None,
    settings: Settings,
    window_kind: str,
    progress: Progress,
    aggregate: bool = True,
    sensor: str | None = None,
) -> tuple[Member, accumulate.EdgeAccumulator | None, list[pd.DataFrame]]:
    detected_fmt = fmt or sources.detect(path).format
    result = FileResult(path=str(path), format=detected_fmt, sha256=sha)
    acc, pending = _parse_file(
        path, detected_fmt or "", sha, settings, window_kind, result, progress, aggregate, sensor
    )
    return Member(path, sha, result), acc, pending
