"""Crawls against the local test Hub with injected faults end with exactly the Hub's models.

Every expected value comes from the FakeHub's own data (``hub.models()`` read after the crawl),
never from hfstats: the ``models`` view must hold the same object ids with the same ``id``s,
once each.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import duckdb
import pytest
from conftest import begin_test_snapshot

from hfstats import crawl, store
from hfstats.errors import HubError, HubRefusedError, HubUnavailableError
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FAULTS, FakeHub, faults_at, random_faults
from hfstats.testing.synthetic import synthetic_models

pytestmark = pytest.mark.faults


def fast_client(hub: FakeHub) -> HubClient:
    # Small timeouts and backoff keep each crawl to a second or two; the stall fault outlasts
    # the timeout (FakeHub(stall_seconds=1) against timeout=0.5). Waits asked for by the Hub
    # (Retry-After, RateLimit reset) are shortened too: the test Hub enforces no quota here, and
    # test_hub_client.py checks that those waits are honoured.
    return HubClient(
        hub.url,
        backoff_base=0.01,
        timeout=0.5,
        sleep=lambda seconds: time.sleep(min(seconds, 0.05)),
    )


def models_view(db_path: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute("SELECT object_id, id FROM models").fetchall()


def assert_same_models(db_path: Path, hub: FakeHub) -> None:
    rows = models_view(db_path)
    expected = {model["_id"]: model["id"] for model in hub.models()}
    object_ids = [object_id for object_id, _ in rows]
    assert len(object_ids) == len(set(object_ids)), "a model is listed twice"
    assert len(rows) == len(expected)
    assert dict(rows) == expected


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_kind_loses_and_duplicates_nothing(tmp_path: Path, fault: str) -> None:
    models = list(synthetic_models(300, seed=11))
    # Request 1 (the first page: nothing known yet about page sizes), two in a row in the
    # middle (a retry that fails the same way), and one late in the listing.
    schedule = {1: fault, 5: fault, 6: fault, 11: fault}
    with FakeHub(models, stall_seconds=1, faults=faults_at(schedule)) as hub:
        crawl.refresh(tmp_path / "hub.duckdb", client=fast_client(hub), page_size=25)
        assert hub.stats.faults_injected == {fault: len(schedule)}
        assert_same_models(tmp_path / "hub.duckdb", hub)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_kind_in_an_incremental_refresh(tmp_path: Path, fault: str) -> None:
    models = list(synthetic_models(200, seed=12))
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(models, stall_seconds=1) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=25)
        # New commits to a few models, a rename and a deletion, then a faulty incremental crawl.
        newest = max(model["lastModified"] for model in models)
        for index, model in enumerate(models[:30]):
            hub.upsert({**model, "lastModified": f"2027-01-01T00:00:{index:02d}.000Z"})
        hub.rename(models[40]["_id"], "someone-else/renamed-model")
        hub.upsert(
            {**hub_model(hub, models[40]["_id"]), "lastModified": "2027-01-02T00:00:00.000Z"}
        )
        assert newest < "2027"
        hub.faults = faults_at({1: fault, 2: fault, 3: fault})
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=25)
        assert result.mode == "incremental"
        assert_same_models(db_path, hub)


def hub_model(hub: FakeHub, object_id: str) -> dict:
    return next(model for model in hub.models() if model["_id"] == object_id)


def test_random_mix_of_faults_at_ten_percent(tmp_path: Path) -> None:
    models = list(synthetic_models(3000, seed=13))
    with FakeHub(models, stall_seconds=1, faults=random_faults(0.10, seed=13)) as hub:
        crawl.refresh(tmp_path / "hub.duckdb", client=fast_client(hub), page_size=100)
        assert sum(hub.stats.faults_injected.values()) >= 2
        assert_same_models(tmp_path / "hub.duckdb", hub)


def test_full_refresh_under_faults_marks_exactly_the_deleted_models(tmp_path: Path) -> None:
    models = list(synthetic_models(1000, seed=14))
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(models, stall_seconds=1) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=100)
        for model in models[::7]:
            hub.delete(model["_id"])
        hub.faults = random_faults(0.10, seed=14)
        crawl.refresh(db_path, client=fast_client(hub), page_size=100, full=True)
        assert_same_models(db_path, hub)
        assert len(hub.models()) == 1000 - len(models[::7])


def test_tens_of_thousands_of_models_with_faults(tmp_path: Path) -> None:
    """Issue 3's "done means": 20,000 models, page size 500, faults at 10% of requests."""
    models = list(synthetic_models(20_000, seed=15))
    with FakeHub(
        models, max_page_size=500, stall_seconds=1, faults=random_faults(0.10, seed=15)
    ) as hub:
        crawl.refresh(tmp_path / "hub.duckdb", client=fast_client(hub), page_size=500)
        assert_same_models(tmp_path / "hub.duckdb", hub)


def _with_cursor(url: str, cursor: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert "cursor" in query, "the crawl must be part-way through the listing"
    return urlunsplit(parts._replace(query=urlencode({**query, "cursor": cursor})))


def _replace_saved_cursor(db_path: Path, cursor: str) -> None:
    state_file = db_path.with_name(db_path.name + ".crawl") / "state.json"
    state = json.loads(state_file.read_text())
    state["next_url"] = _with_cursor(state["next_url"], cursor)
    state_file.write_text(json.dumps(state))


def test_a_saved_cursor_the_hub_refuses_restarts_the_crawl(tmp_path: Path) -> None:
    # The Hub does not say how long a cursor stays good. A crawl resumed from one it no longer
    # takes (the test Hub answers 400 "Invalid cursor" for any cursor it cannot read) must start
    # again from the first page instead of failing every later refresh, as the full crawl it
    # was: a model deleted meanwhile is marked deleted.
    db = tmp_path / "hub.duckdb"
    models = list(synthetic_models(60, seed=21))
    with FakeHub(models) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10)
        first = crawl.refresh(db, client=fast_client(hub), page_size=10, max_pages=3, full=True)
        assert not first.complete
        _replace_saved_cursor(db, "expired")
        hub.delete(models[-1]["_id"])

        second = crawl.refresh(db, client=fast_client(hub), page_size=10)

        assert second.complete and second.mode == "full" and not second.resumed
        assert second.merge.deleted == 1
        assert any("did not take the saved cursor" in note for note in second.notes)
        assert not any("resumed" in note for note in second.notes)
        assert_same_models(db, hub)
        assert second.snapshot_id != first.snapshot_id
    with duckdb.connect(str(db), read_only=True) as connection:
        snapshots = connection.execute(
            "SELECT snapshot_id, complete FROM snapshots ORDER BY snapshot_id"
        ).fetchall()
    assert snapshots == [(1, True), (first.snapshot_id, False), (second.snapshot_id, True)]


def _catch_up_saved_with_an_expired_cursor(
    db: Path, hub: FakeHub, page_size: int, listing_pages: int
) -> crawl.RefreshResult:
    """A crawl stopped part-way through its catch-up pass, whose cursor the Hub no longer takes."""
    staging = db.with_name(db.name + ".crawl")
    # The listing's pages, then the switch to the catch-up pass: saved with its first URL.
    first = crawl.refresh(db, client=fast_client(hub), page_size=page_size, max_pages=listing_pages)
    state = json.loads((staging / "state.json").read_text())
    assert state["phase"] == "catchup" and state["pages"] == listing_pages
    state["next_url"] += "&cursor=expired"
    state["pass_pages"] = 1
    (staging / "state.json").write_text(json.dumps(state))
    return first


def test_a_refused_cursor_in_a_catch_up_pass_restarts_only_that_pass(tmp_path: Path) -> None:
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(60, seed=21))) as hub:
        first = _catch_up_saved_with_an_expired_cursor(db, hub, page_size=10, listing_pages=6)

        second = crawl.refresh(db, client=fast_client(hub), page_size=10)

        assert second.complete and second.resumed and second.snapshot_id == first.snapshot_id
        assert any("the catch-up pass started again" in note for note in second.notes)
        assert second.pages == 7  # the listing's six pages were kept
        assert_same_models(db, hub)
        # Every request the Hub saw counts in the snapshot: the refused one and the probe too.
        with duckdb.connect(str(db), read_only=True) as connection:
            recorded = connection.execute(
                "SELECT requests FROM snapshots WHERE snapshot_id = ?", [first.snapshot_id]
            ).fetchall()
        assert recorded == [(hub.stats.requests,)]


def test_a_page_size_above_the_hubs_limit_of_1000_falls_back_to_1000(tmp_path: Path) -> None:
    # The notes call 1000 the likeliest limit: falling back to 500 would double the requests.
    models = list(synthetic_models(2_500, seed=23))
    with FakeHub(models, max_page_size=5_000, refuse_page_size_above=1_000) as hub:
        result = crawl.refresh(tmp_path / "hub.duckdb", client=fast_client(hub), page_size=5_000)
        assert result.complete
        assert "the Hub refused 5000 models a page; pages of 1000 were asked for" in result.notes
        assert result.pages == 3 + 1  # the listing, then one catch-up page
        assert_same_models(tmp_path / "hub.duckdb", hub)


def test_a_saved_crawl_of_a_page_size_the_hub_now_refuses_starts_again_smaller(
    tmp_path: Path,
) -> None:
    # The largest page size is not documented and may change. A crawl saved at 500 models a
    # page, resumed when the Hub refuses more than 100, has its cursor refused and the probe of
    # the first page too: it must start again at 100, not fail every later refresh.
    db = tmp_path / "hub.duckdb"
    models = list(synthetic_models(1_200, seed=22))
    with FakeHub(models) as hub:
        first = crawl.refresh(db, client=fast_client(hub), page_size=500, max_pages=1)
        assert not first.complete
        hub.refuse_page_size_above = 100

        second = crawl.refresh(db, client=fast_client(hub), page_size=500)

        assert second.complete and second.mode == "full" and not second.resumed
        assert any("did not take the saved cursor" in note for note in second.notes)
        assert "the Hub refused 500 models a page; pages of 100 were asked for" in second.notes
        assert second.pages == 1_200 // 100 + 1  # the listing, then one catch-up page
        assert_same_models(db, hub)


def test_a_catch_up_pass_of_a_page_size_the_hub_now_refuses_starts_again_smaller(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(1_200, seed=22))) as hub:
        first = _catch_up_saved_with_an_expired_cursor(db, hub, page_size=500, listing_pages=3)
        hub.refuse_page_size_above = 100

        second = crawl.refresh(db, client=fast_client(hub), page_size=500)

        assert second.complete and second.resumed and second.snapshot_id == first.snapshot_id
        assert any(
            "it refuses 500 models a page now, and the catch-up pass asks for 100" in note
            for note in second.notes
        )
        assert not any("try a smaller --page-size" in note for note in second.notes)  # done
        assert second.pages == 4  # the listing's three pages kept, one catch-up page of 100
        assert_same_models(db, hub)


def test_a_saved_crawl_that_read_no_page_takes_the_smaller_page_size_its_error_asked_for(
    tmp_path: Path,
) -> None:
    # A Hub taking at most 50 a page refuses 1000, 500 and 100 alike: the first refresh fails
    # saying to try a smaller --page-size, and the crawl it saved (no page, 100 a page) must
    # not then hold every refresh to 100.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(120, seed=24)), refuse_page_size_above=50) as hub:
        with pytest.raises(HubError, match="smaller --page-size"):
            crawl.refresh(db, client=fast_client(hub), page_size=1000)

        second = crawl.refresh(db, client=fast_client(hub), page_size=50)

        assert second.complete and second.resumed
        assert "it had read no page, so it asks for 50 models a page, not 100" in second.notes
        assert second.pages == 3 + 1  # 50 + 50 + 20, then one catch-up page
        assert_same_models(db, hub)


def test_a_listing_started_again_after_a_refused_cursor_is_asked_at_this_runs_page_size(
    tmp_path: Path,
) -> None:
    # A new crawl: what was saved at 10 models a page says nothing of the size to ask for now.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(65, seed=23))) as hub:
        assert not crawl.refresh(db, client=fast_client(hub), page_size=10, max_pages=3).complete
        _replace_saved_cursor(db, "expired")

        second = crawl.refresh(db, client=fast_client(hub), page_size=30)

        assert second.complete and not second.resumed
        assert second.pages == 4  # 30 + 30 + 5, then one catch-up page
        assert not any("refused" in note for note in second.notes)
        assert_same_models(db, hub)


def saved_crawl(staging: Path) -> dict:
    """The saved crawl's position: what a failed run must leave as it was (it may add the
    requests it spent and mark the pass as resumed)."""
    state = json.loads((staging / "state.json").read_text())
    return {k: v for k, v in state.items() if k not in ("requests", "pass_resumed")}


def test_a_5xx_on_the_saved_cursor_keeps_the_saved_pages(tmp_path: Path) -> None:
    # A page the Hub cannot serve for now is not a stale cursor: starting over on every run
    # would throw away the saved pages each time.
    db = tmp_path / "hub.duckdb"
    staging = db.with_name(db.name + ".crawl")
    failing = False
    with FakeHub(
        list(synthetic_models(60, seed=21)),
        faults=lambda number, path: "503" if failing and "cursor=" in path else None,
    ) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, max_pages=3)
        saved_crawl_before = saved_crawl(staging)
        failing = True
        with pytest.raises(HubUnavailableError):
            crawl.refresh(db, client=fast_client(hub), page_size=10)
        assert saved_crawl(staging) == saved_crawl_before


def test_a_resumed_crawl_keeps_its_page_size_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(60, seed=21))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, max_pages=2)
        resumed = crawl.refresh(db, client=fast_client(hub), page_size=25)
        assert resumed.resumed and resumed.complete
        assert "keeps its page size of 10 (25 asked for" in " ".join(resumed.notes)
        asked = {dict(parse_qsl(urlsplit(r["path"]).query)).get("limit") for r in hub.requests_seen}
        assert asked == {"10"}  # its cursors were handed out for pages of 10
        assert_same_models(db, hub)


def test_a_resumed_crawl_is_kept_while_the_hub_is_down(tmp_path: Path) -> None:
    # A 5xx for the saved cursor may be the Hub being down, not the cursor: the saved pages
    # are dropped only once the first page answers, so the next refresh resumes them.
    db = tmp_path / "hub.duckdb"
    staging = db.with_name(db.name + ".crawl")
    down = False
    with FakeHub(
        list(synthetic_models(60, seed=21)), faults=lambda number, path: "503" if down else None
    ) as hub:
        first = crawl.refresh(db, client=fast_client(hub), page_size=10, max_pages=3)
        saved_crawl_before = saved_crawl(staging)
        down = True
        with pytest.raises(HubUnavailableError):
            crawl.refresh(db, client=fast_client(hub), page_size=10)
        assert saved_crawl(staging) == saved_crawl_before
        assert len(list((staging / "pages").glob("*.json"))) == 3

        down = False
        resumed = crawl.refresh(db, client=fast_client(hub), page_size=10)
        assert resumed.resumed and resumed.snapshot_id == first.snapshot_id
        assert_same_models(db, hub)


def test_a_cursor_refused_in_the_middle_of_a_run_is_an_error(tmp_path: Path) -> None:
    # Only the saved cursor a run starts from is taken for an expired one; a cursor the Hub
    # handed out moments ago and then refuses is a fault to report, not a reason to loop.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(60, seed=21))) as hub:

        def expire_cursor(state: crawl.CrawlState, page: object) -> None:
            if state.pages == 2:
                state.next_url = _with_cursor(state.next_url, "expired")

        with pytest.raises(HubRefusedError, match="400"):
            crawl.refresh(db, client=fast_client(hub), page_size=10, on_page=expire_cursor)


# -- pages of repositories with many files ----------------------------------------------------


def many_files_hub(models: int, files: int) -> FakeHub:
    """A Hub whose every model lists ``files`` files: with full=true a page of 1,000 such
    models is about 11 MB (300 files each), which typing needs several hundred MB for."""
    elements = list(synthetic_models(models, seed=21))
    for model in elements:
        model["siblings"] = [
            {"rfilename": f"shards/part-{n:05d}.safetensors"} for n in range(files)
        ]
    return FakeHub(elements)


def stored_files(db_path: Path) -> dict[str, int]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return dict(connection.execute("SELECT object_id, len(files) FROM models").fetchall())


def test_pages_of_repositories_with_many_files_merge_without_a_limit_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HFSTATS_MEMORY_LIMIT", raising=False)
    db_path = tmp_path / "hub.duckdb"
    with many_files_hub(1000, 300) as hub:
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=1000)
        assert result.complete
        assert_same_models(db_path, hub)
        assert stored_files(db_path) == {m["_id"]: 300 for m in hub.models()}
        assert len(hub.models()) == 1000


def test_a_merge_out_of_memory_is_tried_again_with_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hfstats import store

    monkeypatch.delenv("HFSTATS_MEMORY_LIMIT", raising=False)
    # Not raised for the page's size: the first limit (128 MB) is too small for 11 MB pages.
    monkeypatch.setattr(store, "MERGE_MEMORY_PER_PAGE_BYTE", 0)
    db_path = tmp_path / "hub.duckdb"
    with many_files_hub(1000, 300) as hub:
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=1000)
        assert result.merge.memory_limits_tried > 1
        assert any("ran out of memory" in note for note in result.notes)
        assert_same_models(db_path, hub)


def test_finding_the_unlisted_models_out_of_memory_is_tried_again_with_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hfstats_log: pytest.LogCaptureFixture
) -> None:
    # A second full crawl of 2M models ran out of memory here, at the merge's first limit, and
    # failed the same way at every resume.
    monkeypatch.setattr(store, "merge_memory_limits", lambda page_files: ["1MB", "1GB"])
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(3000, seed=4))) as hub:
        assert crawl.refresh(db_path, client=fast_client(hub), page_size=500, full=True).complete
        for model in hub.models()[:5]:
            hub.delete(model["_id"])
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=500, full=True)
        assert result.complete and result.merge.deleted == 5
        assert_same_models(db_path, hub)
    assert any(
        "finding the unlisted models: out of memory at 1MB, trying again at 1GB" in r.message
        for r in hfstats_log.records
    )


def test_a_merge_out_of_memory_at_the_set_limit_keeps_the_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hfstats.errors import HfstatsError

    monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", "128MB")
    db_path = tmp_path / "hub.duckdb"
    with many_files_hub(1000, 300) as hub:
        with pytest.raises(HfstatsError, match="ran out of memory at a limit of 128MB") as error:
            crawl.refresh(db_path, client=fast_client(hub), page_size=1000)
        assert "\n" not in str(error.value)
        requests = len(hub.requests_seen)
        monkeypatch.delenv("HFSTATS_MEMORY_LIMIT")
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=1000)
        assert result.resumed and len(hub.requests_seen) == requests  # merged from the kept pages
        assert_same_models(db_path, hub)


# -- a listing that comes back far shorter ------------------------------------------------------


def test_a_full_crawl_of_an_emptied_listing_is_refused_then_the_next_one_works(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(200, seed=23))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        for model in models:  # an outage: the listing answers [] for a while
            hub.delete(model["_id"])
        before = len(hub.requests_seen)
        with pytest.raises(HubError, match="listed 0 models where snapshot 1 had 200") as error:
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert "\n" not in str(error.value)
        assert len(models_view(db_path)) == 200  # nothing marked deleted
        assert not (tmp_path / "hub.duckdb.crawl").exists()  # the next refresh starts over
        with duckdb.connect(str(db_path), read_only=True) as connection:
            dropped = connection.execute(
                "SELECT complete, requests FROM snapshots WHERE snapshot_id = 2"
            ).fetchall()
        assert dropped == [(False, len(hub.requests_seen) - before)]  # its progress is kept
        for model in models:
            hub.upsert(model)
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert (result.mode, result.resumed, result.merge.deleted) == ("full", False, 0)
        assert_same_models(db_path, hub)


def test_the_shrink_guard_counts_the_listing_not_the_catch_up_pass_reading_it_again(
    tmp_path: Path,
) -> None:
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(300, seed=23))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=100)
        for model in models[:180]:
            hub.delete(model["_id"])
        # 120 models listed, and the catch-up pass reads its first page of 100 again.
        with pytest.raises(HubError, match="listed 120 models where snapshot 1 had 300"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=100, full=True)
        assert len(models_view(db_path)) == 300


def test_a_partial_mirror_of_another_endpoint_is_refused_as_a_shrunken_listing(
    tmp_path: Path,
) -> None:
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(300, seed=23))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=100)
    # HF_ENDPOINT pointed at a mirror holding a third of the models.
    with FakeHub(models[:100]) as mirror:
        with pytest.raises(HubError, match=r"listed 100 models where snapshot 1 \(of http"):
            crawl.refresh(db_path, client=fast_client(mirror), page_size=100)
        assert len(models_view(db_path)) == 300  # nothing marked deleted
        result = crawl.refresh(
            db_path, client=fast_client(mirror), page_size=100, allow_shrink=True
        )
        assert result.merge.deleted == 200


def test_an_unfinished_crawl_of_another_endpoint_is_kept_until_the_user_chooses(
    tmp_path: Path,
) -> None:
    # HF_ENDPOINT set in a shell but not in cron: the saved crawl was silently thrown away.
    from hfstats.errors import UsageError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(300, seed=29))
    with FakeHub(models) as hub, FakeHub(models[:10]) as other:
        paused = crawl.refresh(db_path, client=fast_client(hub), page_size=50, max_pages=3)
        state_file = tmp_path / "hub.duckdb.crawl" / "state.json"
        saved = state_file.read_text()
        with pytest.raises(UsageError, match=f"unfinished crawl of {hub.url} is saved in"):
            crawl.refresh(db_path, client=fast_client(other), page_size=50)
        assert other.stats.requests == 0 and state_file.read_text() == saved
        finished = crawl.refresh(db_path, client=fast_client(hub), page_size=50)
    assert finished.resumed and finished.snapshot_id == paused.snapshot_id
    assert {object_id for object_id, _ in models_view(db_path)} == {m["_id"] for m in models}


def test_a_crawl_of_another_endpoint_that_read_nothing_is_no_reason_to_refuse(
    tmp_path: Path,
) -> None:
    # A mistyped HF_ENDPOINT failed before its first page: cron must not be blocked by it.
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(30, seed=31))
    with FakeHub(models, faults=lambda number, path: "500") as wrong:
        with pytest.raises(HubError):
            crawl.refresh(db_path, client=fast_client(wrong), page_size=10)
    with FakeHub(models) as hub:
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=10)
    assert result.complete and not result.resumed
    assert any(note.startswith("discarded an unfinished crawl of") for note in result.notes)
    assert len(models_view(db_path)) == 30


@pytest.mark.parametrize(("deleted", "allow_shrink"), [(100, False), (150, True)])
def test_half_the_listing_or_an_allowed_shrink_is_recorded(
    tmp_path: Path, deleted: int, allow_shrink: bool
) -> None:
    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(200, seed=23))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        for model in models[:deleted]:
            hub.delete(model["_id"])
        result = crawl.refresh(
            db_path, client=fast_client(hub), page_size=50, full=True, allow_shrink=allow_shrink
        )
        assert result.merge.deleted == deleted
        assert_same_models(db_path, hub)


def test_a_full_crawl_that_ends_early_on_a_glitch_marks_nothing_deleted(tmp_path: Path) -> None:
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(300, seed=29))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        # The 4th page and its three re-asks come without a Link header: the listing seems to
        # end after 200 of the 300 models (more than half: the shrink guard lets it through).
        first = len(hub.requests_seen)
        hub.faults = faults_at({first + n: "missing-link" for n in range(4, 8)})
        with pytest.raises(HubError, match="100 models of snapshot 1 last modified") as error:
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert "\n" not in str(error.value)
        assert len(models_view(db_path)) == 300  # nothing marked deleted
        assert not (tmp_path / "hub.duckdb.crawl").exists()  # the next refresh starts over
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert (result.complete, result.merge.deleted) == (True, 0)
        assert_same_models(db_path, hub)


TAIL_MODELS = list(synthetic_models(300, seed=29))
TAIL_OLDEST_FIRST = sorted(TAIL_MODELS, key=lambda m: (m["lastModified"], m["_id"]))


def cannot_be_asked_about_a_model(model_id: str) -> tuple[int, bytes, dict[str, str]]:
    # A mirror or proxy that serves only the listing: 404 for every model.
    return 404, b'{"error": "Not Found"}', {}


def refuse_a_deleted_tail(db_path: Path, hub: FakeHub) -> None:
    """Crawl ``hub`` (TAIL_MODELS), delete its 40 oldest models (an early account), and see
    the next full crawl refused as a listing cut short: ``hub`` is made unable to say which
    models it serves, so their absence cannot be confirmed."""
    from hfstats.errors import HubError

    crawl.refresh(db_path, client=fast_client(hub), page_size=50)
    hub.model_info = cannot_be_asked_about_a_model
    for model in TAIL_OLDEST_FIRST[:40]:
        hub.delete(model["_id"])
    with pytest.raises(HubError, match="if the same models are missing at the next"):
        crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
    assert len(models_view(db_path)) == 300


def test_the_same_oldest_models_missing_at_the_next_full_crawl_are_recorded(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(TAIL_MODELS) as hub:
        refuse_a_deleted_tail(db_path, hub)
        hub.delete(TAIL_OLDEST_FIRST[100]["_id"])  # and one more, elsewhere, in the meantime
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert result.merge.deleted == 41
        assert "40 of the oldest models, missing from the last full crawl" in " ".join(result.notes)
        assert_same_models(db_path, hub)


def test_a_crawl_stopped_while_asking_about_a_tail_seen_before_is_not_dropped_when_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tail accepted as deleted must still be known to the resumed crawl, and the lookups
    # made before the stop count in the snapshot's requests.
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(TAIL_MODELS) as hub:
        refuse_a_deleted_tail(db_path, hub)
        requests_before = hub.stats.requests
        find_model = HubClient.find_model
        asked = []

        def stopped_on_the_sixth(self: HubClient, model_id: str) -> str | None:
            asked.append(model_id)
            if len(asked) == 6:
                raise KeyboardInterrupt
            return find_model(self, model_id)

        monkeypatch.setattr(HubClient, "find_model", stopped_on_the_sixth)
        with pytest.raises(KeyboardInterrupt):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        monkeypatch.setattr(HubClient, "find_model", find_model)
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert result.resumed and result.merge.deleted == 40
        assert_same_models(db_path, hub)
        with duckdb.connect(str(db_path), read_only=True) as connection:
            recorded = connection.execute(
                "SELECT requests FROM snapshots ORDER BY snapshot_id DESC LIMIT 1"
            ).fetchall()
        assert recorded == [(hub.stats.requests - requests_before,)] == [(result.requests,)]


def test_a_crawl_stopped_while_taking_in_a_page_counts_the_request_that_fetched_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page is dropped when the crawl resumes and asked for again: both requests count.
    db_path = tmp_path / "hub.duckdb"
    page_times = crawl._page_times
    taken = []

    def stopped_at_the_third(page):
        taken.append(page)
        if len(taken) == 3:
            raise KeyboardInterrupt
        return page_times(page)

    with FakeHub(list(synthetic_models(200, seed=8))) as hub:
        monkeypatch.setattr(crawl, "_page_times", stopped_at_the_third)
        with pytest.raises(KeyboardInterrupt):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        assert hub.stats.requests == 3
        monkeypatch.setattr(crawl, "_page_times", page_times)
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        assert result.resumed and result.merge.models == 200
        with duckdb.connect(str(db_path), read_only=True) as connection:
            recorded = connection.execute("SELECT requests FROM snapshots").fetchall()
        assert recorded == [(hub.stats.requests,)] == [(result.requests,)]


def test_allow_shrink_on_an_incremental_refresh_says_it_changed_nothing(
    tmp_path: Path, hfstats_log: pytest.LogCaptureFixture
) -> None:
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(60, seed=29))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, allow_shrink=True)
        assert result.mode == "incremental"
        assert any("--full --allow-shrink" in note for note in result.notes)
        # Said before the crawl, not only after it: here no page ever comes.
        hub.faults = lambda number, path: "503"
        hfstats_log.clear()
        with pytest.raises(HubError):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, allow_shrink=True)
    assert "--full --allow-shrink" in hfstats_log.text


def test_two_glitches_cutting_different_tails_are_both_refused(tmp_path: Path) -> None:
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(300, seed=29))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        for cut_after in (4, 5):  # the listing ends after 200, then after 250 models
            first = len(hub.requests_seen)
            hub.faults = faults_at({first + cut_after + n: "missing-link" for n in range(4)})
            with pytest.raises(HubError, match="likely cut short"):
                crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        hub.faults = None
        assert len(models_view(db_path)) == 300


def cut_the_listing_after(hub: FakeHub, pages: int) -> None:
    """The next crawl's listing ends after ``pages`` pages: that page loses its ``Link`` header
    every time it is asked for again."""
    first = len(hub.requests_seen)  # faults_at counts requests from 1
    hub.faults = faults_at({first + pages + n: "missing-link" for n in range(4)})


def test_a_cut_tail_the_hub_still_has_is_refused_even_when_seen_before(tmp_path: Path) -> None:
    # Remembered while the Hub could not be asked, the same tail cut off again is refused once
    # the Hub says it still has those models.
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(400, seed=29))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        answers = hub.model_info
        hub.model_info = cannot_be_asked_about_a_model
        cut_the_listing_after(hub, 4)  # 200 of the 400 listed
        with pytest.raises(HubError, match="if the same models are missing at the next"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        hub.model_info = answers
        cut_the_listing_after(hub, 4)  # 200 of the 400 listed
        with pytest.raises(HubError, match="the Hub still serves models of it"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        hub.faults = None
        assert len(models_view(db_path)) == 400
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert result.merge.deleted == 0
        assert_same_models(db_path, hub)


def test_a_listing_cut_above_deleted_old_models_is_still_refused(tmp_path: Path) -> None:
    # The oldest 100 are gone (asked about, the Hub no longer has them), but the listing is
    # also cut 150 models above them: those the Hub still has, and they are asked about first.
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(600, seed=29))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        for model in sorted(models, key=lambda m: (m["lastModified"], m["_id"]))[:100]:
            hub.delete(model["_id"])
        cut_the_listing_after(hub, 7)  # 350 of the 500 left are listed
        with pytest.raises(HubError, match="the Hub still serves models of it"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert len(models_view(db_path)) == 600


def test_a_listing_cut_below_a_deleted_stretch_of_the_tail_is_still_refused(
    tmp_path: Path,
) -> None:
    # The newer 140 of a 250-model tail were deleted (a clean-up of a date range); the 110
    # below them, cut off with them, the Hub still has: the older part of the tail is asked
    # about too.
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(600, seed=29))
    oldest_first = sorted(models, key=lambda m: (m["lastModified"], m["_id"]))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        for model in oldest_first[110:250]:
            hub.delete(model["_id"])
        cut_the_listing_after(hub, 7)  # 350 listed: the oldest 250 unlisted
        with pytest.raises(HubError, match="the Hub still serves models of it"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert len(models_view(db_path)) == 600


def test_a_refusal_stopped_after_remembering_its_tail_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Resumed, the crawl would meet its own tail as the one seen before and record it deleted.
    db_path = tmp_path / "hub.duckdb"
    set_meta = store.set_meta

    def stopped_after_remembering(connection, key, value):
        set_meta(connection, key, value)
        if key == crawl.REFUSED_TAIL_KEY and value is not None:
            raise KeyboardInterrupt

    with FakeHub(list(synthetic_models(400, seed=29))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        hub.model_info = cannot_be_asked_about_a_model
        cut_the_listing_after(hub, 4)  # 200 of the 400 listed
        monkeypatch.setattr(crawl.store, "set_meta", stopped_after_remembering)
        with pytest.raises(KeyboardInterrupt):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        monkeypatch.setattr(crawl.store, "set_meta", set_meta)
        hub.faults = None
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert not result.resumed and result.merge.deleted == 0
        assert_same_models(db_path, hub)


def test_a_hub_that_answers_only_for_recent_models_confirms_no_deletion(tmp_path: Path) -> None:
    # A cache in front of the Hub, say, that answers 404 for models not modified lately: the
    # oldest model listed is asked about first, and its 404 makes the other answers worthless.
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(400, seed=29))
    recent = {m["id"] for m in sorted(models, key=lambda m: m["lastModified"])[-100:]}
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        answers = hub.model_info
        hub.model_info = lambda model_id: (
            answers(model_id) if model_id in recent else cannot_be_asked_about_a_model(model_id)
        )
        cut_the_listing_after(hub, 4)  # 200 of the 400 listed
        with pytest.raises(HubError, match="likely cut short"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert len(models_view(db_path)) == 400


def test_a_refusal_stopped_while_dropping_its_pages_leaves_no_crawl_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "hub.duckdb"
    rmtree = crawl.shutil.rmtree

    def stopped_after_the_first_page(path, *args, **kwargs):
        (Path(path) / "pages" / "0000001.json").unlink()
        raise KeyboardInterrupt

    with FakeHub(list(synthetic_models(400, seed=29))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        cut_the_listing_after(hub, 4)  # 200 of the 400 listed
        monkeypatch.setattr(crawl.shutil, "rmtree", stopped_after_the_first_page)
        with pytest.raises(KeyboardInterrupt):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        monkeypatch.setattr(crawl.shutil, "rmtree", rmtree)
        hub.faults = None
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert not result.resumed and result.merge.deleted == 0
        assert_same_models(db_path, hub)


class TimeOutOfOrderHub(FakeHub):
    """Sorts a model by its ``_sort`` key where it has one: its ``lastModified`` disagrees."""

    def _order(self) -> list[tuple[str, str]]:
        if self._sorted is None:
            self._sorted = sorted(
                (str(m.get("_sort", m.get("lastModified", ""))), object_id)
                for object_id, m in self._models.items()
            )
        return self._sorted


def test_one_old_time_early_in_the_listing_does_not_hide_a_cut(tmp_path: Path) -> None:
    from hfstats.errors import HubError

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(300, seed=29))
    newest = max(models, key=lambda m: m["lastModified"])
    # Listed first, but dated 2000: older than anything where the cut falls.
    odd = {**newest, "_sort": newest["lastModified"], "lastModified": "2000-01-01T00:00:00.000Z"}
    with TimeOutOfOrderHub([odd if m is newest else m for m in models]) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        first = len(hub.requests_seen)
        hub.faults = faults_at({first + n: "missing-link" for n in range(4, 8)})
        with pytest.raises(HubError, match="100 models of snapshot 1 last modified"):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert len(models_view(db_path)) == 300


@pytest.mark.parametrize(
    ("deleted", "allow_shrink", "can_be_asked"),
    [(8, False, False), (40, True, False), (40, False, True), (200, False, True)],
)
def test_the_oldest_models_deleted_are_recorded_up_to_a_tolerance_when_allowed_or_confirmed(
    tmp_path: Path, deleted: int, allow_shrink: bool, can_be_asked: bool
) -> None:
    # Deleting the oldest models leaves the same tail out as a listing cut short: a few (up to
    # 10) are taken for deletions; more with --allow-shrink, or when the Hub, asked about some
    # of them, no longer has them (else see the tests of refuse_a_deleted_tail).
    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(600, seed=29))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        if not can_be_asked:
            hub.model_info = cannot_be_asked_about_a_model
        oldest_first = sorted(models, key=lambda m: (m["lastModified"], m["_id"]))
        for model in oldest_first[:deleted]:
            hub.delete(model["_id"])
        requests_before = hub.stats.requests
        result = crawl.refresh(
            db_path, client=fast_client(hub), page_size=50, full=True, allow_shrink=allow_shrink
        )
        assert result.merge.deleted == deleted
        assert_same_models(db_path, hub)
        confirmed = f"{deleted} of the oldest models are not listed, and the Hub no longer serves"
        assert (
            can_be_asked
            == (deleted > 10 and not allow_shrink)
            == (confirmed in " ".join(result.notes))
        )
        with duckdb.connect(str(db_path), read_only=True) as connection:
            recorded = connection.execute(
                "SELECT requests FROM snapshots ORDER BY snapshot_id DESC LIMIT 1"
            ).fetchall()
        assert recorded == [(hub.stats.requests - requests_before,)] == [(result.requests,)]
        # No model is asked about twice (the tail's confirmation, then the missing models).
        asked = [r["path"] for r in hub.requests_seen if r["path"].startswith("/api/models/")]
        assert len(asked) == len(set(asked))


def listing_element(n: int) -> dict:
    """A minimal listing element; a larger ``n`` is older (for mocked pages, newest first)."""
    return {
        "_id": f"{n:024x}",
        "id": f"org/m{n}",
        "lastModified": f"2026-01-{30 - n:02d}T00:00:00.000Z",
    }


def test_next_links_that_loop_back_are_an_error_not_an_endless_crawl(tmp_path: Path) -> None:
    import responses

    from hfstats.errors import HubError
    from hfstats.hub import models_url

    first = models_url("https://hub.test", 2)
    second, third = first + "&cursor=two", first + "&cursor=three"
    with responses.RequestsMock() as mock:
        # Pages 1 -> 2 -> 3 -> 2 -> 3 ...
        mock.get(
            first,
            json=[listing_element(1), listing_element(2)],
            headers={"Link": f'<{second}>; rel="next"'},
        )
        mock.get(
            second,
            json=[listing_element(3), listing_element(4)],
            headers={"Link": f'<{third}>; rel="next"'},
        )
        answers = iter([200, 200, 200])  # then 404: without the check, the test ends anyway

        def looping_page(request):
            status = next(answers, 404)
            body = json.dumps([listing_element(5), listing_element(6)])
            return status, {"Link": f'<{second}>; rel="next"'}, body

        mock.add_callback(responses.GET, third, callback=looping_page)
        client = HubClient("https://hub.test", sleep=lambda seconds: None)
        with pytest.raises(HubError, match="after page 3 of this pass leads back") as error:
            crawl.refresh(tmp_path / "hub.duckdb", client=client, page_size=2)
        assert "\n" not in str(error.value)
        assert [call.request.url for call in mock.calls] == [first, second, third]


def test_merge_memory_limits_start_from_the_largest_page_and_end_at_the_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hfstats import store

    monkeypatch.delenv("HFSTATS_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(store, "_memory", lambda: 64e9)
    page = tmp_path / "0000001.json"
    page.write_bytes(b" " * 11_000_000)
    # 64 MB + 64 bytes per byte of an 11 MB page, doubled up to the 4 GB ceiling itself (a
    # last step of less than half again is folded into the one before: 3072 MB -> 4000 MB).
    assert store.merge_memory_limits([page]) == ["768MB", "1536MB", "4000MB"]
    assert store.merge_memory_limits([])[:2] == ["128MB", "256MB"]
    # Never past half the machine's memory.
    monkeypatch.setattr(store, "_memory", lambda: 3e9)
    assert store.merge_memory_limits([])[-1] == "1500MB"
    monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", "2GB")
    assert store.merge_memory_limits([page]) == ["2GB"]


def duckdb_limit(size: str) -> str:
    """How DuckDB shows the memory limit ``size``."""
    with duckdb.connect() as probe:
        probe.execute("SET memory_limit = ?", [size])
        return probe.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_the_merge_after_typing_runs_at_three_quarters_of_its_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB holds what it is allowed; only typing needs the whole limit (benchmarks/RESULTS.md).
    monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", "200MB")
    page = tmp_path / "0000001.json"
    page.write_text(json.dumps(list(synthetic_models(20, seed=1))))
    with store.write(tmp_path / "hub.duckdb") as connection:
        snapshot_id = begin_test_snapshot(connection)
        result = store.merge_pages(
            connection, snapshot_id=snapshot_id, page_files=[page], full=True, pages=1, requests=1
        )
        (after,) = connection.execute("SELECT current_setting('memory_limit')").fetchone()
    assert (result.models, result.memory_limit) == (20, "200MB")
    assert after == duckdb_limit("150MB")


class TypingWatcher:
    """A connection that notes the DuckDB threads and memory limit each typing of the pages
    (the statement creating ``incoming``) runs with, and makes the statements for which
    ``out_of_memory(statement, threads, limit)`` is true run out of memory."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, out_of_memory=None):
        self.connection = connection
        self.out_of_memory = out_of_memory or (lambda statement, threads, limit: False)
        self.typings: list[tuple[int, str]] = []

    def execute(self, query: str, *args: object) -> duckdb.DuckDBPyConnection:
        threads, limit = self.connection.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit')"
        ).fetchone()
        if "TEMP TABLE incoming AS" in query:
            self.typings.append((threads, limit))
        if self.out_of_memory(query, threads, limit):
            raise duckdb.OutOfMemoryException("out of memory (a test)")
        return self.connection.execute(query, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.connection, name)


def merge_watched(tmp_path: Path, watcher_of) -> tuple[store.MergeResult, TypingWatcher, int]:
    """Merge one page of 20 models through a TypingWatcher: the result, the watcher, and the
    rows stored."""
    page = tmp_path / "0000001.json"
    page.write_text(json.dumps(list(synthetic_models(20, seed=1))))
    with store.write(tmp_path / "hub.duckdb") as connection:
        snapshot_id = begin_test_snapshot(connection)
        watcher = watcher_of(connection)
        result = store.merge_pages(
            watcher, snapshot_id=snapshot_id, page_files=[page], full=True, pages=1, requests=1
        )
        (rows,) = connection.execute("SELECT count(*) FROM model_versions").fetchone()
    return result, watcher, rows


@pytest.mark.parametrize(("limit", "threads"), [(None, 1), ("500MB", 1), ("1GB", 2)])
def test_pages_are_typed_on_two_threads_only_at_a_limit_with_room_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str | None, threads: int
) -> None:
    # Two threads halve the typing but need twice the memory (benchmarks/RESULTS.md): the
    # default 128 MB keeps one, and the memory target.
    if limit:
        monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", limit)
    else:
        monkeypatch.delenv("HFSTATS_MEMORY_LIMIT", raising=False)
    result, watcher, rows = merge_watched(tmp_path, TypingWatcher)
    assert watcher.typings == [(threads, duckdb_limit(limit or "128MB"))]
    assert (result.models, rows) == (20, 20)


def test_pages_typed_on_two_threads_store_what_one_thread_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Models listed twice keep their copy from the page fetched last, however the rows of
    # the pages interleave on two threads.
    models = list(synthetic_models(3000, seed=7))
    later = [dict(model, sha="f" * 40, downloads=7) for model in models[::97]]
    pages = [models[start : start + 100] for start in range(0, 3000, 100)] + [later]
    tables = []
    for limit, threads in ((None, 1), ("1GB", 2)):
        if limit:
            monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", limit)
        else:
            monkeypatch.delenv("HFSTATS_MEMORY_LIMIT", raising=False)
        folder = tmp_path / str(threads)
        folder.mkdir()
        page_files = []
        for number, page in enumerate(pages, start=1):
            page_files.append(folder / f"{number:07d}.json")
            page_files[-1].write_text(json.dumps(page))
        with store.write(folder / "hub.duckdb") as connection:
            snapshot_id = begin_test_snapshot(connection)
            watcher = TypingWatcher(connection)
            store.merge_pages(
                watcher,
                snapshot_id=snapshot_id,
                page_files=page_files,
                full=True,
                pages=31,
                requests=31,
            )
            assert [typed_on for typed_on, _ in watcher.typings] == [threads]
            tables.append(
                connection.execute(
                    "SELECT v.*, c.* FROM model_versions v JOIN model_counters c USING (object_id) "
                    "ORDER BY object_id"
                ).fetchall()
            )
    assert len(tables[0]) == 3000 and tables[0] == tables[1]
    sha = {row[0]: row[7] for row in tables[1]}
    assert all(sha[model["_id"]] == "f" * 40 for model in later)


@pytest.mark.parametrize("statement", ["TEMP TABLE incoming AS", "INSERT INTO model_versions"])
def test_a_merge_that_runs_out_on_two_threads_is_run_again_on_one_at_the_same_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statement: str
) -> None:
    # At a set limit there is no larger one to try: one thread must get its chance, at the
    # whole limit even when the steps after typing (at less) were the ones to run out.
    monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", "1GB")
    tries = []

    def out_of_memory(query: str, threads: int, limit: str) -> bool:
        if statement in query:
            tries.append(query)
        return statement in query and len(tries) == 1

    result, watcher, rows = merge_watched(
        tmp_path, lambda c: TypingWatcher(c, out_of_memory=out_of_memory)
    )
    assert watcher.typings == [(2, duckdb_limit("1GB")), (1, duckdb_limit("1GB"))]
    # The try on two threads was rolled back: each model once.
    assert (result.models, result.memory_limits_tried, rows) == (20, 1, 20)


def test_after_one_thread_ran_out_the_larger_limits_keep_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HFSTATS_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(store, "_memory", lambda: 16e9)  # limits 128MB, 256MB, 512MB, ...
    small = {duckdb_limit("128MB"), duckdb_limit("256MB")}
    result, watcher, rows = merge_watched(
        tmp_path,
        lambda c: TypingWatcher(
            c, out_of_memory=lambda query, threads, limit: "incoming AS" in query and limit in small
        ),
    )
    expected = [(1, duckdb_limit(size)) for size in ("128MB", "256MB", "512MB")]
    assert watcher.typings == expected
    assert (result.models, result.memory_limits_tried, rows) == (20, 3, 20)


@pytest.mark.parametrize(("cgroup", "expected"), [("2000000000\n", 2e9), ("max\n", None)])
def test_a_container_memory_limit_counts_as_the_machine_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroup: str, expected: float | None
) -> None:
    from hfstats import store

    limit_file = tmp_path / "memory.max"
    limit_file.write_text(cgroup)
    monkeypatch.setattr(store, "_CGROUP_MEMORY_FILES", (str(limit_file),))
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert store._memory() == min(expected or physical, physical)


def test_the_requests_of_a_page_given_up_on_are_counted_in_its_snapshot(tmp_path: Path) -> None:
    db_path = tmp_path / "hub.duckdb"
    down = True
    faults = lambda number, path: "503" if down else None  # noqa: E731
    with FakeHub(list(synthetic_models(30, seed=5)), faults=faults) as hub:
        client = HubClient(hub.url, backoff_base=0.001, max_retries=2, sleep=lambda s: None)
        with pytest.raises(HubUnavailableError):
            crawl.refresh(db_path, client=client, page_size=10)
        sent = hub.stats.requests
        with duckdb.connect(str(db_path), read_only=True) as connection:
            recorded = connection.execute("SELECT requests FROM snapshots").fetchall()
        assert recorded == [(sent,)] and sent == 3  # the first try and two retries
        down = False  # and they still count once the crawl resumes and finishes
        assert crawl.refresh(db_path, client=client, page_size=10).complete
        sent = hub.stats.requests
    with duckdb.connect(str(db_path), read_only=True) as connection:
        recorded = connection.execute("SELECT requests FROM snapshots").fetchall()
    assert recorded == [(sent,)]


def test_a_listing_refused_at_every_page_size_is_one_error_after_three_requests(
    tmp_path: Path,
) -> None:
    import responses

    from hfstats.hub import models_url

    with responses.RequestsMock() as mock:
        for size in (1000, 500, 100):
            mock.get(models_url("https://hub.test", size), status=400, json={"error": "no"})
        client = HubClient("https://hub.test", sleep=lambda seconds: None)
        with pytest.raises(HubRefusedError, match="answered 400 no for") as error:
            crawl.refresh(tmp_path / "hub.duckdb", client=client, page_size=1000)
        assert len(mock.calls) == 3
    assert "page-size" not in str(error.value)  # nothing says the size was why


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (400, {"error": '"limit" must be less than or equal to 500'}),
        (400, {"error": "Bad Request"}),
        (422, {"detail": "Unprocessable Entity"}),
    ],
)
def test_a_page_size_the_hub_refuses_is_lowered_before_the_first_page(
    tmp_path: Path, status: int, refusal: dict
) -> None:
    import responses

    from hfstats.hub import models_url

    with responses.RequestsMock() as mock:
        mock.get(models_url("https://hub.test", 1000), status=status, json=refusal)
        mock.get(models_url("https://hub.test", 500), json=[listing_element(1), listing_element(2)])
        client = HubClient("https://hub.test", sleep=lambda seconds: None)
        result = crawl.refresh(tmp_path / "hub.duckdb", client=client, page_size=1000)
        asked = [call.request.url for call in mock.calls]
    assert result.complete and result.merge.models == 2
    assert asked[0] == models_url("https://hub.test", 1000)
    assert set(asked[1:]) == {models_url("https://hub.test", 500)}  # the last page re-asked
    assert "the Hub refused 1000 models a page; pages of 500 were asked for" in result.notes
