"""Scale benchmark: graphnet at three network sizes (≈ 2 M, 8 M and 32 M connections a week).

    .venv/bin/python bench/bench_scale.py [--sizes 2,8,32] [--cache DIR] [--json FILE]
                                          [--heap 4g] [--pagecache 4g] [--seed 11] [--keep-homes]
                                          [--plan-only | --data-only]

For each size (millions of connections a week; `--sizes 0.05` is a smoke run of a few minutes):

1. three weeks of Zeek TSV are generated with `graphnet generate` (cached, keyed by the generate
   options, under `--cache`, default ~/.cache/graphnet-bench/scale/). The number of internal
   hosts grows with the size (the generator's default density, 210 connections per host and
   working day; at most 20,000 hosts, the generator's limit) and `--scale` is solved from two
   small calibration runs at those hosts, since records a week = a(hosts) + b · scale;
2. baseline: `pandas.read_csv` of the same files (sep='\\t', comment='#', header=None, names from
   the `#fields` line), timed per week, before Neo4j is started;
3. a fresh GRAPHNET_HOME with its own local Neo4j (`graphnet neo4j start --heap --pagecache`,
   free ports; the jars are shared, not downloaded again) and three phases, each one graphnet
   CLI process: ingest of weeks 1-2 into the empty graph, ingest of week 3 into the populated
   graph, `graphnet analyse` of week 3 (every step; the two earlier weeks are its history).

Per phase: wall time, records/s, graphnet's peak RSS (ru_maxrss from os.wait4 of the child; any
grandchild is reported separately), CPU seconds, and Neo4j's RSS sampled from /proc of the
server during the phase (never added to graphnet's). Then the growth from the smallest to the
largest size and the issue's targets at the largest size, each marked met or not met (a missed
target never fails the run; a failed phase does, after everything measured was reported).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "graphnet-bench" / "scale"
WEEKS = 3
START = dt.date(2024, 3, 4)  # a Monday: generated weeks are ISO weeks
PER_HOST_WEEK = 210 * 5.4  # generator default: 210 connections per host and working day
MAX_HOSTS = 20_000  # `graphnet generate --hosts` upper limit
MIN_HOSTS = 40
GIB = 2**30
MIB = 2**20
CHILD_ENV_DROP = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_PASSWORD_FILE")
CHILD_ENV_DROP_PREFIX = "GRAPHNET_NEO4J_INSTANCE"


# --------------------------------------------------------------------------- formatting


def fmt_n(n: float) -> str:
    """4.79 M, 136 k, 950."""
    if n >= 1e6:
        return f"{n / 1e6:,.2f} M"
    if n >= 1e4:
        return f"{n / 1e3:,.0f} k"
    return f"{n:,.0f}"


def fmt_rate(n: float) -> str:
    return f"{n / 1e3:,.1f} k/s"


def fmt_bytes(b: float | None) -> str:
    if b is None:
        return "-"
    if b >= GIB:
        return f"{b / GIB:.2f} GiB"
    return f"{b / MIB:,.0f} MiB"


def fmt_ratio(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.{digits}f}×"


def size_label(size: float) -> str:
    return f"{size:g} M"


def stamp() -> str:
    return time.strftime("%H:%M:%S")


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- /proc sampling


def proc_status_kib(pid: int, key: str) -> int | None:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM) in KiB, None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_stat(pid: int) -> tuple[int, str, float] | None:
    """(ppid, comm, user+system CPU seconds) from /proc/PID/stat, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    lpar, rpar = text.find("("), text.rfind(")")
    rest = text[rpar + 2 :].split()
    try:
        cpu = (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
        return int(rest[1]), text[lpar + 1 : rpar], cpu
    except (IndexError, ValueError):
        return None


def descendants(root: int) -> dict[int, str]:
    """pid -> comm of every living descendant of `root` (a scan of /proc)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st is not None:
            children.setdefault(st[0], []).append((int(entry), st[1]))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for pid, comm in children.get(todo.pop(), []):
            if pid not in found:
                found[pid] = comm
                todo.append(pid)
    return found


class Sampler(threading.Thread):
    """Samples Neo4j's RSS and CPU and the phase child's descendants while the phase runs."""

    def __init__(self, child: int, neo4j_pid: int | None, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.child = child
        self.neo4j_pid = neo4j_pid
        self.interval = interval
        self.done = threading.Event()
        self.neo4j_rss_start: int | None = None  # bytes
        self.neo4j_rss_peak: int | None = None
        self.neo4j_rss_end: int | None = None
        self.neo4j_cpu_start: float | None = None
        self.neo4j_cpu_end: float | None = None
        self.neo4j_samples = 0
        self.child_hwm: int | None = None  # bytes, VmHWM last seen (cross-check of ru_maxrss)
        self.grandchildren: dict[int, dict[str, Any]] = {}
        self._sample_neo4j()
        self.neo4j_rss_start = self.neo4j_rss_end
        self.neo4j_cpu_start = self.neo4j_cpu_end

    def _sample_neo4j(self) -> None:
        if self.neo4j_pid is None:
            return
        rss = proc_status_kib(self.neo4j_pid, "VmRSS")
        st = proc_stat(self.neo4j_pid)
        if rss is not None:
            self.neo4j_rss_end = rss * 1024
            self.neo4j_rss_peak = max(self.neo4j_rss_peak or 0, rss * 1024)
            self.neo4j_samples += 1
        if st is not None:
            self.neo4j_cpu_end = st[2]

    def _sample_child(self) -> None:
        hwm = proc_status_kib(self.child, "VmHWM")
        if hwm is not None:
            self.child_hwm = max(self.child_hwm or 0, hwm * 1024)
        for pid, comm in descendants(self.child).items():
            g = self.grandchildren.setdefault(pid, {"pid": pid, "comm": comm, "peak_rss": 0})
            h = proc_status_kib(pid, "VmHWM")
            if h is not None:
                g["peak_rss"] = max(g["peak_rss"], h * 1024)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self._sample_neo4j()
            self._sample_child()

    def finish(self) -> None:
        self.done.set()
        self.join()
        self._sample_neo4j()


# --------------------------------------------------------------------------- subprocesses


@dataclass
class Proc:
    argv: list[str]
    returncode: int
    wall: float
    peak_rss: int  # bytes, ru_maxrss of the child (and any child it waited for)
    cpu: float  # user + system seconds
    stdout: str
    stderr: str
    sampler: Sampler | None = None


def graphnet_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "graphnet.cli", *args]


def child_env(home: Path | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CHILD_ENV_DROP and not k.startswith(CHILD_ENV_DROP_PREFIX)
    }
    if home is not None:
        env["GRAPHNET_HOME"] = str(home)
    return env


def run(
    argv: list[str],
    env: dict[str, str],
    logdir: Path,
    name: str,
    neo4j_pid: int | None = None,
    sample: bool = False,
) -> Proc:
    """Run `argv` to completion; wall time, ru_maxrss and CPU from os.wait4 of the child."""
    logdir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logdir / f"{name}.out", logdir / f"{name}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = Sampler(p.pid, neo4j_pid) if sample else None
        if sampler is not None:
            sampler.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if sampler is not None:
            sampler.finish()
    return Proc(
        argv=argv,
        returncode=p.returncode,
        wall=wall,
        peak_rss=ru.ru_maxrss * 1024,
        cpu=ru.ru_utime + ru.ru_stime,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        sampler=sampler,
    )


def tail(text: str, lines: int = 25) -> str:
    return "\n".join("    " + s for s in text.rstrip().splitlines()[-lines:])


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------- data sets


@dataclass
class DataSet:
    size: float
    target_per_week: int
    hosts: int
    scale: int
    seed: int
    path: Path
    cached: bool
    records: int
    files: int
    bytes: int
    generate_seconds: float | None
    generate_peak_rss: int | None
    calibration: dict[str, Any]

    def week_dirs(self, week: int) -> list[Path]:
        """Day folders of week 1, 2 or 3."""
        first = START + dt.timedelta(days=7 * (week - 1))
        days = {(first + dt.timedelta(days=i)).isoformat() for i in range(7)}
        return sorted(p for p in self.path.iterdir() if p.is_dir() and p.name in days)

    def week_files(self, week: int) -> list[Path]:
        return sorted(f for d in self.week_dirs(week) for f in d.glob("*.log.gz"))

    @staticmethod
    def window(week: int) -> str:
        y, w, _ = (START + dt.timedelta(days=7 * (week - 1))).isocalendar()
        return f"{y}-W{w:02d}"


def data_key(hosts: int, scale: int, seed: int, weeks: int = WEEKS) -> str:
    return f"zeek-h{hosts}-s{scale}-w{weeks}-seed{seed}-{START.isoformat()}"


def generate_argv(out: Path, hosts: int, scale: int, seed: int, weeks: int = WEEKS) -> list[str]:
    return graphnet_argv(
        "generate",
        str(out),
        "--weeks",
        str(weeks),
        "--hosts",
        str(hosts),
        "--scale",
        str(scale),
        "--seed",
        str(seed),
        "--start",
        START.isoformat(),
        "--format",
        "zeek",
        "--json",
    )


def probe(cache: Path, hosts: int, scale: int, seed: int, logdir: Path) -> int:
    """Records of a three-week calibration run at (hosts, scale); cached in calibration.json."""
    cal_file = cache / "calibration.json"
    cal: dict[str, int] = json.loads(cal_file.read_text()) if cal_file.exists() else {}
    key = data_key(hosts, scale, seed)
    if key in cal:
        return cal[key]
    out = cache / "probe" / key
    shutil.rmtree(out, ignore_errors=True)
    p = run(generate_argv(out, hosts, scale, seed), child_env(None), logdir, f"probe-{key}")
    shutil.rmtree(out, ignore_errors=True)
    with contextlib.suppress(OSError):
        out.parent.rmdir()
    res = parse_json(p.stdout)
    if p.returncode != 0 or not isinstance(res, dict):
        raise RuntimeError(f"calibration run failed (exit {p.returncode}):\n{tail(p.stderr)}")
    cal[key] = int(res["records"])
    cal_file.write_text(json.dumps(cal, indent=1, sort_keys=True) + "\n")
    return cal[key]


def plan(size: float, cache: Path, seed: int, logdir: Path) -> tuple[int, int, dict[str, Any]]:
    """(hosts, scale, calibration) for `size` million connections a week."""
    target = size * 1e6
    hosts = int(min(MAX_HOSTS, max(MIN_HOSTS, round(target / PER_HOST_WEEK))))
    guess = target / 5.3
    s1 = int(max(100, min(50_000, guess / 16)))
    s2 = int(max(4 * s1, min(200_000, guess / 4)))
    r1 = probe(cache, hosts, s1, seed, logdir) / WEEKS
    r2 = probe(cache, hosts, s2, seed, logdir) / WEEKS
    b = (r2 - r1) / (s2 - s1)  # records a week per unit of --scale
    a = r1 - b * s1  # records a week at scale 0 (scenarios, per-host floor)
    scale = max(100, round((target - a) / b))
    calib = {"probes": [[s1, round(r1)], [s2, round(r2)]], "per_scale": b, "floor": a}
    return hosts, scale, calib


def dataset(size: float, cache: Path, seed: int, logdir: Path) -> DataSet:
    hosts, scale, calib = plan(size, cache, seed, logdir)
    path = cache / "data" / data_key(hosts, scale, seed)
    meta_file = path / "bench-meta.json"
    cached = meta_file.exists()
    gen_seconds: float | None = None
    gen_rss: int | None = None
    if cached:
        meta = json.loads(meta_file.read_text())
    else:
        say(
            f"[{stamp()}] {size_label(size)}: generating {WEEKS} weeks, --hosts {hosts} "
            f"--scale {scale} --seed {seed} into {path} ..."
        )
        shutil.rmtree(path, ignore_errors=True)
        p = run(generate_argv(path, hosts, scale, seed), child_env(None), logdir, f"gen-{size:g}")
        res = parse_json(p.stdout)
        if p.returncode != 0 or not isinstance(res, dict):
            raise RuntimeError(f"graphnet generate failed (exit {p.returncode}):\n{tail(p.stderr)}")
        gen_seconds, gen_rss = p.wall, p.peak_rss
        meta = {"records": int(res["records"]), "files": int(res["files"]), "seconds": p.wall}
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        say(
            f"[{stamp()}]   {meta['records']:,} records in {meta['files']} files, "
            f"{p.wall:.1f} s ({meta['records'] / p.wall:,.0f} records/s), "
            f"peak RSS {fmt_bytes(p.peak_rss)}"
        )
    size_bytes = sum(f.stat().st_size for f in path.rglob("*.log.gz"))
    return DataSet(
        size=size,
        target_per_week=int(size * 1e6),
        hosts=hosts,
        scale=scale,
        seed=seed,
        path=path,
        cached=cached,
        records=int(meta["records"]),
        files=int(meta["files"]),
        bytes=size_bytes,
        generate_seconds=gen_seconds,
        generate_peak_rss=gen_rss,
        calibration=calib,
    )


# --------------------------------------------------------------------------- pandas baseline


def zeek_names(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#fields"):
                return line.rstrip("\n").split("\t")[1:]
            if not line.startswith("#"):
                break
    raise ValueError(f"{path}: no #fields line")


def pandas_parse(files: Sequence[Path]) -> tuple[int, float]:
    """Rows and seconds of `pandas.read_csv` of every file, one at a time (each file's
    `#fields` line read inside the timed part, as a reader of arbitrary files must)."""
    import pandas as pd

    rows = 0
    t0 = time.perf_counter()
    for f in files:
        frame = pd.read_csv(f, sep="\t", comment="#", header=None, names=zeek_names(f))
        rows += len(frame)
        del frame
    return rows, time.perf_counter() - t0


# --------------------------------------------------------------------------- one size


@dataclass
class Phase:
    name: str
    what: str
    records: int = 0
    wall: float | None = None
    rate: float | None = None
    peak_rss: int | None = None
    cpu: float | None = None
    neo4j_rss_start: int | None = None
    neo4j_rss_peak: int | None = None
    neo4j_rss_end: int | None = None
    neo4j_cpu: float | None = None
    pandas_seconds: float | None = None
    pandas_ratio: float | None = None
    load_start: float | None = None
    returncode: int | None = None
    status: str = "not run"
    grandchildren: list[dict[str, Any]] = field(default_factory=list)
    child_vmhwm: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SizeRun:
    size: float
    data: dict[str, Any]
    pandas: dict[str, Any] = field(default_factory=dict)
    neo4j: dict[str, Any] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def ok(self) -> bool:
        return not self.errors and all(p.status == "ok" for p in self.phases)

    def total_wall(self) -> float | None:
        """Wall time of the three phases, None unless all three completed."""
        if len(self.phases) != 3 or any(p.status != "ok" for p in self.phases):
            return None
        return sum(p.wall or 0.0 for p in self.phases)

    def max_rss(self) -> int | None:
        """graphnet's own peak: its CLI processes and any of their children but Neo4j's JVMs
        (the bulk import tool and the server it restarts run with the configured `--heap` and
        page cache, Neo4j's memory: `neo4j_jvm_rss`)."""
        vals = [p.peak_rss for p in self.phases if p.peak_rss is not None]
        vals += [g["peak_rss"] for p in self.phases for g in p.grandchildren if g["comm"] != "java"]
        return max(vals) if vals else None

    def neo4j_jvm_rss(self) -> int | None:
        """The largest peak of the Neo4j JVMs graphnet started during a phase."""
        vals = [g["peak_rss"] for p in self.phases for g in p.grandchildren if g["comm"] == "java"]
        return max(vals) if vals else None

    def total_records(self) -> int:
        return sum(p.records for p in self.phases)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shared_dist(cache: Path) -> Path:
    """Where the Neo4j jars are kept for every fresh home: the user's graphnet home's (so an
    installed Neo4j is not downloaded again), else a folder in the cache."""
    env = os.environ.get("GRAPHNET_HOME")
    user_home = Path(env).expanduser() if env else Path.home() / ".local" / "share" / "graphnet"
    dist = user_home / "neo4j" / "dist"
    if dist.is_dir():
        return dist
    dist = cache / "neo4j-dist"
    dist.mkdir(parents=True, exist_ok=True)
    return dist


def neo4j_conf_memory(instance_dir: Path) -> dict[str, str]:
    """The memory settings as written into the instance's neo4j.conf."""
    keys = (
        "server.memory.heap.initial_size",
        "server.memory.heap.max_size",
        "server.memory.pagecache.size",
    )
    found: dict[str, str] = {}
    conf = instance_dir / "conf" / "neo4j.conf"
    try:
        for line in conf.read_text().splitlines():
            k, _, v = line.partition("=")
            if k.strip() in keys:
                found[k.strip()] = v.strip()
    except OSError:
        pass
    return found


def run_size(
    ds: DataSet, args: argparse.Namespace, cache: Path, logdir: Path, run_id: str
) -> SizeRun:
    label = size_label(ds.size)
    sr = SizeRun(
        size=ds.size,
        data={
            **{k: v for k, v in asdict(ds).items() if k != "path"},
            "path": str(ds.path),
        },
    )
    weeks = {w: ds.week_files(w) for w in (1, 2, 3)}

    # baseline first, with no Neo4j running
    say(f"[{stamp()}] {label}: pandas.read_csv baseline (load {load()[0]:.2f}) ...")
    per_week: dict[int, tuple[int, float]] = {}
    for w, files in weeks.items():
        per_week[w] = pandas_parse(files)
    sr.pandas = {
        f"week{w}": {"files": len(weeks[w]), "rows": r, "seconds": s, "rows_per_s": r / s}
        for w, (r, s) in per_week.items()
    }
    sr.data["records_per_week"] = [per_week[w][0] for w in (1, 2, 3)]
    for w, (r, s) in per_week.items():
        say(f"[{stamp()}]   week {w}: {r:,} rows in {s:.1f} s ({r / s:,.0f} rows/s)")

    home = cache / "homes" / f"{ds.size:g}-{run_id}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "neo4j").mkdir(parents=True)
    (home / "neo4j" / "dist").symlink_to(shared_dist(cache), target_is_directory=True)
    env = child_env(home)
    neo4j_pid: int | None = None
    started = False
    try:
        bolt, http = free_port(), free_port()
        say(
            f"[{stamp()}] {label}: starting Neo4j in {home} (heap {args.heap}, "
            f"page cache {args.pagecache}, bolt {bolt}) ..."
        )
        p = run(
            graphnet_argv(
                "neo4j",
                "start",
                "--bolt-port",
                str(bolt),
                "--http-port",
                str(http),
                "--heap",
                args.heap,
                "--pagecache",
                args.pagecache,
            ),
            env,
            logdir,
            f"{ds.size:g}-neo4j-start",
        )
        started = True  # even a failed start may have left a server behind: stop it
        if p.returncode != 0:
            sr.errors.append(f"graphnet neo4j start failed (exit {p.returncode})")
            say(
                f"[{stamp()}] {label}: Neo4j did not start (exit {p.returncode}):\n{tail(p.stderr)}"
            )
            return sr
        st = parse_json(run(graphnet_argv("neo4j", "status", "--json"), env, logdir, "st").stdout)
        neo4j_pid = st.get("pid") if isinstance(st, dict) else None
        inst_dir = Path(st["instance_dir"]) if isinstance(st, dict) else home
        sr.neo4j = {
            "heap": args.heap,
            "pagecache": args.pagecache,
            "conf": neo4j_conf_memory(inst_dir),
            "pid": neo4j_pid,
            "start_seconds": p.wall,
            "version": st.get("version") if isinstance(st, dict) else None,
        }
        say(
            f"[{stamp()}]   Neo4j {sr.neo4j['version']} up in {p.wall:.1f} s (pid {neo4j_pid}); "
            f"neo4j.conf: {', '.join(f'{k}={v}' for k, v in sr.neo4j['conf'].items())}"
        )
        if neo4j_pid is None:
            say("  (no Neo4j pid: its RSS cannot be sampled)")

        phase_specs = [
            (
                "ingest empty",
                "ingest weeks 1-2 into the empty graph",
                # week windows named: `auto` would choose day windows for two weeks of data,
                # and the analysis is of week 3
                graphnet_argv(
                    "ingest",
                    "--window",
                    "week",
                    "--json",
                    "-q",
                    *[str(d) for w in (1, 2) for d in ds.week_dirs(w)],
                ),
                per_week[1][0] + per_week[2][0],
                per_week[1][1] + per_week[2][1],
            ),
            (
                "ingest +1 week",
                "ingest week 3 into the populated graph",
                graphnet_argv("ingest", "--json", "-q", *[str(d) for d in ds.week_dirs(3)]),
                per_week[3][0],
                per_week[3][1],
            ),
            (
                "analyse",
                f"analyse {ds.window(3)} (every step, weeks 1-2 as history)",
                graphnet_argv("analyse", "--window", ds.window(3), "--json"),
                per_week[3][0],
                per_week[3][1],
            ),
        ]
        for i, (name, what, argv, records, pandas_s) in enumerate(phase_specs, 1):
            ph = Phase(name=name, what=what, records=records, pandas_seconds=pandas_s)
            sr.phases.append(ph)
            if any(q.status != "ok" for q in sr.phases[:-1] if q.name.startswith("ingest")):
                ph.status = "skipped: an earlier ingest failed"
                say(f"[{stamp()}] {label}: phase {i} {what}: skipped (an earlier ingest failed)")
                continue
            ph.load_start = load()[0]
            say(
                f"[{stamp()}] {label}: phase {i} {what}: {records:,} records, started "
                f"(load {ph.load_start:.2f})"
            )
            p = run(argv, env, logdir, f"{ds.size:g}-phase{i}", neo4j_pid=neo4j_pid, sample=True)
            fill_phase(ph, p)
            if ph.status != "ok":
                sr.errors.append(f"phase {i} ({name}) exit {p.returncode}")
                say(f"[{stamp()}] {label}: phase {i} FAILED (exit {p.returncode}); stderr tail:")
                say(tail(p.stderr))
            say(
                f"[{stamp()}] {label}: phase {i} {'done' if ph.status == 'ok' else 'ended'} in "
                f"{p.wall:.1f} s: {fmt_rate(ph.rate or 0)}, graphnet peak RSS "
                f"{fmt_bytes(ph.peak_rss)}, Neo4j RSS peak {fmt_bytes(ph.neo4j_rss_peak)}"
                + (f"; {ph.detail['note']}" if ph.detail.get("note") else "")
            )
            if name.startswith("ingest"):
                s = parse_json(run(graphnet_argv("stats", "--json"), env, logdir, "stats").stdout)
                if isinstance(s, dict):
                    sr.stats[f"after phase {i}"] = s
        st = parse_json(run(graphnet_argv("neo4j", "status", "--json"), env, logdir, "st").stdout)
        if isinstance(st, dict):
            sr.neo4j["data_size"] = st.get("data_size")
        sr.neo4j["home_bytes"] = folder_bytes(home)
    finally:
        if started:
            p = run(graphnet_argv("neo4j", "stop"), env, logdir, f"{ds.size:g}-neo4j-stop")
            if p.returncode != 0:
                say(f"[{stamp()}] {label}: graphnet neo4j stop failed:\n{tail(p.stderr)}")
            elif not args.keep_homes:
                shutil.rmtree(home, ignore_errors=True)
    return sr


def folder_bytes(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def fill_phase(ph: Phase, p: Proc) -> None:
    ph.returncode = p.returncode
    ph.status = "ok" if p.returncode == 0 else f"failed (exit {p.returncode})"
    ph.wall = p.wall
    ph.cpu = p.cpu
    ph.peak_rss = p.peak_rss
    s = p.sampler
    if s is not None:
        ph.neo4j_rss_start, ph.neo4j_rss_peak, ph.neo4j_rss_end = (
            s.neo4j_rss_start,
            s.neo4j_rss_peak,
            s.neo4j_rss_end,
        )
        if s.neo4j_cpu_start is not None and s.neo4j_cpu_end is not None:
            ph.neo4j_cpu = s.neo4j_cpu_end - s.neo4j_cpu_start
        ph.grandchildren = list(s.grandchildren.values())
        ph.child_vmhwm = s.child_hwm
    out = parse_json(p.stdout)
    notes: list[str] = []
    if ph.name.startswith("ingest") and isinstance(out, dict):
        ph.detail = {k: out.get(k) for k in ("accepted", "rejected", "seconds", "written")}
        ph.detail["files"] = len(out.get("files") or [])
        if out.get("accepted") is not None:
            if int(out["accepted"]) != ph.records:
                notes.append(f"ingest accepted {out['accepted']:,} of {ph.records:,} rows")
            ph.records = int(out["accepted"])
        if out.get("rejected"):
            notes.append(f"{out['rejected']:,} rejected")
    elif ph.name == "analyse" and isinstance(out, dict):
        steps = [s for w in out.get("windows", []) for s in w.get("steps", [])]
        ph.detail = {
            "seconds": out.get("seconds"),
            "failed": out.get("failed"),
            "message": out.get("message"),
            "steps": [
                {
                    k: s.get(k)
                    for k in (
                        "name",
                        "status",
                        "seconds",
                        "findings",
                        "message",
                        "rss_mib",
                        "peak_rss_mib",
                        "step_peak_rss_mib",
                    )
                }
                for s in steps
            ],
        }
        bad = [f"{s['name']} {s['status']}" for s in steps if s.get("status") != "ok"]
        if bad:
            notes.append("steps not ok: " + ", ".join(bad))
    if ph.grandchildren:
        notes.append(
            "grandchildren: "
            + ", ".join(f"{g['comm']} ({fmt_bytes(g['peak_rss'])})" for g in ph.grandchildren)
        )
    if notes:
        ph.detail["note"] = "; ".join(notes)
    if ph.wall:
        ph.rate = ph.records / ph.wall
    if ph.pandas_seconds:
        ph.pandas_ratio = ph.wall / ph.pandas_seconds


# --------------------------------------------------------------------------- report


def print_size(sr: SizeRun) -> None:
    d = sr.data
    say("")
    say(
        f"== {size_label(sr.size)} connections a week: --hosts {d['hosts']} --scale {d['scale']} "
        f"--seed {d['seed']} --weeks {WEEKS} ({'cached' if d['cached'] else 'generated now'})"
    )
    rpw = d.get("records_per_week") or []
    say(
        f"   {d['records']:,} records in {d['files']} files, {fmt_bytes(d['bytes'])} gzip; "
        f"per week {', '.join(f'{r:,}' for r in rpw)}"
        + (f" (target {d['target_per_week']:,})" if rpw else "")
    )
    if sr.pandas:
        tot_r = sum(v["rows"] for v in sr.pandas.values())
        tot_s = sum(v["seconds"] for v in sr.pandas.values())
        say(f"   pandas.read_csv: {tot_r:,} rows in {tot_s:.1f} s ({tot_r / tot_s:,.0f} rows/s)")
    if sr.neo4j:
        say(
            f"   Neo4j: heap {sr.neo4j['heap']}, page cache {sr.neo4j['pagecache']}; "
            f"store on disk after the run {fmt_bytes(sr.neo4j.get('data_size'))}, "
            f"GRAPHNET_HOME {fmt_bytes(sr.neo4j.get('home_bytes'))}"
        )
    for k, s in sr.stats.items():
        say(
            f"   graph {k}: {s.get('hosts', 0):,} hosts, {s.get('edges', 0):,} edges, "
            f"{s.get('connections', 0):,} connections, {s.get('windows')} windows"
        )
    head = (
        f"   {'phase':<15} {'records':>10} {'wall s':>8} {'records/s':>11} {'CPU s':>7} "
        f"{'graphnet RSS':>12} {'Neo4j RSS peak':>14} {'Neo4j CPU s':>11} {'÷ pandas':>8} "
        f"{'load':>5}  status"
    )
    say(head)
    say("   " + "-" * (len(head) - 3))
    for p in sr.phases:
        say(
            f"   {p.name:<15} {fmt_n(p.records):>10} "
            f"{'-' if p.wall is None else f'{p.wall:.1f}':>8} "
            f"{'-' if p.rate is None else fmt_rate(p.rate):>11} "
            f"{'-' if p.cpu is None else f'{p.cpu:.1f}':>7} {fmt_bytes(p.peak_rss):>12} "
            f"{fmt_bytes(p.neo4j_rss_peak):>14} "
            f"{'-' if p.neo4j_cpu is None else f'{p.neo4j_cpu:.1f}':>11} "
            f"{fmt_ratio(p.pandas_ratio, 1):>8} "
            f"{'-' if p.load_start is None else f'{p.load_start:.2f}':>5}  {p.status}"
        )
    for p in sr.phases:
        if p.detail.get("note"):
            say(f"   {p.name}: {p.detail['note']}")
        if p.name == "analyse" and p.detail.get("steps"):
            say(
                "   analyse steps: "
                + ", ".join(
                    f"{s['name']} {s['seconds']:.1f} s"
                    + ("" if s["status"] == "ok" else f" ({s['status']})")
                    for s in p.detail["steps"]
                    if s.get("seconds") is not None
                )
            )
            say(
                "   analyse memory after each step, resident / peak so far (GiB): "
                + ", ".join(
                    f"{s['name']} {s['rss_mib'] / 1024:.2f} / {s['peak_rss_mib'] / 1024:.2f}"
                    for s in p.detail["steps"]
                    if s.get("rss_mib") is not None and s.get("peak_rss_mib") is not None
                )
            )
            say(
                "   analyse peak of each step alone (GiB): "
                + ", ".join(
                    f"{s['name']} {s['step_peak_rss_mib'] / 1024:.2f}"
                    for s in p.detail["steps"]
                    if s.get("step_peak_rss_mib") is not None
                )
            )
    say(
        "   (graphnet RSS: ru_maxrss of the phase's graphnet process from os.wait4; Neo4j RSS: "
        "VmRSS of the server sampled every 0.5 s; ÷ pandas: phase wall time over "
        "pandas.read_csv of the same files — week 3 for the last two phases)"
    )
    for e in sr.errors:
        say(f"   ERROR: {e}")


def growth(runs: list[SizeRun]) -> dict[str, Any] | None:
    done = [r for r in runs if r.phases]
    if len(done) < 2:
        return None
    lo, hi = min(done, key=lambda r: r.size), max(done, key=lambda r: r.size)
    out: dict[str, Any] = {"from": lo.size, "to": hi.size, "phases": {}}
    for a in lo.phases:
        b = hi.phase(a.name)
        if b is None or not a.records or a.wall is None or b.wall is None:
            continue
        rec = b.records / a.records
        wall = b.wall / a.wall
        out["phases"][a.name] = {
            "records": rec,
            "wall": wall,
            "wall_per_record": wall / rec,
            "exponent": math.log(wall) / math.log(rec) if rec > 1 and wall > 0 else None,
            "rss": (b.peak_rss / a.peak_rss) if a.peak_rss and b.peak_rss else None,
            "neo4j_rss": (
                b.neo4j_rss_peak / a.neo4j_rss_peak
                if a.neo4j_rss_peak and b.neo4j_rss_peak
                else None
            ),
        }
    ta, tb = lo.total_wall(), hi.total_wall()
    if ta and tb:
        rec = hi.total_records() / lo.total_records()
        out["total"] = {"records": rec, "wall": tb / ta, "wall_per_record": tb / ta / rec}
    ra, rb = lo.max_rss(), hi.max_rss()
    out["max_rss"] = rb / ra if ra and rb else None
    return out


def print_growth(g: dict[str, Any] | None) -> None:
    say("")
    if g is None:
        say("== growth: one size only, no growth ratios")
        return
    say(f"== growth from {size_label(g['from'])} to {size_label(g['to'])} a week")
    say(
        f"   {'phase':<15} {'records ×':>10} {'wall ×':>8} {'wall/record ×':>14} "
        f"{'exponent':>8} {'graphnet RSS ×':>15} {'Neo4j RSS ×':>12}"
    )
    rows = list(g["phases"].items())
    for name, v in rows:
        say(
            f"   {name:<15} {fmt_ratio(v['records']):>10} {fmt_ratio(v['wall']):>8} "
            f"{fmt_ratio(v['wall_per_record']):>14} "
            f"{'-' if v['exponent'] is None else format(v['exponent'], '.2f'):>8} "
            f"{fmt_ratio(v['rss']):>15} {fmt_ratio(v['neo4j_rss']):>12}"
        )
    if "total" in g:
        t = g["total"]
        say(
            f"   {'all 3 phases':<15} {fmt_ratio(t['records']):>10} {fmt_ratio(t['wall']):>8} "
            f"{fmt_ratio(t['wall_per_record']):>14}"
        )
    say(f"   largest graphnet peak RSS of the run: {fmt_ratio(g['max_rss'])}")
    say("   (exponent: log(wall ×) / log(records ×); 1 = linear)")


def targets(runs: list[SizeRun], g: dict[str, Any] | None) -> list[dict[str, Any]]:
    done = [r for r in runs if r.phases]
    if not done:
        return []
    big = max(done, key=lambda r: r.size)
    res: list[dict[str, Any]] = []

    def add(name: str, value: str, met: bool | None, why: str = "") -> None:
        res.append({"target": name, "value": value, "met": met, "note": why})

    rss = big.max_rss()
    jvm = big.neo4j_jvm_rss()
    add(
        "peak RSS of any graphnet process < 3 GiB",
        fmt_bytes(rss),
        None if rss is None else rss < 3 * GIB,
        ""
        if jvm is None
        else f"Neo4j's JVMs started by graphnet (import tool, server): {fmt_bytes(jvm)}, "
        f"heap {big.neo4j.get('heap')}, page cache {big.neo4j.get('pagecache')}",
    )
    if g is None or g.get("max_rss") is None:
        add("… and flat (largest ÷ smallest size ≤ 1.25)", "-", None, "needs two sizes")
    else:
        add(
            "… and flat (largest ÷ smallest size ≤ 1.25)",
            fmt_ratio(g["max_rss"]),
            g["max_rss"] <= 1.25,
        )

    def rate_target(phase: str, name: str, floor: float) -> None:
        p = big.phase(phase)
        ok = p is not None and p.status == "ok" and p.rate is not None
        add(
            name,
            fmt_rate(p.rate) if p is not None and p.rate is not None else "-",
            (p.rate >= floor) if ok and p is not None and p.rate is not None else None,
            "" if ok else "phase did not complete",
        )

    rate_target("ingest empty", "ingest into the empty graph ≥ 250 k records/s", 250e3)
    p = big.phase("ingest empty")
    ok = p is not None and p.status == "ok" and p.pandas_ratio is not None
    add(
        "ingest into the empty graph ≤ 2× pandas parse",
        fmt_ratio(p.pandas_ratio, 1) if p is not None else "-",
        (p.pandas_ratio <= 2) if ok and p is not None and p.pandas_ratio is not None else None,
        "" if ok else "phase did not complete",
    )
    rate_target("ingest +1 week", "one more week ≥ 100 k records/s", 100e3)
    rate_target("analyse", "analyse ≥ 150 k records/s", 150e3)
    base = next((r for r in done if r.size == 2), None) or min(done, key=lambda r: r.size)
    ta, tb = base.total_wall(), big.total_wall()
    name = "largest run's cost ≤ 18× the 2 M run, scaled by the record ratio (× 18/16)"
    if base is big:
        add(name, "-", None, "needs two sizes")
    elif ta is None or tb is None:
        add(name, "-", None, "a phase did not complete")
    else:
        rec = big.total_records() / base.total_records()
        limit = rec * 18 / 16
        add(
            name,
            f"{tb / ta:.2f}× for {rec:.2f}× records (limit {limit:.2f}×)",
            tb / ta <= limit,
            "" if base.size == 2 else f"base is the {size_label(base.size)} run, not 2 M",
        )
    return res


def print_targets(runs: list[SizeRun], res: list[dict[str, Any]]) -> None:
    done = [r for r in runs if r.phases]
    if not done:
        return
    big = max(done, key=lambda r: r.size)
    say("")
    say(f"== the issue's targets at the largest size run ({size_label(big.size)} a week)")
    if big.size < 32:
        say("   (the issue states them for the 32 M size; this run's largest is smaller)")
    for t in res:
        mark = {True: "met", False: "NOT MET", None: "not judged"}[t["met"]]
        note = f"  ({t['note']})" if t["note"] else ""
        say(f"   {mark:<10} {t['target']}: {t['value']}{note}")


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(
            ["git", "-C", str(REPO), *a], capture_output=True, text=True, check=False
        )
        return r.stdout.rstrip("\n")

    status = git("status", "--porcelain", "--", "graphnet").splitlines()
    dirty = [line[3:] for line in status if len(line) > 3]
    return {
        "commit": git("rev-parse", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "uncommitted_in_graphnet": dirty,
    }


def mem_total() -> int | None:
    kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
    except OSError:
        pass
    return None if kib is None else kib * 1024


# --------------------------------------------------------------------------- main


def parse_sizes(text: str) -> list[float]:
    try:
        sizes = sorted({float(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive (millions of connections/week)")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[2.0, 8.0, 32.0],
        help="millions of connections a week, comma-separated (default 2,8,32)",
    )
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"default {DEFAULT_CACHE}")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    ap.add_argument("--heap", default="4g", help="Neo4j JVM heap (default 4g)")
    ap.add_argument("--pagecache", default="4g", help="Neo4j page cache (default 4g)")
    ap.add_argument("--seed", type=int, default=11, help="generator seed (default 11)")
    ap.add_argument(
        "--plan-only",
        action="store_true",
        help="only print the generate options chosen per size (small calibration runs)",
    )
    ap.add_argument(
        "--data-only",
        action="store_true",
        help="only generate (or find cached) the data sets and print their record counts",
    )
    ap.add_argument(
        "--keep-homes", action="store_true", help="keep each size's GRAPHNET_HOME (graph, archive)"
    )
    args = ap.parse_args(argv)

    cache: Path = args.cache.expanduser().resolve()
    if cache == REPO or REPO in cache.parents:
        ap.error("--cache must be outside the repository")
    cache.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    logdir = cache / "logs" / run_id

    gs = git_state()
    load_start = load()
    say(f"graphnet scale benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    say(
        f"graphnet commit {gs['commit'][:12]} ({gs['subject']})"
        + (
            f"; {len(gs['uncommitted_in_graphnet'])} uncommitted changes in graphnet/ "
            f"({', '.join(gs['uncommitted_in_graphnet'][:3])}"
            f"{', ...' if len(gs['uncommitted_in_graphnet']) > 3 else ''}; all in --json)"
            if gs["uncommitted_in_graphnet"]
            else ""
        )
    )
    say(
        f"machine: {os.cpu_count()} CPUs, {fmt_bytes(mem_total())} RAM, Python "
        f"{platform.python_version()}; load average at start "
        f"{load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}"
    )
    say(f"Neo4j per size: heap {args.heap}, page cache {args.pagecache} (fresh GRAPHNET_HOME)")
    overrides = {k: v for k, v in os.environ.items() if k.startswith("GRAPHNET_")}
    if overrides:
        say(f"graphnet settings from the environment: {overrides}")
    dropped = [k for k in CHILD_ENV_DROP if k in os.environ]
    if dropped:
        say(f"not passed to graphnet (each size uses its own local Neo4j): {', '.join(dropped)}")
    say(f"sizes {', '.join(size_label(s) for s in args.sizes)}; cache {cache}; logs {logdir}")

    if args.plan_only:
        for size in args.sizes:
            hosts, scale, calib = plan(size, cache, args.seed, logdir)
            est = calib["floor"] + calib["per_scale"] * scale
            say(
                f"{size_label(size)} a week: graphnet generate --weeks {WEEKS} --hosts {hosts} "
                f"--scale {scale} --seed {args.seed} --start {START.isoformat()} "
                f"(calibration {calib['probes']} [scale, records a week] -> "
                f"{calib['per_scale']:.3f} records a week per unit of scale + "
                f"{calib['floor']:,.0f}; expected {est:,.0f} a week)"
            )
        return 0

    runs: list[SizeRun] = []
    failed = False
    for size in args.sizes:
        try:
            ds = dataset(size, cache, args.seed, logdir)
        except (RuntimeError, OSError, ValueError) as exc:
            say(f"[{stamp()}] {size_label(size)}: no data set: {exc}")
            failed = True
            continue
        if args.data_only:
            say(
                f"{size_label(size)} a week: --hosts {ds.hosts} --scale {ds.scale}: "
                f"{ds.records:,} records ({ds.records / WEEKS:,.0f} a week) in {ds.files} files, "
                f"{fmt_bytes(ds.bytes)}, {ds.path}" + (" (cached)" if ds.cached else "")
            )
            continue
        sr = run_size(ds, args, cache, logdir, run_id)
        runs.append(sr)
        print_size(sr)
        failed |= not sr.ok()

    if args.data_only:
        return 1 if failed else 0
    g = growth(runs)
    print_growth(g)
    res = targets(runs, g)
    print_targets(runs, res)
    load_end = load()
    say("")
    say(
        f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}"
    )
    if args.json is not None:
        doc = {
            "git": gs,
            "machine": {"cpus": os.cpu_count(), "mem_bytes": mem_total()},
            "load_start": load_start,
            "load_end": load_end,
            "neo4j": {"heap": args.heap, "pagecache": args.pagecache},
            "cache": str(cache),
            "sizes": [asdict(r) for r in runs],
            "growth": g,
            "targets": res,
            "failed": failed,
        }
        args.json.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        say(f"figures written to {args.json}")
    if failed:
        say("a phase failed: exit 1")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
