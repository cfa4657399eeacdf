"""Connections grouped per (src, dst) of the window: how novel each conversation is as a
whole (`conversations`), and a plain per-pair ranking (`rank_pairs`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import gammaln

from graphnet.detectors.novelty.parts import novelty_from_bits
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
