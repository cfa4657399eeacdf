"""Score a window's connections for novelty and report the deviating conversations.

score_window: fingerprints as of the window (from earlier windows, with benign feedback) ->
every archived connection of the window scored (detectors/novelty.py) -> connections at or above
the threshold grouped per (src, dst) into `novel_connection` findings -> Neo4j; the
per-connection scores go to `$GRAPHNET_HOME/scores/<window>/novelty.parquet` for reports and
for `graphnet paths`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graphnet import findings as findings_mod
from graphnet import fingerprints, windows
from graphnet.config import Settings
from graphnet.detectors.novelty import (
    PARTS,
    NoveltyParams,
    conversations,
    explain,
    score_connections,
    summarise,
)
from graphnet.errors import InputError, NotEnoughHistory
from graphnet.findings import Finding, cypher_literal
from graphnet.store import Store

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5  # novelty 0.5 = 10 excess bits with the default scale
KIND = "novel_connection"
DETECTOR = "novelty"
MAX_EXAMPLES = 5


# --------------------------------------------------------------------------------------------
# Cypher text for Neo4j Browser (never executed by graphnet)
# --------------------------------------------------------------------------------------------
def pair_cypher(src: str, dst: str, window: str) -> str:
    """Browser query: the pair's edge in the window and the fingerprint it was scored against."""
    a, b, w = cypher_literal(src), cypher_literal(dst), cypher_literal(window)
    return (
        f"MATCH p = (a:Host {{id: {a}}})-[r:TALKED {{window: {w}}}]->(b:Host {{id: {b}}})\n"
        f"OPTIONAL MATCH q = (a)-[:HAS_FINGERPRINT]->(:Fingerprint {{level: 'pair', as_of: {w}}})"
        f"-[:TO]->(b)\n"
        "RETURN p, q"
    )


def path_cypher(hosts: Sequence[str], window: str) -> str:
    """Browser query: the TALKED edges of a path of hosts in a window."""
    w = cypher_literal(window)
    nodes = [f"(h{i}:Host {{id: {cypher_literal(h)}}})" for i, h in enumerate(hosts)]
    lines = []
    for i in range(len(hosts) - 1):
        left = nodes[i] if i == 0 else f"(h{i})"  # later hops reuse the bound variable
        lines.append(f"MATCH p{i} = {left}-[:TALKED {{window: {w}}}]->{nodes[i + 1]}")
    ret = ", ".join(f"p{i}" for i in range(len(hosts) - 1))
    return "\n".join([*lines, f"RETURN {ret}"])


def iso(ts: float) -> str:
    return pd.Timestamp(float(ts), unit="s", tz="UTC").isoformat()


# --------------------------------------------------------------------------------------------
# a window's scores and findings (pure)
# --------------------------------------------------------------------------------------------
@dataclass
class WindowScores:
    """Everything scoring one window produces."""

    window: str
    baseline_windows: list[str]
    connections: pd.DataFrame  # per connection, see score_connections (+ novel, reported)
    conversations: pd.DataFrame  # per (src, dst), see conversations (+ reported, explanation)
    findings: list[Finding]
    threshold: float | None
    top_k: int | None
    params: NoveltyParams
    feedback: tuple[str, ...] = ()


def _conversation_text(r: Any, window: str) -> str:
    n, k = int(r.connections), int(r.novel)
    head = (
        f"{k} of {n} connection{'s' if n != 1 else ''} {r.src}→{r.dst} in {window} "
        f"{'are' if k != 1 else 'is'} novel for this pair"
        if r.conn > 0
        else f"{r.src}→{r.dst} is a new conversation in {window} ({n} connection"
        f"{'s' if n != 1 else ''})"
    )
    return f"{head} (novelty {r.score:.2f}, {r.bits:.1f} bits): {r.explanation}"


def score_frame(
    fp: fingerprints.Fingerprints,
    conns: pd.DataFrame,
    window: str,
    *,
    threshold: float | None = DEFAULT_THRESHOLD,
    top_k: int | None = None,
    params: NoveltyParams | None = None,
    hosts_info: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
    comps: pd.DataFrame | None = None,
) -> WindowScores:
    """Score a window's connections against `fp` and report the deviating conversations:
    those with conversation score >= threshold (0-1), at most top_k of them (highest first);
    threshold None = the top_k conversations with any novelty. One `novel_connection` finding
    per conversation."""
    params = params or NoveltyParams()
    scored = score_connections(
        fp,
        conns,
        params,
        comps=comps,
        hosts_info=hosts_info,
        settings=settings,
        explain_threshold=None,
    )
    conv = conversations(scored)
    frame = scored.frame
    novel = scored.extra.get("novel", np.zeros(len(frame), dtype=bool))
    if threshold is not None:
        rep = conv["score"].to_numpy() >= threshold
    else:
        rep = conv["bits"].to_numpy() > 0
    if top_k is not None:
        rep &= np.cumsum(rep) <= top_k
    conv["reported"] = rep
    conv["explanation"] = ""
    conv["summary"] = ""
    conv.loc[rep, "summary"] = summarise(scored, conv.loc[rep, "best"].to_numpy())
    frame["novel"] = novel
    reported_pairs = conv.loc[rep, "pair"].to_numpy()
    frame["reported"] = novel & np.isin(scored.keys.codes, reported_pairs)
    out: list[Finding] = []
    if rep.any():
        sel = conv[rep]
        best = sel["best"].to_numpy()
        rich = explain(scored, rows=best)
        conv.loc[rep, "explanation"] = rich[best]
        col = frame.columns.get_loc("explanation")
        assert isinstance(col, int)
        frame.iloc[best, col] = rich[best]
        # up to MAX_EXAMPLES example uids per conversation, most novel first
        rows = np.flatnonzero(frame["reported"].to_numpy())
        ex = pd.DataFrame(
            {
                "pair": scored.keys.codes[rows],
                "bits": frame["conn_bits"].to_numpy()[rows],
                "uid": frame["uid"].to_numpy(dtype=object)[rows],
            }
        ).sort_values(["pair", "bits"], ascending=[True, False], kind="stable")
        uids = ex.groupby("pair", sort=False).head(MAX_EXAMPLES).groupby("pair")["uid"].agg(list)
        records: list[Any] = list(conv[rep].itertuples(index=False))
        for r in records:
            b = int(r.best)
            parts = {
                name: round(float(scored.parts[b, i]), 3)
                for i, name in enumerate(PARTS)
                if scored.parts[b, i] > 0
            }
            parts.update(
                conversation_bits=round(float(r.bits), 3),
                connection_bits=round(float(r.conn), 3),
                who_bits=round(float(r.who_bits), 3),
                uniqueness=round(float(frame["uniqueness"].to_numpy()[b]), 3),
            )
            out.append(
                Finding(
                    kind=KIND,
                    window=window,
                    score=round(float(r.score), 6),
                    hosts=[str(r.src), str(r.dst)],
                    explanation=_conversation_text(r, window),
                    parts=parts,
                    cypher=pair_cypher(str(r.src), str(r.dst), window),
                    detector=DETECTOR,
                    evidence={
                        "connections": int(r.novel),
                        "pair_connections": int(r.connections),
                        "first": iso(r.first) if np.isfinite(r.first) else None,
                        "last": iso(r.last) if np.isfinite(r.last) else None,
                        "uids": [str(u) for u in uids.get(r.pair, [])],
                        "top_component": str(frame["top_component"].iat[b]),
                        "top_value": str(frame["top_value"].iat[b]),
                        "max_connection_bits": round(float(r.conn_bits), 3),
                        "p_value": float(frame["p_value"].to_numpy()[b]),
                        "threshold": threshold,
                        "baseline_windows": list(fp.windows),
                        "new_pair": bool(r.who_bits > 0),
                    },
                )
            )
    return WindowScores(
        window=window,
        baseline_windows=list(fp.windows),
        connections=frame,
        conversations=conv,
        findings=out,
        threshold=threshold,
        top_k=top_k,
        params=params,
        feedback=fp.feedback,
    )


# --------------------------------------------------------------------------------------------
# the store path
# --------------------------------------------------------------------------------------------
def scores_path(settings: Settings, window: str) -> Path:
    return fingerprints.scores_dir(settings, window) / "novelty.parquet"


def conversations_path(settings: Settings, window: str) -> Path:
    return fingerprints.scores_dir(settings, window) / "conversations.parquet"


def _write_parquet(path: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    table = table.replace_schema_metadata({"graphnet_novelty": json.dumps(meta, default=str)})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def _meta(ws: WindowScores) -> dict[str, Any]:
    return {
        "window": ws.window,
        "baseline_windows": ws.baseline_windows,
        "threshold": ws.threshold,
        "top_k": ws.top_k,
        "scale_bits": ws.params.scale_bits,
        "novel_p": ws.params.novel_p,
        "feedback": list(ws.feedback),
    }


def write_scores(settings: Settings, ws: WindowScores) -> Path:
    """Per-connection scores and per-conversation summary of a window, for reports (novelty
    vs uniqueness), `graphnet paths` and feedback."""
    path = scores_path(settings, ws.window)
    meta = _meta(ws)
    _write_parquet(path, ws.connections, meta)
    _write_parquet(conversations_path(settings, ws.window), ws.conversations, meta)
    return path


def load_scores(settings: Settings, window: str) -> WindowScores | None:
    """The scores written by score_window for a window (findings not included), or None."""
    path, cpath = scores_path(settings, window), conversations_path(settings, window)
    if not path.exists() or not cpath.exists():
        return None
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"graphnet_novelty", b"{}"))
    params = NoveltyParams(
        scale_bits=float(meta.get("scale_bits", 10.0)), novel_p=float(meta.get("novel_p", 0.01))
    )
    return WindowScores(
        window=window,
        baseline_windows=list(meta.get("baseline_windows", [])),
        connections=table.to_pandas(),
        conversations=pq.read_table(cpath).to_pandas(),
        findings=[],
        threshold=meta.get("threshold"),
        top_k=meta.get("top_k"),
        params=params,
        feedback=tuple(meta.get("feedback", [])),
    )


def latest_window(store: Store) -> str:
    present = [str(r["window"]) for r in store.read("windows_list")]
    if not present:
        raise NotEnoughHistory("the graph holds no windows", hint="ingest logs first")
    return present[-1]


@dataclass
class ScoreResult:
    window: str
    baseline_windows: list[str]
    connections: int
    pairs: int
    findings: list[Finding]
    scores: WindowScores = field(repr=False)
    scores_file: Path | None
    threshold: float | None
    top_k: int | None
    seconds: float
    fingerprint_seconds: float

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        fs = self.findings[:limit] if limit else self.findings
        return {
            "window": self.window,
            "baseline_windows": self.baseline_windows,
            "connections": self.connections,
            "pairs": self.pairs,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "findings_total": len(self.findings),
            "findings": [f.to_json() for f in fs],
            "scores_file": str(self.scores_file) if self.scores_file else None,
            "seconds": round(self.seconds, 3),
            "fingerprint_seconds": round(self.fingerprint_seconds, 3),
        }


def host_info(store: Store, hosts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Host.subnet and Host.internal of hosts (those the fingerprints do not know)."""
    if not len(hosts):
        return {}
    rows = store.read("fingerprint_host_subnets", ids=list(hosts))
    return {str(r["id"]): {"subnet": r["subnet"], "internal": r["internal"]} for r in rows}


def score_window(
    store: Store,
    window: str | None = None,
    settings: Settings | None = None,
    *,
    baseline: int = fingerprints.DEFAULT_BASELINE,
    threshold: float | None = DEFAULT_THRESHOLD,
    top_k: int | None = None,
    params: NoveltyParams | None = None,
    save: bool = True,
) -> ScoreResult:
    """`graphnet score [--window W]`: score every connection of W (default: the latest window)
    against fingerprints built from the `baseline` earlier windows (with benign feedback);
    store one `novel_connection` finding per deviating conversation (earlier unreviewed ones of
    W are replaced) and the per-connection scores.

    Raises NotEnoughHistory (no earlier window) or InputError (no archived connections)."""
    t0 = time.perf_counter()
    settings = settings or Settings.from_env()
    window = window or latest_window(store)
    windows.kind_of(window)
    fp = fingerprints.build_fingerprints(store, window, settings, baseline, save=save)
    t_fp = time.perf_counter() - t0
    conns = fingerprints.read_archive(settings, window)
    if conns.empty:
        raise InputError(
            f"no archived connections for window {window} under {settings.archive_dir}",
            hint="connection scoring reads the archive ingest writes; re-ingest the window's logs",
        )
    hosts = pd.unique(
        np.concatenate([conns["src"].to_numpy(dtype=object), conns["dst"].to_numpy(dtype=object)])
    )
    unknown = [str(h) for h, c in zip(hosts, fp.host_codes(hosts), strict=True) if c < 0]
    ws = score_frame(
        fp,
        conns,
        window,
        threshold=threshold,
        top_k=top_k,
        params=params,
        hosts_info=host_info(store, unknown),
        settings=settings,
    )
    path: Path | None = None
    if save:
        findings_mod.save(store, ws.findings, replace_kind=KIND, window=window)
        path = write_scores(settings, ws)
    secs = time.perf_counter() - t0
    log.info(
        "scored %d connections of %s in %.2fs: %d novel conversations",
        len(ws.connections),
        window,
        secs,
        len(ws.findings),
    )
    return ScoreResult(
        window=window,
        baseline_windows=fp.windows,
        connections=len(ws.connections),
        pairs=len(ws.conversations),
        findings=ws.findings,
        scores=ws,
        scores_file=path,
        threshold=threshold,
        top_k=top_k,
        seconds=secs,
        fingerprint_seconds=t_fp,
    )


# --------------------------------------------------------------------------------------------
# seeded synthetic traffic (tests, benchmarks, demos)
# --------------------------------------------------------------------------------------------
WEEK = 7 * 86400
# a Monday 00:00 UTC (2024-01-01)
EPOCH = 1704067200.0

_SERVICES: dict[str, tuple[str, str, int, str, str, float, float]] = {
    # name: proto, service, dport, conn_state, history, log2 src bytes, log2 dst bytes
    "https": ("tcp", "ssl", 443, "SF", "ShADadFf", 10.0, 14.0),
    "http": ("tcp", "http", 80, "SF", "ShADadFf", 9.0, 13.0),
    "dns": ("udp", "dns", 53, "SF", "Dd", 5.5, 7.0),
    "ldap": ("tcp", "ldap", 389, "SF", "ShADadFf", 9.0, 11.0),
    "smtp": ("tcp", "smtp", 25, "SF", "ShADadFf", 12.0, 8.0),
    "ntp": ("udp", "ntp", 123, "SF", "Dd", 5.6, 5.6),
    "smb": ("tcp", "smb", 445, "SF", "ShADadFf", 11.0, 12.0),
    "rdp": ("tcp", "rdp", 3389, "SF", "ShADadFf", 13.0, 16.0),
    "ssh": ("tcp", "ssh", 22, "SF", "ShADadFf", 11.0, 11.0),
    "kerberos": ("tcp", "krb", 88, "SF", "ShADadFf", 10.0, 10.0),
    "dead": ("tcp", "-", 8080, "S0", "S", -1.0, -1.0),
    "alt-http": ("tcp", "http", 8080, "SF", "ShADadFf", 9.0, 13.0),
}
_ODD_STATES = (("S0", "S"), ("REJ", "Sr"), ("RSTO", "ShADadR"), ("SF", "ShADadfF"))


@dataclass
class Plant:
    """What a synthetic network planted in its last window."""

    kind: str
    pairs: list[tuple[str, str]]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyntheticNetwork:
    frame: pd.DataFrame  # all windows, normalised connection table
    windows: list[str]
    plants: list[Plant]
    habits: pd.DataFrame  # the stable pairs

    @property
    def planted_pairs(self) -> list[tuple[str, str]]:
        return [p for plant in self.plants for p in plant.pairs]

    def window_frame(self, window: str) -> pd.DataFrame:
        win = windows.window_ids(self.frame["ts"].to_numpy(), "week").to_numpy()
        return self.frame[win == window].reset_index(drop=True)


def _conn_rows(
    rs: np.random.RandomState,
    src: str,
    dst: str,
    service: str,
    ts: np.ndarray,
    *,
    odd: float = 0.0,
    state: tuple[str, str] | None = None,
) -> dict[str, np.ndarray]:
    proto, svc, port, cs, hist, lsb, ldb = _SERVICES[service]
    n = len(ts)
    states = np.full(n, cs if state is None else state[0], dtype=object)
    hists = np.full(n, hist if state is None else state[1], dtype=object)
    if odd > 0 and proto == "tcp" and state is None:
        k = rs.rand(n) < odd
        pick = rs.randint(0, len(_ODD_STATES), n)
        states[k] = np.array([s for s, _ in _ODD_STATES], dtype=object)[pick[k]]
        hists[k] = np.array([h for _, h in _ODD_STATES], dtype=object)[pick[k]]
    no_reply = np.isin(states, ["S0", "REJ"])
    sb = np.where(lsb < 0, 0.0, np.round(np.exp2(lsb + rs.randn(n) * 0.6)))
    db = np.where((ldb < 0) | no_reply, 0.0, np.round(np.exp2(ldb + rs.randn(n) * 0.6)))
    sb = np.where(no_reply, 0.0, sb)
    sp = np.where(no_reply, np.where(states == "S0", 1.0, 1.0), np.ceil(sb / 900) + 3)
    dp = np.where(no_reply, np.where(states == "REJ", 1.0, 0.0), np.ceil(db / 1200) + 2)
    return {
        "ts": ts,
        "src": np.full(n, src, dtype=object),
        "dst": np.full(n, dst, dtype=object),
        "sport": rs.randint(49152, 65535, n).astype("int32"),
        "dport": np.full(n, port, dtype="int32"),
        "proto": np.full(n, proto, dtype=object),
        "service": np.full(n, svc, dtype=object),
        "duration": np.where(no_reply, np.nan, rs.exponential(2.0, n)),
        "src_bytes": sb,
        "dst_bytes": db,
        "src_pkts": sp,
        "dst_pkts": dp,
        "conn_state": states,
        "history": hists,
    }


def _times(rs: np.random.RandomState, start: float, n: int, peak: float) -> np.ndarray:
    day = rs.randint(0, 5, n)  # weekdays
    hour = np.clip(rs.normal(peak, 1.5, n), 0, 23.99)
    return start + day * 86400.0 + hour * 3600.0


def synthetic_network(
    seed: int = 0,
    *,
    n_windows: int = 5,
    n_clients: int = 40,
    n_servers: int = 8,
    conns_per_pair: tuple[int, int] = (20, 60),
    plant: bool = True,
    extra_windows: int = 0,
    repeat: int = 12,
) -> SyntheticNetwork:
    """A small enterprise with stable per-pair habits over `n_windows` weekly windows and, when
    `plant` is true, changes planted in window `n_windows` (1-based): completed handshakes on a
    pair whose connections always time out, a new protocol between two hosts that already
    talk, a lateral-movement chain A -> B -> C over SMB then RDP, and a new host talking to
    several known servers. `extra_windows` more windows repeat the habits (and the handshake
    change, `repeat` completed connections each), e.g. to test feedback on the next window.
    Addresses, ports and habits are drawn
    from the seed: tests must not rely on any particular one."""
    rs = np.random.RandomState(seed)
    octet = rs.permutation(np.arange(10, 250))
    clients = [f"10.{seed % 50}.1.{o}" for o in octet[:n_clients]]
    servers = [f"10.{seed % 50}.2.{o}" for o in octet[n_clients : n_clients + n_servers]]
    offered = {
        s: list(rs.choice(["https", "http", "ldap", "smtp", "smb", "kerberos"], 2, replace=False))
        for s in servers
    }
    dns = servers[0]
    offered[dns] = ["dns", "ntp"]
    habits = []
    for c in clients:
        peers = rs.choice(servers[1:], min(n_servers - 1, rs.randint(2, 5)), replace=False)
        habits.append((c, dns, "dns", float(rs.uniform(8, 14))))
        for s in peers:
            habits.append((c, s, str(rs.choice(offered[s])), float(rs.uniform(8, 17))))
    hab = pd.DataFrame(habits, columns=["src", "dst", "service", "peak"])
    # one pair whose connections always time out (a client trying a closed port)
    habit_pairs = set(zip(hab["src"], hab["dst"], strict=True))
    free = [(c, s) for c in clients for s in servers[1:] if (c, s) not in habit_pairs]
    dead_src, dead_dst = free[int(rs.randint(0, len(free)))]
    hab.loc[len(hab)] = (dead_src, dead_dst, "dead", 11.0)
    hab["rate"] = rs.randint(conns_per_pair[0], conns_per_pair[1] + 1, len(hab))

    total_windows = n_windows + extra_windows
    first = EPOCH + WEEK * int(rs.randint(0, 20))
    parts: list[dict[str, np.ndarray]] = []
    for w in range(total_windows):
        start = first + w * WEEK
        hab_rows: list[Any] = list(hab.itertuples())
        for r in hab_rows:
            n = max(1, int(rs.poisson(r.rate)))
            parts.append(
                _conn_rows(rs, r.src, r.dst, r.service, _times(rs, start, n, r.peak), odd=0.03)
            )
    plants: list[Plant] = []
    if plant:
        start = first + (n_windows - 1) * WEEK
        used = set(zip(hab["src"], hab["dst"], strict=True))
        # 1. handshake anomaly: the port of the dead pair now answers and some connections
        #    complete (also in the extra windows)
        for w in range(n_windows - 1, total_windows):
            s0 = first + w * WEEK
            n_sf = 4 if w == n_windows - 1 else repeat
            parts.append(_conn_rows(rs, dead_src, dead_dst, "alt-http", _times(rs, s0, n_sf, 11.0)))
        plants.append(Plant("handshake_anomaly", [(dead_src, dead_dst)]))
        # 2. new protocol between hosts that already talk
        talk = hab[(hab["service"].isin(["https", "http", "ldap"])) & (hab["src"] != dead_src)]
        pick: Any = talk.iloc[int(rs.randint(0, len(talk)))]
        parts.append(_conn_rows(rs, pick.src, pick.dst, "ssh", _times(rs, start, 6, pick.peak)))
        plants.append(Plant("new_protocol", [(pick.src, pick.dst)], {"service": "ssh"}))
        # 3. lateral movement: A -> B over SMB, then B -> C over RDP within the hour
        cand = [c for c in clients if c not in (dead_src, pick.src)]
        a, b = (str(x) for x in rs.choice(cand, 2, replace=False))
        fresh = [s for s in servers[1:] if (b, s) not in used]
        c = str(rs.choice(fresh or servers[1:]))
        t0 = start + 2 * 86400 + 14 * 3600 + float(rs.randint(0, 1800))
        parts.append(_conn_rows(rs, a, b, "smb", t0 + np.sort(rs.uniform(0, 300, 3))))
        parts.append(_conn_rows(rs, b, c, "rdp", t0 + 1200 + np.sort(rs.uniform(0, 300, 3))))
        plants.append(Plant("lateral_movement", [(a, b), (b, c)], {"t0": t0}))
        # 4. a new host talking to several known servers, on their usual services
        new = f"10.{seed % 50}.1.{int(octet[-1])}"
        targets = [str(s) for s in rs.choice(servers[1:], 3, replace=False)]
        for s in targets:
            parts.append(
                _conn_rows(rs, new, s, offered[s][0], _times(rs, start, 10, 12.0), odd=0.03)
            )
        plants.append(Plant("new_host", [(new, s) for s in targets]))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    frame = pd.DataFrame(cols).sort_values("ts", kind="stable").reset_index(drop=True)
    frame.insert(1, "uid", [f"C{seed:03d}{i:09d}" for i in range(len(frame))])
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    for c in ("uid", "src", "dst", "proto", "service", "conn_state", "history"):
        frame[c] = frame[c].astype(object)
    wins = sorted(pd.unique(windows.window_ids(frame["ts"].to_numpy(), "week")))
    return SyntheticNetwork(frame, [str(w) for w in wins], plants, hab)
