"""Property tests: random valid records written in each format read back unchanged."""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet.sources import read
from graphnet.sources.binetflow import conn_state as argus_state

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
address = st.one_of(ipv4, ipv6)
port = st.integers(0, 65535)
maybe_port = st.one_of(port, st.none())
count = st.integers(0, 10**12)
maybe_count = st.one_of(count, st.none())
word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/",
               min_size=1, max_size=12).filter(lambda s: s not in ("-", "(empty)"))
history = st.text(alphabet="ShADadFfRrTtWwCcIiQq^", min_size=1, max_size=10)
conn_states = st.sampled_from(["S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0",
                               "RSTRH", "SH", "SHR", "OTH"])
micros = st.integers(10**15, 2 * 10**15)  # 2001-09-09 .. 2033-05-18, in microseconds
duration_us = st.one_of(st.integers(0, 10**11), st.none())


def us_text(us: int) -> str:
    return f"{us // 10**6}.{us % 10**6:06d}"


def collect(path: Path, **kw: Any) -> tuple[pd.DataFrame, int, int]:
    chunks = list(read(path, **kw))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True) if chunks else None
    rejects = sum(len(c.rejects) for c in chunks)
    return frame, rejects, sum(c.skipped for c in chunks)  # type: ignore[return-value]


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def check(frame: pd.DataFrame, expected: list[dict[str, Any]]) -> None:
    assert len(frame) == len(expected)
    for i, exp in enumerate(expected):
        got = frame.iloc[i]
        for key, value in exp.items():
            assert same(got[key], value), (i, key, got[key], value)


# --------------------------------------------------------------------------- Zeek TSV

conn_record = st.fixed_dictionaries({
    "ts": micros, "uid": word, "src": address, "sport": maybe_port, "dst": address,
    "dport": maybe_port, "proto": st.sampled_from(["tcp", "udp", "icmp"]),
    "service": st.one_of(st.none(), st.sampled_from(["dns", "ssl,http", "http"])),
    "duration": duration_us, "src_bytes": maybe_count, "dst_bytes": maybe_count,
    "src_pkts": maybe_count, "dst_pkts": maybe_count, "conn_state": conn_states,
    "history": st.one_of(history, st.none()),
})


def expected_zeek(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts": float(us_text(r["ts"])), "uid": r["uid"], "src": r["src"],
        "sport": -1 if r["sport"] is None else r["sport"], "dst": r["dst"],
        "dport": -1 if r["dport"] is None else r["dport"], "proto": r["proto"],
        "service": r["service"] or "-",
        "duration": math.nan if r["duration"] is None else float(us_text(r["duration"])),
        **{k: math.nan if r[k] is None else float(r[k])
           for k in ("src_bytes", "dst_bytes", "src_pkts", "dst_pkts")},
        "conn_state": r["conn_state"], "history": r["history"] or "-",
    }


@SETTINGS
@given(records=st.lists(conn_record, min_size=1, max_size=30),
       layout=st.sampled_from(["20", "21", "22", "23"]), gz=st.booleans(),
       chunk_rows=st.integers(1, 50))
def test_zeek_tsv_roundtrip(records: list[dict[str, Any]], layout: str, gz: bool,
                            chunk_rows: int) -> None:
    fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
              "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
              "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts",
              "resp_ip_bytes", "tunnel_parents"]
    if layout == "20":
        fields.remove("local_resp")
    if layout == "22":
        fields = ["_node_name", *fields]
    if layout == "23":
        fields += ["label", "detailedlabel"]

    def value(r: dict[str, Any], f: str) -> str:
        v = {"ts": us_text(r["ts"]), "uid": r["uid"], "id.orig_h": r["src"],
             "id.orig_p": r["sport"], "id.resp_h": r["dst"], "id.resp_p": r["dport"],
             "proto": r["proto"], "service": r["service"],
             "duration": None if r["duration"] is None else us_text(r["duration"]),
             "orig_bytes": r["src_bytes"], "resp_bytes": r["dst_bytes"],
             "conn_state": r["conn_state"], "history": r["history"], "orig_pkts": r["src_pkts"],
             "resp_pkts": r["dst_pkts"], "tunnel_parents": "(empty)", "label": "Benign",
             "detailedlabel": "x-y"}.get(f, "worker-1" if f == "_node_name" else "0")
        return "-" if v is None else str(v)

    text = "#separator \\x09\n#unset_field\t-\n#empty_field\t(empty)\n#path\tconn\n"
    text += "#fields\t" + "\t".join(fields) + "\n"
    text += "".join("\t".join(value(r, f) for f in fields) + "\n" for r in records)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / ("conn.log.gz" if gz else "conn.log")
        p.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
        frame, rejects, skipped = collect(p, chunk_rows=chunk_rows)
    assert rejects == 0 and skipped == 0
    check(frame, [expected_zeek(r) for r in records])
    assert frame.line.tolist() == list(range(6, 6 + len(records)))
    if layout == "23":
        assert set(frame.label) == {"Benign"}


# --------------------------------------------------------------------------- Zeek JSON

@SETTINGS
@given(records=st.lists(conn_record, min_size=1, max_size=30), underscore=st.booleans(),
       stream=st.booleans(), noise=st.lists(st.integers(0, 30), max_size=5))
def test_zeek_json_roundtrip(records: list[dict[str, Any]], underscore: bool, stream: bool,
                             noise: list[int]) -> None:
    def obj(r: dict[str, Any]) -> str:
        d: dict[str, Any] = {"ts": float(us_text(r["ts"])), "uid": r["uid"],
                             "id.orig_h": r["src"], "id.orig_p": r["sport"],
                             "id.resp_h": r["dst"], "id.resp_p": r["dport"],
                             "proto": r["proto"], "service": r["service"],
                             "duration": None if r["duration"] is None
                             else float(us_text(r["duration"])),
                             "orig_bytes": r["src_bytes"], "resp_bytes": r["dst_bytes"],
                             "conn_state": r["conn_state"], "history": r["history"],
                             "orig_pkts": r["src_pkts"], "resp_pkts": r["dst_pkts"]}
        if underscore:
            d = {k.replace(".", "_"): v for k, v in d.items()}
        if stream:
            d = {"@stream": "conn", **d}
        return json.dumps({k: v for k, v in d.items() if v is not None})

    lines = [obj(r) for r in records]
    for pos in sorted(noise, reverse=True):  # other log types mixed in
        lines.insert(min(pos, len(lines)), json.dumps({"@stream": "ssl", "ts": 1.0,
                                                       "server_name": "a.org"}))
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "conn.log"
        p.write_text("\n".join(lines) + "\n")
        frame, rejects, skipped = collect(p)
    assert rejects == 0 and skipped == len(noise)
    check(frame, [expected_zeek(r) for r in records])


# --------------------------------------------------------------------------- CIDDS

def flags_text(bits: int) -> str:
    return "".join(c if bits & (32 >> i) else "." for i, c in enumerate("UAPRSF"))


def flags_history(bits: int) -> str:
    letters = {"S": 2, "A": 16, "D": 8, "U": 32, "F": 1, "R": 4}
    out = "".join(c for c in "SADUFR" if bits & letters[c])
    return out or "-"


host_id = st.one_of(ipv4, st.sampled_from(["DNS", "EXT_SERVER", "OPENSTACK_NET", "ATTACKER1",
                                           "ATTACKER3"]),
                    st.builds(lambda a, b: f"{a}_{b}", st.integers(1000, 99999),
                              st.integers(0, 255)))
scaled = st.one_of(st.integers(0, 10**6).map(lambda v: (str(v), float(v))),
                   st.builds(lambda n, d, u: (f"  {n}.{d} {u}",
                                              float(f"{n}.{d}") * {"K": 1e3, "M": 1e6,
                                                                    "G": 1e9}[u]),
                             st.integers(1, 999), st.integers(0, 9), st.sampled_from("KMG")))
cidds_record = st.fixed_dictionaries({
    "ms": st.integers(1489536000000, 1492000000000), "dur_ms": st.integers(0, 10**7),
    "proto": st.sampled_from(["TCP  ", "UDP  ", "GRE  "]), "src": host_id, "dst": host_id,
    "sport": port, "dport": port, "float_port": st.booleans(), "pkts": scaled,
    "bytes": scaled, "flags": st.integers(0, 63),
    "cls": st.sampled_from(["normal", "attacker", "victim", "suspicious", "unknown"]),
    "atype": st.sampled_from(["---", "portScan", "pingScan", "dos", "bruteForce"]),
    "aid": st.one_of(st.just("---"), st.integers(1, 92).map(str)),
})


@SETTINGS
@given(records=st.lists(cidds_record, min_size=1, max_size=30), chunk_rows=st.integers(1, 40))
def test_cidds_roundtrip(records: list[dict[str, Any]], chunk_rows: int) -> None:
    header = ("Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,"
              "Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription")
    rows, expected = [], []
    for r in records:
        secs, ms = divmod(r["ms"], 1000)
        stamp = pd.Timestamp(secs, unit="s").strftime("%Y-%m-%d %H:%M:%S") + f".{ms:03d}"
        dport = f"{r['dport']}.0" if r["float_port"] else str(r["dport"])
        dur = f"{r['dur_ms'] // 1000}.{r['dur_ms'] % 1000:03d}"
        rows.append(f"{stamp},{dur},{r['proto']},{r['src']},{r['sport']},{r['dst']},{dport},"
                    f"{r['pkts'][0]},{r['bytes'][0]},1,{flags_text(r['flags'])},0,{r['cls']},"
                    f"{r['atype']},{r['aid']},---")
        proto = r["proto"].strip().lower()
        expected.append({
            "ts": secs + float(f"0.{ms:03d}"),
            "src": r["src"], "dst": r["dst"], "sport": r["sport"], "dport": r["dport"],
            "proto": proto, "duration": float(dur), "src_pkts": r["pkts"][1],
            "src_bytes": r["bytes"][1], "dst_bytes": math.nan, "dst_pkts": math.nan,
            "history": flags_history(r["flags"]) if proto == "tcp" else "-",
            "conn_state": "-", "label": r["cls"],
            "attack_type": "-" if r["atype"] == "---" else r["atype"],
            "attack_id": "-" if r["aid"] == "---" else r["aid"], "detailed_label": "-",
        })
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "cidds.csv"
        p.write_text("\n".join([header, *rows]) + "\n")
        frame, rejects, _ = collect(p, chunk_rows=chunk_rows)
        again, _, _ = collect(p)
    assert rejects == 0
    check(frame, expected)
    assert frame.uid.is_unique and frame.uid.tolist() == again.uid.tolist()


# --------------------------------------------------------------------------- binetflow

argus_record = st.fixed_dictionaries({
    "us": micros, "dur_us": st.integers(0, 10**10),
    "proto": st.sampled_from(["tcp", "udp"]), "src": address, "dst": address,
    "sport": port, "dport": port,
    "dir": st.sampled_from(["   ->", "  <->", "  <?>", "   <-", "   ?>"]),
    "state": st.one_of(st.sampled_from(["CON", "INT", "REQ", "S_", "S_RA", "FSPA_FSPA",
                                        "SRPA_SPA", "PA_PA"])),
    "src_pkts": st.integers(0, 10**6), "dst_pkts": st.integers(0, 10**6),
    "src_bytes": st.integers(0, 10**9), "dst_bytes": st.integers(0, 10**9),
    "label": st.one_of(st.just(""), st.sampled_from(["flow=Background", "flow=From-Botnet"])),
})


@SETTINGS
@given(records=st.lists(argus_record, min_size=1, max_size=30), tab=st.booleans(),
       with_pkts=st.booleans())
def test_binetflow_roundtrip(records: list[dict[str, Any]], tab: bool, with_pkts: bool) -> None:
    sep = "\t" if tab else ","
    cols = ["StartTime", "Dur", "Proto", "SrcAddr", "Sport", "Dir", "DstAddr", "Dport", "State",
            "sTos", "dTos", "TotPkts", "TotBytes", "SrcBytes", *(["SrcPkts"] if with_pkts else []),
            "Label"]
    rows, expected = [], []
    for r in records:
        secs, us = divmod(r["us"], 10**6)
        stamp = pd.Timestamp(secs, unit="s").strftime("%Y/%m/%d %H:%M:%S") + f".{us:06d}"
        dur = us_text(r["dur_us"])
        values = [stamp, dur, r["proto"], r["src"], str(r["sport"]), r["dir"], r["dst"],
                  str(r["dport"]), r["state"], "0", "", str(r["src_pkts"] + r["dst_pkts"]),
                  str(r["src_bytes"] + r["dst_bytes"]), str(r["src_bytes"]),
                  *([str(r["src_pkts"])] if with_pkts else []), r["label"]]
        rows.append(sep.join(values))
        expected.append({
            "ts": secs + float(f"0.{us:06d}"), "duration": float(dur), "proto": r["proto"],
            "src": r["src"], "dst": r["dst"], "sport": r["sport"], "dport": r["dport"],
            "src_bytes": float(r["src_bytes"]), "dst_bytes": float(r["dst_bytes"]),
            "src_pkts": float(r["src_pkts"]) if with_pkts else math.nan,
            "dst_pkts": float(r["dst_pkts"]) if with_pkts else math.nan,
            "conn_state": argus_state(r["proto"], r["state"]), "history": "-",
            "label": r["label"] or "-",
        })
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "flows.binetflow"
        p.write_text("\n".join([sep.join(cols), *rows]) + "\n")
        frame, rejects, skipped = collect(p)
    assert rejects == 0 and skipped == 0
    check(frame, expected)


# --------------------------------------------------------------------------- nfdump

nf_record = st.fixed_dictionaries({
    "ms": st.integers(1489536000000, 1492000000000), "with_ms": st.booleans(),
    "td_ms": st.integers(0, 10**7), "proto": st.sampled_from(["TCP", "UDP", "GRE"]),
    "src": address, "dst": address, "sport": port, "dport": port, "flags": st.integers(0, 63),
    "ipkt": count, "ibyt": count, "opkt": count, "obyt": count,
})


@SETTINGS
@given(records=st.lists(nf_record, min_size=1, max_size=30), summary=st.booleans())
def test_nfdump_roundtrip(records: list[dict[str, Any]], summary: bool) -> None:
    header = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt"
    rows, expected = [], []
    for r in records:
        secs, ms = divmod(r["ms"], 1000)
        stamp = pd.Timestamp(secs, unit="s").strftime("%Y-%m-%d %H:%M:%S")
        if r["with_ms"]:
            stamp += f".{ms:03d}"
        td = f"{r['td_ms'] // 1000}.{r['td_ms'] % 1000:03d}"
        rows.append(f"{stamp},{stamp},{td},{r['src']},{r['dst']},{r['sport']},{r['dport']},"
                    f"{r['proto']},{flags_text(r['flags'])},0,0,{r['ipkt']},{r['ibyt']},"
                    f"{r['opkt']},{r['obyt']}")
        proto = r["proto"].lower()
        expected.append({
            "ts": secs + (float(f"0.{ms:03d}") if r["with_ms"] else 0.0), "duration": float(td),
            "src": r["src"], "dst": r["dst"], "sport": r["sport"], "dport": r["dport"],
            "proto": proto, "src_pkts": float(r["ipkt"]), "src_bytes": float(r["ibyt"]),
            "dst_pkts": float(r["opkt"]), "dst_bytes": float(r["obyt"]),
            "history": flags_history(r["flags"]) if proto == "tcp" else "-",
            "conn_state": "-",
        })
    tail = ["Summary", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp", "1,2,3,4,5,6"]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "flows.csv"
        p.write_text("\n".join([header, *rows, *(tail if summary else [])]) + "\n")
        frame, rejects, _ = collect(p)
    assert rejects == 0
    check(frame, expected)
