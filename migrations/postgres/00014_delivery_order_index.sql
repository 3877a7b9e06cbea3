-- The engine's order check (an earlier delivery to the same place still
-- pending?) looked at every earlier delivery of the incident; after a
-- fan-out that is every subscriber's. This index finds the few to the same
-- channel and recipient.

-- +goose Up
CREATE INDEX deliveries_order ON deliveries (incident_id, channel, recipient, seq);

-- +goose Down
DROP INDEX deliveries_order;
