"""Spot's flow words: every connection becomes two words, one for each end (see the package
docstring), built as packed integers over columns and turned into text only for distinct
values. `graphnet/sql/lda_views.sql` builds the same words in SQL for the archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

#: columns the detectors read from the archive (ground-truth columns are never read by them)
CONN_COLUMNS = (
    "ts",
    "uid",
    "src",
    "dst",
    "sport",
    "dport",
    "proto",
    "service",
    "conn_state",
    "src_bytes",
    "dst_bytes",
    "src_pkts",
    "dst_pkts",
)

LOW_TO_LOW = 111111
HIGH_TO_HIGH = 333333

Variant = Literal["spot", "graphnet"]


# --------------------------------------------------------------------------------------------
# words
# --------------------------------------------------------------------------------------------
_STATE_CLASS = {
    "SF": "ok",
    "S1": "ok",
    "S2": "ok",
    "S3": "ok",
    "S0": "noreply",
    "REJ": "rej",
    "RSTO": "rst",
    "RSTR": "rst",
    "RSTOS0": "rst",
    "RSTRH": "rst",
    "SH": "half",
    "SHR": "half",
    "OTH": "oth",
}
_STATES = ("-", "ok", "noreply", "rej", "rst", "half", "oth")


def log2_bin(values: np.ndarray) -> np.ndarray:
    """Spot's `ceil(log2(x + 1))` (unknown counts count as 0)."""
    v = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    v = np.maximum(v, 0.0)
    return np.ceil(np.log2(v + 1.0)).astype(np.int64)


def _ports(frame: pd.DataFrame, col: str) -> np.ndarray:
    p = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64")
    p = np.where(np.isnan(p) | (p < 0), 0.0, p)  # unknown ports are Spot's "no port" (0)
    return p.astype(np.int64)


def _sum_known(frame: pd.DataFrame, a: str, b: str) -> np.ndarray:
    x = pd.to_numeric(frame[a], errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(frame[b], errors="coerce").to_numpy(dtype="float64")
    return np.nan_to_num(x, nan=0.0) + np.nan_to_num(y, nan=0.0)


@dataclass
class Words:
    """Per-row word codes of one frame and the text of each distinct code."""

    src: np.ndarray  # int64 index into `text`
    dst: np.ndarray
    text: np.ndarray  # object array of distinct words
    coarse: np.ndarray  # object array: the word without hour and bins (for back-off)
    hour: np.ndarray  # per row
    bytes_bin: np.ndarray
    pkts_bin: np.ndarray


def flow_words(frame: pd.DataFrame, variant: Variant = "spot", state: bool = False) -> Words:
    """Spot's two words per flow, vectorised (packed integers; text only for distinct words).

    Bytes and packets are the flow's totals (originator + responder; unknown = 0), as Spot's
    `ibyt`/`ipkt` are for a NetFlow record. With `state` (graphnet option) the TCP outcome class
    (`ok`, `noreply`, `rej`, `rst`, `half`, `oth`) is appended to the word.
    """
    n = len(frame)
    s = _ports(frame, "sport")
    d = _ports(frame, "dport")
    both0 = (s == 0) & (d == 0)
    d0 = (d == 0) & (s > 0)
    s0 = (s == 0) & (d > 0)
    low = (s <= 1024) & (d <= 1024)
    s_low = (s <= 1024) & (d > 1024)
    d_low = (s > 1024) & (d <= 1024)
    conds = [both0, d0, s0, low, s_low, d_low]
    key = np.select(conds, [0, s, d, LOW_TO_LOW, s, d], HIGH_TO_HIGH).astype(np.int64)
    owner = np.select(conds, [0, 1, 2, 0, 1, 2], 0).astype(np.int64)  # 1 src, 2 dst own the port

    proto_codes, proto_index = pd.factorize(
        frame["proto"].astype(object).where(frame["proto"].notna(), "-").astype(str).str.lower(),
        sort=True,
    )
    protos = np.asarray(proto_index, dtype=object)
    n_proto = max(len(protos), 1)
    ts = frame["ts"].to_numpy(dtype="float64")
    hour = (np.floor(np.nan_to_num(ts, nan=0.0) / 3600.0) % 24).astype(np.int64)
    bbin = np.minimum(log2_bin(_sum_known(frame, "src_bytes", "dst_bytes")), 63)
    pbin = np.minimum(log2_bin(_sum_known(frame, "src_pkts", "dst_pkts")), 63)
    if state and "conn_state" in frame.columns:
        cls = frame["conn_state"].astype(object).map(_STATE_CLASS).fillna("-")
        st = pd.Categorical(cls, categories=_STATES).codes.astype(np.int64)
    else:
        st = np.zeros(n, dtype=np.int64)
    n_state = len(_STATES)

    base = ((((key * n_proto + proto_codes) * 24 + hour) * 64 + bbin) * 64 + pbin) * n_state + st
    src_key = base * 2 + (owner == 1)
    dst_key = base * 2 + (owner == 2)
    uniq, inv = np.unique(np.concatenate([src_key, dst_key]), return_inverse=True)
    inv = inv.reshape(-1)

    # decode the distinct keys into text
    pre = uniq % 2
    b = uniq // 2
    st_u = b % n_state
    b //= n_state
    pb_u = b % 64
    b //= 64
    bb_u = b % 64
    b //= 64
    hr_u = b % 24
    b //= 24
    pr_u = b % n_proto
    key_u = b // n_proto
    coarse = (
        np.where(pre == 1, "-1_", "").astype(object)
        + key_u.astype(str).astype(object)
        + "_"
        + (protos[pr_u] if len(protos) else np.full(len(uniq), "-", dtype=object))
    )
    text = coarse + "_" + hr_u.astype(str).astype(object) + "_" + bb_u.astype(str).astype(object)
    text = text + "_" + pb_u.astype(str).astype(object)
    if state:
        text = text + "_" + np.asarray(_STATES, dtype=object)[st_u]
    return Words(
        src=inv[:n],
        dst=inv[n:],
        text=np.asarray(text, dtype=object),
        coarse=np.asarray(coarse, dtype=object),
        hour=hour,
        bytes_bin=bbin,
        pkts_bin=pbin,
    )


def word_text(frame: pd.DataFrame, variant: Variant = "spot", state: bool = False) -> pd.DataFrame:
    """The words as text, one row per flow (columns `src_word`, `dst_word`): for reports/tests."""
    w = flow_words(frame, variant, state)
    return pd.DataFrame({"src_word": w.text[w.src], "dst_word": w.text[w.dst]}, index=frame.index)
