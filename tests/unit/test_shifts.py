"""Centrality shifts on seeded synthetic weeks: the planted scanner ranks first, quiet weeks stay
quiet, short histories say so, and the Browser query quotes hostile host ids safely."""

from __future__ import annotations

import json
import re
import weakref
from functools import cache

import numpy as np
import pandas as pd
import pytest

from graphnet.detectors.contract import Model
from graphnet.detectors.shifts import (
    NOT_ENOUGH_HISTORY,
    SCORED,
    CentralityShiftDetector,
    ShiftSettings,
    browser_query,
    community_moves,
    derive,
    model,
    score_window,
)
from graphnet.detectors.shifts.model import _roles
from graphnet.detectors.snapshots import compute
from graphnet.findings import cypher_literal

WEEKS = [f"2024-W{w:02d}" for w in range(1, 6)]
ATTACK_WEEK = "2024-W04"


def synthetic_weeks(seed: int, flippers: int = 0) -> tuple[dict[str, pd.DataFrame], str]:
    """Five weeks of edges of ~420 hosts with stable per-host behaviour (clients talking to a
    stable set of internal servers and external sites, servers to a few other servers, Poisson
    connection counts, 8% of a week's usual edges missing, occasional new external sites).
    In week 4 one client, drawn at random, scans: a ping sweep over 200 internal hosts, two
    full port scans, an SSH brute force and a SYN flood. Returns edges per week and that host.

    `flippers` adds that many low-activity external hosts (Internet mail senders) that, each
    week at random, either deliver 1-3 messages of about a megabyte to a server or receive one
    connection from a client: hosts whose role, PageRank percentile and volume flip from week to
    week on one or two connections."""
    rs = np.random.RandomState(seed)
    flip_rs = np.random.RandomState(seed + 1000)
    senders = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(flippers)]

    def addresses(prefix: str, n: int) -> list[str]:
        pool = rs.choice(254 * 254, n, replace=False)
        return [f"{prefix}.{p // 254 + 1}.{p % 254 + 1}" for p in pool]

    clients, servers, sites = addresses("10.1", 250), addresses("10.9", 20), addresses("203", 150)
    service = rs.choice(["22", "53", "88", "389", "443", "445", "3389", "8080"], len(servers))
    popularity = rs.pareto(1.2, len(servers)) + 1.0
    popularity /= popularity.sum()
    stable: list[tuple[str, str, float, str]] = []
    for c in clients:
        for j in rs.choice(len(servers), rs.randint(3, 9), replace=False, p=popularity):
            stable.append((c, servers[j], rs.gamma(2.0, 20.0), service[j]))
        for j in rs.choice(len(sites), rs.randint(2, 10), replace=False):
            stable.append((c, sites[j], rs.gamma(2.0, 10.0), "443"))
    for i, s in enumerate(servers):
        for j in rs.choice(len(servers), 2, replace=False):
            if j != i:
                stable.append((s, servers[j], rs.gamma(2.0, 50.0), service[j]))
    attacker = clients[rs.randint(len(clients))]
    internal = clients + servers
    weeks = {}
    for week in WEEKS:
        rows = [
            (s, d, rs.poisson(rate) + 1, [port], 1)
            for s, d, rate, port in stable
            if rs.rand() < 0.92
        ]
        rows += [
            (c, sites[rs.randint(len(sites))], rs.poisson(3) + 1, ["443"], 1)
            for c in clients
            if rs.rand() < 0.3
        ]
        for sender in senders:
            if flip_rs.rand() < 0.5:
                rows.append((sender, servers[0], flip_rs.randint(1, 4), ["25"], 1))
            else:
                rows.append((clients[flip_rs.randint(len(clients))], sender, 1, ["25"], 1))
        if week == ATTACK_WEEK:
            for v in rs.choice(len(internal), 200, replace=False):
                rows.append((attacker, internal[v], 1, ["8"], 1))  # ICMP echo
            for v in rs.choice(len(internal), 2, replace=False):
                scanned = [str(p) for p in range(1, 33)] + ["other"]
                rows.append((attacker, internal[v], 1000, scanned, 1000))
            rows.append((attacker, servers[rs.randint(len(servers))], 2000, ["22"], 1))
            rows.append((attacker, internal[rs.randint(len(internal))], 50_000, ["80"], 1))
        e = pd.DataFrame(rows, columns=["src", "dst", "conns", "dport_k", "dport_distinct"])
        e = e[e["src"] != e["dst"]]
        e = e.groupby(["src", "dst"], as_index=False).agg(
            conns=("conns", "sum"),
            dport_k=("dport_k", "sum"),
            dport_distinct=("dport_distinct", "max"),
        )
        e["src_bytes"] = e["conns"] * rs.lognormal(6, 1, len(e))
        e["dst_bytes"] = e["conns"] * rs.lognormal(8, 1, len(e))
        mail = e["src"].isin(senders).to_numpy()
        e.loc[mail, "src_bytes"] = e.loc[mail, "conns"] * flip_rs.lognormal(14, 1, mail.sum())
        weeks[week] = e
    return weeks, attacker


@cache
def measured(seed: int, flippers: int = 0) -> tuple[pd.DataFrame, str]:
    weeks, attacker = synthetic_weeks(seed, flippers)
    frames = []
    for week, edges in weeks.items():
        hosts = compute(edges).hosts.reset_index()
        hosts.insert(0, "window", week)
        frames.append(hosts)
    return pd.concat(frames, ignore_index=True), attacker


def report(seed: int, week: str, flippers: int = 0, **kw: object):  # type: ignore[no-untyped-def]
    measures, _ = measured(seed, flippers)
    earlier = [w for w in WEEKS if w < week][-4:]
    return score_window(measures, week, earlier, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_scanner_ranks_first_and_quiet_weeks_stay_quiet(seed: int) -> None:
    rep, scores = report(seed, ATTACK_WEEK, top=10)
    _, attacker = measured(seed)
    assert rep.status == "ok" and rep.enough_history
    assert rep.rows[0].host == attacker
    planted = rep.rows[0].score
    assert planted >= 1.3 * rep.rows[1].score
    assert scores["rank"].iloc[0] == 1
    for quiet in ("2024-W03", "2024-W05"):
        q, _ = report(seed, quiet, top=1)
        assert q.status == "ok"
        assert q.rows[0].score < 0.5 * planted, (quiet, q.rows[0].explanation)
    text = rep.rows[0].explanation
    assert "→" in text and "σ" in text and "history" in text


@pytest.mark.parametrize("seed", [0, 1])
def test_hosts_scored_a_few_rows_at_a_time_score_as_all_at_once(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are scored in chunks (bounded working arrays) against one population: every
    column, the explanations included, is that of the whole window scored at once."""
    _, whole = report(seed, ATTACK_WEEK, flippers=3)
    monkeypatch.setattr(model, "SCORE_ROWS", 7)
    _, chunked = report(seed, ATTACK_WEEK, flippers=3)
    assert len(whole) > 7 * 3
    pd.testing.assert_frame_equal(chunked, whole)


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_on_some_windows_of_a_table_is_the_fit_on_those_rows(seed: int) -> None:
    """`fit(table, windows=W)` learns from the rows of W alone, as `fit` of those rows: the
    report's table (which holds the window to score too) is not copied without it."""
    measures, _ = measured(seed, 3)
    history = ["2024-W02", "2024-W04", "2024-W03"]  # any order; W01 and W05 left out
    alone = CentralityShiftDetector().fit(measures[measures["window"].isin(history)])
    inside = CentralityShiftDetector().fit(measures, windows=history)
    assert inside.windows_ == alone.windows_ == sorted(history)
    pd.testing.assert_index_equal(inside.hosts_, alone.hosts_)
    for name in ("median_", "scale_", "previous_", "previous_flow_", "best_pct_"):
        pd.testing.assert_frame_equal(getattr(inside, name), getattr(alone, name))
    for name in ("presence_", "offset_", "previous_peers_pct_"):
        pd.testing.assert_series_equal(getattr(inside, name), getattr(alone, name))
    np.testing.assert_array_equal(inside.last_, alone.last_)
    np.testing.assert_array_equal(inside.last_present_, alone.last_present_)
    assert inside.typical_flow_ == alone.typical_flow_
    for (la, ca), (lb, cb) in zip(inside.pairs_, alone.pairs_, strict=True):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(ca, cb)
    cur = measures[measures["window"] == "2024-W05"].set_index("host").drop(columns="window")
    pd.testing.assert_frame_equal(inside.score(cur), alone.score(cur))
    # hosts seen only outside the windows are not fitted
    only_w5 = set(cur.index) - set(measures[measures["window"].isin(history)]["host"])
    assert not only_w5 & set(inside.hosts_)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_table_detailed_for_its_top_rows_ranks_and_explains_as_the_full_one(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `detail`, every host keeps its score and rank and the first rows their
    explanation; the report is the same. Chunks smaller than the detailed head check that the
    head is explained in rank order."""
    monkeypatch.setattr(model, "SCORE_ROWS", 5)
    full_rep, full = report(seed, ATTACK_WEEK, flippers=30, top=4)
    rep, thin = report(seed, ATTACK_WEEK, flippers=30, top=4, detail=12)
    assert rep.to_json() == full_rep.to_json()
    assert list(thin.columns) == ["score", "rank", "explanation"]
    assert len(full) > 50
    pd.testing.assert_index_equal(thin.index, full.index)
    pd.testing.assert_series_equal(thin["score"], full["score"])
    pd.testing.assert_series_equal(thin["rank"], full["rank"])
    assert thin["explanation"].head(12).tolist() == full["explanation"].head(12).tolist()
    assert (thin["explanation"].iloc[12:] == "").all()
    # fewer rows asked for than the report shows: the report's rows are still explained
    rep3, short = report(seed, ATTACK_WEEK, flippers=30, top=4, detail=2)
    assert rep3.to_json() == full_rep.to_json()
    assert (short["explanation"].iloc[:4] != "").all() and (
        short["explanation"].iloc[4:] == ""
    ).all()


def test_a_table_handed_over_is_freed_before_the_hosts_are_scored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`shift_report` passes the metric table on without keeping it: `score_window` lets it
    go once the model is fitted, so it is not held while the hosts are scored. A caller that
    keeps its table gets it back unchanged, and the same report."""
    measures, _ = measured(0)
    kept = measures.copy()
    earlier = WEEKS[:3]
    want_rep, want = score_window(measures, ATTACK_WEEK, earlier, top=5)
    pd.testing.assert_frame_equal(measures, kept)
    refs: list[weakref.ref[pd.DataFrame]] = []

    def handed() -> pd.DataFrame:  # a table no one else holds
        table = measures.copy()
        refs.append(weakref.ref(table))
        return table

    alive: list[bool] = []
    ranked = CentralityShiftDetector.ranked

    def spy(self, obs, detail=None):  # type: ignore[no-untyped-def]
        alive.append(refs[0]() is not None)
        return ranked(self, obs, detail)

    monkeypatch.setattr(CentralityShiftDetector, "ranked", spy)
    got_rep, got = score_window(handed(), ATTACK_WEEK, earlier, top=5)
    assert alive == [False]
    assert got_rep.to_json() == want_rep.to_json()
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_low_activity_hosts_that_flip_stay_far_below_the_scanner(seed: int) -> None:
    # 300 mail senders with one to three connections a week flip between delivering a
    # megabyte and being contacted once: their role, PageRank percentile and volume jump, but
    # on one or two connections; the scanner's shift rests on thousands
    rep, scores = report(seed, ATTACK_WEEK, flippers=300, top=10)
    _, attacker = measured(seed, 300)
    assert rep.rows[0].host == attacker
    planted = rep.rows[0].score
    senders = scores.index[scores.index.str.startswith("198.51.")]
    assert len(senders) > 100
    # (before evidence weighting they scored ~8 against ~21 and topped the quiet weeks)
    assert scores.loc[senders, "score"].max() < 0.05 * planted
    for quiet in ("2024-W03", "2024-W05"):
        q, qs = report(seed, quiet, flippers=300, top=1)
        assert q.rows[0].score < 0.5 * planted, (quiet, q.rows[0].explanation)
        assert qs.loc[qs.index.intersection(senders), "score"].max() < 0.05 * planted
    # the flips are real (out/in balance changes sign), the evidence is what is small: one or
    # two edges make no role
    flips = scores.loc[senders]
    assert (np.sign(flips["previous_balance"]) == -np.sign(flips["current_balance"])).any()
    assert (flips["role_previous"] == flips["role_current"]).all()


def test_balance_needs_more_than_one_edge() -> None:
    frame = pd.DataFrame(
        {
            "out_degree": [1, 0, 3, 50, 10],
            "in_degree": [0, 1, 0, 0, 10],
            "pagerank": [0.2] * 5,
            "peers": [1, 1, 3, 50, 20],
            "betweenness": [0.0] * 5,
            "hub": [0.2] * 5,
            "authority": [0.2] * 5,
        },
        index=list("abcde"),
    )
    balance = derive(frame)["balance"]
    assert balance.tolist() == pytest.approx([1 / 3, -1 / 3, 3 / 5, 50 / 52, 0.0])
    roles = _roles(balance.to_numpy(), ShiftSettings().role_balance).tolist()
    assert roles == ["mixed", "mixed", "client", "client", "mixed"]


def test_offsets_are_the_average_hosts_level() -> None:
    measures, _ = measured(0)
    history = measures[measures["window"].isin(WEEKS[:3])]
    det = CentralityShiftDetector().fit(history)
    for metric in ("conns_out", "bytes_in", "peers"):
        assert det.offset_[metric] == pytest.approx(max(SCORED[metric][1], history[metric].mean()))
    assert det.offset_["pagerank"] == 1.0 and det.offset_["balance"] == 0.0


def test_not_enough_history_is_a_result_not_an_error() -> None:
    rep, scores = report(0, "2024-W02")
    assert rep.status == NOT_ENOUGH_HISTORY and not rep.enough_history
    assert rep.rows == [] and scores.empty
    assert "not enough history" in rep.message and "1 earlier" in rep.message
    assert rep.graph.hosts > 0 and rep.graph.previous_window == "2024-W01"
    first, _ = report(0, "2024-W01")
    assert first.status == NOT_ENOUGH_HISTORY and first.graph.previous_window is None
    # the threshold is a setting
    ok, _ = report(0, "2024-W02", settings=ShiftSettings(min_history=1))
    assert ok.status == "ok" and ok.rows
    assert json.dumps(rep.to_json())


def test_row_json_shape() -> None:
    rep, _ = report(1, ATTACK_WEEK, top=3)
    doc = json.loads(json.dumps(rep.to_json()))
    assert set(doc) >= {"window", "status", "history", "graph", "rows"}
    assert set(doc["graph"]) >= {"hosts", "new_edges", "vanished_edges", "community_moves"}
    for i, row in enumerate(doc["rows"], start=1):
        assert list(row) == ["window", "host", "score", "rank", "parts", "explanation", "cypher"]
        assert row["rank"] == i and row["window"] == ATTACK_WEEK
        assert set(SCORED) <= set(row["parts"])
        for part in row["parts"].values():
            assert set(part) == {"previous", "current", "z"}
    scores = [r["score"] for r in doc["rows"]]
    assert scores == sorted(scores, reverse=True)


def test_detector_follows_the_contract() -> None:
    measures, _ = measured(0)
    history = measures[measures["window"].isin(WEEKS[:3])]
    current = measures[measures["window"] == ATTACK_WEEK].set_index("host").drop(columns="window")
    det = CentralityShiftDetector().fit(history)
    out = Model.check_scores(det.score(current), current)
    assert {f"part_{m}" for m in SCORED} <= set(out.columns)
    assert np.isfinite(out["score"]).all() and (out["score"] >= 0).all()
    assert out["explanation"].map(len).min() > 10


def flat_history(values: dict[str, list[float]], windows: list[str]) -> pd.DataFrame:
    base = {
        "out_degree": 5,
        "in_degree": 5,
        "peers": 8,
        "dports_out": 2,
        "dports_in": 2,
        "conns_out": 50,
        "conns_in": 50,
        "bytes_out": 1e5,
        "bytes_in": 1e5,
        "pagerank": 0.01,
        "betweenness": 0.0,
        "hub": 0.01,
        "authority": 0.01,
        "community": 0,
        "community_size": 10,
    }
    rows = []
    for i, w in enumerate(windows):
        for h in range(10):
            host = f"h{h}"
            row = {"window": w, "host": host, **base}
            for metric, series in values.get(host, {}).items():  # type: ignore[attr-defined]
                row[metric] = series[i]
            rows.append(row)
    return pd.DataFrame(rows)


def test_flat_history_gives_finite_z_with_the_floor() -> None:
    wins = ["2024-W01", "2024-W02", "2024-W03", "2024-W04"]
    # every host identical in every earlier week: MAD = 0 and the population change = 0
    data = flat_history({"h3": {"out_degree": [5, 5, 5, 200]}}, wins)  # type: ignore[dict-item]
    det = CentralityShiftDetector().fit(data[data["window"] < "2024-W04"])
    cur = data[data["window"] == "2024-W04"].set_index("host").drop(columns="window")
    out = det.score(cur)
    assert np.isfinite(out.filter(like="part_").to_numpy()).all()
    c = det.offset_["out_degree"]
    assert c == pytest.approx(5.0)  # the average host's out-degree
    z = out.loc["h3", "part_out_degree"]
    assert z == pytest.approx((np.log(200 + c) - np.log(5 + c)) / SCORED["out_degree"][2])
    assert out["score"].idxmax() == "h3"
    assert out.drop(index="h3")["score"].max() == pytest.approx(0.0, abs=1e-9)


def test_population_change_is_the_fallback_scale() -> None:
    wins = ["2024-W01", "2024-W02", "2024-W03", "2024-W04"]
    rs = np.random.RandomState(0)
    # hosts h0..h8 wander (typical change), h9 is perfectly flat then moves a little
    values = {f"h{i}": {"out_degree": list(rs.randint(5, 40, 4))} for i in range(9)}
    values["h9"] = {"out_degree": [10, 10, 10, 14]}
    data = flat_history(values, wins)  # type: ignore[arg-type]
    # level_share=1: the population's change is that of all host-pairs, the change into W04
    # included
    det = CentralityShiftDetector(ShiftSettings(level_share=1.0)).fit(
        data[data["window"] < "2024-W04"]
    )
    cur = data[data["window"] == "2024-W04"].set_index("host").drop(columns="window")
    c = det.offset_["out_degree"]
    series = np.log(np.array([values[f"h{i}"]["out_degree"] for i in range(10)]) + c)
    pop = np.median(np.abs(np.diff(series, axis=1))) * 1.4826 / np.sqrt(2)
    assert pop > SCORED["out_degree"][2]
    z = det.score(cur).loc["h9", "part_out_degree"]
    assert z == pytest.approx((np.log(14 + c) - np.log(10 + c)) / pop)
    assert abs(z) < 3  # a small move of a flat host is not a 40-sigma event


def test_population_change_is_taken_at_the_hosts_level() -> None:
    # 20 big hosts (out-degree ~300) wander by about a quarter a week, 20 smaller ones (100)
    # never move: a big host's +33% is judged against the big hosts, a smaller host's step
    # against the smaller ones
    wins = ["2024-W01", "2024-W02", "2024-W03", "2024-W04"]
    rs = np.random.RandomState(1)
    rows = []
    for i in range(40):
        big = i < 20
        for k, w in enumerate(wins):
            deg = 300 * np.exp(rs.normal(0, 0.25)) if big else 100
            if w == "2024-W04" and i in (0, 20):
                deg = 400 if big else 250
            rows.append({"window": w, "host": f"h{i:02d}", "out_degree": round(deg), "k": k})
    data = flat_history({}, wins).drop(columns="out_degree").drop_duplicates("window")
    frame = pd.DataFrame(rows).merge(data.drop(columns="host"), on="window")
    det = CentralityShiftDetector().fit(frame[frame["window"] < "2024-W04"].drop(columns="k"))
    cur = frame[frame["window"] == "2024-W04"].set_index("host").drop(columns=["window", "k"])
    z = det.score(cur)["part_out_degree"]
    assert abs(z["h00"]) < 3  # 300 -> 400 is what big hosts do
    assert z["h20"] > 3  # 100 -> 250 is not what the smaller hosts do


def test_vanished_regular_host_is_scored() -> None:
    measures, _ = measured(2)
    cur = measures[measures["window"] == "2024-W03"]
    victim = cur.sort_values("in_degree").iloc[-1]["host"]  # the busiest server
    trimmed = measures[~((measures["window"] == "2024-W03") & (measures["host"] == victim))]
    rep, scores = score_window(trimmed, "2024-W03", WEEKS[:2], top=5)
    assert victim in scores.index
    assert scores.loc[victim, "part_in_degree"] < -3
    assert rep.rows[0].host == victim


def test_community_moves_ignore_label_names() -> None:
    prev = pd.Series([0, 0, 0, 1, 1, 1], index=list("abcdef"))
    relabelled = pd.Series([7, 7, 7, 3, 3, 3], index=list("abcdef"))
    assert not community_moves(prev, relabelled)["moved"].any()
    one_moves = pd.Series([7, 7, 3, 3, 3, 3], index=list("abcdef"))
    moves = community_moves(prev, one_moves)
    assert moves.index[moves["moved"]].tolist() == ["c"]
    only_common = community_moves(prev, pd.Series([1, 1], index=["a", "zz"]))
    assert only_common.index.tolist() == ["a"]


def parse_literal(text: str, start: int) -> tuple[str, int]:
    """Read a single-quoted Cypher string literal at `start`; return its value and end."""
    assert text[start] == "'"
    out, i = [], start + 1
    simple = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
    while text[i] != "'":
        if text[i] == "\\":
            nxt = text[i + 1]
            if nxt == "u":
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(simple[nxt])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out), i + 1


HOSTILE = [
    "10.0.0.1",
    "it's",
    "a\\'}) DETACH DELETE (n) //",
    "x' OR 1=1 RETURN h //",
    'quote"double',
    "back\\slash\\",
    "new\nline\r\t\x00\x1b\x7f\u2028end",
    "ünïcödé-主机-🙂",
    "\\u0027",
]


@pytest.mark.parametrize("host", HOSTILE)
def test_cypher_literal_round_trips(host: str) -> None:
    lit = cypher_literal(host)
    value, end = parse_literal(lit, 0)
    assert value == host and end == len(lit)
    assert "\n" not in lit and "\r" not in lit


@pytest.mark.parametrize("host", HOSTILE)
def test_browser_query_embeds_hostile_ids_as_one_literal(host: str) -> None:
    q = browser_query(host, "2024-W04")
    head = "MATCH (h:Host {id: "
    assert q.startswith(head)
    value, end = parse_literal(q, len(head))
    assert value == host
    assert q[end:].startswith("})\nCALL (h) {")
    # the rest of the query does not depend on the host id
    assert q[end:] == browser_query("x", "2024-W04")[len(head) + 3 :]
    assert re.search(r"\{window: '2024-W04'\}", q)
