"""`hfstats record` and the recording wrapper: scrubbing, truncated passes, faithful replays.

The live Hub is stood in for by FakeHub on 127.0.0.1 (the recorder wraps requests' adapter, so
a local server is recorded like the Hub), with a token it insists on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner
from conftest import FAKE_TOKEN, crawl_recording

from hfstats import recording, store
from hfstats.cli import cli
from hfstats.errors import HubUnavailableError, UsageError
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models, touch

pytestmark = pytest.mark.security


def no_wait(seconds: float) -> None:
    """Backoff without waiting (the crawler re-asks for a truncated pass's last page)."""


def stored_models(db: Path) -> dict[str, tuple]:
    with store.read(db) as connection:
        rows = connection.execute("SELECT object_id, id, last_modified, tags FROM models")
        return {r[0]: r[1:] for r in rows.fetchall()}


def newest_ids(models: list[dict], count: int) -> set[str]:
    """The first ``count`` models of the listing: lastModified, newest first, ties by _id."""
    ordered = sorted(models, key=lambda m: (m["lastModified"], m["_id"]), reverse=True)
    return {m["_id"] for m in ordered[:count]}


def test_scrub_drops_credentials_and_transport_headers_and_the_token_everywhere():
    entries = [
        {
            "method": "GET",
            "url": f"https://hub.example/api/models?limit=1&token={FAKE_TOKEN}",
            "body": f'[{{"note":"echo {FAKE_TOKEN}"}}]',
            "status": 200,
            "headers": {
                "Set-Cookie": "session=abc",
                "cookie": "session=abc",
                "Authorization": f"Bearer {FAKE_TOKEN}",
                "content-encoding": "gzip",
                "Content-Length": "12",
                "content-type": "application/json",
                "x-echo": FAKE_TOKEN,
                "ratelimit": '"api";r=9;t=9',
            },
            "content_type": "application/json",
            "auto_calculate_content_length": False,
        }
    ]
    [clean] = recording.scrub(entries, [FAKE_TOKEN])
    assert clean["headers"] == {"x-echo": "REDACTED", "ratelimit": '"api";r=9;t=9'}
    assert FAKE_TOKEN not in repr(clean)
    assert clean["body"] == '[{"note":"echo REDACTED"}]'
    assert entries[0]["headers"]["Authorization"], "the input is left as it was"


def test_record_scrubs_the_token_and_replays_to_the_same_database(tmp_path):
    models = list(synthetic_models(40, seed=3))
    out = tmp_path / "live.yaml"
    before = datetime.now(UTC)
    with FakeHub(models, token=FAKE_TOKEN) as hub:
        result = recording.record(
            out,
            endpoint=hub.url,
            token=FAKE_TOKEN,
            page_size=5,
            max_pages=3,
            db_path=tmp_path / "recorded.duckdb",
            sleep=no_wait,
        )
        sent = {r["authorization"] for r in hub.requests_seen}
    assert sent == {f"Bearer {FAKE_TOKEN}"}, "the crawl really used the token"
    text = out.read_text()
    assert FAKE_TOKEN not in text
    assert "authorization" not in text.lower() and "cookie" not in text.lower()
    assert result.refresh.complete and result.truncated_pages >= 1
    # When it was recorded, for a replay to date its snapshot by (the demo does).
    recorded_at = datetime.fromisoformat(yaml.safe_load(text)["recorded_at"])
    assert before <= recorded_at <= datetime.now(UTC)

    # Each pass stopped after 3 pages of 5: the 15 newest models, as the test Hub orders them.
    recorded = stored_models(tmp_path / "recorded.duckdb")
    assert set(recorded) == newest_ids(models, 15)
    # Replayed with no server at all, the recording makes the same requests and database.
    crawl_recording(tmp_path / "replayed.duckdb", out)
    assert stored_models(tmp_path / "replayed.duckdb") == recorded


def test_a_second_record_into_the_same_database_records_an_incremental_crawl(tmp_path):
    models = list(synthetic_models(30, seed=5))
    db = tmp_path / "recorded.duckdb"
    with FakeHub(models) as hub:
        recording.record(
            tmp_path / "first.yaml", endpoint=hub.url, page_size=5, db_path=db, sleep=no_wait
        )
        hub.upsert(touch(models[7], datetime(2026, 11, 30, tzinfo=UTC)))
        second = recording.record(
            tmp_path / "second.yaml", endpoint=hub.url, page_size=5, db_path=db, sleep=no_wait
        )
    assert second.refresh.mode == "incremental"
    replayed = tmp_path / "replayed.duckdb"
    crawl_recording(replayed, tmp_path / "first.yaml")
    crawl_recording(replayed, tmp_path / "second.yaml")
    assert stored_models(replayed) == stored_models(db)
    assert models[7]["_id"] in stored_models(replayed)


def test_replay_checks_that_every_response_was_used_only_when_asked(recordings):
    errors = recordings / "errors.yaml"
    first_url = recording.load(errors)[0]["url"]
    with recording.replay(errors):
        assert requests.get(first_url).status_code == 429
    with pytest.raises(AssertionError, match="Not all requests"):
        with recording.replay(errors, assert_all_used=True):
            requests.get(first_url)


def test_replay_serves_requests_strictly_in_recorded_order(recordings):
    entries = recording.load(recordings / "crawl-initial.yaml")
    with recording.replay(recordings / "crawl-initial.yaml"):
        with pytest.raises(requests.ConnectionError):
            requests.get(entries[1]["url"])  # the second page before the first


def test_record_command_writes_a_scrubbed_recording(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    out = tmp_path / "cli.yaml"
    # 12 models in pages of 5: the listing ends by itself (a short third page), so the live
    # command never has to back off.
    with FakeHub(list(synthetic_models(12, seed=1)), token=FAKE_TOKEN) as hub:
        outcome = CliRunner().invoke(
            cli, ["record", str(out), "--endpoint", hub.url, "--page-size", "5", "--max-pages", "3"]
        )
    assert outcome.exit_code == 0, outcome.output
    assert str(out) in outcome.output and "of a crawl (full, " in outcome.output
    # The 12 models, not the elements read (a catch-up pass reads the first page again).
    assert "(full, 12 models, " in outcome.output
    assert "cut after" not in outcome.output  # the whole listing: 5 + 5 + 2
    assert FAKE_TOKEN not in out.read_text()
    assert FAKE_TOKEN not in outcome.output


def test_record_command_says_when_it_cut_the_listing(tmp_path):
    # 30 models in pages of 5 are six pages: --max-pages 2 leaves out four of them.
    with FakeHub(list(synthetic_models(30, seed=1))) as hub:
        outcome = CliRunner().invoke(
            cli,
            ["record", str(tmp_path / "cut.yaml"), "--endpoint", hub.url, "--page-size", "5"]
            + ["--max-pages", "2"],
        )
    assert outcome.exit_code == 0, outcome.output
    assert "the listing was cut after 2 page(s) (--max-pages)" in outcome.output


def test_record_sends_and_scrubs_the_token_huggingface_hub_would_send_or_none(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    scrubbed = []
    real_scrub = recording.scrub
    monkeypatch.setattr(
        recording,
        "scrub",
        lambda entries, secrets: scrubbed.append(secrets) or real_scrub(entries, secrets),
    )
    models = list(synthetic_models(12, seed=2))
    with FakeHub(models) as hub:
        recording.record(tmp_path / "a.yaml", endpoint=hub.url, page_size=5, sleep=no_wait)
        sent_by_default = {r["authorization"] for r in hub.requests_seen}
        hub.requests_seen.clear()
        recording.record(
            tmp_path / "b.yaml", endpoint=hub.url, token=False, page_size=5, sleep=no_wait
        )
        sent_without = {r["authorization"] for r in hub.requests_seen}
    assert sent_by_default == {f"Bearer {FAKE_TOKEN}"} and sent_without == {None}
    # A server may echo the token it got: the one from the environment is scrubbed too.
    assert scrubbed == [[FAKE_TOKEN], []]


def test_record_into_a_missing_folder_fails_before_any_request(tmp_path):
    with FakeHub(list(synthetic_models(5, seed=3))) as hub:
        with pytest.raises(UsageError, match="does not exist"):
            recording.record(tmp_path / "no" / "out.yaml", endpoint=hub.url)
        assert hub.stats.requests == 0


def test_record_replaces_only_a_recording_and_refuses_before_any_request(tmp_path):
    with FakeHub(list(synthetic_models(5, seed=3))) as hub:
        database = tmp_path / "history.duckdb"
        recording.record(tmp_path / "first.yaml", endpoint=hub.url, db_path=database)
        notes = tmp_path / "notes.txt"
        notes.write_text("my notes\n")
        kept = {path: path.read_bytes() for path in (database, notes)}
        asked = hub.stats.requests
        for out, db_path, said in (
            (database, None, "is not a recording"),  # a mistyped argument
            (notes, None, "is not a recording"),
            (tmp_path / "new.duckdb", tmp_path / "new.duckdb", "is the --db database"),
            (tmp_path, None, "is a folder"),
        ):
            with pytest.raises(UsageError, match=said):
                recording.record(out, endpoint=hub.url, db_path=db_path)
        assert hub.stats.requests == asked
        assert {path: path.read_bytes() for path in kept} == kept
        assert not (tmp_path / "new.duckdb").exists()
        # A recording, or an empty file, is replaced.
        (tmp_path / "empty.yaml").touch()
        for out in (tmp_path / "first.yaml", tmp_path / "empty.yaml"):
            recording.record(out, endpoint=hub.url)
            assert len(recording.load(out)) > 0


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_record_to_a_folder_it_cannot_write_fails_before_any_request():
    with FakeHub(list(synthetic_models(5, seed=3))) as hub:
        with pytest.raises(UsageError, match="cannot write"):
            recording.record(Path("/proc/hfstats-test.yaml"), endpoint=hub.url)
        assert hub.stats.requests == 0


def test_record_giving_up_names_record_not_refresh(tmp_path):
    with FakeHub(list(synthetic_models(5, seed=3)), faults=lambda number, path: "503") as hub:
        with pytest.raises(HubUnavailableError) as caught:
            recording.record(tmp_path / "out.yaml", endpoint=hub.url, sleep=lambda s: None)
    assert "`hfstats record` again" in str(caught.value)
    assert "refresh" not in str(caught.value)


def test_recorded_at_is_read_only_as_an_instant_with_a_zone(tmp_path):
    path = tmp_path / "r.yaml"
    recording.save([], path)
    assert recording.recorded_at(path) is None  # older recordings say nothing
    for value, instant in (
        ("'2026-10-02T09:00:20Z'", datetime(2026, 10, 2, 9, 0, 20, tzinfo=UTC)),
        # YAML's own timestamp, with its zone
        ("2026-10-02 09:00:20+02:00", datetime(2026, 10, 2, 7, 0, 20, tzinfo=UTC)),
        ("'2026-10-02T09:00:20'", None),
        ("yesterday", None),
    ):
        path.write_text(f"recorded_at: {value}\nresponses: []\n")
        if instant is not None:
            # == between aware datetimes ignores their zones: the demo prints the UTC one.
            assert recording.recorded_at(path).isoformat() == instant.isoformat()
        else:
            with pytest.raises(UsageError, match="recorded_at"):
                recording.recorded_at(path)
