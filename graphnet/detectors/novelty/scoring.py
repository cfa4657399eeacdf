"""Score a window's connections for novelty and report the deviating conversations.

The registry's `novelty` step: fingerprints as of the window (from earlier windows, with benign
feedback; `baseline`) -> every archived connection of the window scored out of core (`streamed`:
each distinct combination once, by the analytical engine and in batches) -> conversations at or
above the threshold reported as `novel_connection` findings; the scores are stored (`stored`:
per conversation, and the connections the results need) for reports, `graphnet paths` and
feedback. `score_frame` is the same on a frame in memory (pure: tests, small data).
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
from graphnet.archive import Archive
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
from graphnet.detectors.novelty.streamed import (
    Handed,
    HostsInfo,
    Streamed,
    explained,
    score_archived,
    top_mean,
)
from graphnet.errors import InputError, NotEnoughHistory
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


def findings_of(
    conv: pd.DataFrame,
    best: pd.DataFrame,
    uids: Sequence[Sequence[Any]],
    window: str,
    threshold: float | None,
    baseline_windows: list[str],
) -> list[Finding]:
    """One `novel_connection` finding per reported conversation (rows of `conv`, with their
    explanation), from its most novel connection (the row of `best` at the same position:
    part_*, uniqueness, top_component, top_value, p_value) and its example uids."""
    out: list[Finding] = []
    part_cols = [f"part_{q}" for q in PARTS]
    records: list[Any] = list(conv.itertuples(index=False))
    best_rows: list[Any] = list(best.itertuples(index=False))
    for r, b, ex in zip(records, best_rows, uids, strict=True):
        row = b._asdict()
        parts = {
            name: round(float(row[c]), 3)
            for name, c in zip(PARTS, part_cols, strict=True)
            if float(row[c]) > 0
        }
        parts.update(
            conversation_bits=round(float(r.bits), 3),
            connection_bits=round(float(r.conn), 3),
            who_bits=round(float(r.who_bits), 3),
            uniqueness=round(float(row["uniqueness"]), 3),
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
                    "uids": [str(u) for u in ex],
                    "top_component": str(row["top_component"]),
                    "top_value": str(row["top_value"]),
                    "max_connection_bits": round(float(r.conn_bits), 3),
                    "p_value": float(row["p_value"]),
                    "threshold": threshold,
                    "baseline_windows": list(baseline_windows),
                    "new_pair": bool(r.who_bits > 0),
                },
            )
        )
    return out


def reported(conv: pd.DataFrame, threshold: float | None, top_k: int | None) -> np.ndarray:
    """Which conversations (sorted most novel first) make findings: score >= threshold (any
    novelty when None), at most top_k of them."""
    if threshold is not None:
        rep = conv["score"].to_numpy() >= threshold
    else:
        rep = conv["bits"].to_numpy() > 0
    if top_k is not None:
        rep &= np.cumsum(rep) <= top_k
    out: np.ndarray = rep
    return out


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
    rep = reported(conv, threshold, top_k)
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
        out = findings_of(
            conv[rep],
            frame.iloc[best],
            [uids.get(r, []) for r in sel["pair"].to_numpy()],
            window,
            threshold,
            list(fp.windows),
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


def score_window(
    archive: Archive,
    fp: fingerprints.Fingerprints | Handed,
    window: str,
    settings: Settings,
    *,
    threshold: float | None = DEFAULT_THRESHOLD,
    top_k: int | None = None,
    params: NoveltyParams | None = None,
    hosts_info: HostsInfo | None = None,
    per_connection: bool = False,
) -> tuple[WindowScores, Streamed]:
    """`score_frame` of an archived window, out of core (`streamed`): every conversation, and
    of the connections the novel ones and a sample of the others (`WindowScores.connections`;
    a conversation's `best` is -1 when it has no novel connection); findings as `score_frame`
    gives them. Ties between equally novel connections of a conversation go to the earliest
    (then the smallest uid). Fingerprints `Handed` over are let go as soon as the scoring no
    longer needs them (`score_archived`)."""
    params = params or NoveltyParams()
    held = fp.peek() if isinstance(fp, Handed) else fp
    baseline_windows, feedback = list(held.windows), held.feedback
    del held

    def report(conv: pd.DataFrame) -> np.ndarray:  # the conversations come ranked
        return reported(conv, threshold, top_k)

    st = score_archived(
        archive,
        fp,
        window,
        params,
        settings,
        hosts_info=hosts_info,
        per_connection=per_connection,
        reported=report,
    )
    conv = st.conversations.copy(deep=False)  # ranked; its new columns are conv's alone
    frame = st.connections.copy(deep=False)  # copy-on-write: its changes stay in `frame`
    rep = reported(conv, threshold, top_k)
    conv["reported"] = rep
    conv["explanation"] = ""
    conv["summary"] = ""
    key = pd.MultiIndex.from_frame(conv[["src", "dst"]])
    first = frame["rnk"].to_numpy() == 1
    at = pd.Series(
        np.flatnonzero(first), index=pd.MultiIndex.from_frame(frame.loc[first, ["src", "dst"]])
    )
    conv["best"] = at.reindex(key).fillna(-1).to_numpy(dtype=np.int64)
    conv["pair"] = np.arange(len(conv))
    novel = frame["novel"].to_numpy(dtype=bool)
    pair_of = key.get_indexer(pd.MultiIndex.from_frame(frame[["src", "dst"]]))
    frame["reported"] = novel & rep[pair_of]
    out: list[Finding] = []
    if rep.any():
        sel = conv[rep]
        rich, short = explained(st, sel["best_id"].to_numpy(dtype=np.int64))
        conv.loc[rep, "explanation"] = rich
        conv.loc[rep, "summary"] = short
        best = sel["best"].to_numpy()
        col = frame.columns.get_loc("explanation")
        assert isinstance(col, int)
        frame.iloc[best, col] = rich
        # up to MAX_EXAMPLES example uids per conversation, most novel first
        ex = frame[frame["reported"].to_numpy() & (frame["rnk"].to_numpy() <= MAX_EXAMPLES)]
        ex = ex.sort_values(["src", "dst", "rnk"], kind="stable")
        uids = ex.groupby(["src", "dst"], sort=False)["uid"].agg(list)
        skey = pd.MultiIndex.from_frame(sel[["src", "dst"]])
        out = findings_of(
            conv[rep],
            frame.iloc[best],
            [list(u) if isinstance(u, list) else [] for u in uids.reindex(skey)],
            window,
            threshold,
            baseline_windows,
        )
    ws = WindowScores(
        window=window,
        baseline_windows=baseline_windows,
        connections=frame.drop(columns=["rnk", "id"]),
        conversations=conv.drop(columns=["everything", "level", "best_id"]),
        findings=out,
        threshold=threshold,
        top_k=top_k,
        params=params,
        feedback=feedback,
    )
    return ws, st


def host_evidence(ws: WindowScores, st: Streamed) -> dict[str, str]:
    """Per top host, the explanation of its best connection: the full one when it is the most
    novel connection of a reported conversation, else the short one."""
    if st.combos is None or st.host_best.empty:
        return {}
    conv = ws.conversations
    rich = dict(
        zip(
            st.conversations.set_index(["src", "dst"])
            .loc[pd.MultiIndex.from_frame(conv.loc[conv["reported"], ["src", "dst"]]), "best_id"]
            .to_numpy(dtype=np.int64)
            .tolist(),
            conv.loc[conv["reported"], "explanation"].tolist(),
            strict=True,
        )
    )
    pos = pd.Index(st.combo_ids).get_indexer(st.host_best["id"].to_numpy(dtype=np.int64))
    short = st.combos["explanation"].to_numpy(dtype=object)
    return {
        str(h): str(rich.get(int(i), short[p]))
        for h, i, p in zip(st.host_best["host"], st.host_best["id"], pos, strict=True)
    }


def _fingerprints(ctx: Context, opts: NoveltyOptions) -> fingerprints.Fingerprints:
    """The fingerprints as of the window: from the fingerprints step of the same pass when it
    ran with the same baseline, else built now."""
    prior = ctx.earlier.get("fingerprints")
    if (
        prior is not None
        and isinstance(prior.detail, FingerprintStep)
        and prior.detail.baseline == opts.baseline  # info["baseline"] is the pipeline's text
    ):
        split = prior.info.get("time_split")
        if split is not None and ctx.archive.split is None:
            # learned from the window's first part: score the rest, under the same split
            raise NotEnoughHistory(
                f"the fingerprints of {ctx.window} were learned from a time split of it"
            )
        step = ctx.take("fingerprints")  # novelty is their last user: it lets them go
        assert isinstance(step, FingerprintStep)
        return step.fingerprints
    return build_fingerprints(
        ctx.graph(),
        ctx.window,
        ctx.settings,
        opts.baseline,
        save=ctx.save,
        archive=ctx.archive,
        pairs_apart=True,
    )


def _score(ctx: Context, opts: NoveltyOptions) -> tuple[WindowScores, Streamed, float]:
    t0 = time.perf_counter()
    store = ctx.graph()
    window = ctx.window
    windows.kind_of(window)
    # handed over: the scoring lets them go before it reads the connections it keeps
    handed = Handed(_fingerprints(ctx, opts))
    t_fp = time.perf_counter() - t0
    if not ctx.archive.files(window):
        raise InputError(
            f"no archived connections for window {window} under {ctx.archive.root}",
            hint="connection scoring reads the archive ingest writes; re-ingest the window's logs",
        )
    ws, st = score_window(
        ctx.archive,
        handed,
        window,
        ctx.settings,
        threshold=opts.threshold,
        top_k=opts.top_k,
        params=opts.params,
        hosts_info=lambda hosts: host_info(store, hosts),
        per_connection=ctx.per_connection,
    )
    if st.total == 0:
        raise InputError(
            f"no archived connections for window {window} under {ctx.archive.root}",
            hint="connection scoring reads the archive ingest writes; re-ingest the window's logs",
        )
    if ctx.save:
        write_scores(ctx.archive, ws, st.total)
    return ws, st, t_fp


def score(ctx: Context, opts: NoveltyOptions) -> tuple[WindowScores, float]:
    """Every connection of the window scored against the fingerprints as of the window (from
    the fingerprints step of the same pass when it ran with the same baseline, else built
    now), out of core; the scores are stored when `ctx.save`.

    Returns the scores and the seconds the fingerprints took. Raises NotEnoughHistory (no
    earlier window) or InputError (no archived connections)."""
    ws, _, t_fp = _score(ctx, opts)
    return ws, t_fp


def run(ctx: Context) -> DetectorRun:
    """The registry's `novelty` step: per-host scores, one `novel_connection` finding per
    deviating conversation, and every connection's score when the caller asks for them
    (`ConnectionScores`)."""
    t0 = time.perf_counter()
    opts = ctx.option(NoveltyOptions) or NoveltyOptions()
    ws, st, t_fp = _score(ctx, opts)
    conv = ws.conversations
    secs = time.perf_counter() - t0
    result = ScoreResult(
        window=ws.window,
        baseline_windows=ws.baseline_windows,
        connections=st.total,
        pairs=len(conv),
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
        summary=f"{st.total:,} connections in {len(conv):,} pairs scored against "
        f"{', '.join(ws.baseline_windows)}; {len(ws.findings)} novel conversations",
        host_scores=st.host_scores,
        conn_scores=st.conn_scores,
        findings=ws.findings,
        alerts=float((conv["novel"].to_numpy() > 0).sum()),
        evidence=host_evidence(ws, st),
        info={"threshold": ws.threshold, "baseline_windows": ws.baseline_windows},
        detail=result,
    )
