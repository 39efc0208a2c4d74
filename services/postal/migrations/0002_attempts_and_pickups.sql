-- When the attempt in progress was ordered: the result's readiness for the first delivery, the
-- previous attempt's failure for a retry (the order's business time).
ALTER TABLE {schema}.shipments ADD COLUMN ordered_at timestamptz;
UPDATE {schema}.shipments SET ordered_at = created_at;
ALTER TABLE {schema}.shipments ALTER COLUMN ordered_at SET NOT NULL;
-- Wall-clock back-off of a delivery order that could not be dispatched (intake unreachable, no address).
ALTER TABLE {schema}.shipments ADD COLUMN dispatch_after timestamptz;
ALTER TABLE {schema}.shipments ADD COLUMN dispatch_failures integer NOT NULL DEFAULT 0;
CREATE INDEX shipments_pickup_ref ON {schema}.shipments (agency, external_ref) WHERE direction = 'pickup';

-- The shipment's state after each report, as published in its fact.
ALTER TABLE {schema}.shipment_events ADD COLUMN state text;

-- The return stage a result goes back to when the post brings it back (from dossier.handoff_sent).
ALTER TABLE {schema}.dossiers ADD COLUMN last_stage_index integer;
ALTER TABLE {schema}.dossiers ADD COLUMN return_sent_at timestamptz;
ALTER TABLE {schema}.dossiers ADD COLUMN return_budget_seconds integer;

-- A pickup request's waybill, reserved (and committed) before its order is published, so that a
-- redelivered request gets the same waybill and the same order even if its first batch rolled back.
CREATE TABLE {schema}.pickup_waybills (
    request_key text        PRIMARY KEY,
    waybill     text        NOT NULL UNIQUE,
    reserved_at timestamptz NOT NULL DEFAULT now()
);
