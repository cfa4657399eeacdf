"""Generated dns.log / http.log read into the agreed normalised tables (a test helper: the
product's readers of these logs live in graphnet.sources)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet.detectors.applogs.words import DNS_COLUMNS, HTTP_COLUMNS
from graphnet.generate import GenerateOptions, generate

RENAME = {"id.orig_h": "src", "id.orig_p": "sport", "id.resp_h": "dst", "id.resp_p": "dport"}


def read_log(path: Path) -> pd.DataFrame:
    fields: list[str] = []
    with open(path, "rb") as fh:
        import gzip

        text = gzip.decompress(fh.read()).decode()
    for line in text.splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
            break
    rows = [ln.split("\t") for ln in text.splitlines() if ln and not ln.startswith("#")]
    frame = pd.DataFrame(rows, columns=fields).rename(columns=RENAME)
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame


def load(out: Path, kind: str) -> pd.DataFrame:
    parts = [read_log(p) for p in sorted(out.glob(f"*/{kind}.*.log.gz"))]
    f = pd.concat(parts, ignore_index=True)
    f["ts"] = f["ts"].astype("float64")
    f["sport"] = f["sport"].astype("int32")
    f["dport"] = f["dport"].astype("int32")
    f["sensor"] = "-"
    if kind == "dns":
        f["rejected"] = f["rejected"] == "T"
        return f[list(DNS_COLUMNS)]
    for c in ("request_body_len", "response_body_len"):
        f[c] = pd.to_numeric(f[c], errors="coerce")
    f["status_code"] = pd.to_numeric(f["status_code"], errors="coerce").fillna(0).astype("int32")
    return f[list(HTTP_COLUMNS)]


@functools.lru_cache(maxsize=8)
def generated(seed: int, root: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(truth, dns, http) of a small generated network with the three application plants."""
    out = Path(root) / f"gen-{seed}"
    if not (out / "truth.json").exists():
        generate(
            out,
            GenerateOptions(
                weeks=2,
                hosts=60,
                scale=3000,
                seed=seed,
                app_logs=True,
                scenarios=("dns_tunnel", "dga", "ua_beacon"),
            ),
        )
    truth = json.loads((out / "truth.json").read_text())
    return truth, load(out, "dns"), load(out, "http")
