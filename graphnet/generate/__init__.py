"""Synthetic multi-week enterprise traffic with planted attack scenarios, and its ground truth.

``generate(out, GenerateOptions(...))`` writes what a network sensor would have written:

* ``zeek``: ``OUT/YYYY-MM-DD/conn.HH:00:00-HH:00:00.log.gz``, hourly rotated Zeek TSV conn logs
  (21-field modern layout with the full header block and ``#close``);
* ``zeek-json``: the same files with one JSON object per line (dotted keys, unset keys omitted);
* ``cidds``: ``OUT/week1.csv`` ... in the CIDDS-001 layout (unidirectional flows, labels);
* with ``app_logs`` (``zeek`` only): also ``OUT/YYYY-MM-DD/dns.HH:...log.gz`` and
  ``http.HH:...log.gz``, Zeek's dns.log and http.log of the same connections (see
  ``applogs.py``), and the scenarios of ``APP_SCENARIOS`` planted in them; without it nothing
  of the output changes;

plus ``OUT/truth.json`` describing the network and every planted scenario (hosts, window, time
span, the uids of its connections or, for CIDDS, its attackID).

The network is modelled on CIDDS-001 (see ``network.py``): servers (DNS, domain controller,
web, app, db, file, mail, backup, git), management (admins, monitoring), office and developer
/24s behind a router, printers, and an internet of popular provider addresses, a long tail and
new addresses every day; address plan, roles and habits are drawn from the seed. The
background traffic is in ``traffic.py``, the planted scenarios (``SCENARIOS``) in
``scenarios.py``.

truth.json: ``generator`` (options, scale resolved), ``format``, ``start``/``end``, ``weeks``
(ISO week ids), ``gaps`` (maintenance windows without data), ``subnets`` (name -> CIDR),
``hosts`` (``id``, ``role``, ``subnet``, ``internal``: every internal host, named external
ones, scenario-only hosts) and ``scenarios``: ``id``, ``type``, ``attack_id``, ``window``,
``start``/``end`` (first/last connection, ISO UTC), ``hosts`` (``attacker`` = originator of
the scenario's connections, ``victims`` = their destinations, plus per-type roles such as
``pivot``, ``target``, ``c2``, ``new_host``, ``scanned_subnet``), ``pairs`` (directed host
pairs it creates), ``connections``, ``uids`` (Zeek formats; empty for CIDDS, whose rows carry
the attackID), ``description``, ``details`` and ``phases`` (attack_server's four attacks).

Output is a pure function of the options: same options, same bytes. Generation streams block
by block (a week at small scale, a day or a few hours at large scale) with bounded memory; a
block is generated on the calling thread while two threads compress and write the previous
one's hourly files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from graphnet import __version__
from graphnet.errors import ConfigError
from graphnet.generate.applogs import (
    DNS_FIELDS,
    DNS_TYPES,
    HTTP_FIELDS,
    HTTP_TYPES,
    AppPlant,
    AppVocab,
    app_header,
    dns_lines,
    http_lines,
)
from graphnet.generate.conns import Conns
from graphnet.generate.network import Network, build_network
from graphnet.generate.scenarios import (
    APP_SCENARIOS,
    SCENARIOS,
    Planned,
    iso_time,
    iso_week,
    plan,
)
from graphnet.generate.traffic import DAY_US, HOUR_US, US, Background
from graphnet.generate.writers import (
    CIDDS_HEADER,
    COMPRESSOR,
    Addresses,
    cidds_rows,
    gzip_bytes,
    uids,
    zeek_footer,
    zeek_header,
    zeek_lines,
)

__all__ = ["APP_SCENARIOS", "FORMATS", "SCENARIOS", "GenerateOptions", "GenerateResult",
           "default_scale", "generate"]

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("zeek", "zeek-json", "cidds")
FLOWS_PER_HOST_DAY = 210  # default scale: connections per host on an average working day
BLOCK_TARGET = 600_000  # aim at no more than this many records per block (memory bound)


@dataclass
class GenerateOptions:
    weeks: int = 4
    hosts: int = 120
    seed: int = 1
    format: str = "zeek"  # zeek | zeek-json | cidds
    scale: int | None = None  # connections per working day, whole network; None = default
    scenarios: tuple[str, ...] | None = None  # None = all of SCENARIOS
    start: str = "2024-03-04"  # a Monday (UTC)
    #: also write dns.log and http.log (zeek format) and plant APP_SCENARIOS (None: all)
    app_logs: bool = False


@dataclass
class GenerateResult:
    out: Path
    files: int  # data files written (hourly logs or weekly CSVs), truth.json not counted
    records: int  # log lines (Zeek) or CSV rows (CIDDS)
    truth_path: Path
    seconds: float
    scenario_records: dict[str, int] = field(default_factory=dict)


def default_scale(hosts: int) -> int:
    """Connections per working day for `hosts` hosts (about 130-140 k per week at 120 hosts)."""
    return FLOWS_PER_HOST_DAY * hosts


def _validate(o: GenerateOptions) -> tuple[dt.date, tuple[str, ...], int]:
    if o.format not in FORMATS:
        raise ConfigError(f"unknown format {o.format!r}", f"use one of {', '.join(FORMATS)}")
    if not 1 <= o.weeks <= 520:
        raise ConfigError(f"weeks must be between 1 and 520, got {o.weeks}")
    if o.hosts < 40:
        raise ConfigError(f"hosts must be at least 40, got {o.hosts}")
    if o.hosts > 20000:
        raise ConfigError(f"hosts must be at most 20000, got {o.hosts}")
    try:
        start = dt.date.fromisoformat(o.start)
    except ValueError as e:
        raise ConfigError(f"start {o.start!r} is not a date (YYYY-MM-DD)") from e
    if start.weekday() != 0:
        raise ConfigError(f"start {o.start} is a {start:%A}", "start must be a Monday so that "
                          "generated weeks are ISO weeks")
    if o.app_logs and o.format != "zeek":
        raise ConfigError(f"dns.log and http.log are written in the zeek format only, not "
                          f"{o.format}", "use --format zeek with --app-logs")
    known = {**SCENARIOS, **APP_SCENARIOS} if o.app_logs else SCENARIOS
    names = tuple(known) if o.scenarios is None else tuple(o.scenarios)
    unknown = [n for n in names if n not in known]
    if unknown:
        hint = (" (dns_tunnel, dga and ua_beacon need --app-logs)"
                if any(n in APP_SCENARIOS for n in unknown) else "")
        raise ConfigError(f"unknown scenario(s): {', '.join(unknown)}{hint}",
                          f"choose from {', '.join(known)}")
    scale = default_scale(o.hosts) if o.scale is None else int(o.scale)
    if scale < 100:
        raise ConfigError(f"scale must be at least 100 connections per day, got {scale}")
    return start, names, scale


_OUR_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OUR_FILE = re.compile(r"^(conn|dns|http)\.\d{2}:00:00-\d{2}:00:00\.log\.gz$")
_OUR_WEEK = re.compile(r"^week\d+\.csv$")


def _prepare(out: Path) -> None:
    """Create `out`; an earlier generate output there is replaced, anything else refused."""
    out.mkdir(parents=True, exist_ok=True)
    entries = sorted(out.iterdir())
    if not entries:
        return
    if not (out / "truth.json").is_file():
        raise ConfigError(f"{out} is not empty and holds no earlier generate output",
                          "choose an empty or new directory")
    for p in entries:
        if p.is_dir() and _OUR_DAY.match(p.name):
            for f in p.iterdir():
                if f.is_file() and _OUR_FILE.match(f.name):
                    f.unlink()
            if not any(p.iterdir()):
                p.rmdir()
        elif p.is_file() and (_OUR_WEEK.match(p.name) or p.name == "truth.json"):
            p.unlink()


def _plan_gaps(seed: int, weeks: int, start_us: int) -> list[tuple[int, int]]:
    """Maintenance gaps (no data at all): a few daytime hours on a working day and a short
    night gap on a weekend, like CIDDS-001's 11:00-14:00 and 01:00-03:00."""
    rng = np.random.default_rng([seed, 7])
    w1 = int(rng.integers(1, weeks + 1))
    d1 = (w1 - 1) * 7 + int(rng.integers(0, 5))
    h1 = int(rng.integers(10, 14))
    gaps = [(start_us + d1 * DAY_US + h1 * HOUR_US,
             start_us + d1 * DAY_US + (h1 + int(rng.integers(2, 4))) * HOUR_US)]
    if weeks >= 2:
        w2 = int(rng.integers(1, weeks + 1))
        d2 = (w2 - 1) * 7 + int(rng.integers(5, 7))
        gaps.append((start_us + d2 * DAY_US + 1 * HOUR_US,
                     start_us + d2 * DAY_US + (1 + int(rng.integers(1, 3))) * HOUR_US))
    return sorted(gaps)


def _hours_per_block(scale: int) -> int:
    """A week per block at small scale (fewer, larger vectorised steps), down to one hour at
    very large scale (bounded memory). Blocks never cross a day (or week) boundary."""
    for h in (168, 24, 12, 8, 6, 4, 3, 2, 1):
        if scale * h / 24 * 1.6 <= BLOCK_TARGET:
            return h
    return 1


@dataclass
class _Block:
    """One block of records, sorted by time, ready to be rendered."""

    first_hour: int
    n_hours: int
    conns: Conns
    uids: np.ndarray | None  # Zeek formats
    tag_uids: dict[int, list[str]]
    tag_stats: dict[int, tuple[int, int, int]]  # tag -> (count, first ts, last ts)


class _Run:
    def __init__(self, opts: GenerateOptions, net: Network, bg: Background, scen: Conns,
                 start_us: int, addr: Addresses, planned: list[Planned]) -> None:
        self.opts = opts
        self.net = net
        self.bg = bg
        self.scen = scen
        self.start_us = start_us
        self.addr = addr
        self.attack_ids = np.array([p.attack_id for p in planned] or [0], dtype=np.int64)
        self.descriptions = tuple(p.name for p in planned) or ("---",)
        self.vocab = AppVocab.build(net, opts.seed) if opts.app_logs else None
        self.plants: dict[int, AppPlant] = {i: p.app for i, p in enumerate(planned)
                                            if p.app is not None}

    def block(self, first_hour: int, n_hours: int) -> _Block:
        """Generate (calling thread): background + scenario records, sorted, with uids."""
        t0 = self.start_us + first_hour * HOUR_US
        t1 = t0 + n_hours * HOUR_US
        lo, hi = np.searchsorted(self.scen.ts, [t0, t1])
        c = Conns.concat([self.bg.block(first_hour, n_hours), self.scen.take(np.arange(lo, hi))])
        c = c.take(np.argsort(c.ts, kind="stable"))
        tag_uids: dict[int, list[str]] = {}
        tag_stats: dict[int, tuple[int, int, int]] = {}
        tagged = np.flatnonzero(c.tag >= 0)
        u = None if self.opts.format == "cidds" else uids(self.opts.seed, first_hour, len(c))
        for t in np.unique(c.tag[tagged]).tolist():
            sel = tagged[c.tag[tagged] == t]
            tag_stats[int(t)] = (int(sel.shape[0]), int(c.ts[sel[0]]), int(c.ts[sel[-1]]))
            if u is not None:
                tag_uids[int(t)] = u[sel].astype("U18").tolist()
        return _Block(first_hour, n_hours, c, u, tag_uids, tag_stats)

    def days(self, b: _Block) -> list[tuple[int, int, int, int]]:
        """(first hour, hours, row from, row to) of each day (or part of a day) in a block."""
        out = []
        h = b.first_hour
        end = b.first_hour + b.n_hours
        while h < end:
            n = min(end, (h // 24 + 1) * 24) - h
            t0 = self.start_us + h * HOUR_US
            lo, hi = np.searchsorted(b.conns.ts, [t0, t0 + n * HOUR_US])
            out.append((h, n, int(lo), int(hi)))
            h += n
        return out

    def zeek_files(self, out: Path, b: _Block, first_hour: int, n_hours: int, lo: int, hi: int
                   ) -> int:
        """Render, compress and write the hourly files of rows [lo, hi) (a worker thread)."""
        c = b.conns.slice(lo, hi)
        assert b.uids is not None
        body, off = zeek_lines(c, b.uids[lo:hi], self.addr, self.net.is_internal,
                               json=self.opts.format == "zeek-json")
        t0 = self.start_us + first_hour * HOUR_US
        bounds = np.searchsorted(c.ts, t0 + np.arange(n_hours + 1) * HOUR_US)
        written = 0
        for i in range(n_hours):
            a, z = int(bounds[i]), int(bounds[i + 1])
            if a == z:
                continue
            hs = t0 + i * HOUR_US
            h = (hs // HOUR_US) % 24
            date = (dt.date(1970, 1, 1) + dt.timedelta(days=hs // DAY_US)).isoformat()
            path = out / date / f"conn.{h:02d}:00:00-{(h + 1) % 24:02d}:00:00.log.gz"
            path.parent.mkdir(exist_ok=True)
            chunk = body[int(off[a]):int(off[z])]
            if self.opts.format == "zeek":
                data = gzip_bytes(zeek_header(int(c.ts[a])), chunk, zeek_footer(hs + HOUR_US))
            else:
                data = gzip_bytes(chunk)
            path.write_bytes(data)
            written += 1
        if self.vocab is not None:
            written += self.app_files(out, c, b.uids[lo:hi], first_hour, n_hours)
        return written

    def app_files(self, out: Path, c: Conns, uid: np.ndarray, first_hour: int, n_hours: int
                  ) -> int:
        """dns.log and http.log of the connections `c` (one day or part of one), hourly."""
        assert self.vocab is not None
        rng = np.random.default_rng([self.opts.seed, 32, first_hour])
        t0 = self.start_us + first_hour * HOUR_US
        written = 0
        for name, render, fields, types in (("dns", dns_lines, DNS_FIELDS, DNS_TYPES),
                                            ("http", http_lines, HTTP_FIELDS, HTTP_TYPES)):
            body, off, rows = render(c, uid, self.addr, rng, self.vocab, self.plants)
            bounds = np.searchsorted(c.ts[rows], t0 + np.arange(n_hours + 1) * HOUR_US)
            for i in range(n_hours):
                a, z = int(bounds[i]), int(bounds[i + 1])
                if a == z:
                    continue
                hs = t0 + i * HOUR_US
                h = (hs // HOUR_US) % 24
                date = (dt.date(1970, 1, 1) + dt.timedelta(days=hs // DAY_US)).isoformat()
                path = out / date / f"{name}.{h:02d}:00:00-{(h + 1) % 24:02d}:00:00.log.gz"
                path.parent.mkdir(exist_ok=True)
                head = app_header(name, fields, types, int(c.ts[rows[a]]))
                path.write_bytes(gzip_bytes(head, body[int(off[a]):int(off[z])],
                                            zeek_footer(hs + HOUR_US)))
                written += 1
        return written

    def cidds_text(self, b: _Block, lo: int, hi: int) -> tuple[memoryview, int]:
        body, _, rows = cidds_rows(b.conns.slice(lo, hi), self.addr, self.attack_ids,
                                   self.descriptions)
        return body, rows


class _WeekFiles:
    """CIDDS weekly CSVs, appended in order by a single thread."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.fh: BinaryIO | None = None

    def append(self, first_hour: int, parts: list[Future[tuple[memoryview, int]]]) -> int:
        created = 0
        if first_hour % (7 * 24) == 0:
            self.close()
            self.fh = open(self.out / f"week{first_hour // (7 * 24) + 1}.csv", "wb")
            self.fh.write(CIDDS_HEADER.encode())
            created = 1
        assert self.fh is not None
        for f in parts:
            self.fh.write(f.result()[0])
        return created

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def generate(out: Path, options: GenerateOptions,
             progress: Callable[[int, int], None] | None = None) -> GenerateResult:
    """Write synthetic traffic and truth.json into `out`; see the module docstring.

    `progress(done_days, total_days)` is called after every finished day.
    Raises ConfigError for invalid options or a non-empty foreign output directory.
    """
    t_begin = time.perf_counter()
    start, names, scale = _validate(options)
    out = Path(out)
    _prepare(out)
    start_us = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()) * US
    n_days = options.weeks * 7
    seed = int(options.seed)

    try:
        net = build_network(seed, options.hosts)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    gaps = _plan_gaps(seed, options.weeks, start_us)
    addr = Addresses(net.is_internal, options.format == "cidds", seed)
    host_ips = np.array([h.ip for h in net.hosts], dtype=np.uint32)
    ids = dict(zip(host_ips.tolist(), addr.texts(host_ips), strict=True))
    bg = Background(net, seed, scale, start_us, gaps)
    planned, forbid, flip = plan(net, bg, seed, options.weeks, start_us, gaps, names, ids)
    bg.forbid, bg.flip = forbid, flip
    scen = Conns.concat([p.records for p in planned])
    scen = scen.take(np.argsort(scen.ts, kind="stable"))
    run = _Run(options, net, bg, scen, start_us, addr, planned)
    hpb = _hours_per_block(scale)
    jobs = [(h, hpb) for h in range(0, n_days * 24, hpb)]
    logger.info("generating %d weeks, %d hosts, ~%d connections per working day, format %s, "
                "scenarios %s into %s", options.weeks, options.hosts, scale, options.format,
                ", ".join(names) or "none", out)

    files = 0
    records = 0
    tag_uids: dict[int, list[str]] = {i: [] for i in range(len(planned))}
    tag_stats: dict[int, list[int]] = {}
    inflight: deque[tuple[list[Future[Any]], int]] = deque()
    days_reported = 0

    def finish_one() -> None:
        nonlocal days_reported, files, records
        futs, hour_end = inflight.popleft()
        for f in futs:
            r = f.result()
            if isinstance(r, tuple):  # CIDDS text: (body, rows)
                records += r[1]
            else:
                files += int(r)
        while days_reported < hour_end // 24:
            days_reported += 1
            logger.debug("day %d/%d written", days_reported, n_days)
            if progress is not None:
                progress(days_reported, n_days)

    cidds = options.format == "cidds"
    weeks_out = _WeekFiles(out)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="generate-write") as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate-csv") as serial:
        try:
            for first_hour, n_hours in jobs:
                blk = run.block(first_hour, n_hours)
                futs: list[Future[Any]] = []
                for h, n, lo, hi in run.days(blk):
                    if cidds:
                        futs.append(pool.submit(run.cidds_text, blk, lo, hi))
                    else:
                        futs.append(pool.submit(run.zeek_files, out, blk, h, n, lo, hi))
                        records += hi - lo
                if cidds:
                    futs.append(serial.submit(weeks_out.append, first_hour, list(futs)))
                inflight.append((futs, first_hour + n_hours))
                for t, us_ in blk.tag_uids.items():
                    tag_uids[t].extend(us_)
                for t, (k, a, b) in blk.tag_stats.items():
                    if t in tag_stats:
                        s = tag_stats[t]
                        tag_stats[t] = [s[0] + k, min(s[1], a), max(s[2], b)]
                    else:
                        tag_stats[t] = [k, a, b]
                del blk
                while len(inflight) > 1:  # bounded memory: one block written, one generated
                    finish_one()
            while inflight:
                finish_one()
        finally:
            serial.submit(weeks_out.close).result()

    truth = _truth(options, scale, start, n_days, net, gaps, planned, tag_uids, tag_stats, ids)
    truth_path = out / "truth.json"
    tmp = out / "truth.json.tmp"
    tmp.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, truth_path)
    seconds = time.perf_counter() - t_begin
    logger.info("wrote %d records in %d files in %.1f s (%.0f records/s)", records, files,
                seconds, records / max(seconds, 1e-9))
    return GenerateResult(out, files, records, truth_path, seconds,
                          {p.name: tag_stats.get(i, [0])[0] for i, p in enumerate(planned)})


def _truth(options: GenerateOptions, scale: int, start: dt.date, n_days: int, net: Network,
           gaps: list[tuple[int, int]], planned: list[Planned], tag_uids: dict[int, list[str]],
           tag_stats: dict[int, list[int]], ids: dict[int, str]) -> dict[str, Any]:
    start_us = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()) * US
    weeks = [iso_week(start_us + w * 7 * DAY_US) for w in range(options.weeks)]
    hosts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for h in sorted(net.hosts, key=lambda h: (not h.internal, h.ip)):
        hid = ids[h.ip]
        if hid not in seen:
            seen.add(hid)
            hosts.append({"id": hid, "role": h.role, "subnet": h.subnet, "internal": h.internal})
    scen_out: list[dict[str, Any]] = []
    for i, p in enumerate(planned):
        count, first, last = tag_stats.get(i, [0, p.start_us, p.end_us])
        for role, key in (("c2", "c2"), ("new-host", "new_host")):
            host = p.hosts.get(key)
            if isinstance(host, str) and host not in seen:
                seen.add(host)
                internal = role == "new-host"
                subnet = next((n for n, cidr in net.subnets.items()
                               if cidr == p.details.get("subnet")), "external")
                hosts.append({"id": host, "role": role, "subnet": subnet if internal else
                              "external", "internal": internal})
        scen_out.append({
            "id": f"{p.name}-{p.attack_id}",
            "type": p.name,
            "attack_id": p.attack_id,
            "window": iso_week(first),
            "start": iso_time(first),
            "end": iso_time(last),
            "hosts": p.hosts,
            "pairs": p.pairs,
            "connections": count,
            "uids": tag_uids.get(i, []),
            "description": p.description,
            "details": p.details,
            "phases": p.phases,
        })
    opts = asdict(options)
    if not options.app_logs:
        del opts["app_logs"]  # truth.json of a run without application logs stays as it was
    opts["scale"] = scale
    opts["scenarios"] = [p.name for p in planned]
    return {
        "generator": {"name": "graphnet generate", "version": __version__, **opts,
                      "compressor": COMPRESSOR if options.format != "cidds" else None},
        "format": options.format,
        "start": iso_time(start_us),
        "end": iso_time(start_us + n_days * DAY_US),
        "weeks": weeks,
        "gaps": [{"start": iso_time(a), "end": iso_time(b)} for a, b in gaps],
        "subnets": net.subnets,
        "hosts": hosts,
        "scenarios": scen_out,
        "notes": ("uids are Zeek uids in the logs; for the cidds format they are empty and the "
                  "scenario's rows carry attackID = attack_id (class attacker for the "
                  "originator's direction, victim for the reply)"),
    }

