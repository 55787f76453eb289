"""`hfstats refresh`: crawl the model listing into a staging folder, then merge it.

A crawl never holds the database open while it talks to the Hub. Each page is written to
``<db>.crawl/pages/`` and the cursor to ``<db>.crawl/state.json``, both atomically, so a crawl
killed at any point loses at most the page in flight and the next ``refresh`` resumes from the
saved cursor. When the listing is done, the pages are folded into the history
(``store.merge_pages``) in a copy of the database that replaces it when complete
(``store.write_a_copy``), and the staging folder is removed. Readers meanwhile keep seeing the
latest complete snapshot.

Modes:
- full: every page; models of the previous state that were not listed are marked deleted. A
  model modified while the crawl runs jumps to the top of the listing (it is sorted by
  ``lastModified``, newest first) and would be missed, so a full crawl ends with a catch-up pass
  over the top of the listing, down to what was newest when it started. A model can jump over
  that pass's cursor too, so passes repeat, each down to what was newest when the previous
  one started, until one pass is a single page (one response cannot be overtaken) or its
  first page shows nothing newer than the previous pass's start, at most
  ``MAX_CATCHUP_PASSES`` times. A pass starts at the earliest of the local clock, the Hub's
  ``Date`` header and the newest lastModified on its first page: the passes are judged by the
  Hub's own times, which may lag the clocks. lastModified times later than the Hub's clock
  (or the local one, without a ``Date`` header) are ignored.
- incremental (default once a complete snapshot exists): stop at the first page that reaches
  models older than the last complete snapshot's high-water mark minus a safety margin (or
  read to the end, if the listing turns out not to be sorted newest first).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple, NoReturn

import duckdb

from . import __version__, locks, store
from .errors import (
    HfstatsError,
    HubError,
    HubNotFoundError,
    HubRefusedError,
    PageSizeRefusedError,
    UsageError,
    first_line,
)
from .hub import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT,
    PAGE_SIZE_HINT,
    HubClient,
    Page,
    models_url,
    normalized_endpoint,
)

log = logging.getLogger("hfstats.crawl")

STATE_FORMAT = 6
# Older formats are brought up to date by ``Staging.load``: 1 (before repeated catch-up passes)
# gains its pass fields, 1-3 in a catch-up pass leave the next pass to judge, 2 (before the
# order checks) lacks only fields that have defaults.
READABLE_STATE_FORMATS = (1, 2, 3, 4, 5, 6)
# Models modified within this margin before the high-water mark are read again: protects
# against clock skew and listings that lag behind a commit by a little.
DEFAULT_OVERLAP = timedelta(minutes=10)
# On the Hub a pass after the first catch-up covers the models changed in about the overlap,
# which fits one page; a listing busier than that ends the crawl after this many passes, with
# a note.
MAX_CATCHUP_PASSES = 5
# An incremental refresh marks nothing deleted, so it has no shrink to allow.
ALLOW_SHRINK_IGNORED = (
    "--allow-shrink changes only full crawls; this refresh is incremental "
    "(run `hfstats refresh --full --allow-shrink`)"
)
# A full crawl marks every model it did not see deleted. One that lists fewer than this share
# of the previous snapshot's models is refused: an outage (an empty page taken for the end of
# the listing) is far likelier than the Hub losing half its models in a day.
SHRINK_REFUSED_BELOW = 0.5
# Nor is a full listing that leaves more than this many of the previous snapshot's models
# unlisted below the oldest time on its last page: sorted newest first, a listing ends with the
# Hub's oldest models, and only a listing cut short (a page taken for the last one during a
# glitch) leaves a whole tail of them out. Deleted models are spread over all times.
CUT_TAIL_TOLERATED = 10
# The same tail missing again at the next full crawl (give or take CUT_TAIL_TOLERATED models)
# is taken for real deletions: glitches hiding the same models a crawl apart are unlikely, while
# a refusal that never clears would hold back every deletion. Tails up to this size are kept
# (in hfstats_meta) to be compared; a larger one is only recorded with --allow-shrink.
REFUSED_TAIL_KEY = "refused_tail"
REFUSED_TAIL_KEPT = 10_000
# Before a tail like that is taken for a listing cut short, the Hub is asked about this many of
# its models, half the most recently modified, half spread over the rest (and about the oldest
# model listed, to know its answers mean something): a cut listing left out models the Hub
# still has, while a tail the Hub deleted (an old account, a clean-up of old repos) is gone.
TAIL_ASKED = 20
# Before a full crawl marks a model deleted, the Hub is asked for it (one request each): a
# commit dated before the crawl began, landing while it ran, moves a model into a part of the
# listing already read, below the catch-up passes. At most this many, or as many as the crawl
# had pages, are asked about; more missing models (a mass deletion) are recorded unasked.
MISSING_ASKED = 100
# The Hub's Date header has whole seconds: a difference with the local clock beyond this is
# skew (or a slow first response), not rounding.
CLOCK_TOLERANCE = timedelta(seconds=2)
# A catch-up pass stops at its first page once that page reaches this far below the start of
# the pass before: room for a listing that shows a commit a little after its lastModified, and
# for the Hub's clocks (Date, lastModified) disagreeing a little.
SETTLE_MARGIN = timedelta(minutes=2)
# A crawl stopped after its last page and resumed later than this after its last pass began
# makes one more catch-up pass before merging; sooner (a merge run again at once with more
# memory), what changed meanwhile is no more than a crawl's own merge time lets through.
RESUME_CATCHUP_AFTER = timedelta(minutes=10)


@dataclass
class CrawlState:
    """Everything needed to resume a crawl; saved after every page."""

    snapshot_id: int
    endpoint: str
    mode: str  # "full" or "incremental"
    page_size: int
    started_at: str
    phase: str  # "listing", "catchup" or "merge"
    next_url: str | None
    pages: int = 0
    requests: int = 0
    models_seen: int = 0
    altered: int = 0
    stop_before: str | None = None  # incremental: stop at models last modified before this
    catchup_until: str | None = None  # full: catch-up pass stops at models older than this
    catchup_passes: int = 0  # catch-up passes started
    pass_pages: int = 0  # pages read by the current pass
    pass_started_at: str | None = None  # when the current catch-up pass began
    # When the pass before it began: on the Hub's clock (its first page's newest time) when
    # that is earlier than the local one or the Date header.
    previous_pass_started_at: str | None = None
    pass_first_newest: str | None = None  # the newest lastModified on the current pass's first page
    pass_first_oldest: str | None = None  # and the oldest
    next_catchup_until: str | None = None  # where the next catch-up pass would stop
    unsorted: bool = False  # a page came out of lastModified order: read to the end
    last_oldest: str | None = None  # the oldest lastModified on the pass's previous page
    # The current pass was stopped and resumed: its first page, read before the stop, cannot
    # show what changed meanwhile, so it never settles the catch-up passes.
    pass_resumed: bool = False
    listing_oldest: str | None = None  # the oldest lastModified on the listing's last page
    listing_models: int | None = None  # models the listing pass read (catch-up passes re-read)
    # The largest gap seen between the local clock and the Hub's Date header at a pass's start.
    clock_skew_seconds: float = 0.0
    hub_clock: str | None = None  # the Date header of the latest page: the Hub's time then
    # The Hub's answers to lookups after the listing (id -> the _id it serves, or None), so that
    # a crawl stopped in its merge does not ask them all again; a new pass forgets them.
    lookups: dict[str, str | None] = field(default_factory=dict)
    format: int = STATE_FORMAT


@dataclass
class RefreshResult:
    snapshot_id: int
    mode: str
    complete: bool
    pages: int
    requests: int
    models_seen: int
    merge: store.MergeResult | None = None
    resumed: bool = False
    notes: list[str] = field(default_factory=list)
    rate_limit_waits: int = 0  # in this run, with the seconds they took
    rate_limit_wait_seconds: float = 0.0


# The files a crawl writes into <db>.crawl/pages/: numbered pages, and one being written.
_PAGE_FILE = re.compile(r"\d{7,}\.json(\.tmp)?")


class Staging:
    """The folder beside the database where a crawl keeps its pages and cursor."""

    def __init__(self, db_path: Path) -> None:
        real = Path(db_path).resolve()  # one folder for every spelling of the database's path
        self.root = store.beside(real, ".crawl")
        self.pages_dir = self.root / "pages"
        self.state_file = self.root / "state.json"
        spelled = store.beside(Path(db_path), ".crawl")
        if spelled.resolve() != self.root and spelled.is_dir() and not self.root.exists():
            # Left beside a symlink by an hfstats that did not resolve the path: resumed here.
            try:
                spelled.rename(self.root)
            except OSError as exc:  # another filesystem: the crawl starts over instead
                log.warning("left the saved crawl %s where it is (%s)", spelled, exc.strerror)

    def load(self) -> CrawlState | None:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise HfstatsError(
                f"the saved crawl state {self.state_file} is unreadable ({exc}); "
                f"delete {self.root} to start the crawl again"
            ) from None
        if data.get("format") not in READABLE_STATE_FORMATS:
            raise HfstatsError(
                f"{self.root} was left by another hfstats version; delete it to start the crawl again"
            )
        if data["format"] == 1:
            # Format 1 made one catch-up pass: a crawl resumed from it finishes the same way.
            listing = data.get("phase") == "listing"
            data["pass_pages"] = data.get("pages", 0) if listing else 1
            data["next_catchup_until"] = data.get("catchup_until") if listing else None
        if data["format"] < 4 and data.get("phase") == "catchup":
            # Up to format 3 the pass before's start was the clock's alone, which a listing
            # stamping commits late can fool: this pass settles nothing, the next one judges.
            data["previous_pass_started_at"] = None
            data["pass_resumed"] = True
        data["format"] = STATE_FORMAT
        return CrawlState(**data)

    def start(self, state: CrawlState) -> None:
        self.discard()
        self.pages_dir.mkdir(parents=True)
        self.save(state)

    def save(self, state: CrawlState) -> None:
        _atomic_write(self.state_file, json.dumps(asdict(state), indent=1).encode())

    def page_path(self, number: int) -> Path:
        return self.pages_dir / f"{number:07d}.json"

    def write_page(self, number: int, body: bytes) -> None:
        _atomic_write(self.page_path(number), body)

    def page_files(self, count: int) -> list[Path]:
        return [self.page_path(n) for n in range(1, count + 1)]

    def drop_pages_after(self, count: int) -> None:
        """Remove pages written after the last saved state (the page in flight at a kill)."""
        for path in self.pages_dir.glob("*.json"):
            if path.stem.isdigit() and int(path.stem) > count:
                path.unlink()
        for path in self.pages_dir.glob("*.tmp"):
            path.unlink()

    def discard(self) -> None:
        # The state first: a stop in the middle of removing thousands of pages leaves no saved
        # crawl (the next one starts over), not a state naming pages that are gone.
        self.state_file.unlink(missing_ok=True)
        if self.root.exists():
            shutil.rmtree(self.root)

    def require_own(self) -> None:
        """Refuse, before a crawl starts over, a folder at this name that holds anything a crawl
        does not write (a report written there, say): a UsageError, the folder left as it is."""
        advice = "move it away, or pass another --db path"
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise UsageError(f"{self.root} is not a folder a crawl wrote; {advice}")
        own = {self.pages_dir.name, self.state_file.name, self.state_file.name + ".tmp"}
        strays = [p for p in self.root.iterdir() if p.name not in own]
        if self.pages_dir.is_dir():
            strays += [p for p in self.pages_dir.iterdir() if not _PAGE_FILE.fullmatch(p.name)]
        elif self.pages_dir.exists():
            strays.append(self.pages_dir)
        if strays:
            raise UsageError(
                f"{self.root} holds {strays[0].name!r}, which a crawl does not write; {advice}"
            )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename: after a crash, old or new, never half."""
    tmp = store.beside(path, ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    store.rename_durably(tmp, path)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class PageTimes(NamedTuple):
    oldest: datetime | None
    newest: datetime | None
    newest_first: bool  # the page's times come sorted, newest first
    newest_past: datetime | None  # the newest not later than when the Hub served the page


def _page_times(page: Page) -> PageTimes:
    """The ``lastModified`` times of a page that matter to where a crawl stops."""
    times = [
        t
        for t in (_parse_time(m.get("lastModified")) for m in page.models if isinstance(m, dict))
        if t is not None
    ]
    if not times:
        return PageTimes(None, None, True, None)
    newest_first = all(a >= b for a, b in zip(times, times[1:], strict=False))
    # A lastModified later than the Hub's own clock is bad data, not a change made just now.
    # The Date header has whole seconds: a commit in the second it was served is kept. Without
    # one, the local clock stands in (a clock behind the Hub's only makes the passes read more).
    cutoff = (page.served_at or datetime.now(UTC)) + timedelta(seconds=1)
    past = [t for t in times if t < cutoff]
    return PageTimes(min(times), max(times), newest_first, max(past) if past else None)


ProgressCallback = Callable[[CrawlState, Page], None]


def refresh(
    db_path: str | Path,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    full: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_pages: int | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    timeout: float = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    client: HubClient | None = None,
    on_page: ProgressCallback | None = None,
    on_wait: Callable[[str, float], None] | None = None,
    allow_shrink: bool = False,
) -> RefreshResult:
    """Crawl the Hub's model listing into the database at ``db_path``.

    Asks ``endpoint`` (default ``$HF_ENDPOINT`` or huggingface.co) with ``token`` as
    huggingface_hub does: None is ``$HF_TOKEN`` or the cached login, False none; ``timeout``
    and ``max_retries`` are per request. A ``client`` made beforehand (a ``HubClient``) brings
    all four itself. ``on_page(state, page)`` is called after each page is saved,
    ``on_wait(reason, seconds)`` before each wait for the rate limit or a retry (it becomes the
    given client's ``on_wait``). Resumes an interrupted crawl if one is saved. With
    ``max_pages``, stops after that many pages in this run and leaves the crawl saved for the
    next one. A full crawl listing fewer than half the models of the previous snapshot is
    dropped with an error, unless ``allow_shrink``.
    """
    db_path = Path(db_path)
    if page_size < 1:
        raise UsageError("--page-size must be at least 1")
    if isinstance(timeout, bool) or not (
        isinstance(timeout, int | float) and 0 < timeout < float("inf")
    ):
        raise UsageError(f"the timeout must be a number of seconds above 0, not {timeout!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise UsageError(f"max_retries must be a whole number, 0 or more, not {max_retries!r}")
    store.merge_memory_limit()
    # A bad endpoint or a file hfstats must not write to is refused before the lock file is made.
    if client is None:
        client = HubClient(endpoint, token, timeout=timeout, max_retries=max_retries)
    elif (endpoint, token, timeout, max_retries) != (
        None,
        None,
        DEFAULT_TIMEOUT,
        DEFAULT_MAX_RETRIES,
    ):
        raise UsageError("endpoint, token, timeout and max_retries go to the client, not beside it")
    if on_wait is not None:
        client.on_wait = on_wait
    waits_before = (client.stats.rate_limit_waits, client.stats.rate_limit_wait_seconds)
    store.check_writable(db_path)
    store.require_names_beside(db_path)
    with locks.DatabaseLock(db_path):
        # The file itself, which the refresh creates if it is new (--db may be a symlink to it).
        new_database = db_path.resolve()
        if new_database.exists():
            new_database = None
        staging = Staging(db_path)
        state, resumed, notes = _start_or_resume(
            db_path, staging, client.endpoint, full, page_size, overlap
        )
        if allow_shrink and state.mode == "incremental":
            # Said before the crawl, which may take hours, not after it.
            _note(notes, ALLOW_SHRINK_IGNORED)
        if resumed and state.page_size != page_size:
            # Its cursors were handed out for that size.
            _note(
                notes,
                f"the resumed crawl keeps its page size of {state.page_size} "
                f"({page_size} asked for applies to the next crawl)",
            )
        try:
            try:
                complete = _crawl(client, staging, state, max_pages, overlap, on_page, resumed)
            except _SavedCursorRefused as refused:
                # The Hub does not promise how long a cursor stays good; without this a refused
                # cursor would fail every later refresh until the user deleted the folder. The
                # saved pages are dropped only once the listing's first page answers.
                # A listing started again is a new crawl, asked for at this run's --page-size; a
                # catch-up pass goes on at the saved crawl's. Either steps down if refused.
                in_catchup = state.phase == "catchup"
                probed = client.stats.requests
                try:
                    answered_size = _first_page_size(
                        client, state.page_size if in_catchup else page_size, page_size
                    )
                finally:
                    state.requests += client.stats.requests - probed
                    _save_quietly(staging, state)
                said = str(refused).removesuffix(PAGE_SIZE_HINT)  # it was taken
                refused_note = f"the Hub did not take the saved cursor ({said})"
                if in_catchup:
                    # The listing is complete: only the catch-up pass starts over.
                    if answered_size != state.page_size:
                        refused_note += (
                            f"; it refuses {state.page_size} models a page now, and the catch-up "
                            f"pass asks for {answered_size}"
                        )
                    state.page_size = answered_size
                    _restart_pass(state, models_url(state.endpoint, answered_size))
                    staging.save(state)
                    _note(notes, f"{refused_note}; the catch-up pass started again")
                else:
                    _record_progress(db_path, state)
                    staging.discard()
                    state, resumed, restart_notes = _start_or_resume(
                        db_path,
                        staging,
                        client.endpoint,
                        full or state.mode == "full",
                        answered_size,
                        overlap,
                    )
                    notes = [*restart_notes]
                    if allow_shrink and state.mode == "incremental":
                        notes.append(ALLOW_SHRINK_IGNORED)  # said already
                    _note(notes, f"{refused_note}; the crawl started again")
                if max_pages is not None:
                    _note(
                        notes,
                        "runs with --max-pages further apart than the Hub keeps its cursors "
                        "start over each time and never finish: run without --max-pages",
                    )
                complete = _crawl(client, staging, state, max_pages, overlap, on_page, False)
        except (HfstatsError, KeyboardInterrupt):
            if new_database is not None and state.pages == 0 and not client.stats.status_counts:
                # A first refresh to which nothing answered (a mistyped endpoint, say) leaves
                # no files; one the Hub answered keeps the requests it spent in its snapshot.
                staging.discard()
                for leftover in (new_database, store.beside(new_database, ".wal")):
                    leftover.unlink(missing_ok=True)
            else:
                _record_progress(db_path, state)
            raise
        if state.page_size < page_size and state.pages and not resumed:
            _note(
                notes,
                f"the Hub refused {page_size} models a page; pages of {state.page_size} were asked for",
            )
        result = RefreshResult(
            snapshot_id=state.snapshot_id,
            mode=state.mode,
            complete=complete,
            pages=state.pages,
            requests=state.requests,
            models_seen=state.models_seen,
            resumed=resumed,
            notes=notes,
        )
        if not complete:
            _record_progress(db_path, state)
            _count_requests(result, state, client, waits_before)
            return result
        if state.catchup_passes >= MAX_CATCHUP_PASSES and not _nothing_overtaken(
            state, resumed_counts=False
        ):
            if state.clock_skew_seconds:
                # Pass starts then go by the earlier clock, and a pass rarely shows it settled.
                why = (
                    f"the catch-up passes did not settle after {state.catchup_passes}: this "
                    f"machine's clock and the Hub's Date header differ by "
                    f"{state.clock_skew_seconds:.0f} s, which keeps a pass from showing that "
                    "nothing changed (set this machine's clock, e.g. with NTP)"
                )
            else:
                why = f"the listing was still changing after {state.catchup_passes} catch-up passes"
            _note(
                result.notes,
                f"{why}: a model modified during the crawl may be in this snapshot as it was "
                "before, or missing, until the next refresh",
            )
        # Before the checks that read the pages too: damage must not pass for a cut listing.
        store.check_saved_pages(staging.page_files(state.pages))
        missing: tuple[int, list[tuple[str, str]]] = (0, [])
        tail = None
        with store.write(db_path) as connection:
            if state.mode == "full" and not allow_shrink:
                _refuse_a_shrunken_listing(connection, staging, state)
                tail = _unlisted_tail(connection, staging, state)
            if state.mode == "full" and store.current_models(connection):
                missing = store.unlisted_models(
                    connection, staging.page_files(state.pages), max(MISSING_ASKED, state.pages)
                )
        # Asked with the database closed: readers need not wait out the Hub's rate limit.
        try:
            gone: set[str] = set()
            if tail is not None:
                answer, gone = _ask_about_tail(client, staging, state, tail)
                if answer == TAIL_GONE:
                    _note(
                        result.notes,
                        f"{tail.count:,} of the oldest models are not listed, and the Hub no "
                        f"longer serves the {len(gone)} asked about: they are recorded as "
                        "deleted (a listing cut short would have left out models it still has)",
                    )
                elif answer == TAIL_UNKNOWN and tail.seen_before:
                    _note(
                        result.notes,
                        f"{tail.count:,} of the oldest models, missing from the last full "
                        "crawl's listing too, are recorded as deleted (but for those the Hub "
                        "still has)",
                    )
                else:
                    with store.write(db_path) as connection:
                        _refuse_a_cut_listing(
                            connection, staging, state, tail, remember=answer == TAIL_UNKNOWN
                        )
            still_there = _still_on_the_hub(client, state, missing, result.notes, gone)
        finally:
            if staging.state_file.exists():  # not once a refusal began to drop the crawl
                _save_quietly(staging, state)  # the lookups' requests, also when stopped
        # Into a copy that replaces the database at the end: readers keep working meanwhile.
        with store.write_a_copy(db_path) as connection:
            # The merge of a million models takes most of a minute, in silence otherwise.
            log.info(
                "merging %d page(s), %d listing element(s), into snapshot %d",
                state.pages,
                state.models_seen,
                state.snapshot_id,
            )
            result.merge = store.merge_pages(
                connection,
                snapshot_id=state.snapshot_id,
                page_files=staging.page_files(state.pages),
                full=state.mode == "full",
                pages=state.pages,
                requests=state.requests,
                models_seen=state.models_seen,
                still_there=still_there,
                newest_possible=_newest_possible(state),
            )
            if state.mode == "full":
                # A tail refused before is either recorded now or was listed again.
                store.set_meta(connection, REFUSED_TAIL_KEY, None)
        staging.discard()
        if result.merge.memory_limits_tried > 1:
            _note(
                result.notes,
                f"the merge ran out of memory at smaller limits and needed "
                f"{result.merge.memory_limit} (large listing elements)",
            )
        if state.unsorted:
            _note(
                result.notes,
                "the listing did not come sorted by lastModified, newest first, so this "
                "incremental refresh read all of it instead of stopping at the last snapshot",
            )
        if state.altered:
            _note(
                result.notes,
                f"{state.altered} model(s) had characters that are not valid Unicode; "
                "they were stored with U+FFFD in their place",
            )
        _count_requests(result, state, client, waits_before)
        return result


def _count_requests(
    result: RefreshResult, state: CrawlState, client: HubClient, before: tuple[int, float]
) -> None:
    """This run's rate-limit waits, and the crawl's requests with any made after its pages (the
    lookups of missing models)."""
    result.requests = state.requests
    result.rate_limit_waits = client.stats.rate_limit_waits - before[0]
    result.rate_limit_wait_seconds = client.stats.rate_limit_wait_seconds - before[1]


def _note(notes: list[str], note: str) -> None:
    """Keep ``note`` for the result, and log it now: a note on how the crawl starts is news
    before the crawl, not after its merge."""
    log.info("%s", note)
    notes.append(note)


def _start_or_resume(
    db_path: Path, staging: Staging, endpoint: str, full: bool, page_size: int, overlap: timedelta
) -> tuple[CrawlState, bool, list[str]]:
    notes: list[str] = []
    saved = staging.load()
    if saved is None:
        staging.require_own()  # it is about to be emptied for a new crawl
    with store.write(db_path) as connection:
        if saved is not None:
            done = store.snapshot_is_complete(connection, saved.snapshot_id)
            if done is None or done:
                # Merged already (killed while cleaning up) or from a database since replaced.
                staging.discard()
                saved = None
            elif not _same_endpoint(saved.endpoint, endpoint) and not saved.pages:
                # Nothing was read (a mistyped endpoint, say): nothing to keep.
                _note(notes, f"discarded an unfinished crawl of {saved.endpoint} (no pages)")
                staging.discard()
                saved = None
            elif not _same_endpoint(saved.endpoint, endpoint):
                # Hours of crawling, lost to an HF_ENDPOINT that differs between cron and a
                # shell: the user chooses.
                raise UsageError(
                    f"an unfinished crawl of {saved.endpoint} is saved in {staging.root}: "
                    f"finish it with --endpoint {saved.endpoint}, or delete that folder to "
                    f"crawl {endpoint}"
                )
            elif full and saved.mode != "full":
                _note(notes, "discarded an unfinished incremental crawl to start a full one")
                staging.discard()
                saved = None
        if saved is not None:
            staging.drop_pages_after(saved.pages)
            _note(notes, f"resumed snapshot {saved.snapshot_id} after {saved.pages} saved page(s)")
            if not saved.pages and saved.page_size != page_size:
                # No page read, so no cursor was handed out for its size, which the Hub may
                # have refused (the error said to try a smaller --page-size): this run's applies.
                _note(
                    notes,
                    f"it had read no page, so it asks for {page_size} models a page, not "
                    f"{saved.page_size}",
                )
                saved.page_size = page_size
                saved.next_url = models_url(saved.endpoint, page_size)
            # Models committed while the crawl was stopped jumped above the pass's cursor: the
            # pass goes on, and a catch-up pass after it reads them.
            if saved.pass_pages and saved.phase != "merge":
                saved.pass_resumed = True
            elif saved.phase == "catchup":
                saved.pass_started_at = datetime.now(UTC).isoformat()  # it begins only now
            elif saved.phase == "merge" and saved.mode == "full" and _stale(saved):
                # Stopped before its merge: what changed since (a day, under cron) is read by
                # one more catch-up pass, or the snapshot would hold the Hub of before the stop.
                _begin_catchup_pass(saved, models_url(saved.endpoint, saved.page_size))
            staging.save(saved)
            return saved, True, notes

        latest = store.latest_complete(connection)
        # Another endpoint's history says nothing about what this one has changed since.
        incremental = (
            not full
            and latest is not None
            and latest["high_water_mark"] is not None
            and _same_endpoint(latest["endpoint"], endpoint)
        )
        if not full and latest is not None and not _same_endpoint(latest["endpoint"], endpoint):
            _note(notes, f"a full crawl: the latest snapshot is of {latest['endpoint']}")
        mode = "incremental" if incremental else "full"
        started_at = datetime.now(UTC)
        snapshot_id = store.begin_snapshot(
            connection,
            mode=mode,
            endpoint=endpoint,
            started_at=started_at,
            hfstats_version=__version__,
        )
    stop_before = None
    if incremental:
        # A model whose lastModified lies in the future (bad data) sorts first for ever; as the
        # high-water mark it would end every later refresh after one page. Nothing the previous
        # crawl read can be newer than when that crawl started.
        mark = min(latest["high_water_mark"], latest["started_at"])
        stop_before = (mark - overlap).isoformat()
    state = CrawlState(
        snapshot_id=snapshot_id,
        endpoint=endpoint,
        mode=mode,
        page_size=page_size,
        started_at=started_at.isoformat(),
        phase="listing",
        next_url=models_url(endpoint, page_size),
        stop_before=stop_before,
        listing_models=0,
    )
    staging.start(state)
    return state, False, notes


def _newest_possible(state: CrawlState) -> datetime:
    """The latest a commit the crawl read can have been made: the Hub's clock at its last page
    (the Date header has whole seconds), or this machine's if it is earlier or the Hub sent no
    Date. A clock running fast must not let a bogus future lastModified become the mark."""
    now = datetime.now(UTC)
    if state.hub_clock is None:
        return now
    return min(now, datetime.fromisoformat(state.hub_clock) + timedelta(seconds=1))


def _refuse_a_shrunken_listing(
    connection: duckdb.DuckDBPyConnection, staging: Staging, state: CrawlState
) -> None:
    latest = store.latest_complete(connection)
    # Also against another endpoint's snapshot: a partial mirror would mark the rest deleted.
    if latest is None or not latest["models"]:
        return
    # Not models_seen: catch-up passes read the top of the listing again.
    listed = state.models_seen if state.listing_models is None else state.listing_models
    if listed >= SHRINK_REFUSED_BELOW * latest["models"]:
        return
    # Dropped rather than kept: resuming would only reach this point again, while a new crawl
    # after the outage succeeds.
    _save_progress(connection, state)
    staging.discard()
    other = (
        f" (of {latest['endpoint']})"
        if not _same_endpoint(latest["endpoint"], state.endpoint)
        else ""
    )
    raise HubError(
        f"the Hub listed {listed:,} models where snapshot {latest['snapshot_id']}{other} "
        f"had {latest['models']:,}: not marking the others deleted, as an outage is likelier; "
        "this crawl was dropped: run `hfstats refresh --full` again later (with --allow-shrink "
        "it records a listing that really shrank)"
    )


def _still_on_the_hub(
    client: HubClient,
    state: CrawlState,
    missing: tuple[int, list[tuple[str, str]]],
    notes: list[str],
    known_gone: set[str],
) -> list[str]:
    """The object ids of the models missing from a full listing that the Hub still serves
    (asked one by one, up to the number in ``missing``'s list, but for those ``known_gone``),
    for the merge to keep."""
    count, rows = missing
    if not count:
        return []
    if count > len(rows):
        _note(
            notes,
            f"{count:,} models missing from the listing are recorded as deleted without asking "
            f"the Hub about each (more than the {len(rows):,} asked about at most)",
        )
        return []
    log.info("asking the Hub about %d model(s) missing from the listing", count)
    requests_before = client.stats.requests
    not_a_model_before = client.stats.lookups_not_a_model
    found = []
    try:
        for object_id, model_id in rows:
            # A model stored without a usable id cannot be asked about.
            if object_id in known_gone or not model_id:
                continue
            if _find_model(client, state, model_id) == object_id:
                found.append(object_id)
    except HubError as exc:
        # The listing is complete: a Hub that cannot be asked costs this check, not the crawl.
        _note(
            notes,
            f"the Hub could not be asked about the models missing from the listing "
            f"({first_line(str(exc))}); those not found yet are recorded as deleted",
        )
    finally:
        state.requests += client.stats.requests - requests_before
    not_a_model = client.stats.lookups_not_a_model - not_a_model_before
    if not_a_model:
        # Taken as gone, as a mirror serving only the listing answers: said, as it may also
        # be a page the Hub served for a moment instead of the model.
        _note(
            notes,
            f"the Hub answered {not_a_model:,} of these lookups with something that is not a "
            "model (an HTML page, say); those models are recorded as deleted",
        )
    if found:
        _note(
            notes,
            f"{len(found):,} model(s) missing from the listing are still on the Hub (a commit may "
            "have moved them into pages already read): kept as last read, not marked deleted",
        )
    return found


@dataclass
class _UnlistedTail:
    """Models of the last snapshot, last modified before the oldest model listed, that the
    listing does not show: how many, and the object ids and ids of up to REFUSED_TAIL_KEPT."""

    snapshot_id: int
    oldest: datetime  # the oldest lastModified listed
    count: int
    rows: list[tuple[str, str]]
    seen_before: bool  # the same tail made the last full crawl refused


def _unlisted_tail(
    connection: duckdb.DuckDBPyConnection, staging: Staging, state: CrawlState
) -> _UnlistedTail | None:
    """The tail a listing cut short leaves out (``CUT_TAIL_TOLERATED``), if it left one."""
    latest = store.latest_complete(connection)
    if (
        latest is None
        or not _same_endpoint(latest["endpoint"], state.endpoint)
        or state.listing_oldest is None
    ):
        return None
    oldest = datetime.fromisoformat(state.listing_oldest)
    # Counted cheaply first; only a suspicious count is checked against the listed ids, as
    # models committed to since the last snapshot left their old place at the tail.
    snapshot_id = latest["snapshot_id"]
    if store.models_modified_before(connection, snapshot_id, oldest) <= CUT_TAIL_TOLERATED:
        return None
    count, rows = store.unlisted_models(
        connection,
        staging.page_files(state.pages),
        REFUSED_TAIL_KEPT,
        snapshot_id=snapshot_id,
        before=oldest,
    )
    if count <= CUT_TAIL_TOLERATED:
        return None
    earlier = _earlier_refused_tail(connection, state.endpoint)
    # Cleared by the merge, not here: a crawl stopped before its merge must meet the same tail
    # again when resumed, or it would be refused and its pages dropped.
    seen_before = bool(
        earlier
        and count <= REFUSED_TAIL_KEPT
        and earlier <= {object_id for object_id, _ in rows}
        and count - len(earlier) <= CUT_TAIL_TOLERATED
    )
    return _UnlistedTail(snapshot_id, oldest, count, rows, seen_before)


# What asking the Hub about an unlisted tail found.
TAIL_GONE, TAIL_LISTED, TAIL_UNKNOWN = "gone", "still there", "unknown"


def _ask_about_tail(
    client: HubClient, staging: Staging, state: CrawlState, tail: _UnlistedTail
) -> tuple[str, set[str]]:
    """Ask the Hub about TAIL_ASKED of the tail's models: half the most recently modified (those
    a listing cut short would have shown next), half spread over the rest; and first about the
    oldest model listed, next to them (a Hub or mirror that cannot answer for a model, or only
    for recent ones, confirms nothing). TAIL_GONE with the object ids asked when it serves none
    of them, TAIL_LISTED when it serves one, TAIL_UNKNOWN when its answers say nothing."""
    control = _oldest_listed_model(staging, state)
    half = TAIL_ASKED // 2
    newest, rest = tail.rows[:half], tail.rows[half:]
    spread = [rest[i * len(rest) // half] for i in range(half)] if rest else []
    ask = [row for row in dict.fromkeys(newest + spread) if row[1]]
    if control is None or not ask:
        return TAIL_UNKNOWN, set()
    log.info("asking the Hub about %d of the %d oldest models not listed", len(ask), tail.count)
    requests_before = client.stats.requests
    try:
        if _find_model(client, state, control[1]) != control[0]:
            return TAIL_UNKNOWN, set()
        for object_id, model_id in ask:
            if _find_model(client, state, model_id) == object_id:
                return TAIL_LISTED, set()
    except HubError as exc:
        log.info("the Hub could not be asked about the models not listed: %s", exc)
        return TAIL_UNKNOWN, set()
    finally:
        state.requests += client.stats.requests - requests_before
    return TAIL_GONE, {object_id for object_id, _ in ask}


def _find_model(client: HubClient, state: CrawlState, model_id: str) -> str | None:
    """``client.find_model``, asked once per crawl (its answer is saved with the state)."""
    if model_id not in state.lookups:
        state.lookups[model_id] = client.find_model(model_id)
    return state.lookups[model_id]


def _oldest_listed_model(staging: Staging, state: CrawlState) -> tuple[str, str] | None:
    """The object id and id of a model listed with the listing's oldest ``lastModified`` (on
    its last page, which catch-up pages may follow)."""
    for number in range(state.pages, 0, -1):
        try:
            elements = json.loads(staging.page_path(number).read_bytes())
        except (OSError, ValueError):
            return None
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, dict):
                continue
            object_id, model_id = element.get("_id"), element.get("id")
            if not isinstance(model_id, str):  # as the merge stores it
                model_id = element.get("modelId")
            listed_at = _parse_time(element.get("lastModified"))
            if (
                isinstance(object_id, str)
                and isinstance(model_id, str)
                and object_id
                and model_id
                and listed_at is not None
                and listed_at.isoformat() == state.listing_oldest
            ):
                return object_id, model_id
    return None


def _refuse_a_cut_listing(
    connection: duckdb.DuckDBPyConnection,
    staging: Staging,
    state: CrawlState,
    tail: _UnlistedTail,
    remember: bool,
) -> NoReturn:
    """Drop a full crawl whose listing seems cut short; with ``remember`` (the Hub could not
    say whether it still has the tail), keep the tail to compare with the next full crawl's."""
    # The pages go first: a crawl stopped after its tail was remembered would otherwise be
    # resumed, and meet its own tail as the one seen before.
    staging.discard()
    ids = [object_id for object_id, _ in tail.rows]
    keep = remember and tail.count <= REFUSED_TAIL_KEPT
    kept = {"endpoint": state.endpoint, "ids": ids} if keep else None
    store.set_meta(connection, REFUSED_TAIL_KEY, json.dumps(kept) if kept else None)
    _save_progress(connection, state)
    if not remember:
        why = "the Hub still serves models of it"
        again = "run `hfstats refresh --full` again later"
    else:
        why = "a glitch at a page taken for the last one"
        again = (
            "if the same models are missing at the next `hfstats refresh --full`, they are "
            "recorded as deleted; `hfstats refresh --full --allow-shrink` records them now"
            if kept
            else "`hfstats refresh --full --allow-shrink` records such a listing"
        )
    raise HubError(
        f"the Hub's listing ended at models last modified {_instant(tail.oldest)}, but "
        f"{tail.count:,} models of snapshot {tail.snapshot_id} last modified before that are not "
        f"listed: the listing was likely cut short ({why}), so they are not marked deleted and "
        f"this crawl was dropped; {again}"
    )


def _same_endpoint(stored: object, endpoint: str) -> bool:
    """Whether an endpoint saved with a crawl, snapshot or refusal is ``endpoint`` (one saved by
    an hfstats that kept the spelling of its host may differ in case)."""
    return isinstance(stored, str) and normalized_endpoint(stored) == endpoint


def _earlier_refused_tail(connection: duckdb.DuckDBPyConnection, endpoint: str) -> set[str]:
    try:
        kept = json.loads(store.get_meta(connection, REFUSED_TAIL_KEY) or "null")
    except ValueError:
        return set()
    if not isinstance(kept, dict) or not _same_endpoint(kept.get("endpoint"), endpoint):
        return set()
    return {i for i in kept.get("ids") or [] if isinstance(i, str)}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _crawl(
    client: HubClient,
    staging: Staging,
    state: CrawlState,
    max_pages: int | None,
    overlap: timedelta,
    on_page: ProgressCallback | None,
    resumed: bool,
) -> bool:
    """Fetch pages until the listing is done (True) or ``max_pages`` is reached (False)."""
    fetched = 0
    first_url = models_url(state.endpoint, state.page_size)
    asked_in_pass: set[str] = set()
    while state.phase != "merge":
        if state.next_url is None:
            _finish_phase(state, first_url)
            staging.save(state)
            continue
        if max_pages is not None and fetched >= max_pages:
            return False
        if state.pass_pages == 0:
            asked_in_pass.clear()
        if state.next_url in asked_in_pass:
            # A keyset cursor never comes back within a pass: followed, the links would lead
            # round the same pages for ever, staging each again.
            raise HubError(
                f"the Hub's next link after page {state.pass_pages} of this pass leads back to a "
                "page already read: its pagination loops; run `hfstats refresh` again later"
            )
        asked_in_pass.add(state.next_url)
        requests_before = client.stats.requests
        try:
            page = client.get_page(state.next_url, _stops_on_page(state))
        except BaseException as exc:
            # Every request sent counts, also those of a page given up on, across resumes.
            state.requests += client.stats.requests - requests_before
            # A 5xx is not taken for a stale cursor: it may be a page the Hub cannot serve for
            # now, and starting over would throw away the saved pages on every run.
            refused = isinstance(exc, HubRefusedError | HubNotFoundError)
            if refused and resumed and fetched == 0 and state.next_url != first_url:
                raise _SavedCursorRefused(str(exc)) from None
            smaller = _smaller_page_size(state.page_size)
            if isinstance(exc, PageSizeRefusedError) and state.pass_pages == 0 and smaller:
                # The largest page size is not documented: a Hub may refuse the one asked for
                # rather than send fewer. At the top of a pass, ask for less.
                log.info(
                    "the Hub refused %d models a page; asking for %d", state.page_size, smaller
                )
                state.page_size = smaller
                state.next_url = first_url = models_url(state.endpoint, smaller)
                asked_in_pass.clear()
                staging.save(state)
                continue
            _save_quietly(staging, state)
            raise
        state.requests += client.stats.requests - requests_before
        try:
            fetched += 1
            body, altered = page.body_for_storage()
            number = state.pages + 1
            staging.write_page(number, body)

            oldest, newest, newest_first, newest_past = _page_times(page)
            if page.served_at is not None:
                state.hub_clock = page.served_at.isoformat()
            if state.pass_pages == 0 and page.served_at is not None:
                # A pass's start must not be later than its first page: a model changed after it
                # may have jumped over the pass, and it is compared with the Hub's lastModified
                # times. The local clock, read before the request, is finer than the Date header's
                # whole seconds; when they disagree by more than that, one of them is off, and the
                # earlier is the safe one (a start too late would settle catch-up passes too soon).
                local_start = datetime.fromisoformat(state.pass_started_at or state.started_at)
                skew = abs(page.served_at - local_start)
                if skew > CLOCK_TOLERANCE:
                    state.pass_started_at = min(page.served_at, local_start).isoformat()
                    state.clock_skew_seconds = max(state.clock_skew_seconds, skew.total_seconds())
            if state.phase == "listing" and state.listing_models is not None:
                state.listing_models += len(page.models)
            if state.phase == "listing" and oldest is not None:
                # Of the last page, not the whole listing: one element elsewhere with a time older
                # than where the listing stopped (bad data) must not hide a cut.
                state.listing_oldest = oldest.isoformat()
            in_order = _in_order(state, newest, newest_first)
            if oldest is not None:
                state.last_oldest = oldest.isoformat()
            if not in_order and state.stop_before is not None:
                # Stopping early relies on the listing being sorted by lastModified, newest first;
                # a Hub that ignores sort= would make an incremental refresh miss changes quietly.
                state.stop_before = None
                state.unsorted = True
            if state.mode == "full" and state.pass_pages == 0 and newest:
                # Models changed from now on sort above this page: the next pass reads down to it.
                # (An incremental refresh makes no catch-up pass: what it misses, the next one reads.)
                # Capped at the pass's start for the same reason as the incremental high-water mark.
                began = datetime.fromisoformat(state.pass_started_at or state.started_at)
                anchor = min(newest_past, began) if newest_past else began
                state.next_catchup_until = (anchor - overlap).isoformat()
                state.pass_first_newest = (newest_past or newest).isoformat()
                state.pass_first_oldest = oldest.isoformat() if oldest else None
            state.pass_pages += 1
            state.pages = number
            state.models_seen += len(page.models)
            state.altered += altered
            state.next_url = page.next_url
            stop = _stop_point(state)
            if stop is not None and oldest is not None and oldest < stop:
                state.next_url = None  # reached what the previous pass already holds
            if state.phase == "catchup" and state.pass_pages == 1 and _first_page_covers(state):
                state.next_url = None  # the pass before read the rest, and nothing jumped over it
            staging.save(state)
        except BaseException:
            _save_requests(staging, state)
            raise
        if on_page is not None:
            on_page(state, page)
    return True


def _in_order(state: CrawlState, newest: datetime | None, newest_first: bool) -> bool:
    """A page sorted newest first, holding nothing newer than the page before it."""
    previous_oldest = state.last_oldest and datetime.fromisoformat(state.last_oldest)
    return newest_first and not (previous_oldest and newest and newest > previous_oldest)


def _stop_point(state: CrawlState) -> datetime | None:
    """The time below which this pass has read enough: what the snapshot before holds (an
    incremental refresh) or what the pass before read (a catch-up pass); None for a listing
    that must be read to its end."""
    if state.phase == "listing" and state.mode != "incremental":
        return None
    limit = state.stop_before if state.phase == "listing" else state.catchup_until
    return datetime.fromisoformat(limit) if limit is not None else None


def _stops_on_page(state: CrawlState) -> Callable[[Page], bool] | None:
    """Whether the crawl stops after a page, whatever its next link: a page that reaches below
    the stop point (and, in an incremental listing, comes in order, or the stop is cancelled)."""
    stop = _stop_point(state)
    if stop is None:
        return None

    def stops_here(page: Page) -> bool:
        oldest, newest, newest_first, _ = _page_times(page)
        if oldest is None or oldest >= stop:
            return False
        return state.phase != "listing" or _in_order(state, newest, newest_first)

    return stops_here


# Page sizes to fall back on, largest first, when the Hub refuses the one asked for: 1000 is
# the likeliest limit (the notes), 500 what huggingface.js asks for.
FALLBACK_PAGE_SIZES = (1000, 500, 100)


def _smaller_page_size(page_size: int) -> int | None:
    return next((size for size in FALLBACK_PAGE_SIZES if size < page_size), None)


def _first_page_size(client: HubClient, first_size: int, asked_size: int) -> int:
    """The page size at which the Hub answers the listing's first page: ``first_size``, or,
    when the Hub refuses it, the next smaller one it takes (down to ``asked_size``, this run's
    --page-size, if smaller still). Without this, a saved crawl of a size the Hub stopped
    taking would fail every refresh, whatever --page-size says."""
    sizes = [first_size]
    while (smaller := _smaller_page_size(sizes[-1])) is not None:
        sizes.append(smaller)
    if asked_size < sizes[-1]:
        sizes.append(asked_size)
    for size in sizes[:-1]:
        try:
            client.get_page(models_url(client.endpoint, size))
            return size
        except PageSizeRefusedError:
            log.info("the Hub refused %d models a page; asking for fewer", size)
    client.get_page(models_url(client.endpoint, sizes[-1]))
    return sizes[-1]


def _save_requests(staging: Staging, state: CrawlState) -> None:
    """Stopped while taking in a page (dropped when the crawl resumes): the saved state keeps
    its pages, but counts the requests that fetched this one, which were sent all the same."""
    try:
        saved = staging.load()
    except HfstatsError:
        return
    if saved is not None:
        saved.requests = state.requests
        _save_quietly(staging, saved)


def _save_quietly(staging: Staging, state: CrawlState) -> None:
    """Save the state on the way out of an error, which a failing save must not hide."""
    try:
        staging.save(state)
    except OSError as exc:
        log.debug("could not save the crawl state: %s", exc)


class _SavedCursorRefused(Exception):
    """The first request of a resumed crawl, from its saved cursor, was refused."""


def _finish_phase(state: CrawlState, first_url: str) -> None:
    if state.next_catchup_until is not None and not _catchup_settled(state):
        _begin_catchup_pass(state, first_url)
    else:
        state.phase = "merge"


def _stale(state: CrawlState) -> bool:
    began = datetime.fromisoformat(state.pass_started_at or state.started_at)
    return state.next_catchup_until is not None and datetime.now(UTC) - began > RESUME_CATCHUP_AFTER


def _begin_catchup_pass(state: CrawlState, first_url: str) -> None:
    """A catch-up pass down to where the last pass's first page was."""
    state.phase = "catchup"
    state.catchup_passes += 1
    state.catchup_until, state.next_catchup_until = state.next_catchup_until, None
    # Judged against lastModified times: a model committed after the pass before read its
    # first page is stamped later than every time on that page, but not always later than
    # the clock (a listing that shows commits late, a Hub whose clocks disagree).
    began = datetime.fromisoformat(state.pass_started_at or state.started_at)
    if state.pass_first_newest is not None:
        began = min(began, datetime.fromisoformat(state.pass_first_newest))
    state.previous_pass_started_at = began.isoformat()
    state.lookups = {}  # what this pass reads may change which models are missing, and why
    _restart_pass(state, first_url)


def _restart_pass(state: CrawlState, first_url: str) -> None:
    state.pass_pages = 0
    state.pass_resumed = False
    # Set by the pass's first page, if its times can be read: never judged by the pass before's.
    state.pass_first_newest = state.pass_first_oldest = None
    state.pass_started_at = datetime.now(UTC).isoformat()
    state.last_oldest = None
    state.next_url = first_url


def _catchup_settled(state: CrawlState) -> bool:
    """Nothing can have jumped over the last pass, or passes are used up."""
    return _nothing_overtaken(state) or state.catchup_passes >= MAX_CATCHUP_PASSES


def _nothing_overtaken(state: CrawlState, resumed_counts: bool = True) -> bool:
    """A pass of one page is one response, which nothing can overtake. A catch-up pass whose
    first page holds nothing newer than the start of the pass before it shows that nothing
    changed since then, so nothing can have jumped over that pass either.

    A pass resumed after a stop shows nothing for the stop (its first page came before), so it
    settles nothing; with ``resumed_counts`` false, only what its pages show is judged (what
    changed during the stop happened while that pass ran, which a snapshot may miss anyway)."""
    if state.pass_resumed and resumed_counts:
        return False
    if state.pass_pages <= 1:
        return True
    # The last pass is a catch-up pass once one has begun (the phase is "merge" once it ended).
    if not state.catchup_passes or state.pass_first_newest is None:
        return False
    previous = datetime.fromisoformat(state.previous_pass_started_at or state.started_at)
    return datetime.fromisoformat(state.pass_first_newest) <= previous


def _first_page_covers(state: CrawlState) -> bool:
    """The catch-up pass's first page reaches below the start of the pass before it.

    A model that jumped over that pass was committed after it started, so it sorts on this
    page, read in one response; any model committed after this page was read by a pass before
    (a model missed by all of them must have jumped the pass before too). Under a steady stream
    of commits, a first page holding more than the pass before's worth of them is what ends the
    passes. ``SETTLE_MARGIN`` allows for a listing that lags its commits, and for clocks.
    Asked only as a pass's first page arrives, so never of a pass resumed after a stop.
    """
    if not state.pass_first_oldest or not state.previous_pass_started_at:
        return False
    previous = datetime.fromisoformat(state.previous_pass_started_at)
    return datetime.fromisoformat(state.pass_first_oldest) < previous - SETTLE_MARGIN


def _record_progress(db_path: Path, state: CrawlState) -> None:
    """Note how far an unfinished crawl got in its snapshot row (best effort)."""
    try:
        with store.write(db_path, lock_wait=5.0) as connection:
            _save_progress(connection, state)
    except HfstatsError as exc:
        log.debug("could not record crawl progress: %s", exc)


def _save_progress(connection: duckdb.DuckDBPyConnection, state: CrawlState) -> None:
    store.update_snapshot_progress(
        connection,
        state.snapshot_id,
        pages=state.pages,
        requests=state.requests,
        models_seen=state.models_seen,
    )
