-- Intake's own record of every admitted dossier. Personal data lives only in personal_data.
CREATE TABLE {schema}.dossiers (
    code           text        PRIMARY KEY,
    agency         text        NOT NULL,
    external_ref   text        NOT NULL,
    procedure      text        NOT NULL,
    channel        text        NOT NULL,
    return_method  text        NOT NULL,
    received_at    timestamptz NOT NULL,
    counting_from  timestamptz NOT NULL,
    appointment_at timestamptz NOT NULL,
    postal_waybill text,
    event_id       text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agency, external_ref)
);

-- The 4-digit daily sequence of dossier codes, per receiving agency (Circular 01/2018 Art. 19).
CREATE TABLE {schema}.daily_sequences (
    agency text    NOT NULL,
    day    date    NOT NULL,
    last   integer NOT NULL,
    PRIMARY KEY (agency, day)
);

CREATE TABLE {schema}.personal_data (
    dossier_code     text  PRIMARY KEY REFERENCES {schema}.dossiers (code),
    applicant        jsonb,
    delivery_address jsonb
);
