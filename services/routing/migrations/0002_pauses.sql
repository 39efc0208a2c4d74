-- Every stop of a dossier's clock (supplement or financial obligation): the control slip's pause
-- lines, one row per `paused` fact, completed by its `resumed` fact.
CREATE TABLE {schema}.pauses (
    dossier_code   text        NOT NULL REFERENCES {schema}.dossiers (code),
    paused_seq     integer     NOT NULL,   -- data.seq of the `paused` fact
    kind           text        NOT NULL,   -- supplement | obligation
    stage_index    integer     NOT NULL,
    agency         text        NOT NULL,
    paused_at      timestamptz NOT NULL,
    resumed_at     timestamptz,
    paused_seconds integer,                -- working seconds the clock stood still
    policy         text,                   -- pause | restart (how the appointment moved)
    PRIMARY KEY (dossier_code, paused_seq)
);
CREATE INDEX pauses_open ON {schema}.pauses (dossier_code) WHERE resumed_at IS NULL;
