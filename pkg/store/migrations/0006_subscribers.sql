-- 0006: people subscribed to the status page's updates, by email (double
-- opt-in) or webhook.
CREATE TABLE IF NOT EXISTS subscribers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL CHECK (kind IN ('email', 'webhook')),
    address      TEXT    NOT NULL,              -- email address or URL
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,                       -- NULL until the opt-in link was used
    UNIQUE (kind, address)
);
-- Each subscriber is its own outbox channel (subscriber/ID): the rate limit
-- counts its rows of the last hour.
CREATE INDEX IF NOT EXISTS outbox_notifier ON outbox(notifier, created_at);
