"""Public data types of graphnet.sources and the normalised table's schema."""

from __future__ import annotations

from dataclasses import dataclass, field

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
#: the sensor that logged a record (Zeek `_node_name`, OTRF `@system`, or `ingest --sensor`);
#: every reader's chunks have it after the base columns, null when the log names none
SENSOR_COLUMN = "sensor"

#: record tables other than connections (Zeek dns.log and http.log), in `Chunk.tables`
RECORD_TABLES = ("dns", "http")
#: their columns, in this order (the archive's `dns` and `http` tables; never renamed, new
#: columns only at the end)
DNS_COLUMNS = (
    "ts", "uid", "src", "sport", "dst", "dport", "proto", "query", "qtype_name", "rcode_name",
    "answers", "rejected", "sensor", "line",
)
HTTP_COLUMNS = (
    "ts", "uid", "src", "sport", "dst", "dport", "method", "host", "uri", "referrer",
    "user_agent", "request_body_len", "response_body_len", "status_code", "resp_mime_types",
    "sensor", "line",
)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {"dns": DNS_COLUMNS, "http": HTTP_COLUMNS}
#: string columns that are null when unset ("" when logged empty); the other string columns
#: are "-" when unset (free text of the record tables: "" when logged empty)
NULLABLE_STRINGS = frozenset(("sensor", "query", "answers"))

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
    "sensor": pa.string(),
    "query": pa.string(),
    "qtype_name": pa.string(),
    "rcode_name": pa.string(),
    "answers": pa.string(),
    "rejected": pa.bool_(),
    "method": pa.string(),
    "host": pa.string(),
    "uri": pa.string(),
    "referrer": pa.string(),
    "user_agent": pa.string(),
    "request_body_len": pa.float64(),
    "response_body_len": pa.float64(),
    "status_code": pa.int32(),
    "resp_mime_types": pa.string(),
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
    #: records of the other tables (`RECORD_TABLES`) read from the same lines: a table's name
    #: -> its frame (`TABLE_COLUMNS`); absent when the lines hold none
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Detected:
    format: str | None
    is_conn: bool
    reason: str  # e.g. "Zeek TSV #path ssl (not a conn, dns or http log)"
    #: the record tables the file holds that graphnet reads ("conn", "dns", "http"); a conn
    #: log's is ("conn",) also when not given
    tables: tuple[str, ...] = ()

    @property
    def readable(self) -> bool:
        """Whether graphnet reads records of this file (connections, dns or http)."""
        return self.format is not None and (self.is_conn or bool(self.tables))


def empty_frame(label_columns: tuple[str, ...] = (), sensor: bool = False) -> pd.DataFrame:
    cols = (*BASE_COLUMNS, *((SENSOR_COLUMN,) if sensor else ()), *label_columns)
    table = pa.table({c: pa.array([], type=ARROW_TYPES[c]) for c in cols})
    return table.to_pandas()


def empty_table_frame(name: str) -> pd.DataFrame:
    """An empty frame of a record table (`dns`, `http`)."""
    cols = TABLE_COLUMNS[name]
    return pa.table({c: pa.array([], type=ARROW_TYPES[c]) for c in cols}).to_pandas()
