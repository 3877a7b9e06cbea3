-- Components edited in the console keep their edits: the configuration
-- file no longer overwrites their name, description and order.

-- +goose Up
ALTER TABLE components ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'config';

-- +goose Down
ALTER TABLE components DROP COLUMN managed_by;
