-- name: yearly_additions
-- description: Models created per year and framework class (year NULL: the Hub's placeholder date, created on or before 2022-03-02).
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: year, framework_class, models
--
-- A createdAt at or before 2022-03-02T23:29:05Z is the Hub's placeholder for repositories
-- older than its creation dates: year is NULL for them (and for a missing createdAt), never 2022.
-- Only (year, class) pairs with at least one model get a row.
WITH classified AS (
    SELECT
        created_year(created_at) AS year,
        stored_framework_class(tags, file_frameworks, files, library_name, $method) AS framework_class
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
)
SELECT classified.year, classified.framework_class, count(*) AS models
FROM classified
JOIN framework_classes() AS classes ON classes.framework_class = classified.framework_class
GROUP BY classified.year, classified.framework_class, classes.position
ORDER BY classified.year NULLS FIRST, classes.position
