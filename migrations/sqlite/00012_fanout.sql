-- Issue 6: a public update told to every subscriber it concerns. One
-- fan-out per update and subscriber channel, written with the update; its
-- worker pages through the confirmed subscribers in id order, writing one
-- delivery per subscriber (unique key: once, ever) and moving the cursor in
-- the same transaction, so a crash resumes where it stopped and memory
-- does not grow with the number of subscribers.

-- +goose Up
CREATE TABLE fanouts (
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
CREATE INDEX fanouts_incident ON fanouts (incident_id);

-- A subscriber delivery names its subscriber and the update it tells;
-- the text is rendered when it is sent, not stored a hundred thousand times.
ALTER TABLE deliveries ADD COLUMN subscriber_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN update_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deliveries DROP COLUMN update_id;
ALTER TABLE deliveries DROP COLUMN subscriber_id;
DROP TABLE fanouts;
