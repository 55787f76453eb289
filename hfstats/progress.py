"""Progress of a crawl: a bar on a terminal, log lines otherwise, nothing when quiet."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import TextIO

from .crawl import CrawlState
from .hub import Page

log = logging.getLogger("hfstats.progress")

LOG_EVERY_SECONDS = 10.0


class CrawlProgress:
    """Callbacks for ``crawl.refresh(on_page=...)`` and ``HubClient(on_wait=...)``."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self._bar = None
        self._last_log = 0.0
        self._started = time.monotonic()
        self._models_at_start: int | None = None
        self._redirect = contextlib.ExitStack()
        # Drawn at the first page or wait, not before: an error refusing the refresh (a bad
        # endpoint, a busy database) must not be written onto the bar's line.
        self._wants_bar = not quiet and self.stream.isatty() and bool(_columns(self.stream))

    def _draw_bar(self) -> None:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._wants_bar = False
        self._bar = tqdm(unit=" pages", file=self.stream, dynamic_ncols=True, leave=False)
        # Log lines (retries, waits, the merge) go above the bar instead of onto its line.
        self._redirect.enter_context(logging_redirect_tqdm([logging.getLogger("hfstats")]))

    def on_page(self, state: CrawlState, page: Page) -> None:
        if self.quiet:
            return
        if self._wants_bar:
            self._draw_bar()
        if self._models_at_start is None:
            self._models_at_start = state.models_seen - len(page.models)
        models = state.models_seen - self._models_at_start
        rate = models / max(time.monotonic() - self._started, 1e-6)
        phase = "" if state.phase == "listing" else f" ({state.phase})"
        if self._bar is not None:
            if self._bar.desc:  # a wait is over once a page arrives
                self._bar.set_description_str("", refresh=False)
            self._bar.update(1)
            self._bar.set_postfix_str(f"{state.models_seen:,} models, {rate:,.0f}/s{phase}")
            return
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            log.info(
                "page %d: %d models so far, %.0f models/s%s",
                state.pages,
                state.models_seen,
                rate,
                phase,
            )

    def on_wait(self, reason: str, seconds: float) -> None:
        if self.quiet:
            return
        if self._wants_bar:
            self._draw_bar()
        # Without a bar, the client's own log line already says why and how long.
        if self._bar is not None:
            self._bar.set_description_str(f"waiting {seconds:.0f}s ({reason})")  # redrawn now

    def close(self) -> None:
        self._redirect.close()
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _columns(stream) -> int:
    """The terminal's width; 0 for one without a size (``script``, some CI consoles), where
    tqdm draws nothing at all: log lines are shown there instead."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80  # a terminal-like stream without a file descriptor
