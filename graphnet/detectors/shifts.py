"""Centrality shifts: how much each host's place in the graph changed against its own history.

For a window that has a snapshot, every host's metrics are compared with its earlier snapshots
(by default the 4 before it): a robust z-score per metric (median and MAD of the host's own
history; the MAD is floored by the population's typical window-to-window change *at the host's
level* and by a fixed floor, so a flat history never divides by zero), a PageRank percentile
jump, the out/in balance (client-like vs server-like role) and whether it became a hub. Counts
and volumes are compared in log space started at the average host's level, and each z is
weighted by the evidence (connections) it rests on, so that hosts with a handful of connections
cannot produce 50-sigma shifts. One score per host (the mean of its three largest saturated
group values) with its parts, a sentence for the analyst and a Cypher query that opens the host
in Neo4j Browser. Graph-level change (new and vanished edges, hosts that changed community) is
reported with it.

`CentralityShiftDetector` is the pure model (`fit(history)` / `score(observations)`);
`score_window` builds a report from metric tables (pure); `shift_report` reads the snapshots
from the store; `run` is the registry step (findings of kind `centrality_shift`, saved by the
pipeline: a re-run replaces them).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.detectors import snapshots
from graphnet.detectors.contract import Context, DetectorRun, Model
from graphnet.errors import NotEnoughHistory
from graphnet.findings import Finding, cypher_literal
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

KIND = "centrality_shift"
NOT_ENOUGH_HISTORY = "not enough history"

# scored metric -> (transform, offset, floor of the scale in transformed units)
#   log: log(x + c)                   counts and volumes; c = the average host's value over the
#                                     history (at least `offset`): changes well below the
#                                     average host's level are damped, changes above relative
#   rel: log(x * hosts + offset)      scores that sum to 1 over the window's hosts (x * hosts
#                                     is 1 for the average host: the offset is its level too)
#   lin: x                            percentiles and the out/in balance
SCORED: dict[str, tuple[str, float, float]] = {
    "out_degree": ("log", 4.0, 0.1),
    "in_degree": ("log", 4.0, 0.1),
    "peers": ("log", 4.0, 0.1),
    "dports_out": ("log", 4.0, 0.1),
    "dports_in": ("log", 4.0, 0.1),
    "conns_out": ("log", 10.0, 0.1),
    "conns_in": ("log", 10.0, 0.1),
    "bytes_out": ("log", 1e4, 0.1),
    "bytes_in": ("log", 1e4, 0.1),
    "pagerank": ("rel", 1.0, 0.1),
    "betweenness": ("rel", 1.0, 0.1),
    "hub": ("rel", 1.0, 0.1),
    "authority": ("rel", 1.0, 0.1),
    "pagerank_pct": ("lin", 0.0, 0.05),
    "balance": ("lin", 0.0, 0.25),
}
LABELS: dict[str, str] = {
    "out_degree": "out-degree",
    "in_degree": "in-degree",
    "peers": "distinct peers",
    "dports_out": "distinct destination ports",
    "dports_in": "distinct ports served",
    "conns_out": "connections initiated",
    "conns_in": "connections received",
    "bytes_out": "bytes of connections initiated",
    "bytes_in": "bytes of connections received",
    "pagerank": "PageRank",
    "betweenness": "betweenness",
    "hub": "hub score",
    "authority": "authority score",
    "pagerank_pct": "PageRank percentile",
    "balance": "out/in balance",
}
COUNT_METRICS = (
    "out_degree",
    "in_degree",
    "peers",
    "dports_out",
    "dports_in",
    "conns_out",
    "conns_in",
)
MAD_TO_SIGMA = 1.4826
# the connections a metric's change rests on (its evidence): those the host initiated ("out"),
# those it received ("in"), the smaller of the two ("both": betweenness needs paths into and out
# of the host) or all of them ("all")
EVIDENCE: dict[str, str] = {
    "out_degree": "out",
    "dports_out": "out",
    "conns_out": "out",
    "bytes_out": "out",
    "hub": "out",
    "in_degree": "in",
    "dports_in": "in",
    "conns_in": "in",
    "bytes_in": "in",
    "pagerank": "in",
    "pagerank_pct": "in",
    "authority": "in",
    "betweenness": "both",
    "peers": "all",
    "balance": "all",
}
# pseudo-count of the out/in balance, (out - in) / (out + in + 2): the posterior mean under a
# uniform prior on the share of out-edges (Laplace), so one edge cannot make a client or a server
BALANCE_PRIOR = 2.0
# fewest host-pairs the population's change at a level is taken from
MIN_LEVEL_PAIRS = 10
# weight of each metric's |z| in the score. What a host initiates is its own doing; what it
# receives is its peers' (and shows in their outgoing metrics), so received-side metrics count
# half. Volumes have a detector of their own (volume_anomaly) and count half again.
WEIGHTS: dict[str, float] = {
    "in_degree": 0.5,
    "dports_in": 0.5,
    "pagerank": 0.5,
    "pagerank_pct": 0.5,
    "authority": 0.5,
    "conns_out": 0.5,
    "bytes_out": 0.5,
    "conns_in": 0.25,
    "bytes_in": 0.25,
}
# metrics that move together form a group; a group counts once (its largest weighted |z|)
GROUPS: dict[str, tuple[str, ...]] = {
    "peers": ("out_degree", "in_degree", "peers"),
    "ports": ("dports_out", "dports_in"),
    "volume": ("conns_out", "conns_in", "bytes_out", "bytes_in"),
    "centrality": ("pagerank", "pagerank_pct", "betweenness", "hub", "authority"),
    "role": ("balance",),
}


@dataclass(frozen=True)
class ShiftSettings:
    #: earlier snapshots a window needs before it is scored
    min_history: int = 2
    #: the score is the mean of this many largest group scores (see GROUPS)
    top_groups: int = 3
    #: weight of a metric's |z| in the score (default 1)
    weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHTS))
    #: |z| saturates smoothly at this value in the score (explanations show the real z)
    z_cap: float = 30.0
    #: parts at or above this |z| are named in the explanation
    explain_z: float = 3.0
    #: rows at or above this score are saved as findings
    finding_score: float = 3.0
    #: top share (by PageRank or distinct peers) that makes a hub ...
    hub_top: float = 0.01
    #: ... and a "new" hub when its best earlier percentile was below this
    hub_was_below: float = 0.9
    #: balance above this is client-like, below minus this server-like
    role_balance: float = 0.5
    #: a host's community change is named in its explanation only when at most this share of
    #: the window's hosts changed community (else the partition itself is unstable)
    community_stable_share: float = 0.2
    #: hosts absent from the window are scored when present in at least this share of history
    absent_presence: float = 0.5
    #: hosts must have been present in at least this share of the history windows to be
    #: scored: a host with no history has no role to shift from (it is counted as a new host
    #: in the graph-level change; the novelty detectors judge what it does)
    min_presence: float = 0.5
    #: the population's typical change at a host's level is taken from this share of the
    #: host-pairs (consecutive windows; at least MIN_LEVEL_PAIRS) whose earlier value of the
    #: metric was nearest to the host's
    level_share: float = 0.05


# --------------------------------------------------------------------------------------------
# metric tables
# --------------------------------------------------------------------------------------------
def derive(frame: pd.DataFrame) -> pd.DataFrame:
    """One window's metrics (index host) + derived columns: PageRank and peers percentiles,
    out/in balance, and the sum-to-1 scores multiplied by the number of hosts (`rel_*`)."""
    out = frame.copy()
    n = len(out)
    # ties share the lowest rank: the many hosts at the PageRank floor stay at the bottom
    out["pagerank_pct"] = out["pagerank"].rank(pct=True, method="min") if n else []
    out["peers_pct"] = out["peers"].rank(pct=True, method="min") if n else []
    deg = out["out_degree"].astype("float64") + out["in_degree"].astype("float64")
    out["balance"] = np.where(
        deg > 0, (out["out_degree"] - out["in_degree"]) / (deg + BALANCE_PRIOR), np.nan
    )
    for col in ("pagerank", "betweenness", "hub", "authority"):
        out[f"rel_{col}"] = out[col].astype("float64") * n
    return out


def _transform(values: np.ndarray, metric: str, offset: float | None = None) -> np.ndarray:
    kind, minimum, _ = SCORED[metric]
    v = np.asarray(values, dtype="float64")
    if kind == "lin":
        return v
    return np.log(np.maximum(v, 0.0) + (minimum if offset is None else offset))


def _source(metric: str) -> str:
    """The derived column a scored metric is computed from."""
    return f"rel_{metric}" if SCORED[metric][0] == "rel" else metric


def _absent_value(metric: str) -> float:
    return math.nan if metric == "balance" else 0.0


# --------------------------------------------------------------------------------------------
# the detector
# --------------------------------------------------------------------------------------------
class CentralityShiftDetector(Model):
    """Scores each host's metrics in one window against its own earlier windows.

    `fit(history)`: long table with columns `window`, `host` and the snapshot metrics (several
    earlier windows). `score(observations)`: one window's metrics indexed by host (the whole
    window, so that percentiles and the population's change are right; derived columns are
    added when missing). Output: `score`, `part_<metric>` (signed robust z, weighted by the
    evidence behind it), `previous_<metric>` (median of the history), `current_<metric>`,
    `explanation`, `evidence` (the host's evidence weight), and the flags `role_previous`,
    `role_current`, `new_hub`.
    """

    name = KIND

    def __init__(self, settings: ShiftSettings | None = None) -> None:
        self.settings = settings or ShiftSettings()

    # -- fit -------------------------------------------------------------------------------
    def fit(self, history: pd.DataFrame) -> Self:
        names = list(SCORED)
        wins = sorted(history["window"].astype(str).unique()) if len(history) else []
        self.windows_: list[str] = wins
        hosts = pd.Index(sorted(history["host"].astype(str).unique()) if wins else [], dtype=object)
        self.hosts_ = hosts
        n, nw = len(hosts), len(wins)
        presence = np.zeros((n, nw), dtype=bool)
        frames = []
        for i, w in enumerate(wins):
            f = derive(history[history["window"] == w].set_index("host").drop(columns="window"))
            presence[:, i] = hosts.isin(f.index)
            frames.append(f.reindex(hosts))
        self.presence_ = pd.Series(presence.mean(axis=1) if nw else np.zeros(n), index=hosts)

        def matrix(column: str, absent: float) -> np.ndarray:
            if not nw:
                return np.zeros((n, 0))
            m = np.column_stack([f[column].to_numpy(dtype="float64") for f in frames])
            m[~presence] = absent
            return m

        med = np.zeros((n, len(names)))
        scale = np.zeros((n, len(names)))
        prev = np.zeros((n, len(names)))
        last = np.zeros((n, len(names)))
        offsets = np.zeros(len(names))
        self.pairs_: list[tuple[np.ndarray, np.ndarray]] = []
        for j, metric in enumerate(names):
            absent = _absent_value(metric)
            raw = matrix(_source(metric), absent)
            kind, minimum, _ = SCORED[metric]
            offsets[j] = minimum
            if kind == "log" and presence.any():
                # the average host's value: log(x + c) is ~linear below it (small absolute
                # changes stay small) and relative above it, as log(x·hosts + 1) for `rel`
                offsets[j] = max(minimum, float(raw[presence].mean()))
            t = _transform(raw, metric, offsets[j])
            med[:, j] = _nan_median(t)
            scale[:, j] = np.nan_to_num(
                _nan_median(np.abs(t - med[:, j : j + 1])) * MAD_TO_SIGMA, nan=0.0
            )
            prev[:, j] = _nan_median(matrix(metric, absent))
            last[:, j] = t[:, -1] if nw else np.nan
            # (level before, change) of the hosts present in two consecutive earlier windows
            levels, changes = [], []
            for i in range(nw - 1):
                both = presence[:, i] & presence[:, i + 1]
                levels.append(t[both, i])
                changes.append(np.abs(t[both, i + 1] - t[both, i]))
            self.pairs_.append(
                (
                    np.concatenate(levels) if levels else np.zeros(0),
                    np.concatenate(changes) if changes else np.zeros(0),
                )
            )
        self.median_ = pd.DataFrame(med, index=hosts, columns=names)
        self.scale_ = pd.DataFrame(scale, index=hosts, columns=names)
        self.previous_ = pd.DataFrame(prev, index=hosts, columns=names)
        self.offset_ = pd.Series(offsets, index=names)
        self.last_ = last
        self.last_present_ = presence[:, -1] if nw else np.zeros(n, dtype=bool)
        # evidence: the connections each part of a host's picture rests on (history median)
        # and the average host's, the level at which a change is measured in full
        flows = _flows(matrix("conns_out", 0.0), matrix("conns_in", 0.0))
        self.previous_flow_ = pd.DataFrame(
            {k: np.median(v, axis=1) if nw else np.zeros(n) for k, v in flows.items()},
            index=hosts,
        )
        typical = float(matrix("conns_out", 0.0)[presence].mean()) if presence.any() else 0.0
        self.typical_flow_: dict[str, float] = {
            "out": typical,
            "in": typical,
            "both": typical,
            "all": 2.0 * typical,
        }
        pct = {c: matrix(c, 0.0) for c in ("pagerank_pct", "peers_pct")}
        self.best_pct_ = pd.DataFrame(
            {c: m.max(axis=1) if nw else np.zeros(n) for c, m in pct.items()}, index=hosts
        )
        self.previous_peers_pct_ = pd.Series(
            np.median(pct["peers_pct"], axis=1) if nw else np.zeros(n), index=hosts
        )
        return self

    # -- score -----------------------------------------------------------------------------
    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        obs = observations
        if "pagerank_pct" not in obs.columns or "rel_pagerank" not in obs.columns:
            obs = derive(obs)
        s = self.settings
        hosts = obs.index
        names = list(SCORED)
        known = self.hosts_.get_indexer(hosts)
        seen = known >= 0

        def aligned(table: pd.DataFrame, fill: np.ndarray) -> np.ndarray:
            out = np.tile(fill, (len(hosts), 1)).astype("float64")
            if len(table.columns):
                out[seen] = table.to_numpy(dtype="float64")[known[seen]]
            return out

        offsets = self.offset_.reindex(names).to_numpy(dtype="float64")
        absent = np.array([_absent_value(m) for m in names])
        absent_t = np.array(
            [_transform(np.array([absent[j]]), m, offsets[j])[0] for j, m in enumerate(names)]
        )
        med = aligned(self.median_, absent_t)
        own = np.nan_to_num(aligned(self.scale_, np.zeros(len(names))), nan=0.0)
        prev = aligned(self.previous_, absent)
        floors = np.array([SCORED[m][2] for m in names])
        cur_raw = np.column_stack([obs[m].to_numpy(dtype="float64") for m in names])
        cur_t = np.column_stack(
            [
                _transform(obs[_source(m)].to_numpy(dtype="float64"), m, offsets[j])
                for j, m in enumerate(names)
            ]
        )
        # the population's change: the earlier windows' consecutive pairs plus the change into
        # this window of the hosts present in it and in the last earlier window
        moved = seen & (obs["peers"].to_numpy(dtype="float64") > 0)
        moved[seen] &= self.last_present_[known[seen]]
        pop = np.zeros_like(med)
        for j in range(len(names)):
            levels, changes = self.pairs_[j]
            before = self.last_[known[moved], j]
            levels = np.concatenate([levels, before])
            changes = np.concatenate([changes, np.abs(cur_t[moved, j] - before)])
            k = max(MIN_LEVEL_PAIRS, round(s.level_share * len(levels)))
            pop[:, j] = _level_scale(levels, changes, med[:, j], k)
        pop *= MAD_TO_SIGMA / math.sqrt(2.0)
        scale = np.maximum(np.maximum(own, pop), floors)
        z = (cur_t - med) / scale
        z = np.where(np.isfinite(z), z, 0.0)  # balance of an absent host, or without history
        # evidence: a part resting on fewer connections than the average host's is shrunk by
        # sqrt(n / typical) (its sampling error grows as 1/sqrt(n)), and so is the whole host
        cur_flow = _flows(
            obs["conns_out"].to_numpy(dtype="float64"), obs["conns_in"].to_numpy(dtype="float64")
        )
        weight: dict[str, np.ndarray] = {}
        for side, typical in self.typical_flow_.items():
            before_flow = np.zeros(len(hosts))
            before_flow[seen] = self.previous_flow_[side].to_numpy()[known[seen]]
            flow = np.maximum(cur_flow[side], before_flow)
            weight[side] = np.sqrt(np.minimum(1.0, flow / max(typical, 1.0)))
        for j, m in enumerate(names):
            z[:, j] *= weight[EVIDENCE[m]] * weight["all"]
        weights = np.array([s.weights.get(m, 1.0) for m in names])
        weighted = np.abs(z) * weights
        groups = np.column_stack(
            [weighted[:, [names.index(m) for m in ms]].max(axis=1) for ms in GROUPS.values()]
        )
        soft = s.z_cap * np.tanh(groups / s.z_cap)
        k = min(s.top_groups, soft.shape[1])
        top = -np.sort(-soft, axis=1)[:, :k]
        out = pd.DataFrame(index=hosts)
        out["score"] = top.mean(axis=1) if len(hosts) else np.zeros(0)
        prev[:, names.index("balance")] = np.where(seen, prev[:, names.index("balance")], np.nan)
        cols: dict[str, np.ndarray] = {}
        for j, m in enumerate(names):
            cols[f"part_{m}"] = z[:, j]
            cols[f"previous_{m}"] = prev[:, j]
            cols[f"current_{m}"] = cur_raw[:, j]
        out = pd.concat([out, pd.DataFrame(cols, index=hosts)], axis=1)
        out["evidence"] = weight["all"]
        best = self.best_pct_.reindex(hosts).fillna(0.0)
        top_share = 1.0 - s.hub_top
        is_hub = (obs["pagerank_pct"] >= top_share) | (obs["peers_pct"] >= top_share)
        was_hub = (best["pagerank_pct"] >= s.hub_was_below) | (best["peers_pct"] >= s.hub_was_below)
        out["new_hub"] = (is_hub & ~was_hub).astype(bool)
        out["previous_peers_pct"] = self.previous_peers_pct_.reindex(hosts).fillna(0.0)
        out["role_previous"] = _roles(out["previous_balance"].to_numpy(), s.role_balance)
        out["role_current"] = _roles(obs["balance"].to_numpy(dtype="float64"), s.role_balance)
        out["history_windows"] = len(self.windows_)
        out["explanation"] = self._explain_all(
            z, weighted, prev, cur_raw, out, obs["pagerank_pct"].to_numpy(dtype="float64")
        )
        return out

    # -- words -----------------------------------------------------------------------------
    def _explain_all(
        self,
        z: np.ndarray,
        weighted: np.ndarray,
        prev: np.ndarray,
        cur: np.ndarray,
        out: pd.DataFrame,
        pct: np.ndarray,
    ) -> list[str]:
        s = self.settings
        names = list(SCORED)
        if not self.windows_:
            return ["no earlier snapshots"] * len(out)
        span = _span(self.windows_)
        order = np.argsort(-weighted, axis=1, kind="stable")[:, :3] if len(out) else z[:, :0]
        new_hub = out["new_hub"].to_numpy(dtype=bool)
        peers_was = out["previous_peers_pct"].to_numpy(dtype="float64")
        pr_was = out["previous_pagerank_pct"].to_numpy(dtype="float64")
        role_a = out["role_previous"].to_numpy()
        role_b = out["role_current"].to_numpy()
        texts = []
        for i in range(len(out)):
            phrases: list[str] = []
            for rank, j in enumerate(order[i]):
                zi = z[i, j]
                if abs(zi) < s.explain_z:
                    continue
                m = names[j]
                change = f"{LABELS[m]} {_fmt(m, prev[i, j])} → {_fmt(m, cur[i, j])}"
                if not phrases:
                    where = "above" if zi > 0 else "below"
                    phrases.append(f"{change}, {abs(zi):.0f}σ {where} its {span} history")
                elif rank < 3:
                    phrases.append(f"{change} ({zi:+.0f}σ)")
            if not phrases:
                j = int(np.argmax(np.abs(z[i]))) if z.shape[1] else 0
                m = names[j]
                phrases.append(
                    f"no metric moved {s.explain_z:g}σ or more from its {span} history "
                    f"(largest: {LABELS[m]} {_fmt(m, prev[i, j])} → {_fmt(m, cur[i, j])}, "
                    f"{z[i, j]:+.1f}σ)"
                )
            if new_hub[i]:
                by, was = (
                    ("PageRank", pr_was[i])
                    if pct[i] >= 1.0 - s.hub_top
                    else ("distinct peers", peers_was[i])
                )
                share = max(1, math.ceil(s.hub_top * 100))
                phrases.append(
                    f"now in the top {share}% by {by} (typically the {_ordinal(was)} percentile)"
                )
            if role_a[i] != role_b[i] and "absent" not in (role_a[i], role_b[i]):
                phrases.append(f"role {role_a[i]} → {role_b[i]}")
            text = "; ".join(phrases)
            texts.append(text[0].upper() + text[1:])
        return texts


def _level_scale(level: np.ndarray, change: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    """Median of `change` over the `k` pairs whose `level` is nearest to each value of `at`
    (all the pairs of a tie block when it holds more than `k`); 0 without pairs."""
    ok = np.isfinite(level) & np.isfinite(change)
    lv, ch = level[ok], change[ok]
    out = np.zeros(len(at))
    if not len(lv):
        return out
    order = np.argsort(lv, kind="stable")
    lv, ch = lv[order], ch[order]
    n = len(lv)
    kk = max(1, min(k, n))
    roll = pd.Series(ch).rolling(kk).median().to_numpy()
    a = np.where(np.isfinite(at), at, lv[0])
    lo = np.searchsorted(lv, a, side="left")
    hi = np.searchsorted(lv, a, side="right")
    start = np.clip((lo + hi) // 2 - kk // 2, 0, n - kk)
    out = roll[start + kk - 1]
    big = (hi - lo) > kk
    if big.any():
        # a tie block (same level) larger than k: all of it; a block is named by its start
        starts, where = np.unique(lo[big], return_inverse=True)
        ends = np.searchsorted(lv, lv[starts], side="right")
        blocks = np.array([np.median(ch[s:e]) for s, e in zip(starts, ends, strict=True)])
        out[big] = blocks[where]
    return out


def _flows(out: np.ndarray, inn: np.ndarray) -> dict[str, np.ndarray]:
    """Connections by side (see EVIDENCE) from connections initiated and received."""
    return {"out": out, "in": inn, "both": np.minimum(out, inn), "all": out + inn}


def _nan_median(m: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN; NaN for rows without a value (and no warning)."""
    if m.shape[1] == 0:
        return np.full(m.shape[0], np.nan)
    empty = np.isnan(m).all(axis=1)
    filled = np.where(empty[:, None], 0.0, m)
    out = np.nanmedian(filled, axis=1)
    out[empty] = np.nan
    return out


def _roles(balance: np.ndarray, threshold: float) -> np.ndarray:
    return np.where(
        ~np.isfinite(balance),
        "absent",
        np.where(
            balance >= threshold, "client", np.where(balance <= -threshold, "server", "mixed")
        ),
    ).astype(object)


def _span(wins: Sequence[str]) -> str:
    if not wins:
        return "empty"
    try:
        unit = {"week": "week", "day": "day", "hour": "hour"}[windows.kind_of(wins[0])]
    except ValueError:
        unit = "window"
    return f"{len(wins)}-{unit}"


def _ordinal(pct: float) -> str:
    v = round(float(pct) * 100) if np.isfinite(pct) else 0
    suffix = "th" if 10 <= v % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(v % 10, "th")
    return f"{v}{suffix}"


def _fmt(metric: str, value: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if metric in COUNT_METRICS:
        return f"{round(value):,}"
    if metric.startswith("bytes"):
        v = float(value)
        for unit in ("B", "kB", "MB", "GB", "TB"):
            if abs(v) < 1000 or unit == "TB":
                return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
            v /= 1000
    if metric == "pagerank_pct":
        return f"{_ordinal(value)} pct"
    if metric == "balance":
        return f"{value:+.2f}"
    return f"{value:.3g}"


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


def _pair_changes(current: pd.DataFrame | None, previous: pd.DataFrame | None) -> tuple[int, int]:
    if current is None or previous is None:
        return 0, 0
    cur = pd.MultiIndex.from_frame(current[["src", "dst"]].astype(str))
    old = pd.MultiIndex.from_frame(previous[["src", "dst"]].astype(str))
    return int((~cur.isin(old)).sum()), int((~old.isin(cur)).sum())


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
    current_pairs: pd.DataFrame | None = None,
    previous_pairs: pd.DataFrame | None = None,
) -> tuple[ShiftReport, pd.DataFrame]:
    """Score `window` against the `history` windows (oldest first) from a long metric table
    (`window`, `host`, snapshot metrics). Returns the report (top `top` rows) and the full
    score table (all hosts, sorted by score). Pure: no store."""
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
    hist = measures[measures["window"].isin(history)]
    det = CentralityShiftDetector(s).fit(hist)
    obs = derive(cur)
    regular = det.presence_[det.presence_ >= s.absent_presence].index
    gone = regular.difference(obs.index)
    if len(gone):
        absent = pd.DataFrame(0.0, index=gone, columns=obs.columns)
        absent["balance"] = np.nan
        obs = pd.concat([obs, absent])
    known = det.presence_[det.presence_ >= s.min_presence].index
    obs = obs[obs.index.isin(known)]
    scores = det.score(obs)
    scores = scores.sort_values(["score"], ascending=False, kind="stable")
    scores["rank"] = np.arange(1, len(scores) + 1)
    rows = []
    for host, r in scores.head(top).iterrows():
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
                "previous": _json_number(prev.at[host, "community"]),
                "current": _json_number(cur.at[host, "community"]),
                "z": None,
            }
            if r["score"] >= s.finding_score and graph.community_moves <= max(
                1.0, s.community_stable_share * len(cur)
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
        message=f"{len(scores)} hosts scored against {len(history)} earlier snapshots",
        history=list(history),
        graph=graph,
        rows=rows,
        scored_hosts=len(scores),
    )
    return report, scores


# --------------------------------------------------------------------------------------------
# store
# --------------------------------------------------------------------------------------------
def _pairs(store: GraphStore, window: str) -> pd.DataFrame:
    frame = store.frame("shift_window_pairs", window=window)
    return frame if not frame.empty else pd.DataFrame(columns=["src", "dst"])


@dataclass(frozen=True)
class ShiftOptions:
    """How many rows the report lists and how many earlier snapshots it compares with."""

    top: int = 20
    history: int = 4


def shift_report(
    store: GraphStore,
    window: str | None = None,
    top: int = 20,
    history: int = 4,
    settings: ShiftSettings | None = None,
) -> tuple[ShiftReport, pd.DataFrame]:
    """Score the hosts of `window` (default: the latest window with a snapshot) against their
    `history` earlier snapshots: the report (top `top` rows) and the full score table.

    A window with fewer than `settings.min_history` earlier snapshots gives a report with
    status "not enough history" and no rows. Raises NotEnoughHistory only when there is no
    snapshot to score at all (none yet, or none for `window`)."""
    s = settings or ShiftSettings()
    done = snapshots.snapshots(store)
    wins = [str(w) for w in done["window"]]
    if not wins:
        raise NotEnoughHistory(
            "no snapshots yet", hint="compute them with `graphnet snapshot --all`"
        )
    if window is None:
        window = wins[-1]
    elif window not in wins:
        raise NotEnoughHistory(
            f"window {window} has no snapshot",
            hint=f"compute it with `graphnet snapshot --window {window}`",
        )
    earlier = [w for w in wins if w < window][-history:] if history > 0 else []
    measures = snapshots.measures(store, [*earlier, window])
    cur_pairs = _pairs(store, window)
    prev_pairs = _pairs(store, earlier[-1]) if earlier else None
    return score_window(measures, window, earlier, top, s, cur_pairs, prev_pairs)


def run(ctx: Context) -> DetectorRun:
    """The window's hosts scored against their earlier snapshots; the rows scoring at least
    `finding_score` (among the top `top`) as `centrality_shift` findings."""
    s = ctx.option(ShiftSettings) or ShiftSettings()
    opts = ctx.option(ShiftOptions) or ShiftOptions()
    report, table = shift_report(ctx.graph(), ctx.window, opts.top, opts.history, s)
    keep = [
        Finding(
            kind=KIND,
            window=report.window,
            score=r.score,
            hosts=[r.host],
            explanation=r.explanation,
            parts=r.parts,
            cypher=r.cypher,
            evidence={"rank": r.rank, "history": report.history},
        )
        for r in report.rows
        if r.score >= s.finding_score
    ]
    report.findings_saved = len(keep) if ctx.save else 0
    log.info(
        "shifts %s: %s (%d rows, %d findings)",
        report.window,
        report.status,
        len(report.rows),
        len(keep),
    )
    if report.status != "ok" or table.empty:
        return DetectorRun(
            "shifts", report.window, report.message, detail=report, skipped=report.message
        )
    hs = table["score"].astype("float64")
    hs.index = hs.index.map(str)
    ev = table["explanation"].astype(str) if "explanation" in table else pd.Series(dtype=str)
    return DetectorRun(
        step="shifts",
        window=report.window,
        summary=f"{report.message}; {len(keep)} findings",
        host_scores=hs.sort_values(ascending=False),
        findings=keep,
        alerts=float(min(opts.top, int((hs >= s.finding_score).sum()))),
        evidence={str(h): str(e) for h, e in ev.head(50).items()},
        info={"history": report.history},
        detail=report,
    )
