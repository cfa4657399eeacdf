"""The DNS/proxy suspicious connects and DNS tunnelling on the analytical engine: the words and
aggregates of `graphnet/sql/app_*.sql` against their pandas versions (hand-written edge cases,
random values, generated logs), the steps against the pure model, the planted scenarios of
`graphnet generate --app-logs` on several seeds, and benign feedback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.applogs import names as N
from graphnet.detectors.applogs import tunnel as T
from graphnet.detectors.applogs.model import SpotLogModel
from graphnet.detectors.applogs.source import FrameLogs, app_session
from graphnet.detectors.applogs.steps import (
    AppLogsSource,
    SuspiciousDnsSettings,
    SuspiciousHttpSettings,
    _agent_bins,
    run_dns,
    run_http,
    run_tunnel,
)
from graphnet.detectors.applogs.words import DnsWords, HttpWords
from graphnet.detectors.contract import ConnectionScores, Context
from graphnet.detectors.lda.model import LdaSettings
from graphnet.findings import KINDS

from .applogs_helpers import generated

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("applogs"))


def plants(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["type"]: s for s in truth["scenarios"]}


def ctx_for(
    home: Path, window: str, frames: dict[str, pd.DataFrame], *opts: object, store: Any = None
) -> Context:
    return Context.of(
        Settings(home=home),
        window,
        store,
        save=False,
        options=(AppLogsSource(FrameLogs(frames)), *opts),
    )


def sql_words(
    home: Path, kind: str, now: pd.DataFrame, past: pd.DataFrame, variant: str
) -> pd.DataFrame:
    """The words the engine builds (app_*_views) for the records of `now` (scored) and `past`
    (training), by uid."""
    archive = Archive(Settings(home=home))
    wn = windows.window_ids(now["ts"].to_numpy(dtype="float64")).to_numpy()
    wp = windows.window_ids(past["ts"].to_numpy(dtype="float64")).to_numpy()
    logs = FrameLogs({kind: pd.concat([now, past], ignore_index=True)})
    bind = {kind: sorted(set(wn)), f"past_{kind}": sorted(set(wp) - set(wn)), f"refs_{kind}": []}
    from graphnet.detectors.applogs import steps

    st_ = (
        SuspiciousDnsSettings(LdaSettings(variant=variant))  # type: ignore[arg-type]
        if kind == "dns"
        else SuspiciousHttpSettings(LdaSettings(variant=variant))  # type: ignore[arg-type]
    )
    with app_session(archive, logs, kind, bind) as s:  # type: ignore[arg-type]
        steps._prepare(s, kind, st_)  # type: ignore[arg-type]
        rows = s.rows("SELECT part, uid, word, coarse FROM app_words")
    return pd.DataFrame(rows, columns=["part", "uid", "word", "coarse"]).set_index("uid")


def dns_frame(rows: list[tuple[float, str, Any, Any, Any, Any]]) -> pd.DataFrame:
    ts, src, query, qtype, rcode, answers = (list(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return pd.DataFrame(
        {
            "ts": ts,
            "uid": [f"D{i}" for i in range(n)],
            "src": src,
            "sport": 5000,
            "dst": "10.0.0.53",
            "dport": 53,
            "proto": "udp",
            "query": query,
            "qtype_name": qtype,
            "rcode_name": rcode,
            "answers": answers,
            "rejected": False,
            "sensor": "-",
            "line": range(1, n + 1),
        }
    )


T0 = 1_710_115_200.0  # Monday 2024-03-11 00:00 UTC (2024-W11)
WEEK = 7 * 86400.0


def check_words(home: Path, kind: str, now: pd.DataFrame, past: pd.DataFrame, variant: str) -> None:
    got = sql_words(home, kind, now, past, variant)
    maker = DnsWords(variant=variant) if kind == "dns" else HttpWords(variant=variant)
    maker.learn(past)
    pw, pc_ = maker.words(past)
    nw, nc = maker.scoring(now)
    want = pd.DataFrame(
        {"word": np.concatenate([nw, pw]), "coarse": np.concatenate([nc, pc_])},
        index=np.concatenate([now["uid"].to_numpy(object), past["uid"].to_numpy(object)]),
    )
    assert len(got) == len(want)
    got = got.reindex(want.index)
    mismatch = want[(got["word"] != want["word"]) | (got["coarse"] != want["coarse"])]
    assert mismatch.empty, (mismatch.head(), got.loc[mismatch.index[:5]])


def test_dns_words_sql_equal_pandas_on_edge_cases(tmp_path: Path) -> None:
    rows = [
        (T0 + 5, "10.0.0.1", "www.example.com", "A", "NOERROR", "1.2.3.4"),
        (T0 + 3600 * 23 + 1, "10.0.0.1", "WWW.Example.COM.", "AAAA", "NOERROR", "a::1,b::2,c::3"),
        (T0 + 7, "10.0.0.2", "x.y.example.co.uk", "TXT", "NOERROR", "v=spf1 -all"),
        (T0 + 9, "10.0.0.2", "4.3.2.10.in-addr.arpa", "PTR", "NXDOMAIN", "-"),
        (T0 + 11, "10.0.0.3", None, "-", "-", None),
        (T0 + 13, "10.0.0.3", "a,b.example.com", "A", "-", "(empty)"),
        (T0 + 15, "10.0.0.3", "ünï.cödé.de", "A", "NOERROR", "1.1.1.1"),
        (T0 + 17, "10.0.0.4", "", "A", "SERVFAIL", ""),
    ]
    now = dns_frame(rows)
    past = dns_frame([(t - WEEK, *r) for t, *r in rows]).assign(uid=lambda f: "P" + f["uid"])
    for variant in ("spot", "graphnet"):
        check_words(tmp_path, "dns", now, past, variant)


def http_frame(rows: list[tuple[Any, ...]], pre: str) -> pd.DataFrame:
    ts, src, method, host, uri, ua, status, mime = (list(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return pd.DataFrame(
        {
            "ts": ts,
            "uid": [f"{pre}{i}" for i in range(n)],
            "src": src,
            "sport": 5000,
            "dst": "93.184.216.34",
            "dport": 80,
            "method": method,
            "host": host,
            "uri": uri,
            "referrer": "-",
            "user_agent": ua,
            "request_body_len": 0.0,
            "response_body_len": 1.0,
            "status_code": status,
            "resp_mime_types": mime,
            "sensor": "-",
            "line": range(1, n + 1),
        }
    )


def test_http_words_sql_equal_pandas_on_edge_cases(tmp_path: Path) -> None:
    frame = http_frame
    past = frame(
        [
            (T0 - WEEK + 3600 * h, "10.0.0.1", "GET", "www.example.com", "/", "A", 200, "text/html")
            for h in range(9)
        ]
        + [(T0 - WEEK, "10.0.0.2", "GET", "x.co.uk", "/a", "B", 304, "-")],
        "P",
    )
    now = frame(
        [
            (T0 + 1, "10.0.0.1", "GET", "www.example.com", "/", "A", 200, "text/html,image/png"),
            (
                T0 + 2,
                "10.0.0.2",
                "POST",
                "evil.biz:8080",
                "/g.php?id=%41%42",
                "C",
                500,
                "application/json",
            ),
            (T0 + 3, "10.0.0.3", None, None, None, None, None, None),
            (T0 + 4, "10.0.0.3", "HEAD", "x.co.uk", "/a", "B", 0, "foo,text/plain"),
            (T0 + 5, "10.0.0.3", "GET", "x.co.uk", "/ä", "B", 404, "text"),
        ],
        "N",
    )
    for variant in ("spot", "graphnet"):
        check_words(tmp_path, "http", now, past, variant)


def grouped(src: np.ndarray, word: np.ndarray, coarse: np.ndarray, n: str) -> pd.DataFrame:
    """Per (client, word) of per-record words (the oracle): the least coarse word and count."""
    f = pd.DataFrame({"host": src, "word": word, "coarse": coarse})
    g = f.groupby(["host", "word"], sort=True)
    out = g.agg(coarse=("coarse", "min"), **{n: ("coarse", "size")}).reset_index()
    return out.astype({n: np.int64})


def collisions(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(now, past) records of a few clients whose words repeat, and two records of one client
    whose different parts give the same word text (a query type or an HTTP method holding
    '_'): the engine counts words per key, and must count these two as one word."""
    if kind == "dns":
        base = [
            ("10.0.0.1", "www.example.com", "A", "NOERROR", "1.2.3.4"),
            ("10.0.0.1", "mail.example.com", "MX", "NOERROR", "mx.example.com"),
            ("10.0.0.2", "x1.tunnel.example.org", "TXT", "NXDOMAIN", "-"),
            ("10.0.0.2", "www.example.com", "A", "NOERROR", "1.2.3.4,5.6.7.8"),
            ("10.0.0.3", "cdn.example.net", "AAAA", "NOERROR", "a::1"),
            # the same word: A_B + _ + C and A + _ + B_C
            ("10.0.0.3", "q.example.com", "A_B", "C", "-"),
            ("10.0.0.3", "q.example.com", "A", "B_C", "-"),
        ]

        def frame(t0: float, pre: str) -> pd.DataFrame:
            rows = [(t0 + 3600 * 7 * (i % 3) + 60 * i, *r) for i in range(12) for r in base]
            return dns_frame(rows).assign(uid=lambda f: pre + f["uid"])

        return frame(T0, "N"), frame(T0 - WEEK, "P")
    ent = N.entropy_bin(N.entropy("/abc"))  # "/abc" and "/////" have the same length bin
    base_h = [
        ("10.0.0.1", "GET", "www.example.com", "/", "A", 200, "text/html"),
        ("10.0.0.1", "POST", "api.example.com", "/v1/x?y=1", "A", 201, "application/json"),
        ("10.0.0.2", "GET", "www.example.com", "/", "B", 304, "-"),
        ("10.0.0.2", "GET", "evil.biz", "/g.php?id=%41%42", "C", 200, "text/plain"),
        # the same word: GET_0 + _ + ent + _ + text and GET + _ + 0 + _ + <ent>_text
        ("10.0.0.3", "GET_0", "x.example.com", "/abc", "A", 200, "text/html"),
        ("10.0.0.3", "GET", "x.example.com", "/////", "A", 200, f"{ent}_text/plain"),
    ]

    def frame_h(t0: float, pre: str) -> pd.DataFrame:
        rows = [(t0 + 3600 * 7 * (i % 3) + 60 * i, *r) for i in range(12) for r in base_h]
        return http_frame(rows, pre)

    return frame_h(T0, "N"), frame_h(T0 - WEEK, "P")


@pytest.mark.parametrize(
    ("kind", "variant"),
    [("dns", "graphnet"), ("dns", "spot"), ("http", "graphnet"), ("http", "spot")],
)
def test_counts_pairs_and_scores_by_word_keys_equal_per_record_words(
    tmp_path: Path, kind: str, variant: str
) -> None:
    """The engine counts records per word key and builds each key's word once: its counts,
    pairs and record scores are those of the words built record by record (pandas) and of the
    pure model, also where two different keys give one word text."""
    from graphnet.detectors.applogs import steps

    now, past = collisions(kind)
    maker = DnsWords(variant=variant) if kind == "dns" else HttpWords(variant=variant)
    maker.learn(past)
    pw, pc = maker.words(past)
    nw, nc = maker.scoring(now)
    # the test holds two records of one client with different parts and one word text
    last = slice(len(now) - 2, len(now)) if kind == "dns" else slice(4, 6)
    parts = ["qtype_name", "rcode_name"] if kind == "dns" else ["method", "resp_mime_types"]
    assert len(set(nw[last])) == 1 and len(now.iloc[last][parts].drop_duplicates()) == 2
    lda = LdaSettings(variant=variant, topics=3, max_iter=10)  # type: ignore[arg-type]
    st_ = SuspiciousDnsSettings(lda) if kind == "dns" else SuspiciousHttpSettings(lda)
    wins = windows.window_ids(np.array([T0 - WEEK, T0])).to_numpy()
    bind = {kind: [wins[1]], f"past_{kind}": [wins[0]], f"refs_{kind}": []}
    logs = FrameLogs({kind: pd.concat([now, past], ignore_index=True)})
    archive = Archive(Settings(home=tmp_path))
    with app_session(archive, logs, kind, bind) as s:  # type: ignore[arg-type]
        steps._prepare(s, kind, st_)  # type: ignore[arg-type]
        counts = s.table("app_counts").to_pandas()
        model, _, _ = steps._fit(s, lda, {})
        pairs = s.table("app_pairs")
        s.lookup("app_pair_scores", steps.pair_scores(model, lda, pairs))
        s.table("app_scored", {"threshold": lda.threshold})
        scored = pd.DataFrame(
            s.rows("SELECT uid, word, score FROM app_scored"), columns=["uid", "word", "score"]
        ).set_index("uid")
    keys = ["host", "word"]
    want = grouped(past["src"].to_numpy(object), pw, pc, "n")
    got = counts.sort_values(keys).reset_index(drop=True).astype({"n": np.int64})
    pd.testing.assert_frame_equal(got, want)
    want_p = grouped(now["src"].to_numpy(object), nw, nc, "cnt")
    got_p = pairs.to_pandas().drop(columns="wid").sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got_p.astype({"cnt": np.int64}), want_p)
    # one number per word: equal words share it, different words do not
    p = pairs.to_pandas()
    assert p.groupby("word")["wid"].nunique().max() == 1
    assert p.groupby("wid")["word"].nunique().max() == 1
    # every record scored with its pair's score, as the pure model scores it
    pure = SpotLogModel(maker, lda).fit(past).score(now)
    pure.index = now["uid"].to_numpy()
    assert len(scored) == len(now)
    scored = scored.reindex(pure.index)
    assert (scored["word"] == pure["word"]).all()
    np.testing.assert_allclose(scored["score"].to_numpy(), pure["score"].to_numpy(), rtol=1e-6)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=WEEK - 1),
            st.text(alphabet="abcxyz09.-,", max_size=30),
            st.sampled_from(["A", "TXT", "NULL", "-"]),
            st.text(alphabet="0123456789.,:abc-", max_size=40),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_dns_words_sql_equal_pandas_on_random_records(tmp_path: Path, recs: list[Any]) -> None:
    rows = [
        (T0 + t, f"10.0.0.{i % 3}", q, qt, "NOERROR", a) for i, (t, q, qt, a) in enumerate(recs)
    ]
    now = dns_frame(rows)
    past = dns_frame([(t - WEEK, *r) for t, *r in rows]).assign(uid=lambda f: "P" + f["uid"])
    check_words(tmp_path, "dns", now, past, "graphnet")


def test_words_and_tunnel_aggregates_on_generated_logs(tmp_path: Path, cache: str) -> None:
    truth, dns, http = generated(1, cache)
    w = plants(truth)["dns_tunnel"]["window"]
    wd = windows.window_ids(dns["ts"].to_numpy()).to_numpy()
    wh = windows.window_ids(http["ts"].to_numpy()).to_numpy()
    check_words(tmp_path, "dns", dns[wd == w], dns[wd != w], "graphnet")
    check_words(tmp_path, "http", http[wh == w], http[wh != w], "spot")
    # the tunnelling aggregates
    now = dns[wd == w]
    names = N.dns_name_parts(now["query"])
    want = T.domain_stats(now, names).sort_values("domain").reset_index(drop=True)
    archive = Archive(Settings(home=tmp_path))
    with app_session(
        archive, FrameLogs({"dns": dns}), "dns", {"dns": [w], "past_dns": [], "refs_dns": []}
    ) as s:
        queries = s.table("app_dns_names").column("query").to_pylist()
        s.lookup("dns_names", pa_table(N.dns_name_parts(queries)))
        got = s.table("app_tunnel_domains").to_pandas().sort_values("domain")
        top = want.sort_values("subdomains").tail(3)["domain"].tolist()
        s.lookup("tunnel_domains", pa_table(pd.DataFrame({"domain": top})))
        cl = s.table("app_tunnel_clients", {"examples": 2}).to_pandas()
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want, check_dtype=False, check_exact=False
    )
    want_c = T.client_stats(now, names, top).sort_values(["domain", "src"]).reset_index(drop=True)
    got_c = cl.drop_duplicates(["domain", "src"]).sort_values(["domain", "src"])
    pd.testing.assert_frame_equal(
        got_c[want_c.columns].reset_index(drop=True), want_c, check_dtype=False
    )
    assert (cl.groupby(["domain", "src"]).size() <= 2).all()


def pa_table(frame: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def test_agent_bins_lookup() -> None:
    agents = pd.DataFrame(
        {
            "part": ["past", "past", "now", "now"],
            "user_agent": ["A", "B", "A", "C"],
            "n": [8, 1, 3, 2],
        }
    )
    g = _agent_bins(agents, "graphnet").set_index(["part", "user_agent"])["ua_bin"].to_dict()
    assert g == {("past", "A"): "3", ("past", "B"): "0", ("now", "A"): "3", ("now", "C"): "new"}
    s = _agent_bins(agents, "spot").set_index(["part", "user_agent"])["ua_bin"].to_dict()
    assert s[("now", "A")] == "1" and s[("now", "C")] == "1"


# ------------------------------------------------------------------- steps = pure model
@pytest.mark.parametrize(
    ("kind", "variant"),
    [("dns", "graphnet"), ("dns", "spot"), ("http", "graphnet"), ("http", "spot")],
)
def test_step_scores_equal_the_pure_model(
    tmp_path: Path, cache: str, kind: str, variant: str
) -> None:
    truth, dns, http = generated(2, cache)
    frame = dns if kind == "dns" else http
    w = plants(truth)["dns_tunnel" if kind == "dns" else "ua_beacon"]["window"]
    wins = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    lda = LdaSettings(variant=variant)  # type: ignore[arg-type]
    opt = SuspiciousDnsSettings(lda) if kind == "dns" else SuspiciousHttpSettings(lda)
    run = run_dns if kind == "dns" else run_http
    r = run(ctx_for(tmp_path, w, {"dns": dns, "http": http}, opt, ConnectionScores()))
    maker = DnsWords(variant=variant) if kind == "dns" else HttpWords(variant=variant)
    model = SpotLogModel(maker, lda).fit(frame[wins < w])
    want = model.score(frame[wins == w])
    want.index = frame.loc[wins == w, "uid"].to_numpy()
    assert r.conn_scores is not None and len(r.conn_scores) == len(want)
    np.testing.assert_allclose(
        r.conn_scores.reindex(want.index).to_numpy(), want["score"].to_numpy(), rtol=1e-6
    )
    assert r.info["fit_on"] == "history" and r.findings
    assert all(f.kind == f"suspicious_{kind}" and f.kind in KINDS for f in r.findings)
    check_example_evidence(r.findings, frame, kind)


def check_example_evidence(found: list[Any], frame: pd.DataFrame, kind: str) -> None:
    """Each finding's example lists line up with `examples` and `uids`, and each entry is what
    the records of that uid hold (read from the frame, not from the engine)."""
    by_uid = {str(u): g for u, g in frame.groupby("uid")}
    for f in found:
        ev = f.evidence
        n = len(ev["uids"])
        assert n and len(ev["examples"]) == n
        if kind == "dns":
            assert len(ev["example_domains"]) == len(ev["example_details"]) == n
            for uid, name, reg, detail in zip(
                ev["uids"],
                ev["examples"],
                ev["example_domains"],
                ev["example_details"],
                strict=True,
            ):
                recs = by_uid[uid]
                want = {
                    (q, f"{t} {c}")
                    for q, t, c in zip(
                        recs["query"], recs["qtype_name"], recs["rcode_name"], strict=True
                    )
                }
                assert (name, detail) in want
                assert reg == N.registered_domain(name)[0]
            continue
        assert len(ev["example_hosts"]) == len(ev["example_details"]) == n
        assert len(ev["example_agents"]) == n
        for uid, item, host, detail, agent in zip(
            ev["uids"],
            ev["examples"],
            ev["example_hosts"],
            ev["example_details"],
            ev["example_agents"],
            strict=True,
        ):
            recs = by_uid[uid]
            want = {
                (h + u, h, f"{m} {c}", a)
                for h, u, m, c, a in zip(
                    recs["host"],
                    recs["uri"],
                    recs["method"],
                    recs["status_code"],
                    recs["user_agent"],
                    strict=True,
                )
            }
            assert (item, host, detail, agent) in want


# ------------------------------------------------------------------------ plants
def rank(host_scores: pd.Series, host: str) -> int | None:
    idx = list(host_scores.index)
    return idx.index(host) + 1 if host in idx else None


@pytest.mark.parametrize("seed", SEEDS)
def test_each_plant_is_in_the_top_three_of_its_detector(
    tmp_path: Path, cache: str, seed: int
) -> None:
    truth, dns, http = generated(seed, cache)
    p = plants(truth)
    frames = {"dns": dns, "http": http}
    w = p["dns_tunnel"]["window"]
    assert p["dga"]["window"] == w and p["ua_beacon"]["window"] == w
    r = run_dns(ctx_for(tmp_path, w, frames))
    assert r.host_scores is not None
    for plant in ("dns_tunnel", "dga"):
        assert (rank(r.host_scores, p[plant]["hosts"]["attacker"]) or 99) <= 3, plant
    top_hosts = [f.hosts[0] for f in r.findings[:3]]
    assert p["dns_tunnel"]["hosts"]["attacker"] in top_hosts
    assert p["dga"]["hosts"]["attacker"] in top_hosts
    r = run_http(ctx_for(tmp_path, w, frames))
    assert r.host_scores is not None
    assert (rank(r.host_scores, p["ua_beacon"]["hosts"]["attacker"]) or 99) <= 3
    assert p["ua_beacon"]["hosts"]["attacker"] in [f.hosts[0] for f in r.findings[:3]]
    beacon = next(f for f in r.findings if f.hosts[0] == p["ua_beacon"]["hosts"]["attacker"])
    assert beacon.evidence["example_agents"][0] == p["ua_beacon"]["details"]["user_agent"]
    assert beacon.evidence["example_hosts"][0] == p["ua_beacon"]["details"]["host"]
    r = run_tunnel(ctx_for(tmp_path, w, frames))
    assert r.host_scores is not None
    assert rank(r.host_scores, p["dns_tunnel"]["hosts"]["attacker"]) == 1
    first = r.findings[0]
    assert first.evidence["domain"] == p["dns_tunnel"]["details"]["domain"]
    assert first.hosts[0] == p["dns_tunnel"]["hosts"]["attacker"]
    # the DGA client's random names are registered domains of their own: no tunnel
    assert float(r.host_scores.get(p["dga"]["hosts"]["attacker"], 0.0)) < 1.0


def test_a_window_without_records_is_skipped(tmp_path: Path, cache: str) -> None:
    _, dns, _ = generated(1, cache)
    r = run_tunnel(ctx_for(tmp_path, "2030-W01", {"dns": dns}))
    assert r.skipped and not r.findings


# ------------------------------------------------------------------------ feedback
class FeedbackStore:
    """The graph as the steps read it: the analysts' verdicts only."""

    def __init__(self, verdicts: list[dict[str, Any]]) -> None:
        self.verdicts = verdicts

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return [{"feedback": v} for v in self.verdicts] if name == "lda_feedback" else []


def test_benign_feedback_stops_the_same_behaviour_next_time(tmp_path: Path, cache: str) -> None:
    """Weeks: 1 normal, 2 the tunnel (and the DGA), 3 normal again, 4 week 2 once more. Scored
    on week 3 alone (history_days=7), week 4's tunnel is a finding; after a benign verdict on
    the tunnelling client given for week 2, week 2's records are re-injected and week 4's
    tunnel is no longer one, while the DGA client (not covered) still is."""
    truth, dns, _ = generated(3, cache)
    p = plants(truth)
    w2 = p["dns_tunnel"]["window"]
    wins = windows.window_ids(dns["ts"].to_numpy()).to_numpy()
    again = dns.assign(ts=dns["ts"] + 2 * WEEK, uid="R" + dns["uid"])
    frames = {"dns": pd.concat([dns, again], ignore_index=True)}
    w4 = windows.window_of(float(dns.loc[wins == w2, "ts"].iloc[0]) + 2 * WEEK)
    opt = SuspiciousDnsSettings(LdaSettings(history_days=7))
    tunnel_client = p["dns_tunnel"]["hosts"]["attacker"]
    dga_client = p["dga"]["hosts"]["attacker"]

    before = run_dns(ctx_for(tmp_path, w4, frames, opt, store=FeedbackStore([])))
    assert len(before.info["history"]) == 1 and before.info["feedback_records"] == 0
    flagged = {f.hosts[0] for f in before.findings}
    assert {tunnel_client, dga_client} <= flagged

    verdict = {
        "id": "fb-1",
        "verdict": "benign",
        "scope": "src",
        "src": tunnel_client,
        "window": w2,
    }
    after = run_dns(ctx_for(tmp_path, w4, frames, opt, store=FeedbackStore([verdict])))
    assert after.info["feedback_records"] == int(
        ((wins == w2) & (dns["src"] == tunnel_client)).sum()
    )
    flagged = {f.hosts[0] for f in after.findings}
    assert tunnel_client not in flagged and dga_client in flagged
