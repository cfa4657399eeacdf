"""Pure builders for a local Neo4j instance: neo4j.conf text, JVM options and command lines.

Nothing here touches the disk or starts a process, so it is unit-testable without Java.
The password is never an argument of any builder: it reaches Neo4j only through files
with mode 0600 (see `graphnet.neo4j_local.server`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from graphnet.errors import ConfigError

#: The server's main class (what `neo4j console` ends up running after its bootloader).
SERVER_MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
#: The `neo4j-admin` command dispatcher (used in-process for `dbms set-initial-password`).
ADMIN_MAIN_CLASS = "org.neo4j.cli.AdminTool"

LISTEN_ADDRESS = "127.0.0.1"

#: `server.jvm.additional` of the stock Neo4j 5.26 `conf/neo4j.conf`, minus `-XX:+AlwaysPreTouch`
#: (it commits the whole heap before start; left out on a shared 2-core machine).
STOCK_JVM_OPTIONS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256",
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j.layout.jsonTemplate.maxStringLength=32768",
)

#: Options the stock bootloader (`org.neo4j.server.startup.Bootloader`) adds on top of
#: `server.jvm.additional`; heap flags are added from the configured sizes.
BOOTLOADER_JVM_OPTIONS: tuple[str, ...] = ("-Dfile.encoding=UTF-8",)

_MEMORY = re.compile(r"^([1-9][0-9]*)([kmg])$")
_INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def normalise_memory(value: str, what: str) -> str:
    """`2g`, `512m`, `2GiB` (case-insensitive) -> canonical lower-case form, else ConfigError."""
    text = str(value).strip().lower()
    text = text.removesuffix("b").removesuffix("i")  # accept 2GiB / 2gb / 512MiB
    m = _MEMORY.match(text)
    if not m:
        raise ConfigError(
            f"invalid {what} size {value!r}",
            hint="use a whole number with k, m or g, e.g. 2g or 512m",
        )
    return text


def memory_bytes(value: str) -> int:
    """Bytes of a normalised size such as `2g`."""
    m = _MEMORY.match(normalise_memory(value, "memory"))
    assert m is not None
    return int(m.group(1)) * {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2)]


def check_instance_name(name: str) -> str:
    """Instance names become folder names: letters, digits, `_`, `.`, `-`; at most 64."""
    if not isinstance(name, str) or not _INSTANCE.match(name):
        raise ConfigError(
            f"invalid Neo4j instance name {name!r}",
            hint="use letters, digits, '_', '.' or '-' (starting with a letter or digit)",
        )
    return name


def check_port(port: int, what: str) -> int:
    """A TCP port number in 1..65535, else ConfigError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"invalid {what} port {port!r}", hint="use a number in 1..65535")
    return port


@dataclass(frozen=True)
class ServerOptions:
    """What varies between instances: ports and memory."""

    bolt_port: int = 7687
    http_port: int = 7474
    heap: str = "2g"
    pagecache: str = "2g"

    def __post_init__(self) -> None:
        check_port(self.bolt_port, "Bolt")
        check_port(self.http_port, "HTTP")
        if self.bolt_port == self.http_port:
            raise ConfigError(
                f"Bolt and HTTP would both use port {self.bolt_port}",
                hint="give --bolt-port and --http-port different values",
            )
        object.__setattr__(self, "heap", normalise_memory(self.heap, "heap"))
        object.__setattr__(self, "pagecache", normalise_memory(self.pagecache, "page cache"))


@dataclass(frozen=True)
class InstanceLayout:
    """Folders of one instance under `$GRAPHNET_HOME/neo4j/instances/<name>/`."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def conf_file(self) -> Path:
        return self.conf / "neo4j.conf"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def import_dir(self) -> Path:
        return self.root / "import"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def state_file(self) -> Path:
        """JSON: pid, ports, version, memory of the last start."""
        return self.root / "instance.json"

    @property
    def console_log(self) -> Path:
        """stdout/stderr of the JVM (startup errors before logging is configured)."""
        return self.logs / "console.log"

    @property
    def system_db(self) -> Path:
        """Exists once the server has initialised its system database (first start done)."""
        return self.data / "databases" / "system"

    def folders(self) -> tuple[Path, ...]:
        return (self.root, self.conf, self.data, self.logs, self.run, self.import_dir, self.plugins)


def render_conf(layout: InstanceLayout, lib_dir: Path, options: ServerOptions) -> str:
    """The instance's `neo4j.conf`: loopback only, auth on, https off, folders in the instance."""
    addr = LISTEN_ADDRESS
    lines = [
        "# Generated by graphnet (graphnet/neo4j_local/conf.py) on every start; edits are lost.",
        "# Ports and memory are options of `graphnet neo4j start` (--bolt-port, --heap, ...).",
        "",
        "# Folders: everything lives inside the instance folder",
        f"server.directories.data={layout.data}",
        f"server.directories.logs={layout.logs}",
        f"server.directories.run={layout.run}",
        f"server.directories.import={layout.import_dir}",
        f"server.directories.plugins={layout.plugins}",
        f"server.directories.lib={lib_dir}",
        "",
        "# Network: this machine only",
        f"server.default_listen_address={addr}",
        f"server.default_advertised_address={addr}",
        "server.bolt.enabled=true",
        f"server.bolt.listen_address={addr}:{options.bolt_port}",
        f"server.bolt.advertised_address={addr}:{options.bolt_port}",
        "server.bolt.tls_level=DISABLED",
        "server.http.enabled=true",
        f"server.http.listen_address={addr}:{options.http_port}",
        f"server.http.advertised_address={addr}:{options.http_port}",
        "server.https.enabled=false",
        "",
        "# Security: authentication on; the password is set from the instance's 0600 password file",
        "dbms.security.auth_enabled=true",
        "db.logs.query.parameter_logging_enabled=false",
        "dbms.usage_report.enabled=false",
        "",
        "# Memory (2-core / 24 GiB default: 2g heap, 2g page cache)",
        f"server.memory.heap.initial_size={options.heap}",
        f"server.memory.heap.max_size={options.heap}",
        f"server.memory.pagecache.size={options.pagecache}",
        "db.tx_state.memory_allocation=ON_HEAP",
        "",
        "# Transaction log retention (as the stock 5.26 configuration)",
        "db.tx_log.rotation.retention_policy=2 days 2G",
        "",
        "# Logging (log4j2 files next to this one)",
        f"server.logs.config={layout.conf / 'server-logs.xml'}",
        f"server.logs.user.config={layout.conf / 'user-logs.xml'}",
        "",
        "# JVM options; graphnet passes exactly these to `java` (see graphnet.neo4j_local.conf)",
    ]
    lines += [f"server.jvm.additional={opt}" for opt in STOCK_JVM_OPTIONS]
    return "\n".join(lines) + "\n"


def jvm_options(options: ServerOptions) -> list[str]:
    """JVM flags for the server: heap, the stock `server.jvm.additional` set, bootloader extras."""
    return [
        f"-Xms{options.heap}",
        f"-Xmx{options.heap}",
        *STOCK_JVM_OPTIONS,
        *BOOTLOADER_JVM_OPTIONS,
    ]


def classpath(lib_dir: Path) -> str:
    """`<lib>/*`: the JVM expands the wildcard itself (no shell involved)."""
    return f"{lib_dir}/*"


def server_command(
    java: Path | str, lib_dir: Path, layout: InstanceLayout, options: ServerOptions
) -> list[str]:
    """argv of the server process (no password: it is read from the instance's files)."""
    return [
        str(java),
        *jvm_options(options),
        f"-XX:ErrorFile={layout.logs}/hs_err_pid%p.log",
        "-cp",
        classpath(lib_dir),
        SERVER_MAIN_CLASS,
        f"--home-dir={layout.root}",
        f"--config-dir={layout.conf}",
    ]


def admin_command(java: Path | str, lib_dir: Path, argfile: Path) -> list[str]:
    """argv that runs `neo4j-admin` in one JVM with its main class and arguments in `argfile`.

    The Java launcher expands `@argfile` itself, so whatever the file holds (the initial
    password) never shows in the process command line. See `admin_argfile_text`.
    """
    return [
        str(java),
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "-Dfile.encoding=UTF-8",
        "-cp",
        classpath(lib_dir),
        f"@{argfile}",
    ]


def import_command(java: Path | str, lib_dir: Path, heap: str, args: Sequence[str]) -> list[str]:
    """argv of `neo4j-admin <args>` for a bulk import: the JVM of `admin_command` with `heap`
    (the stopped server's heap) and G1, the arguments on the command line (they hold paths and
    options, never a secret)."""
    heap = normalise_memory(heap, "heap")
    return [
        str(java),
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "--enable-native-access=ALL-UNNAMED",
        "-Dfile.encoding=UTF-8",
        "-cp",
        classpath(lib_dir),
        ADMIN_MAIN_CLASS,
        *args,
    ]


def admin_argfile_text(args: Sequence[str]) -> str:
    """Body of a Java launcher argument file: the admin main class then `args`, one per line.

    Each argument is double-quoted (the launcher's argfile syntax); arguments must not
    contain quotes, backslashes or line breaks (graphnet's passwords are alphanumeric).
    """
    for arg in args:
        if any(c in arg for c in "\"'\\\n\r"):
            raise ValueError(
                "argument-file values must not contain quotes, backslashes or newlines"
            )
    return "\n".join(f'"{a}"' for a in (ADMIN_MAIN_CLASS, *args)) + "\n"


def bolt_uri(bolt_port: int) -> str:
    return f"bolt://{LISTEN_ADDRESS}:{bolt_port}"


def browser_url(http_port: int) -> str:
    return f"http://{LISTEN_ADDRESS}:{http_port}/browser/"
