-- 0007: annotations (deploy markers and other notes on the dashboards'
-- time axis), from `pulse annotate` and POST /api/v1/annotations.
CREATE TABLE IF NOT EXISTS annotations (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    tag     TEXT    NOT NULL,
    message TEXT    NOT NULL DEFAULT '',
    author  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS annotations_at ON annotations(at);
