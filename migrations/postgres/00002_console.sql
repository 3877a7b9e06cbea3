-- The console: users, sessions, sign-in throttling, incident roles, what each
-- audience was told, and the append-only audit log.

-- +goose Up
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('viewer','responder','commander','dba','approver','admin')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Server-side sessions (alexedwards/scs pgxstore's schema).
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BYTEA NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Failed sign-ins, by account and by address, for throttling.
CREATE TABLE login_failures (
    id  BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

-- Who holds which role in an incident.
CREATE TABLE incident_roles (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('commander','deputy','communications_lead','scribe')),
    user_id     TEXT NOT NULL REFERENCES users (id),
    assigned_at TIMESTAMPTZ NOT NULL,
    assigned_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, role)
);

-- What each audience was told, per update: the cadence board reads the last
-- one per audience; the cadence engine (later) sends them and records
-- per-recipient deliveries against these rows.
CREATE TABLE communications (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    update_id   TEXT REFERENCES incident_updates (id) ON DELETE SET NULL,
    audience    TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'recorded',
    author      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX communications_incident ON communications (incident_id, audience, created_at);

-- Every write: who, when, what, before and after. Append-only: the
-- application has no statement that updates or deletes it.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    incident_id TEXT,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT
);
CREATE INDEX audit_log_incident ON audit_log (incident_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- Optimistic concurrency for stale edits, and the incident's RPO estimate.
ALTER TABLE incidents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN data_loss_seconds INTEGER;

-- +goose Down
ALTER TABLE incidents DROP COLUMN data_loss_seconds;
ALTER TABLE incidents DROP COLUMN version;
DROP TABLE audit_log;
DROP TABLE communications;
DROP TABLE incident_roles;
DROP TABLE login_failures;
DROP TABLE sessions;
DROP TABLE users;
