"""`kill -9` of `hfstats refresh` at many moments, each followed by a resumed refresh.

The database starts with one complete snapshot of the test Hub; the Hub then changes (new
commits, a rename, deletions) and a ``refresh --full`` runs in a real subprocess that is killed
with SIGKILL: at fixed delays after its start (opening the database, the first pages), after a
number of saved pages, at the switch to the catch-up pass and into the merge transaction. After
every kill a read-only reader must see exactly one complete snapshot's models: the previous one,
or the new one if the merge had committed, never a mixture. The next refresh resumes, and once a
crawl completes its ``models`` must equal those of an uninterrupted crawl, row for row.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from hfstats import crawl
from hfstats.errors import DatabaseError
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import iso, synthetic_models, touch

pytestmark = pytest.mark.crash

PAGE_SIZE = 20
MODEL_COUNT = 300
LATENCY = 0.03
RUN_TIMEOUT = 60.0

# A trigger decides, while a refresh runs, whether to kill it now. It gets the seconds since
# the process started, the saved crawl state when it started and the saved state now (None
# when there is no staging folder).
Trigger = Callable[[float, dict | None, dict | None], bool]


def after_seconds(seconds: float) -> Trigger:
    return lambda elapsed, at_start, now: elapsed >= seconds


def after_new_pages(count: int) -> Trigger:
    def trigger(elapsed: float, at_start: dict | None, now: dict | None) -> bool:
        pages_before = at_start["pages"] if at_start else 0
        return now is not None and now["pages"] - pages_before >= count

    return trigger


def entering_phase(phase: str) -> Trigger:
    """Kill as soon as this run is seen to have moved the crawl into ``phase``."""

    def trigger(elapsed: float, at_start: dict | None, now: dict | None) -> bool:
        was_in_phase = at_start is not None and at_start["phase"] == phase
        return not was_in_phase and now is not None and now["phase"] == phase

    return trigger


LISTING_TRIGGERS: list[Trigger] = [
    after_seconds(0.05),  # interpreter start-up, before the lock
    after_seconds(0.3),
    after_seconds(0.45),  # opening the database, beginning the snapshot
    after_seconds(0.6),
    after_new_pages(1),
    after_new_pages(2),
    after_new_pages(3),
    after_new_pages(5),
    after_new_pages(8),
    after_new_pages(11),
    after_new_pages(14),
    entering_phase("catchup"),
    entering_phase("merge"),  # the listing is done; the merge is about to open the database
    after_seconds(0.5),
    after_seconds(0.8),
    after_new_pages(4),
    after_new_pages(7),
]
# Kills into a refresh that resumes a finished listing, at these fractions of the time such a
# refresh takes to merge and exit: the later ones land inside the merge transaction, the last
# ones after its commit while the staging folder is removed.
MERGE_KILL_FRACTIONS = [0.5, 0.55, 0.6, 0.63, 0.66, 0.69, 0.72, 0.75, 0.8, 0.9]


def read_state(staging: Path) -> dict | None:
    try:
        return json.loads((staging / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def refresh_command(db_path: Path, endpoint: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hfstats.cli",
        "refresh",
        "--db",
        str(db_path),
        "--endpoint",
        endpoint,
        "--page-size",
        str(PAGE_SIZE),
        "--full",
        "--quiet",
        "--timeout",
        "10",
    ]


def run_until(command: list[str], staging: Path, trigger: Trigger, env: dict) -> bool:
    """Run a refresh; SIGKILL it when ``trigger`` fires. True if killed, False if it finished."""
    at_start = read_state(staging)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.monotonic()
    while process.poll() is None:
        elapsed = time.monotonic() - started
        if trigger(elapsed, at_start, read_state(staging)):
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stderr.close()
            return process.returncode == -signal.SIGKILL
        assert elapsed < RUN_TIMEOUT, "a refresh hung"
        time.sleep(0.002)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.returncode == 0, stderr
    return False


def complete_snapshots(db_path: Path) -> int:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute("SELECT count(*) FROM snapshots WHERE complete").fetchone()[0]


def models_rows(db_path: Path) -> list[tuple]:
    """Every column of ``models`` but the snapshot that wrote each row (a crawl killed before it
    saved its state starts a new snapshot id, which is fine)."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(
            "SELECT * EXCLUDE (version_snapshot_id) FROM models ORDER BY object_id"
        ).fetchall()


def visible_snapshot(db_path: Path) -> tuple[int, list[tuple]]:
    """What a reader sees between a kill and the next refresh."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        latest = connection.execute("SELECT max(snapshot_id) FROM snapshots WHERE complete")
        snapshot_id = latest.fetchone()[0]
        rows = connection.execute(
            "SELECT * EXCLUDE (version_snapshot_id) FROM models ORDER BY object_id"
        ).fetchall()
    return snapshot_id, rows


def change_the_hub(hub: FakeHub, models: list[dict]) -> None:
    """New commits to 60 models, a rename among them, a rename elsewhere, 25 deletions."""
    start = datetime(2027, 1, 1, tzinfo=UTC)
    for index, model in enumerate(models[:60]):
        hub.upsert(touch(model, start + timedelta(minutes=index)))
    hub.rename(models[3]["_id"], "new-owner/moved-model")
    hub.rename(models[200]["_id"], "another-owner/renamed-without-commit")
    for model in models[100:125]:
        hub.delete(model["_id"])
    assert iso(start) > max(model["lastModified"] for model in models)


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory: pytest.TempPathFactory):
    """A Hub after its change, a database holding the Hub before it, and the reference result."""
    root = tmp_path_factory.mktemp("crash")
    models = list(synthetic_models(MODEL_COUNT, seed=31))
    with FakeHub(models, latency=LATENCY) as hub:
        base = root / "base.duckdb"
        fast = HubClient(hub.url, backoff_base=0.01, timeout=5)
        crawl.refresh(base, client=fast, page_size=PAGE_SIZE)
        before = models_rows(base)
        assert {row[0] for row in before} == {model["_id"] for model in models}

        change_the_hub(hub, models)
        reference = root / "reference.duckdb"
        shutil.copyfile(base, reference)
        crawl.refresh(reference, client=fast, page_size=PAGE_SIZE, full=True)
        after = models_rows(reference)
        # The reference itself is checked against the Hub's own data.
        with duckdb.connect(str(reference), read_only=True) as connection:
            ids = dict(connection.execute("SELECT object_id, id FROM models").fetchall())
        assert ids == {model["_id"]: model["id"] for model in hub.models()}
        assert after != before
        yield hub, base, before, after


def fresh_database(tmp_path: Path, base: Path) -> tuple[Path, Path, dict]:
    db_path = tmp_path / "hub.duckdb"
    shutil.copyfile(base, db_path)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "NO_COLOR": "1"}
    env.pop("HF_TOKEN", None)
    return db_path, tmp_path / "hub.duckdb.crawl", env


def assert_reader_sees_one_complete_snapshot(db_path: Path, before: list, after: list) -> int:
    snapshot_id, rows = visible_snapshot(db_path)
    assert rows == (before if snapshot_id == 1 else after), "a reader saw a half-merged refresh"
    return snapshot_id


def test_kill_9_during_the_crawl_then_resume(tmp_path: Path, crash_setup) -> None:
    hub, base, before, after = crash_setup
    db_path, staging, env = fresh_database(tmp_path, base)
    command = refresh_command(db_path, hub.url)

    # Whether a trigger fires before the refresh ends depends on where the previous kill left
    # the crawl, so go round the list until enough kills have landed.
    kills = completed = 0
    for attempt in range(3 * len(LISTING_TRIGGERS)):
        if kills >= 20:
            break
        trigger = LISTING_TRIGGERS[attempt % len(LISTING_TRIGGERS)]
        if run_until(command, staging, trigger, env):
            kills += 1
            assert_reader_sees_one_complete_snapshot(db_path, before, after)
            continue
        # This refresh ran to the end before its trigger fired: check, and start over.
        completed += 1
        assert models_rows(db_path) == after
        shutil.copyfile(base, db_path)
        shutil.rmtree(staging, ignore_errors=True)

    assert run_until(command, staging, lambda *_: False, env) is False
    assert models_rows(db_path) == after
    assert not staging.exists()
    assert kills >= 20, f"only {kills} kills landed ({completed} refreshes finished first)"


def test_kill_9_during_the_merge_is_all_or_nothing(tmp_path: Path, crash_setup) -> None:
    hub, base, before, after = crash_setup
    db_path, staging, env = fresh_database(tmp_path, base)
    command = refresh_command(db_path, hub.url)
    # A crawl whose listing is finished: killed as it saved the "merge" phase.
    assert run_until(command, staging, entering_phase("merge"), env)
    saved = tmp_path / "listing-done"
    saved.mkdir()
    for path in tmp_path.glob("hub.duckdb*"):
        (shutil.copytree if path.is_dir() else shutil.copyfile)(path, saved / path.name)

    def restore() -> None:
        for path in tmp_path.glob("hub.duckdb*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for path in saved.iterdir():
            (shutil.copytree if path.is_dir() else shutil.copyfile)(path, tmp_path / path.name)

    started = time.monotonic()
    assert run_until(command, staging, lambda *_: False, env) is False
    merge_run_seconds = time.monotonic() - started
    assert models_rows(db_path) == after

    kills = 0
    for attempt in range(3 * len(MERGE_KILL_FRACTIONS)):
        if kills >= 8:
            break
        fraction = MERGE_KILL_FRACTIONS[attempt % len(MERGE_KILL_FRACTIONS)]
        restore()
        started = time.monotonic()
        if run_until(command, staging, after_seconds(fraction * merge_run_seconds), env):
            kills += 1
            assert_reader_sees_one_complete_snapshot(db_path, before, after)
        else:
            # Finished before the kill: the machine got faster; aim earlier from now on.
            merge_run_seconds = min(merge_run_seconds, time.monotonic() - started)
        assert run_until(command, staging, lambda *_: False, env) is False
        assert models_rows(db_path) == after
        assert not staging.exists()
    assert kills >= 8, f"only {kills} kills landed"


@contextmanager
def connections_wrapped(
    wrap: Callable[[Path, duckdb.DuckDBPyConnection], object],
) -> Iterator[None]:
    """Meanwhile, ``store.write`` hands out ``wrap(path, connection)`` instead of the connection."""
    from hfstats import store

    real_write = store.write

    @contextmanager
    def write(path, *args, **kwargs):
        with real_write(path, *args, **kwargs) as connection:
            yield wrap(Path(path), connection)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(store, "write", write)
        yield


class InterruptedAsCommitReturns:
    """A connection whose COMMIT completes, then a Ctrl-C or SIGTERM lands."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    def execute(self, sql: str, *args):
        result = self._connection.execute(sql, *args)
        if sql == "COMMIT":
            raise KeyboardInterrupt
        return result

    def __getattr__(self, name: str):
        return getattr(self._connection, name)


def test_an_interrupt_as_the_merge_commits_is_an_interrupt_and_the_pages_stay(
    tmp_path: Path,
) -> None:
    # The ROLLBACK after it found no transaction and raised instead: 'unexpected error', exit 1.
    # The merge went into a copy not yet in place: the database is as before, the pages kept.

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(40, seed=4))
    with FakeHub(models) as hub:
        with connections_wrapped(lambda path, connection: InterruptedAsCommitReturns(connection)):
            with pytest.raises(KeyboardInterrupt):
                crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
        assert complete_snapshots(db_path) == 0
        assert not db_path.with_name("hub.duckdb.merging").exists()
        requests = hub.stats.listing_requests
        # The next refresh merges the kept pages, asking the Hub nothing.
        again = crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
        assert again.complete and again.snapshot_id == 1 and again.merge.models == 40
        assert hub.stats.listing_requests == requests


def test_a_crawl_stopped_in_its_merge_does_not_ask_the_hub_about_missing_models_again(
    tmp_path: Path,
) -> None:
    # Five models deleted since the last full crawl: each is asked about once (404) before the
    # merge. Stopped in the merge and resumed, the crawl asked all of them again.
    from hfstats import store

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(40, seed=4))
    with FakeHub(models) as hub:
        crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
        for model in models[10:15]:
            hub.delete(model["_id"])
        before = hub.stats.requests - hub.stats.listing_requests
        with pytest.MonkeyPatch.context() as patched:

            def merge_pages(*args, **kwargs):
                raise KeyboardInterrupt

            patched.setattr(store, "merge_pages", merge_pages)
            with pytest.raises(KeyboardInterrupt):
                crawl.refresh(db_path, client=HubClient(hub.url), page_size=20, full=True)
        again = crawl.refresh(db_path, client=HubClient(hub.url), page_size=20, full=True)
        lookups = hub.stats.requests - hub.stats.listing_requests - before
    assert again.complete and again.resumed
    assert again.merge.deleted == 5 and again.merge.models == 35
    assert lookups == 5


def test_an_interrupt_once_the_merged_copy_is_in_place_keeps_the_snapshot(
    tmp_path: Path,
) -> None:
    from hfstats import store

    db_path = tmp_path / "hub.duckdb"
    models = list(synthetic_models(40, seed=4))
    with FakeHub(models) as hub:
        with pytest.MonkeyPatch.context() as patched:
            real_replace = store.os.replace

            def replace(source, target):
                real_replace(source, target)
                if str(source).endswith(".merging"):
                    raise KeyboardInterrupt

            patched.setattr(store.os, "replace", replace)
            with pytest.raises(KeyboardInterrupt):
                crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
        with store.read(db_path) as connection:
            assert connection.execute("SELECT count(*) FROM models").fetchall() == [(40,)]
        # The next refresh finds the snapshot merged and starts a new one.
        again = crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
        assert again.complete and again.snapshot_id == 2


def test_a_crawl_saved_beside_a_symlink_by_an_earlier_version_is_resumed(tmp_path: Path) -> None:
    # hfstats now keeps the crawl folder beside the file a symlinked --db points at; one left
    # beside the link by an earlier version must not be orphaned.
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link.duckdb"
    link.symlink_to(real / "hub.duckdb")
    models = list(synthetic_models(60, seed=5))
    with FakeHub(models) as hub:
        paused = crawl.refresh(
            real / "hub.duckdb", client=HubClient(hub.url), page_size=20, max_pages=1
        )
        assert not paused.complete
        (real / "hub.duckdb.crawl").rename(tmp_path / "link.duckdb.crawl")  # where it used to be
        resumed = crawl.refresh(link, client=HubClient(hub.url), page_size=20)
    assert resumed.complete and resumed.resumed and resumed.snapshot_id == 1
    assert not (tmp_path / "link.duckdb.crawl").exists()


def test_a_refresh_through_a_symlink_warns_of_nothing(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link.duckdb"
    link.symlink_to(real / "hub.duckdb")
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append
    logger = logging.getLogger("hfstats")
    logger.addHandler(handler)
    try:
        with FakeHub(list(synthetic_models(30, seed=5))) as hub:
            first = crawl.refresh(link, client=HubClient(hub.url), page_size=20)
            second = crawl.refresh(link, client=HubClient(hub.url), page_size=20)
    finally:
        logger.removeHandler(handler)
    assert first.complete and second.complete
    assert [record.getMessage() for record in warnings] == []
    # The merged copy replaced the file the link names, not the link.
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [
        "link.duckdb",
        "real",
    ]
    assert complete_snapshots(real / "hub.duckdb") == 2


def test_a_crawl_beside_a_symlink_that_cannot_be_moved_is_left_and_the_refresh_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A symlink into another filesystem: rename fails with EXDEV, and every refresh failed.
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link.duckdb"
    link.symlink_to(real / "hub.duckdb")
    (tmp_path / "link.duckdb.crawl").mkdir()
    real_rename = Path.rename

    def rename(self, target):
        if self.name == "link.duckdb.crawl":
            raise OSError(18, "Invalid cross-device link")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with FakeHub(list(synthetic_models(30, seed=5))) as hub:
        result = crawl.refresh(link, client=HubClient(hub.url), page_size=20)
    assert result.complete and (tmp_path / "link.duckdb.crawl").is_dir()


def test_a_copy_left_by_a_killed_merge_is_not_merged_into(tmp_path: Path) -> None:
    # A merge killed before its rename leaves <db>.merging and its write-ahead log. DuckDB would
    # replay that log into a new copy of the same name (or refuse it as not matching): the next
    # refresh must start from the database, with nothing of the killed merge in it.
    db_path = tmp_path / "hub.duckdb"
    copy = tmp_path / "hub.duckdb.merging"
    with FakeHub(list(synthetic_models(30, seed=7))) as hub:
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
        shutil.copyfile(db_path, copy)
        killed_writer = (
            "import duckdb, os, sys\n"
            "c = duckdb.connect(sys.argv[1])\n"
            "c.execute(\"INSERT INTO hfstats_meta VALUES ('killed-merge', 'x')\")\n"
            "os._exit(0)\n"  # no checkpoint: the insert stays in the log
        )
        subprocess.run([sys.executable, "-c", killed_writer, str(copy)], check=True)
        assert copy.with_name(copy.name + ".wal").exists()

        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.duckdb", "hub.duckdb.lock"]
    with duckdb.connect(str(db_path), read_only=True) as connection:
        assert connection.execute(
            "SELECT count(*) FROM hfstats_meta WHERE key = 'killed-merge'"
        ).fetchall() == [(0,)]
    assert complete_snapshots(db_path) == 2


def test_the_merged_copy_is_synced_before_it_replaces_the_database_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Otherwise a power cut after the rename may leave a database file with unwritten blocks, or
    # the old file back in the folder after the crawl's pages were deleted.
    db_path = tmp_path / "hub.duckdb"
    copy = tmp_path / "hub.duckdb.merging"
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source, target) -> None:
        events.append(("replace", str(source)))
        real_replace(source, target)

    with FakeHub(list(synthetic_models(30, seed=8))) as hub:
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
    renamed = events.index(("replace", str(copy)))
    assert ("fsync", str(copy)) in events[:renamed]
    assert ("fsync", str(tmp_path)) in events[renamed:]


class _NoCheckpointAtClose:
    """A connection that does not checkpoint at close, as when that checkpoint fails (a full
    disk: DuckDB does not raise it there); with ``explicit`` False, a CHECKPOINT statement does
    nothing either. What was not checkpointed stays in the write-ahead log."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, explicit: bool) -> None:
        self._connection = connection
        self._explicit = explicit
        connection.execute("PRAGMA disable_checkpoint_on_shutdown")

    def execute(self, sql: str, *args: object) -> object:
        if sql.strip().upper() == "CHECKPOINT" and not self._explicit:
            return self._connection
        return self._connection.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._connection, name)


@pytest.mark.parametrize("explicit_checkpoint_works", [True, False])
def test_a_merged_copy_replaces_the_database_only_when_written_whole(
    tmp_path: Path, explicit_checkpoint_works: bool
) -> None:
    db_path = tmp_path / "hub.duckdb"

    def wrap(path: Path, connection: duckdb.DuckDBPyConnection) -> object:
        if path.name.endswith(".merging"):
            return _NoCheckpointAtClose(connection, explicit_checkpoint_works)
        return connection

    with FakeHub(list(synthetic_models(30, seed=9))) as hub:
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
        if explicit_checkpoint_works:
            # The merge checkpoints the copy itself, not trusting the close to.
            with connections_wrapped(wrap):
                assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
            assert complete_snapshots(db_path) == 2
        else:
            with connections_wrapped(wrap), pytest.raises(DatabaseError, match="not written whole"):
                crawl.refresh(db_path, client=HubClient(hub.url), page_size=20, full=True)
            assert complete_snapshots(db_path) == 1  # the merge did not land, nor half of it
            again = crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
            assert again.complete and again.resumed  # the pages were kept for it
            assert complete_snapshots(db_path) == 2
    assert not (tmp_path / "hub.duckdb.merging.wal").exists()
    assert not (tmp_path / "hub.duckdb.wal").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another owner")
def test_the_merged_copy_keeps_the_databases_owner(tmp_path: Path) -> None:
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(30, seed=6))) as hub:
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
        os.chown(db_path, 12345, 23456)  # a service account's database, refreshed by root
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
    assert (db_path.stat().st_uid, db_path.stat().st_gid) == (12345, 23456)


def test_the_merged_copy_keeps_the_databases_mode_and_a_failed_copy_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hfstats import store

    db_path = tmp_path / "hub.duckdb"
    with FakeHub(list(synthetic_models(30, seed=6))) as hub:
        assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
        for mode in (0o600, 0o660):  # private; shared with a group that writes it
            db_path.chmod(mode)
            assert crawl.refresh(db_path, client=HubClient(hub.url), page_size=20).complete
            assert db_path.stat().st_mode & 0o777 == mode

        def copy_half(source, target):
            data = Path(source).read_bytes()
            Path(target).write_bytes(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store.shutil, "copyfile", copy_half)
        with pytest.raises(OSError):
            crawl.refresh(db_path, client=HubClient(hub.url), page_size=20)
    assert not db_path.with_name("hub.duckdb.merging").exists()  # its space given back
    assert complete_snapshots(db_path) == 3
