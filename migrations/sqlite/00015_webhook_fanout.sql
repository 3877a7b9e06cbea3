-- Issue 6: webhook subscribers are told through the same durable delivery
-- as email and SMS subscribers: a 'webhook' delivery channel. A component
-- changing status outside any incident (the console's component editor) is
-- a public change too, told to webhook subscribers: its fan-out and its
-- deliveries belong to no incident, so incident_id may be NULL.
-- SQLite cannot alter a CHECK constraint or a NOT NULL: both tables are
-- rebuilt (nothing references them).

-- +goose Up
CREATE TABLE deliveries_new (
    id               TEXT PRIMARY KEY,
    incident_id      TEXT REFERENCES incidents (id) ON DELETE CASCADE,
    communication_id TEXT,
    audience         TEXT NOT NULL DEFAULT '',
    channel          TEXT NOT NULL CHECK (channel IN ('slack','email','sms','pagerduty','automation','webhook')),
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT NOT NULL UNIQUE,
    seq              INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued','sending','sent','retrying','failed','skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    provider_id      TEXT NOT NULL DEFAULT '',
    provider_status  TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    obligation_key   TEXT NOT NULL DEFAULT '',
    due_at           DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    sent_at          DATETIME,
    subscriber_id    TEXT NOT NULL DEFAULT '',
    update_id        TEXT NOT NULL DEFAULT ''
);
INSERT INTO deliveries_new SELECT id, incident_id, communication_id, audience, channel, kind, recipient, subject, body,
    idempotency_key, seq, state, attempts, provider_id, provider_status, last_error, obligation_key, due_at,
    created_at, updated_at, sent_at, subscriber_id, update_id FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_incident ON deliveries (incident_id, seq);
CREATE UNIQUE INDEX deliveries_seq_unique ON deliveries (seq);
CREATE INDEX deliveries_provider ON deliveries (provider_id);
CREATE INDEX deliveries_order ON deliveries (incident_id, channel, recipient, seq);

CREATE TABLE fanouts_new (
    id          TEXT PRIMARY KEY,
    incident_id TEXT REFERENCES incidents (id) ON DELETE CASCADE,
    update_id   TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('email','sms','webhook')),
    event       TEXT NOT NULL,
    cursor      TEXT NOT NULL DEFAULT '',
    queued      INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL CHECK (state IN ('running','done')),
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    done_at     DATETIME,
    UNIQUE (update_id, channel)
);
INSERT INTO fanouts_new SELECT id, incident_id, update_id, channel, event, cursor, queued, state, created_at, updated_at, done_at
    FROM fanouts;
DROP TABLE fanouts;
ALTER TABLE fanouts_new RENAME TO fanouts;
CREATE INDEX fanouts_incident ON fanouts (incident_id);

-- +goose Down
DELETE FROM deliveries WHERE channel = 'webhook' OR incident_id IS NULL;
DELETE FROM fanouts WHERE incident_id IS NULL;
CREATE TABLE deliveries_new (
    id               TEXT PRIMARY KEY,
    incident_id      TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    communication_id TEXT,
    audience         TEXT NOT NULL DEFAULT '',
    channel          TEXT NOT NULL CHECK (channel IN ('slack','email','sms','pagerduty','automation')),
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT NOT NULL UNIQUE,
    seq              INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued','sending','sent','retrying','failed','skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    provider_id      TEXT NOT NULL DEFAULT '',
    provider_status  TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    obligation_key   TEXT NOT NULL DEFAULT '',
    due_at           DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    sent_at          DATETIME,
    subscriber_id    TEXT NOT NULL DEFAULT '',
    update_id        TEXT NOT NULL DEFAULT ''
);
INSERT INTO deliveries_new SELECT id, incident_id, communication_id, audience, channel, kind, recipient, subject, body,
    idempotency_key, seq, state, attempts, provider_id, provider_status, last_error, obligation_key, due_at,
    created_at, updated_at, sent_at, subscriber_id, update_id FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_incident ON deliveries (incident_id, seq);
CREATE UNIQUE INDEX deliveries_seq_unique ON deliveries (seq);
CREATE INDEX deliveries_provider ON deliveries (provider_id);
CREATE INDEX deliveries_order ON deliveries (incident_id, channel, recipient, seq);

CREATE TABLE fanouts_new (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    update_id   TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('email','sms','webhook')),
    event       TEXT NOT NULL,
    cursor      TEXT NOT NULL DEFAULT '',
    queued      INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL CHECK (state IN ('running','done')),
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    done_at     DATETIME,
    UNIQUE (update_id, channel)
);
INSERT INTO fanouts_new SELECT id, incident_id, update_id, channel, event, cursor, queued, state, created_at, updated_at, done_at
    FROM fanouts;
DROP TABLE fanouts;
ALTER TABLE fanouts_new RENAME TO fanouts;
CREATE INDEX fanouts_incident ON fanouts (incident_id);
