"""The benchmark scenarios of issue 8, as functions returning figures with their targets.

Every measured program (hfstats, the by-hand crawl, the parse floor) runs as its own
subprocess, and the synthetic Hub in another one (``benchmarks.serve``), so wall time and peak
RSS belong to the measured program alone. Targets are printed next to the figures; they are
never test assertions.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hfstats.testing.synthetic import synthetic_model

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "benchmarks" / "out"
MB = 1_000_000

# Targets from issue 8. Never lower them to make a run pass.
TARGET_BYHAND_SPEEDUP = 3.0
TARGET_FLOOR_RATIO = 2.0
TARGET_PEAK_RSS_MB = 300.0
TARGET_EXTRA_REQUESTS = 1
TARGET_QUERY_SECONDS = 1.0
TARGET_REPORT_SECONDS = 15.0
TARGET_QUOTA_OVERHEAD = 1.10
AIM_BYTES_PER_MODEL = 300.0


@dataclass
class Figure:
    """One measured number, with the target it is held to (if any) and whether it met it."""

    key: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
        }


@dataclass
class Measured:
    """A finished subprocess: wall time, peak resident memory, exit code and output."""

    wall_seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            raise RuntimeError(
                f"{what} exited with {self.returncode}: {self.stderr.strip()[-2000:]}"
            )
        return self


def subprocess_env() -> dict[str, str]:
    """The environment for measured programs: no real token, nothing implicit from a login."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_measured(argv: list[str]) -> Measured:
    """Run ``argv`` to completion; its own peak RSS comes from ``wait4``, not from our children."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, cwd=REPO_ROOT, env=subprocess_env()
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            wall_seconds=wall,
            peak_rss_bytes=usage.ru_maxrss * 1024,  # kilobytes on Linux
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


# -- the synthetic Hub ---------------------------------------------------------------------------


def models_file(count: int, seed: int, out_dir: Path = OUT_DIR) -> Path:
    """The cached listing of ``count`` synthetic models: ``lastModified _id id JSON`` per line.

    Generating a million elements takes most of a minute, so each (count, seed) is written once.
    """
    path = out_dir / f"models-n{count}-seed{seed}.tsv"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as lines:
        for index in range(count):
            model = synthetic_model(index, seed)
            body = json.dumps(model, ensure_ascii=False)
            lines.write(f"{model['lastModified']}\t{model['_id']}\t{model['id']}\t{body}\n")
    partial.replace(path)
    return path


class ServedHub:
    """A ``benchmarks.serve`` process and the line protocol that controls it."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url

    def command(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline().strip()
        if not reply or reply.startswith("error"):
            raise RuntimeError(f"benchmarks.serve answered {reply!r} to {line!r}")
        return reply

    def touch(self, fraction: float, seed: int) -> int:
        return int(self.command(f"touch {fraction} {seed}").split()[1])

    def stats(self) -> dict:
        return json.loads(self.command("stats"))

    def restart_quota_window(self) -> None:
        self.command("restart-window")


@contextmanager
def served_hub(
    path: Path, quota: tuple[int, float] | None = None, rate_limit_headers: bool = True
) -> Iterator[ServedHub]:
    argv = [sys.executable, "-m", "benchmarks.serve", str(path)]
    if quota is not None:
        argv += ["--quota", str(quota[0]), str(quota[1])]
    if not rate_limit_headers:
        argv.append("--no-headers")
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=subprocess_env(),
    )
    try:
        first = process.stdout.readline().split()
        if len(first) != 2 or first[0] != "url":
            raise RuntimeError(f"benchmarks.serve did not start (said {first!r})")
        yield ServedHub(process, first[1])
    finally:
        if process.poll() is None:
            try:
                process.stdin.write("quit\n")
                process.stdin.flush()
            except OSError:  # it stopped in between
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdin.close()
        process.stdout.close()


# -- the measured programs -----------------------------------------------------------------------


def hfstats_refresh(db_path: Path, url: str, page_size: int, full: bool) -> Measured:
    argv = [sys.executable, "-m", "hfstats.cli", "refresh", "--db", str(db_path)]
    argv += ["--endpoint", url, "--page-size", str(page_size), "--quiet"]
    if full:
        argv.append("--full")
    return run_measured(argv).check("hfstats refresh")


def parse_floor(url: str, page_size: int) -> tuple[Measured, dict]:
    measured = run_measured([sys.executable, "-m", "benchmarks.floor", url, str(page_size)])
    return measured, json.loads(measured.check("the parse floor").stdout)


def by_hand(url: str, db_path: Path) -> tuple[Measured, dict]:
    measured = run_measured([sys.executable, "-m", "benchmarks.byhand", url, str(db_path)])
    return measured, json.loads(measured.check("the by-hand crawl").stdout)


def latest_snapshot(db_path: Path) -> dict:
    """The latest snapshot row, read with plain DuckDB rather than through hfstats."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        cursor = connection.execute("SELECT * FROM snapshots ORDER BY snapshot_id DESC LIMIT 1")
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row, strict=True))


def database_bytes(db_path: Path) -> int:
    wal = db_path.with_name(db_path.name + ".wal")
    return db_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def fresh_path(path: Path) -> Path:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    return path


# -- scenarios -----------------------------------------------------------------------------------


def _reader_figures(name: str, measured: Measured, counts: dict, count: int) -> list[Figure]:
    """Models read, wall time, throughput and peak RSS of a program hfstats is compared with."""
    return [
        Figure(f"crawl.{name}.models", counts["models"], "models", f"= {count}"),
        Figure(f"crawl.{name}.wall", measured.wall_seconds, "s"),
        Figure(f"crawl.{name}.models_per_s", count / measured.wall_seconds, "models/s"),
        Figure(f"crawl.{name}.peak_rss", measured.peak_rss_bytes / MB, "MB"),
    ]


def _peak_rss_figure(key: str, measured: Measured) -> Figure:
    """A measured run's peak RSS, held to the memory target."""
    megabytes = measured.peak_rss_bytes / MB
    return Figure(key, megabytes, "MB", f"< {TARGET_PEAK_RSS_MB:g}", megabytes < TARGET_PEAK_RSS_MB)


def crawl_scenario(
    count: int, seed: int = 0, page_size: int = 1000, byhand: bool = True, out_dir: Path = OUT_DIR
) -> list[Figure]:
    """Full crawl: hfstats against the parse floor and the by-hand way, on the same pages."""
    source = models_file(count, seed, out_dir)
    db_path = fresh_path(out_dir / f"crawl-n{count}-seed{seed}.duckdb")
    figures = []
    with served_hub(source) as hub:
        floor, floor_counts = parse_floor(hub.url, page_size)
        before = hub.stats()["listing_requests"]
        crawl = hfstats_refresh(db_path, hub.url, page_size, full=True)
        served = hub.stats()["listing_requests"] - before
        snapshot = latest_snapshot(db_path)
        # A full crawl ends with one catch-up page. A full last page without a next link looks
        # like a cut-short one, so hfstats asks for it again: only when N is a multiple of the
        # page size, which the real Hub rarely is.
        expected_requests = floor_counts["pages"] + 1
        full_last_page = count % page_size == 0
        figures += [
            Figure(
                "crawl.models",
                snapshot["models"],
                "models",
                f"= {count}",
                snapshot["models"] == count,
            ),
            Figure("crawl.pages", floor_counts["pages"], "pages"),
            Figure(
                "crawl.requests",
                served,
                "requests",
                f"= {expected_requests} (pages + catch-up)"
                + (", plus re-asks of the full last page" if full_last_page else ""),
                None if full_last_page else served == expected_requests,
            ),
            Figure(
                "crawl.requests_recorded", snapshot["requests"], "requests", f"= {served} served"
            ),
            Figure("crawl.hfstats.wall", crawl.wall_seconds, "s"),
            Figure("crawl.hfstats.models_per_s", count / crawl.wall_seconds, "models/s"),
            _peak_rss_figure("crawl.hfstats.peak_rss", crawl),
            *_reader_figures("floor", floor, floor_counts, count),
            Figure(
                "crawl.ratio.hfstats_over_floor",
                crawl.wall_seconds / floor.wall_seconds,
                "x",
                f"<= {TARGET_FLOOR_RATIO:g}",
                crawl.wall_seconds / floor.wall_seconds <= TARGET_FLOOR_RATIO,
            ),
        ]
        if byhand:
            hand_db = fresh_path(out_dir / f"byhand-n{count}-seed{seed}.duckdb")
            hand, hand_counts = by_hand(hub.url, hand_db)
            hand_db.unlink()
            figures += [
                *_reader_figures("byhand", hand, hand_counts, count),
                Figure(
                    "crawl.ratio.byhand_over_hfstats",
                    hand.wall_seconds / crawl.wall_seconds,
                    "x",
                    f">= {TARGET_BYHAND_SPEEDUP:g}",
                    hand.wall_seconds / crawl.wall_seconds >= TARGET_BYHAND_SPEEDUP,
                ),
            ]
    figures.append(Figure("crawl.db_bytes_per_model", database_bytes(db_path) / count, "B/model"))
    return figures


def _crawl_touch_refresh(
    db_path: Path,
    count: int,
    seed: int,
    page_size: int,
    churn: float,
    out_dir: Path,
    full: bool,
) -> tuple[Measured, int, Measured, int]:
    """A first full crawl, ``churn`` of the models touched, then a second refresh: both runs,
    the models touched and the listing requests the second run made."""
    with served_hub(models_file(count, seed, out_dir)) as hub:
        first = hfstats_refresh(db_path, hub.url, page_size, full=True)
        changed = hub.touch(churn, seed)
        before = hub.stats()["listing_requests"]
        second = hfstats_refresh(db_path, hub.url, page_size, full=full)
        served = hub.stats()["listing_requests"] - before
    return first, changed, second, served


def incremental_scenario(
    count: int,
    seed: int = 0,
    page_size: int = 1000,
    churn: float = 0.01,
    out_dir: Path = OUT_DIR,
) -> list[Figure]:
    """An incremental refresh after ``churn`` of the models got a new commit."""
    db_path = fresh_path(out_dir / f"incremental-n{count}-seed{seed}.duckdb")
    full, changed, incremental, served = _crawl_touch_refresh(
        db_path, count, seed, page_size, churn, out_dir, full=False
    )
    snapshot = latest_snapshot(db_path)
    minimum = math.ceil(changed / page_size) + 1
    return [
        Figure("incremental.touched", changed, "models"),
        Figure("incremental.changed_recorded", snapshot["changed"], "models", f"= {changed}"),
        Figure(
            "incremental.mode", 1.0 if snapshot["mode"] == "incremental" else 0.0, "incremental?"
        ),
        Figure("incremental.requests_minimum", minimum, "requests"),
        Figure(
            "incremental.requests",
            served,
            "requests",
            f"<= {minimum + TARGET_EXTRA_REQUESTS}",
            served <= minimum + TARGET_EXTRA_REQUESTS,
        ),
        Figure("incremental.full_wall", full.wall_seconds, "s"),
        Figure("incremental.wall", incremental.wall_seconds, "s"),
        Figure("incremental.ratio.over_full", incremental.wall_seconds / full.wall_seconds, "x"),
        Figure("incremental.peak_rss", incremental.peak_rss_bytes / MB, "MB"),
    ]


def recrawl_scenario(
    count: int,
    seed: int = 0,
    page_size: int = 1000,
    churn: float = 0.01,
    out_dir: Path = OUT_DIR,
) -> list[Figure]:
    """A second full crawl (the weekly ``refresh --full``) after ``churn`` of the models got a new
    commit: unlike a first crawl, its merge compares every listed model with its current version
    and looks for the models no longer listed."""
    db_path = fresh_path(out_dir / f"recrawl-n{count}-seed{seed}.duckdb")
    first, changed, second, _ = _crawl_touch_refresh(
        db_path, count, seed, page_size, churn, out_dir, full=True
    )
    snapshot = latest_snapshot(db_path)
    return [
        Figure("recrawl.touched", changed, "models"),
        Figure(
            "recrawl.changed_recorded",
            snapshot["changed"],
            "models",
            f"= {changed}",
            snapshot["changed"] == changed,
        ),
        Figure(
            "recrawl.models",
            snapshot["models"],
            "models",
            f"= {count}",
            snapshot["models"] == count,
        ),
        Figure(
            "recrawl.deleted_recorded",
            snapshot["deleted"],
            "models",
            "= 0",
            snapshot["deleted"] == 0,
        ),
        Figure("recrawl.first.wall", first.wall_seconds, "s"),
        _peak_rss_figure("recrawl.first.peak_rss", first),
        Figure("recrawl.wall", second.wall_seconds, "s"),
        Figure("recrawl.models_per_s", count / second.wall_seconds, "models/s"),
        _peak_rss_figure("recrawl.peak_rss", second),
        Figure("recrawl.ratio.over_first", second.wall_seconds / first.wall_seconds, "x"),
        Figure("recrawl.db_bytes_per_model", database_bytes(db_path) / count, "B/model"),
    ]


def storage_scenario(
    count: int,
    seed: int = 0,
    page_size: int = 1000,
    churn: float = 0.01,
    snapshots: int = 3,
    out_dir: Path = OUT_DIR,
) -> list[Figure]:
    """Database size per model, and its growth per daily (incremental) snapshot at ``churn``."""
    source = models_file(count, seed, out_dir)
    db_path = fresh_path(out_dir / f"storage-n{count}-seed{seed}.duckdb")
    sizes = []
    changed_total = 0
    with served_hub(source) as hub:
        hfstats_refresh(db_path, hub.url, page_size, full=True)
        sizes.append(database_bytes(db_path))
        for day in range(snapshots):
            changed_total += hub.touch(churn, seed + 1 + day)
            hfstats_refresh(db_path, hub.url, page_size, full=False)
            sizes.append(database_bytes(db_path))
    growth = (sizes[-1] - sizes[0]) / snapshots
    return [
        Figure("storage.db_bytes", sizes[0], "B"),
        Figure(
            "storage.bytes_per_model",
            sizes[0] / count,
            "B/model",
            f"aim < {AIM_BYTES_PER_MODEL:g}",
            sizes[0] / count < AIM_BYTES_PER_MODEL,
        ),
        Figure("storage.snapshots", snapshots, "snapshots", f"at {churn:.0%} churn each"),
        Figure("storage.growth_per_snapshot", growth, "B/snapshot", "proportional to churn"),
        Figure(
            "storage.growth_per_changed_model", (sizes[-1] - sizes[0]) / changed_total, "B/model"
        ),
    ]


def quota_scenario(
    count: int,
    seed: int = 0,
    page_size: int = 1000,
    quota: tuple[int, float] = (100, 10.0),
    out_dir: Path = OUT_DIR,
) -> list[Figure]:
    """A full crawl under a fixed-window quota, with and without ``RateLimit`` headers.

    The minimum time is the unthrottled crawl plus one full window for every quota's worth of
    requests after the first: a crawl cannot finish before its last window opens.
    """
    source = models_file(count, seed, out_dir)
    db_path = out_dir / f"quota-n{count}-seed{seed}.duckdb"
    with served_hub(source) as hub:
        free = hfstats_refresh(fresh_path(db_path), hub.url, page_size, full=True)
        requests = hub.stats()["listing_requests"]
    windows_waited = math.ceil(requests / quota[0]) - 1
    minimum = free.wall_seconds + windows_waited * quota[1]
    figures = [
        Figure("quota.requests", requests, "requests", f"quota {quota[0]} per {quota[1]:g} s"),
        Figure("quota.minimum_wall", minimum, "s"),
    ]
    for label, headers in (("headers", True), ("no_headers", False)):
        with served_hub(source, quota, rate_limit_headers=headers) as hub:
            hub.restart_quota_window()
            throttled = hfstats_refresh(fresh_path(db_path), hub.url, page_size, full=True)
            too_many = hub.stats()["too_many_requests"]
        ratio = throttled.wall_seconds / minimum
        figures += [
            Figure(f"quota.{label}.wall", throttled.wall_seconds, "s"),
            Figure(
                f"quota.{label}.ratio_over_minimum",
                ratio,
                "x",
                f"<= {TARGET_QUOTA_OVERHEAD:g}",
                ratio <= TARGET_QUOTA_OVERHEAD,
            ),
            Figure(
                f"quota.{label}.429s",
                too_many,
                "responses",
                "= 0" if headers else "",
                too_many == 0 if headers else None,
            ),
        ]
    return figures


def queries_scenario(
    count: int, seed: int = 0, page_size: int = 1000, out_dir: Path = OUT_DIR
) -> list[Figure]:
    """Every query in ``queries/`` and the full report, on a database of ``count`` models.

    Reuses the database the crawl scenario left for the same N and seed, else crawls one. Each
    query gets a fresh read-only connection, as ``hfstats query`` would.
    """
    try:
        from hfstats import queries, report, store
    except ImportError as missing:
        return [Figure("queries.skipped", None, "", f"hfstats has no {missing.name} yet")]
    db_path = out_dir / f"crawl-n{count}-seed{seed}.duckdb"
    if not db_path.exists():
        with served_hub(models_file(count, seed, out_dir)) as hub:
            hfstats_refresh(db_path, hub.url, page_size, full=True)
    figures = []
    for spec in queries.list_queries():
        with store.read(db_path) as connection:
            started = time.perf_counter()
            queries.run_query(connection, spec.name)
            seconds = time.perf_counter() - started
        figures.append(
            Figure(
                f"queries.{spec.name}",
                seconds,
                "s",
                f"< {TARGET_QUERY_SECONDS:g}",
                seconds < TARGET_QUERY_SECONDS,
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report.write_report(db_path, Path(folder) / "report")
        seconds = time.perf_counter() - started
    figures.append(
        Figure(
            "queries.full_report",
            seconds,
            "s",
            f"< {TARGET_REPORT_SECONDS:g}",
            seconds < TARGET_REPORT_SECONDS,
        )
    )
    return figures
