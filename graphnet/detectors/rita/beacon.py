"""The `beacon` step: RITA's beacon analysis of every (src, dst) pair of the window, judged on
the window alone (no history): the engine computes each candidate pair's interval and size
statistics and its connections per bin, a batch of pairs at a time (`aggregates.beacon_pairs`),
`model.score_beacons` turns each batch into the beacon score and its four named sub-scores,
and the pairs scoring `beacon_score` or more become `beacon` findings (the `max_findings`
highest)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.rita import aggregates, common
from graphnet.detectors.rita.model import BEACON_PARTS, score_beacons

log = logging.getLogger(__name__)


def score(ctx: Context) -> common.Scored:
    """Score the window's pairs as beacons. Pairs with fewer than `min_connections`
    connections, and pairs at or above the window's strobe threshold (RITA leaves strobes
    out), are not scored. Host scores: per host, its best pair scoring `beacon_host_floor` or
    more (either end)."""
    t0 = time.perf_counter()
    st = common.settings_of(ctx)
    with common.window_session(ctx, "beacon") as (window, s, wp):
        strobe = wp.strobe_threshold(st)
        n_bins = wp.bins(st)

        def batch(stats: pd.DataFrame, bars: np.ndarray) -> pd.DataFrame:
            scored = score_beacons(stats, bars, wp.span, wp.hours, st)
            return pd.concat([stats[["s", "d", "n"]], scored], axis=1)

        pairs = aggregates.beacon_pairs(s, st, strobe, n_bins, batch)
        pairs = pairs.sort_values(["score", "beacon", "n"], ascending=False, kind="stable")
        top = pairs[pairs["score"] >= st.beacon_score].head(st.max_findings)
        ex = aggregates.examples(s, list(zip(top["s"], top["d"], strict=True)))
    found = [
        common.pair_finding(
            "beacon",
            window,
            r,
            f" beacons: {r['explanation']}",
            {p: float(r[f"part_{p}"]) for p in BEACON_PARTS},
            {
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
                "window_pairs": wp.pairs,
                "strobe_threshold": strobe,
            },
            ex.get((str(r["s"]), str(r["d"]))),
        )
        for r in top.to_dict("records")
    ]
    alerts = int((pairs["score"] >= st.beacon_alert).sum())
    log.debug("beacon %s: %d candidate pairs, %d findings", window, len(pairs), len(found))
    return common.pair_run(
        "beacon",
        window,
        f"{len(found)} beaconing pairs ({alerts} scoring {st.beacon_alert:g} or more) "
        f"of {len(pairs)} candidate pairs, judged against this window alone",
        pairs,
        found,
        alerts,
        {
            "candidates": len(pairs),
            "strobe_threshold": strobe,
            "bins": n_bins,
            "window": wp.to_json(),
        },
        t0,
        ranked=pairs[pairs["score"] >= st.beacon_host_floor],
    )


def run(ctx: Context) -> DetectorRun:
    """`score` the window; with earlier windows only its pairs new or much stronger, by a rise
    of at least `beacon_host_floor`, rank their hosts (`common.against_history`)."""
    return common.against_history(ctx, "beacon", score, common.settings_of(ctx).beacon_host_floor)
