"""A local stand-in for the Hub's model listing, for tests and benchmarks.

It follows ``shared/hub-api/README.md``: ``GET /api/models`` returns a JSON array sorted by
``lastModified`` (newest first, ties by ``_id``), pages through an opaque keyset ``cursor`` in a
``Link: <URL>; rel="next"`` header, and sends ``RateLimit``/``RateLimit-Policy`` headers.
``GET /api/models/{id}`` answers a model's element (a renamed model's old id redirects, 307),
or 404. It can enforce a quota (429 past it), add latency, check a token, and inject faults per
listing request. It binds to 127.0.0.1 only and stops when its context exits.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .synthetic import touch

FAULTS = (
    "429",  # Too Many Requests, no Retry-After
    "429-retry-after",  # Too Many Requests with Retry-After: 1
    "ratelimit-exhausted",  # a normal page whose RateLimit header says r=0
    "500",
    "502",
    "503",
    "504",  # 5xx with an HTML body
    "html-200",  # 200 with an HTML maintenance page
    "truncated",  # Content-Length promises more than is sent
    "reset",  # the connection is closed with a TCP reset, no response
    "stall",  # no answer for longer than the client's timeout
    "trickle",  # the page a byte at a time, for longer than the client's timeout, then a reset
    "empty",  # 200 with [] (and the page's usual Link header)
    "repeat-previous",  # the page also carries the models of the previous page
    "missing-link",  # the page without its Link header
    "garbled-link",  # a Link header with no usable rel="next" URL
    "rename-between",  # a not-yet-listed model is renamed before this page is served
    "delete-between",  # a not-yet-listed model is deleted before this page is served
    "commit-ahead",  # a not-yet-listed model gets a commit, so it sorts above the cursor
)

MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Hugging Face - Maintenance</title></head>"
    b"<body><h1>We'll be right back</h1></body></html>"
)


def _cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _uncursor(value: str) -> tuple[str, str] | None:
    try:
        padded = value + "=" * (-len(value) % 4)
        last_modified, object_id = json.loads(base64.urlsafe_b64decode(padded))
        return str(last_modified), str(object_id)
    except (ValueError, TypeError):
        return None


@dataclass
class Quota:
    requests: int
    window_seconds: float
    send_headers: bool = True
    # RateLimit's t in whole seconds, rounded up; or down, which the notes do not rule out.
    reset_rounded_down: bool = False


@dataclass
class FakeHubStats:
    requests: int = 0
    listing_requests: int = 0
    too_many_requests: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)


class FakeHub:
    """The model listing over a mutable set of model elements."""

    def __init__(
        self,
        models: Iterable[dict] = (),
        *,
        max_page_size: int = 1000,
        quota: Quota | None = None,
        latency: float = 0.0,
        token: str | None = None,
        stall_seconds: float = 3.0,
        faults: Callable[[int, str], str | None] | None = None,
        max_requests: int = 1_000_000,
        link_base: str | None = None,
        clock_offset: float = 0.0,
        refuse_page_size_above: int | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, dict] = {}
        self._bodies: dict[str, bytes] = {}
        self._old_ids: dict[str, str] = {}  # a renamed model's former id -> its _id
        self._sorted: list[tuple[str, str]] | None = None
        self.max_page_size = max_page_size
        self.quota = quota
        self.latency = latency
        self.token = token
        self.stall_seconds = stall_seconds
        self.faults = faults
        self.max_requests = max_requests
        # Next links name this base URL instead of the host asked (a mirror, or a hostile
        # listing sending the crawler elsewhere).
        self.link_base = link_base
        # Seconds the Date header runs ahead of the clock the models' times come from.
        self.clock_offset = clock_offset
        # A larger limit is answered 400, as a Hub may refuse what it does not take (the largest
        # page size is not documented) instead of sending fewer.
        self.refuse_page_size_above = refuse_page_size_above
        self.stats = FakeHubStats()
        self.requests_seen: list[dict] = []
        self._window_start = time.monotonic()
        self._window_used = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._previous_page: list[str] = []
        for model in models:
            self.upsert(model)

    # -- the data ------------------------------------------------------------------------------

    def upsert(self, model: dict) -> None:
        with self._lock:
            self._models[model["_id"]] = model
            self._bodies[model["_id"]] = _element_body(model)
            self._sorted = None

    def delete(self, object_id: str) -> None:
        with self._lock:
            self._models.pop(object_id, None)
            self._bodies.pop(object_id, None)
            self._sorted = None

    def rename(self, object_id: str, new_id: str) -> None:
        with self._lock:
            model = dict(self._models[object_id])
            self._old_ids[model["id"]] = object_id
            model["id"] = new_id
            if "modelId" in model:
                model["modelId"] = new_id
            self.upsert(model)

    def model_info(self, model_id: str) -> tuple[int, bytes, dict[str, str]]:
        """What ``GET /api/models/{model_id}`` answers: status, body and extra headers."""
        with self._lock:
            for object_id, model in self._models.items():
                if model.get("id") == model_id:
                    return 200, self._bodies[object_id], {}
            object_id = self._old_ids.get(model_id)
            if object_id in self._models:
                return 307, b"", {"Location": f"/api/models/{self._models[object_id]['id']}"}
        return 404, b'{"error":"Repository not found"}', {}

    def models(self) -> list[dict]:
        """The listing as it stands now, in no particular order."""
        with self._lock:
            return list(self._models.values())

    def _order(self) -> list[tuple[str, str]]:
        # Ascending (lastModified, _id); the listing reads it backwards (newest first).
        if self._sorted is None:
            self._sorted = sorted(
                (str(m.get("lastModified", "")), object_id) for object_id, m in self._models.items()
            )
        return self._sorted

    def page(self, limit: int, cursor: str | None) -> tuple[list[str], str | None]:
        """Object ids of one page and the cursor of the next (None on the last page)."""
        with self._lock:
            order = self._order()
            end = len(order)
            if cursor is not None:
                key = _uncursor(cursor)
                if key is None:
                    raise ValueError("bad cursor")
                end = bisect.bisect_left(order, key)
            start = max(0, end - min(limit, self.max_page_size))
            ids = [object_id for _, object_id in reversed(order[start:end])]
            next_cursor = _cursor(order[start]) if start > 0 else None
            return ids, next_cursor

    # -- the server ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake_hub = hub

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- one request ---------------------------------------------------------------------------

    def _rate_limit(self) -> tuple[bool, dict[str, str]]:
        """Count a request against the quota; (allowed, headers)."""
        with self._lock:
            if self.quota is None:
                return True, {
                    "RateLimit": '"api";r=999;t=300',
                    "RateLimit-Policy": '"fixed window";"api";q=1000;w=300',
                }
            now = time.monotonic()
            if now - self._window_start >= self.quota.window_seconds:
                self._window_start = now
                self._window_used = 0
            self._window_used += 1
            remaining = max(0, self.quota.requests - self._window_used)
            reset = max(0.0, self.quota.window_seconds - (now - self._window_start))
            headers = {}
            if self.quota.send_headers:
                seconds = int(reset) if self.quota.reset_rounded_down else math.ceil(reset)
                headers = {
                    "RateLimit": f'"api";r={remaining};t={seconds}',
                    "RateLimit-Policy": (
                        f'"fixed window";"api";q={self.quota.requests};w={int(self.quota.window_seconds)}'
                    ),
                }
            return self._window_used <= self.quota.requests, headers

    def _mutate_ahead(self, cursor: str | None, kind: str, page_size: int) -> None:
        """Rename, delete or commit to a model that the crawl has not reached yet."""
        with self._lock:
            order = self._order()
            end = (
                len(order)
                if cursor is None
                else bisect.bisect_left(order, _uncursor(cursor) or ("", ""))
            )
            # Past the page about to be served: a model the crawl will only reach later.
            candidates = order[: max(0, end - page_size)]
            if not candidates:
                return
            _, object_id = candidates[len(candidates) // 2]
            if kind == "delete-between":
                self.delete(object_id)
            elif kind == "commit-ahead":
                self.upsert(touch(self._models[object_id], datetime.now(UTC)))
            else:
                model = self._models[object_id]
                self.rename(object_id, f"{model.get('id', object_id)}-renamed")


def _element_body(model: dict) -> bytes:
    """The element as the Hub serialises it: UTF-8, with lone surrogates as ``\\uXXXX`` escapes
    (JavaScript's JSON.stringify does that; they cannot be encoded as UTF-8)."""
    try:
        return json.dumps(model, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(model).encode()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: tuple) -> None:
        # A client that hangs up mid-response (a killed crawler, a timeout) is part of the
        # tests, not an error worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (40 ms a request on Linux), which dominated every test crawl.
    disable_nagle_algorithm = True
    fake_hub: FakeHub

    def log_message(self, format: str, *args: object) -> None:  # quiet server
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is None:
            timestamp = time.time() + self.fake_hub.clock_offset
        return super().date_time_string(timestamp)

    def do_GET(self) -> None:  # http.server's naming
        hub = self.fake_hub
        with hub._lock:
            hub.stats.requests += 1
            number = hub.stats.requests
            hub.requests_seen.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "user_agent": self.headers.get("User-Agent"),
                }
            )
        if number > hub.max_requests:
            self._send(503, b"request budget of the test hub exhausted", {}, "text/plain")
            return
        if hub.latency:
            time.sleep(hub.latency)
        allowed, headers = hub._rate_limit()
        if not allowed:
            with hub._lock:
                hub.stats.too_many_requests += 1
            self._send(429, b'{"error":"Too Many Requests"}', headers)
            return
        parts = urlsplit(self.path)
        if hub.token is not None and self.headers.get("Authorization") != f"Bearer {hub.token}":
            self._send(401, b'{"error":"Invalid username or password."}', headers)
            return
        if parts.path.startswith("/api/models/"):
            status, body, more = hub.model_info(unquote(parts.path.removeprefix("/api/models/")))
            self._send(status, body, headers | more)
            return
        if parts.path != "/api/models":
            self._send(404, b'{"error":"Not Found"}', headers)
            return
        query = parse_qs(parts.query)
        try:
            limit = int(query.get("limit", ["1000"])[0])
        except ValueError:
            limit = 1000
        cursor = query.get("cursor", [None])[0]
        if hub.refuse_page_size_above is not None and limit > hub.refuse_page_size_above:
            with hub._lock:
                hub.stats.listing_requests += 1
            largest = hub.refuse_page_size_above
            refusal = {"error": f'"limit" must be less than or equal to {largest}'}
            self._send(400, json.dumps(refusal).encode(), headers)
            return
        fault = hub.faults(number, self.path) if hub.faults else None
        if fault:
            with hub._lock:
                hub.stats.faults_injected[fault] = hub.stats.faults_injected.get(fault, 0) + 1
        hub.stats.listing_requests += 1
        if fault in ("rename-between", "delete-between", "commit-ahead"):
            hub._mutate_ahead(cursor, fault, max(1, min(limit, hub.max_page_size)))
        if fault in ("429", "429-retry-after"):
            extra = {"Retry-After": "1"} if fault == "429-retry-after" else {}
            self._send(429, b'{"error":"Too Many Requests"}', {**headers, **extra})
            return
        if fault in ("500", "502", "503", "504"):
            body = f"<html><body><h1>{fault} Server Error</h1></body></html>".encode()
            self._send(int(fault), body, headers, "text/html")
            return
        if fault == "html-200":
            self._send(200, MAINTENANCE_PAGE, headers, "text/html")
            return
        if fault == "reset":
            self._reset()
            return
        if fault == "stall":
            time.sleep(hub.stall_seconds)
            self._reset()
            return
        if fault == "ratelimit-exhausted":
            headers["RateLimit"] = '"api";r=0;t=1'
        try:
            ids, next_cursor = hub.page(limit, cursor)
        except ValueError:
            self._send(400, b'{"error":"Invalid cursor"}', headers)
            return
        with hub._lock:
            page_ids = list(ids)
            if fault == "repeat-previous":
                page_ids = hub._previous_page + page_ids
            if fault != "empty":
                hub._previous_page = list(ids)
            bodies = [hub._bodies[i] for i in page_ids if i in hub._bodies]
        if fault == "empty":
            bodies = []
        body = b"[" + b",".join(bodies) + b"]"
        if next_cursor is not None:
            base = hub.link_base or f"http://{self.headers.get('Host', '127.0.0.1')}"
            next_query = urlencode({**{k: v[0] for k, v in query.items()}, "cursor": next_cursor})
            link = f'<{base}/api/models?{next_query}>; rel="next"'
            if fault == "garbled-link":
                link = f"<{base}/api/models?{next_query}; rel=nxet"
            if fault != "missing-link":
                headers["Link"] = link
        elif fault == "garbled-link":
            headers["Link"] = "garbage;;"
        if fault == "truncated":
            self._send(200, body, headers, truncate=True)
            return
        if fault == "trickle":
            self._send(200, body, headers, trickle_seconds=hub.stall_seconds)
            return
        self._send(200, body, headers)

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str],
        content_type: str = "application/json; charset=utf-8",
        truncate: bool = False,
        trickle_seconds: float = 0.0,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[: max(1, len(body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            self._reset()
            return
        if trickle_seconds:
            # Every read returns within the client's timeout, the whole page never does.
            until = time.monotonic() + trickle_seconds
            for byte in body:
                if time.monotonic() > until:
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.02)
            self._reset()
            return
        self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True


def random_faults(
    rate: float, seed: int, kinds: Iterable[str] = FAULTS
) -> Callable[[int, str], str | None]:
    """A fault plan injecting one of ``kinds`` into about ``rate`` of requests."""
    rng = random.Random(seed)
    kinds = list(kinds)

    def plan(number: int, path: str) -> str | None:
        return rng.choice(kinds) if rng.random() < rate else None

    return plan


def faults_at(schedule: dict[int, str]) -> Callable[[int, str], str | None]:
    """A fault plan injecting ``schedule[n]`` into the n-th request (1-based)."""
    return lambda number, path: schedule.get(number)
