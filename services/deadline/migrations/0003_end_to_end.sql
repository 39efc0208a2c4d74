-- The citizen's end-to-end time of each dossier (services/deadline/journey.py): from the post
-- picking the papers up (or the receipt) to the result in the citizen's hands, postal legs included.
ALTER TABLE {schema}.dossiers ADD COLUMN returned_via       text;
ALTER TABLE {schema}.dossiers ADD COLUMN journey_from       timestamptz;
ALTER TABLE {schema}.dossiers ADD COLUMN end_to_end_hours   numeric(12,4);
ALTER TABLE {schema}.dossiers ADD COLUMN elapsed_days       numeric(12,4);
ALTER TABLE {schema}.dossiers ADD COLUMN to_result_hours    numeric(12,4);
ALTER TABLE {schema}.dossiers ADD COLUMN after_result_hours numeric(12,4);
ALTER TABLE {schema}.dossiers ADD COLUMN postal_hours       numeric(12,4) NOT NULL DEFAULT 0;
CREATE INDEX dossiers_returned ON {schema}.dossiers (result_ready_date) WHERE returned_at IS NOT NULL;
