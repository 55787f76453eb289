"""The crawl a user would write by hand: huggingface_hub, then pandas, then DuckDB.

``python -m benchmarks.byhand ENDPOINT DB_PATH`` prints ``{"models": N}``. The columns are
those hfstats keeps, so that both sides do comparable work.
"""

from __future__ import annotations

import json
import sys

import duckdb
import pandas as pd
from huggingface_hub import HfApi


def crawl_by_hand(endpoint: str, db_path: str) -> int:
    """List every model with ``full=True`` into a DuckDB table ``models``; how many."""
    rows = [
        {
            "id": model.id,
            "author": model.author,
            "sha": model.sha,
            "created_at": model.created_at,
            "last_modified": model.last_modified,
            "private": model.private,
            "disabled": model.disabled,
            "gated": str(model.gated),
            "downloads": model.downloads,
            "likes": model.likes,
            "trending_score": model.trending_score,
            "library_name": model.library_name,
            "pipeline_tag": model.pipeline_tag,
            "tags": model.tags,
            "files": [sibling.rfilename for sibling in model.siblings or []],
        }
        for model in HfApi(endpoint=endpoint).list_models(full=True, sort="last_modified")
    ]
    frame = pd.DataFrame(rows)
    with duckdb.connect(db_path) as connection:
        connection.register("frame", frame)
        connection.execute("CREATE OR REPLACE TABLE models AS SELECT * FROM frame")
        return connection.execute("SELECT count(*) FROM models").fetchone()[0]


if __name__ == "__main__":
    print(json.dumps({"models": crawl_by_hand(sys.argv[1], sys.argv[2])}))
