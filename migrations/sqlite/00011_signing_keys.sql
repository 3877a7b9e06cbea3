-- Keys Herald signs with, kept in the database so every replica uses the
-- same: the first replica to need one creates it (INSERT ... ON CONFLICT
-- DO NOTHING), the others read it. "subscriber_links" signs the manage and
-- unsubscribe links in subscriber mails.

-- +goose Up
CREATE TABLE signing_keys (
    name       TEXT PRIMARY KEY,
    key        TEXT NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
