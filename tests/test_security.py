"""The token is sent to the Hub as a Bearer header and nowhere else.

Each test uses a fresh random token, runs real `hfstats` subprocesses with ``HF_TOKEN`` set,
then searches every byte hfstats left behind (database, write-ahead log, staging folder, lock,
log file) and everything it printed.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import huggingface_hub
import pytest

from hfstats import __version__ as hfstats_version
from hfstats import crawl
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models

pytestmark = pytest.mark.security

MODELS = list(synthetic_models(120, seed=41))


def new_token() -> str:
    return f"hf_{uuid.uuid4().hex}"


def hfstats(tmp_path: Path, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf-home")}
    return subprocess.run(
        [sys.executable, "-m", "hfstats.cli", *args],
        env=env,
        capture_output=True,
        timeout=120,
    )


def files_containing(root: Path, secret: str) -> list[Path]:
    """Every file under ``root`` whose bytes hold ``secret`` (as UTF-8 or UTF-16)."""
    needles = [secret.encode(), secret.encode("utf-16-le")]
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    ]


def checkpoint(db_path: Path) -> None:
    """Fold the write-ahead log into the file, so the search also covers rewritten blocks."""
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("CHECKPOINT")


def test_token_is_sent_as_bearer_and_stored_nowhere(tmp_path: Path) -> None:
    token = new_token()
    db = tmp_path / "hub.duckdb"
    log_file = tmp_path / "refresh.log"
    common = ["--debug", "--log-file", str(log_file)]
    with FakeHub(MODELS, token=token) as hub:
        refresh = ["refresh", "--db", str(db), "--endpoint", hub.url, "--page-size", "25"]
        # Paused half way: the staging folder and its saved cursor exist.
        paused = hfstats(tmp_path, token, *common, *refresh, "--max-pages", "2")
        assert paused.returncode == 0, paused.stderr
        assert (tmp_path / "hub.duckdb.crawl" / "state.json").exists()
        assert files_containing(tmp_path, token) == []

        finished = hfstats(tmp_path, token, *common, *refresh)
        assert finished.returncode == 0, finished.stderr
        listed = hfstats(tmp_path, token, *common, "snapshots", "--db", str(db), "--format", "json")
        assert listed.returncode == 0, listed.stderr

        assert hub.requests_seen, "the Hub was never asked"
        assert {seen["authorization"] for seen in hub.requests_seen} == {f"Bearer {token}"}
    with duckdb.connect(str(db), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM models").fetchone()[0] == len(MODELS)
    checkpoint(db)
    assert log_file.stat().st_size > 0
    assert files_containing(tmp_path, token) == []
    for result in (paused, finished, listed):
        assert token.encode() not in result.stdout + result.stderr


def test_a_refresh_from_python_sends_huggingface_hubs_token_as_the_cli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token()
    monkeypatch.setenv("HF_TOKEN", token)
    with FakeHub(MODELS) as hub:
        crawl.refresh(tmp_path / "default.duckdb", endpoint=hub.url, page_size=50)
        sent_by_default = {seen["authorization"] for seen in hub.requests_seen}
        hub.requests_seen.clear()
        crawl.refresh(tmp_path / "none.duckdb", endpoint=hub.url, page_size=50, token=False)
        sent_without = {seen["authorization"] for seen in hub.requests_seen}
        hub.requests_seen.clear()
        crawl.refresh(tmp_path / "client.duckdb", client=HubClient(hub.url), page_size=50)
        sent_by_a_client = {seen["authorization"] for seen in hub.requests_seen}
    assert sent_by_default == sent_by_a_client == {f"Bearer {token}"}
    assert HubClient("https://hub.test", True)._token == token  # True: huggingface_hub's too
    assert sent_without == {None}


def test_hf_endpoint_is_the_only_place_asked_with_our_user_agent(tmp_path: Path) -> None:
    # HF_ENDPOINT instead of --endpoint, and a fresh HF_HOME: huggingface_hub's own header
    # builder would ask {HF_ENDPOINT}/api/agent-harnesses before the first page.
    token = new_token()
    with FakeHub(MODELS) as hub:
        env = {**os.environ, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf-home")}
        env["HF_ENDPOINT"] = hub.url
        env.pop("HF_HUB_USER_AGENT_ORIGIN", None)
        done = subprocess.run(
            [sys.executable, "-m", "hfstats.cli", "refresh", "--db", str(tmp_path / "h.duckdb")],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        seen = hub.requests_seen
    assert seen and all(request["path"].startswith("/api/models?") for request in seen), seen
    expected = (
        f"hfstats/{hfstats_version}; hf_hub/{huggingface_hub.__version__}; "
        f"python/{platform.python_version()}"
    )
    assert {request["user_agent"] for request in seen} == {expected}


def test_refused_token_fails_in_one_line_and_leaks_nowhere(tmp_path: Path) -> None:
    right, wrong = new_token(), new_token()
    db = tmp_path / "hub.duckdb"
    log_file = tmp_path / "refresh.log"
    with FakeHub(MODELS, token=right) as hub:
        result = hfstats(
            tmp_path,
            wrong,
            "--log-file",
            str(log_file),
            "refresh",
            "--db",
            str(db),
            "--endpoint",
            hub.url,
        )
        assert {seen["authorization"] for seen in hub.requests_seen} == {f"Bearer {wrong}"}
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert stderr.count("\n") == 1 and stderr.startswith("hfstats: error:")
    assert "401" in stderr and "HF_TOKEN" in stderr
    assert "Traceback" not in stderr
    assert wrong not in stderr + result.stdout.decode()
    if db.exists():
        checkpoint(db)
    assert files_containing(tmp_path, wrong) == []
    assert files_containing(tmp_path, right) == []


def test_next_link_to_another_host_never_receives_the_token(tmp_path: Path) -> None:
    token = new_token()
    with FakeHub(MODELS, token=token) as elsewhere:
        # The endpoint's next links all name the other server.
        with FakeHub(MODELS, token=token, link_base=elsewhere.url) as hub:
            client = HubClient(hub.url, token, backoff_base=0.01, timeout=5)
            crawl.refresh(tmp_path / "hub.duckdb", client=client, page_size=25)
            assert len(hub.requests_seen) > 1
        assert elsewhere.requests_seen == []
    with duckdb.connect(str(tmp_path / "hub.duckdb"), read_only=True) as connection:
        object_ids = {
            row[0] for row in connection.execute("SELECT object_id FROM models").fetchall()
        }
    assert object_ids == {model["_id"] for model in MODELS}


def test_error_messages_never_hold_the_token() -> None:
    token = new_token()
    with FakeHub(MODELS, token=new_token()) as hub:
        client = HubClient(hub.url, token, max_retries=0)
        with pytest.raises(Exception) as caught:
            client.get_page(f"{hub.url}/api/models?limit=5")
    assert token not in str(caught.value)
    assert token not in repr(caught.value)
