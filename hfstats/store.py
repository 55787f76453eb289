"""The DuckDB database: schema, migrations, merging crawled pages, snapshots and history.

Layout (schema version 3):

- ``snapshots``: one row per refresh, complete or not.
- ``model_versions``: slow-changing metadata, one row per version of a model, valid for the
  snapshots ``valid_from <= s < valid_to`` (``valid_to`` NULL: still current). A new version is
  written only when a column hfstats reads changed (``content_hash``, taken over them; schema
  3), not the counters nor keys it does not type, so history grows with change, not with the
  size of the Hub. Each version also stores what the framework rules derive from its files
  (``file_frameworks``, ``formats``; schema 2).
- ``model_counters``: downloads, likes and trending score, kept apart with their own validity
  intervals because they change far more often than the metadata.
- ``models_at(snapshot_id)``: a table macro giving the state of the Hub as of a complete
  snapshot (no rows for any other id).
- ``models``: the view of the latest complete snapshot, for users' own SQL.

Only complete snapshots ever get versions, so an interrupted refresh is invisible to readers.
DuckDB lets one process write a file at a time; a refresh therefore crawls into a staging
folder (see ``crawl.py``) and merges into a copy of the database that replaces it when done
(``write_a_copy``), so readers keep the file meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb

from . import frameworks, locks
from .errors import (
    BusyError,
    DatabaseAccessError,
    DatabaseError,
    HfstatsError,
    UsageError,
    first_line,
    require_folder,
    require_utf8_path,
)

log = logging.getLogger("hfstats.store")
T = TypeVar("T")

SCHEMA_VERSION = 3
# How long a reader waits for a writer (a refresh's short writes around its merge, a prune) to
# release the file.
DEFAULT_LOCK_WAIT = 60.0
# The merge runs inside the refresh process: bounded so that its memory stays flat however
# many models there are (DuckDB spills to <db>.tmp/ beyond it). One thread, because each
# thread needs its own buffers within the limit; HFSTATS_MEMORY_LIMIT overrides. 128 MB keeps a
# 3M-model refresh under 300 MB of peak RSS and measured no slower than 150 MB.
MERGE_MEMORY_LIMIT = "128MB"
MERGE_THREADS = 1
# Inserting the new versions (classifying, compressing) of a first crawl fits two threads in
# the same limit (three measured too, eight ran out; a re-crawl keeps one, see _merge): a
# 1M-model merge 40-46 s -> 34-36 s, a whole 1M refresh 56-64 s -> 53 s, for 10 MB more RSS.
# A fixed count, not one per core, so that the memory needed does not grow with the machine.
INSERT_THREADS = 2
# Typing the pages is computing, not writing, and takes half the time on two threads (1M
# models: 22-24 s against 44 s), but two threads need about twice the memory: at 128-192 MB
# they ran out, at 256 MB they fit pages of 1,000 models (benchmarks/RESULTS.md, fourteenth
# session). So two only at a limit with room for twice that, such as a raised
# HFSTATS_MEMORY_LIMIT: the default keeps one thread, and the memory target.
TYPING_THREADS = 2
TYPING_THREADS_MIN_BYTES = 512 * 10**6

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    **{"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12},
    **{"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40},
}
# Below the default the merge ran out of memory on a 3,000-model listing (64-110 MB all did).
MIN_MERGE_MEMORY_BYTES = 128 * 10**6


# DuckDB's JSON functions parse a whole chunk of elements (up to 2,048 rows, a page) at a
# time, several times over: typing a page needs about 50 bytes of memory per byte of the page
# (measured: a 1.6 MB page 127 MB, a 3.1 MB page 207 MB, an 11 MB page 533 MB). Pages of
# repositories with many files are that large, so without HFSTATS_MEMORY_LIMIT the limit
# starts from the largest page and, if that is not enough, doubles up to a ceiling.
MERGE_MEMORY_PER_PAGE_BYTE = 64
MERGE_MEMORY_BASE = 64 * 10**6
MERGE_MEMORY_CEILING = 4 * 10**9
# Only typing parses the pages' JSON. The steps after it (joins over every model, the insert that
# classifies, compresses and writes) fit less, and DuckDB holds on to whatever it is allowed:
# 3/4 of the limit took some 30 MiB off the peak RSS of a 3M-model merge, first crawl (the
# insert 267 -> 233 MiB) and re-crawl (its highest step 260 -> 230 MiB); 1/2 ran out of memory.
AFTER_TYPING_MEMORY_SHARE = 0.75


def _size_bytes(value: str) -> float:
    match = _SIZE_RE.match(value)
    assert match, value
    return float(match[1]) * _SIZE_UNITS[match[2].lower()]


def merge_memory_limit() -> str:
    """The merge's DuckDB memory limit: HFSTATS_MEMORY_LIMIT if set, checked, else the default.

    Checked when a refresh starts, so that a typo does not surface only after hours of crawl.
    """
    value = os.environ.get("HFSTATS_MEMORY_LIMIT") or MERGE_MEMORY_LIMIT
    match = _SIZE_RE.match(value)
    if not match:
        raise UsageError(
            f"HFSTATS_MEMORY_LIMIT={value!r} is not a size; write it as e.g. 500MB or 2GB"
        )
    if _size_bytes(value) < MIN_MERGE_MEMORY_BYTES:
        raise UsageError(
            f"HFSTATS_MEMORY_LIMIT={value!r} is too small; the merge needs 128MB or more"
        )
    limit = match[1] + match[2]
    try:  # DuckDB's own bound (about 16 EB), rather than a copy of it
        with duckdb.connect() as probe:
            probe.execute("SET memory_limit = ?", [limit])
    except duckdb.Error as exc:
        raise UsageError(
            f"HFSTATS_MEMORY_LIMIT={value!r} is refused by DuckDB ({first_line(str(exc))})"
        ) from None
    return limit


def after_typing_memory_limit(limit: str) -> str:
    """The memory limit of the merge's steps after typing the pages, for a merge at ``limit``."""
    return f"{_size_bytes(limit) * AFTER_TYPING_MEMORY_SHARE / 10**6:.0f}MB"


def _memory_needed_for_typing(page_files: list[Path]) -> int:
    """What one thread needs to type the largest of ``page_files``, by the measure above."""
    largest = max((path.stat().st_size for path in page_files), default=0)
    return MERGE_MEMORY_BASE + MERGE_MEMORY_PER_PAGE_BYTE * largest


def typing_threads(limit: str, page_files: list[Path]) -> int:
    """How many DuckDB threads type ``page_files`` at the memory limit ``limit``."""
    # Twice what the threads need by the one-thread measure, which is only an estimate.
    needed = 2 * TYPING_THREADS * _memory_needed_for_typing(page_files)
    room = max(TYPING_THREADS_MIN_BYTES, needed)
    return TYPING_THREADS if _size_bytes(limit) >= room else MERGE_THREADS


def merge_memory_limits(page_files: list[Path]) -> list[str]:
    """The memory limits to try the merge with, in order: the one HFSTATS_MEMORY_LIMIT sets, or
    the default raised for the largest page, then doubled up to ``MERGE_MEMORY_CEILING``."""
    if os.environ.get("HFSTATS_MEMORY_LIMIT"):
        return [merge_memory_limit()]
    needed = _memory_needed_for_typing(page_files)
    # Never more than half the machine: past that the system would kill the refresh instead
    # of DuckDB saying it ran out.
    default = _size_bytes(MERGE_MEMORY_LIMIT)
    ceiling = max(default, min(MERGE_MEMORY_CEILING, _memory() / 2))
    limits = [max(default, min(needed, ceiling))]
    while limits[-1] < ceiling:
        step = min(limits[-1] * 2, ceiling)
        if step < 1.5 * limits[-1]:  # a last step this small would only run the merge again
            limits[-1] = step
        else:
            limits.append(step)
    return [f"{-(-limit // 10**6):.0f}MB" for limit in limits]


# Where a container's memory limit is (cgroup v2, then v1): a machine's memory says nothing of it.
_CGROUP_MEMORY_FILES = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)


def _memory() -> float:
    """Bytes of memory the process may use: the machine's, or its container's limit if lower;
    infinity where neither says."""
    known = []
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if physical > 0:  # -1 means the system does not know
            known.append(float(physical))
    except (ValueError, OSError, AttributeError):
        pass
    for name in _CGROUP_MEMORY_FILES:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) > 0:  # "max": no limit
            known.append(float(text))
    return min(known, default=float("inf"))


# Keys of a listing element that change without a commit: kept in model_counters, day by day,
# and removed from the stored raw element, which holds what its version first read.
COUNTER_KEYS = ("downloads", "likes", "trendingScore", "downloadsAllTime")

_SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS hfstats_meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS snapshots (
        snapshot_id INTEGER PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        mode VARCHAR NOT NULL,           -- 'full' or 'incremental'
        complete BOOLEAN NOT NULL DEFAULT false,
        pages INTEGER,
        requests INTEGER,
        models_seen BIGINT,              -- listing elements read, duplicates included
        models BIGINT,                   -- models existing as of this snapshot
        added BIGINT,
        changed BIGINT,
        renamed BIGINT,
        deleted BIGINT,
        rejected BIGINT,                 -- elements read without a usable _id, skipped
        high_water_mark TIMESTAMPTZ,     -- newest lastModified known, not past the Hub's clock
        endpoint VARCHAR,
        hfstats_version VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS model_versions (
        object_id VARCHAR NOT NULL,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER,
        content_hash UBIGINT NOT NULL,
        id VARCHAR,
        model_id VARCHAR,
        author VARCHAR,
        sha VARCHAR,
        created_at TIMESTAMPTZ,
        last_modified TIMESTAMPTZ,
        private BOOLEAN,
        disabled BOOLEAN,
        gated VARCHAR,
        pipeline_tag VARCHAR,
        library_name VARCHAR,
        tags VARCHAR[],
        files VARCHAR[],
        raw JSON USING COMPRESSION zstd  -- raw elements are ~60% of the file; zstd shrinks them 2.5x
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS model_counters (
        object_id VARCHAR NOT NULL,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER,
        downloads BIGINT,
        likes BIGINT,
        trending_score DOUBLE,
        downloads_all_time BIGINT
    )
    """,
]

# Views and macros are re-created by every writer so that a newer hfstats can improve them
# without a schema migration.
_VIEWS = [
    """
    CREATE OR REPLACE MACRO models_at(as_of_snapshot) AS TABLE
    SELECT
        v.object_id, v.id, v.model_id, v.author, v.created_at, v.last_modified,
        c.downloads, c.likes, c.trending_score, c.downloads_all_time,
        v.library_name, v.pipeline_tag, v.tags, v.files, v.private, v.gated, v.disabled,
        v.sha, v.raw, v.file_frameworks, v.formats, v.valid_from AS version_snapshot_id
    FROM model_versions AS v
    LEFT JOIN model_counters AS c
        ON c.object_id = v.object_id
        AND c.valid_from <= as_of_snapshot
        AND (c.valid_to IS NULL OR c.valid_to > as_of_snapshot)
    WHERE v.valid_from <= as_of_snapshot
        AND (v.valid_to IS NULL OR v.valid_to > as_of_snapshot)
        -- Any other id (a typo, a crawl still running) would give the latest state instead.
        AND as_of_snapshot IN (SELECT snapshot_id FROM snapshots WHERE complete)
    """,
    """
    CREATE OR REPLACE VIEW latest_snapshot AS
    SELECT * FROM snapshots WHERE complete ORDER BY snapshot_id DESC LIMIT 1
    """,
    """
    CREATE OR REPLACE VIEW models AS
    SELECT * FROM models_at((SELECT max(snapshot_id) FROM snapshots WHERE complete))
    """,
]
# The framework-classification macros, persisted too so that they work in a plain DuckDB shell
# (hfstats' own queries create them as TEMP macros, which also serves older databases).
_VIEWS += frameworks.macro_statements(temporary=False, stored_rules_current=True)

# The listing keys hfstats types, extracted in one pass: DuckDB's JSON type is text, and each
# `j->'key'` would parse the whole element again (ten times slower at a million models).
_KEYS = [
    "_id",
    "id",
    "modelId",
    "author",
    "sha",
    "createdAt",
    "lastModified",
    "private",
    "disabled",
    "gated",
    "pipeline_tag",
    "library_name",
    "tags",
    "siblings",
    "downloads",
    "likes",
    "trendingScore",
    "downloadsAllTime",
]
_EXTRACT_KEYS = "json_extract(j, [" + ", ".join(f"'$.\"{k}\"'" for k in _KEYS) + "])"


def _key(name: str) -> str:
    return f"f[{_KEYS.index(name) + 1}]"


def _typed(name: str, json_types: str, expression: str) -> str:
    """``expression`` (over ``{v}``, the key's JSON value) when the value has one of ``json_types``."""
    value = _key(name)
    return f"CASE WHEN json_type({value}) IN ({json_types}) THEN {expression.replace('{v}', value)} END"


# An ISO-8601 time, or NULL: DuckDB's cast also takes 'epoch' and 'infinity', and years past
# 9999 that Python, Spark and Arrow cannot read back. Spark 3 refuses a whole Parquet file not
# written by Spark if one time in it is before 1900 (its calendar rebase check); the Hub has no
# model that old, so such a time is as good as unknown (the raw element keeps it).
READABLE_TIME = (
    "BETWEEN TIMESTAMPTZ '1900-01-01 00:00:00+00' AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"
)
_TIME = (
    "CASE WHEN ({v}->>'$')[1] BETWEEN '0' AND '9' "
    f"AND TRY_CAST({{v}}->>'$' AS TIMESTAMPTZ) {READABLE_TIME} "
    "THEN TRY_CAST({v}->>'$' AS TIMESTAMPTZ) END"
)

# The patch that takes the counters out of a raw element.
_WITHOUT_COUNTERS = json.dumps(dict.fromkeys(COUNTER_KEYS))

# Typed columns derived from one raw listing element ``j`` (with ``f`` its extracted keys).
# Every extraction checks the JSON type first, so a value of the wrong type becomes NULL
# instead of failing the whole merge. `id` falls back to `modelId`, its older duplicate.
_TYPED_COLUMNS = f"""
    {_typed("_id", "'VARCHAR'", "nullif({v}->>'$', '')")} AS object_id,
    coalesce(
        {_typed("id", "'VARCHAR'", "{v}->>'$'")}, {_typed("modelId", "'VARCHAR'", "{v}->>'$'")}
    ) AS id,
    {_typed("modelId", "'VARCHAR'", "{v}->>'$'")} AS model_id,
    {_typed("author", "'VARCHAR'", "{v}->>'$'")} AS author,
    {_typed("sha", "'VARCHAR'", "{v}->>'$'")} AS sha,
    {_typed("createdAt", "'VARCHAR'", _TIME)} AS created_at,
    {_typed("lastModified", "'VARCHAR'", _TIME)} AS last_modified,
    {_typed("private", "'BOOLEAN'", "({v}->>'$')::BOOLEAN")} AS private,
    {_typed("disabled", "'BOOLEAN'", "({v}->>'$')::BOOLEAN")} AS disabled,
    {_typed("gated", "'VARCHAR', 'BOOLEAN'", "{v}->>'$'")} AS gated,
    {_typed("pipeline_tag", "'VARCHAR'", "{v}->>'$'")} AS pipeline_tag,
    {_typed("library_name", "'VARCHAR'", "{v}->>'$'")} AS library_name,
    {_typed("tags", "'ARRAY'", "[t->>'$' FOR t IN json_extract({v}, '$[*]') IF json_type(t) = 'VARCHAR']")} AS tags,
    {_typed("siblings", "'ARRAY'", "[n->>'$' FOR n IN json_extract({v}, '$[*].rfilename') IF json_type(n) = 'VARCHAR']")} AS files,
    {_typed("downloads", "'BIGINT', 'UBIGINT'", "TRY_CAST({v}->>'$' AS BIGINT)")} AS downloads,
    {_typed("likes", "'BIGINT', 'UBIGINT'", "TRY_CAST({v}->>'$' AS BIGINT)")} AS likes,
    {_typed("trendingScore", "'BIGINT', 'UBIGINT', 'DOUBLE'", "TRY_CAST({v}->>'$' AS DOUBLE)")} AS trending_score,
    {_typed("downloadsAllTime", "'BIGINT', 'UBIGINT'", "TRY_CAST({v}->>'$' AS BIGINT)")} AS downloads_all_time,
    json_merge_patch(j, '{_WITHOUT_COUNTERS}') AS raw
"""

_METADATA_COLUMNS = (
    "id, model_id, author, sha, created_at, last_modified, private, disabled, gated, "
    "pipeline_tag, library_name, tags, files, raw"
)
# A new version begins when a column hfstats reads changes, not when the raw element's text
# does: the same element with its keys in another order, or with a key the Hub has started to
# send, would otherwise make every model "changed" and store all of them again. DuckDB hashes a
# list's items into the row's hash with no mark where it ends (['a'], ['b'] hashes as
# ['a', 'b'], []; NULL as []): the lengths keep tags and files apart.
_CONTENT_HASH = (
    "hash(id, model_id, author, sha, created_at, last_modified, private, disabled, gated, "
    "pipeline_tag, library_name, len(tags), tags, len(files), files)"
)
_COUNTER_COLUMNS = "downloads, likes, trending_score, downloads_all_time"


@dataclass
class MergeResult:
    snapshot_id: int
    models: int
    added: int
    changed: int
    renamed: int
    deleted: int
    rejected: int
    models_seen: int
    # The DuckDB memory limit the merge succeeded with, and how many limits it needed.
    memory_limit: str = ""
    memory_limits_tried: int = 1


# -- connections -------------------------------------------------------------------------------


_LOCK_HOLDER_RE = re.compile(r"lock is held in (?:.*/)?([^/]+?) \(PID (\d+)\)")


# Every DuckDB database file carries this at byte 8 (after a checksum).
_DUCKDB_MAGIC = b"DUCK"
_DUCKDB_HEADERS_BYTES = 3 * 4096


def _refuse_data_files(path: Path) -> None:
    """DuckDB opens an existing CSV, JSON or Parquet file given as a database as an in-memory
    database with the file as a view: what a refresh wrote there would vanish at close."""
    if path.exists() and not path.is_file() and not path.is_dir():
        # A named pipe would block the read below until something writes to it.
        raise DatabaseError(
            f"cannot open {path}: it is not a regular file (a pipe, socket or device); it was "
            "left untouched: pass another --db path"
        )
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return  # DuckDB's own error (or a new database) says it better
    if header and header[8:12] != _DUCKDB_MAGIC:
        raise DatabaseError(
            f"cannot open {path}: it is not a DuckDB database file; it was left untouched: "
            "pass another --db path"
        )


def _open(path: Path, read_only: bool, lock_wait: float) -> duckdb.DuckDBPyConnection:
    require_utf8_path(path, "rename it or pass another --db path")
    _refuse_data_files(path)
    deadline = time.monotonic() + lock_wait
    delay = 0.05
    waiting = False
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" in message.lower():
                # DuckDB names the process holding the file: a refresh finishing its merge,
                # or any program with the file open (a notebook, the duckdb shell).
                holder = _LOCK_HOLDER_RE.search(message)
                by = f"{holder[1]}, PID {holder[2]}" if holder else "another process"
                if time.monotonic() < deadline:
                    if not waiting:
                        log.info("%s is in use (%s); waiting up to %gs", path, by, lock_wait)
                        waiting = True
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                raise BusyError(
                    f"{path} is in use ({by}): a refresh finishing, or a program that has it "
                    "open; try again later"
                ) from None
            if "permission denied" in message.lower():
                raise DatabaseAccessError(
                    f"cannot open {path}: permission denied; check the file's and its "
                    "folder's permissions (it was left untouched)"
                ) from None
            raise DatabaseError(
                f"cannot open {path}: {first_line(message)}; it was left untouched: "
                "pass another --db path (or restore the file from a backup)"
            ) from None
        except duckdb.Error as exc:
            raise DatabaseError(f"cannot open {path}: {first_line(str(exc))}") from None
        try:
            _refuse_cut_files(connection, path)
        except BaseException:
            connection.close()
            raise
        return connection


def _refuse_cut_files(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A database file cut short (a copy interrupted, a disk that filled) opens when its header
    and catalog survive; its data then fails at the first read, and a writer would write into
    it. Every block a table keeps on disk must lie within the file."""
    tables = connection.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary"
    ).fetchall()
    last_block = -1
    for (table,) in tables:
        (block,) = connection.execute(
            "SELECT max(block_id) FROM pragma_storage_info(?) WHERE persistent", [table]
        ).fetchall()[0]
        last_block = max(last_block, block if block is not None else -1)
    if last_block < 0:
        return
    sizes = connection.execute("SELECT block_size FROM pragma_database_size()").fetchall()
    block_size = sizes[0][0]
    # Blocks follow the file's three 4 KiB headers.
    needed = _DUCKDB_HEADERS_BYTES + (last_block + 1) * block_size
    size = path.stat().st_size
    if size < needed:
        raise DatabaseError(
            f"cannot open {path}: the file is cut short ({size:,} bytes; its data reaches "
            f"{needed:,}); it was left untouched: restore it from a backup or pass another "
            "--db path"
        )


def _first_row(cursor: duckdb.DuckDBPyConnection) -> tuple | None:
    # DuckDB 2 refuses new work on a connection while a result is unfinished; fetchall()
    # finishes it, fetchone() does not.
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _configure(connection: duckdb.DuckDBPyConnection) -> None:
    # All times are UTC; a user's local zone must not shift year boundaries.
    connection.execute("SET TimeZone = 'UTC'")
    # DuckDB draws its own progress bar on long statements: noise in cron mail and in --quiet.
    connection.execute("SET enable_progress_bar = false")


@contextmanager
def read(
    path: str | Path, lock_wait: float = DEFAULT_LOCK_WAIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to an existing, initialised database."""
    path = Path(path)
    if not path.exists():
        raise DatabaseError(
            f"no database at {path}; run `hfstats refresh` (or `hfstats demo`) first"
        )
    connection = _open(path, read_only=True, lock_wait=lock_wait)
    try:
        _configure(connection)
        version = _schema_version(connection, path)
        if version is None:
            raise DatabaseError(f"{path} is a DuckDB file but not an hfstats database")
        if version != SCHEMA_VERSION:
            _check_version(version, path)
            raise DatabaseError(
                f"{path} has schema version {version}; run `hfstats upgrade` (or a refresh) "
                "once to upgrade it"
            )
        yield connection
    finally:
        connection.close()


@contextmanager
def write(
    path: str | Path, lock_wait: float = DEFAULT_LOCK_WAIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection; creates and migrates the schema as needed.

    Never re-creates over an existing file: a damaged or foreign file is an error.
    """
    path = Path(path)
    require_folder(path.parent)
    existed = path.exists() and path.stat().st_size > 0
    connection = _open(path, read_only=False, lock_wait=lock_wait)
    try:
        _configure(connection)
        version = _writable_version(connection, path, existed)
        _migrate(connection, version)
        yield connection
    finally:
        connection.close()


@contextmanager
def write_a_copy(
    path: str | Path, lock_wait: float = DEFAULT_LOCK_WAIT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Like ``write``, on a copy of the database that replaces it (an atomic rename) when the
    block ends without error. Readers keep the file, and its latest complete snapshot, for as
    long as the block runs: a merge of millions of models takes minutes, which readers could
    not wait out. An error or a kill leaves the database as it was. The caller holds the
    database's ``locks.DatabaseLock``, so no other hfstats writes meanwhile; the copy takes as
    much disk as the database.
    """
    # The file itself, not a symlink to it: the rename must replace the file the link names.
    path = Path(path).resolve()
    copy = beside(path, ".merging")
    _remove_copy(copy)
    before = None
    try:
        if path.exists() and path.stat().st_size > 0:
            # The copy takes the file alone: a write-ahead log left beside it is folded in first.
            with write(path, lock_wait) as connection:
                connection.execute("CHECKPOINT")
            before = _file_state(path)
            shutil.copyfile(path, copy)
            _keep_owner_and_mode(path, copy)
        with write(copy, lock_wait) as connection:
            yield connection
            # Explicitly, not at close: a checkpoint failing at close (a full disk) is not
            # raised, and the merge would stay in a write-ahead log the rename leaves behind.
            connection.execute("CHECKPOINT")
        if beside(copy, ".wal").exists():
            raise DatabaseError(
                f"the merge into {copy} was not written whole; {path} was left as it was: "
                f"free some space and run the refresh again"
            )
        if before is not None and _file_state(path) != before:
            raise DatabaseError(
                f"{path} was changed by another program while this refresh merged into a copy "
                "of it; it was left as that program wrote it: run the refresh again"
            )
        with open(copy, "rb") as handle:
            os.fsync(handle.fileno())
        rename_durably(copy, path)
    finally:
        _remove_copy(copy)


def rename_durably(source: Path, target: Path) -> None:
    """Rename ``source`` (already synced) over ``target`` and sync the folder: after a crash,
    the old file or the new, never neither."""
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _keep_owner_and_mode(original: Path, copy: Path) -> None:
    """The copy replaces the database: a private (0600) or group-writable one must stay so."""
    shutil.copymode(original, copy)
    stat = original.stat()
    try:
        os.chown(copy, stat.st_uid, stat.st_gid)
    except PermissionError:  # only root may give a file away; the mode is kept regardless
        pass


def _file_state(path: Path) -> tuple:
    """What tells a change by another program: the file, and its write-ahead log (a writer
    killed before its checkpoint leaves its changes only there)."""
    stat = path.stat()
    wal = beside(path, ".wal")
    wal_stat = (wal.stat().st_size, wal.stat().st_mtime_ns) if wal.exists() else None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, wal_stat


def _remove_copy(copy: Path) -> None:
    """A copy being merged into, left by a refresh that failed or was killed."""
    for leftover in (copy, beside(copy, ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(beside(copy, ".tmp"), ignore_errors=True)


def beside(path: Path, suffix: str) -> Path:
    """The file or folder named ``path`` with ``suffix`` added, in the same folder."""
    return path.with_name(path.name + suffix)


# What hfstats keeps beside a database (named after the file a symlink leads to): DuckDB's
# write-ahead log and spill folder, the lock, the crawl's pages, the merge's copy, its log and
# its spill folder.
BESIDE_DATABASE = (".wal", ".tmp", ".lock", ".crawl", ".merging", ".merging.wal", ".merging.tmp")


def beside_database(path: str | Path) -> list[Path]:
    """The database file and every file or folder hfstats keeps beside it."""
    real = Path(path).resolve()
    return [real, *(beside(real, suffix) for suffix in BESIDE_DATABASE)]


def require_names_beside(path: str | Path) -> None:
    """Refuse a database name that fits its folder but the merge's copy's does not: a refresh
    would find it only at the merge, after the whole crawl, on every run."""
    real = Path(path).resolve()
    try:
        limit = os.pathconf(real.parent, "PC_NAME_MAX")
    except (OSError, ValueError):  # a filesystem that does not say
        return
    name = len(os.fsencode(real.name))
    suffix = max(BESIDE_DATABASE, key=len)
    if name + len(suffix) > limit:
        # Without the name itself: hundreds of bytes of it would push the advice off the line.
        raise UsageError(
            f"the database name is too long for the files hfstats keeps beside it ({name} "
            f"bytes, and '{suffix}' added to it passes the folder's limit of {limit}): pass a "
            "shorter --db path"
        )


def check_writable(path: str | Path) -> None:
    """Refuse, as ``write`` would, an existing file hfstats must not write to; called before a
    lock file is made beside it. A database in use is left for the lock to judge."""
    path = Path(path)
    require_utf8_path(path, "rename it or pass another --db path")
    require_folder(path.resolve().parent)
    if not path.exists():
        return
    try:
        connection = _open(path, read_only=True, lock_wait=0)
    except BusyError:
        return
    try:
        _writable_version(connection, path, existed=True)
    finally:
        connection.close()


def _writable_version(
    connection: duckdb.DuckDBPyConnection, path: Path, existed: bool
) -> int | None:
    """The schema version of a database hfstats may write to (None: not created yet)."""
    version = _schema_version(connection, path)
    if version is None and existed and _has_user_tables(connection):
        raise DatabaseError(
            f"{path} is a DuckDB database that hfstats did not create; choose another --db path"
        )
    if version is not None:
        _check_version(version, path)
    return version


def upgrade(path: str | Path) -> int:
    """Bring the database at ``path`` to ``SCHEMA_VERSION`` in place; return the version it had.

    Holds the database lock: a refresh or prune running on it makes this a BusyError."""
    path = Path(path)
    # Before the lock, which would leave a file beside a path that is no database.
    if not path.exists():
        raise DatabaseError(f"no database at {path}; nothing to upgrade")
    check_writable(path)
    with locks.DatabaseLock(path, "upgrade"):
        return _upgrade(path)


def _upgrade(path: Path) -> int:
    connection = _open(path, read_only=True, lock_wait=DEFAULT_LOCK_WAIT)
    try:
        version = _schema_version(connection, path)
    finally:
        connection.close()
    if version is None:
        raise DatabaseError(f"{path} is a DuckDB file but not an hfstats database")
    _check_version(version, path)
    if version != SCHEMA_VERSION:
        with write(path):  # migrates
            pass
    return version


def _schema_version(connection: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    try:
        exists = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'hfstats_meta'"
        ).fetchall()[0][0]
        row = exists and _first_row(
            connection.execute("SELECT value FROM hfstats_meta WHERE key = 'schema_version'")
        )
    except duckdb.IOException as exc:  # a file cut short opens, then fails at the first read
        raise DatabaseError(
            f"cannot read {path}: {first_line(str(exc))}; it was left untouched: "
            "pass another --db path (or restore the file from a backup)"
        ) from None
    if not exists:
        return None
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        raise DatabaseError(f"{path} has an unreadable schema version {row[0]!r}") from None


def _has_user_tables(connection: duckdb.DuckDBPyConnection) -> bool:
    return bool(connection.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0])


def _check_version(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path} was written by a newer hfstats (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); upgrade hfstats"
        )


# Each entry upgrades from the version before it; index 0 creates schema 1 from nothing.
_MIGRATIONS: list[list[str]] = [
    _SCHEMA,
    # 2: the files method's frameworks and the deployment formats, stored per version (filled
    # by _refresh_stored_classification, since no rules_version is recorded yet).
    [
        "ALTER TABLE model_versions ADD COLUMN file_frameworks VARCHAR[]",
        "ALTER TABLE model_versions ADD COLUMN formats VARCHAR[]",
    ],
    # 3: versions are compared on the columns hfstats reads, not on the raw element's text.
    [f"UPDATE model_versions SET content_hash = {_CONTENT_HASH}"],
]


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN, then COMMIT when the block ends, ROLLBACK when it raises.

    A Ctrl-C or SIGTERM may land just as COMMIT returns: the transaction is then committed and
    the ROLLBACK that follows has nothing to undo, which must not hide the interrupt."""
    connection.execute("BEGIN")
    committed = False
    try:
        yield
        connection.execute("COMMIT")
        committed = True
    finally:
        if not committed:
            try:
                connection.execute("ROLLBACK")
            except duckdb.TransactionException:
                pass


def _migrate(connection: duckdb.DuckDBPyConnection, version: int | None) -> None:
    current = version or 0
    with transaction(connection):
        for steps in _MIGRATIONS[current:]:
            for statement in steps:
                connection.execute(statement)
        for statement in _VIEWS:
            connection.execute(statement)
        _refresh_stored_classification(connection)
        set_meta(connection, "schema_version", str(SCHEMA_VERSION))


# The classification stored with each model version, as (column, expression).
_CLASSIFIED = (
    ("file_frameworks", "file_frameworks(files, library_name)"),
    ("formats", "deployment_formats(tags, files, library_name)"),
)
_CLASSIFY = ", ".join(expression for _, expression in _CLASSIFIED)
_CLASSIFIED_COLUMNS = ", ".join(column for column, _ in _CLASSIFIED)


def _refresh_stored_classification(connection: duckdb.DuckDBPyConnection) -> None:
    """Recompute the stored files-method frameworks and formats when the rules have changed."""
    version = frameworks.rules_version()
    if get_meta(connection, "rules_version") == version:
        return
    assignments = ", ".join(f"{column} = {expression}" for column, expression in _CLASSIFIED)
    connection.execute(f"UPDATE model_versions SET {assignments}")
    set_meta(connection, "rules_version", version)


# -- snapshots ---------------------------------------------------------------------------------


def begin_snapshot(
    connection: duckdb.DuckDBPyConnection,
    *,
    mode: str,
    endpoint: str,
    started_at: datetime,
    hfstats_version: str,
) -> int:
    """Record a new, incomplete snapshot and return its id."""
    snapshot_id = connection.execute(
        "SELECT coalesce(max(snapshot_id), 0) + 1 FROM snapshots"
    ).fetchall()[0][0]
    connection.execute(
        """
        INSERT INTO snapshots (snapshot_id, started_at, mode, complete, endpoint, hfstats_version)
        VALUES (?, ?, ?, false, ?, ?)
        """,
        [snapshot_id, started_at, mode, endpoint, hfstats_version],
    )
    return snapshot_id


def latest_complete(connection: duckdb.DuckDBPyConnection) -> dict | None:
    """The latest complete snapshot as a dict, or None."""
    cursor = connection.execute(
        "SELECT * FROM snapshots WHERE complete ORDER BY snapshot_id DESC LIMIT 1"
    )
    row = _first_row(cursor)
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


@dataclass
class SnapshotFacts:
    """What readers say about the snapshot they read: when it finished, where it stands among
    the complete ones, and the deletions full crawls observed up to it."""

    snapshot_id: int
    finished_at: datetime | None
    complete_up_to: int  # complete snapshots up to and including it
    complete_after: int  # complete snapshots after it
    last_full: int | None  # the latest complete full crawl up to it (itself when it is one)
    first_full_started_at: datetime | None  # the first complete full crawl kept, up to it
    # Deletions are seen by full crawls only, each recording those since the crawl before it:
    # counted from the first full snapshot kept, without the ones it recorded (which happened
    # before it, once `snapshots prune` dropped the snapshots they followed).
    deletions_observed: int


def snapshot_facts(connection: duckdb.DuckDBPyConnection, snapshot_id: int) -> SnapshotFacts:
    row = _first_row(
        connection.execute(
            """
            WITH complete_snapshots AS (SELECT * FROM snapshots WHERE complete),
            first_full AS (
                SELECT snapshot_id, started_at FROM complete_snapshots
                WHERE mode = 'full' AND snapshot_id <= $id
                ORDER BY snapshot_id LIMIT 1
            )
            SELECT
                (SELECT finished_at FROM snapshots WHERE snapshot_id = $id),
                (SELECT count(*) FROM complete_snapshots WHERE snapshot_id <= $id),
                (SELECT count(*) FROM complete_snapshots WHERE snapshot_id > $id),
                (SELECT max(snapshot_id) FROM complete_snapshots
                 WHERE mode = 'full' AND snapshot_id <= $id),
                (SELECT started_at FROM first_full),
                (SELECT coalesce(sum(deleted), 0) FROM complete_snapshots
                 WHERE snapshot_id <= $id AND snapshot_id > (SELECT snapshot_id FROM first_full))
            """,
            {"id": snapshot_id},
        )
    )
    assert row is not None  # a SELECT of scalars has one row
    finished_at, up_to, after, last_full, first_started_at, deletions = row
    return SnapshotFacts(
        snapshot_id, finished_at, up_to, after, last_full, first_started_at, int(deletions)
    )


def models_modified_before(
    connection: duckdb.DuckDBPyConnection, snapshot_id: int, instant: datetime
) -> int:
    """How many models of a snapshot were last modified before ``instant``."""
    row = _first_row(
        connection.execute(
            "SELECT count(*) FROM models_at(?) WHERE last_modified < ?", [snapshot_id, instant]
        )
    )
    return int(row[0]) if row else 0


def _saved_elements(page_files: list[Path]) -> str:
    """A FROM item of every element of the saved pages (bound as ``$files``), ``t(j)`` with
    its ``filename``; without pages, one with no rows (read_json_objects takes no empty list)."""
    if page_files:
        return "read_json_objects($files, format = 'array', filename = true) AS t(j)"
    return "(SELECT NULL::JSON AS j, NULL::VARCHAR AS filename WHERE false) AS t"


def current_models(connection: duckdb.DuckDBPyConnection) -> int:
    """How many models have a current version (a full merge keeps or marks each deleted)."""
    return connection.execute(
        "SELECT count(*) FROM model_versions WHERE valid_to IS NULL"
    ).fetchall()[0][0]


def unlisted_models(
    connection: duckdb.DuckDBPyConnection,
    page_files: list[Path],
    keep: int,
    *,
    snapshot_id: int | None = None,
    before: datetime | None = None,
) -> tuple[int, list[tuple[str, str]]]:
    """The models whose ``_id`` none of the page files lists: how many, and the object ids and
    ids of up to ``keep`` of them. By default every model with a current version (what a full
    merge of these pages would mark deleted), sorted by object id; with ``snapshot_id`` and
    ``before``, the models of that snapshot last modified before ``before`` (a model committed
    to since is listed with its new time), the most recently modified first. Reads every page
    again."""
    if snapshot_id is None:
        candidates = (
            "SELECT object_id, id, NULL::TIMESTAMPTZ AS last_modified FROM model_versions "
            "WHERE valid_to IS NULL"
        )
        params: dict[str, object] = {}
    else:
        candidates = (
            "SELECT object_id, id, last_modified FROM models_at($snapshot_id) "
            "WHERE last_modified < $before"
        )
        params = {"snapshot_id": snapshot_id, "before": before}
    source = _saved_elements(page_files)
    if page_files:
        params["files"] = [str(p) for p in page_files]

    def find(memory_limit: str) -> None:
        # An anti join, which DuckDB can spill: NOT IN over a join with the candidates ran out
        # of memory at 128 MB on a second full crawl of 2M models.
        with _saved_pages_read(page_files):
            connection.execute(
                f"""
            CREATE OR REPLACE TEMP TABLE unlisted AS
            WITH candidates AS ({candidates}),
            listed AS (SELECT t.j->>'_id' AS object_id FROM {source})
            SELECT object_id, id, last_modified FROM candidates ANTI JOIN listed USING (object_id)
            """,
                params,
            )

    _at_growing_memory_limits(connection, page_files, "finding the unlisted models", find)
    count = connection.execute("SELECT count(*) FROM unlisted").fetchall()[0][0]
    kept = connection.execute(
        "SELECT object_id, id FROM unlisted ORDER BY last_modified DESC, object_id LIMIT ?", [keep]
    )
    rows = [(object_id, model_id) for object_id, model_id in kept.fetchall()]
    connection.execute("DROP TABLE unlisted")
    return int(count), rows


def get_meta(connection: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = connection.execute("SELECT value FROM hfstats_meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def set_meta(connection: duckdb.DuckDBPyConnection, key: str, value: str | None) -> None:
    """Set ``key`` in hfstats_meta, or remove it (None)."""
    if value is None:
        connection.execute("DELETE FROM hfstats_meta WHERE key = ?", [key])
    else:
        connection.execute("INSERT OR REPLACE INTO hfstats_meta VALUES (?, ?)", [key, value])


def date_snapshot(connection: duckdb.DuckDBPyConnection, snapshot_id: int, at: datetime) -> None:
    """Date the snapshot ``snapshot_id`` (started and finished) at ``at``: a crawl replayed from
    a recording holds the Hub as it was when recorded, not on the day of the replay."""
    connection.execute(
        "UPDATE snapshots SET started_at = ?, finished_at = ? WHERE snapshot_id = ?",
        [at, at, snapshot_id],
    )


def snapshot_is_complete(connection: duckdb.DuckDBPyConnection, snapshot_id: int) -> bool | None:
    row = _first_row(
        connection.execute("SELECT complete FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    )
    return None if row is None else bool(row[0])


NO_COMPLETE_SNAPSHOT = (
    "the database has no complete snapshot yet; run `hfstats refresh` to finish one "
    "(or wait for one that is running)"
)


def snapshot_finished_by(connection: duckdb.DuckDBPyConnection, moment: datetime) -> int:
    """The latest complete snapshot that finished at or before ``moment``: the Hub as it was
    then, as far as the snapshots kept tell."""
    row = connection.execute(
        """
        SELECT snapshot_id FROM snapshots WHERE complete AND finished_at <= ?
        ORDER BY snapshot_id DESC LIMIT 1
        """,
        [moment],
    ).fetchone()
    if row is not None:
        return int(row[0])
    first = connection.execute("SELECT min(finished_at) FROM snapshots WHERE complete").fetchone()
    when = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if first[0] is None:
        raise DatabaseError(NO_COMPLETE_SNAPSHOT)
    first_text = first[0].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    raise UsageError(
        f"no complete snapshot had finished by {when}; the first finished at {first_text} "
        "(see `hfstats snapshots`)"
    )


def resolve_snapshot(
    connection: duckdb.DuckDBPyConnection, snapshot_id: int | datetime | None
) -> int:
    """The snapshot a query should read: the one asked for (if complete), the latest complete
    one finished by an instant, or the latest."""
    if isinstance(snapshot_id, datetime):
        return snapshot_finished_by(connection, snapshot_id)
    if snapshot_id is None:
        latest = latest_complete(connection)
        if latest is None:
            raise DatabaseError(NO_COMPLETE_SNAPSHOT)
        return int(latest["snapshot_id"])
    complete = snapshot_is_complete(connection, snapshot_id)
    if complete is None:
        raise UsageError(f"there is no snapshot {snapshot_id}; see `hfstats snapshots`")
    if not complete:
        raise UsageError(f"snapshot {snapshot_id} is incomplete (interrupted or still running)")
    return snapshot_id


def update_snapshot_progress(
    connection: duckdb.DuckDBPyConnection,
    snapshot_id: int,
    *,
    pages: int,
    requests: int,
    models_seen: int,
) -> None:
    connection.execute(
        "UPDATE snapshots SET pages = ?, requests = ?, models_seen = ? WHERE snapshot_id = ?",
        [pages, requests, models_seen, snapshot_id],
    )


def list_snapshots(connection: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = connection.execute(
        """
        SELECT snapshot_id, started_at, finished_at, mode, complete, pages, requests,
               models_seen, models, added, changed, renamed, deleted, rejected,
               high_water_mark, endpoint
        FROM snapshots ORDER BY snapshot_id
        """
    )
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# -- merging a crawl ---------------------------------------------------------------------------


def merge_pages(
    connection: duckdb.DuckDBPyConnection,
    *,
    snapshot_id: int,
    page_files: list[Path],
    full: bool,
    pages: int,
    requests: int,
    finished_at: datetime | None = None,
    models_seen: int | None = None,
    still_there: Sequence[str] = (),
    newest_possible: datetime | None = None,
) -> MergeResult:
    """Fold crawled pages into the history as snapshot ``snapshot_id``, in one transaction,
    finished at ``finished_at`` (by default when the merge ends: the snapshot exists from then).

    The snapshot's high-water mark is the newest ``lastModified`` before ``newest_possible``
    (by default ``finished_at``): a later one is bad data, which would make the next
    incremental refresh stop too early. The crawl passes the Hub's clock, when it sent one.

    A model listed twice (pages shift while a crawl runs) counts once, as last fetched. With
    ``full``, models of the previous state that the crawl did not see are marked deleted,
    except those in ``still_there`` (object ids the Hub was found to still have: they keep
    their current version).
    """
    check_saved_pages(page_files)
    attempts = 0

    def merge_on(memory_limit: str, threads: int) -> MergeResult:
        with _saved_pages_read(page_files), transaction(connection):
            return _merge(
                connection,
                memory_limit,
                threads,
                snapshot_id,
                page_files,
                full,
                finished_at,
                pages,
                requests,
                models_seen,
                still_there,
                newest_possible,
            )

    def merge(memory_limit: str) -> MergeResult:
        nonlocal attempts
        attempts += 1
        threads = typing_threads(memory_limit, page_files)
        # Two threads first where the limit leaves room, and at once one if they run out
        # (rolled back): never worse than one thread. Only at the first limit: after one
        # thread ran out, two are unlikely to fit at the next.
        if attempts == 1 and threads > MERGE_THREADS:
            try:
                return merge_on(memory_limit, threads)
            except duckdb.OutOfMemoryException:
                log.info(
                    "typing on %d threads ran out of memory at %s; on one", threads, memory_limit
                )
        return merge_on(memory_limit, MERGE_THREADS)

    result, limit, tried = _at_growing_memory_limits(connection, page_files, "the merge", merge)
    result.memory_limit, result.memory_limits_tried = limit, tried
    return result


def _at_growing_memory_limits(
    connection: duckdb.DuckDBPyConnection,
    page_files: list[Path],
    what: str,
    run: Callable[[str], T],
) -> tuple[T, str, int]:
    """``run(limit)`` under the memory limits ``merge_memory_limits`` gives, the next one each
    time DuckDB runs out of memory: its result, the limit it ran at, how many limits were tried."""
    limits = merge_memory_limits(page_files)
    for tried, limit in enumerate(limits, start=1):
        connection.execute("SET memory_limit = ?", [limit])
        connection.execute("SET threads = ?", [MERGE_THREADS])
        connection.execute("SET preserve_insertion_order = false")
        try:
            return run(limit), limit, tried
        except duckdb.OutOfMemoryException:
            if tried == len(limits):
                raise HfstatsError(
                    f"{what} ran out of memory at a limit of {limit}: set HFSTATS_MEMORY_LIMIT "
                    "higher (e.g. 8GB) and run the refresh again; the crawled pages are kept"
                ) from None
            log.warning("%s: out of memory at %s, trying again at %s", what, limit, limits[tried])
    raise AssertionError("merge_memory_limits gives at least one limit")


@contextmanager
def _saved_pages_read(page_files: list[Path]) -> Iterator[None]:
    """Statements reading the saved pages: only damage makes a page we wrote and synced
    unreadable, and a resume would meet it again, so the error says how to start over."""
    try:
        yield
    except duckdb.InvalidInputException as exc:
        if not page_files:
            raise
        raise DatabaseError(
            f"a saved page of this crawl cannot be read ({first_line(str(exc))}); delete "
            f"{page_files[0].parent.parent} to start the crawl over"
        ) from None


def check_saved_pages(page_files: list[Path]) -> None:
    """Refuse pages that damage emptied or removed: DuckDB reads an empty file as an empty
    list, and a full crawl would record the models of that page as deleted."""
    for page in page_files:
        if not page.exists():
            problem = "is missing"
        elif not page.is_file():
            problem = "is not a file"
        elif page.stat().st_size == 0:
            problem = "is empty"
        else:
            continue
        raise DatabaseError(
            f"a saved page of this crawl {problem} ({page.name}); delete "
            f"{page.parent.parent} to start the crawl over"
        )


def _merge(
    connection: duckdb.DuckDBPyConnection,
    memory_limit: str,
    typing_threads: int,
    snapshot_id: int,
    page_files: list[Path],
    full: bool,
    finished_at: datetime | None,
    pages: int,
    requests: int,
    models_seen: int | None,
    still_there: Sequence[str],
    newest_possible: datetime | None,
) -> MergeResult:
    files = [str(p) for p in page_files]
    # Rows are projected straight from the page files (no window over all of them), so DuckDB
    # can stream and spill: memory stays flat in the number of models.
    source = _saved_elements(page_files)
    # Set here too: a try on two threads that ran out may have left the later steps' settings.
    connection.execute("SET memory_limit = ?", [memory_limit])
    connection.execute("SET threads = ?", [typing_threads])
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE incoming AS
        SELECT *, {_CONTENT_HASH} AS content_hash
        FROM (
            SELECT {_TYPED_COLUMNS}, filename AS page_file
            FROM (SELECT j, filename, {_EXTRACT_KEYS} AS f FROM {source} WHERE json_type(j) = 'OBJECT')
        )
        """,
        {"files": files} if files else {},
    )
    # Filtered after typing: a filter on the extracted keys made DuckDB hold more of each page
    # in memory (a 1.6 MB page needed 143 MB instead of 127 MB).
    typed, with_id = connection.execute(
        "SELECT count(*), count(object_id) FROM incoming"
    ).fetchall()[0]
    if with_id < typed:
        connection.execute("DELETE FROM incoming WHERE object_id IS NULL")
    if models_seen is None:
        models_seen = (
            connection.execute(f"SELECT count(*) FROM {source}", {"files": files}).fetchall()[0][0]
            if files
            else 0
        )
    rejected = models_seen - with_id
    connection.execute("SET threads = ?", [MERGE_THREADS])
    connection.execute("SET memory_limit = ?", [after_typing_memory_limit(memory_limit)])
    # A model listed twice (pages shift while a crawl runs) keeps its copy from the page fetched
    # last (pages are numbered in fetch order, across passes and resumes): the latest state
    # even when a change moved it down the listing. Duplicates are few: find them first
    # instead of ranking every row.
    connection.execute(
        """
        DELETE FROM incoming WHERE rowid IN (
            SELECT rowid FROM incoming
            WHERE object_id IN (SELECT object_id FROM incoming GROUP BY object_id HAVING count(*) > 1)
            QUALIFY row_number() OVER (
                PARTITION BY object_id
                ORDER BY page_file DESC, rowid DESC
            ) > 1
        )
        """
    )
    connection.execute("ALTER TABLE incoming DROP COLUMN page_file")

    # Metadata versions: close what changed (and, in a full crawl, what vanished), then add.
    changed, renamed = connection.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE v.id IS DISTINCT FROM i.id)
        FROM model_versions v JOIN incoming i USING (object_id)
        WHERE v.valid_to IS NULL AND v.content_hash <> i.content_hash
        """
    ).fetchall()[0]
    added = connection.execute(
        """
        SELECT count(*) FROM incoming i
        WHERE NOT EXISTS (SELECT 1 FROM model_versions v
                          WHERE v.object_id = i.object_id AND v.valid_to IS NULL)
        """
    ).fetchall()[0][0]
    deleted = 0
    if full:
        listed = "incoming"
        if still_there:
            # Unlisted but still on the Hub: kept as they are, like the listed models.
            listed = "listed"
            connection.execute(
                "CREATE OR REPLACE TEMP TABLE listed AS SELECT object_id FROM incoming "
                "UNION ALL SELECT unnest($ids::VARCHAR[])",
                {"ids": list(still_there)},
            )
        deleted = connection.execute(
            f"""
            SELECT count(*) FROM model_versions v
            WHERE v.valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM {listed} l WHERE l.object_id = v.object_id)
            """
        ).fetchall()[0][0]
        connection.execute(
            f"""
            UPDATE model_versions SET valid_to = ?
            WHERE valid_to IS NULL AND NOT EXISTS (
                SELECT 1 FROM {listed} l WHERE l.object_id = model_versions.object_id)
            """,
            [snapshot_id],
        )
        connection.execute(
            f"""
            UPDATE model_counters SET valid_to = ?
            WHERE valid_to IS NULL AND NOT EXISTS (
                SELECT 1 FROM {listed} l WHERE l.object_id = model_counters.object_id)
            """,
            [snapshot_id],
        )
        if still_there:
            connection.execute("DROP TABLE listed")
    # Close the versions that changed; then every incoming model without a current version (new
    # or just closed) gets one. Inserting straight from `incoming` spares a copy of every new
    # row (all of them in a first crawl).
    connection.execute(
        """
        UPDATE model_versions SET valid_to = ?
        FROM incoming i
        WHERE model_versions.object_id = i.object_id AND model_versions.valid_to IS NULL
            AND model_versions.content_hash <> i.content_hash
        """,
        [snapshot_id],
    )
    # The insert checks each incoming model against the current versions: with millions of
    # them (a second full crawl of 2M models) two threads ran out of memory at 128 MB, where
    # one fits (68 s, 235 MB RSS). A first crawl has none to check, and two threads save time.
    (has_current,) = connection.execute(
        "SELECT EXISTS (SELECT 1 FROM model_versions WHERE valid_to IS NULL)"
    ).fetchall()[0]
    connection.execute("SET threads = ?", [MERGE_THREADS if has_current else INSERT_THREADS])
    connection.execute(
        f"""
        INSERT INTO model_versions
            (object_id, valid_from, valid_to, content_hash, {_METADATA_COLUMNS}, {_CLASSIFIED_COLUMNS})
        SELECT object_id, ?, NULL, content_hash, {_METADATA_COLUMNS}, {_CLASSIFY} FROM incoming i
        WHERE NOT EXISTS (SELECT 1 FROM model_versions v
                          WHERE v.object_id = i.object_id AND v.valid_to IS NULL)
        """,
        [snapshot_id],
    )
    connection.execute("SET threads = ?", [MERGE_THREADS])
    # Counters: a new interval only where a value changed.
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE new_counters AS
        SELECT i.object_id, {", ".join("i." + c for c in _COUNTER_COLUMNS.split(", "))}
        FROM incoming i
        LEFT JOIN model_counters c ON c.object_id = i.object_id AND c.valid_to IS NULL
        WHERE c.object_id IS NULL
           OR (c.downloads, c.likes, c.trending_score, c.downloads_all_time)
              IS DISTINCT FROM (i.downloads, i.likes, i.trending_score, i.downloads_all_time)
        """
    )
    connection.execute(
        """
        UPDATE model_counters SET valid_to = ?
        FROM new_counters n
        WHERE model_counters.object_id = n.object_id AND model_counters.valid_to IS NULL
        """,
        [snapshot_id],
    )
    connection.execute(
        f"""
        INSERT INTO model_counters (object_id, valid_from, valid_to, {_COUNTER_COLUMNS})
        SELECT object_id, ?, NULL, {_COUNTER_COLUMNS} FROM new_counters
        """,
        [snapshot_id],
    )
    for table in ("incoming", "new_counters"):
        connection.execute(f"DROP TABLE {table}")

    # Versions typed before unreadable times became NULL may still hold one.
    finished_at = finished_at or datetime.now(UTC)
    models, high_water_mark = connection.execute(
        f"SELECT count(*), max(last_modified) FILTER (WHERE last_modified {READABLE_TIME} "
        "AND last_modified < ?) FROM model_versions WHERE valid_to IS NULL",
        [newest_possible or finished_at],
    ).fetchall()[0]
    connection.execute(
        """
        UPDATE snapshots SET complete = true, finished_at = ?, pages = ?, requests = ?,
            models_seen = ?, models = ?, added = ?, changed = ?, renamed = ?, deleted = ?,
            rejected = ?, high_water_mark = ?
        WHERE snapshot_id = ?
        """,
        [
            finished_at,
            pages,
            requests,
            models_seen,
            models,
            added,
            changed,
            renamed,
            deleted,
            rejected,
            high_water_mark,
            snapshot_id,
        ],
    )
    return MergeResult(
        snapshot_id=snapshot_id,
        models=models,
        added=added,
        changed=changed,
        renamed=renamed,
        deleted=deleted,
        rejected=rejected,
        models_seen=models_seen,
    )


# -- pruning -----------------------------------------------------------------------------------


@dataclass
class PruneResult:
    """What ``prune`` dropped."""

    snapshots_dropped: int
    versions_dropped: int
    counters_dropped: int


def prune_database(path: str | Path, keep: int) -> PruneResult:
    """``prune`` the database at ``path``, holding the database lock (see ``upgrade``)."""
    # Refuses a missing or foreign file before the lock leaves a file beside it.
    with read(path):
        pass
    with locks.DatabaseLock(Path(path), "snapshots prune"), write(path) as connection:
        return prune(connection, keep)


def prune(connection: duckdb.DuckDBPyConnection, keep: int) -> PruneResult:
    """Drop all but the ``keep`` latest complete snapshots, keeping their history exact.

    Incomplete snapshots go too (refreshes given up on or started over: they hold no versions),
    but for the newest snapshot, which may be a crawl paused until the next refresh resumes it.
    """
    if keep < 1:
        raise UsageError("--keep must be at least 1")
    kept = [
        row[0]
        for row in connection.execute(
            "SELECT snapshot_id FROM snapshots WHERE complete ORDER BY snapshot_id DESC LIMIT ?",
            [keep],
        ).fetchall()
    ]
    if not kept:
        return PruneResult(snapshots_dropped=0, versions_dropped=0, counters_dropped=0)
    oldest_kept = min(kept)
    with transaction(connection):
        # A version that ended at or before the oldest kept snapshot is visible in none of them.
        versions = connection.execute(
            "DELETE FROM model_versions WHERE valid_to IS NOT NULL AND valid_to <= ?", [oldest_kept]
        ).fetchall()[0][0]
        counters = connection.execute(
            "DELETE FROM model_counters WHERE valid_to IS NOT NULL AND valid_to <= ?", [oldest_kept]
        ).fetchall()[0][0]
        snapshots = connection.execute(
            "DELETE FROM snapshots WHERE snapshot_id < ? "
            "OR (NOT complete AND snapshot_id < (SELECT max(snapshot_id) FROM snapshots))",
            [oldest_kept],
        ).fetchall()[0][0]
        # What survives began in a dropped snapshot: it now begins in the oldest kept one, so
        # that every row names a snapshot that exists (the export partitions by its date).
        for table in ("model_versions", "model_counters"):
            connection.execute(
                f"UPDATE {table} SET valid_from = ? WHERE valid_from < ?",
                [oldest_kept, oldest_kept],
            )
    connection.execute("CHECKPOINT")
    return PruneResult(
        snapshots_dropped=snapshots, versions_dropped=versions, counters_dropped=counters
    )
