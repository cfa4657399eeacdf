"""Charts of a change report: matplotlib (Agg, no pyplot, so it is safe in scheduler threads)
rendered to PNG bytes that the HTML report embeds as data: URIs.

Every chart is meant to be read at a glance: few elements, the current window highlighted,
plain-language titles and axis labels. Text that comes from logs (host ids) is drawn literally:
`$` never starts mathtext, control characters and glyphs the font lacks are replaced.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from graphnet.reports.types import Chart, FingerprintTree, Totals, band_arrays

if TYPE_CHECKING:
    from pandas import DataFrame

CURRENT = "#1864ab"
PREVIOUS = "#868e96"
BASELINE = "#ced4da"
NOVEL = "#e03131"
MUTED = "#495057"
DPI = 100


@cache
def _charmap() -> frozenset[int]:
    try:
        from matplotlib import font_manager
        from matplotlib.ft2font import FT2Font

        path = font_manager.findfont("DejaVu Sans", fallback_to_default=True)
        return frozenset(FT2Font(path).get_charmap())
    except Exception:  # pragma: no cover - a font problem must not break reports
        return frozenset(range(32, 127))


def text(value: Any, limit: int = 48) -> str:
    """Text for a chart: printable, only glyphs the font has, `$` literal, at most `limit`."""
    s = str(value)
    chars = _charmap()
    out = []
    for ch in s:
        code = ord(ch)
        if ch in "\r\n\t":
            out.append(" ")
        elif code < 32 or 0x7F <= code <= 0x9F or code not in chars:
            out.append("?")
        else:
            out.append(ch)
    s = "".join(out)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def compact(v: float) -> str:
    """1234567 -> '1.2M'."""
    if v is None or not math.isfinite(v):
        return "n/a"
    a = abs(v)
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:.0f}" if a >= 10 or v == int(v) else f"{v:.2g}"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _clean_axes(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8, colors=MUTED)


# --------------------------------------------------------------------------------------------
def overview(
    current: Totals | None, previous: Totals | None, baseline: Totals | None
) -> Chart | None:
    """Hosts, edges, connections and bytes of the window next to the previous window and the
    baseline mean, with the change against the baseline in each panel's title."""
    if current is None:
        return None
    metrics = (
        ("hosts", "Hosts"),
        ("edges", "Host pairs (edges)"),
        ("connections", "Connections"),
        ("bytes", "Bytes"),
    )
    fig = _figure(11, 2.9)
    axes = fig.subplots(1, 4)
    alt = []
    for ax, (attr, title) in zip(axes, metrics, strict=True):
        labels, values, colours = [], [], []
        if baseline is not None:
            labels.append("baseline\nmean")
            values.append(float(getattr(baseline, attr)))
            colours.append(BASELINE)
        if previous is not None:
            labels.append("previous\n" + text(previous.window, 16))
            values.append(float(getattr(previous, attr)))
            colours.append(PREVIOUS)
        labels.append("this window\n" + text(current.window, 16))
        cur = float(getattr(current, attr))
        values.append(cur)
        colours.append(CURRENT)
        xs = list(range(len(values)))
        ax.bar(xs, values, color=colours, width=0.65)
        ax.set_xticks(xs, labels)
        top = max(values) if values and max(values) > 0 else 1.0
        ax.set_ylim(0, top * 1.25)
        for x, v in zip(xs, values, strict=True):
            ax.text(
                x, v + top * 0.03, compact(v), ha="center", va="bottom", fontsize=8, color=MUTED
            )
        change = ""
        if baseline is not None and float(getattr(baseline, attr)) > 0:
            pct = (cur / float(getattr(baseline, attr)) - 1.0) * 100
            change = f"{pct:+.0f}% vs baseline"
        ax.set_title(f"{title}\n{change}" if change else title, fontsize=10)
        ax.set_yticks([])
        _clean_axes(ax)
        ax.spines["left"].set_visible(False)
        alt.append(f"{title.lower()} {compact(cur)}" + (f" ({change})" if change else ""))
    return Chart(
        "overview",
        "This window at a glance",
        f"Window {current.window}: " + ", ".join(alt),
        _png(fig),
    )


def trend(history: Sequence[Totals], window: str) -> Chart | None:
    """Hosts, edges and connections per window over the recent windows; the current one marked."""
    if len(history) < 2:
        return None
    fig = _figure(11, 2.7)
    axes = fig.subplots(1, 3)
    names = [h.window for h in history]
    xs = list(range(len(names)))
    step = max(1, math.ceil(len(names) / 6))
    for ax, (attr, title) in zip(
        axes,
        (("hosts", "Hosts"), ("edges", "Host pairs"), ("connections", "Connections")),
        strict=True,
    ):
        ys = [float(getattr(h, attr)) for h in history]
        ax.plot(xs, ys, color=PREVIOUS, marker="o", markersize=3, linewidth=1.5)
        if window in names:
            i = names.index(window)
            ax.plot([i], [ys[i]], marker="o", markersize=8, color=CURRENT)
            ax.annotate(
                compact(ys[i]),
                (i, ys[i]),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
                color=CURRENT,
            )
        ax.set_xticks(xs[::step], [text(n, 12) for n in names[::step]], rotation=30, ha="right")
        ax.set_ylim(0, max(ys) * 1.25 if max(ys) > 0 else 1)
        ax.yaxis.set_major_formatter(lambda v, _pos: compact(v))
        ax.set_title(f"{title} per window", fontsize=10)
        _clean_axes(ax)
    return Chart(
        "trend",
        "The last windows",
        f"Hosts, host pairs and connections in the {len(names)} windows up to {window}",
        _png(fig),
    )


def metric_history(
    host: str, metric: str, points: Sequence[tuple[str, float]], window: str, key: str = "shift"
) -> Chart | None:
    """One host's metric over the snapshots up to the window, the window marked."""
    if len(points) < 2:
        return None
    fig = _figure(5.2, 2.4)
    ax = fig.subplots()
    names = [p[0] for p in points]
    ys = [p[1] for p in points]
    xs = list(range(len(points)))
    earlier = [y for n, y in points if n < window]
    if earlier:
        med = sorted(earlier)[len(earlier) // 2]
        ax.axhline(med, color=BASELINE, linestyle="--", linewidth=1)
        ax.text(0, med, " typical", va="bottom", fontsize=7, color=MUTED)
    ax.plot(xs, ys, color=PREVIOUS, marker="o", markersize=3, linewidth=1.5)
    if window in names:
        i = names.index(window)
        ax.plot([i], [ys[i]], marker="o", markersize=8, color=NOVEL)
        ax.annotate(
            f"{ys[i]:.3g}",
            (i, ys[i]),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=8,
            color=NOVEL,
        )
    step = max(1, math.ceil(len(names) / 6))
    ax.set_xticks(xs[::step], [text(n, 12) for n in names[::step]], rotation=30, ha="right")
    ax.yaxis.set_major_formatter(lambda v, _pos: compact(v))
    label = metric.replace("_", " ")
    ax.set_title(f"{text(host, 40)}: {label}", fontsize=10)
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.2 or abs(hi) * 0.2 or 1.0
    ax.set_ylim(lo - pad, hi + pad * 1.5)
    _clean_axes(ax)
    return Chart(
        key,
        f"{host}: {label} per window",
        f"{label} of {host} in {len(points)} snapshots; {window}: {ys[-1]:.3g}",
        _png(fig),
    )


def novelty_scatter(
    scores: DataFrame, highlight: Sequence[tuple[str, str]] = (), limit: int = 40_000
) -> Chart | None:
    """Each connection of the window: how new it is for its host pair (novelty, 0-1) against
    how rare its (proto, service, port, state) is in the whole network (uniqueness, bits).
    The pairs of the top novel_connection findings are marked."""
    import numpy as np
    import pandas as pd

    if scores is None or len(scores) == 0:
        return None
    frame = scores
    if len(frame) > limit:
        top = frame.nlargest(500, "score")
        rest = frame.drop(top.index).sample(limit - 500, random_state=0)
        frame = pd.concat([top, rest])
    x = frame["uniqueness"].to_numpy(dtype="float64")
    y = frame["score"].to_numpy(dtype="float64")
    ok = np.isfinite(x) & np.isfinite(y)
    fig = _figure(8, 5)
    ax = fig.subplots()
    novel = ok & (y >= 0.5)
    ax.scatter(
        x[ok & ~novel],
        y[ok & ~novel],
        s=6,
        color=PREVIOUS,
        alpha=0.35,
        linewidths=0,
        label="usual for the pair",
    )
    ax.scatter(
        x[novel],
        y[novel],
        s=10,
        color="#f08c00",
        alpha=0.7,
        linewidths=0,
        label="new for the pair (novelty ≥ 0.5)",
    )
    marked = 0
    if highlight and "src" in frame.columns and "dst" in frame.columns:
        src = frame["src"].astype(str).to_numpy()
        dst = frame["dst"].astype(str).to_numpy()
        for a, b in highlight:
            m = ok & (src == a) & (dst == b)
            if not m.any():
                continue
            ax.scatter(x[m], y[m], s=28, facecolors="none", edgecolors=NOVEL, linewidths=1.4)
            i = int(np.flatnonzero(m)[np.argmax(y[m])])
            ax.annotate(
                f"{text(a, 22)} → {text(b, 22)}",
                (x[i], y[i]),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
                color=NOVEL,
            )
            marked += 1
    ax.axhline(0.5, color=BASELINE, linestyle="--", linewidth=1)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel(
        "uniqueness: how rare its protocol, service, port and state are network-wide (bits)",
        fontsize=9,
    )
    ax.set_ylabel("novelty for its host pair (0 = as usual, 1 = never seen)", fontsize=9)
    ax.set_title(f"{int(ok.sum()):,} connections of the window", fontsize=10)
    xmax = float(np.nanmax(x[ok])) if ok.any() else 1.0
    ax.text(
        xmax,
        1.02,
        "new for the pair and rare everywhere",
        ha="right",
        va="bottom",
        fontsize=8,
        color=MUTED,
    )
    ax.text(
        0,
        1.02,
        "new for the pair, common elsewhere",
        ha="left",
        va="bottom",
        fontsize=8,
        color=MUTED,
    )
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9, markerscale=2)
    _clean_axes(ax)
    n_novel = int(novel.sum())
    return Chart(
        "novelty",
        "Novelty versus uniqueness of the window's connections",
        f"{int(ok.sum()):,} connections; {n_novel:,} new for their pair; {marked} pairs of top "
        "findings marked",
        _png(fig),
    )


def fingerprint_tree(tree: FingerprintTree) -> Chart | None:
    """A pair's fingerprint as a tree: pair -> component -> values with their baseline counts
    (and counts in the window); the novel branch and value drawn in red."""
    if not tree.branches:
        return None
    rows = sum(max(1, len(b.leaves)) + (1 if b.more else 0) for b in tree.branches)
    height = max(2.8, 0.28 * rows + 1.2)
    fig = _figure(10, height)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(rows + 0.3, -1.3)
    x_root, x_comp, x_leaf, x_count, x_bar = 0.08, 0.30, 0.40, 0.85, 0.865
    y_root = (rows - 1) / 2
    box = {"boxstyle": "round,pad=0.35", "facecolor": "white"}
    y = 0.0
    for b in tree.branches:
        n_leaves = max(1, len(b.leaves))
        y_comp = y + (n_leaves - 1) / 2
        colour = NOVEL if b.novel else MUTED
        ax.plot(
            [x_root, x_comp],
            [y_root, y_comp],
            color=colour,
            linewidth=2.2 if b.novel else 0.8,
            zorder=1,
        )
        total = sum(lf.baseline for lf in b.leaves) or 1
        for i, lf in enumerate(b.leaves):
            yl = y + i
            lc = NOVEL if lf.novel else MUTED
            ax.plot(
                [x_comp, x_leaf - 0.008],
                [y_comp, yl],
                color=lc,
                linewidth=2.2 if lf.novel else 0.8,
                zorder=1,
            )
            label = text(lf.value, 18)
            if lf.meaning:
                label += f"  {text(lf.meaning, 42)}"
            if lf.novel:
                label = "NEW  " + label
            ax.text(
                x_leaf,
                yl,
                label,
                va="center",
                fontsize=8,
                color=lc,
                fontweight="bold" if lf.novel else "normal",
            )
            ax.barh(
                yl,
                0.11 * lf.baseline / total,
                left=x_bar,
                height=0.55,
                color=NOVEL if lf.novel else BASELINE,
            )
            count = f"{lf.baseline:,} → " + ("–" if lf.current is None else f"{lf.current:,}")
            ax.text(x_count, yl, count, va="center", ha="right", fontsize=7.5, color=lc)
        if not b.leaves:
            ax.text(
                x_leaf,
                y,
                "no connections in the baseline",
                va="center",
                fontsize=8,
                color=MUTED,
                style="italic",
            )
        if b.more:
            ax.text(
                x_leaf,
                y + n_leaves,
                f"… {b.more} more values",
                va="center",
                fontsize=7.5,
                color=MUTED,
                style="italic",
            )
        ax.text(
            x_comp,
            y_comp,
            text(b.component, 16),
            va="center",
            ha="center",
            fontsize=9,
            color=colour,
            fontweight="bold" if b.novel else "normal",
            zorder=3,
            bbox={**box, "edgecolor": colour, "linewidth": 1.6 if b.novel else 0.8},
        )
        y += n_leaves + (1 if b.more else 0)
    ax.text(
        x_root,
        y_root,
        f"{text(tree.src, 20)}\n→ {text(tree.dst, 20)}",
        va="center",
        ha="center",
        fontsize=9,
        zorder=3,
        bbox={**box, "facecolor": "#f1f3f5", "edgecolor": MUTED},
    )
    ax.text(x_count, -0.9, "baseline → this window", fontsize=7.5, color=MUTED, ha="right")
    title = tree.describe()
    ax.set_title(text(title[0].upper() + title[1:], 110), fontsize=10, loc="left")
    novel = [f"{b.component} {lf.value}" for b in tree.branches for lf in b.leaves if lf.novel]
    return Chart(
        f"tree-{tree.finding_id}",
        f"Fingerprint of {tree.src} → {tree.dst}",
        tree.describe() + (f"; new: {', '.join(novel)}" if novel else ""),
        _png(fig),
    )


def volume_band(host: str, series: DataFrame, key: str = "volume") -> Chart | None:
    """A host's (or edge's) flows per bucket over the window as a line, the expected band
    (`band_lo`..`band_hi`) shaded and the out-of-band buckets (`flagged`) marked; `series` as
    `graphnet.detectors.volume.series` returns it."""
    import numpy as np

    if series is None or len(series) == 0:
        return None
    flows, lo, hi, out = band_arrays(series)
    xs = np.asarray(series["time"].dt.tz_localize(None))
    fig = _figure(10, 2.8)
    ax = fig.subplots()
    ax.fill_between(
        xs, lo, hi, color=BASELINE, alpha=0.7, linewidth=0, step="mid", label="expected band"
    )
    ax.plot(xs, flows, color=CURRENT, linewidth=1.0, label="flows per bucket")
    if out.any():
        ax.scatter(xs[out], flows[out], s=14, color=NOVEL, zorder=3, label="out of band")
    top = float(np.nanmax(np.concatenate([flows, hi[np.isfinite(hi)]])))
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.yaxis.set_major_formatter(lambda v, _pos: compact(v))
    ax.set_ylabel("flows per bucket", fontsize=9)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ax.set_title(
        f"{text(host, 60)}: flows per bucket and expected band ({int(out.sum()):,} out of band)",
        fontsize=10,
        loc="left",
    )
    _clean_axes(ax)
    return Chart(
        key,
        f"{host}: flows per bucket with the expected band",
        f"Flows per bucket of {host} over {len(flows):,} buckets, {int(out.sum()):,} out of the "
        f"expected band; highest {compact(float(np.nanmax(flows)))}",
        _png(fig),
    )
