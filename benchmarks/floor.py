"""The floor of a crawl: GET every listing page and ``json.loads`` it, nothing else.

``python -m benchmarks.floor URL PAGE_SIZE`` prints ``{"models": N, "pages": P}``.
"""

from __future__ import annotations

import json
import sys

import requests

from hfstats.hub import models_url


def read_listing(endpoint: str, page_size: int) -> tuple[int, int]:
    """Models and pages read by following the ``Link`` headers from the first page."""
    session = requests.Session()
    url: str | None = models_url(endpoint, page_size)
    models = pages = 0
    while url:
        response = session.get(url, timeout=60)
        response.raise_for_status()
        models += len(json.loads(response.content))
        pages += 1
        url = response.links.get("next", {}).get("url")
    return models, pages


if __name__ == "__main__":
    models, pages = read_listing(sys.argv[1], int(sys.argv[2]))
    print(json.dumps({"models": models, "pages": pages}))
