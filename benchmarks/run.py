"""Run one benchmark scenario and print its figures against the targets of issue 8.

    python benchmarks/run.py crawl --models 100k
    python benchmarks/run.py incremental --models 100k
    python benchmarks/run.py queries --models 1M
    python benchmarks/run.py storage --models 100k --snapshots 3
    python benchmarks/run.py quota --models 30k --page-size 100
    python benchmarks/run.py chart          # benchmarks/throughput.svg from the recorded runs
    python benchmarks/run.py tables         # the latest recorded figures, as Markdown

Each run is appended to benchmarks/out/results.jsonl (git-ignored) with its command, date and
machine; ``chart`` draws throughput and memory against N from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

# Run as a script (``python benchmarks/run.py``), the repository root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402
from hfstats.output import render  # noqa: E402

RESULTS_FILE = harness.OUT_DIR / "results.jsonl"
CHART_FILE = Path(__file__).resolve().parent / "throughput.svg"
SCENARIOS = ("crawl", "recrawl", "incremental", "queries", "storage", "quota")


def model_count(text: str) -> int:
    """``300``, ``100k``, ``1M`` or ``2.5M``."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale > 1 else text
    return int(float(number) * scale)


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"nproc": os.cpu_count(), "ram_gb": round(pages / 2**30, 1), "cpu": cpu}


def code_version() -> str:
    """The commit measured, with ``-dirty`` when the working tree differs from it."""
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=harness.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    return described.stdout.strip() or "unknown"


def run_scenario(args: argparse.Namespace) -> list[harness.Figure]:
    common = {"count": args.models, "seed": args.seed, "page_size": args.page_size}
    if args.scenario == "crawl":
        return harness.crawl_scenario(**common, byhand=not args.no_byhand)
    if args.scenario == "recrawl":
        return harness.recrawl_scenario(**common, churn=args.churn)
    if args.scenario == "incremental":
        return harness.incremental_scenario(**common, churn=args.churn)
    if args.scenario == "storage":
        return harness.storage_scenario(**common, churn=args.churn, snapshots=args.snapshots)
    if args.scenario == "quota":
        return harness.quota_scenario(**common, quota=(args.quota_requests, args.quota_window))
    return harness.queries_scenario(**common)


def figures_table(figures: list[dict], fmt: str = "table") -> str:
    status = {True: "met", False: "MISSED", None: ""}
    rows = [
        [
            f["key"],
            None if f["value"] is None else round(f["value"], 3),
            f["unit"],
            f["target"],
            status[f["met"]],
        ]
        for f in figures
    ]
    return render(rows, ["figure", "value", "unit", "target", "status"], fmt)


def recorded_tables(results_file: Path) -> str:
    """The latest recorded run of each command, as Markdown for RESULTS.md."""
    latest: dict[tuple[str, int, str], dict] = {}
    for line in results_file.read_text().splitlines():
        run = json.loads(line)
        latest[(run["scenario"], run["models"], run["command"])] = run
    sections = []
    for (scenario, models, _), run in sorted(latest.items()):
        sections.append(
            f"### {scenario}, N = {models:,}\n\n"
            f"`{run['command']}` on {run['date']}, code {run.get('code', 'unknown')}\n\n"
            + figures_table(run["figures"], "markdown")
        )
    return "\n\n".join(sections)


def draw_chart(results_file: Path, chart_file: Path) -> None:
    """Throughput (models/s) and peak RSS against N, for hfstats, by hand and the floor."""
    import altair as alt
    import pandas as pd

    points = []
    for line in results_file.read_text().splitlines():
        run = json.loads(line)
        if run["scenario"] != "crawl":
            continue
        for figure in run["figures"]:
            parts = figure["key"].split(".")
            if len(parts) == 3 and parts[2] in ("models_per_s", "peak_rss"):
                measure = "models per second" if parts[2] == "models_per_s" else "peak RSS (MB)"
                points.append(
                    {
                        "models": run["models"],
                        "program": parts[1],
                        "measure": measure,
                        "value": figure["value"],
                        "date": run["date"],
                    }
                )
    # The latest run at each N and program stands for it.
    frame = (
        pd.DataFrame(points)
        .sort_values("date")
        .drop_duplicates(["models", "program", "measure"], keep="last")
    )
    base = alt.Chart(frame).encode(
        x=alt.X("models:Q", scale=alt.Scale(type="log"), title="models crawled (N)"),
        color=alt.Color("program:N", title="program"),
    )

    def panel(measure: str) -> alt.Chart:
        return (
            base.transform_filter(alt.datum.measure == measure)
            .mark_line(point=True)
            .encode(y=alt.Y("value:Q", title=measure))
            .properties(width=320, height=220)
        )

    target = (
        alt.Chart(pd.DataFrame({"value": [harness.TARGET_PEAK_RSS_MB]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="value:Q")
    )
    chart = alt.hconcat(panel("models per second"), panel("peak RSS (MB)") + target).properties(
        title="Full crawl of a synthetic Hub, page size 1000 (dashed: the 300 MB target)"
    )
    chart.save(str(chart_file))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=(*SCENARIOS, "chart", "tables"))
    parser.add_argument("--models", type=model_count, default=100_000, help="N, e.g. 100k or 1M.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--churn", type=float, default=0.01, help="Share of models changed.")
    parser.add_argument("--snapshots", type=int, default=3, help="storage: daily snapshots.")
    parser.add_argument("--quota-requests", type=int, default=100)
    parser.add_argument("--quota-window", type=float, default=10.0)
    parser.add_argument("--no-byhand", action="store_true", help="crawl: skip the by-hand way.")
    args = parser.parse_args()
    if args.scenario == "chart":
        draw_chart(RESULTS_FILE, CHART_FILE)
        print(f"wrote {CHART_FILE}")
        return
    if args.scenario == "tables":
        print(recorded_tables(RESULTS_FILE))
        return
    started = datetime.now(UTC)
    figures = run_scenario(args)
    print(figures_table([f.as_dict() for f in figures]))
    record = {
        "scenario": args.scenario,
        "models": args.models,
        "command": shlex.join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_version(),
        "figures": [f.as_dict() for f in figures],
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_FILE, "a") as results:
        results.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
