-- The cadence engine: every message to every recipient is a delivery row,
-- written in the same transaction as its cause and sent by a worker through
-- River's job queue (River keeps its own tables, migrated alongside). The
-- idempotency key makes "once" a constraint, not a hope.

-- +goose Up
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    incident_id      TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    communication_id TEXT,
    audience         TEXT NOT NULL DEFAULT '',
    channel          TEXT NOT NULL CHECK (channel IN ('slack','email','sms')),
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT NOT NULL UNIQUE,
    seq              BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued','sending','sent','retrying','failed','skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    provider_id      TEXT NOT NULL DEFAULT '',
    provider_status  TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    obligation_key   TEXT NOT NULL DEFAULT '',
    due_at           TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ
);
CREATE INDEX deliveries_incident ON deliveries (incident_id, seq);
CREATE INDEX deliveries_seq ON deliveries (seq);
CREATE INDEX deliveries_provider ON deliveries (provider_id);

-- One Slack thread per incident and channel: the parent's ts.
CREATE TABLE slack_threads (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    ts          TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, channel)
);

-- Regulator calls and reports: each satisfies one step of the clock.
CREATE TABLE regulator_reports (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    step        TEXT NOT NULL,
    called_by   TEXT NOT NULL,
    whom        TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    reference   TEXT NOT NULL DEFAULT '',
    notes       TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX regulator_reports_incident ON regulator_reports (incident_id, at);

-- Keys of what the engine has done once (a holding update, a reminder):
-- the first replica to insert a key does the work, the others see it taken.
CREATE TABLE engine_keys (
    key        TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE incidents ADD COLUMN regulators_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE incidents DROP COLUMN regulators_at;
DROP TABLE engine_keys;
DROP TABLE regulator_reports;
DROP TABLE slack_threads;
DROP TABLE deliveries;
