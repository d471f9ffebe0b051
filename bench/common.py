"""What every benchmark shares: machine facts, result files, tables, crawl subprocesses.

Measurements on a shared 2-core machine are noisy, so each benchmark runs a candidate and its
baselines in the same run, interleaved, and reports ratios beside the raw figures.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import pickle
import platform
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from replica import ReplicaServer
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------- machine and versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine_facts() -> dict:
    """Where and with what the figures were measured."""
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    try:
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        memory_kb = None
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": memory_kb // 1024 if memory_kb else None,
        "load_average_at_end": [round(x, 2) for x in load] if load else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {
            name: _version(name)
            for name in (
                "scrapy",
                "parsel",
                "lxml",
                "beautifulsoup4",
                "nh3",
                "sqlite-utils",
                "datasette",
                "trafilatura",
                "warcio",
                "twisted",
            )
        },
        "git": git_revision(),
    }


# ---------------------------------------------------------------- results


def write_results(name: str, payload: dict) -> Path:
    """``bench/results/<name>.json`` with the machine facts and the command that made it."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "-m", "bench", *sys.argv[1:]]),
        "machine": machine_facts(),
        **payload,
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {path.relative_to(PROJECT_ROOT)}")
    return path


def table(headers: Sequence[str], rows: Iterable[Sequence], title: str | None = None) -> str:
    """A plain-text table, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    numeric = [all(_is_number(r[i]) for r in cells) and cells for i in range(len(headers))]

    def line(values):
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=False)
        ).rstrip()

    out = [title, ""] if title else []
    out += [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    text = "\n".join(out)
    print(text)
    return text


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,]*\.?\d+×?|—", text))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0–1): p95 of 40 samples is the 38th smallest."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-int(share * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def interleaved(variants: Sequence[str], repetitions: int) -> list[tuple[int, str]]:
    """(repetition, variant) pairs, the order rotated each repetition so that drifting load
    on the machine falls on every variant alike."""
    order = []
    for rep in range(repetitions):
        shift = rep % len(variants)
        for name in [*variants[shift:], *variants[:shift]]:
            order.append((rep, name))
    return order


# ---------------------------------------------------------------- crawls as subprocesses


STATS_LINE = re.compile(r"'(?P<key>[\w/.-]+)': (?P<value>[-\d.]+)[,}]")


def scrapy_stats(log: str) -> dict[str, float]:
    """Numeric stats from the "Dumping Scrapy stats" block at the end of a crawl's log."""
    start = log.rfind("Dumping Scrapy stats")
    stats = {}
    for match in STATS_LINE.finditer(log[start:] if start >= 0 else ""):
        value = match["value"]
        stats[match["key"]] = float(value) if "." in value else int(value)
    return stats


class RssPoller:
    """Peak resident memory of one process, read from /proc/<pid>/status every ``interval``
    seconds (VmHWM, the kernel's own high-water mark, so a short peak between polls counts)."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_process(
    argv: list[str], *, env: dict | None = None, timeout: float = 3600, check: bool = True
) -> dict:
    """Run a command to completion: wall time, exit status, its log (stderr) and peak RSS."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=env or crawl_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    with RssPoller(process.pid) as poller:
        try:
            _, log = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            _, log = process.communicate()
            raise RuntimeError(f"timed out after {timeout}s: {' '.join(argv[:6])}…") from None
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if check and process.returncode != 0:
        raise RuntimeError(f"exit {process.returncode}: {' '.join(argv[:6])}…\n{log[-4000:]}")
    return {
        "exit_status": process.returncode,
        "wall_s": wall,
        # CPU seconds of the process (user + system), less sensitive than wall time to what
        # else runs on the machine. Peak RSS: the kernel's high-water mark of the process.
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": poller.peak_kb / 1024 if poller.peak_kb else None,
        "log": log,
        "stats": scrapy_stats(log),
    }


def sadec_crawl(base_url: str, db_path: Path, *, settings=None, spider_args=None, **kwargs):
    """The real ``scrapy crawl sadec`` (same argv as the tests and ``sadec demo``)."""
    argv = crawl_command(
        base_url,
        db_path,
        settings={"SADEC_PROGRESS_INTERVAL": "0", **(settings or {})},
        spider_args=spider_args,
    )
    return run_process(argv, **kwargs)


# ---------------------------------------------------------------- the replica


class TimedReplica:
    """A :class:`ReplicaServer` that also notes when each request arrived and was answered,
    so a run's span can be read from the server's side too."""

    def __init__(self, site):
        self.server = ReplicaServer(site)
        self.times: list[tuple[float, float]] = []
        handle = self.server.app.handle
        lock = threading.Lock()

        def timed_handle(method, raw_path, headers, body):
            started = time.perf_counter()
            response = handle(method, raw_path, headers, body)
            with lock:
                self.times.append((started, time.perf_counter()))
            return response

        self.server.app.handle = timed_handle

    def __enter__(self):
        self.server.__enter__()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self):
        return self.server.requests

    def mark(self) -> tuple[int, int]:
        return len(self.server.requests), len(self.times)

    def span_since(self, mark: tuple[int, int]) -> float:
        """Seconds from the first request after ``mark`` to the last one answered."""
        times = self.times[mark[1] :]
        return max(e for _, e in times) - min(s for s, _ in times) if times else 0.0


# ---------------------------------------------------------------- request classification

ARTICLE_PATH = re.compile(r"/-/asset_publisher/[A-Za-z0-9]+/content/")


def request_kind(path_with_query: str) -> str:
    """``robots``, ``article``, ``document``, ``theme`` or ``page`` (home, listings, others)."""
    path = path_with_query.split("?", 1)[0]
    if path == "/robots.txt":
        return "robots"
    if path.startswith("/documents/"):
        return "document"
    if path.startswith("/o/"):
        return "theme"
    if ARTICLE_PATH.search(path):
        return "article"
    return "page"


def count_kinds(entries) -> dict[str, int]:
    counts = {"robots": 0, "page": 0, "article": 0, "document": 0, "theme": 0}
    for entry in entries:
        counts[request_kind(entry.path_with_query)] += 1
    counts["total"] = sum(counts.values())
    return counts


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(function: Callable, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def sys_executable_scrapy() -> list[str]:
    return [sys.executable, "-m", "scrapy"]


class ReplayServer:
    """``bench/replay.py`` in a subprocess, answering recorded paths from memory; ``report``
    (after exit) lists the paths it was asked for and those it did not know."""

    def __init__(self, recording_file: Path, fallback_url: str | None = None):
        self.recording_file = recording_file
        self.fallback_url = fallback_url
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.report: dict = {}

    @staticmethod
    def write(recording: dict, path: Path) -> Path:
        with open(path, "wb") as handle:
            pickle.dump(recording, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def __enter__(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.replay",
                str(self.recording_file),
                *([self.fallback_url] if self.fallback_url else []),
            ],
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("replay server did not start")
        return self

    def __exit__(self, *exc):
        out, _ = self.process.communicate(input="\n", timeout=60)
        self.report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def record_answers(replica_server, paths: Iterable[str]) -> dict:
    """What the replica answers to each path (plain GET), for :class:`ReplayServer`."""
    app = replica_server.app
    recording = {}
    for path in paths:
        if path in recording:
            continue
        response = app.handle("GET", path, {}, b"")
        headers = {
            "Content-Type": response.content_type,
            "Liferay-Portal": "Liferay Community Edition Portal 7.0.6 GA7",
            **response.headers,
        }
        recording[path] = (response.status, headers, response.body)
    return recording
