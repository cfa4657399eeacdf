"""Weekly change reports: who to look at in a window and what changed, for a network engineer.

`build_report(store, window, settings)` collects the content from the graph and the stored
results (`model`: the combined risk ranking of the window's stored findings first; no detector
runs, nothing is refitted), and
`write_report(report, out_dir)` writes it as a self-contained HTML page (inline CSS, charts
embedded as data: URIs), Markdown (charts as PNG files next to it) and JSON, in
`<out_dir>/<window>/`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from graphnet import windows
from graphnet.config import Settings
from graphnet.errors import ConfigError
from graphnet.reports.html import render_html
from graphnet.reports.jsondoc import render_json
from graphnet.reports.links import browser_link, resolve_browser_url
from graphnet.reports.markdown import render_markdown
from graphnet.reports.model import build_report, default_window
from graphnet.reports.ranking import RANKING_TOP
from graphnet.reports.types import (
    Chart,
    Count,
    EdgeItem,
    FindingItem,
    FingerprintTree,
    HostGroup,
    HostItem,
    RankedHost,
    Ranking,
    Reason,
    Report,
    ShiftItem,
    Totals,
    TreeBranch,
    TreeLeaf,
    VolumeItem,
)

REPORT_FILES = {"html": "report.html", "markdown": "report.md", "json": "report.json"}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _chart_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:80] + ".png"


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write `report` to `<out_dir>/<window>/`: report.html (self-contained), report.md with its
    charts in charts/*.png, and report.json. Files are replaced atomically; charts of an
    earlier version of the same report that are no longer used are removed.

    Returns {"html": ..., "markdown": ..., "json": ..., "dir": ...}."""
    try:
        windows.kind_of(report.window)
    except ValueError as exc:  # the window names a folder: only well-formed ids
        raise ConfigError(str(exc)) from exc
    folder = Path(out_dir) / report.window
    charts_dir = folder / "charts"
    files: dict[str, str] = {}
    for chart in report.all_charts():
        if not chart.png:
            continue
        name = _chart_name(chart.key)
        _atomic_write(charts_dir / name, chart.png)
        files[chart.key] = f"charts/{name}"
    if charts_dir.is_dir():
        keep = {Path(f).name for f in files.values()}
        for old in charts_dir.glob("*.png"):
            if old.name not in keep:
                old.unlink(missing_ok=True)
    out = {
        "html": folder / REPORT_FILES["html"],
        "markdown": folder / REPORT_FILES["markdown"],
        "json": folder / REPORT_FILES["json"],
    }
    _atomic_write(out["html"], render_html(report).encode("utf-8"))
    _atomic_write(out["markdown"], render_markdown(report, files).encode("utf-8"))
    _atomic_write(out["json"], render_json(report, files).encode("utf-8"))
    return {**out, "dir": folder}


def generate_report(
    store: Any,
    settings: Settings,
    window: str | None = None,
    out_dir: Path | None = None,
    *,
    baseline_windows: int = 4,
    top: int = 20,
    browser_url: str | None = None,
    ranking_top: int = RANKING_TOP,
) -> dict[str, Path]:
    """`graphnet report [--window W] [--out DIR]`: build the report of `window` (default: the
    latest window that has ended) and write it under `out_dir` (default
    `$GRAPHNET_HOME/reports`). Returns the paths as `write_report` does."""
    report = build_report(
        store,
        window,
        settings,
        baseline_windows=baseline_windows,
        top=top,
        browser_url=browser_url,
        ranking_top=ranking_top,
    )
    return write_report(report, out_dir or settings.home / "reports")


__all__ = [
    "Chart",
    "Count",
    "EdgeItem",
    "FindingItem",
    "FingerprintTree",
    "HostGroup",
    "HostItem",
    "RankedHost",
    "Ranking",
    "Reason",
    "Report",
    "ShiftItem",
    "Totals",
    "TreeBranch",
    "TreeLeaf",
    "VolumeItem",
    "browser_link",
    "build_report",
    "default_window",
    "generate_report",
    "render_html",
    "render_json",
    "render_markdown",
    "resolve_browser_url",
    "write_report",
]
