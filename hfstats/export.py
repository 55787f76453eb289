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

# Each table with the snapshot whose date partitions its rows.
_TABLES = {
    "snapshots": "SELECT t.*, {date} AS snapshot_date FROM snapshots t WHERE t.complete",
    "model_versions": (
        "SELECT t.*, {date} AS snapshot_date FROM model_versions t "
        "JOIN snapshots s ON s.snapshot_id = t.valid_from"
    ),
    "model_counters": (
        "SELECT t.*, {date} AS snapshot_date FROM model_counters t "
        "JOIN snapshots s ON s.snapshot_id = t.valid_from"
    ),
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
            for table, template in _TABLES.items():
                date = "(s.finished_at AT TIME ZONE 'UTC')::DATE"
                if table == "snapshots":
                    date = "(t.finished_at AT TIME ZONE 'UTC')::DATE"
                relation = connection.sql(template.format(date=date))
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
