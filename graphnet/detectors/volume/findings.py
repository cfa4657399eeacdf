"""Out-of-band buckets -> findings: consecutive runs, the Bonferroni finding threshold,
`volume_anomaly` findings (expected band, top peers and ports, a Browser query) and per-host
scores for the combined ranking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphnet.detectors.volume.model import VolumeBaselines, VolumeSettings
from graphnet.findings import Finding, cypher_literal


def _fmt_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%a %Y-%m-%d %H:%M")


def runs(flagged: pd.DataFrame, merge_gap: int = 0) -> pd.DataFrame:
    """Consecutive out-of-band buckets of one entity and direction -> one row per run."""
    if flagged.empty:
        return pd.DataFrame(
            columns=[
                "run",
                "entity",
                "direction",
                "start",
                "end",
                "buckets",
                "flows",
                "peak",
                "score",
                "peak_row",
            ]
        )
    f = flagged.sort_values(["entity", "direction", "bucket"], kind="stable").reset_index()
    e = f["entity"].to_numpy()
    d = f["direction"].to_numpy()
    b = f["bucket"].to_numpy()
    new = np.ones(len(f), dtype=bool)
    new[1:] = (e[1:] != e[:-1]) | (d[1:] != d[:-1]) | (b[1:] - b[:-1] > 1 + merge_gap)
    f["run"] = np.cumsum(new) - 1
    f["dev"] = np.abs(f["flows"] - f["expected"])
    peak = f.loc[f.groupby("run")["dev"].idxmax(), ["run", "index"]].set_index("run")["index"]
    agg = f.groupby("run").agg(
        entity=("entity", "first"),
        direction=("direction", "first"),
        start=("bucket", "min"),
        end=("bucket", "max"),
        buckets=("bucket", "size"),
        flows=("flows", "sum"),
        expected=("expected", "sum"),
        peak=("flows", "max"),
        score=("score", "max"),
    )
    agg["peak_row"] = peak.reindex(agg.index).to_numpy()
    f2 = f[["run", "index"]]
    agg = agg.reset_index()
    agg.attrs["members"] = f2
    return agg.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def finding_runs(det: VolumeBaselines, c: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The out-of-band runs that become findings (score at the finding threshold or above,
    strongest first, at most `max_findings`) and their member buckets (run, entity code,
    bucket)."""
    st = det.settings
    none = pd.DataFrame(
        {
            "run": pd.Series(dtype=np.int64),
            "entity": pd.Series(dtype=np.int64),
            "bucket": pd.Series(dtype=np.int64),
        }
    )
    r = runs(c[c["flagged"]], st.merge_gap)
    if r.empty:
        return r, none
    r = r[r["score"] >= finding_threshold(st, len(c))].reset_index(drop=True)
    if r.empty:
        return r, none
    members = r.attrs["members"]
    r = r.head(st.max_findings)
    kept = members[members["run"].isin(r["run"])]
    mrows = c.loc[kept["index"].to_numpy()]
    mem = pd.DataFrame(
        {
            "run": kept["run"].to_numpy(),
            "entity": mrows["entity"].to_numpy(),
            "bucket": mrows["bucket"].to_numpy(),
        }
    )
    return r, mem


def tops_from_connections(
    det: VolumeBaselines, members: pd.DataFrame, conns: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The three peers (run, peer, role, n) and the three (port, state) pairs (run, dport,
    state, n) with the most connections in each run's buckets, largest first (ties: by peer
    and role, by port and state), from the connections in memory."""
    bs = det.settings.bucket_seconds
    ts = conns["ts"].to_numpy(dtype="float64")
    bucket = np.floor(ts / bs).astype(np.int64)
    src = conns["src"].astype(str).to_numpy(dtype=object)
    dst = conns["dst"].astype(str).to_numpy(dtype=object)
    dport = pd.to_numeric(conns["dport"], errors="coerce").fillna(-1).astype(np.int64).to_numpy()
    state = (
        conns["conn_state"].astype(str).to_numpy(dtype=object)
        if "conn_state" in conns
        else np.full(len(ts), "-", dtype=object)
    )
    roles = []
    for role, ids, peer in (("src", src, dst), ("dst", dst, src)):
        code = det.entities.get_indexer(pd.Index(ids))
        roles.append(
            pd.DataFrame(
                {
                    "entity": code,
                    "bucket": bucket,
                    "peer": peer,
                    "dport": dport,
                    "state": state,
                    "role": role,
                }
            )
        )
    if det.edges is not None and len(det.edges):
        code = det.entities.get_indexer(pd.Index(src + "->" + dst))
        roles.append(
            pd.DataFrame(
                {
                    "entity": code,
                    "bucket": bucket,
                    "peer": dst,
                    "dport": dport,
                    "state": state,
                    "role": "edge",
                }
            )
        )
    rc = pd.concat(roles, ignore_index=True).merge(members, on=["entity", "bucket"])
    top_peer = (
        rc.groupby(["run", "peer", "role"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["run", "n"], ascending=[True, False])
        .groupby("run")
        .head(3)
    )
    top_port = (
        rc.groupby(["run", "dport", "state"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["run", "n"], ascending=[True, False])
        .groupby("run")
        .head(3)
    )
    return top_peer, top_port


def findings_from_cells(
    det: VolumeBaselines, c: pd.DataFrame, conns: pd.DataFrame, window: str
) -> list[Finding]:
    """Out-of-band runs -> `volume_anomaly` findings with the expected band and top peers
    (the peers and ports from the connections in memory)."""
    r, members = finding_runs(det, c)
    if r.empty:
        return []
    top_peer, top_port = tops_from_connections(det, members, conns)
    return findings_from_runs(det, c, r, top_peer, top_port, window)


def findings_from_runs(
    det: VolumeBaselines,
    c: pd.DataFrame,
    r: pd.DataFrame,
    top_peer: pd.DataFrame,
    top_port: pd.DataFrame,
    window: str,
) -> list[Finding]:
    """The runs of `finding_runs` -> `volume_anomaly` findings: the expected band at the peak,
    the three baselines' view, and the top peers and ports (`tops_from_connections` or the
    archive's `aggregates.top_peers_ports`). `c` needs only the runs' peak rows (`peak_row`),
    with every column."""
    st = det.settings
    bs = st.bucket_seconds
    ents = np.asarray(det.entities, dtype=object)
    peers_of = {k: v for k, v in top_peer.groupby("run")}
    ports_of = {k: v for k, v in top_port.groupby("run")}
    mins = bs // 60
    out = []
    for row in r.to_dict("records"):  # one iteration per finding (<= max_findings)
        run = int(row["run"])
        name = str(ents[int(row["entity"])])
        pk: dict[Any, Any] = c.loc[int(row["peak_row"])].to_dict()
        is_edge = "->" in name and det.edges is not None and name in det.edges
        hosts = name.split("->", 1) if is_edge else [name]
        start_t = float(row["start"]) * bs
        end_t = (float(row["end"]) + 1) * bs
        n_b = int(row["buckets"])
        g = int(pk["group"])
        hour, weekend = g // 2, bool(g % 2)
        when = f"{'weekend' if weekend else 'weekday'} {hour:02d}h"
        high = int(row["direction"]) > 0
        verb = "had" if high else "had only"
        span = (
            f"in the {mins}-minute bucket at {_fmt_time(start_t)} UTC"
            if n_b == 1
            else f"in {n_b} buckets of {mins} minutes from {_fmt_time(start_t)} to "
            f"{_fmt_time(end_t)[-5:]} UTC (peak {int(row['peak'])})"
        )
        subject = f"{hosts[0]} → {hosts[1]}" if is_edge else name
        expl = (
            f"{subject} {verb} {int(row['flows'])} connections {span}; expected "
            f"{pk['band_lo']:.0f}–{pk['band_hi']:.0f} per bucket at the peak "
            f"(mean ± {st.sigma:g}σ for {when}: {pk['expected']:.1f} ± {pk['sigma']:.1f}; "
            f"{pk['family']} density: ≤ {pk['hi_density']:.0f}; "
            f"regression: {pk['lo_regression']:.0f}–{pk['hi_regression']:.0f})"
        )
        tp = peers_of.get(run)
        if tp is not None and len(tp):
            items = [f"{p} ({n})" for p, n in zip(tp["peer"], tp["n"], strict=True)]
            expl += "; mostly with " + ", ".join(items)
        po = ports_of.get(run)
        if po is not None and len(po):
            items = [
                f"port {p} {s} ({n})"
                for p, s, n in zip(po["dport"], po["state"], po["n"], strict=True)
            ]
            expl += "; " + ", ".join(items)
        out.append(
            Finding(
                kind="volume_anomaly",
                window=window,
                score=float(row["score"]),
                hosts=[str(h) for h in hosts],
                explanation=expl,
                discriminator=(
                    f"{'edge' if is_edge else 'host'}:{int(row['start'])}:{int(row['direction'])}"
                ),
                parts={
                    "p": float(pk["p"]),
                    "mean_sigma": float(pk["s_mean_sigma"]),
                    "density": float(pk["s_density"]),
                    "regression": float(pk["s_regression"]),
                    "votes": int(pk["votes"]),
                },
                evidence={
                    "entity": "edge" if is_edge else "host",
                    "direction": "high" if high else "low",
                    "start": start_t,
                    "end": end_t,
                    "buckets": n_b,
                    "flows": int(row["flows"]),
                    "peak": int(row["peak"]),
                    "band": [float(pk["band_lo"]), float(pk["band_hi"])],
                    "expected": float(pk["expected"]),
                    "family": str(pk["family"]),
                    "bucket_seconds": bs,
                },
                cypher=_browser_query(hosts, window),
                detector="volume",
            )
        )
    return out


def _browser_query(hosts: Sequence[str], window: str) -> str:
    if len(hosts) == 2:
        return (
            f"MATCH p = (a:Host {{id: {cypher_literal(hosts[0])}}})-[r:TALKED]->"
            f"(b:Host {{id: {cypher_literal(hosts[1])}}}) "
            f"WHERE r.window = {cypher_literal(window)} RETURN p"
        )
    return (
        f"MATCH p = (h:Host {{id: {cypher_literal(hosts[0])}}})-[r:TALKED]-(o:Host) "
        f"WHERE r.window = {cypher_literal(window)} RETURN p ORDER BY r.conns DESC LIMIT 50"
    )


def _to_hosts(det: VolumeBaselines, entity: np.ndarray, values: np.ndarray) -> pd.Series:
    """Entity codes -> host ids (an edge counts for both its hosts), values aligned."""
    ents = np.asarray(det.entities, dtype=object)[entity]
    is_edge = pd.Index(ents).isin(det.edges) if det.edges is not None else np.zeros(len(ents), bool)
    names = [ents[~is_edge]]
    vals = [values[~is_edge]]
    if is_edge.any():
        pair = pd.Series(ents[is_edge]).str.split("->", n=1, expand=True)
        names += [pair[0].to_numpy(dtype=object), pair[1].to_numpy(dtype=object)]
        vals += [values[is_edge], values[is_edge]]
    return pd.Series(np.concatenate(vals), index=np.concatenate(names))


def host_scores(det: VolumeBaselines, c: pd.DataFrame, top: int = 3) -> pd.Series:
    """Per host: the sum of its `top` strongest out-of-band runs (its own and its edges'), or
    its highest bucket score when it has none (so repeated anomalies outrank a single one)."""
    if c.empty:
        return pd.Series(dtype="float64")
    # each entity's highest bucket first: a host's highest is the highest of its entities'
    by_entity = pd.Series(c["score"].to_numpy()).groupby(c["entity"].to_numpy()).max()
    best = _to_hosts(det, by_entity.index.to_numpy(), by_entity.to_numpy())
    best = best.groupby(level=0).max()
    r = runs(c[c["flagged"]], det.settings.merge_gap)
    if len(r):
        rs = _to_hosts(det, r["entity"].to_numpy().astype(np.int64), r["score"].to_numpy())
        rs = rs.sort_values(ascending=False).groupby(level=0).head(top).groupby(level=0).sum()
        best = pd.concat([best, rs], axis=1).max(axis=1)
    return best.sort_values(ascending=False)


def finding_threshold(settings: VolumeSettings, n_cells: int) -> float:
    """Score a run needs to become a finding: `finding_score`, or by default the Bonferroni
    bound -log10(p_threshold / buckets scored), so that a whole window of buckets yields about
    `p_threshold` false findings."""
    if settings.finding_score is not None:
        return float(settings.finding_score)
    return float(-np.log10(settings.p_threshold / max(n_cells, 1)))
