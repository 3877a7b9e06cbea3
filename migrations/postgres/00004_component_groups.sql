-- Component groups, as Statuspage's: a group is a row of components with
-- is_group set; its members point at it through group_id. A group has no
-- status history of its own: it shows the worst of its members'.

-- +goose Up
ALTER TABLE components ADD COLUMN is_group BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE components DROP COLUMN is_group;
