-- When a paused dossier's clock stopped (the start of its open pause), so that the report counts it
-- past due only if its appointment had passed before the clock stopped.
ALTER TABLE {schema}.dossiers ADD COLUMN clock_stopped_at timestamptz;
