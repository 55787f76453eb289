"""Locate the data files (SQL queries, fixtures) shipped with hfstats.

In a wheel they are copied to ``hfstats/_data/``; in a source checkout (editable install,
tests) they are the top-level ``queries/`` and ``fixtures/`` folders.
"""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Return the directory ``name`` ("queries" or "fixtures") shipped with hfstats."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"hfstats data folder {name!r} is missing from this installation")
