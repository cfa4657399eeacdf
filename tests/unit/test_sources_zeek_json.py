"""Zeek JSON logs: dotted / underscore keys, omitted keys, ISO timestamps, mixed log types."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet.errors import InputError
from graphnet.sources import Reject, detect, read

DOTTED = ('{"ts":1664462456.755299,"uid":"C5xhsO3uGtOfyrBlHh","id.orig_h":"172.16.1.11",'
          '"id.orig_p":40042,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","service":"dns",'
          '"duration":0.012166976928710938,"orig_bytes":0,"resp_bytes":111,"conn_state":"SHR",'
          '"local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Cd","orig_pkts":0,'
          '"orig_ip_bytes":0,"resp_pkts":1,"resp_ip_bytes":139}')
# a scan probe: no service, duration, bytes (omitted keys are unset fields)
OMITTED = ('{"ts":1664462457.1,"uid":"Cabc","id.orig_h":"172.16.1.11","id.orig_p":41000,'
           '"id.resp_h":"172.16.1.2","id.resp_p":22,"proto":"tcp","conn_state":"S0",'
           '"missed_bytes":0,"history":"S","orig_pkts":1,"orig_ip_bytes":44,"resp_pkts":0,'
           '"resp_ip_bytes":0}')
UNDERSCORE = ('{"@stream":"conn","@system":"bobs.bigwheel.local","@proc":"zeek",'
              '"ts":1588205199.82437,"uid":"Cvf4XX17hSAgXDdGEd","id_orig_h":"10.0.1.6",'
              '"id_orig_p":54243,"id_resp_h":"10.0.0.4","id_resp_p":53,"proto":"udp",'
              '"service":"dns","duration":0.0015,"orig_bytes":39,"resp_bytes":55,'
              '"conn_state":"SF","missed_bytes":0,"history":"Dd","orig_pkts":1,'
              '"orig_ip_bytes":67,"resp_pkts":1,"resp_ip_bytes":83,"tunnel_parents":[]}')
DNS_STREAM = ('{"@stream":"dns","ts":1588205199.9,"uid":"Cvf4XX17hSAgXDdGEd","id_orig_h":'
              '"10.0.1.6","id_orig_p":54243,"id_resp_h":"10.0.0.4","id_resp_p":53,'
              '"proto":"udp","query":"example.org","answers":["1.2.3.4"],"TTLs":[60.0]}')
FILES_STREAM = ('{"@stream":"files","ts":1588205200.0,"fuid":"F1","conn_uids":["C1"],'
                '"duration":1.5,"service":12}')


def write(tmp_path: Path, lines: list[str] | bytes, name: str = "conn.log") -> Path:
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    p = tmp_path / name
    p.write_bytes(data)
    return p


def collect(path: Path, **kw: object) -> tuple[pd.DataFrame, list[Reject], int, list[bool]]:
    chunks = list(read(path, **kw))  # type: ignore[arg-type]
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    rejects = [r for c in chunks for r in c.rejects]
    return frame, rejects, sum(c.skipped for c in chunks), [c.relative_ts for c in chunks]


def test_dotted_keys(tmp_path: Path) -> None:
    p = write(tmp_path, [DOTTED])
    found = detect(p)
    assert (found.format, found.is_conn) == ("zeek-json", True)
    assert "dotted keys" in found.reason
    df, rejects, skipped, rel = collect(p)
    assert rejects == [] and skipped == 0 and rel == [False]
    r = df.iloc[0]
    assert (r.ts, r.uid, r.src, r.sport, r.dst, r.dport) == (
        1664462456.755299, "C5xhsO3uGtOfyrBlHh", "172.16.1.11", 40042, "8.8.8.8", 53)
    assert (r.proto, r.service, r.conn_state, r.history) == ("udp", "dns", "SHR", "Cd")
    assert (r.src_bytes, r.dst_bytes, r.src_pkts, r.dst_pkts) == (0, 111, 0, 1)
    assert r.duration == 0.012166976928710938 and r.line == 1
    assert str(df.sport.dtype) == "int32" and str(df.uid.dtype) == "str"


def test_omitted_keys_are_unset(tmp_path: Path) -> None:
    df, rejects, _, _ = collect(write(tmp_path, [OMITTED]))
    assert rejects == []
    r = df.iloc[0]
    assert r.service == "-"
    assert np.isnan(r.duration) and np.isnan(r.src_bytes) and np.isnan(r.dst_bytes)
    assert (r.src_pkts, r.dst_pkts) == (1, 0)


def test_underscore_keys(tmp_path: Path) -> None:
    p = write(tmp_path, [UNDERSCORE])
    assert "underscore keys" in detect(p).reason
    df, rejects, _, _ = collect(p)
    assert rejects == []
    assert (df.iloc[0].src, df.iloc[0].sport, df.iloc[0].dst, df.iloc[0].dport) == (
        "10.0.1.6", 54243, "10.0.0.4", 53)


def test_mixed_log_types_keep_conn_only(tmp_path: Path) -> None:
    lines = [DNS_STREAM, UNDERSCORE, FILES_STREAM, UNDERSCORE.replace("Cvf4", "Cxxx"),
             '{"@stream":"loaded_scripts","name":"/opt/zeek/base/init.zeek"}']
    p = write(tmp_path, lines)
    found = detect(p)
    assert found.is_conn and "mixing conn, dns, files, loaded_scripts" in found.reason
    assert found.tables == ("conn", "dns")
    df, rejects, skipped, _ = collect(p)
    assert rejects == [] and skipped == 2  # files and loaded_scripts
    assert df.line.tolist() == [2, 4]
    dns = pd.concat([c.tables["dns"] for c in read(p) if "dns" in c.tables])
    assert dns.line.tolist() == [1] and dns["query"].tolist() == ["example.org"]


def test_path_key_and_records_without_conn_fields(tmp_path: Path) -> None:
    dns_no_path = ('{"ts":1.7e9,"uid":"C9","id.orig_h":"10.0.0.1","id.orig_p":5353,'
                   '"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"a.org"}')
    lines = [DOTTED.replace('{"ts"', '{"_path":"conn","ts"'),
             DOTTED.replace('{"ts"', '{"_path":"http","ts"'), dns_no_path]
    p = write(tmp_path, lines)
    df, rejects, skipped, _ = collect(p)
    assert len(df) == 1 and rejects == [] and skipped == 0
    got = {k: v.line.tolist() for c in read(p) for k, v in c.tables.items()}
    assert got == {"http": [2], "dns": [3]}  # by _path, and by a dns field without one


def test_non_conn_json_log(tmp_path: Path) -> None:
    p = write(tmp_path, [FILES_STREAM, FILES_STREAM])
    found = detect(p)
    assert (found.format, found.is_conn, found.tables) == ("zeek-json", False, ())
    assert found.reason == "Zeek JSON @stream files (not a conn, dns or http log)"
    with pytest.raises(InputError, match="not a conn, dns or http log"):
        read(p)
    p = write(tmp_path, [DNS_STREAM, DNS_STREAM])
    found = detect(p)
    assert (found.is_conn, found.tables) == (False, ("dns",))


def test_iso_timestamps(tmp_path: Path) -> None:
    base = json.loads(DOTTED)
    lines = []
    for ts in ("2022-09-29T14:40:56.755299Z", "2022-09-29T16:40:56.755299+02:00",
               "2022-09-29T14:40:56.755299"):
        base["ts"] = ts
        lines.append(json.dumps(base))
    df, rejects, _, _ = collect(write(tmp_path, lines))
    assert rejects == []
    assert df.ts.tolist() == pytest.approx([1664462456.755299] * 3, abs=1e-6)


def test_gzip_and_empty_service(tmp_path: Path) -> None:
    line = DOTTED.replace('"service":"dns"', '"service":""')
    df, rejects, _, _ = collect(write(tmp_path, [line, DOTTED], "conn.log.gz"))
    assert rejects == [] and df.service.tolist() == ["-", "dns"]


def test_labels_in_json(tmp_path: Path) -> None:
    line = DOTTED[:-1] + ',"label":"Malicious","detailedlabel":"PortScan"}'
    df, _, _, _ = collect(write(tmp_path, [line, DOTTED]))
    assert df.label.tolist() == ["Malicious", "-"]
    assert df.detailed_label.tolist() == ["PortScan", "-"]


def test_malformed_lines_are_rejected_with_exact_lines(tmp_path: Path) -> None:
    lines = [
        DOTTED,                                                      # 1 ok
        DOTTED[:-20],                                                # 2 cut
        DOTTED.replace('"id.orig_p":40042', '"id.orig_p":"40042"'),  # 3 port as text
        DOTTED.replace('"id.resp_p":53', '"id.resp_p":70000'),       # 4 port out of range
        DOTTED.replace('"resp_bytes":111', '"resp_bytes":-1'),       # 5 negative count
        DOTTED.replace('"8.8.8.8"', '"8.8.8"'),                      # 6 bad address
        DOTTED.replace('"ts":1664462456.755299', '"ts":"soon"'),     # 7 bad timestamp
        DOTTED + DOTTED,                                             # 8 two objects
        "[1, 2]",                                                    # 9 not an object
        "",                                                          # 10 blank: ignored
        OMITTED,                                                     # 11 ok
        DOTTED.replace('"uid":"C5xhsO3uGtOfyrBlHh"', '"uid":5'),     # 12 uid not a string
    ]
    data = ("\n".join(lines) + "\n").encode() + DOTTED.replace("dns", "d\xe9s").encode("latin-1")
    df, rejects, skipped, _ = collect(write(tmp_path, data))
    assert df.line.tolist() == [1, 11]
    got = [(r.line, r.reason) for r in rejects]
    assert got[0][0] == 2 and got[0][1].startswith("invalid JSON")
    assert got[1:] == [
        (3, "bad port '40042' in id.orig_p"),
        (4, "bad port '70000' in id.resp_p"),
        (5, "bad number '-1' in resp_bytes"),
        (6, "bad address '8.8.8' in id.resp_h"),
        (7, "bad timestamp 'soon' in ts"),
        (8, got[6][1]),
        (9, "not a JSON object"),
        (12, "bad value '5' in uid (expected a string)"),
        (13, "invalid UTF-8"),
    ]
    assert got[6][1].startswith("invalid JSON (Extra data")
    assert skipped == 0


def test_relative_timestamps(tmp_path: Path) -> None:
    line = DOTTED.replace('"ts":1664462456.755299', '"ts":22.335172')
    df, _, _, rel = collect(write(tmp_path, [line]))
    assert rel == [True] and df.ts.tolist() == [22.335172]


def test_small_chunks(tmp_path: Path) -> None:
    lines = [DOTTED.replace("C5xhsO3uGtOfyrBlHh", f"C{i}") for i in range(10)]
    lines[4] = "{oops"
    chunks = list(read(write(tmp_path, lines), chunk_rows=3))
    assert len(chunks) == 4
    assert [r.line for c in chunks for r in c.rejects] == [5]
    df = pd.concat([c.frame for c in chunks])
    assert df.line.tolist() == [1, 2, 3, 4, 6, 7, 8, 9, 10]


def test_not_json_objects_is_an_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, ["hello world"])
    assert detect(p).format is None
    with pytest.raises(InputError, match="expected Zeek JSON"):
        list(read(p, fmt="zeek-json"))


def test_rejects_worded_alike_in_large_blocks(tmp_path: Path) -> None:
    """Lines in a large block go through the vectorised path or the bisection; the reasons
    must not depend on which."""
    lines = [DOTTED.replace("C5xhsO3uGtOfyrBlHh", f"C{i}") for i in range(200)]
    lines[56] = lines[56].replace('"resp_bytes":111', '"resp_bytes":-1')   # schema-valid
    lines[79] = lines[79].replace('"id.orig_p":40042', '"id.orig_p":"x"')  # needs bisection
    lines[150] = lines[150].replace('"8.8.8.8"', '"8.8.8"')
    df, rejects, _, _ = collect(write(tmp_path, lines))
    assert len(df) == 197
    assert [(r.line, r.reason) for r in rejects] == [
        (57, "bad number '-1' in resp_bytes"),
        (80, "bad port 'x' in id.orig_p"),
        (151, "bad address '8.8.8' in id.resp_h"),
    ]


def test_first_line_malformed(tmp_path: Path) -> None:
    df, rejects, _, _ = collect(write(tmp_path, ["{broken", DOTTED]), fmt="zeek-json")
    assert df.line.tolist() == [2]
    assert rejects[0].line == 1 and rejects[0].reason.startswith("invalid JSON")
