"""graphnet.neo4j_local without Java: generated configuration, command lines, state handling."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from graphnet.config import Neo4jSettings
from graphnet.errors import ConfigError, DiskFull, Neo4jProvisionError, Neo4jUnavailable
from graphnet.neo4j_local import conf, dist, server
from graphnet.neo4j_local.conf import InstanceLayout, ServerOptions

REQUIRED_JVM_OPTIONS = [
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
]


@pytest.fixture
def layout(tmp_path: Path) -> InstanceLayout:
    return InstanceLayout(tmp_path / "neo4j" / "instances" / "unit")


def _settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_conf_listens_on_loopback_with_given_ports_and_auth_on(layout: InstanceLayout) -> None:
    text = conf.render_conf(
        layout, Path("/opt/lib"), ServerOptions(bolt_port=17001, http_port=17002)
    )
    settings = _settings(text)
    assert settings["server.default_listen_address"] == ["127.0.0.1"]
    assert settings["server.bolt.listen_address"] == ["127.0.0.1:17001"]
    assert settings["server.http.listen_address"] == ["127.0.0.1:17002"]
    assert settings["server.bolt.enabled"] == ["true"]
    assert settings["server.http.enabled"] == ["true"]
    assert settings["server.https.enabled"] == ["false"]
    assert settings["dbms.security.auth_enabled"] == ["true"]
    assert "0.0.0.0" not in text
    for key, values in settings.items():
        if key.endswith("listen_address") or key.endswith("advertised_address"):
            assert all(v.startswith("127.0.0.1") for v in values), key


def test_conf_keeps_folders_inside_the_instance_and_sets_memory(layout: InstanceLayout) -> None:
    options = ServerOptions(heap="1G", pagecache="512MiB")
    settings = _settings(conf.render_conf(layout, Path("/opt/lib"), options))
    for key in ("data", "logs", "run", "import", "plugins"):
        (value,) = settings[f"server.directories.{key}"]
        assert Path(value).parent == layout.root, key
    assert settings["server.memory.heap.max_size"] == ["1g"]
    assert settings["server.memory.heap.initial_size"] == ["1g"]
    assert settings["server.memory.pagecache.size"] == ["512m"]
    assert settings["server.logs.config"] == [str(layout.conf / "server-logs.xml")]
    assert settings["server.logs.user.config"] == [str(layout.conf / "user-logs.xml")]
    for option in REQUIRED_JVM_OPTIONS:
        assert option in settings["server.jvm.additional"]


def test_default_memory_is_2g_heap_and_2g_pagecache() -> None:
    options = ServerOptions()
    assert (options.heap, options.pagecache) == ("2g", "2g")
    assert (options.bolt_port, options.http_port) == (7687, 7474)


def test_server_command_has_jvm_options_and_entry_point(layout: InstanceLayout) -> None:
    lib = Path("/cache/neo4j/dist/5.26.30/lib")
    argv = conf.server_command("/usr/bin/java", lib, layout, ServerOptions(heap="1g"))
    assert argv[0] == "/usr/bin/java"
    for option in [*REQUIRED_JVM_OPTIONS, "-Xms1g", "-Xmx1g", "-Dfile.encoding=UTF-8"]:
        assert option in argv
    cp = argv.index("-cp")
    assert argv[cp + 1] == f"{lib}/*"
    main = argv.index(conf.SERVER_MAIN_CLASS)
    assert main > cp
    assert argv[main + 1 :] == [f"--home-dir={layout.root}", f"--config-dir={layout.conf}"]
    # every JVM option comes before the main class
    assert all(not a.startswith("-X") for a in argv[main:])


def test_no_password_in_any_argv_built(layout: InstanceLayout) -> None:
    password = server.generate_password()
    for folder in layout.folders():
        folder.mkdir(parents=True, exist_ok=True)
    server._write_secret(layout.password_file, password + "\n")
    argfile = layout.run / ".args"
    server._write_secret(
        argfile, conf.admin_argfile_text(["dbms", "set-initial-password", password])
    )
    lib = Path("/lib")
    server_argv = conf.server_command("java", lib, layout, ServerOptions())
    admin_argv = conf.admin_command("java", lib, argfile)
    for argv in (server_argv, admin_argv):
        assert all(password not in arg for arg in argv)
    assert admin_argv[-1] == f"@{argfile}"
    assert password in argfile.read_text()
    assert stat.S_IMODE(argfile.stat().st_mode) == 0o600
    settings = Neo4jSettings(uri="bolt://127.0.0.1:1", user="neo4j", password=password)
    assert password not in repr(settings)


def test_admin_argfile_quotes_each_argument_and_refuses_quotes() -> None:
    text = conf.admin_argfile_text(["dbms", "set-initial-password", "abc123"])
    assert text.splitlines() == [
        f'"{conf.ADMIN_MAIN_CLASS}"',
        '"dbms"',
        '"set-initial-password"',
        '"abc123"',
    ]
    with pytest.raises(ValueError):
        conf.admin_argfile_text(['pa"ss'])


def test_generated_passwords_are_long_alphanumeric_and_distinct() -> None:
    passwords = {server.generate_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(len(p) == 32 and p.isalnum() and p.isascii() for p in passwords)


def test_secret_files_are_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        server._write_secret(tmp_path / "password", "s3cret\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "password").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"bolt_port": 7000, "http_port": 7000}, "both use port 7000"),
        ({"bolt_port": 0}, "invalid Bolt port"),
        ({"http_port": 70000}, "invalid HTTP port"),
        ({"heap": "lots"}, "invalid heap size"),
        ({"pagecache": "-1g"}, "invalid page cache size"),
    ],
)
def test_server_options_are_validated(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        ServerOptions(**kwargs)  # type: ignore[arg-type]


def test_memory_sizes_are_normalised() -> None:
    assert conf.normalise_memory("2GiB", "heap") == "2g"
    assert conf.normalise_memory(" 512M ", "heap") == "512m"
    assert conf.memory_bytes("1g") == 1 << 30


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_bad_instance_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError):
        server.instance_dir(tmp_path, name)


def test_instance_dir_is_under_graphnet_home(tmp_path: Path) -> None:
    assert server.instance_dir(tmp_path, "pytest-1") == tmp_path / "neo4j/instances/pytest-1"
    assert dist.dist_dir(tmp_path, "5.26.30") == tmp_path / "neo4j/dist/5.26.30"


def test_pom_resolves_neo4j_server_and_browser() -> None:
    pom = dist.render_pom("5.26.30", "5.24.0")
    for coords in (
        "<groupId>org.neo4j</groupId>\n      <artifactId>neo4j</artifactId>\n"
        "      <version>5.26.30</version>",
        "<groupId>org.neo4j.app</groupId>\n      <artifactId>neo4j-server</artifactId>\n"
        "      <version>5.26.30</version>",
        "<groupId>org.neo4j.client</groupId>\n      <artifactId>neo4j-browser</artifactId>\n"
        "      <version>5.24.0</version>",
    ):
        assert coords in pom
    assert "$" not in pom
    assert dist.NEO4J_VERSION.startswith("5.26.")


def test_status_of_an_instance_that_does_not_exist(tmp_path: Path) -> None:
    st = server.status(tmp_path, "nothing")
    assert not st.running
    assert st.pid is None
    assert st.bolt_uri is None
    assert st.data_size == 0
    assert st.message == "not set up yet"
    assert server.logs(tmp_path, "nothing").startswith("no Neo4j logs yet")
    assert server.stop(tmp_path, "nothing").running is False


def test_connection_for_without_instance_says_how_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAPHNET_NEO4J_INSTANCE", raising=False)
    with pytest.raises(Neo4jUnavailable) as err:
        server.connection_for(tmp_path)
    assert "graphnet neo4j start" in err.value.hint
    assert "'default'" in str(err.value)
    monkeypatch.setenv("GRAPHNET_NEO4J_INSTANCE", "other")
    with pytest.raises(Neo4jUnavailable) as err:
        server.connection_for(tmp_path)
    assert "'other'" in str(err.value)
    assert "GRAPHNET_NEO4J_INSTANCE" in str(err.value)


def test_connection_for_a_stopped_instance_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAPHNET_NEO4J_INSTANCE", raising=False)
    layout = InstanceLayout(server.instance_dir(tmp_path))
    layout.root.mkdir(parents=True)
    server._write_secret(layout.password_file, "pw\n")
    server._write_state(layout, {"pid": None, "bolt_port": 7687, "http_port": 7474})
    with pytest.raises(Neo4jUnavailable, match="not running") as err:
        server.connection_for(tmp_path)
    assert "graphnet neo4j start" in err.value.hint
    # a recorded pid that is not a Neo4j server (this pytest process) is not "running"
    server._write_state(layout, {"pid": os.getpid(), "bolt_port": 7687, "http_port": 7474})
    assert server.status(tmp_path).running is False
    with pytest.raises(Neo4jUnavailable):
        server.connection_for(tmp_path)


def test_reveal_password_path_before_first_start(tmp_path: Path) -> None:
    with pytest.raises(Neo4jUnavailable):
        server.reveal_password_path(tmp_path, "default")


def test_port_detection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert server.port_in_use(port)
    free = server.find_free_port()
    assert not server.port_in_use(free)


def test_start_refuses_a_taken_port_before_launching_anything(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        http = server.find_free_port()
        with pytest.raises(Neo4jProvisionError) as err:
            server.start(tmp_path, "unit", bolt_port=taken, http_port=http)
    assert f"port {taken} (Bolt)" in str(err.value)
    assert "--bolt-port" in err.value.hint
    assert not (tmp_path / "neo4j" / "dist").exists()  # failed before installing


def test_missing_java_and_maven_have_install_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("GRAPHNET_MVN", raising=False)
    monkeypatch.setattr(dist.shutil, "which", lambda _name: None)
    with pytest.raises(Neo4jProvisionError) as err:
        dist.find_java()
    assert "Java 17" in err.value.hint
    with pytest.raises(Neo4jProvisionError) as err:
        dist.find_maven()
    assert "Maven" in err.value.hint


def test_maven_network_failures_get_a_network_hint() -> None:
    out = "[ERROR] Could not transfer artifact org.neo4j:neo4j:pom:5.26.30 ... UnknownHostException"
    assert "Maven Central" in dist._maven_hint(out)
    assert "settings.xml" in dist._maven_hint(out)


def test_incomplete_install_is_not_reused(tmp_path: Path) -> None:
    lib = dist.dist_dir(tmp_path) / "lib"
    lib.mkdir(parents=True)
    (lib / f"neo4j-{dist.NEO4J_VERSION}.jar").write_bytes(b"")
    assert dist.installed(tmp_path) is None  # no marker: redo
    marker = lib.parent / ".installed"
    marker.write_text(
        f'{{"format": 1, "version": "{dist.NEO4J_VERSION}", "jar_count": 2, '
        '"browser_version": "5.24.0"}'
    )
    assert dist.installed(tmp_path) is None  # jar count differs
    marker.write_text(marker.read_text().replace('"jar_count": 2', '"jar_count": 1'))
    found = dist.installed(tmp_path)
    assert found is not None and found.lib_dir == lib


@pytest.mark.parametrize(
    ("log_text", "fragment"),
    [
        ("java.net.BindException: Address already in use", "--bolt-port"),
        ("Error occurred during initialization of VM: Could not reserve enough space", "--heap"),
        ("java.lang.UnsupportedClassVersionError: org/neo4j/...", "Java 17"),
        ("org.neo4j.kernel.StoreLockException: Unable to obtain lock", "another process"),
        ("something else entirely", "graphnet neo4j logs"),
    ],
)
def test_start_failure_hints(layout: InstanceLayout, log_text: str, fragment: str) -> None:
    assert fragment in server._hint_for(log_text, layout, ServerOptions())


def test_failure_message_has_log_tail_without_password(layout: InstanceLayout) -> None:
    layout.logs.mkdir(parents=True)
    lines = [f"line {i}" for i in range(40)] + ["oops secretpw leaked"]
    (layout.logs / "neo4j.log").write_text("\n".join(lines) + "\n")
    err = server._failure(layout, ServerOptions(), "Neo4j did not answer", "secretpw")
    text = str(err)
    assert text.startswith("Neo4j did not answer")
    assert "line 39" in text and "line 10" not in text
    assert "secretpw" not in text
    assert err.hint


def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A `mvn` script that `GRAPHNET_MVN` points at: it gets Maven's arguments, runs `body`."""
    script = tmp_path / "bin" / "mvn"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    monkeypatch.setenv("GRAPHNET_MVN", str(script))
    monkeypatch.setattr(dist, "check_java", lambda: Path("/usr/bin/java"))  # no Java needed
    return script


# like Maven's output: it writes a first jar into the output folder, then fails on the second
OUT_DIR = 'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#*=}";; esac; done\n'
FULL_DISK = (
    OUT_DIR + 'mkdir -p "$out" && echo jar > "$out/neo4j-5.26.30.jar"\n'
    'echo "[INFO] Copying neo4j-server-5.26.30.jar to $out/neo4j-server-5.26.30.jar"\n'
    'echo "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-dependency-plugin:3.6.1:'
    "copy-dependencies (default-cli) on project graphnet-neo4j-dist: Error copying artifact from "
    "/nonexistent/.m2/repository/org/neo4j/neo4j-server-5.26.30.jar to "
    '$out/neo4j-server-5.26.30.jar: No space left on device -> [Help 1]"\n'
    "exit 1\n"
)


def test_an_install_on_a_full_disk_is_disk_full_and_leaves_no_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it left lib.partial behind and gave the generic "run the Maven command by hand" hint
    fake_mvn(tmp_path, monkeypatch, FULL_DISK)
    home = tmp_path / "home"
    with pytest.raises(DiskFull) as err:
        dist.install(home)
    ddir = dist.dist_dir(home)
    assert err.value.exit_code == 9
    assert str(err.value).startswith(
        f"no space left on device: Maven could not write the Neo4j jars to {ddir}"
    )
    assert f"free space on the disk that holds {ddir}" in err.value.hint
    assert "by hand" not in err.value.hint
    assert not (ddir / "lib.partial").exists()
    assert not (ddir / "lib").exists()
    assert dist.installed(home) is None


def test_a_failed_install_removes_its_partial_folder_and_keeps_the_generic_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_mvn(
        tmp_path,
        monkeypatch,
        OUT_DIR
        + 'mkdir -p "$out" && echo jar > "$out/a.jar"\necho "[ERROR] BUILD FAILURE"\nexit 1\n',
    )
    home = tmp_path / "home"
    with pytest.raises(Neo4jProvisionError) as err:
        dist.install(home)
    assert not isinstance(err.value, DiskFull)
    assert "Maven failed (exit code 1)" in str(err.value)
    assert "BUILD FAILURE" in str(err.value)
    assert "by hand" in err.value.hint
    assert not (dist.dist_dir(home) / "lib.partial").exists()


def test_maven_finishing_without_the_jars_removes_its_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_mvn(tmp_path, monkeypatch, OUT_DIR + 'mkdir -p "$out" && echo jar > "$out/a.jar"\n')
    home = tmp_path / "home"
    with pytest.raises(Neo4jProvisionError, match="is missing from"):
        dist.install(home)
    assert not (dist.dist_dir(home) / "lib.partial").exists()


def test_a_full_quota_in_the_maven_repository_names_that_folder(tmp_path: Path) -> None:
    repo = tmp_path / "m2" / "repository" / "org" / "neo4j"
    repo.mkdir(parents=True)
    out = (
        "[ERROR] Could not transfer artifact org.neo4j:neo4j:jar:5.26.30 "
        f"from/to central (https://repo.maven.apache.org/maven2): {repo}/neo4j-5.26.30.jar.part "
        "(Disk quota exceeded)"
    )
    full = dist._maven_disk_full(out, tmp_path / "dist" / "lib.partial")
    assert full is not None
    assert str(full).startswith(
        f"disk quota exceeded: Maven could not write the Neo4j jars to {repo}"
    )
    assert dist._maven_disk_full("[ERROR] BUILD FAILURE", tmp_path) is None
