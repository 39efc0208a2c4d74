-- Routing's record of every dossier: its state (the decision input) and, for people and reports,
-- the control slip (phiếu kiểm soát): one row per stage with sent / received / completed.
CREATE TABLE {schema}.dossiers (
    code             text        PRIMARY KEY,
    procedure        text        NOT NULL,
    receiving_agency text        NOT NULL,
    status           smallint    NOT NULL,   -- National Public Service Portal code 1..10
    sub_state        text        NOT NULL,   -- awaiting_handoff | processing | paused | awaiting_return | closed
    holder           text,                   -- the agency holding the dossier now
    current_stage    integer     NOT NULL,
    appointment_at   timestamptz NOT NULL,
    seq              integer     NOT NULL,   -- the dossier's version: data.seq of its latest fact
    state            jsonb       NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossiers_holder ON {schema}.dossiers (holder) WHERE sub_state <> 'closed';
CREATE INDEX dossiers_status ON {schema}.dossiers (status);

CREATE TABLE {schema}.stages (
    dossier_code      text        NOT NULL REFERENCES {schema}.dossiers (code),
    stage_index       integer     NOT NULL,
    agency            text        NOT NULL,
    level             text        NOT NULL,
    role              text        NOT NULL,
    budget_seconds    integer,
    sent_at           timestamptz,
    received_at       timestamptz,
    received_inferred boolean     NOT NULL DEFAULT false,
    completed_at      timestamptz,
    outcome           text,
    due_at            timestamptz,
    paused_seconds    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (dossier_code, stage_index)
);
