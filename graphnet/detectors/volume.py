"""Per-host (and per-edge) time baselines: is this 5-minute bucket out of band?

Every host (either endpoint of a connection) and every busy edge (src -> dst with enough
history) gets a series of flows per bucket (default 5 minutes). Three baselines are learned on
earlier windows and each gives a band and a two-sided tail probability for every bucket:

1. mean ± 3σ per (hour of day, weekday/weekend) group (σ floored at max(√μ, 0.5): counts are
   at least Poisson-noisy);
2. a density per group, chosen among normal, exponential and Gaussian kernel density by
   AIC (parametric) / leave-one-out log-likelihood (kernel); out of band below a probability
   of 0.003 (two-sided);
3. a ridge regression (scikit-learn) of log(1 + flows) on the previous three buckets' flows,
   bytes and distinct peers (log scale), hour (sin/cos), weekend and the group mean; its 99 %
   prediction interval comes from quantiles of held-out residuals (split-conformal: fit on the
   first 75 % of the history, calibrate and report R² / RMSE on the last 25 %), scaled per
   entity by its own held-out residual spread.

A bucket is out of band when at least `vote` (default 2) of the three agree on the direction
and, for high buckets, it has at least `min_count` flows (for low ones, at least that many were
expected). Consecutive out-of-band buckets of one host or edge become one `volume_anomaly`
finding with the expected band. Groups with too little history fall back to the entity's
pooled distribution; entities without history are compared to silence.

All statistics come from sparse (entity, bucket) cells: zero buckets are counted, never
materialised, so 10^4 hosts over four weeks fit in seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import special
from sklearn.linear_model import Ridge

from graphnet import windows
from graphnet.config import Settings
from graphnet.detectors.base import Detector
from graphnet.detectors.lda import (
    archived_window,
    history_windows,
    read_archive,
    window_span_days,
)
from graphnet.findings import Finding
from graphnet.findings import save as save_findings

log = logging.getLogger(__name__)

NG = 48  # groups: hour of day x (weekday, weekend)
POOLED = NG  # group id of an entity's pooled distribution (fallback)
SHIFT = np.int64(1) << np.int64(31)
FAMILIES = ("normal", "exponential", "kde")
BASELINES = ("mean_sigma", "density", "regression")
P_FLOOR = 1e-16
KDE_FACTORS = (1.0, 0.5, 0.25)


@dataclass(frozen=True)
class VolumeSettings:
    bucket_seconds: int = 300
    history_days: float = 28.0
    sigma: float = 3.0  # baseline 1: mean ± sigma·σ
    p_threshold: float = 0.003  # baseline 2: two-sided tail probability
    interval: float = 0.99  # baseline 3: prediction interval
    vote: int = 2  # baselines that must agree
    min_count: int = 10  # a high bucket has at least this many flows
    min_group: int = 12  # buckets a group needs in history, else the entity's pooled one
    families: tuple[str, ...] = FAMILIES
    edges: bool = True
    edge_min_flows: int = 500  # history flows an edge needs to get its own series
    max_edges: int = 500
    holdout_fraction: float = 0.25
    max_train_rows: int = 300_000
    max_holdout_rows: int = 300_000
    ridge_alpha: float = 1.0
    merge_gap: int = 0  # quiet buckets allowed inside one finding
    finding_score: float | None = None  # None: Bonferroni over the window's buckets
    max_findings: int = 200
    seed: int = 0
    fallback_self: bool = True  # no history: baselines from the window itself


# --------------------------------------------------------------------------------------------
# cells: sparse (entity, bucket) counts
# --------------------------------------------------------------------------------------------
def _total(frame: pd.DataFrame, a: str, b: str) -> np.ndarray:
    x = pd.to_numeric(frame[a], errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(frame[b], errors="coerce").to_numpy(dtype="float64")
    return np.nan_to_num(x, nan=0.0) + np.nan_to_num(y, nan=0.0)


def group_of(bucket: np.ndarray, bucket_seconds: int) -> np.ndarray:
    """Absolute bucket index -> group id hour*2 + weekend (UTC)."""
    t = bucket.astype(np.int64) * int(bucket_seconds)
    hour = (t // 3600) % 24
    dow = ((t // 86400) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return (hour * 2 + (dow >= 5)).astype(np.int64)


def _entity_rows(conns: pd.DataFrame, edges: pd.Index | None, bucket_seconds: int) -> pd.DataFrame:
    """One row per (entity, connection): both endpoints as hosts, and the edge if tracked."""
    ts = conns["ts"].to_numpy(dtype="float64")
    bucket = np.floor(ts / bucket_seconds).astype(np.int64)
    src = conns["src"].astype(str).to_numpy(dtype=object)
    dst = conns["dst"].astype(str).to_numpy(dtype=object)
    byt = _total(conns, "src_bytes", "dst_bytes")
    dport = pd.to_numeric(conns["dport"], errors="coerce").fillna(-1).astype(np.int64).to_numpy()
    rows = np.arange(len(ts))
    other = src != dst  # a connection from a host to itself counts once for it
    parts = [
        pd.DataFrame({"entity": src, "bucket": bucket, "bytes": byt, "peer": dst, "row": rows}),
        pd.DataFrame(
            {
                "entity": dst[other],
                "bucket": bucket[other],
                "bytes": byt[other],
                "peer": src[other],
                "row": rows[other],
            }
        ),
    ]
    if edges is not None and len(edges):
        ekey = src + "->" + dst
        m = pd.Index(edges).get_indexer(pd.Index(ekey)) >= 0
        if m.any():
            parts.append(
                pd.DataFrame(
                    {
                        "entity": ekey[m],
                        "bucket": bucket[m],
                        "bytes": byt[m],
                        "peer": dport[m].astype(str).astype(object),
                        "row": rows[m],
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def cells(
    conns: pd.DataFrame,
    entities: pd.Index,
    edges: pd.Index | None,
    bucket_seconds: int,
    add_entities: bool = True,
) -> tuple[pd.DataFrame, pd.Index]:
    """Sparse cells (entity code, bucket, flows, bytes, peers) of connections.

    `entities` maps entity id -> code; new ids are appended when `add_entities`."""
    rows = _entity_rows(conns, edges, bucket_seconds)
    if rows.empty:
        return (
            pd.DataFrame(
                {
                    "entity": pd.Series(dtype=np.int64),
                    "bucket": pd.Series(dtype=np.int64),
                    "flows": pd.Series(dtype="float64"),
                    "bytes": pd.Series(dtype="float64"),
                    "peers": pd.Series(dtype="float64"),
                }
            ),
            entities,
        )
    ent = pd.Index(rows["entity"].to_numpy())
    code = entities.get_indexer(ent)
    if add_entities and (code < 0).any():
        new = pd.unique(ent[code < 0].to_numpy())
        entities = entities.append(pd.Index(new))
        code = entities.get_indexer(ent)
    keep = code >= 0
    code = code[keep].astype(np.int64)
    b = rows["bucket"].to_numpy()[keep]
    key = (code << np.int64(31)) | (b - b.min() if len(b) else b)
    base = int(b.min()) if len(b) else 0
    ukey, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1)
    flows = np.bincount(inv, minlength=len(ukey)).astype("float64")
    byt = np.bincount(inv, weights=rows["bytes"].to_numpy()[keep], minlength=len(ukey))
    pcodes = pd.factorize(rows["peer"].to_numpy()[keep])[0].astype(np.int64)
    pair = np.unique(inv.astype(np.int64) * (int(pcodes.max()) + 1) + pcodes)
    peers = np.bincount(pair // (int(pcodes.max()) + 1), minlength=len(ukey)).astype("float64")
    out = pd.DataFrame(
        {
            "entity": ukey >> np.int64(31),
            "bucket": (ukey & (SHIFT - 1)) + base,
            "flows": flows,
            "bytes": byt,
            "peers": peers,
        }
    )
    return out, entities


# --------------------------------------------------------------------------------------------
# densities
# --------------------------------------------------------------------------------------------
def _neglog10_two_sided(log_tail: np.ndarray) -> np.ndarray:
    """-log10(min(1, 2 * tail)) from the natural log of a one-sided tail, without underflow."""
    return np.clip(-(log_tail + np.log(2.0)) / np.log(10.0), 0.0, 300.0)


def _kde_support(
    hist_cells: pd.DataFrame, n_ent: int, n_g: np.ndarray, pooled_n: int
) -> pd.DataFrame:
    """(key, value, mult) of every (entity, group) and (entity, pooled), zeros included."""
    g = hist_cells["group"].to_numpy()
    e = hist_cells["entity"].to_numpy()
    v = hist_cells["flows"].to_numpy()
    k1 = e * (NG + 1) + g
    k2 = e * (NG + 1) + POOLED
    key = np.concatenate([k1, k2])
    val = np.concatenate([v, v])
    sup = pd.DataFrame({"key": key, "value": val}).value_counts().rename("mult").reset_index()
    nnz = sup.groupby("key")["mult"].sum()
    keys = nnz.index.to_numpy()
    grp = keys % (NG + 1)
    total = np.where(grp == POOLED, pooled_n, n_g[np.minimum(grp, NG - 1)])
    zeros = total - nnz.to_numpy()
    z = pd.DataFrame({"key": keys[zeros > 0], "value": 0.0, "mult": zeros[zeros > 0]})
    sup = pd.concat([sup, z], ignore_index=True).sort_values(["key", "value"], ignore_index=True)
    return sup


def _pairs(
    starts: np.ndarray, sizes: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For support rows `rows` (each in a block [start, start+size)), all (row, partner) pairs."""
    s = sizes[rows]
    i = np.repeat(rows, s)
    first = np.repeat(np.cumsum(s) - s, s)
    j = np.repeat(starts[rows], s) + (np.arange(int(s.sum())) - first)
    return i, j


def _kde_loo_loglik(
    sup: pd.DataFrame,
    h_of_key: pd.Series,
    factors: Sequence[float] = (1.0,),
    chunk: int = 4_000_000,
    h_min: float = 0.5,
) -> pd.DataFrame:
    """Leave-one-out log-likelihood of a Gaussian KDE per key (rows) from its weighted support,
    for bandwidths max(h * factor, h_min) (columns: the factors)."""
    keys = sup["key"].to_numpy()
    val = sup["value"].to_numpy()
    mult = sup["mult"].to_numpy().astype("float64")
    ukeys, starts, sizes = np.unique(keys, return_index=True, return_counts=True)
    block = np.repeat(np.arange(len(ukeys)), sizes)
    h0 = h_of_key.reindex(ukeys).to_numpy()
    hs = [np.maximum(h0 * f, h_min) for f in factors]
    n = np.bincount(block, weights=mult, minlength=len(ukeys))
    starts_row = starts[block]
    sizes_row = sizes[block]
    dens = np.zeros((len(factors), len(val)))
    # chunk by rows so that pairs stay bounded
    cum = np.cumsum(sizes_row)
    lo = 0
    while lo < len(val):
        hi = int(np.searchsorted(cum, cum[lo] - sizes_row[lo] + chunk, side="right"))
        hi = max(hi, lo + 1)
        rows = np.arange(lo, min(hi, len(val)))
        i, j = _pairs(starts_row, sizes_row, rows)
        d2 = (val[i] - val[j]) ** 2
        for fi, h in enumerate(hs):
            hb = h[block[i]]
            contrib = mult[j] * np.exp(-0.5 * d2 / (hb * hb))
            dens[fi, rows] = np.bincount(i - lo, weights=contrib, minlength=len(rows))
        lo = int(rows[-1]) + 1
    out = {}
    for fi, (f, h) in enumerate(zip(factors, hs, strict=True)):
        # remove the point itself, normalise
        d = (dens[fi] - 1.0) / (np.maximum(n[block] - 1.0, 1.0) * h[block] * np.sqrt(2 * np.pi))
        ll = mult * np.log(np.maximum(d, 1e-300))
        out[f] = np.bincount(block, weights=ll, minlength=len(ukeys))
    return pd.DataFrame(out, index=ukeys)


def _kde_cdf(
    sup: pd.DataFrame, keys: np.ndarray, x: np.ndarray, h_of_key: pd.Series, chunk: int = 4_000_000
) -> np.ndarray:
    """Mixture CDF of each key's KDE at x (vectorised over (query, support) pairs)."""
    out = np.zeros(len(keys))
    if not len(keys):
        return out
    skeys = sup["key"].to_numpy()
    ukeys, starts, sizes = np.unique(skeys, return_index=True, return_counts=True)
    pos = np.searchsorted(ukeys, keys)
    pos = np.minimum(pos, len(ukeys) - 1)
    ok = ukeys[pos] == keys
    val = sup["value"].to_numpy()
    mult = sup["mult"].to_numpy().astype("float64")
    tot = np.bincount(np.repeat(np.arange(len(ukeys)), sizes), weights=mult, minlength=len(ukeys))
    hq = h_of_key.reindex(keys).fillna(1.0).to_numpy()
    qidx = np.flatnonzero(ok)
    s = sizes[pos[qidx]]
    cum = np.cumsum(s)
    lo = 0
    while lo < len(qidx):
        hi = int(np.searchsorted(cum, (cum[lo] - s[lo]) + chunk, side="right"))
        hi = max(hi, lo + 1)
        q = qidx[lo:hi]
        ss = sizes[pos[q]]
        qi = np.repeat(np.arange(len(q)), ss)
        first = np.repeat(np.cumsum(ss) - ss, ss)
        j = np.repeat(starts[pos[q]], ss) + (np.arange(int(ss.sum())) - first)
        z = (x[q][qi] - val[j]) / hq[q][qi]
        c = np.bincount(qi, weights=mult[j] * special.ndtr(z), minlength=len(q))
        out[q] = c / tot[pos[q]]
        lo = hi
    return out


def _kde_logtails(
    sup: pd.DataFrame, keys: np.ndarray, x: np.ndarray, h_of_key: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Natural logs of the lower and upper tails of each key's KDE at x (log-sum-exp over the
    support, so far tails do not underflow)."""
    skeys = sup["key"].to_numpy()
    ukeys, starts, sizes = np.unique(skeys, return_index=True, return_counts=True)
    pos = np.minimum(np.searchsorted(ukeys, keys), len(ukeys) - 1)
    val = sup["value"].to_numpy()
    logm = np.log(sup["mult"].to_numpy().astype("float64"))
    tot = np.logaddexp.reduceat(logm, starts) if len(starts) else np.zeros(0)
    hq = h_of_key.reindex(keys).fillna(1.0).to_numpy()
    ss = sizes[pos]
    qi = np.repeat(np.arange(len(keys)), ss)
    first = np.repeat(np.cumsum(ss) - ss, ss)
    j = np.repeat(starts[pos], ss) + (np.arange(int(ss.sum())) - first)
    z = (x[qi] - val[j]) / hq[qi]
    offs = np.cumsum(ss) - ss
    lower = np.logaddexp.reduceat(logm[j] + special.log_ndtr(z), offs) - tot[pos]
    upper = np.logaddexp.reduceat(logm[j] + special.log_ndtr(-z), offs) - tot[pos]
    return np.minimum(lower, 0.0), np.minimum(upper, 0.0)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
@dataclass
class FitReport:
    entities: int = 0
    hosts: int = 0
    edges: int = 0
    history_buckets: int = 0
    families: dict[str, int] = field(default_factory=dict)
    r2: float | None = None
    rmse_log: float | None = None
    rmse: float | None = None
    holdout_rows: int = 0
    train_rows: int = 0
    residual_quantiles: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0


def _positions(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(keys):
        return np.zeros(len(query), dtype=np.int64), np.zeros(len(query), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return pos, keys[pos] == query


def _sparse_lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    if not len(keys):
        return np.zeros(len(query))
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, len(keys) - 1)
    hit = keys[pos] == query
    return np.where(hit, values[pos], 0.0)


class VolumeBaselines(Detector):
    """Three per-entity time baselines. `fit(history)` takes normalised connections (and
    optionally the history's [start, end) in epoch seconds); `score(obs)` returns, per
    connection, the strongest out-of-band evidence of the buckets it falls into (its two hosts
    and its edge): `score` = -log10 p (p: the `vote`-th smallest of the three baselines'
    two-sided tail probabilities), `part_mean_sigma`, `part_density`, `part_regression`
    (each -log10 p) and an explanation. `cells(obs)` gives the per-(entity, bucket) table."""

    name = "volume"

    def __init__(self, settings: VolumeSettings | None = None) -> None:
        self.settings = settings or VolumeSettings()
        self.fitted = False
        self.report = FitReport()

    # -- fit -----------------------------------------------------------------------------
    def fit(
        self, history: pd.DataFrame, start: float | None = None, end: float | None = None
    ) -> Self:
        st = self.settings
        t0 = time.perf_counter()
        bs = st.bucket_seconds
        ts = history["ts"].to_numpy(dtype="float64")
        if not len(ts):
            raise ValueError("no connections to learn from")
        if start is None:
            start = float(np.floor(np.nanmin(ts) / 86400.0) * 86400.0)
        if end is None:
            end = float(np.floor(np.nanmax(ts) / 86400.0) * 86400.0 + 86400.0)
        self.b0 = int(np.floor(start / bs))
        self.b1 = int(np.ceil(end / bs))
        # edges with enough history
        self.edges: pd.Index | None = None
        if st.edges:
            pair = history["src"].astype(str) + "->" + history["dst"].astype(str)
            vc = pair.value_counts()
            vc = vc[vc >= st.edge_min_flows].head(st.max_edges)
            self.edges = pd.Index(vc.index.to_numpy())
        self.entities: pd.Index = pd.Index(np.array([], dtype=object))
        hc, self.entities = cells(history, self.entities, self.edges, bs)
        hc = hc[(hc["bucket"] >= self.b0) & (hc["bucket"] < self.b1)].reset_index(drop=True)
        self.n_hist_entities = len(self.entities)
        self.hist_cells = hc
        self._fit_groups(hc)
        self._fit_regression(hc)
        rep = self.report
        rep.entities = len(self.entities)
        rep.edges = 0 if self.edges is None else len(self.edges)
        rep.hosts = rep.entities - rep.edges
        rep.history_buckets = self.b1 - self.b0
        rep.seconds = time.perf_counter() - t0
        self.fitted = True
        log.info(
            "volume baselines: %d entities over %d buckets in %.1fs (R² %.3f)",
            rep.entities,
            rep.history_buckets,
            rep.seconds,
            rep.r2 if rep.r2 is not None else float("nan"),
        )
        return self

    def _fit_groups(self, hc: pd.DataFrame) -> None:
        st = self.settings
        bs = st.bucket_seconds
        all_b = np.arange(self.b0, self.b1, dtype=np.int64)
        self.n_g = np.bincount(group_of(all_b, bs), minlength=NG).astype("float64")
        self.n_pooled = float(len(all_b))
        hc = hc.assign(group=group_of(hc["bucket"].to_numpy(), bs))
        n_ent = len(self.entities)
        e = hc["entity"].to_numpy()
        g = hc["group"].to_numpy()
        x = hc["flows"].to_numpy()
        size = n_ent * (NG + 1)
        k = e * (NG + 1) + g
        kp = e * (NG + 1) + POOLED
        s1 = np.bincount(k, weights=x, minlength=size) + np.bincount(kp, weights=x, minlength=size)
        s2 = np.bincount(k, weights=x * x, minlength=size) + np.bincount(
            kp, weights=x * x, minlength=size
        )
        n = np.tile(np.append(self.n_g, self.n_pooled), n_ent)
        mu = s1 / np.maximum(n, 1.0)
        var = np.maximum(s2 / np.maximum(n, 1.0) - mu * mu, 0.0) * n / np.maximum(n - 1.0, 1.0)
        sigma = np.sqrt(var)
        # baseline 1 floors σ at √μ (counts are at least Poisson-noisy); the density family
        # "normal" is the maximum-likelihood normal (σ floored at 0.5 only)
        sig_eff = np.maximum.reduce([sigma, np.sqrt(mu), np.full_like(mu, 0.5)])
        sig_n = np.maximum(sigma, 0.5)
        # which key a (entity, group) uses: its own, or the pooled one when the group is thin
        self.use_pooled = self.n_g < st.min_group
        # -- density families ------------------------------------------------------------
        fam = np.zeros(size, dtype=np.int8)  # 0 normal, 1 exponential, 2 kde
        ll_n = -0.5 * n * np.log(2 * np.pi * sig_n**2) - (s2 - 2 * mu * s1 + n * mu * mu) / (
            2 * sig_n**2
        )
        crit = np.full((size, 3), np.inf)
        if "normal" in st.families:
            crit[:, 0] = 2 * 2 - 2 * ll_n
        m_eff = np.maximum(mu, 0.5)
        if "exponential" in st.families:
            ll_e = -n * np.log(m_eff) - s1 / m_eff
            crit[:, 1] = 2 * 1 - 2 * ll_e
        h = np.maximum(1.06 * sigma * np.maximum(n, 1.0) ** -0.2, 0.5)
        self.support = pd.DataFrame({"key": pd.Series(dtype=np.int64), "value": [], "mult": []})
        self.h = pd.Series(h, index=np.arange(size))
        if "kde" in st.families and len(hc):
            sup = _kde_support(hc, n_ent, self.n_g, int(self.n_pooled))
            distinct = sup.groupby("key").size()
            cand = distinct[distinct >= 3].index.to_numpy()
            if len(cand):
                sub = sup[sup["key"].isin(cand)]
                # bandwidth: the normal-reference rule, or a half or a quarter of it, whichever
                # gives the best leave-one-out likelihood (multi-modal counts need narrower)
                ll_k = _kde_loo_loglik(sub, self.h, KDE_FACTORS)
                best = ll_k.to_numpy().argmax(axis=1)
                kk = ll_k.index.to_numpy()
                factor = np.asarray(KDE_FACTORS)[best]
                h[kk] = np.maximum(h[kk] * factor, 0.5)
                self.h = pd.Series(h, index=np.arange(size))
                crit[kk, 2] = -2 * ll_k.to_numpy()[np.arange(len(kk)), best]
                self.support = sub.reset_index(drop=True)
        fam = np.argmin(crit, axis=1).astype(np.int8)
        fam[~np.isfinite(crit.min(axis=1))] = 0
        self.mu, self.sigma, self.sig_eff, self.m_eff, self.fam = mu, sigma, sig_eff, m_eff, fam
        self.sig_n = sig_n
        # bands of baselines 1 and 2 per key
        z = float(special.ndtri(1 - st.p_threshold / 2))
        lo2 = np.maximum(mu - z * sig_n, 0.0)
        hi2 = mu + z * sig_n
        ex = fam == 1
        hi2[ex] = m_eff[ex] * np.log(2 / st.p_threshold)
        lo2[ex] = -m_eff[ex] * np.log(1 - st.p_threshold / 2)
        kd = np.flatnonzero(fam == 2)
        if kd.size:
            lo2[kd] = self._kde_quantile(kd, st.p_threshold / 2)
            hi2[kd] = self._kde_quantile(kd, 1 - st.p_threshold / 2)
        self.lo1 = np.maximum(mu - st.sigma * sig_eff, 0.0)
        self.hi1 = mu + st.sigma * sig_eff
        self.lo2, self.hi2 = lo2, hi2
        counts = np.bincount(fam.reshape(n_ent, NG + 1)[:, :NG].ravel(), minlength=3)
        self.report.families = {FAMILIES[i]: int(counts[i]) for i in range(3)}

    def _kde_quantile(self, keys: np.ndarray, q: float, iters: int = 40) -> np.ndarray:
        sup = self.support[self.support["key"].isin(keys)]
        g = sup.groupby("key")["value"]
        vmin = g.min().reindex(keys).to_numpy()
        vmax = g.max().reindex(keys).to_numpy()
        hk = self.h.reindex(keys).to_numpy()
        lo = vmin - 10 * hk
        hi = vmax + 10 * hk
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            c = _kde_cdf(sup, keys, mid, self.h)
            below = c < q
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return np.maximum(0.5 * (lo + hi), 0.0)

    def _keys(self, entity: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        """(entity, bucket) -> key of the group statistics it uses (own or pooled)."""
        g = group_of(bucket, self.settings.bucket_seconds)
        g = np.where(self.use_pooled[g], POOLED, g)
        e = np.where(entity < self.n_hist_entities, entity, -1)
        return np.where(e >= 0, e * (NG + 1) + g, -1)

    # -- regression ------------------------------------------------------------------------
    def _features(
        self,
        lookup: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        entity: np.ndarray,
        bucket: np.ndarray,
    ) -> np.ndarray:
        keys, flows, byts, peers = lookup
        cols = []
        base = (entity.astype(np.int64) << np.int64(31)) | (bucket - self.origin)
        order = np.argsort(base, kind="stable")  # sorted queries search much faster
        for lag in (1, 2, 3):
            pos, hit = _positions(keys, base[order] - lag)
            for values, div in ((flows, 1.0), (byts, 4.0), (peers, 1.0)):
                col = np.empty(len(base))
                col[order] = np.log1p(np.where(hit, values[pos], 0.0)) / div
                cols.append(col)
        t = bucket.astype(np.int64) * self.settings.bucket_seconds
        ang = 2 * np.pi * ((t % 86400) / 86400.0)
        cols.append(np.sin(ang))
        cols.append(np.cos(ang))
        cols.append((((t // 86400) + 3) % 7 >= 5).astype("float64"))
        k = self._keys(entity, bucket)
        mu = np.where(k >= 0, self.mu[np.maximum(k, 0)], 0.0)
        cols.append(np.log1p(mu))
        return np.column_stack(cols)

    def _lookup_table(
        self, c: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        key = (c["entity"].to_numpy().astype(np.int64) << np.int64(31)) | (
            c["bucket"].to_numpy() - self.origin
        )
        order = np.argsort(key, kind="stable")
        return (
            key[order],
            c["flows"].to_numpy()[order],
            c["bytes"].to_numpy()[order],
            c["peers"].to_numpy()[order],
        )

    def _fit_regression(self, hc: pd.DataFrame) -> None:
        st = self.settings
        rng = np.random.default_rng(st.seed)
        self.origin = self.b0 - 8
        table = self._lookup_table(hc)
        n_ent = self.n_hist_entities
        first = self.b0 + 3
        nb = self.b1 - first
        if n_ent == 0 or nb < 8:
            self.reg = None
            self.scale = np.ones(max(n_ent, 1))
            self.q_lo, self.q_hi = -3.0, 3.0
            return
        split = first + int(nb * (1 - st.holdout_fraction))

        def sample(b_lo: int, b_hi: int, n_max: int) -> tuple[np.ndarray, np.ndarray]:
            total = n_ent * (b_hi - b_lo)
            # every nonzero cell in range is kept (they carry the signal), zero cells sampled
            nz = hc[(hc["bucket"] >= b_lo) & (hc["bucket"] < b_hi)]
            e_nz = nz["entity"].to_numpy()
            b_nz = nz["bucket"].to_numpy()
            if total <= n_max:
                e = np.repeat(np.arange(n_ent), b_hi - b_lo)
                b = np.tile(np.arange(b_lo, b_hi), n_ent)
                return e, b
            if len(e_nz) > n_max // 2:
                pick = rng.choice(len(e_nz), n_max // 2, replace=False)
                e_nz, b_nz = e_nz[pick], b_nz[pick]
            n_any = n_max - len(e_nz)
            e = rng.integers(0, n_ent, n_any)
            b = rng.integers(b_lo, b_hi, n_any)
            return np.concatenate([e_nz, e]), np.concatenate([b_nz, b])

        e_tr, b_tr = sample(first, split, st.max_train_rows)
        e_ho, b_ho = sample(split, self.b1, st.max_holdout_rows)
        x_tr = self._features(table, e_tr, b_tr)
        y_tr = np.log1p(
            _sparse_lookup(
                table[0], table[1], (e_tr.astype(np.int64) << np.int64(31)) | (b_tr - self.origin)
            )
        )
        reg = Ridge(alpha=st.ridge_alpha)
        reg.fit(x_tr, y_tr)
        x_ho = self._features(table, e_ho, b_ho)
        y_ho = np.log1p(
            _sparse_lookup(
                table[0], table[1], (e_ho.astype(np.int64) << np.int64(31)) | (b_ho - self.origin)
            )
        )
        pred = reg.predict(x_ho)
        res = y_ho - pred
        ss_res = float(np.sum(res**2))
        ss_tot = float(np.sum((y_ho - y_ho.mean()) ** 2))
        rep = self.report
        rep.r2 = 1 - ss_res / ss_tot if ss_tot > 0 else None
        rep.rmse_log = float(np.sqrt(np.mean(res**2)))
        rep.rmse = float(np.sqrt(np.mean((np.expm1(y_ho) - np.expm1(pred)) ** 2)))
        rep.holdout_rows = len(y_ho)
        rep.train_rows = len(y_tr)
        # per-entity residual spread, shrunk towards the global one
        glob = float(np.sqrt(np.mean(res**2))) or 1.0
        cnt = np.bincount(e_ho, minlength=n_ent)
        ss = np.bincount(e_ho, weights=res**2, minlength=n_ent)
        k0 = 10.0
        self.scale = np.sqrt((ss + k0 * glob**2) / (cnt + k0))
        z = res / self.scale[e_ho]
        a = (1 - st.interval) / 2
        self.q_lo, self.q_hi = (float(v) for v in np.quantile(z, [a, 1 - a]))
        rep.residual_quantiles = (self.q_lo, self.q_hi)
        self.reg = reg
        self.glob_scale = glob

    # -- scoring ---------------------------------------------------------------------------
    def cells(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Every (entity, bucket) of the observations with flows, the three bands, tail
        probabilities, votes and the combined verdict (plus expected-high buckets that were
        quiet: low anomalies)."""
        if not self.fitted:
            raise RuntimeError("fit the baselines first")
        st = self.settings
        bs = st.bucket_seconds
        oc, self.entities = cells(observations, self.entities, self.edges, bs)
        if oc.empty:
            return oc.assign(flagged=pd.Series(dtype=bool))
        b_lo, b_hi = int(oc["bucket"].min()), int(oc["bucket"].max()) + 1
        # quiet buckets where a busy entity was expected (candidates for low anomalies)
        busy = np.flatnonzero(self.lo1 >= st.min_count)
        if busy.size:
            be = busy // (NG + 1)
            bg = busy % (NG + 1)
            allb = np.arange(b_lo, b_hi, dtype=np.int64)
            ag = group_of(allb, bs)
            ag_eff = np.where(self.use_pooled[ag], POOLED, ag)
            # for each busy key, the buckets of the observed range in that group
            order = np.argsort(ag_eff, kind="stable")
            sg = ag_eff[order]
            start = np.searchsorted(sg, bg, side="left")
            stop = np.searchsorted(sg, bg, side="right")
            cnt = stop - start
            ent = np.repeat(be, cnt)
            first = np.repeat(np.cumsum(cnt) - cnt, cnt)
            idx = np.repeat(start, cnt) + (np.arange(int(cnt.sum())) - first)
            quiet = pd.DataFrame({"entity": ent, "bucket": allb[order][idx]})
            quiet = quiet.merge(oc[["entity", "bucket"]], how="left", indicator=True)
            quiet = quiet[quiet["_merge"] == "left_only"].drop(columns="_merge")
            if len(quiet):
                quiet = quiet.assign(flows=0.0, bytes=0.0, peers=0.0)
                oc = pd.concat([oc, quiet], ignore_index=True)
        return self._score_table(oc)

    def _score_table(self, oc: pd.DataFrame) -> pd.DataFrame:
        """Bands, tail probabilities and verdicts of explicit (entity, bucket, flows, bytes,
        peers) rows."""
        st = self.settings
        bs = st.bucket_seconds
        e = oc["entity"].to_numpy().astype(np.int64)
        b = oc["bucket"].to_numpy().astype(np.int64)
        x = oc["flows"].to_numpy()
        k = self._keys(e, b)
        known = k >= 0
        kk = np.maximum(k, 0)
        mu = np.where(known, self.mu[kk], 0.0)
        sig = np.where(known, self.sig_eff[kk], 0.5)
        # baseline 1: -log10 of the two-sided normal tail
        zval = (x - mu) / sig
        s1 = _neglog10_two_sided(special.log_ndtr(-np.abs(zval)))
        lo1 = np.where(known, self.lo1[kk], 0.0)
        hi1 = np.where(known, self.hi1[kk], st.sigma * 0.5)
        f1 = np.where(x > hi1, 1, np.where(x < lo1, -1, 0))
        # baseline 2: the group's density
        fam = np.where(known, self.fam[kk], 0)
        m_eff = np.where(known, self.m_eff[kk], 0.5)
        zn = (x - mu) / np.where(known, self.sig_n[kk], 0.5)
        log_sf = special.log_ndtr(-zn)
        log_cdf = special.log_ndtr(zn)
        ex = fam == 1
        xe = np.maximum(x, 0.0) / m_eff
        log_sf = np.where(ex, -xe, log_sf)
        log_cdf = np.where(ex, np.log(-np.expm1(-np.maximum(xe, 1e-300))), log_cdf)
        kd = np.flatnonzero(fam == 2)
        if kd.size:
            lc, ls = _kde_logtails(self.support, k[kd], x[kd], self.h)
            log_cdf[kd] = lc
            log_sf[kd] = ls
        s2 = _neglog10_two_sided(np.minimum(log_sf, log_cdf))
        lo2 = np.where(known, self.lo2[kk], 0.0)
        hi2 = np.where(known, self.hi2[kk], 0.5 * float(special.ndtri(1 - st.p_threshold / 2)))
        f2 = np.where(s2 > -np.log10(st.p_threshold), np.sign(x - mu), 0).astype(np.int64)
        # baseline 3: regression with its prediction interval
        pred, lo3, hi3, s3 = self._regress(oc, e, b, x)
        f3 = np.where(x > hi3, 1, np.where(x < lo3, -1, 0))
        # vote
        v = min(st.vote, 3) - 1
        direction = np.where(x >= mu, 1, -1)
        votes = (f1 == direction).astype(int) + (f2 == direction) + (f3 == direction)
        score = np.sort(np.column_stack([s1, s2, s3]), axis=1)[:, ::-1][:, v]
        his = np.sort(np.column_stack([hi1, hi2, hi3]), axis=1)
        los = np.sort(np.column_stack([lo1, lo2, lo3]), axis=1)[:, ::-1]
        band_hi = np.maximum(his[:, v], st.min_count - 1)
        band_lo = los[:, v]
        expected_ok = np.where(direction > 0, x >= st.min_count, band_lo >= st.min_count)
        flagged = (votes >= st.vote) & expected_ok
        p1, p2, p3, p = (10.0**-s1, 10.0**-s2, 10.0**-s3, 10.0**-score)
        out = oc.assign(
            group=group_of(b, bs),
            expected=mu,
            sigma=sig,
            lo_mean_sigma=lo1,
            hi_mean_sigma=hi1,
            p_mean_sigma=p1,
            family=np.asarray(FAMILIES, dtype=object)[fam],
            lo_density=lo2,
            hi_density=hi2,
            p_density=p2,
            predicted=pred,
            lo_regression=lo3,
            hi_regression=hi3,
            p_regression=p3,
            band_lo=band_lo,
            band_hi=band_hi,
            votes=votes,
            direction=direction,
            s_mean_sigma=s1,
            s_density=s2,
            s_regression=s3,
            p=p,
            score=score,
            flagged=flagged,
            known=known,
        )
        return out

    def _regress(
        self, oc: pd.DataFrame, e: np.ndarray, b: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        st = self.settings
        if self.reg is None:
            z = np.zeros(len(x))
            return z, z, np.full(len(x), np.inf), z
        both = pd.concat([self.hist_cells, oc[["entity", "bucket", "flows", "bytes", "peers"]]])
        both = both.drop_duplicates(["entity", "bucket"], keep="last")
        table = self._lookup_table(both)
        feats = self._features(table, e, b)
        pred = self.reg.predict(feats)
        scale = np.where(
            e < len(self.scale), self.scale[np.minimum(e, len(self.scale) - 1)], self.glob_scale
        )
        lo = np.maximum(np.expm1(pred + self.q_lo * scale), 0.0)
        hi = np.expm1(pred + self.q_hi * scale)
        r = (np.log1p(x) - pred) / scale
        # two-sided tail, normal-shaped and calibrated so that the interval's edges match
        zq = float(special.ndtri(1 - (1 - st.interval) / 2))
        zz = np.where(r >= 0, r / max(self.q_hi, 1e-9), r / min(self.q_lo, -1e-9)) * zq
        return np.expm1(pred), lo, hi, _neglog10_two_sided(special.log_ndtr(-np.abs(zz)))

    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        return self.score_cells(observations, self.cells(observations))

    def score_cells(self, observations: pd.DataFrame, c: pd.DataFrame) -> pd.DataFrame:
        """`score` from cells already computed by `cells(observations)`."""
        n = len(observations)
        out = pd.DataFrame(index=observations.index)
        if n == 0 or c.empty:
            for col in ("score", "part_mean_sigma", "part_density", "part_regression"):
                out[col] = np.zeros(n)
            out["explanation"] = ""
            return out
        bs = self.settings.bucket_seconds
        bucket = np.floor(observations["ts"].to_numpy(dtype="float64") / bs).astype(np.int64)
        ckey = (c["entity"].to_numpy().astype(np.int64) << np.int64(31)) | (
            c["bucket"].to_numpy() - self.origin
        )
        order = np.argsort(ckey)
        ckey = ckey[order]
        score_c = c["score"].to_numpy()[order]
        names = {
            "src": observations["src"].astype(str).to_numpy(dtype=object),
            "dst": observations["dst"].astype(str).to_numpy(dtype=object),
        }
        cand = [names["src"], names["dst"]]
        if self.edges is not None and len(self.edges):
            cand.append(names["src"] + "->" + names["dst"])
        best = np.zeros(n)
        best_row = np.full(n, -1)
        for ids in cand:  # two or three roles, each vectorised
            code = self.entities.get_indexer(pd.Index(ids)).astype(np.int64)
            q = (np.maximum(code, 0) << np.int64(31)) | (bucket - self.origin)
            pos = np.minimum(np.searchsorted(ckey, q), len(ckey) - 1)
            hit = (ckey[pos] == q) & (code >= 0)
            s = np.where(hit, score_c[pos], 0.0)
            better = s > best
            best = np.where(better, s, best)
            best_row = np.where(better, order[pos], best_row)
        out["score"] = best
        rows = c.iloc[np.maximum(best_row, 0)]
        has = best_row >= 0
        for col, scol in (
            ("part_mean_sigma", "s_mean_sigma"),
            ("part_density", "s_density"),
            ("part_regression", "s_regression"),
        ):
            out[col] = np.where(has, rows[scol].to_numpy(), 0.0)
        ent = np.asarray(self.entities, dtype=object)[rows["entity"].to_numpy()]
        flows = rows["flows"].to_numpy().astype(np.int64).astype(str).astype(object)
        hi = np.round(rows["band_hi"].to_numpy()).astype(np.int64).astype(str).astype(object)
        lo = np.round(rows["band_lo"].to_numpy()).astype(np.int64).astype(str).astype(object)
        mins = str(bs // 60)
        text = (
            ent
            + " had "
            + flows
            + " connections in its "
            + mins
            + "-minute bucket; expected "
            + lo
            + "–"
            + hi
        )
        out["explanation"] = np.where(has, text, "no baseline evidence")
        return out


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
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


def findings_from_cells(
    det: VolumeBaselines, c: pd.DataFrame, conns: pd.DataFrame, window: str
) -> list[Finding]:
    """Out-of-band runs -> `volume_anomaly` findings with the expected band and top peers."""
    st = det.settings
    bs = st.bucket_seconds
    flagged = c[c["flagged"]]
    r = runs(flagged, st.merge_gap)
    if r.empty:
        return []
    r = r[r["score"] >= finding_threshold(st, len(c))].reset_index(drop=True)
    if r.empty:
        return []
    members = r.attrs["members"]
    r = r.head(st.max_findings)
    ents = np.asarray(det.entities, dtype=object)
    # top peers and ports of the flagged buckets, from the connections (vectorised)
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
    kept = members[members["run"].isin(r["run"])]
    mrows = c.loc[kept["index"].to_numpy()]
    mem = pd.DataFrame(
        {
            "run": kept["run"].to_numpy(),
            "entity": mrows["entity"].to_numpy(),
            "bucket": mrows["bucket"].to_numpy(),
        }
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
    rc = pd.concat(roles, ignore_index=True).merge(mem, on=["entity", "bucket"])
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
            f"MATCH p = (a:Host {{id: {json.dumps(hosts[0])}}})-[r:TALKED]->"
            f"(b:Host {{id: {json.dumps(hosts[1])}}}) "
            f"WHERE r.window = {json.dumps(window)} RETURN p"
        )
    return (
        f"MATCH p = (h:Host {{id: {json.dumps(hosts[0])}}})-[r:TALKED]-(o:Host) "
        f"WHERE r.window = {json.dumps(window)} RETURN p ORDER BY r.conns DESC LIMIT 50"
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
    best = _to_hosts(det, c["entity"].to_numpy(), c["score"].to_numpy())
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


# --------------------------------------------------------------------------------------------
# library entry points
# --------------------------------------------------------------------------------------------
@dataclass
class VolumeResult:
    window: str
    history: list[str]
    fit_on: str
    report: FitReport
    cells: pd.DataFrame  # scored (entity, bucket) cells of the window (`entity_id` added)
    findings: list[Finding]
    host_scores: pd.Series
    alerts_per_day: float
    seconds: float

    def to_json(self, top: int = 20) -> dict[str, Any]:
        return {
            "window": self.window,
            "history": self.history,
            "fit_on": self.fit_on,
            "fit": asdict(self.report),
            "buckets_scored": len(self.cells),
            "buckets_flagged": int(self.cells["flagged"].sum()) if len(self.cells) else 0,
            "alerts_per_day": self.alerts_per_day,
            "findings": [
                {"id": f.id, "hosts": f.hosts, "score": f.score, "explanation": f.explanation}
                for f in self.findings[:top]
            ],
            "seconds": round(self.seconds, 3),
        }


def _alerts(c: pd.DataFrame, volume: VolumeSettings) -> int:
    r = runs(c[c["flagged"]], volume.merge_gap)
    return int((r["score"] >= finding_threshold(volume, len(c))).sum()) if len(r) else 0


def fit_window(
    settings: Settings,
    window: str,
    volume: VolumeSettings,
    conns: pd.DataFrame | None = None,
) -> tuple[VolumeBaselines, list[str], str, pd.DataFrame]:
    """Baselines from the archive windows before `window`; returns them, the history windows,
    what they were fitted on ("history" | "self") and the window's connections."""
    cols = ("ts", "uid", "src", "dst", "dport", "conn_state", "src_bytes", "dst_bytes")
    hist_w = history_windows(settings, window, volume.history_days)
    current = conns if conns is not None else read_archive(settings, [window], columns=cols)
    w_start, _ = windows.bounds(window)
    history = read_archive(settings, hist_w, columns=cols) if hist_w else current.iloc[:0]
    fit_on = "history"
    if history.empty:
        if not volume.fallback_self:
            raise ValueError(f"no archive windows before {window} to learn from")
        log.warning("no history before %s: baselines from the window itself", window)
        det = VolumeBaselines(volume).fit(current)
        return det, [], "self", current
    h_start, _ = windows.bounds(hist_w[0])
    det = VolumeBaselines(volume).fit(history, start=h_start.timestamp(), end=w_start.timestamp())
    return det, hist_w, fit_on, current


def volume_window(
    store: Any,
    window: str | None,
    settings: Settings,
    volume: VolumeSettings | None = None,
    save: bool = True,
) -> VolumeResult:
    """Fit the three baselines on the windows before `window` (default: the latest archived),
    score its buckets, save out-of-band runs as `volume_anomaly` findings (replacing the
    window's earlier ones) and return everything a report needs."""
    t0 = time.perf_counter()
    volume = volume or VolumeSettings()
    window = archived_window(settings, window)
    det, hist_w, fit_on, conns = fit_window(settings, window, volume)
    c = det.cells(conns)
    c = c.assign(entity_id=np.asarray(det.entities, dtype=object)[c["entity"].to_numpy()])
    found = findings_from_cells(det, c, conns, window)
    if save and store is not None:
        save_findings(store, found, replace_kind="volume_anomaly", window=window)
    return VolumeResult(
        window=window,
        history=hist_w,
        fit_on=fit_on,
        report=det.report,
        cells=c,
        findings=found,
        host_scores=host_scores(det, c),
        alerts_per_day=_alerts(c, volume) / window_span_days(conns, window),
        seconds=time.perf_counter() - t0,
    )


def series(
    det: VolumeBaselines,
    conns: pd.DataFrame,
    entity: str,
    start: float | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """A host's (or edge's `src->dst`) time chart: one row per bucket of [start, end) (default:
    the span of `conns`), with `time`, `flows`, `bytes`, `peers`, `expected`, the three bands
    (`lo_*`/`hi_*`), the combined band (`band_lo`, `band_hi`) and `flagged`."""
    bs = det.settings.bucket_seconds
    ts = conns["ts"].to_numpy(dtype="float64")
    if start is None:
        start = float(np.nanmin(ts)) if len(ts) else 0.0
    if end is None:
        end = float(np.nanmax(ts)) + bs if len(ts) else start + bs
    b = np.arange(int(np.floor(start / bs)), int(np.ceil(end / bs)), dtype=np.int64)
    if "->" in entity:
        a, z = entity.split("->", 1)
        sel = (conns["src"].astype(str) == a) & (conns["dst"].astype(str) == z)
    else:
        sel = (conns["src"].astype(str) == entity) | (conns["dst"].astype(str) == entity)
    sub = conns[sel.to_numpy()]
    c = det.cells(sub)
    code = det.entities.get_indexer(pd.Index([entity]))[0]
    if code < 0:
        det.entities = det.entities.append(pd.Index([entity]))
        code = len(det.entities) - 1
    c = c[c["entity"] == code]
    grid = pd.DataFrame({"entity": code, "bucket": b})
    grid = grid.merge(c[["bucket", "flows", "bytes", "peers"]], on="bucket", how="left").fillna(
        {"flows": 0.0, "bytes": 0.0, "peers": 0.0}
    )
    full = det._score_table(grid)
    full.insert(0, "time", pd.to_datetime(full["bucket"] * bs, unit="s", utc=True))
    return full.drop(columns=["entity"])


def volume_series(
    store: Any,
    host: str,
    window: str | None,
    settings: Settings,
    volume: VolumeSettings | None = None,
) -> pd.DataFrame:
    """`series` for one host (or `src->dst`) over a window, fitted from the archive."""
    volume = volume or VolumeSettings()
    window = archived_window(settings, window)
    det, _, _, conns = fit_window(settings, window, volume)
    start, end = windows.bounds(window)
    return series(det, conns, host, start.timestamp(), end.timestamp())
