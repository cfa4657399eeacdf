"""Plain-text values and table rows shared by the HTML and the Markdown output (numbers,
sizes, changes, counts with their meanings); each format escapes them where it inserts them."""

from __future__ import annotations

from collections.abc import Sequence

from graphnet.reports.types import Count, EdgeItem, FingerprintTree, Report, Totals


def number(v: float | int | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and v != int(v) and digits:
        return f"{v:,.{digits}f}"
    return f"{round(v):,}"


def size(v: float | None) -> str:
    if v is None:
        return "–"
    x = float(v)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(x) < 1000 or unit == "TB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1000
    return f"{x:.1f} TB"  # pragma: no cover


def change(cur: float, ref: float | None) -> str:
    if ref is None:
        return "–"
    if ref == 0:
        return "new" if cur else "±0"
    return f"{(cur / ref - 1) * 100:+.0f}%"


def where(internal: bool | None) -> str:
    return "internal" if internal else "external" if internal is False else "?"


def count_text(c: Count, with_meaning: bool = True) -> str:
    text = f"{c.value} ×{c.n:,}"
    if with_meaning and c.meaning:
        text += f" ({c.meaning})"
    return text


def counts_text(cs: Sequence[Count], with_meaning: bool = True) -> str:
    return ", ".join(count_text(c, with_meaning) for c in cs) or "–"


def how_text(e: EdgeItem) -> str:
    """Connection states and TCP histories of an edge, with their meanings."""
    text = counts_text(e.states)
    if e.histories and any(h.value != "-" for h in e.histories):
        text += "; TCP histories: " + counts_text(e.histories)
    return text


def summary_rows(r: Report) -> list[tuple[str, str, str, str, str]]:
    cur = r.current or Totals(r.window)
    prev = r.previous_totals
    base = r.baseline_mean
    out = []
    for attr, label, fmt in (
        ("hosts", "hosts", number),
        ("internal_hosts", "internal hosts", number),
        ("edges", "host pairs (edges)", number),
        ("connections", "connections", number),
        ("bytes", "bytes", size),
    ):
        c = float(getattr(cur, attr))
        p = float(getattr(prev, attr)) if prev else None
        b = float(getattr(base, attr)) if base else None
        out.append(
            (
                label,
                fmt(c),
                fmt(p) if p is not None else "–",
                fmt(b) if b is not None else "–",
                change(c, b),
            )
        )
    return out


def change_rows(r: Report) -> list[tuple[str, str]]:
    if not r.baseline:
        return []
    return [
        ("new hosts", f"{r.new_hosts_total:,}"),
        ("new host pairs (edges)", f"{r.new_edges_total:,}"),
        ("pairs using a new service or port", f"{r.new_services_total:,}"),
        (f"pairs of {r.previous} that did not talk", f"{r.vanished_edges_total:,}"),
    ]


def step_rows(r: Report) -> list[tuple[str, str, str]]:
    return [
        (str(s.get("name", "")), str(s.get("status", "")), str(s.get("message", "")))
        for s in r.analysis
    ]


#: the columns of the "Who to look at" table
RANKING_HEAD = (
    "rank",
    "host",
    "risk",
    "p",
    "detectors (the host's rank by each)",
    "why: each detector's best finding about the host",
    "Browser",
)


def tree_rows(t: FingerprintTree) -> list[tuple[str, str]]:
    """A fingerprint tree as (component, its baseline values with counts) rows, novel values
    marked NEW."""
    rows = []
    for b in t.branches:
        vals = "; ".join(
            ("NEW " if lf.novel else "")
            + f"{lf.value} ×{lf.baseline:,}"
            + (f" ({lf.meaning})" if lf.meaning else "")
            + (f", this window {lf.current:,}" if lf.current is not None else "")
            for lf in b.leaves
        )
        rows.append((b.component + (" (novel)" if b.novel else ""), vals or "–"))
    return rows
