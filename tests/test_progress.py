"""What a refresh shows while it works: the bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging
import math
import re
import sys
from pathlib import Path

import pytest

from hfstats import crawl
from hfstats.cli import _setup_logging
from hfstats.hub import HubClient, Page
from hfstats.progress import CrawlProgress
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def listing_state(**progress: int) -> crawl.CrawlState:
    return crawl.CrawlState(
        snapshot_id=1,
        mode="full",
        endpoint="http://hub",
        started_at="2026-12-01T00:00:00+00:00",
        page_size=10,
        phase="listing",
        next_url=None,
        **progress,
    )


def test_log_lines_on_a_terminal_start_their_own_line_above_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    # In the test's body: pytest sets its own sys.stderr again after fixtures.
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(logging.getLogger("hfstats"), "handlers", [])
    _setup_logging(quiet=False, log_file=None, debug=False)
    progress = CrawlProgress()
    state = listing_state()
    for _ in range(3):
        state.models_seen += 10
        state.pages += 1
        progress.on_page(state, Page("http://hub/api/models", [{}] * 10, b"[]", None))
        logging.getLogger("hfstats.hub").warning("retry 1/8 in 1.0s: HTTP 503")
    progress.close()
    written = terminal.getvalue()
    assert "pages" in written  # the bar was drawn
    assert written.count("retry 1/8") == 3
    # Never glued onto the bar's text: each message starts a line (or a redrawn one).
    assert not re.search(r"[^\r\n]retry 1/8", written), written


def test_a_wait_is_shown_on_the_bar_while_it_lasts(monkeypatch: pytest.MonkeyPatch) -> None:
    # A wait for the rate limit's reset lasts minutes with no page to redraw the bar.
    terminal = Terminal()
    monkeypatch.setenv("COLUMNS", "100")
    progress = CrawlProgress(stream=terminal)
    progress.on_wait("rate limit", 42.4)
    assert "waiting 42s (rate limit)" in terminal.getvalue()
    state = listing_state(models_seen=10, pages=1)
    progress.on_page(state, Page("http://hub/api/models", [{}] * 10, b"[]", None))
    progress._bar.refresh()
    last_drawn = terminal.getvalue().rsplit("\r", 1)[-1]
    assert "10 models" in last_drawn and "waiting" not in last_drawn  # the wait is over
    progress.close()
    quiet = Terminal()
    CrawlProgress(quiet=True, stream=quiet).on_wait("rate limit", 42.4)
    assert quiet.getvalue() == ""


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_refresh_says_when_it_merges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The merge of a million models takes most of a minute after the last page.
    models = list(synthetic_models(45, seed=3))
    collected = Collected()
    logger = logging.getLogger("hfstats.crawl")
    monkeypatch.setattr(logger, "handlers", [collected])
    monkeypatch.setattr(logger, "level", logging.INFO)
    with FakeHub(models) as hub:
        crawl.refresh(tmp_path / "hub.duckdb", client=HubClient(hub.url), page_size=20)
    pages = math.ceil(len(models) / 20) + 1  # the listing, then one catch-up page
    merging = [m for m in collected.messages if m.startswith("merging")]
    assert merging == [
        f"merging {pages} page(s), {len(models) + 20} listing element(s), into snapshot 1"
    ]


def test_no_bar_is_drawn_before_a_refresh_can_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # Drawn first, the bar would get the usage error written onto its line.
    from click.testing import CliRunner
    from huggingface_hub import constants

    from hfstats import progress
    from hfstats.cli import cli

    drawn = []
    monkeypatch.setattr(progress.CrawlProgress, "_draw_bar", lambda *a: drawn.append(a))
    made_on_a_terminal = progress.CrawlProgress.__init__
    monkeypatch.setattr(
        progress.CrawlProgress,
        "__init__",
        lambda self, quiet=False, stream=None: made_on_a_terminal(self, quiet, Terminal()),
    )
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = CliRunner().invoke(cli, ["refresh", "--db", "never.duckdb"])
    assert result.exit_code == 2 and "HF_HUB_OFFLINE" in result.output
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    result = CliRunner().invoke(cli, ["refresh", "--endpoint", "https://hub.test/?x=1"])
    assert result.exit_code == 2 and "query or fragment" in result.output
    assert drawn == []


def test_a_terminal_without_a_size_gets_log_lines_not_an_invisible_bar() -> None:
    # tqdm draws nothing at 0 columns (`script`, some CI consoles): the crawl looked silent.
    import os

    leader, follower = os.openpty()  # a new pseudo-terminal has no size yet
    try:
        with open(follower, "w", closefd=False) as terminal:
            assert terminal.isatty() and os.get_terminal_size(follower).columns == 0
            progress = CrawlProgress(stream=terminal)
            progress.on_wait("rate limit", 1.0)
            progress.on_page(
                listing_state(models_seen=10, pages=1), Page("u", [{}] * 10, b"", None)
            )
            assert progress._bar is None
            progress.close()
    finally:
        os.close(leader)
        os.close(follower)


def test_how_a_crawl_starts_is_said_before_its_pages_not_after_its_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = list(synthetic_models(60, seed=5))
    events = Collected()
    logger = logging.getLogger("hfstats.crawl")
    monkeypatch.setattr(logger, "handlers", [events])
    monkeypatch.setattr(logger, "level", logging.INFO)
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=HubClient(hub.url), page_size=20, max_pages=2)
        events.messages.clear()
        result = crawl.refresh(
            db,
            client=HubClient(hub.url),
            page_size=20,
            on_page=lambda state, page: events.messages.append("a page"),
        )
    assert result.notes[0] == "resumed snapshot 1 after 2 saved page(s)"
    assert events.messages.index(result.notes[0]) < events.messages.index("a page")
