"""Ingest benchmark: parse rate, end-to-end ingest rate into a real Neo4j, peak RSS, and the
naive way (one MERGE per connection) on a slice, as a ratio.

    .venv/bin/python bench/bench_ingest.py [--records 5000000] [--naive-rows 20000]

Generates a Zeek conn log set with graphnet's generator (cached under bench/out/), starts a
dedicated Neo4j instance ("bench", free ports; or uses NEO4J_URI when set: that graph is WIPED),
and prints the figures. Targets on a 2-core machine: parse >= 1 M records/s, end-to-end >= 250 k
records/s, peak RSS < 2 GiB independent of file size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def dataset(records: int) -> Path:
    from graphnet.generate import GenerateOptions, generate

    weeks = 2
    per_day = int(records / (5.6 * weeks))  # scale is per working day; weekends are quieter
    d = OUT / f"zeek-{records}"
    if not (d / "truth.json").exists():
        print(f"generating ~{records:,} records into {d} ...", flush=True)
        res = generate(d, GenerateOptions(weeks=weeks, hosts=2000, seed=11, scale=per_day))
        print(
            f"  {res.records:,} records in {res.files} files, {res.seconds:.1f} s "
            f"({res.records / res.seconds:,.0f} records/s)",
            flush=True,
        )
    return d


def parse_rate(paths: list[Path]) -> tuple[int, float]:
    from graphnet import sources

    t0 = time.perf_counter()
    n = 0
    for p in paths:
        for chunk in sources.read(p):
            n += len(chunk.frame)
    return n, time.perf_counter() - t0


def child_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5_000_000)
    ap.add_argument("--naive-rows", type=int, default=20_000)
    ap.add_argument(
        "--ceiling-files", type=int, default=24, help="files whose edges time the bare writes"
    )
    args = ap.parse_args()

    from graphnet import sources
    from graphnet.store import open_store

    data = dataset(args.records)
    files = [p for p in sources.iter_log_files([data]) if p.name != "truth.json"]
    size = sum(p.stat().st_size for p in files)

    n, secs = parse_rate(files)
    print(
        f"parse:      {n:,} records, {size / 2**20:,.0f} MiB gzip, {secs:.1f} s "
        f"-> {n / secs:,.0f} records/s",
        flush=True,
    )

    from _scratch import scratch_neo4j

    with scratch_neo4j("bench", heap="4g", pagecache="2g") as settings:
        env = dict(os.environ)
        bench_home = OUT / "home"
        env["GRAPHNET_HOME"] = str(bench_home)
        with open_store(settings) as store:
            store.clear()
        import shutil

        shutil.rmtree(bench_home, ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "graphnet.cli", "ingest", "--json", "-q", str(data)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        e2e = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr)
            raise SystemExit(proc.returncode)
        result = json.loads(proc.stdout)
        rss = child_peak_rss_mib()
        print(
            f"end-to-end: {result['accepted']:,} records in {e2e:.1f} s "
            f"-> {result['accepted'] / e2e:,.0f} records/s (ingest's own clock "
            f"{result['seconds']:.1f} s); peak RSS {rss:,.0f} MiB",
            flush=True,
        )

        # the ceiling the database sets: the same kind of edges, rows prepared in advance,
        # only the CREATE transactions timed (no parsing, no merging, no ledger)
        from graphnet import accumulate, ingest
        from graphnet.config import Settings

        with open_store(settings) as store:
            totals = ingest.stats(store)
            per_edge = totals["connections"] / max(totals["edges"], 1)
            acc = accumulate.EdgeAccumulator()
            for p in files[: args.ceiling_files]:
                for chunk in sources.read(p):
                    acc.add_frame(chunk.frame, "week")
            gs = Settings.from_env()
            erows = acc.rows({"dport": gs.top_ports, "history": gs.top_history})
            batches = [erows.slice(lo, hi) for _, lo, hi in erows.batches(gs.batch_size)]
            hosts = ingest.host_rows(erows, ingest.host_classifier(gs.internal_cidrs))

            def create_all(batches: list[list[dict]]) -> float:
                store.clear()
                store.write_batches("hosts_upsert", hosts)
                t0 = time.perf_counter()
                for batch in batches:
                    store.transaction(lambda tx, b=batch: tx.run("edges_create", rows=b))
                return time.perf_counter() - t0

            create = create_all(batches)
            # the same edges with their sums only, no histograms: what the model's lists cost
            bare = create_all(
                [
                    [
                        {
                            **r,
                            "props": {
                                k: v for k, v in r["props"].items() if k[-2:] not in ("_k", "_n")
                            },
                        }
                        for r in b
                    ]
                    for b in batches
                ]
            )
        ceiling = len(erows) / create
        e2e_rate = result["accepted"] / e2e
        print(
            f"ceiling:    Neo4j alone creates {len(erows):,} prepared edges in {create:.1f} s -> "
            f"{ceiling:,.0f} edges/s; at this data's {per_edge:.1f} records per edge that is "
            f"{ceiling * per_edge:,.0f} records/s before any parsing; end-to-end reaches "
            f"{e2e_rate / (ceiling * per_edge):.0%} of it",
            flush=True,
        )
        print(
            f"            without the histogram lists: {len(erows) / bare:,.0f} edges/s -> "
            f"{len(erows) / bare * per_edge:,.0f} records/s",
            flush=True,
        )

        # the naive way on a slice: one MERGE per connection, one transaction each
        import pandas as pd

        from graphnet import windows

        parts, have = [], 0
        for p in files[len(files) // 2 :]:
            for chunk in sources.read(p):
                parts.append(chunk.frame)
                have += len(chunk.frame)
            if have >= args.naive_rows:
                break
        frame = pd.concat(parts, ignore_index=True).head(args.naive_rows)
        win = windows.window_ids(frame["ts"].to_numpy(), "week").to_numpy()
        rows = frame[["src", "dst", "src_bytes"]].fillna(0).to_dict("records")
        with open_store(settings) as store:
            store.clear()
            t0 = time.perf_counter()
            for row, w in zip(rows, win, strict=True):
                store.write("naive_connection_merge", window=str(w), **row)
            naive = time.perf_counter() - t0
        naive_rate = len(rows) / naive
        print(
            f"naive:      {len(rows):,} records in {naive:.1f} s -> {naive_rate:,.0f} records/s; "
            f"graphnet is {e2e_rate / naive_rate:,.0f}x faster",
            flush=True,
        )


if __name__ == "__main__":
    main()
