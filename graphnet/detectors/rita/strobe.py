"""The `strobe` step: pairs with an extreme number of connections in the window (RITA's
strobes), the threshold learned from the window's own pairs (`model.learned_threshold` on
ln(connections per pair), never below `strobe_floor`). A strobe's score is its connections
over the threshold (1 or more); the beacon step leaves these pairs out."""

from __future__ import annotations

import logging
import time

from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.rita import aggregates, common
from graphnet.detectors.rita.model import fmt_seconds

log = logging.getLogger(__name__)


def score(ctx: Context) -> common.Scored:
    """Find the window's strobes: one `strobe` finding per pair at or above the threshold (the
    `max_findings` with the most connections)."""
    t0 = time.perf_counter()
    st = common.settings_of(ctx)
    with common.window_session(ctx, "strobe") as (window, s, wp):
        limit = wp.strobe_threshold(st)
        pairs = aggregates.strobes(s, limit)
        pairs["score"] = pairs["n"].to_numpy(dtype="float64") / limit
        span = max(wp.hi - wp.lo, 1.0)
        pairs["explanation"] = [
            f"{n:,} connections in {fmt_seconds(last - first)} ({n / span * 3600:,.0f} an hour "
            f"over the window), {score:.1f} x the threshold of {limit:,.0f} learned from this "
            f"window's {wp.pairs:,} pairs"
            for n, first, last, score in zip(
                pairs["n"], pairs["first_ts"], pairs["last_ts"], pairs["score"], strict=True
            )
        ]
        top = pairs.head(st.max_findings)
        ex = aggregates.examples(s, list(zip(top["s"], top["d"], strict=True)))
    found = [
        common.pair_finding(
            "strobe",
            window,
            r,
            f" strobes: {r['explanation']}",
            {"connections": int(r["n"]), "threshold": round(limit, 1)},
            {
                "connections": int(r["n"]),
                "first": float(r["first_ts"]),
                "last": float(r["last_ts"]),
                "bytes": float(r["bytes"]),
                "threshold": limit,
                "alert": float(r["score"]) >= st.alert_ratio,
                "window_pairs": wp.pairs,
            },
            ex.get((str(r["s"]), str(r["d"]))),
        )
        for r in top.to_dict("records")
    ]
    alerts = int((pairs["score"] >= st.alert_ratio).sum())
    log.debug("strobe %s: threshold %.0f, %d strobes", window, limit, len(pairs))
    return common.pair_run(
        "strobe",
        window,
        f"{len(pairs)} strobes (pairs with {limit:,.0f} connections or more, learned "
        f"from this window's {wp.pairs:,} pairs; {alerts} with {st.alert_ratio:g} x that)",
        pairs,
        found,
        alerts,
        {"threshold": limit, "strobes": len(pairs), "window": wp.to_json()},
        t0,
    )


def run(ctx: Context) -> DetectorRun:
    """`score` the window; with earlier windows only its pairs new or much stronger, by a rise
    of at least 1 (one threshold), rank their hosts (`common.against_history`)."""
    return common.against_history(ctx, "strobe", score, 1.0)
