"""Recorded HTTP: the one place that touches ``responses``' recorder API (marked beta).

A recording is the YAML file ``responses._recorder`` writes and ``responses._add_from_file``
reads: ``{"responses": [{"response": {method, url, body, status, headers, content_type,
auto_calculate_content_length}}, ...]}``, in request order. ``replay`` serves one back in that
order (``OrderedRegistry``); ``record`` crawls a live Hub through the real crawler while
recording, then scrubs the token and cookies before anything reaches the disk.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

import requests
import responses
import yaml
from responses import _recorder
from responses.registries import OrderedRegistry

from . import crawl, store
from .errors import UsageError, require_folder
from .hub import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, HubClient, models_url, resolve_token

# Response headers a recording must never keep: they carry credentials or session state.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Headers describing the bytes on the wire. A recording stores the decoded text, so replaying
# them would make requests gunzip plain text or expect a different length. Content-type lives
# in the entry's content_type field: the recorder drops only a header spelled "Content-Type",
# and ``_add_from_file`` refuses an entry that has both (a server may send "content-type").
TRANSPORT_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "content-type"}
)
SCRUBBED = "REDACTED"


@dataclass(frozen=True)
class ListingRequest:
    """Where a recorded crawl starts: the endpoint and page size to replay it with."""

    endpoint: str
    page_size: int


@dataclass
class RecordResult:
    path: Path
    responses: int
    truncated_pages: int
    refresh: crawl.RefreshResult


def _document(path: str | Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise UsageError(f"no recording at {path}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not a readable recording: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("responses"), list):
        raise UsageError(f"{path} is not a responses recording (no top-level `responses:` list)")
    return data


def load(path: str | Path) -> list[dict]:
    """The recorded responses of ``path``, in order, as plain dicts."""
    return [entry["response"] for entry in _document(path)["responses"]]


def recorded_at(path: str | Path) -> datetime | None:
    """When the crawl in ``path`` was recorded (its ``recorded_at``), if the recording says."""
    value = _document(path).get("recorded_at")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{path}: recorded_at {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise UsageError(f"{path}: recorded_at {value!r} has no time zone")
    return moment.astimezone(UTC)


def save(entries: list[dict], path: str | Path, recorded_at: datetime | None = None) -> None:
    """Write ``entries`` in the recorder's format (the same ``yaml.dump`` call), atomically.

    ``recorded_at`` (when the crawl was made) is kept beside them: ``responses`` reads only the
    ``responses`` key, and a replay's snapshot is of the Hub at that time, not of the replay's.
    """
    path = Path(path)
    document: dict = {"responses": [{"response": entry} for entry in entries]}
    if recorded_at is not None:
        document["recorded_at"] = recorded_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    tmp = store.beside(path, ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        yaml.dump(document, handle)
    os.replace(tmp, path)


def first_listing_request(path: str | Path) -> ListingRequest:
    """The endpoint and ``limit`` of a recording's first request, to replay it faithfully."""
    entries = load(path)
    if not entries:
        raise UsageError(f"{path} records no responses")
    parts = urlsplit(entries[0]["url"])
    limits = parse_qs(parts.query).get("limit", [])
    if not limits or not limits[0].isdigit():
        raise UsageError(f"{path} does not start with a model listing request ({parts.path})")
    return ListingRequest(urlunsplit((parts.scheme, parts.netloc, "", "", "")), int(limits[0]))


@contextmanager
def replay(path: str | Path, *, assert_all_used: bool = False) -> Iterator[responses.RequestsMock]:
    """Serve the recording at ``path`` to every ``requests`` call, strictly in order.

    A request that is not the next one recorded fails with ``ConnectionError``. With
    ``assert_all_used``, leaving the block with recorded responses unused fails too.
    """
    mock = responses.RequestsMock(
        registry=OrderedRegistry, assert_all_requests_are_fired=assert_all_used
    )
    mock._add_from_file(file_path=path)
    with mock:
        yield mock


def scrub(entries: list[dict], secrets: list[str]) -> list[dict]:
    """The entries without credential or transport headers, each secret replaced everywhere."""
    secrets = [s for s in secrets if s]

    def clean(value: object) -> object:
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, SCRUBBED)
            return value
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned = []
    for entry in entries:
        entry = dict(entry)
        headers = {
            name: value
            for name, value in (entry.get("headers") or {}).items()
            if name.lower() not in SECRET_HEADERS | TRANSPORT_HEADERS
        }
        entry.pop("headers", None)
        if headers:
            entry["headers"] = headers
        cleaned.append(clean(entry))
    return cleaned


class _ListingTruncator:
    """A ``requests`` response hook that ends every pass over the listing after N pages.

    Removing the ``Link`` header of the N-th page of a pass (the first listing and the full
    crawl's catch-up) makes the live crawl finish as if the Hub had only those pages. The
    recording is then truncated the same way, so a replay makes exactly the requests recorded.
    """

    def __init__(self, first_url: str, max_pages: int) -> None:
        self.first_key = _url_key(first_url)
        self.max_pages = max_pages
        self.depth: dict[str, int] = {}
        self.truncated: set[str] = set()

    def __call__(self, response: requests.Response, **_: object) -> requests.Response:
        key = _url_key(response.request.url)
        depth = 1 if key == self.first_key else self.depth.get(key)
        next_url = response.links.get("next", {}).get("url")
        if depth is None or not next_url:
            return response
        if depth >= self.max_pages:
            del response.headers["Link"]
            self.truncated.add(key)
        else:
            self.depth[_url_key(urljoin(response.request.url, next_url))] = depth + 1
        return response


def _check_writable(out_path: Path, db_path: Path | None) -> None:
    """Refuse a recording path that cannot be written, or whose file is not a recording: a
    mistyped argument must not replace a database or anything else with YAML."""
    require_folder(out_path.resolve().parent)
    if db_path is not None and db_path.resolve() == out_path.resolve():
        raise UsageError(f"{out_path} is the --db database: give the recording another path")
    if out_path.is_dir():
        raise UsageError(f"{out_path} is a folder: give the recording a file's path")
    if out_path.exists() and not _holds_a_recording(out_path):
        raise UsageError(
            f"{out_path} exists and is not a recording, which is all `hfstats record` replaces: "
            "give the recording another path"
        )
    tmp = store.beside(out_path, ".tmp")  # as save writes it
    try:
        tmp.open("w").close()
        tmp.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write {tmp}: {exc.strerror}") from None


def _holds_a_recording(path: Path) -> bool:
    """Whether ``path`` is empty or starts as ``save`` writes a recording (sorted keys)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if b"\0" in head:
        return False
    for line in head.decode("utf-8", errors="replace").splitlines():
        if line.strip() and not line.startswith("#"):
            return line.startswith(("recorded_at:", "responses:"))
    return True


def _url_key(url: str) -> str:
    """Path and query as ``requests`` sends them, whatever host a next link names."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    parts = urlsplit(prepared.url)
    return f"{parts.path}?{parts.query}"


def record(
    out_path: str | Path,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    page_size: int = 100,
    max_pages: int = 3,
    db_path: str | Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> RecordResult:
    """Crawl ``endpoint`` with the real crawler while recording every response to ``out_path``.

    ``token`` as in ``crawl.refresh``: None is huggingface_hub's ($HF_TOKEN or the cached
    login), False none.

    Each pass over the listing stops after ``max_pages`` pages (see ``_ListingTruncator``).
    The crawl goes into ``db_path`` if given (to record an incremental crawl after a first
    recording), otherwise into a throwaway database. ``timeout`` and ``max_retries`` are the
    client's, as for ``hfstats refresh``. Authorization, cookie and set-cookie headers are
    dropped and the token string is replaced wherever it appears before the recording is
    written. ``sleep`` is injectable so that tests need not wait out backoffs.

    The last page of a truncated pass is a full page without a next link, which the client
    asks for again a few times before believing it; those requests are recorded too, and a
    replay makes them the same way.
    """
    if max_pages < 1:
        raise UsageError("--max-pages must be at least 1")
    # Checked before the crawl, which may take minutes (and quota) against a slow Hub.
    _check_writable(Path(out_path), Path(db_path) if db_path is not None else None)
    token = resolve_token(token)  # the one to scrub, wherever it came from
    session = requests.Session()
    client = HubClient(
        endpoint,
        token or False,  # resolved: None here means none, not huggingface_hub's
        session=session,
        sleep=sleep,
        timeout=timeout,
        max_retries=max_retries,
        give_up_hint="run `hfstats record` again later",
    )
    truncator = _ListingTruncator(models_url(client.endpoint, page_size), max_pages)
    session.hooks["response"].append(truncator)
    recorder = _recorder.Recorder()
    with tempfile.TemporaryDirectory(prefix="hfstats-record-") as scratch:
        target = Path(db_path) if db_path is not None else Path(scratch) / "recording.duckdb"
        raw = io.StringIO()
        with recorder:
            # A fresh database makes this a full crawl; an existing one, an incremental crawl.
            result = crawl.refresh(target, page_size=page_size, client=client)
            # Inside the block: leaving it resets the recorder's registry.
            _recorder._dump(recorder.get_registry().registered, raw, yaml.dump)
    entries = yaml.safe_load(raw.getvalue())["responses"]
    entries = [entry["response"] for entry in entries]
    for entry in entries:
        if _url_key(entry["url"]) in truncator.truncated:
            entry["headers"] = {
                k: v for k, v in (entry.get("headers") or {}).items() if k.lower() != "link"
            }
    entries = scrub(entries, [token] if token else [])
    save(entries, out_path, recorded_at=datetime.now(UTC))
    return RecordResult(
        path=Path(out_path),
        responses=len(entries),
        truncated_pages=len(truncator.truncated),
        refresh=result,
    )
