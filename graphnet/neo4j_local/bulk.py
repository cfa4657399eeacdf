"""Bulk load of an empty graph into graphnet's local Neo4j with `neo4j-admin database import full`.

`import_full(home, instance, files)` stops the instance's server if it runs, imports the files
`graphnet.store.bulk.write_import_files` wrote into the `neo4j` database (`--overwrite-
destination`: whatever that database held is replaced), starts the server again on the same
ports and memory, runs the caller's `after_start` (schema, the values the CSV cannot carry) and
returns an `ImportReport`. The `system` database (users, the password) is not touched.

The tool runs in its own JVM (the jars of the instance's installation, the class `neo4j-admin`
runs, the instance's `neo4j.conf` through NEO4J_CONF) with the files' folder as its working
directory, so the file arguments are the plain names the writer chose (the tool reads them as
regular expressions, and a list of them is split at commas). Its output goes to
`logs/import.log` and its report to `logs/import.report` of the instance.

Crash safety: the marker `<instance>/import.pending` is written before the server is stopped
and removed only after the server runs on the imported graph and `after_start` returned. A run
killed in between leaves it: `import_pending()` says so, and the caller loads again from
scratch (the graph was empty before). A start of the instance meanwhile (`graphnet neo4j
start`) removes the partial database first (`server.recover_interrupted_import`), so the server
comes up on an empty graph instead of failing on half-written store files. The import tool is
started under `setpriv --pdeathsig KILL` where that exists, so it dies with the process that
started it; one left running anyway is killed by that recovery.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphnet.config import Neo4jSettings
from graphnet.errors import DiskFull, GraphnetError, Neo4jProvisionError
from graphnet.neo4j_local import conf as conf_mod
from graphnet.neo4j_local import server
from graphnet.neo4j_local.conf import InstanceLayout, ServerOptions
from graphnet.neo4j_local.dist import check_java, install

log = logging.getLogger(__name__)

#: The tool's default read buffer; every row must fit into it (multi-line fields) and every value.
DEFAULT_READ_BUFFER = 4 * 1024 * 1024
#: Lines of the tool's output shown in an error.
TAIL_LINES = 12

_FILE_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# the tool's progress lines: ".......... .......... ...  5% ∆1ms [1ms]"
_PROGRESS = re.compile(r"^[-.]{1}[. ]*(\d+%.*)?$")
# a Java stack frame ("\tat org.neo4j...", "\t... 12 more")
_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")
_IMPORTED = re.compile(r"^\s*(\d+)\s+(nodes|relationships|properties)\s*$")


@dataclass(frozen=True)
class ImportSource:
    """One data source of the import: a file whose first line is its header."""

    #: "nodes" or "relationships"
    kind: str
    #: the label(s) of its nodes ("Host", "A:B") or the type of its relationships ("TALKED")
    name: str
    #: the file's name inside `ImportFiles.folder` (.csv or .csv.gz)
    file: str
    #: data rows in it
    rows: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("nodes", "relationships"):
            raise ValueError(f"an import source holds nodes or relationships, not {self.kind!r}")
        if not all(_NAME.match(part) for part in self.name.split(":")):
            raise ValueError(f"not a plain label or relationship type: {self.name!r}")
        if not _FILE_NAME.match(self.file):
            raise ValueError(f"import file names are plain names: {self.file!r}")


@dataclass(frozen=True)
class ImportFiles:
    """What `neo4j-admin database import full` reads: the files and how to read them."""

    folder: Path
    sources: tuple[ImportSource, ...]
    #: one character that occurs in no array value of the files (`--array-delimiter`)
    array_delimiter: str
    #: some quoted value holds a line break (`--multiline-fields=true`, slower)
    multiline: bool = False
    #: bytes; at least the longest row of the files (`--read-buffer-size`)
    read_buffer_size: int = DEFAULT_READ_BUFFER
    #: name inside `folder` of the JSON lines of the property values CSV cannot carry (empty
    #: lists, a list of one empty string, a list holding the array delimiter), set through
    #: Bolt after the start by `graphnet.store.bulk.finish_import`; None when there are none
    fixups: str | None = None
    fixup_count: int = 0
    #: seconds spent writing the files
    seconds: float = 0.0
    #: bytes of the files
    size: int = 0
    #: names of the columns of each source, for the record (not used by the import)
    headers: dict[str, list[str]] = field(default_factory=dict, compare=False)

    @property
    def nodes(self) -> int:
        return sum(s.rows for s in self.sources if s.kind == "nodes")

    @property
    def relationships(self) -> int:
        return sum(s.rows for s in self.sources if s.kind == "relationships")

    def paths(self) -> list[Path]:
        """Every file of the import (data sources, then the fixups file if any)."""
        out = [self.folder / s.file for s in self.sources]
        if self.fixups:
            out.append(self.folder / self.fixups)
        return out


@dataclass(frozen=True)
class ImportReport:
    """What `import_full` did."""

    nodes: int
    relationships: int
    properties: int
    #: seconds: stopping the server, the import tool, starting the server, `after_start`
    stop_seconds: float
    import_seconds: float
    start_seconds: float
    after_start_seconds: float
    log_file: Path
    report_file: Path
    status: server.Neo4jStatus


def _char_option(ch: str) -> str:
    if len(ch) != 1:
        raise ValueError(f"a delimiter is one character, not {ch!r}")
    return f"U+{ord(ch):04X}"


def import_args(files: ImportFiles, report_file: Path, max_off_heap: str | None) -> list[str]:
    """The arguments of `neo4j-admin` for `files` (relative to `files.folder`, the tool's
    working directory). Every option that decides how a value is read is given explicitly."""
    if not any(s.kind == "nodes" for s in files.sources):
        raise ValueError("an import needs at least one node file")
    delimiter = files.array_delimiter
    if len(delimiter) != 1 or delimiter in ',"\r\n' or not 0 < ord(delimiter) < 0x10000:
        raise ValueError(f"unusable array delimiter {delimiter!r}")
    args = [
        "database",
        "import",
        "full",
        server.IMPORT_DATABASE,  # the positional first: `--nodes` takes every value after it
        "--overwrite-destination=true",
        f"--report-file={report_file}",
        "--delimiter=,",
        "--quote=U+0022",
        f"--array-delimiter={_char_option(delimiter)}",
        f"--multiline-fields={'true' if files.multiline else 'false'}",
        "--legacy-style-quoting=false",
        "--ignore-empty-strings=false",
        "--trim-strings=false",
        "--normalize-types=true",
        "--ignore-extra-columns=false",
        "--id-type=string",
        "--skip-bad-relationships=false",
        "--skip-duplicate-nodes=false",
        "--bad-tolerance=0",
        "--verbose",  # an error's cause (e.g. which id is defined twice) is printed only so
        f"--read-buffer-size={max(files.read_buffer_size, DEFAULT_READ_BUFFER)}",
    ]
    if max_off_heap:
        args.append(f"--max-off-heap-memory={max_off_heap}")
    for s in files.sources:
        args.append(f"--{s.kind}={s.name}={s.file}")
    return args


def import_pending(home: Path, instance: str = server.DEFAULT_INSTANCE) -> bool:
    """True when a bulk import into the instance did not complete: its `neo4j` database holds
    part of an import (or a complete one without what `after_start` adds) and must be loaded
    again from scratch, with `import_full`."""
    layout = InstanceLayout(server.instance_dir(home, instance))
    return server.read_import_marker(layout) is not None


def _tool_lines(path: Path, lines: int) -> list[str]:
    """The last meaningful lines of the tool's output: no progress bars, no stack frames, and
    the root cause of an error (the last `Caused by:`) at the end."""
    tail = server._visible(server._tail(path, 400))
    causes = [ln for ln in tail if ln.startswith("Caused by:")]
    kept = [
        ln
        for ln in tail
        if "∆" not in ln  # a progress bar
        and not _PROGRESS.match(ln.strip())
        and not _FRAME.match(ln)
        and not ln.startswith("Caused by:")
    ][-lines:]
    return kept + causes[-1:]


def _counts(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in server._tail(path, 40):
        m = _IMPORTED.match(line)
        if m:
            found[m.group(2)] = int(m.group(1))
    return found


def _failure_hint(text: str, layout: InstanceLayout, log_file: Path) -> str:
    if "--- graphnet: the import did not finish within" in text:
        return (
            "the import was stopped: allow it more time (a larger timeout), or import less at once"
        )
    if "OutOfMemoryError" in text or "Cannot allocate memory" in text:
        return (
            "the import ran out of memory: free memory, or give the instance a larger heap "
            "(`graphnet neo4j start --heap ...`) and run it again"
        )
    if "DuplicateInputIdException" in text or "more than once" in text:
        return "two nodes of the import share an id: each host must be written once"
    if "referring to missing node" in text:
        return "a relationship names a host that is not among the imported hosts"
    if "FileLockException" in text or "locked by" in text:
        return (
            f"another process holds the database files in {layout.data}: stop it and run "
            "the command again"
        )
    return (
        f"see {log_file}; the graph is empty again, so running the same command again loads "
        "it from the start"
    )


def _command(java: Path, lib_dir: Path, heap: str, args: Sequence[str]) -> list[str]:
    argv = conf_mod.import_command(java, lib_dir, heap, args)
    setpriv = shutil.which("setpriv")
    if setpriv and os.uname().sysname == "Linux":
        # the tool dies with the process that started it (a killed ingest leaves no importer)
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]
    return argv


def _run_tool(
    argv: list[str],
    layout: InstanceLayout,
    folder: Path,
    log_file: Path,
    marker: dict[str, object],
    timeout: float | None,
) -> int:
    with open(log_file, "w", encoding="utf-8") as out:
        out.write(f"--- graphnet: bulk import at {time.ctime()} from {folder} ---\n")
        out.flush()
        proc = subprocess.Popen(
            argv,
            cwd=folder,
            env=server._child_env(layout),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            server.write_import_marker(layout, {**marker, "import_pid": proc.pid})
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            out.write(f"\n--- graphnet: the import did not finish within {timeout:.0f} s ---\n")
            return -9
        except BaseException:
            # interrupted: the tool must not go on writing the store (the marker stays)
            proc.kill()
            proc.wait()
            raise


def import_full(
    home: Path,
    instance: str,
    files: ImportFiles,
    *,
    after_start: Callable[[Neo4jSettings], object] | None = None,
    heap: str | None = None,
    max_off_heap: str | None = "50%",
    timeout: float | None = None,
    start_timeout: float = 180.0,
    stop_timeout: float = 120.0,
) -> ImportReport:
    """Replace the instance's `neo4j` database by an import of `files`; see the module text.

    The server is stopped if it runs, and started again with the ports and memory of its last
    start (the import's JVM gets `heap`, by default the server's). `after_start(settings)` runs
    once the server answers, before the marker is removed. Raises Neo4jProvisionError (the
    tool's last lines, a hint) when the import fails: the server is then started on an empty
    graph, and the same call can be made again; DiskFull when the disk filled up.
    """
    layout = InstanceLayout(server.instance_dir(home, instance))
    state = server._read_state(layout)
    bolt, http = state.get("bolt_port"), state.get("http_port")
    if not layout.password_file.is_file() or not isinstance(bolt, int) or not isinstance(http, int):
        raise Neo4jProvisionError(
            f"graphnet's Neo4j instance '{instance}' is not set up: nothing in {layout.root}",
            hint=server.START_HINT,
        )
    options = ServerOptions(
        bolt, http, str(state.get("heap") or "2g"), str(state.get("pagecache") or "2g")
    )
    log_file = layout.logs / "import.log"
    report_file = layout.logs / server.IMPORT_REPORT
    args = import_args(files, report_file, max_off_heap)
    for path in files.paths():
        if not path.is_file():
            raise FileNotFoundError(f"import file {path} is missing")
    java = check_java()
    dist = install(home)
    argv = _command(java, dist.lib_dir, heap or options.heap, args)
    with server._instance_lock(layout):
        marker: dict[str, object] = {
            "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "folder": str(files.folder),
        }
        server.write_import_marker(layout, marker)
        t0 = time.monotonic()
        server._stop_locked(home, instance, layout, stop_timeout)
        t1 = time.monotonic()
        server.write_config(layout, dist.lib_dir, options)
        report_file.unlink(missing_ok=True)
        log.info(
            "bulk import into Neo4j instance '%s': %d nodes, %d relationships from %s",
            instance,
            files.nodes,
            files.relationships,
            files.folder,
        )
        code = _run_tool(argv, layout, files.folder, log_file, marker, timeout)
        t2 = time.monotonic()
        done = any(ln.startswith("IMPORT DONE") for ln in server._tail(log_file, 60))
        if code != 0 or not done:
            tail = _tool_lines(log_file, TAIL_LINES)
            raise _failed(home, instance, layout, options, code, tail, log_file, start_timeout)
        counts = _counts(log_file)
        # the database is complete from here on: a run killed later leaves a whole graph,
        # which the next start keeps (see server.recover_interrupted_import)
        marker["imported"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        server.write_import_marker(layout, marker)
        log.info(
            "imported %d nodes, %d relationships, %d properties in %.1f s; starting Neo4j",
            counts.get("nodes", -1),
            counts.get("relationships", -1),
            counts.get("properties", -1),
            t2 - t1,
        )
        status = server._start_locked(home, instance, layout, options, start_timeout, recover=False)
        t3 = time.monotonic()
        if after_start is not None:
            after_start(server.connection_for(home, instance))
        t4 = time.monotonic()
        server.remove_import_marker(layout)
    return ImportReport(
        nodes=counts.get("nodes", -1),
        relationships=counts.get("relationships", -1),
        properties=counts.get("properties", -1),
        stop_seconds=t1 - t0,
        import_seconds=t2 - t1,
        start_seconds=t3 - t2,
        after_start_seconds=t4 - t3,
        log_file=log_file,
        report_file=report_file,
        status=status,
    )


def _failed(
    home: Path,
    instance: str,
    layout: InstanceLayout,
    options: ServerOptions,
    code: int,
    tail: list[str],
    log_file: Path,
    start_timeout: float,
) -> GraphnetError:
    """The error of a failed import, after starting the server again on an empty graph."""
    text = "\n".join(tail) or f"(no output in {log_file})"
    err: GraphnetError
    if "No space left on device" in text or "Disk quota exceeded" in text:
        err = DiskFull(
            f"no space left on device: the bulk import could not write the database to "
            f"{layout.data}\n--- last lines of {log_file} ---\n{text}",
            hint=f"free space on the disk that holds {layout.data} (`df -h` shows how much is "
            "left), then run the same command again: the graph is loaded from the start",
        )
    else:
        err = Neo4jProvisionError(
            f"the bulk import into graphnet's Neo4j instance '{instance}' failed (exit code "
            f"{code})\n--- last lines of {log_file} ---\n{text}",
            hint=_failure_hint(text, layout, log_file),
        )
    # the database holds part of an import: remove it and start the server on an empty graph
    try:
        server.recover_interrupted_import(layout)
        server._start_locked(home, instance, layout, options, start_timeout, recover=False)
    except GraphnetError as exc:
        log.error("Neo4j did not start again after the failed import: %s", exc)
        err.hint += f"; Neo4j did not start again either: {exc} ({exc.hint})"
    return err
