"""Bulk import files (graphnet.store.bulk) without a database: the files, read back as
`neo4j-admin database import` reads them (comma, `"` with doubled quotes, an empty unquoted field
is no value, `""` the empty string, arrays split at the array delimiter), plus the values set
after the import, are exactly the graph the Bolt statements write for the same rows, whatever
the strings hold."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet.neo4j_local import conf, server
from graphnet.neo4j_local.bulk import ImportFiles, ImportSource, import_args, import_pending
from graphnet.neo4j_local.conf import InstanceLayout
from graphnet.store import MIGRATIONS, bulk
from graphnet.store.bulk import (
    DATETIME_PROPS,
    DELIMITER_CANDIDATES,
    choose_array_delimiter,
    datetime_text,
    read_fixups,
    write_import_files,
)

#: strings an attacker can put into a log: CSV and array syntax, line breaks, escapes, controls,
#: bidi and other invisible characters, non-ASCII and non-BMP, the empty string, long text
HOSTILE = [
    "",
    " ",
    "plain",
    'a"b',
    '""',
    '"',
    "c,d",
    ",",
    "a;b",
    "\x1f",
    "x\x1fy",
    "\x1e\x1d\x1c\x1a\x07",
    "line\nbreak",
    "\n",
    "cr\rx",
    "crlf\r\nx",
    "trailing\r",
    "tab\there",
    "\t",
    "back\\slash",
    '\\"',
    "\\",
    "ü€ß",
    "😀🏳️‍🌈",
    "\u202eevil\u202c",
    "\u2066iso\u2069",
    "\ufeffbom",
    "\u2028\u2029",
    "\x0b\x0c\x85",
    "\ue000\uf8ff",
    "NaN",
    "null",
    "true",
    "-0",
    "  padded  ",
    "10.0.0.1",
    "fe80::1%eth0",
    "x" * 5000,
]


# ---------------------------------------------------------------------------------------------
# reading the files as the import tool does


def tokens(text: str) -> list[list[str | None]]:
    """CSV as the tool reads it: fields in `"` (quotes doubled) are values, also when empty;
    an empty unquoted field is no value (None)."""
    rows: list[list[str | None]] = []
    row: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            parts, j = [], i + 1
            while True:
                k = text.index('"', j)
                parts.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            row.append("".join(parts))
        else:
            k = i
            while k < n and text[k] not in ",\n":
                k += 1
            assert '"' not in text[i:k] and "\r" not in text[i:k], text[i:k]
            row.append(text[i:k] or None)
            i = k
        if i < n and text[i] == ",":
            i += 1
            if i == n:
                row.append(None)
            else:
                continue
        assert i == n or text[i] == "\n", repr(text[i : i + 20])
        rows.append(row)
        row = []
        i += 1
    return rows


def file_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def parse_value(kind: str, text: str, delimiter: str) -> Any:
    if kind.endswith("[]"):
        return [parse_value(kind[:-2], part, delimiter) for part in text.split(delimiter)]
    if kind == "long":
        return int(text)
    if kind == "double":
        return float(text)  # Infinity, -Infinity, NaN, -0 as Java's parseDouble reads them
    if kind == "boolean":
        return text == "true"
    if kind == "datetime":
        return ("datetime", text)
    assert kind == "string", kind
    return text


def read_import(files: ImportFiles) -> dict[str, Any]:
    """The graph the tool builds from the files, with the fixups applied as after the import."""
    nodes: dict[str, list[dict[str, Any]]] = {}
    rels: list[tuple[str, str, dict[str, Any]]] = []
    d = files.array_delimiter
    for src in files.sources:
        text = file_text(files.folder / src.file)
        rows = tokens(text)
        # the csv module, configured like the tool, reads the same values
        reader = csv.reader(
            io.StringIO(text, newline=""),
            delimiter=",",
            quotechar='"',
            doublequote=True,
            strict=True,
        )
        for ours, theirs in zip(rows, reader, strict=True):
            assert [v if v is not None else "" for v in ours] == theirs
        header, data = rows[0], rows[1:]
        assert header == files.headers[src.file]
        assert len(data) == src.rows
        for row in data:
            assert len(row) == len(header)
            props: dict[str, Any] = {}
            ends: dict[str, str] = {}
            for field, value in zip(header, row, strict=True):
                name, _, kind = str(field).partition(":")
                if kind.startswith(("ID", "START_ID", "END_ID")):
                    assert value is not None
                    ends[kind.split("(")[0]] = value
                    if kind.startswith("ID") and name:
                        props[name] = value
                    continue
                if value is None:
                    continue
                props[name] = parse_value(kind or "string", value, d)
            if src.kind == "nodes":
                nodes.setdefault(src.name, []).append(props)
            else:
                rels.append((ends["START_ID"], ends["END_ID"], props))
    for fix in read_fixups(files):
        if fix["kind"] == "nodes":
            (target,) = [n for n in nodes[fix["name"]] if n.get(fix["key"]) == fix["id"]]
        else:
            (target,) = [p for _, _, p in rels if p.get(fix["key"]) == fix["id"]]
        assert fix["prop"] not in target
        target[fix["prop"]] = fix["value"]
    return {"nodes": nodes, "rels": rels}


# ---------------------------------------------------------------------------------------------
# the graph the Bolt statements write


def bolt_value(name: str, v: Any) -> Any:
    if name in DATETIME_PROPS and (isinstance(v, datetime) or type(v) is int):
        return ("datetime", datetime_text(v))
    if isinstance(v, tuple):
        return list(v)
    return v


def bolt_props(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: bolt_value(k, v) for k, v in props.items() if v is not None}


def bolt_graph(
    hosts: Iterable[Mapping[str, Any]],
    edges: Iterable[Mapping[str, Any]],
    ingests: Iterable[Mapping[str, Any]] = (),
    groups: Iterable[Mapping[str, Any]] = (),
    meta: Iterable[Mapping[str, Any]] = (),
    now_ms: int = 0,
) -> dict[str, Any]:
    """hosts_upsert, edges_create and the ledger statements, for rows written once each."""
    nodes: dict[str, list[dict[str, Any]]] = {}
    for h in hosts:
        nodes.setdefault("Host", []).append(
            {
                "id": h["id"],
                **bolt_props(h["props"]),
                "first_seen": ("datetime", datetime_text(h["first_ms"])),
                "last_seen": ("datetime", datetime_text(h["last_ms"])),
            }
        )
    rels = [
        (
            e["src"],
            e["dst"],
            {
                "window": e["window"],
                "key": e["key"],
                **bolt_props(e["props"]),
                "first_seen": ("datetime", datetime_text(e["first_ms"])),
                "last_seen": ("datetime", datetime_text(e["last_ms"])),
            },
        )
        for e in edges
    ]
    for label, rows in (("Ingest", ingests), ("IngestGroup", groups), ("GraphMeta", meta)):
        for r in rows:
            flat = {k: v for k, v in r.items() if k != "props"} | dict(r.get("props") or {})
            nodes.setdefault(label, []).append(bolt_props(flat))
    nodes.setdefault("GraphMeta", []).append(
        {
            "key": "migrations",
            "done": list(MIGRATIONS),
            "updated": ("datetime", datetime_text(now_ms)),
        }
    )
    return {"nodes": nodes, "rels": rels}


def canonical(graph: Mapping[str, Any]) -> Any:
    """Order-free, type-exact form: every value with its Python type (floats by their bits)."""

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return ("list", tuple(value(x) for x in v))
        if isinstance(v, float):
            return ("float", v.hex() if not math.isnan(v) else "nan")
        return (type(v).__name__, v)

    def props(p: Mapping[str, Any]) -> Any:
        return tuple(sorted((k, value(v)) for k, v in p.items()))

    nodes = {label: sorted(props(p) for p in ps) for label, ps in graph["nodes"].items()}
    rels = sorted((s, d, props(p)) for s, d, p in graph["rels"])
    return nodes, rels


def host(h: str, **props: Any) -> dict[str, Any]:
    return {"id": h, "props": props, "first_ms": 1709542800123, "last_ms": 1709546400999}


def edge(
    i: int, src: str, dst: str, props: dict[str, Any], window: str = "2024-W10"
) -> dict[str, Any]:
    return {
        "src": src,
        "dst": dst,
        "window": window,
        "key": f"{len(src)}:{src}|{len(dst)}:{dst}|{window}",
        "first_ms": 1709542800000 + i,
        "last_ms": 1709542800000 + 1000 * i + 7,
        "props": props,
    }


def hostile_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    hosts = [host(h, ip=None, internal=i % 2 == 0, subnet=None) for i, h in enumerate(HOSTILE)]
    hosts[3]["props"].update(ip="10.0.0.1", subnet="10.0.0.0/24")
    edges = []
    for i, src in enumerate(HOSTILE):
        dst = HOSTILE[(i * 7 + 3) % len(HOSTILE)]
        k = [HOSTILE[i], HOSTILE[(i + 1) % len(HOSTILE)], "other"]
        edges.append(
            edge(
                i,
                src,
                dst,
                {
                    "service_k": k,
                    "service_n": [3, 2, -(1 << 63)],
                    "services": ", ".join(k),
                    "dport_k": [HOSTILE[i]],
                    "dport_n": [(1 << 63) - 1],
                    "conns": i,
                    "src_bytes": [0.1, 1e16, 5e-324, -0.0, 1 / 3][i % 5] * i,
                    "duration": [float("inf"), float("-inf"), float("nan"), 1.5][i % 4],
                    "flags": [True, False],
                    "weights": [0.1, -0.0, float("nan")],
                    "label": None,
                },
                window=HOSTILE[i] if i % 3 == 0 else "2024-W10",
            )
        )
    return hosts, edges


LEDGER_INGESTS = [
    {
        "sha256": "a" * 64,
        "group": "g1",
        "status": "done",
        "started": 1709542800000,
        "finished": datetime(2024, 3, 4, 10, 0, 0, 123000, tzinfo=UTC),
        "props": {
            "path": "/logs/" + "\n".join(HOSTILE[:8]),
            "format": "zeek-tsv",
            "window_kind": "week",
            "rows_accepted": 10,
            "rows_rejected": 0,
            "rows_skipped": 0,
            "relative_ts": False,
            "rejects_file": None,
            "windows": ["2024-W10", "2024-W11"],
        },
    },
    {
        "sha256": "b" * 64,
        "group": "g1",
        "status": "done",
        "started": 1709542800000,
        "finished": 1709542801000,
        "props": {"path": 'we"ird,name', "rows_accepted": 0, "windows": []},
    },
]
LEDGER_GROUPS = [
    {
        "id": "g1",
        "status": "done",
        "started": 1709542800000,
        "finished": 1709542801000,
        "plan": json.dumps({"window": "week", "batch": 5000}),
        "batches_total": 0,
        "batches_done": 0,
        "done": [],
    },
    {"id": "g2", "status": "done", "done": [0, 1, 2], "batches_done": 3, "batches_total": 3},
]
META = [{"key": "graph", "window_kind": "week", "created": 1709542800000}]
TALKED_NAME = "TALKED"


# ---------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("compress", [True, False])
def test_hostile_strings_round_trip_exactly(tmp_path: Path, compress: bool) -> None:
    hosts, edges = hostile_rows()
    files = write_import_files(
        tmp_path / "imp",
        hosts,
        edges,
        LEDGER_INGESTS,
        LEDGER_GROUPS,
        META,
        compress=compress,
        now_ms=1709600000000,
    )
    got = read_import(files)
    want = bolt_graph(hosts, edges, LEDGER_INGESTS, LEDGER_GROUPS, META, now_ms=1709600000000)
    assert canonical(got) == canonical(want)
    assert files.multiline  # values hold line breaks
    assert files.array_delimiter == DELIMITER_CANDIDATES[0]
    # what CSV cannot carry went to the fixups, nothing else
    fixed = {(f["name"], f["id"], f["prop"]) for f in read_fixups(files)}
    assert ("Ingest", "b" * 64, "windows") in fixed  # an empty list
    assert ("IngestGroup", "g1", "done") in fixed
    assert all(f["prop"] in ("service_k", "dport_k", "windows", "done") for f in read_fixups(files))
    for e in edges:  # a list holding the delimiter, or a list of one empty string
        for prop in ("service_k", "dport_k"):
            k = e["props"][prop]
            unreadable = k == [""] or any(files.array_delimiter in x for x in k)
            assert ((TALKED_NAME, e["key"], prop) in fixed) == unreadable
    assert files.nodes == len(hosts) + len(LEDGER_INGESTS) + len(LEDGER_GROUPS) + 2
    assert files.relationships == len(edges)
    assert files.read_buffer_size >= 4 * 1024 * 1024
    names = sorted(p.name for p in tmp_path.joinpath("imp").iterdir())
    assert names == sorted(p.name for p in files.paths())
    assert all(n.endswith(".csv.gz" if compress else ".csv") for n in names if n != "fixups.jsonl")


def test_array_delimiter_avoids_known_values(tmp_path: Path) -> None:
    hosts, edges = hostile_rows()
    vocab = [v for e in edges for v in e["props"]["service_k"]]
    files = write_import_files(tmp_path / "imp", hosts, edges, array_values=vocab, now_ms=0)
    assert all(files.array_delimiter not in v for v in vocab)
    assert files.array_delimiter not in DELIMITER_CANDIDATES[:6]  # all of those occur
    assert canonical(read_import(files)) == canonical(bolt_graph(hosts, edges, now_ms=0))
    # only the one-empty-string lists are left to set after the import
    assert {tuple(f["value"]) for f in read_fixups(files)} == {("",)}


def test_choose_array_delimiter() -> None:
    assert choose_array_delimiter() == "\x1f"
    assert choose_array_delimiter(["a\x1fb"]) == "\x1e"
    assert choose_array_delimiter(["".join(DELIMITER_CANDIDATES)]) not in DELIMITER_CANDIDATES
    # every candidate and the first characters in use: the first free one of the BMP
    used = "".join(DELIMITER_CANDIDATES) + "".join(chr(c) for c in range(1, 0x41))
    ch = choose_array_delimiter([used])
    assert ch not in used and ch not in ',"\r\n\\.+-0123456789eE'
    # nothing CSV or a number spells, no surrogate, even when everything else is taken
    everything = "".join(chr(c) for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000)
    with pytest.raises(ValueError, match="no array delimiter"):
        choose_array_delimiter([everything])
    left = everything.replace("\u4e00", "")
    assert choose_array_delimiter([left]) == "\u4e00"
    assert choose_array_delimiter(["x"], candidates=(",", "-", "\x1f")) == "\x1f"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    values=st.lists(
        st.lists(
            st.text(
                st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_any_text_round_trips(
    tmp_path_factory: pytest.TempPathFactory, ids: list[str], values: list[list[str]]
) -> None:
    folder = tmp_path_factory.mktemp("imp")
    hosts = [host(h, name=h) for h in ids]
    edges = [
        edge(i, ids[i % len(ids)], ids[(i + 1) % len(ids)], {"k": v, "text": "|".join(v)}, f"W{i}")
        for i, v in enumerate(values)
    ]
    files = write_import_files(folder, hosts, edges, compress=False, now_ms=5)
    assert canonical(read_import(files)) == canonical(bolt_graph(hosts, edges, now_ms=5))
    texts = ids + ["|".join(v) for v in values]
    assert files.multiline == any("\n" in t or "\r" in t for t in texts)


def test_multiline_only_when_a_value_breaks_a_line(tmp_path: Path) -> None:
    plain = write_import_files(
        tmp_path / "a", [host("h1"), host("h2")], [edge(1, "h1", "h2", {"s": 'x,"y"'})]
    )
    assert not plain.multiline
    for i, brk in enumerate(["\n", "\r"]):
        f = write_import_files(tmp_path / f"b{i}", [host("h1"), host(f"h{brk}2")], [])
        assert f.multiline


def test_types_follow_the_values(tmp_path: Path) -> None:
    hosts = [host("a"), host("b")]
    edges = [
        edge(1, "a", "b", {"n": 1, "x": [1, 2]}),
        edge(2, "b", "a", {"n": 1.0, "x": [1.0]}),  # a double and a double[] here: other files
        edge(3, "a", "a", {"n": True, "x": ["1"]}),
        edge(4, "b", "b", {"n": "1", "x": [True]}),
    ]
    files = write_import_files(tmp_path / "imp", hosts, edges, now_ms=0)
    assert canonical(read_import(files)) == canonical(bolt_graph(hosts, edges, now_ms=0))
    kinds = sorted(
        h
        for f, hs in files.headers.items()
        if f.startswith("edges")
        for h in hs
        if h.startswith(("n:", "x:"))
    )
    assert kinds == sorted(
        [
            "n:long",
            "x:long[]",
            "n:double",
            "x:double[]",
            "n:boolean",
            "x:string[]",
            "n:string",
            "x:boolean[]",
        ]
    )


def test_other_python_number_types_are_stored_as_the_driver_sends_them(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    hosts = [host("a"), host("b")]
    edges = [
        edge(1, "a", "b", {"n": np.int64(7), "f": np.float64(0.5), "k": [np.str_("x"), "y"]}),
        edge(2, "b", "a", {"n": 8, "f": 1.5, "k": ["z"]}),
    ]
    files = write_import_files(tmp_path / "imp", hosts, edges, now_ms=0)
    plain = [
        edge(1, "a", "b", {"n": 7, "f": 0.5, "k": ["x", "y"]}),
        edge(2, "b", "a", {"n": 8, "f": 1.5, "k": ["z"]}),
    ]
    assert canonical(read_import(files)) == canonical(bolt_graph(hosts, plain, now_ms=0))


@pytest.mark.parametrize(
    ("props", "error"),
    [
        ({"x": [1, "a"]}, TypeError),
        ({"x": [1, 2.5]}, TypeError),
        ({"x": {"a": 1}}, TypeError),
        ({"x": 1 << 63}, ValueError),
        ({"x": [1 << 64]}, ValueError),
        ({"bad name": 1}, ValueError),
        ({"window": "w"}, ValueError),
        ({"first_seen": 1}, ValueError),
    ],
)
def test_values_neo4j_cannot_store_fail_and_leave_nothing(
    tmp_path: Path, props: dict[str, Any], error: type[Exception]
) -> None:
    edges = [edge(i, "a", "b", {"ok": 1}, f"W{i}") for i in range(3)] + [edge(9, "a", "b", props)]
    with pytest.raises(error):
        write_import_files(tmp_path / "imp", [host("a"), host("b")], edges)
    assert list((tmp_path / "imp").iterdir()) == []


def test_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="str"):
        write_import_files(
            tmp_path / "a", [{"id": 5, "props": {}, "first_ms": 0, "last_ms": 0}], []
        )
    with pytest.raises(TypeError, match="time zone"):
        write_import_files(
            tmp_path / "b", [host("a")], [], meta=[{"key": "x", "created": datetime(2024, 1, 1)}]
        )
    with pytest.raises(TypeError, match="sha256"):
        write_import_files(tmp_path / "c", [host("a")], [], ingests=[{"status": "done"}])
    with pytest.raises(ValueError, match="years"):
        write_import_files(
            tmp_path / "d", [{"id": "a", "props": {}, "first_ms": 1 << 60, "last_ms": 0}], []
        )
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "other").write_text("x")
    with pytest.raises(ValueError, match="empty"):
        write_import_files(tmp_path / "e", [host("a")], [])


def test_datetime_text() -> None:
    assert datetime_text(0) == "1970-01-01T00:00:00.000Z"
    assert datetime_text(-1) == "1969-12-31T23:59:59.999Z"
    assert datetime_text(1709542800123) == "2024-03-04T09:00:00.123Z"
    cet = timezone(timedelta(hours=1))
    assert datetime_text(datetime(2024, 3, 4, 10, 0, 0, 123456, tzinfo=cet)) == (
        "2024-03-04T09:00:00.123456Z"
    )
    with pytest.raises(TypeError):
        datetime_text("2024-03-04")
    # the vectorised form of the files spells the same text
    ms = [0, -1, 1709542800123, -62135596800000, 253402300799999]
    assert bulk._datetimes(ms, "t").to_pylist() == [datetime_text(m) for m in ms]


def test_read_buffer_grows_with_the_longest_row(tmp_path: Path) -> None:
    big = "é" * (3 * 1024 * 1024)  # 6 MiB of UTF-8 in one value
    files = write_import_files(tmp_path / "imp", [host("a", note=big)], [])
    assert files.read_buffer_size >= 2 * 6 * 1024 * 1024


def test_files_are_written_in_batches_with_bounded_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH_ROWS", 7)
    seen: list[int] = []
    real = bulk._Table._write

    def spy(self: Any, fixed: Any, cols: Any, keys: Any, mixed_too: Any = frozenset()) -> None:
        seen.append(len(keys))
        real(self, fixed, cols, keys, mixed_too)

    monkeypatch.setattr(bulk._Table, "_write", spy)

    def rows() -> Iterable[dict[str, Any]]:
        for i in range(50):
            yield edge(i, "a", "b", {"i": i, "k": ["x"] if i % 2 else []}, f"W{i}")

    files = write_import_files(tmp_path / "imp", [host("a"), host("b")], rows(), now_ms=0)
    assert max(seen) <= 7
    assert canonical(read_import(files)) == canonical(
        bolt_graph([host("a"), host("b")], rows(), now_ms=0)
    )


def test_import_arguments(tmp_path: Path) -> None:
    files = ImportFiles(
        folder=tmp_path,
        sources=(
            ImportSource("nodes", "Host", "hosts-000.csv.gz", 3),
            ImportSource("relationships", "TALKED", "edges-000.csv.gz", 2),
        ),
        array_delimiter="\x1f",
        multiline=True,
        read_buffer_size=8 << 20,
    )
    args = import_args(files, tmp_path / "import.report", "50%")
    assert args[:4] == ["database", "import", "full", "neo4j"]
    for want in (
        "--overwrite-destination=true",
        "--array-delimiter=U+001F",
        "--multiline-fields=true",
        "--legacy-style-quoting=false",
        "--ignore-empty-strings=false",
        "--trim-strings=false",
        "--skip-bad-relationships=false",
        "--skip-duplicate-nodes=false",
        f"--read-buffer-size={8 << 20}",
        "--max-off-heap-memory=50%",
        "--nodes=Host=hosts-000.csv.gz",
        "--relationships=TALKED=edges-000.csv.gz",
    ):
        assert want in args
    with pytest.raises(ValueError):
        import_args(
            ImportFiles(tmp_path, (ImportSource("nodes", "Host", "h.csv"),), ","), tmp_path, None
        )
    with pytest.raises(ValueError):
        ImportSource("nodes", "Host", "../etc/passwd")
    with pytest.raises(ValueError):
        ImportSource("nodes", "Bad Label", "h.csv")
    argv = conf.import_command("/usr/bin/java", tmp_path / "lib", "1g", args)
    assert argv[argv.index(conf.ADMIN_MAIN_CLASS) + 1 :] == args
    assert "-Xmx1g" in argv


def test_interrupted_import_is_pending_until_a_start_recovers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    layout = InstanceLayout(server.instance_dir(home, "unit"))
    for folder in (
        "databases/neo4j",
        "databases/system",
        "transactions/neo4j",
        "transactions/system",
    ):
        (layout.data / folder).mkdir(parents=True)
        (layout.data / folder / "store").write_text("x")
    assert not import_pending(home, "unit")
    server.write_import_marker(layout, {"pid": os.getpid(), "import_pid": 2**22 + 7})
    assert import_pending(home, "unit")
    assert server.recover_interrupted_import(layout)
    assert not import_pending(home, "unit")
    assert not (layout.data / "databases" / "neo4j").exists()
    assert not (layout.data / "transactions" / "neo4j").exists()
    # the system database (users, the password) stays
    assert (layout.data / "databases" / "system" / "store").is_file()
    assert (layout.data / "transactions" / "system" / "store").is_file()
    assert not server.recover_interrupted_import(layout)



def test_a_run_killed_after_a_complete_import_keeps_the_graph(tmp_path: Path) -> None:
    # killed while the server started or the schema was applied: the database is whole
    home = tmp_path / "home"
    layout = InstanceLayout(server.instance_dir(home, "unit"))
    (layout.data / "databases" / "neo4j").mkdir(parents=True)
    (layout.data / "databases" / "neo4j" / "store").write_text("x")
    marker = {"pid": os.getpid(), "import_pid": 2**22 + 7, "imported": "2026-12-03T22:00:00"}
    server.write_import_marker(layout, marker)
    assert not server.recover_interrupted_import(layout)
    assert not import_pending(home, "unit")
    assert (layout.data / "databases" / "neo4j" / "store").is_file()

IMPORT_LOG = """--- graphnet: bulk import at Thu Dec  3 21:53:03 2026 from /tmp/imp ---
Nodes, started 2026-12-03 21:53:03.763+0000
[*Nodes:?? 517.6MiB---------------------------------------------------------]    0 ∆    0
Done in 215ms
.......... .......... .......... .......... ..........  95% ∆0ms [89ms]
-......... .......... .......... .......... ..........   5% ∆1s 60ms [1s 60ms]
IMPORT FAILED in 764ms.
org.neo4j.cli.CommandFailedException: Error importing csv file.
\tat org.neo4j.importer.ImportCommand$Base.doExecute(ImportCommand.java:600)
\t... 12 more
Caused by: java.lang.RuntimeException: wrapped
Caused by: org.neo4j.DuplicateInputIdException: Id 'h' is defined more than once in group 'Host'
\tat org.neo4j.BadCollector.collectDuplicateNode(BadCollector.java:132)
"""


def test_the_tool_output_is_read_for_its_meaning(tmp_path: Path) -> None:
    from graphnet.neo4j_local import bulk as local_bulk

    log = tmp_path / "import.log"
    log.write_text(IMPORT_LOG, "utf-8")
    lines = local_bulk._tool_lines(log, 12)
    assert not any("∆" in ln or ln.startswith("\tat") or "12 more" in ln for ln in lines)
    assert lines[-1].endswith("Id 'h' is defined more than once in group 'Host'")
    assert "IMPORT FAILED in 764ms." in lines
    hint = local_bulk._failure_hint("\n".join(lines), InstanceLayout(tmp_path), log)
    assert "share an id" in hint
    log.write_text(
        "IMPORT DONE in 2s 497ms.\nImported:\n  15 nodes\n  11 relationships\n"
        "  153 properties\nPeak memory usage: 517.6MiB\n",
        "utf-8",
    )
    assert local_bulk._counts(log) == {"nodes": 15, "relationships": 11, "properties": 153}
