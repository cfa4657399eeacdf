"""Render a `Report` as JSON (`render_json`): its content as `Report.to_json` gives it, charts
by reference to their files. JSON needs no escaping beyond its own string encoding."""

from __future__ import annotations

import json
from collections.abc import Mapping

from graphnet.reports.types import Report


def render_json(report: Report, chart_files: Mapping[str, str] | None = None) -> str:
    """The report's content as JSON (charts by reference to their files)."""
    return json.dumps(report.to_json(chart_files), indent=2, ensure_ascii=False, default=str) + "\n"
