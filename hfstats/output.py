"""One place that turns rows into text: table, CSV, JSON or Markdown.

CSV and JSON carry every value exactly (JSON with NULL as null). The table and Markdown are for
reading, so control characters are shown escaped, and Markdown escapes everything that could
turn a value from a model card into markup.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from .errors import UsageError

FORMATS = ("table", "csv", "json", "markdown")

# Control characters, line separators and the bidirectional controls (a right-to-left override
# in a model id would reverse the rest of a terminal's line).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def escape_control(text: str) -> str:
    return _CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide characters (CJK, most emoji) take two,
    combining marks none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def iso_duration(value: timedelta) -> str:
    """An INTERVAL as an ISO 8601 duration: ``P3DT3600S``."""
    seconds = value.seconds + value.microseconds / 1_000_000
    return f"P{value.days}DT{seconds:g}S"


def json_value(value: Any) -> Any:
    """A value as JSON can carry it: timestamps and intervals as ISO 8601, NaN as null, BLOBs
    as hex, anything else JSON has no type for (UUID...) as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def float_text(value: float) -> str:
    """Up to four decimals, trailing zeros dropped; a tiny value that is not zero keeps two
    significant digits (four decimals would show a share that is not zero as 0), written out
    like the rest of its column (0.0000058, not 5.8e-06) down to 1e-9."""
    if 0 < abs(value) < 0.00005:
        significant = f"{value:.2g}"
        return format(Decimal(significant), "f") if abs(value) >= 1e-9 else significant
    # NaN and infinities are values, not NULL (which shows empty).
    return f"{value:.4f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # as in CSV and JSON
        return "true" if value else "false"
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple | dict):
        return json.dumps(json_value(value), ensure_ascii=False)
    return str(value)


def markdown_cell(value: Any) -> str:
    """A value safe inside a Markdown table cell: no markup, no HTML, no line breaks."""
    text = escape_control(_text(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL_RE.sub(r"\\\1", text)


def render(
    rows: Sequence[Sequence[Any]], columns: Sequence[str], fmt: str, *, group_digits: bool = False
) -> str:
    """Render ``rows`` (tuples in ``columns`` order) in one of ``FORMATS``. ``group_digits``
    writes integers in Markdown with thousands separators (1,234,567), for documents people
    read rather than parse."""
    if fmt in ("json", "csv"):
        return "".join(render_chunks([rows], columns, fmt))
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(markdown_cell(c) for c in columns) + " |",
            "|"
            + "|".join(" ---: " if _numeric(rows, i) else " --- " for i in range(len(columns)))
            + "|",
        ]

        def cell(value: Any) -> str:
            if group_digits and isinstance(value, int) and not isinstance(value, bool):
                return f"{value:,}"
            return markdown_cell(value)

        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
        return "\n".join(lines)
    if fmt == "table":
        cells = [[escape_control(_text(v)) for v in row] for row in rows]
        widths = [
            max([display_width(c)] + [display_width(r[i]) for r in cells])
            for i, c in enumerate(columns)
        ]
        numeric = [_numeric(rows, i) for i in range(len(columns))]

        def line(values: Sequence[str]) -> str:
            padded = []
            for value, width, right in zip(values, widths, numeric, strict=True):
                padding = " " * (width - display_width(value))
                padded.append(padding + value if right else value + padding)
            return "  ".join(padded).rstrip()

        out = [line(list(columns)), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in cells]
        return "\n".join(out)
    raise ValueError(f"unknown format {fmt!r}")


def render_chunks(
    batches: Iterable[Sequence[Sequence[Any]]], columns: Sequence[str], fmt: str
) -> Iterator[str]:
    """``render`` a batch of rows at a time: CSV and JSON text comes as the rows do, so a result
    of millions of rows is never held whole; the table and Markdown align their columns over
    every row, so they come in one piece after the last. No newline at the end, as ``render``."""
    if fmt == "json":
        repeated = sorted({c for c in columns if list(columns).count(c) > 1})
        if repeated:
            # A JSON object keeps one value per name: the other column would vanish.
            raise UsageError(
                f"column {repeated[0]!r} appears more than once, which JSON objects cannot "
                "hold: name the columns apart (AS ...) or use --format csv"
            )
        opening = "[\n  "
        for batch in batches:
            parts = []
            for row in batch:
                item = dict(zip(columns, (json_value(v) for v in row), strict=True))
                # As json.dumps of the whole list with indent=2 lays it out.
                text = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n  ")
                parts.append(opening + text)
                opening = ",\n  "
            yield "".join(parts)
        yield "[]" if opening == "[\n  " else "\n]"
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        yield buffer.getvalue().rstrip("\n")
        for batch in batches:
            buffer.seek(0)
            buffer.truncate()
            for row in batch:
                writer.writerow(
                    [
                        json.dumps(json_value(v), ensure_ascii=False)
                        if isinstance(v, list | dict)
                        else _csv(v)
                        for v in row
                    ]
                )
            if text := buffer.getvalue():
                yield "\n" + text.rstrip("\n")
    else:
        yield render([row for batch in batches for row in batch], columns, fmt)


def _csv(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):  # as JSON and DuckDB's own CSV write them, not Python's True
        return "true" if value else "false"
    if isinstance(value, datetime | date | time | timedelta | bytes | bytearray | memoryview):
        return json_value(value)
    return value


def _numeric(rows: Sequence[Sequence[Any]], index: int) -> bool:
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values
    )
