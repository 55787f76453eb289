"""The report: one chart per question, titled with its answer, for a browser and for docs.

``write_report`` reads everything it needs from the database in one short read-only
connection, builds one Altair chart per query (named by the query's slug), and writes:

- ``index.html``: one self-contained page (Vega, Vega-Lite and vega-embed inlined; no request
  to any host), with a Content-Security-Policy that lets only its own scripts run;
- ``report.md``: each chart as an image link, the tables as Markdown;
- ``charts/NAME.vl.json`` (data inlined), ``charts/NAME.svg`` and ``charts/NAME.png``.

Everything is written into a fresh folder beside the output folder and swapped in at the end,
so an interrupted or failed run never replaces a good report with half of one.

Strings from the data (library names, tags, claim text) are untrusted: they reach HTML only
through ``html.escape``, ``<script>`` blocks only as JSON with ``<``, ``>`` and ``&`` escaped,
and Markdown only through ``output.markdown_cell``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import vl_convert

from . import __version__, claims, outdir, queries, store
from .errors import UsageError
from .frameworks import DEFAULT_METHOD, FRAMEWORK_CLASSES, METHODS
from .output import escape_control, markdown_cell, render

REPORT_FORMATS = ("html", "md", "svg", "png", "json")
DEFAULT_OUT = Path("reports/latest")
log = logging.getLogger("hfstats.report")

# A file that marks a folder as written by `hfstats report`: only such folders are replaced.
MARKER_FILE = outdir.REPORT_MARKER

PLACEHOLDER_DAY = claims.PLACEHOLDER_CUTOFF.date().isoformat()
PLACEHOLDER_LABEL = f"created on or before {PLACEHOLDER_DAY}"
# The bar or column of the placeholder-dated models, drawn lighter: their years are unknown.
_PLACEHOLDER_LIGHTER = alt.condition(
    alt.datum.year_label == PLACEHOLDER_LABEL, alt.value(0.55), alt.value(1.0)
)
CLASS_LABELS = {
    "pytorch_only": "PyTorch-only",
    "tensorflow_only": "TensorFlow-only",
    "jax_only": "JAX-only",
    "multi_framework": "Multi-framework",
    "no_framework": "No framework",
}
# Okabe and Ito's palette, which readers with any common colour-vision deficiency tell apart.
CLASS_COLORS = {
    "pytorch_only": "#d55e00",
    "tensorflow_only": "#0072b2",
    "jax_only": "#009e73",
    "multi_framework": "#cc79a7",
    "no_framework": "#b5b5b5",
}
# Lines of the trend chart differ by dash as well as by colour.
CLASS_DASHES = {
    "pytorch_only": [1, 0],
    "tensorflow_only": [6, 3],
    "jax_only": [2, 2],
    "multi_framework": [8, 3, 2, 3],
    "no_framework": [4, 4],
}
FORMAT_LABELS = {
    "onnx": "ONNX",
    "tflite": "TFLite",
    "coreml": "Core ML",
    "gguf": "GGUF",
    "openvino": "OpenVINO",
    "safetensors": "safetensors",
    "mlx": "MLX",
}
METHOD_NOTES = {
    "tags": "frameworks from the pytorch/tf/jax tags",
    "files": "frameworks from weight files and library",
}
TOP_LIBRARIES = 15
# Long names from model cards would push the chart titles off the image.
TITLE_NAME_LIMIT = 40
CHART_WIDTH = 560
# vl-convert lays the SVG's text out with Liberation Sans (its "sans-serif"); a browser showing
# the SVG picks its own sans-serif, often wider (DejaVu Sans), and the text then overruns its
# space. Arial and Helvetica have Liberation Sans' widths, or nearly.
CHART_FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
# Twice the pixels of the SVG: sharp on high-density screens, shown at the SVG's size.
PNG_SCALE = 2
# The trend's snapshot labels, level up to this many snapshots, slanted beyond.
TREND_LEVEL_LABELS = 4


@dataclass
class ReportData:
    """Everything a report shows, read from the database in one go."""

    snapshot: store.SnapshotFacts
    method: str
    as_of: datetime | None
    results: dict[str, queries.QueryResult]
    uses_method: set[str]
    claims: list[claims.ClaimResult]
    notes: list[str] = field(default_factory=list)
    # Of the charts by year, those rows (of the same query) that leave out models without any
    # createdAt: the bar without a year holds both, its caption counts each kind.
    dated: dict[str, queries.QueryResult] = field(default_factory=dict)


@dataclass
class Figure:
    """One chart of the report: the question it answers, its answer as title, its spec."""

    name: str
    question: str
    title: str
    spec: dict
    caption: str
    table: tuple[list[str], list[tuple]] | None = None


# -- reading -----------------------------------------------------------------------------------


def collect(
    connection: Any,
    *,
    snapshot_id: int | datetime | None = None,
    as_of: datetime | None = None,
    method: str = DEFAULT_METHOD,
) -> ReportData:
    """Run every query the report shows, and the claims check, on one connection."""
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if as_of is not None:
        as_of = queries.parse_as_of(as_of)  # a naive datetime is UTC, as the queries take it
    snapshot_id = store.resolve_snapshot(connection, snapshot_id)
    snapshot = store.snapshot_facts(connection, snapshot_id)
    names = list(FIGURE_BUILDERS)
    notes = []
    if snapshot.complete_up_to < 2:
        names.remove("snapshot_trend")
        notes.append(
            f"The trend across snapshots is left out: snapshot {snapshot_id} is the first "
            "complete one, and the report reads the database as of it."
            if snapshot.complete_after
            else "The trend across snapshots appears once the database holds more than one "
            "complete snapshot (run `hfstats refresh` again later)."
        )
    results = {}
    uses_method = set()
    cache: dict = {}  # the claims check asks for some of the same results
    for name in names:
        # Only queries whose answer depends on the method take it; the rest refuse it.
        if "method" in queries.load_query(name).params:
            uses_method.add(name)
            options = {"method": method}
        else:
            options = {}
        results[name] = queries.run_query(
            connection, name, snapshot_id=snapshot_id, as_of=as_of, cache=cache, **options
        )
    if not _models_total(results):
        notes.append(
            f"Snapshot {snapshot_id} lists no models"
            + (f" created by {as_of_text(as_of)}" if as_of is not None else "")
            + ": every chart is empty."
        )
    # Placeholder-dated models count as created at the cut-off: an earlier as_of leaves them out.
    if as_of is not None and as_of < claims.PLACEHOLDER_CUTOFF:
        placeholder = _without_year(
            queries.run_query(
                connection,
                "yearly_additions",
                snapshot_id=snapshot_id,
                as_of=claims.AFTER_EVERY_DATE,
                cache=cache,
            ),
            "models",
        )
        if placeholder:
            notes.append(
                f"{placeholder:,} models carry the Hub's placeholder creation date: created at "
                f"an unknown time up to {PLACEHOLDER_DAY}, they are left out, since whether they "
                f"existed by {as_of_text(as_of)} is unknown."
            )
    # Any as_of leaves out the models without a createdAt; one after every date, no others.
    dated = {
        name: queries.run_query(
            connection,
            name,
            snapshot_id=snapshot_id,
            as_of=as_of or claims.AFTER_EVERY_DATE,
            method=method,
            cache=cache,
        )
        for name in _COUNTING_PLACEHOLDERS
    }
    return ReportData(
        snapshot=snapshot,
        method=method,
        as_of=as_of,
        results=results,
        uses_method=uses_method,
        claims=claims.check_claims(
            connection, claims.load_claims(), snapshot_id=snapshot_id, query_cache=cache
        ),
        notes=notes,
        dated=dated,
    )


# The queries of charts with a bar (or column) for models without a creation year.
_COUNTING_PLACEHOLDERS = ("yearly_additions", "research_models")


# -- small pure helpers ------------------------------------------------------------------------


def percent(share: float | None) -> str:
    """A share as a percentage a reader can compare: whole percents, one decimal below 1%,
    and never 0% for a share that is not zero, nor 100% for one that is not all."""
    if share is None:
        return "n/a"
    if 0.995 <= share < 1:
        return ">99%"
    if 0 < share < 0.001:
        return "<0.1%"
    if 0 < share < 0.01:
        return f"{share:.1%}"
    return f"{share:.0%}"


def class_label(framework_class: str | None) -> str:
    return CLASS_LABELS.get(framework_class or "", framework_class or "unknown")


def year_label(year: int | None) -> str:
    """The placeholder creation date is its own bucket, never the year 2022."""
    return PLACEHOLDER_LABEL if year is None else str(year)


def year_order(years: Iterable[int | None]) -> list[str]:
    distinct = set(years)
    ordered = [PLACEHOLDER_LABEL] if None in distinct else []
    return ordered + [str(y) for y in sorted(y for y in distinct if y is not None)]


def short_name(name: str) -> str:
    return name if len(name) <= TITLE_NAME_LIMIT else name[: TITLE_NAME_LIMIT - 1] + "…"


def _rows(result: queries.QueryResult) -> list[dict]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _class_order(classes: Iterable[str | None]) -> list[str]:
    present = set(classes)
    known = [c for c in FRAMEWORK_CLASSES if c in present]
    return known + sorted(str(c) for c in present - set(FRAMEWORK_CLASSES))


def _class_color(classes: Iterable[str | None]) -> alt.Color:
    order = _class_order(classes)
    return alt.Color(
        "class_label:N",
        title="Framework class",
        scale=alt.Scale(
            domain=[class_label(c) for c in order],
            range=[CLASS_COLORS.get(c, "#8c564b") for c in order],
        ),
        sort=[class_label(c) for c in order],
        # Without classes, a legend would be its title alone.
        legend=alt.Undefined if order else None,
    )


_YEAR_AXIS = alt.Axis(
    labelAngle=0,
    title="Creation year",
    # Three short lines so that the placeholder bucket's label stays readable without rotation
    # and clear of the next year's.
    labelExpr=(
        f"datum.value == {json.dumps(PLACEHOLDER_LABEL)} "
        f"? ['created', 'on or before', '{PLACEHOLDER_DAY}'] : datum.value"
    ),
)


def _whole_number_ticks(largest: float) -> dict[str, Any]:
    """Axis or legend properties for whole numbers up to ``largest``: below five, a tick per
    number (Vega puts 0.5 ticks on stacked bars whatever tickMinStep says, and ",d" shows them
    as repeats; a gradient legend from 0 to 1 says 0.2, 0.4 ...)."""
    if largest < 5:
        return {"values": list(range(int(largest) + 1)), "format": ",d"}
    return {"tickMinStep": 1, "format": ",d"}


def _count_axis(largest: float) -> alt.Axis:
    return alt.Axis(**_whole_number_ticks(largest))


def _and_list(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _tied_at_top(values: dict[str, float]) -> list[str]:
    """The keys sharing the largest value, in class order: a tie names every leader, since
    picking one by its place in a list would tilt the headline."""
    top = max(values.values())
    leaders = [key for key, value in values.items() if value == top]
    order = _class_order(leaders)  # names a key it does not know by str(key)
    return sorted(leaders, key=lambda key: order.index(key if key in order else str(key)))


def _framework_leaders_title(totals: dict[str, float], of_what: str) -> str:
    """'X models: S of WHAT', or 'X and Y models tie at S of WHAT each', S the leaders' share
    of ``totals``."""
    leaders = _tied_at_top(totals)
    names = _and_list([class_label(c) for c in leaders])
    share = totals[leaders[0]] / sum(totals.values())
    if len(leaders) == 1:
        return f"{names} models: {percent(share)} of {of_what}"
    return f"{names} models tie at {percent(share)} of {of_what} each"


def _framework_totals(rows: Sequence[dict], value: str) -> dict[str, float]:
    """Each framework class's total of ``value``, or nothing when it is zero throughout."""
    totals: dict[str, float] = defaultdict(int)
    for row in rows:
        if row["framework_class"] != "no_framework":
            totals[row["framework_class"]] += row[value] or 0
    return dict(totals) if any(totals.values()) else {}


# -- the figures -------------------------------------------------------------------------------


def exclusivity_title(rows: Sequence[dict]) -> str:
    totals = _framework_totals(rows, "models")
    if not totals:
        return "No model has a PyTorch, TensorFlow or JAX framework"
    return _framework_leaders_title(totals, "framework models")


def _share_bars(rows: list[dict], value: str, value_title: str, label: Callable) -> alt.Chart:
    frame = pd.DataFrame(
        {
            "class_label": [class_label(r["framework_class"]) for r in rows],
            "value": [r[value] or 0 for r in rows],
            "label": [label(r) for r in rows],
        }
    )
    largest = max(frame["value"].max(), 1)
    base = alt.Chart(frame).encode(
        y=alt.Y(
            "class_label:N",
            title=None,
            sort=[class_label(c) for c in _class_order(r["framework_class"] for r in rows)],
        ),
        x=alt.X(
            "value:Q",
            title=value_title,
            axis=_count_axis(frame["value"].max()),
            # Room on the right for the text labels.
            scale=alt.Scale(domain=[0, largest * 1.6], nice=False),
        ),
    )
    bars = base.mark_bar().encode(
        color=_class_color(r["framework_class"] for r in rows).legend(None),
        tooltip=[
            alt.Tooltip("class_label:N", title="Class"),
            alt.Tooltip("value:Q", title=value_title, format=","),
        ],
    )
    text = base.mark_text(align="left", dx=4).encode(text="label:N")
    return alt.layer(bars, text)


def exclusivity_figure(data: ReportData) -> Figure:
    rows = _rows(data.results["exclusivity"])

    def label(row: dict) -> str:
        if row["framework_class"] == "no_framework":
            return f"{row['models']:,} · {percent(row['share_of_all_models'])} of all models"
        return (
            f"{row['models']:,} · {percent(row['share_of_framework_models'])} of framework models"
        )

    title = exclusivity_title(rows)
    chart = _share_bars(rows, "models", "Models", label)
    return _figure(
        data,
        "exclusivity",
        "Which frameworks are models for?",
        title,
        chart,
        caption="Framework models: those with at least one of PyTorch, TensorFlow, JAX.",
        table=_table(data.results["exclusivity"], class_column="framework_class"),
    )


def yearly_additions_title(rows: Sequence[dict]) -> str:
    """Which framework class led the framework models added in most years (ties count for each)."""
    by_year: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        if row["year"] is not None and row["framework_class"] != "no_framework":
            by_year[row["year"]][row["framework_class"]] += row["models"] or 0
    leaders_by_year = {
        year: _tied_at_top(counts) for year, counts in by_year.items() if any(counts.values())
    }
    if not leaders_by_year:
        return "No PyTorch, TensorFlow or JAX model has a known creation year"
    led: dict[str, int] = defaultdict(int)
    for year_leaders in leaders_by_year.values():
        for framework_class in year_leaders:
            led[framework_class] += 1
    leaders = _tied_at_top(led)
    names = _and_list([class_label(c) for c in leaders])
    if len(leaders_by_year) == 1:  # not "in 1 of 1 years"
        (year,) = leaders_by_year
        if len(leaders) > 1:
            return f"{names} models tied for the most framework models added in {year}"
        return f"{names} models led the framework models added in {year}"
    shared = sum(
        1
        for year_leaders in leaders_by_year.values()
        if len(year_leaders) > 1 and set(year_leaders) & set(leaders)
    )
    ties = f" ({shared} of them tied)" if shared else ""
    each = " each" if len(leaders) > 1 else ""
    return (
        f"{names} models{each} led the framework models added in "
        f"{led[leaders[0]]} of {len(leaders_by_year)} years{ties}"
    )


def _sentences(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _partial_year_note(data: ReportData, rows: Sequence[dict], value: str = "models") -> str:
    """That the latest year drawn is counted only up to the snapshot (or --as-of), when it is:
    drawn like the others, its smaller bar would read as a decline."""
    years = [r["year"] for r in rows if r["year"] is not None and (r[value] or 0) > 0]
    # An --as-of after the snapshot counts no further than the snapshot.
    ends = [t for t in (data.as_of, data.snapshot.finished_at) if isinstance(t, datetime)]
    if not years or not ends:
        return ""
    until = min(ends)
    latest = max(years)
    # The cut-off is inclusive: --as-of 2022-12-31 (its last microsecond) counts all of 2022.
    if until >= datetime(latest, 12, 31, 23, 59, 59, 999999, tzinfo=UTC):
        return ""
    return f"{latest} is counted only up to {until.astimezone(UTC).date().isoformat()}."


def _without_year(result: queries.QueryResult, value: str) -> int:
    return sum(r[value] or 0 for r in _rows(result) if r["year"] is None)


def _placeholder_caption(
    data: ReportData, name: str, value: str = "models", shown_as: str = "bar", which: str = "models"
) -> str:
    """Counts models, each once (from ``name``'s rows without a year, summed over classes): a
    per-format figure would say more or fewer models than carry the date."""
    placeholder = _without_year(data.dated[name], value)
    undated = _without_year(data.results[name], value) - placeholder

    def models(count: int) -> str:
        return f"{count:,} {which if count != 1 else which.removesuffix('s')}"

    caption = ""
    if placeholder:
        they = "they were" if placeholder != 1 else "it was"
        own = "they have their" if placeholder != 1 else "it has its"
        caption = (
            f"{models(placeholder)} {'carry' if placeholder != 1 else 'carries'} the Hub's "
            f"placeholder creation date: {they} created at an unknown time on or before "
            f"{PLACEHOLDER_DAY}, so {own} own {shown_as}, not {PLACEHOLDER_DAY[:4]}'s."
        )
    if undated:
        where = (
            f"in that {shown_as} too" if placeholder else f"in the “{PLACEHOLDER_LABEL}” {shown_as}"
        )
        caption += (
            f" {models(undated)} without any creation date (damaged listing data) "
            f"{'are' if undated != 1 else 'is'} {where}."
        )
    return caption.strip()


def _stacked_by_year(
    rows: list[dict], value: str, value_title: str, normalize: bool = False
) -> alt.Chart:
    frame = pd.DataFrame(
        {
            "year_label": [year_label(r["year"]) for r in rows],
            "class_label": [class_label(r["framework_class"]) for r in rows],
            "models": [r[value] or 0 for r in rows],
        }
    )
    order = _class_order(r["framework_class"] for r in rows)
    frame["stack_order"] = [order.index(r["framework_class"]) for r in rows]
    count_tooltip = alt.Tooltip(
        "sum(models):Q", title="Models" if normalize else value_title, format=","
    )
    tooltip = [
        alt.Tooltip("year_label:N", title="Created"),
        alt.Tooltip("class_label:N", title="Class"),
        count_tooltip,
    ]
    # Computed for both panels of a chart, so that they share one dataset in the spec.
    year_totals = frame.groupby("year_label")["models"].transform("sum")
    frame["share_of_year"] = (frame["models"] / year_totals.where(year_totals > 0)).fillna(0)
    if normalize:
        # The bars' heights are shares: the tooltip says the share, beside the count.
        tooltip.append(alt.Tooltip("sum(share_of_year):Q", title=value_title, format=".1%"))
    largest = frame.groupby("year_label")["models"].sum().max() if len(frame) else 0
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("year_label:N", sort=year_order(r["year"] for r in rows), axis=_YEAR_AXIS),
            y=alt.Y(
                "sum(models):Q",
                title=value_title,
                axis=alt.Axis(format="%") if normalize else _count_axis(largest),
                # All zero (no model cites a paper): a 0 at the bottom, not in the middle.
                scale=alt.Scale(domain=[0, 1]) if not normalize and not largest else alt.Undefined,
                stack="normalize" if normalize else True,
            ),
            color=_class_color(r["framework_class"] for r in rows),
            order=alt.Order("stack_order:Q"),
            opacity=_PLACEHOLDER_LIGHTER,
            tooltip=tooltip,
        )
    )


def yearly_additions_figure(data: ReportData) -> Figure:
    rows = _rows(data.results["yearly_additions"])
    return _figure(
        data,
        "yearly_additions",
        "How many models were added each year, by framework class?",
        yearly_additions_title(rows),
        # Counts, and the same bars as shares of each year: how the classes' shares evolved.
        alt.hconcat(
            _stacked_by_year(rows, "models", "Models created").properties(width=CHART_WIDTH // 2),
            _stacked_by_year(
                rows, "models", "Share of the year's models", normalize=True
            ).properties(width=CHART_WIDTH // 2),
        ),
        caption=_sentences(
            _placeholder_caption(data, "yearly_additions"),
            "Left: models created per year; right: each class's share of that year's models.",
        ),
        image_note=_partial_year_note(data, rows),
        table=_pivot(
            rows,
            "year",
            lambda r: year_label(r["year"]),
            year_order(r["year"] for r in rows),
            lambda r: class_label(r["framework_class"]),
            [class_label(c) for c in _class_order(r["framework_class"] for r in rows)],
            lambda r: r["models"] or 0,
        ),
        width=None,
    )


def framework_by_downloads_title(rows: Sequence[dict]) -> str:
    totals = _framework_totals(rows, "downloads")
    if not totals:
        return "No downloads of framework models"
    return _framework_leaders_title(totals, "framework-model downloads")


def framework_by_downloads_figure(data: ReportData) -> Figure:
    rows = _rows(data.results["framework_by_downloads"])

    def label(row: dict) -> str:
        if row["framework_class"] == "no_framework":
            return (
                f"{row['downloads'] or 0:,} · {percent(row['share_of_all_downloads'])} of all "
                "downloads"
            )
        return (
            f"{row['downloads'] or 0:,} · "
            f"{percent(row['share_of_framework_downloads'])} of framework-model downloads"
        )

    return _figure(
        data,
        "framework_by_downloads",
        "Which frameworks do the downloaded models use?",
        framework_by_downloads_title(rows),
        _share_bars(
            rows,
            "downloads",
            "Downloads (30-day counts, as last read)"
            if stale_downloads_note(data.snapshot)
            else "Downloads (30 days before the snapshot)",
            label,
        ),
        caption=downloads_caption(data.snapshot),
        table=_table(data.results["framework_by_downloads"], class_column="framework_class"),
    )


def downloads_caption(snapshot: store.SnapshotFacts) -> str:
    return stale_downloads_note(snapshot) or (
        "Downloads are the Hub's counts for the 30 days before the snapshot."
    )


def stale_downloads_note(snapshot: store.SnapshotFacts) -> str:
    """Empty for a full crawl's snapshot; for an incremental one, that it re-read only the
    models that changed, so the others' downloads were counted earlier."""
    if snapshot.last_full == snapshot.snapshot_id:
        return ""
    since = (
        f"the last full crawl (snapshot {snapshot.last_full})"
        if snapshot.last_full is not None
        else "the refresh that last read them"
    )
    return (
        "Downloads are the Hub's 30-day counts as last read: this snapshot's refresh was "
        "incremental and re-read only changed models; the others keep the counts read by "
        f"{since} or a later refresh that read them; a full refresh reads them all."
    )


def library_name_label(name: str | None) -> str:
    """A library's name as charts and tables show it. Free text from model cards: a
    right-to-left override in it would draw "rtl\u202egnp.exe" as "rtlexe.png", so control
    and bidirectional characters are shown escaped."""
    return "(no library)" if name is None else escape_control(name)


def top_libraries(rows: Sequence[dict], limit: int = TOP_LIBRARIES) -> list[dict]:
    """The ``limit`` libraries with most models (ties: most downloads first, as the title
    picks its leader), then one row adding up all the others."""
    ranked = sorted(rows, key=_library_rank)
    top = [dict(r, library_label=library_name_label(r["library_name"])) for r in ranked[:limit]]
    rest = ranked[limit:]
    if rest:
        top.append(
            {
                "library_name": None,
                "library_label": f"other ({len(rest)} libraries)",
                **{
                    key: sum(r[key] or 0 for r in rest)
                    for key in ("models", "downloads", "share_of_models", "share_of_downloads")
                },
            }
        )
    return top


def library_share_caption(rows: Sequence[dict]) -> str:
    if len(rows) > TOP_LIBRARIES:
        shown = f"The {TOP_LIBRARIES} libraries with most models; the rest are added up as “other”."
    else:
        shown = "Every library the models name."
    unnamed = (
        " “(no library)”: models that name none."
        if any(r["library_name"] is None for r in rows)
        else ""
    )
    return f"{shown}{unnamed} Library as the model declares it (library_name)."


def _library_rank(row: dict) -> tuple:
    return (
        -(row["models"] or 0),
        -(row["downloads"] or 0),
        library_name_label(row["library_name"]),
    )


def library_share_title(rows: Sequence[dict]) -> str:
    named = [r for r in rows if r["library_name"] is not None]
    if not named:
        return "No model names its library"
    leader = min(named, key=_library_rank)
    shares = f"{percent(leader['share_of_models'])} of models, "
    shares += f"{percent(leader['share_of_downloads'])} of downloads"
    # Tied on models and downloads, the leader would be picked by its name.
    tied = [r for r in named if _library_rank(r)[:2] == _library_rank(leader)[:2]]
    if len(tied) == 1:
        return f"{short_name(library_name_label(leader['library_name']))}: {shares}"
    if len(tied) > 3:
        return f"{len(tied)} libraries tie at {shares} each"
    tied.sort(key=_library_rank)
    names = _and_list([short_name(library_name_label(r["library_name"])) for r in tied])
    return f"{names} tie at {shares} each"


def library_share_figure(data: ReportData) -> Figure:
    all_rows = _rows(data.results["library_share"])
    rows = top_libraries(all_rows)
    frame = pd.DataFrame(
        {
            "library_label": [r["library_label"] for r in rows],
            "share_of_models": [r["share_of_models"] or 0 for r in rows],
            "share_of_downloads": [r["share_of_downloads"] or 0 for r in rows],
            "models": [r["models"] or 0 for r in rows],
            "downloads": [r["downloads"] or 0 for r in rows],
        }
    )
    # Names up to TITLE_NAME_LIMIT characters fit whole: cut at Vega's 180 px, long names that
    # differ only at their end would all read the same.
    y = alt.Y(
        "library_label:N",
        title=None,
        sort=list(frame["library_label"]),
        axis=alt.Axis(labelLimit=320),
    )
    tooltip = [
        alt.Tooltip("library_label:N", title="Library"),
        alt.Tooltip("models:Q", format=","),
        alt.Tooltip("share_of_models:Q", title="Share of models", format=".1%"),
        alt.Tooltip("downloads:Q", format=","),
        alt.Tooltip("share_of_downloads:Q", title="Share of downloads", format=".1%"),
    ]
    by_models = (
        alt.Chart(frame)
        .mark_bar(color="#4c78a8")
        .encode(
            y=y,
            x=alt.X("share_of_models:Q", title="Share of models", axis=alt.Axis(format="%")),
            tooltip=tooltip,
        )
        .properties(width=CHART_WIDTH // 2 - 40)
    )
    by_downloads = (
        alt.Chart(frame)
        .mark_bar(color="#f58518")
        .encode(
            y=y.axis(None),
            x=alt.X("share_of_downloads:Q", title="Share of downloads", axis=alt.Axis(format="%")),
            tooltip=tooltip,
        )
        .properties(width=CHART_WIDTH // 2 - 40)
    )
    table_rows = [
        (
            r["library_label"],
            r["models"],
            r["downloads"],
            _percent_cell(r["share_of_models"]),
            _percent_cell(r["share_of_downloads"]),
        )
        for r in rows
    ]
    return _figure(
        data,
        "library_share",
        "Which libraries do models use, by count and by downloads?",
        library_share_title(all_rows),
        # One scale for both panels: each scaled to its own longest bar, 53% of models and 86%
        # of downloads would be drawn the same length.
        alt.hconcat(by_models, by_downloads).resolve_scale(x="shared"),
        caption=_sentences(library_share_caption(all_rows), stale_downloads_note(data.snapshot)),
        table=(
            ["library", "models", "downloads", "share_of_models", "share_of_downloads"],
            table_rows,
        ),
        width=None,
    )


def format_label(name: str) -> str:
    return FORMAT_LABELS.get(name, name)


def deployment_formats_title(rows: Sequence[dict]) -> str:
    years = [r["year"] for r in rows if r["year"] is not None and (r["models"] or 0) > 0]
    if not years:
        if any(r["models"] for r in rows):  # in the placeholder column only
            return f"Only models created on or before {PLACEHOLDER_DAY} ship a deployment format"
        return "No model ships a deployment format"
    latest = max(years)
    counts = {r["format"]: r["models"] or 0 for r in rows if r["year"] == latest}
    top = max(counts.values())
    leaders = sorted(f for f, count in counts.items() if count == top)
    names = _and_list([format_label(f) for f in leaders])
    if len(leaders) == 1:
        return f"{names}: the most shipped format among models created in {latest} ({top:,})"
    return (
        f"{names} tie as the most shipped formats among models created in {latest} ({top:,} each)"
    )


def deployment_formats_figure(data: ReportData) -> Figure:
    rows = _rows(data.results["deployment_formats"])
    # The share of each year's new models shipping a format shows the trend even where the
    # number of models per year differs a lot.
    created: dict[int | None, int] = defaultdict(int)
    for row in _rows(data.results["yearly_additions"]):
        created[row["year"]] += row["models"] or 0
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["format"]] += row["models"] or 0
    shipped = [r for r in rows if totals[r["format"]]]
    never = sorted(format_label(f) for f, n in totals.items() if not n)
    frame = pd.DataFrame(
        {
            "year_label": [year_label(r["year"]) for r in shipped],
            "format_label": [format_label(r["format"]) for r in shipped],
            "models": [r["models"] or 0 for r in shipped],
            "share_of_year": [
                (r["models"] or 0) / created[r["year"]] if created[r["year"]] else 0.0
                for r in shipped
            ],
        }
    )
    formats = [format_label(f) for f in sorted(totals, key=lambda f: (-totals[f], f)) if totals[f]]
    base = alt.Chart(frame).encode(
        x=alt.X("year_label:N", sort=year_order(r["year"] for r in shipped), axis=_YEAR_AXIS),
        y=alt.Y("format_label:N", title=None, sort=formats),
    )
    cells = base.mark_rect(strokeDash=[3, 2], strokeWidth=1).encode(
        color=alt.Color(
            "share_of_year:Q",
            title="Share of the year's models",
            scale=alt.Scale(scheme="greens", domainMin=0),
            # Without a cell, the legend's gradient would span 0% to NaN%.
            legend=alt.Legend(format="%") if len(frame) else None,
        ),
        # Its colour is the data, so the placeholder column is outlined, not drawn lighter.
        stroke=alt.condition(
            alt.datum.year_label == PLACEHOLDER_LABEL, alt.value("#555555"), alt.value(None)
        ),
        tooltip=[
            alt.Tooltip("format_label:N", title="Format"),
            alt.Tooltip("year_label:N", title="Created"),
            alt.Tooltip("models:Q", format=","),
            alt.Tooltip("share_of_year:Q", title="Share of the year's models", format=".1%"),
        ],
    )
    darkest = frame["share_of_year"].max() if len(frame) else 0
    text = base.mark_text().encode(
        text=alt.Text("models:Q", format=","),
        # White on the dark cells.
        color=alt.condition(
            alt.datum.share_of_year > darkest * 0.6, alt.value("white"), alt.value("black")
        ),
    )
    caption = (
        "Each cell counts the models created that year that ship the format; its colour is "
        "their share of all models created that year."
    )
    if never:
        caption += f" No model ships {', '.join(never)}."
    return _figure(
        data,
        "deployment_formats",
        "Which deployment formats do models ship, by creation year?",
        deployment_formats_title(rows),
        alt.layer(cells, text).properties(height=max(36 * len(formats), 80)),
        # A model ships any number of formats: the placeholder models are counted once each.
        caption=_sentences(
            caption,
            _placeholder_caption(data, "yearly_additions", shown_as="column"),
        ),
        image_note=_partial_year_note(data, rows),
        table=_pivot(
            shipped,
            "format",
            lambda r: format_label(r["format"]),
            formats,
            lambda r: year_label(r["year"]),
            year_order(r["year"] for r in shipped),
            lambda r: r["models"] or 0,
        ),
    )


def research_models_title(rows: Sequence[dict]) -> str:
    totals = _framework_totals(rows, "arxiv_models")
    if not totals:
        return "No PyTorch, TensorFlow or JAX model cites an arXiv paper"
    return _framework_leaders_title(totals, "arXiv-citing framework models")


def research_models_figure(data: ReportData) -> Figure:
    rows = _rows(data.results["research_models"])
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        totals[row["framework_class"]][0] += row["models"] or 0
        totals[row["framework_class"]][1] += row["arxiv_models"] or 0
    classes = [c for c in _class_order(totals) if totals[c][0]]
    # Years x classes, as the chart draws them, then the totals and both shares the title and
    # the claims read, so that each can be quoted.
    columns, by_year = _pivot(
        rows,
        "year",
        lambda r: year_label(r["year"]),
        year_order(r["year"] for r in rows),
        lambda r: class_label(r["framework_class"]),
        [class_label(c) for c in classes],
        lambda r: r["arxiv_models"] or 0,
    )
    citing_framework_models = sum(totals[c][1] for c in classes if c != "no_framework")
    summary = [
        ("all years", *(totals[c][1] for c in classes)),
        (
            "share of arXiv-citing framework models",
            *(
                _percent_cell(totals[c][1] / citing_framework_models)
                if c != "no_framework" and citing_framework_models
                else ""
                for c in classes
            ),
        ),
        (
            "share of the class's models citing arXiv",
            *(_percent_cell(totals[c][1] / totals[c][0]) for c in classes),
        ),
    ]
    return _figure(
        data,
        "research_models",
        "Which frameworks do models citing a paper use? (a proxy for research)",
        research_models_title(rows),
        _stacked_by_year(rows, "arxiv_models", "Models citing arXiv"),
        caption=_sentences(
            "Models with an arxiv: tag, by creation year and framework class. Citing a paper is "
            "an indirect sign of research use.",
            # Two denominators that can rank the classes in opposite orders: say which is which.
            "The title is each class's share of the models citing a paper; the table's last "
            "row, and the claims table, rank classes by the share of their own models that "
            "cite one, where a small class can come first.",
            _placeholder_caption(
                data, "research_models", "arxiv_models", which="arXiv-citing models"
            ),
        ),
        image_note=_partial_year_note(data, rows, "arxiv_models"),
        table=(columns, by_year + summary),
    )


def snapshot_trend_title(rows: Sequence[dict]) -> str:
    snapshots = sorted({r["snapshot_id"] for r in rows})
    first, last = snapshots[0], snapshots[-1]
    share = {(r["snapshot_id"], r["framework_class"]): r["share_of_framework_models"] for r in rows}
    candidates = [
        r
        for r in rows
        if r["snapshot_id"] == last
        and r["framework_class"] != "no_framework"
        and r["share_of_framework_models"] is not None  # none when no framework model is
    ]
    if not candidates:
        return f"No PyTorch, TensorFlow or JAX models in snapshot {last}"
    leader, *tied = _tied_at_top(
        {r["framework_class"]: r["share_of_framework_models"] for r in candidates}
    )
    with_others = f" (tied with {_and_list([class_label(c) for c in tied])})" if tied else ""
    return (
        f"{class_label(leader)} share of framework models: "
        f"{percent(share.get((first, leader)))} → {percent(share.get((last, leader)))} "
        f"over {len(snapshots)} snapshots{with_others}"
    )


_LINE_LEGEND = alt.Legend(symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=400)


def snapshot_trend_figure(data: ReportData) -> Figure:
    all_rows = _rows(data.results["snapshot_trend"])
    rows = [r for r in all_rows if r["framework_class"] != "no_framework"]
    frame = pd.DataFrame(
        {
            "snapshot": [_snapshot_label(r["snapshot_id"], r["finished_at"]) for r in rows],
            "snapshot_id": [r["snapshot_id"] for r in rows],
            "class_label": [class_label(r["framework_class"]) for r in rows],
            # A snapshot without framework models has no share (0 of 0): a gap, not 0%.
            "share": [r["share_of_framework_models"] for r in rows],
            "models": [r["models"] or 0 for r in rows],
        }
    )
    classes = _class_order(r["framework_class"] for r in rows)
    order = [
        _snapshot_label(snapshot_id, finished_at)
        for snapshot_id, finished_at in sorted({(r["snapshot_id"], r["finished_at"]) for r in rows})
    ]
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            # One tick per snapshot: exact whatever the spacing of the refreshes.
            x=alt.X(
                "snapshot:O",
                title="Snapshot",
                sort=order,
                # Level labels run together past a few snapshots.
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy")
                if len(order) <= TREND_LEVEL_LABELS
                else alt.Axis(labelAngle=-40, labelAlign="right", labelOverlap="greedy"),
            ),
            y=alt.Y("share:Q", title="Share of framework models", axis=alt.Axis(format="%")),
            # The legend draws line samples, so that it shows the dashes too.
            color=_class_color(classes).legend(_LINE_LEGEND if classes else None),
            strokeDash=alt.StrokeDash(
                "class_label:N",
                title="Framework class",
                legend=_LINE_LEGEND if classes else None,
                scale=alt.Scale(
                    domain=[class_label(c) for c in classes],
                    range=[CLASS_DASHES.get(c, [1, 0]) for c in classes],
                ),
            ),
            tooltip=[
                alt.Tooltip("snapshot:O", title="Snapshot"),
                alt.Tooltip("class_label:N", title="Class"),
                alt.Tooltip("models:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
    )
    return _figure(
        data,
        "snapshot_trend",
        "How have the framework shares changed across snapshots?",
        snapshot_trend_title(all_rows),
        chart,
        caption="One point per complete snapshot, up to the one this report reads.",
        # Every class, with its count: the chart draws only the framework classes' shares.
        table=_pivot(
            all_rows,
            "snapshot",
            lambda r: _snapshot_label(r["snapshot_id"], r["finished_at"]),
            order,
            lambda r: class_label(r["framework_class"]),
            [class_label(c) for c in _class_order(r["framework_class"] for r in all_rows)],
            _trend_cell,
        ),
    )


def _trend_cell(row: dict) -> str:
    share = row["share_of_framework_models"]
    models = f"{row['models'] or 0:,}"
    return models if share is None else f"{models} ({_percent_cell(share)})"


def method_comparison_title(rows: Sequence[dict]) -> str:
    total = sum(r["models"] or 0 for r in rows)
    if not total:
        return "No models to compare"
    agree = sum(r["models"] or 0 for r in rows if r["tags_class"] == r["files_class"])
    return f"The tags and files methods agree on {percent(agree / total)} of models"


def method_comparison_figure(data: ReportData) -> Figure:
    rows = _rows(data.results["method_comparison"])
    frame = pd.DataFrame(
        {
            "tags_label": [class_label(r["tags_class"]) for r in rows],
            "files_label": [class_label(r["files_class"]) for r in rows],
            "models": [r["models"] or 0 for r in rows],
        }
    )
    order = [
        class_label(c)
        for c in _class_order([r["tags_class"] for r in rows] + [r["files_class"] for r in rows])
    ]
    base = alt.Chart(frame).encode(
        x=alt.X("files_label:N", title="Class by files", sort=order, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("tags_label:N", title="Class by tags", sort=order),
    )
    largest = max(int(frame["models"].max()) if len(frame) else 0, 1)
    cells = base.mark_rect().encode(
        color=alt.Color(
            "models:Q",
            title="Models",
            # The whole range even when every cell is 0 (else all cells mid-blue, labels piled).
            scale=alt.Scale(scheme="blues", domain=[0, largest]),
            legend=alt.Legend(**_whole_number_ticks(largest)),
        ),
        tooltip=[
            alt.Tooltip("tags_label:N", title="By tags"),
            alt.Tooltip("files_label:N", title="By files"),
            alt.Tooltip("models:Q", format=","),
        ],
    )
    text = base.mark_text().encode(
        text=alt.Text("models:Q", format=","),
        color=alt.condition(alt.datum.models > largest / 2, alt.value("white"), alt.value("black")),
    )
    disagreements = sorted(
        (r for r in rows if r["tags_class"] != r["files_class"] and r["models"]),
        key=lambda r: -r["models"],
    )
    return _figure(
        data,
        "method_comparison",
        "Where do the two classification methods disagree?",
        method_comparison_title(rows),
        alt.layer(cells, text).properties(height=260),
        caption=(
            "Each cell counts models classified one way by their tags (rows) and another by "
            "their files (columns); the diagonal is agreement. The table lists the disagreements."
        ),
        table=(
            ["by_tags", "by_files", "models"],
            [
                (class_label(r["tags_class"]), class_label(r["files_class"]), r["models"])
                for r in disagreements
            ],
        ),
    )


# In report order; the key is the query's slug and the chart's file name.
FIGURE_BUILDERS: dict[str, Callable[[ReportData], Figure]] = {
    "exclusivity": exclusivity_figure,
    "yearly_additions": yearly_additions_figure,
    "framework_by_downloads": framework_by_downloads_figure,
    "library_share": library_share_figure,
    "deployment_formats": deployment_formats_figure,
    "research_models": research_models_figure,
    "snapshot_trend": snapshot_trend_figure,
    "method_comparison": method_comparison_figure,
}


def as_of_text(moment: datetime) -> str:
    """A cut-off as a reader writes it: a day when it is the end of that day (UTC)."""
    moment = moment.astimezone(UTC)
    if moment.time() == time.max:
        return moment.date().isoformat()  # strftime's %Y leaves years before 1000 unpadded
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _snapshot_label(snapshot_id: int, finished_at: datetime | None) -> str:
    when = finished_at.strftime("%Y-%m-%d %H:%M") if isinstance(finished_at, datetime) else "?"
    return f"#{snapshot_id} {when}"


def _meta_line(data: ReportData) -> str:
    """The line under the report's heading: which snapshot, how many models, which hfstats."""
    return (
        f"{_snapshot_line(data)} · {_models_total(data.results):,} models · hfstats {__version__}"
    )


def _snapshot_line(data: ReportData, with_method: bool = True) -> str:
    finished = data.snapshot.finished_at
    when = finished.strftime("%Y-%m-%d %H:%M UTC") if isinstance(finished, datetime) else "?"
    parts = [f"Snapshot {data.snapshot.snapshot_id} of {when}"]
    if with_method:
        parts.append(f"method: {data.method} ({METHOD_NOTES[data.method]})")
    if data.as_of is not None:
        parts.append(f"models created by {as_of_text(data.as_of)}")
    return " · ".join(parts)


def _table(result: queries.QueryResult, class_column: str) -> tuple[list[str], list[tuple]]:
    index = result.columns.index(class_column)
    rows = [
        tuple(
            class_label(v) if i == index else _percent_cell(v) if isinstance(v, float) else v
            for i, v in enumerate(row)
        )
        for row in result.rows
    ]
    return list(result.columns), rows


def _pivot(
    rows: Sequence[dict],
    first_column: str,
    row_of: Callable[[dict], str],
    row_order: Sequence[str],
    column_of: Callable[[dict], str],
    column_order: Sequence[str],
    cell_of: Callable[[dict], Any],
) -> tuple[list[str], list[tuple]]:
    """A chart's long rows as a wide table (a row per ``row_order``, a column per
    ``column_order``), as a writer would quote the numbers; missing cells are 0."""
    cells = {(row_of(r), column_of(r)): cell_of(r) for r in rows}
    table = [
        (label, *(cells.get((label, column), 0) for column in column_order)) for label in row_order
    ]
    return [first_column, *column_order], table


def _percent_cell(share: float | None) -> str:
    """One decimal, as tables compare closely; like ``percent``, never 0.0% for a share that is
    not zero, nor 100.0% for one that is not all."""
    if share is None:
        return ""
    if 0 < share < 0.0005:
        return "<0.1%"
    if 0.9995 <= share < 1:
        return ">99.9%"
    return f"{share:.1%}"


def _figure(
    data: ReportData,
    name: str,
    question: str,
    title: str,
    chart: alt.TopLevelMixin,
    *,
    caption: str,
    table: tuple[list[str], list[tuple]] | None = None,
    width: int | None = CHART_WIDTH,
    image_note: str = "",
) -> Figure:
    """``image_note``: what a reader of the image alone must know (the caption does not travel
    with a pasted image): a line under the title, and the caption's last sentence."""
    caption = _sentences(caption, image_note)
    # Concatenated charts (width None) size each of their parts themselves.
    if width is not None:
        chart = chart.properties(width=width)
    chart = (
        chart.properties(
            # Screen readers announce this (vega-embed's aria-label), and the SVG carries it.
            description=f"{question} {title}",
            title=alt.Title(
                title,
                subtitle=[_snapshot_line(data, with_method=name in data.uses_method)]
                + ([image_note] if image_note else []),
                anchor="start",
                fontSize=15,
                subtitleColor="#555555",
            ),
        )
        .configure_view(stroke=None)
        .configure(font=CHART_FONT)
    )
    return Figure(name, question, title, _drawable(chart.to_dict()), caption, table)


def _html_prose(text: str) -> str:
    """``text``, written for Markdown too, as HTML: escaped, its `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _titled_svg(svg: str, text: str) -> str:
    """``svg`` with ``text`` as its <title>: the name screen readers give an embedded image
    (the renderer writes none)."""
    start = svg.index(">", svg.index("<svg")) + 1
    return f"{svg[:start]}<title>{html.escape(text, quote=False)}</title>{svg[start:]}"


# Characters XML 1.0 forbids, on which the SVG renderer aborts the whole process, and the line
# separators U+2028/U+2029, which Vega's expression parser rejects in a string: a library name
# on the Hub is free text, so chart specs carry U+FFFD in their place.
_UNDRAWABLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff\u2028\u2029]")


# JavaScript's numbers hold integers exactly up to 2**53, and the renderer refuses any beyond
# 2**64 (download counts summed over a class can be): charts get them as floats.
_LARGEST_EXACT_INTEGER = 2**53


def _drawable(value: Any) -> Any:
    """``value`` (a chart spec, or any part of it) with every string fit for SVG and every
    number fit for JavaScript."""
    if isinstance(value, str):
        return _UNDRAWABLE_RE.sub("\ufffd", value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and abs(value) > _LARGEST_EXACT_INTEGER
    ):
        return float(value)
    if isinstance(value, dict):
        return {_drawable(k): _drawable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drawable(v) for v in value]
    return value


def build_figures(data: ReportData) -> list[Figure]:
    """One figure per query the data holds, in report order."""
    return [builder(data) for name, builder in FIGURE_BUILDERS.items() if name in data.results]


# -- writing -----------------------------------------------------------------------------------


def parse_formats(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"html,md"`` or a sequence of names as a tuple of known formats, in canonical order."""
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(REPORT_FORMATS))
    if unknown:
        raise UsageError(
            f"unknown report format {', '.join(unknown)}; choose from {','.join(REPORT_FORMATS)}"
        )
    if not names:
        raise UsageError(f"no report format given; choose from {','.join(REPORT_FORMATS)}")
    return tuple(f for f in REPORT_FORMATS if f in names)


def write_report(
    db_path: str | Path,
    out_dir: str | Path = DEFAULT_OUT,
    *,
    formats: Iterable[str] = REPORT_FORMATS,
    snapshot_id: int | datetime | None = None,
    as_of: str | date | datetime | None = None,
    method: str = DEFAULT_METHOD,
) -> Path:
    """Write the report for a snapshot into ``out_dir`` and return the folder.

    ``report.md`` shows the charts as images: with ``md`` but neither ``svg`` nor ``png``, the
    SVGs are written too. An existing ``out_dir`` is replaced only if an earlier report wrote
    it (or it is empty), and only once the new report is complete.
    """
    formats = parse_formats(formats)
    # Bad input is reported before the database is opened, so a typo never waits on a lock.
    if as_of is not None:
        as_of = queries.parse_as_of(as_of)
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if "md" in formats and "svg" not in formats and "png" not in formats:
        formats = parse_formats([*formats, "svg"])
    # Resolved, so that `--out .` or `--out reports/` still has a parent to stage beside.
    target = Path(out_dir).resolve()
    check_replaceable_report(target, db_path)
    with store.read(db_path) as connection:
        data = collect(connection, snapshot_id=snapshot_id, as_of=as_of, method=method)
    figures = build_figures(data)
    with outdir.replacing(target, MARKER_FILE, "hfstats report", Path(db_path)) as staging:
        _write_files(staging, data, figures, formats)
    return Path(out_dir)


def check_replaceable_report(out_dir: Path, db_path: str | Path | None = None) -> None:
    """Refuse an ``--out`` folder that a report must not replace (see ``outdir``)."""
    keep = None if db_path is None else Path(db_path)
    outdir.check_replaceable(out_dir, MARKER_FILE, "hfstats report", keep=keep)


def _write_files(folder: Path, data: ReportData, figures: list[Figure], formats: tuple) -> None:
    charts = folder / "charts"
    if {"json", "svg", "png"} & set(formats):  # html alone draws its charts in the page
        charts.mkdir()
    vl_version = _vl_version()
    png_widths = {}
    for number, figure in enumerate(figures, start=1):
        log.info("report: chart %d/%d, %s", number, len(figures), figure.name)
        if "json" in formats:
            (charts / f"{figure.name}.vl.json").write_text(
                json.dumps(figure.spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        if "svg" in formats:
            svg = vl_convert.vegalite_to_svg(
                figure.spec, vl_version=vl_version, allowed_base_urls=[]
            )
            (charts / f"{figure.name}.svg").write_text(
                _titled_svg(svg, figure.spec["description"]), encoding="utf-8"
            )
        if "png" in formats:
            png = vl_convert.vegalite_to_png(
                figure.spec, vl_version=vl_version, scale=PNG_SCALE, allowed_base_urls=[]
            )
            (charts / f"{figure.name}.png").write_bytes(png)
            # The width of its IHDR chunk, which follows the 8-byte signature and 8 bytes more.
            png_widths[figure.name] = int.from_bytes(png[16:20], "big") // PNG_SCALE
    if "md" in formats:
        image = "svg" if "svg" in formats else "png"
        (folder / "report.md").write_text(
            markdown_report(
                data, figures, image, with_specs="json" in formats, image_widths=png_widths
            ),
            encoding="utf-8",
        )
    if "html" in formats:
        images = [f for f in ("svg", "png") if f in formats]
        (folder / "index.html").write_text(html_report(data, figures, images), encoding="utf-8")
    (folder / MARKER_FILE).write_text(
        json.dumps(
            {
                "snapshot_id": data.snapshot.snapshot_id,
                "method": data.method,
                "as_of": None if data.as_of is None else data.as_of.isoformat(),
                "formats": list(formats),
                "hfstats_version": __version__,
            }
        )
        + "\n",
        encoding="utf-8",
    )


@functools.cache
def _vl_version() -> str | None:
    """The Vega-Lite version Altair writes specs for, if vl-convert has it (else its latest)."""
    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vl_convert.get_vegalite_versions() else None


def claims_rows(results: Sequence[claims.ClaimResult]) -> tuple[list[str], list[tuple]]:
    """The table of ``hfstats check`` with each claim's statement beside its id."""
    columns, rows = claims.results_table(results)
    by_id = {result.id: result for result in results}
    return (
        [columns[0], "statement", *columns[1:]],
        [(row[0], by_id[row[0]].statement, *row[1:]) for row in rows],
    )


# -- Markdown ----------------------------------------------------------------------------------

REPORT_HEADING = "Hugging Face Hub models: frameworks, libraries and formats"
CLAIMS_INTRO = (
    "What `hfstats check` finds for each claim on this snapshot. Each claim is measured as it "
    "defines itself (its own as_of and reading), whatever date or method the charts above use."
)


def _models_total(results: dict[str, queries.QueryResult]) -> int:
    return sum(row["models"] or 0 for row in _rows(results["exclusivity"]))


def markdown_report(
    data: ReportData,
    figures: list[Figure],
    image: str,
    with_specs: bool,
    image_widths: dict[str, int] | None = None,
) -> str:
    """``image_widths``: the width to show each PNG at (they have more pixels than that)."""
    lines = [
        f"# {REPORT_HEADING}",
        "",
        markdown_cell(_meta_line(data)),
        "",
    ]
    for note in data.notes:
        lines += [f"> {markdown_cell(note)}", ""]
    for figure in figures:
        source = f"charts/{figure.name}.{image}"
        width = (image_widths or {}).get(figure.name) if image == "png" else None
        # Markdown's image syntax has no size: HTML, which GitHub and MkDocs take, has.
        picture = (
            f'<img src="{source}" width="{width}" alt="{html.escape(figure.title)}">'
            if width
            else f"![{markdown_cell(figure.title)}]({source})"
        )
        lines += [f"## {markdown_cell(figure.question)}", "", picture, ""]
        if figure.caption:
            lines += [markdown_cell(figure.caption), ""]
        if figure.table is not None and figure.table[1]:
            columns, rows = figure.table
            lines += [render(rows, columns, "markdown", group_digits=True), ""]
        if with_specs:
            lines += [
                f"Vega-Lite spec with its data: [charts/{figure.name}.vl.json]"
                f"(charts/{figure.name}.vl.json)",
                "",
            ]
    lines += ["## Published claims, re-measured", "", CLAIMS_INTRO, ""]
    if data.claims:
        columns, rows = claims_rows(data.claims)
        lines += [render(rows, columns, "markdown", group_digits=True), "", "### Caveats", ""]
        for result in data.claims:
            for caveat in result.caveats:
                lines.append(f"- {markdown_cell(result.id)}: {markdown_cell(caveat)}")
        lines.append("")
    else:
        lines += ["No claims were checked.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# -- HTML --------------------------------------------------------------------------------------


def script_json(value: Any) -> str:
    """JSON that is inert inside an HTML ``<script>`` block: no ``</script>``, no ``<!--``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@functools.cache
def _vega_bundle() -> str:
    bundle = vl_convert.javascript_bundle(vl_version=_vl_version())
    # The bundle goes into a <script> element verbatim: it must not be able to close it.
    if "</script" in bundle.lower() or "<!--" in bundle:
        raise RuntimeError("the vl-convert JavaScript bundle cannot be inlined safely")
    return bundle


def _template(name: str) -> str:
    return (resources.files("hfstats") / "templates" / name).read_text(encoding="utf-8")


def _script_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        # Shares come formatted (``_percent_cell``): the numbers left are counts.
        text = "" if value is None else str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        opening = '<td class="num">' if numeric else "<td>"
        return f"{opening}{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(data: ReportData, figures: list[Figure], images: Sequence[str] = ()) -> str:
    """The self-contained page: its only scripts are the Vega bundle and ``report.js``.

    ``images``: the image formats written beside it into charts/, named for readers without
    JavaScript.
    """
    e = html.escape
    sections = []
    nav = []
    for figure in figures:
        nav.append(f'<li><a href="#{figure.name}">{e(figure.question)}</a></li>')
        table = ""
        if figure.table is not None and figure.table[1]:
            table = f"<details><summary>The numbers</summary>{_html_table(*figure.table)}</details>"
        sections.append(
            f'<section id="{figure.name}">'
            f"<h2>{e(figure.question)}</h2>"
            f'<figure><div class="chart" id="chart-{figure.name}" role="img" '
            f'aria-label="{e(figure.title)}"></div>'
            f"<figcaption>{e(figure.caption)}</figcaption></figure>"
            f"{table}</section>"
        )
    nav.append('<li><a href="#claims">Published claims, re-measured</a></li>')
    claims_html = "<p>No claims were checked.</p>"
    if data.claims:
        caveats = "".join(
            f"<li><b>{e(result.id)}</b>: {e(caveat)}</li>"
            for result in data.claims
            for caveat in result.caveats
        )
        claims_html = (
            f"{_html_table(*claims_rows(data.claims))}"
            f"<details><summary>Caveats</summary><ul>{caveats}</ul></details>"
        )
    sections.append(
        '<section id="claims"><h2>Published claims, re-measured</h2>'
        f"<p>{_html_prose(CLAIMS_INTRO)}</p>"
        f"{claims_html}"
        "</section>"
    )
    notes = "".join(f"<li>{_html_prose(note)}</li>" for note in data.notes)
    specs = script_json({figure.name: figure.spec for figure in figures})
    bundle = _vega_bundle()
    watch_errors = _template("report-errors.js")
    render_charts = _template("report.js")
    policy = (
        "default-src 'none'; "
        f"script-src {_script_hash(watch_errors)} {_script_hash(bundle)} {_script_hash(render_charts)}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    meta = _meta_line(data)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(policy)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(REPORT_HEADING)}: snapshot {data.snapshot.snapshot_id}</title>"
        f"<style>{_template('report.css')}</style>"
        f"<script>{watch_errors}</script>"
        "</head><body><main>"
        f'<header><h1>{e(REPORT_HEADING)}</h1><p class="meta">{e(meta)}</p></header>'
        f"<nav><ol>{''.join(nav)}</ol></nav>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + "<noscript><p>The charts need JavaScript"
        + (
            f"; the same charts are in charts/ as {' and '.join(f.upper() for f in images)} images"
            if images
            else ""
        )
        + ".</p></noscript>"
        + "".join(sections)
        + '<pre id="render-status" hidden></pre>'
        f'<script type="application/json" id="report-specs">{specs}</script>'
        f"<script>{bundle}</script>"
        f"<script>{render_charts}</script>"
        "</main></body></html>\n"
    )
