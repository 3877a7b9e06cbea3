-- SQLite writers take turns (immediate transactions), so MAX(seq) + 1 is
-- unique; the index makes that a constraint, as on PostgreSQL.

-- +goose Up
CREATE UNIQUE INDEX deliveries_seq_unique ON deliveries (seq);
DROP INDEX deliveries_seq;

-- +goose Down
CREATE INDEX deliveries_seq ON deliveries (seq);
DROP INDEX deliveries_seq_unique;
