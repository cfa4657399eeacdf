"""The pure model of the volume detector: its settings, the fit report and `VolumeBaselines`
(mean ± 3σ, density family per group, ridge regression with a split-conformal interval),
fitted on sparse cells and scoring (entity, bucket) cells and connections.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import special
from sklearn.linear_model import Ridge

from graphnet.detectors.contract import Model
from graphnet.detectors.volume.buckets import NG, POOLED, busy_edges, cells, day_span, group_of
from graphnet.detectors.volume.density import (
    _kde_cdf,
    _kde_logtails,
    _kde_loo_loglik,
    _kde_support,
    _neglog10_two_sided,
)

log = logging.getLogger(__name__)

FAMILIES = ("normal", "exponential", "kde")
BASELINES = ("mean_sigma", "density", "regression")
P_FLOOR = 1e-16
#: cells scored at once when only some columns are kept (`score_buckets`)
SCORE_CHUNK_ROWS = 500_000
KDE_FACTORS = (1.0, 0.5, 0.25)
#: history cells whose per-key statistics and density support are made at once (whole
#: entities; `_fit_groups`): bounds the sorts' working arrays at a few hundred MB
FIT_ROWS = 2_000_000
#: the regression's lags: a bucket's features hold the flows, bytes and peers of the buckets
#: this many before it
LAGS = (1, 2, 3)


def entity_slices(entity: np.ndarray, rows: int) -> list[slice]:
    """Slices of cells sorted by entity, about `rows` cells each, no entity split between two;
    one slice of all when the cells are not sorted by entity."""
    n = len(entity)
    if n <= rows or bool((entity[1:] < entity[:-1]).any()):
        return [slice(0, n)]
    out, a = [], 0
    while a < n:
        b = min(a + rows, n)
        if b < n:
            b = int(np.searchsorted(entity, entity[b - 1], side="right"))
        out.append(slice(a, b))
        a = b
    return out


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


class VolumeBaselines(Model):
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
        """Learn the baselines from connections (default span: the whole days they cover)."""
        st = self.settings
        t0 = time.perf_counter()
        ts = history["ts"].to_numpy(dtype="float64")
        if not len(ts):
            raise ValueError("no connections to learn from")
        if start is None or end is None:
            first, last = float(np.nanmin(ts)), float(np.nanmax(ts))
            start, end = day_span(first, last, start, end)
        edges = busy_edges(history, st.edge_min_flows, st.max_edges) if st.edges else None
        entities = pd.Index(np.array([], dtype=object))
        hc, entities = cells(history, entities, edges, st.bucket_seconds)
        return self.fit_cells(hc, entities, edges, start, end, started=t0)

    def fit_cells(
        self,
        hist_cells: pd.DataFrame,
        entities: pd.Index,
        edges: pd.Index | None,
        start: float,
        end: float,
        started: float | None = None,
    ) -> Self:
        """Learn the baselines from the sparse cells of the history over [start, end) (epoch
        seconds): `hist_cells` (entity code, bucket, flows, bytes, peers) as `buckets.cells`
        gives them, sorted by entity and bucket; `entities` the ids of the codes; `edges` the
        busy edges (`src->dst`) that have their own series (None: none are tracked).
        `started`: when the fit began (`time.perf_counter`), for the report's seconds when the
        cells were made before (default: now)."""
        t0 = time.perf_counter() if started is None else started
        bs = self.settings.bucket_seconds
        self.b0 = int(np.floor(start / bs))
        self.b1 = int(np.ceil(end / bs))
        self.edges: pd.Index | None = edges
        self.entities: pd.Index = entities
        hc = hist_cells
        inside = (hc["bucket"] >= self.b0) & (hc["bucket"] < self.b1)
        # the cells as they are when all are inside and numbered from 0: no copy of them all
        if not inside.all() or not hc.index.equals(pd.RangeIndex(len(hc))):
            hc = hc[inside].reset_index(drop=True)
        del inside
        self.n_hist_entities = len(self.entities)
        self.hist_cells = hc
        self.lags_from: int | None = None
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
        """The per-key statistics of baselines 1 and 2. A key is (entity, hour group) or
        (entity, pooled): only the keys the history's cells touch get their own entry
        (`self.keys`, sorted); every other key has no flows in history, and its statistics
        depend on its group alone: one shared entry per group after them (`_idx`). So the
        arrays grow with the history's cells, not with entities x groups."""
        st = self.settings
        bs = st.bucket_seconds
        all_b = np.arange(self.b0, self.b1, dtype=np.int64)
        self.n_g = np.bincount(group_of(all_b, bs), minlength=NG).astype("float64")
        self.n_pooled = float(len(all_b))
        n_ent = len(self.entities)
        # the cells' columns as arrays, without copies where their type is already the one
        # needed. A key belongs to one entity: its statistics and density support are made a
        # range of whole entities at a time (the cells are sorted by entity), so the sorts'
        # working arrays stay small, and the pieces, in key order, are those of all at once
        e = np.asarray(hc["entity"].to_numpy(), dtype=np.int64)
        b = hc["bucket"].to_numpy()
        x = np.asarray(hc["flows"].to_numpy(), dtype="float64")
        want_kde = "kde" in st.families and len(hc) > 0
        key_parts, s1_parts, s2_parts, sup_parts = [], [], [], []
        for part in entity_slices(e, FIT_ROWS):
            ep, gp, xp = e[part], group_of(b[part], bs), x[part]
            both = np.concatenate([ep * (NG + 1) + gp, ep * (NG + 1) + POOLED])
            k, inv = np.unique(both, return_inverse=True)
            del both
            xx = np.concatenate([xp, xp])
            key_parts.append(k)
            s1_parts.append(np.bincount(inv, weights=xx, minlength=len(k)))
            xx *= xx
            s2_parts.append(np.bincount(inv, weights=xx, minlength=len(k)))
            del xx, inv
            if want_kde:
                # the support of the keys a KDE can be fitted on (three distinct values)
                sup = _kde_support(
                    pd.DataFrame({"entity": ep, "group": gp, "flows": xp}, copy=False),
                    n_ent,
                    self.n_g,
                    int(self.n_pooled),
                )
                _, sizes = np.unique(sup["key"].to_numpy(), return_counts=True)
                sup_parts.append(sup[np.repeat(sizes >= 3, sizes)])
                del sup
        keys = np.concatenate(key_parts) if key_parts else np.zeros(0, dtype=np.int64)
        self.keys = keys
        nk = len(keys)
        # entries: the keys with cells, then one per group (no flows in history)
        s1 = np.concatenate([*s1_parts, np.zeros(NG + 1)])
        s2 = np.concatenate([*s2_parts, np.zeros(NG + 1)])
        del key_parts, s1_parts, s2_parts
        grp = np.concatenate([keys % (NG + 1), np.arange(NG + 1)])
        n = np.append(self.n_g, self.n_pooled)[grp]
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
        ll_n = -0.5 * n * np.log(2 * np.pi * sig_n**2) - (s2 - 2 * mu * s1 + n * mu * mu) / (
            2 * sig_n**2
        )
        crit = np.full((len(n), 3), np.inf)
        if "normal" in st.families:
            crit[:, 0] = 2 * 2 - 2 * ll_n
        m_eff = np.maximum(mu, 0.5)
        if "exponential" in st.families:
            ll_e = -n * np.log(m_eff) - s1 / m_eff
            crit[:, 1] = 2 * 1 - 2 * ll_e
        del s2, ll_n
        h = np.maximum(1.06 * sigma * np.maximum(n, 1.0) ** -0.2, 0.5)
        self.support = pd.DataFrame({"key": pd.Series(dtype=np.int64), "value": [], "mult": []})
        # bandwidths of the keys with cells, by key (a KDE needs three distinct values, so a
        # key without flows in history never has one)
        self.h = pd.Series(h[:nk], index=keys)
        if sup_parts:
            sub = pd.concat(sup_parts, ignore_index=True) if len(sup_parts) > 1 else sup_parts[0]
            del sup_parts
            if len(sub):
                # bandwidth: the normal-reference rule, or a half or a quarter of it, whichever
                # gives the best leave-one-out likelihood (multi-modal counts need narrower)
                ll_k = _kde_loo_loglik(sub, self.h, KDE_FACTORS)
                best = ll_k.to_numpy().argmax(axis=1)
                kk = np.searchsorted(keys, ll_k.index.to_numpy())
                factor = np.asarray(KDE_FACTORS)[best]
                h[kk] = np.maximum(h[kk] * factor, 0.5)
                self.h = pd.Series(h[:nk], index=keys)
                crit[kk, 2] = -2 * ll_k.to_numpy()[np.arange(len(kk)), best]
                self.support = sub.reset_index(drop=True)
            del sub
        fam = np.argmin(crit, axis=1).astype(np.int8)
        fam[~np.isfinite(crit.min(axis=1))] = 0
        del crit
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
            lo2[kd] = self._kde_quantile(keys[kd], st.p_threshold / 2)
            hi2[kd] = self._kde_quantile(keys[kd], 1 - st.p_threshold / 2)
        self.lo1 = np.maximum(mu - st.sigma * sig_eff, 0.0)
        self.hi1 = mu + st.sigma * sig_eff
        self.lo2, self.hi2 = lo2, hi2
        # families over every (entity, hour group): the keys with cells, and for each group
        # its entities without any
        hour = grp[:nk] < NG
        without = n_ent - np.bincount(grp[:nk][hour], minlength=NG)
        counts = np.bincount(fam[:nk][hour], minlength=3) + np.bincount(
            fam[nk : nk + NG], weights=without, minlength=3
        ).astype(np.int64)
        self.report.families = {FAMILIES[i]: int(counts[i]) for i in range(3)}

    def _idx(self, k: np.ndarray) -> np.ndarray:
        """Keys (>= 0) -> their entries in the per-key arrays: their own when the history's
        cells touch them, else their group's shared one."""
        pos, hit = _positions(self.keys, k)
        return np.where(hit, pos, len(self.keys) + k % (NG + 1))

    def group_families(self, entity: int) -> np.ndarray:
        """The density family (index into `FAMILIES`) of each hour group of an entity code."""
        k = np.int64(entity) * (NG + 1) + np.arange(NG, dtype=np.int64)
        return self.fam[self._idx(k)]

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
        for lag in LAGS:
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
        mu = np.where(k >= 0, self.mu[self._idx(np.maximum(k, 0))], 0.0)
        cols.append(np.log1p(mu))
        return np.column_stack(cols)

    def _lookup_table(
        self, c: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(key, flows, bytes, peers) of cells sorted by key, key = entity << 31 | bucket from
        the origin. Cells already in that order (the history's: by entity and bucket) are
        looked up where they are, not copied."""
        key = (c["entity"].to_numpy().astype(np.int64) << np.int64(31)) | (
            c["bucket"].to_numpy() - self.origin
        )
        columns = [c[name].to_numpy() for name in ("flows", "bytes", "peers")]
        if len(key) and bool((key[1:] < key[:-1]).any()):
            order = np.argsort(key, kind="stable")
            key = key[order]
            columns = [col[order] for col in columns]
        return key, columns[0], columns[1], columns[2]

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
            # every nonzero cell in range is kept (they carry the signal), zero cells sampled;
            # the cells in range are taken by position (not as a copy of the cells)
            if total <= n_max:
                e = np.repeat(np.arange(n_ent), b_hi - b_lo)
                b = np.tile(np.arange(b_lo, b_hi), n_ent)
                return e, b
            bucket = hc["bucket"].to_numpy()
            rows = np.flatnonzero((bucket >= b_lo) & (bucket < b_hi))
            if len(rows) > n_max // 2:
                rows = rows[rng.choice(len(rows), n_max // 2, replace=False)]
            e_nz, b_nz = hc["entity"].to_numpy()[rows], bucket[rows]
            del rows
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

    def keep_lags_from(self, bucket: int) -> None:
        """Keep of the history's cells only those that buckets from `bucket` on look back at
        (the regression's `LAGS`): all that baselines fitted on earlier windows need to score
        a later window. The history's cells are the largest part of a fitted model (at 32 M
        connections a week, two weeks make some 27 M cells, 1 GiB); a later window's lags
        reach its last buckets only. Buckets before `bucket` can no longer be scored."""
        if not self.fitted:
            raise RuntimeError("fit the baselines first")
        hb = self.hist_cells["bucket"].to_numpy()
        keep = hb >= bucket - max(LAGS)
        if not keep.all():
            self.hist_cells = self.hist_cells[keep].reset_index(drop=True)
        self.lags_from = bucket if self.lags_from is None else max(self.lags_from, bucket)

    # -- scoring ---------------------------------------------------------------------------
    def cells(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Every (entity, bucket) of the observations with flows, the three bands, tail
        probabilities, votes and the combined verdict (plus expected-high buckets that were
        quiet: low anomalies)."""
        if not self.fitted:
            raise RuntimeError("fit the baselines first")
        oc, self.entities = cells(
            observations, self.entities, self.edges, self.settings.bucket_seconds
        )
        return self.score_buckets(oc)

    def score_buckets(
        self,
        oc: pd.DataFrame,
        columns: Sequence[str] | None = None,
        chunk_rows: int = SCORE_CHUNK_ROWS,
    ) -> pd.DataFrame:
        """`cells` from the sparse cells of the observations (entity code, bucket, flows,
        bytes, peers; codes of `self.entities`, new entities appended to it by the caller).
        With `columns`, only those columns are kept, and the cells are scored a few whole
        entities at a time (about `chunk_rows` cells): the same figures, without every
        column of every cell in memory at once. `score_filled(with_quiet(oc))`: a caller
        that lets its `oc` go in between holds one copy of the cells, not two."""
        return self.score_filled(self.with_quiet(oc), columns, chunk_rows)

    def with_quiet(self, oc: pd.DataFrame) -> pd.DataFrame:
        """The observed cells, then the quiet buckets where a busy entity was expected
        (candidates for low anomalies: flows, bytes and peers 0) in the observed range."""
        if not self.fitted:
            raise RuntimeError("fit the baselines first")
        st = self.settings
        bs = st.bucket_seconds
        if oc.empty:
            return oc
        b_lo, b_hi = int(oc["bucket"].min()), int(oc["bucket"].max()) + 1
        # (a key without flows in history expects none: only keys with cells can be busy)
        busy = self.keys[np.flatnonzero(self.lo1[: len(self.keys)] >= st.min_count)]
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
        return oc

    def score_filled(
        self,
        cells: pd.DataFrame,
        columns: Sequence[str] | None = None,
        chunk_rows: int = SCORE_CHUNK_ROWS,
    ) -> pd.DataFrame:
        """`score_buckets` of cells that hold their quiet buckets already (`with_quiet`)."""
        if not self.fitted:
            raise RuntimeError("fit the baselines first")
        if cells.empty:
            return cells.assign(flagged=pd.Series(dtype=bool))
        if columns is None:
            return self._score_table(cells)
        return self._score_chunks(cells, list(columns), chunk_rows)

    def _score_chunks(self, oc: pd.DataFrame, columns: list[str], chunk_rows: int) -> pd.DataFrame:
        """`_score_table(oc)[columns]`, scored by whole entities about `chunk_rows` cells at a
        time (a cell's figures depend only on its own entity's cells: its key's statistics and
        the lags of the regression), rows in the order and with the index of `oc`. Each chunk's
        numbers are put in place in the result's columns (no list of chunks concatenated, then
        sorted: two more copies of every kept column); the cells' own columns are `oc`'s."""
        e = oc["entity"].to_numpy()
        order = np.argsort(e, kind="stable")
        starts = np.flatnonzero(np.diff(e[order])) + 1  # where a new entity begins
        n = len(oc)
        own = [c for c in columns if c in oc.columns]  # the cells' own, passed through as is
        placed: dict[str, np.ndarray] = {}  # numpy columns, filled at their rows
        pieces: dict[str, list[pd.Series]] = {}  # other columns (strings), by chunk
        where: list[np.ndarray] = []  # the rows of each chunk
        lo = 0
        while lo < n:
            hi = lo + max(int(chunk_rows), 1)
            if hi < n:
                j = int(np.searchsorted(starts, hi, side="left"))
                hi = int(starts[j]) if j < len(starts) else n
            rows = np.sort(order[lo : min(hi, n)])
            part = self._score_table(oc.iloc[rows])
            for col in columns:
                if col in own:
                    continue
                v = part[col]
                if isinstance(v.dtype, np.dtype) and v.dtype.kind in "biuf":
                    got = placed.get(col)
                    if got is None or got.dtype != v.dtype:
                        kind = v.dtype if got is None else np.result_type(got.dtype, v.dtype)
                        got = placed[col] = (
                            np.empty(n, dtype=kind) if got is None else got.astype(kind)
                        )
                    got[rows] = v.to_numpy()
                else:
                    pieces.setdefault(col, []).append(v)
            where.append(rows)
            del part
            lo = hi
        out: dict[str, Any] = {}
        at = np.concatenate(where) if pieces else np.zeros(0, dtype=np.int64)
        back = np.empty(n, dtype=np.int64)
        back[at] = np.arange(len(at))
        for col in columns:
            if col in own:
                out[col] = oc[col].array
            elif col in placed:
                out[col] = placed.pop(col)
            else:
                out[col] = pd.concat(pieces.pop(col), ignore_index=True).take(back).array
        return pd.DataFrame(out, index=oc.index, columns=columns, copy=False)

    def entity_rows(self, c: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
        """Every column of the scored cells of the entities `codes`, from cells scored with
        few `columns` (`score_buckets`): their entities' cells scored again, whole, which gives
        the same figures; the index of `c`."""
        sub = c.loc[c["entity"].isin(codes), ["entity", "bucket", "flows", "bytes", "peers"]]
        return self._score_table(sub)

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
        kk = self._idx(np.maximum(k, 0))
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
        if self.lags_from is not None and len(b) and int(b.min()) < self.lags_from:
            raise ValueError(
                f"bucket {int(b.min())} comes before the history's cells the baselines kept "
                f"(the lags of buckets from {self.lags_from} on)"
            )
        # the lags look up buckets [min - 3, max) only: the rest of the history is not copied
        hb = self.hist_cells["bucket"].to_numpy()
        near = np.zeros(len(hb), dtype=bool)
        if len(b):
            near = (hb >= int(b.min()) - max(LAGS)) & (hb < int(b.max()))
        both = pd.concat(
            [self.hist_cells[near], oc[["entity", "bucket", "flows", "bytes", "peers"]]]
        )
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
