"""Models that change while a full crawl runs.

The Hub's notes: "a model that changes while you crawl may move to a page you already read or
have not read yet". The test Hub changes models between the pages it serves; what the
database must hold afterwards comes from the test Hub's own data (``hub.models()``).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from hfstats import crawl
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models, touch

PAGE_SIZE = 5


def fast_client(hub: FakeHub) -> HubClient:
    return HubClient(hub.url, backoff_base=0.01, timeout=5, sleep=lambda seconds: None)


def stored(db_path: Path) -> dict[str, tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute("SELECT object_id, id, sha, last_modified FROM models")
        return {row[0]: row[1:] for row in rows.fetchall()}


def expected(hub: FakeHub) -> dict[str, tuple]:
    return {
        m["_id"]: (
            m["id"],
            m["sha"],
            datetime.fromisoformat(m["lastModified"].replace("Z", "+00:00")),
        )
        for m in hub.models()
    }


def oldest_first(models: list[dict]) -> list[str]:
    return [m["_id"] for m in sorted(models, key=lambda m: (m["lastModified"], m["_id"]))]


def first_page_requests(path: str) -> bool:
    return "cursor=" not in path


class ClockAnHourAhead(datetime):
    """The crawl's clock on a machine whose clock runs an hour ahead of the Hub's."""

    @classmethod
    def now(cls, tz=None):  # noqa: ANN001, ANN206 - datetime.now's own signature
        return datetime.now(tz) + timedelta(hours=1)


@pytest.mark.parametrize("local_clock", ["right", "an hour ahead", "5 minutes behind the Date"])
def test_a_model_changed_twice_is_neither_missed_nor_marked_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_clock: str
) -> None:
    # The oldest model X changes while the listing pass has not reached it (it jumps to the top,
    # already read), then again while the catch-up pass has not reached it (it jumps above that
    # pass too). Six other changes keep X off the catch-up pass's first page. A local clock
    # ahead of the Hub's must not make the catch-up pass look settled: the crawl goes by the
    # Hub's Date header when the two disagree.
    if local_clock == "an hour ahead":
        monkeypatch.setattr(crawl, "datetime", ClockAnHourAhead)
    models = list(synthetic_models(40, seed=5))
    order = oldest_first(models)
    x, others = order[0], order[1:7]
    db = tmp_path / "hub.duckdb"
    # A Date header running ahead (a proxy's clock, say) must not push pass starts later.
    clock_offset = 300.0 if local_clock == "5 minutes behind the Date" else 0.0
    with FakeHub(models, clock_offset=clock_offset) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        first_pages = listing_pages = 0
        touched_again = False

        def plan(number: int, path: str) -> None:
            nonlocal first_pages, listing_pages, touched_again
            current = {m["_id"]: m for m in hub.models()}
            now = datetime.now(UTC)
            if first_page_requests(path):
                first_pages += 1
                return None
            if first_pages == 1:
                listing_pages += 1
                if listing_pages == 2:
                    # Commit times in the past, as the Hub's own would be: X before the others.
                    hub.upsert(touch(current[x], now - timedelta(milliseconds=100)))
                    for n, object_id in enumerate(others, start=1):
                        hub.upsert(
                            touch(current[object_id], now - timedelta(milliseconds=70 - 10 * n))
                        )
            elif first_pages == 2 and not touched_again:
                touched_again = True
                hub.upsert(touch(current[x], now))
            return None

        hub.faults = plan
        result = crawl.refresh(
            db, client=fast_client(hub), page_size=PAGE_SIZE, full=True, overlap=timedelta(0)
        )
        assert result.merge.deleted == 0
        assert stored(db) == expected(hub)
        if local_clock == "right":
            # Listing, the catch-up pass that X jumped over, one more pass that found it.
            assert first_pages == 3
            assert result.notes == []
        # With the skewed clock, pass starts come from the Date header's whole seconds: passes
        # milliseconds apart may not show that nothing changed, and then run to the limit (more
        # requests and a note, never a model missed).
        if local_clock == "an hour ahead":
            # Such a note then blames the clocks (see the test below), never the listing.
            assert not [note for note in result.notes if "still changing" in note]


def test_a_model_that_moved_down_keeps_its_latest_state(tmp_path: Path) -> None:
    # Y, read on page 1, changes so that it sorts last (its lastModified went back): it is
    # listed again at the end, and that later copy is the current one.
    models = list(synthetic_models(40, seed=5))
    order = oldest_first(models)
    y, oldest = order[-1], min(m["lastModified"] for m in models)
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:

        def plan(number: int, path: str) -> None:
            if number == 3:
                current = next(m for m in hub.models() if m["_id"] == y)
                moved = {**current, "id": "new-owner/moved", "modelId": "new-owner/moved"}
                hub.upsert({**moved, "lastModified": oldest, "sha": "f" * 40})
            return None

        hub.faults = plan
        crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        assert expected(hub)[y][:2] == ("new-owner/moved", "f" * 40)
        assert stored(db) == expected(hub)


def test_catch_up_passes_stop_when_the_listing_never_settles(tmp_path: Path) -> None:
    # Before every request a whole page of models changes: no pass can ever be a single page.
    models = list(synthetic_models(200, seed=8))
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        first_pages = 0
        changed = itertools.cycle(oldest_first(models))

        def plan(number: int, path: str) -> None:
            nonlocal first_pages
            first_pages += first_page_requests(path)
            current = {m["_id"]: m for m in hub.models()}
            now = datetime.now(UTC)
            for n in range(PAGE_SIZE):
                hub.upsert(touch(current[next(changed)], now - timedelta(milliseconds=n)))
            return None

        hub.faults = plan
        result = crawl.refresh(
            db, client=fast_client(hub), page_size=PAGE_SIZE, full=True, overlap=timedelta(0)
        )
    assert first_pages == 1 + crawl.MAX_CATCHUP_PASSES
    assert any("still changing" in note for note in result.notes)
    assert result.merge is not None


def test_a_hub_clock_ahead_of_the_local_one_gets_the_blame_when_passes_do_not_settle(
    tmp_path: Path,
) -> None:
    # The Hub's Date and lastModified run a minute ahead of this machine's clock, and its 40
    # models were committed in the half minute before the crawl (by the Hub's clock). Pass starts
    # go by the earlier, local clock, so every catch-up pass's first page holds models "newer"
    # than the pass before began: the passes run to the limit though nothing changes, and the
    # note must say the clocks differ, not that the listing was still changing.
    hub_now = datetime.now(UTC) + timedelta(seconds=60)
    models = [
        touch(model, hub_now - timedelta(seconds=30) + timedelta(milliseconds=10 * n))
        for n, model in enumerate(synthetic_models(40, seed=6))
    ]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models, clock_offset=60.0) as hub:
        result = crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        assert stored(db) == expected(hub)
    assert result.merge.deleted == 0
    [note] = [note for note in result.notes if "did not settle after 5" in note]
    # A minute, give or take the Date header's whole second and the request's time.
    assert re.search(r"the Hub's Date header differ by (59|60|61|62) s", note), note
    assert not [note for note in result.notes if "still changing" in note]


@pytest.mark.parametrize("ahead", [timedelta(days=365 * 70), timedelta(minutes=20)])
def test_a_future_time_and_a_fast_local_clock_do_not_make_incremental_refreshes_skip(
    tmp_path: Path, ahead: timedelta
) -> None:
    # This machine's clock runs 30 minutes ahead of the Hub's, and one model's lastModified
    # lies ahead of the Hub's clock (bad data): in 70 years, or 20 minutes (so before this
    # machine's clock). The high-water mark must come from the Hub's clock: taken from the
    # local one, the next refresh stopped at 10 or 20 minutes after the first crawl by the
    # Hub's clock, and skipped every commit listed since.
    hub_now = datetime.now(UTC) - timedelta(minutes=30)
    models = [
        touch(model, hub_now - timedelta(hours=1) + timedelta(seconds=n))
        for n, model in enumerate(synthetic_models(50, seed=57))
    ]
    models[0] = touch(models[0], hub_now + ahead)
    db = tmp_path / "hub.duckdb"
    with FakeHub(models, clock_offset=-1800.0) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10)
        for n, model in enumerate(models[1:31]):
            hub.upsert(touch(model, hub_now - timedelta(seconds=40 - n)))
        result = crawl.refresh(db, client=fast_client(hub), page_size=10)
        assert result.mode == "incremental"
        assert stored(db) == expected(hub)
    with duckdb.connect(str(db), read_only=True) as connection:
        [(mark,)] = connection.execute(
            "SELECT high_water_mark FROM snapshots ORDER BY snapshot_id DESC LIMIT 1"
        ).fetchall()
    # The newest commit, not the time ahead (lastModified has milliseconds).
    assert abs(mark - (hub_now - timedelta(seconds=11))) < timedelta(milliseconds=1)


def test_a_short_first_page_without_a_link_is_asked_again_before_it_ends_a_full_crawl(
    tmp_path: Path,
) -> None:
    # The Hub may serve fewer models than asked (its maximum is unconfirmed): here 4 of 5.
    # The first page of a run loses its Link header once; taken for the end of the listing,
    # a full crawl would mark the other 26 models deleted.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(30, seed=11)), max_page_size=4) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        before = hub.stats.requests
        hub.faults = lambda number, path: "missing-link" if number == before + 1 else None
        result = crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        assert result.merge.deleted == 0
        assert stored(db) == expected(hub)


def test_a_quiet_listing_needs_one_catch_up_pass(tmp_path: Path) -> None:
    # Seven models committed minutes before the crawl (more than a page inside the 10-minute
    # overlap), nothing during it: one catch-up pass shows that nothing moved.
    models = list(synthetic_models(30, seed=21))
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        for n, object_id in enumerate(sorted(m["_id"] for m in models)[:7]):
            current = next(m for m in hub.models() if m["_id"] == object_id)
            hub.upsert(touch(current, datetime.now(UTC) - timedelta(minutes=5, seconds=n)))
        first_pages = 0

        def plan(number: int, path: str) -> None:
            nonlocal first_pages
            first_pages += first_page_requests(path)
            return None

        hub.faults = plan
        result = crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        assert first_pages == 2  # the listing and one catch-up pass
        assert result.notes == []
        assert stored(db) == expected(hub)


def test_a_refresh_of_another_endpoint_is_a_full_crawl(tmp_path: Path) -> None:
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(20, seed=1))) as first:
        crawl.refresh(db, client=fast_client(first), page_size=PAGE_SIZE)
    with FakeHub(list(synthetic_models(20, seed=2))) as second:
        result = crawl.refresh(db, client=fast_client(second), page_size=PAGE_SIZE)
        assert result.mode == "full"
        assert stored(db) == expected(second)


class UnsortedHub(FakeHub):
    """A Hub that ignores sort=lastModified: its pages come in _id order."""

    def _order(self) -> list[tuple[str, str]]:
        if self._sorted is None:
            self._sorted = sorted((object_id, object_id) for object_id in self._models)
        return self._sorted


def full_crawl_then_commit(hub: FakeHub, db: Path, chosen: slice) -> None:
    """A full crawl at 10 models a page, then a commit now to the ``chosen`` of the models,
    in ``_id`` order."""
    crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
    now = datetime.now(UTC)
    current = {m["_id"]: m for m in hub.models()}
    for object_id in sorted(current)[chosen]:
        hub.upsert(touch(current[object_id], now))


@pytest.mark.parametrize("first_link_lost", [False, True])
def test_an_incremental_refresh_of_an_unsorted_listing_reads_all_of_it(
    tmp_path: Path, first_link_lost: bool
) -> None:
    # Stopping at the last snapshot's high-water mark is only sound on a listing sorted newest
    # first; on any other order it would miss changes without a word. The first page reaches
    # below the last snapshot; should it lose its Link header once, it must not end the refresh
    # either (out of order, it cancels the stop), so its link is asked for again.
    models = list(synthetic_models(60, seed=8))
    db = tmp_path / "hub.duckdb"
    with UnsortedHub(models) as hub:
        full_crawl_then_commit(hub, db, slice(None, None, 20))  # the 1st, 21st and 41st
        if first_link_lost:
            lost = hub.stats.requests + 1
            hub.faults = lambda number, path: "missing-link" if number == lost else None

        result = crawl.refresh(db, client=fast_client(hub), page_size=10)

        assert result.mode == "incremental"
        assert any("did not come sorted" in note for note in result.notes)
        assert stored(db) == expected(hub)


@pytest.mark.parametrize("changed", [0, 2])
def test_an_incremental_refresh_of_one_full_page_asks_for_it_once(
    tmp_path: Path, changed: int
) -> None:
    # Ten models, ten a page: the whole listing is one full page without a next link. A full
    # crawl asks for it again (a full page may have lost its link); an incremental refresh
    # stops on it anyway, as it reaches what the last snapshot holds, so it asks once.
    models = list(synthetic_models(10, seed=12))
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        full_crawl_then_commit(hub, db, slice(changed))
        before = hub.stats.listing_requests

        result = crawl.refresh(db, client=fast_client(hub), page_size=10)

        assert result.mode == "incremental"
        assert hub.stats.listing_requests - before == 1
        assert stored(db) == expected(hub)


def test_models_dated_in_the_future_do_not_keep_the_catch_up_passes_going(tmp_path: Path) -> None:
    # Three models carry a lastModified a day ahead of the Hub's clock (bad data): they sort
    # first for ever. They must not read as "changed since the last pass" on every catch-up
    # pass, which would repeat the passes to the limit and end with a false warning.
    models = list(synthetic_models(60, seed=9))
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    future = [touch(m, tomorrow) for m in models[:3]]
    db = tmp_path / "hub.duckdb"
    with FakeHub(future + models[3:]) as hub:
        first_pages = listing_pages = 0

        def plan(number: int, path: str) -> None:
            nonlocal first_pages, listing_pages
            if first_page_requests(path):
                first_pages += 1
            elif first_pages == 1:
                listing_pages += 1
                if listing_pages == 2:
                    # Twelve commits while the listing runs: more than the catch-up's first page.
                    current = {m["_id"]: m for m in hub.models()}
                    for object_id in oldest_first(list(current.values()))[:12]:
                        hub.upsert(touch(current[object_id], datetime.now(UTC)))

        hub.faults = plan
        result = crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        assert stored(db) == expected(hub)
        assert result.merge.deleted == 0
        # The listing, a catch-up pass of two pages, and one that shows nothing changed since.
        assert first_pages == 3
        assert result.notes == []


def crawl_then_commit_to_120(db_path: Path, hub: FakeHub) -> None:
    """A full crawl in pages of 50; the next crawl begins, and 120 models get commits as its
    first request arrives: its catch-up pass reads them in three pages (commits made before
    the crawl began would need no catch-up pass)."""
    crawl.refresh(db_path, client=fast_client(hub), page_size=50)
    committed = False

    def commit_once(number: int, path: str) -> None:
        nonlocal committed
        if not committed:
            committed = True
            now = datetime.now(UTC)
            for model in sorted(hub.models(), key=lambda m: m["_id"])[:120]:
                hub.upsert(touch(model, now))

    hub.faults = commit_once


def test_a_crawl_resumed_in_a_catch_up_pass_reads_what_changed_while_it_was_stopped(
    tmp_path: Path,
) -> None:
    # 120 recent commits make the catch-up pass three pages; the crawl stops after its first.
    # While it is stopped the oldest model gets a commit: it jumps above the pass's cursor, and
    # the pass's first page, read before the stop, cannot show it.
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(310, seed=8))) as hub:
        crawl_then_commit_to_120(db_path, hub)
        paused = crawl.refresh(
            db_path, client=fast_client(hub), page_size=50, full=True, max_pages=8
        )
        assert not paused.complete
        saved = json.loads((tmp_path / "hub.duckdb.crawl" / "state.json").read_text())
        assert (saved["phase"], saved["pass_pages"]) == ("catchup", 1)
        oldest = oldest_first(hub.models())[0]
        hub.upsert(touch(next(m for m in hub.models() if m["_id"] == oldest), datetime.now(UTC)))
        resumed = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert resumed.complete and resumed.resumed
        assert stored(db_path) == expected(hub)


def stop_a_full_crawl_before_its_merge(db_path: Path, hub: FakeHub) -> Path:
    """A first snapshot, then a full crawl interrupted as its merge begins: its state file."""
    from hfstats import store

    crawl.refresh(db_path, client=fast_client(hub), page_size=50)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(store, "merge_pages", stopped)
        with pytest.raises(KeyboardInterrupt):
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
    state_file = db_path.with_name(db_path.name + ".crawl") / "state.json"
    assert json.loads(state_file.read_text())["phase"] == "merge"
    return state_file


def test_a_crawl_stopped_before_its_merge_reads_what_changed_while_it_was_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stopped (Ctrl-C, systemd, a timeout) once every page was read: the next run would merge
    # the Hub of before the stop and date the snapshot after it.
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(120, seed=8))) as hub:
        stop_a_full_crawl_before_its_merge(db_path, hub)
        # Resumed later than a merge run again at once would be (that one reads nothing more:
        # test_faults.py::test_a_merge_out_of_memory_at_the_set_limit_keeps_the_pages).
        monkeypatch.setattr(crawl, "RESUME_CATCHUP_AFTER", timedelta(0))
        now = datetime.now(UTC)
        for model in sorted(hub.models(), key=lambda m: m["_id"])[:7]:  # the oldest among them
            hub.upsert(touch(model, now))
        hub.upsert({**next(synthetic_models(1, seed=99)), "lastModified": now.isoformat()})
        resumed = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert resumed.complete and resumed.resumed
        assert stored(db_path) == expected(hub)


def test_a_long_crawl_whose_merge_is_run_again_at_once_reads_nothing_more(tmp_path: Path) -> None:
    # The 10 minutes count from the start of the crawl's last pass, not of the crawl: a crawl
    # of hours whose merge stopped (out of memory, Ctrl-C) and is run again at once has read
    # the Hub of just now.
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(120, seed=8))) as hub:
        state_file = stop_a_full_crawl_before_its_merge(db_path, hub)
        saved = json.loads(state_file.read_text())
        saved["started_at"] = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
        saved["pass_started_at"] = datetime.now(UTC).isoformat()
        state_file.write_text(json.dumps(saved))
        asked = len(hub.requests_seen)
        resumed = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        assert resumed.complete and resumed.resumed
        assert len(hub.requests_seen) == asked


def test_a_crawl_run_in_chunks_shorter_than_its_catch_up_pass_finishes(tmp_path: Path) -> None:
    # Each run reads two pages of a three-page catch-up pass: resuming must not start the pass
    # over every time (it would never end), and the passes stay bounded.
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(310, seed=8))) as hub:
        crawl_then_commit_to_120(db_path, hub)
        runs = [
            crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True, max_pages=2)
        ]
        while not runs[-1].complete and len(runs) < 20:
            runs.append(crawl.refresh(db_path, client=fast_client(hub), page_size=50, max_pages=2))
        assert runs[-1].complete and len({run.snapshot_id for run in runs}) == 1
        assert stored(db_path) == expected(hub)
        # Nothing changed while it ran: no warning that the listing was still changing.
        assert not [note for run in runs for note in run.notes if "still changing" in note]


def test_a_steady_stream_of_commits_ends_the_catch_up_passes_without_a_warning(
    tmp_path: Path,
) -> None:
    # More than a page of commits minutes before the crawl, within the catch-up passes'
    # overlap, and three more with every request, for the whole crawl: each catch-up pass sees
    # something newer than the pass before began and reads more than one page, yet its first
    # page holds every commit since that pass began, so nothing can have jumped over it and
    # the crawl ends without a false warning.
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(400, seed=9))) as hub:
        crawl.refresh(db_path, client=fast_client(hub), page_size=50)
        order = itertools.cycle(oldest_first(hub.models()))
        a_while_ago = datetime.now(UTC) - timedelta(minutes=5)
        current = {m["_id"]: m for m in hub.models()}
        for _ in range(60):
            hub.upsert(touch(current[next(order)], a_while_ago))

        def commit_three(number: int, path: str) -> None:
            current = {m["_id"]: m for m in hub.models()}
            for _ in range(3):
                hub.upsert(touch(current[next(order)], datetime.now(UTC)))

        hub.faults = commit_three
        result = crawl.refresh(db_path, client=fast_client(hub), page_size=50, full=True)
        hub.faults = None
        assert result.complete and result.merge.deleted == 0
        assert not [note for note in result.notes if "still changing" in note]
        assert set(stored(db_path)) == set(expected(hub))  # no model missing
        catch_up_pages = result.pages - 8  # the listing is 8 pages
        assert 1 <= catch_up_pages <= 4, result.pages


def test_commits_the_listing_shows_late_are_neither_missed_nor_marked_deleted(
    tmp_path: Path,
) -> None:
    # While the listing pass reads its second page, the 12 oldest models get commits whose
    # lastModified is 30 s in the past by the time the listing shows them (a listing lagging
    # its commits, or the Hub's clocks apart): a catch-up pass must still read them.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(100, seed=3))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        oldest12 = oldest_first(hub.models())[:12]

        def commit_late(number: int, path: str) -> None:
            if number == hub.stats.requests and len(hub.requests_seen) == first + 2:
                current = {m["_id"]: m for m in hub.models()}
                shown = datetime.now(UTC) - timedelta(seconds=30)
                for n, object_id in enumerate(oldest12):
                    hub.upsert(touch(current[object_id], shown - timedelta(milliseconds=n)))

        first = len(hub.requests_seen)
        hub.faults = commit_late
        result = crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = None
        assert result.merge.deleted == 0
        assert stored(db) == expected(hub)


def test_a_catch_up_pass_without_readable_times_is_not_judged_by_the_pass_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No margin, so that the pass before's first page would seem to settle the pass.
    monkeypatch.setattr(crawl, "SETTLE_MARGIN", timedelta(0))
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(100, seed=3))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        oldest24 = oldest_first(hub.models())[:24]
        first_pages = in_pass = 0

        def plan(number: int, path: str) -> None:
            nonlocal first_pages, in_pass
            if first_page_requests(path):
                first_pages += 1
                in_pass = 0
            in_pass += 1
            current = {m["_id"]: m for m in hub.models()}
            now = datetime.now(UTC)
            if first_pages == 1 and in_pass == 2:
                # 24 old models, not listed yet, get commits: they jump above the listing pass.
                for n, object_id in enumerate(oldest24):
                    hub.upsert(touch(current[object_id], now - timedelta(milliseconds=n)))
            if first_pages == 2 and in_pass == 2:
                # The 14 the catch-up pass has not read get another, with a time Python cannot
                # read (it still sorts right): the next pass's first page has no readable time.
                for n, object_id in enumerate(oldest24[10:]):
                    model = touch(current[object_id], now - timedelta(milliseconds=n))
                    model["lastModified"] = model["lastModified"][:-1] + "+00:00 UTC"
                    hub.upsert(model)

        hub.faults = plan
        result = crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = None
        assert result.merge.deleted == 0
        assert set(stored(db)) == {m["_id"] for m in hub.models()}


def test_a_resumed_catch_up_pass_never_settles_by_its_first_page(tmp_path: Path) -> None:
    # The catch-up pass's first page reaches far below the listing's start (nothing changed
    # during it), and the run stops right after it. While stopped, the oldest model gets a
    # commit: that first page, read before, cannot show it, so another pass must read it.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(100, seed=3))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10)

        def stop_after_the_first_catch_up_page(state: crawl.CrawlState, page: object) -> None:
            if state.phase == "catchup" and state.pass_pages == 1:
                raise KeyboardInterrupt  # Ctrl-C, with that page saved

        with pytest.raises(KeyboardInterrupt):
            crawl.refresh(
                db,
                client=fast_client(hub),
                page_size=10,
                full=True,
                on_page=stop_after_the_first_catch_up_page,
            )
        saved = json.loads((tmp_path / "hub.duckdb.crawl" / "state.json").read_text())
        assert (saved["phase"], saved["pass_pages"], saved["next_url"]) == ("catchup", 1, None)
        oldest = oldest_first(hub.models())[0]
        hub.upsert(touch(next(m for m in hub.models() if m["_id"] == oldest), datetime.now(UTC)))
        resumed = crawl.refresh(db, client=fast_client(hub), page_size=10)
        assert resumed.complete and resumed.resumed
        assert stored(db) == expected(hub)  # the commit made while it was stopped


def test_a_covering_first_page_ends_its_catch_up_pass_there(tmp_path: Path) -> None:
    # Commits of the 5 minutes before the crawl, 3 s apart, fill more than a page, within the
    # catch-up pass's overlap; the pass's first page reaches more than SETTLE_MARGIN below
    # the listing's start (its first page's newest time), so it is the only page.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(400, seed=9))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=50)
        before = datetime.now(UTC) - timedelta(minutes=5)
        for n, object_id in enumerate(oldest_first(hub.models())[:80]):
            model = next(m for m in hub.models() if m["_id"] == object_id)
            hub.upsert(touch(model, before + timedelta(seconds=3 * n)))
        paths: list[str] = []
        hub.faults = lambda number, path: paths.append(path)
        result = crawl.refresh(db, client=fast_client(hub), page_size=50, full=True)
        hub.faults = None
        passes = [n for n, path in enumerate(paths) if first_page_requests(path)]
        assert len(passes) == 2  # the listing and one catch-up pass
        assert len(paths) - passes[1] == 1  # of one page
        assert result.merge.deleted == 0 and stored(db) == expected(hub)


def test_a_full_crawl_of_another_endpoint_is_not_judged_by_its_snapshots(tmp_path: Path) -> None:
    # Every model of the first Hub is older than the second Hub's: compared with them, the
    # second listing would look cut short.
    db = tmp_path / "hub.duckdb"
    now = datetime.now(UTC)
    newer = [touch(m, now - timedelta(seconds=n)) for n, m in enumerate(synthetic_models(60, 4))]
    with FakeHub(list(synthetic_models(60, seed=3))) as first, FakeHub(newer) as second:
        crawl.refresh(db, client=fast_client(first), page_size=10)
        result = crawl.refresh(db, client=fast_client(second), page_size=10, full=True)
        assert result.complete and stored(db) == expected(second)


@pytest.mark.parametrize("lag_minutes", [3, 10])
def test_a_busy_hub_whose_times_lag_its_clock_loses_no_model(
    tmp_path: Path, lag_minutes: int
) -> None:
    # Commits stream in with every request, but the listing stamps them minutes behind the
    # Hub's Date header and the local clock (a listing that shows commits late, or a Hub
    # whose clocks disagree). A catch-up pass compared with the clock would find its first page
    # reaching "below the start of the pass before" and stop, recording the models committed
    # while the listing ran as deleted.
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(200, seed=4))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = lagging_commits(hub, timedelta(minutes=lag_minutes))
        result = crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = None
        assert result.merge.deleted == 0
        assert set(stored(db)) == set(expected(hub))


def lagging_commits(hub: FakeHub, lag: timedelta, skip: set[str] = frozenset()):
    """A fault hook: three models committed with every request, stamped ``lag`` late."""
    order = itertools.cycle([i for i in oldest_first(hub.models()) if i not in skip])

    def commit(number: int, path: str) -> None:
        current = {m["_id"]: m for m in hub.models()}
        for _ in range(3):
            hub.upsert(touch(current[next(order)], datetime.now(UTC) - lag))

    return commit


def test_a_model_dated_in_the_future_on_a_hub_without_date_headers_loses_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a Date header, a future lastModified (bad data, first on every page) must not
    # stand for the pass's start on the Hub's clock: the local clock bounds it.
    from hfstats import hub as hub_module

    monkeypatch.setattr(hub_module, "_http_date", lambda value: None)
    db = tmp_path / "hub.duckdb"
    models = list(synthetic_models(200, seed=4))
    models[0] = {**models[0], "lastModified": "2031-01-01T00:00:00.000Z"}
    with FakeHub(models) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = lagging_commits(hub, timedelta(minutes=5), skip={models[0]["_id"]})
        result = crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = None
        assert result.merge.deleted == 0
        assert set(stored(db)) == set(expected(hub))


@pytest.mark.parametrize("overlap", [crawl.DEFAULT_OVERLAP, timedelta(0)], ids=["10 min", "none"])
def test_a_catch_up_pass_saved_by_the_previous_state_format_is_judged_anew(
    tmp_path: Path, overlap: timedelta
) -> None:
    # Format 3 saved the pass before's start by the clock alone; resumed as it is, a listing
    # stamping commits 3 minutes late made the pass end after its first page. (Without an
    # overlap, as in a crawl of hours, the next pass would not read far enough down either.)
    db = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(200, seed=4))) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=10, full=True)
        hub.faults = lagging_commits(hub, timedelta(minutes=3))
        state_file = tmp_path / "hub.duckdb.crawl" / "state.json"
        for _ in range(30):  # a page a run, to stop where the catch-up pass begins
            crawl.refresh(
                db, client=fast_client(hub), page_size=10, full=True, max_pages=1, overlap=overlap
            )
            saved = json.loads(state_file.read_text())
            if saved["phase"] == "catchup":
                break
        assert saved["phase"] == "catchup" and saved["pass_pages"] == 0
        saved["format"] = 3
        saved["previous_pass_started_at"] = saved["started_at"]  # what format 3 kept
        state_file.write_text(json.dumps(saved))
        result = crawl.refresh(
            db, client=fast_client(hub), page_size=10, full=True, overlap=overlap
        )
        hub.faults = None
        assert result.complete and result.resumed
        assert result.merge.deleted == 0
        assert set(stored(db)) == set(expected(hub))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("renamed", [False, True])
def test_a_model_moved_into_pages_already_read_is_not_marked_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renamed: bool
) -> None:
    # During a full crawl, two of the oldest models get commits dated between the times of
    # pages already read (a `git push` of commits made before the crawl began), below where
    # the catch-up pass reaches; one of them is also renamed. One other model is really deleted.
    # MISSING_ASKED below the three missing models: the crawl's page count is the limit.
    monkeypatch.setattr(crawl, "MISSING_ASKED", 1)
    models = list(synthetic_models(40, seed=8))
    order = oldest_first(models)
    moved, gone = order[:2], order[2]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        first_requests = hub.stats.requests
        hub.delete(gone)
        before = {m["_id"]: m for m in hub.models()}
        # Between the 7th and 8th newest models: on the listing's second page.
        newest = sorted(before.values(), key=lambda m: (m["lastModified"], m["_id"]), reverse=True)
        low, high = parse_time(newest[7]["lastModified"]), parse_time(newest[6]["lastModified"])

        def plan(number: int, path: str) -> None:
            if number == first_requests + 4:  # pages 1-3 read; the moved ones on the last pages
                for n, object_id in enumerate(moved, start=1):
                    hub.upsert(touch(before[object_id], low + (high - low) * n / 3))
                if renamed:
                    hub.rename(moved[0], "new-owner/moved")
            return None

        hub.faults = plan
        result = crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        in_hub = {m["_id"] for m in hub.models()}
    assert result.merge.deleted == 1
    assert set(stored(db)) == in_hub == set(before)
    # Kept as last read: the listing never showed their new commits.
    assert {object_id: stored(db)[object_id][1] for object_id in moved} == {
        object_id: before[object_id]["sha"] for object_id in moved
    }
    with duckdb.connect(str(db), read_only=True) as connection:
        counters = connection.execute(
            "SELECT object_id, downloads, likes FROM models WHERE object_id IN (?, ?)", moved
        ).fetchall()
    assert sorted(counters) == sorted(
        (object_id, before[object_id]["downloads"], before[object_id]["likes"])
        for object_id in moved
    )
    assert any("still on the Hub" in note for note in result.notes)
    # Three model lookups on top of the listing: the two moved models and the deleted one.
    asked = [r["path"] for r in hub.requests_seen if r["path"].startswith("/api/models/")]
    assert len(asked) == 3 + renamed  # a rename's redirect is one request more
    with duckdb.connect(str(db), read_only=True) as connection:
        recorded = connection.execute(
            "SELECT requests, deleted FROM snapshots WHERE snapshot_id = 2"
        ).fetchall()
    assert recorded == [(hub.stats.requests - first_requests, 1)]


def test_more_missing_models_than_are_asked_about_are_recorded_deleted_unasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mass deletion must not cost a request per model: beyond MISSING_ASKED (or the crawl's
    # page count, if larger) none is asked about, and the note says so.
    monkeypatch.setattr(crawl, "MISSING_ASKED", 3)
    models = list(synthetic_models(40, seed=9))
    newest_first = oldest_first(models)[::-1]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=20, full=True)
        for object_id in newest_first[5:9]:  # 4 models, more than the 3 pages to ask about
            hub.delete(object_id)
        result = crawl.refresh(db, client=fast_client(hub), page_size=20, full=True)
        paths = [r["path"] for r in hub.requests_seen]
        assert stored(db) == expected(hub)
    assert result.merge.deleted == 4
    assert not [path for path in paths if path.startswith("/api/models/")]
    assert any("without asking" in note for note in result.notes)


@pytest.mark.parametrize(
    ("answer", "note_says"),
    [
        # Lookups that keep failing cost the check, not the crawl, which has nothing to resume.
        (
            (503, b"<html>busy</html>", {}),
            "the Hub could not be asked about the models missing from the listing (giving up",
        ),
        # A mirror serving only the listing answers any other path with its HTML page, 200:
        # taken as gone, as a 404 would be, but the note says so.
        (
            (200, b"<html>the Hub is in maintenance</html>", {"Content-Type": "text/html"}),
            "the Hub answered 3 of these lookups with something that is not a model (an HTML "
            "page, say); those models are recorded as deleted",
        ),
    ],
)
def test_model_lookups_the_hub_cannot_answer_cost_the_check_not_the_crawl_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: tuple, note_says: str
) -> None:
    models = list(synthetic_models(40, seed=10))
    gone = oldest_first(models)[20:23]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        for object_id in gone:
            hub.delete(object_id)
        monkeypatch.setattr(hub, "model_info", lambda model_id: answer)
        result = crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        assert stored(db) == expected(hub)
    assert result.complete and result.merge.deleted == 3
    [note] = [note for note in result.notes if note.startswith(note_says)]
    assert "resume" not in note


def test_a_missing_model_whose_name_now_leads_elsewhere_or_that_has_no_id_is_deleted(
    tmp_path: Path,
) -> None:
    # Asked for by name, the Hub answers another repository (the name reused, or a redirect to
    # another model, as samples/redirect-runwayml-stable-diffusion-v1-5.json): the _id tells.
    # A model stored without an id cannot be asked about at all.
    models = list(synthetic_models(40, seed=11))
    by_id = {m["_id"]: m for m in models}
    reused, nameless = (by_id[object_id] for object_id in oldest_first(models)[10:12])
    del nameless["id"], nameless["modelId"]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        hub.delete(reused["_id"])
        hub.delete(nameless["_id"])
        newcomer = {**reused, "_id": "f" * 24}
        hub.upsert(newcomer)
        result = crawl.refresh(db, client=fast_client(hub), page_size=PAGE_SIZE, full=True)
        assert stored(db) == expected(hub)
    assert (result.merge.deleted, result.merge.added) == (2, 1)
    assert not any("still on the Hub" in note for note in result.notes)
