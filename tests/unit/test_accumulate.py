"""The compact running aggregate of an ingest group: chunked accumulation gives the rows one
pass gives (`edge_rows` builds its rows with the accumulator too), and its top-N folding agrees
with the independent DataFrame folding `ingest.fold_top`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet.accumulate import EdgeAccumulator
from graphnet.ingest import edge_key, edge_rows, fold_top, transform

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
    top = {"dport": ntop, "history": ntop}
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
    top = {"dport": 2, "history": 2}
    assert same(a.rows(top).slice(0, a.edges), expected(frame, top))
    assert a.hist_rows == len(transform(frame, "week").hist)


def test_folded_rest_and_real_other_value_are_one() -> None:
    # the history value "other" exists in the data and the folded rest is added to it
    rows = [(60.0 * i, 0, 1, 0, 0, i % 5, 10) for i in range(10)]
    frame = frame_of(rows)
    frame.loc[frame.index[:2], "history"] = "other"
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    (row,) = acc.rows({"dport": 1, "history": 1}).slice(0, 1)
    hist = dict(zip(row["props"]["history_k"], row["props"]["history_n"], strict=True))
    # counts: other 2, '-' 2, Dd 2, ShR 2, S 1, ShADadFf 1 -> keep '-' (ties by value)
    assert hist == {"-": 2, "other": 8}
    assert row["props"]["history_distinct"] == 6
    assert same([row], expected(frame, {"dport": 1, "history": 1}))


def test_hosts_span_their_edges() -> None:
    frame = frame_of([(0.0, 0, 1, 0, 0, 0, 1), (7200.0, 1, 2, 0, 0, 0, 1)])
    acc = EdgeAccumulator()
    acc.add_frame(frame, "week")
    hosts = acc.rows({"dport": 3, "history": 3}).hosts()
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
    rows = acc.rows({"dport": 3, "history": 3}, parts=4)
    batches = rows.batches(3)
    assert all(hi - lo <= 3 for _, lo, hi in batches)
    seen = [r["key"] for _, lo, hi in batches for r in rows.slice(lo, hi)]
    assert sorted(seen) == sorted(r["key"] for r in expected(frame, {"dport": 3, "history": 3}))
    assert len(set(seen)) == len(seen)
    for part, lo, hi in batches:
        assert set(rows.part[lo:hi].tolist()) == {part}
    # the cut depends on the keys only: the same edges give the same batches
    again = EdgeAccumulator()
    for i in range(0, len(frame), 41):
        again.add_frame(frame.iloc[i : i + 41], "week")
    other = again.rows({"dport": 3, "history": 3}, parts=4)
    assert other.batches(3) == batches
    assert [r["key"] for r in other.slice(0, len(other))] == [
        r["key"] for r in rows.slice(0, len(rows))
    ]
