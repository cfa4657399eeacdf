"""The first load's edges and hosts, aggregated by the engine from the archived files, are the
rows the Bolt path writes for the same connections (`graphnet.accumulate.EdgeRows`)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import bulk_ingest, windows
from graphnet.accumulate import EdgeAccumulator
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.ingest import host_classifier, host_rows

from .test_ingest_transform import MON, conns

HOSTS = ["10.0.0.1", "10.0.0.2", "a|b", "\u00e9\"'\n", "other", "\U0001f600"]
PORTS = [22, 53, 80, 443, 8080, 50000, -1]
STATES = ["SF", "S0", "REJ", "other", "", "\u202e"]
SERVICES = ["-", "dns", "ssl", "other", "\u00e9"]


def archived(tmp: Path, frames: list[pd.DataFrame]) -> tuple[Archive, list[str]]:
    """Each frame written as one (uncommitted) file, as ingest leaves them before the load."""
    archive = Archive(Settings(home=tmp))
    shas = []
    for i, f in enumerate(frames):
        sha = f"{i + 1:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        w.finish()
        shas.append(sha)
    return archive, shas


def bolt_rows(frames: list[pd.DataFrame], top: int) -> tuple[list[dict], list[dict]]:
    acc = EdgeAccumulator()
    for f in frames:
        acc.add_frame(f, "week")
    rows = acc.rows({"service": top, "dport": top, "conn_state": top})
    return rows.slice(0, len(rows)), host_rows(rows, host_classifier())


def same(a: list[dict], b: list[dict]) -> None:
    key = lambda r: r["key"]  # noqa: E731
    assert len(a) == len(b)
    for x, y in zip(sorted(a, key=key), sorted(b, key=key), strict=True):
        assert {k: v for k, v in x.items() if k != "props"} == {
            k: v for k, v in y.items() if k != "props"
        }
        assert set(x["props"]) == set(y["props"])
        for k, v in x["props"].items():
            if isinstance(v, float):
                assert math.isclose(v, y["props"][k], rel_tol=1e-9, abs_tol=1e-9), k
            else:
                assert v == y["props"][k], k


ROW = st.tuples(
    st.floats(0, 20 * 86400, allow_nan=False),
    st.integers(0, len(HOSTS) - 1),
    st.integers(0, len(HOSTS) - 1),
    st.integers(0, len(PORTS) - 1),
    st.integers(0, len(STATES) - 1),
    st.integers(0, len(SERVICES) - 1),
    st.integers(0, 5000),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ROW, min_size=1, max_size=60), st.integers(1, 4), st.integers(1, 3))
def test_engine_edges_and_hosts_are_the_bolt_rows(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple], top: int, files: int
) -> None:
    frame = conns(
        [
            (
                MON + t,
                HOSTS[s],
                HOSTS[d],
                PORTS[p],
                "tcp",
                SERVICES[v],
                STATES[c],
                "S",
                float(b),
                np.nan if b % 3 == 0 else float(b * 2),
            )
            for t, s, d, p, c, v, b in rows
        ]
    )
    cuts = np.linspace(0, len(frame), files + 1).astype(int)
    frames = [frame.iloc[a:b] for a, b in itertools.pairwise(cuts) if b > a]
    archive, shas = archived(tmp_path_factory.mktemp("bulk"), frames)
    want_edges, want_hosts = bolt_rows(frames, top)
    got = list(bulk_ingest.edge_rows(archive, shas, top, batch_rows=7))
    same(got, want_edges)
    hosts = list(bulk_ingest.host_rows(archive, shas, host_classifier()))
    assert hosts == sorted(want_hosts, key=lambda h: h["id"])


def test_only_the_named_files_are_read(tmp_path: Path) -> None:
    a = conns([(MON, "a", "b", 22, "tcp", "ssh", "SF", "S", 1.0, 2.0)])
    b = conns([(MON + 60, "c", "d", 22, "tcp", "ssh", "SF", "S", 1.0, 2.0)])
    archive, shas = archived(tmp_path, [a, b])
    got = list(bulk_ingest.edge_rows(archive, shas[1:], 32))
    assert [(r["src"], r["dst"], r["props"]["conns"]) for r in got] == [("c", "d", 1)]


def test_a_connection_in_two_files_counts_twice_as_the_bolt_path_counts_it(tmp_path: Path) -> None:
    a = conns([(MON, "a", "b", 22, "tcp", "ssh", "SF", "S", 1.0, 2.0)])
    archive, shas = archived(tmp_path, [a, a.assign(line=7)])  # the same uid, two contents
    (got,) = bulk_ingest.edge_rows(archive, shas, 32)
    (want,), _ = bolt_rows([a, a], 32)
    same([got], [want])
    assert got["props"]["conns"] == 2
