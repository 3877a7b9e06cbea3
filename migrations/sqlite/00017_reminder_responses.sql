-- Issue 7: answers to the cadence engine's reminders from Slack's buttons:
-- "Snooze 5 minutes" (until, never past due) and "I'm on it" (the
-- escalation waits). The clocks read them with the obligation they answer.

-- +goose Up
CREATE TABLE reminder_responses (
    id             TEXT PRIMARY KEY,
    incident_id    TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    obligation_key TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('snooze','ack')),
    at             DATETIME NOT NULL,
    until          DATETIME,
    actor          TEXT NOT NULL
);
CREATE INDEX reminder_responses_incident ON reminder_responses (incident_id, at);

-- +goose Down
DROP TABLE reminder_responses;
