"""The `beacon` step: RITA's beacon analysis of every (src, dst) pair of the window, judged on
the window alone (no history): the engine computes each candidate pair's interval and size
statistics (`aggregates.beacon_stats`), `model.score_beacons` turns them into the beacon score
and its four named sub-scores, and the pairs scoring `beacon_score` or more become `beacon`
findings (the `max_findings` highest)."""

from __future__ import annotations

import logging
import time

import pandas as pd

from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.rita import aggregates, common
from graphnet.detectors.rita.model import BEACON_PARTS, bars_of, score_beacons
from graphnet.findings import Finding

log = logging.getLogger(__name__)

BROWSER_QUERY = "beacon"  # graphnet/cypher/browser/beacon.cypher


def run(ctx: Context) -> DetectorRun:
    """Score the window's pairs as beacons. Pairs with fewer than `min_connections`
    connections, and pairs at or above the window's strobe threshold (RITA leaves strobes
    out), are not scored. Host scores: per host, its best pair scoring `beacon_host_floor` or
    more (either end)."""
    t0 = time.perf_counter()
    st = common.settings_of(ctx)
    with common.window_session(ctx, "beacon") as (window, s, wp):
        strobe = wp.strobe_threshold(st)
        n_bins = wp.bins(st)
        stats, bins = aggregates.beacon_stats(s, st, strobe, n_bins)
        bars = bars_of(bins, stats, n_bins)
        scored = score_beacons(stats, bars, wp.span, wp.hours, st)
        pairs = pd.concat([stats[["s", "d", "n"]], scored], axis=1)
        pairs = pairs.sort_values(["score", "beacon", "n"], ascending=False, kind="stable")
        top = pairs[pairs["score"] >= st.beacon_score].head(st.max_findings)
        ex = aggregates.examples(s, list(zip(top["s"], top["d"], strict=True)))
    found = []
    for r in top.to_dict("records"):
        src, dst = str(r["s"]), str(r["d"])
        found.append(
            Finding(
                kind="beacon",
                window=window,
                score=float(r["score"]),
                hosts=[src, dst],
                explanation=f"{src} -> {dst} beacons: {r['explanation']}",
                parts={p: float(r[f"part_{p}"]) for p in BEACON_PARTS},
                evidence={
                    "connections": int(r["n"]),
                    "interval_seconds": float(r["period"]),
                    "interval_mad_seconds": float(r["jitter"]),
                    "bytes_median": float(r["size"]),
                    "bytes_mad": float(r["size_mad"]),
                    "hours_share": round(float(r["hours_share"]), 4),
                    "beacon_score": float(r["beacon"]),
                    "prevalence": None
                    if pd.isna(r["prevalence"])
                    else round(float(r["prevalence"]), 4),
                    "prevalence_modifier": float(r["modifier"]),
                    "alert": float(r["score"]) >= st.beacon_alert,
                    "judged_against": common.JUDGED_AGAINST,
                    "window_pairs": wp.pairs,
                    "strobe_threshold": strobe,
                    **common.example_evidence(ex.get((src, dst))),
                },
                cypher=common.browser_query(BROWSER_QUERY, src, dst, window),
                detector="beacon",
            )
        )
    kept = pairs[pairs["score"] >= st.beacon_host_floor]
    hosts, evidence = common.host_scores(kept)
    alerts = int((pairs["score"] >= st.beacon_alert).sum())
    seconds = time.perf_counter() - t0
    log.debug(
        "beacon %s: %d candidate pairs, %d findings, %.1f s",
        window,
        len(pairs),
        len(found),
        seconds,
    )
    return DetectorRun(
        step="beacon",
        window=window,
        summary=f"{len(found)} beaconing pairs ({alerts} scoring {st.beacon_alert:g} or more) "
        f"of {len(pairs)} candidate pairs, judged against this window alone",
        host_scores=hosts,
        pair_scores=common.pair_series(pairs) if len(pairs) else None,
        findings=found,
        alerts=float(alerts),
        evidence=evidence,
        info={
            "candidates": len(pairs),
            "strobe_threshold": strobe,
            "bins": n_bins,
            "window": wp.to_json(),
            "judged_against": common.JUDGED_AGAINST,
        },
        seconds=seconds,
    )
