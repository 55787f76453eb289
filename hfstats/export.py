"""`hfstats export`: the history as Parquet, Hive-partitioned by snapshot date.

Layout under the output folder::

    snapshots/snapshot_date=2026-11-25/data_0.parquet
    model_versions/snapshot_date=2026-11-25/data_0.parquet   # versions that began that day
    model_counters/snapshot_date=2026-11-25/data_0.parquet

A version's partition is the date of the snapshot it first appeared in (``valid_from``). A
daily export adds a partition per table, but also rewrites earlier ones: a version or counter
that ended gets its ``valid_to`` there. The state as of snapshot S is
``valid_from <= S AND (valid_to IS NULL OR valid_to > S)`` in both tables, for an S that
``snapshots`` holds, in any engine that reads Parquet (the README has the query).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb

from . import __version__, outdir, store
from .errors import UsageError

log = logging.getLogger("hfstats.export")

FORMATS = ("parquet",)
# Written into every export: a folder holding it is one `hfstats export` may replace.
MARKER_FILE = outdir.EXPORT_MARKER

# Each table, with the date of the snapshot that partitions its rows: its own for snapshots,
# the one a version or counter interval began in for the others.
_SNAPSHOT_DATE = "(s.finished_at AT TIME ZONE 'UTC')::DATE AS snapshot_date"
# Databases pruned before hfstats moved surviving rows onto the oldest kept snapshot still
# hold rows that began in a dropped one: those go into the oldest kept snapshot's partition.
_BEGAN_IN = (
    "JOIN snapshots s ON s.snapshot_id = greatest(t.valid_from, "
    "(SELECT min(snapshot_id) FROM snapshots WHERE complete))"
)
_TABLES = {
    "snapshots": (
        "SELECT s.* REPLACE (CASE WHEN s.high_water_mark "
        f"{store.READABLE_TIME} THEN s.high_water_mark END AS high_water_mark), "
        f"{_SNAPSHOT_DATE} FROM snapshots s WHERE s.complete"
    ),
    # Types every engine reads: Trino, Athena and older Spark have no unsigned 64-bit integer
    # (the hash becomes 16 hex digits) and may not know Parquet's JSON type (raw becomes text).
    # Databases typed before hfstats refused them may hold times Arrow and Spark cannot read
    # (infinity, years past 9999 or before 1900): NULL, as hfstats types them now.
    "model_versions": (
        "SELECT t.* REPLACE (lpad(hex(t.content_hash), 16, '0') AS content_hash, "
        f"t.raw::VARCHAR AS raw, "
        f"CASE WHEN t.created_at {store.READABLE_TIME} THEN t.created_at END AS created_at, "
        f"CASE WHEN t.last_modified {store.READABLE_TIME} THEN t.last_modified END "
        f"AS last_modified), {_SNAPSHOT_DATE} FROM model_versions t {_BEGAN_IN}"
    ),
    "model_counters": f"SELECT t.*, {_SNAPSHOT_DATE} FROM model_counters t {_BEGAN_IN}",
}


def export(db_path: str | Path, out_dir: str | Path, fmt: str = "parquet") -> dict[str, int]:
    """Write the history to ``out_dir`` (replaced as a whole); return rows per table.

    An existing ``out_dir`` is replaced only if an earlier export wrote it (or it is empty), never
    when it holds the database, and only once the new export is complete.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    target = Path(out_dir).resolve()
    outdir.check_replaceable(target, MARKER_FILE, "hfstats export", keep=Path(db_path))
    counts: dict[str, int] = {}
    with store.read(db_path) as connection:
        store.resolve_snapshot(connection, None)  # refuses a database with no complete snapshot
        with outdir.replacing(target, MARKER_FILE, "hfstats export", Path(db_path)) as staging:
            _write_tables(connection, staging, counts)
    return counts


# DuckDB's partitioned writer buffers 524,288 rows per partition and thread by default: 5.1 GB
# of peak RSS to export 2M models. Flushing every 16,384 rows on two threads: 0.8 GB, and no
# slower (13.5 s against 19 s). No memory limit: the writer's buffers cannot spill, so a limit
# would turn a large export into a failure rather than a slow one.
EXPORT_SETTINGS = {
    "partitioned_write_flush_threshold": 16384,
    "threads": 2,
    "preserve_insertion_order": False,
}


def _write_tables(
    connection: duckdb.DuckDBPyConnection, staging: Path, counts: dict[str, int]
) -> None:
    for name, value in EXPORT_SETTINGS.items():
        connection.execute(f"SET {name} = ?", [value])
    for table, sql in _TABLES.items():
        relation = connection.sql(sql)
        counts[table] = relation.count("*").fetchall()[0][0]
        log.info("export: %s, %d row%s", table, counts[table], "" if counts[table] == 1 else "s")
        table_dir = staging / table
        table_dir.mkdir()
        if counts[table]:
            relation.write_parquet(str(table_dir), partition_by=["snapshot_date"], overwrite=True)
        else:
            # No rows (a Hub with no models): a file with the columns still, in the latest
            # snapshot's partition, since readers refuse a folder without Parquet files.
            latest = connection.sql(f"SELECT max(snapshot_date) FROM ({_TABLES['snapshots']})")
            partition = table_dir / f"snapshot_date={latest.fetchall()[0][0].isoformat()}"
            partition.mkdir()
            relation.project("* EXCLUDE (snapshot_date)").write_parquet(
                str(partition / "data_0.parquet")
            )
    (staging / MARKER_FILE).write_text(json.dumps({"hfstats_version": __version__}) + "\n")
