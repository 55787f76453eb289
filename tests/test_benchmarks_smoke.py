"""A tiny run of every benchmark scenario, so the harness keeps working (issue 8).

It checks that the figures are produced and agree with each other and with the synthetic Hub;
it asserts no timings and no targets (those are for ``python benchmarks/run.py``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

# benchmarks/ is not an installed package: it is found from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402

# Not a multiple of the page size: a full last page would be asked for again (see harness).
COUNT = 250
PAGE_SIZE = 100
SEED = 7


def figures_by_key(figures: list[harness.Figure]) -> dict[str, float | None]:
    return {figure.key: figure.value for figure in figures}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("benchmarks-out")


def test_models_file_holds_the_synthetic_elements(out_dir: Path) -> None:
    path = harness.models_file(COUNT, SEED, out_dir)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == COUNT
    last_modified, object_id, model_id, body = lines[5].split("\t", 3)
    element = json.loads(body)
    assert (element["lastModified"], element["_id"], element["id"]) == (
        last_modified,
        object_id,
        model_id,
    )
    # A second call reuses the cached file rather than generating it again.
    before = path.stat().st_mtime_ns
    assert harness.models_file(COUNT, SEED, out_dir).stat().st_mtime_ns == before


def test_served_hub_pages_and_touches(out_dir: Path) -> None:
    with harness.served_hub(harness.models_file(COUNT, SEED, out_dir)) as hub:
        assert hub.touch(0.04, SEED) == 10  # 4% of 250
        measured, counts = harness.parse_floor(hub.url, PAGE_SIZE)
        stats = hub.stats()
    assert counts == {"models": COUNT, "pages": 3}
    assert stats["listing_requests"] == 3
    assert measured.peak_rss_bytes > 0


def test_crawl_scenario(out_dir: Path) -> None:
    figures = figures_by_key(harness.crawl_scenario(COUNT, SEED, PAGE_SIZE, out_dir=out_dir))
    assert figures["crawl.models"] == COUNT
    assert figures["crawl.floor.models"] == COUNT
    assert figures["crawl.byhand.models"] == COUNT
    assert figures["crawl.pages"] == 3
    # 3 pages, then one catch-up page.
    assert figures["crawl.requests"] == 4
    assert figures["crawl.requests_recorded"] == figures["crawl.requests"]
    for program in ("hfstats", "floor", "byhand"):
        assert figures[f"crawl.{program}.wall"] > 0
        assert 10 < figures[f"crawl.{program}.peak_rss"] < 100_000  # MB
        assert figures[f"crawl.{program}.models_per_s"] == pytest.approx(
            COUNT / figures[f"crawl.{program}.wall"]
        )
    assert figures["crawl.ratio.hfstats_over_floor"] == pytest.approx(
        figures["crawl.hfstats.wall"] / figures["crawl.floor.wall"]
    )
    assert figures["crawl.db_bytes_per_model"] > 0


def test_incremental_scenario(out_dir: Path) -> None:
    figures = figures_by_key(
        harness.incremental_scenario(COUNT, SEED, PAGE_SIZE, churn=0.01, out_dir=out_dir)
    )
    assert figures["incremental.touched"] == 2  # 1% of 250, rounded
    assert figures["incremental.changed_recorded"] == 2
    assert figures["incremental.mode"] == 1.0
    assert figures["incremental.requests_minimum"] == math.ceil(2 / PAGE_SIZE) + 1
    # Any crawler must read the changed models and at least one model older than them.
    assert figures["incremental.requests"] >= math.ceil((2 + 1) / PAGE_SIZE)


def test_recrawl_scenario(out_dir: Path) -> None:
    figures = figures_by_key(
        harness.recrawl_scenario(COUNT, SEED, PAGE_SIZE, churn=0.04, out_dir=out_dir)
    )
    assert figures["recrawl.touched"] == 10  # 4% of 250
    assert figures["recrawl.changed_recorded"] == 10
    assert figures["recrawl.models"] == COUNT
    assert figures["recrawl.deleted_recorded"] == 0
    for run in ("recrawl.first", "recrawl"):
        assert figures[f"{run}.wall"] > 0
        assert 10 < figures[f"{run}.peak_rss"] < 100_000  # MB
    assert figures["recrawl.ratio.over_first"] == pytest.approx(
        figures["recrawl.wall"] / figures["recrawl.first.wall"]
    )


def test_storage_scenario(out_dir: Path) -> None:
    figures = figures_by_key(
        harness.storage_scenario(COUNT, SEED, PAGE_SIZE, churn=0.01, snapshots=2, out_dir=out_dir)
    )
    assert figures["storage.bytes_per_model"] == pytest.approx(figures["storage.db_bytes"] / COUNT)
    assert figures["storage.snapshots"] == 2
    assert figures["storage.growth_per_changed_model"] == pytest.approx(
        figures["storage.growth_per_snapshot"] * 2 / 4  # 2 snapshots of 2 changed models
    )


@pytest.mark.slow  # three crawls
def test_quota_scenario_counts_429s(out_dir: Path) -> None:
    # 3 pages + catch-up = 4 requests at page size 100 fit in one window of 10: no waiting.
    figures = figures_by_key(
        harness.quota_scenario(COUNT, SEED, PAGE_SIZE, quota=(10, 5.0), out_dir=out_dir)
    )
    assert figures["quota.requests"] == 4
    assert figures["quota.headers.429s"] == 0
    assert figures["quota.no_headers.429s"] == 0
    assert figures["quota.headers.wall"] > 0


@pytest.mark.slow  # renders the whole report
def test_queries_scenario_times_every_query(out_dir: Path) -> None:
    figures = harness.queries_scenario(COUNT, SEED, PAGE_SIZE, out_dir=out_dir)
    keys = [figure.key for figure in figures]
    if keys == ["queries.skipped"]:
        pytest.skip(figures[0].target)
    sql_files = sorted(p.stem for p in (harness.REPO_ROOT / "queries").glob("*.sql"))
    assert keys == [f"queries.{name}" for name in sql_files] + ["queries.full_report"]
    assert all(figure.value > 0 for figure in figures)
