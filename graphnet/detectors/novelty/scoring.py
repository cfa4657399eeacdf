"""Score a window's connections for novelty and report the deviating conversations.

The registry's `novelty` step: fingerprints as of the window (from earlier windows, with benign
feedback; `baseline`) -> every archived connection of the window scored (`model`) ->
connections at or above the threshold grouped per (src, dst) into `novel_connection` findings;
the per-connection scores are stored (`stored`) for reports, `graphnet paths` and feedback.
`score_frame` is pure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.novelty import fingerprints
from graphnet.detectors.novelty.baseline import FingerprintStep, build_fingerprints
from graphnet.detectors.novelty.conversations import conversations
from graphnet.detectors.novelty.explain import explain, summarise
from graphnet.detectors.novelty.fingerprints import DEFAULT_BASELINE
from graphnet.detectors.novelty.model import score_connections
from graphnet.detectors.novelty.parts import PARTS, NoveltyParams
from graphnet.detectors.novelty.stored import SCORES, WindowScores, write_scores
from graphnet.errors import InputError
from graphnet.findings import Finding, cypher_literal
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5  # novelty 0.5 = 10 excess bits with the default scale
KIND = "novel_connection"
MAX_EXAMPLES = 5


# --------------------------------------------------------------------------------------------
# Cypher text for Neo4j Browser (never executed by graphnet)
# --------------------------------------------------------------------------------------------
def pair_cypher(src: str, dst: str, window: str) -> str:
    """Browser query: the pair's edge in the window and the fingerprint it was scored against."""
    a, b, w = cypher_literal(src), cypher_literal(dst), cypher_literal(window)
    return (
        f"MATCH p = (a:Host {{id: {a}}})-[r:TALKED {{window: {w}}}]->(b:Host {{id: {b}}})\n"
        f"OPTIONAL MATCH q = (a)-[:HAS_FINGERPRINT]->(:Fingerprint {{level: 'pair', as_of: {w}}})"
        f"-[:TO]->(b)\n"
        "RETURN p, q"
    )


def path_cypher(hosts: Sequence[str], window: str) -> str:
    """Browser query: the TALKED edges of a path of hosts in a window."""
    w = cypher_literal(window)
    nodes = [f"(h{i}:Host {{id: {cypher_literal(h)}}})" for i, h in enumerate(hosts)]
    lines = []
    for i in range(len(hosts) - 1):
        left = nodes[i] if i == 0 else f"(h{i})"  # later hops reuse the bound variable
        lines.append(f"MATCH p{i} = {left}-[:TALKED {{window: {w}}}]->{nodes[i + 1]}")
    ret = ", ".join(f"p{i}" for i in range(len(hosts) - 1))
    return "\n".join([*lines, f"RETURN {ret}"])


def iso(ts: float) -> str:
    return pd.Timestamp(float(ts), unit="s", tz="UTC").isoformat()


# --------------------------------------------------------------------------------------------
# a window's scores and findings (pure)
# --------------------------------------------------------------------------------------------
def _conversation_text(r: Any, window: str) -> str:
    n, k = int(r.connections), int(r.novel)
    head = (
        f"{k} of {n} connection{'s' if n != 1 else ''} {r.src}→{r.dst} in {window} "
        f"{'are' if k != 1 else 'is'} novel for this pair"
        if r.conn > 0
        else f"{r.src}→{r.dst} is a new conversation in {window} ({n} connection"
        f"{'s' if n != 1 else ''})"
    )
    return f"{head} (novelty {r.score:.2f}, {r.bits:.1f} bits): {r.explanation}"


def score_frame(
    fp: fingerprints.Fingerprints,
    conns: pd.DataFrame,
    window: str,
    *,
    threshold: float | None = DEFAULT_THRESHOLD,
    top_k: int | None = None,
    params: NoveltyParams | None = None,
    hosts_info: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
    comps: pd.DataFrame | None = None,
) -> WindowScores:
    """Score a window's connections against `fp` and report the deviating conversations:
    those with conversation score >= threshold (0-1), at most top_k of them (highest first);
    threshold None = the top_k conversations with any novelty. One `novel_connection` finding
    per conversation."""
    params = params or NoveltyParams()
    scored = score_connections(
        fp,
        conns,
        params,
        comps=comps,
        hosts_info=hosts_info,
        settings=settings,
        explain_threshold=None,
    )
    conv = conversations(scored)
    frame = scored.frame
    novel = scored.extra.get("novel", np.zeros(len(frame), dtype=bool))
    if threshold is not None:
        rep = conv["score"].to_numpy() >= threshold
    else:
        rep = conv["bits"].to_numpy() > 0
    if top_k is not None:
        rep &= np.cumsum(rep) <= top_k
    conv["reported"] = rep
    conv["explanation"] = ""
    conv["summary"] = ""
    conv.loc[rep, "summary"] = summarise(scored, conv.loc[rep, "best"].to_numpy())
    frame["novel"] = novel
    reported_pairs = conv.loc[rep, "pair"].to_numpy()
    frame["reported"] = novel & np.isin(scored.keys.codes, reported_pairs)
    out: list[Finding] = []
    if rep.any():
        sel = conv[rep]
        best = sel["best"].to_numpy()
        rich = explain(scored, rows=best)
        conv.loc[rep, "explanation"] = rich[best]
        col = frame.columns.get_loc("explanation")
        assert isinstance(col, int)
        frame.iloc[best, col] = rich[best]
        # up to MAX_EXAMPLES example uids per conversation, most novel first
        rows = np.flatnonzero(frame["reported"].to_numpy())
        ex = pd.DataFrame(
            {
                "pair": scored.keys.codes[rows],
                "bits": frame["conn_bits"].to_numpy()[rows],
                "uid": frame["uid"].to_numpy(dtype=object)[rows],
            }
        ).sort_values(["pair", "bits"], ascending=[True, False], kind="stable")
        uids = ex.groupby("pair", sort=False).head(MAX_EXAMPLES).groupby("pair")["uid"].agg(list)
        records: list[Any] = list(conv[rep].itertuples(index=False))
        for r in records:
            b = int(r.best)
            parts = {
                name: round(float(scored.parts[b, i]), 3)
                for i, name in enumerate(PARTS)
                if scored.parts[b, i] > 0
            }
            parts.update(
                conversation_bits=round(float(r.bits), 3),
                connection_bits=round(float(r.conn), 3),
                who_bits=round(float(r.who_bits), 3),
                uniqueness=round(float(frame["uniqueness"].to_numpy()[b]), 3),
            )
            out.append(
                Finding(
                    kind=KIND,
                    window=window,
                    score=round(float(r.score), 6),
                    hosts=[str(r.src), str(r.dst)],
                    explanation=_conversation_text(r, window),
                    parts=parts,
                    cypher=pair_cypher(str(r.src), str(r.dst), window),
                    detector="novelty",
                    evidence={
                        "connections": int(r.novel),
                        "pair_connections": int(r.connections),
                        "first": iso(r.first) if np.isfinite(r.first) else None,
                        "last": iso(r.last) if np.isfinite(r.last) else None,
                        "uids": [str(u) for u in uids.get(r.pair, [])],
                        "top_component": str(frame["top_component"].iat[b]),
                        "top_value": str(frame["top_value"].iat[b]),
                        "max_connection_bits": round(float(r.conn_bits), 3),
                        "p_value": float(frame["p_value"].to_numpy()[b]),
                        "threshold": threshold,
                        "baseline_windows": list(fp.windows),
                        "new_pair": bool(r.who_bits > 0),
                    },
                )
            )
    return WindowScores(
        window=window,
        baseline_windows=list(fp.windows),
        connections=frame,
        conversations=conv,
        findings=out,
        threshold=threshold,
        top_k=top_k,
        params=params,
        feedback=fp.feedback,
    )


@dataclass
class ScoreResult:
    window: str
    baseline_windows: list[str]
    connections: int
    pairs: int
    findings: list[Finding]
    scores: WindowScores = field(repr=False)
    scores_file: Path | None
    threshold: float | None
    top_k: int | None
    seconds: float
    fingerprint_seconds: float

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        fs = self.findings[:limit] if limit else self.findings
        return {
            "window": self.window,
            "baseline_windows": self.baseline_windows,
            "connections": self.connections,
            "pairs": self.pairs,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "findings_total": len(self.findings),
            "findings": [f.to_json() for f in fs],
            "scores_file": str(self.scores_file) if self.scores_file else None,
            "seconds": round(self.seconds, 3),
            "fingerprint_seconds": round(self.fingerprint_seconds, 3),
        }


def host_info(store: GraphStore, hosts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Host.subnet and Host.internal of hosts (those the fingerprints do not know)."""
    if not len(hosts):
        return {}
    rows = store.read("fingerprint_host_subnets", ids=list(hosts))
    return {str(r["id"]): {"subnet": r["subnet"], "internal": r["internal"]} for r in rows}


@dataclass(frozen=True)
class NoveltyOptions:
    """`graphnet novelty`'s options: the baseline, the novelty (0-1) that makes a finding, at
    most `top_k` findings, and the scoring parameters."""

    baseline: int = DEFAULT_BASELINE
    threshold: float | None = DEFAULT_THRESHOLD
    top_k: int | None = None
    params: NoveltyParams | None = None


def top_mean(hosts: np.ndarray, scores: np.ndarray, top: int = 20) -> pd.Series:
    """Per host: mean of its `top` highest scores (missing ones count 0), highest first."""
    frame = pd.DataFrame({"host": hosts, "score": scores})
    frame = frame.sort_values(["host", "score"], ascending=[True, False], kind="stable")
    frame = frame[frame.groupby("host", sort=False).cumcount() < top]
    return (frame.groupby("host")["score"].sum() / top).sort_values(ascending=False)


def host_scores(frame: pd.DataFrame) -> tuple[pd.Series, dict[str, str]]:
    """Per host (either end): the mean of its 20 highest connection scores, and the
    explanation of its highest-scoring connection (for the 50 highest hosts)."""
    s = frame["score"].to_numpy(dtype="float64")
    src = frame["src"].astype(str).to_numpy(dtype=object)
    dst = frame["dst"].astype(str).to_numpy(dtype=object)
    hosts = np.concatenate([src, dst])
    both = np.concatenate([s, s])
    hs = top_mean(hosts, both)
    evidence: dict[str, str] = {}
    if "explanation" in frame:
        rows = pd.DataFrame({"host": hosts, "v": both, "row": np.tile(np.arange(len(frame)), 2)})
        rows = rows[rows["host"].isin(set(hs.index[:50]))]
        best = rows.sort_values("v", ascending=False, kind="stable").drop_duplicates("host")
        ex = frame["explanation"].to_numpy(dtype=object)
        evidence = {str(h): str(ex[r]) for h, r in zip(best["host"], best["row"], strict=True)}
    return hs, evidence


def score(ctx: Context, opts: NoveltyOptions) -> tuple[WindowScores, float]:
    """Every connection of the window scored against the fingerprints as of the window (from
    the fingerprints step of the same pass when it ran with the same baseline, else built
    now); the scores are stored when `ctx.save`.

    Returns the scores and the seconds the fingerprints took. Raises NotEnoughHistory (no
    earlier window) or InputError (no archived connections)."""
    t0 = time.perf_counter()
    store = ctx.graph()
    window = ctx.window
    windows.kind_of(window)
    prior = ctx.earlier.get("fingerprints")
    if (
        prior is not None
        and isinstance(prior.detail, FingerprintStep)
        and prior.info.get("baseline") == opts.baseline
    ):
        fp = prior.detail.fingerprints
    else:
        fp = build_fingerprints(store, window, ctx.settings, opts.baseline, save=ctx.save)
    t_fp = time.perf_counter() - t0
    conns = ctx.archive.connections([window])
    if conns.empty:
        raise InputError(
            f"no archived connections for window {window} under {ctx.archive.root}",
            hint="connection scoring reads the archive ingest writes; re-ingest the window's logs",
        )
    hosts = pd.unique(
        np.concatenate([conns["src"].to_numpy(dtype=object), conns["dst"].to_numpy(dtype=object)])
    )
    unknown = [str(h) for h, c in zip(hosts, fp.host_codes(hosts), strict=True) if c < 0]
    ws = score_frame(
        fp,
        conns,
        window,
        threshold=opts.threshold,
        top_k=opts.top_k,
        params=opts.params,
        hosts_info=host_info(store, unknown),
        settings=ctx.settings,
    )
    if ctx.save:
        write_scores(ctx.archive, ws)
    return ws, t_fp


def run(ctx: Context) -> DetectorRun:
    """The registry's `novelty` step: per-connection novelty scores, per-host scores, and one
    `novel_connection` finding per deviating conversation."""
    t0 = time.perf_counter()
    opts = ctx.option(NoveltyOptions) or NoveltyOptions()
    ws, t_fp = score(ctx, opts)
    frame = ws.connections
    hs, evidence = host_scores(frame)
    s = frame["score"].to_numpy(dtype="float64")
    novel = frame["novel"].to_numpy(dtype=bool) if "novel" in frame else s >= 0.5
    pairs = frame.loc[novel, ["src", "dst"]].drop_duplicates()
    secs = time.perf_counter() - t0
    result = ScoreResult(
        window=ws.window,
        baseline_windows=ws.baseline_windows,
        connections=len(frame),
        pairs=len(ws.conversations),
        findings=ws.findings,
        scores=ws,
        scores_file=ctx.archive.result_path(ws.window, SCORES) if ctx.save else None,
        threshold=opts.threshold,
        top_k=opts.top_k,
        seconds=secs,
        fingerprint_seconds=t_fp,
    )
    return DetectorRun(
        step="novelty",
        window=ws.window,
        summary=f"{len(frame):,} connections in {len(ws.conversations):,} pairs scored against "
        f"{', '.join(ws.baseline_windows)}; {len(ws.findings)} novel conversations",
        host_scores=hs,
        conn_scores=pd.Series(s, index=frame["uid"].astype(str).to_numpy()),
        findings=ws.findings,
        alerts=float(len(pairs)),
        evidence=evidence,
        info={"threshold": ws.threshold, "baseline_windows": ws.baseline_windows},
        detail=result,
    )
