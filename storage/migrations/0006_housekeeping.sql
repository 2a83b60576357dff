-- What the housekeeping worker deletes once it is old: finished inbox items and
-- deliveries, found by when they finished without reading the whole tables.
CREATE INDEX inbox_items_finished ON inbox_items (processed_at) WHERE state <> 'queued';
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE state <> 'queued';
