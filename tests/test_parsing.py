"""Every field of every recorded listing element, as typed in the `models` view (issue 3).

Expected values are computed here from the recording's raw JSON bodies with a few lines of
Python, independently of store.py's SQL.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import crawl_recording

from hfstats import store
from hfstats.resources import data_path

COUNTER_KEYS = ("downloads", "likes", "trendingScore", "downloadsAllTime")
COLUMNS = (
    "object_id",
    "id",
    "model_id",
    "author",
    "created_at",
    "last_modified",
    "downloads",
    "likes",
    "trending_score",
    "library_name",
    "pipeline_tag",
    "tags",
    "files",
    "private",
    "gated",
    "disabled",
    "sha",
    "raw",
)


def recorded_elements(path: Path) -> dict[str, dict]:
    """_id -> the element as last listed, in the order the pages were recorded (fetched)."""
    with open(path, encoding="utf-8") as handle:
        entries = [e["response"] for e in yaml.safe_load(handle)["responses"]]
    latest: dict[str, dict] = {}
    for entry in entries:
        if entry["status"] != 200 or not entry["body"].startswith("["):
            continue
        for element in json.loads(entry["body"]):
            latest[element["_id"]] = element
    return latest


def utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def expected_row(element: dict) -> dict:
    gated = element.get("gated")
    return {
        "object_id": element["_id"],
        "id": element.get("id"),
        "model_id": element.get("modelId"),
        "author": element.get("author"),
        "created_at": utc(element.get("createdAt")),
        "last_modified": utc(element.get("lastModified")),
        "downloads": element.get("downloads"),
        "likes": element.get("likes"),
        "trending_score": element.get("trendingScore"),
        "library_name": element.get("library_name"),
        "pipeline_tag": element.get("pipeline_tag"),
        "tags": element.get("tags"),
        "files": [s["rfilename"] for s in element["siblings"]] if "siblings" in element else None,
        "private": element.get("private"),
        "gated": {False: "false"}.get(gated, gated),
        "disabled": element.get("disabled"),
        "sha": element.get("sha"),
        # The raw element is kept without its counters (they have their own table).
        "raw": {k: v for k, v in element.items() if k not in COUNTER_KEYS},
    }


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> tuple[dict[str, dict], dict[str, dict]]:
    """(expected rows, stored rows) by object_id after crawling the initial recording."""
    recording_path = data_path("fixtures") / "hub" / "crawl-initial.yaml"
    db = tmp_path_factory.mktemp("parsing") / "hub.duckdb"
    crawl_recording(db, recording_path)
    with store.read(db) as connection:
        cursor = connection.execute(f"SELECT {', '.join(COLUMNS)} FROM models")
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["raw"] = json.loads(row["raw"])
    stored = {row["object_id"]: row for row in rows}
    assert len(stored) == len(rows), "a model appears twice in `models`"
    expected = {i: expected_row(e) for i, e in recorded_elements(recording_path).items()}
    return expected, stored


def test_every_recorded_model_is_in_the_view_once(crawled):
    expected, stored = crawled
    assert sorted(stored) == sorted(expected)
    assert len(stored) == 34  # 6 real samples + 28 invented, counted in fixtures/README.md


@pytest.mark.parametrize("column", COLUMNS[1:])
def test_every_field_is_typed_as_recorded(crawled, column):
    expected, stored = crawled
    mismatches = {
        object_id: (stored[object_id][column], row[column])
        for object_id, row in expected.items()
        if stored[object_id][column] != row[column]
    }
    assert not mismatches, f"{column}: (stored, expected) {mismatches}"


def test_times_are_utc_timestamps_and_placeholders_kept_as_sent(crawled):
    _, stored = crawled
    by_id = {row["id"]: row for row in stored.values()}
    bert = by_id["google-bert/bert-base-uncased"]
    assert bert["created_at"].isoformat() == "2022-03-02T23:29:04+00:00"
    assert by_id["fixture-lab/char-rnn-keras"]["created_at"].isoformat() == (
        "2022-03-02T23:29:05+00:00"
    )
    # One second before 2026 in UTC stays in 2025 whatever the local time zone.
    assert by_id["fixture-user/bare-upload"]["created_at"].year == 2025
    assert all(row["created_at"].utcoffset().total_seconds() == 0 for row in stored.values())


def test_absent_keys_are_null_not_empty(crawled):
    _, stored = crawled
    by_id = {row["id"]: row for row in stored.values()}
    bare = by_id["fixture-user/bare-upload"]
    assert (bare["library_name"], bare["pipeline_tag"], bare["files"]) == (None, None, None)
    assert bare["tags"] == ["region:us"]
    assert by_id["fixture-user/llama-3.1-8b-lora-sql"]["pipeline_tag"] is None
    assert by_id["fixture-quant/Mistral-7B-Instruct-GGUF"]["library_name"] is None
    assert by_id["fixture-user/legacy-no-files"]["files"] is None
    assert by_id["distilroberta-legacy"]["author"] is None


def test_hostile_strings_are_stored_exactly(crawled):
    _, stored = crawled
    tags = {tag for row in stored.values() for tag in row["tags"]}
    for hostile in (
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "'; DROP TABLE models; --",
        "tab\there",
        "line\nbreak\r\n",
        "bell\u0007 escape\u001b[31m red",
        "delete\u007f",
        "nul\u0000byte",
        "日本語",
        "\U0001f917 emoji",
    ):
        assert hostile in tags
    assert max(len(tag) for tag in tags) == 5000


def test_gated_and_disabled_keep_the_hubs_values(crawled):
    _, stored = crawled
    by_id = {row["id"]: row for row in stored.values()}
    assert by_id["meta-llama/Llama-3.1-8B"]["gated"] == "manual"
    assert by_id["ykilcher/gpt-4chan"]["gated"] == "auto"
    assert by_id["ykilcher/gpt-4chan"]["disabled"] is True
    assert by_id["openai-community/gpt2"]["gated"] == "false"
