-- The tables every service keeps in its own schema for reliable messaging.
-- {schema} is replaced by the service's schema name.
CREATE TABLE IF NOT EXISTS {schema}.inbox (
    consumer     text        NOT NULL,
    msg_key      text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, msg_key)
);

CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id           bigserial   PRIMARY KEY,
    msg_id       text        NOT NULL,
    subject      text        NOT NULL,
    payload      bytea       NOT NULL,
    dossier_code text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON {schema}.outbox (id) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_dossier ON {schema}.outbox (dossier_code, id);

CREATE TABLE IF NOT EXISTS {schema}.dead_letters (
    id         bigserial   PRIMARY KEY,
    consumer   text        NOT NULL,
    subject    text        NOT NULL,
    msg_key    text,
    reason     text        NOT NULL,
    body       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
