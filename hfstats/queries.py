"""The SQL analytics: one file per query in ``queries/``, run with bound DuckDB parameters.

Each ``queries/NAME.sql`` starts with a header that is its contract::

    -- name: exclusivity
    -- description: One line.
    -- param snapshot_id INTEGER: snapshot to read (default: latest complete)
    -- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
    -- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
    -- columns: framework_class, models, share_of_framework_models, share_of_all_models

Queries read ``models_at($snapshot_id)`` and the classification macros of ``frameworks``, which
are created as TEMP macros on every connection so that databases written by older versions
work too. Values are always bound as parameters, never formatted into the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import duckdb

from . import frameworks, store
from .errors import (
    FREE_SPACE,
    DatabaseError,
    HfstatsError,
    UsageError,
    damaged_database,
    disk_full,
    first_line,
)
from .resources import data_path

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER_RE = re.compile(r"^--\s*(name|description|columns):\s*(.*?)\s*$")
_PARAM_RE = re.compile(
    r"^--\s*param\s+(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z]+)"
    r"(?:\s*=\s*(?P<default>'(?:[^']|'')*'|[^:\s]+))?\s*:\s*(?P<description>.*?)\s*$"
)
# The types the packaged queries bind; a header naming another is an error, not a guess.
_TYPES = ("INTEGER", "VARCHAR", "TIMESTAMPTZ")


@dataclass
class ParamSpec:
    type: str
    default: object
    description: str


@dataclass
class QuerySpec:
    name: str
    description: str
    params: dict[str, ParamSpec]
    columns: list[str]
    sql: str


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    snapshot_id: int | None
    params: dict


# -- query files -------------------------------------------------------------------------------


def _queries_dir() -> Path:
    return data_path("queries")


def parse_query(text: str, source: str) -> QuerySpec:
    """Read the header of a query file; ``source`` names the file in error messages."""
    fields: dict[str, str] = {}
    params: dict[str, ParamSpec] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break  # the header is the leading block of comment lines
        if line.replace(" ", "").startswith("--param"):
            match = _PARAM_RE.match(line)
            if match is None or match["type"] not in _TYPES:
                raise UsageError(f"{source}: cannot read the parameter line {line!r}")
            default = _parse_default(match["default"], match["type"], source)
            params[match["name"]] = ParamSpec(match["type"], default, match["description"])
            continue
        match = _HEADER_RE.match(line)
        if match:
            fields[match[1]] = match[2]
    missing = [key for key in ("name", "description", "columns") if not fields.get(key)]
    if missing:
        raise UsageError(f"{source}: the header has no {', '.join(missing)}")
    columns = [column.strip() for column in fields["columns"].split(",") if column.strip()]
    return QuerySpec(fields["name"], fields["description"], params, columns, text)


def _parse_default(literal: str | None, type_: str, source: str) -> object:
    if literal is None or literal.upper() == "NULL":
        return None
    if literal.startswith("'"):
        literal = literal[1:-1].replace("''", "'")
    try:
        return _convert(literal, type_, "default")
    except UsageError:
        raise UsageError(f"{source}: the default {literal!r} is not a valid {type_}") from None


def list_queries() -> list[QuerySpec]:
    """Every query shipped with hfstats, by name."""
    return [load_query(path.stem) for path in sorted(_queries_dir().glob("*.sql"))]


def load_query(name: str) -> QuerySpec:
    """The query ``name``; UsageError naming the known queries if there is none."""
    # Looked up among the files, not opened by the name given: a name too long for the file
    # system would be an OSError.
    known = sorted(p.stem for p in _queries_dir().glob("*.sql"))
    if not _NAME_RE.match(name) or name not in known:
        raise UsageError(f"unknown query {name!r}; known queries: {', '.join(known)}")
    path = _queries_dir() / f"{name}.sql"
    spec = parse_query(path.read_text(encoding="utf-8"), path.name)
    if spec.name != name:
        raise UsageError(f"{path.name}: its header names it {spec.name!r}")
    return spec


# -- parameter values --------------------------------------------------------------------------


def parse_as_of(value: str | date | datetime) -> datetime:
    """A cut-off instant: a date (YYYY-MM-DD, or any ISO 8601 date form such as 20221231) means
    the end of that day (UTC, inclusive); an ISO 8601 timestamp without a zone is UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.max)
    else:
        text = value.strip()
        try:
            try:
                moment = datetime.combine(date.fromisoformat(text), time.max)
            except ValueError:  # not a date alone: a timestamp
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"bad date {value!r}: use YYYY-MM-DD (the end of that day, UTC) or an ISO 8601 "
                "timestamp such as 2024-03-01T12:00:00Z"
            ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)  # 0001-01-01T00:00+14:00 is before year 1 in UTC
    except OverflowError:
        raise UsageError(f"date {value!r} is out of range in UTC") from None
    return moment


def _convert(value: object, type_: str, name: str) -> object:
    """``value`` (a Python value, or text from ``--param``) as a value of SQL type ``type_``."""
    if value is None or (isinstance(value, str) and value.strip().upper() == "NULL"):
        return None
    bad = UsageError(f"parameter {name}: {value!r} is not a valid {type_}")
    if type_ == "INTEGER":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise bad
    if type_ == "TIMESTAMPTZ":
        if not isinstance(value, str | date):
            raise bad
        return parse_as_of(value)
    if not isinstance(value, str):
        raise bad
    return value


def _bind(spec: QuerySpec, given: dict[str, object]) -> dict[str, object]:
    values = {}
    for name, param in spec.params.items():
        value = _convert(given[name], param.type, name) if name in given else param.default
        if name == "method" and value not in frameworks.METHODS:
            shown = "NULL" if value is None else repr(value)
            raise UsageError(f"unknown method {shown}; use one of {', '.join(frameworks.METHODS)}")
        values[name] = value
    return values


# -- running -----------------------------------------------------------------------------------


def run_query(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    params: dict | None = None,
    *,
    snapshot_id: int | datetime | None = None,
    as_of: str | date | datetime | None = None,
    method: str = frameworks.DEFAULT_METHOD,
    cache: dict | None = None,
) -> QueryResult:
    """Run the query ``name`` on the snapshot asked for: an id, or an instant for the latest
    complete snapshot finished by then (``store.resolve_snapshot``); default the latest.

    With ``cache`` (a dict kept by the caller for one connection and snapshot), a query run
    again with the same bound values is answered from it: the report and the claims check
    ask for several of the same results.

    ``params`` (e.g. from ``--param key=value``, so values may be text) take precedence over
    the keyword arguments. A query that does not take ``as_of`` or ``method`` refuses a value
    other than the default rather than silently ignoring it.
    """
    spec = load_query(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise UsageError(
            f"query {name} has no parameter {unknown[0]!r}; it takes: "
            f"{', '.join(spec.params) or 'no parameters'}"
        )
    given: dict[str, object] = {"snapshot_id": snapshot_id}
    for key, value, default in (
        ("as_of", as_of, None),
        ("method", method, frameworks.DEFAULT_METHOD),
    ):
        if key in spec.params:
            given[key] = value
        elif value != default:
            raise UsageError(f"query {name} does not take {key} (--{key.replace('_', '-')})")
    given.update(params)
    values = _bind(spec, given)
    resolved = store.resolve_snapshot(connection, values.get("snapshot_id"))
    if "snapshot_id" in spec.params:
        values["snapshot_id"] = resolved
    key = (name, tuple(sorted((k, repr(v)) for k, v in values.items())))
    if cache is not None and key in cache:
        return cache[key]
    frameworks.install_macros(connection)
    try:
        cursor = connection.execute(spec.sql, values)
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise _failed(f"query {name} failed", exc, DatabaseError) from None
    columns = [column[0] for column in cursor.description]
    result = QueryResult(columns, rows, resolved, values)
    if cache is not None:
        cache[key] = result
    return result


def _failed(what: str, exc: duckdb.Error, error: type[HfstatsError]) -> HfstatsError:
    """The error to raise for a failing statement: a full disk (DuckDB spilling to its temp
    folder) is no bad input, and has a remedy."""
    if disk_full(exc):
        return HfstatsError(f"{what}: {first_line(str(exc))}; {FREE_SPACE}")
    return damaged_database(exc) or error(f"{what}: {first_line(str(exc))}")


# Rows fetched from DuckDB at a time by ``stream_sql``.
SQL_BATCH_ROWS = 10_000


def stream_sql(
    connection: duckdb.DuckDBPyConnection, sql: str, snapshot_id: int | datetime | None = None
) -> tuple[list[str], Iterator[list[tuple]]]:
    """Run ad-hoc SQL with the classification macros available: its column names, and its rows
    in batches as DuckDB produces them (a result of millions of rows is never held whole).
    With ``snapshot_id`` (a complete snapshot, or an instant as ``store.resolve_snapshot``
    takes it), ``models`` is that snapshot instead of the latest. Bad SQL, also failing halfway
    through its rows, is a UsageError."""
    if not sql.strip():
        raise UsageError("no SQL statement given")
    frameworks.install_macros(connection)
    if snapshot_id is not None:
        # A temporary view of the same name comes first in name resolution, for this
        # connection only (a read-only database takes temporary objects).
        connection.execute(
            "SET VARIABLE hfstats_snapshot = ?", [store.resolve_snapshot(connection, snapshot_id)]
        )
        connection.execute(
            "CREATE OR REPLACE TEMP VIEW models AS "
            "SELECT * FROM models_at(getvariable('hfstats_snapshot'))"
        )
    try:
        # DuckDB runs every statement but returns only the last result: refuse rather than
        # drop the others' results silently.
        statements = len(connection.extract_statements(sql))
        if statements == 0:  # only semicolons or comments
            raise UsageError("no SQL statement given")
        if statements > 1:
            raise UsageError("hfstats sql runs one statement at a time; run them one by one")
        cursor = connection.execute(sql)
        description = cursor.description if cursor is not None else None
    except duckdb.Error as exc:
        raise _failed("SQL failed", exc, UsageError) from None

    def batches() -> Iterator[list[tuple]]:
        if not description:
            return
        try:
            while batch := cursor.fetchmany(SQL_BATCH_ROWS):
                yield batch
        except duckdb.Error as exc:
            raise _failed("SQL failed", exc, UsageError) from None

    return [column[0] for column in description or []], batches()
