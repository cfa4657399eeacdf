"""Deviating paths: novel conversations chained into multi-hop paths (lateral movement).

A hop is a reported `novel_connection` conversation of the window (or, with a threshold, any
conversation scoring at least that). A→B then B→C chain when some novel connection of B→C
starts at most `max_gap` seconds after a novel connection of A→B that led to it (and not
before it); hosts are not revisited. Only maximal paths of two hops or more are reported: a
path that is part of a longer reported path is not listed on its own.

Path score: the hops' conversation bits add up (independent surprises, as in the connection
score) and the sum is mapped to 0-1 like every novelty score: 1 - 2^(-sum / scale_bits).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.novelty import scoring
from graphnet.detectors.novelty.explain import phrase
from graphnet.detectors.novelty.parts import WHO_PARTS, novelty_from_bits
from graphnet.detectors.novelty.stored import WindowScores, load_scores
from graphnet.findings import Finding, finding_id

log = logging.getLogger(__name__)

KIND = "deviating_path"
DEFAULT_MAX_GAP = 3600.0
DEFAULT_MAX_HOPS = 4
MAX_PATHS = 20000


@dataclass
class Hop:
    src: str
    dst: str
    first: float  # epoch seconds of the hop's first novel connection on the path
    score: float  # the conversation's 0-1 novelty
    bits: float  # the conversation's bits
    explanation: str  # what is novel about it
    connections: int  # novel connections of the conversation

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "first": scoring.iso(self.first),
            "score": round(self.score, 6),
            "explanation": self.explanation,
        }


@dataclass
class DeviatingPath:
    window: str
    hosts: list[str]
    hops: list[Hop]
    bits: float
    score: float
    max_gap: float
    explanation: str = ""
    cypher: str = ""
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            self.id = finding_id(KIND, self.window, self.hosts)
        if not self.cypher:
            self.cypher = scoring.path_cypher(self.hosts, self.window)
        if not self.explanation:
            gap = f"{self.max_gap / 60:.0f} min"
            steps = "; then ".join(
                f"{h.src}→{h.dst} at {scoring.iso(h.first)[11:16]} UTC ({h.explanation})"
                for h in self.hops
            )
            self.explanation = (
                f"a chain of {len(self.hops)} conversations, each novel for its pair, each "
                f"starting within {gap} of the previous one: {steps}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "window": self.window,
            "score": round(self.score, 6),
            "hosts": self.hosts,
            "hops": [h.to_json() for h in self.hops],
            "explanation": self.explanation,
            "cypher": self.cypher,
        }

    def to_finding(self) -> Finding:
        return Finding(
            kind=KIND,
            window=self.window,
            score=round(self.score, 6),
            hosts=list(self.hosts),
            explanation=self.explanation,
            parts={
                "path_bits": round(self.bits, 3),
                **{f"hop{i}_bits": round(h.bits, 3) for i, h in enumerate(self.hops)},
            },
            cypher=self.cypher,
            detector="paths",
            evidence={"hops": [h.to_json() for h in self.hops], "max_gap_seconds": self.max_gap},
            id=self.id,
        )


def _hop_phrase(conv_row: Any, conns: pd.DataFrame) -> str:
    """What is novel about a hop, in a few words ('new pair; service smb')."""
    summary = str(getattr(conv_row, "summary", "") or "")
    if summary:
        return summary
    best = int(conv_row.best)
    comp = str(conns["top_component"].iat[best])
    value = str(conns["top_value"].iat[best])
    if comp in WHO_PARTS:
        return comp.replace("_", " ")
    if comp == "-":
        return "new for the pair"
    return phrase(comp, value)


def chain_paths(
    ws: WindowScores,
    *,
    max_gap: float = DEFAULT_MAX_GAP,
    max_hops: int = DEFAULT_MAX_HOPS,
    threshold: float | None = None,
    max_paths: int = MAX_PATHS,
) -> list[DeviatingPath]:
    """Deviating paths of a scored window, highest score first (pure; see module docstring).
    Hops are the reported conversations, or those scoring >= threshold when it is given."""
    conv = ws.conversations
    conns = ws.connections
    if conv.empty or max_hops < 2:
        return []
    if threshold is None:
        hop_rows = conv[conv["reported"].to_numpy(dtype=bool)]
    else:
        hop_rows = conv[conv["score"].to_numpy() >= threshold]
    if len(hop_rows) < 2:
        return []
    novel = conns[conns["novel"].to_numpy(dtype=bool)]
    novel_ts = novel["ts"].to_numpy(dtype="float64")
    groups = novel.groupby(["src", "dst"], sort=False).indices
    hops: list[Hop] = []
    hop_times: list[np.ndarray] = []
    records: list[Any] = list(hop_rows.itertuples(index=False))
    for r in records:
        key = (r.src, r.dst)
        if key not in groups:
            continue
        hops.append(
            Hop(
                src=str(r.src),
                dst=str(r.dst),
                first=float(r.first),
                score=float(r.score),
                bits=float(r.bits),
                explanation=_hop_phrase(r, conns),
                connections=int(r.novel),
            )
        )
        hop_times.append(np.sort(novel_ts[groups[key]]))
    by_src: dict[str, list[int]] = {}
    for i, h in enumerate(hops):
        by_src.setdefault(h.src, []).append(i)

    # breadth-first extension; each path keeps the feasible times of its last hop
    frontier: list[tuple[tuple[int, ...], np.ndarray]] = [
        ((i,), hop_times[i]) for i in range(len(hops))
    ]
    found: list[tuple[tuple[int, ...], np.ndarray]] = []
    for _ in range(max_hops - 1):
        nxt: list[tuple[tuple[int, ...], np.ndarray]] = []
        for path, feasible in frontier:
            visited = {hops[path[0]].src, *(hops[i].dst for i in path)}
            for j in by_src.get(hops[path[-1]].dst, []):
                if hops[j].dst in visited:
                    continue
                t = hop_times[j]
                k = np.searchsorted(feasible, t, side="right") - 1
                ok = (k >= 0) & (t - feasible[np.maximum(k, 0)] <= max_gap)
                if ok.any():
                    nxt.append(((*path, j), t[ok]))
        if len(found) + len(nxt) > max_paths:
            log.warning("more than %d candidate paths; keeping the first ones", max_paths)
            nxt = nxt[: max(0, max_paths - len(found))]
        found.extend(nxt)
        frontier = nxt
        if not frontier:
            break

    # maximal paths only
    covered: set[tuple[int, ...]] = set()
    for path, _ in found:
        for a in range(len(path)):
            for b in range(a + 2, len(path) + 1):
                if b - a < len(path):
                    covered.add(path[a:b])
    out = []
    seen: set[tuple[int, ...]] = set()
    for path, _ in found:
        if path in covered or path in seen:
            continue
        seen.add(path)
        # the time each hop is entered on this path: earliest feasible connection
        entered = [hop_times[path[0]]]
        for j in path[1:]:
            prev = entered[-1]
            t = hop_times[j]
            k = np.searchsorted(prev, t, side="right") - 1
            entered.append(t[(k >= 0) & (t - prev[np.maximum(k, 0)] <= max_gap)])
        hs = [
            Hop(
                hops[j].src,
                hops[j].dst,
                float(e.min()),
                hops[j].score,
                hops[j].bits,
                hops[j].explanation,
                hops[j].connections,
            )
            for j, e in zip(path, entered, strict=True)
        ]
        bits = float(sum(h.bits for h in hs))
        out.append(
            DeviatingPath(
                window=ws.window,
                hosts=[hs[0].src, *(h.dst for h in hs)],
                hops=hs,
                bits=bits,
                score=float(novelty_from_bits(bits, ws.params.scale_bits)),
                max_gap=max_gap,
            )
        )
    out.sort(key=lambda p: (-p.bits, p.hosts))
    return out


@dataclass(frozen=True)
class PathOptions:
    """`graphnet paths`' options: seconds between one hop and the next, the longest path, and
    the conversation novelty that makes a hop (default: the reported novel conversations)."""

    max_gap: float = DEFAULT_MAX_GAP
    max_hops: int = DEFAULT_MAX_HOPS
    threshold: float | None = None


@dataclass
class PathsResult:
    window: str
    paths: list[DeviatingPath]

    def to_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.paths]


def window_scores(ctx: Context) -> WindowScores:
    """The window's novelty scores: from the novelty step of this pass, else as stored, else
    scored now (stored when `ctx.save`)."""
    prior = ctx.earlier.get("novelty")
    if prior is not None and isinstance(prior.detail, scoring.ScoreResult):
        return prior.detail.scores
    got = load_scores(ctx.archive, ctx.window)
    if got is not None:
        return got
    return scoring.score(ctx, ctx.option(scoring.NoveltyOptions) or scoring.NoveltyOptions())[0]


def run(ctx: Context) -> DetectorRun:
    """The registry's `paths` step: deviating paths of the window from its connection scores,
    as `deviating_path` findings; hosts scored by their best path (ties: the sum of their
    paths), hops by their best path."""
    o = ctx.option(PathOptions) or PathOptions()
    ws = window_scores(ctx)
    paths = chain_paths(ws, max_gap=o.max_gap, max_hops=o.max_hops, threshold=o.threshold)
    log.info("%s: %d deviating paths", ctx.window, len(paths))
    found = [p.to_finding() for p in paths]
    host_scores: pd.DataFrame | None = None
    pair_scores: pd.Series | None = None
    evidence: dict[str, str] = {}
    if paths:
        per_host = pd.DataFrame(
            [(h, p.score, p.explanation) for p in paths for h in p.hosts],
            columns=["host", "score", "ex"],
        ).sort_values("score", ascending=False, kind="stable")
        hs = per_host.groupby("host").agg(max=("score", "max"), sum=("score", "sum"))
        host_scores = hs.sort_values(["max", "sum"], ascending=False)
        best = per_host.drop_duplicates("host")
        evidence = dict(zip(best["host"], best["ex"].str.slice(0, 240), strict=True))
        hops = pd.DataFrame(
            [(a, b, p.score) for p in paths for a, b in itertools.pairwise(p.hosts)],
            columns=["src", "dst", "score"],
        )
        pair_scores = hops.groupby(["src", "dst"])["score"].max()
    return DetectorRun(
        step="paths",
        window=ctx.window,
        summary=f"{len(paths)} deviating paths",
        host_scores=host_scores,
        pair_scores=pair_scores,
        findings=found,
        alerts=float(len(paths)),
        evidence=evidence,
        info={"paths": len(paths)},
        detail=PathsResult(ctx.window, paths),
    )
