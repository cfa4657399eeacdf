"""Bits per component against a pair's fingerprint, backed off to wider levels, and the
"who" parts (vectorised).

For a component value, the predictive probability for the pair is a chain of Dirichlet
smoothings global -> zone pair -> subnet pair -> client/server role -> pair (the pair level
averaging several concentrations by their posterior, `pair_weights`), with the expected bits
of the same chain alongside; `who` gives the new-pair and new-host bits from the smoothed
rates of new peers in the baseline. The formulas are in `model`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from graphnet import ingest
from graphnet.config import Settings
from graphnet.detectors.novelty import histograms
from graphnet.detectors.novelty.fingerprints import Fingerprints
from graphnet.detectors.novelty.parts import NoveltyParams
from graphnet.detectors.novelty.scored import PairKeys


def places(
    fp: Fingerprints,
    ids: np.ndarray,
    codes: np.ndarray,
    hosts_info: Mapping[str, Mapping[str, Any]] | None,
    settings: Settings | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Subnet code (-1 when the fingerprints know no such subnet) and zone (1 internal) of the
    hosts `ids` (fingerprint host codes `codes`, -1 unknown): known hosts from the
    fingerprint, others from `hosts_info` (Host.subnet and Host.internal), else ingest's
    classification; no subnet -> the host id."""
    known = codes >= 0
    k = np.maximum(codes, 0)
    sub = np.where(known, fp.host_subnet[k] if len(fp.hosts) else -1, -1).astype(np.int64)
    zone = np.where(known, fp.host_zone[k] if len(fp.hosts) else 0, 0).astype(np.int64)
    unknown = np.flatnonzero(~known)
    if len(unknown):
        classify = ingest.host_classifier(settings.internal_cidrs if settings else ())
        u_codes, uniq = pd.factorize(ids[unknown])
        labels, zones = [], []
        for h in uniq:  # once per distinct new host
            info = (hosts_info or {}).get(str(h)) or classify(str(h))
            lab = info.get("subnet")
            labels.append(str(lab) if lab is not None else str(h))
            zones.append(1 if info.get("internal") else 0)
        sub[unknown] = fp.subnets.get_indexer(pd.Index(labels, dtype=object))[u_codes]
        zone[unknown] = np.asarray(zones, dtype=np.int64)[u_codes]
    return sub, zone


def pair_keys(
    fp: Fingerprints,
    src: np.ndarray | pd.Series,
    dst: np.ndarray | pd.Series,
    hosts_info: Mapping[str, Mapping[str, Any]] | None,
    settings: Settings | None,
) -> PairKeys:
    if fp.apart:
        raise ValueError(
            f"the {', '.join(fp.apart)} levels of these fingerprints are stored apart: "
            "score through pair_view"
        )
    s_codes, s_uniq = pd.factorize(src, sort=False)  # Arrow strings are factorised natively
    d_codes, d_uniq = pd.factorize(dst, sort=False)
    nd = max(len(d_uniq), 1)
    w_codes, w_uniq = pd.factorize(s_codes.astype(np.int64) * nd + d_codes, sort=False)
    ws = np.asarray(w_uniq, dtype=np.int64) // nd
    wd = np.asarray(w_uniq, dtype=np.int64) % nd
    s_ids = np.asarray(s_uniq, dtype=object)[ws]
    d_ids = np.asarray(d_uniq, dtype=object)[wd]
    src_fp = fp.host_codes(s_ids)
    dst_fp = fp.host_codes(d_ids)
    pair = fp.pair_codes(src_fp, dst_fp)

    s_sub, s_zone = places(fp, s_ids, src_fp, hosts_info, settings)
    d_sub, d_zone = places(fp, d_ids, dst_fp, hosts_info, settings)
    sp = fp.subnet_pair_codes(s_sub, d_sub)
    return PairKeys(
        w_codes.astype(np.int64),
        s_ids,
        d_ids,
        src_fp,
        dst_fp,
        pair,
        sp,
        s_zone,
        d_zone,
        s_sub,
        d_sub,
    )


def _level_stats(
    fp: Fingerprints, comp: str, level: str, key: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n(key, value), N(key), H(key) at one level (zeros for unknown keys)."""
    if level in fp.apart:
        raise ValueError(f"the {level} level is stored apart: score through pair_view")
    lh = fp.levels[comp][level]
    if len(lh.total) == 0:
        z = np.zeros(len(key))
        return z, z, z
    kk = lh.local(key)  # a view's level numbers its keys from 0
    ok = kk >= 0
    kk = np.maximum(kk, 0)
    N = np.where(ok, lh.total[kk], 0.0)
    H = np.where(ok, lh.entropy[kk], 0.0)
    return lh.lookup(key, value), N, H


def vocab_size(fp: Fingerprints, comp: str) -> int:
    voc = fp.vocab[comp]
    return len(voc) - (1 if comp in histograms.FOLDED and histograms.OTHER in voc else 0)


def _role(
    fp: Fingerprints,
    comp: str,
    keys: Mapping[str, np.ndarray],
    value: np.ndarray,
    p: NoveltyParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive probability and expected bits up to the role level (the pair's prior).
    Returns (P_role, E_role, P_global)."""
    a, a0 = p.alpha, p.alpha_global
    V = vocab_size(fp, comp)
    n, N, H = _level_stats(fp, comp, "global", keys["global"], value)
    P_g = (n + a0 / (V + 1)) / (N + a0)
    E_g = (N * H + a0 * math.log2(V + 1)) / (N + a0)
    n, N, H = _level_stats(fp, comp, "zone_pair", keys["zone_pair"], value)
    P_z = (n + a * P_g) / (N + a)
    E_z = (N * H + a * E_g) / (N + a)
    n, N, H = _level_stats(fp, comp, "subnet_pair", keys["subnet_pair"], value)
    P_sp = (n + a * P_z) / (N + a)
    E_sp = (N * H + a * E_z) / (N + a)
    n, N, H = _level_stats(fp, comp, "client", keys["client"], value)
    P_c = (n + a * P_sp) / (N + a)
    E_c = (N * H + a * E_sp) / (N + a)
    n, N, H = _level_stats(fp, comp, "server", keys["server"], value)
    P_s = (n + a * P_sp) / (N + a)
    E_s = (N * H + a * E_sp) / (N + a)
    return 0.5 * (P_c + P_s), 0.5 * (E_c + E_s), P_g


def pair_weights(fp: Fingerprints, comp: str, p: NoveltyParams) -> np.ndarray:
    """Posterior weight of each pair-level concentration, per pair (pairs x len(pair_alphas)).

    log ML_k(pair) = lgamma(a_k) - lgamma(N + a_k)
                     + sum_v [lgamma(n_v + a_k pi_v) - lgamma(a_k pi_v)],  pi = P_role,
    with a uniform prior over the grid. A pair that behaves like its hosts' roles gets large
    concentrations (its rare values are judged by the role), a pair with its own habit (e.g.
    every connection times out while its hosts' others complete) gets small ones."""
    cache = fp.meta.setdefault("_pair_weights", {})
    ck = (comp, p.alpha, p.alpha_global, p.pair_alphas)
    if ck in cache:
        return np.asarray(cache[ck])
    w = _pair_weights(fp, comp, p)
    cache[ck] = w
    return w


def _pair_weights(fp: Fingerprints, comp: str, p: NoveltyParams) -> np.ndarray:
    """`pair_weights`, not cached (scoring keeps only the two coefficients made of them)."""
    lh = fp.levels[comp]["pair"]
    alphas = np.asarray(p.pair_alphas, dtype="float64")
    P = fp.n_pairs
    if P == 0 or len(lh.keys) == 0:
        return np.full((P, len(alphas)), 1.0 / len(alphas))
    pair = lh.keys // lh.V
    value = lh.keys % lh.V
    pairs = fp.pairs
    keys = {
        "global": np.zeros(len(pair), dtype=np.int64),
        "zone_pair": pairs["zp"].to_numpy()[pair],
        "subnet_pair": pairs["sp"].to_numpy()[pair],
        "client": pairs["src"].to_numpy()[pair],
        "server": pairs["dst"].to_numpy()[pair],
    }
    pi, _, _ = _role(fp, comp, keys, value, p)
    pi = np.maximum(pi, 1e-300)
    N = lh.total
    ll = np.empty((P, len(alphas)))
    for k, a in enumerate(alphas):
        row = gammaln(lh.n + a * pi) - gammaln(a * pi)
        ll[:, k] = gammaln(a) - gammaln(N + a) + np.bincount(pair, weights=row, minlength=P)
    ll -= ll.max(axis=1, keepdims=True)
    w = np.exp(ll)
    w /= w.sum(axis=1, keepdims=True)
    return w


def chain(
    fp: Fingerprints,
    comp: str,
    keys: Mapping[str, np.ndarray],
    value: np.ndarray,
    p: NoveltyParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive probability and expected bits of `value` for the pair, along the backoff
    chain. Returns (P_pair, E_pair, P_global)."""
    P_r, E_r, P_g = _role(fp, comp, keys, value, p)
    pair = keys["pair"]
    known = pair >= 0
    P_p = P_r.copy()
    E_p = E_r.copy()
    if known.any():
        # sum_k w_k (n + a_k P_r) / (N + a_k) = n * c1 + P_r * c2, per pair constants
        c1, c2 = _pair_coefficients(fp, comp, p)
        pk = pair[known]
        lh = fp.levels[comp]["pair"]
        n = lh.lookup(pk, value[known])
        P_p[known] = n * c1[pk] + P_r[known] * c2[pk]
        E_p[known] = lh.total[pk] * lh.entropy[pk] * c1[pk] + E_r[known] * c2[pk]
    return P_p, E_p, P_g


def _pair_coefficients(
    fp: Fingerprints, comp: str, p: NoveltyParams
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: c1 = sum_k w_k / (N + a_k) and c2 = sum_k w_k a_k / (N + a_k) (cached; the
    weights themselves are not: pairs x alphas numbers per component)."""
    cache = fp.meta.setdefault("_pair_coefficients", {})
    ck = (comp, p.alpha, p.alpha_global, p.pair_alphas)
    if ck not in cache:
        weights = fp.meta.get("_pair_weights", {}).get(ck)
        w = np.asarray(weights) if weights is not None else _pair_weights(fp, comp, p)
        a = np.asarray(p.pair_alphas, dtype="float64")[None, :]
        N = fp.levels[comp]["pair"].total[:, None]
        cache[ck] = ((w / (N + a)).sum(axis=1), (w * a / (N + a)).sum(axis=1))
    c1, c2 = cache[ck]
    return c1, c2


def _rate(
    w: Mapping[str, Any], chain: Sequence[tuple[str, np.ndarray]], base: float, a: float
) -> np.ndarray:
    """A smoothed rate backed off along `chain` (coarse to fine): at each level with a known
    key, r = (new + a * r_coarser) / (opportunities + a)."""
    n = len(chain[0][1]) if chain else 0
    r = np.full(n, base)
    for name, key in chain:
        new = np.asarray(w[f"{name}_new"])
        opp = np.asarray(w[f"{name}_opp"])
        ok = key >= 0
        if not len(new) or not ok.any():
            continue
        k = np.maximum(key, 0)
        r = np.where(ok, (new[k] + a * r) / (opp[k] + a), r)
    return r


def who(fp: Fingerprints, pk: PairKeys, p: NoveltyParams) -> tuple[np.ndarray, np.ndarray]:
    """new_pair and new_host bits per distinct pair of the observations (see _who_stats for
    the levels)."""
    w = fp.who
    a = p.alpha_who
    n = len(pk.pair)
    if not w or "g_opp" not in w:
        return np.zeros(n), np.zeros(n)

    def seen(host: np.ndarray, side: str) -> np.ndarray:
        flags = np.asarray(w[f"is_{side}"])
        return (host >= 0) & (flags[np.maximum(host, 0)] if len(flags) else False)

    client, server = seen(pk.src_fp, "src"), seen(pk.dst_fp, "dst")
    g = (float(w["g_new"]) + 1.0) / (float(w["g_opp"]) + 2.0)
    zp = pk.src_zone * 2 + pk.dst_zone
    shared = [("zp", zp), ("sp", pk.sp)]
    r_c = _rate(w, [*shared, ("c", np.where(client, pk.src_fp * 2 + pk.dst_zone, -1))], g, a)
    r_s = _rate(w, [*shared, ("s", np.where(server, pk.dst_fp * 2 + pk.src_zone, -1))], g, a)
    new_pair = np.where(pk.pair < 0, -np.log2(0.5 * (r_c + r_s)), 0.0)

    def new_role(prefix: str, zone: np.ndarray, sub: np.ndarray) -> np.ndarray:
        base = (float(w[f"{prefix}_g_new"]) + 1.0) / (float(w[f"{prefix}_g_opp"]) + 2.0)
        return -np.log2(_rate(w, [(f"{prefix}_zone", zone), (f"{prefix}_sub", sub)], base, a))

    new_host = np.where(client, 0.0, new_role("hc", pk.src_zone, pk.src_sub)) + np.where(
        server, 0.0, new_role("hs", pk.dst_zone, pk.dst_sub)
    )
    return new_pair, new_host
