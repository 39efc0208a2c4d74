-- The dossier spans already handed to the tracing exporter (services/deadline/tracing_emit.py):
-- each span is emitted once, when its interval closes, whatever batches rebuild the timeline.
CREATE TABLE {schema}.emitted_spans (
    dossier_code text        NOT NULL,
    span_key     text        NOT NULL,
    emitted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dossier_code, span_key)
);
