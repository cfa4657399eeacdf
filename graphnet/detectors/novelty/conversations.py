"""Connections grouped per (src, dst) of the window: how novel each conversation is as a
whole (`conversations` from scored connections, `conversations_from_runs` from per-pair runs
of equally novel connections, as the engine counts them), and a plain per-pair ranking
(`rank_pairs`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import gammaln

from graphnet.detectors.novelty.parts import NoveltyParams, novelty_from_bits
from graphnet.detectors.novelty.scored import Scored


def conversations(scored: Scored) -> pd.DataFrame:
    """Per (src, dst) of the window: how novel the conversation is as a whole.

    Each connection gets its window p-value p (window_p_values of conn_bits); connections with
    p <= novel_p are novel. If nothing changed, the chance that at least k of a pair's n
    connections have p <= t is at most C(n, k) t^k, so with p_(k) the k-th smallest p-value of
    the pair (over novel connections only)

        conversation bits = who_bits + max(0, max_k [k * -log2 p_(k) - log2 C(n, k)])

    Several novel connections add up; a big conversation is not rewarded for the rare value it
    is bound to contain; noise (uniform p-values) scores ~0. The k maximising connections are
    the conversation's novel ones (all of them for a new pair). Vectorised: one sort,
    cumulative counts, reduceat."""
    f = scored.frame
    p = scored.params
    cols = [
        "src",
        "dst",
        "score",
        "bits",
        "conn",
        "conn_bits",
        "who_bits",
        "connections",
        "novel",
        "first",
        "last",
        "best",
        "pair",
    ]
    if f.empty:
        return pd.DataFrame(columns=cols)
    codes = scored.keys.codes
    cb = f["conn_bits"].to_numpy()
    pv = f["p_value"].to_numpy()
    order = np.lexsort((-cb, codes))
    sc = codes[order]
    n_pairs = len(scored.keys.src)
    n = np.bincount(codes, minlength=n_pairs)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    rank = (np.arange(len(order)) - starts[sc] + 1).astype("float64")  # 1-based, most novel 1st
    nn = n[sc].astype("float64")
    log_c = (gammaln(nn + 1) - gammaln(rank + 1.0) - gammaln(nn - rank + 1)) / math.log(2)
    ps = pv[order]
    gain = np.where(ps <= p.novel_p, rank * -np.log2(np.maximum(ps, 1e-300)) - log_c, 0.0)
    best_gain = np.maximum.reduceat(gain, starts)
    at_best = gain >= best_gain[sc] - 1e-9
    k_best = np.zeros(n_pairs, dtype=np.int64)
    hit = np.flatnonzero(at_best)
    grp, first_hit = np.unique(sc[hit], return_index=True)
    k_best[grp] = rank[hit[first_hit]]
    k_best = np.where(best_gain > 0, k_best, 0)
    who = f["who_bits"].to_numpy()[order][starts]
    novel = np.zeros(len(f), dtype=bool)
    novel[order] = (rank <= k_best[sc]) | (who[sc] > 0)
    conv = np.maximum(best_gain, 0.0)
    bits = who + conv
    ts = f["ts"].to_numpy()
    first = np.full(n_pairs, np.inf)
    last = np.full(n_pairs, -np.inf)
    np.minimum.at(first, codes[novel], ts[novel])
    np.maximum.at(last, codes[novel], ts[novel])
    out = pd.DataFrame(
        {
            "src": scored.keys.src,
            "dst": scored.keys.dst,
            "score": novelty_from_bits(bits, p.scale_bits),
            "bits": bits,
            "conn": conv,
            "conn_bits": cb[order][starts],
            "who_bits": who,
            "connections": n,
            "novel": np.bincount(codes[novel], minlength=n_pairs),
            "first": np.where(np.isfinite(first), first, np.nan),
            "last": np.where(np.isfinite(last), last, np.nan),
            "best": order[starts],  # position of the pair's most novel connection
            "pair": np.arange(n_pairs),  # code of the pair in scored.keys
        }
    )
    scored.extra["novel"] = novel
    return out.sort_values(["bits", "src", "dst"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def rank_pairs(frame: pd.DataFrame, by: str = "score") -> pd.DataFrame:
    """Per (src, dst): max score, connections, novel connections — for evaluation and reports."""
    g = frame.groupby(["src", "dst"], sort=False)
    out = g.agg(score=(by, "max"), bits=("bits", "max"), connections=("score", "size"))
    return out.sort_values("score", ascending=False).reset_index()


#: slack of the best gain within which the smallest number of novel connections is taken
GAIN_SLACK = 1e-9


def _gain(k: np.ndarray, p: np.ndarray, n: np.ndarray, novel_p: float) -> np.ndarray:
    """The gain of the k most novel connections of a conversation of n when the k-th has
    window p-value p (the expression of `conversations`, element by element)."""
    log_c = (gammaln(n + 1) - gammaln(k + 1.0) - gammaln(n - k + 1)) / math.log(2)
    out: np.ndarray = np.where(p <= novel_p, k * -np.log2(np.maximum(p, 1e-300)) - log_c, 0.0)
    return out


def p_values(conn_bits: np.ndarray, counted: np.ndarray, total: int) -> np.ndarray:
    """Window p-values (`model.window_p_values`) from the per-value counts of the engine:
    `counted` = connections at least as novel as each conn_bits, each source counting at most
    100, out of the window's `total`."""
    out = np.ones(len(conn_bits))
    pos = conn_bits > 0
    ecdf = np.maximum(counted[pos].astype("float64"), 1.0) / total
    out[pos] = np.maximum(ecdf, np.exp2(-conn_bits[pos]))
    return out


def conversations_from_runs(
    src: np.ndarray,
    dst: np.ndarray,
    conn_bits: np.ndarray,
    who_bits: np.ndarray,
    n: np.ndarray,
    counted: np.ndarray,
    total: int,
    params: NoveltyParams,
) -> pd.DataFrame:
    """`conversations` from runs instead of connections: rows grouped by pair and, within a
    pair, one row per distinct conn_bits value, most novel first, with its number of
    connections `n` and `counted` (see `p_values`). Every pair must be complete.

    Within a run the p-value is constant, so the gain k * -log2 p - log2 C(n, k) is convex in
    k and its maximum over the run lies at one of its ends; the first rank within the slack of
    the best is found by bisection inside its run. Returns per pair: src, dst, score, bits,
    conn, conn_bits, who_bits, connections, novel (how many novel connections), everything
    (all of them novel: a pair without history) and level (the conn_bits of its max(novel, 1)-th
    most novel connection)."""
    cols = ["src", "dst", "score", "bits", "conn", "conn_bits", "who_bits", "connections"]
    if not len(src):
        return pd.DataFrame(
            {c: pd.Series([], dtype=object if c in ("src", "dst") else "float64") for c in cols}
            | {"novel": [], "everything": pd.Series([], dtype=bool), "level": []}
        )
    first = np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])]
    starts = np.flatnonzero(first)
    g = np.cumsum(first) - 1
    nf = n.astype("float64")
    size = np.bincount(g, weights=nf)
    cs = np.cumsum(nf)
    before = (cs - nf)[starts]
    end = cs - before[g]  # 1-based rank of a run's last connection within its pair
    begin = end - nf + 1.0
    pv = p_values(conn_bits, counted, total)
    npair = size[g]
    g_begin = _gain(begin, pv, npair, params.novel_p)
    g_end = _gain(end, pv, npair, params.novel_p)
    best = np.maximum.reduceat(np.maximum(g_begin, g_end), starts)
    t = (best - GAIN_SLACK)[g]
    hit = (g_begin >= t) | (g_end >= t)
    hit_rows = np.flatnonzero(hit)
    grp, first_hit = np.unique(g[hit_rows], return_index=True)
    rows = hit_rows[first_hit]
    k = np.zeros(len(starts))
    at_begin = g_begin[rows] >= t[rows]
    k[grp[at_begin]] = begin[rows[at_begin]]
    # inside a run: the gain is below the target up to some rank and above it from there on
    inner = rows[~at_begin]
    lo, hi = begin[inner], end[inner]
    while len(inner) and (hi - lo > 1).any():
        mid = np.floor((lo + hi) / 2)
        ok = _gain(mid, pv[inner], npair[inner], params.novel_p) >= t[inner]
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    k[grp[~at_begin]] = hi
    k = np.where(best > 0, k, 0.0)
    who = who_bits[starts]
    everything = who > 0
    novel = np.where(everything, size, k)
    conv = np.maximum(best, 0.0)
    bits = who + conv
    chosen = np.maximum(k, 1.0)[g]
    at = (begin <= chosen) & (chosen <= end)
    level = np.full(len(starts), -np.inf)
    level[g[at]] = conn_bits[at]
    return pd.DataFrame(
        {
            "src": src[starts],
            "dst": dst[starts],
            "score": novelty_from_bits(bits, params.scale_bits),
            "bits": bits,
            "conn": conv,
            "conn_bits": conn_bits[starts],
            "who_bits": who,
            "connections": size.astype(np.int64),
            "novel": novel.astype(np.int64),
            "everything": everything,
            "level": level,
        }
    )
