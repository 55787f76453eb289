-- name: snapshot_trend
-- description: Models per framework class and their share of framework models, for every complete snapshot.
-- param snapshot_id INTEGER: the last snapshot to include (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: snapshot_id, finished_at, framework_class, models, share_of_framework_models
--
-- Five rows per complete snapshot up to $snapshot_id, each snapshot read as of itself (the
-- state of the Hub that refresh saw). Incomplete snapshots never appear.
WITH complete_snapshots AS (
    SELECT snapshot_id, finished_at
    FROM snapshots
    WHERE complete AND snapshot_id <= $snapshot_id
),
classified AS (
    SELECT
        complete_snapshots.snapshot_id,
        stored_framework_class(m.tags, m.file_frameworks, m.files, m.library_name, $method) AS framework_class
    FROM complete_snapshots,
        LATERAL (SELECT * FROM models_at(complete_snapshots.snapshot_id)) AS m
    WHERE created_by(m.created_at, $as_of)
),
counts AS (
    SELECT
        complete_snapshots.snapshot_id,
        complete_snapshots.finished_at,
        classes.framework_class,
        classes.position,
        count(classified.framework_class) AS models
    FROM complete_snapshots
    CROSS JOIN framework_classes() AS classes
    LEFT JOIN classified
        ON classified.snapshot_id = complete_snapshots.snapshot_id
        AND classified.framework_class = classes.framework_class
    GROUP BY ALL
)
SELECT
    snapshot_id,
    finished_at,
    framework_class,
    models,
    CASE WHEN framework_class <> 'no_framework' THEN
        models / nullif(
            sum(models) FILTER (WHERE framework_class <> 'no_framework')
                OVER (PARTITION BY snapshot_id),
            0)
    END AS share_of_framework_models
FROM counts
ORDER BY snapshot_id, position
