"""Centrality shifts, the report: rows, graph-level change and the Cypher that opens a host
in Neo4j Browser, built from metric tables by `score_window` (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphnet.detectors.shifts.model import (
    NOT_ENOUGH_HISTORY,
    SCORED,
    CentralityShiftDetector,
    ShiftSettings,
    derive,
)
from graphnet.findings import cypher_literal

# --------------------------------------------------------------------------------------------
# Cypher for Neo4j Browser
# --------------------------------------------------------------------------------------------


def browser_query(host: str, window: str, limit: int = 200) -> str:
    """Cypher that opens `host`'s neighbourhood in `window` (its heaviest edges) and its
    snapshot history, for pasting into Neo4j Browser."""
    h, w = cypher_literal(host), cypher_literal(window)
    return (
        f"MATCH (h:Host {{id: {h}}})\n"
        "CALL (h) {\n"
        f"  OPTIONAL MATCH p = (h)-[r:TALKED {{window: {w}}}]-(:Host)\n"
        f"  WITH p, r ORDER BY r.conns DESC LIMIT {int(limit)}\n"
        "  RETURN collect(p) AS neighbourhood\n"
        "}\n"
        "CALL (h) {\n"
        "  OPTIONAL MATCH (s:Snapshot {status: 'done'})-[m:MEASURED]->(h)\n"
        "  WITH s, m ORDER BY s.window\n"
        "  RETURN collect(m {window: s.window, .out_degree, .in_degree, .peers, .dports_out,\n"
        "    .dports_in, .conns_out, .conns_in, .pagerank, .betweenness, .hub, .authority,\n"
        "    .community}) AS history\n"
        "}\n"
        "RETURN h, neighbourhood, history"
    )


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
@dataclass
class ShiftRow:
    window: str
    host: str
    score: float
    rank: int
    parts: dict[str, dict[str, Any]]
    explanation: str
    cypher: str

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "host": self.host,
            "score": self.score,
            "rank": self.rank,
            "parts": self.parts,
            "explanation": self.explanation,
            "cypher": self.cypher,
        }


@dataclass
class GraphChange:
    hosts: int = 0
    edges: int = 0
    previous_window: str | None = None
    previous_hosts: int = 0
    previous_edges: int = 0
    new_edges: int = 0
    vanished_edges: int = 0
    new_hosts: int = 0
    vanished_hosts: int = 0
    community_moves: int = 0
    #: median of community_moves over the earlier windows (Louvain partitions of graphs
    #: without a clear community structure vary from window to window; compare with this)
    community_moves_typical: float | None = None
    communities: int = 0


@dataclass
class ShiftReport:
    window: str
    status: str  # "ok" | "not enough history"
    message: str
    history: list[str]
    graph: GraphChange
    rows: list[ShiftRow] = field(default_factory=list)
    scored_hosts: int = 0
    findings_saved: int = 0

    @property
    def enough_history(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "status": self.status,
            "message": self.message,
            "history": self.history,
            "graph": asdict(self.graph),
            "scored_hosts": self.scored_hosts,
            "findings_saved": self.findings_saved,
            "rows": [r.to_json() for r in self.rows],
        }


def community_moves(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Hosts present in both windows (index) with their community labels and whether they
    moved. Labels are arbitrary per window, so communities are matched first: each current
    community descends from the previous community that gave it most of its (common) hosts.
    A host moved when its previous community is not the one its current community descends
    from. Columns: previous, current, ancestor, moved."""
    common = previous.index.intersection(current.index)
    both = pd.DataFrame(
        {
            "previous": previous.reindex(common).to_numpy(dtype=np.int64),
            "current": current.reindex(common).to_numpy(dtype=np.int64),
        },
        index=common,
    )
    if both.empty:
        return both.assign(ancestor=pd.Series(dtype=np.int64), moved=pd.Series(dtype=bool))
    counts = both.groupby(["current", "previous"]).size().rename("n").reset_index()
    counts = counts.sort_values(["current", "n", "previous"], ascending=[True, False, True])
    ancestor = counts.drop_duplicates("current").set_index("current")["previous"]
    both["ancestor"] = ancestor.reindex(both["current"].to_numpy()).to_numpy()
    both["moved"] = both["previous"].to_numpy() != both["ancestor"].to_numpy()
    return both


def pair_keys(src: Sequence[str], dst: Sequence[str]) -> np.ndarray:
    """A 64-bit key per directed host pair (src[i], dst[i]): what the new and vanished edges
    are counted from, 8 bytes a pair where the two names take about 130 (a window of 4.5 M
    pairs: 36 MB, not 0.6 GB). A pair of one window takes another's key with a chance of about
    n² / 2⁶⁴ in all (n = 5 M: about one in 700,000), which would move a count by one."""
    if not len(src):
        return np.zeros(0, dtype=np.uint64)
    frame = pd.DataFrame(
        {"src": np.asarray(src, dtype=object), "dst": np.asarray(dst, dtype=object)}
    )
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)


def _pair_changes(current: np.ndarray | None, previous: np.ndarray | None) -> tuple[int, int]:
    if current is None or previous is None:
        return 0, 0
    return int((~np.isin(current, previous)).sum()), int((~np.isin(previous, current)).sum())


def _json_number(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    if not np.isfinite(f):
        return None
    if f == int(f) and abs(f) < 2**53:
        return int(f)
    return float(f"{f:.6g}")


def score_window(
    measures: pd.DataFrame,
    window: str,
    history: Sequence[str],
    top: int = 20,
    settings: ShiftSettings | None = None,
    current_pairs: np.ndarray | None = None,
    previous_pairs: np.ndarray | None = None,
    detail: int | None = None,
) -> tuple[ShiftReport, pd.DataFrame]:
    """Score `window` against the `history` windows (oldest first) from a long metric table
    (`window`, `host`, snapshot metrics). Returns the report (top `top` rows) and the score
    table of every scored host, sorted by score, with `rank`. `current_pairs` and
    `previous_pairs` are the `pair_keys` of the window's and the previous window's edges (the
    new and vanished edges are counted from them). With `detail` the table holds `score`,
    `rank` and `explanation` alone, the explanation of the first max(`detail`, `top`) rows
    only ("" for the others): a window of a million hosts is not explained host by host.
    Without it, every column of `CentralityShiftDetector.score`. Pure: no store. The table
    is not changed; this function's reference to it goes once the model is fitted, so that a
    caller that passes it on without keeping one (`shift_report`) has it freed before the
    hosts are scored (at 32 M connections a week, three windows of about 0.77 M hosts:
    0.35 GiB of the step's peak)."""
    s = settings or ShiftSettings()
    history = [w for w in history if w < window]
    cur = measures[measures["window"] == window].set_index("host").drop(columns="window")
    graph = GraphChange(
        hosts=len(cur), edges=len(current_pairs) if current_pairs is not None else 0
    )
    if "community" in cur.columns and len(cur):
        graph.communities = int(cur["community"].nunique())
    if history:
        prev_w = history[-1]
        prev = measures[measures["window"] == prev_w].set_index("host")
        graph.previous_window = prev_w
        graph.previous_hosts = len(prev)
        graph.previous_edges = len(previous_pairs) if previous_pairs is not None else 0
        graph.new_hosts = int((~cur.index.isin(prev.index)).sum())
        graph.vanished_hosts = int((~prev.index.isin(cur.index)).sum())
        graph.new_edges, graph.vanished_edges = _pair_changes(current_pairs, previous_pairs)
        moves = community_moves(prev["community"], cur["community"])
        prev_community = prev["community"]
        del prev  # a copy of a window's rows of the metric table: 0.2 GB at 1.5 M hosts
        moved = moves.index[moves["moved"].to_numpy(dtype=bool)]
        graph.community_moves = len(moved)
        earlier_moves = []
        for a, b in itertools.pairwise(history):
            pa = measures[measures["window"] == a].set_index("host")["community"]
            pb = measures[measures["window"] == b].set_index("host")["community"]
            earlier_moves.append(int(community_moves(pa, pb)["moved"].sum()))
        if earlier_moves:
            graph.community_moves_typical = float(np.median(earlier_moves))
    else:
        moved = pd.Index([])
        prev_community = pd.Series(dtype="float64")
    if len(history) < s.min_history:
        msg = (
            f"not enough history for {window}: {len(history)} earlier snapshot(s), "
            f"{s.min_history} needed; run `graphnet snapshot --all` after ingesting earlier "
            "windows"
        )
        return (
            ShiftReport(window, NOT_ENOUGH_HISTORY, msg, list(history), graph),
            pd.DataFrame(),
        )
    det = CentralityShiftDetector(s).fit(measures, windows=history)
    del measures
    obs = derive(cur)
    cur_hosts = len(cur)
    cur_community = cur["community"] if "community" in cur.columns else pd.Series(dtype="float64")
    del cur
    regular = det.presence_[det.presence_ >= s.absent_presence].index
    gone = regular.difference(obs.index)
    if len(gone):
        absent = pd.DataFrame(0.0, index=gone, columns=obs.columns)
        absent["balance"] = np.nan
        obs = pd.concat([obs, absent])
    known = det.presence_[det.presence_ >= s.min_presence].index
    obs = obs[obs.index.isin(known)]
    head, ranked = det.ranked(obs, None if detail is None else max(detail, top))
    head["rank"] = np.arange(1, len(head) + 1)
    rows = []
    for host, r in head.head(top).iterrows():
        parts: dict[str, dict[str, Any]] = {
            m: {
                "previous": _json_number(r[f"previous_{m}"]),
                "current": _json_number(r[f"current_{m}"]),
                "z": round(float(r[f"part_{m}"]), 2),
            }
            for m in SCORED
        }
        if r["role_previous"] != r["role_current"]:
            parts["role"] = {
                "previous": r["role_previous"],
                "current": r["role_current"],
                "z": parts["balance"]["z"],
            }
        if bool(r["new_hub"]):
            parts["new_hub"] = {
                "previous": _json_number(det.best_pct_["pagerank_pct"].get(host, 0.0)),
                "current": _json_number(obs.at[host, "pagerank_pct"]),
                "z": parts["pagerank_pct"]["z"],
            }
        explanation = str(r["explanation"])
        if host in moved:
            parts["community"] = {
                "previous": _json_number(prev_community.at[host]),
                "current": _json_number(cur_community.at[host]),
                "z": None,
            }
            if r["score"] >= s.finding_score and graph.community_moves <= max(
                1.0, s.community_stable_share * cur_hosts
            ):
                explanation += f"; changed community since {history[-1]}"
        rows.append(
            ShiftRow(
                window=window,
                host=str(host),
                score=round(float(r["score"]), 3),
                rank=int(r["rank"]),
                parts=parts,
                explanation=explanation,
                cypher=browser_query(str(host), window),
            )
        )
    report = ShiftReport(
        window=window,
        status="ok",
        message=f"{len(ranked)} hosts scored against {len(history)} earlier snapshots",
        history=list(history),
        graph=graph,
        rows=rows,
        scored_hosts=len(ranked),
    )
    if detail is None:
        return report, head
    explained = np.full(len(ranked), "", dtype=object)
    explained[: len(head)] = head["explanation"].to_numpy()
    table = pd.DataFrame(
        {"score": ranked, "rank": np.arange(1, len(ranked) + 1), "explanation": explained},
        index=ranked.index,
    )
    return report, table
