-- name: deployment_formats
-- description: Models per creation year shipping ONNX, TFLite, Core ML, GGUF, OpenVINO, safetensors or MLX.
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- columns: year, format, models
--
-- Detection rules (tags, file patterns, library_name) are in docs/queries.md. A model counts
-- once per format it ships. Every format gets a row for every year that has models (0 if none);
-- year NULL: placeholder or missing createdAt.
WITH scoped AS (
    SELECT
        created_year(created_at) AS year,
        stored_formats(formats, tags, files, library_name) AS formats
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
),
years AS (
    SELECT DISTINCT year FROM scoped
),
shipped AS (
    SELECT year, unnest(formats) AS format FROM scoped
)
SELECT years.year, names.format, count(shipped.format) AS models
FROM years
CROSS JOIN deployment_format_names() AS names
LEFT JOIN shipped
    ON shipped.year IS NOT DISTINCT FROM years.year AND shipped.format = names.format
GROUP BY years.year, names.format, names.position
ORDER BY years.year NULLS FIRST, names.position
