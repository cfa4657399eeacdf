"""Integration tests run against a real Neo4j.

`neo4j_server` (session-scoped) is the server: the one `NEO4J_URI` names (+ `NEO4J_PASSWORD`
or `NEO4J_PASSWORD_FILE`), otherwise a dedicated graphnet-managed instance `pytest-<pid>`
under the usual GRAPHNET_HOME (so the jar cache is reused) on free ports, stopped and deleted
at the end of the session. Every test in this folder gets the `neo4j` marker.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphnet import neo4j_local
from graphnet.config import Neo4jSettings, graphnet_home
from graphnet.connection import neo4j_settings
from graphnet.errors import GraphnetError

HERE = Path(__file__).resolve().parent
TEST_HEAP = "1g"
TEST_PAGECACHE = "512m"
_PYTEST_INSTANCE = re.compile(r"^pytest-(?:[a-z]+-)?(\d+)$")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of this folder `neo4j` (the hook sees every collected item)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.neo4j)


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1."""
    ports: list[int] = []
    while len(ports) < count:
        port = neo4j_local.find_free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_test_instance(home: Path, instance: str) -> None:
    """Stop (if running) and delete a test instance; never raises."""
    with contextlib.suppress(GraphnetError, OSError):
        neo4j_local.stop(home, instance, timeout=60)
    with contextlib.suppress(GraphnetError, OSError):
        neo4j_local.remove_instance(home, instance)


def remove_stale_test_instances(home: Path) -> None:
    """Instances `pytest-<pid>` / `pytest-<word>-<pid>` left by pytest runs that died."""
    root = home / "neo4j" / "instances"
    if not root.is_dir():
        return
    for child in root.iterdir():
        m = _PYTEST_INSTANCE.match(child.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            remove_test_instance(home, child.name)


def start_test_instance(home: Path, instance: str) -> Neo4jSettings:
    """Start a throw-away instance on free ports; pytest.fail with log tail and hint if it fails."""
    bolt, http = free_ports(2)
    try:
        neo4j_local.start(
            home,
            instance,
            bolt_port=bolt,
            http_port=http,
            heap=TEST_HEAP,
            pagecache=TEST_PAGECACHE,
            timeout=240,
        )
        return neo4j_local.connection_for(home, instance)
    except GraphnetError as exc:
        remove_test_instance(home, instance)
        pytest.fail(
            f"could not start Neo4j instance {instance!r} for the tests: {exc}\nhint: {exc.hint}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jSettings]:
    """A running Neo4j for the whole session (NEO4J_URI, or graphnet's own `pytest-<pid>`)."""
    if os.environ.get("NEO4J_URI"):
        yield neo4j_settings()
        return
    home = graphnet_home()
    remove_stale_test_instances(home)
    instance = f"pytest-{os.getpid()}"
    settings = start_test_instance(home, instance)
    try:
        yield settings
    finally:
        remove_test_instance(home, instance)
