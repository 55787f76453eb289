"""HTTP to the Hub: one ``requests.Session``, pacing from ``RateLimit``, retries with backoff.

huggingface_hub supplies the conventions (endpoint, token, user agent) but not the transport:
its client is httpx-based, and our recorded fixtures are ``responses`` recordings, which only
intercept ``requests``.
"""

from __future__ import annotations

import email.utils
import gc
import json
import logging
import math
import platform
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from difflib import SequenceMatcher
from urllib.parse import SplitResult, parse_qs, quote, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from . import __version__
from .errors import (
    HubAuthError,
    HubNotFoundError,
    HubRefusedError,
    HubUnavailableError,
    PageSizeRefusedError,
    UsageError,
)

log = logging.getLogger("hfstats.hub")

DEFAULT_PAGE_SIZE = 1000
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 8
# A page that comes back empty, or full but without a next link, is asked for again this many
# times before it is believed: a transient glitch must neither end a crawl early nor skip the
# models of a page (an empty page's next link leads past them).
SUSPICIOUS_PAGE_RETRIES = 3
# A page without a next link that is shorter than asked for, before any page has shown the Hub's
# cap, is asked for once more (a glitch on two answers in a row is unlikely): otherwise every
# refresh of a listing that fits on one page would cost three requests more.
SHORT_PAGE_RETRIES = 1

_RATELIMIT_PARAM_RE = re.compile(r"(?:^|[;,])\s*(r|t|w|remaining|reset)\s*=\s*(\d+(?:\.\d+)?)")
# An hour at most (the Hub's window is 5 minutes): a garbled reset must not stall a crawl for
# days, or overflow time.sleep.
_MAX_RESET_SECONDS = 3600
# Bytes asked of the socket per read of a body; a read returns what has arrived.
_READ_SIZE = 1 << 20
# Once --timeout has passed, a page still arriving slower than this on average is cut off:
# far below any working link, far above a server dribbling a byte at a time.
_MIN_BYTES_PER_SECOND = 1024
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_ASCTIME_RE = re.compile(r"[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4}")
# Requests left beyond this are as good as unlimited (and keep the count an int).
_MAX_REMAINING = 2.0**31
# Redirects followed for one page before it counts as broken: each is a request of the quota.
MAX_REDIRECTS = 5
# A surrogate escape in the raw JSON: DuckDB's parser rejects unpaired ones, so such pages take
# the slow path through Python (see ``Page.body_for_storage``).
_SURROGATE_ESCAPE_RE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def default_endpoint() -> str:
    """The Hub endpoint huggingface_hub would use (``HF_ENDPOINT`` or huggingface.co)."""
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def default_token() -> str | None:
    """The token huggingface_hub would send (``HF_TOKEN`` or the cached login), if any: none
    when ``HF_HUB_DISABLE_IMPLICIT_TOKEN`` is set, as huggingface_hub does."""
    from huggingface_hub import get_token

    return None if _implicit_token_off() else get_token()


def resolve_token(token: str | bool | None) -> str | None:
    """huggingface_hub's convention for ``token=``: None is the token it would send
    (``default_token``), True the saved token even with HF_HUB_DISABLE_IMPLICIT_TOKEN (an error
    without one), False none, a string that token."""
    if token is None:
        return default_token()
    if token is True:
        from huggingface_hub import get_token

        saved = get_token()
        if not saved:
            raise UsageError(
                "token=True asks for a token, but HF_TOKEN is unset and no login is saved"
            )
        return saved
    return token or None


def _implicit_token_off() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_DISABLE_IMPLICIT_TOKEN)


def check_online() -> None:
    """Refuse to reach the Hub when ``HF_HUB_OFFLINE`` is set, as huggingface_hub does: on such
    a machine a crawl would only wait out its retries and fail."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise UsageError(
            "HF_HUB_OFFLINE is set, so hfstats does not reach the Hub; unset it to crawl "
            "(`hfstats demo` works offline)"
        )


def default_headers(token: str | None) -> dict[str, str]:
    """Headers in huggingface_hub's conventions: its user agent with our name first, and the
    token as a bearer.

    Not ``build_hf_headers``: in huggingface_hub 2.x it fetches ``{HF_ENDPOINT}/api/agent-harnesses``
    to name the AI agent running it, a request outside the crawl's endpoint and its pacing.
    """
    from huggingface_hub import __version__ as hub_version
    from huggingface_hub import constants

    agent = f"hfstats/{__version__}; hf_hub/{hub_version}; python/{platform.python_version()}"
    if constants.HF_HUB_USER_AGENT_ORIGIN:
        agent += f"; origin/{constants.HF_HUB_USER_AGENT_ORIGIN}"
    headers = {"user-agent": agent}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def models_url(endpoint: str, page_size: int) -> str:
    """First page of the full listing, newest ``lastModified`` first."""
    query = urlencode({"full": "true", "sort": "lastModified", "limit": page_size})
    return f"{endpoint.rstrip('/')}/api/models?{query}"


@dataclass
class RateLimit:
    """What the rate-limit headers say: requests left in the window, seconds until it resets.

    The Hub sends the IETF draft ``RateLimit: "api";r=492;t=133`` with ``RateLimit-Policy:
    "fixed window";"api";q=500;w=300``. Read tolerantly, since only that form is confirmed:
    several comma-separated limits (the most constraining one counts), the earlier drafts'
    ``remaining=``/``reset=`` parameters and ``RateLimit-Remaining``/``RateLimit-Reset`` headers,
    the common ``X-RateLimit-*`` ones (a reset that is a Unix time is turned into seconds),
    and a missing reset, then the policy's window ``w`` is the longest the wait can be.
    """

    remaining: int
    reset_seconds: int | None

    @classmethod
    def parse(cls, header: str | None, policy: str | None = None) -> RateLimit | None:
        """The ``RateLimit`` header (and ``RateLimit-Policy`` for a missing reset)."""
        if not header:
            return None
        limits = []
        for item in _split_limits(header):
            values = dict(_RATELIMIT_PARAM_RE.findall(item))
            remaining = values.get("r", values.get("remaining"))
            if remaining is None:
                continue
            reset = values.get("t", values.get("reset"))
            # A number too long for a float is infinity: more requests than anyone will make.
            left = min(float(remaining), _MAX_REMAINING)
            limits.append(cls(int(left), _reset_seconds(reset) if reset else None))
        if not limits:
            return None
        tightest = min(limits, key=lambda limit: limit.remaining)
        if tightest.remaining <= 0:
            # Of the exhausted limits, the one that resets last decides the wait.
            exhausted = [limit for limit in limits if limit.remaining <= 0]
            resets = [limit.reset_seconds for limit in exhausted]
            reset = None if None in resets else max(resets)
            tightest = cls(tightest.remaining, reset)
        windows = _policy_windows(policy)
        if windows and tightest.reset_seconds is None:
            # Which policy the exhausted limit belongs to is not sure: the longest window is.
            return cls(tightest.remaining, max(windows))
        if len(windows) == 1 and len(limits) == 1 and tightest.reset_seconds > windows[0]:
            # One limit, one policy: its window resets within its length, whatever t says.
            return cls(tightest.remaining, windows[0])
        return tightest

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        limit = cls.parse(headers.get("RateLimit"), headers.get("RateLimit-Policy"))
        if limit is not None:
            return limit
        for prefix in ("RateLimit-", "X-RateLimit-"):
            remaining = (headers.get(prefix + "Remaining") or "").strip()
            if remaining.isdigit():
                reset = (headers.get(prefix + "Reset") or "").strip()
                known = _NUMBER_RE.fullmatch(reset)
                return cls(int(remaining), _reset_seconds(reset) if known else None)
        return None


def _split_limits(header: str) -> list[str]:
    # Items are comma-separated; the earlier drafts' "limit=100, remaining=0, reset=4" is one.
    items = header.split(",")
    if any("remaining" in item for item in items) and not any('"' in item for item in items):
        return [";".join(items)]
    return items


def _reset_seconds(value: str) -> int:
    """Whole seconds until a reset, rounded up; from a Unix time in seconds or milliseconds
    too (X-RateLimit-Reset is often one)."""
    seconds = float(value)
    if not math.isfinite(seconds):
        return _MAX_RESET_SECONDS
    if seconds > 1e12:
        seconds = seconds / 1000 - time.time()
    elif seconds > 1e9:
        seconds -= time.time()
    return min(_MAX_RESET_SECONDS, max(0, math.ceil(seconds)))


def _policy_windows(policy: str | None) -> list[int]:
    """The windows (``w``, seconds) a ``RateLimit-Policy`` names; a window of 0 says nothing."""
    return [
        w
        for k, v in _RATELIMIT_PARAM_RE.findall(policy or "")
        if k == "w" and (w := _reset_seconds(v)) > 0
    ]


def _http_date(value: str | None) -> datetime | None:
    """An HTTP date (RFC 9110: IMF-fixdate, RFC 850 or asctime, all GMT), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.tzinfo is None:
        # "-0000" is UTC with no zone said, and asctime has no zone but is GMT by definition;
        # a zone name the parser does not know (CET) is no time at all rather than a wrong one.
        if not (value.endswith("-0000") or _ASCTIME_RE.fullmatch(value)):
            return None
        moment = moment.replace(tzinfo=UTC)
    return moment


def retry_after_seconds(header: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number (whole, as HTTP says, or with decimals) or an HTTP
    date, counted from ``now`` (the response's Date: the server's clock, as it meant it; else
    ours); at most an hour, like a rate-limit reset."""
    if not header:
        return None
    header = header.strip()
    if _NUMBER_RE.fullmatch(header):
        return min(float(header), float(_MAX_RESET_SECONDS))
    when = _http_date(header)
    if when is None:
        return None
    since = now.timestamp() if now is not None else time.time()
    return min(max(0.0, when.timestamp() - since), float(_MAX_RESET_SECONDS))


@dataclass
class Page:
    """One page of the listing: its models, the raw body, and where the next page is."""

    url: str
    models: list
    body: bytes
    next_url: str | None
    served_at: datetime | None = None  # the Hub's clock (the Date header), to the second

    def body_for_storage(self) -> tuple[bytes, int]:
        """The page as a JSON array DuckDB can read, and how many elements had to be altered.

        The raw body is kept byte for byte unless it holds something DuckDB's JSON reader
        rejects (an unpaired surrogate escape, invalid UTF-8); then the parsed elements are
        re-serialised with those characters replaced by U+FFFD.
        """
        utf8 = _is_utf8(self.body)
        if utf8 and not _SURROGATE_ESCAPE_RE.search(self.body):
            return self.body, 0
        altered = 0
        parts = []
        for element in self.models:
            text = json.dumps(element, ensure_ascii=False)
            clean = _LONE_SURROGATE_RE.sub("\ufffd", text)
            if clean != text or (not utf8 and "\ufffd" in clean):
                altered += 1
            parts.append(clean)
        return ("[" + ",".join(parts) + "]").encode("utf-8"), altered


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Said when the Hub refuses a page size in words that name the limit.
PAGE_SIZE_HINT = "; try a smaller --page-size"


class BadResponse(Exception):
    """A response worth retrying: 429, 5xx, HTML instead of JSON, a truncated body..."""

    def __init__(
        self,
        reason: str,
        wait: float | None = None,
        at_least: float | None = None,
        rate_limited: bool = False,
        not_a_hub: bool = False,
    ) -> None:
        super().__init__(reason)
        self.wait = wait  # exactly this long (a 429's Retry-After or window), not the backoff
        self.at_least = at_least  # the backoff, but not shorter (capped like the backoff)
        self.rate_limited = rate_limited  # a 429: the wait is the rate limit's
        # No answer, or one no Hub gives (HTML, not JSON): a Hub in trouble, or a wrong endpoint.
        self.not_a_hub = not_a_hub


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    status_counts: dict[int, int] = field(default_factory=dict)
    # Model lookups answered 2xx with something that is not a model (an HTML page, say).
    lookups_not_a_model: int = 0


class HubClient:
    """Fetches listing pages politely and robustly.

    ``endpoint`` and ``token`` default to huggingface_hub's (``$HF_ENDPOINT``, ``$HF_TOKEN`` or
    the cached login); ``token=False`` sends none.

    ``sleep`` and ``on_wait`` are injectable so tests run fast and progress can show waits.
    A ``session`` given is used as is, with the client's headers, redirect limit and a response
    hook (pacing before a redirect is followed) added. With ``HF_HUB_OFFLINE`` set it refuses
    to be made, unless ``replay``: its requests are answered by a recording
    (``recording.replay``), as in ``hfstats demo``.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | bool | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str, float], None] | None = None,
        give_up_hint: str = "run `hfstats refresh` again later to resume",
        replay: bool = False,
    ) -> None:
        if not replay:
            check_online()
        # Only None means the default: --endpoint "" is a mistake, not huggingface.co.
        self.endpoint = (default_endpoint() if endpoint is None else endpoint).rstrip("/")
        try:
            _endpoint_parts(self.endpoint)  # refuses an endpoint that is no http(s) URL
        except UsageError as exc:
            if endpoint is not None:
                raise
            raise UsageError(f"{exc} (the endpoint came from HF_ENDPOINT)") from None
        self.endpoint = normalized_endpoint(self.endpoint)
        parts = urlsplit(self.endpoint)
        self._origin = (parts.scheme, parts.netloc)
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        token = resolve_token(token)
        if token and (
            any(c.isspace() for c in token) or not token.isprintable() or not token.isascii()
        ):
            # requests would fail every request with an encoding error or an invalid header.
            raise UsageError(
                "the token (HF_TOKEN or the cached login) holds spaces or characters an HTTP "
                "header cannot carry; check it"
            )
        self._token = token
        self.session = session or requests.Session()
        self.session.max_redirects = MAX_REDIRECTS
        self.session.headers.update(default_headers(token))
        # Beside the session's own hooks (a hook given with each request would replace them).
        self.session.hooks["response"].append(self._before_following)
        self._sleep = sleep
        self.on_wait = on_wait
        self._give_up_hint = give_up_hint
        self.stats = RequestStats()
        self._rate_limit_wait = 0.0
        # The smallest non-empty page that had a next link: a page without one that is at least
        # this long is probably cut short, even when the Hub caps pages below our ``limit``.
        self._full_page_size = 0
        # A page longer than asked for showed that the Hub ignores ``limit``: then the page
        # size it serves, not the one asked for, says whether a page is full.
        self._ignores_limit = False
        self._answered_like_a_hub = False  # a page of the listing came from the endpoint
        self._policy_window = 0  # the longest RateLimit-Policy window seen, in seconds

    # -- public --------------------------------------------------------------------------------

    def get_page(self, url: str, stops_here: Callable[[Page], bool] | None = None) -> Page:
        """GET one listing page, retrying transient failures; raise ``HubError`` when it can't.

        ``stops_here(page)`` says that the caller reads no further than ``page``, next link or
        not (an incremental refresh reaching what it already holds): such a page is not asked
        for again for lacking a next link.
        """
        url = self._same_origin(url)
        attempt = 0
        suspicious = 0
        while True:
            self._pace()
            try:
                page = self._fetch(url)
            except BadResponse as problem:
                attempt += 1
                self._retry_after(attempt, problem, url)
                continue
            if self._looks_cut_short(page) and not (stops_here and stops_here(page)):
                if suspicious < self._retries_for(page):
                    suspicious += 1
                    self.stats.retries += 1
                    log.debug(
                        "page looks cut short (%d models, %s); asking again",
                        len(page.models),
                        "a next link" if page.next_url else "no next link",
                    )
                    # An empty page may be a server in trouble: give it time. But a full page
                    # without a next link arrived fine apart from its headers, and an empty one
                    # without a link, after pages that had one, is how a Hub that links every
                    # full page ends a listing of whole pages: ask for those at once (a listing
                    # that really ends so costs no sleep).
                    if not page.models and (page.next_url or not self._full_page_size):
                        self._wait("retry", self._backoff(suspicious))
                    continue
                # Usually the listing really ends on a full page; nothing to warn about.
                log.debug("the page looked the same %d times; taking it as it is", suspicious + 1)
            if page.models and page.next_url is not None:
                self._full_page_size = min(
                    self._full_page_size or len(page.models), len(page.models)
                )
            if len(page.models) > (_requested_limit(page.url) or len(page.models)):
                self._ignores_limit = True
            return page

    def find_model(self, model_id: str) -> str | None:
        """The ``_id`` of the model the Hub serves at ``/api/models/{model_id}`` (following the
        redirect of a renamed model), or None when it serves none there (404, or 401/403 for a
        model gone private, or anything but a model). Retries what ``get_page`` retries (no
        answer, 429, 5xx)."""
        url = f"{self.endpoint}/api/models/{quote(model_id, safe='/')}"
        attempt = 0
        while True:
            self._pace()
            try:
                return self._fetch_model(url)
            except BadResponse as problem:
                attempt += 1
                # A lookup is a check at the end of a finished crawl, which has nothing to resume.
                self._retry_after(attempt, problem, url, say_how_to_resume=False)

    # -- internals ------------------------------------------------------------------------------

    def _retry_after(
        self, attempt: int, problem: BadResponse, url: str, say_how_to_resume: bool = True
    ) -> None:
        """Wait before try ``attempt + 1`` of ``url``, or give up with ``HubUnavailableError``
        (with the client's hint on how to resume, if ``say_how_to_resume``)."""
        if attempt > self.max_retries:
            resume = f"; {self._give_up_hint}" if say_how_to_resume else ""
            endpoint = (
                f" (or, if {self._redact(self.endpoint)} is not the Hub, check --endpoint or "
                "HF_ENDPOINT)"
                if problem.not_a_hub and self._may_be_no_hub()
                else ""
            )
            raise HubUnavailableError(
                f"giving up on {self._redact(url)} after {self.max_retries} retries: "
                f"{problem}{resume}{endpoint}"
            ) from None
        # A wait the server asks for, but never less than the backoff: a Retry-After of
        # 0, or a date already past by our clock, must not send the retries at once.
        delay = self._backoff(attempt)
        if problem.wait is not None:
            delay = max(problem.wait, delay)
        if problem.at_least is not None:
            delay = max(delay, min(problem.at_least, self.backoff_cap))
        if problem.rate_limited:
            # With what RateLimit asks for, in one wait, counted as the rate limit's.
            delay = max(delay, self._rate_limit_wait)
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_seconds += delay
        self.stats.retries += 1
        log.info("retry %d/%d in %.1fs: %s", attempt, self.max_retries, delay, problem)
        self._wait("rate limit" if problem.rate_limited else "retry", delay)
        # A 5xx may also carry RateLimit's r=0: the time is spent once.
        self._rate_limit_wait = max(0.0, self._rate_limit_wait - delay)

    def _may_be_no_hub(self) -> bool:
        """Whether the endpoint may be a mistake: not the Hub's own address, and no page of the
        listing has come from it yet."""
        return (
            urlsplit(self.endpoint).hostname != "huggingface.co" and not self._answered_like_a_hub
        )

    def _retries_for(self, page: Page) -> int:
        """How often to ask again for a page that looks cut short.

        A page shorter than the limit asked for, while no next link has shown a cap, is most
        likely a whole listing that fits on one page: one answer alike confirms it, and each
        refresh of such a listing costs two requests, not four. An empty page, or one as long as
        the limit or a cap already seen, gets every retry.
        """
        limit = _requested_limit(page.url)
        if page.models and not self._full_page_size and limit and len(page.models) < limit:
            return SHORT_PAGE_RETRIES
        return SUSPICIOUS_PAGE_RETRIES

    def _looks_cut_short(self, page: Page) -> bool:
        """An empty page, or a full page without a next link, may be a glitch: ask again.

        Until a page with a next link has shown how many models the Hub puts on a page (it may
        cap below the limit asked for), any page without one counts as possibly full: taken for
        the end of the listing, a glitch there would end a full crawl early.
        """
        if not page.models:
            return True
        if page.next_url is not None:
            return False
        if not self._full_page_size:
            return True
        limit = _requested_limit(page.url) or self._full_page_size
        if self._ignores_limit:
            limit = self._full_page_size
        return len(page.models) >= min(limit, self._full_page_size)

    def _get(self, url: str) -> tuple[requests.Response, bytes, datetime | None]:
        """One GET of ``url``: the response, its body and its ``Date``; ``BadResponse`` for what
        is worth retrying (no answer, a broken one, 429, 5xx)."""
        # Counted when sent: a request whose answer breaks off has still spent quota.
        self.stats.requests += 1
        try:
            response = self.session.get(
                url, timeout=self.timeout, allow_redirects=True, stream=True
            )
            self.stats.requests += len(response.history)  # each redirect followed is one more
            try:
                body = self._read_body(response)
            finally:
                response.close()
        except requests.TooManyRedirects:
            self.stats.requests += self.session.max_redirects
            raise BadResponse(f"more than {self.session.max_redirects} redirects") from None
        except requests.ConnectTimeout:
            # Nothing accepted the connection: a Hub down, or an endpoint that is no server.
            raise BadResponse(
                f"no connection to {self._origin[1]} within {self.timeout:g}s", not_a_hub=True
            ) from None
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise BadResponse(f"no answer within {self.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise BadResponse(
                f"connection to {self._origin[1]} failed ({type(exc).__name__})", not_a_hub=True
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise BadResponse(f"broken response ({type(exc).__name__})") from None
        status = response.status_code
        self.stats.status_counts[status] = self.stats.status_counts.get(status, 0) + 1
        limit = self._note_rate_limit(response)

        served_at = _http_date(response.headers.get("Date"))
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), served_at)
            if wait is None:
                # Waiting for the window to reset only makes sense when the window is used up;
                # a 429 that still reports requests left is a burst limit: back off instead.
                if limit is not None and limit.remaining <= 0:
                    wait = self._window_wait(limit)
                elif limit is None and self._policy_window:
                    # A 429 that says nothing (the Hub's carry RateLimit): the quota resets
                    # at the latest when a window seen in earlier answers has passed.
                    wait = float(self._policy_window)
            raise BadResponse("429 Too Many Requests", wait=wait, rate_limited=True)
        if status >= 500 or status == 408:
            # A server in trouble may ask for a pause (Retry-After); it lengthens the backoff
            # up to its cap, but a 0 must not make the retries come all at once.
            asked = retry_after_seconds(response.headers.get("Retry-After"), served_at)
            raise BadResponse(f"HTTP {status}", at_least=asked)
        return response, body, served_at

    def _fetch_model(self, url: str) -> str | None:
        response, body, _ = self._get(url)
        if response.status_code >= 400:
            # 404 for a deleted model, 401/403 for one gone private; any other refusal (of an
            # odd legacy id, say) leaves it as unlisted as before it was asked about.
            return None
        # Anything but a model with its _id (a Hub or mirror that serves only the listing may
        # answer this path with anything) confirms nothing: the model stays unlisted.
        try:
            model = _parse_json(body)
        except (RecursionError, UnicodeDecodeError, ValueError):
            model = _lenient_json(body)
        object_id = model.get("_id") if isinstance(model, dict) else None
        if not isinstance(object_id, str):
            self.stats.lookups_not_a_model += 1
            return None
        return object_id

    def _fetch(self, url: str) -> Page:
        response, body, served_at = self._get(url)
        status = response.status_code
        if status in (401, 403):
            hint = (
                "check HF_TOKEN or log in again with `hf auth login`"
                if self._token
                else "no token was sent (set HF_TOKEN or log in with `hf auth login`"
                + (", and unset HF_HUB_DISABLE_IMPLICIT_TOKEN)" if _implicit_token_off() else ")")
            )
            raise HubAuthError(
                f"the Hub refused the request ({status} {self._quoted_error(response, body)}); "
                + hint
            )
        if status == 404:
            raise HubNotFoundError(
                f"{self.endpoint} has no model listing (404 at {self._redact(url)}); "
                "check --endpoint or HF_ENDPOINT"
            )
        if status >= 400:
            message = self._quoted_error(response, body)
            # The largest page size is not documented; a Hub may refuse one rather than cap it.
            refusal = f"the Hub answered {status} {message} for {self._redact(url)}"
            if "limit" in message.lower():
                raise PageSizeRefusedError(refusal + PAGE_SIZE_HINT)
            if status in (400, 422) and _requested_limit(url):
                # Its message need not name the limit: the size asked for may still be why.
                raise PageSizeRefusedError(refusal)
            raise HubRefusedError(refusal)

        try:
            models = _parse_json(body)
        except (RecursionError, UnicodeDecodeError, ValueError):
            models = _lenient_json(body)
            if models is None:
                kind = "HTML" if body.lstrip()[:1] == b"<" else "a body that is not JSON"
                raise BadResponse(
                    f"{kind} instead of the model list ({len(body)} bytes)", not_a_hub=True
                ) from None
        if not isinstance(models, list):
            said = models.get("error") if isinstance(models, dict) else None
            said = f": {self._quote(said)}" if isinstance(said, str) else ""
            raise BadResponse(f"a JSON {type(models).__name__} instead of the model list{said}")
        if models and not any(_looks_like_a_model(element) for element in models):
            # An error dressed as a list ([{"message": ...}]): believed, it would end the crawl
            # or mark the models of this page deleted. (A model without a usable _id is
            # skipped at the merge and counted as rejected.)
            raise BadResponse(f"a list of {len(models)} element(s), none of them a model")

        link_header = response.headers.get("Link")
        next_url = None
        if link_header:
            next_link = _next_link(link_header)
            if next_link:
                next_url = _with_listing_params(
                    self._same_origin(urljoin(response.url or url, next_link)), url
                )
            if next_url == url:
                raise BadResponse("a Link header pointing at the page itself")
        self._answered_like_a_hub = True
        return Page(url=url, models=models, body=body, next_url=next_url, served_at=served_at)

    def _read_body(self, response: requests.Response) -> bytes:
        """The whole body, read as it arrives (from when the headers are in). Each read is
        bounded by ``timeout``; so is the body, once ``timeout`` has passed, unless it arrives
        at a useful rate: a server sending a byte at a time would otherwise hold the crawl for
        ever, while a slow but steady link must still get its pages through. A body shorter
        than its Content-Length raises (urllib3's ``ProtocolError``)."""
        if response._content_consumed:  # read already, as responses' recorder does
            return response.content
        started = time.monotonic()
        chunks = []
        while chunk := response.raw.read1(_READ_SIZE, decode_content=True):
            chunks.append(chunk)
            received = response.raw.tell()  # bytes off the wire, before any decompression
            elapsed = time.monotonic() - started
            if elapsed > self.timeout and received < _MIN_BYTES_PER_SECOND * elapsed:
                raise BadResponse(
                    f"the page arrives at {received / elapsed:,.0f} bytes/s, too slowly to "
                    f"finish (after {elapsed:.0f}s)"
                )
        return b"".join(chunks)

    def _quoted_error(self, response: requests.Response, body: bytes) -> str:
        return self._quote(_error_message(response, body))

    def _quote(self, said: str) -> str:
        """What a server said, fit for one line of ours: without the token, and short."""
        return self._scrub(said)[:200]

    def _scrub(self, text: str) -> str:
        """``text`` without the token: a server may echo the credentials it refused."""
        return text.replace(self._token, "hf_***") if self._token else text

    def _same_origin(self, url: str) -> str:
        """Keep every request on the configured endpoint, so the token goes nowhere else.

        A proxy or mirror may hand out next links naming the upstream host; the path and cursor
        are what matter.
        """
        parts = urlsplit(url)
        path = parts.path
        if (parts.scheme, parts.netloc) == self._origin:
            # A mirror under a path that rewrites the upstream's host but not its paths.
            if not (self._prefix and path.startswith("/api/")):
                return url
        # A mirror under a path (https://host/mirror) that hands out the upstream's links.
        if self._prefix and not path.startswith(self._prefix + "/api/"):
            path = self._prefix + path
        return urlunsplit((*self._origin, path, parts.query, ""))

    def _before_following(self, response: requests.Response, **_: object) -> None:
        """A redirect spends quota too, and its RateLimit may say the window is used up: wait
        then, as before any request. (requests calls this hook on every answer, and asks for
        a redirect's Location straight after it.)"""
        if response.is_redirect:
            self._note_rate_limit(response)
            self._pace()

    def _note_rate_limit(self, response: requests.Response) -> RateLimit | None:
        """Keep what the answer says of the quota; return its limit, if it gives one."""
        windows = _policy_windows(response.headers.get("RateLimit-Policy"))
        if windows:
            self._policy_window = max(windows)
        limit = RateLimit.from_headers(response.headers)
        if limit is not None and limit.remaining <= 0:
            self._rate_limit_wait = self._window_wait(limit)
        else:
            self._rate_limit_wait = 0.0
        return limit

    def _window_wait(self, limit: RateLimit) -> float:
        """Seconds until the window has surely reset: ``t`` plus a second.

        ``t`` is whole seconds, rounded in a way the notes do not say: rounded down, the window
        resets up to a second after it, and a wait of ``t`` alone would run into a 429 (a
        second is 0.3% of the Hub's 5-minute window). Without any reset time, a second, then
        the retry backoff.
        """
        return (limit.reset_seconds or 0) + 1.0

    def _pace(self) -> None:
        if self._rate_limit_wait > 0:
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_seconds += self._rate_limit_wait
            log.info(
                "rate limit reached; waiting %.1fs for the window to reset", self._rate_limit_wait
            )
            self._wait("rate limit", self._rate_limit_wait)
            self._rate_limit_wait = 0.0

    def _backoff(self, attempt: int) -> float:
        # "Full jitter" exponential backoff: spreads retries from many cron jobs apart.
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _wait(self, reason: str, seconds: float) -> None:
        if self.on_wait is not None:
            self.on_wait(reason, seconds)
        self._sleep(seconds)

    def _redact(self, url: str) -> str:
        """The URL without its query (cursors are long and say nothing to a user), and without
        the token should a server have put it in a next link's path."""
        parts = urlsplit(url)
        return self._scrub(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))


def normalized_endpoint(endpoint: str) -> str:
    """``endpoint`` with its scheme and host in lower case and no trailing slash: they are
    case-insensitive, and one Hub's history must not split on their spelling (an endpoint
    saved by an hfstats that kept the spelling compares equal through this too)."""
    try:
        parts = urlsplit(endpoint.rstrip("/"))
    except ValueError:  # not a URL: compared as it is
        return endpoint
    # No user:password@ reaches the client (refused), so the whole netloc is the host.
    return parts._replace(netloc=parts.netloc.lower()).geturl()


def _endpoint_parts(endpoint: str) -> SplitResult:
    """The endpoint split into its parts, or a ``UsageError`` saying what is wrong with it."""
    shown = endpoint if len(endpoint) <= 200 else endpoint[:200] + "…"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise UsageError(f"endpoint {shown!r} is not a valid URL ({exc})") from None
    if any(c.isspace() or not c.isprintable() for c in parts.netloc):
        raise UsageError(f"endpoint {shown!r} has a space or control character in its host")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"endpoint {shown!r} is not an http(s) URL; pass e.g. --endpoint https://huggingface.co"
        )
    if parts.query or parts.fragment or endpoint.endswith(("?", "#")):
        raise UsageError(
            f"endpoint {shown!r} has a query or fragment; give the Hub's base URL "
            "(e.g. https://huggingface.co)"
        )
    if parts.username is not None or parts.password is not None:
        # The endpoint is stored with every snapshot and exported: no secret may ride in it.
        raise UsageError(
            "the endpoint URL holds credentials; give the token in HF_TOKEN (or `hf auth "
            "login`) and the endpoint without user:password@"
        )
    return parts


# What the listing is asked for: a next link without them would list the models without their
# files, commits and times (the default element), or in another order than the cursor's.
_LISTING_PARAMS = ("full", "sort", "limit")


def _with_listing_params(next_url: str, url: str) -> str:
    """``next_url`` with any of ``full``, ``sort`` and ``limit`` it lacks taken from ``url``,
    the page it was linked from. The notes promise a cursor in the link, not the rest of the
    query; the link's own query is kept as it is (the cursor is opaque)."""
    parts = urlsplit(next_url)
    linked = parse_qs(parts.query, keep_blank_values=True)
    asked = parse_qs(urlsplit(url).query, keep_blank_values=True)
    missing = [
        (key, asked[key][0]) for key in _LISTING_PARAMS if key in asked and key not in linked
    ]
    if not missing:
        return next_url
    query = "&".join(part for part in (parts.query, urlencode(missing)) if part)
    return urlunsplit(parts._replace(query=query))


def _requested_limit(url: str) -> int | None:
    """The page size a listing URL asks for, if it says."""
    values = parse_qs(urlsplit(url).query).get("limit", [])
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _parse_json(body: bytes) -> object:
    """``json.loads`` with the cyclic garbage collector paused.

    A 1,000-model page parses into some 50,000 dicts and lists. JSON cannot form reference
    cycles, yet every allocation counts towards the collector, which then walks the half-built
    page again and again: pausing it made the crawl loop about 15% faster.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(body)
    finally:
        if enabled:
            gc.enable()


def _lenient_json(body: bytes) -> object | None:
    """Parse a body that is JSON apart from invalid UTF-8 bytes, or nested deeper than Python's
    parser reaches; None if it is not JSON."""
    text = body.decode("utf-8", "replace")
    try:
        try:
            return json.loads(text)
        except RecursionError:
            # One model's free-form field nested a thousand deep must not stop every crawl:
            # the crawl reads only top-level keys, and the merge reads the body as sent. What
            # the shallow copy leaves out must still be JSON, or the merge would fail on it.
            shallow = json.loads(_shallow(text))
            return shallow if _valid_json_at_any_depth(text) else None
    except (ValueError, RecursionError):
        return None


def _valid_json_at_any_depth(text: str) -> bool:
    """Whether DuckDB's JSON parser, which the merge reads pages with, takes ``text``."""
    import duckdb  # only for this rare page: the HTTP client needs no database otherwise

    with duckdb.connect() as connection:
        return bool(connection.execute("SELECT json_valid(?)", [text]).fetchone()[0])


# A JSON string, or a bracket outside strings.
_JSON_STRING_OR_BRACKET_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
SHALLOW_DEPTH = 100


def _shallow(text: str, depth: int = SHALLOW_DEPTH) -> str:
    """``text`` with every array or object nested deeper than ``depth`` replaced by null.

    Iterative, so any depth is read. What is cut is not checked: a body with invalid JSON
    there becomes valid."""
    parts = []
    kept_from = 0
    level = 0
    cut_from = None
    for token in _JSON_STRING_OR_BRACKET_RE.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            level += 1
            if level == depth + 1:
                cut_from = token.start()
        elif bracket in "]}":
            if level == depth + 1 and cut_from is not None:
                parts.append(text[kept_from:cut_from])
                parts.append("null")
                kept_from = token.end()
                cut_from = None
            level -= 1
    parts.append(text[kept_from:])
    return "".join(parts)


# One link of a Link header: <URI>, then its parameters up to the next link. Both patterns
# match in linear time: the header comes from the server, so it may be hostile.
_LINK_RE = re.compile(r"<([^<>]*)>([^<]*)")
# One parameter (RFC 8288): names are case-insensitive; a quoted value may hold ; and ,
_LINK_PARAM_RE = re.compile(r';[ \t]*([^\s;,=]+)(?:[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^\s;,"]*))?')
# A registered relation type (RFC 8288 reg-rel-type); an extension type is a URI.
_RELATION_RE = re.compile(r"[a-z][a-z0-9.\-]*|[a-z][a-z0-9+.\-]*:\S+")
# What may stand between links and parameters: RFC 9110 lists allow empty elements.
_LIST_FILLER = " \t,;"


def _parse_links(header: str) -> tuple[list[tuple[str, list[str]]], bool]:
    """The links of a ``Link`` header as (URI, relation types, lower-cased), and whether the
    whole header is well formed (one cut short, or with garbage in it, is not)."""
    links = []
    well_formed = True
    position = 0
    for match in _LINK_RE.finditer(header):
        if header[position : match.start()].strip(_LIST_FILLER):
            well_formed = False
        params: dict[str, str] = {}
        for name, value in _LINK_PARAM_RE.findall(match.group(2)):
            # A parameter given twice counts the first time (RFC 8288).
            params.setdefault(name.lower(), value[1:-1] if value.startswith('"') else value)
        if _LINK_PARAM_RE.sub("", match.group(2)).strip(_LIST_FILLER):
            well_formed = False
        links.append((match.group(1).strip(), params.get("rel", "").lower().split()))
        position = match.end()
    if not links or header[position:].strip(_LIST_FILLER):
        well_formed = False
    return links, well_formed


def _garbled_next(relation: str) -> bool:
    """A relation type that may be a damaged ``next``: cut short (``n``, ``nex``) or misspelt."""
    return "next".startswith(relation) or SequenceMatcher(None, relation, "next").ratio() >= 0.75


def _next_link(header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header; None when it only names other links.

    Relation types are case-insensitive and may be several (RFC 8288). A header whose links
    are all well formed but none is ``next`` (``prev``/``first``/``last`` as on GitHub, a
    proxy's ``canonical`` or ``preload``, a server's own relation types) marks the last page.
    One with any damaged link, or a ``next`` without a URL, is a damaged response, retried
    rather than taken for the end of the listing (which, in a full crawl, would mark every
    later model deleted).
    """
    links, well_formed = _parse_links(header)
    for url, relations in links:
        if "next" in relations:
            if url:
                return url
            raise BadResponse("a Link header with an empty rel=next URL")
    # No next link: the end, but only if every link is whole. One damaged link beside good
    # ones (a cut "rel=n") may have been the next one.
    whole = well_formed and all(
        url
        and not any(ch.isspace() for ch in url)
        and relations
        and all(_RELATION_RE.fullmatch(r) and not _garbled_next(r) for r in relations)
        for url, relations in links
    )
    if not whole:
        raise BadResponse("a Link header without a usable rel=next URL")
    return None


def _looks_like_a_model(element: object) -> bool:
    return isinstance(element, dict) and any(key in element for key in ("_id", "id", "modelId"))


def _error_message(response: requests.Response, body: bytes) -> str:
    message = response.headers.get("X-Error-Message")
    if not message:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict):
            # The Hub says {"error": ...}; a proxy or framework in front of it may say
            # {"detail": ...} (a string, or a list of problems).
            found = payload.get("error") or payload.get("detail")
            message = found if isinstance(found, str) or found is None else json.dumps(found)
    return (message or response.reason or "").strip().replace("\n", " ")
