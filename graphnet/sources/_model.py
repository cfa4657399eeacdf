"""Public data types of graphnet.sources and the normalised table's schema."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

FORMATS = ("zeek", "zeek-json", "cidds", "binetflow", "nfdump")

#: columns every chunk has, in this order
BASE_COLUMNS = (
    "ts", "uid", "src", "sport", "dst", "dport", "proto", "service", "duration",
    "src_bytes", "dst_bytes", "src_pkts", "dst_pkts", "conn_state", "history", "line",
)
#: ground-truth columns, present only when the source has them (never read by detectors)
LABEL_COLUMNS = ("label", "detailed_label", "attack_type", "attack_id")

ARROW_TYPES: dict[str, pa.DataType] = {
    "ts": pa.float64(),
    "uid": pa.string(),
    "src": pa.string(),
    "sport": pa.int32(),
    "dst": pa.string(),
    "dport": pa.int32(),
    "proto": pa.string(),
    "service": pa.string(),
    "duration": pa.float64(),
    "src_bytes": pa.float64(),
    "dst_bytes": pa.float64(),
    "src_pkts": pa.float64(),
    "dst_pkts": pa.float64(),
    "conn_state": pa.string(),
    "history": pa.string(),
    "line": pa.int64(),
    "label": pa.string(),
    "detailed_label": pa.string(),
    "attack_type": pa.string(),
    "attack_id": pa.string(),
}

#: timestamps below this (about 1973-03-03) are taken as relative to the start of a capture
RELATIVE_TS_LIMIT = 1e8

#: longest host id kept, in UTF-8 bytes; a line with a longer one is rejected. Neo4j 5 indexes
#: a property value of at most about 8 KB, and an edge's indexed key holds two ids.
MAX_HOST_ID_BYTES = 1024


@dataclass(frozen=True)
class Reject:
    """A line that could not be turned into a connection record."""

    path: str
    line: int
    reason: str
    text: str  # the raw line, decoded with errors="replace", at most 200 characters


@dataclass
class Chunk:
    """Up to `chunk_rows` consecutive lines of one file, normalised.

    `skipped` counts valid records that are not connections and are left out by a documented
    rule (see the package docstring); they are neither rows nor rejects.
    """

    frame: pd.DataFrame
    rejects: list[Reject]
    relative_ts: bool
    skipped: int = 0


@dataclass(frozen=True)
class Detected:
    format: str | None
    is_conn: bool
    reason: str  # e.g. "Zeek TSV #path dns (not a conn log)"


def empty_frame(label_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    cols = (*BASE_COLUMNS, *label_columns)
    table = pa.table({c: pa.array([], type=ARROW_TYPES[c]) for c in cols})
    return table.to_pandas()
