-- name: research_models
-- description: Models citing a paper (an arxiv: tag) per creation year and framework class.
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- param method VARCHAR = 'tags': framework classification, 'tags' or 'files'
-- columns: year, framework_class, models, arxiv_models, share_citing_arxiv
--
-- year NULL: placeholder or missing createdAt. Only (year, class) pairs with models get a row.
WITH classified AS (
    SELECT
        created_year(created_at) AS year,
        stored_framework_class(tags, file_frameworks, files, library_name, $method) AS framework_class,
        coalesce(list_bool_or(list_transform(tags, lambda tag: starts_with(tag, 'arxiv:'))), false)
            AS cites_arxiv
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
)
SELECT
    classified.year,
    classified.framework_class,
    count(*) AS models,
    count(*) FILTER (WHERE cites_arxiv) AS arxiv_models,
    count(*) FILTER (WHERE cites_arxiv) / count(*) AS share_citing_arxiv
FROM classified
JOIN framework_classes() AS classes ON classes.framework_class = classified.framework_class
GROUP BY classified.year, classified.framework_class, classes.position
ORDER BY classified.year NULLS FIRST, classes.position
