"""The exceptions hfstats raises for problems a user can act on.

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``; no traceback.
"""

import errno
import os
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUSY = 75  # EX_TEMPFAIL from sysexits.h: cron should simply try again later
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class HfstatsError(Exception):
    """A problem with a one-line explanation for the user."""

    exit_code = EXIT_ERROR


class UsageError(HfstatsError):
    """Bad input from the user: an unknown name, a bad date, a malformed file."""

    exit_code = EXIT_USAGE


class BusyError(HfstatsError):
    """Another hfstats run or another program holds the database, or another report or export
    writes the same output folder; try again later."""

    exit_code = EXIT_BUSY


class DatabaseError(HfstatsError):
    """The database file is missing, damaged, or from an unknown version."""


class DatabaseAccessError(DatabaseError):
    """The database file may not be opened (its or its folder's permissions): a path to fix,
    bad input as a read-only folder is."""

    exit_code = EXIT_USAGE


class HubError(HfstatsError):
    """The Hub answered in a way hfstats cannot use (after any retries)."""


class HubAuthError(HubError):
    """The Hub refused the token (401/403)."""


class HubRefusedError(HubError):
    """The Hub refused the request itself (a 4xx other than 401, 403, 404 and 429), as it does
    for a cursor it no longer accepts."""


class PageSizeRefusedError(HubRefusedError):
    """The Hub refused (400/422) a request that asked for a page size, which may be why: the
    largest size is not documented."""


class HubNotFoundError(HubError):
    """The endpoint has no model listing (404): probably a wrong --endpoint."""


class HubUnavailableError(HubError):
    """Retries were exhausted on errors that are usually transient."""


def first_line(message: str) -> str:
    """The first line of a (DuckDB) error message, for a one-line error."""
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


def require_utf8_path(path: str | os.PathLike[str], advice: str) -> None:
    """Refuse a path whose bytes are not UTF-8 (they reach Python as surrogate escapes): DuckDB
    fails on one with 'std::bad_cast', after a lock file may have been made beside it."""
    try:
        os.fsdecode(path).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{os.fsdecode(path)!a:.200} is not valid UTF-8; {advice}") from None


# What to do about a full disk, said wherever one is met.
FREE_SPACE = "free some space and run it again"


def require_folder(folder: Path) -> None:
    """A ``UsageError`` unless ``folder`` is a folder (a path's parent, which hfstats does not
    create)."""
    if folder.is_dir():
        return
    if folder.exists():
        raise UsageError(f"{folder} is not a folder")
    raise UsageError(f"folder {folder} does not exist")


def damaged_database(exc: BaseException) -> DatabaseError | None:
    """The error to report for DuckDB finding a damaged block, or None for any other error.
    Damage inside the file shows only when a statement reads the damaged block."""
    # DuckDB's own message begins so; a user's SQL may quote the words anywhere else.
    if not str(exc).startswith("Corrupt database file"):
        return None
    return DatabaseError(
        f"the database file is damaged ({first_line(str(exc))}): restore it from a backup, "
        "or crawl again into a new --db"
    )


def disk_full(exc: BaseException) -> bool:
    """No space (or quota) left: nothing the user typed is wrong, and trying again later may
    work. DuckDB's own writes say so only in their message."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(text in str(exc) for text in ("No space left on device", "Disk quota exceeded"))
