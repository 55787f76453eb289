"""The classification rules: the generated macros on hand-labelled cases, and the docs' tables."""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfstats import frameworks, queries

DOCS = Path(__file__).resolve().parent.parent / "docs" / "queries.md"


@pytest.fixture(scope="module")
def connection():
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    frameworks.install_macros(connection)
    yield connection
    connection.close()


def classify(connection, tags, files, library, method) -> str:
    return connection.execute(
        "SELECT framework_class($tags, $files, $library, $method)",
        {"tags": tags, "files": files, "library": library, "method": method},
    ).fetchone()[0]


# (tags, files, library_name, class by tags, class by files): each labelled by hand.
CASES = [
    (["pytorch"], ["pytorch_model.bin"], "transformers", "pytorch_only", "pytorch_only"),
    (["pytorch"], ["pytorch_model-00001-of-00002.bin"], None, "pytorch_only", "pytorch_only"),
    (["tf"], ["tf_model.h5"], "transformers", "tensorflow_only", "tensorflow_only"),
    (["jax"], ["flax_model.msgpack"], "transformers", "jax_only", "jax_only"),
    (["pytorch", "jax"], [], None, "multi_framework", "no_framework"),
    (
        ["pytorch", "tf", "jax"],
        ["a.pt", "b.keras", "c/flax_model.msgpack"],
        None,
        "multi_framework",
        "multi_framework",
    ),
    (None, None, None, "no_framework", "no_framework"),
    ([], ["model.safetensors"], "transformers", "no_framework", "pytorch_only"),
    ([], ["model.safetensors"], "sentence-transformers", "no_framework", "pytorch_only"),
    ([], ["model.safetensors"], "mlx", "no_framework", "no_framework"),
    ([], ["model.safetensors"], None, "no_framework", "no_framework"),
    ([], ["text_encoder/model.SAFETENSORS"], "diffusers", "no_framework", "pytorch_only"),
    ([], ["model.gguf", "model.onnx", "model.tflite"], None, "no_framework", "no_framework"),
    ([], ["params.msgpack"], "flax", "no_framework", "jax_only"),
    ([], ["params.msgpack"], "transformers", "no_framework", "no_framework"),
    ([], [], "keras", "no_framework", "tensorflow_only"),
    ([], [], "tf-keras", "no_framework", "tensorflow_only"),
    (["PyTorch"], ["Model.PTH"], None, "no_framework", "pytorch_only"),  # tags are exact
    ([], ["saved_model.pb", "variables/variables.index"], None, "no_framework", "tensorflow_only"),
    (
        [],
        ["model.ckpt.index", "model.ckpt.data-00000-of-00001"],
        None,
        "no_framework",
        "tensorflow_only",
    ),
    ([], ["last.ckpt"], None, "no_framework", "pytorch_only"),
    # diffusers names its Flax weights diffusion_flax_model.msgpack (its FLAX_WEIGHTS_NAME).
    (
        [],
        ["unet/diffusion_flax_model.msgpack", "unet/diffusion_pytorch_model.bin"],
        "diffusers",
        "no_framework",
        "multi_framework",
    ),
    ([], ["flax_model-00001-of-00002.msgpack"], None, "no_framework", "jax_only"),
    # Patterns without `/` match the file name: a folder's name does not count.
    ([], ["pytorch_model_dir/weights.bin"], None, "no_framework", "no_framework"),
    ([], ["ckpt/pytorch_model-00001.bin"], None, "no_framework", "pytorch_only"),
    ([], ["tf_model/weights.h5"], None, "no_framework", "no_framework"),
]


@pytest.mark.parametrize("tags, files, library, by_tags, by_files", CASES)
def test_classification(connection, tags, files, library, by_tags, by_files):
    assert classify(connection, tags, files, library, "tags") == by_tags
    assert classify(connection, tags, files, library, "files") == by_files


def test_unknown_method_is_an_error(connection):
    with pytest.raises(duckdb.Error, match="unknown classification method"):
        classify(connection, [], [], None, "weights")


@pytest.mark.parametrize(
    "tags, files, library, formats",
    [
        (["onnx"], [], None, ["onnx"]),
        ([], ["onnx/model_quantized.onnx"], "transformers.js", ["onnx"]),
        ([], ["Model.mlpackage/Manifest.json"], None, ["coreml"]),
        ([], ["openvino_model.xml", "openvino_model.bin"], None, ["openvino"]),
        (["mlx", "safetensors"], ["model.safetensors"], "mlx", ["safetensors", "mlx"]),
        ([], ["model.tflite", "x-q4_0.gguf"], None, ["tflite", "gguf"]),
        (None, None, None, []),
    ],
)
def test_deployment_formats(connection, tags, files, library, formats):
    result = connection.execute(
        "SELECT deployment_formats($tags, $files, $library)",
        {"tags": tags, "files": files, "library": library},
    ).fetchone()[0]
    assert result == formats


@pytest.mark.parametrize(
    "created_at, year",
    [
        ("2022-03-02T23:29:04Z", None),
        ("2022-03-02T23:29:05Z", None),
        ("2022-03-02T23:29:05.001Z", 2022),
        ("2021-06-01T00:00:00Z", None),  # before the placeholder: also not a real date
        ("2023-12-31T23:59:59.999Z", 2023),
        (None, None),
    ],
)
def test_created_year(connection, created_at, year):
    result = connection.execute(
        "SELECT created_year(CAST($created_at AS TIMESTAMPTZ))", {"created_at": created_at}
    ).fetchone()[0]
    assert result == year


@pytest.mark.parametrize(
    "created_at, as_of, counted",
    [
        ("2023-05-01T12:00:00Z", "2023-05-01T12:00:00Z", True),
        ("2023-05-01T12:00:00.001Z", "2023-05-01T12:00:00Z", False),
        # The placeholder range means "created at an unknown time up to 23:29:05": counted only
        # from the end of the range, whatever the value inside it says.
        ("2022-03-02T23:29:04Z", "2022-03-02T23:29:04Z", False),
        ("2022-03-02T23:29:04Z", "2022-03-02T23:29:05Z", True),
        ("2021-06-01T00:00:00Z", "2021-12-31T23:59:59Z", False),
        ("2021-06-01T00:00:00Z", "2022-03-03T00:00:00Z", True),
        (None, "2030-01-01T00:00:00Z", False),
        (None, None, True),
    ],
)
def test_created_by(connection, created_at, as_of, counted):
    result = connection.execute(
        "SELECT created_by(CAST($created_at AS TIMESTAMPTZ), CAST($as_of AS TIMESTAMPTZ))",
        {"created_at": created_at, "as_of": as_of},
    ).fetchone()[0]
    assert result is counted


@pytest.mark.parametrize(
    "zone, created_at, year",
    [
        ("America/Los_Angeles", "2023-01-01T02:00:00Z", 2023),  # still 2022 in California
        ("Pacific/Kiritimati", "2022-12-31T23:30:00Z", 2022),  # already 2023 at UTC+14
    ],
)
def test_created_year_is_the_utc_year_in_any_session_time_zone(zone, created_at, year):
    # The macros are stored in the database for plain DuckDB shells, whose zone is the local one.
    with duckdb.connect() as plain:
        plain.execute(f"SET TimeZone = '{zone}'")
        for statement in frameworks.macro_statements(temporary=True):
            plain.execute(statement)
        result = plain.execute(
            "SELECT created_year(CAST($created_at AS TIMESTAMPTZ))", {"created_at": created_at}
        ).fetchone()[0]
    assert result == year


def test_rule_tables_are_well_formed():
    for rule in frameworks.FILE_RULES:
        assert rule.framework in (*frameworks.FRAMEWORKS, None)
        assert rule.pattern is not None or rule.libraries, rule
        assert rule.why and "|" not in rule.why
    for rule in frameworks.FORMAT_RULES:
        assert rule.tags or rule.patterns or rule.libraries, rule
        assert "|" not in rule.why
    assert set(frameworks.TAG_FRAMEWORKS.values()) == set(frameworks.FRAMEWORKS)


def test_docs_show_the_rule_tables_of_the_code():
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- rules:[^\n]*-->\n(.*?)\n<!-- end of rules -->", text, re.S)
    assert match, "docs/queries.md lost its rules markers"
    assert match[1] == frameworks.rules_markdown(), (
        "docs/queries.md is out of date: paste the output of `python -m hfstats.frameworks`"
    )


def test_docs_describe_every_query_and_its_columns():
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    for spec in queries.list_queries():
        assert f"- `{spec.name}`:" in text, spec.name
        for column in spec.columns:
            assert f"`{column}`" in text, (spec.name, column)


def test_query_files_use_only_the_parameters_they_declare():
    for spec in queries.list_queries():
        body = "\n".join(line.split("--", 1)[0] for line in spec.sql.splitlines())
        used = set(re.findall(r"\$([a-z_]+)", body))
        assert used == set(spec.params), spec.name


def test_macros_also_work_on_a_read_only_connection(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with duckdb.connect(str(path), read_only=True) as connection:
        frameworks.install_macros(connection)
        assert connection.execute("SELECT count(*) FROM framework_classes()").fetchone()[0] == 5


def test_hfstats_databases_carry_the_macros_for_a_plain_duckdb_shell(tmp_path):
    from hfstats import store

    path = tmp_path / "hfstats.duckdb"
    with store.write(path):
        pass
    with duckdb.connect(str(path), read_only=True) as connection:
        result = connection.execute(
            "SELECT framework_class(['pytorch', 'jax'], [], NULL, 'tags')"
        ).fetchone()[0]
    assert result == "multi_framework"


# -- glob_test against DuckDB's own GLOB ---------------------------------------------------------

RULE_GLOBS = sorted(
    {rule.pattern.lower() for rule in frameworks.FILE_RULES if rule.pattern}
    | {pattern.lower() for rule in frameworks.FORMAT_RULES for pattern in rule.patterns}
)


def every_string(alphabet: str, max_length: int) -> list[str]:
    return ["".join(chars) for n in range(max_length + 1) for chars in product(alphabet, repeat=n)]


@pytest.fixture(scope="module")
def plain_connection():
    with duckdb.connect() as connection:
        yield connection


def assert_glob_test_agrees(connection, names: list[str], glob: str) -> None:
    expected, translated = connection.execute(
        f"SELECT list(name GLOB $glob ORDER BY i), list({frameworks.glob_test('name', glob)} ORDER BY i) "
        "FROM (SELECT unnest($names) AS name, generate_subscripts($names, 1) AS i)",
        {"names": names, "glob": glob},
    ).fetchall()[0]
    wrong = [name for name, e, t in zip(names, expected, translated, strict=True) if e != t]
    assert not wrong, f"{glob!r} disagrees with GLOB on {wrong[:5]}"


def test_glob_test_agrees_with_glob_on_every_small_case(plain_connection):
    # Every glob of up to five characters over `a`, `b`, `*` against every name of up to four
    # over `a`, `b`, `/`: all the hard cases (a prefix and a suffix that overlap, a middle found
    # only inside the suffix, `**`, `*` across `/`) are in there.
    names = every_string("ab/", 4)
    for glob in every_string("ab*", 5)[1:]:
        assert_glob_test_agrees(plain_connection, names, glob)


def test_glob_test_agrees_with_glob_on_the_rules(plain_connection):
    # The rules' own fragments, up to three in a row: near misses such as a folder named like
    # a weight file, or a fragment in the wrong place.
    pieces = sorted(
        {piece for glob in RULE_GLOBS for piece in glob.split("*") if piece} | {"/", ".", "a", "É"}
    )
    names = ["".join(p) for n in range(4) for p in product(pieces, repeat=n)]
    for glob in RULE_GLOBS:
        assert_glob_test_agrees(plain_connection, names, glob)


@pytest.mark.property
@settings(max_examples=200, deadline=None)
@given(paths=st.lists(st.text(alphabet="ab./\\\n", max_size=8), min_size=1, max_size=30))
def test_file_name_cut_agrees_with_the_last_path_component(plain_connection, paths):
    cut = plain_connection.execute(
        "SELECT list(parse_filename(p, false, 'forward_slash') ORDER BY i) "
        "FROM (SELECT unnest($paths) AS p, generate_subscripts($paths, 1) AS i)",
        {"paths": paths},
    ).fetchall()[0][0]
    assert cut == [path.rsplit("/", 1)[-1] for path in paths]
