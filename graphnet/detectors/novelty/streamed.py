"""A window's connections scored out of core, by the analytical engine and in batches.

A connection's novelty depends only on its pair and its 13 component values, so the engine
groups the window's connections into their distinct combinations (`novelty_combos.sql`) and
Python scores each combination once, in batches of `BATCH` (`model.score_connections`), keeping
the scores in the engine (`novelty_keep.sql`). What depends on the whole window is computed
there too: the window p-values' counts (`novelty_pairs.sql`), each pair's runs of equally novel
connections, which stream through `conversations_from_runs`, and each host's highest scores
(`novelty_host_top.sql`). Only then are the connections themselves joined back, and only those
the results need: the novel connections of each conversation (kept in the engine by
`novelty_best.sql`, read by `novelty_novel.sql` last) and a systematic sample of the others for
the report's chart (`novelty_sample.sql`: every connection of a window of at most
`SAMPLE_ROWS`) — or every connection's score when the caller asks for it
(`novelty_conn_scores.sql`, the evaluation). Python holds a batch, the fingerprints and what
grows with pairs and hosts, never the window.

Ties are broken by time: a conversation's connections are ranked by conn_bits, then ts, then
uid (its novel ones are the first of that order, its most novel one the very first).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.archive import Archive, Session
from graphnet.config import Settings
from graphnet.detectors.novelty.backoff import places
from graphnet.detectors.novelty.conversations import conversations_from_runs, p_values
from graphnet.detectors.novelty.explain import explain, summarise
from graphnet.detectors.novelty.fingerprints import Fingerprints
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.model import score_connections
from graphnet.detectors.novelty.pairlevel import (
    APART_TABLES,
    LEVEL_SCHEMA,
    apart_results,
    pair_view,
)
from graphnet.detectors.novelty.parts import PARTS, NoveltyParams
from graphnet.detectors.novelty.scored import Scored
from graphnet.memory import return_free_memory

log = logging.getLogger(__name__)

#: combinations scored per batch
BATCH = 50_000
#: connections a window's stored scores keep besides the novel ones (a systematic sample)
SAMPLE_ROWS = 40_000
#: a source host's connections counted at most this many times in the window p-values
PER_GROUP = 100
#: the highest connection scores of a host that make its score
HOST_TOP = 20
#: hosts whose evidence (the explanation of their best connection) is given
EVIDENCE_HOSTS = 50
#: what is kept of each scored combination, besides its id and the part_* columns
KEPT = (
    "score",
    "bits",
    "conn_bits",
    "who_bits",
    "info_bits",
    "uniqueness",
    "top_component",
    "top_value",
    "explanation",
)
#: the per-connection columns of a window's scores, in order
COLUMNS = (
    "uid",
    "ts",
    "src",
    "dst",
    "score",
    "bits",
    "conn_bits",
    "who_bits",
    "p_value",
    "info_bits",
    "uniqueness",
    "top_component",
    "top_value",
    *(f"part_{q}" for q in PARTS),
    "explanation",
)

HostsInfo = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]


@dataclass
class Streamed:
    """What scoring an archived window gives: per conversation (all of them), per stored
    connection (the novel ones and a sample of the rest), per host, and every connection's
    score when asked for."""

    connections: pd.DataFrame  # COLUMNS + novel, rnk (1 = the pair's most novel), id
    conversations: pd.DataFrame  # per pair, see conversations_from_runs (+ first, last,
    #                               best_id), most novel first (`_ranked`)
    total: int  # connections of the window
    host_scores: pd.Series
    host_best: pd.DataFrame  # host, id: the combination of each top host's best connection
    combos: pd.DataFrame | None  # the explained combinations (best of pairs, hosts' best):
    #                               their scores, `rich` and `short` explanations (`_texts`)
    combo_ids: np.ndarray  # their ids, in the rows of `combos`
    conn_scores: pd.Series | None


class Handed:
    """Fingerprints handed over to the scoring (`score_archived`), which takes them (`take`)
    and lets them go as soon as it no longer needs them: once the explained combinations are
    rescored, before it reads the connections it keeps. The giver keeps no other reference, so
    that their memory (at 32 M connections a week, most of what the process holds) is freed
    then, not when the scoring returns."""

    def __init__(self, fingerprints: Fingerprints) -> None:
        self.fingerprints: Fingerprints | None = fingerprints

    def peek(self) -> Fingerprints:
        """The fingerprints, still held here."""
        if self.fingerprints is None:
            raise ValueError("the fingerprints handed over were already taken")
        return self.fingerprints

    def take(self) -> Fingerprints:
        """The fingerprints, forgotten here."""
        fp = self.peek()
        self.fingerprints = None
        return fp


def _frame(table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """An engine result as a frame."""
    return table.to_pandas()


def _objects(table: pa.Table, name: str) -> np.ndarray:
    """A string column as a numpy array of Python strings."""
    out: np.ndarray = table.column(name).to_numpy(zero_copy_only=False).astype(object)
    return out


def _view(
    s: Session,
    fp: Fingerprints,
    page: pa.Table,
    hosts_info: Mapping[str, Mapping[str, Any]],
    settings: Settings,
) -> Fingerprints:
    """The fingerprints a batch is scored against: `fp` itself when it holds all its levels,
    else a view of the batch's pairs, subnet pairs and hosts, read from the stored levels
    (`APART_QUERIES`)."""
    if "pair" not in fp.apart:
        return fp
    s_ids, d_ids = _objects(page, "src"), _objects(page, "dst")
    src, dst = fp.host_codes(s_ids), fp.host_codes(d_ids)
    codes = fp.pair_codes(src, dst)
    sel = np.unique(codes[codes >= 0])
    rows = read_apart(s, "pair", sel)
    # the sources' client level, the destinations' server level (of the batch's known pairs
    # too: their ends are among them)
    hosts = {}
    for lvl, ends in (("client", src), ("server", dst)):
        if lvl in fp.apart:
            known = np.unique(ends[ends >= 0])
            hosts[lvl] = (known, read_apart(s, lvl, known))
    if "subnet_pair" not in fp.apart:
        return pair_view(fp, sel, rows, hosts=hosts)
    # the subnet pairs of the batch's connections (new hosts placed as scoring places them)
    # and of its known pairs
    s_sub, _ = places(fp, s_ids, src, hosts_info, settings)
    d_sub, _ = places(fp, d_ids, dst, hosts_info, settings)
    sp = fp.subnet_pair_codes(s_sub, d_sub)
    sp_sel = np.union1d(sp[sp >= 0], fp.pairs["sp"].to_numpy()[sel])
    return pair_view(fp, sel, rows, sp_sel, read_apart(s, "subnet_pair", sp_sel), hosts)


#: the statement reading each level kept apart: named after the table it reads, bound by
#: `pairlevel.apart_results` (`novelty_fp_pairs.sql` reads `fp_pairs`, ...)
APART_QUERIES = {lvl: f"novelty_{table}" for lvl, table in APART_TABLES.items()}


def read_apart(s: Session, lvl: str, sel: np.ndarray) -> pa.Table:
    """The stored rows (LEVEL_SCHEMA) of the keys `sel` (sorted codes) of the level `lvl`
    kept apart, by key, comp and value."""
    if not len(sel):
        return LEVEL_SCHEMA.empty_table()
    s.lookup("novelty_fp_sel", pa.table({"key": pa.array(sel, type=pa.int64())}))
    return s.table(APART_QUERIES[lvl], {"lo": int(sel[0]), "hi": int(sel[-1])})


def _score_batch(
    fp: Fingerprints,
    page: pa.Table,
    params: NoveltyParams,
    hosts_info: Mapping[str, Mapping[str, Any]],
    settings: Settings,
) -> Scored:
    """Score combinations (rows of `novelty_combos`) as if each were one connection (`fp`: a
    view holding the pairs of the batch, when the pair level is stored apart)."""
    conns = pd.DataFrame(
        {
            "uid": page.column("id").to_numpy(),
            "ts": page.column("first_ts").to_numpy(),
            "src": _objects(page, "src"),
            "dst": _objects(page, "dst"),
        }
    )
    comps = pd.DataFrame({c: _objects(page, c) for c in COMPONENTS})
    return score_connections(
        fp,
        conns,
        params,
        comps=comps,
        hosts_info=hosts_info,
        settings=settings,
        explain_threshold=None,
    )


def _texts(scored: Scored) -> pd.DataFrame:
    """The explained combinations' scores with their full explanations (`rich`, `explain`)
    and short summaries (`short`, `summarise`), made at once: the scores hold the view of the
    fingerprints they were scored against (their pairs', hosts' and subnet pairs' stored rows),
    which is then let go rather than held until the findings are made. A row's texts depend
    on that row alone."""
    every = np.arange(len(scored.frame))
    out = scored.frame.copy(deep=False)  # copy-on-write: the new columns are out's alone
    out["rich"] = explain(scored, rows=every)
    out["short"] = summarise(scored, every)
    return out


def _kept(scored: Scored) -> pa.Table:
    """The scores of a batch as kept in the engine: id, KEPT and the parts."""
    f = scored.frame
    cols: dict[str, pa.Array] = {"id": pa.array(f["uid"].to_numpy(dtype=np.int64))}
    for c in KEPT:
        if c in ("top_component", "top_value", "explanation"):
            cols[c] = pa.array(f[c].to_numpy(dtype=object), type=pa.string())
        else:
            cols[c] = pa.array(f[c].to_numpy(dtype="float64"), type=pa.float64())
    for i, q in enumerate(PARTS):
        cols[f"part_{q}"] = pa.array(np.ascontiguousarray(scored.parts[:, i]), type=pa.float64())
    return pa.table(cols)


def _conversation_runs(
    batches: Iterator[pa.RecordBatch], total: int, params: NoveltyParams
) -> list[pd.DataFrame]:
    """Stream `novelty_pairs` through `conversations_from_runs`, a pair never split between
    two calls (the rows of the last pair of a batch wait for the next one): the
    conversations, in parts (`_ranked` joins them)."""
    out: list[pd.DataFrame] = []
    carry: pd.DataFrame | None = None
    names = ["src", "dst", "conn_bits", "who_bits", "n", "counted"]
    for batch in batches:
        f = _frame(batch)[names]
        if carry is not None:
            f = pd.concat([carry, f], ignore_index=True)
        if f.empty:
            continue
        # the last pair's rows, compared as the frame holds the names (no string made a row)
        same = ((f["src"] == f["src"].iloc[-1]) & (f["dst"] == f["dst"].iloc[-1])).to_numpy(
            dtype=bool
        )
        cut = len(f) - int(np.argmin(same[::-1])) if not same.all() else 0
        carry = f.iloc[cut:]
        done = f.iloc[:cut]
        if len(done):
            out.append(_runs(done, total, params))
    if carry is not None and len(carry):
        out.append(_runs(carry, total, params))
    if not out:
        empty = {c: pd.Series([], dtype="str" if c in ("src", "dst") else "float64") for c in names}
        out.append(_runs(pd.DataFrame(empty), total, params))
    return out


def _ranked(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The conversations of `parts` in one frame, most novel first (ties by src, then dst,
    as `conversations` orders them), `parts` emptied. The order comes from the keys alone
    (Arrow's sort, over the strings as the parts hold them), then each column is joined, put
    in order and its parts let go: the conversations are held once and a column more, where
    joining them and then sorting the joined frame would hold them twice, each time."""
    keys = pa.table(
        {
            "bits": pa.chunked_array(
                [pa.array(p["bits"].to_numpy(dtype="float64")) for p in parts], pa.float64()
            ),
            "src": pa.chunked_array([_strings(p["src"]) for p in parts], pa.large_string()),
            "dst": pa.chunked_array([_strings(p["dst"]) for p in parts], pa.large_string()),
        }
    )
    order = pc.sort_indices(
        keys, sort_keys=[("bits", "descending"), ("src", "ascending"), ("dst", "ascending")]
    ).to_numpy()
    del keys
    cols: dict[str, pd.Series] = {}
    for c in list(parts[0].columns):
        joined = pd.concat([p[c] for p in parts], ignore_index=True)
        for p in parts:
            del p[c]
        cols[c] = joined.take(order).reset_index(drop=True)
        del joined
    parts.clear()
    return pd.DataFrame(cols, copy=False)


def _runs(f: pd.DataFrame, total: int, params: NoveltyParams) -> pd.DataFrame:
    """`conversations_from_runs` of complete pairs, their src and dst held as Arrow strings
    (as Python strings, each conversation's ends would take about 65 bytes each). The pairs
    are told apart by number (a new one where src or dst changes: the rows come by pair), so
    that no Python string is made per row: made and let go by the million, they would leave
    Python's small-object arenas holding the memory freed around the objects kept."""
    src, dst = _strings(f["src"]), _strings(f["dst"])
    change = np.ones(len(f), dtype=bool)
    if len(f) > 1:
        change[1:] = pc.or_(
            pc.not_equal(src[1:], src[:-1]), pc.not_equal(dst[1:], dst[:-1])
        ).to_numpy(zero_copy_only=False)
    pair = np.cumsum(change) - 1
    out = conversations_from_runs(
        pair,
        np.zeros(len(f), dtype=np.int64),
        f["conn_bits"].to_numpy(dtype="float64"),
        f["who_bits"].to_numpy(dtype="float64"),
        f["n"].to_numpy(dtype=np.int64),
        f["counted"].to_numpy(dtype="float64"),
        total,
        params,
    )
    starts = pa.array(np.flatnonzero(change), type=pa.int64())
    for c, names in (("src", src), ("dst", dst)):
        out[c] = pd.array(names.take(starts), dtype="str")
    return out


def _bounds(conv: pd.DataFrame, wanted: np.ndarray) -> pa.Table:
    """The conversations with novel connections, and the `wanted` ones (by their row `pos`):
    how many novel, and down to which conn_bits."""
    pos = np.flatnonzero((conv["novel"].to_numpy() > 0) | wanted)
    conv = conv.iloc[pos]
    return pa.table(
        {
            "pos": pa.array(pos.astype(np.int64)),
            "src": _strings(conv["src"]),
            "dst": _strings(conv["dst"]),
            "k": pa.array(conv["novel"].to_numpy(dtype=np.int64)),
            "level": pa.array(conv["level"].to_numpy(dtype="float64")),
            "everything": pa.array(conv["everything"].to_numpy(dtype=bool)),
        }
    )


def _rows(table: pa.Table, total: int) -> pd.DataFrame:
    """Joined-back connections with their scores -> COLUMNS (+ whatever else they have), a
    block per column (so that `_stored` can let each go once it is taken). Consumes `table`:
    each of its columns is let go once converted."""
    f = table.to_pandas(split_blocks=True, self_destruct=True)
    f["p_value"] = p_values(
        f["conn_bits"].to_numpy(dtype="float64"), f["counted"].to_numpy(dtype="float64"), total
    )
    return f


def score_archived(
    archive: Archive,
    fp: Fingerprints | Handed,
    window: str,
    params: NoveltyParams,
    settings: Settings,
    *,
    hosts_info: HostsInfo | None = None,
    per_connection: bool = False,
    reported: Callable[[pd.DataFrame], np.ndarray] | None = None,
    batch: int = BATCH,
    sample_rows: int = SAMPLE_ROWS,
) -> Streamed:
    """Score every connection of an archived window against `fp`, out of core (see the module
    docstring). `hosts_info` gives Host.subnet / Host.internal of the hosts the fingerprints do
    not know; `reported(conversations)` (most novel first, `_ranked`) which conversations
    make findings (their most novel connection is fetched and explained even without novel
    ones, with the hosts' best). Fingerprints `Handed` over are let go once no longer needed."""
    fp = fp.take() if isinstance(fp, Handed) else fp
    results = apart_results(fp)
    with archive.session({"conns": [window]}, parts=["conns"], results=results) as s:
        info = s.table("novelty_combos").to_pylist()[0]
        n_combos, total = int(info["combos"]), int(info["connections"])
        if total == 0:
            return _empty(per_connection)
        seen = s.table("novelty_hosts_seen").column("host").to_pylist()
        known = fp.host_codes(np.asarray(seen, dtype=object))
        unknown = [str(h) for h, c in zip(seen, known, strict=True) if c < 0]
        extra = dict(hosts_info(unknown)) if hosts_info is not None and unknown else {}
        for lo in range(0, n_combos, batch):
            page = s.table("novelty_page", {"lo": lo, "hi": lo + batch})
            scored = _score_batch(
                _view(s, fp, page, extra, settings), page, params, extra, settings
            )
            del page
            s.lookup("novelty_batch", _kept(scored))
            s.scalar("novelty_keep")
            # a batch's scores hold its view of the fingerprints (the batch's pair rows and
            # the lookup tables made from them): gone before the next batch's view is made,
            # and the last one before the conversations
            del scored
        log.debug("%s: %d connections in %d combinations scored", window, total, n_combos)
        # ranked now, while little else is held: the step keeps this order (no sorted copy
        # beside the kept connections later), each column put in order as it is joined
        conv = _ranked(
            _conversation_runs(s.batches("novelty_pairs", {"per_group": PER_GROUP}), total, params)
        )
        wanted = reported(conv) if reported else np.zeros(len(conv), dtype=bool)
        s.lookup("novelty_bounds", _bounds(conv, wanted))
        # what making the conversations freed goes back to the system before the engine
        # takes its whole limit again for the join back
        return_free_memory()
        best = s.table("novelty_best")  # keeps the novel rows (`novelty_novel_rows`)
        # the rest builds frames in Python (next to the conversations and the fingerprints)
        # from small results: the engine keeps its temporary tables (scored combinations,
        # novel rows) on disk meanwhile
        with s.lean():
            conv = _with_best(conv, best)
            del best
            step = max(1, math.ceil(total / max(sample_rows, 1)))
            sample = _rows(s.table("novelty_sample", {"step": step}), total).assign(novel=False)
            top = _frame(s.table("novelty_host_top", {"top": HOST_TOP}))
            hs, host_best = _host_scores(top)
            ids = np.unique(
                np.concatenate(
                    [
                        host_best["id"].to_numpy(dtype=np.int64),
                        conv.loc[wanted, "best_id"].to_numpy(dtype=np.int64),
                    ]
                )
            )
            s.lookup("novelty_ids", pa.table({"id": pa.array(ids, type=pa.int64())}))
            rows = s.table("novelty_combo_rows")
            combos = (
                _texts(
                    _score_batch(_view(s, fp, rows, extra, settings), rows, params, extra, settings)
                )
                if rows.num_rows
                else None
            )
            # the fingerprints are needed no more: freed here when they were handed over
            del fp
            conn_scores = None
            if per_connection:
                parts = [_frame(b) for b in s.batches("novelty_conn_scores")]
                got = (
                    pd.concat(parts, ignore_index=True)
                    if parts
                    else pd.DataFrame({"uid": [], "score": []})
                )
                conn_scores = pd.Series(
                    got["score"].to_numpy(dtype="float64"),
                    index=got["uid"].astype(str).to_numpy(),
                )
            # the novel rows last: of all the block reads, only `_stored` needs them; made a
            # frame once the session has ended (the engine's memory is the system's again).
            # Held in a list emptied as it is handed to `_rows`: its reference is the only one
            held = [s.table("novelty_novel")]
    # what the session and the batches freed goes back to the system before the kept
    # connections are made (the C heap would keep it, and the step's peak with it)
    return_free_memory()
    novel = _rows(held.pop(), total)
    # the engine's result, let go column by column as it was converted, goes back too
    return_free_memory()
    stored = _stored(novel, sample)
    return Streamed(
        connections=stored,
        conversations=conv,
        total=total,
        host_scores=hs,
        host_best=host_best,
        combos=combos,
        combo_ids=rows.column("id").to_numpy().astype(np.int64),
        conn_scores=conn_scores,
    )


def _with_best(conv: pd.DataFrame, best: pa.Table) -> pd.DataFrame:
    """Conversations with the first and last time of their novel connections (NaN without)
    and the id of the combination of their most novel connection (`best_id`, -1 when it was
    not fetched), from `novelty_best` (by row)."""
    out = conv.copy(deep=False)  # copy-on-write: the new columns are out's alone
    pos = best.column("pos").to_numpy()
    for col, name, empty in (("first", "first_ts", np.nan), ("last", "last_ts", np.nan)):
        values = np.full(len(out), empty)
        values[pos] = best.column(name).cast(pa.float64()).fill_null(empty).to_numpy()
        out[col] = values
    best_id = np.full(len(out), -1, dtype=np.int64)
    best_id[pos] = best.column("best_id").fill_null(-1).to_numpy()
    out["best_id"] = best_id
    return out


def _among(values: pd.Series, among: pd.Series) -> np.ndarray:
    """Which of the strings `values` are among the strings `among`, by Arrow's `is_in`, over
    the strings as the frames hold them (pandas' `isin` of millions of strings holds about 400
    bytes per string of `among` in Python objects, and the heap keeps them). The hash table is
    made of the shorter side: of `among`, only those among `values` are hashed when `among`
    is the longer."""
    if not len(values) or not len(among):
        return np.zeros(len(values), dtype=bool)
    v, a = _strings(values), _strings(among)
    if len(a) > len(v):
        a = a.filter(pc.is_in(a, value_set=v))
    found = pc.is_in(v, value_set=a)
    out: np.ndarray = found.to_numpy(zero_copy_only=False).astype(bool)
    return out


def _strings(values: pd.Series) -> pa.Array:
    """A string column as Arrow large strings (without a copy when the frame holds them so)."""
    out: pa.Array = pa.array(values, type=pa.large_string())
    return out


def _stored(novel: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """The connections kept: the novel ones (and the most novel one of the conversations that
    make findings without any), then the sampled others, in (ts, uid) order. Consumes `novel`:
    each of its columns is let go once taken (a block per column, `_rows`), and the pages Arrow
    held it in are handed back at once (its numbers are Arrow's memory, the taken copies the C
    heap's: one could not reuse the other), so that the kept rows are not held twice."""
    rest = sample[~_among(sample["uid"], novel["uid"])].copy()
    rest["rnk"] = 0

    def both(col: str) -> pd.Series:
        return pd.concat([novel[col], rest[col]], ignore_index=True)

    # the order from the keys alone (Arrow's stable sort, over the strings as the frames
    # hold them: pandas' sort of millions of uids holds a copy of them as it factorises),
    # then each column taken once
    keys = pa.table(
        {
            "ts": pa.chunked_array(
                [pa.array(f["ts"], type=pa.float64()) for f in (novel, rest)], pa.float64()
            ),
            "uid": pa.chunked_array([_strings(f["uid"]) for f in (novel, rest)], pa.large_string()),
        }
    )
    order = pc.sort_indices(keys, sort_keys=[("ts", "ascending"), ("uid", "ascending")])
    order = order.to_numpy()
    del keys
    cols: dict[str, pd.Series] = {}
    for c in (*COLUMNS, "novel", "rnk", "id"):
        cols[c] = both(c).take(order).reset_index(drop=True)
        del novel[c]
        pa.default_memory_pool().release_unused()
    return pd.DataFrame(cols, copy=False)


def top_mean(hosts: np.ndarray, scores: np.ndarray, top: int = HOST_TOP) -> pd.Series:
    """Per host: mean of its `top` highest scores (missing ones count 0), highest first."""
    frame = pd.DataFrame({"host": hosts, "score": scores})
    frame = frame.sort_values(["host", "score"], ascending=[True, False], kind="stable")
    frame = frame[frame.groupby("host", sort=False).cumcount() < top]
    return (frame.groupby("host")["score"].sum() / top).sort_values(ascending=False)


def _host_scores(top: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Per host: the mean of its HOST_TOP highest connection scores (missing ones count 0),
    highest first (`top_mean` of those scores), and the combination of its best connection for the
    EVIDENCE_HOSTS highest."""
    if top.empty:
        return pd.Series(dtype="float64"), pd.DataFrame({"host": [], "id": []})
    copies = top["copies"].to_numpy(dtype=np.int64)
    hosts = np.repeat(top["host"].astype(str).to_numpy(dtype=object), copies)
    scores = np.repeat(top["score"].to_numpy(dtype="float64"), copies)
    hs = top_mean(hosts, scores)
    first = top.drop_duplicates("host").assign(host=lambda t: t["host"].astype(str))
    first = first.set_index("host").reindex(hs.index[:EVIDENCE_HOSTS])
    best = pd.DataFrame(
        {"host": first.index.to_numpy(dtype=object), "id": first["id"].to_numpy(dtype=np.int64)}
    )
    return hs, best


def _empty(per_connection: bool) -> Streamed:
    conv = conversations_from_runs(
        np.zeros(0, object),
        np.zeros(0, object),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0, np.int64),
        np.zeros(0),
        0,
        NoveltyParams(),
    )
    conv["first"] = conv["last"] = np.zeros(0)
    conv["best_id"] = np.zeros(0, dtype=np.int64)
    conns = pd.DataFrame({c: [] for c in (*COLUMNS, "novel", "rnk", "id")})
    return Streamed(
        connections=conns,
        conversations=conv,
        total=0,
        host_scores=pd.Series(dtype="float64"),
        host_best=pd.DataFrame({"host": [], "id": []}),
        combos=None,
        combo_ids=np.zeros(0, np.int64),
        conn_scores=pd.Series(dtype="float64") if per_connection else None,
    )


def explained(streamed: Streamed, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full explanations and short summaries of the given combinations (`explain`,
    `summarise` on their rescoring, made with it: `_texts`)."""
    if streamed.combos is None or not len(ids):
        empty = np.full(len(ids), "", dtype=object)
        return empty, empty.copy()
    pos = pd.Index(streamed.combo_ids).get_indexer(ids)
    if (pos < 0).any():
        raise KeyError("a combination to explain was not fetched")
    rich = streamed.combos["rich"].to_numpy(dtype=object)[pos]
    short = streamed.combos["short"].to_numpy(dtype=object)[pos]
    return rich, short
