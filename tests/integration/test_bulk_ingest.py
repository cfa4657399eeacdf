"""A first load of graphnet's own Neo4j through the import tool, end to end through ingest.

The same files ingested into an empty graph by the bulk path (`graphnet.bulk_ingest`: edges
aggregated by the engine, `neo4j-admin database import full`) and by the Bolt path give the same
graph: hosts, edges, totals, histograms, summaries, ledger. An ingest killed (SIGKILL) while the
import tool runs leaves a state that the next start of the server and the next ingest complete,
with exact counts.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphnet import ingest, neo4j_local
from graphnet.config import Settings, graphnet_home
from graphnet.errors import GraphnetError
from graphnet.neo4j_local import server
from graphnet.neo4j_local.bulk import import_pending
from graphnet.neo4j_local.conf import InstanceLayout
from tests.integration.conftest import free_ports, remove_test_instance
from tests.integration.test_bulk_import import Local, query


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """A local instance of the module's own (stopped, imported into, started), in a
    GRAPHNET_HOME of its own (its archive too) that shares the installed Neo4j."""
    home = tmp_path_factory.mktemp("home")
    (home / "neo4j").mkdir()
    (home / "neo4j" / "dist").symlink_to(
        graphnet_home() / "neo4j" / "dist", target_is_directory=True
    )
    instance = f"pytest-bulk-ingest-{os.getpid()}"
    bolt, http = free_ports(2)
    try:
        try:
            neo4j_local.start(
                home,
                instance,
                bolt_port=bolt,
                http_port=http,
                heap="1g",
                pagecache="512m",
                timeout=240,
            )
        except GraphnetError as exc:
            pytest.fail(f"{exc}\nhint: {exc.hint}", pytrace=False)
        yield Local(home, instance)
    finally:
        remove_test_instance(home, instance)


REPO = Path(__file__).resolve().parents[2]
W10 = 1709510400.0  # Monday 2024-03-04 00:00 UTC
FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
    "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes "
    "resp_pkts resp_ip_bytes tunnel_parents"
).split()
HOSTS = [
    "10.0.0.1",
    "10.0.0.2",
    "192.168.1.9",
    "8.8.8.8",
    "2001:db8::1",
    "fe80::1%eth0",
    "172.16.0.5",
    "203.0.113.7",
]


def zeek_file(path: Path, rows: list[tuple[Any, ...]], node: str | None = None) -> Path:
    """A Zeek conn.log (TSV) of (ts, src, dst, dport, proto, service, state, history, bytes),
    with `_node_name` = `node` when given."""
    fields = [*FIELDS, "_node_name"] if node else FIELDS
    lines = ["#separator \\x09", "#path\tconn", "#fields\t" + "\t".join(fields)]
    for i, (ts, src, dst, port, proto, service, state, hist, nbytes) in enumerate(rows):
        uid = f"C{path.stem}{i:06d}"
        lines.append(
            "\t".join(
                str(v)
                for v in (
                    f"{ts:.6f}",
                    uid,
                    src,
                    40000 + i % 999,
                    dst,
                    port,
                    proto,
                    service,
                    "1.5",
                    nbytes,
                    nbytes * 2,
                    state,
                    "T",
                    "F",
                    0,
                    hist,
                    3,
                    100,
                    2,
                    90,
                    "-",
                    *([node] if node else []),
                )
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def logs(folder: Path) -> Path:
    """Three files over two weeks: edges spread over files, hostile values, many ports (folded)."""
    folder.mkdir()
    rows = []
    for i in range(3000):
        src, dst = HOSTS[i % 5], HOSTS[(i * 7 + 1) % len(HOSTS)]
        port = 1000 + (i // 40) % 50 if i % 2 == 0 else (443, 53)[i % 4 // 2]
        service = ("ssl", "dns", "-", "other", 'we"ird,\u202e')[i % 5]
        state = ("SF", "S0", "REJ", "other", "\u202eSF")[i % 5]
        rows.append(
            (
                W10 + i * 400.0,
                src,
                dst,
                port,
                ("tcp", "udp")[i % 2],
                service,
                state,
                ("ShADadFf", "S", "Dd")[i % 3],
                i % 5000,
            )
        )
    for k in range(3):
        zeek_file(folder / f"conn{k}.log", rows[k::3])
    return folder


def graph(server: Local) -> dict[str, Any]:
    s = server.settings()
    hosts = {
        r["id"]: r["p"] for r in query(s, "MATCH (h:Host) RETURN h.id AS id, properties(h) AS p")
    }
    edges = {
        r["key"]: r["p"]
        for r in query(s, "MATCH ()-[r:TALKED]->() RETURN r.key AS key, properties(r) AS p")
    }
    files = {
        r["sha"]: r["p"]
        for r in query(s, "MATCH (i:Ingest) RETURN i.sha256 AS sha, properties(i) AS p")
    }
    meta = query(s, "MATCH (m:GraphMeta {key: 'graph'}) RETURN m.window_kind AS kind")
    return {"hosts": hosts, "edges": edges, "files": files, "meta": meta}


def same_props(a: dict[str, Any], b: dict[str, Any], skip: set[str] = frozenset()) -> None:
    assert set(a) - skip == set(b) - skip
    for k in set(a) - skip:
        if isinstance(a[k], float):
            assert math.isclose(a[k], b[k], rel_tol=1e-12), k
        else:
            assert a[k] == b[k], k


def test_a_first_load_by_import_is_the_graph_the_bolt_path_writes(
    local: Local, tmp_path: Path
) -> None:
    folder = logs(tmp_path / "logs")
    loaded = {}
    for how, min_mb in (("bulk", 0), ("bolt", 10**6)):
        with local.store() as store:
            store.clear()
            settings = Settings(home=tmp_path / how, bulk_min_mb=min_mb)
            result = ingest.ingest(store, [folder], settings)
        assert [f.status for f in result.files] == ["ingested"] * 3
        assert result.written == 3000
        loaded[how] = graph(local)
        groups = query(local.settings(), "MATCH (g:IngestGroup) RETURN g.loaded_by AS by")
        assert [g["by"] for g in groups] == (["bulk import"] if how == "bulk" else [None])
    bulk, bolt = loaded["bulk"], loaded["bolt"]
    assert bulk["meta"] == bolt["meta"] == [{"kind": "week"}]
    assert set(bulk["hosts"]) == set(bolt["hosts"]) == set(HOSTS)
    for h in bolt["hosts"]:
        same_props(bulk["hosts"][h], bolt["hosts"][h])
    assert set(bulk["edges"]) == set(bolt["edges"])
    for key, props in bolt["edges"].items():
        same_props(bulk["edges"][key], props)
    assert any("other" in p["dport_k"] for p in bolt["edges"].values())  # folded
    assert set(bulk["files"]) == set(bolt["files"])
    ledger = {"started", "finished", "group"}
    for sha, props in bolt["files"].items():
        same_props(bulk["files"][sha], props, skip=ledger)


def test_two_sensors_count_a_connection_once_by_import_and_by_bolt(
    local: Local, tmp_path: Path
) -> None:
    # tap-a and tap-b saw the same 600 connections (tap-b 0.3 s later, its own uids); tap-b
    # also saw 40 of its own
    rows = [
        (W10 + i * 700.0, HOSTS[i % 3], HOSTS[3 + i % 4], (22, 443, 53)[i % 3], "tcp",
         ("ssh", "ssl", "dns")[i % 3], "SF", "ShADadFf", 100 + i)
        for i in range(600)
    ]
    own = [(W10 + 5 + i * 900.0, HOSTS[0], HOSTS[7], 8080, "tcp", "http", "S0", "S", 0)
           for i in range(40)]
    folder = tmp_path / "logs"
    folder.mkdir()
    zeek_file(folder / "a.log", rows, node="tap-a")
    zeek_file(folder / "b.log", [(r[0] + 0.3, *r[1:]) for r in rows] + own, node="tap-b")
    want: dict[tuple[str, str], int] = {}
    for r in rows + own:
        want[(r[1], r[2])] = want.get((r[1], r[2]), 0) + 1
    loaded = {}
    for how, min_mb, parts in (("bulk", 0, [[folder]]), ("bolt", 10**6, [[folder]]),
                               ("bolt, one file at a time", 10**6,
                                [[folder / "a.log"], [folder / "b.log"]])):
        with local.store() as store:
            store.clear()
            settings = Settings(home=tmp_path / how.replace(" ", "_"), bulk_min_mb=min_mb)
            for paths in parts:
                ingest.ingest(store, paths, settings)
        loaded[how] = graph(local)
        ends = {}
        for p in loaded[how]["edges"].values():
            src, dst = (part.split(":", 1)[1] for part in p["key"].split("|")[:2])
            ends[(src, dst)] = p
        assert {k: p["conns"] for k, p in ends.items()} == want, how
        for (src, dst), p in ends.items():  # every copy a sensor logged
            n = want[(src, dst)]
            assert p["sensors"] == ("tap-b 40" if dst == HOSTS[7] else f"tap-a {n}, tap-b {n}")
        assert ends[(HOSTS[0], HOSTS[7])]["services"] == "http 40"
    for how in ("bolt", "bolt, one file at a time"):
        assert set(loaded[how]["edges"]) == set(loaded["bulk"]["edges"])
        for key, props in loaded["bulk"]["edges"].items():
            same_props(loaded[how]["edges"][key], props)


def _importing(layout: InstanceLayout) -> bool:
    """The import tool of the instance runs and imports nodes."""
    pid = (server.read_import_marker(layout) or {}).get("import_pid")
    log = layout.logs / "import.log"
    if not (isinstance(pid, int) and server.is_import_process(pid, layout) and log.is_file()):
        return False
    text = log.read_text("utf-8", errors="replace")
    return "Nodes, started" in text or "(1/4) Node import" in text


def test_an_ingest_killed_during_the_import_is_completed_with_exact_counts(
    local: Local, tmp_path: Path
) -> None:
    home = local.home
    folder = logs(tmp_path / "logs")
    with local.store() as store:
        store.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")} | {
        "GRAPHNET_HOME": str(home),
        "GRAPHNET_NEO4J_INSTANCE": local.instance,
        "GRAPHNET_BULK_MIN_MB": "0",
        "GRAPHNET_WINDOW": "week",  # the expected edges are per week (auto: days)
    }
    cmd = [sys.executable, "-m", "graphnet.cli", "ingest", str(folder)]
    err = tmp_path / "killed.err"
    with err.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=fh)
        deadline = time.monotonic() + 240
        layout = InstanceLayout(server.instance_dir(home, local.instance))
        while not _importing(layout) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None:
            pytest.fail(f"the ingest ended before the import ran: {err.read_text()}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert import_pending(home, local.instance)
    assert not neo4j_local.status(home, local.instance).running
    state = server._read_state(layout)
    ports = ["--bolt-port", str(state["bolt_port"]), "--http-port", str(state["http_port"])]
    start = subprocess.run(
        [sys.executable, "-m", "graphnet.cli", "neo4j", "start", *ports],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert start.returncode == 0, start.stderr
    assert not import_pending(home, local.instance)
    again = subprocess.run(
        [*cmd, "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr
    stats = query(
        local.settings(),
        "MATCH (h:Host) WITH count(h) AS hosts "
        "MATCH ()-[r:TALKED]->() WITH hosts, count(r) AS edges, sum(r.conns) AS conns "
        "MATCH (i:Ingest {status: 'done'}) RETURN hosts, edges, conns, count(i) AS files",
    )
    pairs = {
        (HOSTS[i % 5], HOSTS[(i * 7 + 1) % len(HOSTS)], i * 400 // (7 * 86400)) for i in range(3000)
    }
    assert stats == [{"hosts": len(HOSTS), "edges": len(pairs), "conns": 3000, "files": 3}]
