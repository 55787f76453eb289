"""Serve a cached synthetic listing from its own process, controlled over stdin.

The benchmarks run the FakeHub here so that its CPU time and memory are not counted against
the measured crawler (the machine has two cores). Usage::

    python -m benchmarks.serve MODELS_FILE [--quota REQUESTS WINDOW_SECONDS] [--no-headers]

It prints ``url http://127.0.0.1:PORT`` once it listens, then answers one line per command:
``touch FRACTION SEED`` (a new commit, now, on that share of the models: ``ok COUNT``),
``stats`` (the hub's request counters as JSON), ``restart-window`` (``ok``: a quota window
starts now, so a measured crawl starts on a fresh window) and ``quit``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from hfstats.testing.fakehub import FakeHub, Quota
from hfstats.testing.synthetic import touch


class LeanFakeHub(FakeHub):
    """A FakeHub keeping each model as its serialised element plus the keys the listing needs.

    A million element dicts take several GB of Python objects; their JSON bodies about one. This
    relies on FakeHub's internals (``_models`` for sorting, ``_bodies`` for serving), hence the
    subclass lives next to the only code that needs it.
    """

    def add_serialised(
        self, object_id: str, last_modified: str, model_id: str, body: bytes
    ) -> None:
        with self._lock:
            self._models[object_id] = {
                "_id": object_id,
                "id": model_id,
                "lastModified": last_modified,
            }
            self._bodies[object_id] = body
            self._sorted = None

    def upsert(self, model: dict) -> None:
        body = json.dumps(model, ensure_ascii=False).encode()
        self.add_serialised(model["_id"], str(model.get("lastModified", "")), model.get("id"), body)

    def element(self, object_id: str) -> dict:
        with self._lock:
            return json.loads(self._bodies[object_id])

    def object_ids(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def restart_quota_window(self) -> None:
        with self._lock:
            self._window_start = time.monotonic()
            self._window_used = 0


def load(hub: LeanFakeHub, models_file: Path) -> None:
    """Read a file written by ``harness.models_file``: lastModified, _id, id, JSON per line."""
    with open(models_file, "rb") as lines:
        for line in lines:
            last_modified, object_id, model_id, body = line.rstrip(b"\n").split(b"\t", 3)
            hub.add_serialised(object_id.decode(), last_modified.decode(), model_id.decode(), body)


def touch_share(hub: LeanFakeHub, fraction: float, seed: int) -> int:
    """Give ``fraction`` of the models (chosen by ``seed``) a new commit now; how many."""
    object_ids = hub.object_ids()
    count = max(1, round(len(object_ids) * fraction))
    moment = datetime.now(UTC)
    for object_id in random.Random(seed).sample(object_ids, count):
        hub.upsert(touch(hub.element(object_id), moment))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_file", type=Path)
    parser.add_argument("--quota", nargs=2, type=float, metavar=("REQUESTS", "WINDOW_SECONDS"))
    parser.add_argument("--no-headers", action="store_true", help="Send no RateLimit headers.")
    args = parser.parse_args()
    quota = None
    if args.quota:
        quota = Quota(int(args.quota[0]), args.quota[1], send_headers=not args.no_headers)
    hub = LeanFakeHub(quota=quota)
    load(hub, args.models_file)
    hub.page(1, None)  # sort once now rather than inside the first measured request
    with hub:
        print("url", hub.url, flush=True)
        for line in sys.stdin:
            command, *arguments = line.split()
            if command == "touch":
                reply = f"ok {touch_share(hub, float(arguments[0]), int(arguments[1]))}"
            elif command == "stats":
                reply = json.dumps(asdict(hub.stats))
            elif command == "restart-window":
                hub.restart_quota_window()
                reply = "ok"
            elif command == "quit":
                break
            else:
                reply = f"error unknown command {command!r}"
            print(reply, flush=True)


if __name__ == "__main__":
    main()
