-- name: method_comparison
-- description: Models per pair of classes from the tags and files methods: where the two agree and disagree.
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- columns: tags_class, files_class, models
--
-- All 25 pairs get a row (0 if no model has them); tags_class = files_class is agreement.
WITH classified AS (
    SELECT
        stored_framework_class(tags, file_frameworks, files, library_name, 'tags') AS tags_class,
        stored_framework_class(tags, file_frameworks, files, library_name, 'files') AS files_class
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
)
SELECT
    by_tags.framework_class AS tags_class,
    by_files.framework_class AS files_class,
    count(classified.tags_class) AS models
FROM framework_classes() AS by_tags
CROSS JOIN framework_classes() AS by_files
LEFT JOIN classified
    ON classified.tags_class = by_tags.framework_class
    AND classified.files_class = by_files.framework_class
GROUP BY by_tags.framework_class, by_tags.position, by_files.framework_class, by_files.position
ORDER BY by_tags.position, by_files.position
