"""Benchmark of Spot's DNS and proxy suspicious connects on the engine:
`python bench/bench_applogs.py [--records N] [--hosts H] [--repeat R]`.

A seeded network with application logs (`graphnet generate --app-logs`, two weeks) is
generated; its DNS and HTTP records are copied, clients renamed per copy and times kept, until
the training week holds N records of each kind (default 10^6) and the scored week N / 5.
Measured per kind: the words in pandas (`DnsWords.words`, `HttpWords.words`: the oracle), and
the `suspicious_dns` / `suspicious_http` step's phases on the engine:

- words: the parts that need string maths, in Python once per distinct query name (URI, host,
  agent) (`steps._lookups`), then `app_*_views` (the records counted per part, client and word
  key in one pass; the words of the distinct keys) and `app_counts`;
- the LDA fit on the counts (once);
- scoring: `app_pairs`, the distinct (client, word) pairs scored in Python, joined back to
  the records in SQL (`app_scored`).

The same run measures the previous statements as the baseline (each record's word built as
text, counted per (client, word) and joined back by (client, word): `BASE_*` below, the SQL
before the word keys), checks that they give the same counts, pairs and record scores, and
prints both. Each timed phase runs `--repeat` times (the best wall and CPU time are given;
the registered-domain cache is emptied before each names phase); CPU seconds are the
process's (the engine's threads included) and depend far less on other jobs than wall times.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit"))

from applogs_helpers import load

from graphnet import features, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.applogs import steps
from graphnet.detectors.applogs.model import score_distinct
from graphnet.detectors.applogs.source import FrameLogs, app_session
from graphnet.detectors.applogs.words import DnsWords, HttpWords
from graphnet.generate import GenerateOptions, generate

# ------------------------------------------------------------------ the previous statements
#: the words of each record built as text (app_dns_views / app_http_views before the word keys)
BASE_WORDS = {
    "dns": [
        """CREATE OR REPLACE TEMP VIEW base_dns_known AS
        SELECT r.part, r.win, r.uid, r.ts, r.src, r.dst, r.dport,
               COALESCE(r.query, '-') AS query,
               COALESCE(r.qtype_name, '-') AS qtype,
               COALESCE(r.rcode_name, '-') AS rcode,
               CASE WHEN r.ts IS NULL OR ISNAN(r.ts) THEN 0
                    ELSE MOD(MOD(CAST(FLOOR(r.ts / 3600.0) AS BIGINT), 24) + 24, 24) END AS hour,
               CASE WHEN r.answers IS NULL OR r.answers IN ('-', '', '(empty)') THEN 0
                    ELSE LENGTH(r.answers) - LENGTH(REPLACE(r.answers, ',', '')) + 1 END AS n_ans,
               CASE WHEN r.answers IS NULL OR r.answers IN ('-', '', '(empty)') THEN 0
                    ELSE LENGTH(REPLACE(r.answers, ',', '')) END AS ans_len
        FROM app_dns_rows r""",
        """CREATE OR REPLACE TEMP VIEW base_words AS
        SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, 'dns' AS service,
               k.query AS item, n.reg AS domain, k.qtype || ' ' || k.rcode AS detail, k.hour,
               CAST(n.top AS VARCHAR) || '_'
                 || CAST(CAST(FLOOR(LN(60 + LENGTH(k.query) + 12 * k.n_ans + k.ans_len)
                                    / LN(2) + 1e-9) AS BIGINT) AS VARCHAR) || '_'
                 || CAST(k.hour AS VARCHAR) || '_' || CAST(n.sub_len AS VARCHAR) || '_'
                 || CAST(n.ent_bin AS VARCHAR) || '_' || CAST(n.periods AS VARCHAR) || '_'
                 || k.qtype || '_' || k.rcode AS word,
               CAST(n.top AS VARCHAR) || '_' || k.qtype || '_' || k.rcode AS coarse
        FROM base_dns_known k
        JOIN dns_names n ON n.query = k.query""",
    ],
    "http": [
        """CREATE OR REPLACE TEMP VIEW base_words AS
        SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, 'http' AS service,
               k.host || k.uri AS item, k.host AS domain, k.method || ' ' || k.status AS detail,
               k.hour,
               CAST(h.top AS VARCHAR) || '_' || CAST(k.hour AS VARCHAR) || '_' || k.method || '_'
                 || CAST(u.ent_bin AS VARCHAR) || '_' || k.ctype_raw || '_' || a.ua_bin || '_'
                 || CAST(u.len_bin AS VARCHAR) || '_' || k.status AS word,
               CAST(h.top AS VARCHAR) || '_' || k.method || '_' || k.ctype_raw || '_' || k.status
                 || CASE WHEN o.graphnet THEN '_' || a.ua_bin ELSE '' END AS coarse
        FROM app_http_known k
        JOIN http_uris u ON u.uri = k.uri
        JOIN http_hosts h ON h.host = k.host
        JOIN http_agents a ON a.user_agent = k.user_agent
                          AND a.part = CASE WHEN k.part = 'now' THEN 'now' ELSE 'past' END
        CROSS JOIN app_opts o""",
    ],
}
BASE_SIZES = (
    "SELECT part, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts "
    "FROM base_words GROUP BY part ORDER BY part"
)
BASE_COUNTS = (
    "SELECT src AS host, word, MIN(coarse) AS coarse, COUNT(*) AS n "
    "FROM base_words WHERE part = 'past' GROUP BY src, word"
)
BASE_PAIRS = (
    "SELECT src AS host, word, MIN(coarse) AS coarse, COUNT(*) AS cnt "
    "FROM base_words WHERE part = 'now' GROUP BY src, word"
)
BASE_SCORED = [
    """CREATE OR REPLACE TEMP TABLE base_scored AS
    SELECT w.uid, w.ts, w.src, w.dst, w.item, w.domain, w.detail, w.word, s.p, s.score,
           s.novelty, s.expected, s.cnt
    FROM base_words w
    JOIN base_pair_scores s ON s.host = w.src AND s.word = w.word
    WHERE w.part = 'now'""",
    """SELECT COUNT(*) AS records,
           SUM(CASE WHEN p < $threshold THEN 1 ELSE 0 END) AS alerts,
           COUNT(DISTINCT CASE WHEN p < $threshold THEN src END) AS suspicious
    FROM base_scored""",
]


# ------------------------------------------------------------------------------ measuring
def copies(frame: pd.DataFrame, n: int, tag: str) -> pd.DataFrame:
    k = -(-n // max(len(frame), 1))
    parts = [
        frame.assign(src=frame["src"] + f"#{i}", uid=f"{tag}{i}-" + frame["uid"]) for i in range(k)
    ]
    return pd.concat(parts, ignore_index=True).head(n)


class Best:
    """The best (least) wall and CPU seconds of each phase over the repeats."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, phase: str, fn: Callable[..., Any], *args: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args)
        w, c = time.perf_counter() - w, time.process_time() - c
        self.wall[phase] = min(self.wall.get(phase, w), w)
        self.cpu[phase] = min(self.cpu.get(phase, c), c)
        return out

    def sum(self, *phases: str) -> tuple[float, float]:
        return sum(self.wall[p] for p in phases), sum(self.cpu[p] for p in phases)


def table(s: Any, stmts: list[str], params: dict[str, Any] | None = None) -> pa.Table:
    return s.run_text(stmts, params).to_arrow_table()


def base_pair_scores(model: Any, lda: Any, pairs: pd.DataFrame) -> pa.Table:
    """The previous scoring of the distinct pairs: through pandas, back by (client, word)."""
    sc = score_distinct(
        model,
        lda,
        pairs["host"].to_numpy(object),
        pairs["word"].to_numpy(object),
        pairs["coarse"].to_numpy(object),
        pairs["cnt"].to_numpy(),
    )
    return steps._arrow(
        pd.concat(
            [pairs[["host", "word", "cnt"]], sc[["p", "score", "novelty", "expected"]]], axis=1
        )
    )


def ordered(t: pa.Table, keys: list[str]) -> pd.DataFrame:
    f = t.to_pandas()
    return f.sort_values(keys, kind="stable").reset_index(drop=True)


def measure(kind: str, frames: dict[str, pd.DataFrame], w1: str, w2: str, repeat: int) -> None:
    st: steps.SuspiciousDnsSettings | steps.SuspiciousHttpSettings = (
        steps.SuspiciousDnsSettings() if kind == "dns" else steps.SuspiciousHttpSettings()
    )
    lda = st.lda
    thr = {"threshold": lda.threshold}
    archive = Archive(Settings(home=Path(tempfile.mkdtemp(prefix="bench-applogs-home-"))))
    bind = {kind: [w2], f"past_{kind}": [w1], f"refs_{kind}": []}
    n_past = int((windows.window_ids(frames[kind]["ts"].to_numpy()).to_numpy() == w1).sum())
    n_all = len(frames[kind])
    n_now = n_all - n_past
    b = Best()
    t0 = time.perf_counter()
    with app_session(archive, FrameLogs(frames), kind, bind) as s:
        t_bind = time.perf_counter() - t0

        def names() -> None:
            features.registered_domain.cache_clear()
            steps._lookups(s, kind, st)

        model = None
        for _ in range(repeat):
            b.run("names", names)
            b.run("views", lambda: s.table(f"app_{kind}_views"))
            counts = b.run("counts", lambda: s.table("app_counts"))
            if model is None:
                t = time.perf_counter()
                model, n_train, _ = steps._fit(s, lda, {})
                t_fit = time.perf_counter() - t
            pairs = b.run("pairs", lambda: s.table("app_pairs"))
            scores = b.run("score", steps.pair_scores, model, lda, pairs)
            s.lookup("app_pair_scores", scores)
            summary = b.run("scored", lambda: s.table("app_scored", thr))
            # the previous statements, on the same lookups and the same model
            for text in BASE_WORDS[kind]:
                s.run_text([text], None)
            b.run("base_views", lambda: table(s, [BASE_SIZES]))
            base_counts = b.run("base_counts", lambda: table(s, [BASE_COUNTS]))
            base_pairs = b.run("base_pairs", lambda: table(s, [BASE_PAIRS]).to_pandas())
            base_scores = b.run("base_score", base_pair_scores, model, lda, base_pairs)
            s.lookup("base_pair_scores", base_scores)
            base_summary = b.run("base_scored", lambda: table(s, BASE_SCORED, thr))
        # the same results
        keys = ["host", "word"]
        got, want = ordered(counts, keys), ordered(base_counts, keys)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        got_p = pairs.to_pandas().drop(columns="wid").sort_values(keys).reset_index(drop=True)
        want_p = base_pairs.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(got_p, want_p, check_dtype=False)
        assert summary.to_pylist() == base_summary.to_pylist(), (summary, base_summary)
        rec = ordered(table(s, ["SELECT uid, word, score FROM app_scored"]), ["uid"])
        base_rec = ordered(table(s, ["SELECT uid, word, score FROM base_scored"]), ["uid"])
        pd.testing.assert_frame_equal(rec, base_rec)
        n_names = s.table("app_dns_names" if kind == "dns" else "app_http_distinct").num_rows

    def line(label: str, wall: float, cpu: float, n: int) -> str:
        return (
            f"{label}: {wall:.2f} s = {n / max(wall, 1e-9):,.0f} records/s; "
            f"CPU {cpu:.2f} s = {n / max(cpu, 1e-9):,.0f} records per CPU-second"
        )

    what = "distinct names" if kind == "dns" else "distinct URIs and hosts"
    print(f"{kind}: {n_past:,} training and {n_now:,} scored records")
    print(f"  bind (Arrow lookups, the seam's frame path): {t_bind:.2f} s")
    print(
        f"  names taken apart (SQL distinct + Python per value, {n_names:,} {what}): "
        f"{b.wall['names']:.2f} s, CPU {b.cpu['names']:.2f} s"
    )
    new_w, base_w = b.sum("names", "views", "counts"), b.sum("names", "base_views", "base_counts")
    new_s, base_s = (
        b.sum("pairs", "score", "scored"),
        b.sum("base_pairs", "base_score", "base_scored"),
    )
    print(f"  words + counts ({counts.num_rows:,} (client, word), {n_all:,} records):")
    print("    " + line("word keys (this version)", *new_w, n_all))
    print("    " + line("words as text per record (previous statements)", *base_w, n_all))
    print(f"  scoring ({pairs.num_rows:,} distinct pairs, {n_now:,} records):")
    print("    " + line("word keys (this version)", *new_s, n_now))
    print("    " + line("words as text per record (previous statements)", *base_s, n_now))
    nw, nc = new_w[0] + new_s[0], new_w[1] + new_s[1]
    bw, bc = base_w[0] + base_s[0], base_w[1] + base_s[1]
    print("  words and scoring together (target 500 k records/s):")
    print("    " + line("this version", nw, nc, n_all))
    print("    " + line("previous statements", bw, bc, n_all))
    print(f"    ratio: {bw / nw:.2f}x wall, {bc / nc:.2f}x CPU; same counts, pairs and scores")
    print(f"  LDA fit on {n_train:,} records ({lda.topics} topics): {t_fit:.1f} s")
    print(
        "  phases, best wall / CPU s: "
        + ", ".join(f"{k} {b.wall[k]:.2f} / {b.cpu[k]:.2f}" for k in b.wall)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", default="dns,http")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-applogs-"))
    t = time.perf_counter()
    generate(tmp / "gen", GenerateOptions(weeks=2, hosts=a.hosts, seed=11, app_logs=True))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for kind in a.kinds.split(","):
        logs = load(tmp / "gen", kind)
        wins = windows.window_ids(logs["ts"].to_numpy()).to_numpy()
        w1, w2 = sorted(set(wins))[:2]
        past = copies(logs[wins == w1], a.records, "P")
        now = copies(logs[wins == w2], a.records // 5, "N")
        print(f"{kind} data: {time.perf_counter() - t:.1f} s to generate and copy")
        maker = DnsWords() if kind == "dns" else HttpWords()
        maker.learn(past)
        t = time.perf_counter()
        maker.words(now)
        dt = time.perf_counter() - t
        print(f"{kind} words in pandas (the oracle): {len(now) / dt:,.0f} records/s ({dt:.2f} s)")
        measure(kind, {kind: pd.concat([past, now], ignore_index=True)}, w1, w2, a.repeat)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        t = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS: {rss:.2f} GiB")


if __name__ == "__main__":
    main()
