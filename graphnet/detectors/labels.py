"""The `browser_labels` step: labels that Neo4j Browser's style draws
(`graphnet/cypher/style.grass`).

Every Host gets the Internal or External label, and the hosts at the top of the PageRank
ranking of a window's snapshot a PageRankTop1, PageRankTop5 or PageRankTop20 label.
"""

from __future__ import annotations

import logging

from graphnet.detectors.contract import Context, DetectorRun
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)


def apply_labels(store: GraphStore, window: str | None = None) -> dict[str, int]:
    """Give every Host the Internal or External label and the hosts at the top of the PageRank
    ranking of `window`'s snapshot (default: the latest complete snapshot) a PageRankTop1,
    PageRankTop5 or PageRankTop20 label, which `graphnet/cypher/style.grass` colours and sizes.

    Idempotent; returns counts (hosts relabelled, hosts ranked)."""
    roles = store.write("scheduler_host_labels")
    out = {"internal": 0, "external": 0, "ranked": 0}
    if roles:
        out["internal"] = int(roles[0]["internal"])
        out["external"] = int(roles[0]["external"])
    if window is None:
        done = [str(r["window"]) for r in store.read("snapshot_list")]
        window = done[-1] if done else None
    if window is not None:
        rows = store.write("scheduler_rank_labels", window=window)
        if rows:
            out["ranked"] = int(rows[0]["labelled"] or 0)
    log.info("browser labels: %s", out)
    return out


def run_labels(ctx: Context) -> DetectorRun:
    """The registry step: Internal/External and PageRank labels for Browser's style, from the
    analysed window's snapshot. Labels are written to the graph: without saving, nothing."""
    if not ctx.save:
        return DetectorRun("browser_labels", ctx.window, "", skipped="nothing is saved in this run")
    counts = apply_labels(ctx.graph(), ctx.window)
    summary = ", ".join(f"{k}={v}" for k, v in counts.items())
    return DetectorRun("browser_labels", ctx.window, summary, info=dict(counts))
