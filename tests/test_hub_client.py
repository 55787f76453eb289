"""HubClient against the local test Hub, one fault at a time, with ``sleep`` recorded.

Expected pages are computed here from the FakeHub's models (newest ``lastModified`` first, ties
by ``_id``), not by the code under test. Header cases the FakeHub cannot produce (a 429 with
``r=0``, a ``Retry-After`` date) are served with ``responses``.
"""

from __future__ import annotations

import email.utils
import gc
import http.server
import json
import re
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import duckdb
import pytest
import requests
import responses

from hfstats import crawl, store
from hfstats.errors import (
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubRefusedError,
    HubUnavailableError,
    UsageError,
)
from hfstats.hub import HubClient, RateLimit, _http_date, models_url, retry_after_seconds
from hfstats.testing.fakehub import FakeHub, Quota, faults_at
from hfstats.testing.synthetic import synthetic_models

MODELS = list(synthetic_models(60, seed=21))
NEWEST_FIRST = [
    model["_id"]
    for model in sorted(MODELS, key=lambda m: (m["lastModified"], m["_id"]), reverse=True)
]
PAGE_SIZE = 20


class Sleeps(list):
    """A ``sleep`` that only records how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(hub: FakeHub, sleeps: Sleeps, **options) -> HubClient:
    options.setdefault("backoff_base", 0.01)
    options.setdefault("timeout", 0.3)
    return HubClient(hub.url, sleep=sleeps, **options)


def first_page_ids(client: HubClient, hub: FakeHub) -> list[str]:
    page = client.get_page(models_url(hub.url, PAGE_SIZE))
    return [model["_id"] for model in page.models]


# -- RateLimit and Retry-After parsing -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"api";r=492;t=133', RateLimit(remaining=492, reset_seconds=133)),
        ('"api";t=5;r=0', RateLimit(remaining=0, reset_seconds=5)),
        ('"api"; r=7; t=9', RateLimit(remaining=7, reset_seconds=9)),
        ('"api";r=492', RateLimit(remaining=492, reset_seconds=None)),
        # Several limits: the exhausted one decides, and of several, the one resetting last.
        ('"api";r=0;t=4, "burst";r=50;t=1', RateLimit(remaining=0, reset_seconds=4)),
        ('"burst";r=50;t=1, "api";r=0;t=4', RateLimit(remaining=0, reset_seconds=4)),
        ('"a";r=0;t=4, "b";r=0;t=9', RateLimit(remaining=0, reset_seconds=9)),
        ('"a";r=5;t=4, "b";r=2;t=9', RateLimit(remaining=2, reset_seconds=9)),
        # The earlier drafts' form.
        ("limit=100, remaining=0, reset=4", RateLimit(remaining=0, reset_seconds=4)),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_ratelimit_header_parsing(header: str | None, expected: RateLimit | None) -> None:
    assert RateLimit.parse(header) == expected


def test_a_ratelimit_without_reset_waits_for_the_policy_window() -> None:
    policy = '"fixed window";"api";q=500;w=300'
    assert RateLimit.parse('"api";r=0', policy) == RateLimit(remaining=0, reset_seconds=300)
    assert RateLimit.parse('"api";r=0;t=12', policy) == RateLimit(remaining=0, reset_seconds=12)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"RateLimit": '"api";r=3;t=9', "X-RateLimit-Remaining": "0"}, RateLimit(3, 9)),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"}, RateLimit(0, 7)),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}, RateLimit(0, 30)),
        ({"X-RateLimit-Remaining": "4"}, RateLimit(4, None)),
        ({"X-RateLimit-Remaining": "many"}, None),
        ({}, None),
    ],
)
def test_other_rate_limit_headers(headers: dict, expected: RateLimit | None) -> None:
    assert RateLimit.from_headers(headers) == expected


def test_a_reset_given_as_a_unix_time_becomes_seconds() -> None:
    reset_at = int(time.time()) + 60
    limit = RateLimit.from_headers(
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_at)}
    )
    assert limit is not None and 55 <= limit.reset_seconds <= 60


def test_retry_after_as_seconds_or_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds(in_a_minute) <= 60
    assert retry_after_seconds("7.5") == 7.5
    # At most an hour, like a reset: a garbled value must not stall a crawl for years (or
    # overflow time.sleep).
    assert retry_after_seconds("999999999") == 3600
    assert retry_after_seconds("100000000000000000000") == 3600
    in_ten_years = email.utils.formatdate(time.time() + 10 * 365 * 86400, usegmt=True)
    assert retry_after_seconds(in_ten_years) == 3600


# -- pacing ------------------------------------------------------------------------------------


def test_waits_for_the_window_when_ratelimit_says_none_left() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=faults_at({1: "ratelimit-exhausted"})) as hub:
        client = client_for(hub, sleeps)
        page = client.get_page(models_url(hub.url, PAGE_SIZE))
        assert sleeps == []  # the page itself is fine: nothing to wait for yet
        client.get_page(page.next_url)
        # The fault's header says r=0;t=1: wait t plus a second for its rounding, before asking.
        assert sleeps == [pytest.approx(2.0)]
        assert client.stats.rate_limit_waits == 1


def test_a_refresh_passes_its_waits_on_and_counts_them(tmp_path) -> None:
    sleeps = Sleeps()
    waits: list[tuple[str, float]] = []
    with FakeHub(MODELS, faults=faults_at({1: "ratelimit-exhausted"})) as hub:
        result = crawl.refresh(
            tmp_path / "hub.duckdb",
            client=client_for(hub, sleeps),
            page_size=PAGE_SIZE,
            on_wait=lambda reason, seconds: waits.append((reason, seconds)),
        )
    assert result.complete and result.merge.models == len(MODELS)
    assert waits == [("rate limit", pytest.approx(2.0))] and sleeps == [pytest.approx(2.0)]
    assert result.rate_limit_waits == 1
    assert result.rate_limit_wait_seconds == pytest.approx(2.0)


def test_a_refresh_refuses_client_settings_beside_a_client(tmp_path) -> None:
    # They would be silently ignored: the client already has its own.
    with FakeHub(MODELS) as hub:
        for settings in ({"endpoint": hub.url}, {"token": False}, {"timeout": 5.0}):
            with pytest.raises(UsageError, match="go to the client"):
                crawl.refresh(tmp_path / "hub.duckdb", client=client_for(hub, Sleeps()), **settings)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "settings",
    [{"timeout": float("nan")}, {"timeout": 0}, {"timeout": -1.0}, {"max_retries": -1}],
    ids=["nan", "zero", "negative", "negative-retries"],
)
def test_a_refresh_refuses_bad_settings_before_any_file(tmp_path, settings) -> None:
    with pytest.raises(UsageError):
        crawl.refresh(tmp_path / "hub.duckdb", endpoint="http://127.0.0.1:9", **settings)
    assert list(tmp_path.iterdir()) == []


def test_waits_for_the_policy_window_when_ratelimit_gives_no_reset() -> None:
    first = "https://hub.test/api/models?limit=2"
    second = "https://hub.test/api/models?limit=2&cursor=x"
    exhausted = {
        "RateLimit": '"api";r=0',
        "RateLimit-Policy": '"fixed window";"api";q=500;w=30',
        "Link": f'<{second}>; rel="next"',
    }
    sleeps = Sleeps()
    with responses.RequestsMock() as mock:
        mock.get(first, json=[{"_id": "a"}, {"_id": "b"}], headers=exhausted)
        mock.get(second, json=[{"_id": "c"}])
        client = HubClient("https://hub.test", sleep=sleeps)
        client.get_page(client.get_page(first).next_url)
    assert sleeps == [31.0]  # the window, plus a second for rounding


def test_pacing_avoids_429_when_the_hub_rounds_its_reset_time_down() -> None:
    """t is whole seconds; the notes do not say which way it is rounded. Rounded down, the
    window resets up to a second after t: a wait of t plus less than a second meets a 429."""
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    quota = Quota(requests=4, window_seconds=2, reset_rounded_down=True)
    with FakeHub(MODELS, quota=quota) as hub:
        client = HubClient(hub.url, sleep=sleep, backoff_base=0.01, timeout=2)
        url = models_url(hub.url, 7)  # 9 pages: two waits for the window to reset
        while url is not None:
            url = client.get_page(url).next_url
        assert hub.stats.too_many_requests == 0
        assert len(waits) == 2


def test_pacing_from_ratelimit_avoids_429_on_a_real_quota() -> None:
    """A quota of 3 requests per second: the client waits instead of running into a 429."""
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with FakeHub(MODELS, quota=Quota(requests=3, window_seconds=1)) as hub:
        client = HubClient(hub.url, sleep=sleep, backoff_base=0.01, timeout=2)
        # 60 models at 7 a page: 9 pages, the last one short (a full last page is asked again).
        url = models_url(hub.url, 7)
        pages = 0
        while url is not None:
            page = client.get_page(url)
            pages += 1
            url = page.next_url
        assert pages == 9
        assert hub.stats.too_many_requests == 0
        assert waits and all(wait >= 1 for wait in waits)


# -- retried faults ------------------------------------------------------------------------------


def test_429_with_retry_after_waits_exactly_that_long() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=faults_at({1: "429-retry-after"})) as hub:
        assert first_page_ids(client_for(hub, sleeps), hub) == NEWEST_FIRST[:PAGE_SIZE]
        assert sleeps == [1.0]


def test_429_without_retry_after_and_requests_left_backs_off() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=faults_at({1: "429"})) as hub:
        assert first_page_ids(client_for(hub, sleeps, backoff_base=0.5), hub) == NEWEST_FIRST[:20]
        # The 429 still reports r=999 left: an exponential backoff, not the 300 s window.
        assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5


def test_429_with_no_requests_left_waits_for_the_window() -> None:
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers={"RateLimit": '"api";r=0;t=42'}, body="{}")
        mock.get(url, json=[{"_id": "a"}, {"_id": "b"}])
        client = HubClient("https://hub.test", sleep=sleeps, backoff_base=0.01)
        assert len(client.get_page(url).models) == 2
    assert sleeps == [43.0]


def test_a_429_and_its_ratelimit_header_are_waited_out_once_and_counted() -> None:
    # Retry-After 10 s and RateLimit r=0;t=10 on the same 429: one wait of the longer (t plus
    # a second for its rounding), reported as the rate limit's, not a retry and a "0 s" wait.
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    headers = {"Retry-After": "10", "RateLimit": '"api";r=0;t=10'}
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers=headers, body="{}")
        mock.get(url, json=[{"_id": "a"}])
        client = HubClient("https://hub.test", sleep=sleeps, backoff_base=0.01)
        reasons: list[str] = []
        client.on_wait = lambda reason, seconds: reasons.append(reason)
        assert len(client.get_page(url).models) == 1
    assert sleeps == [pytest.approx(11.0)] and reasons == ["rate limit"]  # as the bar says it
    assert client.stats.rate_limit_waits == 1
    assert client.stats.rate_limit_wait_seconds == pytest.approx(11.0)


def test_a_429_that_says_nothing_waits_for_a_window_seen_before() -> None:
    # Every Hub answer carries RateLimit headers; one that does not, after a policy of 30 s
    # windows was seen, is waited out for a window rather than retried within seconds.
    sleeps = Sleeps()
    first, second = "https://hub.test/api/models?limit=1", "https://hub.test/api/models?cursor=b"
    headers = {
        "RateLimit": '"api";r=5;t=20',
        "RateLimit-Policy": '"fixed window";"api";q=500;w=30',
        "Link": f'<{second}>; rel="next"',
    }
    with responses.RequestsMock() as mock:
        mock.get(first, json=[{"_id": "a"}], headers=headers)
        mock.get(second, status=429, body="")
        mock.get(second, json=[{"_id": "b"}], headers={"Link": f'<{second}&x=1>; rel="next"'})
        client = HubClient("https://hub.test", sleep=sleeps, backoff_base=0.01)
        client.get_page(first)
        client.get_page(second)
    assert sleeps == [30.0]


def test_retry_after_as_an_http_date() -> None:
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers={"Retry-After": when}, body="{}")
        mock.get(url, json=[{"_id": "a"}])
        HubClient("https://hub.test", sleep=sleeps).get_page(url)
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


@pytest.mark.parametrize(
    "fault", ["500", "502", "503", "504", "html-200", "truncated", "reset", "stall", "trickle"]
)
def test_transient_fault_is_retried_with_backoff(fault: str) -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, stall_seconds=1, faults=faults_at({1: fault, 2: fault})) as hub:
        client = client_for(hub, sleeps, backoff_base=0.1)
        assert first_page_ids(client, hub) == NEWEST_FIRST[:PAGE_SIZE]
        assert client.stats.retries == 2
        # Full-jitter backoff: attempt n waits between half and all of base * 2**(n-1).
        assert 0.05 <= sleeps[0] <= 0.1
        assert 0.1 <= sleeps[1] <= 0.2


def test_a_page_trickling_in_is_cut_off_at_the_timeout(
    hfstats_log: pytest.LogCaptureFixture,
) -> None:
    # A byte every 20 ms for 5 s: every read is quick, the page is not. --timeout bounds the
    # page, so the client gives up on it after 0.3 s, not when the server stops.
    with FakeHub(MODELS, stall_seconds=5, faults=faults_at({1: "trickle"})) as hub:
        client = client_for(hub, Sleeps())
        assert first_page_ids(client, hub) == NEWEST_FIRST[:PAGE_SIZE]
    assert "too slowly to finish" in hfstats_log.text


def test_a_page_arriving_slowly_but_steadily_is_read_however_long_it_takes() -> None:
    # 25 pieces 60 ms apart: 1.5 s in all against a timeout of 0.5 s, at about 110 KB/s.
    body = json.dumps([{"_id": f"{i:024x}", "pad": "x" * 800} for i in range(200)]).encode()
    piece = len(body) // 25 + 1

    class Steady(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Link", f'<{self.path}&cursor=x>; rel="next"')
            self.end_headers()
            for start in range(0, len(body), piece):
                self.wfile.write(body[start : start + piece])
                self.wfile.flush()
                time.sleep(0.06)

        def log_message(self, *args) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Steady) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        client = HubClient(endpoint, timeout=0.5, sleep=Sleeps())
        page = client.get_page(models_url(endpoint, 200))
        server.shutdown()
    assert len(page.models) == 200 and client.stats.retries == 0


def test_a_compressed_page_is_judged_by_the_bytes_on_the_wire(
    hfstats_log: pytest.LogCaptureFixture,
) -> None:
    # 1.2 KB of gzip (40 KB of JSON) dribbled at about 600 bytes/s: the link is too slow by its
    # own bytes, however fast the decompressed JSON grows.
    import gzip

    plain = json.dumps([{"_id": f"{i:024x}", "tags": ["pytorch"] * 20} for i in range(200)])
    body = gzip.compress(plain.encode(), compresslevel=9)
    assert len(plain) > 20 * len(body)
    served = []

    class Dribbling(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Link", f'<{self.path}&cursor=x>; rel="next"')
            self.end_headers()
            slow = not served
            served.append(self.path)
            step = 60 if slow else len(body)
            try:
                for start in range(0, len(body), step):
                    self.wfile.write(body[start : start + step])
                    self.wfile.flush()
                    if slow:
                        time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dribbling) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        client = HubClient(endpoint, timeout=0.3, sleep=Sleeps(), backoff_base=0.01)
        page = client.get_page(models_url(endpoint, 200))
        server.shutdown()
    assert len(page.models) == 200 and len(served) == 2  # cut off once, then read whole
    assert "too slowly to finish" in hfstats_log.text


def test_503_with_retry_after_waits_that_long() -> None:
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=503, headers={"Retry-After": "7"}, body="<html>busy</html>")
        mock.get(url, json=[{"_id": "a"}])
        HubClient("https://hub.test", sleep=sleeps, backoff_base=0.01).get_page(url)
    assert sleeps == [7.0]


@pytest.mark.parametrize(("retry_after", "low", "high"), [("0", 0.25, 0.5), ("3600", 60, 60)])
def test_a_5xx_retry_after_lengthens_the_backoff_within_its_cap(
    retry_after: str, low: float, high: float
) -> None:
    # 0 must not make every retry come at once; an hour must not stall each retry for an hour.
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=503, headers={"Retry-After": retry_after}, body="busy")
        mock.get(url, json=[{"_id": "a"}])
        HubClient("https://hub.test", sleep=sleeps, backoff_base=0.5, backoff_cap=60).get_page(url)
    assert len(sleeps) == 1 and low <= sleeps[0] <= high


def test_a_retry_after_date_without_a_zone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        in_two_minutes = email.utils.formatdate(time.time() + 120)  # ends in "-0000"
        assert in_two_minutes.endswith("-0000")
        assert 115 <= retry_after_seconds(in_two_minutes) <= 120
        # A zone name the parser does not know is no time rather than a wrong one.
        assert retry_after_seconds("Tue, 01 Dec 2099 07:28:00 CET") is None
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_model_nested_deeper_than_python_parses_is_read_not_retried(tmp_path) -> None:
    """One model's free-form field nested 100,000 deep (json.loads gives up at about 1,000)
    must not fail the page on every refresh: the crawl reads its top-level keys and the
    database keeps the element as sent."""
    deep = "[" * 100_000 + "]" * 100_000
    models = list(synthetic_models(3, seed=56))
    deep_model = json.dumps(models[1])[:-1] + f', "cardData": {{"nested": {deep}}}}}'
    body = "[" + ", ".join([json.dumps(models[0]), deep_model, json.dumps(models[2])]) + "]"
    with responses.RequestsMock() as mock:
        mock.get(re.compile(r"https://hub\.test/api/models\?.*"), body=body)
        client = HubClient("https://hub.test", sleep=Sleeps(), max_retries=1)
        page = client.get_page("https://hub.test/api/models?limit=10")
        assert [m["_id"] for m in page.models] == [m["_id"] for m in models]
        assert page.models[1]["lastModified"] == models[1]["lastModified"]

        db_path = tmp_path / "hub.duckdb"
        crawl.refresh(db_path, client=client, page_size=10)
    with store.read(db_path) as connection:
        rows = connection.execute(
            "SELECT object_id, id, length(raw->>'$.cardData') FROM models ORDER BY object_id"
        ).fetchall()
    assert rows == sorted(
        (m["_id"], m["id"], len('{"nested":' + deep + "}") if m is models[1] else None)
        for m in models
    )


def test_invalid_json_deeper_than_python_parses_is_still_a_broken_body() -> None:
    # What the shallow reading leaves out must be JSON too: the merge reads the page as sent.
    url = "https://hub.test/api/models?limit=10"
    broken = "[" * 1500 + "1 2" + "]" * 1500  # a comma missing, 1,500 levels down
    with responses.RequestsMock() as mock:
        mock.get(url, body=f'[{{"_id": "a", "cardData": {broken}}}]')
        client = HubClient("https://hub.test", sleep=Sleeps(), max_retries=1)
        with pytest.raises(HubUnavailableError, match="not JSON"):
            client.get_page(url)


def test_a_refusal_in_a_detail_field_is_quoted_with_the_page_size_hint() -> None:
    url = "https://hub.test/api/models?limit=1000"
    detail = [{"loc": ["query", "limit"], "msg": "ensure this value is less than or equal to 500"}]
    with responses.RequestsMock() as mock:
        mock.get(url, status=422, json={"detail": detail})
        with pytest.raises(HubRefusedError, match="less than or equal to 500") as error:
            HubClient("https://hub.test", sleep=Sleeps()).get_page(url)
    assert str(error.value).endswith("try a smaller --page-size")


def test_5xx_html_body_is_not_taken_for_json() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=faults_at({1: "503"})) as hub:
        client = client_for(hub, sleeps)
        assert first_page_ids(client, hub) == NEWEST_FIRST[:PAGE_SIZE]
        assert client.stats.status_counts == {503: 1, 200: 1}


@pytest.mark.parametrize("fault", ["missing-link", "garbled-link"])
def test_page_with_a_bad_link_header_is_asked_for_again(fault: str) -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=faults_at({1: fault})) as hub:
        client = client_for(hub, sleeps)
        page = client.get_page(models_url(hub.url, PAGE_SIZE))
        assert [m["_id"] for m in page.models] == NEWEST_FIRST[:PAGE_SIZE]
        assert page.next_url is not None
        second = client.get_page(page.next_url)
        assert [m["_id"] for m in second.models] == NEWEST_FIRST[PAGE_SIZE : 2 * PAGE_SIZE]


NEXT = "https://hub.test/api/models?limit=10&cursor=abc"


@pytest.mark.parametrize(
    ("link", "expected_next"),
    [
        (f'<{NEXT}>; rel="next"', NEXT),
        (f"<{NEXT}>; rel=next", NEXT),
        (f'<{NEXT}>; rel="Next"', NEXT),  # relation types are case-insensitive (RFC 8288)
        (f'<https://hub.test/api/models?limit=10>; rel="first", <{NEXT}>; rel="prev next"', NEXT),
        # GitHub's last page names only the other pages: the end of the listing.
        (f'<{NEXT}>; rel="prev", <https://hub.test/api/models?limit=10>; rel="first"', None),
        # A proxy or CDN may add links of its own; without a next one, it is the last page.
        ('<https://hub.test/api/models>; rel="canonical"', None),
        ("</static/app.css>; rel=preload; as=style", None),
        (f'</static/app.css>; rel=preload, <{NEXT}>; rel="next"', NEXT),
        # RFC 8288: parameter names are case-insensitive; a URI may hold ";" and ",", and so may
        # a quoted value.
        (f'<{NEXT}>; REL="next"', NEXT),
        (f'<{NEXT};v=2,3>; rel="next"', f"{NEXT};v=2,3"),
        (f'<{NEXT}>; title="a, b; c"; rel=next', NEXT),
        # RFC 9110 lists may hold empty elements; a parameter given twice counts the first time.
        (f'<{NEXT}>; rel="next", ', NEXT),
        (f", <https://hub.test/a>; rel=prev,, <{NEXT}>;\trel=next;", NEXT),
        (f'<{NEXT}>; rel="next"; rel="nofollow"', NEXT),
        (f'<{NEXT}>; crossorigin; rel="next"', NEXT),
        (f'<{NEXT}>; rel="prev";', None),
        # A server's own relation type on the last page is no damage.
        (f'<{NEXT}>; rel="previous-page"', None),
        (f'<{NEXT}>; rel="https://example.com/rels/older"', None),
    ],
)
def test_link_header_forms(link: str, expected_next: str | None) -> None:
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        # Two models: a short page, so that a missing next link is believed after one answer alike.
        mock.get(url, json=[{"_id": "a"}, {"_id": "b"}], headers={"Link": link})
        page = HubClient("https://hub.test", sleep=Sleeps()).get_page(url)
    assert page.next_url == expected_next
    assert [m["_id"] for m in page.models] == ["a", "b"]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        # Only the cursor: the rest of the first page's query is put back after it.
        (
            "https://hub.test/api/models?cursor=abc",
            "https://hub.test/api/models?cursor=abc&full=true&sort=lastModified&limit=10",
        ),
        (
            "/api/models?cursor=a%2Bb",
            "/api/models?cursor=a%2Bb&full=true&limit=10&sort=lastModified",
        ),
        # What the link says is kept as it says it, and nothing given twice.
        (
            "https://hub.test/api/models?limit=5&full=True&cursor=abc",
            "https://hub.test/api/models?limit=5&full=True&cursor=abc&sort=lastModified",
        ),
    ],
)
def test_a_next_link_that_lost_the_listing_parameters_gets_them_back(link, expected) -> None:
    # Followed as given, a link without full=true lists the default element: no siblings,
    # sha or lastModified, which a full crawl would store as every model's new version.
    url = "https://hub.test/api/models?full=true&sort=lastModified&limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, json=[{"_id": "a"}, {"_id": "b"}], headers={"Link": f'<{link}>; rel="next"'})
        page = HubClient("https://hub.test", sleep=Sleeps()).get_page(url)
    expected = urljoin(url, expected)
    assert parse_qs(urlsplit(page.next_url).query) == parse_qs(urlsplit(expected).query)
    assert page.next_url.startswith(urljoin(url, link))  # the link's own query untouched


@pytest.mark.parametrize(
    "link",
    [
        f"<{NEXT}; rel=nxet",
        "garbage",
        f"<{NEXT}>",
        '<>; rel="next"',
        # A damaged link beside a whole one may have been the next one.
        f'<https://hub.test/api/models>; rel="canonical", <{NEXT}>; rel="n',
        f'</static/app.css>; rel=preload, <{NEXT}>; rel="nxt"',
        # Misspelt or cut short next relations, garbage around links, a malformed relation or
        # a URI with a space: none may be taken for the end of the listing.
        f'<{NEXT}>; rel="nxet"',
        f'<{NEXT}>; rel="ne"',
        f'garbage <{NEXT}>; rel="prev"',
        f'<{NEXT}>; rel="prev" junk',
        f'<https://hub.test/a>; rel="prev", <{NEXT}',
        '<https://hub.test/a b>; rel="prev"',
        f'<{NEXT}>; rel="prev!"',
    ],
)
def test_link_header_naming_no_page_is_retried_not_taken_for_the_end(link: str) -> None:
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, json=[{"_id": "a"}], headers={"Link": link})
        client = HubClient("https://hub.test", sleep=Sleeps(), max_retries=2)
        with pytest.raises(HubUnavailableError, match="Link header with"):
            client.get_page(url)
        assert len(mock.calls) == 3


def test_a_hostile_link_header_is_parsed_in_linear_time() -> None:
    # A pattern that backtracks exponentially would never finish on these few hundred bytes:
    # run in a child process, so that such a regression fails instead of hanging the suite.
    code = (
        "from hfstats.hub import BadResponse, _next_link\n"
        "for header in ['<https://h/x>' + '; a ' * 60 + 'x', '<a>; p' + ' ' * 65000 + 'x']:\n"
        "    try:\n"
        "        _next_link(header)\n"
        "    except BadResponse:\n"
        "        pass\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr


@pytest.mark.parametrize("enabled_before", [True, False])
def test_parsing_a_page_leaves_the_garbage_collector_as_it_found_it(enabled_before: bool) -> None:
    # Pages are parsed with the cyclic collector paused (a speed-up); a good page, then a
    # body that is HTML, not JSON, must both give it back in the state it was in.
    sleeps = Sleeps()
    was_enabled = gc.isenabled()
    try:
        if not enabled_before:
            gc.disable()
        with FakeHub(MODELS, faults=faults_at({2: "html-200"})) as hub:
            client = client_for(hub, sleeps)
            page = client.get_page(models_url(hub.url, PAGE_SIZE))
            assert gc.isenabled() is enabled_before
            second = client.get_page(page.next_url)
            assert [m["_id"] for m in second.models] == NEWEST_FIRST[PAGE_SIZE : 2 * PAGE_SIZE]
            assert client.stats.retries == 1
            assert gc.isenabled() is enabled_before
    finally:
        if was_enabled:
            gc.enable()


def test_empty_page_with_a_next_link_is_asked_for_again() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=faults_at({1: "empty", 2: "empty"})) as hub:
        client = client_for(hub, sleeps)
        assert first_page_ids(client, hub) == NEWEST_FIRST[:PAGE_SIZE]
        assert hub.stats.listing_requests == 3


def read_listing(client: HubClient, url: str) -> list[str]:
    seen = []
    while url is not None:
        page = client.get_page(url)
        seen += [m["_id"] for m in page.models]
        url = page.next_url
    return seen


def test_last_page_ends_the_listing_without_endless_retries() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS) as hub:
        assert read_listing(client_for(hub, sleeps), models_url(hub.url, 25)) == NEWEST_FIRST
        # 60 models at 25 a page: two full pages with links, then a short last page.
        assert hub.stats.listing_requests == 3


def test_a_listing_shorter_than_one_page_is_confirmed_once() -> None:
    # 60 models asked 100 a page: no cap has been seen, so the page is asked for once more, not
    # three times more, before it is taken for the whole listing.
    with FakeHub(MODELS) as hub:
        page = client_for(hub, Sleeps()).get_page(models_url(hub.url, 100))
        assert [m["_id"] for m in page.models] == NEWEST_FIRST
        assert page.next_url is None
        assert hub.stats.listing_requests == 2


def test_a_page_as_long_as_asked_without_a_link_gets_every_retry() -> None:
    # 60 models asked 60 a page: a full page without a next link may have lost its header.
    with FakeHub(MODELS) as hub:
        page = client_for(hub, Sleeps()).get_page(models_url(hub.url, 60))
        assert [m["_id"] for m in page.models] == NEWEST_FIRST
        assert hub.stats.listing_requests == 1 + 3


LISTING = "https://hub.test/api/models?limit=2"
SECOND_PAGE = "https://hub.test/api/models?limit=2&cursor=b"


def test_an_empty_last_page_after_a_linked_full_one_is_asked_again_without_sleeping() -> None:
    # A Hub may put a next link on every full page: a listing of whole pages then ends on an
    # empty page without one. It is asked for again (it may be a glitch) but at once.
    sleeps = Sleeps()
    with responses.RequestsMock() as mock:
        mock.get(
            LISTING,
            json=[{"_id": "a"}, {"_id": "b"}],
            headers={"Link": f'<{SECOND_PAGE}>; rel="next"'},
            match=[responses.matchers.query_string_matcher("limit=2")],
        )
        last = mock.get(SECOND_PAGE, json=[])
        seen = read_listing(HubClient("https://hub.test", False, sleep=sleeps), LISTING)
        assert seen == ["a", "b"]
        assert last.call_count == 1 + 3
    assert sleeps == []


def test_an_empty_page_with_nothing_before_it_is_asked_again_after_a_pause() -> None:
    sleeps = Sleeps()
    with responses.RequestsMock() as mock:
        mock.get(LISTING, json=[])
        page = HubClient("https://hub.test", False, sleep=sleeps).get_page(LISTING)
    assert page.models == [] and len(sleeps) == 3


def test_a_hub_that_sends_more_than_asked_is_judged_by_what_it_sends() -> None:
    # Asked for 2 a page, the Hub sends 5 with a next link, then 3 without: not a full page.
    with responses.RequestsMock() as mock:
        mock.get(
            LISTING,
            json=[{"_id": name} for name in "abcde"],
            headers={"Link": f'<{SECOND_PAGE}>; rel="next"'},
            match=[responses.matchers.query_string_matcher("limit=2")],
        )
        last = mock.get(SECOND_PAGE, json=[{"_id": name} for name in "fgh"])
        seen = read_listing(HubClient("https://hub.test", False, sleep=Sleeps()), LISTING)
        assert seen == list("abcdefgh")
        assert last.call_count == 1


def test_a_short_first_page_that_lost_its_link_once_is_read_on() -> None:
    # A Hub capping pages at 20 (below the 100 asked), whose first answer lost its Link header:
    # the answer asked again has the link, and the listing goes on past the first page.
    with FakeHub(MODELS, max_page_size=20, faults=faults_at({1: "missing-link"})) as hub:
        assert read_listing(client_for(hub, Sleeps()), models_url(hub.url, 100)) == NEWEST_FIRST


def test_genuinely_empty_listing_is_believed_after_a_few_tries() -> None:
    sleeps = Sleeps()
    with FakeHub([]) as hub:
        page = client_for(hub, sleeps).get_page(models_url(hub.url, PAGE_SIZE))
        assert page.models == [] and page.next_url is None
        assert 1 < hub.stats.listing_requests <= 5


# -- giving up, and errors that are not retried ------------------------------------------------


def test_gives_up_after_max_retries_with_a_one_line_message() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=lambda number, path: "503") as hub:
        client = client_for(hub, sleeps, max_retries=3)
        with pytest.raises(HubUnavailableError) as caught:
            client.get_page(models_url(hub.url, PAGE_SIZE))
        assert hub.stats.requests == 4
        assert len(sleeps) == 3
    message = str(caught.value)
    assert "\n" not in message
    assert "503" in message and "refresh" in message
    assert "cursor" not in message and "limit=" not in message


def test_giving_up_on_what_no_hub_answers_suggests_checking_the_endpoint() -> None:
    # HTML, or no answer at all, may be a Hub in trouble or an endpoint that is no Hub: "again
    # later" alone sends the user to wait for nothing.
    url = "https://not-a-hub.test/api/models?limit=2"
    with responses.RequestsMock() as mock:
        mock.get(url, body="<html><body>Welcome to nginx!</body></html>", content_type="text/html")
        client = HubClient("https://not-a-hub.test", False, sleep=Sleeps(), max_retries=0)
        with pytest.raises(HubUnavailableError) as html:
            client.get_page(url)
    assert "HTML instead of the model list" in str(html.value)
    assert "if https://not-a-hub.test is not the Hub, check --endpoint or HF_ENDPOINT" in str(
        html.value
    )
    sleeps = Sleeps()
    with FakeHub(MODELS, faults=lambda number, path: "503") as hub:
        with pytest.raises(HubUnavailableError) as unavailable:
            client_for(hub, sleeps, max_retries=0).get_page(models_url(hub.url, PAGE_SIZE))
    assert "check --endpoint" not in str(unavailable.value)  # a Hub's own answer
    with responses.RequestsMock() as mock:
        mock.get(url, body=requests.ConnectTimeout("timed out"))
        with pytest.raises(HubUnavailableError) as unreachable:
            client.get_page(url)
    assert "no connection to not-a-hub.test within" in str(unreachable.value)
    assert "check --endpoint or HF_ENDPOINT" in str(unreachable.value)
    with responses.RequestsMock() as mock:
        mock.get(url, body=requests.ReadTimeout("timed out"))
        with pytest.raises(HubUnavailableError) as slow:
            client.get_page(url)
    assert "no answer within" in str(slow.value)  # connected: a Hub too busy to answer
    assert "check --endpoint" not in str(slow.value)
    with FakeHub(MODELS, faults=lambda number, path: "429") as hub:
        with pytest.raises(HubUnavailableError) as limited:
            client_for(hub, Sleeps(), max_retries=0).get_page(models_url(hub.url, PAGE_SIZE))
    assert "429" in str(limited.value) and "check --endpoint" not in str(limited.value)


def test_no_mistyped_endpoint_hint_for_the_hub_or_an_endpoint_that_served_pages() -> None:
    # The default endpoint cannot be mistyped, and one that served pages of the listing is a Hub.
    hub_url = "https://huggingface.co/api/models?limit=2"
    with responses.RequestsMock() as mock:
        mock.get(hub_url, body=requests.ConnectionError("refused"))
        client = HubClient("https://huggingface.co", False, sleep=Sleeps(), max_retries=0)
        with pytest.raises(HubUnavailableError) as down:
            client.get_page(hub_url)
    assert "connection to huggingface.co failed" in str(down.value)
    assert "check --endpoint" not in str(down.value)
    first = "https://mirror.test/api/models?limit=2"
    second = first + "&cursor=x"
    with responses.RequestsMock() as mock:
        mock.get(
            first, json=[{"_id": "a"}, {"_id": "b"}], headers={"Link": f'<{second}>; rel="next"'}
        )
        mock.get(second, body=requests.ConnectionError("refused"))
        client = HubClient("https://mirror.test", False, sleep=Sleeps(), max_retries=0)
        with pytest.raises(HubUnavailableError) as later:
            client.get_page(client.get_page(first).next_url)
    assert "connection to mirror.test failed" in str(later.value)
    assert "check --endpoint" not in str(later.value)


def test_401_is_an_auth_error_without_retries() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS, token="hf_right") as hub:
        client = HubClient(hub.url, "hf_wrong_token_value", sleep=sleeps)
        with pytest.raises(HubAuthError) as caught:
            client.get_page(models_url(hub.url, PAGE_SIZE))
        assert hub.stats.requests == 1 and sleeps == []
    assert "hf_wrong_token_value" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("implicit_token_off", [True, False])
def test_a_refusal_of_a_request_without_a_token_says_none_was_sent(
    monkeypatch: pytest.MonkeyPatch, implicit_token_off: bool
) -> None:
    # "check HF_TOKEN" misleads when HF_HUB_DISABLE_IMPLICIT_TOKEN kept a set one from being sent.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", implicit_token_off)
    with FakeHub(MODELS, token="hf_right") as hub:
        with pytest.raises(HubAuthError, match="no token was sent") as caught:
            HubClient(hub.url, False, sleep=Sleeps()).get_page(models_url(hub.url, PAGE_SIZE))
    # The variable is named only when it is what kept the token back.
    assert ("HF_HUB_DISABLE_IMPLICIT_TOKEN" in str(caught.value)) == implicit_token_off
    assert "\n" not in str(caught.value)


def test_token_true_is_the_saved_token_even_when_implicit_tokens_are_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As huggingface_hub's token=True: explicitly asked for, and an error without one.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)
    monkeypatch.setenv("HF_TOKEN", "hf_saved")
    assert HubClient("https://hub.test")._token is None
    assert HubClient("https://hub.test", True)._token == "hf_saved"
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(UsageError, match="token=True asks for a token"):
        HubClient("https://hub.test", True)


def test_404_is_a_not_found_error_without_retries() -> None:
    sleeps = Sleeps()
    with FakeHub(MODELS) as hub:
        client = client_for(hub, sleeps)
        with pytest.raises(HubNotFoundError, match="--endpoint"):
            client.get_page(f"{hub.url}/api/nothing-here?limit=3")
        assert hub.stats.requests == 1 and sleeps == []


def test_find_model_follows_a_rename_and_retries_but_takes_any_refusal_for_no_model() -> None:
    sleeps = Sleeps()
    renamed, other = MODELS[0], MODELS[1]
    with FakeHub(MODELS) as hub:
        hub.rename(renamed["_id"], "new-owner/renamed")
        client = client_for(hub, sleeps)
        assert client.find_model(renamed["id"]) == renamed["_id"]  # 307, then the model
        assert client.find_model(other["id"]) == other["_id"]
        assert client.find_model("nobody/no-such-model") is None
        assert client.stats.requests == 4 and sleeps == []
    # The Hub answers an unknown model 401 (../shared/hub-api/samples/model-not-found.json);
    # a 5xx is retried before it is believed; a server that answers this path with something
    # else than a model (a mirror serving only the listing) confirms nothing, at once.
    with responses.RequestsMock() as mocked:
        url = "https://hub.test/api/models/some-org/some-model"
        mocked.get(url, status=503, body="<html>busy</html>")
        mocked.get(url, status=200, json={"_id": "abc", "id": "some-org/some-model"})
        mocked.get("https://hub.test/api/models/gone/model", status=401, json={"error": "x"})
        mocked.get("https://hub.test/api/models/a/listing", json=[{"_id": "abc"}])
        mocked.get("https://hub.test/api/models/a/page", body="<html>Hub</html>")
        client = HubClient("https://hub.test", False, backoff_base=0.01, sleep=sleeps)
        assert client.find_model("some-org/some-model") == "abc"
        assert client.stats.retries == 1
        assert client.find_model("gone/model") is None
        assert client.find_model("a/listing") is None
        assert client.find_model("a/page") is None
        assert client.stats.retries == 1 and client.stats.requests == 5
        assert client.stats.lookups_not_a_model == 2  # counted for a note; the 401 is an answer


@pytest.mark.parametrize("endpoint", ["notaurl", "ftp://hub.test", "file:///etc", "http://"])
def test_non_http_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="not an http"):
        HubClient(endpoint)


def test_an_endpoint_in_capitals_is_the_same_hub(tmp_path) -> None:
    # Scheme and host are case-insensitive: a refresh spelling them otherwise continues the
    # history instead of starting a full crawl of "another" endpoint.
    # So does a crawl or snapshot saved under another spelling by an earlier hfstats.
    assert HubClient("HTTPS://Hub.Test/Mirror/").endpoint == "https://hub.test/Mirror"
    db_path = tmp_path / "hub.duckdb"
    state_file = tmp_path / "hub.duckdb.crawl" / "state.json"
    with FakeHub(MODELS) as hub:
        shouted = hub.url.replace("http://", "HTTP://")
        crawl.refresh(db_path, client=client_for(hub, Sleeps()), page_size=25, max_pages=1)
        state = json.loads(state_file.read_text())
        state_file.write_text(json.dumps({**state, "endpoint": shouted}))
        resumed = crawl.refresh(db_path, client=client_for(hub, Sleeps()), page_size=25)
        assert resumed.resumed and resumed.complete
        with duckdb.connect(str(db_path)) as connection:
            connection.execute("UPDATE snapshots SET endpoint = ?", [shouted])
        result = crawl.refresh(db_path, client=HubClient(shouted, backoff_base=0.01), page_size=25)
    assert result.mode == "incremental"
    assert not [note for note in result.notes if "full crawl" in note]


def test_next_link_to_another_host_stays_on_the_endpoint() -> None:
    with FakeHub(MODELS) as hub, FakeHub(MODELS) as elsewhere:
        client = client_for(hub, Sleeps())
        page = client.get_page(f"{elsewhere.url}/api/models?limit=5")
        assert page.url.startswith(hub.url)
        assert elsewhere.stats.requests == 0


def test_a_refused_page_size_suggests_a_smaller_one() -> None:
    url = "https://hub.test/api/models?limit=1000"
    with responses.RequestsMock() as mock:
        mock.get(url, status=400, json={"error": "limit must be <= 500"})
        with pytest.raises(HubRefusedError, match=r"limit must be <= 500 .*smaller --page-size"):
            HubClient("https://hub.test", sleep=Sleeps()).get_page(url)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Tue, 01 Dec 2026 14:00:00 GMT", "2026-12-01T14:00:00+00:00"),
        ("Tue, 01 Dec 2026 15:00:00 +0100", "2026-12-01T15:00:00+01:00"),
        ("Tue, 01 Dec 2026 15:00:00 CET", None),  # a zone it cannot read: no time, not UTC
        ("yesterday", None),
        (None, None),
    ],
)
def test_the_date_header_is_read_only_with_a_known_zone(header, expected) -> None:
    moment = _http_date(header)
    assert (moment.isoformat() if moment else None) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Which policy an exhausted limit without t belongs to is not sure: the longest window.
        ({"RateLimit": '"api";r=0', "RateLimit-Policy": '"api";q=500;w=300, "b";q=5;w=1'}, 300),
        ({"RateLimit": '"api";r=0;t=1.5'}, 2),  # rounded up
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9" * 20}, 3600),  # garbled
    ],
)
def test_reset_times_are_rounded_up_and_bounded(headers: dict, expected: int) -> None:
    assert RateLimit.from_headers(headers).reset_seconds == expected


def test_a_reset_given_in_unix_milliseconds_becomes_seconds() -> None:
    reset_at = int(time.time() * 1000) + 60_000
    limit = RateLimit.from_headers(
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_at)}
    )
    assert limit is not None and 55 <= limit.reset_seconds <= 61


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        # The upstream's own link: the mirror's path is put back in front.
        (
            "https://huggingface.co/api/models?limit=2&cursor=abc",
            "/hf/api/models?limit=2&cursor=abc",
        ),
        # Another host that already names the mirror's path: kept once.
        ("https://cdn.test/hf/api/models?limit=2&cursor=abc", "/hf/api/models?limit=2&cursor=abc"),
        # Relative to the page: resolved under the mirror's path as it is.
        ("/hf/api/models?limit=2&cursor=abc", "/hf/api/models?limit=2&cursor=abc"),
        # The mirror's own host with the upstream's path: the path is put back in front.
        (
            "https://mirror.test/api/models?limit=2&cursor=abc",
            "/hf/api/models?limit=2&cursor=abc",
        ),
        ("/api/models?limit=2&cursor=abc", "/hf/api/models?limit=2&cursor=abc"),
    ],
)
def test_a_mirror_under_a_path_keeps_it_in_next_links(link: str, expected: str) -> None:
    url = "https://mirror.test/hf/api/models?limit=2"
    with responses.RequestsMock() as mock:
        mock.get(url, json=[{"_id": "a"}, {"_id": "b"}], headers={"Link": f'<{link}>; rel="next"'})
        page = HubClient("https://mirror.test/hf/", sleep=Sleeps()).get_page(url)
    assert page.next_url == "https://mirror.test" + expected


def test_every_request_sent_is_counted_redirects_and_broken_answers_too() -> None:
    with FakeHub(MODELS, faults=faults_at({1: "truncated", 2: "reset"})) as hub:
        client = client_for(hub, Sleeps())
        first_page_ids(client, hub)
        assert client.stats.requests == hub.stats.requests == 3
    url = "https://hub.test/api/models?limit=10"
    moved = "https://hub.test/api/v2/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=307, headers={"Location": moved})
        link = f'<{moved}&cursor=a>; rel="next"'
        mock.get(moved, json=[{"_id": "a"}], headers={"Link": link})
        client = HubClient("https://hub.test", sleep=Sleeps())
        client.get_page(url)
        assert client.stats.requests == len(mock.calls) == 2


def test_a_redirect_that_uses_up_the_window_is_waited_out_before_it_is_followed() -> None:
    # A renamed model's lookup: the 307 takes the window's last request (r=0, resets in 7 s).
    # Followed at once, the GET of the new name would be a 429.
    old = "https://hub.test/api/models/old-org/model"
    new = "https://hub.test/api/models/new-org/model"
    sleeps = Sleeps()
    waited_before_following = []

    def model(request: object) -> tuple[int, dict, str]:
        waited_before_following.append(list(sleeps))
        return 200, {"RateLimit": '"api";r=499;t=300'}, json.dumps({"_id": "m1", "id": "x"})

    with responses.RequestsMock() as mock:
        mock.get(old, status=307, headers={"Location": new, "RateLimit": '"api";r=0;t=7'}, body="")
        mock.add_callback(responses.GET, new, callback=model)
        client = HubClient("https://hub.test", sleep=sleeps)
        assert client.find_model("old-org/model") == "m1"
        assert len(mock.calls) == 2
    assert waited_before_following == [[pytest.approx(7 + 1)]]
    assert client.stats.rate_limit_waits == 1


def test_a_mirror_whose_path_is_api_still_gets_its_prefix() -> None:
    url = "https://proxy.test/api/api/models?limit=2"
    upstream = "https://huggingface.co/api/models?limit=2&cursor=abc"
    with responses.RequestsMock() as mock:
        mock.get(url, json=[{"_id": "a"}], headers={"Link": f'<{upstream}>; rel="next"'})
        page = HubClient("https://proxy.test/api", sleep=Sleeps()).get_page(url)
    assert page.next_url == "https://proxy.test/api/api/models?limit=2&cursor=abc"


# -- answers a proxy or a Hub in trouble may give -----------------------------------------------


@pytest.mark.parametrize("body", [[1, 2, 3], [{"message": "upstream error"}], [None, {"e": 1}]])
def test_a_list_without_any_model_is_retried_not_believed(body: list) -> None:
    # Believed, its next link would be followed and its models' place marked deleted.
    url = "https://hub.test/api/models?limit=2"
    with responses.RequestsMock() as mock:
        mock.get(url, json=body, headers={"Link": f'<{url}&cursor=x>; rel="next"'})
        mock.get(url, json=[{"_id": "a"}, 7], headers={"Link": f'<{url}&cursor=x>; rel="next"'})
        client = HubClient("https://hub.test", sleep=Sleeps(), backoff_base=0.01)
        page = client.get_page(url)
    assert page.models == [{"_id": "a"}, 7]  # one model among junk is a page
    assert client.stats.retries == 1


def test_an_error_object_with_status_200_is_quoted() -> None:
    url = "https://hub.test/api/models?limit=2"
    with responses.RequestsMock() as mock:
        mock.get(url, json={"error": "Invalid username or password."})
        client = HubClient("https://hub.test", sleep=Sleeps(), max_retries=1)
        with pytest.raises(HubUnavailableError, match="Invalid username or password"):
            client.get_page(url)


def test_a_token_echoed_in_an_error_object_with_status_200_is_not_repeated() -> None:
    token = "hf_SECRETtoken123"
    url = "https://hub.test/api/models?limit=2"
    with responses.RequestsMock() as mock:
        mock.get(url, json={"error": f"invalid credentials {token}"})
        client = HubClient("https://hub.test", token, sleep=Sleeps(), max_retries=0)
        with pytest.raises(HubUnavailableError) as error:
            client.get_page(url)
    assert token not in str(error.value) and "invalid credentials hf_***" in str(error.value)


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit": '"api";r=5;t=' + "9" * 400},
        {"RateLimit": '"api";r=' + "9" * 400 + ";t=5"},
        {"RateLimit": '"api";r=0', "RateLimit-Policy": '"fixed window";"api";q=5;w=' + "9" * 400},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9" * 400},
    ],
)
def test_numbers_too_long_for_a_float_in_rate_limit_headers_are_bounded(headers: dict) -> None:
    # float("9" * 400) is infinity: math.ceil of it raised OverflowError on every page.
    limit = RateLimit.from_headers(headers)
    assert limit is not None
    assert 0 <= limit.remaining <= 2**31
    assert limit.reset_seconds in (None, 5, 3600)


def test_a_reset_beyond_the_policy_window_waits_one_window() -> None:
    limit = RateLimit.parse('"api";r=0;t=1000', '"fixed window";"api";q=500;w=300')
    assert limit == RateLimit(remaining=0, reset_seconds=300)


def test_a_429_retry_after_of_zero_still_backs_off() -> None:
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers={"Retry-After": "0"}, body="{}")
        mock.get(url, status=429, headers={"Retry-After": "0"}, body="{}")
        mock.get(url, json=[{"_id": "a"}])
        HubClient("https://hub.test", sleep=sleeps, backoff_base=1.0).get_page(url)
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2


def test_a_retry_after_date_counts_from_the_servers_own_clock() -> None:
    # The server's clock runs 10 s behind ours; it asks for 5 s from its now.
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    server_now = time.time() - 10
    headers = {
        "Date": email.utils.formatdate(server_now, usegmt=True),
        "Retry-After": email.utils.formatdate(server_now + 5, usegmt=True),
    }
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, headers=headers, body="{}")
        mock.get(url, json=[{"_id": "a"}])
        HubClient("https://hub.test", sleep=sleeps, backoff_base=0.01).get_page(url)
    assert len(sleeps) == 1 and 4 <= sleeps[0] <= 6


def test_a_retry_after_in_asctime_form_is_utc() -> None:
    # RFC 9110 asks recipients to read all three date forms; asctime names no zone: GMT.
    in_a_minute = time.gmtime(time.time() + 60)
    asctime = time.strftime("%a %b ", in_a_minute) + f"{in_a_minute.tm_mday:2d}"
    asctime += time.strftime(" %H:%M:%S %Y", in_a_minute)
    assert 55 <= retry_after_seconds(asctime) <= 60
    assert _http_date(asctime) is not None


def test_a_date_too_large_for_python_is_no_date() -> None:
    # parsedate_to_datetime raises OverflowError for it: every page would have failed.
    huge = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
    assert _http_date(huge) is None
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, json=[{"_id": "a"}], headers={"Date": huge})
        page = HubClient("https://hub.test", sleep=Sleeps()).get_page(url)
    assert page.models == [{"_id": "a"}] and page.served_at is None


def test_a_5xx_retry_after_date_counts_from_the_servers_own_clock() -> None:
    # The server's clock is years behind ours; it asks for 30 s from its now.
    sleeps = Sleeps()
    url = "https://hub.test/api/models?limit=10"
    headers = {
        "Date": "Wed, 01 Jan 2020 00:00:00 GMT",
        "Retry-After": "Wed, 01 Jan 2020 00:00:30 GMT",
    }
    with responses.RequestsMock() as mock:
        mock.get(url, status=503, headers=headers, body="busy")
        mock.get(url, json=[{"_id": "a"}])
        HubClient("https://hub.test", sleep=sleeps, backoff_base=0.001).get_page(url)
    assert sleeps == [pytest.approx(30)]


def test_a_redirect_loop_spends_few_requests_and_counts_them_all() -> None:
    url = "https://hub.test/api/models?limit=10"
    other = "https://hub.test/api/other?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=302, headers={"Location": other})
        mock.get(other, status=302, headers={"Location": url})
        client = HubClient("https://hub.test", sleep=Sleeps(), max_retries=2)
        with pytest.raises(HubUnavailableError, match="redirects"):
            client.get_page(url)
        assert client.stats.requests == len(mock.calls) <= 3 * 10


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_token_the_server_echoes_is_not_repeated(status: int) -> None:
    token = "hf_SECRETtoken123"
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(
            url,
            status=status,
            headers={"X-Error-Message": f"Invalid credentials in header (Bearer {token})"},
        )
        with pytest.raises((HubAuthError, HubRefusedError)) as error:
            HubClient("https://hub.test", token, sleep=Sleeps()).get_page(url)
    assert token not in str(error.value) and "Invalid credentials" in str(error.value)


@pytest.mark.parametrize("status", [200, 400])
def test_a_servers_long_message_is_quoted_short(status: int) -> None:
    url = "https://hub.test/api/models?limit=10"
    long = "x" * 10_000
    with responses.RequestsMock() as mock:
        if status == 200:
            mock.get(url, json={"error": long})
        else:
            mock.get(url, status=400, headers={"X-Error-Message": long})
        with pytest.raises(HubError) as error:
            HubClient("https://hub.test", sleep=Sleeps(), max_retries=0).get_page(url)
    assert "x" * 200 in str(error.value) and len(str(error.value)) < 500


def test_an_empty_token_sends_no_credentials_and_leaves_messages_whole() -> None:
    # HF_TOKEN="" is no token: scrubbing "" out of a message would put hf_*** between letters.
    url = "https://hub.test/api/models?limit=10"
    with responses.RequestsMock() as mock:
        mock.get(url, status=400, headers={"X-Error-Message": "Invalid cursor"})
        with pytest.raises(HubRefusedError) as error:
            HubClient("https://hub.test", "", sleep=Sleeps(), max_retries=0).get_page(url)
        assert "Authorization" not in mock.calls[0].request.headers
    assert "Invalid cursor" in str(error.value) and "hf_***" not in str(error.value)


@pytest.mark.parametrize(
    "token", ["hf_SECRET€TOKEN", "hf_abc\n", " hf_abc", "hf_a\tb", "hf_a b", "hf_a\u00a0b"]
)
def test_a_token_no_header_can_carry_is_a_usage_error(token: str) -> None:
    with pytest.raises(UsageError, match="HF_TOKEN") as error:
        HubClient("https://hub.test", token)
    assert token.strip() not in str(error.value)


@pytest.mark.parametrize(
    "endpoint", ["https://hub.test/mirror?x=1", "https://hub.test/mirror#frag", "https://hub.test?"]
)
def test_an_endpoint_with_a_query_or_fragment_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="query or fragment"):
        HubClient(endpoint)


@pytest.mark.parametrize(
    "endpoint", ["http://hub .test", "http://hub\x7f.test", "http://hub\u200b.test"]
)
def test_an_endpoint_with_a_space_or_control_character_in_its_host_is_refused(
    endpoint: str,
) -> None:
    with pytest.raises(UsageError, match="space or control character"):
        HubClient(endpoint)


def test_a_page_of_models_without_a_usable_id_is_believed() -> None:
    # Skipped at the merge and counted as rejected, as documented; the crawl goes on.
    url = "https://hub.test/api/models?limit=2"
    body = [{"id": "legacy-model", "modelId": "legacy-model"}, {"_id": "", "id": "x"}]
    with responses.RequestsMock() as mock:
        mock.get(url, json=body, headers={"Link": f'<{url}&cursor=x>; rel="next"'})
        client = HubClient("https://hub.test", sleep=Sleeps(), backoff_base=0.01)
        assert client.get_page(url).models == body
    assert client.stats.retries == 0


@pytest.mark.parametrize(
    ("header", "policy", "expected"),
    [
        # Two limits: which policy the window belongs to is unknown, so t is believed.
        ('"api";r=5;t=100, "daily";r=0;t=3000', '"fixed window";"api";q=500;w=300', 3000),
        # A window of 0 says nothing.
        ('"api";r=0;t=100', '"fixed window";"api";q=500;w=0', 100),
        ('"api";r=0', '"fixed window";"api";q=500;w=0', None),
        # Two policies: which one the limit follows is unknown, so t is believed.
        ('"api";r=0;t=3000', '"fixed window";"api";q=500;w=300, "daily";q=10000;w=86400', 3000),
    ],
)
def test_the_policy_window_caps_only_its_own_single_limit(
    header: str, policy: str, expected: int | None
) -> None:
    assert RateLimit.parse(header, policy).reset_seconds == expected


def test_a_token_in_a_next_links_path_is_not_repeated() -> None:
    token = "hf_SECRETtoken123"
    first = "https://hub.test/api/models?limit=1"
    second = f"https://hub.test/api/models/{token}?cursor=2&limit=1"
    with responses.RequestsMock() as mock:
        mock.get(first, json=[{"_id": "a"}], headers={"Link": f'<{second}>; rel="next"'})
        mock.get(second, status=500, body="busy")
        client = HubClient("https://hub.test", token, sleep=Sleeps(), max_retries=1)
        page = client.get_page(first)
        with pytest.raises(HubUnavailableError) as error:
            client.get_page(page.next_url)
    assert token not in str(error.value)
