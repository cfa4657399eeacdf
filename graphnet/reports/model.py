"""What a change report says, collected from the store (`build_report`).

The `Report` dataclasses (`graphnet.reports.types`) hold plain data (strings as logged, numbers,
PNG bytes of the charts). The sections come from here, with the help of `links` (Cypher and
Neo4j Browser links), `describe` (meanings of values, parts and evidence), `ranking` (who to
look at) and `trees` (fingerprints of novel connections); `graphnet.reports.html`, `markdown`
and `jsondoc` turn a report into HTML, Markdown and JSON and escape every string that comes
from logs at the point where it is inserted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from graphnet import features, windows
from graphnet.config import Settings
from graphnet.grouping import Group, Grouped
from graphnet.reports.applogs import app_sections
from graphnet.reports.describe import counts_of, describe_evidence, describe_parts
from graphnet.reports.links import (
    browser_link,
    edge_query,
    finding_query,
    host_query,
    resolve_browser_url,
)
from graphnet.reports.ranking import RANKING_TOP, collect_ranking
from graphnet.reports.trees import tree_for
from graphnet.reports.types import (
    EdgeItem,
    FindingGroupItem,
    FindingItem,
    HostGroup,
    HostItem,
    Report,
    ShiftItem,
    Totals,
    VolumeItem,
    volume_numbers,
)

log = logging.getLogger(__name__)

HISTORY_WINDOWS = 12  # windows shown in trend and metric-history charts
DEVIATION_KINDS = (
    "novel_connection",
    "deviating_path",
    "suspicious_connect",
    "volume_anomaly",
    "first_behaviour",
    "beacon",
    "long_connection",
    "strobe",
    "suspicious_dns",
    "suspicious_http",
    "dns_tunnel",
)
VOLUME_TOP = 5  # volume_anomaly findings drawn as a time chart with their band
NOVELTY_RESULT = "novelty"  # the novelty step's stored per-connection scores
NOVELTY_COLUMNS = ("src", "dst", "score", "uniqueness", "uid")


def _window_list(store: Any) -> list[str]:
    return [str(r["window"]) for r in store.read("windows_list")]


def default_window(store: Any, now: dt.datetime | None = None) -> str | None:
    """The window a report is for when none is given: the latest window of the graph that has
    ended, else the latest window."""
    present = _window_list(store)
    if not present:
        return None
    now = now or dt.datetime.now(dt.UTC)
    ended = []
    for w in present:
        try:
            if windows.bounds(w)[1] <= now:
                ended.append(w)
        except ValueError:
            continue
    return ended[-1] if ended else present[-1]


def _totals(row: Mapping[str, Any]) -> Totals:
    return Totals(
        window=str(row["window"]),
        hosts=int(row.get("hosts") or 0),
        edges=int(row.get("edges") or 0),
        connections=int(row.get("connections") or 0),
        bytes=float(row.get("bytes") or 0.0),
        internal_hosts=int(row.get("internal_hosts") or 0),
    )


def _mean(ts: Sequence[Totals]) -> Totals | None:
    if not ts:
        return None
    n = len(ts)
    return Totals(
        window=f"mean of {n}",
        hosts=sum(t.hosts for t in ts) / n,
        edges=sum(t.edges for t in ts) / n,
        connections=sum(t.connections for t in ts) / n,
        bytes=sum(t.bytes for t in ts) / n,
        internal_hosts=sum(t.internal_hosts for t in ts) / n,
    )


def _edge(row: Mapping[str, Any], windows_: Sequence[str], browser: str | None) -> EdgeItem:
    q = edge_query(str(row["src"]), str(row["dst"]), windows_)
    return EdgeItem(
        src=str(row["src"]),
        dst=str(row["dst"]),
        conns=int(row.get("conns") or 0),
        bytes=float(row.get("bytes") or 0.0),
        src_internal=row.get("src_internal"),
        dst_internal=row.get("dst_internal"),
        services=counts_of("service", row.get("service_k"), row.get("service_n")),
        ports=counts_of("dport", row.get("dport_k"), row.get("dport_n")),
        states=counts_of("conn_state", row.get("conn_state_k"), row.get("conn_state_n")),
        new_services=[str(s) for s in row.get("new_services") or []],
        new_ports=[str(p) for p in row.get("new_ports") or []],
        seen_in=row.get("seen_in"),
        cypher=q,
        link=browser_link(browser, q),
    )


def _finding_item(f: Any, browser: str | None) -> FindingItem:
    q = f.cypher or finding_query(f.id)
    return FindingItem(
        id=f.id,
        kind=f.kind,
        score=float(f.score),
        hosts=list(f.hosts),
        explanation=f.explanation or "",
        status=f.status,
        detector=f.detector,
        parts=describe_parts(f.parts or {}),
        evidence=describe_evidence(f.evidence or {}),
        cypher=q,
        link=browser_link(browser, q),
    )


def _shift_metric(parts: Mapping[str, Any], available: set[str]) -> str | None:
    best, best_z = None, -1.0
    for name, v in parts.items():
        if name not in available or not isinstance(v, dict):
            continue
        z = v.get("z")
        if isinstance(z, int | float) and abs(float(z)) > best_z:
            best, best_z = name, abs(float(z))
    if best is None and "pagerank" in available:
        return "pagerank"
    return best


def _with_histories(settings: Settings, window: str, items: list[EdgeItem]) -> list[EdgeItem]:
    """Fill in the most frequent TCP histories of each edge in `window`, from the archive."""
    if not items:
        return items
    import pyarrow as pa

    from graphnet.archive import Archive

    pairs = pa.table(
        {
            "src": pa.array([e.src for e in items], type=pa.string()),
            "dst": pa.array([e.dst for e in items], type=pa.string()),
        }
    )
    got = Archive(settings).query(
        "report_edge_histories", {"conns": [window]}, lookups={"pairs": pairs}
    )
    counts: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
    for src, dst, value, n in zip(
        *(got.column(c).to_pylist() for c in got.column_names), strict=True
    ):
        keys, ns = counts.setdefault((src, dst), ([], []))
        keys.append(value)
        ns.append(n)
    for e in items:
        keys, ns = counts.get((e.src, e.dst), ([], []))
        e.histories = counts_of("history", keys, ns, limit=3)
    return items


def novelty_scores(settings: Settings, window: str) -> Any:
    """The per-connection novelty scores the novelty step stored for a window (the archive's
    `novelty` result: `score`, `uniqueness` and, when stored, `src`, `dst`, `uid`), or None
    when the window was not scored."""
    from graphnet.archive import Archive

    archive = Archive(settings)
    try:
        got = archive.read_result(window, NOVELTY_RESULT, columns=NOVELTY_COLUMNS)
    except (ValueError, KeyError):  # a table without some of the columns: read it whole
        got = archive.read_result(window, NOVELTY_RESULT)
    if got is None:
        return None
    frame = got.frame
    if not {"score", "uniqueness"} <= set(frame.columns):
        return None
    return frame[[c for c in NOVELTY_COLUMNS if c in frame.columns]]


def _group_item(g: Group) -> FindingGroupItem:
    best = g.best
    return FindingGroupItem(
        rank=g.rank,
        hosts=list(g.hosts),
        score=float(g.score),
        count=len(g.findings),
        detectors=g.detectors,
        explanation=best.explanation,
        baseline=str(best.evidence.get("baseline", "")),
        finding_ids=[f.id for f in g.findings],
    )


def build_report(
    store: Any,
    window: str | None,
    settings: Settings,
    *,
    baseline_windows: int = 4,
    top: int = 20,
    browser_url: str | None = None,
    charts: bool = True,
    now: dt.datetime | None = None,
    ranking_top: int = RANKING_TOP,
) -> Report:
    """Collect the change report of `window` (default: the latest window that has ended).

    First, who to look at: the `ranking_top` hosts of the combined risk ranking
    (`graphnet.risk.risk_window`, from the window's stored findings) with the reason each
    contributing detector gives. Then it compares the window with the previous window holding
    data and with its baseline (the `baseline_windows` windows with data before it): sizes, new
    hosts, new edges, new services between pairs that already talked, vanished edges; the
    window's findings (top centrality shifts with their metric history, deviating connections
    and paths grouped by host, the stored time charts of the top volume anomalies), the
    novelty-versus-uniqueness scatter when per-connection scores are stored, and the
    fingerprint of the pairs of the top novel connections. Everything is read from the graph
    and the stored results; no detector runs and nothing is refitted. `browser_url` (default:
    `resolve_browser_url`) makes every item a link that opens its Cypher in Neo4j Browser.

    Raises ConfigError for a malformed window and NotEnoughHistory for an empty graph."""
    from graphnet import findings as findings_mod
    from graphnet.errors import ConfigError, NotEnoughHistory
    from graphnet.reports import charts as charts_mod

    present = _window_list(store)
    if window is None:
        window = default_window(store, now)
        if window is None:
            raise NotEnoughHistory("the graph holds no windows yet", hint="ingest logs first")
    try:
        start, end = windows.bounds(window)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    browser = resolve_browser_url(settings, browser_url)
    report = Report(
        window=window,
        generated=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        start=start.isoformat(),
        end=end.isoformat(),
        browser_url=browser,
        top=top,
    )
    if window not in present:
        report.notes.append(f"the graph holds no connections in {window}")
    before = [w for w in present if w < window]
    baseline = before[-baseline_windows:] if baseline_windows > 0 else []
    report.baseline = baseline
    report.previous = before[-1] if before else None
    calendar_prev = windows.previous(window)[0]
    if report.previous and report.previous != calendar_prev:
        report.notes.append(
            f"no data in {calendar_prev}; compared with {report.previous}, the latest earlier "
            "window holding data"
        )

    hist_windows = [w for w in present if w <= window][-HISTORY_WINDOWS:]
    if window not in hist_windows:
        hist_windows.append(window)
    totals = {r["window"]: _totals(r) for r in store.read("report_totals", windows=hist_windows)}
    report.current = totals.get(window, Totals(window))
    report.previous_totals = totals.get(report.previous) if report.previous else None
    base_rows = [t for w, t in totals.items() if w in baseline]
    missing = [w for w in baseline if w not in totals]
    if missing:
        base_rows += [_totals(r) for r in store.read("report_totals", windows=missing)]
    report.baseline_mean = _mean(base_rows)
    report.history = [totals[w] for w in hist_windows if w in totals]

    # -- what changed in the graph ------------------------------------------------------------
    if baseline:
        counts = store.read(
            "report_change_counts", window=window, baseline=baseline, previous=report.previous
        )[0]
        report.new_hosts_total = int(counts["new_hosts"])
        report.new_edges_total = int(counts["new_edges"])
        report.vanished_edges_total = int(counts["vanished_edges"])
        for r in store.read("report_new_hosts", window=window, baseline=baseline, limit=top):
            q = host_query(str(r["host"]), window)
            report.new_hosts.append(
                HostItem(
                    host=str(r["host"]),
                    internal=r.get("internal"),
                    peers=int(r["peers"] or 0),
                    conns=int(r["conns"] or 0),
                    bytes=float(r["bytes"] or 0.0),
                    cypher=q,
                    link=browser_link(browser, q),
                )
            )
        report.new_edges = _with_histories(
            settings,
            window,
            [
                _edge(r, [window], browser)
                for r in store.read("report_new_edges", window=window, baseline=baseline, limit=top)
            ],
        )
        svc = store.read("report_new_services", window=window, baseline=baseline)
        report.new_services_total = len(svc)
        report.new_services = _with_histories(
            settings, window, [_edge(r, [*baseline, window], browser) for r in svc[:top]]
        )
        if report.previous:
            report.vanished_edges = _with_histories(
                settings,
                report.previous,
                [
                    _edge(r, [report.previous, window], browser)
                    for r in store.read(
                        "report_vanished_edges",
                        window=window,
                        previous=report.previous,
                        baseline=baseline,
                        limit=top,
                    )
                ],
            )
    else:
        report.notes.append(
            f"{window} is the first window in the graph: there is no baseline to compare it with "
            "yet, so new and vanished hosts, edges and services are not listed"
        )

    # -- analysis steps, findings and who to look at -------------------------------------------
    rows = store.read("report_analysis", window=window)
    if rows and rows[0].get("steps"):
        try:
            report.analysis = list(json.loads(rows[0]["steps"]))
        except (TypeError, ValueError):
            report.analysis = []
    found = findings_mod.load(store, window=window)
    report.ranking = collect_ranking(
        store, window, settings, found, browser, top=ranking_top, analysed=bool(rows)
    )
    for f in found:
        report.findings_by_kind[f.kind] = report.findings_by_kind.get(f.kind, 0) + 1
    grouped = Grouped.of(found)
    report.host_groups_total = len(grouped.hosts)
    report.conversation_groups_total = len(grouped.conversations)
    report.host_groups = [_group_item(g) for g in grouped.top().hosts]
    report.conversation_groups = [_group_item(g) for g in grouped.top().conversations]
    shift_findings = [f for f in found if f.kind == "centrality_shift"]
    report.shifts_total = len(shift_findings)
    shift_top = shift_findings[:top]
    metric_rows: dict[str, dict[str, dict[str, Any]]] = {}
    if shift_top:
        for r in store.read(
            "report_host_history",
            hosts=[f.hosts[0] for f in shift_top if f.hosts],
            windows=hist_windows,
        ):
            metric_rows.setdefault(str(r["host"]), {})[str(r["window"])] = r["metrics"] or {}
    for f in shift_top:
        item = ShiftItem(finding=_finding_item(f, browser))
        host = f.hosts[0] if f.hosts else ""
        per_window = metric_rows.get(host, {})
        available = set().union(*[set(m) for m in per_window.values()]) if per_window else set()
        item.metric = _shift_metric(f.parts or {}, available)
        if item.metric:
            item.history = [
                (w, float(m[item.metric]))
                for w, m in sorted(per_window.items())
                if isinstance(m.get(item.metric), int | float)
            ]
        report.shifts.append(item)

    deviations = [f for f in found if f.kind in DEVIATION_KINDS]
    report.deviations_total = len(deviations)
    internal = {}
    hosts_needed = sorted({f.hosts[0] for f in deviations[: top * 3] if f.hosts})
    if hosts_needed:
        rows = store.read("report_hosts", hosts=hosts_needed)
        internal = {r["host"]: r["internal"] for r in rows}
    groups: dict[str, HostGroup] = {}
    for f in deviations[: top * 3]:
        host = f.hosts[0] if f.hosts else "(no host)"
        g = groups.get(host)
        if g is None:
            if len(groups) >= top:
                continue
            g = groups[host] = HostGroup(host, internal.get(host), float(f.score))
        g.findings.append(_finding_item(f, browser))
        g.max_score = max(g.max_score, float(f.score))
    report.deviations = sorted(groups.values(), key=lambda g: (-g.max_score, g.host))

    # findings come highest score first (findings.load)
    volume_top = [f for f in found if f.kind == "volume_anomaly"][:VOLUME_TOP]
    if volume_top:
        report.volume = _volume_items(settings, window, volume_top, charts)

    # -- DNS and web requests: a section per kind ---------------------------------------------
    apps = app_sections(found, browser)
    if apps.hosts():
        apps.set_internal(
            {
                r["host"]: r["internal"]
                for r in store.read("report_hosts", hosts=sorted(apps.hosts()))
            }
        )
    report.dns_clients, report.dns_clients_total = apps.dns, apps.dns_total
    report.http_clients, report.http_clients_total = apps.http, apps.http_total
    report.dns_tunnels, report.dns_tunnels_total = apps.tunnels, apps.tunnels_total

    # -- novelty and fingerprints ----------------------------------------------------------
    novel = [f for f in found if f.kind == "novel_connection"]
    try:
        scores = novelty_scores(settings, window)
    except Exception as exc:  # an unreadable stored result: the report goes on
        log.warning("novelty scores of %s could not be read: %s", window, exc)
        scores = None
        report.notes.append(f"the stored novelty scores of {window} could not be read: {exc}")
    if scores is None or len(scores) == 0:
        report.novelty_note = (
            "no per-connection novelty scores were stored for this window (the novelty scorer "
            "has not run for it), so the novelty-versus-uniqueness chart is left out"
        )
    elif charts:
        highlight = [(str(f.hosts[0]), str(f.hosts[1])) for f in novel[:5] if len(f.hosts) >= 2]
        report.novelty_chart = charts_mod.novelty_scatter(scores, highlight)
    for f in novel[: min(top, 5)]:
        tree = tree_for(store, f, window, baseline)
        if tree is None:
            continue
        if charts:
            tree.chart = charts_mod.fingerprint_tree(tree)
        report.trees.append(tree)

    # -- legend ---------------------------------------------------------------------------
    report.legend = legend_for(report)

    if charts:
        report.charts = [
            c
            for c in (
                charts_mod.overview(report.current, report.previous_totals, report.baseline_mean),
                charts_mod.trend(report.history, window),
            )
            if c is not None
        ]
        for s in report.shifts:
            if s.metric and len(s.history) >= 2:
                s.chart = charts_mod.metric_history(
                    s.finding.hosts[0] if s.finding.hosts else "",
                    s.metric,
                    s.history,
                    window,
                    key=f"shift-{len(report.all_charts())}",
                )
    return report


def _volume_items(
    settings: Settings, window: str, found: Sequence[Any], charts: bool
) -> list[VolumeItem]:
    """Time charts of the top `volume_anomaly` findings, from the series the volume step stored
    when it ran (`graphnet.detectors.volume.stored_series`: the same fit as the findings; the
    report never refits). A finding whose entity has no stored rows (the window was analysed
    before the series were kept, or not at all) gets a note instead of a chart; anything that
    fails leaves a note on the item, never breaks the report."""
    from graphnet.reports import charts as charts_mod

    rerun = f"no time chart stored: run `graphnet analyse --window {window} --only volume`"
    try:
        from graphnet.archive import Archive
        from graphnet.detectors import volume as volume_mod

        items = [
            VolumeItem(volume_mod.finding_entity(f), f.id, f.explanation or "", float(f.score))
            for f in found
        ]
        stored = volume_mod.stored_series(Archive(settings), window)
    except Exception as exc:  # an unreadable stored result, ...: the report goes on
        log.warning("no volume time charts for %s: %s", window, exc)
        return [
            VolumeItem(
                str(f.hosts[0]) if f.hosts else "",
                f.id,
                f.explanation or "",
                float(f.score),
                note=f"no time chart: the stored series could not be read ({exc})",
            )
            for f in found
        ]
    has_entity = stored is not None and "entity" in stored.columns
    for item in items:
        if not item.host:
            item.note = "no time chart: the finding names no host"
            continue
        rows = stored[stored["entity"] == item.host] if has_entity and stored is not None else None
        if rows is None or rows.empty:
            item.note = rerun
            continue
        frame = rows.drop(columns=["entity"])
        if "bucket" in frame.columns:
            frame = frame.sort_values("bucket", kind="stable")
        frame = frame.reset_index(drop=True)
        try:
            nums = volume_numbers(frame)
        except Exception as exc:  # a stored frame without the expected columns
            log.warning("no volume time chart for %s in %s: %s", item.host, window, exc)
            item.note = f"no time chart: the stored series is not readable ({exc})"
            continue
        item.series = frame
        for k, v in nums.items():
            setattr(item, k, v)
        if charts:
            try:
                item.chart = charts_mod.volume_band(
                    item.host, frame, key=f"volume-{item.finding_id}"
                )
            except Exception as exc:  # pragma: no cover - a drawing problem is not fatal
                log.warning("volume chart of %s failed: %s", item.host, exc)
                item.note = f"no time chart: {exc}"
    return items


def legend_for(report: Report) -> list[tuple[str, str, str]]:
    """conn_state codes and TCP history letters that appear in the report, with meanings."""
    states: set[str] = set()
    letters: set[str] = set()
    edge_lists = [report.new_edges, report.new_services, report.vanished_edges]
    for items in edge_lists:
        for e in items:
            states.update(c.value for c in e.states)
            for h in e.histories:
                if h.value not in ("-", "other"):
                    letters.update(ch.lower() for ch in h.value)
    out = [
        ("conn_state", s, features.CONN_STATES[s])
        for s in sorted(states)
        if s in features.CONN_STATES
    ]
    out += [
        (
            "history",
            ch,
            f"{features.HISTORY_LETTERS[ch]} (upper case: originator, lower case: responder)",
        )
        for ch in sorted(letters)
        if ch in features.HISTORY_LETTERS
    ]
    return out
