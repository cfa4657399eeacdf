"""A slow per-row reference implementation of the connection score, with dictionaries.

It is the independent yardstick the vectorised scorer (`model.score_connections`) is checked
and benchmarked against; graphnet itself never uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from graphnet import features, ingest
from graphnet.detectors.novelty.backoff import pair_weights, vocab_size
from graphnet.detectors.novelty.fingerprints import Fingerprints
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.parts import GROUPS, NoveltyParams


class ReferenceScorer:
    """A straightforward per-row implementation of the same formulas with dictionaries.

    Slow on purpose: it is the yardstick the vectorised scorer is checked and benchmarked
    against (tests/unit/test_novelty.py, bench/bench_score.py). The fitted model (level
    histograms, pair concentration weights, who statistics) is taken from the fingerprint."""

    def __init__(self, fp: Fingerprints, params: NoveltyParams | None = None) -> None:
        self.fp = fp
        self.p = params or NoveltyParams()
        self.host = {str(h): i for i, h in enumerate(fp.hosts)}
        self.classify = ingest.host_classifier(())
        self.subnet = {str(s): i for i, s in enumerate(fp.subnets)}
        self.H = len(fp.hosts)
        self.S = len(fp.subnets)
        self.pair = {int(k): i for i, k in enumerate(fp.pair_keys)}
        self.sp = {int(k): i for i, k in enumerate(fp.sp_keys)}
        self.who: dict[str, Any] = {
            k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in fp.who.items()
        }
        # the per-pair concentration weights are part of the fitted model
        self.weights = {c: pair_weights(fp, c, self.p).tolist() for c in COMPONENTS}
        self.counts: dict[str, dict[str, dict[tuple[int, str], float]]] = {}
        for comp in COMPONENTS:
            self.counts[comp] = {}
            voc = fp.vocab[comp]
            for lvl, lh in fp.levels[comp].items():
                d: dict[tuple[int, str], float] = {}
                for key, n in zip(lh.keys.tolist(), lh.n.tolist(), strict=True):
                    d[(key // lh.V, str(voc[key % lh.V]))] = n
                self.counts[comp][lvl] = d

    def _where(self, host: str, code: int) -> tuple[int, int]:
        """(subnet code or -1, zone)"""
        if code >= 0:
            return int(self.fp.host_subnet[code]), int(self.fp.host_zone[code])
        info = self.classify(host)
        label = info["subnet"] if info["subnet"] is not None else host
        return self.subnet.get(label, -1), 1 if info["internal"] else 0

    def _n(self, comp: str, lvl: str, key: int, value: str) -> tuple[float, float, float]:
        if key < 0:
            return 0.0, 0.0, 0.0
        lh = self.fp.levels[comp][lvl]
        d = self.counts[comp][lvl]
        if (key, value) in d:
            n = d[(key, value)]
        else:
            n = lh.other_n[key] / lh.other_m[key] if len(lh.other_n) else 0.0
        return n, float(lh.total[key]), float(lh.entropy[key])

    def _rate(self, chain: list[tuple[str, int]], r: float) -> float:
        a = self.p.alpha_who
        for name, key in chain:
            if key >= 0:
                r = (self.who[f"{name}_new"][key] + a * r) / (self.who[f"{name}_opp"][key] + a)
        return r

    def score_row(self, src: str, dst: str, comps: Mapping[str, str]) -> float:
        fp, p = self.fp, self.p
        s = self.host.get(src, -1)
        d = self.host.get(dst, -1)
        pair = self.pair.get(s * self.H + d, -1) if s >= 0 and d >= 0 else -1
        ss, zs = self._where(src, s)
        ds, zd = self._where(dst, d)
        sp = self.sp.get(ss * self.S + ds, -1) if ss >= 0 and ds >= 0 else -1
        zp = zs * 2 + zd
        x: dict[str, float] = {}
        a, a0 = p.alpha, p.alpha_global
        for comp in COMPONENTS:
            v = comps[comp]
            V = vocab_size(fp, comp)
            n, N, H = self._n(comp, "global", 0, v)
            P = (n + a0 / (V + 1)) / (N + a0)
            E = (N * H + a0 * math.log2(V + 1)) / (N + a0)
            for lvl, key in (("zone_pair", zp), ("subnet_pair", sp)):
                n, N, H = self._n(comp, lvl, key, v)
                P, E = (n + a * P) / (N + a), (N * H + a * E) / (N + a)
            nc, Nc, Hc = self._n(comp, "client", s, v)
            ns, Ns, Hs = self._n(comp, "server", d, v)
            Pr = 0.5 * ((nc + a * P) / (Nc + a) + (ns + a * P) / (Ns + a))
            Er = 0.5 * ((Nc * Hc + a * E) / (Nc + a) + (Ns * Hs + a * E) / (Ns + a))
            if pair >= 0:
                n, N, H = self._n(comp, "pair", pair, v)
                P = E = 0.0
                for w_k, a_k in zip(self.weights[comp][pair], p.pair_alphas, strict=True):
                    P += w_k * (n + a_k * Pr) / (N + a_k)
                    E += w_k * (N * H + a_k * Er) / (N + a_k)
            else:
                P, E = Pr, Er
            x[comp] = max(-math.log2(P) - E, 0.0)
        w = self.who
        client = s >= 0 and bool(w["is_src"][s])
        server = d >= 0 and bool(w["is_dst"][d])
        if pair < 0:
            g = (w["g_new"] + 1) / (w["g_opp"] + 2)
            shared = [("zp", zp), ("sp", sp)]
            rc = self._rate([*shared, ("c", s * 2 + zd if client else -1)], g)
            rs = self._rate([*shared, ("s", d * 2 + zs if server else -1)], g)
            x["new_pair"] = -math.log2(0.5 * (rc + rs))
        else:
            x["new_pair"] = 0.0
        nh = 0.0
        for prefix, known, zone, sub in (("hc", client, zs, ss), ("hs", server, zd, ds)):
            if not known:
                base = (w[f"{prefix}_g_new"] + 1) / (w[f"{prefix}_g_opp"] + 2)
                nh -= math.log2(
                    self._rate([(f"{prefix}_zone", zone), (f"{prefix}_sub", sub)], base)
                )
        x["new_host"] = nh
        total = 0.0
        for g_name, members in GROUPS.items():
            xs = [x[m] for m in members]
            mx = max(xs)
            rho = 1.0 if g_name in p.additive else p.rho
            total += p.weight(g_name) * (mx + rho * (sum(xs) - mx))
        return total

    def score(self, conns: pd.DataFrame, comps: pd.DataFrame | None = None) -> np.ndarray:
        comps = comps if comps is not None else features.components(conns)
        cols = {c: comps[c].astype(str).tolist() for c in COMPONENTS}
        out = []
        for i, (src, dst) in enumerate(zip(conns["src"], conns["dst"], strict=True)):
            row = {c: cols[c][i] for c in COMPONENTS}
            out.append(self.score_row(str(src), str(dst), row))
        return np.asarray(out)
