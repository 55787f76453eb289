-- name: framework_by_downloads
-- description: The exclusivity picture weighted by last-30-day downloads instead of by repositories.
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: framework_class, models, downloads, share_of_framework_downloads, share_of_all_downloads
--
-- Every class gets a row. share_of_framework_downloads leaves out no_framework models (NULL
-- for that class). A model without a downloads count counts 0.
WITH classified AS (
    SELECT
        stored_framework_class(tags, file_frameworks, files, library_name, $method) AS framework_class,
        coalesce(downloads, 0) AS downloads
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
),
totals AS (
    SELECT
        classes.framework_class,
        classes.position,
        count(classified.framework_class) AS models,
        coalesce(sum(classified.downloads), 0) AS downloads
    FROM framework_classes() AS classes
    LEFT JOIN classified ON classified.framework_class = classes.framework_class
    GROUP BY classes.framework_class, classes.position
)
SELECT
    framework_class,
    models,
    downloads,
    CASE WHEN framework_class <> 'no_framework' THEN
        downloads / nullif(sum(downloads) FILTER (WHERE framework_class <> 'no_framework') OVER (), 0)
    END AS share_of_framework_downloads,
    downloads / nullif(sum(downloads) OVER (), 0) AS share_of_all_downloads
FROM totals
ORDER BY position
