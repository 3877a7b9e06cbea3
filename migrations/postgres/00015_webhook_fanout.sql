-- Issue 6: webhook subscribers are told through the same durable delivery
-- as email and SMS subscribers: a 'webhook' delivery channel. A component
-- changing status outside any incident (the console's component editor) is
-- a public change too, told to webhook subscribers: its fan-out and its
-- deliveries belong to no incident, so incident_id may be NULL.

-- +goose Up
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check
    CHECK (channel IN ('slack','email','sms','pagerduty','automation','webhook'));
ALTER TABLE deliveries ALTER COLUMN incident_id DROP NOT NULL;
ALTER TABLE fanouts ALTER COLUMN incident_id DROP NOT NULL;

-- +goose Down
DELETE FROM deliveries WHERE channel = 'webhook' OR incident_id IS NULL;
DELETE FROM fanouts WHERE incident_id IS NULL;
ALTER TABLE fanouts ALTER COLUMN incident_id SET NOT NULL;
ALTER TABLE deliveries ALTER COLUMN incident_id SET NOT NULL;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check
    CHECK (channel IN ('slack','email','sms','pagerduty','automation'));
