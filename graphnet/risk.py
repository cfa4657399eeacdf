"""Combined host risk: which hosts of a window deserve a look first, according to every detector.

Each detector scores hosts on its own scale (LDA: -log10 P of its connections, volume: -log10
of tail probabilities of its buckets, novelty: bits, shifts: robust z, behaviour: bits ...).
Scales are not comparable, ranks are. For every detector d and every host h of the window (N
hosts):

    p_d(h) = average rank of h by d's score (1 = highest) / (N + 1)   when d scored h
    p_d(h) = 1                                                         when it did not

A detector that did not score a host (paths, shifts and behaviour score only the hosts they
have something to say about) gives **no evidence** about it, not evidence that it is normal.
The hosts ranked are the window's and every host a detector scored: `shifts` also scores a
host that went quiet (present in most of its history, absent from the window), which is part
of what changed, so N counts it too.

The evidence is **truncated**: only the detectors that put the host among their top `tau`
share (default 5 %; at least their first `min_top` = 10 hosts in a small window: tau' =
max(tau, 10 / (N + 1))) count. A host at the very top of one detector is not dragged down by
the others' silence or their ordinary ranks, and several detectors that agree add up.

- `method="brown"` (default): Brown's / Kost's moment matching over the detectors that count
  for the host, with the correlation of the detectors' contributions estimated over the
  window's hosts (a busy client is near the top of several detectors at once: correlated
  evidence is not counted as independent; see `brown_p`). risk = -2 ln p_S, and p is
  Sidak-corrected for the effective number of detectors.
- `method="tpm"`: Zaykin et al. 2002's truncated product, treating the detectors as
  independent: risk(h) = sum_{d: p_d(h) <= tau} w_d * (-2 ln p_d(h)), p(h) = P(W <= exp(-risk/2))
  for L independent uniform p-values, W the product of those <= tau (closed form; exact for
  unit weights; a host that only one of five detectors put at 1/(N+1) gets about 5/(N+1)).
- `method="fisher"`: the earlier fusion over every detector (silent detectors put the host at
  the bottom ranks; p = chi2.sf(risk, 2L)); `method="rank_sum"`: a weighted sum of normalised
  ranks (sum_d w_d * (1 - p_d)).

`p(h)` orders hosts and sets an alert level (`alpha`); it treats ranks as p-values and is not a
calibrated probability.

Host scores come either from the stored findings of the window (`risk_window`, default: the
analyst's view, findings marked benign are left out; a host's score per detector is its highest
finding score, ties broken by the sum of its finding scores), or from the registry's detectors
run afresh through the pipeline (`fresh`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from graphnet import findings as findings_mod
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.registry import detector_of_kind
from graphnet.pipeline import analyse_window, latest_window
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RiskSettings:
    method: Literal["tpm", "brown", "fisher", "rank_sum"] = "brown"
    weights: Mapping[str, float] | None = None  # detector -> weight (default 1)
    tau: float = 0.05  # tpm/brown: a detector counts for a host when its rank p-value is <= tau
    min_top: int = 10  # tpm/brown: ... or when it is among the detector's min_top first
    ties: Literal["average", "max"] = "average"  # tpm/brown: "max": tied hosts get the last rank
    alpha: float = 0.001  # combined p below this: a risky host (an alert)
    internal_only: bool = False  # rank internal hosts only (when the store knows them)
    top: int = 20  # rows explained in reports


def rank_pvalues(
    scores: pd.DataFrame | pd.Series,
    universe: pd.Index,
    unscored: float | None = None,
    ties: Literal["average", "max"] = "average",
) -> pd.Series:
    """Empirical p-value of every host of `universe` from one detector's scores: average rank
    (1 = highest; a second column, if any, breaks ties of the first) over (N + 1); with
    `ties="max"` the last rank of the tie group (the number of hosts scoring at least as high:
    a block of hosts tied on a modest score is not evidence for each of them). Hosts the
    detector did not score share the bottom ranks, or get `unscored` when given (1.0: no
    evidence)."""
    n = len(universe)
    if n == 0:
        return pd.Series(dtype="float64")
    frame = scores.to_frame("s0") if isinstance(scores, pd.Series) else scores.copy()
    frame.columns = [f"s{i}" for i in range(frame.shape[1])]
    frame = frame[~frame.index.duplicated(keep="first")]
    frame = frame.reindex(universe).astype("float64").fillna(-np.inf)
    cols = list(frame.columns)
    order = frame.sort_values(cols, ascending=False, kind="stable")
    pos = pd.Series(np.arange(1, n + 1, dtype="float64"), index=order.index)
    tie = order.groupby(cols, sort=False).ngroup().to_numpy()
    avg = pos.groupby(tie).transform("mean" if ties == "average" else "max")
    out = (avg / (n + 1)).reindex(universe)
    if unscored is not None:
        out[~universe.isin(scores.index)] = unscored
    return out


def truncated_product_p(w: np.ndarray, n: int, tau: float) -> np.ndarray:
    """P(W <= w) where W is the product of those of `n` independent uniform p-values that are
    at most `tau` (W = 1 when none is): the truncated product method (Zaykin, Zhivotovsky,
    Westfall & Weir 2002), closed form. `tau = 1` is Fisher's method."""
    w = np.asarray(w, dtype="float64")
    out = np.zeros(w.shape)
    if n <= 0:
        return np.ones(w.shape)
    lw = np.log(np.clip(w, 1e-300, 1.0))
    lt = math.log(tau)
    for k in range(1, n + 1):
        c = math.comb(n, k) * (1.0 - tau) ** (n - k)
        below = lw <= k * lt
        x = np.maximum(k * lt - lw, 0.0)
        series = np.zeros(w.shape)
        term = np.ones(w.shape)
        for s_ in range(k):
            if s_:
                term = term * x / s_
            series += term
        out += c * np.where(below, np.exp(lw) * series, tau**k)
    return np.where(w >= 1.0, 1.0, np.clip(out, 0.0, 1.0))


def contribution_correlation(contrib: np.ndarray) -> np.ndarray:
    """Pearson correlation over the window's hosts of the detectors' contributions (columns of
    `contrib`, hosts x detectors), negative correlations set to 0 (no credit for
    disagreement), detectors with constant contributions uncorrelated with the others."""
    n_det = contrib.shape[1] if contrib.ndim == 2 else 0
    r = np.eye(n_det)
    if n_det < 2 or contrib.shape[0] < 3:
        return r
    ok = contrib.std(axis=0) > 0
    if ok.sum() > 1:
        r[np.ix_(ok, ok)] = np.corrcoef(contrib[:, ok], rowvar=False)
    r = np.clip(np.nan_to_num(r, nan=0.0), 0.0, 1.0)
    np.fill_diagonal(r, 1.0)
    return r


def brown_p(
    contrib: np.ndarray, weights: np.ndarray, corr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Brown's (1975) / Kost & McDermott's (2002) moment-matching approximation, per host over
    the detectors that count for it (contributions > 0): X = sum_S w_d c_d with
    E = 2 sum_S w_d and Var = 4 sum_{i,j in S} w_i w_j r_ij is approximated by c * chi2(f),
    c = Var / (2E), f = 2 E^2 / Var (independent unit-weight detectors: c = 1, f = 2|S|, Fisher).
    Returns (-ln p_S, p_S) per host; hosts no detector counts for get (0, 1)."""
    sel = (contrib > 0).astype("float64") * weights
    x = (contrib * weights).sum(axis=1)
    mean = 2.0 * sel.sum(axis=1)
    var = 4.0 * np.einsum("hi,ij,hj->h", sel, corr, sel)
    some = (mean > 0) & (var > 0) & (x > 0)
    c = np.where(some, var / np.where(some, 2.0 * mean, 1.0), 1.0)
    f = np.where(some, 2.0 * mean**2 / np.where(some, var, 1.0), 2.0)
    nlp = np.where(some, -stats.chi2.logsf(x / c, f), 0.0)
    return nlp, np.exp(-nlp)


def effective_tests(corr: np.ndarray, weights: np.ndarray) -> float:
    """Brown's effective number of independent detectors of the whole set: f / 2 of
    `brown_p` with every detector counting, (sum w)^2 / sum_ij w_i w_j r_ij."""
    den = float(weights @ corr @ weights)
    return float(weights.sum()) ** 2 / den if den > 0 else 1.0


@dataclass
class Contribution:
    detector: str
    rank: float
    p: float
    score: float | None
    evidence: str = ""


def combine(
    host_scores: Mapping[str, pd.Series | pd.DataFrame],
    universe: Sequence[str] | pd.Index | None = None,
    settings: RiskSettings | None = None,
    evidence: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """Fuse per-detector host scores into one ranking.

    Returns a frame indexed by host, sorted by risk: `risk`, `p`, `rank` (1 = riskiest),
    per detector `rank_<d>`, `p_<d>`, `score_<d>`, `contribution_<d>`, and `explanation`
    (which detectors put the host where, with their evidence, for the first `top` hosts)."""
    st = settings or RiskSettings()
    names = [d for d, s in host_scores.items() if s is not None and len(s)]
    idx: set[str] = set(map(str, universe)) if universe is not None else set()
    for d in names:
        idx.update(map(str, host_scores[d].index))
    uni = pd.Index(sorted(idx), dtype=object)
    out = pd.DataFrame(index=uni)
    if not len(uni):
        return out.assign(
            risk=pd.Series(dtype="float64"),
            p=pd.Series(dtype="float64"),
            rank=pd.Series(dtype="float64"),
            explanation=pd.Series(dtype=object),
        )
    given = dict(st.weights or {})
    w = {d: float(given.get(d, 1.0)) for d in names}
    risk = np.zeros(len(uni))
    tpm = st.method in ("tpm", "brown")
    contribs: list[np.ndarray] = []
    tau = min(1.0, max(st.tau, st.min_top / (len(uni) + 1)))
    for d in names:
        sc = host_scores[d]
        sc.index = sc.index.map(str)
        p = rank_pvalues(sc, uni, unscored=1.0, ties=st.ties) if tpm else rank_pvalues(sc, uni)
        first = sc if isinstance(sc, pd.Series) else sc.iloc[:, 0]
        first = first[~first.index.duplicated(keep="first")]
        out[f"score_{d}"] = first.reindex(uni).to_numpy()
        out[f"p_{d}"] = p.to_numpy()
        out[f"rank_{d}"] = p.to_numpy() * (len(uni) + 1)
        pv = p.to_numpy()
        if tpm:
            c = np.where(pv <= tau, -2.0 * np.log(pv), 0.0)
        elif st.method == "fisher":
            c = -2.0 * np.log(pv)
        else:
            c = 1.0 - pv
        out[f"contribution_{d}"] = w[d] * c
        risk += w[d] * c
        contribs.append(c)
    out["risk"] = risk
    if st.method == "brown" and names:
        cm = np.column_stack(contribs)
        wv = np.array([w[d] for d in names])
        corr = contribution_correlation(cm)
        nlp, p_s = brown_p(cm, wv, corr)
        m_eff = max(1.0, effective_tests(corr, wv))
        out["risk"] = 2.0 * nlp  # Fisher's scale: -2 ln of the host's Brown p-value
        # Sidak over the effective number of detectors (a host's best of m_eff looks)
        p_c = -np.expm1(m_eff * np.log1p(-np.minimum(p_s, 1.0 - 1e-16)))
        out["p"] = np.where(p_s >= 1.0, 1.0, p_c)
    elif tpm and names:
        out["p"] = truncated_product_p(np.exp(-risk / 2.0), len(names), tau)
    elif st.method == "fisher" and names:
        out["p"] = stats.chi2.sf(risk, 2 * len(names))
    else:
        out["p"] = np.nan
    out = out.sort_values("risk", ascending=False, kind="stable")
    out["rank"] = out["risk"].rank(ascending=False, method="min").astype("float64")
    out["explanation"] = ""
    top = out.head(st.top)
    expl = []
    for host, row in zip(top.index, top.to_dict("records"), strict=True):  # top rows only
        parts = []
        for d in sorted(names, key=lambda d: -row[f"contribution_{d}"]):
            if row[f"score_{d}"] is None or not np.isfinite(row[f"score_{d}"]):
                continue
            text = f"#{row[f'rank_{d}']:.0f} by {d} (score {row[f'score_{d}']:.3g})"
            ev = (evidence or {}).get(d, {}).get(str(host))
            if ev:
                text += f": {ev}"
            parts.append(text)
        head = f"{host} is #{row['rank']:.0f} of {len(uni)} hosts"
        expl.append(head + (" — " + "; ".join(parts) if parts else " (no detector scored it)"))
    out.loc[top.index, "explanation"] = expl
    return out


def host_scores_from_findings(
    found: Sequence[findings_mod.Finding], include_benign: bool = False
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, str]]]:
    """Per detector, each host's (max, sum) of the scores of the findings about it, and the
    explanation of its best finding. Findings marked benign, and findings their step keeps out
    of the ranking (`evidence["ranked"] is False`: e.g. a beacon already ranked in an earlier
    window), do not count."""
    of_kind = detector_of_kind()
    rows = [
        (of_kind.get(f.kind, f.detector or f.kind), str(h), float(f.score), f.explanation)
        for f in found
        if (include_benign or f.status != "benign") and f.evidence.get("ranked") is not False
        for h in f.hosts
    ]
    if not rows:
        return {}, {}
    frame = pd.DataFrame(rows, columns=["detector", "host", "score", "explanation"])
    frame = frame.sort_values("score", ascending=False, kind="stable")
    scores: dict[str, pd.DataFrame] = {}
    evidence: dict[str, dict[str, str]] = {}
    for d, g in frame.groupby("detector", sort=False):
        agg = g.groupby("host").agg(max=("score", "max"), sum=("score", "sum"))
        scores[str(d)] = agg.sort_values(["max", "sum"], ascending=False)
        best = g.drop_duplicates("host")
        evidence[str(d)] = dict(
            zip(best["host"], best["explanation"].str.slice(0, 240), strict=True)
        )
    return scores, evidence


def window_hosts(store: GraphStore, window: str, internal_only: bool = False) -> list[str]:
    """Hosts with at least one edge in the window (`graphnet/cypher/risk_window_hosts.cypher`)."""
    rows = store.read("risk_window_hosts", window=window)
    return [str(r["host"]) for r in rows if not internal_only or r.get("internal")]


@dataclass
class RiskResult:
    window: str
    method: str
    detectors: list[str]
    hosts: int
    table: pd.DataFrame = field(repr=False)
    alerts: int = 0

    def to_json(self, top: int = 20) -> dict[str, Any]:
        head = self.table.head(top)
        rows = []
        for host, r in zip(head.index, head.to_dict("records"), strict=True):
            rows.append(
                {
                    "host": host,
                    "rank": int(r["rank"]),
                    "risk": round(float(r["risk"]), 4),
                    "p": None if pd.isna(r["p"]) else float(r["p"]),
                    "detectors": {
                        d: {
                            "rank": float(r[f"rank_{d}"]),
                            "score": None if pd.isna(r[f"score_{d}"]) else float(r[f"score_{d}"]),
                        }
                        for d in self.detectors
                    },
                    "explanation": r["explanation"],
                }
            )
        return {
            "window": self.window,
            "method": self.method,
            "detectors": self.detectors,
            "hosts": self.hosts,
            "alerts": self.alerts,
            "top": rows,
        }


def risk_window(
    store: GraphStore | None,
    window: str | None,
    settings: Settings,
    risk: RiskSettings | None = None,
    fresh: bool = False,
) -> RiskResult:
    """Rank the hosts of `window` (default: the latest window) by combined risk.

    By default from the window's stored findings of every kind (`graphnet analyse` first);
    with `fresh`, from every detector of the registry run now through the pipeline, without
    saving anything (shifts reads the stored snapshots, computing missing ones)."""
    st = risk or RiskSettings()
    window = window or latest_window(store, settings)
    universe = window_hosts(store, window, st.internal_only) if store is not None else []
    scores: dict[str, pd.Series | pd.DataFrame] = {}
    ev: dict[str, dict[str, str]] = {}
    if fresh:
        Archive(settings).require(window)
        done = analyse_window(store, settings, window, save=False)
        for name, run in done.runs.items():
            if run.host_scores is not None and not run.skipped:
                scores[name] = run.host_scores
                ev[name] = run.evidence
        if not universe:
            hosts = Archive(settings).query("window_hosts", {"conns": [window]})
            universe = [str(h) for h in hosts.column("host").to_pylist()]
    else:
        found = findings_mod.load(store, window=window) if store is not None else []
        fs, ev = host_scores_from_findings(found)
        scores = dict(fs)
    if st.internal_only and universe:
        keep = set(universe)
        scores = {d: s[s.index.isin(keep)] for d, s in scores.items()}
    table = combine(scores, universe, st, ev)
    alerts = int((table["p"] < st.alpha).sum()) if "p" in table and len(table) else 0
    return RiskResult(
        window=window,
        method=st.method,
        detectors=[d for d in scores if len(scores[d])],
        hosts=len(table),
        table=table,
        alerts=alerts,
    )
