"""Neo4j Community jars from Maven Central, cached under `$GRAPHNET_HOME/neo4j/dist/<version>/`.

`install()` writes a small pom (package data `pom.xml.tmpl`) and runs the machine's Maven:
`mvn -B -f pom.xml dependency:copy-dependencies` into `lib.partial/`, renames it to `lib/`
and only then writes the `.installed` marker, so an interrupted install is redone. A failed
install removes `lib.partial/`; a full disk is a `DiskFull` error (exit 9) naming the folder.
The Maven local repository (`~/.m2`) is used as usual.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import string
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from graphnet.errors import DiskFull, Neo4jProvisionError, is_disk_full

log = logging.getLogger(__name__)

#: Latest Neo4j 5.26 LTS release on Maven Central when this was written.
NEO4J_VERSION = "5.26.30"
#: Latest `org.neo4j.client:neo4j-browser` on Maven Central (Neo4j 5.26 works with 5.24.x).
BROWSER_VERSION = "5.24.0"
DEPENDENCY_PLUGIN_VERSION = "3.6.1"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
MIN_JAVA = 17

_MARKER = ".installed"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MARKER_FORMAT = 1

JAVA_HINT = (
    "install Java 17 or 21 (e.g. `sudo apt-get install openjdk-17-jre-headless`) "
    "or point JAVA_HOME at one"
)


@dataclass(frozen=True)
class Installation:
    """A complete jar set for one Neo4j version."""

    version: str
    browser_version: str
    dist_dir: Path
    lib_dir: Path
    jar_count: int


def dist_dir(home: Path, version: str = NEO4J_VERSION) -> Path:
    """`$GRAPHNET_HOME/neo4j/dist/<version>`."""
    return Path(home) / "neo4j" / "dist" / version


def render_pom(version: str = NEO4J_VERSION, browser_version: str = BROWSER_VERSION) -> str:
    """The pom.xml resolving `org.neo4j:neo4j`, `org.neo4j.app:neo4j-server`, the browser."""
    template = resources.files("graphnet.neo4j_local").joinpath("pom.xml.tmpl").read_text("utf-8")
    return string.Template(template).substitute(
        neo4j_version=version,
        browser_version=browser_version,
        dependency_plugin_version=DEPENDENCY_PLUGIN_VERSION,
    )


def find_java() -> Path:
    """`$JAVA_HOME/bin/java`, else `java` on PATH; Neo4jProvisionError when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java")
    if not found:
        raise Neo4jProvisionError("Java was not found (no JAVA_HOME, no `java` on PATH)", JAVA_HINT)
    return Path(found)


def java_major_version(java: Path) -> int:
    """Feature version of a Java binary (8 for 1.8, 17 for 17.0.15); 0 when it cannot be told."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Neo4jProvisionError(f"cannot run {java}: {exc}", JAVA_HINT) from exc
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return 0
    major = int(m.group(1))
    if major == 1 and m.group(2):
        major = int(m.group(2))
    return major


def check_java() -> Path:
    """A Java >= 17 binary, else Neo4jProvisionError with an install hint."""
    java = find_java()
    major = java_major_version(java)
    if major and major < MIN_JAVA:
        raise Neo4jProvisionError(
            f"Neo4j 5.26 needs Java 17 or 21, but {java} is Java {major}", JAVA_HINT
        )
    if major > 21:
        log.warning("Java %s at %s: Neo4j 5.26 supports Java 17 and 21", major, java)
    return java


def find_maven() -> Path:
    """`mvn` on PATH (or `$GRAPHNET_MVN`), else Neo4jProvisionError."""
    override = os.environ.get("GRAPHNET_MVN")
    found = override if override and os.access(override, os.X_OK) else shutil.which("mvn")
    if not found:
        raise Neo4jProvisionError(
            "Maven (`mvn`) was not found; it is needed once to download Neo4j",
            "install Maven 3.8+ (e.g. `sudo apt-get install maven`), or use Docker "
            "(compose/docker-compose.yml) and set NEO4J_URI",
        )
    return Path(found)


def installed(home: Path, version: str = NEO4J_VERSION) -> Installation | None:
    """The cached installation of `version`, or None when it is absent or incomplete."""
    ddir = dist_dir(home, version)
    marker = ddir / _MARKER
    lib = ddir / "lib"
    try:
        info = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("format") != _MARKER_FORMAT:
        return None
    if info.get("version") != version:
        return None
    jars = list(lib.glob("*.jar")) if lib.is_dir() else []
    if len(jars) != info.get("jar_count") or not (lib / f"neo4j-{version}.jar").is_file():
        return None
    return Installation(
        version=version,
        browser_version=str(info.get("browser_version", "")),
        dist_dir=ddir,
        lib_dir=lib,
        jar_count=len(jars),
    )


@contextlib.contextmanager
def _install_lock(ddir: Path) -> Iterator[None]:
    ddir.mkdir(parents=True, exist_ok=True)
    with open(ddir / ".install.lock", "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is installing Neo4j into %s; waiting for it", ddir)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _maven_hint(output: str) -> str:
    network = (
        "UnknownHost",
        "Connection refused",
        "Connect timed out",
        "connect timed out",
        "Read timed out",
        "Could not transfer",
        "Network is unreachable",
        "No route to host",
        "PKIX path",
        "offline mode",
    )
    if any(word in output for word in network):
        return (
            f"Maven could not download from Maven Central ({MAVEN_CENTRAL}): check the network, "
            "or configure a proxy/mirror in ~/.m2/settings.xml, then run "
            "`graphnet neo4j start` again"
        )
    if "Could not find artifact" in output or "Could not resolve dependencies" in output:
        return (
            "an artifact was not found in Maven Central or in your Maven mirror "
            "(~/.m2/settings.xml); check the mirror serves org.neo4j artifacts"
        )
    return "run the Maven command above by hand in the dist folder to see the full output"


#: what Maven (Java) prints when a write fails on a full disk or a used-up quota
_DISK_FULL = ("No space left on device", "Disk quota exceeded")


def _maven_disk_full(output: str, out_dir: Path) -> DiskFull | None:
    """A DiskFull naming the folder to free when Maven's output says the disk is full."""
    line = next((ln for ln in output.splitlines() if any(w in ln for w in _DISK_FULL)), None)
    if line is None:
        return None
    # Maven names the file it could not write (in ~/.m2 or the output folder) last before the
    # reason ("Error copying artifact from A to B: No space left on device")
    where: Path = out_dir.parent
    before = line[: min(line.find(w) for w in _DISK_FULL if w in line)]
    paths = re.findall(r"(/[^\s:'\"()\[\]]+)", before)
    if paths:
        candidate = Path(paths[-1])
        folder = next((p for p in (candidate, *candidate.parents) if p.is_dir()), None)
        if folder is not None and folder != Path("/"):
            where = folder
    reason = "disk quota exceeded" if "quota" in line else "no space left on device"
    return DiskFull(
        f"{reason}: Maven could not write the Neo4j jars to {where}; Maven said: {line.strip()}",
        hint=(
            f"free space on the disk that holds {where} (`df -h` shows how much is left; "
            f"Neo4j needs about 140 MB in {out_dir.parent} and in ~/.m2), then run "
            "`graphnet neo4j start` again"
        ),
    )


def _run_maven(mvn: Path, pom: Path, out_dir: Path, timeout: float) -> None:
    cmd = [
        str(mvn),
        "-B",
        "-f",
        str(pom),
        f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN_VERSION}"
        ":copy-dependencies",
        f"-DoutputDirectory={out_dir}",
        "-DincludeScope=runtime",
        "-Dmdep.overWriteReleases=true",
        "-Dstyle.color=never",
    ]
    log.debug("running %s", " ".join(cmd))
    tail: deque[str] = deque(maxlen=40)
    downloaded = 0
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=pom.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise Neo4jProvisionError(f"cannot run Maven ({mvn}): {exc}", _maven_hint("")) from exc
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        with proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = _ANSI.sub("", raw).rstrip()
                tail.append(line)
                log.debug("mvn: %s", line)
                if "Downloaded from" in line:
                    downloaded += 1
                    if downloaded % 50 == 0:
                        log.info("  downloaded %d files from Maven so far", downloaded)
            rc = proc.wait()
    finally:
        watchdog.cancel()
    output = "\n".join(tail)
    if time.monotonic() - started >= timeout:
        raise Neo4jProvisionError(
            f"Maven did not finish within {timeout:.0f} s; last output:\n{output}",
            _maven_hint(output),
        )
    if rc != 0:
        full = _maven_disk_full(output, out_dir)
        if full is not None:
            raise full
        raise Neo4jProvisionError(
            f"Maven failed (exit code {rc}) resolving Neo4j; last output:\n{output}\n"
            f"command: {' '.join(cmd)}",
            _maven_hint(output),
        )


def install(
    home: Path,
    version: str = NEO4J_VERSION,
    browser_version: str = BROWSER_VERSION,
    *,
    force: bool = False,
    timeout: float = 1800.0,
) -> Installation:
    """Download Neo4j Community `version` (+ browser) once into the cache; reuse it afterwards.

    Safe to call on every start: returns at once when the `.installed` marker matches.
    Concurrent callers wait for each other (file lock). Raises Neo4jProvisionError with a hint
    when Java or Maven is missing or Maven Central cannot be reached.
    """
    ddir = dist_dir(home, version)
    if not force:
        found = installed(home, version)
        if found is not None:
            log.debug("Neo4j %s already installed in %s", version, found.lib_dir)
            return found
    try:
        return _install(home, version, browser_version, ddir, force, timeout)
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull.writing(f"Neo4j {version}", ddir, exc) from exc
        raise


def _install(
    home: Path, version: str, browser_version: str, ddir: Path, force: bool, timeout: float
) -> Installation:
    """`install` once the cache was found absent or incomplete."""
    with _install_lock(ddir):
        if not force:
            found = installed(home, version)
            if found is not None:  # another process finished it while we waited
                return found
        check_java()  # Maven needs it too, and the hint is clearer here
        mvn = find_maven()
        started = time.monotonic()
        log.info(
            "installing Neo4j %s Community from Maven Central into %s "
            "(once; about 140 MB when ~/.m2 is empty)",
            version,
            ddir,
        )
        (ddir / _MARKER).unlink(missing_ok=True)
        pom = ddir / "pom.xml"
        pom.write_text(render_pom(version, browser_version), "utf-8")
        partial = ddir / "lib.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _run_maven(mvn, pom, partial, timeout)
            needed = [
                f"neo4j-{version}.jar",
                f"neo4j-server-{version}.jar",
                f"neo4j-browser-{browser_version}.jar",
            ]
            missing = [name for name in needed if not (partial / name).is_file()]
            if missing:
                raise Neo4jProvisionError(
                    f"Maven finished but {', '.join(missing)} is missing from {partial}",
                    "run `graphnet neo4j start` again",
                )
        except BaseException:
            # a failed install leaves nothing half-downloaded behind (the disk may be full)
            shutil.rmtree(partial, ignore_errors=True)
            raise
        lib = ddir / "lib"
        shutil.rmtree(lib, ignore_errors=True)
        os.replace(partial, lib)
        jars = sorted(p.name for p in lib.glob("*.jar"))
        total = sum((lib / j).stat().st_size for j in jars)
        info = {
            "format": _MARKER_FORMAT,
            "version": version,
            "browser_version": browser_version,
            "jar_count": len(jars),
            "bytes": total,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = ddir / f"{_MARKER}.tmp"
        tmp.write_text(json.dumps(info, indent=2) + "\n", "utf-8")
        os.replace(tmp, ddir / _MARKER)
        log.info(
            "installed Neo4j %s (%d jars, %.0f MB) in %.0f s",
            version,
            len(jars),
            total / 1e6,
            time.monotonic() - started,
        )
    result = installed(home, version)
    if result is None:  # pragma: no cover - marker just written
        raise Neo4jProvisionError(f"installation in {ddir} is incomplete", "run the install again")
    return result
