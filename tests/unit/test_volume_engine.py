"""The volume step on the analytical engine: each SQL aggregation (`volume.aggregates`,
`graphnet/sql/volume_*.sql`) against its in-memory oracle on hand-written and random frames,
the whole step against the pure model on the same connections, and the step within a memory
limit far below the size of its window's connections."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import ConnectionScores, Context
from graphnet.detectors.volume import (
    VolumeBaselines,
    VolumeSettings,
    aggregates,
    busy_edges,
    cells,
    findings_from_cells,
    host_scores,
    run,
    tops_from_connections,
)
from graphnet.detectors.volume.step import KEPT
from graphnet.generate.frames import synthetic_connections
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

MON = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday (2024-W10)
BS = 300


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A normalised connection frame with the archive's columns and types."""
    cols = {c: pa.array([r.get(c) for r in rows], type=ARROW_TYPES[c]) for c in BASE_COLUMNS}
    return pa.table(cols).to_pandas()


def archived(tmp: Path, *frames: pd.DataFrame, settings: Settings | None = None) -> Archive:
    """An archive holding each frame as one committed file."""
    archive = Archive(settings or Settings(home=tmp))
    for i, f in enumerate(frames):
        sha = f"{i + 1:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


def conn(ts: float, src: str, dst: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        ts=ts,
        uid=f"C{ts:.3f}{src}{dst}",
        src=src,
        dst=dst,
        sport=50000,
        dport=80,
        proto="tcp",
        service="http",
        conn_state="SF",
        src_bytes=100.0,
        dst_bytes=900.0,
        src_pkts=3.0,
        dst_pkts=3.0,
        line=1,
    )
    row.update(kw)
    return row


# time-ordered, no two first appearances at the same time
HAND = frame(
    [
        conn(MON + 1, "a", "b"),
        conn(MON + 2, "a", "b", dport=443, src_bytes=float("nan")),
        conn(MON + 3, "a", "b", dport=None, dst_bytes=None),
        conn(MON + 4, "c", "c"),  # a host talking to itself counts once
        conn(MON + 5, "b", "a", conn_state=None),
        conn(MON + 6, "d", "a", dport=22),
        conn(MON + BS + 7, "a", "b", src_bytes=7.5),
        conn(MON + BS + 8, "e", "d"),
        conn(MON + 3 * BS + 9, "a", "b", dport=22),
        conn(MON + 3 * BS + 10, "a", "e", conn_state="S0"),
        conn(MON + 3 * BS + 11, "a", "b", conn_state="S0", dport=22),
        conn(MON + 7 * 86400 + 12, "a", "b"),  # the next window
        conn(MON + 7 * 86400 + 13, "f", "a"),
    ]
)


def sql_cells(
    archive: Archive, wins: list[str], edges: pd.Index | None, entities: pd.Index
) -> tuple[pd.DataFrame, pd.Index]:
    lookups = {aggregates.EDGES: aggregates.edge_table(edges)}
    with archive.session({"conns": wins}, lookups=lookups) as s:
        return aggregates.cells(s, entities, BS)


def no_entities() -> pd.Index:
    return pd.Index(np.array([], dtype=object))


@pytest.mark.parametrize("edges", [None, ["a->b", "d->a"]])
def test_cells_match_the_pandas_oracle(tmp_path: Path, edges: list[str] | None) -> None:
    archive = archived(tmp_path, HAND)
    ed = None if edges is None else pd.Index(edges)
    got, got_ents = sql_cells(archive, archive.windows(), ed, no_entities())
    want, want_ents = cells(HAND, no_entities(), ed, BS)
    assert list(got_ents) == list(want_ents)
    pd.testing.assert_frame_equal(got, want)
    # spot checks of the rules themselves
    a = got[got["entity"] == list(got_ents).index("a")].iloc[0]
    assert (a["flows"], a["bytes"], a["peers"]) == (5.0, 4000.0, 2.0)  # NaN/None bytes are 0
    c = got[got["entity"] == list(got_ents).index("c")].iloc[0]
    assert (c["flows"], c["peers"]) == (1.0, 1.0)
    if edges:
        ab = got[got["entity"] == list(got_ents).index("a->b")].iloc[0]
        assert (ab["flows"], ab["peers"]) == (3.0, 3.0)  # ports 80, 443 and unknown (-1)


def test_cells_append_new_entities_after_the_known_ones(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    known = pd.Index(np.array(["e", "zz", "b"], dtype=object))
    later = archive.windows()[1:]
    got, got_ents = sql_cells(archive, later, pd.Index(["a->b"]), known)
    nxt = HAND[HAND["ts"] >= MON + 7 * 86400]
    want, want_ents = cells(nxt, known, pd.Index(["a->b"]), BS)
    assert list(got_ents) == list(want_ents) == ["e", "zz", "b", "a", "f", "a->b"]
    pd.testing.assert_frame_equal(got, want)


def random_frame(seed: int, n: int, start: float = MON) -> pd.DataFrame:
    """Time-ordered random connections among a dozen hosts over two weeks (distinct times)."""
    rng = np.random.default_rng(seed)
    ts = start + np.sort(rng.choice(14 * 86400 * 10, n, replace=False)) / 10.0
    hosts = np.array([f"10.0.0.{i}" for i in range(12)], dtype=object)
    src = hosts[rng.zipf(1.6, n) % 12]
    dst = hosts[rng.integers(0, 12, n)]
    return frame(
        [
            conn(
                float(ts[i]),
                str(src[i]),
                str(dst[i]),
                uid=f"R{seed}-{i}",
                dport=None if rng.random() < 0.05 else int(rng.choice([22, 53, 80, 443])),
                conn_state=None if rng.random() < 0.05 else str(rng.choice(["SF", "S0", "REJ"])),
                src_bytes=float("nan") if rng.random() < 0.05 else float(rng.integers(0, 9000)),
                dst_bytes=float(rng.integers(0, 9000)),
                line=i,
            )
            for i in range(n)
        ]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_busy_edges_span_and_cells_match_the_oracle_on_random_frames(
    tmp_path: Path, seed: int
) -> None:
    f = random_frame(seed, 3000)
    # two files, the second repeating some connections: each is read once
    archive = archived(tmp_path, f, f.sample(200, random_state=seed))
    wins = archive.windows()
    assert len(wins) >= 2
    with archive.session({"conns": wins}) as s:
        sp = aggregates.span(s)
        for min_flows, max_edges in ((20, 500), (10, 7), (1, 3)):
            got = aggregates.busy_edges(s, min_flows, max_edges)
            want = busy_edges(f, min_flows, max_edges)
            assert list(got) == list(want), (min_flows, max_edges)
    assert (sp.n, sp.first, sp.last) == (len(f), f["ts"].min(), f["ts"].max())
    edges = busy_edges(f, 20, 500)
    got_c, got_e = sql_cells(archive, wins, edges, no_entities())
    want_c, want_e = cells(f, no_entities(), edges, BS)
    assert list(got_e) == list(want_e)
    pd.testing.assert_frame_equal(got_c, want_c)


def test_busy_edges_break_ties_by_the_first_connection(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    with archive.session({"conns": archive.windows()}) as s:
        got = aggregates.busy_edges(s, 1, 3)
        none = aggregates.busy_edges(s, 100, 3)
    assert list(got) == list(busy_edges(HAND, 1, 3)) == ["a->b", "c->c", "b->a"]
    assert len(none) == 0


def test_an_empty_table_has_no_span_and_no_cells(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    lookups = {aggregates.EDGES: aggregates.edge_table(None)}
    with archive.session({"conns": []}, lookups=lookups) as s:
        sp = aggregates.span(s)
        got, ents = aggregates.cells(s, no_entities(), BS)
    assert (sp.n, sp.first, sp.last) == (0, None, None)
    assert sp.frame().empty and got.empty and len(ents) == 0
    assert list(got.dtypes.astype(str)) == ["int64", "int64", "float64", "float64", "float64"]


def fitted_model(f: pd.DataFrame, edges: bool = True) -> tuple[VolumeBaselines, pd.DataFrame]:
    """The pure model fitted on the first week of `f`, and its cells of the second."""
    week = MON + 7 * 86400
    hist, cur = f[f["ts"] < week], f[f["ts"] >= week].reset_index(drop=True)
    st = VolumeSettings(edge_min_flows=50, min_count=3, finding_score=1.0, edges=edges)
    det = VolumeBaselines(st).fit(hist, start=MON, end=week)
    c = det.cells(cur)
    c = c.assign(entity_id=np.asarray(det.entities, dtype=object)[c["entity"].to_numpy()])
    return det, c


@pytest.mark.parametrize("seed", [0, 1])
def test_top_peers_and_ports_match_the_oracle(tmp_path: Path, seed: int) -> None:
    f = random_frame(seed, 4000)
    archive = archived(tmp_path, f)
    det, c = fitted_model(f)
    assert det.edges is not None and len(det.edges)
    # every cell of the window a member of a run (runs of 40 cells): many peers, ties
    members = pd.DataFrame(
        {"run": np.arange(len(c)) // 40, "entity": c["entity"], "bucket": c["bucket"]}
    )
    want_peer, want_port = tops_from_connections(det, members, f[f["ts"] >= MON + 7 * 86400])
    named = members.assign(entity=c["entity_id"].to_numpy())
    lookups = {aggregates.EDGES: aggregates.edge_table(det.edges)}
    with archive.session({"conns": [archive.windows()[-1]]}, lookups=lookups) as s:
        got_peer, got_port = aggregates.top_peers_ports(s, named, BS)
    for got, want, cols in (
        (got_peer, want_peer, ["run", "peer", "role", "n"]),
        (got_port, want_port, ["run", "dport", "state", "n"]),
    ):
        assert len(want) > 3 * 10
        got_rows = [tuple(r) for r in got[cols].itertuples(index=False)]
        want_rows = [tuple(r) for r in want[cols].itertuples(index=False)]
        assert got_rows == want_rows


@pytest.mark.parametrize("edges", [True, False])
def test_connection_scores_match_the_model(tmp_path: Path, edges: bool) -> None:
    f = random_frame(4, 4000)
    archive = archived(tmp_path, f)
    det, c = fitted_model(f, edges)
    cur = f[f["ts"] >= MON + 7 * 86400].reset_index(drop=True)
    want = det.score_cells(cur, c)["score"].set_axis(cur["uid"].to_numpy())
    lookups = {aggregates.EDGES: aggregates.edge_table(det.edges)}
    with archive.session({"conns": [archive.windows()[-1]]}, lookups=lookups) as s:
        got = aggregates.connection_scores(s, c, det.entities, BS)
    assert (want > 0).any()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def _findings(fs: list) -> list[dict[str, object]]:
    return [dataclasses.asdict(f) for f in fs]


def test_the_step_gives_what_the_pure_model_gives(tmp_path: Path) -> None:
    """The step on the archive (engine) and the model on the same connections in memory:
    identical cells, findings, host scores and connection scores."""
    f, _truth = synthetic_connections(3, weeks=3, clients=12)
    f = f.reset_index(drop=True).assign(line=np.arange(len(f)))
    archive = archived(tmp_path, f)
    ws = archive.windows()
    window = ws[-1]
    ctx = Context(archive.settings, window, archive, None, False, (ConnectionScores(),))
    got = run(ctx)
    win = windows.window_ids(f["ts"].to_numpy()).to_numpy()
    hist, cur = f[win != window], f[win == window].reset_index(drop=True)
    s0, _ = windows.bounds(ws[0])
    s1, _ = windows.bounds(window)
    det = VolumeBaselines().fit(hist, start=s0.timestamp(), end=s1.timestamp())
    c = det.cells(cur)
    found = findings_from_cells(det, c, cur, window)
    assert found and got.detail is not None
    pd.testing.assert_frame_equal(got.detail.cells, c[list(KEPT)])  # type: ignore[attr-defined]
    assert _findings(got.findings) == _findings(found)
    pd.testing.assert_series_equal(got.host_scores, host_scores(det, c))  # type: ignore[arg-type]
    want = det.score_cells(cur, c)["score"].set_axis(cur["uid"].to_numpy())
    assert got.conn_scores is not None
    pd.testing.assert_series_equal(
        got.conn_scores.sort_index(), want.sort_index(), check_names=False
    )
    # without ConnectionScores no connection is scored
    assert run(dataclasses.replace(ctx, options=())).conn_scores is None


def big_frame(n: int, start: float, seed: int, burst: bool) -> pd.DataFrame:
    """`n` connections of a week among 400 hosts (one burst of 3000 from one host)."""
    rng = np.random.default_rng(seed)
    ts = start + np.sort(rng.uniform(0, 7 * 86400, n))
    hosts = np.array([f"10.{i // 250}.{i % 250}.1" for i in range(400)], dtype=object)
    src = hosts[rng.integers(0, 400, n)]
    dst = hosts[rng.integers(0, 40, n)]
    if burst:  # Wednesday 10:00
        at = np.searchsorted(ts, start + 2 * 86400 + 36000)
        src[at : at + 3000] = "10.9.9.9"
        ts[at : at + 3000] = start + 2 * 86400 + 36000 + np.linspace(0, 200, 3000)
    table = {
        "ts": ts,
        "uid": np.char.add(f"C{seed}-", np.arange(n).astype(str)).astype(object),
        "src": src,
        "sport": rng.integers(1024, 65535, n).astype("int32"),
        "dst": dst,
        "dport": rng.choice(np.array([22, 53, 80, 443], dtype="int32"), n),
        "proto": "tcp",
        "service": "http",
        "duration": rng.exponential(2.0, n),
        "src_bytes": rng.integers(0, 90_000, n).astype("float64"),
        "dst_bytes": rng.integers(0, 900_000, n).astype("float64"),
        "src_pkts": rng.integers(1, 90, n).astype("float64"),
        "dst_pkts": rng.integers(1, 90, n).astype("float64"),
        "conn_state": rng.choice(np.array(["SF", "S0", "REJ"], dtype=object), n),
        "history": "ShADadFf",
        "line": np.arange(n, dtype="int64"),
    }
    return pd.DataFrame(table)


@pytest.mark.timeout(120)
def test_the_step_runs_in_64_mib_on_a_window_that_does_not_fit(tmp_path: Path) -> None:
    st = Settings(home=tmp_path, engine_memory="64MiB")
    hist = big_frame(150_000, MON - 7 * 86400, 1, burst=False)
    cur = big_frame(700_000, MON, 2, burst=True)
    assert cur.memory_usage(deep=True).sum() > 64 * 2**20  # in pandas it would not fit
    archive = archived(tmp_path, hist, cur, settings=st)
    del hist, cur
    window = archive.windows()[-1]
    got = run(Context(st, window, archive, None, False, ()))
    assert got.info["fit_on"] == "history" and got.conn_scores is None
    burst = [f for f in got.findings if f.hosts == ["10.9.9.9"]]
    assert len(burst) == 1 and burst[0].evidence["flows"] == 3000
    assert got.host_scores is not None
    assert got.host_scores["10.9.9.9"] >= burst[0].score
    assert list((tmp_path / "tmp" / "engine").iterdir()) == []
