"""Time charts: a host's (or edge's) flows per bucket over a span with its bands, the charts of
a window's top findings, and the charts the volume step stored for the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.archive import Archive
from graphnet.detectors.volume.buckets import cells
from graphnet.detectors.volume.model import VolumeBaselines
from graphnet.findings import Finding

#: the top findings whose time chart (series with bands) is stored for the report
SERIES_KEPT = 20
SERIES_RESULT = "volume_series"


def finding_entity(f: Finding) -> str:
    """The entity a `volume_anomaly` finding is about: its host, or `src->dst` for an edge."""
    hosts = [str(h) for h in f.hosts]
    if (f.evidence or {}).get("entity") == "edge" and len(hosts) >= 2:
        return f"{hosts[0]}->{hosts[1]}"
    return hosts[0] if hosts else ""


def finding_series(
    det: VolumeBaselines, window_cells: pd.DataFrame, found: Sequence[Finding], window: str
) -> pd.DataFrame:
    """The time charts of the top findings over the whole window, one long frame with an
    `entity` column: what the report draws, from the same fit and the same cells (`entity`
    code, bucket, flows, bytes, peers: the window's, scored or not) as the findings."""
    start, end = windows.bounds(window)
    parts = []
    done: set[str] = set()
    for f in found[:SERIES_KEPT]:
        entity = finding_entity(f)
        if not entity or entity in done:
            continue
        done.add(entity)
        frame = series_from_cells(det, window_cells, entity, start.timestamp(), end.timestamp())
        parts.append(frame.assign(entity=entity))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def stored_series(archive: Archive, window: str) -> pd.DataFrame | None:
    """The time charts the volume step stored for a window (None: not analysed since)."""
    got = archive.read_result(window, SERIES_RESULT)
    return None if got is None else got.frame


def series(
    det: VolumeBaselines,
    conns: pd.DataFrame,
    entity: str,
    start: float | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """A host's (or edge's `src->dst`) time chart: one row per bucket of [start, end) (default:
    the span of `conns`), with `time`, `flows`, `bytes`, `peers`, `expected`, the three bands
    (`lo_*`/`hi_*`), the combined band (`band_lo`, `band_hi`) and `flagged`."""
    bs = det.settings.bucket_seconds
    ts = conns["ts"].to_numpy(dtype="float64")
    if start is None:
        start = float(np.nanmin(ts)) if len(ts) else 0.0
    if end is None:
        end = float(np.nanmax(ts)) + bs if len(ts) else start + bs
    if "->" in entity:
        a, z = entity.split("->", 1)
        sel = (conns["src"].astype(str) == a) & (conns["dst"].astype(str) == z)
    else:
        sel = (conns["src"].astype(str) == entity) | (conns["dst"].astype(str) == entity)
    c, det.entities = cells(conns[sel.to_numpy()], det.entities, det.edges, bs)
    return series_from_cells(det, c, entity, start, end)


def series_from_cells(
    det: VolumeBaselines, window_cells: pd.DataFrame, entity: str, start: float, end: float
) -> pd.DataFrame:
    """`series` of an entity from sparse cells that hold all of its buckets in [start, end)
    (entity code, bucket, flows, bytes, peers; other entities' rows are ignored)."""
    bs = det.settings.bucket_seconds
    b = np.arange(int(np.floor(start / bs)), int(np.ceil(end / bs)), dtype=np.int64)
    code = det.entities.get_indexer(pd.Index([entity]))[0]
    if code < 0:
        det.entities = det.entities.append(pd.Index([entity]))
        code = len(det.entities) - 1
    c = window_cells[window_cells["entity"].to_numpy() == code]
    grid = pd.DataFrame({"entity": code, "bucket": b})
    grid = grid.merge(c[["bucket", "flows", "bytes", "peers"]], on="bucket", how="left").fillna(
        {"flows": 0.0, "bytes": 0.0, "peers": 0.0}
    )
    full = det._score_table(grid)
    full.insert(0, "time", pd.to_datetime(full["bucket"] * bs, unit="s", utc=True))
    return full.drop(columns=["entity"])
