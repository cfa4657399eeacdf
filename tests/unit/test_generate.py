"""graphnet.generate: synthetic enterprise traffic with planted scenarios (no database).

The logs are parsed here with the csv/json modules on purpose (independently of
graphnet.sources), plus one read-back test through graphnet.sources.read.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from graphnet.errors import ConfigError
from graphnet.generate import SCENARIOS, GenerateOptions, GenerateResult, generate

ZEEK_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
               "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
               "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
               "resp_pkts", "resp_ip_bytes", "tunnel_parents"]
ZEEK_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval",
              "count", "count", "string", "bool", "bool", "count", "string", "count", "count",
              "count", "count", "set[string]"]
CIDDS_HEADER = ["Date first seen", "Duration", "Proto", "Src IP Addr", "Src Pt", "Dst IP Addr",
                "Dst Pt", "Packets", "Bytes", "Flows", "Flags", "Tos", "class", "attackType",
                "attackID", "attackDescription"]
UID = re.compile(r"^C[0-9A-Za-z]{17}$")
FILE = re.compile(r"^\d{4}-\d{2}-\d{2}/conn\.(\d{2}):00:00-(\d{2}):00:00\.log\.gz$")
ZEEK_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$")

SMALL = {"weeks": 3, "hosts": 60, "scale": 3000, "seed": 3}


def _opts(fmt: str = "zeek", **kw: Any) -> GenerateOptions:
    return GenerateOptions(**{**SMALL, "format": fmt, **kw})


def _data_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name != "truth.json")


def _parse_zeek_tsv(path: Path) -> tuple[dict[str, str], list[dict[str, str]], str]:
    """Header fields, records and the last line of one Zeek TSV log, checked field by field."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    lines = text.split("\n")
    assert lines[-1] == "", "file must end with a newline"
    lines = lines[:-1]
    meta: dict[str, str] = {}
    records: list[dict[str, str]] = []
    for row in csv.reader(io.StringIO("\n".join(lines)), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row[0].startswith("#"):
            if row[0].startswith("#separator"):
                meta["#separator"] = row[0].split(" ", 1)[1]
            else:
                meta[row[0]] = "\t".join(row[1:])
            continue
        assert len(row) == 21, row
        records.append(dict(zip(ZEEK_FIELDS, row, strict=True)))
    return meta, records, lines[-1]


def _load_zeek(out: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for p in _data_files(out):
        rows.extend(_parse_zeek_tsv(p)[1])
    return rows


@pytest.fixture(scope="module")
def zeek_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateResult, dict[str, Any],
                                                               list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("gen") / "zeek"
    calls: list[tuple[int, int]] = []
    res = generate(out, _opts(), progress=lambda d, n: calls.append((d, n)))
    assert calls == [(d, 21) for d in range(1, 22)]
    truth = json.loads(res.truth_path.read_text())
    return res, truth, _load_zeek(out)


def _ts(row: dict[str, str]) -> float:
    return float(row["ts"])


def _iso(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _scenario(truth: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in truth["scenarios"] if s["type"] == kind)


# ------------------------------------------------------------------------------- formats
def test_zeek_tsv_files_are_well_formed(zeek_run: Any) -> None:
    res, _, _ = zeek_run
    files = _data_files(res.out)
    assert len(files) == res.files > 300
    total = 0
    for p in files:
        rel = p.relative_to(res.out).as_posix()
        m = FILE.match(rel)
        assert m, rel
        assert (int(m.group(1)) + 1) % 24 == int(m.group(2))
        raw = p.read_bytes()
        assert raw[:3] == b"\x1f\x8b\x08" and raw[3] & 0x08 == 0, "gzip without a file name"
        assert raw[4:8] == b"\x00\x00\x00\x00", "gzip mtime must be 0"
        meta, records, last = _parse_zeek_tsv(p)
        assert meta["#separator"] == "\\x09"
        assert meta["#set_separator"] == ","
        assert meta["#empty_field"] == "(empty)"
        assert meta["#unset_field"] == "-"
        assert meta["#path"] == "conn"
        assert ZEEK_TIME.match(meta["#open"])
        assert meta["#fields"].split("\t") == ZEEK_FIELDS
        assert meta["#types"].split("\t") == ZEEK_TYPES
        assert last.startswith("#close\t") and ZEEK_TIME.match(last.split("\t")[1])
        hour = int(m.group(1))
        day = dt.date.fromisoformat(rel[:10])
        for r in records:
            t = dt.datetime.fromtimestamp(float(r["ts"]), tz=dt.UTC)
            assert (t.date(), t.hour) == (day, hour), "record in the wrong hourly file"
            assert re.match(r"^\d+\.\d{6}$", r["ts"])
            assert 0 <= int(r["id.orig_p"]) < 65536 and 0 <= int(r["id.resp_p"]) < 65536
            assert r["proto"] in ("tcp", "udp", "icmp")
            assert r["local_orig"] in ("T", "F") and r["local_resp"] in ("T", "F")
            for f in ("orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
                      "missed_bytes"):
                assert int(r[f]) >= 0
            if r["duration"] == "-":
                assert r["orig_bytes"] == r["resp_bytes"] == "-"
            else:
                assert float(r["duration"]) > 0
                assert int(r["orig_bytes"]) >= 0 and int(r["resp_bytes"]) >= 0
            assert r["tunnel_parents"] == "-"
        total += len(records)
    assert total == res.records


def test_zeek_semantics_are_consistent(zeek_run: Any) -> None:
    _, _, rows = zeek_run
    states: Counter[str] = Counter()
    for r in rows:
        st, h, proto = r["conn_state"], r["history"], r["proto"]
        states[st] += 1
        if proto == "icmp":
            assert st == "OTH" and h == "-"
            assert (r["id.orig_p"], r["id.resp_p"]) == ("8", "0")  # echo request: type 8 code 0
        elif proto == "udp":
            assert (st, h) in (("SF", "Dd"), ("S0", "D"))
        else:
            if st == "S0":
                assert h == "S" and r["resp_pkts"] == "0"
            elif st == "REJ":
                assert h == "Sr"
            elif st == "SF":
                assert h.startswith("Sh") and "F" in h and "f" in h
            elif st == "RSTO":
                assert "R" in h
            elif st == "RSTR":
                assert h.endswith("r")
        if proto == "tcp" and st in ("S0", "REJ"):
            assert r["service"] == "-"  # no payload, no service (UDP requests may carry one)
    for st in ("SF", "S0", "REJ", "RSTO", "RSTR", "OTH", "S1"):
        assert states[st] > 0, st
    assert states["SF"] / len(rows) > 0.7


def test_zeek_json_files_are_well_formed(tmp_path: Path) -> None:
    res = generate(tmp_path / "j", _opts("zeek-json", weeks=2, hosts=40, scale=1500))
    files = _data_files(res.out)
    n = 0
    optional = {"service", "duration", "orig_bytes", "resp_bytes", "history"}
    for p in files:
        assert FILE.match(p.relative_to(res.out).as_posix())
        for line in gzip.decompress(p.read_bytes()).decode().splitlines():
            rec = json.loads(line)
            keys = set(rec)
            assert keys <= set(ZEEK_FIELDS)
            assert set(ZEEK_FIELDS) - optional - {"tunnel_parents"} <= keys
            assert "-" not in rec.values(), "unset fields must be omitted"
            assert isinstance(rec["ts"], float) and isinstance(rec["id.orig_p"], int)
            assert isinstance(rec["local_orig"], bool) and isinstance(rec["orig_pkts"], int)
            assert UID.match(rec["uid"])
            if "duration" not in rec:
                assert "orig_bytes" not in rec and "resp_bytes" not in rec
            n += 1
    assert n == res.records > 5000


def test_cidds_csv_is_well_formed(tmp_path: Path) -> None:
    res = generate(tmp_path / "c", _opts("cidds", weeks=2, hosts=40, scale=1500))
    truth = json.loads(res.truth_path.read_text())
    assert [p.name for p in _data_files(res.out)] == ["week1.csv", "week2.csv"]
    ids = {str(s["attack_id"]): s for s in truth["scenarios"]}
    attack_rows: Counter[str] = Counter()
    n = 0
    last = ""
    for p in _data_files(res.out):
        with p.open(newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == CIDDS_HEADER
        for r in rows[1:]:
            assert len(r) == 16, r
            date, dur, proto, src, sport, _, dport, pk, by, flows, flags, tos, cls, at, aid, \
                desc = r
            assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$", date)
            assert date >= last
            last = date
            assert re.match(r"^\d+\.\d{3}$", dur)
            assert proto in ("TCP  ", "UDP  ", "ICMP ")
            int(sport)
            assert re.match(r"^\d+\.\d$", dport)
            assert int(pk) >= 1
            assert re.match(r"^(\d+|[ \d]{2}\d\.\d [MG]|\d{4,}\.\d [MG])$", by), by
            assert flows == "1" and tos == "0"
            assert re.match(r"^[.U][.A][.P][.R][.S][.F]$", flags)
            if proto != "TCP  ":
                assert flags == "......"
            if proto == "ICMP ":
                assert sport == "0" and dport in ("8.0", "0.0")
            assert cls in ("normal", "attacker", "victim")
            assert at in ("---", "portScan", "pingScan", "dos", "bruteForce")
            if cls == "normal":
                assert at == aid == desc == "---"
            else:
                assert aid in ids and desc == ids[aid]["type"]
                attack_rows[aid] += 1
            assert re.match(r"^(\d{1,3}\.){3}\d{1,3}$|^\d+_\d{1,3}$", src), src
            n += 1
    assert n == res.records
    for aid, s in ids.items():
        assert s["uids"] == []
        assert attack_rows[aid] >= s["connections"]  # one row per direction that carried packets


def test_read_back_through_graphnet_sources(tmp_path: Path) -> None:
    sources = pytest.importorskip("graphnet.sources")
    if not hasattr(sources, "read"):
        pytest.skip("graphnet.sources.read not available")
    for fmt in ("zeek", "zeek-json", "cidds"):
        res = generate(tmp_path / fmt, _opts(fmt, weeks=1, hosts=40, scale=800))
        rows = rejects = 0
        for p in _data_files(res.out):
            assert sources.detect(p).format == fmt
            for chunk in sources.read(p):
                rows += len(chunk.frame)
                rejects += len(chunk.rejects)
        assert rejects == 0, fmt
        assert rows == res.records, fmt


# ------------------------------------------------------------------------- determinism
def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(out).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("fmt", ["zeek", "cidds"])
def test_same_options_same_bytes(tmp_path: Path, fmt: str) -> None:
    o = _opts(fmt, weeks=2, hosts=40, scale=1200, seed=11)
    a = generate(tmp_path / "a", o)
    b = generate(tmp_path / "b", o)
    assert _digest(a.out) == _digest(b.out)
    c = generate(tmp_path / "c", _opts(fmt, weeks=2, hosts=40, scale=1200, seed=12))
    assert _digest(c.out) != _digest(a.out)


def test_regenerating_into_the_same_directory_replaces_it(tmp_path: Path) -> None:
    o = _opts(weeks=2, hosts=40, scale=800)
    first = _digest(generate(tmp_path / "o", o).out)
    generate(tmp_path / "o", _opts(weeks=1, hosts=40, scale=800))
    assert sorted(p.name for p in (tmp_path / "o").iterdir())[-2:] == ["2024-03-10", "truth.json"]
    assert _digest(generate(tmp_path / "o", o).out) == first


def test_refuses_foreign_directory_and_bad_options(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError):
        generate(tmp_path / "x", _opts())
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    for bad in ({"format": "pcap"}, {"start": "2024-03-05"}, {"scenarios": ("nope",)},
                {"hosts": 10}, {"weeks": 0}):
        with pytest.raises(ConfigError):
            generate(tmp_path / "y", GenerateOptions(**{**SMALL, **bad}))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- truth
def test_uids_unique_and_truth_uids_in_logs(zeek_run: Any) -> None:
    _, truth, rows = zeek_run
    uids = [r["uid"] for r in rows]
    assert all(UID.match(u) for u in uids)
    assert len(set(uids)) == len(uids)
    known = set(uids)
    assert {s["type"] for s in truth["scenarios"]} == set(SCENARIOS)
    for s in truth["scenarios"]:
        assert s["uids"], s["id"]
        assert len(s["uids"]) == s["connections"] == len(set(s["uids"]))
        assert set(s["uids"]) <= known
        assert s["window"] in truth["weeks"] and s["window"] != truth["weeks"][0]
        assert _iso(s["start"]) <= _iso(s["end"])
        assert s["hosts"]["attacker"] and s["pairs"]
    by_uid = {r["uid"]: r for r in rows}
    for s in truth["scenarios"]:
        pairs = {tuple(p) for p in s["pairs"]}
        for u in s["uids"]:
            r = by_uid[u]
            assert (r["id.orig_h"], r["id.resp_h"]) in pairs
            assert _iso(s["start"]) - 1e-6 <= float(r["ts"]) <= _iso(s["end"]) + 1e-6
    internal = [h for h in truth["hosts"] if h["internal"]]
    assert len([h for h in internal if h["role"] != "new-host"]) == SMALL["hosts"]
    assert {h["role"] for h in internal} >= {"router", "dns", "dc", "web", "file", "mail",
                                             "backup", "printer", "admin", "office", "dev"}
    assert set(truth["subnets"]) >= {"servers", "management", "office", "developers"}
    assert all(h["subnet"] in truth["subnets"] for h in internal)


def test_rhythm_weekdays_and_daytime_dominate(zeek_run: Any) -> None:
    _, _, rows = zeek_run
    per: Counter[str] = Counter()
    for r in rows:
        t = dt.datetime.fromtimestamp(_ts(r), tz=dt.UTC)
        if t.weekday() >= 5:
            per["weekend"] += 1
        elif 9 <= t.hour < 17:
            per["day"] += 1
        elif t.hour < 6:
            per["night"] += 1
    weekday_day = per["day"] / (15 * 8)  # connections per hour
    weekday_night = per["night"] / (15 * 6)
    weekend = per["weekend"] / (6 * 24)
    assert weekday_day > 5 * weekday_night
    assert weekday_day > 5 * weekend
    days = Counter(dt.datetime.fromtimestamp(_ts(r), tz=dt.UTC).date() for r in rows)
    weekdays = [n for d, n in days.items() if d.weekday() < 5]
    assert 0.6 * SMALL["scale"] < sorted(weekdays)[len(weekdays) // 2] < 1.6 * SMALL["scale"]


def test_attack_server_has_the_scan_footprint(zeek_run: Any) -> None:
    _, truth, rows = zeek_run
    s = _scenario(truth, "attack_server")
    mine = set(s["uids"])
    attacker = s["hosts"]["attacker"]
    scan = [r for r in rows if r["uid"] in mine and r["proto"] == "tcp"
            and r["id.resp_h"] in s["phases"][1]["targets"]]
    assert len(scan) >= 600
    assert len({r["id.resp_p"] for r in scan}) >= 300
    states = Counter(r["conn_state"] for r in scan)
    assert (states["S0"] + states["REJ"]) / len(scan) > 0.8
    ping = [r for r in rows if r["uid"] in mine and r["proto"] == "icmp"]
    assert len({r["id.resp_h"] for r in ping}) >= 250
    kinds = [p["attack_type"] for p in s["phases"]]
    assert kinds == ["pingScan", "portScan", "bruteForce", "dos"]
    starts = [_iso(p["start"]) for p in s["phases"]]
    assert starts == sorted(starts)
    # the attacker's fan-out jumps in its window (a centrality shift)
    by_week: defaultdict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["id.orig_h"] == attacker:
            y, w, _ = dt.datetime.fromtimestamp(_ts(r), tz=dt.UTC).isocalendar()
            by_week[f"{y}-W{w:02d}"].add(r["id.resp_h"])
    others = [len(v) for k, v in by_week.items() if k != s["window"]]
    assert len(by_week[s["window"]]) >= max(others) + 200  # the sweep alone adds ~250


def test_handshake_anomaly_pair_only_s0_before_and_sf_in_window(zeek_run: Any) -> None:
    _, truth, rows = zeek_run
    s = _scenario(truth, "handshake_anomaly")
    (x, y), = s["pairs"]
    pair = [r for r in rows if r["id.orig_h"] == x and r["id.resp_h"] == y]
    start = _iso(s["start"])
    before = [r for r in pair if r["uid"] not in set(s["uids"]) and _ts(r) < start]
    assert before and {r["conn_state"] for r in before} == {"S0"}
    weeks_before = {dt.datetime.fromtimestamp(_ts(r), tz=dt.UTC).isocalendar()[1] for r in before}
    assert len(weeks_before) >= 1 and min(weeks_before) == 10  # regular since the first week
    tagged = [r for r in pair if r["uid"] in set(s["uids"])]
    assert tagged and {r["conn_state"] for r in tagged} == {"SF"}
    assert all(r["service"] == s["details"]["service"] for r in tagged
               if s["details"]["service"] != "-")
    y_, w, _ = dt.datetime.fromtimestamp(start, tz=dt.UTC).isocalendar()
    assert f"{y_}-W{w:02d}" == s["window"]


def test_novelty_claims_hold(zeek_run: Any) -> None:
    _, truth, rows = zeek_run
    lat = _scenario(truth, "lateral_movement")
    start = _iso(lat["start"])
    (a, b), (b2, c) = lat["pairs"]
    assert b == b2
    hop2 = lat["details"]["hops"][1]
    for r in rows:
        if _ts(r) < start:
            assert (r["id.orig_h"], r["id.resp_h"]) != (a, b)
            assert not (r["id.orig_h"] == b and r["id.resp_h"] == c
                        and int(r["id.resp_p"]) == hop2["port"])
    first = {u: _ts(r) for r in rows for u in [r["uid"]] if u in set(lat["uids"])}
    hop1_t = min(t for u, t in first.items())
    hop2_t = min(_ts(r) for r in rows if r["uid"] in set(lat["uids"]) and r["id.orig_h"] == b)
    assert 60 <= hop2_t - hop1_t <= 20 * 60
    beacon = _scenario(truth, "beaconing")
    c2 = beacon["hosts"]["c2"]
    assert all(r["uid"] in set(beacon["uids"]) for r in rows
               if c2 in (r["id.orig_h"], r["id.resp_h"]))
    assert 150 <= beacon["connections"] <= 700
    assert all(r["id.resp_p"] == "443" and r["service"] in ("ssl", "-")
               for r in rows if r["uid"] in set(beacon["uids"]))
    newh = _scenario(truth, "new_host")
    n = newh["hosts"]["new_host"]
    involved = [r for r in rows if n in (r["id.orig_h"], r["id.resp_h"])]
    assert involved and all(r["uid"] in set(newh["uids"]) for r in involved)
    assert all(r["conn_state"] == "SF" for r in involved)
    assert len({r["id.resp_h"] for r in involved}) >= 3
    proto = _scenario(truth, "new_protocol")
    (x, y), = proto["pairs"]
    d = proto["details"]
    pstart = _iso(proto["start"])
    before = [r for r in rows if r["id.orig_h"] == x and r["id.resp_h"] == y and _ts(r) < pstart]
    assert before, "the pair must already talk"
    assert all(int(r["id.resp_p"]) != d["new_port"] for r in before)
    assert {r["service"] for r in before} & {"http", "ssl"}


def test_scenario_parameters_vary_with_the_seed(tmp_path: Path) -> None:
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for seed in (1, 2, 3):
        res = generate(tmp_path / str(seed), _opts(weeks=3, hosts=40, scale=600, seed=seed))
        truth = json.loads(res.truth_path.read_text())
        seen["subnets"].add(json.dumps(truth["subnets"]))
        for s in truth["scenarios"]:
            seen[s["type"] + ":attacker"].add(s["hosts"]["attacker"])
            seen[s["type"] + ":start"].add(s["start"])
            seen[s["type"] + ":details"].add(json.dumps(s["details"], sort_keys=True))
    assert len(seen["subnets"]) == 3
    for kind in SCENARIOS:
        assert len(seen[kind + ":start"]) == 3, kind
        assert len(seen[kind + ":attacker"]) >= 2, kind
    assert len(seen["beaconing:details"]) == 3


def test_selected_scenarios_only(tmp_path: Path) -> None:
    res = generate(tmp_path / "s", _opts(weeks=2, hosts=40, scale=600,
                                         scenarios=("beaconing", "new_host")))
    truth = json.loads(res.truth_path.read_text())
    assert [s["type"] for s in truth["scenarios"]] == ["beaconing", "new_host"]
    assert truth["generator"]["scenarios"] == ["beaconing", "new_host"]
    none = generate(tmp_path / "n", _opts(weeks=1, hosts=40, scale=600, scenarios=()))
    assert json.loads(none.truth_path.read_text())["scenarios"] == []
