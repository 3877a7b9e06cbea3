-- Issue 5: PagerDuty in and out, failover actions with approvals and
-- automation, RTO and RPO per incident, drills and DR exercises.

-- +goose Up

-- Two more delivery channels for Herald's own traffic: PagerDuty's Events
-- API (trigger and resolve) and calls to automation endpoints. Both go
-- through the same durable delivery as messages: claimed once, retried,
-- given up loudly.
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check
    CHECK (channel IN ('slack','email','sms','pagerduty','automation'));

-- RTO: when service was restored (by the commander or an action); RPO is
-- data_loss_seconds, now with where the figure came from. A drill never
-- reaches the public page or the public API. pagerduty_resolved_at: the
-- PagerDuty incident resolved, so the commander is asked to resolve.
-- triage: why the incident needs a human look (an unknown PagerDuty service).
ALTER TABLE incidents ADD COLUMN restored_at TIMESTAMPTZ;
ALTER TABLE incidents ADD COLUMN restored_by TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN data_loss_source TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN drill BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE incidents ADD COLUMN pagerduty_resolved_at TIMESTAMPTZ;
ALTER TABLE incidents ADD COLUMN triage TEXT NOT NULL DEFAULT '';
CREATE INDEX incidents_drill ON incidents (drill);

-- Every PagerDuty webhook event Herald accepted, once: the id is
-- PagerDuty's event id, so a redelivery is a conflict and is ignored.
CREATE TABLE pagerduty_events (
    id             TEXT PRIMARY KEY,
    event_type     TEXT NOT NULL,
    pd_incident_id TEXT NOT NULL DEFAULT '',
    service_id     TEXT NOT NULL DEFAULT '',
    occurred_at    TIMESTAMPTZ NOT NULL,
    payload        TEXT NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL,
    processed_at   TIMESTAMPTZ,
    incident_id    TEXT,
    outcome        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pagerduty_events_pd_incident ON pagerduty_events (pd_incident_id, occurred_at);

-- Which PagerDuty incidents belong to which Herald incident, either way.
CREATE TABLE pagerduty_links (
    incident_id    TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    pd_incident_id TEXT NOT NULL,
    service_id     TEXT NOT NULL DEFAULT '',
    service_name   TEXT NOT NULL DEFAULT '',
    html_url       TEXT NOT NULL DEFAULT '',
    direction      TEXT NOT NULL CHECK (direction IN ('in','out')),
    status         TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, pd_incident_id)
);
CREATE UNIQUE INDEX pagerduty_links_pd ON pagerduty_links (pd_incident_id);

-- A failover action: one procedure of the catalogue run for an incident.
CREATE TABLE actions (
    id              TEXT PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    procedure_kind  TEXT NOT NULL CHECK (procedure_kind IN ('region','runbook','component')),
    procedure_key   TEXT NOT NULL,
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    requested_by    TEXT NOT NULL,
    requested_name  TEXT NOT NULL,
    requested_at    TIMESTAMPTZ NOT NULL,
    decided_by      TEXT NOT NULL DEFAULT '',
    decided_name    TEXT NOT NULL DEFAULT '',
    decided_at      TIMESTAMPTZ,
    decision_note   TEXT NOT NULL DEFAULT '',
    started_by      TEXT NOT NULL DEFAULT '',
    started_name    TEXT NOT NULL DEFAULT '',
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    precondition    TEXT NOT NULL DEFAULT '',
    automation_url  TEXT NOT NULL DEFAULT '',
    automation_state TEXT NOT NULL DEFAULT '',
    automation_error TEXT NOT NULL DEFAULT '',
    rule            TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX actions_incident ON actions (incident_id, requested_at);

-- Its steps, in order, each against its expected window from the start.
CREATE TABLE action_steps (
    action_id     TEXT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    window_start  INTEGER NOT NULL DEFAULT 0,
    window_end    INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN ('pending','running','done','failed','skipped')),
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    actor         TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    late_reported BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (action_id, position)
);

-- Automation callbacks already seen: a replayed callback is refused.
CREATE TABLE automation_nonces (
    nonce      TEXT PRIMARY KEY,
    action_id  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- DR exercises run (the seed's last results are seeded by configuration).
CREATE TABLE exercises (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    run_at      TIMESTAMPTZ NOT NULL,
    rto_seconds INTEGER,
    rpo_seconds INTEGER,
    passed      BOOLEAN,
    notes       TEXT NOT NULL DEFAULT '',
    incident_id TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    recorded_by TEXT NOT NULL,
    seed_key    TEXT UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX exercises_run_at ON exercises (kind, run_at);

-- +goose Down
DROP TABLE exercises;
DROP TABLE automation_nonces;
DROP TABLE action_steps;
DROP TABLE actions;
DROP TABLE pagerduty_links;
DROP TABLE pagerduty_events;
DROP INDEX incidents_drill;
ALTER TABLE incidents DROP COLUMN triage;
ALTER TABLE incidents DROP COLUMN pagerduty_resolved_at;
ALTER TABLE incidents DROP COLUMN drill;
ALTER TABLE incidents DROP COLUMN data_loss_source;
ALTER TABLE incidents DROP COLUMN restored_by;
ALTER TABLE incidents DROP COLUMN restored_at;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('slack','email','sms'));
