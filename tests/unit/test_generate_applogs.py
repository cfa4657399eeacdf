"""`graphnet generate --app-logs`: Zeek dns.log and http.log consistent with the conn logs, the
three planted scenarios that live in them, and nothing changed without the option."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from graphnet.errors import ConfigError
from graphnet.generate import APP_SCENARIOS, SCENARIOS, GenerateOptions, generate
from graphnet.generate.applogs import DNS_FIELDS, HTTP_FIELDS
from graphnet.generate.writers import ZEEK_FIELDS

SMALL = {"weeks": 2, "hosts": 50, "scale": 2500, "seed": 4}


def _records(path: Path, fields: tuple[str, ...]) -> tuple[dict[str, str], list[dict[str, str]]]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    assert text.endswith("\n")
    meta: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    for row in csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row[0].startswith("#"):
            meta[row[0].split(" ")[0]] = "\t".join(row[1:])
            continue
        assert len(row) == len(fields), row
        rows.append(dict(zip(fields, row, strict=True)))
    return meta, rows


def _load(out: Path, name: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for p in sorted(out.glob(f"*/{name}.*.log.gz")):
        meta, recs = _records(p, fields)
        assert meta["#path"] == name
        assert meta["#fields"] == "\t".join(fields)
        hour = p.name.split(".")[1][:2]
        for r in recs:
            assert int(float(r["ts"]) // 3600 % 24) == int(hour), (p, r["ts"])
        rows.extend(recs)
    return rows


@pytest.fixture(scope="module")
def app_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("gen") / "zeek"
    res = generate(out, GenerateOptions(**SMALL, app_logs=True))
    return {
        "out": out,
        "res": res,
        "truth": json.loads(res.truth_path.read_text()),
        "conn": {r["uid"]: r for r in _load(out, "conn", ZEEK_FIELDS)},
        "dns": _load(out, "dns", DNS_FIELDS),
        "http": _load(out, "http", HTTP_FIELDS),
    }


def test_dns_and_http_records_are_connections(app_run: dict[str, Any]) -> None:
    conn, dns, http = app_run["conn"], app_run["dns"], app_run["http"]
    assert len(dns) > 1000 and len(http) > 300
    for r in dns:
        c = conn[r["uid"]]
        assert (c["proto"], c["id.resp_p"], c["service"]) == ("udp", "53", "dns")
        for k in ("ts", "id.orig_h", "id.orig_p", "id.resp_h"):
            assert r[k] == c[k]
        assert r["rcode_name"] == "-" if c["conn_state"] != "SF" else r["rcode_name"] != "-"
        assert r["query"] not in ("", "-")
    for r in http:
        c = conn[r["uid"]]
        assert (c["proto"], c["service"]) == ("tcp", "http")
        assert r["id.resp_p"] == c["id.resp_p"] and r["ts"] == c["ts"]
        assert r["method"] in ("GET", "POST", "HEAD") and r["user_agent"] not in ("", "-")
    assert len({r["uid"] for r in dns}) == len(dns)
    assert len({r["uid"] for r in http}) == len(http)


def test_plants_are_in_the_logs_and_the_truth(app_run: dict[str, Any]) -> None:
    truth = app_run["truth"]
    assert truth["generator"]["app_logs"] is True
    kinds = {s["type"]: s for s in truth["scenarios"]}
    assert set(APP_SCENARIOS) <= set(kinds)
    dns = {r["uid"]: r for r in app_run["dns"]}
    http = {r["uid"]: r for r in app_run["http"]}

    tunnel = kinds["dns_tunnel"]
    rows = [dns[u] for u in tunnel["uids"]]
    assert len(rows) == tunnel["connections"] >= 500
    dom = tunnel["details"]["domain"]
    subs = {r["query"][: -len(dom) - 1] for r in rows if r["query"].endswith("." + dom)}
    assert len(subs) == len(rows)  # every query a new subdomain
    assert {r["qtype_name"] for r in rows} == {"TXT", "NULL"}
    assert {r["id.orig_h"] for r in rows} == {tunnel["hosts"]["attacker"]}

    dga = kinds["dga"]
    rows = [dns[u] for u in dga["uids"]]
    nx = sum(r["rcode_name"] == "NXDOMAIN" for r in rows)
    assert nx >= 0.9 * len(rows) and len({r["query"] for r in rows}) >= 0.95 * len(rows)

    beacon = kinds["ua_beacon"]
    rows = [http[u] for u in beacon["uids"]]
    agent = beacon["details"]["user_agent"]
    assert rows and all(r["user_agent"] == agent for r in rows)
    planted = set(beacon["uids"])
    assert not [r for u, r in http.items() if r["user_agent"] == agent and u not in planted]


def test_same_options_same_bytes_and_conn_logs_unchanged_without_the_option(
    tmp_path: Path,
) -> None:
    def digest(out: Path, pattern: str) -> str:
        h = hashlib.sha256()
        for p in sorted(out.glob(pattern)):
            h.update(p.name.encode() + p.read_bytes())
        return h.hexdigest()

    opts = {**SMALL, "weeks": 1, "scenarios": ("beaconing",)}
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, GenerateOptions(**opts, app_logs=True))
    generate(b, GenerateOptions(**opts, app_logs=True))
    for kind in ("conn", "dns", "http"):
        assert digest(a, f"*/{kind}.*") == digest(b, f"*/{kind}.*")
    # an explicit list without the app scenarios: the conn logs are those of a run without
    # application logs, byte for byte
    c = tmp_path / "c"
    generate(c, GenerateOptions(**opts))
    assert digest(a, "*/conn.*") == digest(c, "*/conn.*")
    assert not list(c.glob("*/dns.*")) and not list(c.glob("*/http.*"))
    assert "app_logs" not in json.loads((c / "truth.json").read_text())["generator"]


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="zeek format only"):
        generate(tmp_path / "x", GenerateOptions(**SMALL, format="zeek-json", app_logs=True))
    with pytest.raises(ConfigError, match="need --app-logs"):
        generate(tmp_path / "y", GenerateOptions(**SMALL, scenarios=("dns_tunnel",)))
    assert not set(APP_SCENARIOS) & set(SCENARIOS)
