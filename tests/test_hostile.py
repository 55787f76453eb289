"""Hostile strings from model cards through the crawl and every output format (issue 9).

Tags, ids and library names are free text anyone can write. They must come out of JSON and CSV
exactly as the Hub sent them, and out of the table and Markdown without breaking a row or
becoming markup.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hfstats import crawl
from hfstats.hub import HubClient
from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_model

pytestmark = pytest.mark.hostile

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE models; --",
    "$as_of",
    "line one\nline two\r\n\ttabbed",
    "nul\x00bell\x07escape\x1b[31mred",
    "| a | b |",
    "**bold** _it_ `code` [link](javascript:alert(1)) ![img](x.png) # heading",
    "&lt;already escaped&gt; &amp;",
    "unicode \u2028 line separator \u202e right-to-left",
    "emoji 🤗 and 日本語",
    "x" * 20_000,
]


def hostile_models() -> list[dict]:
    models = []
    for index, text in enumerate(HOSTILE):
        model = synthetic_model(index, seed=99)
        model["id"] = f"hostile/{index}-{text[:200]}"
        model["library_name"] = text
        model["tags"] = ["pytorch", text, f"arxiv:{text[:50]}"]
        model["pipeline_tag"] = text
        models.append(model)
    return models


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path = tmp_path_factory.mktemp("hostile") / "hub.duckdb"
    with FakeHub(hostile_models()) as hub:
        crawl.refresh(db_path, client=HubClient(hub.url, None, backoff_base=0.01), page_size=5)
    return db_path


SQL = "SELECT id, library_name, pipeline_tag, tags FROM models ORDER BY id"


def hfstats(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "hfstats.cli", *args],
        capture_output=True,
        env={**os.environ, "HF_TOKEN": ""},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode("utf-8")


def expected_rows() -> list[dict]:
    rows = [
        {
            "id": m["id"],
            "library_name": m["library_name"],
            "pipeline_tag": m["pipeline_tag"],
            "tags": m["tags"],
        }
        for m in hostile_models()
    ]
    # DuckDB sorts VARCHAR by bytes, like Python sorts UTF-8 encoded strings.
    return sorted(rows, key=lambda r: r["id"].encode())


def test_json_output_carries_every_string_exactly(database: Path) -> None:
    assert (
        json.loads(hfstats("sql", SQL, "--db", str(database), "--format", "json"))
        == expected_rows()
    )


def test_csv_output_carries_every_string_exactly(database: Path) -> None:
    text = hfstats("sql", SQL, "--db", str(database), "--format", "csv")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["id", "library_name", "pipeline_tag", "tags"]
    parsed = [{**dict(zip(header, row, strict=True)), "tags": json.loads(row[3])} for row in rows]
    assert parsed == expected_rows()


@pytest.mark.parametrize("fmt", ["markdown", "table"])
def test_readable_formats_keep_one_line_per_row_and_no_markup(database: Path, fmt: str) -> None:
    text = hfstats("sql", SQL, "--db", str(database), "--format", fmt)
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == 2 + len(HOSTILE)  # header, rule, one line per model
    assert not any(c in text for c in "\x00\x07\x1b\r\u2028")
    if fmt == "markdown":
        assert "<script>" not in text and "<img" not in text
        # Every row has exactly the table's cells: no value added a `|`.
        assert all(line.count("|") - line.count("\\|") == 5 for line in lines)


def test_query_results_keep_hostile_library_names_exactly(database: Path) -> None:
    rows = json.loads(hfstats("query", "library_share", "--db", str(database), "--format", "json"))
    assert sorted(r["library_name"] for r in rows) == sorted(HOSTILE)


class _HostileErrors(BaseHTTPRequestHandler):
    """Answers every request with an error object instead of the listing, its message holding
    a terminal's escape sequences: clear the screen, set the window title, reverse the line."""

    MESSAGE = "down\x1b[2J\x1b]0;pwned-title\x07 \u202ereversed\n2026-12-03 ERROR hfstats: forged"

    def do_GET(self) -> None:  # http.server's naming
        body = json.dumps({"error": self.MESSAGE}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet server
        pass


def test_what_a_server_says_reaches_the_terminal_and_the_log_escaped(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileErrors)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log = tmp_path / "refresh.log"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hfstats.cli", "--log-file", str(log), "refresh"]
            + ["--endpoint", f"http://127.0.0.1:{server.server_address[1]}"]
            + ["--db", str(tmp_path / "hub.duckdb"), "--max-retries", "1"],
            capture_output=True,
            timeout=120,
            env={**os.environ, "HF_TOKEN": ""},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1, result.stderr
    for written in (result.stderr, log.read_bytes()):
        text = written.decode("utf-8")
        for raw in ("\x1b", "\x07", "\u202e"):
            assert raw not in text
        # The retry's line and the error's, each with the message shown escaped.
        assert text.count("down\\x1b[2J\\x1b]0;pwned-title\\x07 \\u202ereversed") >= 2, text
        # A line break in it would start a log line of the server's making.
        assert not [line for line in text.splitlines() if "forged" in line and "down" not in line]
    assert result.stderr.decode().splitlines()[-1].startswith("hfstats: error: giving up on ")
