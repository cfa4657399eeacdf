"""A fingerprint's biggest levels out of memory: stored rows, and views of the keys a batch
needs.

The pair level, the subnet-pair level (a subnet is a /24: the external peers of a network
spread over so many that a subnet pair seldom holds more than a few pairs) and the two host
levels (client, server) are written as rows of `LEVEL_SCHEMA` (key code, component, value
code, count, folded-value estimate): from a whole fingerprint (`level_rows`) or one component
at a time as `build(sinks=...)` makes them (`level_batches`); the caller stores them as
results through the archive door (see `baseline`). `detach_levels` then drops them from the
fingerprint, which keeps per pair only its key and its row of `pairs`, per subnet pair its key
and its new-pair rates, per host its codes (`fingerprints.detached`). Scoring reads back the
rows of the pairs, subnet pairs and hosts of each batch and scores against a view of the
fingerprint holding only those (`pair_view`), which gives what the whole fingerprint gives for
them: each key's numbers (connections, entropy, the 'other' bucket) are made again from its
rows, in the order the build made them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pyarrow as pa

from graphnet.detectors.novelty.fingerprints import (
    HOST_LEVELS,
    Fingerprints,
    LevelHist,
    _aggregate,
    detached,
)
from graphnet.detectors.novelty.histograms import COMPONENTS, FOLDED, OTHER

#: the levels that can be stored apart
APART: tuple[str, ...] = ("pair", "subnet_pair", *HOST_LEVELS)
#: the name each level stored apart is bound to in a session (`apart_results`)
APART_TABLES = {
    "pair": "fp_pairs",
    "subnet_pair": "fp_subnet_pairs",
    "client": "fp_clients",
    "server": "fp_servers",
}
#: a level as rows: key code (a pair, a subnet pair, a host), component (position in COMPONENTS),
#: value code, count, and the key's estimate of distinct values folded into 'other' (1 when
#: none)
LEVEL_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("comp", pa.int8()),
        ("value", pa.int64()),
        ("n", pa.float64()),
        ("m", pa.float64()),
    ]
)


def level_batches(ci: int, lh: LevelHist, chunk: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """One component's level (`ci`: its position in COMPONENTS) as LEVEL_SCHEMA rows, by
    (key, value), `chunk` rows at a time (`build(sinks=...)` stores them)."""
    for a in range(0, len(lh.keys), max(chunk, 1)):
        keys = lh.keys[a : a + chunk]
        k = keys // lh.V
        yield pa.record_batch(
            [
                pa.array(k),
                pa.array(np.full(len(keys), ci, dtype=np.int8)),
                pa.array(keys % lh.V),
                pa.array(lh.n[a : a + chunk]),
                pa.array(np.asarray(lh.other_m, dtype="float64")[k]),
            ],
            schema=LEVEL_SCHEMA,
        )


def level_rows(fp: Fingerprints, lvl: str) -> Iterator[pa.RecordBatch]:
    """The level `lvl` of every component of a whole fingerprint as LEVEL_SCHEMA rows."""
    for ci, comp in enumerate(COMPONENTS):
        yield from level_batches(ci, fp.levels[comp][lvl])


def detach_levels(fp: Fingerprints, where: dict[str, tuple[str, str]]) -> None:
    """Drop the levels of `where` (APART levels) from `fp`: their rows were stored as the
    results `where[lvl]` = (window, name), from `level_rows`."""
    for lvl, result in where.items():
        if lvl not in APART:
            raise ValueError(f"the {lvl} level is not stored apart")
        whole: dict[str, bool] = {}
        for comp in COMPONENTS:
            lh = fp.levels[comp][lvl]
            whole[comp] = lh.whole()
            fp.levels[comp][lvl] = detached(lh)
        fp.meta.setdefault("whole", {})[lvl] = whole
        fp.apart[lvl] = result
    for cached in ("_pair_weights", "_pair_coefficients"):
        fp.meta.pop(cached, None)


def apart_results(fp: Fingerprints) -> dict[str, tuple[str, str]]:
    """The stored results of the levels of `fp` kept apart, bound under the names the
    statements read (`APART_TABLES`: `novelty_fp_pairs.sql` and its siblings)."""
    return {APART_TABLES[lvl]: result for lvl, result in fp.apart.items()}


def _level_of(
    fp: Fingerprints, lvl: str, sel: np.ndarray, rows: pa.Table, indexed: bool = False
) -> dict[str, LevelHist]:
    """Per component, the level `lvl` of the keys `sel` (sorted global key codes) made of
    their stored rows (LEVEL_SCHEMA, by key, comp, value), with keys numbered by their
    position in `sel`: each key's numbers come from its own rows, summed in the same order as
    when the level was made. `indexed`: the level is still asked by global codes
    (`LevelHist.index`, a host level: hosts keep the fingerprint's codes)."""
    key = rows.column("key").to_numpy()
    local = np.searchsorted(sel, key).astype(np.int64)
    comp_col = rows.column("comp").to_numpy()
    value = rows.column("value").to_numpy().astype(np.int64)
    n = rows.column("n").to_numpy()
    m = rows.column("m").to_numpy()
    out: dict[str, LevelHist] = {}
    for ci, comp in enumerate(COMPONENTS):
        mask = comp_col == ci
        voc = fp.vocab[comp]
        other_code = (
            int(np.flatnonzero(voc == OTHER)[0]) if (comp in FOLDED and OTHER in voc) else -1
        )
        m_key = None
        if other_code >= 0:
            m_key = np.zeros(len(sel))
            np.maximum.at(m_key, local[mask], m[mask])
        V = fp.levels[comp][lvl].V
        lh = _aggregate(local[mask], value[mask], n[mask], len(sel), V, other_code, m_key)
        out[comp] = replace(lh, index=sel) if indexed else lh
    return out


def pair_view(
    fp: Fingerprints,
    sel: np.ndarray,
    rows: pa.Table,
    sp_sel: np.ndarray | None = None,
    sp_rows: pa.Table | None = None,
    hosts: dict[str, tuple[np.ndarray, pa.Table]] | None = None,
) -> Fingerprints:
    """`fp` restricted to the pairs `sel` (sorted global pair codes), their pair level made of
    their stored rows (LEVEL_SCHEMA, by key, comp, value): scoring through the view gives what
    the whole fingerprint gives for those pairs. Pair codes of the view are positions in `sel`.

    When the subnet-pair level is stored apart too (`fp.apart`), `sp_sel` (sorted
    global subnet-pair codes: at least those of the pairs `sel` and of the connections to
    score) and their rows `sp_rows` make the view's subnet-pair level, numbered likewise;
    without them the view's subnet-pair level stays apart (enough for the pair level's Neo4j
    rows, not for scoring).

    When the host levels are stored apart too, `hosts` gives per host level the hosts it needs
    (sorted host codes: at least the sources (client) and destinations (server) of the pairs
    `sel` and of the connections to score) and their stored rows; the view's host levels are
    asked by the fingerprint's own host codes (`LevelHist.index`), and asking one for a host
    it does not hold is an error. A host level not given stays apart in the view."""
    sel = np.asarray(sel, dtype=np.int64)
    by_pair = _level_of(fp, "pair", sel, rows)
    levels = {comp: {**fp.levels[comp], "pair": by_pair[comp]} for comp in COMPONENTS}
    pairs = fp.pairs.iloc[sel].reset_index(drop=True)
    sp_keys, who = fp.sp_keys, fp.who
    apart = {lvl: r for lvl, r in fp.apart.items() if lvl != "pair"}
    if sp_sel is not None and sp_rows is not None and "subnet_pair" in fp.apart:
        sp_sel = np.asarray(sp_sel, dtype=np.int64)
        by_sp = _level_of(fp, "subnet_pair", sp_sel, sp_rows)
        for comp in COMPONENTS:
            levels[comp]["subnet_pair"] = by_sp[comp]
        pair_sp = pairs["sp"].to_numpy()
        local = np.searchsorted(sp_sel, pair_sp)
        if len(local) and not (
            len(sp_sel) and np.array_equal(sp_sel[np.minimum(local, len(sp_sel) - 1)], pair_sp)
        ):
            raise ValueError("a pair's subnet pair is not among the subnet pairs of the view")
        pairs["sp"] = local.astype(np.int64)
        who = {
            k: (np.asarray(v)[sp_sel] if k in ("sp_new", "sp_opp") else v)
            for k, v in fp.who.items()
        }
        sp_keys = fp.sp_keys[sp_sel]
        del apart["subnet_pair"]
    for lvl, (host_sel, host_rows) in (hosts or {}).items():
        if lvl not in HOST_LEVELS or lvl not in fp.apart:
            raise ValueError(f"the {lvl} level is not a host level stored apart")
        by_host = _level_of(fp, lvl, np.asarray(host_sel, dtype=np.int64), host_rows, indexed=True)
        for comp in COMPONENTS:
            levels[comp][lvl] = by_host[comp]
        del apart[lvl]
    return replace(
        fp,
        pair_keys=fp.pair_keys[sel],
        pairs=pairs,
        sp_keys=sp_keys,
        who=who,
        levels=levels,
        meta={},
        apart=apart,
        peer_pairs=fp.pairs if fp.peer_pairs is None else fp.peer_pairs,
    )
