"""Schema migrations (issue 9): every earlier released schema upgrades in place, losing nothing.

Schema 2 is schema 3 with each version's ``content_hash`` taken over its raw element's text
rather than over the columns hfstats reads. Schema 1 is schema 2 without the stored
classification (``model_versions.file_frameworks`` and ``formats``) and without
``hfstats_meta.rules_version``. The tests make such databases by taking these away from a real
crawl's, then let hfstats upgrade them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hfstats import crawl, store
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models

MODELS = list(synthetic_models(400, seed=17))


def hfstats(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hfstats.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_TOKEN": ""},
        timeout=120,
    )


def downgrade_to_schema_2(db_path: Path) -> None:
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("UPDATE model_versions SET content_hash = hash(raw)")
        connection.execute("UPDATE hfstats_meta SET value = '2' WHERE key = 'schema_version'")


def downgrade_to_schema_1(db_path: Path) -> None:
    downgrade_to_schema_2(db_path)
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("DROP VIEW models")
        connection.execute("DROP MACRO TABLE models_at")
        connection.execute("ALTER TABLE model_versions DROP COLUMN file_frameworks")
        connection.execute("ALTER TABLE model_versions DROP COLUMN formats")
        connection.execute("DELETE FROM hfstats_meta WHERE key = 'rules_version'")
        connection.execute("UPDATE hfstats_meta SET value = '1' WHERE key = 'schema_version'")


@pytest.fixture
def schema_1_database(tmp_path: Path) -> tuple[Path, dict[tuple[str, str], list]]:
    db_path = tmp_path / "v1.duckdb"
    with FakeHub(MODELS) as hub:
        crawl.refresh(db_path, client=HubClient(hub.url, None, backoff_base=0.01), page_size=100)
    answers = {
        (name, method): json.loads(
            hfstats(
                "query", name, "--db", str(db_path), "--method", method, "--format", "json"
            ).stdout
        )
        for name, method in (
            ("exclusivity", "files"),
            ("exclusivity", "tags"),
            ("yearly_additions", "files"),
        )
    }
    downgrade_to_schema_1(db_path)
    return db_path, answers


def test_reading_a_schema_1_database_asks_for_a_refresh_and_changes_nothing(schema_1_database):
    db_path, _ = schema_1_database
    before = db_path.read_bytes()
    result = hfstats("query", "exclusivity", "--db", str(db_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "schema version 1" in result.stderr
    assert "run `hfstats upgrade`" in result.stderr
    assert db_path.read_bytes() == before


def test_upgrade_command_upgrades_schema_1_and_every_answer_stays_the_same(schema_1_database):
    db_path, answers = schema_1_database
    result = hfstats("upgrade", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"upgraded {db_path} from schema version 1 to 3\n"
    for (name, method), expected in answers.items():
        result = hfstats(
            "query", name, "--db", str(db_path), "--method", method, "--format", "json"
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == expected
    again = hfstats("upgrade", "--db", str(db_path))
    assert again.stdout == f"{db_path} already has schema version 3\n"


def test_a_writer_upgrades_schema_1_and_every_answer_stays_the_same(schema_1_database):
    db_path, answers = schema_1_database
    with store.write(db_path) as connection:
        version = connection.execute(
            "SELECT value FROM hfstats_meta WHERE key = 'schema_version'"
        ).fetchall()[0][0]
        unfilled = connection.execute(
            "SELECT count(*) FROM model_versions "
            "WHERE file_frameworks IS DISTINCT FROM file_frameworks(files, library_name) "
            "OR formats IS DISTINCT FROM deployment_formats(tags, files, library_name)"
        ).fetchall()[0][0]
        versions = connection.execute("SELECT count(*) FROM model_versions").fetchall()[0][0]
    assert version == str(store.SCHEMA_VERSION) == "3"
    assert unfilled == 0 and versions == len(MODELS)
    for (name, method), expected in answers.items():
        result = hfstats(
            "query", name, "--db", str(db_path), "--method", method, "--format", "json"
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == expected


@pytest.mark.parametrize("downgrade", [downgrade_to_schema_1, downgrade_to_schema_2])
def test_a_refresh_upgrades_an_earlier_schema_and_finds_no_model_changed(tmp_path, downgrade):
    # Schemas 1 and 2 hashed each version's raw text; were the stored hashes not taken again over
    # the columns, every model would look changed and be stored a second time.
    db_path = tmp_path / "old.duckdb"
    with FakeHub(MODELS) as hub:
        crawl.refresh(db_path, client=HubClient(hub.url, None, backoff_base=0.01), page_size=100)
        downgrade(db_path)
        result = hfstats("refresh", "--db", str(db_path), "--endpoint", hub.url, "--full", "-q")
    assert result.returncode == 0, result.stderr
    with store.read(db_path) as connection:
        rows = connection.execute(
            "SELECT snapshot_id, complete, added, changed, deleted FROM snapshots ORDER BY 1"
        ).fetchall()
        models = connection.execute("SELECT count(*) FROM models").fetchall()[0][0]
        versions = connection.execute("SELECT count(*) FROM model_versions").fetchall()[0][0]
    assert rows == [(1, True, len(MODELS), 0, 0), (2, True, 0, 0, 0)]
    assert models == versions == len(MODELS)


def test_an_upgrade_that_fails_halfway_changes_nothing(schema_1_database, monkeypatch):
    db_path, _ = schema_1_database

    def stopped_halfway(connection: duckdb.DuckDBPyConnection) -> None:
        raise RuntimeError("stopped halfway")

    with monkeypatch.context() as patched:
        patched.setattr(store, "_refresh_stored_classification", stopped_halfway)
        with pytest.raises(RuntimeError, match="stopped halfway"):
            store.upgrade(db_path)
    with duckdb.connect(str(db_path), read_only=True) as connection:
        columns = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'model_versions'"
            ).fetchall()
        }
        version = connection.execute(
            "SELECT value FROM hfstats_meta WHERE key = 'schema_version'"
        ).fetchall()
    assert not {"file_frameworks", "formats"} & columns and version == [("1",)]
    assert store.upgrade(db_path) == 1  # and the next upgrade works
