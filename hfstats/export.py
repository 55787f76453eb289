"""`hfstats export`: the history as Parquet, Hive-partitioned by snapshot date.

Layout under the output folder::

    snapshots/snapshot_date=2026-11-25/data_0.parquet
    model_versions/snapshot_date=2026-11-25/data_0.parquet   # versions that began that day
    model_counters/snapshot_date=2026-11-25/data_0.parquet

A version's partition is the date of the snapshot it first appeared in (``valid_from``), so a
daily export adds one small partition per table, and the state as of snapshot S is
``valid_from <= S AND (valid_to IS NULL OR valid_to > S)`` in any engine that reads Parquet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import store
from .errors import UsageError

FORMATS = ("parquet",)

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
    "snapshots": f"SELECT s.*, {_SNAPSHOT_DATE} FROM snapshots s WHERE s.complete",
    "model_versions": f"SELECT t.*, {_SNAPSHOT_DATE} FROM model_versions t {_BEGAN_IN}",
    "model_counters": f"SELECT t.*, {_SNAPSHOT_DATE} FROM model_counters t {_BEGAN_IN}",
}


def export(db_path: str | Path, out_dir: str | Path, fmt: str = "parquet") -> dict[str, int]:
    """Write the history to ``out_dir`` (replaced as a whole); return rows per table."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder")
    parent = out_dir.resolve().parent
    if not parent.exists():
        raise UsageError(f"folder {parent} does not exist")
    staging = parent / f".{out_dir.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    counts: dict[str, int] = {}
    try:
        with store.read(db_path) as connection:
            for table, sql in _TABLES.items():
                relation = connection.sql(sql)
                counts[table] = relation.count("*").fetchall()[0][0]
                target = staging / table
                target.mkdir(parents=True)
                if counts[table]:
                    relation.write_parquet(
                        str(target), partition_by=["snapshot_date"], overwrite=True
                    )
    except PermissionError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Swap in the new export only once it is whole.
    if out_dir.exists():
        retired = parent / f".{out_dir.name}.old"
        shutil.rmtree(retired, ignore_errors=True)
        out_dir.rename(retired)
        staging.rename(out_dir)
        shutil.rmtree(retired)
    else:
        staging.rename(out_dir)
    return counts
