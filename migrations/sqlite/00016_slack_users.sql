-- Issue 7: a Slack member linked to a Herald user, so /incident and
-- Slack's buttons act as that user with that user's role.

-- +goose Up
ALTER TABLE users ADD COLUMN slack_user_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_slack_user_id ON users (slack_user_id) WHERE slack_user_id <> '';

-- +goose Down
DROP INDEX users_slack_user_id;
ALTER TABLE users DROP COLUMN slack_user_id;
