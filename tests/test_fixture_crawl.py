"""The real crawler over the recorded Hub: pagination, incremental stop, rename, --full deletion,
transient errors, a refused token, and `hfstats demo` (issue 3).

Expected numbers are counted from the recordings' raw JSON (or by hand, noted beside them).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import yaml
from click.testing import CliRunner
from conftest import FAKE_TOKEN, begin_test_snapshot, crawl_recording

from hfstats import store
from hfstats.cli import cli

RENAMED_FROM = "fixture-org/tiny-llm-draft"
RENAMED_TO = "fixture-org/tiny-llm"


def recorded_entries(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [e["response"] for e in yaml.safe_load(handle)["responses"]]


def listed_elements(path: Path) -> list[dict]:
    """Every element of every JSON listing page in the recording, duplicates included."""
    elements = []
    for entry in recorded_entries(path):
        if entry["status"] == 200 and entry["body"].startswith("["):
            elements.extend(json.loads(entry["body"]))
    return elements


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with store.read(db) as connection:
        return connection.execute(sql, params or []).fetchall()


def test_initial_crawl_reads_every_page_and_catches_up(tmp_path, recordings):
    initial = recordings / "crawl-initial.yaml"
    elements = listed_elements(initial)
    result = crawl_recording(tmp_path / "hub.duckdb", initial)

    # 4 listing pages (10+10+10+4) and the catch-up page 1, all recorded ones used.
    assert (result.complete, result.mode, result.pages, result.requests) == (True, "full", 5, 5)
    assert result.models_seen == len(elements) == 44
    distinct = {e["_id"] for e in elements}
    assert result.merge.models == result.merge.added == len(distinct) == 34
    stored = rows(tmp_path / "hub.duckdb", "SELECT object_id FROM models")
    assert {r[0] for r in stored} == distinct


def test_incremental_crawl_updates_renames_and_adds(tmp_path, recordings):
    db = tmp_path / "hub.duckdb"
    crawl_recording(db, recordings / "crawl-initial.yaml", token=FAKE_TOKEN)
    incremental = recordings / "crawl-incremental.yaml"
    result = crawl_recording(db, incremental, token=FAKE_TOKEN)

    # Two pages: the first ends inside the 10-minute margin, the second goes past it.
    assert (result.complete, result.mode, result.pages) == (True, "incremental", 2)
    before = {e["_id"] for e in listed_elements(recordings / "crawl-initial.yaml")}
    after = listed_elements(incremental)
    new = {e["_id"] for e in after} - before
    assert len(new) == 2
    assert result.merge.added == 2
    assert result.merge.renamed == 1
    assert result.merge.models == len(before) + 2 == 36

    renamed_id = next(e["_id"] for e in after if e["id"] == RENAMED_TO)
    assert rows(db, "SELECT id FROM models WHERE object_id = ?", [renamed_id]) == [(RENAMED_TO,)]
    assert rows(db, "SELECT count(*) FROM models WHERE id = ?", [RENAMED_FROM]) == [(0,)]
    history = rows(
        db, "SELECT id FROM model_versions WHERE object_id = ? ORDER BY valid_from", [renamed_id]
    )
    assert history == [(RENAMED_FROM,), (RENAMED_TO,)]
    assert rows(db, "SELECT count(*), count(DISTINCT object_id) FROM models") == [(36, 36)]

    snapshots = rows(db, "SELECT snapshot_id, mode, complete, endpoint FROM snapshots ORDER BY 1")
    assert snapshots == [
        (1, "full", True, "https://huggingface.co"),
        (2, "incremental", True, "https://huggingface.co"),
    ]
    assert FAKE_TOKEN.encode() not in db.read_bytes()


def test_full_crawl_marks_an_unlisted_model_deleted(tmp_path, recordings):
    db = tmp_path / "hub.duckdb"
    initial = recordings / "crawl-initial.yaml"
    crawl_recording(db, initial)
    gone = "fixture-org/voice-clone-gated"
    gone_id = next(e["_id"] for e in listed_elements(initial) if e["id"] == gone)
    # The same crawl a moment later, with that model deleted from the Hub.
    entries = recorded_entries(initial)
    for entry in entries:
        if entry["body"].startswith("["):
            page = [e for e in json.loads(entry["body"]) if e["_id"] != gone_id]
            entry["body"] = json.dumps(page, ensure_ascii=False, separators=(",", ":"))
    # Before marking it deleted the crawler asks for the model; the Hub answers a model it does
    # not have as in ../shared/hub-api/samples/model-not-found.json (401, not 404).
    entries.append(
        {
            "method": "GET",
            "url": f"https://huggingface.co/api/models/{gone}",
            "status": 401,
            "body": '{"error":"Invalid username or password."}',
            "content_type": "application/json; charset=utf-8",
            "headers": {
                "ratelimit": '"api";r=483;t=212',
                "ratelimit-policy": '"fixed window";"api";q=500;w=300',
                "x-error-message": "Invalid username or password.",
            },
            "auto_calculate_content_length": False,
        }
    )
    without = tmp_path / "crawl-without.yaml"
    without.write_text(yaml.dump({"responses": [{"response": e} for e in entries]}))

    result = crawl_recording(db, without, full=True)

    assert (result.mode, result.merge.deleted, result.merge.models) == ("full", 1, 33)
    assert rows(db, "SELECT count(*) FROM models WHERE object_id = ?", [gone_id]) == [(0,)]
    assert rows(
        db, "SELECT id, valid_from, valid_to FROM model_versions WHERE object_id = ?", [gone_id]
    ) == [(gone, 1, 2)]
    assert rows(db, "SELECT count(*) FROM models_at(1) WHERE object_id = ?", [gone_id]) == [(1,)]


def test_transient_errors_are_retried_then_a_refused_token_stops_with_one_line(
    tmp_path, recordings, monkeypatch
):
    """errors.yaml: 429 (no Retry-After), 503 HTML, 200 HTML, then the crawl; then a 401."""
    from hfstats import crawl, recording
    from hfstats.hub import HubClient

    errors = recordings / "errors.yaml"
    db = tmp_path / "hub.duckdb"
    listing = recording.first_listing_request(errors)
    waits: list[float] = []
    client = HubClient(listing.endpoint, None, sleep=waits.append, backoff_base=0.001)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    with recording.replay(errors, assert_all_used=True):
        result = crawl.refresh(db, page_size=listing.page_size, client=client)
        assert result.complete
        assert client.stats.retries == 3
        assert client.stats.status_counts == {429: 1, 503: 1, 200: 4}
        # The 429 had no Retry-After and r=0: the client waited out the window (t=41), plus
        # a margin of at most a second; every other wait is a millisecond backoff.
        assert 41 <= max(waits) <= 42
        assert result.merge.models == 5  # the small recorded Hub: 3 + 2 models, by hand

        # The next run (incremental, through the command) meets an expired token.
        outcome = CliRunner().invoke(
            cli,
            ["refresh", "--db", str(db), "--endpoint", listing.endpoint, "--page-size", "3"],
        )
    assert outcome.exit_code == 1
    lines = outcome.stderr.strip().splitlines()
    assert lines[-1].startswith("hfstats: error: the Hub refused the request (401 ")
    assert "Invalid username or password." in lines[-1]
    assert "Traceback" not in outcome.output + outcome.stderr
    assert FAKE_TOKEN not in outcome.output + outcome.stderr
    assert rows(db, "SELECT count(*) FROM snapshots WHERE complete") == [(1,)]


def test_demo_builds_a_fresh_database_and_never_replaces_a_users_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output + first.stderr
    assert "hfstats-demo.duckdb" in first.output
    lock = tmp_path / "hfstats-demo.duckdb.lock"
    lock.write_text("")  # another process may hold it: the demo must not remove it
    again = runner.invoke(cli, ["demo"])
    assert again.exit_code == 0, again.output + again.stderr
    assert lock.exists()
    # Replaced, not appended to: one snapshot with the 34 recorded models.
    assert rows(tmp_path / "hfstats-demo.duckdb", "SELECT count(*) FROM snapshots") == [(1,)]
    assert rows(tmp_path / "hfstats-demo.duckdb", "SELECT count(*) FROM models") == [(34,)]

    own = tmp_path / "mine.duckdb"
    own.write_bytes(b"precious")
    refused = runner.invoke(cli, ["demo", "--db", str(own)])
    assert refused.exit_code == 2
    assert own.read_bytes() == b"precious"

    # A refresh on the demo's database makes it the user's: the demo no longer replaces it.
    with store.write(tmp_path / "hfstats-demo.duckdb") as connection:
        begin_test_snapshot(connection)
    refused = runner.invoke(cli, ["demo"])
    assert refused.exit_code == 2 and "holds 2 snapshots" in refused.stderr
    assert rows(tmp_path / "hfstats-demo.duckdb", "SELECT count(*) FROM snapshots") == [(2,)]


def test_the_demo_dates_its_snapshot_when_the_sample_was_recorded(recordings, tmp_path):
    # Replayed today, the sample still holds the Hub of the day it was recorded: the report must
    # not date its models today, nor call the year it was recorded in complete once it is over.
    with open(recordings / "crawl-initial.yaml", encoding="utf-8") as handle:
        recorded = datetime.fromisoformat(yaml.safe_load(handle)["recorded_at"])
    newest = max(e["lastModified"] for e in listed_elements(recordings / "crawl-initial.yaml"))
    assert recorded >= datetime.fromisoformat(newest)  # a recording after what it lists
    outcome = CliRunner().invoke(
        cli, ["demo", "--db", str(tmp_path / "d.duckdb"), "--out", str(tmp_path / "r")]
    )
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    assert f"recording of {recorded:%Y-%m-%d %H:%M} UTC" in outcome.output
    assert rows(tmp_path / "d.duckdb", "SELECT started_at, finished_at FROM snapshots") == [
        (recorded, recorded)
    ]
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert f"Snapshot 1 of {recorded:%Y-%m-%d %H:%M} UTC" in markdown
    assert f"{recorded.year} is counted only up to {recorded.date().isoformat()}." in markdown


def test_demo_refuses_a_bad_report_folder_before_building_anything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    refused = CliRunner().invoke(cli, ["demo", "--out", "mine", "--db", "d.duckdb"])
    assert refused.exit_code == 2
    assert "hfstats report" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    missing_folder = CliRunner().invoke(cli, ["demo", "--db", "no/such/d.duckdb"])
    assert missing_folder.exit_code == 2 and "does not exist" in missing_folder.stderr
    (tmp_path / "afile.txt").write_text("mine")
    under_a_file = CliRunner().invoke(
        cli, ["demo", "--out", "afile.txt/report", "--db", "d.duckdb"]
    )
    assert under_a_file.exit_code == 2
    assert "afile.txt is a file" in under_a_file.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "mine"]
    assert (tmp_path / "afile.txt").read_text() == "mine"
