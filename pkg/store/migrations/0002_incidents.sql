-- 0002: incidents and their timeline, the notification outbox, silences and
-- a key/value table. Timestamps are unix milliseconds, like 0001.

-- Incidents are kept forever. AUTOINCREMENT: an id is never reused, even
-- after the newest incident is deleted by hand, so "#42" always means one
-- thing in chat history and in PagerDuty's dedup keys.
CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name  TEXT    NOT NULL,
    type        TEXT    NOT NULL DEFAULT '',
    severity    TEXT    NOT NULL,
    state       TEXT    NOT NULL,               -- worst check state seen: warn | unknown | crit
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    message     TEXT    NOT NULL DEFAULT '',
    value       REAL,
    opened_at   INTEGER NOT NULL,
    acked_at    INTEGER,
    acked_by    TEXT    NOT NULL DEFAULT '',
    ack_note    TEXT    NOT NULL DEFAULT '',
    resolved_at INTEGER,
    resolved_by TEXT    NOT NULL DEFAULT '',    -- '' when the check recovered by itself
    escalation  BLOB,                           -- JSON of alert.IncidentInfo: who was told, steps fired
    -- 1 after `pulse ack` / `pulse resolve` wrote the row from another
    -- process, until the agent has queued the acknowledge/resolve
    -- notifications that follow from it.
    pending_sync INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incidents_unresolved ON incidents(check_name) WHERE status != 'resolved';
CREATE INDEX incidents_opened ON incidents(opened_at);
CREATE INDEX incidents_sync ON incidents(id) WHERE pending_sync = 1;

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('opened', 'raised', 'notified', 'notify_failed',
                    'acknowledged', 'escalated', 'reminded', 'resolved', 'silenced', 'flapping')),
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, at);

-- One row per notification to one notifier, written in the transaction of
-- the event that caused it and marked sent only after the receiver accepted.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier        TEXT    NOT NULL,
    incident_id     INTEGER REFERENCES incidents(id),
    event           TEXT    NOT NULL,
    item            BLOB    NOT NULL,           -- JSON of notify.Item as it was queued
    due_at          INTEGER NOT NULL,
    batchable       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    -- superseded: replaced, before any attempt, by a later row of the same
    -- incident to the same notifier (a raise or a resolve), which says more.
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'superseded')),
    last_error      TEXT    NOT NULL DEFAULT '',
    answer          TEXT    NOT NULL DEFAULT '',
    sent_at         INTEGER
);
CREATE INDEX outbox_pending ON outbox(id) WHERE status = 'pending';
CREATE INDEX outbox_incident ON outbox(incident_id, notifier);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    pattern    TEXT    NOT NULL,
    until      INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Small facts the agent must remember across restarts (the day of the last
-- daily report sent, ...).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
