-- name: tensorboard_usage
-- description: Models per framework class that ship TensorBoard logs (tensorboard tag or events.out.tfevents files).
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: framework_class, models, tensorboard_models, share_with_tensorboard
--
-- Every class gets a row; share_with_tensorboard is NULL for a class without models.
WITH classified AS (
    SELECT
        stored_framework_class(tags, file_frameworks, files, library_name, $method) AS framework_class,
        coalesce(list_contains(tags, 'tensorboard'), false)
        -- The file test only for the few models whose paths mention the logs at all (half the
        -- time at 1M); the name has no '/', so no match can span two joined paths.
        OR CASE
            WHEN contains(array_to_string(files, '/'), 'events.out.tfevents')
            THEN coalesce(list_bool_or(list_transform(files,
                lambda f: contains(regexp_extract(f, '[^/]*$'), 'events.out.tfevents'))), false)
            ELSE false
        END AS has_tensorboard
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
)
SELECT
    classes.framework_class,
    count(classified.framework_class) AS models,
    count(classified.framework_class) FILTER (WHERE has_tensorboard) AS tensorboard_models,
    count(classified.framework_class) FILTER (WHERE has_tensorboard)
        / nullif(count(classified.framework_class), 0) AS share_with_tensorboard
FROM framework_classes() AS classes
LEFT JOIN classified ON classified.framework_class = classes.framework_class
GROUP BY classes.framework_class, classes.position
ORDER BY classes.position
