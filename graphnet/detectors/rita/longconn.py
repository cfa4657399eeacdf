"""The `long_connection` step: pairs whose connections were open a long time in total in the
window (RITA's long connections), the cumulative duration per pair counting open connections
(Zeek S1-S3; without a duration, open until the window's last time). The threshold is learned
from the window's own pairs (`model.learned_threshold` on ln(cumulative seconds) of the pairs
with a duration, never below `long_floor`); a pair's score is its cumulative duration over the
threshold (1 or more)."""

from __future__ import annotations

import logging
import time

from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.rita import aggregates, common
from graphnet.detectors.rita.model import fmt_seconds

log = logging.getLogger(__name__)


def score(ctx: Context) -> common.Scored:
    """Find the window's long connections: one `long_connection` finding per pair at or above
    the threshold (the `max_findings` longest)."""
    t0 = time.perf_counter()
    st = common.settings_of(ctx)
    with common.window_session(ctx, "long_connection") as (window, s, wp):
        limit = wp.long_threshold(st)
        pairs = aggregates.long_connections(s, limit)
        pairs["score"] = pairs["dur"].to_numpy(dtype="float64") / limit
        span = max(wp.hi - wp.lo, 1.0)
        texts = []
        for r in pairs.to_dict("records"):
            n, op = int(r["n"]), int(r["open_n"])
            still = f", {op:,} still open" if op else ""
            texts.append(
                f"open {fmt_seconds(float(r['dur']))} in total over {n:,} connection"
                f"{'s' if n != 1 else ''} (longest {fmt_seconds(float(r['longest']))}{still}), "
                f"{min(100.0, 100.0 * float(r['dur']) / span):.0f} % of the window's span; "
                f"threshold {fmt_seconds(limit)} learned from this window's {wp.timed:,} pairs "
                "with a duration"
            )
        pairs["explanation"] = texts
        top = pairs.head(st.max_findings)
        ex = aggregates.examples(s, list(zip(top["s"], top["d"], strict=True)))
    found = [
        common.pair_finding(
            "long_connection",
            window,
            r,
            f": {r['explanation']}",
            {"seconds": round(float(r["dur"]), 1), "threshold": round(limit, 1)},
            {
                "connections": int(r["n"]),
                "seconds": float(r["dur"]),
                "longest_seconds": float(r["longest"]),
                "open": int(r["open_n"]),
                "first": float(r["first_ts"]),
                "last": float(r["last_ts"]),
                "bytes": float(r["bytes"]),
                "threshold_seconds": limit,
                "alert": float(r["score"]) >= st.alert_ratio,
                "window_pairs": wp.timed,
            },
            ex.get((str(r["s"]), str(r["d"]))),
        )
        for r in top.to_dict("records")
    ]
    alerts = int((pairs["score"] >= st.alert_ratio).sum())
    log.debug("long connections %s: threshold %.0f s, %d pairs", window, limit, len(pairs))
    return common.pair_run(
        "long_connection",
        window,
        f"{len(pairs)} long connections (pairs open {fmt_seconds(limit)} or more in "
        f"total, learned from this window's {wp.timed:,} pairs; {alerts} with "
        f"{st.alert_ratio:g} x that)",
        pairs,
        found,
        alerts,
        {"threshold_seconds": limit, "pairs": len(pairs), "window": wp.to_json()},
        t0,
    )


def run(ctx: Context) -> DetectorRun:
    """`score` the window; with earlier windows only its pairs new or much stronger, by a rise
    of at least 1 (one threshold), rank their hosts (`common.against_history`)."""
    return common.against_history(ctx, "long_connection", score, 1.0)
