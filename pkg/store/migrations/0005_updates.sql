-- 0005: what people write about incidents: updates (some public, shown on
-- the status page, /api/v1/incidents and /feed.xml, and sent to
-- subscribers), postmortems, and announcements of planned maintenance.
CREATE TABLE IF NOT EXISTS incident_updates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER REFERENCES incidents(id),  -- NULL for a maintenance announcement
    at          INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    message     TEXT    NOT NULL DEFAULT '',
    public      INTEGER NOT NULL DEFAULT 0,
    author      TEXT    NOT NULL DEFAULT '',
    dedup_key   TEXT    UNIQUE                  -- set for a maintenance announcement: announced once
);
CREATE INDEX IF NOT EXISTS incident_updates_incident ON incident_updates(incident_id, at);
CREATE INDEX IF NOT EXISTS incident_updates_public ON incident_updates(at) WHERE public = 1;

CREATE TABLE IF NOT EXISTS postmortems (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
    body        TEXT    NOT NULL,               -- markdown
    written_at  INTEGER NOT NULL,
    author      TEXT    NOT NULL DEFAULT '',
    public      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS postmortems_written ON postmortems(written_at);
