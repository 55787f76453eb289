-- name: library_share
-- description: Models and last-30-day downloads per library_name, with their shares of all models and downloads.
-- param snapshot_id INTEGER: snapshot to read (default: latest complete)
-- param as_of TIMESTAMPTZ = NULL: only models created at or before this instant
-- columns: library_name, models, downloads, share_of_models, share_of_downloads
--
-- library_name NULL: the Hub names no library for these models (an empty name counts so too).
-- Shares are fractions (0..1).
WITH per_library AS (
    SELECT
        nullif(library_name, '') AS library_name,
        count(*) AS models,
        coalesce(sum(downloads), 0) AS downloads
    FROM models_at($snapshot_id)
    WHERE created_by(created_at, $as_of)
    GROUP BY ALL
)
SELECT
    library_name,
    models,
    downloads,
    models / nullif(sum(models) OVER (), 0) AS share_of_models,
    downloads / nullif(sum(downloads) OVER (), 0) AS share_of_downloads
FROM per_library
ORDER BY models DESC, downloads DESC, library_name NULLS LAST
