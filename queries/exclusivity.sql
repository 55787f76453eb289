-- name: exclusivity
-- description: Models per framework class, as a share of models with a framework and of all models.
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: framework_class, models, share_of_framework_models, share_of_all_models
--
-- Every class gets a row, 0 when no model has it. Shares are fractions (0..1);
-- share_of_framework_models leaves out no_framework models, so it is NULL for that class.
WITH classified AS (
    SELECT stored_framework_class(tags, file_frameworks, files, library_name, $method) AS framework_class
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
),
counts AS (
    SELECT classes.framework_class, classes.position, count(classified.framework_class) AS models
    FROM framework_classes() AS classes
    LEFT JOIN classified ON classified.framework_class = classes.framework_class
    GROUP BY classes.framework_class, classes.position
)
SELECT
    framework_class,
    models,
    CASE WHEN framework_class <> 'no_framework' THEN
        models / nullif(sum(models) FILTER (WHERE framework_class <> 'no_framework') OVER (), 0)
    END AS share_of_framework_models,
    models / nullif(sum(models) OVER (), 0) AS share_of_all_models
FROM counts
ORDER BY position
