"""Benchmark of the published methods: `python bench/bench_methods.py [--flows N] [--hosts H]`.

1. Spot-style LDA (graphnet.detectors.lda): word construction, fit and scoring on 10^6 flows.
2. Per-host time baselines (graphnet.detectors.volume): fit for 10^4 hosts over 4 weeks of
   5-minute buckets, then scoring of the following week.

Data are seeded synthetic normalised connection tables built with numpy (no Neo4j needed).
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphnet.detectors.lda import LdaSettings, SuspiciousConnects, flow_words
from graphnet.detectors.volume import VolumeBaselines, VolumeSettings

T0 = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday
WEEK = 7 * 86400.0

SERVICES = np.array(
    [
        (53, "udp", 5.0),
        (443, "tcp", 10.0),
        (80, "tcp", 9.0),
        (445, "tcp", 11.0),
        (22, "tcp", 9.0),
        (993, "tcp", 8.0),
        (3389, "tcp", 12.0),
        (5432, "tcp", 8.0),
        (123, "udp", 4.4),
    ],
    dtype=object,
)


def connections(n: int, hosts: int, servers: int, weeks: float, seed: int) -> pd.DataFrame:
    """n flows of `hosts` clients to `servers` servers over `weeks` weeks, with office hours,
    per-client favourite services (the same for every seed) and lognormal sizes (vectorised)."""
    rng = np.random.default_rng(seed)
    fav = np.random.default_rng(0).integers(0, len(SERVICES), (hosts, 3))
    client = rng.integers(0, hosts, n)
    svc = fav[client, rng.choice(3, n, p=[0.6, 0.3, 0.1])]
    server = (client * 7 + svc * 13 + rng.integers(0, 3, n)) % servers
    day = rng.integers(0, int(7 * weeks), n)
    weekend = day % 7 >= 5
    hour = np.where(rng.random(n) < 0.85, rng.normal(13, 3, n), rng.uniform(0, 24, n))
    hour = np.clip(hour, 0, 23.99)
    keep = ~weekend | (rng.random(n) < 0.2)
    ts = T0 + day * 86400.0 + hour * 3600.0
    size = np.exp(rng.normal(SERVICES[svc, 2].astype(float), 1.2))
    state = np.where(rng.random(n) < 0.01, "S0", "SF")
    ok = state == "SF"
    frame = pd.DataFrame(
        {
            "ts": ts,
            "uid": np.char.add("C", np.arange(n).astype(str)),
            "src": np.char.add("10.1.", (client // 250).astype(str)).astype(object)
            + "."
            + (client % 250 + 1).astype(str).astype(object),
            "dst": np.char.add("10.9.0.", (server + 1).astype(str)).astype(object),
            "sport": rng.integers(49152, 65535, n).astype("int32"),
            "dport": SERVICES[svc, 0].astype("int32"),
            "proto": SERVICES[svc, 1],
            "service": "-",
            "conn_state": state,
            "src_bytes": np.where(ok, np.round(size * 0.2), 0.0),
            "dst_bytes": np.where(ok, np.round(size * 0.8), 0.0),
            "src_pkts": np.where(ok, np.ceil(size / 1200) + 1, 1.0),
            "dst_pkts": np.where(ok, np.ceil(size / 1000) + 1, 0.0),
        }
    )
    return frame[keep].sort_values("ts", kind="stable").reset_index(drop=True)


class Clock:
    """Wall-clock and CPU seconds of a block (CPU time is what the code costs on a loaded
    machine: all threads of this process)."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0

    def __str__(self) -> str:
        return f"{self.wall:.1f}s (cpu {self.cpu:.1f}s)"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_lda(flows: int, hosts: int, servers: int) -> None:
    t = time.perf_counter()
    hist = connections(int(flows * 1.3), hosts=hosts, servers=servers, weeks=4, seed=1)
    hist = hist.iloc[:flows]
    obs = connections(int(flows * 1.3), hosts=hosts, servers=servers, weeks=1, seed=2)
    obs = obs.iloc[:flows]
    obs["ts"] = obs["ts"] + 4 * WEEK
    print(
        f"lda: data {len(hist):,} training flows, {len(obs):,} scored flows "
        f"({time.perf_counter() - t:.1f}s to build)"
    )
    t = time.perf_counter()
    w = flow_words(hist)
    print(
        f"lda: words for {len(hist):,} flows: {time.perf_counter() - t:.2f}s "
        f"({len(w.text):,} distinct words)"
    )
    for variant in ("spot", "graphnet"):
        det = SuspiciousConnects(LdaSettings(variant=variant))
        with Clock() as fit:
            det.fit(hist)
        assert det.model is not None
        with Clock() as score:
            det.score(obs, explain=False)
        with Clock() as score_x:
            out = det.score(obs)
        print(
            f"lda[{variant}]: fit {fit} ({len(det.model.docs):,} IP documents, "
            f"{len(det.model.vocab):,} words, 20 topics); score {len(obs):,} flows "
            f"{score}, with explanations {score_x}; "
            f"{(out['part_p'] < LdaSettings().threshold).mean():.2%} below the threshold"
        )


def bench_volume(hosts: int, per_host_day: float) -> None:
    t = time.perf_counter()
    n = int(hosts * per_host_day * 35)
    frame = connections(n, hosts=hosts, servers=400, weeks=5, seed=3)
    hist = frame[frame["ts"] < T0 + 4 * WEEK]
    cur = frame[frame["ts"] >= T0 + 4 * WEEK].reset_index(drop=True)
    print(
        f"volume: data {len(hist):,} flows of {hosts:,} clients + 400 servers over 4 weeks, "
        f"{len(cur):,} in the scored week ({time.perf_counter() - t:.1f}s to build)"
    )
    det = VolumeBaselines(VolumeSettings())
    with Clock() as fit:
        det.fit(hist, start=T0, end=T0 + 4 * WEEK)
    r = det.report
    print(
        f"volume: fit {fit} for {r.hosts:,} hosts + {r.edges:,} edges x {r.history_buckets:,} "
        f"buckets ({len(det.hist_cells):,} non-empty cells); families {r.families}; "
        f"regression R² {r.r2:.3f}, RMSE {r.rmse:.2f} flows (held-out {r.holdout_rows:,} rows)"
    )
    with Clock() as cells_t:
        c = det.cells(cur)
    with Clock() as per_conn:
        det.score_cells(cur, c)
    print(
        f"volume: score the next week: cells {cells_t} ({len(c):,} cells, "
        f"{int(c['flagged'].sum()):,} out of band), per connection {per_conn}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flows", type=int, default=1_000_000, help="LDA training/scored flows")
    ap.add_argument("--lda-hosts", type=int, default=2000, help="LDA: clients")
    ap.add_argument("--lda-servers", type=int, default=150, help="LDA: servers")
    ap.add_argument("--hosts", type=int, default=10_000, help="hosts for the baselines")
    ap.add_argument("--per-host-day", type=float, default=20.0, help="flows per client per day")
    ap.add_argument("--skip", choices=("lda", "volume"), action="append", default=[])
    a = ap.parse_args()
    t = time.perf_counter()
    if "lda" not in a.skip:
        bench_lda(a.flows, a.lda_hosts, a.lda_servers)
    if "volume" not in a.skip:
        bench_volume(a.hosts, a.per_host_day)
    print(f"total {time.perf_counter() - t:.1f}s, peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
