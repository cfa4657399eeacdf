"""The `volume` step: baselines fitted on the archive windows before a window (`fit_window`),
its buckets scored, findings, host scores and stored charts (`run`), and `VolumeResult`, what
`graphnet volume --json` prints.
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
from graphnet.detectors.volume.charts import SERIES_RESULT, finding_series
from graphnet.detectors.volume.findings import (
    finding_threshold,
    findings_from_cells,
    host_scores,
    runs,
)
from graphnet.detectors.volume.model import FitReport, VolumeBaselines, VolumeSettings
from graphnet.findings import Finding

log = logging.getLogger(__name__)


@dataclass
class VolumeResult:
    window: str
    history: list[str]
    fit_on: str
    report: FitReport
    cells: pd.DataFrame  # scored (entity, bucket) cells of the window (`entity_id` added)
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


def fit_window(
    archive: Archive,
    window: str,
    volume: VolumeSettings,
) -> tuple[VolumeBaselines, list[str], str, pd.DataFrame]:
    """Baselines from the archive windows before `window`; returns them, the history windows,
    what they were fitted on ("history" | "self") and the window's connections."""
    cols = ("ts", "uid", "src", "dst", "dport", "conn_state", "src_bytes", "dst_bytes")
    hist_w = archive.history(window, volume.history_days)
    current = archive.connections([window], cols, complete=True)
    w_start, _ = windows.bounds(window)
    history = archive.connections(hist_w, cols, complete=True) if hist_w else current.iloc[:0]
    fit_on = "history"
    if history.empty:
        if not volume.fallback_self:
            raise ValueError(f"no archive windows before {window} to learn from")
        log.warning("no history before %s: baselines from the window itself", window)
        det = VolumeBaselines(volume).fit(current)
        return det, [], "self", current
    h_start, _ = windows.bounds(hist_w[0])
    det = VolumeBaselines(volume).fit(history, start=h_start.timestamp(), end=w_start.timestamp())
    return det, hist_w, fit_on, current


def run(ctx: Context) -> DetectorRun:
    """Fit the three baselines on the windows before the window (on the window itself when it
    has none), score its buckets, and return the out-of-band runs as `volume_anomaly`
    findings; the time charts of the top findings are stored for the report."""
    t0 = time.perf_counter()
    volume = ctx.option(VolumeSettings) or VolumeSettings()
    window = ctx.archive.require(ctx.window)
    det, hist_w, fit_on, conns = fit_window(ctx.archive, window, volume)
    c = det.cells(conns)
    c = c.assign(entity_id=np.asarray(det.entities, dtype=object)[c["entity"].to_numpy()])
    found = findings_from_cells(det, c, conns, window)
    scores = det.score_cells(conns, c)
    alerts = _alerts(c, volume)
    hs = host_scores(det, c)
    if ctx.save:
        ctx.archive.write_result(
            window, SERIES_RESULT, finding_series(det, conns, found, window), {"window": window}
        )
    result = VolumeResult(
        window=window,
        history=hist_w,
        fit_on=fit_on,
        report=det.report,
        cells=c,
        findings=found,
        host_scores=hs,
        alerts_per_day=alerts / windows.span_days(conns, window),
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
        conn_scores=pd.Series(
            scores["score"].to_numpy(), index=conns["uid"].astype(str).to_numpy()
        ),
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
