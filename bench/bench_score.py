"""Benchmark: novelty scoring of connections, and fingerprint building for 10^6 edges.

Scoring: a synthetic enterprise (clients with 3-6 habitual servers each, per-pair habits, 3%
odd connection states, some new pairs and new hosts in the scored window) with a baseline of
four weekly windows; the scored window's connections are scored by the vectorised scorer
(`detectors.novelty.model.score_connections`, components precomputed), then the whole window step
(`scoring.score_frame`: scores + conversations + findings with explanations), and a
straightforward per-row Python scorer (`ReferenceScorer`, same formulas with dictionaries) on a
slice of the same data; both are reported in connections per second, with their ratio and the
largest difference between them on the slice. `features.components` (not part of scoring, shared
with ingest) is timed separately.

Fingerprints: an Arrow table shaped like the rows of `fingerprint_edges.cypher` with 10^6
TALKED edges (4 windows x 250 k pairs, ~30 histogram entries per edge) -> code form
(`edge_histograms_from_table`) -> `fingerprints.build` (all levels, who statistics); the
driver's list-of-dicts -> Arrow step is measured on a sample and extrapolated. No Neo4j.

    python bench/bench_score.py [--conns 1000000] [--baseline-conns 500000] [--edges 1000000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphnet import features, windows
from graphnet.detectors.novelty import baseline, fingerprints, histograms, scoring
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.model import score_connections
from graphnet.detectors.novelty.reference import ReferenceScorer
from graphnet.generate import novelty_frames

WEEK = 7 * 86400.0
SERVICES = list(novelty_frames.SERVICES.items())
ODD = novelty_frames.ODD_STATES


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ip(prefix: str, i: np.ndarray) -> np.ndarray:
    return np.array([f"{prefix}.{(k >> 8) & 255}.{k & 255}" for k in i], dtype=object)


class Network:
    def __init__(self, seed: int, clients: int = 20000, servers: int = 1000) -> None:
        rs = np.random.RandomState(seed)
        self.rs = rs
        self.clients = ip("10.1", np.arange(clients))
        self.servers = ip("10.2", np.arange(servers))
        k = rs.randint(3, 7, clients)
        self.src = np.repeat(np.arange(clients), k)
        pop = rs.pareto(1.2, servers) + 1
        self.dst = rs.choice(servers, len(self.src), p=pop / pop.sum())
        offered = rs.randint(0, len(SERVICES) - 2, (servers, 2))  # not 'dead'/'alt-http'
        self.svc = offered[self.dst, rs.randint(0, 2, len(self.src))]
        self.peak = rs.uniform(8, 17, len(self.src))
        w = rs.pareto(1.5, len(self.src)) + 1
        self.w = w / w.sum()

    def window(self, start: float, n: int, new_share: float = 0.0) -> pd.DataFrame:
        rs = self.rs
        pair = rs.choice(len(self.src), n, p=self.w)
        src = self.clients[self.src[pair]]
        dst = self.servers[self.dst[pair]]
        svc = self.svc[pair]
        if new_share:
            m = rs.rand(n) < new_share  # new pairs, some from new hosts
            src = src.copy()
            dst = dst.copy()
            dst[m] = self.servers[rs.randint(0, len(self.servers), m.sum())]
            fresh = m & (rs.rand(n) < 0.2)
            src[fresh] = ip("10.3", rs.randint(0, 500, fresh.sum()))
        table = np.array([v for _, v in SERVICES], dtype=object)
        proto = np.array([t[0] for t in table], dtype=object)[svc]
        service = np.array([t[1] for t in table], dtype=object)[svc]
        port = np.array([t[2] for t in table])[svc]
        state = np.array([t[3] for t in table], dtype=object)[svc].copy()
        hist = np.array([t[4] for t in table], dtype=object)[svc].copy()
        lsb = np.array([t[5] for t in table])[svc]
        ldb = np.array([t[6] for t in table])[svc]
        odd = (rs.rand(n) < 0.03) & (proto == "tcp")
        pick = rs.randint(0, len(ODD), n)
        state[odd] = np.array([s for s, _ in ODD], dtype=object)[pick[odd]]
        hist[odd] = np.array([h for _, h in ODD], dtype=object)[pick[odd]]
        silent = np.isin(state, ["S0", "REJ"])
        sb = np.where(silent | (lsb < 0), 0.0, np.round(np.exp2(lsb + rs.randn(n) * 0.6)))
        db = np.where(silent | (ldb < 0), 0.0, np.round(np.exp2(ldb + rs.randn(n) * 0.6)))
        day = np.where(rs.rand(n) < 0.05, rs.randint(5, 7, n), rs.randint(0, 5, n))
        hour = np.clip(rs.normal(self.peak[pair], 1.5), 0, 23.99)
        return pd.DataFrame(
            {
                "ts": start + day * 86400.0 + hour * 3600.0,
                "uid": np.char.add("C", np.arange(n).astype(str)).astype(object),
                "src": src,
                "dst": dst,
                "sport": rs.randint(49152, 65535, n).astype("int32"),
                "dport": port.astype("int32"),
                "proto": proto,
                "service": service,
                "duration": rs.exponential(2.0, n),
                "src_bytes": sb,
                "dst_bytes": db,
                "src_pkts": np.where(silent, 1.0, np.ceil(sb / 900) + 3),
                "dst_pkts": np.where(silent, 0.0, np.ceil(db / 1200) + 2),
                "conn_state": state,
                "history": hist,
                "line": np.arange(1, n + 1, dtype=np.int64),
            }
        )


def bench_scoring(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    net = Network(args.seed)
    start = novelty_frames.EPOCH
    base = pd.concat(
        [net.window(start + i * WEEK, args.baseline_conns) for i in range(4)], ignore_index=True
    )
    obs = net.window(start + 4 * WEEK, args.conns, new_share=0.02)
    as_of = windows.window_of(start + 4 * WEEK)
    print(
        f"data: {len(base):,} baseline + {len(obs):,} scored connections "
        f"({time.perf_counter() - t0:.1f}s to generate)"
    )

    t = time.perf_counter()
    fp = fingerprints.fingerprints_from_connections(base, as_of)
    print(
        f"fingerprints from baseline connections (ingest.transform + build): "
        f"{time.perf_counter() - t:.1f}s, {fp.n_pairs:,} pairs, {len(fp.hosts):,} hosts"
    )
    del base

    t = time.perf_counter()
    comps = features.components(obs)
    t_comp = time.perf_counter() - t
    print(
        f"features.components (shared with ingest, not scoring): {t_comp:.2f}s "
        f"= {len(obs) / t_comp:,.0f} conns/s"
    )

    score_connections(fp, obs.head(1000), comps=comps.head(1000))  # warm caches (pair weights)
    best = np.inf
    for _ in range(args.repeat):
        t = time.perf_counter()
        scored = score_connections(fp, obs, comps=comps, explain_threshold=None)
        best = min(best, time.perf_counter() - t)
    rate = len(obs) / best
    print(f"vectorised scoring (score_connections): {best:.2f}s = {rate:,.0f} conns/s")
    t = time.perf_counter()
    ws = scoring.score_frame(fp, obs, as_of, comps=comps)
    t_win = time.perf_counter() - t
    print(
        f"window step (score_frame: scores + conversations + findings): {t_win:.2f}s "
        f"= {len(obs) / t_win:,.0f} conns/s, {len(ws.conversations):,} conversations, "
        f"{len(ws.findings)} findings"
    )
    print(f"end to end incl. features.components: {len(obs) / (t_win + t_comp):,.0f} conns/s")

    t = time.perf_counter()
    ref = ReferenceScorer(fp)
    t_init = time.perf_counter() - t
    sl = obs.sample(args.slice, random_state=1)
    t = time.perf_counter()
    want = ref.score(sl, comps.loc[sl.index])
    t_ref = time.perf_counter() - t
    ref_rate = len(sl) / t_ref
    got = scored.frame.loc[sl.index, "bits"].to_numpy()
    print(
        f"per-row Python reference on {len(sl):,} rows: {ref_rate:,.0f} conns/s "
        f"(+{t_init:.1f}s to build its dictionaries); vectorised/reference = "
        f"{rate / ref_rate:,.0f}x; max |difference| = {np.abs(got - want).max():.2e} bits"
    )
    ok = "OK" if rate >= 500_000 else "BELOW TARGET"
    print(f"target >= 500,000 conns/s: {ok}")


def edge_table(n_edges: int, seed: int = 0) -> pa.Table:
    """An Arrow table shaped like fingerprint_edges.cypher rows, built without Python loops
    over edges."""
    rs = np.random.RandomState(seed)
    n_pairs = n_edges // 4
    hosts = 100_000
    s = rs.randint(0, hosts, n_pairs)
    d = (s + 1 + rs.randint(0, hosts - 1, n_pairs)) % hosts
    names = ip("10.8", np.arange(hosts)).astype(str)
    src = np.tile(names[s], 4)
    dst = np.tile(names[d], 4)
    win = np.repeat(np.array(["2024-W01", "2024-W02", "2024-W03", "2024-W04"]), n_pairs)
    cols: dict[str, pa.Array] = {
        "src": pa.array(src),
        "dst": pa.array(dst),
        "window": pa.array(win),
        "conns": pa.array(rs.geometric(0.05, n_edges).astype(np.int64)),
        "src_subnet": pa.array(np.char.add(np.char.rpartition(src, ".")[:, 0], ".0/24")),
        "dst_subnet": pa.array(np.char.add(np.char.rpartition(dst, ".")[:, 0], ".0/24")),
        "src_internal": pa.array(np.ones(n_edges, dtype=bool)),
        "dst_internal": pa.array(np.ones(n_edges, dtype=bool)),
    }
    sizes = {"proto": (1, 2), "service": (1, 2), "dport": (1, 3), "conn_state": (1, 3),
             "history": (2, 5), "orig_act": (1, 2), "resp_act": (1, 3), "hour": (3, 8),
             "daytype": (1, 3), "src_bytes_bin": (2, 5), "dst_bytes_bin": (2, 5),
             "src_pkts_bin": (1, 4), "dst_pkts_bin": (1, 4)}  # fmt: skip
    vocab = {c: np.array([f"{c[:3]}{i}" for i in range(40)]) for c in COMPONENTS}
    for comp in COMPONENTS:
        lo, hi = sizes[comp]
        k = rs.randint(lo, hi, n_edges)
        offsets = np.concatenate([[0], np.cumsum(k)]).astype(np.int32)
        vals = vocab[comp][rs.randint(0, 40, offsets[-1])]
        flat = pa.array(vals.astype(object), type=pa.string())
        cols[f"{comp}_k"] = pa.ListArray.from_arrays(pa.array(offsets), flat)
        cols[f"{comp}_n"] = pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(rs.geometric(0.2, offsets[-1]).astype(np.int64))
        )
    cols["dport_distinct"] = pa.array(rs.randint(1, 3, n_edges))
    cols["history_distinct"] = pa.array(rs.randint(2, 5, n_edges))
    return pa.table(cols)


def bench_fingerprints(args: argparse.Namespace) -> None:
    t = time.perf_counter()
    table = edge_table(args.edges, args.seed)
    entries = sum(len(table.column(f"{c}_k").combine_chunks().flatten()) for c in COMPONENTS)
    print(
        f"\nedges: {table.num_rows:,} TALKED edges, {entries:,} histogram entries "
        f"({time.perf_counter() - t:.1f}s to generate)"
    )
    t = time.perf_counter()
    hist = histograms.edge_histograms_from_table(table)
    t_conv = time.perf_counter() - t
    t = time.perf_counter()
    fp = fingerprints.build("2024-W05", hist)
    t_build = time.perf_counter() - t
    print(
        f"fingerprint build, in memory: rows -> codes {t_conv:.1f}s + build (6 levels x 13 "
        f"components, who statistics) {t_build:.1f}s = {t_conv + t_build:.1f}s for "
        f"{fp.n_pairs:,} pairs, {len(fp.hosts):,} hosts"
    )
    sample = table.slice(0, 100_000).to_pylist()
    t = time.perf_counter()
    histograms.edge_histograms_from_records(sample)
    t_rec = time.perf_counter() - t
    print(
        f"driver records (list of dicts) -> codes: {t_rec:.1f}s per 100k edges "
        f"(~{t_rec * table.num_rows / 100_000:.0f}s per {table.num_rows:,})"
    )
    t = time.perf_counter()
    rows = baseline.fingerprint_rows(fp)
    print(
        f"Neo4j rows for the stored fingerprints: {len(rows):,} in {time.perf_counter() - t:.1f}s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=1_000_000, help="connections scored")
    ap.add_argument("--baseline-conns", type=int, default=500_000, help="per baseline window")
    ap.add_argument("--edges", type=int, default=1_000_000, help="edges for the fingerprint build")
    ap.add_argument("--slice", type=int, default=2000, help="rows for the per-row reference")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-fingerprints", action="store_true")
    args = ap.parse_args()
    bench_scoring(args)
    if not args.skip_fingerprints:
        bench_fingerprints(args)
    print(f"\npeak RSS {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
