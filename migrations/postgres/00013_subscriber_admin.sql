-- Issue 6: the console role "comms" (communications lead), who manages the
-- status page's subscribers.

-- +goose Up
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('viewer','responder','commander','dba','approver','comms','admin'));

-- +goose Down
-- A communications lead keeps reading the console, as a viewer.
UPDATE users SET role = 'viewer' WHERE role = 'comms';
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('viewer','responder','commander','dba','approver','admin'));
