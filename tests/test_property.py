"""Any JSON in any field of a listing element either loads or is counted as rejected.

Hypothesis builds elements from a normal synthetic model with known fields replaced by
arbitrary JSON (or removed), unknown keys added, and sometimes a non-object element, and mixes
them into an otherwise normal page. The expected outcome is decided here from the element
alone: an object with a non-empty string ``_id`` is a model, anything else is rejected; a
model's fields hold what the docs say (a value of the wrong JSON type is NULL, never converted).
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import begin_test_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfstats import crawl, store
from hfstats.hub import HubClient, Page
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_model, synthetic_models, touch

pytestmark = pytest.mark.property

KNOWN_FIELDS = [
    "_id",
    "id",
    "modelId",
    "author",
    "sha",
    "createdAt",
    "lastModified",
    "private",
    "disabled",
    "gated",
    "pipeline_tag",
    "library_name",
    "tags",
    "siblings",
    "downloads",
    "likes",
    "trendingScore",
    "downloadsAllTime",
]
COUNTER_KEYS = ("downloads", "likes", "trendingScore", "downloadsAllTime")
TYPED_COLUMNS = (
    "id",
    "model_id",
    "author",
    "sha",
    "library_name",
    "pipeline_tag",
    "private",
    "disabled",
    "gated",
    "tags",
    "files",
    "downloads",
    "likes",
    "downloads_all_time",
    "trending_score",
    "raw",
)
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# NaN and infinities are not JSON (the Hub's JSON.stringify turns them into null).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "2022-03-02T23:29:04.000Z", "not a date", "9999-12-31T00:00:00Z"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def elements(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # not an object at all
    element = synthetic_model(draw(st.integers(0, 10_000)), seed=51)
    for key in draw(st.lists(st.sampled_from(KNOWN_FIELDS), max_size=5, unique=True)):
        if draw(st.booleans()):
            element[key] = draw(json_values)
        else:
            element.pop(key, None)
    unknown = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=3))
    for key, value in unknown.items():
        if key not in KNOWN_FIELDS:
            element[key] = value
    return element


def stored_id(element: object) -> str | None:
    """The object id this element should be stored under, or None if it must be rejected.

    Characters that cannot be stored (lone surrogates) are documented to become U+FFFD.
    """
    if not isinstance(element, dict):
        return None
    object_id = element.get("_id")
    if not isinstance(object_id, str) or object_id == "":
        return None
    return _LONE_SURROGATE.sub("\ufffd", object_id)


def _storable(value: object) -> object:
    """``value`` as stored: lone surrogates as U+FFFD (DuckDB holds UTF-8 only), and every
    number as a float, since integers past 64 bits come back from DuckDB's JSON as doubles."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return {_storable(key): _storable(item) for key, item in value.items()}


def _integer(value: object) -> int | None:
    exact = isinstance(value, int) and not isinstance(value, bool)
    return value if exact and -(2**63) <= value < 2**63 else None


def expected_fields(element: dict) -> dict:
    """The typed fields documented for ``element``: a value of the wrong JSON type is NULL,
    never converted; in the lists, only the items of the wrong type are left out. (Times are
    left to the tests of recorded and far-future times: DuckDB's and Python's ISO parsers
    differ on odd strings.)"""

    def text(key: str) -> str | None:
        value = element.get(key)
        return _storable(value) if isinstance(value, str) else None

    def flag(key: str) -> bool | None:
        value = element.get(key)
        return value if isinstance(value, bool) else None

    gated = element.get("gated")
    tags = element.get("tags")
    siblings = element.get("siblings")
    trending = element.get("trendingScore")
    return {
        "id": text("id") if isinstance(element.get("id"), str) else text("modelId"),
        "model_id": text("modelId"),
        "author": text("author"),
        "sha": text("sha"),
        "library_name": text("library_name"),
        "pipeline_tag": text("pipeline_tag"),
        "private": flag("private"),
        "disabled": flag("disabled"),
        "gated": str(gated).lower() if isinstance(gated, bool) else text("gated"),
        "tags": [_storable(t) for t in tags if isinstance(t, str)]
        if isinstance(tags, list)
        else None,
        "files": [
            _storable(s["rfilename"])
            for s in siblings
            if isinstance(s, dict) and isinstance(s.get("rfilename"), str)
        ]
        if isinstance(siblings, list)
        else None,
        "downloads": _integer(element.get("downloads")),
        "likes": _integer(element.get("likes")),
        "downloads_all_time": _integer(element.get("downloadsAllTime")),
        "trending_score": float(trending)
        if isinstance(trending, int | float) and not isinstance(trending, bool)
        else None,
        # The raw element is kept without its counters (they have their own table).
        "raw": _storable({k: v for k, v in element.items() if k not in COUNTER_KEYS}),
    }


def serialise(page_elements: list) -> bytes:
    """A page body as the Hub sends it (lone surrogates escaped, the rest as UTF-8)."""
    try:
        return json.dumps(page_elements, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(page_elements).encode()


def assert_page_loads(page_elements: list) -> None:
    """Merge one page of ``page_elements``: each element is stored with its fields typed as
    documented, or counted as rejected."""
    body = serialise(page_elements)
    page = Page(
        url="http://hub.test/api/models",
        models=json.loads(body),
        body=body,
        next_url=None,
    )
    crawl._page_times(page)  # the crawl's stop test reads every lastModified
    storable, _ = page.body_for_storage()

    expected_ids = {stored_id(e) for e in page_elements} - {None}
    expected_rejected = sum(stored_id(e) is None for e in page_elements)
    with tempfile.TemporaryDirectory() as folder:
        page_file = Path(folder) / "0000001.json"
        page_file.write_bytes(storable)
        db_path = Path(folder) / "hub.duckdb"
        with store.write(db_path) as connection:
            snapshot_id = begin_test_snapshot(connection)
            result = store.merge_pages(
                connection,
                snapshot_id=snapshot_id,
                page_files=[page_file],
                full=True,
                finished_at=datetime.now(UTC),
                pages=1,
                requests=1,
            )
        with duckdb.connect(str(db_path), read_only=True) as connection:
            rejected = connection.execute("SELECT rejected FROM snapshots").fetchone()[0]
            columns = ", ".join(TYPED_COLUMNS)
            rows = connection.execute(f"SELECT object_id, {columns} FROM models").fetchall()
    assert sorted(row[0] for row in rows) == sorted(expected_ids)
    assert rejected == expected_rejected == result.rejected
    assert result.models_seen == len(page_elements)

    # Elements whose _id occurs once on the page: what each typed field holds.
    stored = {row[0]: dict(zip(TYPED_COLUMNS, row[1:], strict=True)) for row in rows}
    ids = [stored_id(e) for e in page_elements]
    for element in page_elements:
        object_id = stored_id(element)
        if object_id is None or ids.count(object_id) > 1:
            continue
        row = stored[object_id]
        row["raw"] = _storable(json.loads(row["raw"]))
        assert row == expected_fields(element), object_id


@SETTINGS
@given(hostile=st.lists(elements(), min_size=1, max_size=6))
def test_every_element_loads_or_is_counted_as_rejected(hostile: list) -> None:
    normal = list(synthetic_models(4, seed=52))
    assert_page_loads(normal[:2] + hostile + normal[2:])


# Values of the wrong type, or nearly the right one, that random JSON rarely draws.
WRONGLY_TYPED = {
    "downloads": ["12", 1.5, 1.0, True, -5, 2**63 - 1, 2**63, 2**64 + 1, None, [3]],
    "likes": ["3", False, 2.5],
    "downloadsAllTime": ["7", 7.0],
    "trendingScore": [1.5, "3", True, 2**70, None],
    "tags": [
        ["pytorch", 5, None, "tf", ["jax"], {"t": "x"}, True, ""],
        "pytorch",
        {"pytorch": True},
        [],
    ],
    "siblings": [
        [{"rfilename": 5}, "pytorch_model.bin", {"rfilename": "tf_model.h5"}, {"size": 1}, [1]],
        "pytorch_model.bin",
        [{"rfilename": None}],
    ],
    "gated": [True, False, "auto", "manual", 1, None, ["manual"]],
    "private": ["true", 1, None, False],
    "disabled": ["false", 0, True],
    "library_name": [5, "", None, ["transformers"], True],
    "pipeline_tag": [{"task": "x"}, 3],
    "id": [5, ["org/model"]],
    "modelId": [None, 1],
    "author": [False],
    "sha": [12345],
}


@pytest.mark.parametrize("field", sorted(WRONGLY_TYPED))
def test_wrongly_typed_fields_become_null_and_lists_keep_their_good_items(field: str) -> None:
    page_elements = []
    for index, value in enumerate(WRONGLY_TYPED[field]):
        element = synthetic_model(index, seed=55)
        element[field] = value
        page_elements.append(element)
    assert_page_loads(page_elements)


def test_an_element_with_model_id_but_no_id_is_stored_under_that_name(tmp_path: Path) -> None:
    legacy, renamed = synthetic_model(0, seed=56), synthetic_model(1, seed=56)
    del legacy["id"]
    legacy["modelId"] = "legacy-name"
    renamed["id"], renamed["modelId"] = "org/new-name", "org/old-name"  # `id` wins
    db_path = tmp_path / "hub.duckdb"
    with FakeHub([legacy, renamed]) as hub:
        crawl.refresh(db_path, client=HubClient(endpoint=hub.url), full=True)
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute("SELECT object_id, id, model_id FROM models").fetchall()
    assert sorted(rows) == sorted(
        [
            (legacy["_id"], "legacy-name", "legacy-name"),
            (renamed["_id"], "org/new-name", "org/old-name"),
        ]
    )


@st.composite
def listed_models(draw: st.DrawFn) -> list[dict]:
    """Models with hostile fields but a unique string ``_id``, so the test Hub can serve them."""
    models = []
    for index in range(draw(st.integers(1, 8))):
        element = draw(elements())
        if not isinstance(element, dict):
            element = {"unknown": element}
        element["_id"] = f"{0x65000000 + index:08x}{'f' * 16}"
        models.append(element)
    return models


@SETTINGS
@given(hostile=listed_models())
def test_hostile_models_never_stop_a_crawl(hostile: list[dict]) -> None:
    models = list(synthetic_models(30, seed=53)) + hostile
    with tempfile.TemporaryDirectory() as folder, FakeHub(models) as hub:
        db_path = Path(folder) / "hub.duckdb"
        client = HubClient(hub.url, backoff_base=0.001, timeout=5)
        crawl.refresh(db_path, client=client, page_size=7)
        with duckdb.connect(str(db_path), read_only=True) as connection:
            object_ids = [
                r[0] for r in connection.execute("SELECT object_id FROM models").fetchall()
            ]
    assert sorted(object_ids) == sorted(model["_id"] for model in models)


def test_a_model_dated_in_the_far_future_does_not_freeze_incremental_refreshes(
    tmp_path: Path,
) -> None:
    """A bogus ``lastModified`` sorts first for ever; it must not become the high-water mark
    that makes every later incremental refresh stop after its first page."""
    models = list(synthetic_models(100, seed=54))
    models[0] = {**models[0], "lastModified": "9999-12-31T00:00:00.000Z"}
    db_path = tmp_path / "hub.duckdb"
    with FakeHub(models) as hub:
        client = HubClient(hub.url, backoff_base=0.001, timeout=5)
        crawl.refresh(db_path, client=client, page_size=10)
        # New commits to 30 models: three pages' worth of changes since the last refresh.
        now = datetime.now(UTC)
        changed = {
            m["_id"]: touch(m, now - timedelta(seconds=i)) for i, m in enumerate(models[1:31])
        }
        for model in changed.values():
            hub.upsert(model)
        result = crawl.refresh(db_path, client=client, page_size=10)
        assert result.mode == "incremental"
    with duckdb.connect(str(db_path), read_only=True) as connection:
        stored = dict(connection.execute("SELECT object_id, sha FROM models").fetchall())
    assert {object_id: stored[object_id] for object_id in changed} == {
        object_id: model["sha"] for object_id, model in changed.items()
    }
