"""The one door to the columnar store: the connection archive and the stored results.

- **Connection archive** (`$GRAPHNET_HOME/archive/<window>/<sha16>.parquet`): the normalised
  connections of each ingested file, one Parquet file per (window, file content), written by
  ingest through `ArchiveWriter` (atomically: a file appears under its final name only when it
  is complete). Detectors read the columns they need with `Archive.connections`.
- **Stored results** (`$GRAPHNET_HOME/scores/<window>/<name>.parquet`): what an analysis keeps
  for later steps, reports and feedback (novelty scores, conversation summaries, volume
  series ...), each a table with a JSON metadata entry, written atomically.

Nothing else in graphnet opens these files: an engine that answers the same questions without
loading whole windows (the scale work) goes behind these methods.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graphnet import windows
from graphnet.config import Settings

log = logging.getLogger(__name__)

#: ground-truth label columns kept from labelled logs: for evaluation only, never for detectors
LABEL_COLUMNS = ("label", "detailed_label", "attack_type", "attack_id")
ARCHIVE_FILE = re.compile(r"^[0-9a-f]{16}\.parquet$")
RESULT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_META_KEY = b"graphnet"


class ArchiveWriter:
    """Connections of one ingested file: one Parquet file per window, committed atomically."""

    def __init__(self, root: Path, sha: str) -> None:
        self.root = root
        self.sha = sha[:16]
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, Path] = {}

    def write(self, frame: pd.DataFrame, win: np.ndarray) -> None:
        for w in pd.unique(win):
            part = frame[win == w]
            table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
            writer = self.writers.get(w)
            if writer is None:
                path = self.root / str(w) / f"{self.sha}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".parquet.tmp")
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                self.writers[w], self.paths[w] = writer, path
            elif not table.schema.equals(writer.schema):
                table = table.cast(writer.schema)
            writer.write_table(table)

    def commit(self) -> None:
        for w, writer in self.writers.items():
            writer.close()
            path = self.paths[w]
            path.with_suffix(".parquet.tmp").replace(path)

    def abort(self) -> None:
        for w, writer in self.writers.items():
            writer.close()
            self.paths[w].with_suffix(".parquet.tmp").unlink(missing_ok=True)


@dataclass(frozen=True)
class Stored:
    """A stored result: its table and the metadata written with it."""

    frame: pd.DataFrame
    meta: dict[str, Any]


def _meta(path: Path) -> dict[str, Any]:
    raw = pq.read_schema(path).metadata or {}
    # results written before the archive door kept their metadata under their own key
    text = raw.get(_META_KEY) or raw.get(b"graphnet_novelty") or b"{}"
    return dict(json.loads(text))


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """An empty connection frame with the archive's dtypes for `columns`."""
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "ts" else object) for c in columns})


class Archive:
    """Reads and writes the columnar store of one graphnet home."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.archive_dir
        self.results_root = settings.home / "scores"

    # ---------------------------------------------------------------- the connection archive
    def writer(self, sha: str) -> ArchiveWriter:
        """A writer for the connections of the file with content hash `sha`."""
        return ArchiveWriter(self.root, sha)

    def files(self, window: str) -> list[Path]:
        """The archive files of a window (one per ingested file content), in name order."""
        d = self.root / window
        if not d.is_dir():
            return []
        return sorted(p for p in d.iterdir() if ARCHIVE_FILE.match(p.name))

    def windows(self) -> list[str]:
        """Windows present in the connection archive, oldest first."""
        if not self.root.is_dir():
            return []
        out = []
        for d in self.root.iterdir():
            try:
                windows.kind_of(d.name)
            except ValueError:
                continue
            if self.files(d.name):
                out.append(d.name)
        return sorted(out)

    def latest(self) -> str | None:
        ws = self.windows()
        return ws[-1] if ws else None

    def require(self, window: str | None) -> str:
        """The window an analysis scores: `window`, else the latest archived one. Raises
        ValueError for a malformed id, an empty archive, or a window the archive does not hold
        (scoring it would report nothing, as if the window were quiet)."""
        if window is not None:
            windows.bounds(window)  # "not a window id ..."
        ws = self.windows()
        if not ws:
            raise ValueError("the connection archive is empty: ingest logs first")
        if window is None:
            return ws[-1]
        if window not in ws:
            raise ValueError(
                f"no connections archived for {window} (the archive holds {ws[0]} to {ws[-1]})"
            )
        return window

    def history(self, window: str, days: float) -> list[str]:
        """Archive windows that end at or before `window` starts and start within `days`
        before it, oldest first."""
        start, _ = windows.bounds(window)
        lo = start.timestamp() - days * 86400.0
        out = []
        for w in self.windows():
            if w >= window:
                continue
            try:
                ws, we = windows.bounds(w)
            except ValueError:
                continue
            if we.timestamp() <= start.timestamp() and ws.timestamp() >= lo - 1e-6:
                out.append(w)
        return out

    def table(
        self,
        wins: Sequence[str],
        columns: Sequence[str] | None = None,
        labels: bool = False,
    ) -> pa.Table | None:
        """The archived connections of `wins` as one Arrow table: `columns` (default all) that
        exist, and the ground-truth label columns only with `labels` (evaluation; detectors
        never read them). None when the windows hold nothing."""
        tables = []
        for w in wins:
            for f in self.files(w):
                names = pq.read_schema(f).names
                want = list(columns or names) + (list(LABEL_COLUMNS) if labels else [])
                cols = [
                    c
                    for c in dict.fromkeys(want)
                    if c in names and (labels or c not in LABEL_COLUMNS)
                ]
                tables.append(pq.read_table(f, columns=cols))
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive")

    def connections(
        self,
        wins: Sequence[str],
        columns: Sequence[str] | None = None,
        labels: bool = False,
        *,
        complete: bool = False,
    ) -> pd.DataFrame:
        """The archived connections of `wins` as a frame (see `table`).

        With `complete`, every one of `columns` is present (missing numeric columns as NaN,
        others as "-"), an empty result still has them, and a connection archived twice (the
        same uid in two files) appears once."""
        table = self.table(wins, columns, labels)
        if not complete:
            return pd.DataFrame() if table is None else table.to_pandas()
        cols = list(columns or ())
        want = cols + (list(LABEL_COLUMNS) if labels else [])
        if table is None or table.num_rows == 0:
            return empty_frame(want)
        frame = table.to_pandas()
        for c in cols:
            if c not in frame.columns:
                frame[c] = np.nan if c.endswith(("bytes", "pkts")) else "-"
        if "uid" in frame.columns:
            frame = frame.drop_duplicates("uid", keep="first", ignore_index=True)
        return frame

    # ---------------------------------------------------------------- stored results
    def results_dir(self, window: str) -> Path:
        """Where the stored results of a window live (outside the connection archive, whose
        window folders hold only ingest's `<sha16>.parquet` files)."""
        return self.results_root / window

    def result_path(self, window: str, name: str) -> Path:
        if not RESULT_NAME.match(name):
            raise ValueError(f"not a result name: {name!r}")
        return self.results_dir(window) / f"{name}.parquet"

    def write_result(
        self, window: str, name: str, frame: pd.DataFrame, meta: dict[str, Any] | None = None
    ) -> Path:
        """Store a result table of a window with its metadata (atomically)."""
        path = self.result_path(window, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta or {}, default=str)})
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
        return path

    def read_result(
        self, window: str, name: str, columns: Sequence[str] | None = None
    ) -> Stored | None:
        """A stored result of a window, or None when it was never written."""
        path = self.result_path(window, name)
        if not path.exists():
            return None
        table = pq.read_table(path, columns=list(columns) if columns is not None else None)
        return Stored(table.to_pandas(), _meta(path))

    def result_meta(self, window: str, name: str) -> dict[str, Any] | None:
        path = self.result_path(window, name)
        return _meta(path) if path.exists() else None

    def stamp(self, window: str) -> str:
        """A fingerprint of what the archive holds for a window (file names and sizes): a
        cached result computed from the window is valid while the stamp is the same."""
        return json.dumps([[p.name, p.stat().st_size] for p in self.files(window)])

    def reset(self) -> None:
        """Delete the connection archive and every stored result."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.results_root, ignore_errors=True)
