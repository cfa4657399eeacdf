"""Fixtures shared by all tests. Integration tests get a real Neo4j from
tests/integration/conftest.py (`neo4j_server`); `store` hands each test a clean graph."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    return Path(os.environ.get("GRAPHNET_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $GRAPHNET_SHARED_DATA); tests that need it skip when it is absent."""
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"shared data not found at {d} (set GRAPHNET_SHARED_DATA)")
    return d


@pytest.fixture
def graphnet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private GRAPHNET_HOME for archives and rejects files (the Neo4j jar cache is not here)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("GRAPHNET_HOME", str(home))
    # the tests' data are written for week windows (`auto`, the CLI's default for a new
    # home, would choose hours for most of them); tests of `auto` ask for it
    monkeypatch.setenv("GRAPHNET_WINDOW", "week")
    return home


@pytest.fixture
def store(neo4j_server, graphnet_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A Store on the test Neo4j with an empty graph; commands in the test use the same server."""
    from graphnet.store import open_store

    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    s = open_store(neo4j_server)
    s.clear()
    try:
        yield s
    finally:
        s.close()
