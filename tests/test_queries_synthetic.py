"""Issue 4's "done means": on a crawl of a local test Hub, `hfstats query exclusivity` and
`hfstats query yearly_additions` (as JSON, from the real command) agree exactly with counts
computed from the server's own data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from hfstats import crawl
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models

PLACEHOLDER_LIMIT = datetime(2022, 3, 2, 23, 29, 5, tzinfo=UTC)
CLASSES = ["pytorch_only", "tensorflow_only", "jax_only", "multi_framework", "no_framework"]


def tags_class(model: dict) -> str:
    found = [tag for tag in ("pytorch", "tf", "jax") if tag in model.get("tags", [])]
    if not found:
        return "no_framework"
    if len(found) > 1:
        return "multi_framework"
    return {"pytorch": "pytorch_only", "tf": "tensorflow_only", "jax": "jax_only"}[found[0]]


def year_of(model: dict) -> int | None:
    created = datetime.fromisoformat(model["createdAt"])
    return None if created <= PLACEHOLDER_LIMIT else created.year


def hfstats_json(*args: str) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "hfstats.cli", *args, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    db = tmp_path_factory.mktemp("synthetic") / "hub.duckdb"
    with FakeHub(synthetic_models(2000, seed=4)) as hub:
        crawl.refresh(db, client=HubClient(hub.url, None, backoff_base=0.01), full=True)
        served = hub.models()
    assert len(served) == 2000
    return db, served


def test_exclusivity_agrees_with_the_servers_data(crawled):
    db, served = crawled
    counts = Counter(tags_class(m) for m in served)
    with_framework = len(served) - counts["no_framework"]
    rows = hfstats_json("query", "exclusivity", "--db", str(db))
    assert [r["framework_class"] for r in rows] == CLASSES
    assert {r["framework_class"]: r["models"] for r in rows} == {c: counts[c] for c in CLASSES}
    for r in rows:
        c = r["framework_class"]
        assert r["share_of_all_models"] == pytest.approx(counts[c] / len(served))
        expected = None if c == "no_framework" else counts[c] / with_framework
        assert r["share_of_framework_models"] == pytest.approx(expected)


def test_yearly_additions_agrees_with_the_servers_data(crawled):
    db, served = crawled
    counts = Counter((year_of(m), tags_class(m)) for m in served)
    assert counts.keys() & {(None, c) for c in CLASSES}, "the sample has placeholder dates"
    rows = hfstats_json("query", "yearly_additions", "--db", str(db))
    assert {(r["year"], r["framework_class"]): r["models"] for r in rows} == counts
    assert len(rows) == len(counts)
