"""Benchmark of Spot's DNS suspicious connects on the engine:
`python bench/bench_applogs.py [--records N] [--hosts H]`.

A seeded network with application logs (`graphnet generate --app-logs`, two weeks) is
generated; its DNS records are copied, clients renamed per copy and times kept, until the
training week holds N records (default 10^6) and the scored week N / 5. Measured: the words in
pandas (`DnsWords.words`), and the `suspicious_dns` step's phases on the engine: the names
taken apart (Python, per distinct name), the words and counts (SQL), the LDA fit on the
counts, and the scoring (distinct pairs scored in Python, joined back in SQL). Prints one line
per figure.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

from applogs_helpers import load

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.applogs import steps
from graphnet.detectors.applogs.model import score_distinct
from graphnet.detectors.applogs.source import FrameLogs, app_session
from graphnet.detectors.applogs.words import DnsWords
from graphnet.generate import GenerateOptions, generate


def copies(frame: pd.DataFrame, n: int, tag: str) -> pd.DataFrame:
    k = -(-n // max(len(frame), 1))
    parts = [
        frame.assign(src=frame["src"] + f"#{i}", uid=f"{tag}{i}-" + frame["uid"]) for i in range(k)
    ]
    return pd.concat(parts, ignore_index=True).head(n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--hosts", type=int, default=200)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-applogs-"))
    t = time.perf_counter()
    generate(tmp / "gen", GenerateOptions(weeks=2, hosts=a.hosts, seed=11, app_logs=True))
    dns = load(tmp / "gen", "dns")
    wins = windows.window_ids(dns["ts"].to_numpy()).to_numpy()
    w1, w2 = sorted(set(wins))[:2]
    past = copies(dns[wins == w1], a.records, "P")
    now = copies(dns[wins == w2], a.records // 5, "N")
    frames = {"dns": pd.concat([past, now], ignore_index=True)}
    print(
        f"data: {len(past):,} training and {len(now):,} scored records, "
        f"{time.perf_counter() - t:.1f} s to generate and copy"
    )

    t = time.perf_counter()
    DnsWords().words(now)
    dt = time.perf_counter() - t
    print(f"words in pandas: {len(now) / dt:,.0f} records/s ({dt:.2f} s)")

    lda = steps.SuspiciousDnsSettings()
    archive = Archive(Settings(home=tmp / "home"))
    bind = {"dns": [w2], "past_dns": [w1], "refs_dns": []}
    t0 = time.perf_counter()
    with app_session(archive, FrameLogs(frames), "dns", bind) as s:
        t1 = time.perf_counter()
        steps._prepare(s, "dns", lda)
        t2 = time.perf_counter()
        counts = s.table("app_counts")
        t3 = time.perf_counter()
        model, n_train, _ = steps._fit(s, lda.lda, {})
        t4 = time.perf_counter()
        pairs = s.table("app_pairs").to_pandas()
        sc = score_distinct(
            model,
            lda.lda,
            pairs["host"].to_numpy(object),
            pairs["word"].to_numpy(object),
            pairs["coarse"].to_numpy(object),
            pairs["cnt"].to_numpy(),
        )
        s.lookup(
            "app_pair_scores",
            steps._arrow(
                pd.concat(
                    [pairs[["host", "word", "cnt"]], sc[["p", "score", "novelty", "expected"]]],
                    axis=1,
                )
            ),
        )
        s.table("app_scored", {"threshold": lda.lda.threshold})
        t5 = time.perf_counter()
    n_all = len(past) + len(now)
    print(f"bind (Arrow lookups, the seam's frame path): {t1 - t0:.2f} s")
    print(f"names taken apart (Python, distinct names): {t2 - t1:.2f} s")
    print(
        f"words + counts (SQL, {n_all:,} records): {t3 - t2:.2f} s = "
        f"{n_all / max(t3 - t2, 1e-9):,.0f} records/s; {counts.num_rows:,} (client, word)"
    )
    print(f"LDA fit on {n_train:,} records ({lda.lda.topics} topics): {t4 - t3:.1f} s")
    print(
        f"scoring {len(now):,} records ({len(pairs):,} distinct pairs): {t5 - t4:.2f} s = "
        f"{len(now) / max(t5 - t4, 1e-9):,.0f} records/s"
    )
    words_and_scoring = (t3 - t2) + (t5 - t4)
    print(f"words and scoring together: {n_all / words_and_scoring:,.0f} records/s (target 500 k)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS: {rss:.2f} GiB")


if __name__ == "__main__":
    main()
