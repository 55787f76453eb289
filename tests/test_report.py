"""`hfstats report` (issue 6) on a crawl of a small hand-made test Hub.

Expected numbers come from the raw listing elements below with a few lines of Python, never
from the report code. One module-wide report (every format) is written once; tests that need
another report write only the cheap formats.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import vl_convert
from click.testing import CliRunner

from hfstats import claims, crawl, queries, report, store
from hfstats.cli import cli
from hfstats.errors import DatabaseError, UsageError
from hfstats.output import render
from hfstats.testing.fakehub import FakeHub

PLACEHOLDER = "2022-03-02T23:29:04.000Z"
PLACEHOLDER_LIMIT = datetime(2022, 3, 2, 23, 29, 5, tzinfo=UTC)
HOSTILE_LIBRARY = "<script>alert(1)</script>"
HOSTILE_TAG = '"><img src=x onerror=alert(1)>'
CHARTS = [
    "exclusivity",
    "yearly_additions",
    "framework_by_downloads",
    "library_share",
    "deployment_formats",
    "research_models",
    "snapshot_trend",
    "method_comparison",
]


def element(
    number: int, created: str, tags: list[str], files=(), library="transformers", downloads=0
):
    model = {
        "_id": f"{0x63000000 + number:08x}{number:016x}",
        "id": f"org/model-{number:02d}",
        "modelId": f"org/model-{number:02d}",
        "author": "org",
        "lastModified": f"2026-02-{number + 1:02d}T00:00:00.000Z",
        "sha": f"{number:040x}",
        "private": False,
        "disabled": False,
        "gated": False,
        "likes": 0,
        "trendingScore": 0,
        "downloads": downloads,
        "createdAt": created,
        "tags": tags,
        "siblings": [{"rfilename": name} for name in ["README.md", *files]],
    }
    if library is not None:
        model["library_name"] = library
    return model


FIRST_SNAPSHOT = [
    element(
        0,
        "2023-01-10T00:00:00.000Z",
        ["pytorch", "arxiv:2301.00001"],
        ["pytorch_model.bin"],
        downloads=100,
    ),
    element(1, "2023-06-01T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"], downloads=50),
    element(2, "2024-02-02T00:00:00.000Z", ["pytorch", "arxiv:2101.00001"], downloads=30),
    element(3, "2022-05-05T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"], downloads=20),
    element(4, PLACEHOLDER, ["pytorch"], ["pytorch_model.bin"], downloads=10),
    element(5, "2024-07-07T00:00:00.000Z", ["pytorch", "onnx"], ["model.onnx"], downloads=5),
    element(
        6, "2022-08-08T00:00:00.000Z", ["tf", "arxiv:1910.00001"], ["tf_model.h5"], downloads=40
    ),
    element(7, PLACEHOLDER, ["tf"], ["tf_model.h5"], downloads=8),
    element(
        8, "2023-03-03T00:00:00.000Z", ["jax"], ["flax_model.msgpack"], HOSTILE_TAG, downloads=2
    ),
    element(9, "2024-09-09T00:00:00.000Z", ["pytorch", "tf", "arxiv:2409.00001"], downloads=7),
    element(10, "2025-01-01T00:00:00.000Z", [HOSTILE_TAG], library=HOSTILE_LIBRARY, downloads=1),
    element(11, "2025-02-02T00:00:00.000Z", [], ["model-q4.gguf"], library=None, downloads=25),
]
# The second snapshot adds one PyTorch-only model.
SECOND_SNAPSHOT = [
    *FIRST_SNAPSHOT,
    element(12, "2025-03-03T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"], downloads=3),
]


def frameworks_of(model: dict) -> set[str]:
    return {tag for tag in model["tags"] if tag in ("pytorch", "tf", "jax")}


def pytorch_only_share(models: list[dict]) -> float:
    """PyTorch-only models among models with at least one framework, from the raw elements."""
    with_framework = [m for m in models if frameworks_of(m)]
    return sum(frameworks_of(m) == {"pytorch"} for m in with_framework) / len(with_framework)


def crawl_into(db: Path, snapshots: list[list[dict]]) -> Path:
    with FakeHub(snapshots[0]) as hub:
        crawl.refresh(db, endpoint=hub.url, full=True)
        for models in snapshots[1:]:
            for model in models:
                hub.upsert(model)
            crawl.refresh(db, endpoint=hub.url, full=True)
    return db


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return crawl_into(
        tmp_path_factory.mktemp("db") / "hub.duckdb", [FIRST_SNAPSHOT, SECOND_SNAPSHOT]
    )


@pytest.fixture(scope="module")
def full_report(db, tmp_path_factory) -> Path:
    return report.write_report(db, tmp_path_factory.mktemp("reports") / "latest")


def spec(folder: Path, name: str) -> dict:
    return json.loads((folder / "charts" / f"{name}.vl.json").read_text(encoding="utf-8"))


def inline_values(chart_spec: dict) -> list[dict]:
    return [row for values in chart_spec["datasets"].values() for row in values]


def title_text(chart_spec: dict) -> str:
    return chart_spec["title"]["text"]


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".new-" in p.name or ".old-" in p.name)


# -- files and their content -------------------------------------------------------------------


def test_every_format_writes_its_files(full_report):
    assert (full_report / "index.html").is_file()
    assert (full_report / "report.md").is_file()
    for name in CHARTS:
        assert (full_report / "charts" / f"{name}.vl.json").stat().st_size > 0
        assert (full_report / "charts" / f"{name}.svg").read_text().lstrip().startswith("<svg")
        assert (full_report / "charts" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert leftovers(full_report.parent) == []


def test_vl_json_specs_carry_their_data(full_report):
    for name in CHARTS:
        chart_spec = spec(full_report, name)
        assert "url" not in json.dumps(chart_spec.get("data", {}))
        assert inline_values(chart_spec), name
    # The exclusivity chart's numbers are the latest snapshot's, counted from the raw elements.
    counted = {
        "PyTorch-only": sum(frameworks_of(m) == {"pytorch"} for m in SECOND_SNAPSHOT),
        "TensorFlow-only": sum(frameworks_of(m) == {"tf"} for m in SECOND_SNAPSHOT),
        "JAX-only": sum(frameworks_of(m) == {"jax"} for m in SECOND_SNAPSHOT),
        "Multi-framework": sum(len(frameworks_of(m)) > 1 for m in SECOND_SNAPSHOT),
        "No framework": sum(not frameworks_of(m) for m in SECOND_SNAPSHOT),
    }
    charted = {
        row["class_label"]: row["value"] for row in inline_values(spec(full_report, "exclusivity"))
    }
    assert charted == counted


def test_exclusivity_title_is_the_answer_counted_from_the_data(full_report):
    share = pytorch_only_share(SECOND_SNAPSHOT)  # 7 of 11
    expected = f"PyTorch-only models: {share:.0%} of framework models"
    assert expected == "PyTorch-only models: 64% of framework models"
    assert title_text(spec(full_report, "exclusivity")) == expected
    assert expected in (full_report / "charts" / "exclusivity.svg").read_text()
    assert f"![{expected}](charts/exclusivity.svg)" in (full_report / "report.md").read_text()


def test_captions_name_the_snapshot_and_the_method(full_report):
    subtitle = spec(full_report, "exclusivity")["title"]["subtitle"][0]
    assert subtitle.startswith("Snapshot 2 of ")
    assert "method: tags" in subtitle
    # library_share does not depend on the method, so its caption does not claim one.
    assert "method" not in spec(full_report, "library_share")["title"]["subtitle"][0]


def test_placeholder_dates_are_their_own_bar_never_2022(full_report):
    values = inline_values(spec(full_report, "yearly_additions"))
    charted: dict[str, int] = {}
    for row in values:
        charted[row["year_label"]] = charted.get(row["year_label"], 0) + row["models"]
    created = [
        datetime.fromisoformat(m["createdAt"].replace("Z", "+00:00")) for m in SECOND_SNAPSHOT
    ]
    placeholder = sum(moment <= PLACEHOLDER_LIMIT for moment in created)
    in_2022 = sum(moment > PLACEHOLDER_LIMIT and moment.year == 2022 for moment in created)
    assert (placeholder, in_2022) == (2, 2)
    assert charted[report.PLACEHOLDER_LABEL] == placeholder
    assert charted["2022"] == in_2022
    # Counts and shares side by side: both order the placeholder bar first.
    for part in spec(full_report, "yearly_additions")["hconcat"]:
        assert part["encoding"]["x"]["sort"][0] == report.PLACEHOLDER_LABEL
    assert part["encoding"]["y"]["stack"] == "normalize"


def test_every_chart_by_year_sets_the_placeholder_years_apart(full_report):
    # docs/report.md: the bar or column of models created at an unknown time up to then, drawn
    # lighter where colour is the class, outlined where colour is the data (the heat map).
    def conditions(node: object, channel: str) -> list[dict]:
        if isinstance(node, dict):
            found = [node[channel]] if isinstance(node.get(channel), dict) else []
            return found + [o for value in node.values() for o in conditions(value, channel)]
        if isinstance(node, list):
            return [o for value in node for o in conditions(value, channel)]
        return []

    def on_placeholder(condition: dict) -> bool:
        return report.PLACEHOLDER_LABEL in condition.get("condition", {}).get("test", "")

    by_year = [
        name
        for name in CHARTS
        if any("year_label" in row for row in inline_values(spec(full_report, name)))
    ]
    assert {"yearly_additions", "deployment_formats", "research_models"} <= set(by_year)
    for name in by_year:
        chart = spec(full_report, name)
        lighter = [
            o
            for o in conditions(chart, "opacity")
            if on_placeholder(o) and o["condition"]["value"] < o["value"]
        ]
        outlined = [
            o
            for o in conditions(chart, "stroke")
            if on_placeholder(o) and o["condition"]["value"] and o["value"] is None
        ]
        if name == "deployment_formats":
            assert outlined and not lighter, name
        else:
            assert lighter and not outlined, name


def test_the_shares_panel_shows_shares_in_its_tooltip(full_report):
    # Its bars are each year's shares: a tooltip titled as a share must not show a count.
    chart = spec(full_report, "yearly_additions")
    shares = chart["hconcat"][1]
    tips = {tip["title"]: tip for tip in shares["encoding"]["tooltip"]}
    assert tips["Share of the year's models"]["format"] == ".1%"
    assert tips["Models"]["format"] == ","
    rows = chart["datasets"][shares["data"]["name"]]
    per_year: dict[str, int] = {}
    for row in rows:
        per_year[row["year_label"]] = per_year.get(row["year_label"], 0) + row["models"]
    field = tips["Share of the year's models"]["field"]
    assert field == "share_of_year" and tips["Share of the year's models"]["aggregate"] == "sum"
    for row in rows:
        assert row["share_of_year"] == pytest.approx(row["models"] / per_year[row["year_label"]])


def test_trend_chart_spans_both_snapshots(full_report):
    values = inline_values(spec(full_report, "snapshot_trend"))
    shares = {
        row["snapshot_id"]: row["share"] for row in values if row["class_label"] == "PyTorch-only"
    }
    assert shares == pytest.approx(
        {1: pytorch_only_share(FIRST_SNAPSHOT), 2: pytorch_only_share(SECOND_SNAPSHOT)}
    )


# The class a set of frameworks gives, by the chart's label.
CLASS_OF_FRAMEWORKS = {
    frozenset(): "No framework",
    frozenset({"pytorch"}): "PyTorch-only",
    frozenset({"tf"}): "TensorFlow-only",
    frozenset({"jax"}): "JAX-only",
}
# The files method's rules (docs/queries.md) for the weight files these elements ship; the
# other files they ship (README.md, model.onnx, model-q4.gguf) name no framework.
FILE_FRAMEWORKS = {"pytorch_model.bin": "pytorch", "tf_model.h5": "tf", "flax_model.msgpack": "jax"}


def class_of(frameworks: set[str]) -> str:
    return CLASS_OF_FRAMEWORKS.get(frozenset(frameworks), "Multi-framework")


def file_frameworks_of(model: dict) -> set[str]:
    names = {sibling["rfilename"] for sibling in model["siblings"]}
    assert names <= {*FILE_FRAMEWORKS, "README.md", "model.onnx", "model-q4.gguf"}
    return {FILE_FRAMEWORKS[name] for name in names if name in FILE_FRAMEWORKS}


def year_of(model: dict) -> str:
    moment = datetime.fromisoformat(model["createdAt"].replace("Z", "+00:00"))
    return report.PLACEHOLDER_LABEL if moment <= PLACEHOLDER_LIMIT else str(moment.year)


def test_downloads_chart_sums_each_class_downloads(full_report):
    downloads: dict[str, int] = defaultdict(int)
    for model in SECOND_SNAPSHOT:
        downloads[class_of(frameworks_of(model))] += model["downloads"]
    chart_spec = spec(full_report, "framework_by_downloads")
    assert {row["class_label"]: row["value"] for row in inline_values(chart_spec)} == downloads
    # 218 of the 275 downloads of framework models (301 with the others): the title's share
    # is of framework-model downloads, as it says.
    of_frameworks = sum(n for label, n in downloads.items() if label != "No framework")
    assert (downloads["PyTorch-only"], of_frameworks, sum(downloads.values())) == (218, 275, 301)
    expected = "PyTorch-only models: 79% of framework-model downloads"
    assert f"{218 / 275:.0%}" == "79%" != f"{218 / 301:.0%}"
    assert title_text(chart_spec) == expected


def test_library_chart_counts_models_and_downloads_per_library(full_report):
    per_library: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for model in SECOND_SNAPSHOT:
        counts = per_library[model.get("library_name", "(no library)")]
        counts[0] += 1
        counts[1] += model["downloads"]
    models, downloads = len(SECOND_SNAPSHOT), sum(m["downloads"] for m in SECOND_SNAPSHOT)
    chart_spec = spec(full_report, "library_share")
    charted = {
        row["library_label"]: (
            row["models"],
            row["downloads"],
            row["share_of_models"],
            row["share_of_downloads"],
        )
        for row in inline_values(chart_spec)
    }
    assert charted == {
        library: (n, d, pytest.approx(n / models), pytest.approx(d / downloads))
        for library, (n, d) in per_library.items()
    }
    assert per_library["transformers"] == [10, 273] and (models, downloads) == (13, 301)
    assert title_text(chart_spec) == "transformers: 77% of models, 91% of downloads"
    # Both panels are shares, drawn on one scale: 77% and 91% must not be bars of one length.
    assert chart_spec["resolve"]["scale"]["x"] == "shared"


def test_formats_chart_shares_each_year_models(full_report):
    created = Counter(year_of(model) for model in SECOND_SNAPSHOT)
    shipped: Counter = Counter()
    for model in SECOND_SNAPSHOT:
        names = [sibling["rfilename"] for sibling in model["siblings"]]
        for tag, label in (("onnx", "ONNX"), ("gguf", "GGUF")):
            if tag in model["tags"] or any(name.endswith(f".{tag}") for name in names):
                shipped[year_of(model), label] += 1
    values = inline_values(spec(full_report, "deployment_formats"))
    # Formats no model ships are left out; the others have a row for every year.
    assert {row["format_label"] for row in values} == {"ONNX", "GGUF"}
    charted = {
        (row["year_label"], row["format_label"]): (row["models"], row["share_of_year"])
        for row in values
        if row["models"]
    }
    # One ONNX model of three created in 2024, one GGUF model of three in 2025.
    assert (
        charted
        == {key: (n, pytest.approx(n / created[key[0]])) for key, n in shipped.items()}
        == {
            ("2024", "ONNX"): (1, pytest.approx(1 / 3)),
            ("2025", "GGUF"): (1, pytest.approx(1 / 3)),
        }
    )
    assert title_text(spec(full_report, "deployment_formats")) == (
        "GGUF: the most shipped format among models created in 2025 (1)"
    )


def test_research_chart_counts_models_citing_arxiv(full_report):
    citing = Counter(
        (year_of(model), class_of(frameworks_of(model)))
        for model in SECOND_SNAPSHOT
        if any(tag.startswith("arxiv:") for tag in model["tags"])
    )
    chart_spec = spec(full_report, "research_models")
    charted: Counter = Counter()
    for row in inline_values(chart_spec):
        charted[row["year_label"], row["class_label"]] += row["models"]
    assert +charted == citing  # zero rows dropped
    # Four framework models cite a paper, two of them PyTorch-only.
    assert sum(n for (_, label), n in citing.items() if label == "PyTorch-only") == 2
    assert sum(citing.values()) == 4
    assert title_text(chart_spec) == "PyTorch-only models: 50% of arXiv-citing framework models"
    # The claims table ranks by another denominator (each class's own models): said beside it.
    assert "share of their own models that cite one" in (full_report / "report.md").read_text()


def test_research_table_gives_each_year_the_totals_and_both_shares(db):
    models = Counter(class_of(frameworks_of(m)) for m in SECOND_SNAPSHOT)
    citing = Counter(
        (year_of(m), class_of(frameworks_of(m)))
        for m in SECOND_SNAPSHOT
        if any(tag.startswith("arxiv:") for tag in m["tags"])
    )
    with store.read(db) as connection:
        columns, rows = report.research_models_figure(report.collect(connection)).table
    assert columns[0] == "year" and set(columns[1:]) == set(models)
    by_label = {row[0]: dict(zip(columns[1:], row[1:], strict=True)) for row in rows}
    years = [row[0] for row in rows[:-3]]
    assert {(y, c): n for y in years for c, n in by_label[y].items() if n} == citing
    assert [row[0] for row in rows[-3:]] == [
        "all years",
        "share of arXiv-citing framework models",
        "share of the class's models citing arXiv",
    ]
    per_class = {c: sum(n for (_, k), n in citing.items() if k == c) for c in models}
    assert by_label["all years"] == per_class
    framework_citing = sum(n for c, n in per_class.items() if c != "No framework")
    assert framework_citing == 4  # hand-counted: two PyTorch-only among them
    assert by_label["share of arXiv-citing framework models"] == {
        c: "" if c == "No framework" else f"{per_class[c] / framework_citing:.1%}" for c in models
    }
    assert by_label["share of the class's models citing arXiv"] == {
        c: f"{per_class[c] / models[c]:.1%}" for c in models
    }


def test_method_chart_pairs_the_tags_and_files_classes(full_report):
    pairs = Counter(
        (class_of(frameworks_of(model)), class_of(file_frameworks_of(model)))
        for model in SECOND_SNAPSHOT
    )
    chart_spec = spec(full_report, "method_comparison")
    charted = {
        (row["tags_label"], row["files_label"]): row["models"]
        for row in inline_values(chart_spec)
        if row["models"]
    }
    assert charted == pairs
    # Three models tagged with a framework ship no weight file of it: 10 of 13 agree.
    agree = sum(n for (by_tags, by_files), n in pairs.items() if by_tags == by_files)
    assert (agree, len(SECOND_SNAPSHOT)) == (10, 13)
    assert title_text(chart_spec) == "The tags and files methods agree on 77% of models"


def test_method_table_lists_only_the_disagreements_that_happen(db):
    pairs = Counter(
        (class_of(frameworks_of(model)), class_of(file_frameworks_of(model)))
        for model in SECOND_SNAPSHOT
    )
    disagreements = {pair: n for pair, n in pairs.items() if pair[0] != pair[1]}
    with store.read(db) as connection:
        figure = report.method_comparison_figure(report.collect(connection))
    columns, rows = figure.table
    assert columns == ["by_tags", "by_files", "models"]
    assert {(by_tags, by_files): n for by_tags, by_files, n in rows} == disagreements


def test_charts_by_year_and_snapshot_have_their_numbers_as_tables(db, full_report):
    # The numbers a writer quotes: the models of each (year, class), hand-counted formats, and
    # each snapshot's classes; missing cells are 0.
    counts = Counter((year_of(m), class_of(frameworks_of(m))) for m in SECOND_SNAPSHOT)
    with store.read(db) as connection:
        data = report.collect(connection)
    columns, rows = report.yearly_additions_figure(data).table
    assert columns[0] == "year" and set(columns[1:]) == {c for _, c in counts}
    assert [row[0] for row in rows] == [report.PLACEHOLDER_LABEL, "2022", "2023", "2024", "2025"]
    assert {
        (row[0], c): n for row in rows for c, n in zip(columns[1:], row[1:], strict=True) if n
    } == counts
    # model.onnx (and the onnx tag) of 2024, model-q4.gguf of 2025: no other format is shipped;
    # every year with models is a column.
    columns, rows = report.deployment_formats_figure(data).table
    assert columns == ["format", report.PLACEHOLDER_LABEL, "2022", "2023", "2024", "2025"]
    assert sorted(rows) == [("GGUF", 0, 0, 0, 0, 1), ("ONNX", 0, 0, 0, 1, 0)]
    columns, rows = report.snapshot_trend_figure(data).table
    for row, models in zip(rows, (FIRST_SNAPSHOT, SECOND_SNAPSHOT), strict=True):
        classes = Counter(class_of(frameworks_of(m)) for m in models)
        framework_models = sum(n for c, n in classes.items() if c != "No framework")
        expected = {
            c: f"{n}" if c == "No framework" else f"{n} ({n / framework_models:.1%})"
            for c, n in classes.items()
        }
        assert {
            c: cell for c, cell in zip(columns[1:], row[1:], strict=True) if cell != 0
        } == expected
    markdown = (full_report / "report.md").read_text()
    html_text = (full_report / "index.html").read_text()
    # Years x classes twice: models added, and models citing arXiv.
    assert markdown.count("| year |") == 2 and markdown.count("| format |") == 1
    assert markdown.count("| snapshot |") == 1
    assert html_text.count("<th>year</th>") == 2 and html_text.count("<th>snapshot</th>") == 1


def test_the_yearly_table_keeps_the_classes_in_the_charts_order(db):
    # The order of the legend and stacks, not alphabetical (which would put JAX-only first).
    fixed = ["PyTorch-only", "TensorFlow-only", "JAX-only", "Multi-framework", "No framework"]
    present = {class_of(frameworks_of(m)) for m in SECOND_SNAPSHOT}
    assert present == set(fixed) and sorted(present) != fixed
    with store.read(db) as connection:
        columns, _ = report.yearly_additions_figure(report.collect(connection)).table
    assert columns == ["year", *fixed]


def test_the_formats_table_lists_the_most_shipped_format_first(tmp_path):
    # 3 ONNX, 2 TFLite and 1 GGUF models: by total, neither alphabetical nor its reverse.
    shipping = [
        ("2023-05-01", "model.onnx"),
        ("2024-05-01", "model.onnx"),
        ("2024-06-01", "model.onnx"),
        ("2024-05-01", "model.tflite"),
        ("2024-06-01", "model.tflite"),
        ("2023-05-01", "model-q4.gguf"),
    ]
    models = [
        element(n, f"{day}T00:00:00.000Z", ["pytorch"], [name])
        for n, (day, name) in enumerate(shipping)
    ]
    with store.read(crawl_into(tmp_path / "hub.duckdb", [models])) as connection:
        columns, rows = report.deployment_formats_figure(report.collect(connection)).table
    assert columns == ["format", "2023", "2024"]
    assert rows == [("ONNX", 1, 2), ("TFLite", 0, 2), ("GGUF", 1, 0)]


def placeholder_dated(model: dict) -> bool:
    if "createdAt" not in model:
        return False
    created = datetime.fromisoformat(model["createdAt"].replace("Z", "+00:00"))
    return created <= PLACEHOLDER_LIMIT


def undated(model: dict) -> dict:
    """``model`` without its createdAt: damaged data, which the notes' "keys may be absent"
    allows."""
    return {key: value for key, value in model.items() if key != "createdAt"}


def test_placeholder_captions_count_each_model_once(tmp_path):
    # Placeholder-dated models shipping no format, three formats, one format, three more; one
    # cites arXiv.
    models = [
        *SECOND_SNAPSHOT,
        element(20, PLACEHOLDER, ["pytorch", "onnx"], ["model.onnx", "m.safetensors", "m.gguf"]),
        element(21, PLACEHOLDER, ["pytorch", "arxiv:2001.00001"], ["m.safetensors"]),
        element(22, PLACEHOLDER, ["pytorch"], ["a.gguf", "b.onnx", "c.tflite"]),
    ]
    db = crawl_into(tmp_path / "hub.duckdb", [models])
    placeholder = [m for m in models if placeholder_dated(m)]
    citing = [m for m in placeholder if any(t.startswith("arxiv:") for t in m["tags"])]
    # Five models, seven (model, format) pairs: a caption summing the pairs would say 7.
    assert (len(placeholder), len(citing)) == (5, 1)
    with store.read(db) as connection:
        data = report.collect(connection)
    formats = report.deployment_formats_figure(data).caption
    assert f"{len(placeholder)} models carry the Hub's placeholder creation date" in formats
    research = report.research_models_figure(data).caption
    assert f"{len(citing)} arXiv-citing model carries the Hub's placeholder" in research


def test_placeholder_captions_count_models_without_any_date_apart(tmp_path):
    # Models without a createdAt share the placeholder's bar, but do not carry its date.
    models = [
        *SECOND_SNAPSHOT,
        undated(element(23, PLACEHOLDER, ["pytorch", "arxiv:2001.00002"], ["m.safetensors"])),
        undated(element(24, "2024-05-01T00:00:00.000Z", ["tf"], ["tf_model.h5"])),
    ]
    db = crawl_into(tmp_path / "hub.duckdb", [models])
    placeholder = sum(placeholder_dated(m) for m in models)
    dateless = sum("createdAt" not in m for m in models)
    assert (placeholder, dateless) == (2, 2)
    with store.read(db) as connection:
        data = report.collect(connection)
        dated = report.collect(connection, as_of=datetime(2026, 1, 1, tzinfo=UTC))
    for figure in (report.yearly_additions_figure(data), report.deployment_formats_figure(data)):
        assert f"{placeholder} models carry the Hub's placeholder creation date" in figure.caption
        assert f"{dateless} models without any creation date (damaged listing data)" in (
            figure.caption
        )
    research = report.research_models_figure(data).caption
    assert "arXiv-citing model carries" not in research  # the one citing arXiv has no date
    assert "1 arXiv-citing model without any creation date" in research
    # One of each: the sentences in the singular; the deployment chart has columns, not bars.
    single = [
        *(m for m in SECOND_SNAPSHOT if not placeholder_dated(m)),
        element(25, PLACEHOLDER, ["pytorch"], ["m.onnx"]),
        undated(element(26, "2024-05-01T00:00:00.000Z", ["tf"], ["tf_model.h5"])),
    ]
    assert sum(map(placeholder_dated, single)) == 1
    with store.read(crawl_into(tmp_path / "single.duckdb", [single])) as connection:
        formats = report.deployment_formats_figure(report.collect(connection)).caption
    assert (
        "1 model carries the Hub's placeholder creation date: it was created at an unknown "
        "time on or before 2022-03-02, so it has its own column, not 2022's. 1 model without "
        "any creation date (damaged listing data) is in that column too."
    ) in formats
    # Without any placeholder-dated model, the caption names the bar the undated ones are in.
    only_undated = [
        *(m for m in SECOND_SNAPSHOT if not placeholder_dated(m)),
        undated(element(27, "2024-05-01T00:00:00.000Z", ["tf"], ["tf_model.h5"])),
    ]
    with store.read(crawl_into(tmp_path / "undated.duckdb", [only_undated])) as connection:
        caption = report.yearly_additions_figure(report.collect(connection)).caption
    assert caption.startswith(
        "1 model without any creation date (damaged listing data) is in the “created on or "
        "before 2022-03-02” bar."
    )
    # With an as_of date, models without a date are left out, and the caption says nothing of them.
    caption = report.yearly_additions_figure(dated).caption
    assert f"{placeholder} models carry" in caption and "without any creation date" not in caption


def test_claims_table_is_in_both_documents(full_report):
    markdown = (full_report / "report.md").read_text()
    page = (full_report / "index.html").read_text()
    assert "| claim | statement | as\\_of | expected | measured | verdict | reading |" in markdown
    assert "pytorch-exclusive-share-today" in markdown
    assert "<th>verdict</th>" in page


# -- untrusted strings -------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_hostile_strings_never_become_markup_in_html(full_report):
    page = (full_report / "index.html").read_text(encoding="utf-8")
    assert HOSTILE_LIBRARY not in page and HOSTILE_TAG not in page
    # Outside the Vega bundle (whose tooltip code builds <img> strings) there is no <img.
    outside_bundle = page.replace(report._vega_bundle(), "")
    assert "<img" not in outside_bundle
    # They are there, as text: escaped in the tables and \u003c-escaped in the JSON specs.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page
    parser = _Elements()
    parser.feed(page)
    tags = [tag for tag, _ in parser.tags]
    assert tags.count("script") == 4  # error watcher, JSON specs, Vega bundle, chart renderer
    assert "img" not in tags
    assert not [attrs for _, attrs in parser.tags if any(name.startswith("on") for name in attrs)]


def test_hostile_strings_never_become_markup_in_markdown_or_svg(full_report):
    markdown = (full_report / "report.md").read_text(encoding="utf-8")
    assert "<script" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in markdown
    assert '"&gt;&lt;img src=x onerror=alert\\(1\\)&gt;' in markdown
    svg = (full_report / "charts" / "library_share.svg").read_text(encoding="utf-8")
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_a_hostile_title_stays_text_in_the_markdown_png_image_tag(db):
    with store.read(db) as connection:
        data = report.collect(connection)
    figure = report.Figure("x", "Q?", HOSTILE_TAG + HOSTILE_LIBRARY, {}, "")
    markdown = report.markdown_report(data, [figure], "png", False, image_widths={"x": 100})
    (tag,) = [line for line in markdown.splitlines() if line.startswith("<img")]
    assert tag == (
        '<img src="charts/x.png" width="100" alt="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
        '&lt;script&gt;alert(1)&lt;/script&gt;">'
    )


def test_script_json_cannot_close_its_script_element():
    text = report.script_json({"name": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": "</script><!-- & \u2028"}


# -- writing safely ----------------------------------------------------------------------------


def test_rerun_replaces_the_previous_report_whole(db, tmp_path):
    out = tmp_path / "report"
    report.write_report(db, out, formats=("json", "html"))
    report.write_report(db, out, formats=("json",))
    assert not (out / "index.html").exists()
    assert sorted(p.name for p in (out / "charts").iterdir()) == sorted(
        f"{name}.vl.json" for name in CHARTS
    )
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("formats", "promise"),
    [
        (("html",), "The charts need JavaScript.</p>"),
        (("html", "svg"), "in charts/ as SVG images."),
        (("html", "svg", "png"), "in charts/ as SVG and PNG images."),
    ],
)
def test_the_page_without_javascript_names_only_images_that_were_written(
    db, tmp_path, formats, promise
):
    out = report.write_report(db, tmp_path / "report", formats=formats)
    page = (out / "index.html").read_text(encoding="utf-8")
    noscript = page[page.index("<noscript>") : page.index("</noscript>")]
    assert promise in noscript
    charts = out / "charts"
    written = {p.suffix for p in charts.iterdir()} if charts.exists() else set()
    for kind in ("SVG", "PNG"):
        assert (kind in noscript) == (f".{kind.lower()}" in written)
    assert charts.exists() == bool(written)  # no empty folder beside a page alone


def test_a_failure_mid_way_leaves_the_previous_report_intact(db, tmp_path, monkeypatch):
    out = tmp_path / "report"
    report.write_report(db, out, formats=("json",))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(report.vl_convert, "vegalite_to_png", broken)
    with pytest.raises(RuntimeError, match="converter crashed"):
        report.write_report(db, out, formats=("json", "svg", "png"))
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert leftovers(tmp_path) == []


def test_a_folder_hfstats_did_not_write_is_never_replaced(db, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not written by"):
        report.write_report(db, tmp_path, formats=("json",))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_current_folder_is_never_swapped_away(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in (".", str(tmp_path.parent)):
        with pytest.raises(UsageError, match="current folder"):
            report.write_report(db, out, formats=("json",))
    assert Path.cwd() == tmp_path and tmp_path.is_dir()


def test_markdown_alone_still_gets_its_images(db, tmp_path):
    out = report.write_report(db, tmp_path / "md", formats=("md",))
    assert (out / "charts" / "exclusivity.svg").is_file()
    assert "(charts/exclusivity.svg)" in (out / "report.md").read_text()


def test_every_chart_is_described_for_screen_readers(full_report):
    # vega-embed names an undescribed chart "Vega visualization"; an SVG in docs needs a title.
    for name in CHARTS:
        chart_spec = spec(full_report, name)
        assert title_text(chart_spec) in chart_spec["description"]
        svg = (full_report / "charts" / f"{name}.svg").read_text(encoding="utf-8")
        opening = svg.index(">", svg.index("<svg")) + 1
        title = html.escape(chart_spec["description"], quote=False)
        assert svg[opening:].startswith(f"<title>{title}</title>")


def test_svg_text_names_fonts_of_the_widths_it_was_laid_out_with(full_report):
    # A browser showing the SVG picks the first font it has: Arial or Helvetica where
    # Liberation Sans is missing, whose widths match, not a wider default sans-serif.
    chart_spec = spec(full_report, "library_share")
    svg = (full_report / "charts" / "library_share.svg").read_text()
    families = set(re.findall(r'font-family="([^"]*)"', svg))
    assert families and all("Arial" in f and "Helvetica" in f for f in families)
    unnamed = {
        **chart_spec,
        "config": {k: v for k, v in chart_spec["config"].items() if k != "font"},
    }
    laid_out = vl_convert.vegalite_to_svg(unnamed)
    assert re.sub(r' font-family="[^"]*"', "", laid_out) == re.sub(
        r' font-family="[^"]*"', "", svg[: svg.index("<title>")] + svg[svg.index("</title>") + 8 :]
    )


def test_trend_lines_differ_by_dash_as_well_as_colour(full_report):
    encoding = spec(full_report, "snapshot_trend")["encoding"]
    dash = encoding["strokeDash"]["scale"]
    assert len(dash["domain"]) > 1
    assert len({tuple(d) for d in dash["range"]}) == len(dash["domain"])
    # The legend draws line samples, which show the dash (a circle's outline hides it).
    for channel in ("color", "strokeDash"):
        assert encoding[channel]["legend"]["symbolType"] == "stroke", channel


def test_trend_labels_slant_past_four_snapshots_and_0_of_0_is_no_share(db, tmp_path):
    def axis(data: report.ReportData) -> dict:
        return report.snapshot_trend_figure(data).spec["encoding"]["x"]["axis"]

    many = crawl_into(tmp_path / "many.duckdb", [FIRST_SNAPSHOT] * 5)
    with store.read(many) as connection:
        assert axis(report.collect(connection))["labelAngle"] == -40
        assert axis(report.collect(connection, snapshot_id=4))["labelAngle"] == 0
    with store.read(db) as connection:
        before_every_model = report.collect(connection, as_of=datetime(2000, 1, 1, tzinfo=UTC))
    values = inline_values(report.snapshot_trend_figure(before_every_model).spec)
    assert values and all(row["models"] == 0 and row["share"] is None for row in values)


def test_small_counts_get_a_tick_per_whole_number_and_no_empty_legend(tmp_path):
    # One model: Vega put ticks at 0.5 on stacked bars, shown as "0, 1, 1"; no model ships a
    # format, and that chart's legend read "0.000000%" over "NaN%".
    db = crawl_into(tmp_path / "one.duckdb", [[element(0, "2023-01-10T00:00:00.000Z", [])]])
    out = report.write_report(db, tmp_path / "one", formats=("json",))
    counts_panel = spec(out, "yearly_additions")["hconcat"][0]
    assert counts_panel["encoding"]["y"]["axis"]["values"] == [0, 1]
    formats = spec(out, "deployment_formats")
    [cells] = [layer for layer in formats["layer"] if layer["mark"]["type"] == "rect"]
    assert cells["encoding"]["color"]["legend"] is None


def test_one_snapshot_has_no_trend_chart_and_says_why(tmp_path):
    db = crawl_into(tmp_path / "one.duckdb", [FIRST_SNAPSHOT])
    out = report.write_report(db, tmp_path / "one", formats=("json", "html"))
    assert not (out / "charts" / "snapshot_trend.vl.json").exists()
    page = (out / "index.html").read_text()
    assert "more than one complete snapshot" in page
    # The note is written for Markdown too: its command is code on the page, not backticks.
    assert "(run <code>hfstats refresh</code> again later)" in page
    share = pytorch_only_share(FIRST_SNAPSHOT)  # 6 of 10
    assert (
        title_text(spec(out, "exclusivity"))
        == f"PyTorch-only models: {share:.0%} of framework models"
    )


def test_a_report_of_the_first_snapshot_says_why_the_trend_is_missing(db):
    with store.read(db) as connection:
        first = report.collect(connection, snapshot_id=1)
        latest = report.collect(connection)
    assert "snapshot_trend" not in first.results and "snapshot_trend" in latest.results
    (note,) = first.notes
    assert "snapshot 1 is the first complete one" in note and "run `hfstats refresh`" not in note


def test_files_method_and_as_of_show_in_the_captions(db, tmp_path):
    out = report.write_report(
        db, tmp_path / "files", formats=("json",), method="files", as_of="2023-12-31"
    )
    subtitle = spec(out, "exclusivity")["title"]["subtitle"][0]
    assert "method: files" in subtitle and "models created by 2023-12-31" in subtitle
    created_by_2023 = sum(m["createdAt"] < "2024" for m in SECOND_SNAPSHOT)
    assert sum(row["value"] for row in inline_values(spec(out, "exclusivity"))) == created_by_2023


def test_control_characters_in_a_library_name_are_drawn_not_fatal(tmp_path):
    # XML forbids them and the SVG renderer aborts the process on one: run it in a child.
    import subprocess
    import sys

    # U+2028 and U+2029 pass XML but break Vega's expression parser.
    name = "lib\x1b[31m\x07\x01\ufffe\u2028\u2029"
    models = [
        element(30 + n, "2024-01-01T00:00:00.000Z", ["pytorch"], library=name) for n in range(3)
    ]
    db = crawl_into(tmp_path / "hub.duckdb", [models])
    out = tmp_path / "out"
    code = "import sys; from hfstats.cli import cli; cli(sys.argv[1:])"
    args = ["report", "--db", str(db), "--out", str(out), "--format", "svg,json"]
    finished = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-500:]
    # Control characters and line separators escaped, as the table output shows them (a
    # reader sees what is there); U+FFFE, which XML forbids, drawn as U+FFFD.
    drawn = "lib\\x1b[31m\\x07\\x01\ufffd\\u2028\\u2029"
    assert title_text(spec(out, "library_share")).startswith(drawn)
    assert drawn in (out / "charts" / "library_share.svg").read_text()


# -- small pure parts --------------------------------------------------------------------------


def test_percent_keeps_small_shares_visible():
    shares = (0.6364, 0.004, 0.00002, 0.0, None, 0.9951, 0.99, 1.0)
    assert [report.percent(v) for v in shares] == [
        "64%",
        "0.4%",
        "<0.1%",
        "0%",
        "n/a",
        ">99%",  # not 100% while some are not
        "99%",
        "100%",
    ]


def test_yearly_title_counts_the_years_each_framework_class_led():
    rows = [
        {"year": None, "framework_class": "tensorflow_only", "models": 50},  # not a year
        {"year": 2022, "framework_class": "tensorflow_only", "models": 3},
        {"year": 2022, "framework_class": "pytorch_only", "models": 2},
        {"year": 2023, "framework_class": "pytorch_only", "models": 4},
        {"year": 2023, "framework_class": "no_framework", "models": 9},  # not a framework
        {"year": 2024, "framework_class": "pytorch_only", "models": 1},
        {"year": 2024, "framework_class": "jax_only", "models": 1},  # a tie leads for both
        {"year": 2025, "framework_class": "no_framework", "models": 5},  # no framework model
    ]
    title = "PyTorch-only models led the framework models added in 2 of 3 years (1 of them tied)"
    assert report.yearly_additions_title(rows) == title
    # One year with framework models: that year, not "1 of 1 years".
    assert report.yearly_additions_title(rows[:3]) == (
        "TensorFlow-only models led the framework models added in 2022"
    )
    # A tie names every class that leads, never one picked by its place in the rows.
    assert report.yearly_additions_title(rows[5:7]) == (
        "PyTorch-only and JAX-only models tied for the most framework models added in 2024"
    )
    each_one_year = [
        {"year": 2022, "framework_class": "tensorflow_only", "models": 3},
        {"year": 2023, "framework_class": "pytorch_only", "models": 4},
        {"year": 2024, "framework_class": "jax_only", "models": 1},
        {"year": 2024, "framework_class": "tensorflow_only", "models": 1},
    ]
    assert report.yearly_additions_title(each_one_year) == (
        "TensorFlow-only models led the framework models added in 2 of 3 years (1 of them tied)"
    )
    assert report.yearly_additions_title(each_one_year[:2]) == (
        "PyTorch-only and TensorFlow-only models each led the framework models added in 1 of 2 "
        "years"
    )


def test_formats_tied_in_the_latest_year_are_all_named():
    rows = [
        {"year": 2025, "format": "onnx", "models": 2},
        {"year": 2025, "format": "gguf", "models": 2},
        {"year": 2025, "format": "tflite", "models": 1},
        {"year": 2024, "format": "onnx", "models": 9},  # an earlier year does not count
    ]
    assert report.deployment_formats_title(rows) == (
        "GGUF and ONNX tie as the most shipped formats among models created in 2025 (2 each)"
    )
    assert report.deployment_formats_title(rows[1:]) == (
        "GGUF: the most shipped format among models created in 2025 (2)"
    )


def test_framework_classes_tied_for_the_lead_are_all_named():
    # Two PyTorch-only and two TensorFlow-only models, one of each citing arXiv: the class order
    # must not hand the headline to PyTorch.
    exclusivity = [
        {"framework_class": "pytorch_only", "models": 2},
        {"framework_class": "tensorflow_only", "models": 2},
        {"framework_class": "jax_only", "models": 0},
        {"framework_class": "no_framework", "models": 7},
    ]
    assert report.exclusivity_title(exclusivity) == (
        "PyTorch-only and TensorFlow-only models tie at 50% of framework models each"
    )
    assert report.exclusivity_title(exclusivity[1:]) == (
        "TensorFlow-only models: 100% of framework models"
    )
    downloads = [
        {"framework_class": "pytorch_only", "downloads": 10},
        {"framework_class": "tensorflow_only", "downloads": 10},
        {"framework_class": "jax_only", "downloads": 10},
        {"framework_class": "no_framework", "downloads": 99},
    ]
    assert report.framework_by_downloads_title(downloads) == (
        "PyTorch-only, TensorFlow-only and JAX-only models tie at 33% of framework-model "
        "downloads each"
    )
    research = [
        {"year": 2023, "framework_class": "tensorflow_only", "arxiv_models": 1},
        {"year": 2024, "framework_class": "pytorch_only", "arxiv_models": 1},
        {"year": 2024, "framework_class": "no_framework", "arxiv_models": 5},
    ]
    assert report.research_models_title(research) == (
        "PyTorch-only and TensorFlow-only models tie at 50% of arXiv-citing framework models each"
    )


def test_the_trend_title_names_the_classes_tied_with_the_one_it_follows():
    rows = [
        {"snapshot_id": 1, "framework_class": "pytorch_only", "share_of_framework_models": 0.4},
        {"snapshot_id": 1, "framework_class": "tensorflow_only", "share_of_framework_models": 0.6},
        {"snapshot_id": 2, "framework_class": "pytorch_only", "share_of_framework_models": 0.5},
        {"snapshot_id": 2, "framework_class": "tensorflow_only", "share_of_framework_models": 0.5},
        {"snapshot_id": 2, "framework_class": "no_framework", "share_of_framework_models": None},
    ]
    assert report.snapshot_trend_title(rows) == (
        "PyTorch-only share of framework models: 40% → 50% over 2 snapshots "
        "(tied with TensorFlow-only)"
    )
    assert report.snapshot_trend_title([rows[0], rows[1], rows[3]]) == (
        "TensorFlow-only share of framework models: 60% → 50% over 2 snapshots"
    )


def test_table_shares_are_never_zero_or_all_when_they_are_not():
    assert report._percent_cell(1931 / 5_000_000) == "<0.1%"
    assert report._percent_cell(0.0) == "0.0%"
    assert report._percent_cell(0.00051) == "0.1%"
    assert report._percent_cell(0.99951) == ">99.9%"
    assert report._percent_cell(1.0) == "100.0%"
    assert report._percent_cell(None) == ""


def test_library_caption_mentions_other_only_when_there_is_an_other_row():
    few = [{"library_name": name, "models": 1} for name in ("a", "b", None)]
    caption = report.library_share_caption(few)
    assert "other" not in caption and "(no library)" in caption
    zeros = {"downloads": 0, "share_of_models": 0.0, "share_of_downloads": 0.0}
    many = [
        {"library_name": f"lib{i}", "models": 1, **zeros} for i in range(report.TOP_LIBRARIES + 1)
    ]
    caption = report.library_share_caption(many)
    assert "“other”" in caption and "(no library)" not in caption
    assert len(report.top_libraries(many)) == report.TOP_LIBRARIES + 1  # the "other" row


def test_top_libraries_adds_up_the_rest():
    rows = [
        {
            "library_name": f"lib{i:02d}",
            "models": 20 - i,
            "downloads": 1,
            "share_of_models": 0.05,
            "share_of_downloads": 0.05,
        }
        for i in range(18)
    ]
    top = report.top_libraries(rows)
    assert [r["library_label"] for r in top[:2]] == ["lib00", "lib01"]
    assert top[-1]["library_label"] == "other (3 libraries)"
    assert top[-1]["models"] == 5 + 4 + 3
    assert len(top) == 16


def test_the_library_the_title_names_is_in_the_chart_when_libraries_tie():
    # 20 libraries of 10 models each: the title names the most downloaded, which must not be
    # added up into "other".
    rows = [
        {
            "library_name": f"lib{i:02d}",
            "models": 10,
            "downloads": 1000 if i == 17 else i,
            "share_of_models": 0.05,
            "share_of_downloads": 0.05,
        }
        for i in range(20)
    ]
    assert report.library_share_title(rows).startswith("lib17: ")
    shown = [r["library_label"] for r in report.top_libraries(rows)]
    assert shown[0] == "lib17" and shown[-1] == "other (5 libraries)"


def test_libraries_tied_on_models_and_downloads_are_all_named():
    def library(name: str, models: int, downloads: int) -> dict:
        return {
            "library_name": name,
            "models": models,
            "downloads": downloads,
            "share_of_models": models / 100,
            "share_of_downloads": downloads / 1000,
        }

    two = [library("zeta", 40, 400), library("alpha", 40, 400), library("beta", 20, 200)]
    assert (
        report.library_share_title(two)
        == "alpha and zeta tie at 40% of models, 40% of downloads each"
    )
    five = [library(f"lib{i}", 20, 200) for i in range(5)]
    assert (
        report.library_share_title(five)
        == "5 libraries tie at 20% of models, 20% of downloads each"
    )
    ahead = [library("zeta", 40, 401), library("alpha", 40, 400)]  # more downloads: no tie
    assert report.library_share_title(ahead) == "zeta: 40% of models, 40% of downloads"


def test_an_incremental_snapshot_says_its_downloads_were_not_all_counted_then(tmp_path):
    db = tmp_path / "incremental.duckdb"
    with FakeHub(FIRST_SNAPSHOT) as hub:
        crawl.refresh(db, endpoint=hub.url, full=True)
        hub.upsert(SECOND_SNAPSHOT[-1])
        assert crawl.refresh(db, endpoint=hub.url).mode == "incremental"
    folder = report.write_report(db, tmp_path / "r", formats=("md", "json"))
    markdown = (folder / "report.md").read_text()
    assert "this snapshot's refresh was incremental" in markdown
    # The image says so too, without its caption.
    axis = spec(folder, "framework_by_downloads")["layer"][0]["encoding"]["x"]["title"]
    assert axis == "Downloads (30-day counts, as last read)"
    assert "the last full crawl \\(snapshot 1\\)" in markdown  # Markdown-escaped
    assert "counts for the 30 days before the snapshot" not in markdown
    # After a full crawl the counts are all of that snapshot.
    full = report.write_report(
        crawl_into(tmp_path / "full.duckdb", [FIRST_SNAPSHOT]), tmp_path / "f", formats=("md",)
    )
    full_markdown = (full / "report.md").read_text()
    assert "counts for the 30 days before the snapshot" in full_markdown
    with store.read(tmp_path / "full.duckdb") as connection:
        full_chart = report.framework_by_downloads_figure(report.collect(connection))
    assert full_chart.spec["layer"][0]["encoding"]["x"]["title"] == (
        "Downloads (30 days before the snapshot)"
    )
    assert "incremental" not in full_markdown


def test_year_order_puts_the_placeholder_first():
    assert report.year_order([2024, None, 2022, 2024]) == [report.PLACEHOLDER_LABEL, "2022", "2024"]


# -- the command -------------------------------------------------------------------------------


def test_cli_writes_the_report_and_rejects_bad_input(db, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(cli, ["report", "--db", str(db), "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    assert (out / "charts" / "exclusivity.vl.json").is_file()
    for args, code in [
        (["--format", "json,pdf"], 2),
        (["--as-of", "2024-13-01"], 2),
        (["--snapshot", "9"], 2),
        (["--db", str(tmp_path / "missing.duckdb")], 1),
    ]:
        result = runner.invoke(cli, ["report", "--db", str(db), "--out", str(out), *args])
        assert result.exit_code == code, (args, result.output)
        assert result.output.startswith("hfstats: error: ") and result.output.count("\n") == 1
    assert (out / "charts" / "exclusivity.vl.json").is_file()


def test_missing_database_is_a_database_error(tmp_path):
    with pytest.raises(DatabaseError):
        report.write_report(tmp_path / "none.duckdb", tmp_path / "out", formats=("json",))


def test_the_trend_title_of_snapshots_without_framework_models_says_so():
    # --as-of before every model: each class of each snapshot has no share.
    rows = [
        {"snapshot_id": s, "framework_class": c, "share_of_framework_models": None}
        for s in (1, 2)
        for c in ("pytorch_only", "tensorflow_only", "no_framework")
    ]
    assert report.snapshot_trend_title(rows) == "No PyTorch, TensorFlow or JAX models in snapshot 2"


def test_a_report_as_of_a_date_before_the_placeholder_says_why_those_models_are_missing(db):
    placeholder = sum(map(placeholder_dated, SECOND_SNAPSHOT))
    assert placeholder == 2
    with store.read(db) as connection:
        early = report.collect(connection, as_of=datetime(2022, 3, 1))  # naive: UTC
        later = report.collect(connection, as_of=datetime(2022, 3, 3, tzinfo=UTC))
    assert any(
        note.startswith(f"{placeholder} models carry the Hub's placeholder creation date")
        and "left out" in note
        for note in early.notes
    )
    assert not any("placeholder" in note for note in later.notes)  # they count from then on


def test_the_claims_section_says_claims_keep_their_own_date_and_reading(full_report):
    for document in ("report.md", "index.html"):
        text = (full_report / document).read_text()
        assert "measured as it defines itself (its own as_of and reading)" in text


def test_the_latest_year_is_said_to_be_counted_only_up_to_the_snapshot(db, full_report):
    # Drawn like the others, a year not over would read as a decline.
    with store.read(db) as connection:
        data = report.collect(connection)
        (finished,) = connection.execute(
            "SELECT finished_at FROM snapshots WHERE snapshot_id = 2"
        ).fetchone()
        dated = report.collect(connection, as_of=datetime(2025, 6, 30, tzinfo=UTC))
        beyond = report.collect(connection, as_of=datetime(2999, 1, 1, tzinfo=UTC))
    latest = max(
        datetime.fromisoformat(m["createdAt"].replace("Z", "+00:00")).year for m in SECOND_SNAPSHOT
    )
    note = f"{latest} is counted only up to {finished.astimezone(UTC).date().isoformat()}."
    partial = latest == finished.year  # the fixture's newest models are of this year
    for figure in (report.yearly_additions_figure(data), report.deployment_formats_figure(data)):
        assert (note in figure.caption) == partial
        # Under the title too: a pasted image travels without its caption.
        assert (note in figure.spec["title"]["subtitle"]) == partial
    caption = report.yearly_additions_figure(dated).caption
    assert caption.endswith("2025 is counted only up to 2025-06-30.")
    subtitle = report.yearly_additions_figure(dated).spec["title"]["subtitle"]
    assert subtitle[-1] == "2025 is counted only up to 2025-06-30."
    assert (note in report.yearly_additions_figure(beyond).caption) == partial


def test_an_as_of_on_the_last_day_of_a_year_counts_that_year_whole(db):
    # `--as-of 2022-12-31` means up to the end of that day (inclusive): 2022 is complete.
    years = {m["createdAt"][:4] for m in SECOND_SNAPSHOT if not placeholder_dated(m)}
    assert "2022" in years
    with store.read(db) as connection:
        whole = report.collect(connection, as_of=queries.parse_as_of("2022-12-31"))
        short = report.collect(connection, as_of=queries.parse_as_of("2022-12-30"))
    # Models of 2022 in both charts: the fixture's 2022-05-05 (pytorch) and 2022-08-08 (tf, arXiv).
    for figure in (report.yearly_additions_figure, report.research_models_figure):
        assert "counted only up to" not in figure(whole).caption
        assert figure(short).caption.endswith("2022 is counted only up to 2022-12-30.")


def test_an_as_of_at_noon_on_the_last_day_of_a_year_leaves_that_year_partial(db):
    # Only the end of the day completes the year: models of that afternoon are not counted.
    with store.read(db) as connection:
        noon = report.collect(connection, as_of=queries.parse_as_of("2022-12-31T12:00:00Z"))
    # Models of 2022 in both charts: the fixture's 2022-05-05 (pytorch) and 2022-08-08 (tf, arXiv).
    for figure in (report.yearly_additions_figure, report.research_models_figure):
        assert figure(noon).caption.endswith("2022 is counted only up to 2022-12-31.")


def test_a_year_not_over_at_the_snapshot_is_said_so_also_with_a_later_as_of(tmp_path):
    this_year = datetime.now(UTC).year
    models = [
        *SECOND_SNAPSHOT,
        element(28, f"{this_year}-01-15T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"]),
    ]
    db = crawl_into(tmp_path / "hub.duckdb", [models])
    with store.read(db) as connection:
        (finished,) = connection.execute("SELECT finished_at FROM snapshots").fetchone()
        for as_of in (None, datetime(this_year + 1, 6, 1, tzinfo=UTC)):
            caption = report.yearly_additions_figure(
                report.collect(connection, as_of=as_of)
            ).caption
            # An --as-of after the snapshot counts no further than the snapshot.
            assert caption.endswith(
                f"{this_year} is counted only up to {finished.astimezone(UTC).date().isoformat()}."
            )


def test_report_markdown_groups_digits_as_the_page_does_and_query_output_does_not():
    rows = [("transformers", 62706631, 0.5, True, None)]
    columns = ["library", "downloads", "share", "flag", "none"]
    grouped = render(rows, columns, "markdown", group_digits=True).splitlines()[-1]
    assert grouped == "| transformers | 62,706,631 | 0.5 | true |  |"
    assert "| 62706631 |" in render(rows, columns, "markdown")  # `hfstats query` output


def test_charts_of_a_lone_model_count_in_whole_numbers_from_the_bottom(tmp_path):
    # One PyTorch-only model citing no paper: the disagreement legend runs from 0 to 1 (a
    # gradient labelled 0.2, 0.4 ... would count fractions of models), and the arXiv chart,
    # all zero, puts its 0 at the bottom of the axis, not halfway up.
    lone = element(1, "2023-06-01T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"])
    db = crawl_into(tmp_path / "lone.duckdb", [[lone]])
    charts = report.write_report(db, tmp_path / "r", formats=["svg"]) / "charts"
    method = (charts / "method_comparison.svg").read_text()
    legend = method[method.index("role-legend-label") : method.index("role-legend-title")]
    assert re.findall(r">([^<]*)</text>", legend) == ["0", "1"]
    research = (charts / "research_models.svg").read_text()
    height = float(
        re.search(r'<line transform="translate\(0,[\d.]+\)" x2="0" y2="-([\d.]+)"', research)[1]
    )
    zero_at = re.search(
        r'text-anchor="end" transform="translate\(-?[\d.]+,([\d.]+)\)"[^>]*>0</text>', research
    )
    assert abs(float(zero_at[1]) - 3 - height) < 1  # labels sit 3 px below their tick


def cell_fills(svg: str) -> Counter:
    """The fill of every cell (rect mark) of a heatmap's SVG."""
    return Counter(re.findall(r'aria-roledescription="rect mark"[^>]*fill="([^"]*)"', svg))


def test_charts_of_an_empty_listing_draw_zero_as_zero_and_no_empty_legend(tmp_path):
    lone = element(1, "2023-06-01T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"])
    lone_charts = report.write_report(
        crawl_into(tmp_path / "lone.duckdb", [[lone]]), tmp_path / "lone", formats=["svg"]
    )
    empty_charts = report.write_report(
        crawl_into(tmp_path / "empty.duckdb", [[]]), tmp_path / "empty", formats=["svg"]
    )
    # Every cell of the empty heatmap has the colour of the lone model's 24 empty cells.
    lone_fills = cell_fills((lone_charts / "charts" / "method_comparison.svg").read_text())
    zero_fill = next(fill for fill, cells in lone_fills.items() if cells == 24)
    empty = (empty_charts / "charts" / "method_comparison.svg").read_text()
    assert cell_fills(empty) == {zero_fill: 25}
    # A legend with no class in it would be its title alone.
    assert "Framework class" not in (empty_charts / "charts" / "yearly_additions.svg").read_text()
    assert "Framework class" in (lone_charts / "charts" / "yearly_additions.svg").read_text()
    # Bare axes need a word of explanation.
    empty_note = "Snapshot 1 lists no models: every chart is empty."
    with store.read(tmp_path / "empty.duckdb") as connection:
        assert empty_note in report.collect(connection).notes
    with store.read(tmp_path / "lone.duckdb") as connection:
        assert empty_note not in report.collect(connection).notes
        before = report.collect(connection, as_of=datetime(2023, 5, 31, tzinfo=UTC)).notes
    assert "Snapshot 1 lists no models created by 2023-05-31T00:00:00Z: every chart is empty." in (
        before
    )


def test_titles_without_framework_models_do_not_read_as_the_no_framework_class():
    # "No framework model cites an arXiv paper" above a bar of no-framework models citing one.
    undated_or_not = [
        {"year": year, "framework_class": "no_framework", "models": 3, "arxiv_models": 2}
        for year in (None, 2023)
    ]
    none = "No PyTorch, TensorFlow or JAX model"
    assert report.yearly_additions_title(undated_or_not) == f"{none} has a known creation year"
    assert report.research_models_title(undated_or_not) == f"{none} cites an arXiv paper"


def test_the_formats_title_of_formats_shipped_only_in_the_placeholder_column_says_so():
    def rows(placeholder: int) -> list[dict]:
        return [
            {"year": None, "format": "onnx", "models": placeholder},
            {"year": 2023, "format": "onnx", "models": 0},
        ]

    assert report.deployment_formats_title(rows(2)) == (
        f"Only models created on or before {report.PLACEHOLDER_DAY} ship a deployment format"
    )
    assert report.deployment_formats_title(rows(0)) == "No model ships a deployment format"


def png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_pngs_have_twice_the_pixels_and_markdown_shows_them_at_the_svgs_size(db, tmp_path):
    both = report.write_report(db, tmp_path / "both", formats=("svg", "png"))
    only_png = report.write_report(db, tmp_path / "png", formats=("md", "png"))
    markdown = (only_png / "report.md").read_text()
    for name in CHARTS:
        svg = (both / "charts" / f"{name}.svg").read_text()
        width, height = (
            int(re.search(rf'<svg[^>]* {side}="(\d+)"', svg).group(1))
            for side in ("width", "height")
        )
        assert png_size((both / "charts" / f"{name}.png").read_bytes()) == (2 * width, 2 * height)
        assert f'<img src="charts/{name}.png" width="{width}" alt="' in markdown, name


def test_cut_offs_are_written_with_four_digit_years():
    # strftime's %Y writes the year 1 as "1": "models created by 1-01-01".
    assert report.as_of_text(datetime(1, 1, 1, 23, 59, 59, 999999, tzinfo=UTC)) == "0001-01-01"
    assert report.as_of_text(datetime(999, 3, 2, 1, 2, 3, 4, tzinfo=UTC)) == "0999-03-02T01:02:03Z"
    assert report.as_of_text(datetime(2022, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "2022-12-31"
    assert claims._instant_text(datetime(5, 3, 2, 1, 2, 3, 4, tzinfo=UTC)) == "0005-03-02T01:02:03Z"


def test_a_library_name_cannot_reverse_the_library_chart_title():
    rows = [{"library_name": "rtl\u202egnp.exe", "models": 3, "downloads": 1}]
    rows[0].update(share_of_models=1.0, share_of_downloads=1.0)
    assert (
        report.library_share_title(rows) == "rtl\\u202egnp.exe: 100% of models, 100% of downloads"
    )


def test_a_library_name_cannot_reverse_or_break_its_label():
    assert report.library_name_label("rtl\u202egnp.exe") == "rtl\\u202egnp.exe"
    assert report.library_name_label("two\nlines\x1b[31m") == "two\\nlines\\x1b[31m"
    assert report.library_name_label("日本語 🤗") == "日本語 🤗"
    assert report.library_name_label(None) == "(no library)"
