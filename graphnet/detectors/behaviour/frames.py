"""The behaviour detector over connection frames: `FirstBehaviour`, the `Model` (fit on a
history frame, parts and host scores of a window's frame), and the pandas aggregations it
uses, the same aggregates (`model.Firsts`) the engine computes in SQL over the archive
(`graphnet/sql/behaviour_*.sql`) and the oracle those statements are tested against.

For frames that fit in memory (tests, small evaluations); the `behaviour` step never loads a
window: it asks the archive (`aggregates`).
"""

from __future__ import annotations

import logging
from typing import Self

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.detectors.behaviour.model import (
    ANSWERED_STATES,
    FAILED_STATES,
    PARTS,
    BehaviourSettings,
    Firsts,
    host_frame,
    internal_of,
    learned_bits,
    parts_of,
    rates_of,
    shown_by,
)
from graphnet.detectors.contract import Model

log = logging.getLogger(__name__)

_KEY = ["s", "d", "p", "port"]


def answered(conns: pd.DataFrame) -> np.ndarray:
    """Did the responder answer (state SF/S1-S3/RSTO/RSTR, unknown '-', or reply packets)?"""
    state = conns["conn_state"].astype(str).to_numpy(dtype=object)
    ok = pd.Index(state).isin(list(ANSWERED_STATES))
    if "dst_pkts" in conns:
        ok |= np.nan_to_num(conns["dst_pkts"].to_numpy(dtype="float64"), nan=0.0) > 0
    # a scan probe that the target reset (REJ) or never answered (S0) is not a conversation
    return np.asarray(ok, dtype=bool) & ~pd.Index(state).isin(list(FAILED_STATES))


def _text(values: pd.Series) -> np.ndarray:
    """A text column as Python strings, a missing value as '-' (unset)."""
    return np.asarray(values.astype(object).where(values.notna(), "-").astype(str), dtype=object)


def normalised(conns: pd.DataFrame) -> pd.DataFrame:
    """The columns the detector reads: s, d, p (text; missing: '-'), port (missing: -1), ts
    and ok (answered)."""
    return pd.DataFrame(
        {
            "s": _text(conns["src"]),
            "d": _text(conns["dst"]),
            "p": _text(conns["proto"]),
            "port": conns["dport"].fillna(-1).to_numpy(dtype="int64"),
            "ts": conns["ts"].to_numpy(dtype="float64"),
            "ok": answered(conns) if len(conns) else np.zeros(0, dtype=bool),
        }
    )


def services(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (s, d, p, port) of normalised rows: `n` connections, `ok` answered ones and the
    `first` answered time (NaN without any) (the statement's `b_seen` / `b_now`)."""
    first = rows["ts"].where(rows["ok"])
    agg = (
        rows.assign(ok=rows["ok"].astype("int64"), first=first)
        .groupby(_KEY, sort=False)
        .agg(n=("ts", "size"), ok=("ok", "sum"), first=("first", "min"))
    )
    return agg.reset_index()


def _in(keys: pd.DataFrame, table: pd.DataFrame, cols: list[str], on: list[str]) -> np.ndarray:
    """Is each row's `cols` among `table`'s `on` values?"""
    if table.empty:
        return np.zeros(len(keys), dtype=bool)
    index = pd.MultiIndex.from_frame(table[on].astype(object)) if len(on) > 1 else table[on[0]]
    if len(cols) > 1:
        probe = pd.MultiIndex.from_frame(keys[cols].astype(object).set_axis(on, axis=1))
        return np.asarray(probe.isin(index), dtype=bool)
    return np.asarray(keys[cols[0]].isin(pd.Index(index)), dtype=bool)


def firsts(
    now: pd.DataFrame,
    seen: pd.DataFrame,
    rows: pd.DataFrame,
    settings: BehaviourSettings,
    internal: set[str],
) -> Firsts:
    """The window's first times (`model.Firsts`) from its services `now` and its normalised
    `rows`, against the history's services `seen` (both `services`); `internal`: the internal
    hosts among them. What `graphnet/sql/behaviour_firsts.sql` and `behaviour_periodic.sql`
    compute, in pandas."""
    st = settings
    hist_hosts = pd.Index(pd.unique(np.concatenate([seen["s"], seen["d"]])))
    is_int = pd.Index(sorted(internal))
    s_int = seen["s"].isin(is_int).to_numpy() if len(seen) else np.zeros(0, dtype=bool)
    d_int = seen["d"].isin(is_int).to_numpy() if len(seen) else np.zeros(0, dtype=bool)
    answered_seen = seen[seen["ok"].to_numpy() > 0]
    users = (
        seen[(seen["ok"].to_numpy() > 0) & s_int & d_int]
        .groupby(["d", "p", "port"])["s"]
        .nunique()
        .rename("users")
        .reset_index()
    )
    client_conns = seen.groupby("s")["n"].sum()
    a = now[now["ok"].to_numpy() > 0].reset_index(drop=True)
    di = a["d"].isin(is_int).to_numpy()
    si = a["s"].isin(is_int).to_numpy()
    pair_service = _in(a, seen, _KEY, _KEY)
    known_pair = _in(a, seen, ["s", "d"], ["s", "d"]) | _in(a, seen, ["d", "s"], ["s", "d"])
    server = _in(a, answered_seen, ["d", "p", "port"], ["d", "p", "port"])
    client = _in(a, seen, ["s", "p", "port"], ["s", "p", "port"])
    busy = client_conns.reindex(a["s"]).fillna(0).to_numpy() >= st.min_client
    failed_seen = seen[(seen["ok"].to_numpy() == 0) & (seen["n"].to_numpy() >= st.min_failed)]
    flags = pd.DataFrame(
        {
            "new_host": di & ~a["s"].isin(hist_hosts).to_numpy(),
            "new_admin": di & si & a["port"].isin(list(st.admin_ports)).to_numpy() & ~pair_service,
            "new_service": di & known_pair & ~pair_service & (~server | (~client & busy)),
            "failed": _in(a, failed_seen, _KEY, _KEY),
        }
    )
    keep = flags.any(axis=1).to_numpy()
    svc = a.loc[keep, ["s", "d", "p", "port", "first"]].merge(
        users, on=["d", "p", "port"], how="left"
    )
    svc["users"] = svc["users"].fillna(0).astype("int64")
    for c in flags.columns:
        svc[c] = flags.loc[keep, c].to_numpy()
    # regular connections to an external host nobody contacted before
    ext = a[~di & ~a["d"].isin(hist_hosts).to_numpy()]
    pairs = ext.groupby(["s", "d"])["ok"].sum()
    pairs = pairs[pairs >= st.min_periodic]
    per = []
    counts = {key: int(v) for key, v in pairs.items()}
    if len(pairs):
        ok = rows[rows["ok"].to_numpy(dtype=bool)]
        ok = ok[_in(ok, pairs.reset_index(), ["s", "d"], ["s", "d"])]
        for (s, d), pair in ok.groupby(["s", "d"]):
            gaps = np.diff(np.sort(pair["ts"].to_numpy()))
            gaps = gaps[gaps > 0]
            if len(gaps) < 5:
                continue
            period = float(np.median(gaps))
            kept = gaps[gaps <= 4.0 * period]
            med = mad = np.nan
            if len(kept) >= 5:
                med = float(np.median(kept))
                mad = float(np.median(np.abs(kept - med)))
            n = int(counts[(s, d)])
            for port in sorted(set(ext.loc[(ext["s"] == s) & (ext["d"] == d), "port"])):
                per.append((s, d, int(port), n, period, med, mad))
    periodic = pd.DataFrame(per, columns=["s", "d", "port", "n", "period", "med", "mad"])
    now_src = pd.unique(now["s"])
    n_int = int(pd.Index(now_src).isin(is_int).sum())
    return Firsts(
        services=svc.reset_index(drop=True),
        periodic=periodic,
        internal_clients=int(pd.Index(pd.unique(seen["s"])).isin(is_int).sum()),
        history_rows=int(seen["n"].sum()),
        originators={True: n_int, False: len(now_src) - n_int},
    )


class FirstBehaviour(Model):
    """Host-level first-time behaviour (the package docstring) over frames: `fit(history)` on
    earlier windows' connections, `host_frame(window)` per originating host."""

    name = "behaviour"

    def __init__(self, settings: BehaviourSettings | None = None) -> None:
        self.settings = settings or BehaviourSettings()
        self._internal = internal_of(self.settings)
        self.fitted = False
        self.bits: dict[tuple[str, bool], float] = {}
        self.rates: dict[str, float] = {}

    def internal(self, hosts: np.ndarray) -> np.ndarray:
        return self._internal(hosts)

    def _internal_set(self, *frames: pd.DataFrame) -> set[str]:
        hosts = pd.unique(np.concatenate([np.asarray(f[c]) for f in frames for c in ("s", "d")]))
        return {str(h) for h, i in zip(hosts, self.internal(hosts), strict=True) if i}

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn what the hosts did in `history`; with two or more windows of history, also
        how often each part happens per originator in its last window (see `rates`)."""
        self._learn(history)
        self.bits = self._calibrate(history)
        self.rates = rates_of(self.bits)
        return self

    def _learn(self, history: pd.DataFrame) -> Self:
        self.seen = services(normalised(history))
        self.fitted = True
        self.bits = {}
        self.rates = {}
        return self

    def _calibrate(self, history: pd.DataFrame) -> dict[tuple[str, bool], float]:
        """Per (part, originator internal?): -log2 of the share of that zone's originators of
        the last history window that showed the part, learned on the earlier windows
        ((k + 0.5) / (m + 1)). With a single history window, its last `holdout` share of time
        is scored against the rest instead; empty without history (default weights)."""
        if history.empty:
            return {}
        ts = history["ts"].to_numpy(dtype="float64")
        wid = windows.window_ids(ts, self.settings.window_kind).to_numpy()
        later = wid == max(wid)
        if not (~later).any():
            if self.settings.holdout <= 0:
                return {}
            lo, hi = float(np.nanmin(ts)), float(np.nanmax(ts))
            later = ts >= lo + (1.0 - self.settings.holdout) * (hi - lo)
            if not later.any() or later.all():
                return {}
        sub = FirstBehaviour(self.settings)._learn(history[~later])
        got = sub.firsts(history[later])
        return learned_bits(shown_by(got, self.settings), got.originators, self.internal)

    def firsts(self, observations: pd.DataFrame) -> Firsts:
        """The aggregates of the window's first times against the fitted history."""
        if not self.fitted:
            raise ValueError("fit the detector first")
        rows = normalised(observations)
        now = services(rows)
        return firsts(now, self.seen, rows, self.settings, self._internal_set(now, self.seen))

    def parts(self, observations: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per part that some host showed: a frame indexed by originating host with `n`, `text`,
        `keys` (its (peer, port) services) and, per part, `chain` / `reg`, `period`."""
        return parts_of(self.firsts(observations), self.settings)

    def host_frame(
        self, observations: pd.DataFrame, parts: dict[str, pd.DataFrame] | None = None
    ) -> pd.DataFrame:
        """Per originating host with a first time: `score`, `part_<name>`, `explanation`,
        sorted by score (hosts without any first time are absent). `parts`: the result of
        `parts(observations)` when already computed."""
        if not self.fitted:
            raise ValueError("fit the detector first")
        if parts is None:
            parts = self.parts(observations)
        return host_frame(parts, self.settings, self.bits, self.internal)

    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Per connection (the Model contract): its originator's host score."""
        hf = self.host_frame(observations)
        src = observations["src"].astype(str)
        out = pd.DataFrame(index=observations.index)
        out["score"] = hf["score"].reindex(src.to_numpy()).fillna(0.0).to_numpy()
        for n in PARTS:
            out[f"part_{n}"] = hf[f"part_{n}"].reindex(src.to_numpy()).fillna(0.0).to_numpy()
        out["explanation"] = hf["explanation"].reindex(src.to_numpy()).fillna("").to_numpy()
        return out
