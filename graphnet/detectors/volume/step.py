"""The `volume` step: baselines fitted on the archive windows before a window (`fit_window`),
its buckets scored, findings, host scores and stored charts (`run`), and `VolumeResult`, what
`graphnet volume --json` prints. The connections are aggregated by the analytical engine
(`aggregates`): only (entity, bucket) cells reach the model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.archive import Archive
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.volume import aggregates
from graphnet.detectors.volume.buckets import day_span
from graphnet.detectors.volume.charts import SERIES_RESULT, finding_series
from graphnet.detectors.volume.findings import (
    finding_runs,
    finding_threshold,
    findings_from_runs,
    host_scores,
    runs,
)
from graphnet.detectors.volume.model import FitReport, VolumeBaselines, VolumeSettings
from graphnet.findings import Finding

log = logging.getLogger(__name__)


#: the columns of the window's scored cells the step keeps (what the runs, the host scores,
#: the charts and the connection scores read); a finding's peak gets every column
#: (`VolumeBaselines.entity_rows`)
KEPT = ("entity", "bucket", "flows", "bytes", "peers", "expected", "direction", "score", "flagged")


@dataclass
class VolumeResult:
    window: str
    history: list[str]
    fit_on: str
    report: FitReport
    cells: pd.DataFrame  # scored (entity, bucket) cells of the window: `KEPT` (entity codes)
    findings: list[Finding]
    host_scores: pd.Series
    alerts_per_day: float
    seconds: float

    def to_json(self, top: int = 20) -> dict[str, Any]:
        return {
            "window": self.window,
            "history": self.history,
            "fit_on": self.fit_on,
            "fit": asdict(self.report),
            "buckets_scored": len(self.cells),
            "buckets_flagged": int(self.cells["flagged"].sum()) if len(self.cells) else 0,
            "alerts_per_day": self.alerts_per_day,
            "findings": [
                {"id": f.id, "hosts": f.hosts, "score": f.score, "explanation": f.explanation}
                for f in self.findings[:top]
            ],
            "seconds": round(self.seconds, 3),
        }


def _alerts(c: pd.DataFrame, volume: VolumeSettings) -> int:
    r = runs(c[c["flagged"]], volume.merge_gap)
    return int((r["score"] >= finding_threshold(volume, len(c))).sum()) if len(r) else 0


@dataclass
class _History:
    """What a fit needs from the archive: the sparse cells of the connections learned from,
    the ids of their entity codes, the busy edges and the first and last connection times."""

    cells: pd.DataFrame
    entities: pd.Index
    edges: pd.Index | None
    first: float
    last: float


def _history(archive: Archive, wins: list[str], volume: VolumeSettings) -> _History | None:
    """The engine's aggregates of the connections of `wins` (None: they hold none)."""
    with archive.session({"conns": wins}) as s:
        sp = aggregates.span(s)
        if not sp.n or sp.first is None or sp.last is None:
            return None
        edges = (
            aggregates.busy_edges(s, volume.edge_min_flows, volume.max_edges)
            if volume.edges
            else None
        )
        s.lookup(aggregates.EDGES, aggregates.edge_table(edges))
        empty = pd.Index(np.array([], dtype=object))
        hc, entities = aggregates.cells(s, empty, volume.bucket_seconds)
    return _History(hc, entities, edges, sp.first, sp.last)


def _fit(
    h: _History, volume: VolumeSettings, start: float | None, end: float | None, t0: float
) -> VolumeBaselines:
    """Baselines from the history's cells over [start, end) (default: the whole days of its
    connections); the engine's session is closed by then."""
    start, end = day_span(h.first, h.last, start, end)
    return VolumeBaselines(volume).fit_cells(h.cells, h.entities, h.edges, start, end, started=t0)


def fit_window(
    archive: Archive,
    window: str,
    volume: VolumeSettings,
) -> tuple[VolumeBaselines, list[str], str]:
    """Baselines from the archive windows before `window`, aggregated by the engine; returns
    them, the history windows and what they were fitted on ("history" | "self": the window
    itself, when nothing came before it)."""
    t0 = time.perf_counter()
    hist_w = archive.history(window, volume.history_days)
    if hist_w:
        h = _history(archive, hist_w, volume)
        if h is not None:
            w_start, _ = windows.bounds(window)
            h_start, _ = windows.bounds(hist_w[0])
            det = _fit(h, volume, h_start.timestamp(), w_start.timestamp(), t0)
            del h
            # the window comes after its history: of the history's cells, the model keeps
            # the lags of the window's first buckets only
            det.keep_lags_from(int(np.floor(w_start.timestamp() / volume.bucket_seconds)))
            return det, hist_w, "history"
    if not volume.fallback_self:
        raise ValueError(f"no archive windows before {window} to learn from")
    log.warning("no history before %s: baselines from the window itself", window)
    h = _history(archive, [window], volume)
    if h is None:
        raise ValueError(f"no connections archived for {window}")
    return _fit(h, volume, None, None, t0), [], "self"


@dataclass
class _Scored:
    """What the step takes from the window's session."""

    cells: pd.DataFrame
    findings: list[Finding]
    span: aggregates.Span
    conn_scores: pd.Series | None


def _score_window(
    archive: Archive, window: str, det: VolumeBaselines, per_connection: bool
) -> _Scored:
    """The window's cells scored, its findings (top peers and ports from the engine) and, with
    `per_connection`, every connection's score (joined back in SQL). The engine's sessions are
    closed while the model scores (the two never hold their memory at once)."""
    bs = det.settings.bucket_seconds
    lookups = {aggregates.EDGES: aggregates.edge_table(det.edges)}
    with archive.session({"conns": [window]}, lookups=lookups) as s:
        sp = aggregates.span(s)
        oc, det.entities = aggregates.cells(s, det.entities, bs)
    # rebound: the engine's cells go once their copy with the quiet buckets is made
    oc = det.with_quiet(oc)
    c = det.score_filled(oc, columns=KEPT)
    del oc
    r, members = finding_runs(det, c)
    if not len(r) and not per_connection:
        return _Scored(c, [], sp, None)
    found: list[Finding] = []
    with archive.session({"conns": [window]}, lookups=lookups) as s:
        if len(r):
            named = members.assign(
                entity=np.asarray(det.entities, dtype=object)[members["entity"].to_numpy()]
            )
            top_peer, top_port = aggregates.top_peers_ports(s, named, bs)
            peaks = det.entity_rows(c, c.loc[r["peak_row"].to_numpy(), "entity"].unique())
            found = findings_from_runs(det, peaks, r, top_peer, top_port, window)
        scores = aggregates.connection_scores(s, c, det.entities, bs) if per_connection else None
    return _Scored(c, found, sp, scores)


def run(ctx: Context) -> DetectorRun:
    """Fit the three baselines on the windows before the window (on the window itself when it
    has none), score its buckets, and return the out-of-band runs as `volume_anomaly`
    findings; the time charts of the top findings are stored for the report. The connections
    stay in the archive: the engine aggregates them into (entity, bucket) cells, and joins the
    bucket scores back to connections only when the caller asks for every connection's score
    (`ConnectionScores`)."""
    t0 = time.perf_counter()
    volume = ctx.option(VolumeSettings) or VolumeSettings()
    window = ctx.archive.require(ctx.window)
    det, hist_w, fit_on = fit_window(ctx.archive, window, volume)
    got = _score_window(ctx.archive, window, det, ctx.per_connection)
    c, found = got.cells, got.findings
    alerts = _alerts(c, volume)
    hs = host_scores(det, c)
    if ctx.save:
        ctx.archive.write_result(
            window, SERIES_RESULT, finding_series(det, c, found, window), {"window": window}
        )
    result = VolumeResult(
        window=window,
        history=hist_w,
        fit_on=fit_on,
        report=det.report,
        cells=c,
        findings=found,
        host_scores=hs,
        alerts_per_day=alerts / windows.span_days(got.span.frame(), window),
        seconds=time.perf_counter() - t0,
    )
    evidence: dict[str, str] = {}
    for f in found:
        for h in f.hosts:
            evidence.setdefault(h, f.explanation)
    rep = det.report
    return DetectorRun(
        step="volume",
        window=window,
        summary=f"{len(found)} volume anomalies ({result.alerts_per_day:.1f} a day), "
        f"baselines fitted on {fit_on}",
        host_scores=hs,
        conn_scores=got.conn_scores,
        findings=found,
        alerts=float(alerts),
        evidence=evidence,
        info={
            "fit_on": fit_on,
            "history": hist_w,
            "r2": rep.r2,
            "rmse": rep.rmse,
            "families": rep.families,
            "findings": len(found),
        },
        detail=result,
    )
