"""`hfstats check`: claims files, verdicts over readings and intervals, output and exit codes.

The fixture Hub holds 30 hand-made models (plus one deleted between the two crawls). Counts by
class under the tags method, which the files method must match because every model's weight
files say the same as its tags:

    class            total  created <= 2022-12-31  real 2022 dates  placeholder createdAt
    pytorch_only       23   15                     10               5
    jax_only            1    1                      1               0
    multi_framework     1    0                      0               0
    no_framework        5    2                      2               0

Shares of pytorch_only today: 23/25 of framework models (0.92: holds within 0.92 ± 0.02),
23/24 of PyTorch-or-TensorFlow models (0.958: does not hold), 23/30 of all models (0.767).
As of 2022-12-31: 15/16 (0.9375: holds), 15/15 (1.0), 15/18 (0.833).
PyTorch-only additions in 2022: between 10 (real dates) and 15 (placeholders added).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from hfstats import claims, crawl, queries, store
from hfstats.cli import cli
from hfstats.errors import UsageError
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models

PLACEHOLDER_CUTOFF = datetime(2022, 3, 2, 23, 29, 5, tzinfo=UTC)
PLACEHOLDER = "2022-03-02T23:29:04.000Z"
END_OF_2022 = datetime(2022, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

PYTORCH = (["pytorch"], ["pytorch_model.bin"], "transformers")
JAX = (["jax"], ["flax_model.msgpack"], "transformers")
MULTI = (["pytorch", "tf"], ["pytorch_model.bin", "tf_model.h5"], "transformers")
NONE = ([], [], None)

FIXTURE = (
    # pytorch_only with real 2022 dates, the first just after the placeholder instant and one
    # on the last second of the year (as_of 2022-12-31 means the end of that day).
    [(PYTORCH, "2022-03-02T23:29:06.000Z"), (PYTORCH, "2022-12-31T23:59:59.000Z")]
    + [(PYTORCH, f"2022-06-{day:02d}T12:00:00.000Z") for day in range(1, 9)]
    # pytorch_only with the placeholder, including a January 2022 value: at or before the
    # placeholder instant, so its creation time is unknown, never "2022".
    + [(PYTORCH, "2022-03-02T23:29:04.000Z")] * 3
    + [(PYTORCH, "2022-03-02T23:29:05.000Z"), (PYTORCH, "2022-01-15T10:00:00.000Z")]
    + [(PYTORCH, "2023-01-01T00:00:00.000Z")]
    + [(PYTORCH, f"2024-02-{day:02d}T08:00:00.000Z") for day in range(1, 8)]
    + [(JAX, "2022-07-01T00:00:00.000Z"), (MULTI, "2023-05-01T00:00:00.000Z")]
    + [(NONE, "2022-08-01T00:00:00.000Z"), (NONE, "2022-09-01T00:00:00.000Z")]
    + [(NONE, f"2024-03-{day:02d}T00:00:00.000Z") for day in range(1, 4)]
)
DELETED_LATER = (NONE, "2024-05-01T00:00:00.000Z")


def element(index: int, profile: tuple, created_at: str) -> dict:
    tags, weight_files, library = profile
    created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    model = {
        "_id": f"{int(created.timestamp()):08x}{index:016x}",
        "id": f"fixture/model-{index}",
        "modelId": f"fixture/model-{index}",
        "author": "fixture",
        "lastModified": f"2025-01-01T00:00:{index % 60:02d}.000Z",
        "createdAt": created_at,
        "tags": [*tags, "region:us"] + (["arxiv:2201.00001"] if index in (0, 1) else []),
        "siblings": [
            {"rfilename": name} for name in [".gitattributes", "README.md", *weight_files]
        ],
        "private": False,
        "gated": False,
        "disabled": False,
        "downloads": index,
        "likes": 0,
        "sha": f"{index:040x}",
    }
    if library:
        model["library_name"] = library
    return model


def crawl_into(db: Path, hub: FakeHub, *, full: bool = False) -> None:
    crawl.refresh(db, client=HubClient(hub.url, None, backoff_base=0.01), full=full, page_size=50)


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> Path:
    """Two snapshots: the fixture plus one model, then the same Hub with that model deleted."""
    db = tmp_path_factory.mktemp("claims") / "hub.duckdb"
    models = [element(i, profile, created) for i, (profile, created) in enumerate(FIXTURE)]
    doomed = element(len(FIXTURE), *DELETED_LATER)
    with FakeHub([*models, doomed]) as hub:
        crawl_into(db, hub)
        hub.delete(doomed["_id"])
        crawl_into(db, hub, full=True)
    return db


def write_claims(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claims.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def check_json(db: Path, *args: str) -> dict[str, dict]:
    code, out, err = run_check("--db", str(db), "--format", "json", *args)
    assert code == 0, err
    return {obj["id"]: obj for obj in json.loads(out)}


def reading(result: dict, denominator: str | None, method: str) -> dict:
    (found,) = [
        r for r in result["readings"] if r["denominator"] == denominator and r["method"] == method
    ]
    return found


# -- verdict logic over numbers ----------------------------------------------------------------

ABOUT_92 = claims.Expected("~", 0.92, 0.02)
AT_LEAST_45000 = claims.Expected(">=", 45000)
AT_MOST_10 = claims.Expected("<=", 10)


@pytest.mark.parametrize(
    ("value", "expected", "verdict"),
    [
        (Fraction(23, 25), ABOUT_92, "holds within tolerance"),
        (Fraction(90, 100), ABOUT_92, "holds within tolerance"),  # the edge is inside, exactly
        (Fraction(94, 100), ABOUT_92, "holds within tolerance"),
        (Fraction(8999, 10000), ABOUT_92, "does not hold"),
        (Fraction(23, 24), ABOUT_92, "does not hold"),
        (45000, AT_LEAST_45000, "holds"),
        (44999, AT_LEAST_45000, "does not hold"),
        (10, AT_MOST_10, "holds"),
        (11, AT_MOST_10, "does not hold"),
    ],
)
def test_point_verdict(value, expected, verdict):
    assert claims.point_verdict(value, expected) == verdict


@pytest.mark.parametrize(
    ("lower", "upper", "expected", "verdict", "bound"),
    [
        (45000, 50000, AT_LEAST_45000, "holds", "lower"),
        (40000, 44999, AT_LEAST_45000, "does not hold", "upper"),
        (40000, 45000, AT_LEAST_45000, "indeterminate", "both"),
        (5, 10, AT_MOST_10, "holds", "upper"),
        (11, 20, AT_MOST_10, "does not hold", "lower"),
        (9, 11, AT_MOST_10, "indeterminate", "both"),
        (0.91, 0.93, ABOUT_92, "holds within tolerance", "both"),
        (0.80, 0.89, ABOUT_92, "does not hold", "upper"),
        (0.95, 0.99, ABOUT_92, "does not hold", "lower"),
        (0.89, 0.91, ABOUT_92, "indeterminate", "both"),
    ],
)
def test_interval_verdict(lower, upper, expected, verdict, bound):
    assert claims.interval_verdict(lower, upper, expected) == (verdict, bound)


def test_class_shares_denominators():
    counts = {
        "pytorch_only": 23,
        "tensorflow_only": 0,
        "jax_only": 1,
        "multi_framework": 1,
        "no_framework": 5,
    }
    assert claims.class_shares(counts, "pytorch_only") == {
        "framework_models": (23, 25),
        "pytorch_or_tensorflow_models": (23, 24),
        "pytorch_only_or_tensorflow_only_models": (23, 23),
        "all_models": (23, 30),
    }
    assert claims.class_shares(counts, "tensorflow_only")[
        "pytorch_only_or_tensorflow_only_models"
    ] == (0, 23)
    # Only the PyTorch-only and TensorFlow-only shares have the PyTorch-against-TensorFlow one.
    assert "pytorch_only_or_tensorflow_only_models" not in claims.class_shares(
        counts, "multi_framework"
    )
    assert set(claims.class_shares(counts, "jax_only")) == {"framework_models", "all_models"}


# -- the seed claims on the hand-counted fixture -----------------------------------------------


def test_share_today_holds_under_one_denominator_and_not_under_others(fixture_db):
    result = check_json(fixture_db, "pytorch-exclusive-share-today")[
        "pytorch-exclusive-share-today"
    ]
    assert result["verdict"] == "holds within tolerance"
    assert result["expected"] == "~ 0.92 ± 0.02"
    assert result["reading"].startswith("framework_models, tags")
    assert "flips in 6 of 8 readings" in result["reading"]
    hand = {
        "framework_models": (23, 25, "holds within tolerance"),
        "pytorch_or_tensorflow_models": (23, 24, "does not hold"),
        "pytorch_only_or_tensorflow_only_models": (23, 23, "does not hold"),
        "all_models": (23, 30, "does not hold"),
    }
    for method in ("tags", "files"):
        for denominator, (numerator, total, verdict) in hand.items():
            found = reading(result, denominator, method)
            assert (found["numerator"], found["models"]) == (numerator, total)
            assert found["value"] == numerator / total
            assert found["verdict"] == verdict
    assert result["numbers"]["value"] == 23 / 25
    assert result["numbers"]["placeholder_models"] == 5
    assert any("flips between readings" in c for c in result["caveats"])
    # "latest" describes the snapshot itself: deletions before it do not bias it, and the
    # caveat says so, with the one deletion the fixture's second full crawl recorded.
    (survivorship,) = [c for c in result["caveats"] if c.startswith("survivorship")]
    assert survivorship.startswith(
        "survivorship: the claim is about the Hub of today, measured on the models listed at "
        "snapshot 2. hfstats observed 1 deletion(s) between its full snapshots since "
    )


def test_share_as_of_2022_counts_models_created_by_the_end_of_that_day(fixture_db):
    result = check_json(fixture_db, "pytorch-exclusive-share-2022")["pytorch-exclusive-share-2022"]
    assert result["as_of"] == "2022-12-31"
    assert result["measured"] == f"{15 / 16:.4f} (15 / 16)"
    assert result["verdict"] == "holds within tolerance"
    assert reading(result, "pytorch_or_tensorflow_models", "tags")["value"] == 1.0
    assert reading(result, "all_models", "tags")["value"] == 15 / 18
    survivorship = [c for c in result["caveats"] if c.startswith("survivorship")]
    assert len(survivorship) == 1 and "observed 1 deletion(s)" in survivorship[0]
    # The models are read as they are at the snapshot, not as they were at as_of.
    assert "classified as it is now" in survivorship[0]
    assert result["numbers"]["deletions_observed"] == 1
    assert result["numbers"]["snapshot_id"] == 2


def test_additions_2022_interval_on_the_seed_claim(fixture_db):
    result = check_json(fixture_db, "pytorch-exclusive-added-2022")["pytorch-exclusive-added-2022"]
    assert result["measured"] == "[10, 15]"
    assert (result["numbers"]["lower"], result["numbers"]["upper"]) == (10, 15)
    assert result["verdict"] == "does not hold"
    assert "rests on the upper bound" in result["reading"]
    assert any("5 pytorch_only models carry" in c for c in result["caveats"])


def test_a_check_runs_each_distinct_query_once(fixture_db, monkeypatch):
    """A claim asks for yearly_additions several times with the same values; without a cache
    handed in, one check still executes each distinct question once."""
    asked: list[tuple] = []
    executed: list[str] = []
    run_query = queries.run_query
    install_macros = queries.frameworks.install_macros

    def recording_run_query(connection, name, params=None, **kwargs):
        values = sorted((key, value) for key, value in kwargs.items() if key != "cache")
        asked.append((name, repr(params), repr(values)))
        return run_query(connection, name, params, **kwargs)

    def counting_install_macros(connection):
        executed.append("query")
        return install_macros(connection)

    monkeypatch.setattr(queries, "run_query", recording_run_query)
    monkeypatch.setattr(queries.frameworks, "install_macros", counting_install_macros)
    with store.read(fixture_db) as connection:
        claims.check_claims(connection, claims.load_claims(), ids=["pytorch-exclusive-added-2022"])
    assert len(asked) > len(set(asked))  # the claim does ask twice
    assert len(executed) == len(set(asked))


def write_interval_claim(
    tmp_path: Path, expected: int, year: int = 2022, as_of: str | None = None
) -> Path:
    return write_claims(
        tmp_path,
        f"""\
        claims:
          - id: my-additions
            statement: "over {expected} PyTorch-exclusive models added in {year}"
            source: {{publication: a test}}
            kind: measured
            as_of: {as_of or f"{year}-12-31"}
            query: yearly_additions
            select: {{framework_class: pytorch_only, year: {year}}}
            expected: {{comparison: ">=", value: {expected}}}
        """,
    )


@pytest.mark.parametrize(
    ("expected", "verdict", "bound_phrase"),
    [
        (10, "holds", "rests on the lower bound"),  # even without the 5 placeholder models
        (16, "does not hold", "rests on the upper bound"),  # even with all of them
        (12, "indeterminate", "rests on both bounds"),  # 10 < 12 <= 15: the placeholders decide
    ],
)
def test_additions_interval_rule(fixture_db, tmp_path, expected, verdict, bound_phrase):
    path = write_interval_claim(tmp_path, expected)
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert result["measured"] == "[10, 15]"
    assert result["verdict"] == verdict
    assert bound_phrase in result["reading"]
    for method in ("tags", "files"):
        found = reading(result, None, method)
        assert (found["lower"], found["upper"]) == (10, 15)


def test_an_interval_within_tolerance_holds_with_or_without_the_placeholder_dates(
    fixture_db, tmp_path
):
    # [10, 15] lies wholly within 12 ± 3: the placeholder dates do not decide the verdict.
    path = write_interval_claim(tmp_path, 12)
    text = path.read_text()
    path.write_text(text.replace('">=", value: 12', '"~", value: 12, tolerance: 3'))
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert result["verdict"] == "holds within tolerance"
    assert result["reading"] == "tags; rests on both bounds (with or without placeholder dates)"


def test_placeholder_models_cannot_be_additions_of_a_year_after_the_placeholder(
    fixture_db, tmp_path
):
    # The 7 pytorch_only models dated February 2024 are that year's only additions; the 5
    # placeholder-dated ones were created by 2022-03-02, so they cannot widen a 2024 count.
    path = write_interval_claim(tmp_path, 10, year=2024)
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert result["measured"] == "7"
    assert (result["numbers"]["lower"], result["numbers"]["upper"]) == (7, 7)
    assert result["verdict"] == "does not hold"
    # The reading must not say that placeholder dates were counted as 2024 additions.
    assert result["reading"] == "tags; exact (lower and upper bound agree)"


def test_a_year_not_over_at_the_snapshot_gives_only_a_lower_bound(fixture_db, tmp_path):
    with store.read(fixture_db) as connection:
        (finished,) = connection.execute(
            "SELECT finished_at FROM snapshots WHERE snapshot_id = 2"
        ).fetchone()
    year = finished.year  # the fixture's snapshots were taken today
    # No pytorch_only model was created this year, so far: more may be by its end.
    path = write_interval_claim(tmp_path, 1, year=year)
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert result["measured"] == "at least 0"
    assert (result["numbers"]["lower"], result["numbers"]["upper"]) == (0, None)
    assert result["verdict"] == "indeterminate"
    assert (
        result["reading"] == "tags; a lower bound only (the period had not ended by the snapshot)"
    )
    assert any(c.startswith("unfinished period: models created up to") for c in result["caveats"])
    # Said once, in the yearly count's own words: not again as a date after the snapshot.
    assert not any(c.startswith(f"as_of {year}-12-31 is after snapshot") for c in result["caveats"])
    # Up to a date the snapshot had passed, the count is whole again.
    path = write_interval_claim(tmp_path, 1, year=year, as_of=f"{year}-01-31")
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert result["measured"] == "0" and result["verdict"] == "does not hold"


@pytest.mark.parametrize(
    ("comparison", "lower", "verdict"),
    [
        (">=", 12, "holds"),  # already there, and a count can only grow
        (">=", 8, "indeterminate"),
        ("<=", 12, "does not hold"),  # already over
        ("<=", 8, "indeterminate"),  # may still go over
        ("~", 14, "does not hold"),  # already past the band
        ("~", 10, "indeterminate"),  # inside the band, but may leave it
        ("~", 5, "indeterminate"),  # below the band, but may reach it
    ],
)
def test_a_count_without_an_upper_bound_is_judged_on_its_lower_bound_alone(
    comparison, lower, verdict
):
    expected = claims.Expected(comparison, 10, 2 if comparison == "~" else None)
    assert claims.interval_verdict(lower, None, expected)[0] == verdict


@pytest.mark.parametrize(
    ("comparison", "verdict_at_10", "interval_verdict"),
    [
        (">", "does not hold", "indeterminate"),  # "over 10": 10 is not over 10
        (">=", "holds", "holds"),
        ("<", "does not hold", "does not hold"),  # "under 10"
        ("<=", "holds", "indeterminate"),
    ],
)
def test_strict_comparisons_leave_out_the_value_itself(comparison, verdict_at_10, interval_verdict):
    expected = claims.Expected(comparison, 10)
    assert claims.point_verdict(10, expected) == verdict_at_10
    # [10, 12]: over 10 unless the count is 10; at least 10 in any case.
    assert claims.interval_verdict(10, 12, expected)[0] == interval_verdict


def test_a_year_by_an_as_of_before_it_began_is_finished_whatever_the_snapshot(fixture_db, tmp_path):
    with store.read(fixture_db) as connection:
        (finished,) = connection.execute(
            "SELECT finished_at FROM snapshots WHERE snapshot_id = 2"
        ).fetchone()
    next_year = finished.year + 1  # as_of after the snapshot, but before that year began
    path = write_interval_claim(tmp_path, 1, year=next_year, as_of=f"{finished.year}-12-31")
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert result["measured"] == "0" and result["verdict"] == "does not hold"


def test_the_placeholder_caveat_says_its_count_of_models_is_of_every_class(fixture_db, tmp_path):
    # Not the share's denominator (framework models): the no_framework models are in it too.
    path = write_claims(tmp_path, VALID_CLAIM)
    result = check_json(fixture_db, "--claims", str(path), "mine")["mine"]
    created = [datetime.fromisoformat(c.replace("Z", "+00:00")) for _, c in FIXTURE]
    measured = sum(moment <= END_OF_2022 for moment in created)
    placeholder = sum(moment <= PLACEHOLDER_CUTOFF for moment in created)
    assert (measured, placeholder) == (18, 5)  # 16 with a framework, 2 without
    assert any(
        caveat.startswith(
            f"placeholder dates: {placeholder} of the {measured} models measured in all classes "
            f"({placeholder} pytorch_only) carry the Hub's placeholder createdAt"
        )
        for caveat in result["caveats"]
    )


def test_a_share_as_of_a_date_after_the_snapshot_says_later_models_are_missing(
    fixture_db, tmp_path
):
    path = write_claims(tmp_path, VALID_CLAIM.replace("as_of: 2022-12-31", "as_of: 2999-12-31"))
    [result] = check_json(fixture_db, "--claims", str(path), "mine").values()
    assert any(
        c.startswith("as_of 2999-12-31 is after snapshot 2 finished") for c in result["caveats"]
    )


def test_placeholder_models_are_no_additions_of_a_year_by_a_date_before_it_began(
    fixture_db, tmp_path
):
    # Created at an unknown time up to 2022-03-02, the 5 placeholder-dated models may be 2022
    # additions, but not ones made by 2021-12-31: no model was added in 2022 by then.
    path = write_interval_claim(tmp_path, 1, year=2022, as_of="2021-12-31")
    result = check_json(fixture_db, "my-additions", "--claims", str(path))["my-additions"]
    assert (result["numbers"]["lower"], result["numbers"]["upper"]) == (0, 0)
    assert result["verdict"] == "does not hold"
    assert any("is before 2022 began, so none is a 2022 addition" in c for c in result["caveats"])


UNDATED_CLAIMS = """\
claims:
  - id: added-{year}
    statement: "at least 1 PyTorch-only model added in {year}"
    source: {{publication: a test}}
    kind: measured
    as_of: latest
    query: yearly_additions
    select: {{framework_class: pytorch_only, year: {year}}}
    expected: {{comparison: ">=", value: 1}}
  - id: share-today
    statement: "PyTorch-only models are most framework models"
    source: {{publication: a test}}
    kind: measured
    as_of: latest
    query: exclusivity
    select: {{framework_class: pytorch_only}}
    expected: {{comparison: ">=", value: 0.5}}
"""


def damaged_dates_db(tmp_path: Path) -> Path:
    """Damaged data: two pytorch_only models without createdAt and one with a value that is no
    date; beside them two with real 2022 dates and one with the placeholder."""
    dated = [(PYTORCH, "2022-05-01T00:00:00.000Z"), (PYTORCH, "2022-06-01T00:00:00.000Z")]
    models = [element(i, p, c) for i, (p, c) in enumerate([*dated, (PYTORCH, PLACEHOLDER)])]
    undated = [element(i, PYTORCH, "2023-01-01T00:00:00.000Z") for i in (3, 4, 5)]
    del undated[0]["createdAt"], undated[1]["createdAt"]
    undated[2]["createdAt"] = "not a date"
    db = tmp_path / "hub.duckdb"
    with FakeHub([*models, *undated]) as hub:
        crawl_into(db, hub)
    return db


@pytest.mark.parametrize("year", [2022, 2024])
def test_models_without_a_creation_date_are_not_placeholder_dated(tmp_path, year):
    db = damaged_dates_db(tmp_path)
    path = write_claims(tmp_path, UNDATED_CLAIMS.format(year=year))
    results = check_json(db, "--claims", str(path))
    additions = results[f"added-{year}"]
    # Real 2022 dates: 2 (none in 2024); the placeholder one only up to 2022; the 3 undated
    # ones may belong to any year.
    lower = 2 if year == 2022 else 0
    upper = lower + (1 if year == 2022 else 0) + 3
    assert (additions["numbers"]["lower"], additions["numbers"]["upper"]) == (lower, upper)
    assert additions["numbers"]["placeholder_models"] == 1
    assert additions["numbers"]["undated_models"] == 3
    assert any(c.startswith("no creation date: 3 pytorch_only") for c in additions["caveats"])
    # One model is one model: "1 pytorch_only models carry" was written before.
    one = {
        2022: "placeholder dates: 1 pytorch_only model carries the Hub's placeholder createdAt",
        2024: "placeholder dates: 1 pytorch_only model carries the placeholder createdAt; it was "
        "created by 2022-03-02, so none is a 2024 addition",
    }[year]
    assert any(c.startswith(one) for c in additions["caveats"]), additions["caveats"]
    # The reading names what the upper bound adds: 2024 cannot hold placeholder-dated models.
    assert (
        additions["reading"]
        == {
            2022: "tags; rests on the lower bound (placeholder dates and models without a date "
            "left out)",
            2024: "tags; rests on both bounds (models without a date decide)",
        }[year]
    )
    share = results["share-today"]
    assert share["numbers"]["placeholder_models"] == 1
    assert (
        "placeholder dates: 1 of the 6 models measured in all classes (1 pytorch_only) carries "
        "the Hub's placeholder createdAt; it existed by 2022-03-02T23:29:05Z in any case, so the "
        "share does not depend on their unknown dates"
    ) in share["caveats"]


DATED_UNDATED_CLAIMS = """\
claims:
  - id: added-2022-by-its-end
    statement: "over 5 PyTorch-only models added in 2022"
    source: {publication: a test}
    kind: measured
    as_of: 2022-12-31
    query: yearly_additions
    select: {framework_class: pytorch_only, year: 2022}
    expected: {comparison: ">", value: 5}
  - id: added-2022-by-2021
    statement: "no PyTorch-only model added in 2022 by the end of 2021"
    source: {publication: a test}
    kind: measured
    as_of: 2021-12-31
    query: yearly_additions
    select: {framework_class: pytorch_only, year: 2022}
    expected: {comparison: "<=", value: 0}
  - id: share-by-2022
    statement: "PyTorch-only models are most framework models"
    source: {publication: a test}
    kind: measured
    as_of: 2022-12-31
    query: exclusivity
    select: {framework_class: pytorch_only}
    expected: {comparison: ">=", value: 0.5}
"""


def test_a_dated_claim_counts_models_without_a_date_as_possible_additions(tmp_path):
    # 2 pytorch_only models of 2022, 1 placeholder-dated, 3 without a usable createdAt: by
    # 2022-12-31 the 3 may have existed, so "over 5" cannot be refuted (2 to 6), as without a
    # date; by 2021-12-31 nothing was added in 2022.
    db = damaged_dates_db(tmp_path)
    results = check_json(db, "--claims", str(write_claims(tmp_path, DATED_UNDATED_CLAIMS)))
    by_its_end = results["added-2022-by-its-end"]
    assert (by_its_end["numbers"]["lower"], by_its_end["numbers"]["upper"]) == (2, 6)
    assert by_its_end["verdict"] == "indeterminate"
    assert (
        "no creation date: 3 pytorch_only models have no usable createdAt (damaged data), so "
        "they may have been created at any time; the lower bound 2 leaves them out, the upper "
        "bound 6 counts them as 2022 additions"
    ) in by_its_end["caveats"]
    by_2021 = results["added-2022-by-2021"]
    assert (by_2021["numbers"]["lower"], by_2021["numbers"]["upper"]) == (0, 0)
    assert by_2021["verdict"] == "holds"
    # The share by a date leaves them out, and says so.
    share = results["share-by-2022"]
    assert (share["numbers"]["numerator"], share["numbers"]["denominator_models"]) == (3, 3)
    assert (
        "no creation date: 3 models (3 pytorch_only) have no usable createdAt (damaged data); "
        "whether they existed by 2022-12-31 is unknown, so the share leaves them out"
    ) in share["caveats"]


def yearly_claim(claim_id: str, year: int, over: int, as_of: str) -> str:
    """One claim of the claims file: over ``over`` pytorch_only models added in ``year``."""
    return f"""\
  - id: {claim_id}
    statement: "over {over} PyTorch-only models added in {year}"
    source: {{publication: a test}}
    kind: measured
    as_of: {as_of}
    query: yearly_additions
    select: {{framework_class: pytorch_only, year: {year}}}
    expected: {{comparison: ">", value: {over}}}
"""


def of_2022_and_placeholder_dated() -> tuple[list[dict], list[dict]]:
    """20 pytorch_only models created in 2022, and 3 with the placeholder createdAt."""
    of_2022 = [element(i, PYTORCH, f"2022-05-{i + 1:02d}T00:00:00.000Z") for i in range(20)]
    return of_2022, [element(20 + i, PYTORCH, PLACEHOLDER) for i in range(3)]


DELETED_CLAIM = (
    "claims:\n"
    + yearly_claim("over-19-in-2022", 2022, 19, "2022-12-31")
    + yearly_claim("over-19-in-2022-on-the-hub-today", 2022, 19, "latest")
)


def test_models_deleted_since_can_only_raise_a_years_count(tmp_path):
    # 20 pytorch_only models of 2022 and 3 placeholder-dated; 4 of the 2022 ones deleted before
    # the second full crawl, one of them listed again before the third. Deleted, they were
    # still added in 2022: "over 19" is not refuted by the 16 left. By 2022-12-31 they existed
    # for certain (created in 2022, listed by a full snapshot of 2026), so both bounds count
    # them; of the Hub of today they are no part, so only the upper bound does.
    of_2022, old = of_2022_and_placeholder_dated()
    db = tmp_path / "hub.duckdb"
    claims_file = str(write_claims(tmp_path, DELETED_CLAIM))
    with FakeHub([*of_2022, *old]) as hub:
        crawl_into(db, hub)
        for model in of_2022[:4]:
            hub.delete(model["_id"])
        crawl_into(db, hub, full=True)
        hub.upsert(of_2022[0])
        crawl_into(db, hub, full=True)
    results = [check_json(db, "--claims", claims_file, "--snapshot", str(n)) for n in (1, 2, 3)]
    first, second, third = (r["over-19-in-2022"] for r in results)
    assert (first["numbers"]["lower"], first["numbers"]["upper"]) == (20, 23)
    assert first["verdict"] == "holds"
    assert (second["numbers"]["lower"], second["numbers"]["upper"]) == (16 + 4, 23)
    assert second["numbers"]["deleted_models"] == 4
    assert second["numbers"]["deleted_models_in_lower_bound"] == 4
    assert second["verdict"] == "holds"  # was 'does not hold' on [16, 19]
    assert (
        "deleted models: 4 pytorch_only models created in 2022 were listed by an earlier "
        "snapshot and are no longer at snapshot 2; a full snapshot begun since 2022-12-31 "
        "listed them, so they existed by then: both bounds count them"
    ) in second["caveats"]
    assert second["reading"] == "tags; rests on the lower bound (placeholder dates left out)"
    assert (third["numbers"]["lower"], third["numbers"]["deleted_models"]) == (17 + 3, 3)
    today = results[1]["over-19-in-2022-on-the-hub-today"]
    assert (today["numbers"]["lower"], today["numbers"]["upper"]) == (16, 23)
    assert today["numbers"]["deleted_models_in_lower_bound"] == 0
    assert today["verdict"] == "indeterminate"
    assert (
        "deleted models: 4 pytorch_only models created in 2022 were listed by an earlier "
        "snapshot and are no longer at snapshot 2; the lower bound 16 leaves them out, the "
        "upper bound 23 counts them as 2022 additions"
    ) in today["caveats"]
    assert today["reading"] == (
        "tags; rests on both bounds (placeholder dates and models deleted since decide)"
    )
    # The query itself, per year and class, at each snapshot; listed since 2022-12-31, all.
    for snapshot, expected in (
        (1, []),
        (2, [[2022, "pytorch_only", 4, 4]]),
        (3, [[2022, "pytorch_only", 3, 3]]),
    ):
        result = CliRunner().invoke(
            cli,
            ["query", "deleted_models", "--db", str(db), "--snapshot", str(snapshot)]
            + ["--as-of", "2022-12-31", "--format", "json"],
        )
        assert result.exit_code == 0, result.output
        assert [list(row.values()) for row in json.loads(result.stdout)] == expected
    # By a date after every snapshot began, none was listed since: 0 of them certain.
    result = CliRunner().invoke(
        cli,
        ["query", "deleted_models", "--db", str(db), "--snapshot", "2"]
        + ["--as-of", "2099-01-01", "--format", "json"],
    )
    assert [list(row.values()) for row in json.loads(result.stdout)] == [
        [2022, "pytorch_only", 4, 0]
    ]


OVER_21_CLAIMS = (
    "claims:\n"
    + yearly_claim("over-21-in-2022", 2022, 21, "2022-12-31")
    + yearly_claim("over-21-in-2023", 2023, 21, "latest")
)


def test_deleted_models_of_unknown_creation_time_raise_the_upper_bound(tmp_path):
    # 20 pytorch_only models of 2022, 3 placeholder-dated, 1 without createdAt. Two
    # placeholder-dated ones and the undated one are deleted: each may still have been a 2022
    # addition, as when listed, so the upper bound stays 20 + 3 + 1 = 24 ("over 21" open)
    # instead of 21, which would refute it. None of them can be a 2023 addition but the
    # undated one.
    of_2022, old = of_2022_and_placeholder_dated()
    undated = element(23, PYTORCH, "2023-01-01T00:00:00.000Z")
    del undated["createdAt"]
    db = tmp_path / "hub.duckdb"
    claims_file = str(write_claims(tmp_path, OVER_21_CLAIMS))
    with FakeHub([*of_2022, *old, undated]) as hub:
        crawl_into(db, hub)
        for model in [*old[:2], undated]:
            hub.delete(model["_id"])
        crawl_into(db, hub, full=True)
    before, after = (check_json(db, "--claims", claims_file, "--snapshot", str(n)) for n in (1, 2))
    assert (
        before["over-21-in-2022"]["numbers"]["upper"],
        before["over-21-in-2022"]["verdict"],
    ) == (
        24,
        "indeterminate",
    )
    in_2022 = after["over-21-in-2022"]
    assert (in_2022["numbers"]["lower"], in_2022["numbers"]["upper"]) == (20, 24)
    assert in_2022["verdict"] == "indeterminate"  # was 'does not hold' on [20, 21]
    assert in_2022["numbers"]["deleted_models"] == 3
    assert in_2022["numbers"]["deleted_models_of_unknown_time"] == 3
    assert (
        "deleted models: 3 pytorch_only models created in 2022 or at unknown times that may be "
        "in 2022 were listed by an earlier snapshot and are no longer at snapshot 2; the lower "
        "bound 20 leaves them out, the upper bound 24 counts them as 2022 additions"
    ) in in_2022["caveats"]
    in_2023 = after["over-21-in-2023"]
    assert (in_2023["numbers"]["lower"], in_2023["numbers"]["upper"]) == (0, 1)
    assert in_2023["numbers"]["deleted_models"] == 1


def test_proxy_and_not_checkable_claims(fixture_db):
    results = check_json(fixture_db)
    research = results["pytorch-research-winner"]
    assert research["verdict"] == "proxy only"
    groups = {g["framework_class"]: g for g in research["numbers"]["groups"]["tags"]}
    assert (groups["pytorch_only"]["arxiv_models"], groups["pytorch_only"]["models"]) == (2, 23)
    # The two classes the claim compares come first, whatever their shares.
    shown = [group.split(" ")[0] for group in research["measured"].split("; ")]
    assert shown[:2] == ["pytorch_only", "tensorflow_only"]
    assert results["tensorflow-deployment-tools"]["verdict"] == "proxy only"
    assert results["tensorboard-powerful"]["verdict"] == "proxy only"
    for claim_id in ("training-speed", "memory-usage", "distributed-training"):
        assert results[claim_id]["verdict"] == "not checkable"
        assert results[claim_id]["caveats"][0].startswith("not checkable: ")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_table_formats_show_every_claim_and_its_caveats(fixture_db, fmt):
    code, out, _ = run_check("--db", str(fixture_db), "--format", fmt)
    assert code == 0
    header = out.splitlines()[0].replace("\\", "")  # markdown escapes _ as \_
    for column in ("claim", "as_of", "expected", "measured", "verdict", "reading"):
        assert column in header
    for claim in claims.load_claims():
        assert claim.id in out.replace("\\", "")  # markdown escapes _ as \_
    assert "survivorship" in out


EARLY_CLAIMS = """\
claims:
  - id: added-2021
    statement: "at least 3 PyTorch-only models added in 2021"
    source: {publication: a test}
    kind: measured
    as_of: 2021-12-31
    query: yearly_additions
    select: {framework_class: pytorch_only, year: 2021}
    expected: {comparison: ">=", value: 3}
  - id: share-2021
    statement: "90% of framework models PyTorch-only at the end of 2021"
    source: {publication: a test}
    kind: measured
    as_of: 2021-12-31
    query: exclusivity
    select: {framework_class: pytorch_only}
    expected: {comparison: "~", value: 0.9, tolerance: 0.05}
"""


def test_a_claim_dated_before_the_placeholder_instant_counts_placeholder_models(
    fixture_db, tmp_path
):
    # By the end of 2021 no fixture model has a real creation date; the 5 placeholder-dated
    # pytorch_only models were created at an unknown time up to 2022-03-02, so each may have
    # been a 2021 addition: the interval is [0, 5], and ">= 3" cannot be decided.
    loaded = [c for c in claims.load_claims(write_claims(tmp_path, EARLY_CLAIMS)) if "2021" in c.id]
    with store.read(fixture_db) as connection:
        added, share = claims.check_claims(connection, loaded)
    assert (added.numbers["lower"], added.numbers["upper"]) == (0, 5)
    assert added.verdict == claims.INDETERMINATE
    assert "5 pytorch_only models carry" in " ".join(added.caveats)
    # The share has no dated model to measure; the caveat names the placeholder models it
    # leaves out instead of saying there are none.
    assert share.verdict == claims.INDETERMINATE
    caveat = next(c for c in share.caveats if c.startswith("placeholder dates"))
    assert "5 models (5 pytorch_only)" in caveat and "unknown" in caveat


def test_results_table_contract(fixture_db):
    with store.read(fixture_db) as connection:
        results = claims.check_claims(
            connection, claims.load_claims(), ids=["pytorch-exclusive-added-2022"]
        )
    columns, rows = claims.results_table(results)
    assert columns == ["claim", "as_of", "expected", "measured", "verdict", "reading"]
    assert rows[0][:5] == (
        "pytorch-exclusive-added-2022",
        "2022-12-31",
        "> 45000",
        "[10, 15]",
        "does not hold",
    )


# -- malformed claims files and bad input ------------------------------------------------------

VALID_CLAIM = """\
claims:
  - id: mine
    statement: "a claim"
    source: {publication: a test}
    kind: measured
    as_of: 2022-12-31
    query: exclusivity
    select: {framework_class: pytorch_only}
    expected: {comparison: "~", value: 0.9, tolerance: 0.05}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("query: exclusivity", "query: no_such_query"), "unknown query 'no_such_query'"),
        (('    statement: "a claim"\n', ""), "missing field 'statement'"),
        (('comparison: "~"', 'comparison: "=>"'), "bad comparison '=>'"),
        (("as_of: 2022-12-31", "as_of: 2022-13-45"), "bad date"),
        (("id: mine", "id: pytorch-exclusive-share-2022"), "duplicate id"),
        (("select: {", "select: {{"), "YAML syntax error"),
        (("value: 0.9", "value: .nan"), "expected.value must be a number"),
        (("value: 0.9", "value: .inf"), "expected.value must be a number"),
        (("tolerance: 0.05", "tolerance: .nan"), "expected.tolerance must be a number"),
        (("value: 0.9", "value: 92"), "a share from 0 to 1"),
        (
            ("tolerance: 0.05}", "tolerance: 0.05}\n    reading: {denominator: [a]}"),
            "reading.denominator must be one of",
        ),
        (("    kind: measured\n", "    kind: measured\n    kind: proxy\n"), "'kind' appears twice"),
        (("    kind: measured\n", "    kind: measured\n    1: one\n"), "a key must be text"),
        (
            ("    kind: measured\n", "    kind: measured\n    ? [a, b]\n    : c\n"),
            "a key must be text",
        ),
        (
            (
                "    kind: measured\n",
                "    kind: [&a ["
                + "x, " * 9
                + "x], &b ["
                + "*a, " * 9
                + "*a], &c ["
                + "*b, " * 9
                + "*b], &d ["
                + "*c, " * 9
                + "*c], &e ["
                + "*d, " * 9
                + "*d], ["
                + "*e, " * 9
                + "*e]]\n",
            ),
            "aliases expand to more than 100,000 values",
        ),
        (
            ("source: {publication: a test}", "source: {publication: a test, title: [a, b]}"),
            "source.title must be text",
        ),
        (
            ("source: {publication: a test}", "source: {publication: {name: a test}}"),
            "source.publication must be text",
        ),
        (
            (
                "query: exclusivity\n    select: {framework_class: pytorch_only}",
                "query: yearly_additions\n    select: {framework_class: pytorch_only, year: -5}",
            ),
            "select.year must be a year",
        ),
        (
            (
                "query: exclusivity\n    select: {framework_class: pytorch_only}",
                "query: yearly_additions\n    select: {framework_class: pytorch_only, year: 0}",
            ),
            "select.year must be a year",
        ),
        (
            (
                "query: exclusivity\n    select: {framework_class: pytorch_only}",
                "query: yearly_additions\n    select: {framework_class: pytorch_only, year: 10000}",
            ),
            "select.year must be a year",
        ),
        (('statement: "a claim"', 'statement: "   "'), "statement must be text"),
        (
            (
                "query: exclusivity\n    select: {framework_class: pytorch_only}",
                "query: yearly_additions\n    select: {framework_class: pytorch_only, year: 2022}"
                "\n    reading: {denominator: all_models}",
            ),
            "reading.denominator has no meaning",
        ),
    ],
    ids=[
        "unknown-query",
        "missing-field",
        "bad-comparison",
        "bad-date",
        "duplicate",
        "yaml",
        "nan-value",
        "infinite-value",
        "nan-tolerance",
        "percent-for-share",
        "list-denominator",
        "repeated-key",
        "number-key",
        "list-key",
        "alias-bomb",
        "list-title",
        "mapping-publication",
        "negative-year",
        "year-zero",
        "year-past-9999",
        "blank-statement",
        "yearly-denominator",
    ],
)
def test_malformed_claims_file_gives_one_line_and_exit_2(fixture_db, tmp_path, change, message):
    path = write_claims(tmp_path, VALID_CLAIM.replace(*change))
    code, out, err = run_check("--db", str(fixture_db), "--claims", str(path))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hfstats: error: ")
    assert message in lines[0] and str(path) in lines[0]
    if "YAML" not in lines[0]:
        assert "claim '" in lines[0]


PROXY_CLAIM = """\
claims:
  - id: libraries
    statement: "transformers is the library most models use"
    source: {publication: a test}
    kind: proxy
    as_of: latest
    query: library_share
    summary: {group_by: library_name, count: models}
    indicator: models per library
"""


def proxy_on(query: str, summary: str) -> str:
    """PROXY_CLAIM summarising ``query`` as ``summary`` (a YAML mapping)."""
    return PROXY_CLAIM.replace("query: library_share", f"query: {query}").replace(
        "{group_by: library_name, count: models}", summary
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("{group_by: library_name, count: models}", "{group_by: models, count: library_name}"),
            "not numbers to add up",
        ),
        (("count: models", "count: models, of: models"), "must name different columns"),
        (("count: models", "count: models, by: library_name"), "must name different columns"),
        (("count: models", "count: models, by: year"), "has no column 'year'"),
        (("count: models", "count: models, show: transformers"), "summary.show must be a list"),
        (("count: models", "count: models, show: [a, a]"), "summary.show must be a list"),
        (("count: models", "count: models, show: [[a]]"), "summary.show must be a list"),
        (("count: models", "count: models, show: ['1', 1]"), "summary.show must be a list"),
        (("    kind: proxy\n", "    kind: proxy\n    method: files\n"), "takes no method"),
    ],
    ids=[
        "text-count",
        "count-of-itself",
        "by-a-named-column",
        "by-a-missing-column",
        "show-not-a-list",
        "show-twice",
        "show-a-list",
        "show-text-and-number",
        "method-without-frameworks",
    ],
)
def test_malformed_proxy_claim_gives_one_line_and_exit_2(fixture_db, tmp_path, change, message):
    path = write_claims(tmp_path, PROXY_CLAIM.replace(*change))
    code, out, err = run_check("--db", str(fixture_db), "--claims", str(path), "libraries")
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "claim 'libraries'" in lines[0]


def test_a_proxy_claim_adds_up_fractional_columns_without_rounding(fixture_db, tmp_path):
    path = write_claims(tmp_path, PROXY_CLAIM.replace("count: models", "count: share_of_models"))
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    with duckdb.connect(str(fixture_db), read_only=True) as connection:
        per_library = dict(
            connection.execute("SELECT library_name, count(*) FROM models GROUP BY 1").fetchall()
        )
    total = sum(per_library.values())
    (summary,) = [r["value"] for r in result["readings"]]
    shares = {group["library_name"]: group["share_of_models"] for group in summary}
    assert shares == pytest.approx({name: n / total for name, n in per_library.items()})
    assert 0 < min(shares.values()) < 1


def test_a_proxy_group_of_models_naming_no_library_is_not_called_none(fixture_db, tmp_path):
    path = write_claims(tmp_path, PROXY_CLAIM)
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    by_library: dict[str | None, int] = {}
    for profile, _ in FIXTURE:  # the doomed model was deleted in snapshot 2
        by_library[profile[2]] = by_library.get(profile[2], 0) + 1
    assert by_library[None]  # the fixture has models without a library_name
    assert result["measured"] == (
        f"transformers {by_library['transformers']}; (none) {by_library[None]}"
    )


CLASS_OF_TAGS = {
    ("pytorch",): "pytorch_only",
    ("jax",): "jax_only",
    ("pytorch", "tf"): "multi_framework",
    (): "no_framework",
}


def test_a_proxy_claim_shows_the_groups_it_names_and_each_by_year(fixture_db, tmp_path):
    # jax_only and tensorflow_only are the smallest classes (1 and 0 models): named, they come
    # first, before the largest (pytorch_only), each with its models per creation year.
    path = write_claims(
        tmp_path,
        proxy_on(
            "yearly_additions",
            "{group_by: framework_class, count: models, by: year, "
            "show: [jax_only, tensorflow_only]}",
        ),
    )
    per_year: dict[str, Counter] = {}
    for (tags, _, _), created in FIXTURE:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
        year = None if moment <= PLACEHOLDER_CUTOFF else moment.year
        per_year.setdefault(CLASS_OF_TAGS[tuple(tags)], Counter())[year] += 1
    code, out, err = run_check("--db", str(fixture_db), "--claims", str(path), "libraries")
    assert code == 0, err
    lines = out.splitlines()
    pytorch = sum(per_year["pytorch_only"].values())
    assert f"jax_only 1; tensorflow_only 0; pytorch_only {pytorch}; no_framework 5; +1 more" in out
    assert "  - jax_only by year: 2022 1" in lines
    assert "  - tensorflow_only by year: none" in lines
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    groups = {g["framework_class"]: g for g in result["numbers"]["groups"]["tags"]}
    for framework_class, years in per_year.items():
        by_year = groups[framework_class]["by_year"]
        assert {part["year"]: part["models"] for part in by_year} == years
        assert [part["year"] for part in by_year] == sorted(years, key=lambda y: (y is not None, y))
    assert result["reading"] == "models by framework_class and year, tags"


def by_year_claim(show: str) -> str:
    return proxy_on(
        "yearly_additions", f"{{group_by: framework_class, count: models, by: year, show: {show}}}"
    )


def test_named_groups_keep_the_order_given_and_only_they_are_shown_by_year(fixture_db, tmp_path):
    # Named against their size (tensorflow_only has no model, jax_only one): the order given
    # wins. The larger classes fill the line, but only the named ones get a line by year.
    path = write_claims(tmp_path, by_year_claim("[tensorflow_only, jax_only]"))
    with store.read(fixture_db) as connection:
        (finished,) = connection.execute(
            "SELECT finished_at FROM snapshots WHERE snapshot_id = 2"
        ).fetchone()
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    pytorch = sum(profile == PYTORCH for profile, _ in FIXTURE)
    none = sum(profile == NONE for profile, _ in FIXTURE)
    assert (pytorch, none) == (23, 5)
    assert result["measured"] == (
        f"tensorflow_only 0; jax_only 1; pytorch_only {pytorch}; no_framework {none}; "
        "+1 more (all in: hfstats check --format json)"  # multi_framework
    )
    assert result["caveats"][:-1] == [
        "proxy: models per library",
        "tensorflow_only by year: none",
        "jax_only by year: 2022 1",
        f"snapshot 2 (finished {finished.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})",
        # The classes depend on the method; the claim is about the Hub of today.
        "method tags: frameworks from the Hub's tags pytorch, tf, jax",
    ]
    assert result["caveats"][-1].startswith(
        "survivorship: the claim is about the Hub of today, measured on the models listed at "
        "snapshot 2"
    )


def test_a_year_named_as_text_in_show_is_that_year_not_another_group(fixture_db, tmp_path):
    # YAML reads show: ["2024"] as text and the query's years are numbers: the one group 2024.
    path = write_claims(
        tmp_path,
        proxy_on("yearly_additions", '{group_by: year, count: models, show: ["2024"]}'),
    )
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    in_2024 = sum(created.startswith("2024-") for _, created in FIXTURE)
    assert in_2024 == 10
    assert result["measured"].startswith(f"2024 {in_2024}; ")
    years = [group["year"] for group in result["numbers"]["groups"]["tags"]]
    assert sorted(map(str, years)).count("2024") == 1


@pytest.mark.parametrize(
    ("summary", "field"),
    [
        ("{group_by: framework_class, count: share_citing_arxiv}", "count"),
        ("{group_by: framework_class, count: arxiv_models, of: share_citing_arxiv}", "of"),
    ],
)
def test_a_proxy_adding_up_shares_of_several_rows_a_group_is_refused(
    fixture_db, tmp_path, summary, field
):
    # research_models has a row per year and class: summed over years, shares would exceed 1.
    path = write_claims(
        tmp_path,
        proxy_on("research_models", summary),
    )
    code, out, err = run_check("--db", str(fixture_db), "--claims", str(path), "libraries")
    assert (code, out) == (2, "")
    assert f"summary.{field}: share_citing_arxiv is a share" in err and "do not add up" in err
    assert len(err.strip().splitlines()) == 1


def test_a_proxy_on_yearly_additions_dated_after_its_snapshot_says_later_models_are_missing(
    fixture_db, tmp_path
):
    text = by_year_claim("[jax_only]").replace("as_of: latest", "as_of: 2999-12-31")
    path = write_claims(tmp_path, text)
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    assert any(
        caveat.startswith("as_of 2999-12-31 is after snapshot 2 finished")
        for caveat in result["caveats"]
    )


def test_a_yearly_claim_within_a_tolerance_gives_its_tolerance_in_the_numbers(fixture_db, tmp_path):
    path = write_interval_claim(tmp_path, 12)
    text = path.read_text().replace(
        '{comparison: ">=", value: 12}', '{comparison: "~", value: 12, tolerance: 3}'
    )
    path = write_claims(tmp_path, text)
    result = check_json(fixture_db, "--claims", str(path), "my-additions")["my-additions"]
    assert (result["numbers"]["expected_value"], result["numbers"]["tolerance"]) == (12, 3)


def test_a_named_group_the_query_has_no_row_of_has_no_share(fixture_db, tmp_path):
    # research_models has rows only for classes with models: none for tensorflow_only. Its
    # share is 0 of 0, no number, not 0%.
    path = write_claims(
        tmp_path,
        proxy_on(
            "research_models",
            "{group_by: framework_class, count: arxiv_models, of: models, show: [tensorflow_only]}",
        ),
    )
    result = check_json(fixture_db, "--claims", str(path), "libraries")["libraries"]
    # Models 0 and 1 cite arXiv, both PyTorch-only: 2 of 23, 0.0870.
    assert result["measured"].startswith("tensorflow_only n/a (0/0); pytorch_only 0.0870 (2/23);")
    for method in ("tags", "files"):
        groups = {g["framework_class"]: g for g in result["numbers"]["groups"][method]}
        assert groups["tensorflow_only"] == {
            "framework_class": "tensorflow_only",
            "arxiv_models": 0,
            "models": 0,
            "share": None,
        }


def test_five_named_groups_are_shown_alone_and_the_rest_counted(tmp_path):
    # Seven libraries, libN with N models. Naming five leaves no room for the others (the
    # limit is four groups): none of them is shown, both are counted.
    models = [
        element(index, (["pytorch"], ["pytorch_model.bin"], f"lib{n}"), "2024-01-01T00:00:00.000Z")
        for index, n in enumerate(n for n in range(1, 8) for _ in range(n))
    ]
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl_into(db, hub)
    path = write_claims(
        tmp_path,
        PROXY_CLAIM.replace(
            "count: models}", "count: models, show: [lib1, lib2, lib3, lib4, lib5]}"
        ),
    )
    result = check_json(db, "--claims", str(path), "libraries")["libraries"]
    assert result["measured"] == (
        "lib1 1; lib2 2; lib3 3; lib4 4; lib5 5; +2 more (all in: hfstats check --format json)"
    )


def test_one_claim_id_from_python_is_one_id_not_its_letters(fixture_db):
    with store.read(fixture_db) as connection:
        [result] = claims.check_claims(connection, claims.load_claims(), ids="training-speed")
    assert result.id == "training-speed"


def test_control_characters_from_a_claims_file_are_shown_escaped(fixture_db, tmp_path):
    path = write_claims(
        tmp_path,
        """\
        claims:
          - id: esc
            kind: not_checkable
            statement: "red \\e[31mtext\\a and\\na second line"
            source: x
            as_of: latest
            why: "clears \\e[2J the screen"
        """,
    )
    code, out, err = run_check("--db", str(fixture_db), "--claims", str(path), "esc")
    assert code == 0, err
    assert not any(ch in out for ch in "\x1b\x07"), out
    assert "red \\x1b[31mtext\\x07 and\\na second line" in out
    assert "clears \\x1b[2J the screen" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("claims: " + "[" * 5000 + "]" * 5000, "cannot read the claims file"),
        ("claims:\n  - id: " + "9" * 5000, "cannot read the claims file"),
    ],
    ids=["nested-too-deep", "huge-integer"],
)
def test_claims_yaml_python_cannot_hold_is_a_usage_error(tmp_path, text, message):
    from hfstats.errors import UsageError

    path = tmp_path / "claims.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        claims.load_claims(path)


def test_a_large_list_repeated_by_aliases_is_refused_quickly(tmp_path):
    # 20,000 items, repeated 50,000 times: a 190 KB file whose value is 10^9 items.
    from hfstats.errors import UsageError

    path = tmp_path / "claims.yaml"
    items = ", ".join(["x"] * 20_000)
    path.write_text(f"claims:\n  - kind: [&a [{items}], " + "*a, " * 50_000 + "*a]\n")
    with pytest.raises(UsageError, match="aliases expand to more than"):
        claims.load_claims(path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # An alias inside its own anchor: measured while empty, it counted as one value.
        ("[&a [*a, x, x], *a, *a]", "refers to the node it is part of"),
        # A long text repeated: it counted as one value however long.
        ("[&s " + "x" * 100_000 + ", " + "*s, " * 99 + "*s]", "aliases expand to more than"),
    ],
    ids=["recursive", "long-text"],
)
def test_aliases_that_grow_other_ways_are_refused(tmp_path, value, message):
    from hfstats.errors import UsageError

    path = tmp_path / "claims.yaml"
    path.write_text(f"claims:\n  - kind: {value}\n")
    with pytest.raises(UsageError, match=message):
        claims.load_claims(path)


def test_a_huge_value_is_quoted_short(tmp_path):
    # The messages quoted a field's value whole: a 1 MB kind made a 1 MB line.
    from hfstats.errors import UsageError

    path = write_claims(tmp_path, VALID_CLAIM.replace("kind: measured", "kind: " + "y" * 10**6))
    with pytest.raises(UsageError, match="kind must be one of") as error:
        claims.load_claims(path)
    assert len(str(error.value)) < 500


def test_aliases_of_aliases_a_person_would_write_load(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(
        VALID_CLAIM
        + VALID_CLAIM.replace("id: mine", "id: second")
        .replace("claims:\n", "")
        .replace("source: {publication: a test}", "source: &second {publication: *pub, title: T}")
        + VALID_CLAIM.replace("id: mine", "id: third")
        .replace("claims:\n", "")
        .replace("source: {publication: a test}", "source: *second")
    )
    text = path.read_text().replace(
        "source: {publication: a test}", "source: {publication: &pub a test}", 1
    )
    path.write_text(text)
    loaded = [c for c in claims.load_claims(path) if c.id in ("mine", "second", "third")]
    assert [c.source for c in loaded] == [
        {"publication": "a test"},
        {"publication": "a test", "title": "T"},
        {"publication": "a test", "title": "T"},
    ]


def test_a_claims_file_far_too_large_is_refused_without_reading_it_all(tmp_path):
    from hfstats.errors import UsageError

    path = tmp_path / "claims.yaml"
    with open(path, "wb") as handle:
        handle.truncate(claims.CLAIMS_FILE_LIMIT + 1)  # sparse: /dev/zero's shape
    with pytest.raises(UsageError, match="larger than"):
        claims.load_claims(path)


def test_valid_user_claims_file_loads_after_the_packaged_claims(tmp_path):
    loaded = claims.load_claims(write_claims(tmp_path, VALID_CLAIM))
    assert loaded[-1].id == "mine"
    assert loaded[-1].as_of == END_OF_2022
    assert len(loaded) == len(claims.load_claims()) + 1


def test_a_missing_field_is_a_usage_error_in_python_too(tmp_path):
    with pytest.raises(UsageError, match="missing field 'expected'"):
        claims.load_claims(write_claims(tmp_path, VALID_CLAIM.replace("    expected:", "    x:")))


def test_a_share_of_jax_only_models_cannot_take_pytorch_or_tensorflow_as_denominator(tmp_path):
    text = VALID_CLAIM.replace("pytorch_only", "jax_only") + (
        "    reading: {denominator: pytorch_or_tensorflow_models}\n"
    )
    with pytest.raises(UsageError, match="cannot hold jax_only models"):
        claims.load_claims(write_claims(tmp_path, text))


def test_an_earlier_snapshot_is_measured_as_it_was(fixture_db):
    # Snapshot 1 still had the no_framework model deleted before snapshot 2: 23 of 31 models.
    result = check_json(fixture_db, "--snapshot", "1", "pytorch-exclusive-share-today")
    found = reading(result["pytorch-exclusive-share-today"], "all_models", "tags")
    assert (found["numerator"], found["models"]) == (23, 31)
    assert result["pytorch-exclusive-share-today"]["numbers"]["deletions_observed"] == 0


def test_unknown_claim_id_is_a_usage_error(fixture_db):
    code, _, err = run_check("--db", str(fixture_db), "no-such-claim")
    assert code == 2
    assert "unknown claim id(s): no-such-claim" in err


# -- --strict ----------------------------------------------------------------------------------

STRICT_CLAIMS = """\
claims:
  - id: holds-today
    statement: "share holds"
    source: {publication: a test}
    kind: measured
    as_of: latest
    query: exclusivity
    select: {framework_class: pytorch_only}
    expected: {comparison: "~", value: 0.92, tolerance: 0.02}
  - id: fails-today
    statement: "share fails"
    source: {publication: a test}
    kind: measured
    as_of: latest
    query: exclusivity
    select: {framework_class: pytorch_only}
    expected: {comparison: ">=", value: 0.99}
  - id: undecided
    statement: "interval straddles"
    source: {publication: a test}
    kind: measured
    as_of: 2022-12-31
    query: yearly_additions
    select: {framework_class: pytorch_only, year: 2022}
    expected: {comparison: ">=", value: 12}
"""


@pytest.mark.parametrize(
    ("ids", "strict", "exit_code"),
    [
        (["holds-today", "undecided"], True, 0),  # indeterminate is not a failure
        (["fails-today"], True, 1),
        (["fails-today"], False, 0),
        ([], True, 1),  # the packaged 2022 additions claim fails on this fixture too
        (["tensorboard-powerful", "training-speed"], True, 0),  # proxies never fail
    ],
)
def test_strict_exit_codes(fixture_db, tmp_path, ids, strict, exit_code):
    path = write_claims(tmp_path, STRICT_CLAIMS)
    args = ["--db", str(fixture_db), "--claims", str(path), *ids]
    code, out, err = run_check(*args, *(["--strict"] if strict else []))
    assert code == exit_code, err
    assert out  # the table is printed before the exit code says what failed
    if exit_code:
        assert err.startswith("hfstats: error: ") and "do not hold" in err


# -- done means: a crawl of a local test server, checked against its raw elements ---------------


def independent_class(model: dict) -> str:
    frameworks = {"pytorch", "tf", "jax"} & set(model.get("tags", []))
    if not frameworks:
        return "no_framework"
    if len(frameworks) > 1:
        return "multi_framework"
    return {"pytorch": "pytorch_only", "tf": "tensorflow_only", "jax": "jax_only"}[frameworks.pop()]


def created(model: dict) -> datetime:
    return datetime.fromisoformat(model["createdAt"].replace("Z", "+00:00"))


def test_seed_claims_match_an_independent_count_of_the_servers_elements(tmp_path):
    models = list(synthetic_models(3000, seed=7))
    db = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        crawl.refresh(db, client=HubClient(hub.url, None, backoff_base=0.01), page_size=1000)
    results = check_json(db)

    def expected_shares(subset: list[dict]) -> dict[str, tuple[int, int]]:
        classes = [independent_class(m) for m in subset]
        pytorch = classes.count("pytorch_only")
        framework = sum(c != "no_framework" for c in classes)
        return {
            "framework_models": (pytorch, framework),
            "pytorch_or_tensorflow_models": (pytorch, framework - classes.count("jax_only")),
            "pytorch_only_or_tensorflow_only_models": (
                pytorch,
                pytorch + classes.count("tensorflow_only"),
            ),
            "all_models": (pytorch, len(classes)),
        }

    for claim_id, subset in (
        ("pytorch-exclusive-share-today", models),
        ("pytorch-exclusive-share-2022", [m for m in models if created(m) <= END_OF_2022]),
    ):
        result = results[claim_id]
        for denominator, (numerator, total) in expected_shares(subset).items():
            found = reading(result, denominator, "tags")
            assert (found["numerator"], found["models"]) == (numerator, total)
            assert found["value"] == numerator / total
            within = abs(Fraction(numerator, total) - Fraction(92, 100)) <= Fraction(2, 100)
            assert found["verdict"] == ("holds within tolerance" if within else "does not hold")
        assert result["verdict"] == reading(result, "framework_models", "tags")["verdict"]

    pytorch_only = [m for m in models if independent_class(m) == "pytorch_only"]
    lower = sum(created(m) > PLACEHOLDER_CUTOFF and created(m).year == 2022 for m in pytorch_only)
    placeholder = sum(created(m) <= PLACEHOLDER_CUTOFF for m in pytorch_only)
    result = results["pytorch-exclusive-added-2022"]
    assert (result["numbers"]["lower"], result["numbers"]["upper"]) == (lower, lower + placeholder)
    assert result["measured"] == f"[{lower}, {lower + placeholder}]"
    if lower > 45000:  # "over 45,000"
        assert result["verdict"] == "holds"
    elif lower + placeholder <= 45000:
        assert result["verdict"] == "does not hold"
    else:
        assert result["verdict"] == "indeterminate"


def test_deletions_counted_in_the_survivorship_caveat_follow_the_first_full_snapshot_kept(
    tmp_path,
):
    db = tmp_path / "hub.duckdb"
    models = [element(i, profile, created) for i, (profile, created) in enumerate(FIXTURE)]
    with FakeHub(models) as hub:
        crawl_into(db, hub)  # 1: full
        hub.delete(models[0]["_id"])
        crawl_into(db, hub, full=True)  # 2: records models[0] deleted
        hub.delete(models[1]["_id"])
        crawl_into(db, hub, full=True)  # 3: records models[1] deleted
        crawl_into(db, hub)  # 4: incremental
        crawl_into(db, hub)  # 5: incremental
    [claim] = claims.load_claims(write_claims(tmp_path, VALID_CLAIM))[-1:]

    def observed() -> str:
        with store.read(db) as connection:
            [result] = claims.check_claims(connection, [claim])
        [caveat] = [c for c in result.caveats if c.startswith("survivorship")]
        return caveat

    assert "observed 2 deletion(s)" in observed()
    # Kept 2-5: models[0] was deleted before snapshot 2, which recorded it; only models[1]
    # was deleted since snapshot 2 started.
    store.prune_database(db, keep=4)
    with store.read(db) as connection:
        (started,) = connection.execute(
            "SELECT started_at FROM snapshots WHERE snapshot_id = 2"
        ).fetchone()
    caveat = observed()
    assert "observed 1 deletion(s)" in caveat
    assert f"since {started.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" in caveat
    store.prune_database(db, keep=2)  # only the incremental 4 and 5: they see no deletions
    assert "kept no full snapshot up to snapshot 5, so it observed no deletions" in observed()
    # A full snapshot after the one checked, and an abandoned one, change nothing.
    with FakeHub(models[2:]) as hub:
        crawl_into(db, hub, full=True)  # 6
    with duckdb.connect(str(db)) as connection:
        connection.execute(
            "INSERT INTO snapshots (snapshot_id, started_at, mode, complete, deleted, endpoint) "
            "SELECT 0, min(started_at) - INTERVAL 1 DAY, 'full', false, 5, any_value(endpoint) "
            "FROM snapshots"
        )
    with store.read(db) as connection:
        [at_5] = claims.check_claims(connection, [claim], snapshot_id=5)
    assert any("kept no full snapshot up to snapshot 5" in c for c in at_5.caveats)


def test_numbers_are_shown_precisely_enough_to_agree_with_the_verdict(fixture_db, tmp_path):
    # 1 jax_only model of the 30 listed: 0.03333..., which four decimals show as 0.0333.
    path = write_claims(
        tmp_path,
        """\
        claims:
          - {id: at-most, statement: s, source: x, kind: measured, as_of: latest,
             query: exclusivity, select: {framework_class: jax_only},
             reading: {denominator: all_models},
             expected: {comparison: "<=", value: 0.0333}}
          - {id: about, statement: s, source: x, kind: measured, as_of: latest,
             query: exclusivity, select: {framework_class: jax_only},
             reading: {denominator: all_models},
             expected: {comparison: "~", value: 0.0333, tolerance: 0.00004}}
          - {id: at-least, statement: s, source: x, kind: measured, as_of: latest,
             query: exclusivity, select: {framework_class: jax_only},
             reading: {denominator: all_models},
             expected: {comparison: ">=", value: 0.99999}}
        """,
    )
    results = check_json(fixture_db, "--claims", str(path), "at-most", "about", "at-least")
    assert results["at-most"]["measured"] == "0.03333 (1 / 30)"  # not "0.0333"
    assert results["at-most"]["verdict"] == "does not hold"
    assert results["about"]["expected"] == "~ 0.0333 ± 0.00004"  # not "± 0"
    assert results["about"]["measured"] == "0.03333 (1 / 30)"
    assert results["about"]["verdict"] == "holds within tolerance"
    assert results["at-least"]["expected"] == ">= 0.99999"  # not ">= 1"
    assert results["at-least"]["measured"] == "0.0333 (1 / 30)"
    # Against 0.0333 ± 0.00003 the upper bound 0.03333 shows alike at five decimals; a share
    # exactly equal to a bound (23/25 of the framework models) needs no more than four.
    path = write_claims(
        tmp_path,
        """\
        claims:
          - {id: close, statement: s, source: x, kind: measured, as_of: latest,
             query: exclusivity, select: {framework_class: jax_only},
             reading: {denominator: all_models},
             expected: {comparison: "~", value: 0.0333, tolerance: 0.00003}}
          - {id: equal, statement: s, source: x, kind: measured, as_of: latest,
             query: exclusivity, select: {framework_class: pytorch_only},
             expected: {comparison: "<=", value: 0.92}}
        """,
    )
    results = check_json(fixture_db, "--claims", str(path), "close", "equal")
    assert results["close"]["measured"] == "0.033333 (1 / 30)"
    assert results["close"]["verdict"] == "does not hold"
    assert results["equal"]["measured"] == "0.9200 (23 / 25)"
    assert results["equal"]["verdict"] == "holds"
