-- Issue 6: status page subscribers (email now; SMS and webhooks later)
-- and the attempts that rate-limit sign-up.

-- +goose Up

-- One row per channel and address. token_hash is the SHA-256 (hex) of the
-- random token in the subscriber's confirm, manage and unsubscribe links:
-- the token itself is never stored. confirm_code_hash is the same for an
-- SMS confirmation code. webhook_secret signs webhook payloads;
-- owner_email is told when a failing webhook is disabled.
CREATE TABLE subscribers (
    id                 TEXT PRIMARY KEY,
    channel            TEXT NOT NULL CHECK (channel IN ('email','sms','webhook')),
    address            TEXT NOT NULL,
    all_components     BOOLEAN NOT NULL DEFAULT TRUE,
    state              TEXT NOT NULL CHECK (state IN ('pending','confirmed','unsubscribed','disabled')),
    token_hash         TEXT NOT NULL UNIQUE,
    confirm_expires_at TIMESTAMPTZ,
    confirm_code_hash  TEXT NOT NULL DEFAULT '',
    webhook_secret     TEXT NOT NULL DEFAULT '',
    owner_email        TEXT NOT NULL DEFAULT '',
    failures           INTEGER NOT NULL DEFAULT 0,
    source             TEXT NOT NULL DEFAULT 'web' CHECK (source IN ('web','import')),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    confirmed_at       TIMESTAMPTZ,
    unsubscribed_at    TIMESTAMPTZ,
    disabled_at        TIMESTAMPTZ,
    UNIQUE (channel, address)
);
-- The fan-out pages through confirmed subscribers of a channel in id order.
CREATE INDEX subscribers_fanout ON subscribers (channel, state, id);

-- The components of a subscriber that does not take all of them.
CREATE TABLE subscriber_components (
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    component_id  TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (subscriber_id, component_id)
);
CREATE INDEX subscriber_components_component ON subscriber_components (component_id, subscriber_id);

-- Sign-up requests, per address and per network, counted over a window.
CREATE TABLE subscribe_attempts (
    key TEXT NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscribe_attempts_key ON subscribe_attempts (key, at);
CREATE INDEX subscribe_attempts_at ON subscribe_attempts (at);

-- +goose Down
DROP TABLE subscribe_attempts;
DROP TABLE subscriber_components;
DROP TABLE subscribers;
