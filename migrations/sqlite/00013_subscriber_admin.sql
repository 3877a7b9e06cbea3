-- Issue 6: the console role "comms" (communications lead), who manages the
-- status page's subscribers.

-- +goose Up
-- SQLite cannot alter a CHECK constraint: users is rebuilt. incident_roles
-- references it and foreign keys are on (they cannot be turned off inside
-- the migration's transaction), so it is set aside first and rebuilt after,
-- as 00002 made it.
CREATE TABLE incident_roles_keep AS SELECT incident_id, role, user_id, assigned_at, assigned_by FROM incident_roles;
DROP TABLE incident_roles;
CREATE TABLE users_new (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('viewer','responder','commander','dba','approver','comms','admin')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
INSERT INTO users_new SELECT id, email, name, phone, role, password_hash, disabled, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE TABLE incident_roles (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('commander','deputy','communications_lead','scribe')),
    user_id     TEXT NOT NULL REFERENCES users (id),
    assigned_at DATETIME NOT NULL,
    assigned_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, role)
);
INSERT INTO incident_roles SELECT incident_id, role, user_id, assigned_at, assigned_by FROM incident_roles_keep;
DROP TABLE incident_roles_keep;

-- +goose Down
-- A communications lead keeps reading the console, as a viewer.
UPDATE users SET role = 'viewer' WHERE role = 'comms';
CREATE TABLE incident_roles_keep AS SELECT incident_id, role, user_id, assigned_at, assigned_by FROM incident_roles;
DROP TABLE incident_roles;
CREATE TABLE users_old (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('viewer','responder','commander','dba','approver','admin')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
INSERT INTO users_old SELECT id, email, name, phone, role, password_hash, disabled, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
CREATE TABLE incident_roles (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('commander','deputy','communications_lead','scribe')),
    user_id     TEXT NOT NULL REFERENCES users (id),
    assigned_at DATETIME NOT NULL,
    assigned_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, role)
);
INSERT INTO incident_roles SELECT incident_id, role, user_id, assigned_at, assigned_by FROM incident_roles_keep;
DROP TABLE incident_roles_keep;
