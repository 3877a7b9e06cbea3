-- Herald's schema for SQLite. Times are DATETIME (UTC text); ids are opaque text.

-- +goose Up
CREATE TABLE components (
    id                    TEXT PRIMARY KEY,
    key                   TEXT NOT NULL UNIQUE,
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    position              INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('operational','degraded_performance','partial_outage','major_outage','under_maintenance')),
    showcase              BOOLEAN NOT NULL DEFAULT TRUE,
    only_show_if_degraded BOOLEAN NOT NULL DEFAULT FALSE,
    group_id              TEXT,
    archived              BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL
);

CREATE TABLE incidents (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('incident','maintenance')),
    name              TEXT NOT NULL,
    status            TEXT NOT NULL,
    impact            TEXT NOT NULL CHECK (impact IN ('none','minor','major','critical')),
    notify_regulators BOOLEAN NOT NULL DEFAULT FALSE,
    source            TEXT NOT NULL DEFAULT 'herald',
    external_ref      TEXT,
    created_by        TEXT NOT NULL DEFAULT '',
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    started_at        DATETIME NOT NULL,
    monitoring_at     DATETIME,
    resolved_at       DATETIME,
    scheduled_for     DATETIME,
    scheduled_until   DATETIME
);
CREATE INDEX incidents_resolved_at ON incidents (resolved_at);
CREATE INDEX incidents_created_at ON incidents (created_at);

CREATE TABLE incident_components (
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id),
    position     INTEGER NOT NULL,
    PRIMARY KEY (incident_id, component_id)
);

CREATE TABLE incident_updates (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    author      TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    display_at  DATETIME NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

CREATE TABLE update_component_changes (
    update_id    TEXT NOT NULL REFERENCES incident_updates (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id),
    position     INTEGER NOT NULL,
    old_status   TEXT NOT NULL,
    new_status   TEXT NOT NULL,
    PRIMARY KEY (update_id, component_id)
);

-- Every status a component has been in, and since when: uptime comes from here.
CREATE TABLE component_status_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    component_id TEXT NOT NULL REFERENCES components (id),
    status       TEXT NOT NULL,
    changed_at   DATETIME NOT NULL,
    incident_id  TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    actor        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX component_status_changes_at ON component_status_changes (component_id, changed_at);

-- Everything that happened during an incident, for the console's timeline:
-- declaration, updates, status and role changes, notes, deliveries, failover actions.
CREATE TABLE timeline_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    at          DATETIME NOT NULL
);
CREATE INDEX timeline_events_incident ON timeline_events (incident_id, at);

-- One row: bumped by every write so replicas know to rebuild their snapshot.
CREATE TABLE page_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    BIGINT NOT NULL,
    updated_at DATETIME NOT NULL
);
INSERT INTO page_state (id, version, updated_at) VALUES (1, 0, strftime('%Y-%m-%d %H:%M:%f+00:00','now'));

-- +goose Down
DROP TABLE page_state;
DROP TABLE timeline_events;
DROP TABLE component_status_changes;
DROP TABLE update_component_changes;
DROP TABLE incident_updates;
DROP TABLE incident_components;
DROP TABLE incidents;
DROP TABLE components;
