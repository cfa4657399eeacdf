"""The suspicious-connect findings: the top suspicious (src, dst) pairs of a scored window, one
finding each, with the sentence of the pair's worst connection.

`findings_from_scores` builds them from a frame of scored connections (the `Model` path); the
step builds them from the rows of `graphnet/sql/lda_findings.sql`. Both go through
`suspicious_connect`, so a finding reads the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphnet.detectors.lda.model import LdaSettings
from graphnet.findings import Finding, cypher_literal


def _browser_query(src: str, dst: str, window: str) -> str:
    return (
        f"MATCH p = (a:Host {{id: {cypher_literal(src)}}})-[r:TALKED]->"
        f"(b:Host {{id: {cypher_literal(dst)}}}) WHERE r.window = {cypher_literal(window)} RETURN p"
    )


def suspicious_connect(
    best: Mapping[str, Any],
    *,
    n: int,
    n_total: int,
    ports: int,
    first: float,
    last: float,
    uids: Sequence[str],
    window: str,
    settings: LdaSettings,
) -> Finding:
    """One finding for the pair of `best` (its highest-scoring connection below the threshold:
    src, dst, score, part_p, part_p_src, part_p_dst, src_word, dst_word, explanation): `n` of
    its `n_total` connections are below the threshold, to `ports` distinct ports, between
    `first` and `last`; `uids` are its best connections."""
    src, dst = str(best["src"]), str(best["dst"])
    expl = str(best["explanation"])
    if n > 1:
        expl += f"; {n} of {n_total} connections of this pair are below P = {settings.threshold:g}"
        if ports > 1:
            expl += f" (to {ports} ports)"
    worst_src = float(best["part_p_src"]) <= float(best["part_p_dst"])
    return Finding(
        kind="suspicious_connect",
        window=window,
        score=float(best["score"]),
        hosts=[src, dst],
        explanation=expl,
        parts={
            "p": float(best["part_p"]),
            "p_src": float(best["part_p_src"]),
            "p_dst": float(best["part_p_dst"]),
            "word": str(best["src_word"] if worst_src else best["dst_word"]),
            "src_word": str(best["src_word"]),
            "dst_word": str(best["dst_word"]),
            "suspicious_connections": n,
        },
        evidence={
            "uids": [str(u) for u in uids],
            "connections": n_total,
            "ports": ports,
            "first": float(first),
            "last": float(last),
            "variant": settings.variant,
        },
        cypher=_browser_query(src, dst, window),
        detector="lda",
    )


def findings_from_scores(
    scored: pd.DataFrame, conns: pd.DataFrame, window: str, settings: LdaSettings
) -> list[Finding]:
    """Top suspicious (src, dst) pairs -> `suspicious_connect` findings (one per pair)."""
    if scored.empty:
        return []
    frame = pd.DataFrame(
        {
            "src": conns["src"].astype(str).to_numpy(),
            "dst": conns["dst"].astype(str).to_numpy(),
            "uid": conns["uid"].astype(str).to_numpy(),
            "ts": conns["ts"].to_numpy(dtype="float64"),
            "dport": pd.to_numeric(conns["dport"], errors="coerce").fillna(-1).to_numpy(),
            "p": scored["part_p"].to_numpy(),
            "score": scored["score"].to_numpy(),
        }
    )
    frame["row"] = np.arange(len(frame))
    frame = frame[frame["p"] < settings.threshold]
    if frame.empty:
        return []
    frame = frame.sort_values(["score", "ts"], ascending=[False, True], kind="stable")
    g = frame.groupby(["src", "dst"], sort=False)
    agg = g.agg(
        row=("row", "first"),
        score=("score", "first"),
        n=("uid", "size"),
        first=("ts", "min"),
        last=("ts", "max"),
        ports=("dport", "nunique"),
    ).reset_index()
    agg = agg.sort_values(["score", "n"], ascending=[False, False], kind="stable")
    agg = agg.head(settings.max_findings)
    kept = frame.merge(agg[["src", "dst"]], on=["src", "dst"])
    kept = kept.groupby(["src", "dst"], sort=False).head(10)
    uids = {k: list(v) for k, v in kept.groupby(["src", "dst"], sort=False)["uid"]}
    total = pd.DataFrame({"src": conns["src"].astype(str), "dst": conns["dst"].astype(str)})
    pair_total = total.groupby(["src", "dst"]).size()
    out = []
    for r in agg.to_dict("records"):  # one iteration per finding (<= max_findings)
        src, dst, n = str(r["src"]), str(r["dst"]), int(r["n"])
        srow = scored.iloc[int(r["row"])]
        best = {**{str(k): v for k, v in srow.items()}, "src": src, "dst": dst}
        out.append(
            suspicious_connect(
                best,
                n=n,
                n_total=int(pair_total.get((src, dst), n)),
                ports=int(r["ports"]),
                first=float(r["first"]),
                last=float(r["last"]),
                uids=uids.get((src, dst), []),
                window=window,
                settings=settings,
            )
        )
    return out
