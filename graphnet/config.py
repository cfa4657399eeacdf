"""Settings: where graphnet keeps its files and how it reaches Neo4j.

Secrets are read from the environment or from 0600 files, never from the command line, and the
password never appears in a repr or a log line.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from graphnet.errors import ConfigError


def graphnet_home() -> Path:
    """`$GRAPHNET_HOME`, default `~/.local/share/graphnet`."""
    env = os.environ.get("GRAPHNET_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "graphnet"


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str
    user: str
    password: str = field(repr=False)
    database: str = "neo4j"
    # "env" when taken from NEO4J_URI, "local" when it is graphnet's own server
    origin: str = "env"
    # graphnet's own instance (origin "local"): its GRAPHNET_HOME and name (a first load
    # imports into it)
    home: str = ""
    instance: str = ""

    def __repr__(self) -> str:  # never show the password
        return f"Neo4jSettings(uri={self.uri!r}, user={self.user!r}, origin={self.origin!r})"


def neo4j_settings_from_env() -> Neo4jSettings | None:
    """The server `NEO4J_URI` (+ `NEO4J_USER`, `NEO4J_PASSWORD` or `NEO4J_PASSWORD_FILE`)
    selects, or None when `NEO4J_URI` is not set.

    `graphnet.connection.neo4j_settings` falls back to graphnet's local server on None.
    """
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        return None
    user = os.environ.get("NEO4J_USER", "neo4j")
    password = os.environ.get("NEO4J_PASSWORD")
    pw_file = os.environ.get("NEO4J_PASSWORD_FILE")
    if password is None and pw_file:
        try:
            password = Path(pw_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read NEO4J_PASSWORD_FILE {pw_file}: {exc.strerror}",
                hint="point NEO4J_PASSWORD_FILE at a readable file holding only the password",
            ) from exc
    if password is None:
        raise ConfigError(
            "NEO4J_URI is set but no password was given",
            hint="set NEO4J_PASSWORD or NEO4J_PASSWORD_FILE",
        )
    return Neo4jSettings(uri=uri, user=user, password=password, origin="env")


def parse_cidrs(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"not a CIDR: {part!r}", hint="use e.g. 10.0.0.0/8,192.0.2.0/24"
            ) from exc
    return tuple(nets)


@dataclass(frozen=True)
class Settings:
    home: Path
    # the window kind of a new home: `week`, `day`, `hour` or `auto` (chosen from the span of
    # the first data: hour, day or week windows); once recorded, a home keeps its kind. The
    # library's default is week; `from_env` (the CLI) defaults to auto (GRAPHNET_WINDOW)
    window: str = "week"
    # internal networks; empty = RFC 1918 + RFC 4193 (+ loopback/link-local)
    internal_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # destination ports kept per edge histogram before folding into "other"
    top_ports: int = 32
    top_history: int = 24
    batch_size: int = 5000
    # concurrent write transactions of one ingest (Neo4j gives each a core; on a 2-core
    # machine running graphnet and Neo4j, one is as fast as two)
    writers: int = 1
    # the analytical engine (DuckDB over the archive): memory it may hold before it spills to
    # $GRAPHNET_HOME/tmp/engine, and its threads
    engine_memory: str = "1GB"
    engine_threads: int = 2
    # a first load of graphnet's own (empty) Neo4j of at least this many MiB of log files
    # goes through `neo4j-admin database import` instead of Bolt writes (0: always)
    bulk_min_mb: int = 128

    @property
    def archive_dir(self) -> Path:
        """Connection archive (Parquet per window and file) used by connection-level scoring."""
        return self.home / "archive"

    @property
    def spill_dir(self) -> Path:
        """Where the analytical engine spills what does not fit in its memory limit."""
        return self.home / "tmp" / "engine"

    @property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        # a new home's window kind: auto unless GRAPHNET_WINDOW names one (a home that has a
        # kind keeps it whatever this says)
        kw: dict[str, object] = {"home": graphnet_home(), "window": "auto"}
        if os.environ.get("GRAPHNET_WINDOW"):
            kw["window"] = os.environ["GRAPHNET_WINDOW"]
        if os.environ.get("GRAPHNET_ENGINE_MEMORY"):
            kw["engine_memory"] = os.environ["GRAPHNET_ENGINE_MEMORY"]
        if os.environ.get("GRAPHNET_INTERNAL_CIDRS"):
            kw["internal_cidrs"] = parse_cidrs(os.environ["GRAPHNET_INTERNAL_CIDRS"])
        for env, key in (
            ("GRAPHNET_BATCH_SIZE", "batch_size"),
            ("GRAPHNET_TOP_PORTS", "top_ports"),
            ("GRAPHNET_WRITERS", "writers"),
            ("GRAPHNET_ENGINE_THREADS", "engine_threads"),
            ("GRAPHNET_BULK_MIN_MB", "bulk_min_mb"),
        ):
            if os.environ.get(env):
                try:
                    kw[key] = int(os.environ[env])
                except ValueError:
                    raise ConfigError(
                        f"{env} must be a whole number, not {os.environ[env]!r}"
                    ) from None
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)  # type: ignore[arg-type]
