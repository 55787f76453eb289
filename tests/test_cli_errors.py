"""Bad input everywhere a user types: one line on stderr, a non-zero exit, no traceback.

Every case runs the real command in a subprocess (``python -m hfstats.cli``), as cron would.
Database files hfstats cannot use must be left exactly as they were.
"""

from __future__ import annotations

import errno
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import click
import duckdb
import pytest
from conftest import held_open
from test_claims import VALID_CLAIM

from hfstats import __version__ as hfstats_version
from hfstats import cli, crawl, store
from hfstats.errors import DatabaseError
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models

MODELS = list(synthetic_models(40, seed=61))


def hfstats(
    tmp_path: Path,
    *args: str,
    token: str | None = None,
    hfstats_db: str | None = None,
    cwd: Path | None = None,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "NO_COLOR": "1"}
    for name in ("HF_TOKEN", "HFSTATS_DB", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        env.pop(name, None)
    env.update(env_extra or {})
    if token is not None:
        env["HF_TOKEN"] = token
    if hfstats_db is not None:
        env["HFSTATS_DB"] = hfstats_db
    return subprocess.run(
        [sys.executable, "-m", "hfstats.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, exit_code: int | None = None):
    assert result.returncode != 0
    if exit_code is not None:
        assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hfstats: error: ")


@pytest.fixture(scope="module")
def hfstats_db(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real, complete hfstats database."""
    db_path = tmp_path_factory.mktemp("db") / "hub.duckdb"
    with FakeHub(MODELS) as hub:
        crawl.refresh(db_path, client=HubClient(hub.url, backoff_base=0.01), page_size=15)
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("CHECKPOINT")
    return db_path.read_bytes()


# -- commands and options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["refresh", "--no-such-option"],
        ["refresh", "--page-size", "zero"],
        ["refresh", "--page-size", "0"],
        ["snapshots", "prune"],  # --keep is required
        ["snapshots", "prune", "--keep", "-1"],
        ["snapshots", "--format", "xml"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_command_line_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    result = hfstats(tmp_path, *args, "--db", str(tmp_path / "hub.duckdb"))
    assert_one_line_error(result, exit_code=2)
    assert not (tmp_path / "hub.duckdb").exists()


@pytest.mark.parametrize(
    "command",
    [["query", "exclusivity"], ["refresh", "--endpoint", "http://127.0.0.1:1"], ["snapshots"]],
    ids=lambda args: args[0],
)
def test_an_empty_db_path_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    result = hfstats(tmp_path, *command, "--db", "")
    assert_one_line_error(result, exit_code=2)
    assert "--db" in result.stderr


def test_missing_database(tmp_path: Path) -> None:
    result = hfstats(tmp_path, "snapshots", "--db", str(tmp_path / "missing.duckdb"))
    assert_one_line_error(result, exit_code=1)
    assert "refresh" in result.stderr  # says what to do
    assert not (tmp_path / "missing.duckdb").exists()
    # There is nothing to bring up to date: a refresh is not the answer there.
    upgrade = hfstats(tmp_path, "upgrade", "--db", str(tmp_path / "missing.duckdb"))
    assert_one_line_error(upgrade, exit_code=1)
    assert "no database at" in upgrade.stderr and "nothing to upgrade" in upgrade.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- database files hfstats cannot use ---------------------------------------------------------


def unusable_files(hfstats_db: bytes) -> dict[str, bytes]:
    return {
        "text": b"id,downloads\ngpt2,1000\n",
        "empty-looking": b"\0" * 4096,
        "truncated": hfstats_db[: len(hfstats_db) // 3],
        # Whole header, data cut: it opens, then fails at the first read.
        "cut-after-the-header": hfstats_db[:300_000],
        # Header and catalog whole, half the data gone: it opens and reads its catalog, and a
        # writer wrote into it.
        "cut-in-half": hfstats_db[: len(hfstats_db) // 2],
    }


@pytest.mark.parametrize("name", ["models.json", "models.csv", "models.parquet"])
def test_a_data_file_given_as_the_database_is_refused_not_written_in_memory(
    tmp_path: Path, name: str
) -> None:
    # DuckDB opens such a file as an in-memory database with the file as a view: a refresh into
    # it would report a snapshot and keep nothing.
    data_file = tmp_path / name
    with duckdb.connect() as connection:
        kind = {"json": "JSON", "csv": "CSV", "parquet": "PARQUET"}[name.split(".")[1]]
        connection.execute(f"COPY (SELECT 1 AS a) TO '{data_file}' (FORMAT {kind})")
    original = data_file.read_bytes()
    with FakeHub(MODELS) as hub:
        for args in (["query", "exclusivity"], ["refresh", "--endpoint", hub.url], ["upgrade"]):
            result = hfstats(tmp_path, *args, "--db", str(data_file))
            assert_one_line_error(result, exit_code=1)
            assert "not a DuckDB database file" in result.stderr
        with pytest.raises(DatabaseError, match="not a DuckDB database file"):
            with store.write(data_file):
                pass
    assert data_file.read_bytes() == original


def test_a_database_cut_at_any_block_is_refused_or_reads_whole(
    tmp_path: Path, hfstats_db: bytes
) -> None:
    # DuckDB's file: three 4 KiB headers, then blocks of 256 KiB. Cut after any block, the file
    # must be refused when opened or read whole: never open, then fail at a read (or be written
    # into). The cut that loses only the last block is the one an off-by-one would let through.
    block = 256 * 1024
    headers = 3 * 4096
    blocks = (len(hfstats_db) - headers) // block
    assert blocks >= 2
    refused = 0
    for kept in range(blocks - 1, 0, -1):
        db_path = tmp_path / f"cut-{kept}.duckdb"
        db_path.write_bytes(hfstats_db[: headers + kept * block])
        try:
            with store.read(db_path) as connection:
                tables = connection.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
                ).fetchall()
                for (table,) in tables:
                    connection.execute(f'SELECT * FROM "{table}"').fetchall()
        except DatabaseError:
            refused += 1
    assert refused >= 1  # the file's last block holds table data: losing it is refused


@pytest.mark.parametrize(
    "kind",
    ["text", "empty-looking", "truncated", "cut-after-the-header", "cut-in-half", "newer-schema"],
)
@pytest.mark.parametrize("command", ["snapshots", "refresh", "upgrade", "prune"])
def test_unusable_database_is_an_error_and_left_untouched(
    tmp_path: Path, hfstats_db: bytes, kind: str, command: str
) -> None:
    db_path = tmp_path / "hub.duckdb"
    if kind == "newer-schema":
        db_path.write_bytes(hfstats_db)
        with duckdb.connect(str(db_path)) as connection:
            connection.execute("UPDATE hfstats_meta SET value = '999' WHERE key = 'schema_version'")
            connection.execute("CHECKPOINT")
    else:
        db_path.write_bytes(unusable_files(hfstats_db)[kind])
    original = db_path.read_bytes()
    with FakeHub(MODELS) as hub:
        args = ["--db", str(db_path)]
        if command == "refresh":
            args += ["--endpoint", hub.url, "--quiet"]
        if command == "prune":
            command, args = "snapshots", ["prune", "--keep", "1", *args]
        result = hfstats(tmp_path, command, *args)
    assert_one_line_error(result)
    assert "unexpected error" not in result.stderr
    if kind == "newer-schema":
        assert "newer hfstats" in result.stderr
    if kind == "cut-in-half":
        assert "the file is cut short" in result.stderr
    assert db_path.read_bytes() == original
    assert not (tmp_path / "hub.duckdb.wal").exists()
    assert not (tmp_path / "hub.duckdb.lock").exists()  # nothing made beside it
    assert not (tmp_path / "hub.duckdb.crawl").exists()


# -- the endpoint and the token ----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["notaurl", "ftp://example.org", "http://"])
def test_endpoint_that_is_not_an_http_url(tmp_path: Path, endpoint: str) -> None:
    result = hfstats(
        tmp_path, "refresh", "--db", str(tmp_path / "hub.duckdb"), "--endpoint", endpoint
    )
    assert_one_line_error(result)
    assert "--endpoint" in result.stderr
    assert result.returncode == 2  # the user's input, not the Hub, is wrong


def test_a_bad_hf_endpoint_is_named_as_where_the_endpoint_came_from(tmp_path: Path) -> None:
    db = tmp_path / "hub.duckdb"
    result = hfstats(tmp_path, "refresh", "--db", str(db), env_extra={"HF_ENDPOINT": "garbage"})
    assert_one_line_error(result, exit_code=2)
    assert "'garbage'" in result.stderr and "came from HF_ENDPOINT" in result.stderr
    assert not db.exists()


def test_endpoint_answering_404(tmp_path: Path) -> None:
    with FakeHub(MODELS) as hub:
        result = hfstats(
            tmp_path, "refresh", "--db", str(tmp_path / "hub.duckdb"), "--endpoint", f"{hub.url}/x"
        )
    assert_one_line_error(result)
    assert "404" in result.stderr


def test_endpoint_answering_html(tmp_path: Path) -> None:
    with FakeHub(MODELS, faults=lambda number, path: "html-200") as hub:
        result = hfstats(
            tmp_path,
            "refresh",
            "--db",
            str(tmp_path / "hub.duckdb"),
            "--endpoint",
            hub.url,
            "--max-retries",
            "1",
            "--quiet",
        )
    assert_one_line_error(result)
    assert "HTML" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "not a size"),
        ("1KB", "too small"),
        ("100MB", "too small"),
        ("9999999999999999999999GB", "value is too large"),  # DuckDB's words
    ],
)
def test_a_bad_memory_limit_is_refused_before_the_crawl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    # Found only at the merge, a typo here would have cost the whole crawl.
    monkeypatch.setenv("HFSTATS_MEMORY_LIMIT", value)
    db = tmp_path / "hub.duckdb"
    with FakeHub(MODELS) as hub:
        result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url, "--quiet")
        assert hub.stats.listing_requests == 0
    assert_one_line_error(result, exit_code=2)
    assert "HFSTATS_MEMORY_LIMIT" in result.stderr and message in result.stderr
    assert not db.exists()


def test_endpoint_that_refuses_the_connection(tmp_path: Path) -> None:
    with FakeHub(MODELS) as hub:
        closed_port_url = hub.url  # nothing listens there once the hub has stopped
    result = hfstats(
        tmp_path,
        "refresh",
        "--db",
        str(tmp_path / "hub.duckdb"),
        "--endpoint",
        closed_port_url,
        "--max-retries",
        "0",
        "--quiet",
    )
    assert_one_line_error(result)
    assert f"connection to {urlsplit(closed_port_url).netloc} failed" in result.stderr
    # Nothing answered: a Hub down, or a mistyped endpoint.
    assert "is not the Hub, check --endpoint or HF_ENDPOINT" in result.stderr
    # A first refresh that read nothing leaves nothing but its lock (which may be held again).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("hub.")) == [
        "hub.duckdb.lock"
    ]


@pytest.mark.parametrize("command", ["refresh", "record"])
def test_max_retries_bounds_the_retries_of_refresh_and_record(tmp_path: Path, command: str) -> None:
    # Against a Hub that does not answer, the default 8 retries back off for minutes.
    with FakeHub(MODELS) as hub:
        closed_port_url = hub.url
    target = (
        ["--db", str(tmp_path / "hub.duckdb")]
        if command == "refresh"
        else [str(tmp_path / "x.yaml")]
    )
    result = hfstats(
        tmp_path,
        command,
        *target,
        "--endpoint",
        closed_port_url,
        "--max-retries",
        "1",
        "--timeout",
        "0.5",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    *retries, error = result.stderr.splitlines()
    assert [line.split(" in ")[0] for line in retries] == ["retry 1/1"]
    assert error.startswith("hfstats: error: giving up") and "after 1 retries" in error


def test_invalid_token(tmp_path: Path) -> None:
    with FakeHub(MODELS, token="hf_the_right_one") as hub:
        result = hfstats(
            tmp_path,
            "refresh",
            "--db",
            str(tmp_path / "hub.duckdb"),
            "--endpoint",
            hub.url,
            token="hf_a_wrong_one",
        )
    assert_one_line_error(result, exit_code=1)
    assert "401" in result.stderr and "HF_TOKEN" in result.stderr


def test_hf_hub_disable_implicit_token_keeps_the_token_at_home(tmp_path: Path) -> None:
    # huggingface_hub's convention: with it set, HF_TOKEN is not sent unless asked for.
    with FakeHub(MODELS, token="hf_the_right_one") as hub:
        args = ("refresh", "--db", str(tmp_path / "hub.duckdb"), "--endpoint", hub.url)
        refused = hfstats(
            tmp_path,
            *args,
            token="hf_the_right_one",
            env_extra={"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"},
        )
        sent = hfstats(tmp_path, *args, token="hf_the_right_one")
    assert_one_line_error(refused, exit_code=1)
    assert "401" in refused.stderr
    assert sent.returncode == 0, sent.stderr


def test_hf_hub_offline_refuses_to_crawl_before_any_request_or_file(tmp_path: Path) -> None:
    db = tmp_path / "hub.duckdb"
    offline = {"HF_HUB_OFFLINE": "1"}
    with FakeHub(MODELS) as hub:
        result = hfstats(
            tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url, env_extra=offline
        )
        recorded = hfstats(
            tmp_path, "record", str(tmp_path / "rec.yaml"), "--endpoint", hub.url, env_extra=offline
        )
    assert hub.stats.requests == 0
    for refused in (result, recorded):
        assert_one_line_error(refused, exit_code=2)
        assert "HF_HUB_OFFLINE" in refused.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name != "hf-home"]


def test_hf_hub_offline_refuses_a_refresh_from_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    from hfstats.errors import UsageError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE"):
        crawl.refresh(tmp_path / "hub.duckdb", endpoint="http://127.0.0.1:9")
    assert list(tmp_path.iterdir()) == []


def test_hf_hub_offline_refuses_a_client_made_in_python_but_not_a_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README's From Python section makes its own HubClient for the timeout and retries.
    from huggingface_hub import constants

    from hfstats.errors import UsageError
    from hfstats.hub import HubClient

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE"):
        HubClient("http://127.0.0.1:9", timeout=5)
    assert HubClient("http://127.0.0.1:9", False, replay=True).endpoint == "http://127.0.0.1:9"


def test_the_demo_runs_with_hf_hub_offline_set(tmp_path: Path) -> None:
    # The demo replays a recording: an offline machine is where it is most wanted.
    result = hfstats(tmp_path, "demo", cwd=tmp_path, env_extra={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "hfstats-demo.duckdb").exists()


# -- --debug -------------------------------------------------------------------------------------

BROKEN_SNAPSHOTS = """
import sys
from hfstats import store
from hfstats.cli import main

def broken(connection):
    raise ZeroDivisionError("a bug in hfstats\\non two lines, as DuckDB's messages are")

store.list_snapshots = broken
sys.argv = ["hfstats", *sys.argv[1:]]
main()
"""


DUCKDB_DISK_FULL = """
import sys
import duckdb
from hfstats import store
from hfstats.cli import main

def full(connection):
    raise duckdb.IOException('IO Error: Could not write file "x.wal": No space left on device')

store.list_snapshots = full
sys.argv = ["hfstats", *sys.argv[1:]]
main()
"""


def test_a_full_disk_under_duckdb_says_to_free_space(tmp_path: Path, hfstats_db: bytes) -> None:
    db_path = tmp_path / "hub.duckdb"
    db_path.write_bytes(hfstats_db)
    result = subprocess.run(
        [sys.executable, "-c", DUCKDB_DISK_FULL, "snapshots", "--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_error(result, exit_code=1)
    assert "No space left on device: free some space and run it again" in result.stderr
    assert "unexpected error" not in result.stderr


def test_debug_shows_no_traceback_for_an_error_hfstats_explains(tmp_path: Path) -> None:
    # --debug is for bugs: a missing database is the user's to fix, in one line.
    missing = tmp_path / "missing.duckdb"
    result = hfstats(tmp_path, "--debug", "query", "exclusivity", "--db", str(missing))
    assert_one_line_error(result, exit_code=1)
    assert "no database at" in result.stderr


@pytest.mark.parametrize("debug", [False, True])
def test_internal_error_is_one_line_unless_debug(
    tmp_path: Path, hfstats_db: bytes, debug: bool
) -> None:
    db_path = tmp_path / "hub.duckdb"
    db_path.write_bytes(hfstats_db)
    args = [*(["--debug"] if debug else []), "snapshots", "--db", str(db_path)]
    result = subprocess.run(
        [sys.executable, "-c", BROKEN_SNAPSHOTS, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    if debug:
        assert "Traceback" in result.stderr and "a bug in hfstats" in result.stderr
    else:
        assert_one_line_error(result, exit_code=1)
        assert "a bug in hfstats" in result.stderr and "--debug" in result.stderr


@pytest.mark.parametrize("cut_tail", [False, True])
@pytest.mark.parametrize("damage", ["garbage", "empty", "missing", "a folder"])
def test_a_damaged_saved_page_says_how_to_start_over_and_keeps_the_pages(
    tmp_path: Path, damage: str, cut_tail: bool
) -> None:
    # After a full snapshot, so that an emptied page would have marked its models deleted;
    # with the oldest models gone, the check for a listing cut short reads the pages first.
    db = tmp_path / "hub.duckdb"
    pages = tmp_path / "hub.duckdb.crawl" / "pages"
    with FakeHub(MODELS) as hub:
        refresh = ["refresh", "--db", str(db), "--endpoint", hub.url, "--page-size", "10"]
        assert hfstats(tmp_path, *refresh).returncode == 0
        if cut_tail:
            oldest = sorted(MODELS, key=lambda m: m["lastModified"])[:15]
            for model in oldest:
                hub.delete(model["_id"])
        paused = hfstats(tmp_path, *refresh, "--full", "--max-pages", "2")
        assert paused.returncode == 0, paused.stderr
        saved = sorted(pages.iterdir())
        if damage == "garbage":
            saved[0].write_text("garbage")
        elif damage == "empty":
            saved[0].write_text("")
        else:
            saved[0].unlink()
            if damage == "a folder":
                saved[0].mkdir()
        result = hfstats(tmp_path, *refresh, "--full", "--quiet")
    assert_one_line_error(result, exit_code=1)
    assert f"delete {tmp_path / 'hub.duckdb.crawl'} to start the crawl over" in result.stderr
    assert set(saved[1:]) <= set(pages.iterdir())  # nothing dropped: the user decides
    with duckdb.connect(str(db), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM models").fetchone() == (len(MODELS),)


@pytest.mark.parametrize(
    "problem",
    [errno.EACCES, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EIO],
    ids=errno.errorcode.get,
)
def test_a_path_that_cannot_be_used_is_bad_input_and_a_failing_device_an_error(
    problem: int,
) -> None:
    # A read-only folder for --db (a path error DuckDB or hfstats meets while writing) is bad
    # input, as it is for --out; an I/O error is not the user's. (Root ignores permissions,
    # so the error is made here rather than by a folder.)
    ctx = click.Context(cli.cli, obj={})
    with pytest.raises(SystemExit) as stopped:
        cli._fail_on(ctx, OSError(problem, os.strerror(problem), "/somewhere/hub.duckdb.lock"))
    assert stopped.value.code == (1 if problem == errno.EIO else 2)


def test_a_database_damaged_inside_is_said_to_be_damaged(tmp_path: Path, hfstats_db: bytes) -> None:
    # Damage in the blocks of a table (not in those DuckDB reads to open the file) shows only
    # when a query reads them: it must not be called a bug in hfstats.
    db = tmp_path / "hub.duckdb"
    for start in range(len(hfstats_db) // 10, len(hfstats_db), len(hfstats_db) // 10):
        damaged = bytearray(hfstats_db)
        damaged[start : start + len(hfstats_db) // 5] = b"\xaa" * (len(hfstats_db) // 5)
        db.write_bytes(bytes(damaged))
        try:
            connection = duckdb.connect(str(db), read_only=True)
        except duckdb.Error:
            continue  # damage where DuckDB looks when it opens the file: tested elsewhere
        try:
            connection.execute("SELECT sum(length(raw)) FROM model_versions").fetchall()
        except duckdb.Error as exc:
            if "Corrupt database file" in str(exc):
                break
        finally:
            connection.close()
    else:
        pytest.fail("no damage found that opens and then fails a scan")
    result = hfstats(tmp_path, "sql", "SELECT sum(length(raw)) FROM models", "--db", str(db))
    assert_one_line_error(result, exit_code=1)
    assert "the database file is damaged" in result.stderr
    assert "unexpected error" not in result.stderr
    # SQL that only quotes DuckDB's words is bad SQL, not a damaged database.
    db.write_bytes(hfstats_db)
    quoted = hfstats(tmp_path, "sql", "SELECT nosuchfn('Corrupt database file')", "--db", str(db))
    assert_one_line_error(quoted, exit_code=2)
    assert "damaged" not in quoted.stderr


def test_a_full_disk_is_not_called_a_wrong_path(tmp_path: Path, hfstats_db: bytes) -> None:
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "hfstats.cli", "query", "exclusivity", "--db", str(db)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert_one_line_error(result, exit_code=1)
    assert "No space left on device" in result.stderr and "free some space" in result.stderr
    assert "check the paths" not in result.stderr


# -- two refreshes at once ------------------------------------------------------------------------


def test_second_refresh_exits_75_at_once(tmp_path: Path) -> None:
    db_path = tmp_path / "hub.duckdb"
    staging_state = tmp_path / "hub.duckdb.crawl" / "state.json"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home")}
    env.pop("HF_TOKEN", None)
    # The first refresh is held at its first page until the second refresh has run: a busy
    # machine can take longer to start a command than any fixed latency makes a crawl last.
    gate = threading.Event()

    def hold_every_page(number: int, path: str) -> None:
        gate.wait(300)

    with FakeHub(MODELS, faults=hold_every_page) as hub:
        slow = subprocess.Popen(
            [sys.executable, "-m", "hfstats.cli", "refresh", "--db", str(db_path)]
            + ["--endpoint", hub.url, "--page-size", "2", "--timeout", "600", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not staging_state.exists():  # the lock is held before the staging starts
                assert slow.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            second = hfstats(tmp_path, "refresh", "--db", str(db_path), "--endpoint", hub.url)
            assert slow.poll() is None, "the slow refresh ended before the second one ran"
        finally:
            gate.set()
            slow.send_signal(signal.SIGKILL)
            slow.wait()
    assert_one_line_error(second, exit_code=75)
    assert "another refresh" in second.stderr


# -- input to the analytics commands -----------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, hfstats_db: bytes) -> Path:
    db_path = tmp_path / "hub.duckdb"
    db_path.write_bytes(hfstats_db)
    return db_path


@pytest.mark.parametrize(
    "args",
    [
        ["query", "exclusivity", "--as-of", "2022-13-45"],
        ["query", "exclusivity", "--as-of", "yesterday"],
        ["query", "exclusivity", "--param", "no_equals_sign"],
        ["query", "exclusivity", "--param", "not_a_param=1"],
        ["query", "exclusivity", "--param", "snapshot_id=abc"],
        ["query", "exclusivity", "--method", "guess"],
        ["query", "no_such_query"],
        ["query", "exclusivity", "--snapshot", "99"],
        ["report", "--as-of", "31/12/2022"],
        ["check", "no-such-claim"],
        ["check", "--snapshot", "99"],
        ["sql", "SELEC oops"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_analytics_input_is_one_line(tmp_path: Path, database: Path, args: list[str]) -> None:
    result = hfstats(tmp_path, *args, "--db", str(database))
    assert_one_line_error(result)


@pytest.mark.parametrize("command", ["report", "export"])
def test_unwritable_output_folder(tmp_path: Path, database: Path, command: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() == 0:
            # root writes anywhere; a path under a regular file is unwritable for everyone
            target = tmp_path / "a-file"
            target.write_text("x")
            out = target / "out"
        else:
            out = locked / "out"
        args = [command, str(out)] if command == "export" else [command, "--out", str(out)]
        result = hfstats(tmp_path, *args, "--db", str(database))
        assert_one_line_error(result)
    finally:
        locked.chmod(0o700)


def test_export_never_replaces_a_folder_it_did_not_write(tmp_path: Path, database: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("my thesis")
    result = hfstats(tmp_path, "export", str(precious), "--db", str(database))
    assert_one_line_error(result, exit_code=2)
    assert (precious / "thesis.txt").read_text() == "my thesis"
    # Nor the folder holding the database, even when empty of anything else.
    result = hfstats(tmp_path, "export", str(tmp_path), "--db", str(database))
    assert_one_line_error(result, exit_code=2)
    assert database.exists()
    # An earlier export is replaced.
    out = tmp_path / "history"
    assert hfstats(tmp_path, "export", str(out), "--db", str(database)).returncode == 0
    assert hfstats(tmp_path, "export", str(out), "--db", str(database)).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".hfstats-export",
        "model_counters",
        "model_versions",
        "snapshots",
    ]


def test_an_output_folder_inside_an_export_or_report_is_refused(
    tmp_path: Path, database: Path
) -> None:
    # The next export or report of the outer folder would delete it with the rest.
    out = tmp_path / "history"
    assert hfstats(tmp_path, "export", str(out), "--db", str(database)).returncode == 0
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / ".hfstats-report").write_text("{}")
    for args in (
        ("export", str(out / "sub")),
        ("report", "--out", str(out / "model_versions" / "charts")),
        ("export", str(tmp_path / "report" / "history")),
    ):
        result = hfstats(tmp_path, *args, "--db", str(database))
        assert_one_line_error(result, exit_code=2)
        assert "replaces as a whole" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        ".hfstats-export",
        "model_counters",
        "model_versions",
        "snapshots",
    ]


def test_export_creates_missing_parent_folders_as_report_does(
    tmp_path: Path, database: Path
) -> None:
    result = hfstats(
        tmp_path, "export", str(tmp_path / "a" / "b" / "history"), "--db", str(database)
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "b" / "history" / ".hfstats-export").is_file()


def test_prune_reads_the_db_given_to_the_snapshots_group(tmp_path: Path, hfstats_db: bytes) -> None:
    chosen, other = tmp_path / "chosen.duckdb", tmp_path / "other.duckdb"
    chosen.write_bytes(hfstats_db)
    other.write_bytes(hfstats_db)
    env_db = {"HFSTATS_DB": str(other)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hfstats.cli",
            "snapshots",
            "--db",
            str(chosen),
            "prune",
            "--keep",
            "1",
        ],
        env={**os.environ, **env_db},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert other.read_bytes() == hfstats_db  # the other database is not touched


def test_prune_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.duckdb"
    result = hfstats(tmp_path, "snapshots", "prune", "--keep", "1", "--db", str(missing))
    assert_one_line_error(result, exit_code=1)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "hf-home") == []


def test_query_list_with_a_query_name_is_bad_input(tmp_path: Path, database: Path) -> None:
    result = hfstats(tmp_path, "query", "exclusivity", "--list", "--db", str(database))
    assert_one_line_error(result, exit_code=2)
    assert "hfstats query exclusivity` without it" in result.stderr


@pytest.mark.parametrize("sql", ["  ", " ; ;", "/* only a comment */", "-- only a comment"])
def test_empty_sql_is_bad_input(tmp_path: Path, database: Path, sql: str) -> None:
    result = hfstats(tmp_path, "sql", sql, "--db", str(database))
    assert_one_line_error(result, exit_code=2)
    assert "no SQL statement given" in result.stderr


def test_sql_may_begin_with_a_comment(tmp_path: Path, database: Path) -> None:
    # As a query kept in a file begins: the command line must not take it for an option.
    sql = "-- models in the latest snapshot\nSELECT count(*) AS n FROM models"
    result = hfstats(tmp_path, "sql", sql, "--db", str(database), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", str(len(MODELS))]


@pytest.mark.parametrize(
    ("sql", "fmt", "message"),
    [
        # DuckDB would run both and print only the second result.
        ("SELECT 1 AS a; SELECT 2 AS b", "table", "one statement at a time"),
        # A JSON object holds one value per name: the first column would vanish.
        ("SELECT 1 AS a, 2 AS a", "json", "'a' appears more than once"),
    ],
)
def test_sql_whose_results_a_format_would_lose_is_bad_input(
    tmp_path: Path, database: Path, sql: str, fmt: str, message: str
) -> None:
    result = hfstats(tmp_path, "sql", sql, "--db", str(database), "--format", fmt)
    assert_one_line_error(result, exit_code=2)
    assert message in result.stderr
    both = hfstats(
        tmp_path, "sql", "SELECT 1 AS a, 2 AS a", "--db", str(database), "--format", "csv"
    )
    assert both.returncode == 0 and both.stdout.splitlines() == ["a,a", "1,2"]


def test_log_file_records_the_failure_of_any_command(tmp_path: Path) -> None:
    log = tmp_path / "hfstats.log"
    missing = tmp_path / "missing.duckdb"
    result = hfstats(tmp_path, "--log-file", str(log), "query", "exclusivity", "--db", str(missing))
    assert_one_line_error(result, exit_code=1)
    logged = log.read_text().splitlines()
    assert len(logged) == 1 and " ERROR " in logged[0] and "no database at" in logged[0]
    # A log file that cannot be opened is bad input, before any command runs.
    for unusable in (tmp_path / "no" / "x.log", tmp_path):
        result = hfstats(tmp_path, "--log-file", str(unusable), "query", "--list")
        assert_one_line_error(result, exit_code=2)
        assert "log file" in result.stderr.replace("-", " ")
    # So are options the command cannot parse: the log gets them too.
    for args in (["query", "exclusivity", "--snapshot", "abc"], ["refresh", "--bogus"]):
        log.unlink()
        result = hfstats(tmp_path, "--log-file", str(log), *args)
        assert_one_line_error(result, exit_code=2)
        logged = log.read_text().splitlines()
        assert len(logged) == 1 and " ERROR " in logged[0] and "exit 2:" in logged[0]


@pytest.mark.parametrize(
    "args",
    [["report", "--format", "json", "--out"], ["export"], ["snapshots", "prune", "--keep", "1"]],
    ids=["report", "export", "prune"],
)
def test_quiet_commands_print_nothing_on_success(
    tmp_path: Path, database: Path, args: list[str]
) -> None:
    out = [str(tmp_path / "out")] if args[-1] in ("--out", "export") else []
    result = hfstats(tmp_path, *args, *out, "--quiet", "--db", str(database))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--format", "json", "--out"],
        ["export"],
        ["snapshots", "prune", "--keep", "1"],
        ["upgrade"],
    ],
    ids=["report", "export", "prune", "upgrade"],
)
def test_quiet_commands_print_nothing_while_they_wait_for_the_database(
    tmp_path: Path, database: Path, args: list[str]
) -> None:
    # Another program has the file open for a moment: the wait is news for the log, not cron.
    out = [str(tmp_path / "out")] if args[-1] in ("--out", "export") else []
    with held_open(database, seconds=1.5):
        result = hfstats(tmp_path, *args, *out, "--quiet", "--db", str(database))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


# A shell starts a background job (`pytest &`) with SIGINT ignored, and nohup ignores SIGHUP;
# hfstats rightly leaves an ignored signal ignored. So the commands these tests stop get the
# stop signals back first, in the child itself (preexec_fn is unsafe beside FakeHub's threads).
_STOP_SIGNALS_RESET = (
    "import os, signal, sys\n"
    "for stop in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):\n"
    "    signal.signal(stop, signal.SIG_DFL)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def _stoppable(*python_args: str) -> list[str]:
    """The command line ``python *python_args``, with the stop signals at their defaults."""
    return [sys.executable, "-c", _STOP_SIGNALS_RESET, *python_args]


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (Linux: its /proc/PID/fd links)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:  # a descriptor closed while listing
        return False


def test_ctrl_c_during_a_query_exits_130_in_one_line(tmp_path: Path, hfstats_db: bytes) -> None:
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home")}
    endless = "SELECT sum(i) FROM range(100000000000) t(i)"
    running = subprocess.Popen(
        _stoppable("-m", "hfstats.cli", "sql", "--db", str(db), endless),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Only the command opens the database, after the CLI's handler is installed; a Ctrl-C
        # before that (while Python imports, slow on a busy machine) is another test's case.
        deadline = time.monotonic() + 120
        while not _has_open(running.pid, db):
            assert running.poll() is None and time.monotonic() < deadline, "query did not start"
            time.sleep(0.05)
        time.sleep(0.5)  # summing by now (DuckDB turns Ctrl-C into RuntimeError there)
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=60)
    finally:  # never leave the endless query running on the machine
        if running.poll() is None:
            running.kill()
            running.communicate()
    result = subprocess.CompletedProcess(running.args, running.returncode, out, err)
    assert_one_line_error(result, 130)
    assert err.strip() == "hfstats: error: interrupted"


def test_a_ctrl_c_that_duckdb_swallows_still_ends_the_command(tmp_path: Path) -> None:
    # What DuckDB sometimes does: the KeyboardInterrupt is caught inside a statement and the
    # next, long one runs on. The CLI's handler ends the process after a grace period anyway.
    swallowing = (
        "import os, signal, time\n"
        "from hfstats import cli\n"
        "signal.signal(signal.SIGINT, cli._on_ctrl_c)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(1)\n"
        "except KeyboardInterrupt:\n"
        "    pass  # swallowed\n"
        "time.sleep(60)  # the long statement\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", swallowing], capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stderr) == (130, "hfstats: error: interrupted\n")


@pytest.mark.parametrize(
    ("command", "wrongly"),
    [
        (["snapshots"], "unexpected error"),  # listing the snapshots' times
        (["sql", "SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' AS t"], "SQL failed"),
    ],
)
def test_a_ctrl_c_that_duckdb_turns_into_another_error_is_still_an_interrupt(
    tmp_path: Path, hfstats_db: bytes, command: list[str], wrongly: str
) -> None:
    # Ctrl-C while DuckDB imports a module to convert a result (zoneinfo, for times): DuckDB
    # raises "Required module 'zoneinfo' failed to import" instead of KeyboardInterrupt. In a
    # merge that error read as a damaged page, and the advice was to delete the saved crawl.
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    done = _ctrl_c_while_importing(
        "zoneinfo",
        ctrl_c="cli._on_ctrl_c(signal.SIGINT, None)  # as the signal would",
        before="from hfstats import cli",
        run="sys.argv = ['hfstats', *sys.argv[1:]]; cli.main()",
        argv=[*command[:1], "--db", str(db), *command[1:]],
    )
    assert wrongly not in done.stderr
    assert (done.returncode, done.stderr) == (130, "hfstats: error: interrupted\n")


def test_a_ctrl_c_while_the_command_line_is_imported_is_one_line_not_a_traceback() -> None:
    # The console script's first tens of milliseconds import click and hfstats, before the
    # command line's own Ctrl-C handling exists.
    done = _ctrl_c_while_importing(
        "click", ctrl_c="raise KeyboardInterrupt", run="from hfstats import console; console.main()"
    )
    assert (done.returncode, done.stderr) == (130, "hfstats: error: interrupted\n")


@pytest.mark.parametrize(
    ("stop", "expected"),
    [("SIGINT", (130, "interrupted")), ("SIGTERM", (143, "stopped by SIGTERM"))],
)
def test_a_stop_while_click_parses_the_command_line_says_which_stop(
    stop: str, expected: tuple[int, str]
) -> None:
    # Click turns it into Abort before any command runs (after a blank line ending ^C).
    handler = "_on_ctrl_c" if stop == "SIGINT" else "_on_stop"
    stopped_in_parsing = (
        "import signal, sys\n"
        "from hfstats import cli\n"
        "def parse(*args, **kwargs):\n"
        f"    cli.{handler}(signal.{stop}, None)  # as the signal would\n"
        "cli.cli.make_context = parse\n"
        "sys.argv = ['hfstats', 'snapshots']\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", stopped_in_parsing], capture_output=True, text=True, timeout=60
    )
    code, what = expected
    assert (done.returncode, done.stderr) == (code, f"\nhfstats: error: {what}\n")


def _ctrl_c_while_importing(
    module: str, ctrl_c: str, run: str, before: str = "", argv: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    """Python ``before``, then ``run``, in a new interpreter in which importing ``module``
    (afresh) runs ``ctrl_c``: a Ctrl-C arriving just then."""
    code = (
        "import signal, sys\n"
        f"{before}\n"
        "class CtrlCDuringImport:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        f"            {ctrl_c}\n"
        f"sys.modules.pop({module!r}, None)\n"
        "sys.meta_path.insert(0, CtrlCDuringImport())\n"
        f"{run}\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60
    )


def test_the_console_script_runs_the_command_line() -> None:
    run = "import sys; sys.argv = ['hfstats', '--version']; from hfstats import console; console.main()"
    done = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"hfstats, version {hfstats_version}\n"


def test_the_console_script_is_the_one_that_catches_ctrl_c_in_imports() -> None:
    scripts = [
        entry
        for entry in importlib.metadata.entry_points(group="console_scripts")
        if entry.name == "hfstats"
    ]
    assert [entry.value for entry in scripts] == ["hfstats.console:main"]


@pytest.mark.parametrize(("inherited", "expected"), [("default", "_on_ctrl_c"), ("ignored", "1")])
def test_ctrl_c_handling_is_installed_only_where_ctrl_c_is_not_ignored(
    inherited: str, expected: str
) -> None:
    # A job a script starts in the background inherits SIGINT ignored; it must stay so. Both
    # cases are set here: the test run itself may have been started with SIGINT ignored.
    code = (
        "import signal\n"
        f"if {inherited!r} == 'ignored':\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "else:  # what Python sets up where SIGINT is not ignored\n"
        "    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from hfstats import cli\n"
        "def show(**kw):\n"
        "    handler = signal.getsignal(signal.SIGINT)\n"
        "    print(handler.__name__ if callable(handler) else int(handler))\n"
        "cli.cli = show\n"
        "cli.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == expected, done.stderr


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999", "not a valid URL"),
        ("http://127.0.0.1:abc", "not a valid URL"),
        ("https://", "not an http(s) URL"),
        ("https://user:secret@hub.test", "holds credentials"),
        ("https://secret@hub.test", "holds credentials"),  # a token as the user name
        ("http://:80", "not an http(s) URL"),  # a port, no host
        ("ftp://" + "x" * 5000, "not an http(s) URL"),  # a runaway value, shown cut
    ],
)
def test_a_bad_endpoint_is_a_usage_error_before_anything_is_written(
    tmp_path: Path, endpoint: str, says: str
) -> None:
    db = tmp_path / "hub.duckdb"
    result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", endpoint)
    assert_one_line_error(result, exit_code=2)
    assert says in result.stderr and "secret" not in result.stderr
    assert len(result.stderr) < 400
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "hf-home") == []


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_output_cut_off_by_its_reader_is_no_error(tmp_path: Path, database: Path, fmt: str) -> None:
    # `hfstats sql ... | head -1`: the reader leaves after one line.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home")}
    sql = "SELECT range AS n, repeat('x', 50) AS filler FROM range(200000)"
    command = [sys.executable, "-m", "hfstats.cli", "sql", sql, "--db", str(database)]
    writer = subprocess.Popen(
        [*command, "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    first = writer.stdout.readline()
    writer.stdout.close()
    _, stderr = writer.communicate(timeout=120)
    assert first.strip()
    assert (writer.returncode, stderr.decode()) == (0, "")


def test_an_error_repeating_a_runaway_argument_stays_short(tmp_path: Path) -> None:
    result = hfstats(tmp_path, "query", "x" * 20_000, "--db", str(tmp_path / "hub.duckdb"))
    assert_one_line_error(result, exit_code=2)
    assert len(result.stderr) < 600


def test_a_bad_hfstats_db_says_where_the_path_came_from(tmp_path: Path) -> None:
    result = hfstats(tmp_path, "snapshots", hfstats_db=str(tmp_path))
    assert_one_line_error(result, exit_code=2)
    assert "is a directory" in result.stderr and "$HFSTATS_DB" in result.stderr
    # A blank one names no file, and says where it came from too.
    result = hfstats(tmp_path, "snapshots", hfstats_db="  ")
    assert_one_line_error(result, exit_code=2)
    assert "empty path" in result.stderr and "$HFSTATS_DB" in result.stderr
    # A --db typed on the command line is not the variable's, though the variable is set.
    result = hfstats(tmp_path, "snapshots", "--db", str(tmp_path), hfstats_db="x.duckdb")
    assert_one_line_error(result, exit_code=2)
    assert "is a directory" in result.stderr and "HFSTATS_DB" not in result.stderr
    # `demo` has a --db of its own, which the variable does not set.
    (tmp_path / "hfstats-demo.duckdb").mkdir()
    result = hfstats(tmp_path, "demo", cwd=tmp_path, hfstats_db="x.duckdb")
    assert_one_line_error(result, exit_code=2)
    assert "is a directory" in result.stderr and "HFSTATS_DB" not in result.stderr
    # The built-in default is no environment variable: nothing to name.
    (tmp_path / "hfstats.duckdb").mkdir()
    result = hfstats(tmp_path, "snapshots", cwd=tmp_path)
    assert_one_line_error(result, exit_code=2)
    assert "is a directory" in result.stderr and "HFSTATS_DB" not in result.stderr


def test_an_empty_file_is_refused_before_a_lock_is_made(tmp_path: Path) -> None:
    # What `touch hub.duckdb` leaves: DuckDB opens no 0-byte file, so it is not ours to fill.
    db = tmp_path / "hub.duckdb"
    db.touch()
    with FakeHub(MODELS) as hub:
        result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url, "--quiet")
    assert_one_line_error(result, exit_code=1)
    assert db.stat().st_size == 0
    assert not (tmp_path / "hub.duckdb.lock").exists()


def test_refresh_into_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "no" / "such" / "hub.duckdb"
    result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", "http://127.0.0.1:9")
    assert_one_line_error(result, exit_code=2)
    assert "does not exist" in result.stderr and ".lock" not in result.stderr


@pytest.mark.parametrize("command", ["refresh", "record", "demo"])
def test_a_file_where_the_folder_should_be_is_said_to_be_no_folder(
    tmp_path: Path, command: str
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("not a folder")
    path = ["--db", str(note / "hub.duckdb")] if command != "record" else [str(note / "x.yaml")]
    endpoint = ["--endpoint", "http://127.0.0.1:9"] if command != "demo" else []
    result = hfstats(tmp_path, command, *path, *endpoint, cwd=tmp_path)
    assert_one_line_error(result, exit_code=2)
    assert f"{note} is not a folder" in result.stderr
    assert note.read_text() == "not a folder"


def test_a_database_without_permission_is_not_called_damaged(
    tmp_path: Path, hfstats_db: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root (CI) permissions are not enforced: DuckDB's answer to a file it may not open is
    # given instead.
    from hfstats import store
    from hfstats.errors import EXIT_USAGE, DatabaseError

    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)

    def refuse(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException(f'IO Error: Cannot open file "{db}": Permission denied')

    monkeypatch.setattr(store.duckdb, "connect", refuse)
    with pytest.raises(DatabaseError, match="permission denied; check the file") as error:
        with store.read(db):
            pass
    assert "backup" not in str(error.value)
    # A path to fix, bad input as a read-only folder is (exit 2), for readers and writers alike.
    assert error.value.exit_code == EXIT_USAGE
    with pytest.raises(DatabaseError, match="permission denied") as error:
        with store.write(db):
            pass
    assert error.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_refresh_stopped_by_sigterm_says_so_and_keeps_its_progress(
    tmp_path: Path, stop: signal.Signals
) -> None:
    # systemd's stop and timeout(1) send SIGTERM; a closed terminal SIGHUP.
    db = tmp_path / "hub.duckdb"
    log = tmp_path / "refresh.log"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home")}
    with FakeHub(MODELS, latency=0.3) as hub:
        args = ["--log-file", str(log), "refresh", "--db", str(db), "--endpoint", hub.url]
        running = subprocess.Popen(
            _stoppable("-m", "hfstats.cli", *args, "--page-size", "5", "--quiet"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while hub.stats.requests < 3:  # a few pages in
                assert running.poll() is None and time.monotonic() < deadline, "no crawl"
                time.sleep(0.05)
            running.send_signal(stop)
            out, err = running.communicate(timeout=60)
        finally:
            if running.poll() is None:
                running.kill()
                running.communicate()
        result = subprocess.CompletedProcess(running.args, running.returncode, out, err)
        assert_one_line_error(result, 128 + stop)
        assert f"stopped by {stop.name}; the next refresh resumes" in err
        assert f"exit {128 + stop}: stopped by {stop.name}" in log.read_text()
        with duckdb.connect(str(db), read_only=True) as connection:
            (pages,) = connection.execute("SELECT pages FROM snapshots").fetchone()
        assert pages >= 1  # its progress, recorded on the way out
        resumed = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url)
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed" in resumed.stderr


def test_help_lists_the_exit_code_of_every_signal_a_command_stops_on():
    """Cron and systemd users read the codes in --help: each stop signal's 128 + number."""
    from click.testing import CliRunner

    from hfstats.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
    for stop, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")):
        assert f"{128 + stop} stopped by {name}" in text or f"{128 + stop} by {name}" in text
    assert "130 interrupted" in text


# -- input fuzzing ------------------------------------------------------------------------------


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "hf-home")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "1e309"),
        ("--endpoint", ""),
        ("--endpoint", "http://exa mple.com"),
    ],
)
def test_refresh_refuses_bad_numbers_and_endpoints_before_any_file(
    tmp_path: Path, option: str, value: str
) -> None:
    # nan and inf passed the range check and failed inside the first request ('unexpected
    # error'); --endpoint "" crawled huggingface.co; a space in the host made files first.
    args = ["refresh", "--db", str(tmp_path / "hub.duckdb"), option, value]
    if option != "--endpoint":
        args += ["--endpoint", "http://127.0.0.1:9"]
    result = hfstats(tmp_path, *args)
    assert_one_line_error(result, exit_code=2)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("command", ["query exclusivity", "report --format json", "check"])
def test_an_as_of_out_of_range_in_utc_is_a_usage_error(
    tmp_path: Path, database: Path, command: str, as_of: str
) -> None:
    args = [*command.split(), "--db", str(database), "--as-of", as_of]
    if command.startswith("report"):
        args += ["--out", str(tmp_path / "report")]
    if command == "check":
        claim = VALID_CLAIM.replace("2022-12-31", as_of)
        (tmp_path / "claims.yaml").write_text(claim)
        args = ["check", "--db", str(database), "--claims", str(tmp_path / "claims.yaml")]
    result = hfstats(tmp_path, *args)
    assert_one_line_error(result, exit_code=2)
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


def test_prune_refuses_a_keep_no_database_can_count_to(tmp_path: Path, database: Path) -> None:
    before = database.read_bytes()
    result = hfstats(tmp_path, "snapshots", "--db", str(database), "prune", "--keep", "9" * 20)
    assert_one_line_error(result, exit_code=2)
    assert database.read_bytes() == before
    assert files_in(tmp_path) == ["hub.duckdb"]


@pytest.mark.parametrize("command", ["refresh", "demo", "export"])
def test_a_path_that_is_not_utf8_is_a_usage_error_before_any_file(
    tmp_path: Path, database: Path, command: str
) -> None:
    # DuckDB fails on such a path with 'std::bad_cast', after the lock file was made.
    odd = os.fsdecode(str(tmp_path).encode() + b"/\xff.duckdb")
    args = {
        "refresh": ["refresh", "--db", odd, "--endpoint", "http://127.0.0.1:9"],
        "demo": ["demo", "--db", odd],
        "export": ["export", odd, "--db", str(database)],
    }[command]
    result = hfstats(tmp_path, *args, cwd=tmp_path)
    assert_one_line_error(result, exit_code=2)
    assert "UTF-8" in result.stderr
    assert files_in(tmp_path) == ["hub.duckdb"]


def test_from_python_too_a_database_path_that_is_not_utf8_is_refused_before_any_file(
    tmp_path: Path,
) -> None:
    from hfstats import store
    from hfstats.errors import UsageError

    odd = Path(os.fsdecode(str(tmp_path).encode() + b"/\xff.duckdb"))
    with FakeHub(synthetic_models(3, seed=1)) as hub:
        attempts = [
            lambda: crawl.refresh(odd, endpoint=hub.url, token=False),
            lambda: store.write(odd).__enter__(),
        ]
        for attempt in attempts:
            with pytest.raises(UsageError, match="not valid UTF-8"):
                attempt()
    assert list(tmp_path.iterdir()) == []


def test_a_log_file_that_cannot_be_written_is_one_warning_not_a_traceback(tmp_path: Path) -> None:
    result = hfstats(tmp_path, "--log-file", "/dev/full", "query", "nope")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and "cannot write the log file /dev/full" in lines[0]


def test_a_log_file_that_cannot_be_written_is_said_once_however_much_is_logged(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hub.duckdb"
    with FakeHub(MODELS) as hub:
        args = ["refresh", "--db", str(db), "--endpoint", hub.url, "--page-size", "5"]
        result = hfstats(tmp_path, "--log-file", "/dev/full", "--debug", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("cannot write the log file /dev/full") == 1
    with duckdb.connect(str(db), read_only=True) as connection:  # the crawl itself went on
        assert connection.execute("SELECT count(*) FROM models").fetchone() == (len(MODELS),)


def test_the_busy_message_names_the_command_holding_the_database(
    tmp_path: Path, database: Path
) -> None:
    from hfstats.errors import BusyError
    from hfstats.locks import DatabaseLock

    link = tmp_path / "link.duckdb"
    link.symlink_to(database)
    with DatabaseLock(database, "snapshots prune"):
        # Another spelling of the same file (a symlink) meets the same lock.
        with pytest.raises(BusyError, match=r"another snapshots prune \(pid \d+\)"):
            with DatabaseLock(link):
                pass
    # A lock file that names no pid (written by hand, or cut short): no "(pid )".
    from hfstats.locks import release, try_lock

    handle, _ = try_lock(tmp_path / "hub.duckdb.lock", "garbled")
    try:
        with pytest.raises(BusyError) as caught:
            with DatabaseLock(tmp_path / "hub.duckdb"):
                pass
    finally:
        release(handle)
    assert str(caught.value).startswith("another refresh is running on ")


def test_a_page_size_below_one_from_python_is_a_usage_error(tmp_path: Path) -> None:
    from hfstats import crawl
    from hfstats.errors import UsageError

    with pytest.raises(UsageError, match="--page-size must be at least 1"):
        crawl.refresh(tmp_path / "p.duckdb", page_size=0)
    assert not list(tmp_path.iterdir())


def test_the_lock_file_names_only_the_command_holding_it(tmp_path: Path) -> None:
    from hfstats.errors import BusyError
    from hfstats.locks import DatabaseLock

    database = tmp_path / "x.duckdb"
    with DatabaseLock(database, "upgrade"):
        pass
    with DatabaseLock(database):
        assert (tmp_path / "x.duckdb.lock").read_text() == f"{os.getpid()} refresh"
        with pytest.raises(BusyError, match=rf"another refresh \(pid {os.getpid()}\) is running"):
            with DatabaseLock(database, "snapshots prune"):
                pass


def test_the_commands_defaults_are_the_librarys() -> None:
    # cli.py imports the modules lazily (for a quick --help), so it spells these out again.
    from hfstats import frameworks, hub, report
    from hfstats.cli import cli

    def default(command: str, name: str) -> object:
        return next(p.default for p in cli.commands[command].params if p.name == name)

    assert default("refresh", "page_size") == hub.DEFAULT_PAGE_SIZE
    assert default("refresh", "timeout") == hub.DEFAULT_TIMEOUT
    assert default("refresh", "max_retries") == hub.DEFAULT_MAX_RETRIES
    assert default("report", "out_dir") == report.DEFAULT_OUT
    for command in ("query", "report"):
        method = next(p for p in cli.commands[command].params if p.name == "method")
        assert tuple(method.type.choices) == frameworks.METHODS
        assert method.default == frameworks.DEFAULT_METHOD


def test_quiet_keeps_warnings_for_cron_to_mail(tmp_path: Path) -> None:
    # An element with an empty _id is skipped: a cron job must hear of it.
    broken = {**MODELS[0], "_id": "", "id": "org/broken", "modelId": "org/broken"}
    db = tmp_path / "hub.duckdb"
    with FakeHub([*MODELS, broken]) as hub:
        args = ["refresh", "--db", str(db), "--endpoint", hub.url, "--quiet"]
        result = hfstats(tmp_path, "--log-file", str(tmp_path / "log"), *args)  # as in README
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "1 listing element(s) read had no usable _id and were skipped (each read counts)"
    ]


def test_a_database_lock_taken_on_a_removed_lock_file_is_taken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run that cannot write its pid (a full disk) removes the lock file; one that had opened
    # it just before locks the removed file: a third must still find the database busy.
    from hfstats import locks
    from hfstats.errors import BusyError

    db = tmp_path / "hub.duckdb"
    lock_file = tmp_path / "hub.duckdb.lock"
    lock_file.write_text("")
    opened_before = open(lock_file, "a+")  # noqa: SIM115 - closed by the lock
    lock_file.unlink()
    real_open = open
    handles = iter([opened_before])
    monkeypatch.setattr(
        locks, "open", lambda *a, **k: next(handles, None) or real_open(*a, **k), raising=False
    )
    with locks.DatabaseLock(db):
        assert lock_file.exists()
        with pytest.raises(BusyError):
            with locks.DatabaseLock(db, "snapshots prune"):
                pass


@pytest.mark.parametrize("beside", ["", ".wal", ".crawl/log.txt"])
def test_a_log_file_on_the_database_is_refused_before_anything_is_written(
    tmp_path: Path, hfstats_db: bytes, beside: str
) -> None:
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    (tmp_path / "hub.duckdb.crawl").mkdir()
    log = tmp_path / f"hub.duckdb{beside}"
    with FakeHub(MODELS) as hub:
        result = hfstats(
            tmp_path, "--log-file", str(log), "refresh", "--db", str(db), "--endpoint", hub.url
        )
        assert hub.stats.requests == 0
    assert_one_line_error(result, 2)
    assert "--log-file" in result.stderr and "is the database" in result.stderr
    assert db.read_bytes() == hfstats_db
    assert not (tmp_path / "hub.duckdb.wal").exists()
    assert not (tmp_path / "hub.duckdb.crawl" / "log.txt").exists()
    # A database not made yet: the log would have made it a text file.
    new = tmp_path / "new.duckdb"
    assert_one_line_error(
        hfstats(tmp_path, "--log-file", str(new), "snapshots", "--db", str(new)), 2
    )
    assert not new.exists()


def test_a_folder_at_the_crawls_place_holding_other_files_is_left_alone(
    tmp_path: Path, hfstats_db: bytes
) -> None:
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    folder = tmp_path / "hub.duckdb.crawl"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    with FakeHub(MODELS) as hub:
        result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url)
        assert hub.stats.requests == 0
    assert_one_line_error(result, 2)
    assert "notes.txt" in result.stderr
    assert (folder / "notes.txt").read_text() == "precious"
    with store.read(db) as connection:  # no snapshot begun
        assert connection.execute("SELECT count(*) FROM snapshots").fetchall() == [(1,)]
    # What a crawl killed while removing its folder leaves (pages, no state) is its own.
    (folder / "notes.txt").unlink()
    (folder / "pages").mkdir()
    (folder / "pages" / "0000001.json").write_text("[]")
    (folder / "pages" / "0000002.json.tmp").write_text("[")
    with FakeHub(MODELS) as hub:
        result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url, "-q")
    assert result.returncode == 0, result.stderr
    assert not folder.exists()


def test_a_database_name_too_long_for_the_merges_copy_is_refused_before_the_crawl(
    tmp_path: Path,
) -> None:
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    db = tmp_path / ("d" * (limit - len(".duckdb") - 4) + ".duckdb")  # fits; .merging.wal not
    with FakeHub(MODELS) as hub:
        result = hfstats(tmp_path, "refresh", "--db", str(db), "--endpoint", hub.url)
        assert hub.stats.requests == 0
    assert_one_line_error(result, 2)
    assert "too long" in result.stderr and "shorter --db" in result.stderr
    assert not db.exists()


def test_names_the_terminal_cannot_show_are_escaped_not_an_error(
    tmp_path: Path, hfstats_db: bytes
) -> None:
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    for fmt in ("table", "csv", "json"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "hfstats.cli",
                "sql",
                "SELECT '✓é' AS x",
                "--db",
                str(db),
                "--format",
                fmt,
            ],
            env={**os.environ, "PYTHONIOENCODING": "latin-1"},
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert b"\\u2713\xe9" in result.stdout  # escaped; what Latin-1 has, in Latin-1
    # Beyond the BMP as JSON's surrogate pair, so the JSON stays valid and exact.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hfstats.cli",
            "sql",
            "SELECT '🤗✓é' AS x",
            "--db",
            str(db),
            "--format",
            "json",
        ],
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        capture_output=True,
        timeout=120,
    )
    assert json.loads(result.stdout.decode("latin-1")) == [{"x": "🤗✓é"}]


def test_a_mistyped_option_of_sql_is_named_not_taken_for_sql(
    tmp_path: Path, hfstats_db: bytes
) -> None:
    db = tmp_path / "hub.duckdb"
    db.write_bytes(hfstats_db)
    result = hfstats(tmp_path, "sql", "--fromat", "json", "SELECT 1", "--db", str(db))
    assert_one_line_error(result, 2)
    assert "No such option '--fromat'. Did you mean '--format'?" in result.stderr
    # SQL that begins with a comment is still SQL.
    result = hfstats(tmp_path, "sql", "-- one\nSELECT 1 AS n", "--db", str(db), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "n\n1\n"
    # --help is an option too, and an option's value may begin with dashes.
    result = hfstats(tmp_path, "sql", "--help")
    assert result.returncode == 0 and result.stdout.startswith("Usage: "), result.stderr
    odd = tmp_path / "--odd.duckdb"
    odd.write_bytes(hfstats_db)
    result = hfstats(tmp_path, "sql", "--db", str(odd), "SELECT 2 AS n", "--format", "csv")
    assert result.stdout == "n\n2\n", result.stderr
    result = hfstats(
        tmp_path, "sql", "--format", "csv", "--db", "--odd.duckdb", "SELECT 3 AS n", cwd=tmp_path
    )
    assert result.stdout == "n\n3\n", result.stderr


def test_demo_leaves_a_folder_at_the_crawls_place_holding_other_files_alone(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo.duckdb.crawl"
    folder.mkdir()
    (folder / "report.html").write_text("precious")
    result = hfstats(
        tmp_path, "demo", "--db", str(tmp_path / "demo.duckdb"), "--out", str(tmp_path / "rep")
    )
    assert_one_line_error(result, 2)
    assert "report.html" in result.stderr
    assert (folder / "report.html").read_text() == "precious"
    assert not (tmp_path / "demo.duckdb").exists() and not (tmp_path / "rep").exists()


@pytest.mark.parametrize(
    "command", [["query", "exclusivity"], ["refresh", "--endpoint", "http://127.0.0.1:9"]]
)
def test_a_named_pipe_as_the_database_is_refused_not_waited_on(tmp_path: Path, command):
    # Reading a pipe's first bytes would block until something wrote to it: forever, in cron.
    fifo = tmp_path / "hub.duckdb"
    os.mkfifo(fifo)
    result = hfstats(tmp_path, *command, "--db", str(fifo))
    assert_one_line_error(result, 1)
    assert "it is not a regular file (a pipe, socket or device)" in result.stderr
    assert fifo.exists() and not fifo.is_file()
