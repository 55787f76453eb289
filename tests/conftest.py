"""Fixtures shared by the test files: the recorded Hub and a crawler client that never sleeps."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from hfstats import crawl, recording, store
from hfstats.hub import HubClient
from hfstats.resources import data_path

# Looks like a Hub token, so that a leak would be found by searching for it.
FAKE_TOKEN = "hf_fixtureTOKENnotREAL0123456789abcdef"


@pytest.fixture(autouse=True)
def no_login_of_the_developer(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests see no token but their own: a developer's login must not reach a test Hub, nor
    make a test pass that a machine without one fails."""
    from huggingface_hub import constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("hf-home")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))


@pytest.fixture
def hfstats_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """caplog, hearing hfstats' loggers from INFO up. The CLI's logging set-up, run in-process
    by earlier tests, stops them propagating to the root, where caplog listens."""
    monkeypatch.setattr(logging.getLogger("hfstats"), "propagate", True)
    caplog.set_level(logging.INFO, logger="hfstats")
    return caplog


@pytest.fixture
def recordings() -> Path:
    """The folder of recorded Hub responses (fixtures/hub)."""
    return data_path("fixtures") / "hub"


def fast_client(endpoint: str, token: str | None = None) -> HubClient:
    """A real HubClient whose backoff and rate-limit waits take no time."""
    return HubClient(endpoint, token, backoff_base=0.001, sleep=lambda seconds: None)


def crawl_recording(
    db_path: Path, recording_path: Path, *, full: bool = False, token: str | None = None
) -> crawl.RefreshResult:
    """Replay a recording through the real crawler; every recorded response must be used."""
    listing = recording.first_listing_request(recording_path)
    client = fast_client(listing.endpoint, token)
    with recording.replay(recording_path, assert_all_used=True):
        return crawl.refresh(db_path, full=full, page_size=listing.page_size, client=client)


@contextmanager
def held_open(db_path: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """Another program with the DuckDB file open (for at most ``seconds``) while this runs."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(flush=True); "
            "time.sleep(float(sys.argv[2]))",
            str(db_path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        holder.stdout.readline()  # the file is open
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def begin_test_snapshot(connection: duckdb.DuckDBPyConnection) -> int:
    """A new, incomplete full snapshot, begun as a refresh begins one; its id."""
    return store.begin_snapshot(
        connection,
        mode="full",
        endpoint="https://hub.test",
        started_at=datetime.now(UTC),
        hfstats_version="test",
    )
