"""Bulk load into graphnet's own Neo4j (`neo4j-admin database import full`) against the real server.

One dedicated instance for the module. The graph the import gives for hand-written hosts, edges
and ledger rows full of hostile strings is compared with the graph the Bolt statements
(`hosts_upsert`, `edges_create`, `ingest_group_begin` / `_claim_batch` / `_finish`,
`graphmeta_init`) write for the same rows into an emptied database: the same nodes, labels,
relationships, property names, values and types. A run killed with SIGKILL during the import is
detected and redone; a failing import says why and leaves an empty graph. About four server
restarts in all (each 10-30 s here).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from neo4j import GraphDatabase
from neo4j.time import DateTime

from graphnet import neo4j_local
from graphnet.config import Neo4jSettings, graphnet_home
from graphnet.errors import GraphnetError, Neo4jProvisionError
from graphnet.neo4j_local import server
from graphnet.neo4j_local.bulk import import_pending
from graphnet.neo4j_local.conf import InstanceLayout
from graphnet.store import MIGRATIONS, Store, open_store, statements
from graphnet.store.bulk import load_local, write_import_files
from tests.integration.conftest import free_ports, remove_test_instance
from tests.unit.test_store_bulk import HOSTILE, edge, host, hostile_rows

if os.environ.get("NEO4J_URI") and shutil.which("java") is None:
    pytest.skip("NEO4J_URI is set and there is no Java for a local Neo4j", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
PLAN = json.dumps({"window": "week", "batch": 5000, "parts": 8}, sort_keys=True)


@dataclass
class Local:
    home: Path
    instance: str

    def settings(self) -> Neo4jSettings:
        return neo4j_local.connection_for(self.home, self.instance)

    def store(self) -> Store:
        return open_store(self.settings())


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    home = graphnet_home()
    instance = f"pytest-bulk-{os.getpid()}"
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


# ---------------------------------------------------------------------------------------------
# the graph as it is stored: every node and relationship, every property with its type


def _value(v: Any) -> Any:
    if isinstance(v, list):
        return ("list", tuple(_value(x) for x in v))
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else v.hex())
    if isinstance(v, DateTime):
        return ("DateTime", v.iso_format(), str(v.tzinfo))
    return (type(v).__name__, v)


def snapshot(settings: Neo4jSettings) -> tuple[list[Any], list[Any]]:
    """Nodes (labels, properties with Cypher types) and relationships, order-free. The
    migrations record and the partition locks are left out (the Bolt path writes them at other
    times)."""
    with GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password)) as driver:
        nodes, _, _ = driver.execute_query(
            "MATCH (n) WHERE NOT (n:GraphMeta AND (n.key = 'migrations' OR n.key STARTS WITH "
            "'lock/')) RETURN labels(n) AS labels, properties(n) AS props, "
            "[k IN keys(n) | [k, valueType(n[k])]] AS types",
            database_=settings.database,
        )
        rels, _, _ = driver.execute_query(
            "MATCH (a)-[r]->(b) RETURN a.id AS a, b.id AS b, type(r) AS type, "
            "properties(r) AS props, [k IN keys(r) | [k, valueType(r[k])]] AS types",
            database_=settings.database,
        )

    def props(rec: Any) -> Any:
        types = dict(rec["types"])
        return tuple(sorted((k, types[k], _value(v)) for k, v in rec["props"].items()))

    return (
        sorted((tuple(sorted(r["labels"])), props(r)) for r in nodes),
        sorted((r["a"], r["b"], r["type"], props(r)) for r in rels),
    )


def query(settings: Neo4jSettings, cypher: str, **params: Any) -> list[dict[str, Any]]:
    with GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password)) as driver:
        records, _, _ = driver.execute_query(cypher, params, database_=settings.database)
    return [r.data() for r in records]


def _native(v: Any) -> Any:
    return v.to_native() if isinstance(v, DateTime) else v


FILE_PROPS = [
    {
        "path": "/logs/" + "\n".join(HOSTILE[:12]),
        "format": "zeek-tsv",
        "window_kind": "week",
        "rows_accepted": 10,
        "rows_rejected": 2,
        "rows_skipped": 0,
        "relative_ts": False,
        "rejects_file": None,
        "windows": ["2024-W10", HOSTILE[4]],
    },
    {
        "path": 'we"ird,\x1fname\r\n',
        "format": "binetflow",
        "window_kind": "week",
        "rows_accepted": 0,
        "rows_rejected": 0,
        "rows_skipped": 3,
        "relative_ts": True,
        "rejects_file": "/tmp/r.tsv",
        "windows": [],
    },
]


def bolt_write(store: Store, hosts: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """What ingest writes through Bolt for these rows: two groups of files, one of them with
    two committed batches, the other with none."""
    store.write("graphmeta_init", window_kind="week")
    files = [
        {"sha256": "a" * 64, "props": FILE_PROPS[0]},
        {"sha256": "b" * 64, "props": FILE_PROPS[1]},
    ]
    store.write("ingest_group_begin", id="g1", plan=PLAN, batches_total=2, files=files[:1])
    store.write("ingest_group_begin", id="g2", plan=PLAN, batches_total=0, files=files[1:])
    store.write_batches("hosts_upsert", hosts, 7)
    store.write_batches("edges_create", edges, 7)
    for batch in (1, 0):
        assert store.write("ingest_group_claim_batch", id="g1", batch=batch)
    for group in ("g1", "g2"):
        store.write("ingest_group_finish", id=group, batches_total=None)


def ledger_rows(settings: Neo4jSettings) -> tuple[list[Any], list[Any], list[Any]]:
    """The ledger and meta nodes the Bolt path left, as rows for the import (their datetimes
    are the server's clock, so they are read back)."""
    ingests = [
        {k: _native(v) for k, v in r["p"].items()}
        for r in query(settings, "MATCH (i:Ingest) RETURN properties(i) AS p")
    ]
    groups = [
        {k: _native(v) for k, v in r["p"].items()}
        for r in query(settings, "MATCH (g:IngestGroup) RETURN properties(g) AS p")
    ]
    meta = [
        {k: _native(v) for k, v in r["p"].items()}
        for r in query(settings, "MATCH (m:GraphMeta {key: 'graph'}) RETURN properties(m) AS p")
    ]
    assert len(ingests) == 2 and len(groups) == 2 and len(meta) == 1
    return ingests, groups, meta


def test_import_gives_the_graph_the_bolt_statements_write(local: Local, tmp_path: Path) -> None:
    hosts, edges = hostile_rows()
    settings = local.settings()
    with local.store() as store:
        store.clear()
        bolt_write(store, hosts, edges)
        want = snapshot(settings)
        ingests, groups, meta = ledger_rows(settings)
        # the rows as the caller hands them over: the files' props nested, as ingest has them
        for row in ingests:
            row["props"] = {k: row.pop(k) for k in list(row) if k in FILE_PROPS[0]}
        assert {g["id"]: g["done"] for g in groups} == {"g1": [1, 0], "g2": []}

        files = write_import_files(tmp_path / "imp", hosts, edges, ingests, groups, meta)
        assert files.fixup_count > 0 and files.multiline
        store.clear()
        report = load_local(store, local.home, local.instance, files)
        assert report.nodes == files.nodes and report.relationships == len(edges)
        got = snapshot(settings)
        # the store used for the import works on (it connected again), with the same password
        assert store.read("graphmeta_migrations") == [{"done": list(MIGRATIONS)}]

    assert got[1] == want[1]
    assert got[0] == want[0]
    assert not import_pending(local.home, local.instance)
    # a new connection with the instance's password, as every command makes one
    with open_store(local.settings()) as fresh:
        fresh.ping()
    # the schema of graphnet/cypher/schema.cypher is there, over the imported data
    names = {r["name"] for r in query(settings, "SHOW CONSTRAINTS YIELD name")}
    names |= {
        r["name"] for r in query(settings, "SHOW INDEXES YIELD name, state WHERE state = 'ONLINE'")
    }
    for stmt in statements("schema"):
        assert stmt.split()[2] in names
    # what the tool printed and reported stays in the instance's logs
    assert "IMPORT DONE" in report.log_file.read_text("utf-8")
    assert (
        report.report_file.parent
        == InstanceLayout(server.instance_dir(local.home, local.instance)).logs
    )


def _filler(n: int, m: int = 2000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`m` hosts and `n` (at most m * m) edges between them, each pair once."""
    hosts = [
        host(f"10.1.{i // 256}.{i % 256}", ip=f"10.1.{i // 256}.{i % 256}", internal=True)
        for i in range(m)
    ]
    edges = [
        edge(
            i,
            hosts[i % m]["id"],
            hosts[(i % m + i // m) % m]["id"],
            {"conns": i, "service_k": ["ssl", "dns"], "service_n": [i, 1]},
        )
        for i in range(n)
    ]
    return hosts, edges


KILLED_RUN = """
import logging, pickle, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from pathlib import Path
from graphnet.neo4j_local.bulk import import_full
home, instance, files = pickle.loads(Path(sys.argv[1]).read_bytes())
import_full(home, instance, files)
"""


def test_a_killed_import_is_detected_and_redone(local: Local, tmp_path: Path) -> None:
    hosts, edges = hostile_rows()
    more_hosts, more_edges = _filler(40_000)
    files = write_import_files(tmp_path / "imp", hosts + more_hosts, edges + more_edges)
    layout = InstanceLayout(server.instance_dir(local.home, local.instance))
    args = tmp_path / "args.pickle"
    args.write_bytes(pickle.dumps((local.home, local.instance, files)))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        importer = None
        while time.monotonic() < deadline and child.poll() is None:
            marker = server.read_import_marker(layout) or {}
            pid = marker.get("import_pid")
            log = layout.logs / "import.log"
            if isinstance(pid, int) and server.is_import_process(pid, layout) and log.is_file():
                text = log.read_text("utf-8", errors="replace")
                if "Nodes, started" in text or "(1/4) Node import" in text:  # importing nodes
                    importer = pid
                    break
            time.sleep(0.05)
        assert importer is not None, (
            child.stderr.read().decode() if child.poll() is not None else "no import"
        )
        child.send_signal(signal.SIGKILL)  # kill -9 of graphnet in the middle of the import
        child.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()
        if child.stderr:
            child.stderr.close()
    # the import tool dies with it; the unfinished import is seen
    deadline = time.monotonic() + 30
    while server.is_import_process(importer, layout) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server.is_import_process(importer, layout)
    assert import_pending(local.home, local.instance)
    assert not neo4j_local.status(local.home, local.instance).running

    # the caller loads again from scratch: the exact graph
    load_local(None, local.home, local.instance, files)  # the server is down: no Store yet
    assert not import_pending(local.home, local.instance)
    settings = local.settings()
    counts = query(
        settings,
        "MATCH (h:Host) WITH count(h) AS hosts MATCH ()-[r:TALKED]->() "
        "RETURN hosts, count(r) AS rels",
    )
    assert counts == [{"hosts": len(hosts) + len(more_hosts), "rels": len(edges) + len(more_edges)}]
    got = query(
        settings,
        "MATCH (a)-[r:TALKED {key: $key}]->(b) "
        "RETURN a.id AS a, b.id AS b, r.conns AS conns, r.service_n AS n",
        key=more_edges[-1]["key"],
    )
    assert got == [
        {
            "a": more_edges[-1]["src"],
            "b": more_edges[-1]["dst"],
            "conns": len(more_edges) - 1,
            "n": [len(more_edges) - 1, 1],
        }
    ]
    for e in edges:
        (row,) = query(
            settings,
            "MATCH (a)-[r:TALKED {key: $key}]->(b) RETURN a.id AS a, b.id AS b, r.service_k AS k",
            key=e["key"],
        )
        assert row == {"a": e["src"], "b": e["dst"], "k": e["props"]["service_k"]}


def test_a_failed_import_says_why_and_leaves_an_empty_graph(local: Local, tmp_path: Path) -> None:
    hosts = [host("dup"), host("dup")]  # the same host twice: the tool refuses the input
    files = write_import_files(tmp_path / "imp", hosts, [])
    with local.store() as store, pytest.raises(Neo4jProvisionError) as err:
        load_local(store, local.home, local.instance, files)
    assert "bulk import" in str(err.value) and "import.log" in str(err.value)
    assert "dup" in str(err.value)  # the tool's own lines
    assert err.value.hint
    # the server runs again, on an empty graph, and nothing is pending
    assert neo4j_local.status(local.home, local.instance).running
    assert not import_pending(local.home, local.instance)
    assert query(local.settings(), "MATCH (n) RETURN count(n) AS n") == [{"n": 0}]
