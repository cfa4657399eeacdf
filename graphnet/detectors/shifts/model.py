"""Centrality shifts, the pure model: the metric tables, the settings and
`CentralityShiftDetector` (`fit(history)` / `score(observations)`), with the sentence each
scored host gets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.detectors.contract import Model

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
#: hosts scored at a time (`CentralityShiftDetector.score`): bounds its working arrays
SCORE_ROWS = 200_000
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


#: the percentile columns whose history gives a host's best and typical rank
PCT_COLUMNS = ("pagerank_pct", "peers_pct")


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
    def fit(self, history: pd.DataFrame, windows: Sequence[str] | None = None) -> Self:
        """`windows`: learn from the rows of these windows only (the other rows of `history`,
        e.g. the window to score, are neither read nor copied); None: every row."""
        names = list(SCORED)
        # the rows learnt from, by position: a table holding the scored window too is not
        # copied without it
        sel = (
            np.arange(len(history))
            if windows is None
            else np.flatnonzero(history["window"].astype(str).isin([str(w) for w in windows]))
        )
        # hosts and windows as codes (sorted names): each window's metrics are scattered into
        # host × window matrices, with no copy of the table indexed by host
        win_code, win_names = pd.factorize(history["window"].iloc[sel].astype(str), sort=True)
        host_code, host_names = pd.factorize(history["host"].iloc[sel].astype(str), sort=True)
        wins = [str(w) for w in win_names]
        self.windows_: list[str] = wins
        hosts = pd.Index(host_names, dtype=object)
        self.hosts_ = hosts
        n, nw = len(hosts), len(wins)
        presence = np.zeros((n, nw), dtype=bool)
        presence[host_code, win_code] = True
        self.presence_ = pd.Series(presence.mean(axis=1) if nw else np.zeros(n), index=hosts)
        columns = {_source(m) for m in names} | {*names, "conns_out", "conns_in", "peers_pct"}
        values = {c: np.zeros((n, nw)) for c in sorted(columns)}
        metrics = [i for i, c in enumerate(history.columns) if c not in ("window", "host")]
        for i in range(nw):
            rows = np.flatnonzero(win_code == i)
            f = derive(history.iloc[sel[rows], metrics])
            for c, m in values.items():
                m[host_code[rows], i] = f[c].to_numpy(dtype="float64")
            del f

        def matrix(column: str, absent: float) -> np.ndarray:
            m = values[column].copy()
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
        # the tables take the arrays as they are (no copy of three hosts × metrics arrays), and
        # the matrices of the metrics already fitted go
        self.median_ = pd.DataFrame(med, index=hosts, columns=names, copy=False)
        self.scale_ = pd.DataFrame(scale, index=hosts, columns=names, copy=False)
        self.previous_ = pd.DataFrame(prev, index=hosts, columns=names, copy=False)
        del med, scale, prev
        for c in [c for c in values if c not in ("conns_out", "conns_in", *PCT_COLUMNS)]:
            del values[c]
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
        pct = {c: matrix(c, 0.0) for c in PCT_COLUMNS}
        self.best_pct_ = pd.DataFrame(
            {c: m.max(axis=1) if nw else np.zeros(n) for c, m in pct.items()}, index=hosts
        )
        self.previous_peers_pct_ = pd.Series(
            np.median(pct["peers_pct"], axis=1) if nw else np.zeros(n), index=hosts
        )
        return self

    # -- score -----------------------------------------------------------------------------
    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        return self._table(*self._prepare(observations))

    def _table(
        self, obs: pd.DataFrame, known: np.ndarray, scales: Sequence[_LevelScale]
    ) -> pd.DataFrame:
        """`score`'s table of prepared rows, SCORE_ROWS at a time."""
        parts = [
            self._score_rows(obs.iloc[a : a + SCORE_ROWS], known[a : a + SCORE_ROWS], scales)
            for a in range(0, max(len(obs), 1), SCORE_ROWS)
        ]
        out = parts[0] if len(parts) == 1 else pd.concat(parts)
        del parts
        return out

    def ranked(
        self, observations: pd.DataFrame, detail: int | None = None
    ) -> tuple[pd.DataFrame, pd.Series]:
        """Every host's score, highest first (ties in the observations' order), and `score`'s
        table of the first `detail` of them (None: all of them) in that order. The parts,
        sentences and flags are what take the memory and time of a window of a million hosts;
        the other hosts need their score alone."""
        obs, known, scales = self._prepare(observations)
        if detail is None:  # every row's table, scored once and sorted
            full = self._table(obs, known, scales)
            full = full.sort_values("score", ascending=False, kind="stable")
            return full, full["score"]
        chunks = [
            self._scores(obs.iloc[a : a + SCORE_ROWS], known[a : a + SCORE_ROWS], scales)
            for a in range(0, max(len(obs), 1), SCORE_ROWS)
        ]
        score = pd.Series(np.concatenate(chunks) if chunks else np.zeros(0))
        del chunks
        order = score.sort_values(ascending=False, kind="stable").index.to_numpy()
        ranked = pd.Series(score.to_numpy()[order], index=obs.index[order], name="score")
        head = order[: max(detail, 0)]
        table = [
            self._score_rows(obs.iloc[rows], known[rows], scales)
            for rows in (head[a : a + SCORE_ROWS] for a in range(0, max(len(head), 1), SCORE_ROWS))
        ]
        return (table[0] if len(table) == 1 else pd.concat(table)), ranked

    def _prepare(
        self, observations: pd.DataFrame
    ) -> tuple[pd.DataFrame, np.ndarray, list[_LevelScale]]:
        """The observations with their derived columns, their rows in the fitted tables (-1:
        not seen) and the population's change per metric: the earlier windows' consecutive
        pairs plus the change into this window of the hosts present in it and in the last
        earlier window (all of them: it is the population), prepared once for every row."""
        obs = observations
        if "pagerank_pct" not in obs.columns or "rel_pagerank" not in obs.columns:
            obs = derive(obs)
        s = self.settings
        known = self.hosts_.get_indexer(obs.index)
        offsets = self.offset_.reindex(list(SCORED)).to_numpy(dtype="float64")
        moved = (known >= 0) & (obs["peers"].to_numpy(dtype="float64") > 0)
        moved[moved] &= self.last_present_[known[moved]]
        scales = []
        for j, m in enumerate(SCORED):
            levels, changes = self.pairs_[j]
            before = self.last_[known[moved], j]
            now = _transform(obs[_source(m)].to_numpy(dtype="float64")[moved], m, offsets[j])
            levels = np.concatenate([levels, before])
            changes = np.concatenate([changes, np.abs(now - before)])
            k = max(MIN_LEVEL_PAIRS, round(s.level_share * len(levels)))
            scales.append(_LevelScale(levels, changes, k))
        return obs, known, scales

    def _aligned(self, table: pd.DataFrame, known: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """Rows `known` of a fitted per-host table (`fill` for hosts not seen)."""
        seen = known >= 0
        out = np.tile(fill, (len(known), 1)).astype("float64")
        if len(table.columns):
            out[seen] = table.to_numpy(dtype="float64")[known[seen]]
        return out

    def _parts(
        self, obs: pd.DataFrame, known: np.ndarray, scales: Sequence[_LevelScale]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Some rows of the window (derived columns present), `known` their rows in the fitted
        tables, `scales` the population's change per metric: each metric's z weighted by its
        evidence, its weighted |z|, the score and the host's evidence weight."""
        s = self.settings
        names = list(SCORED)
        seen = known >= 0
        offsets = self.offset_.reindex(names).to_numpy(dtype="float64")
        absent = np.array([_absent_value(m) for m in names])
        absent_t = np.array(
            [_transform(np.array([absent[j]]), m, offsets[j])[0] for j, m in enumerate(names)]
        )
        med = self._aligned(self.median_, known, absent_t)
        own = np.nan_to_num(self._aligned(self.scale_, known, np.zeros(len(names))), nan=0.0)
        floors = np.array([SCORED[m][2] for m in names])
        cur_t = np.column_stack(
            [
                _transform(obs[_source(m)].to_numpy(dtype="float64"), m, offsets[j])
                for j, m in enumerate(names)
            ]
        )
        pop = np.column_stack([scales[j](med[:, j]) for j in range(len(names))])
        pop *= MAD_TO_SIGMA / math.sqrt(2.0)
        scale = np.maximum(np.maximum(own, pop), floors)
        del own, pop
        z = (cur_t - med) / scale
        z = np.where(np.isfinite(z), z, 0.0)  # balance of an absent host, or without history
        del cur_t, med, scale
        # evidence: a part resting on fewer connections than the average host's is shrunk by
        # sqrt(n / typical) (its sampling error grows as 1/sqrt(n)), and so is the whole host
        cur_flow = _flows(
            obs["conns_out"].to_numpy(dtype="float64"), obs["conns_in"].to_numpy(dtype="float64")
        )
        weight: dict[str, np.ndarray] = {}
        for side, typical in self.typical_flow_.items():
            before_flow = np.zeros(len(obs))
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
        score = top.mean(axis=1) if len(obs) else np.zeros(0)
        return z, weighted, score, weight["all"]

    def _scores(
        self, obs: pd.DataFrame, known: np.ndarray, scales: Sequence[_LevelScale]
    ) -> np.ndarray:
        """The `score` column alone of some rows (see `_parts`)."""
        return self._parts(obs, known, scales)[2]

    def _score_rows(
        self, obs: pd.DataFrame, known: np.ndarray, scales: Sequence[_LevelScale]
    ) -> pd.DataFrame:
        """`score`'s table of some rows of the window (see `_parts`)."""
        s = self.settings
        hosts = obs.index
        names = list(SCORED)
        seen = known >= 0
        z, weighted, score, evidence = self._parts(obs, known, scales)
        absent = np.array([_absent_value(m) for m in names])
        prev = self._aligned(self.previous_, known, absent)
        cur_raw = np.column_stack([obs[m].to_numpy(dtype="float64") for m in names])
        out = pd.DataFrame(index=hosts)
        out["score"] = score
        prev[:, names.index("balance")] = np.where(seen, prev[:, names.index("balance")], np.nan)
        cols: dict[str, np.ndarray] = {}
        for j, m in enumerate(names):
            cols[f"part_{m}"] = z[:, j]
            cols[f"previous_{m}"] = prev[:, j]
            cols[f"current_{m}"] = cur_raw[:, j]
        out = pd.concat([out, pd.DataFrame(cols, index=hosts)], axis=1)
        out["evidence"] = evidence
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


class _LevelScale:
    """Median of `change` over the `k` pairs whose `level` is nearest to each value asked for
    (all the pairs of a tie block when it holds more than `k`); 0 without pairs. The pairs are
    sorted and their rolling medians taken once, then asked for any number of values."""

    def __init__(self, level: np.ndarray, change: np.ndarray, k: int) -> None:
        ok = np.isfinite(level) & np.isfinite(change)
        lv, ch = level[ok], change[ok]
        order = np.argsort(lv, kind="stable")
        self.lv, self.ch = lv[order], ch[order]
        n = len(self.lv)
        self.k = max(1, min(k, n))
        self.roll = pd.Series(self.ch).rolling(self.k).median().to_numpy() if n else np.zeros(0)

    def __call__(self, at: np.ndarray) -> np.ndarray:
        lv, ch, kk, n = self.lv, self.ch, self.k, len(self.lv)
        if not n:
            return np.zeros(len(at))
        a = np.where(np.isfinite(at), at, lv[0])
        lo = np.searchsorted(lv, a, side="left")
        hi = np.searchsorted(lv, a, side="right")
        start = np.clip((lo + hi) // 2 - kk // 2, 0, n - kk)
        out = self.roll[start + kk - 1]
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
