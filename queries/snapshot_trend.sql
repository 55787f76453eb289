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
-- Each snapshot's models are the versions valid at it, as models_at defines them; joined
-- directly, not through models_at per snapshot (LATERAL), which also joins the counters this
-- query does not read: 0.2-0.5 s instead of 1.1-1.3 s at 1M models.
classified AS (
    SELECT
        complete_snapshots.snapshot_id,
        stored_framework_class(v.tags, v.file_frameworks, v.files, v.library_name, $method) AS framework_class
    FROM complete_snapshots
    JOIN model_versions AS v
        ON v.valid_from <= complete_snapshots.snapshot_id
        AND (v.valid_to IS NULL OR v.valid_to > complete_snapshots.snapshot_id)
    WHERE created_by(v.created_at, $as_of)
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
