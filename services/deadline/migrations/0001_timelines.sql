-- Every fact the deadline service has seen, the only input of a dossier's timeline.
CREATE TABLE {schema}.facts (
    event_id     text        PRIMARY KEY,
    dossier_code text        NOT NULL,
    seq          integer,                -- dossier version; NULL for postal facts
    topic        text        NOT NULL,
    type         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    data         jsonb       NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facts_by_dossier ON {schema}.facts (dossier_code, seq);

-- One row per dossier: the timeline's verdicts, for the report's aggregates.
CREATE TABLE {schema}.dossiers (
    code              text          PRIMARY KEY,
    procedure         text,
    receiving_agency  text,
    agencies          text[]        NOT NULL,   -- every agency the dossier went through
    received_at       timestamptz,
    received_date     date,                     -- local (Vietnam) date of the receipt
    appointment_at    timestamptz,
    result_ready_at   timestamptz,
    result_ready_date date,                     -- local date of the result
    returned_at       timestamptz,
    status            text          NOT NULL,
    late              boolean       NOT NULL,
    late_hours        numeric(12,4) NOT NULL,
    holder_agency     text,
    open_stage        integer,
    updated_at        timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX dossiers_finished ON {schema}.dossiers (result_ready_date) WHERE result_ready_at IS NOT NULL;
CREATE INDEX dossiers_in_progress ON {schema}.dossiers (received_date)
    WHERE result_ready_at IS NULL AND status IN ('in_progress', 'paused');
CREATE INDEX dossiers_agencies ON {schema}.dossiers USING gin (agencies);

-- One row per stage of each dossier.
CREATE TABLE {schema}.stages (
    dossier_code       text          NOT NULL,
    stage_index        integer       NOT NULL,
    agency             text          NOT NULL,
    level              text          NOT NULL,
    role               text          NOT NULL,
    procedure          text,
    start_at           timestamptz,
    received_at        timestamptz,
    end_at             timestamptz,
    due_at             timestamptz,
    budget_hours       numeric(12,4) NOT NULL,
    used_hours         numeric(12,4),
    overrun_hours      numeric(12,4) NOT NULL,
    late               boolean       NOT NULL,
    handoff_wait_hours numeric(12,4),
    scope_date         date,  -- the dossier's report date: result-ready date, else receipt date
    PRIMARY KEY (dossier_code, stage_index)
);
CREATE INDEX stages_late ON {schema}.stages (scope_date) INCLUDE (agency, role, procedure, overrun_hours) WHERE late;

-- Alerts to publish once each. Unfired timers are replaced whenever a timeline changes.
CREATE TABLE {schema}.timers (
    id           bigserial   PRIMARY KEY,
    dossier_code text        NOT NULL,
    kind         text        NOT NULL,  -- stage_warning | stage_overdue | dossier_overdue | apology_required
    identity     text        NOT NULL,  -- what "once" means for this kind (see alerts.Timer.identity)
    stage_index  integer,
    agency       text        NOT NULL,
    due_at       timestamptz NOT NULL,
    fire_at      timestamptz NOT NULL,
    fired_at     timestamptz,
    UNIQUE (dossier_code, identity)
);
CREATE INDEX timers_due ON {schema}.timers (fire_at) WHERE fired_at IS NULL;

-- The latest simulated "now" (LIENTHONG_CLOCK=simulated), so that a restart keeps it.
CREATE TABLE {schema}.clock (
    singleton boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    now       timestamptz NOT NULL
);
