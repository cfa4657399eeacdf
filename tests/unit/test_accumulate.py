"""The compact running aggregate of an ingest group: chunked accumulation gives the rows one
pass gives (`edge_rows` builds its rows with the accumulator too), and its top-N folding agrees
with the independent DataFrame folding `histograms.fold_top`."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graphnet import accumulate
from graphnet.accumulate import EdgeAccumulator
from graphnet.detectors.novelty.histograms import fold_top
from graphnet.ingest import edge_key, edge_rows, transform, writer

from .test_ingest_transform import MON, conns

HOSTS = ["10.0.0.1", "10.0.0.2", "192.168.1.7", "8.8.8.8", "ATTACKER1"]
PORTS = [22, 53, 80, 443, 8080, 50000]
STATES = ["SF", "S0", "REJ", "other"]
HISTORIES = ["ShADadFf", "S", "Dd", "ShR", "-"]


def expected(frame: pd.DataFrame, top: dict[str, int]) -> list[dict]:
    rows = edge_rows(transform(frame, "week"), top)
    for r in rows:
        r["key"] = edge_key(r["src"], r["dst"], r["window"])
    return rows


def folded(rows: list[dict], top: dict[str, int]) -> dict[tuple[str, str], dict[str, int]]:
    """(edge key, component) -> {value: count} of the rows' top-N components."""
    return {
        (r["key"], c): dict(zip(r["props"][f"{c}_k"], r["props"][f"{c}_n"], strict=True))
        for r in rows
        for c in top
    }


def folded_by_pandas(frame: pd.DataFrame, top: dict[str, int]) -> dict:
    hist, _ = fold_top(transform(frame, "week").hist, top)
    hist = hist[hist["comp"].isin(list(top))]
    out: dict[tuple[str, str], dict[str, int]] = {}
    for r in hist.itertuples(index=False):
        out.setdefault((edge_key(r.src, r.dst, r.window), r.comp), {})[str(r.value)] = int(r.n)
    return out


def same(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if {k: v for k, v in x.items() if k != "props"} != {
            k: v for k, v in y.items() if k != "props"
        }:
            return False
        if set(x["props"]) != set(y["props"]):
            return False
        for k, v in x["props"].items():
            w = y["props"][k]
            if isinstance(v, float) and not math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-9):
                return False
            if not isinstance(v, float) and v != w:
                return False
    return True


def frame_of(draw_rows: list[tuple]) -> pd.DataFrame:
    return conns(
        [
            (
                MON + t,
                HOSTS[s],
                HOSTS[d],
                PORTS[p],
                "udp" if p == 1 else "tcp",
                "dns" if p == 1 else "-",
                STATES[c],
                HISTORIES[h],
                float(b),
                np.nan if b % 3 == 0 else float(b * 2),
            )
            for t, s, d, p, c, h, b in draw_rows
        ]
    )


ROW = st.tuples(
    st.floats(0, 20 * 86400, allow_nan=False),  # three ISO weeks
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(0, 5),
    st.integers(0, 3),
    st.integers(0, 4),
    st.integers(0, 5000),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=80), st.integers(1, 30), st.integers(1, 4))
def test_chunked_accumulation_equals_one_pass(rows: list[tuple], step: int, ntop: int) -> None:
    frame = frame_of(rows)
    top = {"dport": ntop, "conn_state": ntop}
    acc = EdgeAccumulator()
    for i in range(0, len(frame), step):
        acc.add_frame(frame.iloc[i : i + step], "week")
    got = acc.rows(top)
    assert same(got.slice(0, len(got)), expected(frame, top))
    assert folded(got.slice(0, len(got)), top) == folded_by_pandas(frame, top)
    # batches cut from the sorted edges give the same rows as one slice
    pieces = [r for i in range(0, len(got), 3) for r in got.slice(i, i + 3)]
    assert same(pieces, expected(frame, top))


def test_absorb_adds_another_accumulator() -> None:
    frame = frame_of(
        [(3600.0 * i, i % 3, (i + 1) % 5, i % 6, i % 4, i % 5, 100 * i) for i in range(40)]
    )
    a, b = EdgeAccumulator(), EdgeAccumulator()
    a.add_frame(frame.iloc[:25], "week")
    b.add_frame(frame.iloc[25:], "week")
    a.absorb(b)
    top = {"dport": 2, "conn_state": 2}
    assert same(a.rows(top).slice(0, a.edges), expected(frame, top))
    assert a.hist_rows == len(transform(frame, "week").hist)


def test_folded_rest_and_real_other_value_are_one() -> None:
    # the state value "other" exists in the data and the folded rest is added to it
    rows = [(60.0 * i, 0, 1, 0, i % 3, 0, 10) for i in range(10)]
    frame = frame_of(rows)
    frame.loc[frame.index[:2], "conn_state"] = "RSTO"
    frame.loc[frame.index[2:4], "conn_state"] = "other"
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    (row,) = acc.rows({"dport": 1, "conn_state": 1}).slice(0, 1)
    hist = dict(zip(row["props"]["conn_state_k"], row["props"]["conn_state_n"], strict=True))
    # RSTO, other, S0, REJ and SF twice each: keep REJ (ties by value), fold into other
    assert hist == {"REJ": 2, "other": 8}
    assert row["props"]["conn_state_distinct"] == 5
    assert same([row], expected(frame, {"dport": 1, "conn_state": 1}))


def test_edges_carry_a_readable_summary_of_services_ports_and_states() -> None:
    rows = [(60.0 * i, 0, 1, i % 6, i % 4, 0, 10) for i in range(24)]
    acc = EdgeAccumulator()
    acc.add_frame(frame_of(rows), "week")
    (row,) = acc.rows({"dport": 32, "conn_state": 32, "service": 32}).slice(0, 1)
    props = row["props"]
    assert props["ports"] == "22 4, 443 4, 53 4, 3 more"  # counts tie: by value
    assert props["services"] == "- 20, dns 4"
    assert props["states"] == "REJ 6, S0 6, SF 6, 1 more"
    assert "history_k" not in props and "proto_k" not in props


def test_hosts_span_their_edges() -> None:
    frame = frame_of([(0.0, 0, 1, 0, 0, 0, 1), (7200.0, 1, 2, 0, 0, 0, 1)])
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    hosts = acc.rows({"dport": 3, "conn_state": 3}).hosts()
    first = int(MON * 1000)
    assert hosts == {
        "10.0.0.1": (first, first),
        "10.0.0.2": (first, first + 7_200_000),
        "192.168.1.7": (first + 7_200_000, first + 7_200_000),
    }


def test_batches_cover_every_edge_once_and_never_mix_partitions() -> None:
    frame = frame_of(
        [(600.0 * i, i % 5, (i * 3 + 1) % 5, i % 6, i % 4, i % 5, i) for i in range(300)]
    )
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    rows = acc.rows({"dport": 3, "conn_state": 3}, parts=4)
    batches = rows.batches(3)
    assert all(hi - lo <= 3 for _, lo, hi in batches)
    seen = [r["key"] for _, lo, hi in batches for r in rows.slice(lo, hi)]
    assert sorted(seen) == sorted(r["key"] for r in expected(frame, {"dport": 3, "conn_state": 3}))
    assert len(set(seen)) == len(seen)
    for part, lo, hi in batches:
        assert set(rows.part[lo:hi].tolist()) == {part}
    # the cut depends on the keys only: the same edges give the same batches
    again = EdgeAccumulator()
    for i in range(0, len(frame), 41):
        again.add_frame(frame.iloc[i : i + 41], "week")
    other = again.rows({"dport": 3, "conn_state": 3}, parts=4)
    assert other.batches(3) == batches
    assert [r["key"] for r in other.slice(0, len(other))] == [
        r["key"] for r in rows.slice(0, len(rows))
    ]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(1, 5))
def test_a_stream_of_edges_is_cut_into_rounds_of_one_partition_batches(
    size: int, parts: int
) -> None:
    # the Bolt load's batches of the engine's stream of edges: every edge once, a batch of one
    # partition (the partition `accumulate.partitions` gives, as EdgeRows), a round of
    # `size * parts` edges of the stream, and the same stream gives the same batches
    frame = frame_of(
        [(600.0 * i, i % 5, (i * 3 + 1) % 5, i % 6, i % 4, i % 5, i) for i in range(300)]
    )
    stream = expected(frame, {"dport": 3, "conn_state": 3})
    rounds = list(writer.archived_batches(iter(stream), size, parts))
    assert len(rounds) == -(-len(stream) // (size * parts))
    seen = [r["key"] for rnd in rounds for _, batch in rnd for r in batch]
    assert sorted(seen) == sorted(r["key"] for r in stream) and len(set(seen)) == len(seen)
    position = {r["key"]: i for i, r in enumerate(stream)}
    for k, rnd in enumerate(rounds):
        keys = [r["key"] for _, batch in rnd for r in batch]
        assert sorted(position[key] // (size * parts) for key in keys) == [k] * len(keys)
        assert [p for p, _ in rnd] == sorted({p for p, _ in rnd})
        for part, batch in rnd:
            src, dst, win = (
                np.array([r[c] for r in batch], dtype=object) for c in ("src", "dst", "window")
            )
            assert accumulate.partitions(src, dst, win, parts).tolist() == [part] * len(batch)
            # within a batch, the stream's order
            assert [position[r["key"]] for r in batch] == sorted(position[r["key"]] for r in batch)
    again = list(writer.archived_batches(iter(stream), size, parts))
    assert again == rounds
    # the partition of an edge is the one EdgeRows cuts a group's batches by
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    rows = acc.rows({"dport": 3, "conn_state": 3}, parts=parts)
    assert rows.part.tolist() == accumulate.partitions(rows.src, rows.dst, rows.win, parts).tolist()


#: texts made mostly of a key's own punctuation (where an ambiguous encoding collides), or any
TEXT = st.text(alphabet="|:01a", max_size=5) | st.text(max_size=8)
WEEKS = ["2024-W10", "2024-W11", "2024-W12"]
#: host ids that often made ambiguous keys ("a|" -> "a" and "a" -> "|a"), or any
IDS = st.sampled_from(["", "|", "a", "a|", "|a", "1:a", "a|1:"]) | st.text(max_size=4)


def decode_key(key: str) -> tuple[str, str, str]:
    """(src, dst, window) read back from an edge key: one key names one edge."""
    parts = []
    for _ in range(2):
        size, key = key.split(":", 1)
        n = int(size)
        parts.append(key[:n])
        assert key[n] == "|"
        key = key[n + 1 :]
    return parts[0], parts[1], key


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT)
def test_edge_keys_of_any_strings_never_collide(
    s1: str, d1: str, w1: str, s2: str, d2: str, w2: str
) -> None:
    key = edge_key(s1, d1, w1)
    assert decode_key(key) == (s1, d1, w1)
    if (s1, d1, w1) != (s2, d2, w2):
        assert key != edge_key(s2, d2, w2)


def one_conn(t: float, src: str, dst: str) -> tuple:
    return (MON + t, src, dst, 22, "tcp", "ssh", "SF", "S", 10.0, 20.0)


def test_ids_with_bars_stay_two_edges() -> None:
    # 'p|q' -> 'r' and 'p' -> 'q|r' were one key "p|q|r|<window>" (and one edge of two)
    frame = conns(
        [one_conn(60.0 * i, "p|q", "r") for i in range(5)]
        + [one_conn(600.0 + i, "p", "q|r") for i in range(3)]
    )
    acc = EdgeAccumulator()
    acc.add_frame(frame.iloc[:4], "week")
    acc.add_frame(frame.iloc[4:], "week")
    got = acc.rows({"dport": 3, "conn_state": 3}).slice(0, acc.edges)
    assert {(r["src"], r["dst"]): r["props"]["conns"] for r in got} == {
        ("p|q", "r"): 5,
        ("p", "q|r"): 3,
    }
    assert sorted(r["key"] for r in got) == [
        edge_key("p", "q|r", "2024-W10"),
        edge_key("p|q", "r", "2024-W10"),
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(IDS, IDS, st.integers(0, 2)), min_size=1, max_size=40), st.integers(1, 10)
)
@example([("a|", "a", 0), ("a", "|a", 0), ("a|", "a", 0)], 1)
def test_edges_of_any_host_ids_are_summed_apart(
    conns_: list[tuple[str, str, int]], step: int
) -> None:
    frame = conns([one_conn(8 * 86400.0 * w + i, s, d) for i, (s, d, w) in enumerate(conns_)])
    acc = EdgeAccumulator()
    for i in range(0, len(frame), step):
        acc.add_frame(frame.iloc[i : i + step], "week")
    rows = acc.rows({"dport": 3, "conn_state": 3}, parts=4)
    got = rows.slice(0, len(rows))
    want = Counter((s, d, WEEKS[w]) for s, d, w in conns_)
    assert {(r["src"], r["dst"], r["window"]): r["props"]["conns"] for r in got} == want
    assert [r["key"] for r in got] == [edge_key(r["src"], r["dst"], r["window"]) for r in got]
    assert len({r["key"] for r in got}) == len(got)


def test_partitions_hash_the_pre_v2_key_text() -> None:
    # the batches of a group are cut as before edge keys were length-prefixed, so that an
    # ingest interrupted before the upgrade resumes exactly after it
    frame = frame_of(
        [(600.0 * i, i % 5, (i * 3 + 1) % 5, i % 6, i % 4, i % 5, i) for i in range(300)]
    )
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    rows = acc.rows({"dport": 3, "conn_state": 3}, parts=8)
    legacy = np.array(
        [f"{s}|{d}|{w}" for s, d, w in zip(rows.src, rows.dst, rows.win, strict=True)],
        dtype=object,
    )
    want = (pd.util.hash_array(legacy, categorize=False) % np.uint64(8)).astype(np.int64)
    assert rows.part.tolist() == want.tolist()
