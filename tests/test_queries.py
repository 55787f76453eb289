"""The SQL analytics (issue 4) and snapshot_trend (issue 7) on a crawl of a hand-made test Hub.

Expected values come from the raw listing elements, with a few lines of Python below (tags,
years, cut-offs, downloads), or from labels written by hand next to each element (the `files`
classification and deployment formats). They are never read back from hfstats.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import begin_test_snapshot

from hfstats import claims, crawl, queries, store
from hfstats.cli import cli
from hfstats.errors import UsageError
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub

CLASSES = ["pytorch_only", "tensorflow_only", "jax_only", "multi_framework", "no_framework"]
PLACEHOLDER_LIMIT = datetime(2022, 3, 2, 23, 29, 5, tzinfo=UTC)
FORMATS = ["onnx", "tflite", "coreml", "gguf", "openvino", "safetensors", "mlx"]


def element(number: int, created: str | None, tags, files, library=None, downloads=0) -> dict:
    model = {
        "_id": f"{0x62000000 + number:08x}{number:016x}",
        "id": f"org/model-{number:02d}",
        "modelId": f"org/model-{number:02d}",
        "author": "org",
        "lastModified": f"2026-01-{number:02d}T00:00:00.000Z",
        "sha": f"{number:040x}",
        "private": False,
        "disabled": False,
        "gated": False,
        "likes": 0,
        "trendingScore": 0,
        "downloads": downloads,
        "siblings": [{"rfilename": name} for name in files],
    }
    if created is not None:
        model["createdAt"] = created
    if tags is not None:
        model["tags"] = tags
    if library is not None:
        model["library_name"] = library
    return model


# (element, class by the files method, deployment formats): the last two labelled by hand.
CASES = [
    (
        element(
            1,
            "2023-05-01T00:00:00.000Z",
            ["transformers", "pytorch"],
            ["config.json", "pytorch_model.bin"],
            "transformers",
            100,
        ),
        "pytorch_only",
        set(),
    ),
    (
        element(
            2,
            "2022-06-01T12:00:00.000Z",
            ["pytorch", "tf", "arxiv:1810.04805"],
            ["pytorch_model.bin", "tf_model.h5"],
            "transformers",
            50,
        ),
        "multi_framework",
        set(),
    ),
    (  # the usual placeholder date: created at an unknown time up to 2022-03-02
        element(
            3,
            "2022-03-02T23:29:04.000Z",
            ["pytorch", "tf", "jax"],
            ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"],
            "transformers",
            7,
        ),
        "multi_framework",
        set(),
    ),
    (  # the rarer placeholder, and no tags at all
        element(4, "2022-03-02T23:29:05.000Z", None, ["model.safetensors"], "transformers", 3),
        "pytorch_only",
        {"safetensors"},
    ),
    (  # one second after the placeholder: a real 2022 date; tags not a list
        element(5, "2022-03-02T23:29:06.000Z", "pytorch", [], None, 1),
        "no_framework",
        set(),
    ),
    (
        element(6, "2024-01-01T00:00:00.000Z", ["tf", "keras"], ["saved_model.pb"], "keras", 20),
        "tensorflow_only",
        set(),
    ),
    (
        element(7, "2024-12-31T23:59:59.999Z", ["jax"], ["flax_model.msgpack"], None, 4),
        "jax_only",
        set(),
    ),
    (
        element(8, "2025-01-01T00:00:00.000Z", ["gguf"], ["model-q4_k_m.gguf"], None, 900),
        "no_framework",
        {"gguf"},
    ),
    (
        element(
            9,
            "2025-02-01T00:00:00.000Z",
            ["onnx", "arxiv:2001.00001"],
            ["onnx/model.onnx"],
            "transformers.js",
            12,
        ),
        "no_framework",
        {"onnx"},
    ),
    (  # MLX safetensors are not PyTorch weights
        element(
            10, "2025-03-01T00:00:00.000Z", ["mlx", "safetensors"], ["model.safetensors"], "mlx", 30
        ),
        "no_framework",
        {"mlx", "safetensors"},
    ),
    (  # disagreement: tagged pytorch, ships only GGUF
        element(11, "2023-01-01T00:00:00.000Z", ["pytorch"], ["model.gguf"], None, 2),
        "no_framework",
        {"gguf"},
    ),
    (  # disagreement: a Keras model without recognisable files
        element(12, "2023-07-01T00:00:00.000Z", [], [], "keras", 0),
        "tensorflow_only",
        set(),
    ),
    (  # disagreement: a PEFT adapter in safetensors
        element(
            13,
            "2024-06-01T00:00:00.000Z",
            ["peft", "arxiv:2106.09685"],
            ["adapter_config.json", "adapter_model.safetensors"],
            "peft",
            6,
        ),
        "pytorch_only",
        {"safetensors"},
    ),
    (
        element(
            14,
            "2023-09-09T00:00:00.000Z",
            ["diffusers", "safetensors"],
            ["unet/diffusion_pytorch_model.safetensors", "model_index.json"],
            "diffusers",
            8,
        ),
        "pytorch_only",
        {"safetensors"},
    ),
    (
        element(
            15,
            "2022-11-11T00:00:00.000Z",
            ["pytorch", "tensorboard", "arxiv:1706.03762"],
            ["pytorch_model.bin", "runs/Nov11/events.out.tfevents.1668.host"],
            None,
            5,
        ),
        "pytorch_only",
        set(),
    ),
    (  # TensorBoard logs without the tag; a TensorFlow checkpoint
        element(
            16,
            "2023-03-03T00:00:00.000Z",
            ["tf"],
            [
                "model.ckpt.index",
                "model.ckpt.data-00000-of-00001",
                "logs/events.out.tfevents.1.host",
            ],
            None,
            9,
        ),
        "tensorflow_only",
        set(),
    ),
    (  # no createdAt: unknown creation, year NULL, left out by any as_of
        element(17, None, ["pytorch"], ["weights.pt"], None, 11),
        "pytorch_only",
        set(),
    ),
    (  # file names are matched without regard to case
        element(18, "2026-01-01T00:00:00.000Z", [], ["MODEL.PTH"], None, 0),
        "pytorch_only",
        set(),
    ),
    (
        element(
            19,
            "2025-05-05T00:00:00.000Z",
            ["coreml"],
            ["model.mlpackage/Data/com.apple.CoreML/model.mlmodel"],
            None,
            1,
        ),
        "no_framework",
        {"coreml"},
    ),
    (
        element(
            20,
            "2025-06-06T00:00:00.000Z",
            ["openvino"],
            ["openvino_model.xml", "openvino_model.bin"],
            "transformers",
            1,
        ),
        "no_framework",
        {"openvino"},
    ),
    (
        element(21, "2024-02-02T00:00:00.000Z", ["tflite"], ["model.tflite"], None, 1),
        "no_framework",
        {"tflite"},
    ),
]
FIRST = [case[0] for case in CASES]
FILES_CLASS = {case[0]["_id"]: case[1] for case in CASES}
FORMATS_OF = {case[0]["_id"]: case[2] for case in CASES}

# What changes before the second snapshot: model 11 loses its pytorch tag, model 21 is
# deleted, and a new PyTorch model appears.
ADDED = element(
    22, "2026-02-01T00:00:00.000Z", ["pytorch"], ["pytorch_model.bin"], "transformers", 40
)
FILES_CLASS[ADDED["_id"]] = "pytorch_only"
FORMATS_OF[ADDED["_id"]] = set()
SECOND = [
    {**m, "tags": ["gguf"], "lastModified": "2026-03-01T00:00:00.000Z"}
    if m["_id"] == FIRST[10]["_id"]
    else m
    for m in FIRST
    if m["_id"] != FIRST[20]["_id"]
] + [ADDED]


# -- the independent computation ---------------------------------------------------------------


def created(model: dict) -> datetime | None:
    value = model.get("createdAt")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def year_of(model: dict) -> int | None:
    moment = created(model)
    return None if moment is None or moment <= PLACEHOLDER_LIMIT else moment.year


def tags_of(model: dict) -> list[str]:
    tags = model.get("tags")
    return tags if isinstance(tags, list) else []


def tags_class(model: dict) -> str:
    found = [
        name
        for tag, name in (("pytorch", "pytorch"), ("tf", "tensorflow"), ("jax", "jax"))
        if tag in tags_of(model)
    ]
    if not found:
        return "no_framework"
    return f"{found[0]}_only" if len(found) == 1 else "multi_framework"


def class_of(model: dict, method: str) -> str:
    return tags_class(model) if method == "tags" else FILES_CLASS[model["_id"]]


def in_scope(models: list[dict], as_of: datetime | None) -> list[dict]:
    if as_of is None:
        return models
    # A placeholder-range date counts from the end of the range (the Hub's notes).
    limit = datetime(2022, 3, 2, 23, 29, 5, tzinfo=UTC)
    return [m for m in models if created(m) is not None and max(created(m), limit) <= as_of]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """Two complete snapshots: FIRST, then SECOND."""
    path = tmp_path_factory.mktemp("queries") / "hub.duckdb"
    with FakeHub(FIRST) as hub:
        crawl.refresh(path, client=HubClient(hub.url, None, backoff_base=0.01), full=True)
        for model in SECOND:
            hub.upsert(model)
        hub.delete(FIRST[20]["_id"])
        crawl.refresh(path, client=HubClient(hub.url, None, backoff_base=0.01), full=True)
    return path


def run(db: Path, name: str, **kwargs) -> list[dict]:
    with store.read(db) as connection:
        result = queries.run_query(connection, name, **kwargs)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# -- contract ----------------------------------------------------------------------------------


def test_every_query_returns_the_columns_its_header_names(db):
    specs = queries.list_queries()
    assert {s.name for s in specs} >= {
        "exclusivity",
        "yearly_additions",
        "library_share",
        "framework_by_downloads",
        "deployment_formats",
        "research_models",
        "tensorboard_usage",
        "method_comparison",
        "snapshot_trend",
    }
    with store.read(db) as connection:
        for spec in specs:
            assert spec.description and "\n" not in spec.description
            assert "snapshot_id" in spec.params
            methods = ["tags", "files"] if "method" in spec.params else ["tags"]
            for method in methods:
                result = queries.run_query(connection, spec.name, method=method)
                assert result.columns == spec.columns, spec.name


def test_headers_declare_parameter_types_and_defaults():
    spec = queries.load_query("exclusivity")
    assert spec.params["snapshot_id"].type == "INTEGER"
    assert spec.params["snapshot_id"].default is None
    assert spec.params["as_of"].type == "TIMESTAMPTZ"
    assert spec.params["as_of"].default is None
    assert spec.params["method"].default == "tags"


def test_unknown_query_names_the_known_ones():
    with pytest.raises(UsageError, match="exclusivity") as error:
        queries.load_query("../secrets")
    assert "\n" not in str(error.value)


# -- exclusivity, both methods, cut-offs, snapshots ---------------------------------------------


@pytest.mark.parametrize("method", ["tags", "files"])
@pytest.mark.parametrize(
    "as_of",
    [
        None,
        # Placeholder dates count from the end of their range: neither one is in yet...
        "2022-03-02T23:29:04Z",
        "2022-03-02T23:29:05Z",  # ...both are, but not the model one second later
        "2024-12-31",  # the end of that day: includes 23:59:59.999
        "2025-01-01T00:00:00+00:00",
    ],
)
def test_exclusivity_matches_an_independent_count(db, method, as_of):
    cut_off = queries.parse_as_of(as_of) if as_of else None
    scoped = in_scope(SECOND, cut_off)
    counts = Counter(class_of(m, method) for m in scoped)
    with_framework = sum(n for c, n in counts.items() if c != "no_framework")
    expected = [
        {
            "framework_class": c,
            "models": counts[c],
            "share_of_framework_models": None
            if c == "no_framework"
            else share(counts[c], with_framework),
            "share_of_all_models": share(counts[c], len(scoped)),
        }
        for c in CLASSES
    ]
    measured = run(db, "exclusivity", method=method, as_of=as_of)
    # pytest.approx compares flat containers only: match rows one by one.
    assert [r["framework_class"] for r in measured] == [e["framework_class"] for e in expected]
    for row, want in zip(measured, expected, strict=True):
        assert row == {
            **want,
            **{k: pytest.approx(v) for k, v in want.items() if isinstance(v, float)},
        }


def test_placeholder_cut_off_counts_are_what_the_dates_say(db):
    # Hand count: models 3 and 4 carry the placeholders; model 5 is one second later.
    rows = run(db, "exclusivity", as_of="2022-03-02T23:29:05Z")
    assert sum(r["models"] for r in rows) == 2
    rows = run(db, "exclusivity", as_of="2022-03-02T23:29:06Z")
    assert sum(r["models"] for r in rows) == 3


def test_first_snapshot_gives_the_first_state(db):
    for method in ("tags", "files"):
        counts = Counter(class_of(m, method) for m in FIRST)
        rows = run(db, "exclusivity", snapshot_id=1, method=method)
        assert {r["framework_class"]: r["models"] for r in rows} == {c: counts[c] for c in CLASSES}


# -- yearly additions --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tags", "files"])
def test_yearly_additions_never_counts_placeholders_as_2022(db, method):
    counts = Counter((year_of(m), class_of(m, method)) for m in SECOND)
    rows = run(db, "yearly_additions", method=method)
    assert {(r["year"], r["framework_class"]): r["models"] for r in rows} == counts
    # Hand count: only models 2, 5 and 15 were created in 2022.
    assert sum(r["models"] for r in rows if r["year"] == 2022) == 3
    # Models 3 and 4 (placeholders) and 17 (no createdAt).
    assert sum(r["models"] for r in rows if r["year"] is None) == 3


def test_yearly_additions_as_of(db):
    cut_off = queries.parse_as_of("2023-06-30")
    counts = Counter((year_of(m), tags_class(m)) for m in in_scope(SECOND, cut_off))
    rows = run(db, "yearly_additions", as_of="2023-06-30")
    assert {(r["year"], r["framework_class"]): r["models"] for r in rows} == counts


# -- the other queries -------------------------------------------------------------------------


def test_library_share(db):
    models = Counter(m.get("library_name") for m in SECOND)
    downloads = Counter()
    for m in SECOND:
        downloads[m.get("library_name")] += m["downloads"]
    total_downloads = sum(downloads.values())
    rows = run(db, "library_share")
    assert {r["library_name"]: r["models"] for r in rows} == models
    assert {r["library_name"]: r["downloads"] for r in rows} == downloads
    for r in rows:
        assert r["share_of_models"] == pytest.approx(models[r["library_name"]] / len(SECOND))
        assert r["share_of_downloads"] == pytest.approx(
            downloads[r["library_name"]] / total_downloads
        )


def test_an_empty_library_name_counts_as_naming_no_library(tmp_path):
    # Not a library called "" (a group with an empty label in the report's chart).
    models = [
        element(1, "2023-01-01T00:00:00.000Z", ["pytorch"], [], "transformers", 5),
        element(2, "2023-01-02T00:00:00.000Z", ["pytorch"], [], "", 7),
        element(3, "2023-01-03T00:00:00.000Z", [], [], None, 11),
    ]
    path = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(path, client=HubClient(hub.url, None, backoff_base=0.01))
    rows = run(path, "library_share")
    assert {r["library_name"]: (r["models"], r["downloads"]) for r in rows} == {
        "transformers": (1, 5),
        None: (2, 18),
    }


@pytest.mark.parametrize("method", ["tags", "files"])
def test_framework_by_downloads(db, method):
    downloads = Counter()
    for m in SECOND:
        downloads[class_of(m, method)] += m["downloads"]
    framework = sum(d for c, d in downloads.items() if c != "no_framework")
    rows = run(db, "framework_by_downloads", method=method)
    assert [r["framework_class"] for r in rows] == CLASSES
    for r in rows:
        c = r["framework_class"]
        assert r["downloads"] == downloads[c]
        assert r["share_of_all_downloads"] == pytest.approx(downloads[c] / sum(downloads.values()))
        expected = None if c == "no_framework" else downloads[c] / framework
        assert r["share_of_framework_downloads"] == pytest.approx(expected)


def test_deployment_formats(db):
    shipped = Counter((year_of(m), f) for m in SECOND for f in FORMATS_OF[m["_id"]])
    years = {year_of(m) for m in SECOND}
    expected = {(y, f): shipped[(y, f)] for y in years for f in FORMATS}
    rows = run(db, "deployment_formats")
    assert {(r["year"], r["format"]): r["models"] for r in rows} == expected


def test_every_group_a_shipped_proxy_claim_names_is_one_its_query_returns():
    # A misspelt name (core_ml for coreml) would be shown as a group of 0 models, silently.
    # The values a group_by column can hold, as docs/queries.md lists them.
    vocabulary = {"format": set(FORMATS), "framework_class": set(CLASSES)}
    named = {}
    for claim in claims.load_claims():
        if claim.kind == "proxy" and claim.summary.get("show"):
            column = claim.summary["group_by"]
            assert column in vocabulary, f"{claim.id}: no vocabulary for {column} in this test"
            named[claim.id] = set(claim.summary["show"]) - vocabulary[column]
    assert "tensorflow-deployment-tools" in named  # the seed claim naming four formats
    assert named == dict.fromkeys(named, set())


@pytest.mark.parametrize("method", ["tags", "files"])
def test_research_models(db, method):
    models, cites = Counter(), Counter()
    for m in SECOND:
        key = (year_of(m), class_of(m, method))
        models[key] += 1
        cites[key] += any(t.startswith("arxiv:") for t in tags_of(m))
    rows = run(db, "research_models", method=method)
    assert {(r["year"], r["framework_class"]): r["models"] for r in rows} == models
    assert {(r["year"], r["framework_class"]): r["arxiv_models"] for r in rows} == cites
    for r in rows:
        assert r["share_citing_arxiv"] == pytest.approx(r["arxiv_models"] / r["models"])


def test_tensorboard_usage(db):
    def has_tensorboard(m: dict) -> bool:
        names = [s["rfilename"].rsplit("/", 1)[-1] for s in m["siblings"]]
        return "tensorboard" in tags_of(m) or any("events.out.tfevents" in n for n in names)

    rows = run(db, "tensorboard_usage")
    logged = Counter(tags_class(m) for m in SECOND if has_tensorboard(m))
    assert {r["framework_class"]: r["tensorboard_models"] for r in rows} == {
        c: logged[c] for c in CLASSES
    }
    # Hand count: model 15 (tag) and model 16 (log file only).
    assert sum(r["tensorboard_models"] for r in rows) == 2
    assert (
        next(r for r in rows if r["framework_class"] == "jax_only")["share_with_tensorboard"] == 0
    )


def test_tensorboard_logs_are_found_by_the_file_name_not_a_folder(tmp_path):
    # Hand-made: only the names whose last component holds the log prefix count.
    def with_files(index: int, *names: str) -> dict:
        return element(index, "2024-01-01T00:00:00.000Z", ["pytorch"], list(names))

    models = [
        with_files(1, "runs/events.out.tfevents.1.host"),  # counts
        with_files(2, "events.out.tfevents.d/readme.md"),  # a folder of that name: no
        with_files(3, "a/events.out.tfevents", "b/x.bin"),  # counts
        with_files(4, "events.out/tfevents.1"),  # the name split by a folder: no
        with_files(5, "README.md"),
    ]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=HubClient(hub.url, backoff_base=0.001), full=True)
    rows = run(db, "tensorboard_usage")
    assert {r["framework_class"]: r["tensorboard_models"] for r in rows}["pytorch_only"] == 2


def test_method_comparison_shows_disagreements(db):
    pairs = Counter((tags_class(m), FILES_CLASS[m["_id"]]) for m in SECOND)
    rows = run(db, "method_comparison")
    assert len(rows) == 25
    assert {(r["tags_class"], r["files_class"]): r["models"] for r in rows} == {
        (t, f): pairs[(t, f)] for t in CLASSES for f in CLASSES
    }
    assert pairs[("no_framework", "pytorch_only")] == 4  # hand count: models 4, 13, 14, 18


def test_snapshot_trend_reads_each_snapshot_as_of_itself(db):
    rows = run(db, "snapshot_trend")
    assert [r["snapshot_id"] for r in rows] == [1] * 5 + [2] * 5
    for snapshot_id, models in ((1, FIRST), (2, SECOND)):
        counts = Counter(tags_class(m) for m in models)
        mine = [r for r in rows if r["snapshot_id"] == snapshot_id]
        assert [r["framework_class"] for r in mine] == CLASSES
        assert {r["framework_class"]: r["models"] for r in mine} == {c: counts[c] for c in CLASSES}
        framework = sum(n for c, n in counts.items() if c != "no_framework")
        for r in mine:
            expected = (
                None
                if r["framework_class"] == "no_framework"
                else (counts[r["framework_class"]] / framework)
            )
            assert r["share_of_framework_models"] == pytest.approx(expected)
        assert mine[0]["finished_at"] is not None
    assert [r["snapshot_id"] for r in run(db, "snapshot_trend", snapshot_id=1)] == [1] * 5


# -- parameters --------------------------------------------------------------------------------


def test_param_strings_are_converted_and_params_win(db):
    cut_off = queries.parse_as_of("2024-12-31")
    counts = Counter(FILES_CLASS[m["_id"]] for m in in_scope(FIRST, cut_off))
    with store.read(db) as connection:
        result = queries.run_query(
            connection,
            "exclusivity",
            {"as_of": "2024-12-31", "method": "files", "snapshot_id": "1"},
            method="tags",
        )
    assert result.snapshot_id == 1
    assert result.params["method"] == "files"
    assert dict((row[0], row[1]) for row in result.rows) == {c: counts[c] for c in CLASSES}


@pytest.mark.parametrize(
    "params, kwargs, message",
    [
        ({"nope": "1"}, {}, "no parameter 'nope'"),
        ({"method": "weights"}, {}, "unknown method"),
        ({"snapshot_id": "one"}, {}, "not a valid INTEGER"),
        ({"as_of": "yesterday"}, {}, "bad date"),
        ({}, {"snapshot_id": 99}, "no snapshot 99"),
    ],
)
def test_bad_parameters_are_usage_errors(db, params, kwargs, message):
    with store.read(db) as connection, pytest.raises(UsageError, match=message):
        queries.run_query(connection, "exclusivity", params, **kwargs)


def test_a_query_without_method_refuses_files(db):
    with store.read(db) as connection:
        with pytest.raises(UsageError, match="does not take method"):
            queries.run_query(connection, "library_share", method="files")
        assert queries.run_query(connection, "library_share", method="tags").rows


def test_parse_as_of():
    assert queries.parse_as_of("2024-02-29") == datetime(2024, 2, 29, 23, 59, 59, 999999, UTC)
    assert queries.parse_as_of("2024-02-29T10:00:00Z") == datetime(2024, 2, 29, 10, tzinfo=UTC)
    assert queries.parse_as_of("2024-02-29 10:00") == datetime(2024, 2, 29, 10, tzinfo=UTC)
    # Every ISO 8601 form of a date alone is that whole day, as YYYY-MM-DD is.
    for day in ("20240229", "2024-W09-4"):
        assert queries.parse_as_of(day) == datetime(2024, 2, 29, 23, 59, 59, 999999, UTC)
    for bad in ("2024-02-30", "29/02/2024", "", "2024-02-29T25:00"):
        with pytest.raises(UsageError, match="bad date"):
            queries.parse_as_of(bad)


# -- the commands ------------------------------------------------------------------------------


def test_query_json_output_has_null_for_null(db):
    result = invoke("query", "yearly_additions", "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    counts = Counter((year_of(m), tags_class(m)) for m in SECOND)
    assert {(r["year"], r["framework_class"]): r["models"] for r in rows} == counts
    assert '"year": null' in result.stdout


def test_query_options_reach_the_query(db):
    result = invoke(
        "query",
        "exclusivity",
        "--db",
        str(db),
        "--format",
        "json",
        "--method",
        "files",
        "--as-of",
        "2024-12-31",
        "--snapshot",
        "1",
    )
    assert result.exit_code == 0, result.output
    counts = Counter(
        FILES_CLASS[m["_id"]] for m in in_scope(FIRST, queries.parse_as_of("2024-12-31"))
    )
    assert {r["framework_class"]: r["models"] for r in json.loads(result.stdout)} == {
        c: counts[c] for c in CLASSES
    }


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
def test_query_formats(db, fmt):
    # Each format holds every class with its hand-counted models, whatever its punctuation.
    counts = Counter(class_of(m, "tags") for m in SECOND)
    result = invoke("query", "exclusivity", "--db", str(db), "--format", fmt)
    assert result.exit_code == 0, result.output
    lines = [line.replace("\\", "") for line in result.stdout.splitlines()]
    cells = [[c.strip() for c in re.split(r"[,|]| {2,}", line) if c.strip()] for line in lines]
    found = {row[0]: int(row[1]) for row in cells if row and row[0] in CLASSES}
    assert found == {c: counts[c] for c in CLASSES}


def test_query_list():
    # Every file of queries/, named as the file is: hand-written, not read from the code.
    result = invoke("query", "--list")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert listed == [
        "deleted_models",
        "deployment_formats",
        "exclusivity",
        "framework_by_downloads",
        "library_share",
        "method_comparison",
        "research_models",
        "snapshot_trend",
        "tensorboard_usage",
        "yearly_additions",
    ]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["query", "nope"], 2, "unknown query 'nope'"),
        (["query", "exclusivity", "--param", "nope=1"], 2, "no parameter 'nope'"),
        (["query", "exclusivity", "--param", "method"], 2, "KEY=VALUE"),
        (["query", "exclusivity", "--param", "method=weights"], 2, "unknown method 'weights'"),
        (["query", "exclusivity", "--param", "method=NULL"], 2, "unknown method NULL;"),
        (["query", "exclusivity", "--as-of", "2024-13-01"], 2, "bad date"),
        (["query", "exclusivity", "--snapshot", "7"], 2, "no snapshot 7"),
        (["sql", "SELECT count(*) FROM models", "--snapshot", "7"], 2, "no snapshot 7"),
        (["query"], 2, "--list"),
        (["sql", "SELEC 1"], 2, "SQL failed"),
        (["sql", "DROP TABLE snapshots"], 2, "read-only"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(db, args, code, message):
    result = invoke(*args, "--db", str(db))
    assert result.exit_code == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_and_empty_databases(tmp_path):
    missing = invoke("query", "exclusivity", "--db", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 1 and "no database" in missing.stderr
    (tmp_path / "empty.duckdb").write_bytes(b"")
    empty = invoke("query", "exclusivity", "--db", str(tmp_path / "empty.duckdb"))
    assert empty.exit_code == 1 and len(empty.stderr.strip().splitlines()) == 1
    with store.write(tmp_path / "fresh.duckdb"):
        pass
    fresh = invoke("query", "exclusivity", "--db", str(tmp_path / "fresh.duckdb"))
    assert fresh.exit_code == 1 and "no complete snapshot" in fresh.stderr


def test_sql_on_a_database_without_a_complete_snapshot_warns_that_models_is_empty(tmp_path):
    db = tmp_path / "fresh.duckdb"
    with store.write(db) as connection:
        store.begin_snapshot(
            connection,
            mode="full",
            endpoint="https://huggingface.co",
            started_at=datetime(2026, 12, 1, tzinfo=UTC),
            hfstats_version="test",
        )
    counted = invoke("sql", "SELECT count(*) AS n FROM models", "--db", str(db), "--format", "csv")
    # Still answered (the snapshots table is worth reading then), with a warning on stderr.
    assert counted.exit_code == 0 and counted.stdout == "n\n0\n"
    assert (
        counted.stderr == f"warning: {db} has no complete snapshot yet, so `models` has no rows\n"
    )
    running = invoke("sql", "SELECT complete FROM snapshots", "--db", str(db), "--format", "csv")
    assert running.stdout == "complete\nfalse\n" and "no complete snapshot" in running.stderr


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_sql_prints_a_result_of_many_batches_whole(db, fmt):
    # More rows than DuckDB is asked for at a time: every batch, in order, one document.
    rows = 2 * queries.SQL_BATCH_ROWS + 7
    sql = f"SELECT range AS n, 'r' || range AS label FROM range({rows})"
    result = invoke("sql", sql, "--db", str(db), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    expected = [{"n": n, "label": f"r{n}"} for n in range(rows)]
    assert result.stdout.endswith("\n") and not result.stdout.endswith("\n\n")
    if fmt == "json":
        assert json.loads(result.stdout) == expected
    else:
        lines = result.stdout.splitlines()
        assert lines == ["n,label"] + [f"{e['n']},{e['label']}" for e in expected]


def test_sql_prints_an_empty_result_as_an_empty_document(db):
    empty = invoke("sql", "SELECT 1 AS one WHERE false", "--db", str(db), "--format", "json")
    assert (empty.exit_code, json.loads(empty.stdout)) == (0, [])
    header_only = invoke("sql", "SELECT 1 AS one WHERE false", "--db", str(db), "--format", "csv")
    assert (header_only.exit_code, header_only.stdout) == (0, "one\n")


def test_sql_failing_halfway_through_its_rows_is_one_error(db):
    # The first rows convert; a later one does not, after some output was printed.
    sql = (
        "SELECT CAST(CASE WHEN range > 15000 THEN 'x' ELSE '1' END AS INTEGER) AS n "
        "FROM range(20000)"
    )
    result = invoke("sql", sql, "--db", str(db), "--format", "csv")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("hfstats: error: SQL failed: Conversion Error")
    assert len(result.stderr.strip().splitlines()) == 1


def test_sql_has_the_macros_and_prints_null(db):
    result = invoke(
        "sql",
        "SELECT framework_class(tags, files, library_name, 'files') AS framework_class, "
        "created_year(created_at) AS year FROM models WHERE id = 'org/model-04'",
        "--db",
        str(db),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"framework_class": "pytorch_only", "year": None}]


@pytest.mark.parametrize("fmt", ["json", "csv", "table", "markdown"])
def test_sql_prints_every_column_type(db, fmt):
    result = invoke(
        "sql",
        "SELECT INTERVAL 3 DAY + INTERVAL 90 SECOND AS took, TIME '12:30:00' AS at, "
        "'\\xAB\\x01'::BLOB AS raw, '2b7f5b1e-0000-4000-8000-000000000001'::UUID AS uid",
        "--db",
        str(db),
        "--format",
        fmt,
    )
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.stdout) == [
            {
                "took": "P3DT90S",
                "at": "12:30:00",
                "raw": "ab01",
                "uid": "2b7f5b1e-0000-4000-8000-000000000001",
            }
        ]
    else:
        assert "P3DT90S" in result.stdout and "ab01" in result.stdout


def test_the_table_aligns_wide_characters_by_the_columns_they_take():
    from hfstats.output import render

    rows = [("日本語モデル", 3), ("ascii", 12), ("emoji 🤗", 1), ("ＡＢ cafe\u0301", 5)]
    # Each CJK, fullwidth character and the emoji take two terminal columns, a combining accent
    # none: the numbers line up.
    assert render(rows, ["name", "n"], "table").splitlines() == [
        "name           n",
        "------------  --",
        "日本語モデル   3",
        "ascii         12",
        "emoji 🤗       1",
        "ＡＢ cafe\u0301      5",
    ]


def test_csv_writes_booleans_as_json_does(db):
    result = invoke("sql", "SELECT true AS yes, false AS no", "--db", str(db), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["yes,no", "true,false"]


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_readable_formats_show_nan_and_infinities_unlike_null(db, fmt):
    sql = "SELECT 'NaN'::DOUBLE AS n, 'inf'::DOUBLE AS i, '-inf'::DOUBLE AS m, NULL::DOUBLE AS z"
    result = invoke("sql", sql, "--db", str(db), "--format", fmt)
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    if fmt == "markdown":
        assert last == "| nan | inf | -inf |  |"  # the NULL stays empty
    else:
        assert last.split() == ["nan", "inf", "-inf"]


def test_the_table_shows_tiny_shares_booleans_and_bidi_controls_readably(db):
    sql = (
        "SELECT 0.000027::DOUBLE AS share, -0.000027::DOUBLE AS fall, true AS yes, "
        "'a' || chr(8238) || chr(8294) || chr(8207) || 'b' AS rtl"
    )
    result = invoke("sql", sql, "--db", str(db), "--format", "table")
    assert result.exit_code == 0, result.output
    # Not 0 (four decimals), True (Python's) or raw bidirectional controls (U+202E, U+2066,
    # U+200F).
    assert result.stdout.splitlines()[-1].split() == [
        "0.000027",  # not 2.7e-05 beside 0.0092 in the same column
        "-0.000027",
        "true",
        "a\\u202e\\u2066\\u200fb",
    ]


def test_models_at_holds_complete_snapshots_only(db):
    def count(snapshot_id: int) -> int:
        sql = f"SELECT count(*) AS n FROM models_at({snapshot_id})"
        result = invoke("sql", sql, "--db", str(db), "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0]["n"]

    # FIRST as crawled first; then SECOND upserted and one of FIRST deleted.
    latest = len({m["_id"] for m in FIRST + SECOND}) - 1
    assert (count(1), count(2), count(3), count(99)) == (len(FIRST), latest, 0, 0)


def test_models_at_of_a_crawl_still_running_is_empty(db, tmp_path):
    copy = tmp_path / "hub.duckdb"
    copy.write_bytes(db.read_bytes())
    with store.write(copy) as connection:
        running = begin_test_snapshot(connection)
    sql = f"SELECT count(*) AS n FROM models_at({running})"
    result = invoke("sql", sql, "--db", str(copy), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": 0}]


def test_a_query_cache_answers_the_same_question_once(db):
    cache: dict = {}
    with store.read(db) as connection:
        first = queries.run_query(connection, "exclusivity", cache=cache)
        again = queries.run_query(connection, "exclusivity", cache=cache)
        other = queries.run_query(connection, "exclusivity", method="files", cache=cache)
        uncached = queries.run_query(connection, "exclusivity")
    assert again is first and len(cache) == 2
    assert other.rows != first.rows or other.params != first.params
    assert uncached.rows == first.rows


def test_stored_classification_follows_the_rules_in_force(db, tmp_path):
    """The files method is stored per version; if the rules changed since, it is recomputed."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    before = run(copy, "exclusivity", method="files")
    with store.write(copy) as connection:
        # What an older hfstats with other rules would have left behind.
        connection.execute("UPDATE model_versions SET file_frameworks = ['jax']")
        connection.execute("UPDATE hfstats_meta SET value = 'older' WHERE key = 'rules_version'")
    assert run(copy, "exclusivity", method="files") == before  # read-only: computed afresh
    with store.write(copy) as connection:  # a writer brings the stored values up to date
        stale = connection.execute(
            "SELECT count(*) FROM model_versions "
            "WHERE file_frameworks IS DISTINCT FROM file_frameworks(files, library_name)"
        ).fetchall()[0][0]
    assert stale == 0
    assert run(copy, "exclusivity", method="files") == before


def test_a_full_disk_under_a_query_is_no_bad_input(db):
    import duckdb

    from hfstats.errors import HfstatsError

    class SpillsOntoAFullDisk:
        """A connection whose query statements find the temp folder's disk full."""

        def __init__(self, connection) -> None:
            self._connection = connection

        def __getattr__(self, name: str):
            return getattr(self._connection, name)

        def execute(self, sql: str, *args):
            if "WITH classified" in sql:
                raise duckdb.IOException("IO Error: could not write: Disk quota exceeded")
            return self._connection.execute(sql, *args)

    with store.read(db) as connection:
        with pytest.raises(HfstatsError, match="free some space") as caught:
            queries.run_query(SpillsOntoAFullDisk(connection), "exclusivity")
    assert not isinstance(caught.value, UsageError)


def test_download_counts_too_large_to_add_in_64_bits_are_added_exactly(tmp_path):
    # Any JSON integer a BIGINT holds loads; their sum must not make a query or the report fail.
    largest = 2**63 - 1
    models = [
        element(1, "2023-01-01T00:00:00.000Z", ["pytorch"], [], "transformers", largest),
        element(2, "2023-01-02T00:00:00.000Z", ["pytorch"], [], "transformers", largest),
        element(5, "2023-01-05T00:00:00.000Z", ["pytorch"], [], "transformers", largest),
        element(3, "2023-01-03T00:00:00.000Z", ["tf"], [], "keras", 10),
        element(4, "2023-01-04T00:00:00.000Z", [], [], "sklearn"),
    ]
    del models[4]["downloads"]  # a library whose models have no count sums to 0, not NULL
    path = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(path, client=HubClient(hub.url, None, backoff_base=0.01))
    by_library = {r["library_name"]: r["downloads"] for r in run(path, "library_share")}
    assert by_library == {"transformers": 3 * largest, "keras": 10, "sklearn": 0}  # over 2**64
    by_class = {r["framework_class"]: r["downloads"] for r in run(path, "framework_by_downloads")}
    assert by_class["pytorch_only"] == 3 * largest and by_class["tensorflow_only"] == 10
    assert by_class["jax_only"] == 0  # a class without models
    shares = {
        r["framework_class"]: r["share_of_all_downloads"]
        for r in run(path, "framework_by_downloads")
    }
    assert shares["pytorch_only"] == pytest.approx(3 * largest / (3 * largest + 10))
    # The charts' renderer takes no integer beyond 2**64: the report still draws them.
    from hfstats import report

    out = report.write_report(path, tmp_path / "report", formats=["md", "svg"])
    assert (out / "charts" / "library_share.svg").is_file()
    assert f"{3 * largest:,}" in (out / "report.md").read_text()  # the tables stay exact
