"""Watched folders: which log files are there, and which of them are complete (settled,
a Zeek log with its `#close` footer, a whole gzip stream) and may be ingested."""

from __future__ import annotations

import fnmatch
import gzip
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from graphnet.scheduler.config import IngestJobConfig

ZEEK_HEADER = b"#separator"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


def stable_since(mtime: float, first_seen: float) -> float:
    """Since when a file is known to have had its current size and modification time: its
    mtime, or when it was first seen so (a modification time in the future, from a skewed clock
    on a network file system, cannot shorten the wait)."""
    return min(mtime, first_seen)


def _zeek_tail_closed(tail: bytes) -> bool:
    lines = [ln for ln in tail.replace(b"\r", b"").split(b"\n") if ln.strip()]
    return bool(lines) and lines[-1].startswith(b"#close")


def file_complete(path: Path, require_zeek_close: bool = True) -> Readiness:
    """Whether a file's content is whole: a gzip stream decompresses to its end, and a Zeek TSV
    log (first line `#separator`) ends with its `#close` footer when `require_zeek_close`."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            if magic == GZIP_MAGIC:
                head = b""
                tail = b""
                try:
                    with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                        while block := gz.read(1 << 20):
                            if len(head) < 64:
                                head += block[:64]
                            tail = (tail + block)[-4096:]
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    return Readiness(False, f"gzip stream is incomplete ({exc})")
            else:
                head = fh.read(64)
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(0, size - 4096))
                tail = fh.read()
    except OSError as exc:
        return Readiness(False, f"cannot read it ({exc.strerror or exc})")
    is_zeek = head.lstrip(b"\xef\xbb\xbf").startswith(ZEEK_HEADER)
    if is_zeek and require_zeek_close and not _zeek_tail_closed(tail):
        return Readiness(False, "Zeek log without its #close footer (still being written)")
    return Readiness(True, "complete")


def check_ready(
    path: Path,
    size: int,
    mtime: float,
    first_seen: float,
    now: float,
    settle_seconds: float,
    require_zeek_close: bool = True,
    incomplete_timeout_seconds: float = 86400.0,
) -> Readiness:
    """Whether a watched file may be ingested now.

    `size` and `mtime` are the file's current stat; `first_seen` is when the watcher first saw
    it with exactly this size and mtime (it resets whenever either changes). The file must have
    been unchanged for `settle_seconds`, and be complete (`file_complete`); a file that stays
    incomplete for `incomplete_timeout_seconds` is handed to ingest anyway so that its problem is
    reported rather than waited for forever."""
    since = stable_since(mtime, first_seen)
    quiet = now - since
    if quiet < settle_seconds:
        return Readiness(
            False,
            f"changed {quiet:.0f} s ago; waiting until unchanged for {settle_seconds:.0f} s",
        )
    if size == 0:
        return Readiness(False, "empty file")
    done = file_complete(path, require_zeek_close)
    if done.ready:
        return done
    if quiet >= incomplete_timeout_seconds:
        return Readiness(True, f"{done.reason}, unchanged for {quiet:.0f} s: ingesting anyway")
    return done


def _excluded(rel: Path, exclude: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in exclude)


def scan_watch_dirs(cfg: IngestJobConfig) -> tuple[list[Path], list[str]]:
    """Files under the watched folders that match the patterns (and are not excluded), oldest
    modification first; plus a note per watched folder that does not exist."""
    found: dict[str, tuple[float, Path]] = {}
    notes = []
    for root in cfg.watch:
        if not root.is_dir():
            notes.append(f"watched folder {root} does not exist")
            continue
        walker = root.rglob("*") if cfg.recursive else root.glob("*")
        for p in walker:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if _excluded(rel, cfg.exclude):
                continue
            if not any(fnmatch.fnmatch(p.name, pat) for pat in cfg.patterns):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            if not p.is_file():
                continue
            found[str(p)] = (st.st_mtime, p)
    ordered = sorted(found.values(), key=lambda t: (t[0], str(t[1])))
    return [p for _, p in ordered], notes
