-- Deliveries draw their order number from a sequence: MAX(seq) + 1 could
-- give two concurrent transactions the same number, and then neither would
-- wait for the other.

-- +goose Up
CREATE SEQUENCE deliveries_order_seq;
SELECT setval('deliveries_order_seq', COALESCE((SELECT MAX(seq) FROM deliveries), 0) + 1, false);
CREATE UNIQUE INDEX deliveries_seq_unique ON deliveries (seq);
DROP INDEX deliveries_seq;

-- +goose Down
CREATE INDEX deliveries_seq ON deliveries (seq);
DROP INDEX deliveries_seq_unique;
DROP SEQUENCE deliveries_order_seq;
