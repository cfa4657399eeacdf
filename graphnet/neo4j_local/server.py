"""start / stop / status / logs of graphnet's own Neo4j, one folder per instance.

Layout of `$GRAPHNET_HOME/neo4j/instances/<instance>/`:

    conf/neo4j.conf, conf/server-logs.xml, conf/user-logs.xml   (rewritten on every start)
    data/ logs/ run/ import/ plugins/                           (the server's folders)
    password                                                    (mode 0600, the `neo4j` password)
    instance.json                                               (pid, ports, version, memory)
    import.pending                                              (a bulk import did not complete:
                                                                 see graphnet.neo4j_local.bulk)

The server is `java ... -cp '<dist>/lib/*' org.neo4j.server.CommunityEntryPoint` started
detached (own session, stdout/stderr appended to logs/console.log). On the first start the
password is generated, written to `password` and handed to `neo4j-admin dbms
set-initial-password` through a 0600 Java argument file, so it never shows in a command line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from graphnet.config import Neo4jSettings
from graphnet.errors import ConfigError, Neo4jProvisionError, Neo4jUnavailable
from graphnet.neo4j_local import conf as conf_mod
from graphnet.neo4j_local.conf import InstanceLayout, ServerOptions
from graphnet.neo4j_local.dist import JAVA_HINT, Installation, check_java, install

log = logging.getLogger(__name__)

DEFAULT_INSTANCE = "default"
#: Environment variable selecting the instance `connection_for` reads.
INSTANCE_ENV = "GRAPHNET_NEO4J_INSTANCE"
USER = "neo4j"
PASSWORD_LENGTH = 32
START_HINT = "start it with `graphnet neo4j start`"

# environment variables a child JVM must not inherit (secrets, options that change the JVM)
_SCRUB_ENV = ("NEO4J_PASSWORD", "NEO4J_PASSWORD_FILE", "NEO4J_AUTH", "JAVA_OPTS", "HEAP_SIZE")
_CONSOLE_LOG_MAX = 5 * 1024 * 1024


@dataclass(frozen=True)
class Neo4jStatus:
    """What `graphnet neo4j status` shows. Never holds the password."""

    instance: str
    instance_dir: Path
    running: bool
    pid: int | None
    version: str | None
    bolt_port: int | None
    http_port: int | None
    bolt_uri: str | None
    browser_url: str | None
    #: bytes on disk under data/ (0 before the first start)
    data_size: int
    #: one human sentence: "started in 14.2 s", "already running", "not running", ...
    message: str = ""

    @property
    def data_size_text(self) -> str:
        """`data_size` as `12.3 MiB`."""
        size = float(self.data_size)
        for unit in ("B", "KiB", "MiB", "GiB"):
            if size < 1024 or unit == "GiB":
                return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size /= 1024
        return f"{size:.1f} TiB"  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# paths and small helpers


def instance_dir(home: Path, instance: str = DEFAULT_INSTANCE) -> Path:
    """`$GRAPHNET_HOME/neo4j/instances/<instance>` (the name is validated)."""
    return Path(home) / "neo4j" / "instances" / conf_mod.check_instance_name(instance)


def reveal_password_path(home: Path, instance: str = DEFAULT_INSTANCE) -> Path:
    """Path of the instance's password file (mode 0600); Neo4jUnavailable before the first start."""
    path = InstanceLayout(instance_dir(home, instance)).password_file
    if not path.is_file():
        raise Neo4jUnavailable(
            f"graphnet's local Neo4j instance '{instance}' has no password yet ({path} is absent)",
            hint=START_HINT,
        )
    return path


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((conf_mod.LISTEN_ADDRESS, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = conf_mod.LISTEN_ADDRESS) -> bool:
    """True when something already listens on (or holds) `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((conf_mod.LISTEN_ADDRESS, port), timeout=1.0):
            return True
    except OSError:
        return False


def _read_state(layout: InstanceLayout) -> dict[str, Any]:
    try:
        data = json.loads(layout.state_file.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(layout: InstanceLayout, state: dict[str, Any]) -> None:
    tmp = layout.state_file.with_name(layout.state_file.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, layout.state_file)


def _write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the first byte on (atomic replace)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_password(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s had mode %o; setting it to 0600", path, mode)
        path.chmod(0o600)
    password = path.read_text("utf-8").strip()
    if not password:
        raise Neo4jProvisionError(
            f"the password file {path} is empty",
            hint="write the neo4j user's password into it (one line, mode 0600)",
        )
    return password


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password of letters and digits (32 characters: about 190 bits)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _reap(pid: int) -> int | None:
    """Exit code of `pid` if it is our child and has exited (reaping it), else None."""
    try:
        done, status_ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status_)


def _is_server(pid: int, layout: InstanceLayout) -> bool:
    """True when `pid` is alive and is this instance's Neo4j server (not a reused pid)."""
    if pid <= 0:
        return False
    if _reap(pid) is not None:
        return False
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        for _ in range(50):
            try:
                raw = (proc / "cmdline").read_bytes()
            except OSError:
                return False
            if raw:
                break
            # empty: a zombie, or a process between exec and its argument setup
            try:
                state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                return False
            if state in ("Z", "X"):
                return False
            time.sleep(0.02)
        args = raw.split(b"\0")
        return (
            conf_mod.SERVER_MAIN_CLASS.encode() in args
            and f"--home-dir={layout.root}".encode() in args
        )
    try:  # no /proc (macOS): trust the pid
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_exit(pid: int, layout: InstanceLayout, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_server(pid, layout):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _terminate(pid: int, layout: InstanceLayout, timeout: float) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL."""
    _signal(pid, signal.SIGTERM)
    if not _wait_exit(pid, layout, timeout):
        log.warning("Neo4j (pid %d) did not stop within %.0f s; killing it", pid, timeout)
        _signal(pid, signal.SIGKILL)
        _wait_exit(pid, layout, 30.0)


def _data_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _tail(path: Path, lines: int) -> list[str]:
    """Last `lines` lines of a text file ([] when it is absent)."""
    if lines <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            block = 64 * 1024
            data = b""
            pos = end
            while pos > 0 and data.count(b"\n") <= lines:
                step = min(block, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    return list(deque(text.splitlines(), maxlen=lines))


@contextlib.contextmanager
def _instance_lock(layout: InstanceLayout) -> Iterator[None]:
    """Serialise start/stop of one instance between processes."""
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(layout.root / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _visible(lines: list[str]) -> list[str]:
    """Lines with something printable (the server writes a lone control byte when started)."""
    return [line for line in lines if any(c.isprintable() and not c.isspace() for c in line)]


def _child_env(layout: InstanceLayout) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB_ENV}
    env["NEO4J_HOME"] = str(layout.root)
    env["NEO4J_CONF"] = str(layout.conf)
    return env


# ---------------------------------------------------------------------------------------------
# an interrupted bulk import (see graphnet.neo4j_local.bulk)

#: The database a bulk import writes (the default database; `system` is never touched).
IMPORT_DATABASE = "neo4j"
#: In the instance folder while a bulk import has not completed: written before the server is
#: stopped for the import, removed once the server runs on the imported graph again.
IMPORT_MARKER = "import.pending"
#: The import tool's report, under the instance's logs (its argument also marks its process).
IMPORT_REPORT = "import.report"


def import_marker(layout: InstanceLayout) -> Path:
    """`<instance>/import.pending` (see IMPORT_MARKER)."""
    return layout.root / IMPORT_MARKER


def write_import_marker(layout: InstanceLayout, info: dict[str, Any]) -> None:
    """Write the marker durably (temporary file, fsync, rename, fsync of the folder)."""
    path = import_marker(layout)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(info, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(layout.root)


def read_import_marker(layout: InstanceLayout) -> dict[str, Any] | None:
    """The marker's content ({} when unreadable), None when there is no marker."""
    path = import_marker(layout)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def remove_import_marker(layout: InstanceLayout) -> None:
    import_marker(layout).unlink(missing_ok=True)
    _fsync_dir(layout.root)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_import_process(pid: int, layout: InstanceLayout) -> bool:
    """True when `pid` is alive and is a `neo4j-admin database import` of this instance."""
    if pid <= 0 or _reap(pid) is not None:
        return False
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    args = raw.split(b"\0")
    return (
        conf_mod.ADMIN_MAIN_CLASS.encode() in args
        and f"--report-file={layout.logs / IMPORT_REPORT}".encode() in args
    )


def recover_interrupted_import(layout: InstanceLayout) -> bool:
    """Before a start, with the instance lock held: when a bulk import did not complete (its
    marker is there, and the process that wrote it is gone, since it held this lock), the
    `neo4j` database holds part of an import (a marker saying `imported` names a whole one,
    which is kept). Kill the import tool if it still runs, remove
    the database's store and transaction files (the server then creates an empty `neo4j`
    database; the graph was empty before the import) and the marker. The `system` database,
    with the users and the password, is not touched. Returns True when it did so."""
    info = read_import_marker(layout)
    if info is None:
        return False
    if info.get("imported"):
        # the import tool had finished: the database is whole; the run was killed while the
        # server started or while the schema was applied (the next use applies it again)
        remove_import_marker(layout)
        log.warning(
            "a bulk import into Neo4j instance %s completed (%s) but its run ended before "
            "the graph was set up: the graph is kept; values the import files could not carry "
            "(empty lists) may be missing",
            layout.root.name,
            info["imported"],
        )
        return False
    pid = info.get("import_pid")
    if isinstance(pid, int) and is_import_process(pid, layout):
        log.warning("a bulk import tool of a killed run still runs (pid %d); killing it", pid)
        _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while is_import_process(pid, layout) and time.monotonic() < deadline:
            time.sleep(0.1)
    for folder in (
        layout.data / "databases" / IMPORT_DATABASE,
        layout.data / "transactions" / IMPORT_DATABASE,
    ):
        shutil.rmtree(folder, ignore_errors=True)
    remove_import_marker(layout)
    log.warning(
        "a bulk import into Neo4j instance %s did not complete (started %s): its partial "
        "graph was removed; the graph is empty and the next ingest loads it again",
        layout.root.name,
        info.get("started_at", "at an unknown time"),
    )
    return True


# ---------------------------------------------------------------------------------------------
# status, logs, connection


def status(home: Path, instance: str = DEFAULT_INSTANCE) -> Neo4jStatus:
    """Running or not, pid, version, ports, Bolt URI, browser URL, data size, folder."""
    layout = InstanceLayout(instance_dir(home, instance))
    state = _read_state(layout)
    pid = state.get("pid")
    running = isinstance(pid, int) and _is_server(pid, layout)
    bolt = state.get("bolt_port")
    http = state.get("http_port")
    if running:
        message = f"running (pid {pid})"
    elif layout.root.is_dir():
        message = "not running"
    else:
        message = "not set up yet"
    return Neo4jStatus(
        instance=instance,
        instance_dir=layout.root,
        running=running,
        pid=pid if running else None,
        version=state.get("version"),
        bolt_port=bolt if isinstance(bolt, int) else None,
        http_port=http if isinstance(http, int) else None,
        bolt_uri=conf_mod.bolt_uri(bolt) if isinstance(bolt, int) else None,
        browser_url=conf_mod.browser_url(http) if isinstance(http, int) else None,
        data_size=_data_size(layout.data),
        message=message,
    )


def logs(home: Path, instance: str = DEFAULT_INSTANCE, lines: int = 50) -> str:
    """The last `lines` lines of the instance's `neo4j.log`, plus JVM console output if any.

    Each file comes under a `==> path <==` header; the text ends with a newline.
    """
    layout = InstanceLayout(instance_dir(home, instance))
    parts: list[str] = []
    for path in (layout.logs / "neo4j.log", layout.console_log):
        tail = _visible(_tail(path, lines))
        if tail:
            parts.append(f"==> {path} <==\n" + "\n".join(tail))
    if not parts:
        return f"no Neo4j logs yet in {layout.logs}\n"
    return "\n\n".join(parts) + "\n"


def connection_for(home: Path, instance: str | None = None) -> Neo4jSettings:
    """Settings (origin "local") for graphnet's running local Neo4j.

    The instance is `instance`, else `$GRAPHNET_NEO4J_INSTANCE`, else "default". Raises
    Neo4jUnavailable (hint: start it) when that instance is not set up or not running.
    """
    name = instance or os.environ.get(INSTANCE_ENV) or DEFAULT_INSTANCE
    layout = InstanceLayout(instance_dir(home, name))
    label = f"graphnet's local Neo4j (instance '{name}')"
    if name != DEFAULT_INSTANCE and instance is None:
        label += f" selected by {INSTANCE_ENV}"
    hint = f"{START_HINT}, or set NEO4J_URI and NEO4J_PASSWORD to use another server"
    state = _read_state(layout)
    bolt = state.get("bolt_port")
    if not layout.password_file.is_file() or not isinstance(bolt, int):
        raise Neo4jUnavailable(f"{label} is not set up: nothing in {layout.root}", hint=hint)
    pid = state.get("pid")
    if not (isinstance(pid, int) and _is_server(pid, layout)):
        raise Neo4jUnavailable(f"{label} is not running", hint=hint)
    try:
        password = _read_password(layout.password_file)
    except OSError as exc:
        raise Neo4jUnavailable(
            f"cannot read {layout.password_file}: {exc.strerror}", hint=hint
        ) from exc
    return Neo4jSettings(
        uri=conf_mod.bolt_uri(bolt),
        user=USER,
        password=password,
        origin="local",
        home=str(home),
        instance=name,
    )


# ---------------------------------------------------------------------------------------------
# start / stop


def write_config(layout: InstanceLayout, lib_dir: Path, options: ServerOptions) -> None:
    """Create the instance folders and (re)write neo4j.conf and the two log4j2 files."""
    for folder in layout.folders():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    layout.conf_file.write_text(conf_mod.render_conf(layout, lib_dir, options), "utf-8")
    package = resources.files("graphnet.neo4j_local")
    for name in ("server-logs.xml", "user-logs.xml"):
        (layout.conf / name).write_text(package.joinpath(name).read_text("utf-8"), "utf-8")


def _set_initial_password(
    java: Path, dist: Installation, layout: InstanceLayout, password: str
) -> None:
    """`neo4j-admin dbms set-initial-password` with the password only in a 0600 argfile."""
    argfile = layout.run / ".set-initial-password.args"
    _write_secret(argfile, conf_mod.admin_argfile_text(["dbms", "set-initial-password", password]))
    try:
        result = subprocess.run(
            conf_mod.admin_command(java, dist.lib_dir, argfile),
            env=_child_env(layout),
            cwd=layout.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Neo4jProvisionError(
            "setting the initial Neo4j password did not finish within 300 s",
            hint="check that the machine is not overloaded and try again",
        ) from exc
    finally:
        argfile.unlink(missing_ok=True)
    output = (result.stdout + result.stderr).replace(password, "********").strip()
    auth_ini = layout.data / "dbms" / "auth.ini"
    if result.returncode != 0 or not auth_ini.is_file():
        raise Neo4jProvisionError(
            f"setting the initial Neo4j password failed (exit code {result.returncode}):\n{output}",
            hint=_hint_for(output, layout, None),
        )
    log.debug("neo4j-admin: %s", output)


def _ensure_password(java: Path, dist: Installation, layout: InstanceLayout) -> str:
    """The instance password; on the first start generate it and make it the initial one."""
    pw_file = layout.password_file
    if pw_file.is_file():
        password = _read_password(pw_file)
    elif layout.system_db.exists():
        raise Neo4jProvisionError(
            f"the instance {layout.root} has a database but its password file is missing",
            hint=f"restore {pw_file} (the neo4j user's password, one line, mode 0600), or "
            f"remove {layout.root} to start afresh (this deletes its data)",
        )
    else:
        password = generate_password()
        _write_secret(pw_file, password + "\n")
        log.info("generated a password for the neo4j user in %s (mode 0600)", pw_file)
    if not layout.system_db.exists():
        _set_initial_password(java, dist, layout, password)
    return password


def _instance_using_port(home: Path, port: int, own: str) -> str | None:
    root = Path(home) / "neo4j" / "instances"
    if not root.is_dir():
        return None
    for child in sorted(root.iterdir()):
        if child.name == own:
            continue
        layout = InstanceLayout(child)
        state = _read_state(layout)
        pid = state.get("pid")
        if port in (state.get("bolt_port"), state.get("http_port")) and isinstance(pid, int):
            if _is_server(pid, layout):
                return child.name
    return None


def _check_ports(home: Path, instance: str, options: ServerOptions) -> None:
    for what, port, flag in (
        ("Bolt", options.bolt_port, "--bolt-port"),
        ("HTTP", options.http_port, "--http-port"),
    ):
        if port_in_use(port):
            owner = _instance_using_port(home, port, instance)
            who = f" by graphnet's Neo4j instance '{owner}'" if owner else ""
            raise Neo4jProvisionError(
                f"port {port} ({what}) on {conf_mod.LISTEN_ADDRESS} is already in use{who}",
                hint=f"stop whatever listens on port {port} (e.g. `ss -ltnp 'sport = :{port}'`) "
                f"or choose another port with `{flag} <port>`",
            )


def _hint_for(text: str, layout: InstanceLayout, options: ServerOptions | None) -> str:
    if "Address already in use" in text or "PortBindException" in text:
        ports = f" ({options.bolt_port} Bolt, {options.http_port} HTTP)" if options else ""
        return (
            f"a port{ports} was taken while Neo4j started: free it or choose others "
            "with `--bolt-port` / `--http-port`"
        )
    if "UnsupportedClassVersionError" in text or "Unrecognized VM option" in text:
        return JAVA_HINT
    if (
        "Could not reserve enough space" in text
        or "OutOfMemoryError" in text
        or "Cannot allocate memory" in text
        or "insufficient memory" in text
    ):
        mem = f" (now heap {options.heap}, page cache {options.pagecache})" if options else ""
        return f"not enough memory: lower `--heap` / `--pagecache`{mem} or free memory"
    if "FileLockException" in text or "StoreLockException" in text or "locked by" in text:
        return (
            f"another process holds the database files in {layout.data}: stop it "
            "(`graphnet neo4j stop`, or the Neo4j process itself) and start again"
        )
    if "Could not find or load main class" in text or "ClassNotFoundException" in text:
        return (
            "the Neo4j jar cache looks incomplete: remove the folder `neo4j/dist` under "
            "GRAPHNET_HOME and start again (it is downloaded again)"
        )
    if "Error evaluating value for setting" in text or "Unrecognized setting" in text:
        return f"the generated configuration was rejected; see {layout.conf_file}"
    return f"see `graphnet neo4j logs` and the files in {layout.logs}"


def _failure(
    layout: InstanceLayout, options: ServerOptions, headline: str, password: str | None
) -> Neo4jProvisionError:
    sections: list[str] = []
    for path in (layout.logs / "neo4j.log", layout.console_log):
        tail = _visible(_tail(path, 20))
        if tail:
            sections.append(f"--- last lines of {path} ---\n" + "\n".join(tail))
    if not sections:
        debug = _tail(layout.logs / "debug.log", 20)
        if debug:
            sections.append(
                f"--- last lines of {layout.logs / 'debug.log'} ---\n" + "\n".join(debug)
            )
    text = "\n".join(sections) or f"(no log output in {layout.logs})"
    if password:
        text = text.replace(password, "********")
    return Neo4jProvisionError(f"{headline}\n{text}", hint=_hint_for(text, layout, options))


def _rotate_console_log(layout: InstanceLayout) -> None:
    with contextlib.suppress(OSError):
        if layout.console_log.stat().st_size > _CONSOLE_LOG_MAX:
            os.replace(layout.console_log, layout.console_log.with_suffix(".log.1"))


def _spawn(argv: list[str], layout: InstanceLayout) -> int:
    """Start `argv` detached: new session, stdin /dev/null, stdout+stderr appended to console.log.

    posix_spawn (not subprocess.Popen) so no Popen object outlives the call; the pid is reaped
    by `_reap` when this process is still the parent.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (
            os.POSIX_SPAWN_OPEN,
            1,
            str(layout.console_log),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o600,
        ),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(argv[0], argv, _child_env(layout), file_actions=actions, setsid=True)


def start(
    home: Path,
    instance: str = DEFAULT_INSTANCE,
    bolt_port: int = 7687,
    http_port: int = 7474,
    heap: str = "2g",
    pagecache: str = "2g",
    timeout: float = 180.0,
) -> Neo4jStatus:
    """Install if needed, then start the instance and return once Bolt answers `RETURN 1`.

    Listens on 127.0.0.1 only, auth on. Returns the status at once when the instance already
    runs. Raises Neo4jProvisionError (message with the log tail, hint with what to check) when
    a port is taken, Java or Maven is missing, or the server does not answer within `timeout`
    seconds (it is then stopped again).
    """
    layout = InstanceLayout(instance_dir(home, instance))
    options = ServerOptions(bolt_port, http_port, heap, pagecache)
    if not status(home, instance).running:
        _check_ports(home, instance, options)  # fail fast, before creating anything
    with _instance_lock(layout):
        return _start_locked(home, instance, layout, options, timeout)


def _start_locked(
    home: Path,
    instance: str,
    layout: InstanceLayout,
    options: ServerOptions,
    timeout: float,
    *,
    recover: bool = True,
) -> Neo4jStatus:
    """`start` with the instance lock held. `recover=False` only for the start that follows a
    completed bulk import (its marker is still there: see `recover_interrupted_import`)."""
    bolt_port, http_port = options.bolt_port, options.http_port
    current = status(home, instance)
    if current.running:
        message = f"already running (pid {current.pid}) at {current.bolt_uri}"
        if (current.bolt_port, current.http_port) != (bolt_port, http_port):
            message += "; stop it first to change its ports"
        log.info("Neo4j instance '%s' is %s", instance, message)
        return replace(current, message=message)
    _check_ports(home, instance, options)
    java = check_java()
    dist = install(home)
    if recover:
        recover_interrupted_import(layout)
    started = time.monotonic()
    write_config(layout, dist.lib_dir, options)
    password = _ensure_password(java, dist, layout)
    _check_ports(home, instance, options)
    argv = conf_mod.server_command(java, dist.lib_dir, layout, options)
    _rotate_console_log(layout)
    with open(layout.console_log, "a", encoding="utf-8") as fh:
        fh.write(f"--- graphnet: starting Neo4j {dist.version} at {time.ctime()} ---\n")
    log.info(
        "starting Neo4j %s instance '%s' (Bolt %d, HTTP %d, heap %s, page cache %s)",
        dist.version,
        instance,
        options.bolt_port,
        options.http_port,
        options.heap,
        options.pagecache,
    )
    try:
        pid = _spawn(argv, layout)
    except OSError as exc:
        raise Neo4jProvisionError(f"cannot start {argv[0]}: {exc}", hint=JAVA_HINT) from exc
    _write_state(
        layout,
        {
            "instance": instance,
            "pid": pid,
            "version": dist.version,
            "bolt_port": options.bolt_port,
            "http_port": options.http_port,
            "heap": options.heap,
            "pagecache": options.pagecache,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    _wait_ready(pid, layout, options, password, started + timeout, timeout)
    elapsed = time.monotonic() - started
    log.info("Neo4j instance '%s' is up (pid %d) after %.1f s", instance, pid, elapsed)
    return replace(status(home, instance), message=f"started in {elapsed:.1f} s")


def _wait_ready(
    pid: int,
    layout: InstanceLayout,
    options: ServerOptions,
    password: str,
    deadline: float,
    timeout: float,
) -> None:
    from graphnet.neo4j_local._bolt import Probe, probe

    uri = conf_mod.bolt_uri(options.bolt_port)
    last_note = time.monotonic()
    while True:
        code = _reap(pid)  # we are its parent: None means it still runs
        if code is not None:
            _clear_pid(layout, pid)
            raise _failure(
                layout, options, f"Neo4j exited with code {code} while starting", password
            )
        if _port_answers(options.bolt_port):
            result = probe(uri, password, timeout=max(1.0, min(10.0, deadline - time.monotonic())))
            if result is Probe.OK:
                return
            if result is Probe.CHANGED:
                log.warning(
                    "the server still had the default password; it now uses %s",
                    layout.password_file,
                )
                return
            if result is Probe.AUTH_FAILED:
                _terminate(pid, layout, 60.0)
                _clear_pid(layout, pid)
                raise Neo4jProvisionError(
                    f"Neo4j started but refuses the password in {layout.password_file}",
                    hint=f"put the neo4j user's current password into {layout.password_file}, "
                    f"or remove {layout.root} to start afresh (this deletes its data)",
                )
        now = time.monotonic()
        if now >= deadline:
            _terminate(pid, layout, 60.0)
            _clear_pid(layout, pid)
            err = _failure(
                layout, options, f"Neo4j did not answer on Bolt within {timeout:.0f} s", password
            )
            if err.hint.startswith("see `graphnet neo4j logs`"):
                err.hint = (
                    "Neo4j may only be slow on this machine: try again with a longer start "
                    f"timeout; otherwise {err.hint}"
                )
            raise err
        if now - last_note > 15:
            log.info("  still waiting for Neo4j to answer on %s", uri)
            last_note = now
        time.sleep(0.5)


def _clear_pid(layout: InstanceLayout, pid: int) -> None:
    state = _read_state(layout)
    if state.get("pid") == pid:
        state["pid"] = None
        state["stopped_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        _write_state(layout, state)


def stop(home: Path, instance: str = DEFAULT_INSTANCE, timeout: float = 120.0) -> Neo4jStatus:
    """Stop the instance: SIGTERM, wait up to `timeout` seconds for a clean shutdown, SIGKILL."""
    layout = InstanceLayout(instance_dir(home, instance))
    current = status(home, instance)
    if not current.running:
        state = _read_state(layout)
        if isinstance(state.get("pid"), int):
            _clear_pid(layout, state["pid"])
        return replace(current, message=current.message)
    with _instance_lock(layout):
        return _stop_locked(home, instance, layout, timeout)


def _stop_locked(home: Path, instance: str, layout: InstanceLayout, timeout: float) -> Neo4jStatus:
    """`stop` with the instance lock held (a no-op when the server does not run)."""
    current = status(home, instance)
    if not current.running:
        return current
    pid = current.pid
    assert pid is not None
    log.info("stopping Neo4j instance '%s' (pid %d)", instance, pid)
    started = time.monotonic()
    _terminate(pid, layout, timeout)
    _clear_pid(layout, pid)
    elapsed = time.monotonic() - started
    log.info("Neo4j instance '%s' stopped after %.1f s", instance, elapsed)
    return replace(status(home, instance), message=f"stopped (pid {pid}) in {elapsed:.1f} s")


def remove_instance(home: Path, instance: str) -> None:
    """Delete a stopped instance's folder (data, logs, password). The jar cache stays."""
    layout = InstanceLayout(instance_dir(home, instance))
    if status(home, instance).running:
        raise ConfigError(
            f"Neo4j instance '{instance}' is running", hint="stop it first: `graphnet neo4j stop`"
        )
    shutil.rmtree(layout.root, ignore_errors=True)
