"""Bulk load benchmark: import files for an empty graph and `neo4j-admin database import full`.

    .venv/bin/python bench/bench_bulk.py [--edges 1000000] [--hosts 100000] [--bolt 50000]

Builds synthetic edges with graphnet's own accumulator (one week, the edge properties ingest
writes), turns them into the rows the Bolt path writes (`EdgeRows.slice`, `host_rows`), writes
the import files (gzip and plain), loads each into a throw-away local Neo4j ("bench-bulk",
free ports) with `graphnet.store.bulk.load_local`, and prints: rows/s of each step, the stop /
import / start / schema-and-fixups seconds, and, as the baseline, the Bolt statements
(`hosts_upsert` + `edges_create`, as ingest batches them) on the first `--bolt` edges.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scratch import scratch_neo4j

from graphnet import accumulate
from graphnet.config import graphnet_home
from graphnet.ingest import host_classifier, host_rows
from graphnet.store import open_store
from graphnet.store.bulk import load_local, remove_import_files, write_import_files

T0 = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday


def frame(n: int, hosts: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ips = np.array(
        [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(hosts)], dtype=object
    )
    return pd.DataFrame(
        {
            "ts": T0 + rng.random(n) * 6 * 86400,
            "uid": "C",
            "src": ips[rng.integers(0, hosts, n)],
            "dst": ips[rng.integers(0, hosts, n)],
            "sport": rng.integers(1024, 65535, n).astype("int32"),
            "dport": rng.choice([22, 53, 80, 443, 3389, 8080, 50000], n).astype("int32"),
            "proto": rng.choice(["tcp", "udp", "icmp"], n),
            "service": rng.choice(["-", "ssl", "http", "dns", "ssh"], n),
            "duration": rng.exponential(3, n),
            "src_bytes": rng.integers(0, 100000, n).astype(float),
            "dst_bytes": rng.integers(0, 100000, n).astype(float),
            "src_pkts": rng.integers(1, 100, n).astype(float),
            "dst_pkts": rng.integers(1, 100, n).astype(float),
            "conn_state": rng.choice(["SF", "S0", "REJ", "RSTO"], n),
            "history": rng.choice(["ShADadFf", "S", "ShR", "Dd"], n),
            "line": np.arange(n),
        }
    )


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--bolt", type=int, default=50_000, help="edges for the Bolt baseline")
    args = ap.parse_args()

    t = time.perf_counter()
    acc = accumulate.EdgeAccumulator()
    for lo in range(0, args.edges, 500_000):
        acc.add_frame(frame(min(500_000, args.edges - lo), args.hosts, lo), "week")
    rows = acc.rows({c: 10 for c in accumulate.EDGE_COMPONENTS}, 8)
    print(f"aggregate: {len(rows):,} edges in {time.perf_counter() - t:.1f} s", flush=True)
    t, c = time.perf_counter(), cpu()
    edges = []
    for lo in range(0, len(rows), 50_000):
        edges += rows.slice(lo, lo + 50_000)
    hosts = host_rows(rows, host_classifier())
    wall = time.perf_counter() - t
    print(
        f"rows (EdgeRows.slice, host_rows): {len(edges):,} edges, {len(hosts):,} hosts in "
        f"{wall:.1f} s ({len(edges) / wall:,.0f} edges/s, CPU {cpu() - c:.1f} s)",
        flush=True,
    )
    vocab = [str(v) for v in np.unique(rows.h_value.astype(str))]
    meta = [{"key": "graph", "window_kind": "week", "created": int(T0 * 1000)}]

    work = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    variants = {}
    try:
        for name, compress in (("gzip", True), ("plain", False)):
            t, c = time.perf_counter(), cpu()
            files = write_import_files(
                work / name, hosts, edges, meta=meta, array_values=vocab, compress=compress
            )
            wall = time.perf_counter() - t
            n = files.nodes + files.relationships
            print(
                f"write files ({name}): {wall:.1f} s, {n / wall:,.0f} rows/s, "
                f"CPU {cpu() - c:.1f} s, {files.size / 2**20:.0f} MiB, "
                f"multiline={files.multiline}",
                flush=True,
            )
            variants[name] = files

        home = graphnet_home()
        with scratch_neo4j("bench-bulk", heap="2g", pagecache="1g") as settings:
            for name, files in variants.items():
                with open_store(settings) as store:
                    rep = load_local(store, home, "bench-bulk", files)
                total = (
                    rep.stop_seconds + rep.import_seconds + rep.start_seconds
                ) + rep.after_start_seconds
                print(
                    f"import ({name}): stop {rep.stop_seconds:.1f} s, import tool "
                    f"{rep.import_seconds:.1f} s ({rep.relationships / rep.import_seconds:,.0f} "
                    f"edges/s, {(rep.nodes + rep.relationships) / rep.import_seconds:,.0f} "
                    f"rows/s), start {rep.start_seconds:.1f} s, schema + fixups "
                    f"{rep.after_start_seconds:.1f} s; total {total:.1f} s",
                    flush=True,
                )
            if args.bolt:
                sub = edges[: args.bolt]
                ids = {e["src"] for e in sub} | {e["dst"] for e in sub}
                sub_hosts = [h for h in hosts if h["id"] in ids]
                with open_store(settings) as store:
                    store.clear()
                    t = time.perf_counter()
                    store.write_batches("hosts_upsert", sub_hosts, 5000)
                    t1 = time.perf_counter()
                    store.write_batches("edges_create", sub, 5000)
                    t2 = time.perf_counter()
                print(
                    f"Bolt baseline: {len(sub_hosts):,} hosts in {t1 - t:.1f} s, "
                    f"{len(sub):,} edges in {t2 - t1:.1f} s ({len(sub) / (t2 - t1):,.0f} edges/s)",
                    flush=True,
                )
    finally:
        for files in variants.values():
            remove_import_files(files)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
