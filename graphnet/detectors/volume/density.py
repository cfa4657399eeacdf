"""The kernel-density maths of the density baseline: weighted supports with zero buckets
counted, leave-one-out log-likelihoods for the bandwidth, CDFs and log tails (no underflow).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from graphnet.detectors.volume.buckets import NG, POOLED

#: (row, partner) pairs of a KDE's supports made at a time: each holds about 100 bytes of
#: working arrays while its chunk is summed (a row's pairs are never split between chunks)
KDE_PAIRS = 1_000_000


def _neglog10_two_sided(log_tail: np.ndarray) -> np.ndarray:
    """-log10(min(1, 2 * tail)) from the natural log of a one-sided tail, without underflow."""
    return np.clip(-(log_tail + np.log(2.0)) / np.log(10.0), 0.0, 300.0)


def _kde_support(
    hist_cells: pd.DataFrame, n_ent: int, n_g: np.ndarray, pooled_n: int
) -> pd.DataFrame:
    """(key, value, mult) of every (entity, group) and (entity, pooled), zeros included: the
    distinct values of each key with how many of its buckets had them, sorted by key and
    value (by sorting arrays: no hash table over every cell)."""
    g = np.asarray(hist_cells["group"].to_numpy(), dtype=np.int64)
    e = np.asarray(hist_cells["entity"].to_numpy(), dtype=np.int64)
    v = np.asarray(hist_cells["flows"].to_numpy(), dtype="float64")
    key = np.concatenate([e * (NG + 1) + g, e * (NG + 1) + POOLED])
    val = np.concatenate([v, v])
    del g, e, v
    order = np.lexsort((val, key))
    key, val = key[order], val[order]
    del order
    # runs of equal keys, and of equal (key, value), in the sorted rows
    new_key = np.ones(len(key), dtype=bool)
    new_key[1:] = key[1:] != key[:-1]
    key_first = np.flatnonzero(new_key)
    nnz_keys, nnz = key[key_first], np.diff(np.append(key_first, len(key)))
    new_key[1:] |= val[1:] != val[:-1]
    first = np.flatnonzero(new_key)
    mult = np.diff(np.append(first, len(key))).astype("float64")
    key, val = key[first], val[first]
    grp = nnz_keys % (NG + 1)
    total = np.where(grp == POOLED, pooled_n, n_g[np.minimum(grp, NG - 1)])
    zeros = total - nnz
    some = zeros > 0
    key = np.concatenate([key, nnz_keys[some]])
    val = np.concatenate([val, np.zeros(int(some.sum()))])
    mult = np.concatenate([mult, zeros[some].astype("float64")])
    order = np.lexsort((val, key))
    return pd.DataFrame({"key": key[order], "value": val[order], "mult": mult[order]})


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
    chunk: int = KDE_PAIRS,
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
    del starts_row, sizes_row, cum
    out = {}
    for fi, (f, h) in enumerate(zip(factors, hs, strict=True)):
        # remove the point itself, normalise (per key, then per row, in place: one array of
        # the support's length at a time)
        d = dens[fi]
        d -= 1.0
        d /= (np.maximum(n - 1.0, 1.0) * h * np.sqrt(2 * np.pi))[block]
        np.maximum(d, 1e-300, out=d)
        np.log(d, out=d)
        d *= mult
        out[f] = np.bincount(block, weights=d, minlength=len(ukeys))
    return pd.DataFrame(out, index=ukeys)


def _kde_cdf(
    sup: pd.DataFrame,
    keys: np.ndarray,
    x: np.ndarray,
    h_of_key: pd.Series,
    chunk: int = KDE_PAIRS,
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
