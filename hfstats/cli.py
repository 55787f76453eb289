"""The `hfstats` command: parses options, calls the library, prints; and what a command line
needs around that (signals, logging, a terminal that cannot show every character).

Exit codes: 0 ok, 1 error, 2 usage (bad input), 75 busy (another refresh or program holds the
database, or another report or export writes the same folder: try again later), 130 interrupted
(Ctrl-C), 143 stopped by SIGTERM, 129 by SIGHUP.
"""

from __future__ import annotations

import codecs
import errno
import io
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from . import __version__
from .errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    FREE_SPACE,
    HfstatsError,
    UsageError,
    damaged_database,
    disk_full,
    first_line,
    require_utf8_path,
)
from .output import FORMATS, escape_control, render, render_chunks

Decorated = TypeVar("Decorated", bound=Callable[..., Any])

DEFAULT_DB = "hfstats.duckdb"
# Seconds a Ctrl-C has to end the command the usual way before the process ends regardless.
INTERRUPT_GRACE_SECONDS = 3.0


class FilePath(click.Path):
    """A file path (--db, --log-file, --claims): not empty, which would name the current folder,
    and valid UTF-8."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from_env = (
            ctx is not None
            and param is not None
            and param.default is default_db  # --db of the commands that read $HFSTATS_DB
            and ctx.get_parameter_source(param.name) is ParameterSource.DEFAULT
            and bool(os.environ.get("HFSTATS_DB"))
        )
        where = " (from $HFSTATS_DB)" if from_env else ""
        if isinstance(value, str) and not value.strip():
            self.fail(f"an empty path names no file{where}", param, ctx)
        _check_utf8(value, param, ctx)
        try:
            path = super().convert(value, param, ctx)
        except click.BadParameter as exc:
            self.fail(f"{exc.message}{where}", param, ctx)
        if param is not None and param.name == "db_path" and ctx is not None:
            _require_log_apart(ctx, path, param)
        return path


def _require_log_apart(ctx: click.Context, db_path: Path, param: click.Parameter) -> None:
    """Refuse a --log-file that is the database or a file hfstats keeps beside it: its lines
    would be appended into the database (or make a new one a text file)."""
    from . import store

    log_file = (ctx.find_root().obj or {}).get("log_file")
    if log_file is None:
        return
    log_path = log_file.resolve()
    if any(p == log_path or p in log_path.parents for p in store.beside_database(db_path)):
        # Closed first: the error itself would be logged into that file.
        _setup_logging(False, None, bool(ctx.find_root().obj.get("debug")))
        if ctx.find_root().obj.get("log_file_made"):  # opened, so made, but nothing written
            log_path.unlink(missing_ok=True)
        raise click.BadParameter(
            f"--log-file {log_file} is the database or a file hfstats keeps beside it; "
            "log to another file",
            ctx=ctx,
            param=param,
        )


class Seconds(click.FloatRange):
    """A FloatRange that refuses nan, which compares false with both of its bounds (and inf and
    nan fail deep inside the first request otherwise)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return number


def _check_utf8(value: str | os.PathLike[str], param, ctx) -> None:
    try:
        require_utf8_path(value, "rename it")
    except UsageError:
        raise click.BadParameter("the path is not valid UTF-8; rename it", ctx, param) from None


def default_db() -> str:
    return os.environ.get("HFSTATS_DB") or DEFAULT_DB


db_option = click.option(
    "--db",
    "db_path",
    type=FilePath(),
    default=default_db,
    show_default="$HFSTATS_DB or ./hfstats.duckdb",
    help="The hfstats DuckDB database file.",
)


method_option = click.option(
    "--method",
    type=click.Choice(["tags", "files"]),
    default="tags",
    show_default=True,
    help="Framework classification: the Hub's tags, or weight files and library_name.",
)
as_of_option = click.option(
    "--as-of",
    help="Only models created by then: YYYY-MM-DD (end of that day, UTC) or an ISO timestamp. "
    "It picks no snapshot: models are as the snapshot read (--snapshot) has them.",
)


quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No output but warnings and errors (for cron)."
)


class SnapshotRef(click.ParamType):
    """A snapshot's id, or a date or timestamp: the latest complete snapshot finished by then."""

    name = "ID|DATE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | datetime:
        if isinstance(value, int | datetime):
            return value
        text = str(value).strip()
        if re.fullmatch(r"[+-]?[0-9]+", text):
            number = int(text)
            if number < 1:
                self.fail(f"{value!r} is no snapshot id: ids start at 1", param, ctx)
            return number
        from .queries import parse_as_of

        try:
            return parse_as_of(text)
        except UsageError as problem:
            self.fail(f"{problem}; or give a snapshot id (see `hfstats snapshots`)", param, ctx)


def snapshot_option(what: str = "Snapshot to read") -> Callable[[Decorated], Decorated]:
    return click.option(
        "--snapshot",
        "snapshot_id",
        type=SnapshotRef(),
        help=f"{what}: its id (see `hfstats snapshots`), or a date (YYYY-MM-DD: by the end of "
        "that day, UTC) or ISO timestamp for the latest complete snapshot finished by then.  "
        "[default: the latest complete one]",
    )


def _say_snapshot_picked(connection: Any, snapshot: int | datetime | None) -> int | None:
    """The id of the snapshot a date picks, said on stderr (the rows alone do not say which
    snapshot they are of); an id or None as given."""
    from . import store

    if not isinstance(snapshot, datetime):
        return snapshot
    snapshot_id = store.resolve_snapshot(connection, snapshot)
    facts = store.snapshot_facts(connection, snapshot_id)
    finished = facts.finished_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"hfstats: reading snapshot {snapshot_id} (finished {finished})", err=True)
    return snapshot_id


def format_option(
    choices: tuple[str, ...] = FORMATS,
    default: str = "table",
    help: str = "Output format. json: an array of row objects, NULL as null.",
) -> Callable[[Decorated], Decorated]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help,
    )


def echo_data(text: str) -> None:
    """Print command output exactly: click.echo would strip ANSI escapes from data when piped."""
    click.echo(text, color=True)


class _LogFile(logging.FileHandler):
    """A --log-file whose write failures (a full disk) are said once, in one line: logging
    would print a traceback for every record."""

    _said = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._said:
            self._said = True
            problem = sys.exc_info()[1]
            reason = getattr(problem, "strerror", None) or problem
            sys.stderr.write(
                f"hfstats: warning: cannot write the log file {self.baseFilename}: {reason}\n"
            )


class _EscapingFormatter(logging.Formatter):
    """Messages quote what servers and model elements say: their control characters (a
    terminal's escape sequences, a right-to-left override, a line break that would start a
    forged log line) are shown escaped, never sent to the terminal or the log. A --debug
    traceback, added after the message, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)


def _setup_logging(quiet: bool, log_file: Path | None, debug: bool) -> None:
    root = logging.getLogger("hfstats")
    for handler in root.handlers:
        handler.close()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_EscapingFormatter("%(message)s"))
    # Quiet for cron: warnings (elements skipped, a merge that needed more memory) still mail.
    console.setLevel(logging.WARNING if quiet else logging.DEBUG if debug else logging.INFO)
    root.addHandler(console)
    if log_file is not None:
        try:
            handler = _LogFile(log_file, encoding="utf-8")
        except OSError as exc:
            # Said before the command runs, like any other path that cannot be used.
            raise UsageError(f"cannot write the log file {log_file}: {exc.strerror}") from None
        handler.setFormatter(_EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


class HfstatsGroup(click.Group):
    """Turns HfstatsError into one line and an exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            # A signal's KeyboardInterrupt can come out as another error: DuckDB turns one
            # raised while it imports a module for a result into "failed to import", which the
            # merge would take for a damaged page. The stop is what happened.
            if _stop_requested or _is_duckdb_interrupt(exc):
                _interrupted(ctx)
            _fail_on(ctx, exc)


def _fail_on(ctx: click.Context, exc: Exception) -> None:
    """Exit with one line saying what ``exc`` means (``HfstatsError`` says it itself)."""
    if isinstance(exc, HfstatsError):
        _fail(str(exc), exc.exit_code)
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`hfstats sql ... | head`): it has what it wanted. Python
        # would complain once more when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    if ctx.obj and ctx.obj.get("debug"):
        raise exc
    if isinstance(exc, OSError):  # a path the user gave that can't be written or read
        where = f" ({exc.filename})" if exc.filename else ""
        if disk_full(exc):
            _fail(f"{exc.strerror or exc}{where}: {FREE_SPACE}", EXIT_ERROR)
        # A folder that is missing, read-only or not a folder is bad input, as for --out.
        bad_path = exc.errno in _BAD_PATH_ERRNOS
        _fail(
            f"{exc.strerror or exc}{where}: check the paths you passed",
            EXIT_USAGE if bad_path else EXIT_ERROR,
        )
    if disk_full(exc):  # DuckDB's own writes (WAL, export)
        _fail(f"{first_line(str(exc))}: {FREE_SPACE}", EXIT_ERROR)
    damaged = damaged_database(exc)
    if damaged is not None:
        _fail(str(damaged), damaged.exit_code)
    # Of a message of several lines (DuckDB's), the first: the hint must stay on it; an
    # unexpected bug is still one line unless --debug.
    _fail(
        f"unexpected error: {type(exc).__name__}: {first_line(str(exc))} "
        "(rerun with --debug for details)",
        EXIT_ERROR,
    )


_BAD_PATH_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENAMETOOLONG,
}


def _is_duckdb_interrupt(exc: Exception) -> bool:
    # Ctrl-C while DuckDB runs a query: it cancels the query and raises this instead of
    # KeyboardInterrupt.
    return isinstance(exc, RuntimeError) and str(exc) == "Query interrupted"


def _interrupted(ctx: click.Context) -> None:
    what, code = _stop_reason()
    if ctx.invoked_subcommand == "refresh":
        _fail(f"{what}; the next refresh resumes where this one stopped", code)
    _fail(what, code)


# The signal that stopped the command, if not Ctrl-C: SIGTERM (systemd's stop, timeout(1)),
# SIGHUP (a closed terminal).
_stopped_by: int | None = None
# Whether Ctrl-C, SIGTERM or SIGHUP arrived.
_stop_requested = False


def _stop_reason() -> tuple[str, int]:
    """How to name the stop, and its exit code (128 + the signal's number, as shells do)."""
    if _stopped_by is None:
        return "interrupted", EXIT_INTERRUPTED
    return f"stopped by {signal.Signals(_stopped_by).name}", 128 + _stopped_by


# An error repeats what the user typed; a pasted file or a runaway argument stays readable.
ERROR_LINE_LIMIT = 500


def _fail(message: str, code: int) -> None:
    line = escape_control(message.splitlines()[0]) if message else "failed"
    if len(line) > ERROR_LINE_LIMIT:
        line = line[: ERROR_LINE_LIMIT - 1] + "…"
    # Into the --log-file only: the console gets the one line below.
    logger = logging.getLogger("hfstats")
    record = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 0, "exit %d: %s", (code, line), None
    )
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
    click.echo(f"hfstats: error: {line}", err=True)
    sys.exit(code)


@click.group(cls=HfstatsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hfstats")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option(
    "--log-file",
    type=FilePath(),
    help="Also append log lines (with times) to this file.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_file: Path | None) -> None:
    """Re-measurable analytics on the Hugging Face Hub's model metadata.

    Crawl the Hub's model listing into a DuckDB file (refresh), query it (query, sql),
    re-measure published claims (check) and render charts for docs (report).

    Exit codes: 0 ok, 1 error, 2 bad input, 75 busy (the database or output folder is in use by
    another run; try later),
    130 interrupted (Ctrl-C), 143 stopped by SIGTERM, 129 by SIGHUP.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["log_file"] = log_file
    ctx.obj["log_file_made"] = log_file is not None and not log_file.exists()
    # Every command logs (and --log-file records its failures); the commands with --quiet narrow it.
    _setup_logging(False, log_file, debug)


def _logging_from(ctx: click.Context, quiet: bool) -> None:
    _setup_logging(quiet, ctx.obj.get("log_file"), ctx.obj.get("debug", False))


timeout_option = click.option(
    "--timeout",
    type=Seconds(0.1, 86_400),
    default=60.0,
    show_default=True,
    help="Seconds to wait for each answer of the Hub before retrying; past it, a page still "
    "arriving slower than 1 KB/s is cut off and retried.",
)
max_retries_option = click.option(
    "--max-retries",
    type=click.IntRange(0),
    default=8,
    show_default=True,
    help="Retries per page on 429, 5xx, timeouts and broken bodies.",
)


@cli.command()
@db_option
@click.option("--endpoint", help="Hub endpoint.  [default: $HF_ENDPOINT or https://huggingface.co]")
@click.option(
    "--full", is_flag=True, help="Crawl everything and mark models no longer listed as deleted."
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Models asked for per page (the Hub may send fewer; if it refuses the size, the "
    "smaller of 1000, 500 and 100 are asked for in turn).",
)
@click.option(
    "--max-pages", type=click.IntRange(1), help="Stop after N pages; the next refresh resumes."
)
@timeout_option
@max_retries_option
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="With --full: record a crawl that lists fewer than half the models of the last "
    "snapshot, or ends above its oldest models (refused by default: usually an outage or a "
    "glitch, not deletions).",
)
@quiet_option
@click.pass_context
def refresh(
    ctx: click.Context,
    db_path: Path,
    endpoint: str | None,
    full: bool,
    page_size: int,
    max_pages: int | None,
    timeout: float,
    max_retries: int,
    allow_shrink: bool,
    quiet: bool,
) -> None:
    """Crawl the Hub's model metadata into the database as a new snapshot.

    Incremental once a complete snapshot exists (only models modified since); --full re-reads
    everything and records deletions. An interrupted refresh resumes from its saved cursor.
    The token comes from huggingface_hub ($HF_TOKEN or `hf auth login`).
    """
    from . import crawl
    from .progress import CrawlProgress

    _logging_from(ctx, quiet)
    progress = CrawlProgress(quiet=quiet)
    try:
        result = crawl.refresh(
            db_path,
            endpoint=endpoint,
            full=full,
            page_size=page_size,
            max_pages=max_pages,
            timeout=timeout,
            max_retries=max_retries,
            on_page=progress.on_page,
            on_wait=progress.on_wait,
            allow_shrink=allow_shrink,
        )
    finally:
        progress.close()
    log = logging.getLogger("hfstats")  # the crawl logged its notes as it made them
    if not result.complete:
        log.info(
            "paused with %d page(s) saved (snapshot %d, %s); run `hfstats refresh` again to "
            "continue",
            result.pages,
            result.snapshot_id,
            result.mode,
        )
        return
    m = result.merge
    log.info(
        "snapshot %d (%s) complete: %d models; %d added, %d changed (%d renamed), %d deleted; "
        "%d pages, %d requests",
        m.snapshot_id,
        result.mode,
        m.models,
        m.added,
        m.changed,
        m.renamed,
        m.deleted,
        result.pages,
        result.requests,
    )
    if result.rate_limit_waits:
        log.info(
            "waited %.0f s for the Hub's rate limit (%d time(s))",
            result.rate_limit_wait_seconds,
            result.rate_limit_waits,
        )
    if m.rejected:
        # Counted per read, like models_seen: a catch-up pass may read an element again.
        log.warning(
            "%d listing element(s) read had no usable _id and were skipped (each read counts)",
            m.rejected,
        )


@cli.group(invoke_without_command=True)
@db_option
@format_option(("table", "csv", "json", "markdown"))
@click.pass_context
def snapshots(ctx: click.Context, db_path: Path, fmt: str) -> None:
    """List snapshots: id, times, mode, complete, models, added, changed, renamed, deleted,
    pages, requests; --format json adds models_seen, rejected, high_water_mark and endpoint."""
    if ctx.invoked_subcommand is not None:
        return
    from . import store

    with store.read(db_path) as connection:
        rows = store.list_snapshots(connection)
    columns = [
        "snapshot_id",
        "started_at",
        "finished_at",
        "mode",
        "complete",
        "models",
        "added",
        "changed",
        "renamed",
        "deleted",
        "pages",
        "requests",
    ]
    if fmt == "json":
        columns = list(rows[0].keys()) if rows else columns
    echo_data(render([[r[c] for c in columns] for r in rows], columns, fmt))


@snapshots.command("prune")
@click.option(
    "--db",
    "db_path",
    type=FilePath(),
    help="The hfstats DuckDB database file.  [default: the one given to `snapshots`]",
)
@click.option(
    "--keep", type=click.IntRange(1, 2**31 - 1), required=True, help="Complete snapshots to keep."
)
@quiet_option
@click.pass_context
def snapshots_prune(ctx: click.Context, db_path: Path | None, keep: int, quiet: bool) -> None:
    """Drop all but the KEEP latest complete snapshots; the rest keep their exact history.

    Incomplete snapshots go too, unless one is the latest snapshot of all: a paused refresh,
    which the next refresh resumes.
    """
    from . import store

    _logging_from(ctx, quiet)
    dropped = store.prune_database(db_path or ctx.parent.params["db_path"], keep)
    if quiet:
        return
    click.echo(
        f"dropped {dropped.snapshots_dropped} snapshot(s), {dropped.versions_dropped} "
        f"model version(s), {dropped.counters_dropped} counter interval(s)"
    )


@cli.command("upgrade")
@db_option
@quiet_option
@click.pass_context
def upgrade_command(ctx: click.Context, db_path: Path, quiet: bool) -> None:
    """Upgrade a database written by an earlier hfstats to this version's schema, in place.

    Readers refuse an older schema; a refresh upgrades it too. Nothing is lost.
    """
    from . import store

    _logging_from(ctx, quiet)
    before = store.upgrade(db_path)
    if quiet:
        return
    if before == store.SCHEMA_VERSION:
        click.echo(f"{db_path} already has schema version {before}")
    else:
        click.echo(f"upgraded {db_path} from schema version {before} to {store.SCHEMA_VERSION}")


@cli.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet"]),
    default="parquet",
    show_default=True,
    help="File format of the export.",
)
@quiet_option
@click.pass_context
def export_command(ctx: click.Context, out_dir: Path, db_path: Path, fmt: str, quiet: bool) -> None:
    """Write snapshots and model history to DIR as Parquet, Hive-partitioned by snapshot date.

    Readable as is by DuckDB, Spark, Trino or BigQuery. DIR is replaced as a whole, once the
    new export is complete, and only if an earlier export wrote it (with no file put in since)
    or it is empty.
    """
    from .export import export

    _logging_from(ctx, quiet)
    counts = export(db_path, out_dir, fmt)
    if quiet:
        return
    click.echo(
        f"wrote {out_dir}: {counts['snapshots']} snapshot(s), {counts['model_versions']} model "
        f"version(s), {counts['model_counters']} counter interval(s)"
    )


def _query_params(items: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise UsageError(f"--param {item!r} is not KEY=VALUE")
        params[key.strip()] = value
    return params


@cli.command("query")
@click.argument("name", required=False)
@db_option
@click.option(
    "--param",
    "param_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter from the query's header; repeatable. Wins over the options below.",
)
@method_option
@as_of_option
@snapshot_option("Snapshot to read")
@click.option(
    "--list", "list_queries", is_flag=True, help="List the queries and what they compute."
)
@format_option()
def query(
    name: str | None,
    db_path: Path,
    param_items: tuple[str, ...],
    method: str,
    as_of: str | None,
    snapshot_id: int | datetime | None,
    list_queries: bool,
    fmt: str,
) -> None:
    """Run the query NAME (see --list) and print its rows.

    Every query is a file queries/NAME.sql whose header states its parameters and columns;
    docs/queries.md explains them and the classification rules.
    """
    from . import queries, store

    if list_queries:
        if name is not None:
            raise UsageError(f"--list lists every query; run `hfstats query {name}` without it")
        specs = queries.list_queries()
        echo_data(render([(s.name, s.description) for s in specs], ["name", "description"], fmt))
        return
    if name is None:
        raise UsageError("name a query to run, or see them with `hfstats query --list`")
    params = _query_params(param_items)
    # Bad input is reported before the database is opened, so a typo never waits on a lock.
    queries.load_query(name)
    if as_of is not None:
        as_of = queries.parse_as_of(as_of)
    with store.read(db_path) as connection:
        snapshot_id = _say_snapshot_picked(connection, snapshot_id)
        result = queries.run_query(
            connection, name, params, snapshot_id=snapshot_id, as_of=as_of, method=method
        )
    echo_data(render(result.rows, result.columns, fmt))


class _SqlCommand(click.Command):
    """SQL may begin with a comment ("-- the query ..."), which click would take for an option,
    so unknown options are let through as SQL; a single word that looks like a long option
    (--fromat) is a mistyped one all the same."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = [p for p in self.get_params(ctx) if isinstance(p, click.Option)]  # with --help
        known = {name for option in options for name in option.opts + option.secondary_opts}
        takes_value = {name for o in options if not o.is_flag and not o.count for name in o.opts}
        words = iter(args)
        for arg in words:
            if arg == "--":  # the rest are arguments
                break
            name = arg.split("=", 1)[0]
            if arg in takes_value:
                next(words, None)  # its value, whatever it looks like
            elif name.startswith("--") and not any(c.isspace() for c in arg) and name not in known:
                raise click.NoSuchOption(name, possibilities=sorted(known), ctx=ctx)
        return super().parse_args(ctx, args)


@cli.command("sql", cls=_SqlCommand, context_settings={"ignore_unknown_options": True})
@click.argument("sql_text", metavar="SQL")
@db_option
@snapshot_option("Snapshot that `models` is")
@format_option()
def sql_command(sql_text: str, db_path: Path, snapshot_id: int | datetime | None, fmt: str) -> None:
    """Run ad-hoc SQL on the database (read-only) and print the rows.

    `models` is the latest complete snapshot (or --snapshot's) and `models_at(ID)` any complete
    one; the macros
    framework_class(tags, files, library_name, method), created_year(created_at) and
    deployment_formats(tags, files, library_name) are available (see docs/queries.md).
    """
    from . import queries, store

    with store.read(db_path) as connection:
        if snapshot_id is None and store.latest_complete(connection) is None:
            # Not an error: the snapshots table is worth a look then. But a script counting
            # `models` would read 0 and carry on.
            logging.getLogger("hfstats").warning(
                "warning: %s has no complete snapshot yet, so `models` has no rows", db_path
            )
        snapshot_id = _say_snapshot_picked(connection, snapshot_id)
        columns, batches = queries.stream_sql(connection, sql_text, snapshot_id=snapshot_id)
        for chunk in render_chunks(batches, columns, fmt):
            click.echo(chunk, nl=False, color=True)
        echo_data("")


@cli.command("check")
@click.argument("claim_ids", nargs=-1, metavar="[CLAIM_ID]...")
@click.option(
    "--claims",
    "claims_file",
    type=FilePath(),
    help="A YAML file of more claims, same schema as the packaged ones (docs/claims.md).",
)
@db_option
@snapshot_option("Snapshot to measure on")
@format_option(
    ("table", "json", "markdown"),
    help="Output format. table and markdown: the summary, then each claim's caveats; json: one "
    "object per claim with every reading and number.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when a measured claim does not hold (indeterminate is not a failure).",
)
def check(
    claim_ids: tuple[str, ...],
    claims_file: Path | None,
    db_path: Path,
    snapshot_id: int | datetime | None,
    fmt: str,
    strict: bool,
) -> None:
    """Re-measure published claims: expected, measured, verdict and the reading it rests on.

    Share claims are measured under every denominator and both methods; the verdict names its
    reading and says when it flips. json gives one object per claim with every number.
    """
    from . import claims, store

    loaded = claims.load_claims(claims_file)
    with store.read(db_path) as connection:
        results = claims.check_claims(
            connection, loaded, snapshot_id=snapshot_id, ids=claim_ids or None
        )
    echo_data(claims.render_results(results, fmt))
    failed = claims.failed_measured(results)
    if strict and failed:
        raise HfstatsError(
            f"{len(failed)} measured claim(s) do not hold: {', '.join(r.id for r in failed)}"
        )


@cli.command("report")
@db_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/latest"),
    show_default=True,
    help="Folder to write; replaced whole once the new report is complete (refused if it holds "
    "files an earlier report did not write).",
)
@click.option(
    "--format",
    "formats",
    default="html,md,svg,png,json",
    show_default=True,
    metavar="LIST",
    help="Comma-separated outputs: html (index.html), md (report.md), svg, png, json (vl.json).",
)
@as_of_option
@method_option
@snapshot_option("Snapshot to report on")
@quiet_option
@click.pass_context
def report_command(
    ctx: click.Context,
    db_path: Path,
    out_dir: Path,
    formats: str,
    as_of: str | None,
    method: str,
    snapshot_id: int | datetime | None,
    quiet: bool,
) -> None:
    """Write charts and tables for docs: index.html (offline), report.md, charts/NAME.*

    One chart per question, titled with its answer, named by its query (charts/exclusivity.svg
    is `hfstats query exclusivity`). See docs/report.md.
    """
    from . import report

    _logging_from(ctx, quiet)
    written = report.write_report(
        db_path,
        out_dir,
        formats=report.parse_formats(formats),
        snapshot_id=snapshot_id,
        as_of=as_of,
        method=method,
    )
    if not quiet:
        click.echo(f"report written to {written}")


@cli.command("record")
@click.argument("out", metavar="OUT.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--endpoint", help="Hub endpoint.  [default: $HF_ENDPOINT or https://huggingface.co]")
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Models asked for per page.",
)
@click.option(
    "--max-pages",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Pages per pass over the listing; the recording ends the listing there.",
)
@click.option(
    "--db",
    "db_path",
    type=FilePath(),
    help="Crawl into this database instead of a throwaway one: a second `record` with the "
    "same --db records an incremental crawl.",
)
@timeout_option
@max_retries_option
def record_command(
    out: Path,
    endpoint: str | None,
    page_size: int,
    max_pages: int,
    db_path: Path | None,
    timeout: float,
    max_retries: int,
) -> None:
    """Re-record a fixture: crawl the live Hub with the real crawler, saving every response.

    Writes a `responses` recording (replayed by the tests and `hfstats demo`) with the token,
    Authorization and cookies scrubbed; an existing OUT.yaml is replaced only if it is a
    recording or empty. Needs network. See fixtures/README.md.
    """
    from . import recording

    result = recording.record(
        out,
        endpoint=endpoint,
        page_size=page_size,
        max_pages=max_pages,
        db_path=db_path,
        timeout=timeout,
        max_retries=max_retries,
    )
    # A recording of a listing cut short is no picture of the whole Hub: say so.
    cut = (
        f"; the listing was cut after {max_pages} page(s) (--max-pages)"
        if result.truncated_pages
        else ""
    )
    # Catch-up passes read the top of the listing again: elements read are not models.
    merge = result.refresh.merge
    models = f"{merge.models} models, " if merge is not None else ""
    click.echo(
        f"recorded {result.responses} response(s) of a crawl ({result.refresh.mode}, "
        f"{models}{result.refresh.models_seen} listing elements read) to {result.path}; "
        f"token and cookies scrubbed{cut}"
    )


@cli.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("hfstats-demo-report"),
    show_default=True,
    help="Folder for the report.",
)
@click.option(
    "--db",
    "db_path",
    type=FilePath(),
    default=Path("hfstats-demo.duckdb"),
    show_default=True,
    help="Demo database, replaced on each run (only if an earlier demo made it and no refresh "
    "has added to it since).",
)
def demo_command(out_dir: Path, db_path: Path) -> None:
    """Crawl the bundled recorded sample of the Hub through the real crawler, then write the
    report (as `hfstats report`) into --out; no network.

    Then query it like a real crawl: `hfstats query --db hfstats-demo.duckdb ...`.
    """
    from . import demo

    result = demo.run_demo(db_path, out_dir)
    made = f" of {result.recorded_at:%Y-%m-%d %H:%M} UTC" if result.recorded_at else ""
    click.echo(
        f"demo database: {result.db_path} ({result.crawl.merge.models} models, "
        f"snapshot {result.crawl.snapshot_id}, replayed from the bundled recording{made})"
    )
    click.echo(f"report: {result.report_dir / 'index.html'} (and report.md, charts/)")


def _on_ctrl_c(signum: int, frame: object) -> None:
    # DuckDB checks for Ctrl-C while it runs a statement and sometimes takes the
    # KeyboardInterrupt for its own and carries on (a short statement it just finished, before
    # a long one): one Ctrl-C must still be enough. Ending the process here is no worse than
    # the kill -9 the crawl and the merge are built to survive.
    global _stop_requested
    _stop_requested = True
    watchdog = threading.Timer(INTERRUPT_GRACE_SECONDS, _exit_interrupted)
    watchdog.daemon = True
    watchdog.start()
    raise KeyboardInterrupt


def _on_stop(signum: int, frame: object) -> None:
    """SIGTERM or SIGHUP: stop as Ctrl-C does, saving the crawl's progress and saying so."""
    global _stopped_by
    _stopped_by = signum
    _on_ctrl_c(signum, frame)


def _exit_interrupted() -> None:
    what, code = _stop_reason()
    sys.stderr.write(f"hfstats: error: {what}\n")
    sys.stderr.flush()
    os._exit(code)


_JSON_ESCAPE = "hfstats-json-escape"


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """Characters an encoding lacks as JSON's escapes (\\u2713; a surrogate pair beyond the BMP):
    JSON output stays valid and exact, which Python's \\U0001f917 would not."""
    if not isinstance(error, UnicodeEncodeError):  # registered for writing only
        raise error
    escaped = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


def main() -> None:
    """Console-script entry point: click's errors become one line (usage errors exit 2)."""
    # Only where Ctrl-C would interrupt anyway: a job started in the background by a script
    # inherits SIGINT ignored, and must stay so.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_ctrl_c)
    for stop in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(stop) is signal.SIG_DFL:
            signal.signal(stop, _on_stop)
    # A terminal whose encoding cannot show a name (a Chinese tag on a Latin-1 terminal) gets it
    # escaped, not an 'unexpected error' halfway through the rows.
    codecs.register_error(_JSON_ESCAPE, _json_escape)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors=_JSON_ESCAPE)
    try:
        cli(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _fail(f"{exc.format_message()}{hint}", EXIT_USAGE)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        # Ctrl-C or a stop signal while click parsed the command line, before the command ran
        # (click has ended the terminal's ^C line).
        what, code = _stop_reason()
        _fail(what, code)


if __name__ == "__main__":
    main()
