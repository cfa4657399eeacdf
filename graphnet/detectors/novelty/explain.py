"""Explanations of novel connections in words: phrases for component values, a sentence
per novel part (what is new, what the pair or its hosts usually do), and short summaries of
what is novel about a connection or a conversation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from graphnet import features
from graphnet.detectors.novelty.fingerprints import Fingerprints
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.parts import PARTS, WHO_PARTS, representatives
from graphnet.detectors.novelty.scored import Scored


def phrase(comp: str, value: str) -> str:
    """A component value as words: 'connection state ... (SF)', 'port 445', ..."""
    text = features.describe_value(comp, value)
    if comp == "conn_state":
        return f"connection state {text}"
    return text


def _pct(x: float) -> str:
    if x >= 0.995 or x == 0:
        return f"{x:.0%}"
    if x < 0.01:
        return f"{x:.2%}"
    return f"{x:.0%}"


def _describe_part(
    fp: Fingerprints,
    name: str,
    value: str,
    src: str,
    dst: str,
    src_fp: int,
    dst_fp: int,
    pair: int,
) -> str:
    k = len(fp.windows)
    wins = f"{k} baseline window{'s' if k != 1 else ''}"
    if name == "new_host":
        texts = []
        is_src = np.asarray(fp.who.get("is_src", np.zeros(0, dtype=bool)))
        is_dst = np.asarray(fp.who.get("is_dst", np.zeros(0, dtype=bool)))
        if src_fp < 0:
            texts.append(f"{src} is a new host (not seen in the {wins})")
        elif not is_src[src_fp]:
            texts.append(f"{src} initiates connections for the first time (in the {wins})")
        if dst_fp < 0:
            texts.append(f"{dst} is a new host (not seen in the {wins})")
        elif not is_dst[dst_fp]:
            texts.append(f"{dst} receives connections for the first time (in the {wins})")
        return "; ".join(texts)
    if name == "new_pair":
        text = f"{src}→{dst} is a new pair (never seen in the {wins})"
        if src_fp >= 0:
            every = fp.pairs if fp.peer_pairs is None else fp.peer_pairs  # a view: all pairs
            peers = every[every["src"] == src_fp].nlargest(3, "conns")
            names = [str(fp.hosts[int(d)]) for d in peers["dst"]]
            if names:
                text += f"; {src} usually talks to {', '.join(names)}"
        return text
    pv = phrase(name, value)
    if pair >= 0:
        dist = fp.distribution(name, "pair", pair)
        N = sum(c for _, c in dist)
        if N > 0 and dist:
            top_v, top_n = dist[0]
            seen = dict(dist).get(value, 0.0)
            text = (
                f"{pv}; for {src}→{dst}, {_pct(top_n / N)} of {N:,.0f} earlier connections "
                f"had {phrase(name, top_v)}"
            )
            if top_v != value:
                text += f" and {_pct(seen / N)} had this" if seen else " and none had this"
            return text
    for level, key, who in (
        ("server", dst_fp, f"{dst}'s incoming"),
        ("client", src_fp, f"{src}'s outgoing"),
    ):
        if key >= 0:
            dist = fp.distribution(name, level, key)
            N = sum(c for _, c in dist)
            if N > 0:
                seen = dict(dist).get(value, 0.0)
                return (
                    f"{pv}; {src}→{dst} has no history, and {_pct(seen / N)} of {N:,.0f} "
                    f"earlier {who} connections had this"
                )
    return f"{pv}; neither {src} nor {dst} has history"


def explain(
    scored: Scored,
    threshold: float | None = 0.5,
    max_parts: int = 3,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Sentences for each connection: full ones (what is new, what the pair usually does) for
    the given `rows` (positions) or those with score >= threshold, a short one for the rest.
    Loops run over distinct (pair, part, value) combinations of the explained rows, not over
    connections."""
    f = scored.frame
    n = len(f)
    out = np.full(n, "as usual for this pair", dtype=object)
    parts = scored.parts
    if n == 0:
        return out
    short = scored.extra.get("short")
    if short is not None:
        out = np.asarray(short, dtype=object).copy()
    if rows is None:
        if threshold is None:
            return out
        rows = np.flatnonzero(f["score"].to_numpy() >= threshold)
    if not len(rows):
        return out
    gbits, reps = representatives(parts[rows], scored.params)
    gorder = np.argsort(-gbits, axis=1)[:, :max_parts]
    pk = scored.keys
    vals = scored.values
    cache: dict[tuple[int, str, str], str] = {}
    for r, i in enumerate(rows):
        w = int(pk.codes[i])
        pieces: list[str] = []
        for g in gorder[r]:
            j = int(reps[r, g])
            bits = parts[i, j]
            if bits <= 0 or (pieces and gbits[r, g] < 1.0):
                continue
            name = PARTS[j]
            value = str(vals[name].iat[i]) if name in COMPONENTS else name
            key = (w, name, value)
            if key not in cache:
                cache[key] = _describe_part(
                    scored.fp,
                    name,
                    value,
                    str(pk.src[w]),
                    str(pk.dst[w]),
                    int(pk.src_fp[w]),
                    int(pk.dst_fp[w]),
                    int(pk.pair[w]),
                )
            pieces.append(f"{cache[key]} [{bits:.1f} bits]")
        if pieces:
            out[i] = pieces[0] + (". Also: " + "; ".join(pieces[1:]) if len(pieces) > 1 else "")
    return out


def summarise(scored: Scored, rows: np.ndarray, max_groups: int = 2) -> np.ndarray:
    """A few words on what is novel about the given connections (positions): the
    representatives of their most novel groups, e.g. 'new pair; service smb'. Phrases are made
    once per distinct (part, value)."""
    out = np.full(len(rows), "", dtype=object)
    if not len(rows):
        return out
    gbits, reps = representatives(scored.parts[rows], scored.params)
    order = np.argsort(-gbits, axis=1)[:, :max_groups]
    cache: dict[tuple[str, str], str] = {}
    for r, i in enumerate(rows):
        words = []
        for g in order[r]:
            if gbits[r, g] < 1.0:
                continue
            name = PARTS[int(reps[r, g])]
            value = str(scored.values[name].iat[i]) if name in COMPONENTS else ""
            key = (name, value)
            if key not in cache:
                cache[key] = name.replace("_", " ") if name in WHO_PARTS else phrase(name, value)
            words.append(cache[key])
        out[r] = "; ".join(words)
    return out


def top_values(
    u_codes: Mapping[str, tuple[np.ndarray, np.ndarray]], top_idx: np.ndarray, has_top: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The value of each row's most novel part and a short phrase for it ('unusual port 22'),
    phrased once per distinct (part, value)."""
    n = len(top_idx)
    code = np.full(n, -1, dtype=np.int64)
    for i, name in enumerate(PARTS):
        if name in u_codes:
            sel = has_top & (top_idx == i)
            code[sel] = u_codes[name][0][sel]
    m = max((len(u) for _, u in u_codes.values()), default=0) + 2
    key = np.where(has_top, top_idx * m + code + 1, -1)
    kc, ku = pd.factorize(key, sort=False)
    values, phrases = [], []
    for k in np.asarray(ku, dtype=np.int64):
        if k < 0:
            values.append("-")
            phrases.append("as usual for this pair")
            continue
        name = PARTS[int(k // m)]
        c = int(k % m) - 1
        if name in WHO_PARTS or c < 0:
            values.append(name.replace("_", " "))
            phrases.append("new " + name.replace("_", " ").replace("new ", ""))
        else:
            v = str(u_codes[name][1][c])
            values.append(v)
            phrases.append("unusual " + phrase(name, v))
    return (
        np.asarray(values, dtype=object)[kc],
        np.asarray(phrases, dtype=object)[kc],
    )
