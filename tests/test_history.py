"""Snapshot history (issue 7): exact as-of states, growth with change, prune, export, locks.

Expected states are read from the test Hub's own elements at the moment of each snapshot, not
from hfstats.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import begin_test_snapshot, held_open

from hfstats import crawl, locks, store
from hfstats.errors import BusyError
from hfstats.export import export
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_model, synthetic_models, touch

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def expected_state(hub: FakeHub) -> dict[str, tuple]:
    """object_id -> (id, tags, files, library_name, downloads, likes) from the raw elements."""
    return {
        m["_id"]: (
            m["id"],
            tuple(m["tags"]),
            tuple(s["rfilename"] for s in m["siblings"]),
            m.get("library_name"),
            m["downloads"],
            m["likes"],
        )
        for m in hub.models()
    }


def stored_state(db: Path, snapshot_id: int) -> dict[str, tuple]:
    with store.read(db) as connection:
        rows = connection.execute(
            "SELECT object_id, id, tags, files, library_name, downloads, likes FROM models_at(?)",
            [snapshot_id],
        ).fetchall()
    assert len(rows) == len({r[0] for r in rows}), "a model appears twice"
    return {r[0]: (r[1], tuple(r[2]), tuple(r[3]), r[4], r[5], r[6]) for r in rows}


def commit_to_first(hub: FakeHub, count: int, when: datetime) -> list[dict]:
    """A new commit at ``when`` to the first ``count`` models by ``_id``; all models, sorted."""
    models = sorted(hub.models(), key=lambda m: m["_id"])
    for m in models[:count]:
        hub.upsert(touch(m, when))
    return models


def run_refresh(
    db: Path, hub: FakeHub, full: bool = True, page_size: int = 50
) -> crawl.RefreshResult:
    client = HubClient(hub.url, None, backoff_base=0.001)
    return crawl.refresh(db, client=client, full=full, page_size=page_size)


def test_three_snapshots_then_exact_as_of_states(tmp_path):
    db = tmp_path / "h.duckdb"
    with FakeHub(synthetic_models(300, seed=7)) as hub:
        states = {}
        first = run_refresh(db, hub)
        states[first.snapshot_id] = expected_state(hub)

        models = sorted(hub.models(), key=lambda m: m["_id"])
        for i in range(300, 320):  # additions
            hub.upsert(synthetic_model(i, seed=7))
        for m in models[:15]:  # commits
            hub.upsert(touch(m, NOW))
        for m in models[15:20]:  # renames (a rename is not a commit: lastModified stays)
            hub.rename(m["_id"], m["id"] + "-v2")
        for m in models[20:27]:  # deletions
            hub.delete(m["_id"])
        for m in models[27:40]:  # counters only: downloads move without a commit
            hub.upsert({**m, "downloads": m["downloads"] + 1000})
        second = run_refresh(db, hub)
        states[second.snapshot_id] = expected_state(hub)
        assert (second.merge.added, second.merge.deleted, second.merge.renamed) == (20, 7, 5)
        assert second.merge.changed == 15 + 5

        hub.upsert(models[20])  # a deleted model comes back
        for m in models[40:45]:
            hub.delete(m["_id"])
        hub.upsert(touch(models[50], NOW + timedelta(days=1)))
        third = run_refresh(db, hub)
        states[third.snapshot_id] = expected_state(hub)

        # An incremental refresh sees the new commit and the new model, not the counters.
        hub.upsert(touch(models[60], NOW + timedelta(days=2)))
        hub.upsert(synthetic_model(400, seed=7) | {"lastModified": "2026-11-23T00:00:00.000Z"})
        fourth = run_refresh(db, hub, full=False)
        assert fourth.mode == "incremental"
        states[fourth.snapshot_id] = expected_state(hub)

    assert [first.snapshot_id, second.snapshot_id, third.snapshot_id] == [1, 2, 3]
    for snapshot_id, expected in states.items():
        assert stored_state(db, snapshot_id) == expected, f"snapshot {snapshot_id}"
    with store.read(db) as connection:
        latest = connection.execute("SELECT count(*) FROM models").fetchall()[0][0]
        history = connection.execute(
            "SELECT count(*) FROM model_versions WHERE object_id = ?", [models[20]["_id"]]
        ).fetchall()[0][0]
    assert latest == len(states[fourth.snapshot_id])
    assert history == 2  # deleted, then listed again: two intervals, the history kept


def test_history_grows_with_change_not_with_the_hub(tmp_path):
    db = tmp_path / "g.duckdb"
    with FakeHub(synthetic_models(2000, seed=3)) as hub:
        run_refresh(db, hub, page_size=500)
        with store.read(db) as connection:
            before = connection.execute(
                "SELECT (SELECT count(*) FROM model_versions), (SELECT count(*) FROM model_counters)"
            ).fetchall()[0]
        models = sorted(hub.models(), key=lambda m: m["_id"])
        changed = models[:20]  # 1% of the Hub gets a commit
        for m in changed:
            hub.upsert(touch(m, NOW))
        counters_moved = models[20:40]
        for m in counters_moved:
            hub.upsert({**m, "likes": m["likes"] + 1})
        run_refresh(db, hub, page_size=500)
        with store.read(db) as connection:
            after = connection.execute(
                "SELECT (SELECT count(*) FROM model_versions), (SELECT count(*) FROM model_counters)"
            ).fetchall()[0]
    assert after[0] - before[0] == len(changed)
    assert after[1] - before[1] == len(counters_moved)


def test_keys_in_another_order_or_a_new_key_change_no_model(tmp_path):
    # JSON objects are unordered, and the Hub adds keys over time (shared/hub-api): neither is a
    # change of the model, and neither may store every model again.
    db = tmp_path / "k.duckdb"
    with FakeHub(synthetic_models(300, seed=5)) as hub:
        run_refresh(db, hub)
        first_raw = {
            m["_id"]: {k: v for k, v in m.items() if k not in store.COUNTER_KEYS}
            for m in hub.models()
        }
        models = sorted(hub.models(), key=lambda m: m["_id"])
        for m in models:
            hub.upsert(dict(reversed(list(m.items()))) | {"usedStorage": 12345})
        same = run_refresh(db, hub)
        hub.upsert(models[0] | {"tags": [*models[0]["tags"], "new-tag"]})  # a change all the same
        one_changed = run_refresh(db, hub)
        with store.read(db) as connection:
            versions = connection.execute("SELECT count(*) FROM model_versions").fetchall()[0][0]
            raw = dict(connection.execute("SELECT object_id, raw FROM models").fetchall())
    assert (same.merge.added, same.merge.changed) == (0, 0)
    assert (one_changed.merge.added, one_changed.merge.changed) == (0, 1)
    assert versions == 300 + 1
    # The raw element is the one its version first read; the changed model's is the new one.
    assert json.loads(raw[models[1]["_id"]]) == first_raw[models[1]["_id"]]
    assert "new-tag" in json.loads(raw[models[0]["_id"]])["tags"]


def test_a_name_moving_from_the_files_to_the_tags_is_a_change(tmp_path):
    # Same sha and lastModified (a Hub that retags without a commit): only the two lists differ,
    # and DuckDB hashes list items into a row's hash with no mark where each list ends.
    db = tmp_path / "m.duckdb"
    model = synthetic_model(0, seed=9)
    with FakeHub([model | {"tags": ["pytorch"], "siblings": [{"rfilename": "b.bin"}]}]) as hub:
        run_refresh(db, hub)
        hub.upsert(model | {"tags": ["pytorch", "b.bin"], "siblings": []})
        moved = run_refresh(db, hub)
        hub.upsert(model | {"tags": ["pytorch", "b.bin"]} | {"siblings": None})
        emptied = run_refresh(db, hub)  # no siblings at all, where there was an empty list
    assert moved.merge.changed == 1
    assert emptied.merge.changed == 1
    assert stored_state(db, moved.snapshot_id)[model["_id"]][1:3] == (("pytorch", "b.bin"), ())


def test_prune_keeps_the_exact_history_of_kept_snapshots(tmp_path):
    db = tmp_path / "p.duckdb"
    with FakeHub(synthetic_models(120, seed=5)) as hub:
        run_refresh(db, hub)
        models = commit_to_first(hub, 10, NOW)
        hub.delete(models[10]["_id"])
        run_refresh(db, hub)
        for m in models[:5]:
            hub.upsert(touch(m, NOW + timedelta(days=1)))
        hub.delete(models[11]["_id"])
        run_refresh(db, hub)
    before = {s: stored_state(db, s) for s in (2, 3)}
    with store.write(db) as connection:
        dropped = store.prune(connection, keep=2)
        remaining = [s["snapshot_id"] for s in store.list_snapshots(connection)]
    assert remaining == [2, 3]
    assert dropped.snapshots_dropped == 1
    # The versions replaced in snapshot 2, and the model deleted there, were visible only in 1.
    assert dropped.versions_dropped == 10 + 1
    assert {s: stored_state(db, s) for s in (2, 3)} == before


def test_prune_drops_abandoned_incomplete_snapshots_but_keeps_a_paused_crawl(tmp_path):
    db = tmp_path / "p.duckdb"
    with FakeHub(synthetic_models(120, seed=5)) as hub:
        run_refresh(db, hub)
        with store.write(db) as connection:
            abandoned = begin_test_snapshot(connection)  # as a refresh started over leaves one
        second = run_refresh(db, hub)
        client = HubClient(hub.url, None, backoff_base=0.001)
        paused = crawl.refresh(db, client=client, full=True, page_size=50, max_pages=1)
        assert not paused.complete
        with store.write(db) as connection:
            dropped = store.prune(connection, keep=2)
            remaining = [
                (s["snapshot_id"], s["complete"]) for s in store.list_snapshots(connection)
            ]
        assert (abandoned, second.snapshot_id, paused.snapshot_id) == (2, 3, 4)
        assert remaining == [(1, True), (3, True), (4, False)]
        assert dropped.snapshots_dropped == 1
        resumed = run_refresh(db, hub)
    assert resumed.snapshot_id == 4 and resumed.complete
    assert stored_state(db, 4) == expected_state(hub)


def test_a_prune_that_fails_halfway_changes_nothing(tmp_path):
    db = tmp_path / "p.duckdb"
    with FakeHub(synthetic_models(40, seed=5)) as hub:
        run_refresh(db, hub)
        commit_to_first(hub, 5, NOW)
        run_refresh(db, hub)

    def counts() -> tuple:
        with store.read(db) as connection:
            return connection.execute(
                "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM model_versions), "
                "(SELECT count(*) FROM model_counters), "
                "(SELECT min(valid_from) FROM model_versions)"
            ).fetchall()[0]

    before = counts()

    class FailingAtTheSnapshots:
        """A connection whose DELETE FROM snapshots fails, after the versions were deleted."""

        def __init__(self, connection):
            self.connection = connection

        def execute(self, sql, *args):
            if sql.startswith("DELETE FROM snapshots"):
                raise duckdb.IOException("disk full")
            return self.connection.execute(sql, *args)

    with store.write(db) as connection:
        with pytest.raises(duckdb.IOException):
            store.prune(FailingAtTheSnapshots(connection), keep=1)
    assert counts() == before and before[0] == 2


def test_prune_and_upgrade_from_python_wait_for_no_refresh(tmp_path):
    """The lock the CLI commands hold is taken by the library functions themselves."""
    db = tmp_path / "l.duckdb"
    with FakeHub(synthetic_models(20, seed=7)) as hub:
        run_refresh(db, hub)
        run_refresh(db, hub)
    with locks.DatabaseLock(db):  # what a refresh holds while it runs
        with pytest.raises(BusyError, match="another refresh"):
            store.prune_database(db, keep=1)
        with pytest.raises(BusyError, match="another refresh"):
            store.upgrade(db)
    with store.read(db) as connection:
        assert len(store.list_snapshots(connection)) == 2
    assert store.prune_database(db, keep=1).snapshots_dropped == 1
    assert store.upgrade(db) == store.SCHEMA_VERSION


def test_export_after_prune_keeps_every_model_of_the_kept_snapshots(tmp_path):
    db = tmp_path / "pe.duckdb"
    with FakeHub(synthetic_models(60, seed=6)) as hub:
        run_refresh(db, hub)
        commit_to_first(hub, 4, NOW)
        run_refresh(db, hub)
        run_refresh(db, hub)
        expected = {m["_id"]: m["id"] for m in hub.models()}
    with store.write(db) as connection:
        store.prune(connection, keep=1)
    counts = export(db, tmp_path / "export")
    # 56 models unchanged since snapshot 1 and 4 changed in snapshot 2: all began in a
    # dropped snapshot, and all are still current.
    assert counts["model_versions"] == len(expected) == 60
    versions = str(tmp_path / "export" / "model_versions" / "*" / "*.parquet")
    rebuilt = duckdb.sql(
        "SELECT object_id, id FROM read_parquet($path, hive_partitioning = true) "
        "WHERE valid_from <= 3 AND (valid_to IS NULL OR valid_to > 3)",
        params={"path": versions},
    ).fetchall()
    assert dict(rebuilt) == expected
    assert stored_state(db, 3).keys() == expected.keys()


def test_export_is_readable_and_rebuilds_every_snapshot(tmp_path):
    db = tmp_path / "e.duckdb"
    states = {}
    with FakeHub(synthetic_models(150, seed=9)) as hub:
        run_refresh(db, hub)
        states[1] = expected_state(hub)
        models = commit_to_first(hub, 12, NOW)
        hub.delete(models[12]["_id"])
        for m in models[20:30]:  # counters move without a commit
            hub.upsert({**m, "likes": m["likes"] + 3, "downloads": m["downloads"] + 100})
        run_refresh(db, hub)
        states[2] = expected_state(hub)
        # A third refresh stops after a page: its snapshot is unfinished and not exported.
        hub.upsert({**models[40], "likes": models[40]["likes"] + 1})
        crawl.refresh(db, client=HubClient(hub.url, None), full=True, page_size=10, max_pages=1)
    with store.read(db) as connection:
        assert store.snapshot_is_complete(connection, 3) is False
    out = tmp_path / "export"
    counts = export(db, out)
    assert counts["snapshots"] == 2
    exported = duckdb.sql(
        "SELECT snapshot_id FROM read_parquet($path) ORDER BY 1",
        params={"path": str(out / "snapshots" / "*" / "*.parquet")},
    )
    assert exported.fetchall() == [(1,), (2,)]
    partitions = sorted(p.name for p in (out / "model_versions").iterdir())
    assert partitions and all(p.startswith("snapshot_date=") for p in partitions)
    state_at = "WHERE valid_from <= $s AND (valid_to IS NULL OR valid_to > $s)"
    for snapshot_id, expected in states.items():
        versions = duckdb.sql(
            "SELECT object_id, id FROM read_parquet($path, hive_partitioning = true) " + state_at,
            params={"path": str(out / "model_versions" / "*" / "*.parquet"), "s": snapshot_id},
        ).fetchall()
        assert dict(versions) == {k: v[0] for k, v in expected.items()}
        # The deleted model's counters end with it; moved counters begin a new interval.
        counters = duckdb.sql(
            "SELECT object_id, downloads, likes FROM read_parquet($path, hive_partitioning = true) "
            + state_at,
            params={"path": str(out / "model_counters" / "*" / "*.parquet"), "s": snapshot_id},
        ).fetchall()
        assert {r[0]: (r[1], r[2]) for r in counters} == {
            k: (v[4], v[5]) for k, v in expected.items()
        }
    # Types that Trino, Athena and older Spark read: no unsigned integers, no JSON type.
    schema = duckdb.sql(
        "SELECT name, converted_type, logical_type FROM parquet_schema($path)",
        params={"path": str(out / "*" / "*" / "*.parquet")},
    ).fetchall()
    assert [row for row in schema if "UINT" in str(row[1:]) or "JSON" in str(row[1:])] == []
    with store.read(db) as connection:
        stored = dict(
            connection.execute(
                "SELECT object_id, content_hash FROM model_versions WHERE valid_to IS NULL"
            ).fetchall()
        )
    exported = duckdb.sql(
        "SELECT object_id, content_hash FROM read_parquet($path) WHERE valid_to IS NULL",
        params={"path": str(out / "model_versions" / "*" / "*.parquet")},
    ).fetchall()
    assert dict(exported) == {k: f"{v:016X}" for k, v in stored.items()}
    export(db, out)  # a second export replaces the first cleanly
    assert sorted(p.name for p in (out / "model_versions").iterdir()) == partitions


def _hfstats(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hfstats.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_TOKEN": "", **(env or {})},
        timeout=120,
        **kwargs,
    )


@pytest.mark.slow
def test_readers_work_and_a_second_refresh_exits_75_while_a_refresh_runs(tmp_path):
    db = tmp_path / "c.duckdb"
    with FakeHub(synthetic_models(400, seed=11)) as hub:
        first = _hfstats(
            "refresh", "--db", str(db), "--endpoint", hub.url, "--page-size", "100", "-q"
        )
        assert first.returncode == 0, first.stderr
        first_state = expected_state(hub)
        for m in hub.models()[:60]:
            hub.upsert(touch(m, NOW))
        # The full crawl below is held at its third page until the reads are done: on a busy
        # machine, reads took longer than any fixed latency made the crawl last.
        gate = threading.Event()
        before = hub.stats.requests

        def hold_the_third_page(number: int, path: str) -> None:
            if number > before + 2:
                gate.wait(300)

        hub.faults = hold_the_third_page
        running = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hfstats.cli",
                "refresh",
                "--db",
                str(db),
                "--endpoint",
                hub.url,
                "--page-size",
                "10",
                "--full",
                "--timeout",
                "600",
                "-q",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_TOKEN": ""},
        )
        try:
            state = db.with_name(db.name + ".crawl") / "state.json"
            deadline = time.monotonic() + 30
            while not state.exists() or json.loads(state.read_text())["pages"] < 2:
                assert time.monotonic() < deadline and running.poll() is None, (
                    "refresh did not start"
                )
                time.sleep(0.05)

            second = _hfstats("refresh", "--db", str(db), "--endpoint", hub.url)
            assert second.returncode == 75, second.stderr
            assert running.poll() is None, "the second refresh must be refused while one runs"
            assert second.stderr.count("\n") == 1 and "another refresh" in second.stderr

            listed = _hfstats("snapshots", "--db", str(db), "--format", "json")
            assert listed.returncode == 0, listed.stderr
            complete = [s["snapshot_id"] for s in json.loads(listed.stdout) if s["complete"]]
            assert complete == [1]
            queried = _hfstats("query", "exclusivity", "--db", str(db), "--format", "json")
            assert queried.returncode == 0, queried.stderr
            assert sum(r["models"] for r in json.loads(queried.stdout)) == len(first_state)
            reported = _hfstats(
                "report", "--db", str(db), "--out", str(tmp_path / "r"), "--format", "html,json"
            )
            assert reported.returncode == 0, reported.stderr
            assert (tmp_path / "r" / "index.html").exists()
            assert running.poll() is None, "the reads must happen while the refresh runs"
        finally:
            gate.set()
            out, err = running.communicate(timeout=120)
        assert running.returncode == 0, err
        assert out == "" and err == ""  # --quiet: nothing on success
        expected = expected_state(hub)
    assert stored_state(db, 2) == expected


# A refresh whose merge waits, once it has begun, until the test lets it go on.
HELD_MERGE = """
import pathlib, sys, time
from hfstats import store
from hfstats.cli import main

merging, go = map(pathlib.Path, sys.argv[1:3])
merge_pages = store.merge_pages

def held(connection, **arguments):
    merging.touch()
    while not go.exists():
        time.sleep(0.05)
    return merge_pages(connection, **arguments)

store.merge_pages = held
sys.argv = ["hfstats", *sys.argv[3:]]
main()
"""


def start_held_refresh(tmp_path: Path, db: Path, *args: str) -> subprocess.Popen:
    """``hfstats refresh --db DB ARGS`` in a process whose merge, once begun, waits for
    ``tmp_path / "go"``; returned when the merge has begun."""
    merging = tmp_path / "merging"
    running = subprocess.Popen(
        [sys.executable, "-c", HELD_MERGE, str(merging), str(tmp_path / "go")]
        + ["refresh", "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_TOKEN": ""},
    )
    deadline = time.monotonic() + 60
    while not merging.exists():
        if time.monotonic() > deadline or running.poll() is not None:
            running.kill()
            raise AssertionError(f"the merge did not begin: {running.communicate()[1]}")
        time.sleep(0.05)
    return running


def test_readers_work_while_a_refresh_merges(tmp_path):
    # At the Hub's size the merge takes minutes, longer than a reader waits for the file: it
    # goes into a copy, and readers keep the previous snapshot until the copy replaces it.
    db = tmp_path / "m.duckdb"
    go = tmp_path / "go"
    with FakeHub(synthetic_models(300, seed=12)) as hub:
        run_refresh(db, hub)
        first_state = expected_state(hub)
        for m in hub.models()[:30]:
            hub.delete(m["_id"])
        running = start_held_refresh(tmp_path, db, "--endpoint", hub.url, "--full", "-q")
        try:
            with store.read(db, lock_wait=1.0) as connection:
                seen = connection.execute("SELECT object_id FROM models").fetchall()
            assert {object_id for (object_id,) in seen} == set(first_state)
        finally:
            released = datetime.now(UTC)
            go.touch()
            out, err = running.communicate(timeout=120)
        assert running.returncode == 0, err
        second_state = expected_state(hub)
    assert len(second_state) == len(first_state) - 30
    # Finished when the merge ended (the snapshot exists from then), not when the listing did.
    with store.read(db) as connection:
        (finished_at,) = connection.execute(
            "SELECT finished_at FROM snapshots WHERE snapshot_id = 2"
        ).fetchall()[0]
    assert finished_at >= released
    assert stored_state(db, 2) == second_state
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("m.duckdb")) == [
        "m.duckdb",
        "m.duckdb.lock",
    ]


# Another program's write, killed before its checkpoint: the change is only in <db>.wal.
KILLED_WRITER = """
import os, sys, duckdb
connection = duckdb.connect(sys.argv[1])
connection.execute("INSERT INTO hfstats_meta VALUES ('note', 'kept')")
os._exit(0)
"""


@pytest.mark.parametrize("writer", ["closed", "killed before its checkpoint"])
def test_a_database_written_by_another_program_during_the_merge_is_not_replaced(tmp_path, writer):
    db = tmp_path / "w.duckdb"
    merging, go = tmp_path / "merging", tmp_path / "go"
    with FakeHub(synthetic_models(200, seed=13)) as hub:
        run_refresh(db, hub)
        for m in hub.models()[:5]:
            hub.upsert(touch(m, NOW))
        running = start_held_refresh(tmp_path, db, "--endpoint", hub.url, "-q")
        try:
            if writer == "closed":
                with duckdb.connect(str(db)) as connection:  # not hfstats: no lock taken
                    connection.execute("INSERT INTO hfstats_meta VALUES ('note', 'kept')")
            else:
                subprocess.run([sys.executable, "-c", KILLED_WRITER, str(db)], check=True)
                assert db.with_name("w.duckdb.wal").exists()
        finally:
            go.touch()
            _, err = running.communicate(timeout=120)
        assert running.returncode == 1
        assert err.count("\n") == 1 and "changed by another program" in err
        merging.unlink()
        assert run_refresh(db, hub, full=False).complete  # the kept pages merge now
        expected = expected_state(hub)
    with store.read(db) as connection:
        assert store.get_meta(connection, "note") == "kept"
    assert stored_state(db, 2) == expected


def tag_class(tags: tuple[str, ...]) -> str:
    """The framework class from tags, counted here independently of the SQL."""
    found = {"pytorch", "tf", "jax"} & set(tags)
    if len(found) > 1:
        return "multi_framework"
    return {"pytorch": "pytorch_only", "tf": "tensorflow_only", "jax": "jax_only"}.get(
        next(iter(found), ""), "no_framework"
    )


def test_query_of_the_first_snapshot_after_the_hub_changed(tmp_path):
    """Issue 7's done-means: `query exclusivity --snapshot FIRST` gives exactly the first state."""
    db = tmp_path / "q.duckdb"
    with FakeHub(synthetic_models(500, seed=21)) as hub:
        run_refresh(db, hub)
        first_state = expected_state(hub)
        models = sorted(hub.models(), key=lambda m: m["_id"])
        for m in models[:40]:  # a framework changes: PyTorch weights converted to TensorFlow
            hub.upsert(touch({**m, "tags": [t for t in m["tags"] if t != "pytorch"] + ["tf"]}, NOW))
        for m in models[40:70]:
            hub.delete(m["_id"])
        run_refresh(db, hub)
        second_state = expected_state(hub)
    assert first_state != second_state
    for snapshot_id, state in ((1, first_state), (2, second_state)):
        result = _hfstats(
            "query",
            "exclusivity",
            "--db",
            str(db),
            "--snapshot",
            str(snapshot_id),
            "--format",
            "json",
        )
        assert result.returncode == 0, result.stderr
        counted = {}
        for _, tags, *_ in state.values():
            counted[tag_class(tags)] = counted.get(tag_class(tags), 0) + 1
        measured = {r["framework_class"]: r["models"] for r in json.loads(result.stdout)}
        assert measured == {k: counted.get(k, 0) for k in measured}
        assert sum(measured.values()) == len(state)
        # `hfstats sql --snapshot`: `models` is that snapshot too.
        listed = _hfstats(
            "sql",
            "SELECT object_id, id FROM models",
            "--db",
            str(db),
            "--snapshot",
            str(snapshot_id),
            "--format",
            "json",
        )
        assert listed.returncode == 0, listed.stderr
        assert {r["object_id"]: r["id"] for r in json.loads(listed.stdout)} == {
            object_id: model[0] for object_id, model in state.items()
        }


def test_a_date_picks_the_latest_snapshot_finished_by_then(tmp_path):
    """ "What was the PyTorch-only share on 1 March?": `--snapshot DATE` reads the latest
    complete snapshot finished by the end of that day (UTC)."""
    db = tmp_path / "dated.duckdb"
    with FakeHub(synthetic_models(200, seed=22)) as hub:
        run_refresh(db, hub)
        first_state = expected_state(hub)
        for m in sorted(hub.models(), key=lambda m: m["_id"])[:25]:
            hub.delete(m["_id"])
        run_refresh(db, hub)
    # The two refreshes ran a moment apart: dated as a daily cron would have run them.
    with store.write(db) as connection:
        for snapshot_id, day in ((1, 1), (2, 2)):
            connection.execute(
                "UPDATE snapshots SET started_at = ?, finished_at = ? WHERE snapshot_id = ?",
                [
                    datetime(2026, 3, day, 5, 50, tzinfo=UTC),
                    datetime(2026, 3, day, 6, 0, tzinfo=UTC),
                    snapshot_id,
                ],
            )
    for given, picked in (
        ("2026-03-01", 1),
        ("2026-03-02T05:59:59Z", 1),
        ("2026-03-02T07:00:00+01:00", 2),  # 06:00 UTC
        ("2026-03-02", 2),
        ("2027-01-01", 2),
    ):
        result = _hfstats(
            "sql",
            "SELECT count(*) AS n FROM models",
            "--db",
            str(db),
            "--snapshot",
            given,
            "--format",
            "json",
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [{"n": 200 if picked == 1 else 175}], given
        finished = f"2026-03-0{picked} 06:00 UTC"
        assert result.stderr == f"hfstats: reading snapshot {picked} (finished {finished})\n"
    by_date = _hfstats(
        "query", "exclusivity", "--db", str(db), "--snapshot", "2026-03-01", "--format", "json"
    )
    by_id = _hfstats("query", "exclusivity", "--db", str(db), "--snapshot", "1", "--format", "json")
    assert by_date.returncode == 0, by_date.stderr
    assert by_date.stdout == by_id.stdout
    assert sum(row["models"] for row in json.loads(by_date.stdout)) == len(first_state)
    checked = _hfstats(
        "check",
        "pytorch-exclusive-share-today",
        "--db",
        str(db),
        "--snapshot",
        "2026-03-01T23:00:00Z",
        "--format",
        "json",
    )
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)[0]["numbers"]["snapshot_id"] == 1
    # Before the first snapshot, or no date at all: one line, exit 2.
    for given, message in (
        (
            "2026-02-28",
            "no complete snapshot had finished by 2026-02-28 23:59:59 UTC; the first finished "
            "at 2026-03-01 06:00:00 UTC (see `hfstats snapshots`)",
        ),
        ("0", "'0' is no snapshot id: ids start at 1"),
        ("yesterday", "bad date 'yesterday'"),
        ("\u00b2", "bad date '\u00b2'"),  # a digit to str.isdigit, no number to int()
    ):
        result = _hfstats("query", "exclusivity", "--db", str(db), "--snapshot", given)
        assert result.returncode == 2, (given, result.stderr)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_a_database_another_program_holds_names_it_while_waiting_and_when_giving_up(
    tmp_path: Path, hfstats_log: pytest.LogCaptureFixture
) -> None:
    from hfstats.errors import BusyError

    db = tmp_path / "held.duckdb"
    with held_open(db, seconds=60) as holder:
        with pytest.raises(BusyError) as error:
            with store.read(db, lock_wait=0.5):
                pass
    # DuckDB names the holder's executable (python3.x, resolved) and its PID.
    by = re.escape(f"{db} is in use (") + r"python[\w.]*" + re.escape(f", PID {holder.pid})")
    assert re.match(by + ": a refresh finishing, or a program that has it open", str(error.value))
    assert re.search(by + "; waiting up to 0.5s", hfstats_log.text)


def test_export_of_a_database_without_a_complete_snapshot_is_refused(tmp_path):
    from hfstats.errors import DatabaseError

    db = tmp_path / "unfinished.duckdb"
    with FakeHub(synthetic_models(30, seed=4)) as hub:
        client = HubClient(hub.url, None)
        assert not crawl.refresh(db, client=client, page_size=10, max_pages=1).complete
    with pytest.raises(DatabaseError, match="no complete snapshot yet"):
        export(db, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# Times DuckDB's cast takes but that are no ISO-8601 instant Arrow, Spark or Python can read;
# Spark 3 refuses a Parquet file not written by Spark that holds a time before 1900.
UNREADABLE_TIMES = [
    "infinity",
    "-infinity",
    "epoch",
    "290000-01-01T00:00:00Z",
    "0000-06-01",
    "1899-12-31T23:59:59.999Z",
    "0500-01-01T00:00:00.000Z",
]


@pytest.mark.parametrize(
    ("key", "column"), [("createdAt", "created_at"), ("lastModified", "last_modified")]
)
def test_times_no_reader_can_read_are_stored_as_null_and_exported_readable(tmp_path, key, column):
    models = list(synthetic_models(12, seed=17))
    for model, odd in zip(models, UNREADABLE_TIMES, strict=False):
        model[key] = odd
    models[len(UNREADABLE_TIMES)][key] = "1900-01-01T00:00:00.000Z"  # the first one kept
    sent = {m["_id"]: m[key] for m in models}
    db = tmp_path / "t.duckdb"
    with FakeHub(models) as hub:
        run_refresh(db, hub)
    with store.read(db) as connection:
        stored = dict(connection.execute(f"SELECT object_id, {column} FROM models").fetchall())
    for object_id, value in sent.items():
        if value in UNREADABLE_TIMES:
            assert stored[object_id] is None, value
        else:
            expected = datetime.fromisoformat(value.replace("Z", "+00:00"))
            assert stored[object_id] == expected
    # A database typed before: the export still writes no time an engine cannot read.
    with duckdb.connect(str(db)) as connection:
        connection.execute(
            "UPDATE model_versions SET created_at = 'infinity', last_modified = '1899-12-31 23:59Z'"
        )
    out = tmp_path / "export"
    export(db, out)
    exported = duckdb.sql(
        "SELECT count(*), count(created_at), count(last_modified) FROM read_parquet($path)",
        params={"path": str(out / "model_versions" / "*" / "*.parquet")},
    ).fetchall()
    assert exported == [(len(models), 0, 0)]


def readme_parquet_query() -> str:
    """The SQL the README gives for the state as of snapshot 3 of an export."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Beyond one file: Parquet", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def test_the_readme_query_on_an_export_gives_models_at_each_snapshot(tmp_path):
    db = tmp_path / "r.duckdb"
    with FakeHub(synthetic_models(120, seed=31)) as hub:
        run_refresh(db, hub)
        models = commit_to_first(hub, 10, NOW)
        hub.delete(models[10]["_id"])
        for m in models[20:25]:  # counters move without a commit
            hub.upsert({**m, "likes": m["likes"] + 3})
        run_refresh(db, hub)
        crawl.refresh(db, client=HubClient(hub.url, None), full=True, page_size=10, max_pages=1)
    out = tmp_path / "history"
    export(db, out)
    template = readme_parquet_query()
    for snapshot_id in (1, 2, 3, 99):  # 3 is unfinished, 99 does not exist
        # The path goes in last: tmp_path may hold a 3 of its own (pytest-3).
        sql = re.sub(r"\b3\b", str(snapshot_id), template).replace("hub-history", str(out))
        exported = duckdb.sql(
            f"SELECT object_id, id, likes, downloads FROM ({sql}) ORDER BY object_id"
        ).fetchall()
        with store.read(db) as connection:
            expected = connection.execute(
                "SELECT object_id, id, likes, downloads FROM models_at(?) ORDER BY object_id",
                [snapshot_id],
            ).fetchall()
        assert exported == expected, snapshot_id
        assert bool(exported) == (snapshot_id in (1, 2))


def test_an_export_of_a_hub_without_models_has_readable_empty_tables(tmp_path):
    db = tmp_path / "empty.duckdb"
    with FakeHub([]) as hub:
        run_refresh(db, hub)
    out = tmp_path / "history"
    export(db, out)
    with store.read(db) as connection:
        columns = {
            table: [d[0] for d in connection.execute(f"SELECT * FROM {table} LIMIT 0").description]
            for table in ("model_versions", "model_counters")
        }
    for table, names in columns.items():
        relation = duckdb.sql(
            "SELECT * FROM read_parquet($path, hive_partitioning = true)",
            params={"path": str(out / table / "*" / "*.parquet")},
        )
        assert relation.fetchall() == []
        assert relation.columns == [*names, "snapshot_date"]
        # As in a partitioned file: Spark refuses a column both in the file and in its folder.
        in_the_file = duckdb.sql(
            "SELECT * FROM read_parquet($path, hive_partitioning = false)",
            params={"path": str(out / table / "*" / "*.parquet")},
        )
        assert in_the_file.columns == names


def test_an_unreadable_time_left_by_older_typing_is_no_high_water_mark(tmp_path):
    models = list(synthetic_models(30, seed=19))
    db = tmp_path / "w.duckdb"
    with FakeHub(models) as hub:
        run_refresh(db, hub)
        newest = max(models, key=lambda m: m["lastModified"])
        with duckdb.connect(str(db)) as connection:  # as hfstats typed 'infinity' before
            connection.execute(
                "UPDATE model_versions SET last_modified = 'infinity' WHERE object_id = ?",
                [newest["_id"]],
            )
        run_refresh(db, hub)
    readable = max(m["lastModified"] for m in models if m is not newest)
    with store.read(db) as connection:
        (mark,) = connection.execute(
            "SELECT high_water_mark FROM snapshots WHERE snapshot_id = 2"
        ).fetchone()
    assert mark == datetime.fromisoformat(readable.replace("Z", "+00:00"))
    out = tmp_path / "export"
    export(db, out)
    with duckdb.connect(str(db)) as connection:
        connection.execute("UPDATE snapshots SET high_water_mark = 'infinity'")
    export(db, out)
    exported = duckdb.sql(
        "SELECT count(*), count(high_water_mark) FROM read_parquet($path)",
        params={"path": str(out / "snapshots" / "*" / "*.parquet")},
    ).fetchall()
    assert exported == [(2, 0)]
