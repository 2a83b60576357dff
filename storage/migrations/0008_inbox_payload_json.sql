-- Queued activities are kept as the JSON text they arrived as (json), not as jsonb.
-- Nothing looks inside a queued payload in SQL: the inbox worker reads it whole and
-- decodes it itself. Building the jsonb form was a good part of PostgreSQL's work per
-- inbox POST (about 8 us of 40, measured with the group commit's statement), while json
-- only checks the syntax. The inbox refuses U+0000 escapes itself (jsonb used to).
ALTER TABLE inbox_items ALTER COLUMN payload TYPE json USING payload::json;
