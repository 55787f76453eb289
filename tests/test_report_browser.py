"""index.html in a real browser (issue 6): headless Chromium with networking disabled.

The page publishes what it drew in ``<pre id="render-status">`` (chart name -> SVG elements
drawn, plus every error, console.error and Content-Security-Policy violation it saw);
``--dump-dom`` hands us the DOM once the page is idle. Chromium's own console log on stderr is
checked as well. Skipped when Chromium is missing, except in CI (CI set), where it fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import FIRST_SNAPSHOT, SECOND_SNAPSHOT, crawl_into, element

from hfstats import report

pytestmark = pytest.mark.browser

# Payloads that would leave a visible trace if they ever ran.
EXECUTING_LIBRARY = "<script>document.title='pwned'</script>"
EXECUTING_ATTRIBUTE = '"><img src=x onerror="document.title=\'pwned\'">'
HOSTILE_MODELS = [
    element(20, "2024-04-04T00:00:00.000Z", ["pytorch"], library=EXECUTING_LIBRARY),
    element(21, "2024-05-05T00:00:00.000Z", ["tf"], library=EXECUTING_ATTRIBUTE),
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


def open_offline(page: Path, profile: Path, *action: str) -> subprocess.CompletedProcess:
    """Chromium on ``page`` with no network at all, then ``action`` (--dump-dom, --screenshot)."""
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            *action,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def render_status(dom: str) -> dict:
    match = re.search(r'<pre id="render-status"[^>]*>(.*?)</pre>', dom, re.DOTALL)
    assert match, "the page never published its render status"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    chromium()
    folder = tmp_path_factory.mktemp("browser")
    db = crawl_into(folder / "hub.duckdb", [FIRST_SNAPSHOT, [*SECOND_SNAPSHOT, *HOSTILE_MODELS]])
    return report.write_report(db, folder / "report", formats=("html", "json"))


def test_every_chart_renders_offline_with_no_error_and_no_script_from_the_data(written, tmp_path):
    result = open_offline(written / "index.html", tmp_path / "profile", "--dump-dom")
    status = render_status(result.stdout)
    assert status["done"] is True
    assert status["errors"] == []
    expected = sorted(p.name.removesuffix(".vl.json") for p in (written / "charts").iterdir())
    assert len(expected) == 8
    assert sorted(status["charts"]) == expected
    assert all(count > 0 for count in status["charts"].values()), status["charts"]
    assert console_lines(result.stderr) == []
    # Screen readers get each chart's question and answer, not "Vega visualization".
    labels = {html.unescape(v) for v in re.findall(r'aria-label="([^"]*)"', result.stdout)}
    assert "Vega visualization" not in labels
    for path in (written / "charts").iterdir():
        description = json.loads(path.read_text(encoding="utf-8"))["description"]
        assert description in labels
    # The hostile names reached the page as text, and nothing of theirs ran.
    assert "pwned" not in re.search(r"<title>(.*?)</title>", result.stdout).group(1)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in result.stdout


def test_markup_slipped_into_the_page_would_be_blocked_and_reported(written, tmp_path):
    # A control for the test above: if escaping ever failed, the page's policy would block the
    # injected code and the render status would say so.
    page = (written / "index.html").read_text(encoding="utf-8")
    tampered = tmp_path / "tampered.html"
    tampered.write_text(
        page.replace("<main>", f"<main>{EXECUTING_ATTRIBUTE}{EXECUTING_LIBRARY}", 1),
        encoding="utf-8",
    )
    result = open_offline(tampered, tmp_path / "profile", "--dump-dom")
    status = render_status(result.stdout)
    assert "pwned" not in re.search(r"<title>(.*?)</title>", result.stdout).group(1)
    assert any("content security policy" in error for error in status["errors"])
    assert console_lines(result.stderr)


def test_screenshot_of_the_whole_report(written, tmp_path):
    shot = tmp_path / "report.png"
    open_offline(
        written / "index.html",
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1200,4000",
        f"--screenshot={shot}",
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a page of drawn charts, not a blank one
