-- What postal knows of dossiers (no personal data: the address stays in intake).
CREATE TABLE {schema}.dossiers (
    code               text     PRIMARY KEY,
    receiving_agency   text     NOT NULL,
    procedure          text     NOT NULL,
    return_method      text     NOT NULL,
    postal_waybill     text,
    return_stage_index integer
);

CREATE SEQUENCE {schema}.waybill_serial START 1;

CREATE TABLE {schema}.shipments (
    waybill        text        PRIMARY KEY,
    direction      text        NOT NULL,       -- delivery | pickup
    dossier_code   text,                       -- a pickup is linked once the dossier is received
    agency         text        NOT NULL,       -- the receiving agency
    procedure      text,
    external_ref   text,
    state          text        NOT NULL,       -- ordered | accepted | picked_up | in_transit | delivery_failed
                                               -- | delivered | returned_to_sender | back_at_counter
    attempt        integer     NOT NULL DEFAULT 1,
    order_pending  boolean     NOT NULL DEFAULT false,
    cod_amount_vnd bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    UNIQUE (dossier_code, direction)
);
CREATE INDEX shipments_pending ON {schema}.shipments (created_at) WHERE order_pending;

-- Every status the post reported, kept so that the state is right whatever the arrival order.
CREATE TABLE {schema}.shipment_events (
    waybill  text        NOT NULL REFERENCES {schema}.shipments (waybill),
    status   text        NOT NULL,
    at       timestamptz NOT NULL,
    attempt  integer     NOT NULL,
    emitted  boolean     NOT NULL DEFAULT false,  -- published as a fact (needs the dossier code)
    PRIMARY KEY (waybill, status, attempt)
);
