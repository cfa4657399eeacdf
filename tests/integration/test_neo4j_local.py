"""graphnet's own Neo4j: start / status / stop round trip on a dedicated instance.

One instance is started for the module and restarted once (persistence check), so the file
costs about two Neo4j starts and two stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from graphnet import neo4j_local
from graphnet.config import Neo4jSettings, graphnet_home
from graphnet.errors import GraphnetError, Neo4jProvisionError, Neo4jUnavailable

TEST_HEAP = "1g"
TEST_PAGECACHE = "512m"

if os.environ.get("NEO4J_URI") and shutil.which("java") is None:
    pytest.skip("NEO4J_URI is set and there is no Java for a local Neo4j", allow_module_level=True)


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = neo4j_local.find_free_port()
        if port not in ports:
            ports.append(port)
    return ports


def remove_test_instance(home: Path, instance: str) -> None:
    with contextlib.suppress(GraphnetError, OSError):
        neo4j_local.stop(home, instance, timeout=60)
    with contextlib.suppress(GraphnetError, OSError):
        neo4j_local.remove_instance(home, instance)


@dataclass
class Local:
    home: Path
    instance: str
    bolt_port: int
    http_port: int

    def start(self) -> neo4j_local.Neo4jStatus:
        return neo4j_local.start(
            self.home,
            self.instance,
            bolt_port=self.bolt_port,
            http_port=self.http_port,
            heap=TEST_HEAP,
            pagecache=TEST_PAGECACHE,
            timeout=240,
        )

    def settings(self) -> Neo4jSettings:
        return neo4j_local.connection_for(self.home, self.instance)

    def query(self, cypher: str, **params: object) -> list[dict[str, object]]:
        s = self.settings()
        with GraphDatabase.driver(s.uri, auth=(s.user, s.password)) as driver:
            records, _, _ = driver.execute_query(cypher, params, database_=s.database)
        return [r.data() for r in records]


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    home = graphnet_home()
    instance = f"pytest-rt-{os.getpid()}"
    bolt, http = free_ports(2)
    inst = Local(home, instance, bolt, http)
    try:
        try:
            inst.start()
        except Neo4jProvisionError as exc:
            pytest.fail(f"{exc}\nhint: {exc.hint}", pytrace=False)
        yield inst
    finally:
        remove_test_instance(home, instance)


def _read_proc(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def test_status_fields_of_a_running_instance(local: Local) -> None:
    st = neo4j_local.status(local.home, local.instance)
    assert st.running
    assert isinstance(st.pid, int) and st.pid > 0
    assert st.version == neo4j_local.NEO4J_VERSION
    assert (st.bolt_port, st.http_port) == (local.bolt_port, local.http_port)
    assert st.bolt_uri == f"bolt://127.0.0.1:{local.bolt_port}"
    assert st.browser_url == f"http://127.0.0.1:{local.http_port}/browser/"
    assert st.instance_dir == local.home / "neo4j" / "instances" / local.instance
    assert st.data_size > 0
    assert "running" in st.message
    # the HTTP side: discovery document and Neo4j Browser
    with urllib.request.urlopen(f"http://127.0.0.1:{local.http_port}/", timeout=10) as resp:
        discovery = json.load(resp)
    assert discovery["neo4j_version"] == neo4j_local.NEO4J_VERSION
    assert discovery["neo4j_edition"] == "community"
    with urllib.request.urlopen(st.browser_url, timeout=10) as resp:
        assert resp.status == 200


def test_bolt_answers_with_the_generated_password(local: Local) -> None:
    assert local.query("RETURN 1 AS one") == [{"one": 1}]
    settings = local.settings()
    assert settings.origin == "local"
    assert settings.password not in repr(settings)
    with (
        GraphDatabase.driver(settings.uri, auth=("neo4j", "neo4j")) as driver,
        pytest.raises(Exception, match=r"(?i)unauthori[sz]ed|authentication"),
    ):
        driver.verify_connectivity()


def test_start_again_reports_already_running(local: Local) -> None:
    before = neo4j_local.status(local.home, local.instance)
    again = local.start()
    assert again.running and again.pid == before.pid
    assert "already running" in again.message


def test_password_is_0600_and_never_on_a_command_line_or_in_logs(local: Local) -> None:
    path = neo4j_local.reveal_password_path(local.home, local.instance)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 32
    pid = neo4j_local.status(local.home, local.instance).pid
    assert pid is not None
    cmdline = _read_proc(pid, "cmdline")
    assert b"org.neo4j.server.CommunityEntryPoint" in cmdline
    assert password.encode() not in cmdline
    assert password.encode() not in _read_proc(pid, "environ")
    instance_dir = neo4j_local.instance_dir(local.home, local.instance)
    for log_file in (instance_dir / "logs").iterdir():
        assert password.encode() not in log_file.read_bytes(), log_file.name
    for conf_file in (instance_dir / "conf").iterdir():
        assert password not in conf_file.read_text(), conf_file.name
    assert password not in (instance_dir / "instance.json").read_text()
    assert not list((instance_dir / "run").glob("*.args"))  # argument file removed


def _listening_addresses(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_addr, state = fields[1], fields[3]
            addr_hex, port_hex = local_addr.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                found.add(addr_hex)
    return found


def test_listens_on_loopback_only(local: Local) -> None:
    ipv4_loopback = "0100007F"  # 127.0.0.1, little-endian hex
    ipv6_mapped = "0000000000000000FFFF00000100007F"  # ::ffff:127.0.0.1
    for port in (local.bolt_port, local.http_port):
        addresses = _listening_addresses(port)
        assert addresses, f"nothing listens on {port}"
        assert addresses <= {ipv4_loopback, ipv6_mapped}, addresses


def test_connection_for_follows_graphnet_neo4j_instance(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(neo4j_local.INSTANCE_ENV, local.instance)
    settings = neo4j_local.connection_for(local.home)
    assert settings.uri == f"bolt://127.0.0.1:{local.bolt_port}"
    assert settings.user == "neo4j"
    assert settings.origin == "local"


def test_taken_port_gives_a_clear_error(local: Local, tmp_path: Path) -> None:
    # a port held by some other program
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        with pytest.raises(Neo4jProvisionError) as err:
            neo4j_local.start(tmp_path, "other", bolt_port=taken, http_port=free_ports(1)[0])
    assert f"port {taken} (Bolt)" in str(err.value)
    assert "--bolt-port" in err.value.hint
    # a port held by another graphnet instance: it is named
    other = f"pytest-port-{os.getpid()}"
    try:
        with pytest.raises(Neo4jProvisionError) as err:
            neo4j_local.start(
                local.home, other, bolt_port=free_ports(1)[0], http_port=local.http_port
            )
        assert f"port {local.http_port} (HTTP)" in str(err.value)
        assert local.instance in str(err.value)
        assert "--http-port" in err.value.hint
        assert not neo4j_local.status(local.home, other).running
    finally:
        remove_test_instance(local.home, other)


def test_logs_show_the_start(local: Local) -> None:
    text = neo4j_local.logs(local.home, local.instance, lines=200)
    assert "neo4j.log" in text
    assert "Started." in text
    short = neo4j_local.logs(local.home, local.instance, lines=3)
    neo4j_section = short.split("\n\n")[0].splitlines()
    assert neo4j_section[0].endswith("neo4j.log <==")
    assert 1 <= len(neo4j_section) - 1 <= 3
    assert all(line.isprintable() for line in short.splitlines())


def test_data_persists_across_stop_and_start(local: Local) -> None:
    marker = uuid.uuid4().hex
    local.query("CREATE (:GraphnetPersistenceProbe {marker: $marker})", marker=marker)

    stopped = neo4j_local.stop(local.home, local.instance)
    assert not stopped.running
    assert stopped.pid is None
    assert "stopped" in stopped.message
    assert not neo4j_local.port_in_use(local.bolt_port)
    with pytest.raises(Neo4jUnavailable) as err:
        neo4j_local.connection_for(local.home, local.instance)
    assert "graphnet neo4j start" in err.value.hint
    assert "not running" in neo4j_local.stop(local.home, local.instance).message

    restarted = local.start()
    assert restarted.running
    assert restarted.message.startswith("started in")
    rows = local.query(
        "MATCH (n:GraphnetPersistenceProbe {marker: $marker}) RETURN count(n) AS n", marker=marker
    )
    assert rows == [{"n": 1}]
