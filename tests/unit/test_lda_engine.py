"""The suspicious-connects step on the archive's engine: each SQL aggregation (words, training
counts, feedback, window pairs, alerts, host scores, findings, top connections, evidence,
connection scores) against the pandas model on hand-written and generated frames, the
sampling of a large history, and a run in 64 MiB on a window that does not fit there."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import ConnectionScores, Context
from graphnet.detectors.lda import (
    CONN_COLUMNS,
    LdaSettings,
    SuspiciousConnects,
    feedback_flows,
    findings_from_scores,
    fit_window,
    host_scores,
    run,
    word_text,
)
from graphnet.detectors.lda import step as lda_step
from graphnet.detectors.lda.step import _bound, pages, sample_cut
from graphnet.generate.frames import synthetic_connections
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

MON = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday (2024-W10)
WEEK = 7 * 86400.0
FAST = LdaSettings(topics=4, max_iter=5)


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A normalised connection frame with the archive's columns and types (uids in order)."""
    rows = [{"uid": f"C{i:06d}", "line": i, **r} for i, r in enumerate(rows)]
    cols = {c: pa.array([r.get(c) for r in rows], type=ARROW_TYPES[c]) for c in BASE_COLUMNS}
    return pa.table(cols).to_pandas()


def archived(tmp: Path, *frames: pd.DataFrame) -> Archive:
    """An archive holding each frame as one committed file (split by window)."""
    archive = Archive(Settings(home=tmp))
    for i, f in enumerate(frames):
        sha = f"{i + 1:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


def conn(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ts": MON + 3600 * 10,
        "src": "10.0.0.1",
        "dst": "10.0.9.1",
        "sport": 50000,
        "dport": 443,
        "proto": "tcp",
        "service": "ssl",
        "conn_state": "SF",
        "src_bytes": 100.0,
        "dst_bytes": 1000.0,
        "src_pkts": 3.0,
        "dst_pkts": 4.0,
    }
    return {**base, **kw}


def sql_words(archive: Archive, window: str, state: bool) -> pd.DataFrame:
    with _bound(archive, window, [], [], LdaSettings(state=state)) as (s, _):
        rel = s.con.sql("SELECT uid, src_word, dst_word FROM lda_now ORDER BY uid")  # type: ignore[attr-defined]
        return rel.to_arrow_table().to_pandas()


# --------------------------------------------------------------------------------------------
# words
# --------------------------------------------------------------------------------------------
EDGES = frame(
    [
        conn(sport=51000, dport=22, ts=MON + 3 * 3600 + 5, src_bytes=2000.0, dst_bytes=2095.0),
        conn(sport=0, dport=0, proto="ICMP", conn_state="OTH"),
        conn(sport=8, dport=0, proto="icmp", conn_state=None),
        conn(sport=123, dport=123, proto="udp", conn_state="S0", src_bytes=None),
        conn(sport=50000, dport=50001, conn_state="REJ", dst_pkts=float("nan")),
        conn(sport=443, dport=50000, conn_state="RSTOS0", src_bytes=-5.0),
        conn(sport=-1, dport=80, src_bytes=None, dst_bytes=None, src_pkts=None, dst_pkts=None),
        conn(sport=None, dport=None, proto=None, conn_state="SHR"),
        conn(sport=1024, dport=1025, proto="", conn_state="", src_bytes=1e300, dst_bytes=1e300),
        conn(sport=1025, dport=1024, ts=MON + 23 * 3600 + 3599.5, conn_state="weird"),
    ]
)


@pytest.mark.parametrize("state", [False, True])
def test_sql_words_are_the_python_words(tmp_path: Path, state: bool) -> None:
    archive = archived(tmp_path, EDGES)
    got = sql_words(archive, archive.windows()[0], state)
    want = word_text(EDGES, "graphnet", state)
    assert got["src_word"].tolist() == want["src_word"].tolist()
    assert got["dst_word"].tolist() == want["dst_word"].tolist()
    assert got["src_word"].iloc[0] == "22_tcp_3_12_3" + ("_ok" if state else "")
    assert got["dst_word"].iloc[0] == "-1_22_tcp_3_12_3" + ("_ok" if state else "")


counts = st.floats(min_value=0, max_value=1e13, allow_nan=False) | st.none() | st.just(-2.0)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "ts": st.floats(min_value=MON, max_value=MON + WEEK - 1, allow_nan=False),
                "sport": st.sampled_from([0, 1, 22, 1024, 1025, 49152, 65535, -1]) | st.none(),
                "dport": st.sampled_from([0, 1, 53, 1023, 1024, 1025, 50000]) | st.none(),
                "proto": st.sampled_from(["tcp", "UDP", "icmp", "", "ipv6-icmp"]) | st.none(),
                "conn_state": st.sampled_from(["SF", "S0", "REJ", "RSTR", "SH", "OTH", "x", ""]),
                "src_bytes": counts,
                "dst_bytes": counts,
                "src_pkts": counts,
                "dst_pkts": counts,
            }
        ),
        min_size=1,
        max_size=25,
    ),
    state=st.booleans(),
)
def test_sql_words_agree_with_python_on_any_values(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]], state: bool
) -> None:
    f = frame([dict(r, src="a", dst="b") for r in rows])
    archive = archived(tmp_path_factory.mktemp("words"), f)
    got = sql_words(archive, archive.windows()[0], state)
    want = word_text(f, "graphnet", state)
    assert got["src_word"].tolist() == want["src_word"].tolist()
    assert got["dst_word"].tolist() == want["dst_word"].tolist()


# --------------------------------------------------------------------------------------------
# training counts, documents, vocabulary
# --------------------------------------------------------------------------------------------
def history_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Two history weeks (the second in two files, one connection archived twice) and a
    scored week; hosts that only answer, hosts first seen at the same time."""
    rng = np.random.default_rng(7)

    def week(w: int, n: int) -> pd.DataFrame:
        rows = []
        for _ in range(n):
            client = f"10.0.0.{1 + int(rng.integers(0, 12))}"
            web = bool(rng.random() < 0.6)
            rows.append(
                conn(
                    ts=MON + w * WEEK + float(rng.integers(0, 5 * 86400)),
                    src=client,
                    dst="10.0.9.1" if web else f"10.0.9.{50 + int(rng.integers(0, 3))}",
                    sport=int(rng.integers(1025, 65535)),
                    dport=443 if web else int(rng.choice([53, 22, 8080])),
                    proto="tcp" if web else str(rng.choice(["udp", "tcp"])),
                    service="ssl" if web else "-",
                    conn_state=str(rng.choice(["SF", "S0", "REJ"])),
                    src_bytes=float(rng.integers(0, 5000)),
                    dst_bytes=float(rng.integers(0, 50000)),
                    src_pkts=float(rng.integers(0, 20)),
                    dst_pkts=float(rng.integers(0, 20)),
                )
            )
        # two hosts first seen at the same instant, one of them only ever answering
        rows.append(conn(ts=MON + w * WEEK + 1.0, src="10.0.5.5", dst="10.0.5.6", dport=9999))
        rows.append(conn(ts=MON + w * WEEK + 1.0, src="10.0.5.4", dst="10.0.5.7", dport=9999))
        f = frame(rows)
        f["uid"] = [f"W{w}C{i:05d}" for i in range(len(f))]
        return f

    return week(0, 400), week(1, 500), week(2, 300)


def pandas_training(archive: Archive, wins: list[str]) -> pd.DataFrame:
    return archive.connections(wins, CONN_COLUMNS, complete=True)


def assert_same_model(a: SuspiciousConnects, b: SuspiciousConnects) -> None:
    ma, mb = a.model, b.model
    assert ma is not None and mb is not None
    assert list(ma.vocab) == list(mb.vocab)
    assert list(ma.docs) == list(mb.docs)
    assert (ma.counts != mb.counts).nnz == 0
    assert ma.coarse_share.equals(mb.coarse_share)
    assert np.array_equal(ma.theta, mb.theta) and np.array_equal(ma.phi, mb.phi)


def test_training_counts_documents_and_vocabulary_match_pandas(tmp_path: Path) -> None:
    w0, w1, w2 = history_frames()
    dup = w1.iloc[:40]  # archived twice: counted once
    archive = archived(tmp_path, w0, w1.iloc[:250], w1.iloc[250:], dup, w2)
    wins = archive.windows()
    assert len(wins) == 3
    det, fitted, conns = fit_window(archive, wins[-1], FAST)
    assert fitted.fit_on == "history" and fitted.history == wins[:2]
    assert fitted.train_flows == len(w0) + len(w1) and len(conns) == len(w2)
    hist = pandas_training(archive, wins[:2])
    want = SuspiciousConnects(FAST).fit(hist)
    assert_same_model(det, want)
    # the canonical order: originators first, by first time, ties by name; then responders
    docs = list(want.model.docs) if want.model else []
    assert docs.index("10.0.5.4") < docs.index("10.0.5.5")
    assert docs.index("10.0.5.6") > docs.index("10.0.0.1")  # answers only: after originators
    # the same connections in another order, or other files: the same model
    again = SuspiciousConnects(FAST).fit(hist.sample(frac=1.0, random_state=1))
    assert_same_model(again, want)


def test_no_history_fits_on_the_window_itself_or_refuses(tmp_path: Path) -> None:
    _, _, w2 = history_frames()
    archive = archived(tmp_path, w2)
    window = archive.windows()[0]
    det, fitted, _ = fit_window(archive, window, FAST)
    assert fitted.fit_on == "self" and fitted.train_flows == len(w2) and fitted.history == []
    assert_same_model(det, SuspiciousConnects(FAST).fit(pandas_training(archive, [window])))
    with pytest.raises(ValueError, match="no archive windows before"):
        fit_window(archive, window, LdaSettings(fallback_self=False))


def test_a_large_history_is_sampled_by_uid_hash(tmp_path: Path) -> None:
    w0, w1, w2 = history_frames()
    archive = archived(tmp_path, w0, w1, w2)
    wins = archive.windows()
    lda = LdaSettings(topics=4, max_iter=5, max_train_flows=300, seed=3)
    det, fitted, _ = fit_window(archive, wins[-1], lda)
    hist = pandas_training(archive, wins[:2])
    cut = sample_cut(300, len(hist))
    assert cut is not None and sample_cut(5, 5) is None
    keep = [hashlib.md5(f"{u}:3".encode()).hexdigest()[:8] < cut for u in hist["uid"]]
    sample = hist[keep]
    assert fitted.train_flows == len(sample) and 200 < len(sample) < 400
    assert_same_model(det, SuspiciousConnects(lda).fit(sample))
    _, again, _ = fit_window(archive, wins[-1], lda)
    assert again.train_flows == fitted.train_flows  # deterministic


# --------------------------------------------------------------------------------------------
# feedback
# --------------------------------------------------------------------------------------------
def test_feedback_rows_are_those_of_feedback_mask(tmp_path: Path) -> None:
    w0, w1, w2 = history_frames()
    archive = archived(tmp_path, w0, w1, w2)
    wins = archive.windows()
    verdicts = [
        {"id": "a", "scope": "pair", "src": "10.0.0.3", "dst": "10.0.9.1", "window": wins[0]},
        {"id": "b", "scope": "src", "src": "10.0.0.4", "port": 53, "window": wins[0]},
        {"id": "c", "scope": "dst_service", "dst": "10.0.9.51", "service": "-"},
        {"id": "d", "scope": "subnet-pair", "src": "10.0.0.0/29", "dst": "10.0.9.0/30"},
        {"id": "e", "scope": "path", "hosts": ["10.0.5.5", "10.0.5.6", "10.0.9.1"]},
        {"id": "f", "scope": "pair", "src": "10.0.0.2", "dst": "10.0.9.1", "port": "x"},
        {"id": "g", "scope": "nonsense", "src": "10.0.0.2"},
        {"id": "h", "verdict": "malicious", "scope": "src", "src": "10.0.0.5"},
        {"id": "i", "scope": "src", "src": "10.0.0.6", "window": wins[-1]},  # not before
        {"id": "j", "scope": "pair", "src": "10.0.0.7", "dst": "10.0.9.1", "window": wins[1]},
    ]
    lda = LdaSettings(topics=4, max_iter=5, dupfactor=50)
    det, fitted, _ = fit_window(archive, wins[-1], lda, verdicts)
    # the pandas oracle: each group's pool, its covered connections x dupfactor
    hist = pandas_training(archive, wins[:2])
    groups = {
        "": [verdicts[i] for i in (2, 3, 4, 5, 6)],
        wins[0]: [verdicts[0], verdicts[1]],
        wins[1]: [verdicts[9]],
    }
    parts = [hist.assign(weight=1.0)]
    n_fb = 0
    for ref, fbs in sorted(groups.items()):
        pool = hist if not ref else pandas_training(archive, [ref])
        got = feedback_flows(pool, fbs, lda.dupfactor)
        n_fb += len(got)
        parts.append(got)
    assert fitted.feedback_flows == n_fb > 0 and fitted.feedback_verdicts == len(verdicts)
    want = SuspiciousConnects(lda).fit(pd.concat(parts, ignore_index=True))
    assert_same_model(det, want)


# --------------------------------------------------------------------------------------------
# scoring: the step against the pandas model on a generated network
# --------------------------------------------------------------------------------------------
def best_explanations(scored: pd.DataFrame, conns: pd.DataFrame, hosts: list[str]) -> dict:
    """The pandas oracle of the evidence: per host, its highest-scoring connection as either
    end (ties: the originated one, then the earlier row)."""
    n = len(conns)
    ends = pd.DataFrame(
        {
            "host": np.concatenate([conns["src"].astype(str), conns["dst"].astype(str)]),
            "v": np.tile(scored["score"].to_numpy(), 2),
            "row": np.tile(np.arange(n), 2),
        }
    )
    ends = ends[ends["host"].isin(hosts)].sort_values("v", ascending=False, kind="stable")
    best = ends.drop_duplicates("host")
    ex = scored["explanation"].to_numpy(dtype=object)
    return {str(h): str(ex[r]) for h, r in zip(best["host"], best["row"], strict=True)}


@given(
    counts=st.lists(st.integers(min_value=1, max_value=40), max_size=60),
    rows=st.integers(min_value=1, max_value=100),
)
def test_pages_hold_whole_hosts_of_about_rows_pairs(counts: list[int], rows: int) -> None:
    got = pages(np.asarray(counts, dtype=np.int64), rows)
    # every host code once, in order
    assert [c for lo, hi in got for c in range(lo, hi)] == list(range(len(counts)))
    for lo, hi in got:
        n = sum(counts[lo:hi])
        assert hi > lo and (n <= rows or hi == lo + 1)
        # a page stops only where the next host would not fit
        if hi < len(counts):
            assert n + counts[hi] > rows


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    f, _ = synthetic_connections(3, weeks=3, clients=12)
    archive = archived(tmp_path_factory.mktemp("net"), f)
    return archive.settings, archive.windows()[-1]


@pytest.mark.parametrize(
    ("variant", "page"),
    [("graphnet", lda_step.PAGE_PAIRS), ("spot", lda_step.PAGE_PAIRS), ("graphnet", 7)],
)
def test_the_step_scores_as_the_pandas_model(
    network: tuple[Settings, str], variant: str, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with pages of 7 pairs (the window's pairs are scored a page of whole hosts at a
    time): the same scores, to the bit."""
    st_, window = network
    archive = Archive(st_)
    monkeypatch.setattr(lda_step, "PAGE_PAIRS", page)
    lda = LdaSettings(variant=variant, topics=6, max_iter=8, max_findings=15, keep_top=300)
    got = run(Context(st_, window, archive, None, False, (lda, ConnectionScores())))
    wins = archive.windows()
    hist, cur = pandas_training(archive, wins[:-1]), pandas_training(archive, [window])
    det = SuspiciousConnects(lda).fit(hist)
    sc = det.score(cur)
    # every connection's score (ConnectionScores)
    assert got.conn_scores is not None
    want_conn = pd.Series(sc["score"].to_numpy(), index=cur["uid"].astype(str).to_numpy())
    assert got.conn_scores.sort_index().equals(want_conn.sort_index())
    # alerts, host scores, evidence, findings
    low = sc["part_p"].to_numpy() < lda.threshold
    assert got.alerts == len(cur.loc[low, ["src", "dst"]].drop_duplicates()) > 0
    hs = host_scores(sc, cur, lda.host_top, lda.threshold)
    assert isinstance(got.host_scores, pd.Series) and got.host_scores.equals(hs)
    assert got.evidence == best_explanations(sc, cur, list(hs.index[:50]))
    want_found = findings_from_scores(sc, cur, window, lda)
    assert [f.to_json() for f in got.findings] == [f.to_json() for f in want_found]
    assert 0 < len(got.findings) <= 15
    # the report keeps the top connections, in order, with every column
    res = got.detail
    out = pd.concat(
        [cur[["uid", "ts", "src", "dst", "sport", "dport", "proto", "service"]], sc], axis=1
    )
    out = out.sort_values("score", ascending=False, kind="stable").head(300)
    assert res is not None and list(res.scored.columns) == list(out.columns)
    assert res.scored["score"].tolist() == out["score"].tolist()
    assert res.scored["explanation"].tolist() == out["explanation"].tolist()
    js = res.to_json(top=5)
    assert js["connections"] == len(cur) and len(js["top"]) == 5
    assert js["suspicious"] == int(low.sum()) and js["findings"] == len(want_found)


def test_without_connection_scores_the_step_keeps_only_what_it_shows(
    network: tuple[Settings, str],
) -> None:
    st_, window = network
    lda = LdaSettings(topics=6, max_iter=8, keep_top=50)
    got = run(Context(st_, window, Archive(st_), None, False, (lda,)))
    assert got.conn_scores is None
    assert got.detail is not None and len(got.detail.scored) == 50
    assert got.detail.to_json()["connections"] > 50


# --------------------------------------------------------------------------------------------
# bounded memory
# --------------------------------------------------------------------------------------------
def big_week(week: int, n: int, seed: int) -> pd.DataFrame:
    """n connections of 400 clients to 60 servers and the internet, with all the columns."""
    rng = np.random.default_rng(seed)
    servers = np.array([f"10.1.0.{i}" for i in range(60)], dtype=object)
    clients = np.array([f"10.2.{i // 200}.{i % 200}" for i in range(400)], dtype=object)
    ports = np.array([22, 53, 80, 443, 445, 3389, 8080, 50000])
    return pd.DataFrame(
        {
            "ts": MON + week * WEEK + rng.random(n) * (WEEK - 1),
            "uid": np.char.add(f"B{week}", np.char.zfill(np.arange(n).astype(str), 9)).astype(
                object
            ),
            "src": clients[rng.integers(0, len(clients), n)],
            "sport": rng.integers(1025, 65535, n).astype("int32"),
            "dst": servers[rng.integers(0, len(servers), n)],
            "dport": ports[rng.integers(0, len(ports), n)].astype("int32"),
            "proto": np.where(rng.random(n) < 0.8, "tcp", "udp").astype(object),
            "service": np.where(rng.random(n) < 0.5, "ssl", "-").astype(object),
            "duration": rng.random(n) * 10,
            "src_bytes": np.floor(rng.lognormal(6, 2, n)),
            "dst_bytes": np.floor(rng.lognormal(8, 2, n)),
            "src_pkts": np.floor(rng.lognormal(1.5, 1, n)),
            "dst_pkts": np.floor(rng.lognormal(2, 1, n)),
            "conn_state": np.where(rng.random(n) < 0.9, "SF", "S0").astype(object),
            "history": np.full(n, "ShADadFf", dtype=object),
            "line": np.arange(n, dtype="int64"),
        }
    )


def test_the_step_runs_in_64_mib_on_a_window_that_does_not_fit_there(tmp_path: Path) -> None:
    """606,000 connections in the window (about 1.2 GB as a pandas frame of the old step, some
    70 MB as Arrow columns; nearly every (host, word) pair distinct) and 300,000 in its
    history, with the engine limited to 64 MiB: the engine spills, Python holds only
    aggregates and the top connections; the planted scanner still comes first."""
    st_ = Settings(home=tmp_path, engine_memory="64MiB", engine_threads=2)
    scan = frame(  # a scanner: every server on ports 1-100, one rejected packet each, at 3 am
        [
            conn(
                ts=MON + WEEK + 3 * 3600 + i,
                src="10.9.9.9",
                dst=f"10.1.0.{i % 60}",
                dport=1 + i // 60,
                service="-",
                conn_state="REJ",
                src_bytes=0.0,
                dst_bytes=0.0,
                src_pkts=1.0,
                dst_pkts=1.0,
            )
            for i in range(6000)
        ]
    ).assign(uid=lambda f: "S" + f["uid"])
    for week, n in ((0, 300_000), (1, 600_000)):
        f = big_week(week, n, seed=week)
        if week == 1:
            f = pd.concat([f, scan[f.columns]], ignore_index=True)
        w = windows.window_ids(f["ts"].to_numpy()).to_numpy()[0]
        path = st_.archive_dir / w / f"{week + 1:016x}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        f.to_parquet(path)
    window = Archive(st_).windows()[-1]
    assert pq.read_metadata(path).num_rows == 606_000
    lda = LdaSettings(topics=5, max_iter=5, keep_top=1000)
    t0 = time.perf_counter()
    got = run(Context(st_, window, Archive(st_), None, False, (lda,)))
    seconds = time.perf_counter() - t0
    assert got.detail is not None and got.detail.to_json()["connections"] == 606_000
    assert got.detail.run.train_flows == 300_000 and got.detail.run.fit_on == "history"
    assert isinstance(got.host_scores, pd.Series) and len(got.host_scores) == 461
    assert got.host_scores.index[0] == "10.9.9.9" and "10.9.9.9" in got.evidence
    assert got.findings and all("10.9.9.9" in f.hosts for f in got.findings[:10])
    assert len(got.detail.scored) == 1000 and got.conn_scores is None
    assert seconds < 60, seconds
