"""`hfstats demo`: everything hfstats does, on the bundled recorded sample, without network.

The sample is ``fixtures/hub/crawl-initial.yaml``, a ``responses`` recording of a full crawl;
``crawl_sample`` replays it through the real crawler (``crawl.refresh`` with a ``HubClient``),
so the demo exercises the same code path as a live refresh.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import crawl, recording, report, store
from .errors import DatabaseError, UsageError, require_folder
from .hub import HubClient
from .resources import data_path

# hfstats_meta key marking a database as the demo's, so that only such a file is replaced.
DEMO_MARKER = "demo_recording"


def sample_recording() -> Path:
    """The bundled recording of a first full crawl."""
    return data_path("fixtures") / "hub" / "crawl-initial.yaml"


def _no_wait(seconds: float) -> None:
    """A replay has no server to wait for: rate-limit pauses and backoff take no time."""


def crawl_sample(
    db_path: str | Path, recording_path: str | Path | None = None
) -> crawl.RefreshResult:
    """Crawl the recorded sample into ``db_path`` through the real crawler, with no network."""
    recording_path = Path(recording_path) if recording_path else sample_recording()
    listing = recording.first_listing_request(recording_path)
    # A recording needs no token, and replays on a machine with HF_HUB_OFFLINE set.
    client = HubClient(listing.endpoint, False, sleep=_no_wait, replay=True)
    with recording.replay(recording_path):
        return crawl.refresh(db_path, page_size=listing.page_size, client=client)


@dataclass
class DemoResult:
    """What the demo made."""

    db_path: Path
    crawl: crawl.RefreshResult
    report_dir: Path
    recorded_at: datetime | None  # when the sample was recorded: the snapshot's date


def run_demo(db_path: str | Path, out_dir: str | Path) -> DemoResult:
    """Build a fresh demo database at ``db_path`` from the sample; the report goes to ``out_dir``.

    An existing ``db_path`` is replaced only if an earlier demo made it: a user's own database
    given by mistake is never overwritten.
    """
    db_path = Path(db_path)
    # Everything the user named is checked before the crawl, which takes seconds.
    require_folder(db_path.resolve().parent)
    _check_replaceable(db_path)
    report.check_replaceable_report(Path(out_dir).resolve(), db_path)
    # Per process: two demos at once must not build in each other's scratch database.
    scratch = db_path.with_name(f"{db_path.name}.demo-tmp-{os.getpid()}")
    _remove_database(scratch)
    try:
        result = crawl_sample(scratch)
        recorded_at = recording.recorded_at(sample_recording())
        with store.write(scratch) as connection:
            store.set_meta(connection, DEMO_MARKER, sample_recording().name)
            if recorded_at is not None:
                # Else the report would date the sample's models today, and draw the year it
                # was recorded in as complete once that year is over.
                store.date_snapshot(connection, result.snapshot_id, recorded_at)
        # The old file's write-ahead log would be replayed into the new one: remove it first.
        _remove_database(db_path, keep_file=True)
        os.replace(scratch, db_path)
    finally:
        _remove_database(scratch)
    report_dir = report.write_report(db_path, out_dir)
    return DemoResult(db_path=db_path, crawl=result, report_dir=report_dir, recorded_at=recorded_at)


def _check_replaceable(db_path: Path) -> None:
    crawl.Staging(db_path).require_own()  # removed with the database
    if not db_path.exists():
        return
    try:
        with store.read(db_path) as connection:
            marked = store.get_meta(connection, DEMO_MARKER) is not None
            snapshots = connection.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    except DatabaseError:
        marked, snapshots = False, 0
    if not marked:
        raise UsageError(
            f"{db_path} exists and was not made by `hfstats demo`; choose another --db path"
        )
    if snapshots > 1:
        # The demo makes one snapshot: a refresh has added the user's own crawl since.
        raise UsageError(
            f"{db_path} was made by `hfstats demo` but holds {snapshots} snapshots since a "
            "refresh ran on it; choose another --db path"
        )


def _remove_database(db_path: Path, keep_file: bool = False) -> None:
    """A database file and the files a refresh keeps beside it; with ``keep_file`` only its
    write-ahead log and crawl folder (its lock file stays, as another process may hold it)."""
    suffixes = (".wal",) if keep_file else ("", ".wal", ".lock")
    for suffix in suffixes:
        store.beside(db_path, suffix).unlink(missing_ok=True)
    shutil.rmtree(store.beside(db_path, ".crawl"), ignore_errors=True)
