-- name: deleted_models
-- description: Models an earlier snapshot held that this one no longer lists, per creation year and framework class (as last seen).
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: year, framework_class, models, models_listed_since_as_of
--
-- Deleted, made private or gone for another reason: only full refreshes record it, and only of
-- models some earlier snapshot held (those gone before the first are unknown). Each counts as
-- its last version was; year NULL as in yearly_additions. Only (year, class) pairs with at
-- least one model get a row. What yearly_additions leaves out of a year's count: a model
-- created in it and deleted since was still added in it. models_listed_since_as_of: those a
-- complete full snapshot begun at or after as_of still listed, so they existed at as_of for
-- certain (0 without as_of).
WITH gone AS (
    SELECT *
    FROM model_versions AS v
    WHERE v.valid_from <= $snapshot_id
        AND v.valid_to <= $snapshot_id
        AND NOT EXISTS (
            SELECT 1
            FROM model_versions AS listed
            WHERE listed.object_id = v.object_id
                AND listed.valid_from <= $snapshot_id
                AND (listed.valid_to IS NULL OR listed.valid_to > $snapshot_id)
        )
    QUALIFY row_number() OVER (PARTITION BY v.object_id ORDER BY v.valid_from DESC) = 1
),
classified AS (
    SELECT
        created_year(created_at) AS year,
        stored_framework_class(tags, file_frameworks, files, library_name, $method) AS framework_class,
        -- Full crawls read every model, so a version valid at one of them was listed by it.
        -- Incremental ones carry unchanged models without seeing them.
        coalesce($as_of IS NOT NULL AND EXISTS (
            SELECT 1
            FROM model_versions AS listed
            JOIN snapshots AS s
                ON s.snapshot_id >= listed.valid_from
                AND (listed.valid_to IS NULL OR s.snapshot_id < listed.valid_to)
            WHERE listed.object_id = gone.object_id
                AND s.complete
                AND s.mode = 'full'
                AND s.snapshot_id <= $snapshot_id
                AND s.started_at >= CAST($as_of AS TIMESTAMPTZ)
        ), false) AS listed_since_as_of
    FROM gone
    WHERE created_by(created_at, $as_of)
)
SELECT
    classified.year,
    classified.framework_class,
    count(*) AS models,
    count(*) FILTER (WHERE listed_since_as_of) AS models_listed_since_as_of
FROM classified
JOIN framework_classes() AS classes ON classes.framework_class = classified.framework_class
GROUP BY classified.year, classified.framework_class, classes.position
ORDER BY classified.year NULLS FIRST, classes.position
