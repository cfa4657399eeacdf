"""Benchmark: snapshot metrics of one window with 10^5 hosts and 10^6 edges.

Builds a random power-law-ish directed host graph in memory (heavy-tailed out- and in-activity,
Pareto weights; connection counts geometric; 1-3 destination ports per edge as the edge
histograms hold them), times `graphnet.detectors.snapshots.compute` with the fast engine, then
plain networkx on the same graph: PageRank, HITS and Louvain in full, and exact betweenness
extrapolated from a few BFS sources (an exact run would take about a day). Peak RSS is read from
`resource.getrusage`. No Neo4j round trip.

    python bench/bench_snapshot.py [--hosts 100000] [--edges 1000000] [--nx-sources 8] [--skip-nx]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphnet.detectors.snapshots import SnapshotSettings, compute


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def power_law_edges(hosts: int, edges: int, seed: int = 0) -> pd.DataFrame:
    rs = np.random.RandomState(seed)
    w_out = rs.pareto(1.5, hosts) + 1.0
    w_in = rs.pareto(1.1, hosts) + 1.0
    p_out, p_in = w_out / w_out.sum(), w_in / w_in.sum()
    codes = np.zeros(0, dtype=np.int64)
    while len(codes) < edges:
        need = int((edges - len(codes)) * 1.3) + 16
        s = rs.choice(hosts, need, p=p_out)
        d = rs.choice(hosts, need, p=p_in)
        keep = s != d
        codes = np.unique(np.concatenate([codes, s[keep] * hosts + d[keep]]))
    codes = codes[rs.permutation(len(codes))[:edges]]
    src, dst = codes // hosts, codes % hosts
    names = np.array(
        [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(hosts)], dtype=object
    )
    ports = np.array(["22", "53", "80", "123", "443", "445", "3389", "8080", "dyn"], dtype=object)
    n_ports = rs.randint(1, 4, edges)
    port_lists = [list(ports[rs.randint(0, len(ports), k)]) for k in n_ports]
    return pd.DataFrame(
        {
            "src": names[src],
            "dst": names[dst],
            "conns": rs.geometric(0.2, edges),
            "src_bytes": rs.lognormal(8, 2, edges),
            "dst_bytes": rs.lognormal(9, 2, edges),
            "dport_k": port_lists,
            "dport_distinct": [len(set(x)) for x in port_lists],
        }
    )


def bench_networkx(edges: pd.DataFrame, sources: int, seed: int) -> dict[str, float]:
    import networkx as nx

    out: dict[str, float] = {}
    t = time.perf_counter()
    g = nx.DiGraph()
    g.add_weighted_edges_from(
        zip(edges["src"], edges["dst"], edges["conns"].astype(float), strict=True), weight="conns"
    )
    out["build"] = time.perf_counter() - t
    t = time.perf_counter()
    nx.pagerank(g, weight="conns", tol=1e-10, max_iter=500)
    out["pagerank"] = time.perf_counter() - t
    t = time.perf_counter()
    nx.hits(g, max_iter=1000, tol=1e-8, nstart=dict.fromkeys(g, 1.0))
    out["hits"] = time.perf_counter() - t
    t = time.perf_counter()
    nx.betweenness_centrality(g, k=sources, seed=random.Random(seed))
    per_source = (time.perf_counter() - t) / sources
    out["betweenness_exact_extrapolated"] = per_source * g.number_of_nodes()
    t = time.perf_counter()
    und = nx.Graph()
    und.add_weighted_edges_from(
        zip(edges["src"], edges["dst"], edges["conns"].astype(float), strict=True), weight="conns"
    )
    nx.community.louvain_communities(und, weight="conns", seed=seed)
    out["louvain"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--nx-sources",
        type=int,
        default=8,
        help="BFS sources timed to extrapolate networkx's exact betweenness",
    )
    ap.add_argument("--skip-nx", action="store_true", help="do not run plain networkx")
    args = ap.parse_args()

    t = time.perf_counter()
    edges = power_law_edges(args.hosts, args.edges, args.seed)
    print(
        f"graph: {args.hosts:,} hosts requested, {len(edges):,} edges, "
        f"built in {time.perf_counter() - t:.1f}s; peak RSS {peak_rss_mib():,.0f} MiB"
    )

    settings = SnapshotSettings(engine="fast", seed=args.seed)
    t = time.perf_counter()
    metrics = compute(edges, settings)
    total = time.perf_counter() - t
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in metrics.seconds.items() if k != "total")
    print(
        f"graphnet fast engine: {total:.1f}s total ({phases}); {len(metrics.hosts):,} hosts, "
        f"betweenness sampled k={metrics.betweenness_k}, {metrics.communities} communities, "
        f"modularity {metrics.modularity:.3f}; peak RSS {peak_rss_mib():,.0f} MiB"
    )

    if args.skip_nx:
        return
    nxt = bench_networkx(edges, args.nx_sources, args.seed)
    measured = nxt["build"] + nxt["pagerank"] + nxt["hits"] + nxt["louvain"]
    print(
        f"plain networkx: build {nxt['build']:.1f}s, pagerank {nxt['pagerank']:.1f}s, "
        f"hits {nxt['hits']:.1f}s, louvain {nxt['louvain']:.1f}s (measured: {measured:.1f}s); "
        f"exact betweenness EXTRAPOLATED from {args.nx_sources} BFS sources: "
        f"{nxt['betweenness_exact_extrapolated']:,.0f}s "
        f"(~{nxt['betweenness_exact_extrapolated'] / 3600:.1f} h); "
        f"peak RSS {peak_rss_mib():,.0f} MiB"
    )
    print(
        f"speed-up (networkx measured + extrapolated exact betweenness vs graphnet): "
        f"{(measured + nxt['betweenness_exact_extrapolated']) / total:,.0f}x"
    )


if __name__ == "__main__":
    main()
