-- Personal data is sealed (AES-GCM) before it reaches the table; see services/intake/sealing.py.
ALTER TABLE {schema}.personal_data
    ALTER COLUMN applicant TYPE bytea USING NULL,
    ALTER COLUMN delivery_address TYPE bytea USING NULL;

-- Only used when LIENTHONG_PII_KEY is not set (development, tests, demo).
CREATE TABLE {schema}.development_key (
    id  integer PRIMARY KEY CHECK (id = 1),
    key text    NOT NULL
);
