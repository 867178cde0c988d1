-- 0001: results, rollups, check state, heartbeat pings.
--
-- Timestamps are unix milliseconds, durations microseconds, states
-- checks.State (0 ok, 1 warn, 2 unknown, 3 crit). The hot tables are
-- WITHOUT ROWID and declare no foreign keys: every byte and every lookup per
-- result counts (docs/BENCHMARKS.md, storage).

-- Only effective before the first table exists; the write connection sets it
-- too, before journal_mode=WAL, which is what makes it stick on a new file.
PRAGMA auto_vacuum = INCREMENTAL;

-- Dictionary of check names: results refer to checks by a small integer.
CREATE TABLE checks (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    type       TEXT    NOT NULL DEFAULT '',
    first_seen INTEGER NOT NULL -- when pulse first watched or recorded it
);

-- Dictionary of the messages of non-ok results ("status 503, expected 200"
-- repeats run after run). last_ts lets Prune drop messages no result can
-- still refer to without scanning results; it is kept within an hour.
CREATE TABLE messages (
    id      INTEGER PRIMARY KEY,
    text    TEXT    NOT NULL UNIQUE,
    last_ts INTEGER NOT NULL
);

-- Raw results. An ok result's message is not kept (it is "200 OK in 3ms",
-- different every run); the latest table keeps the last one of every check.
CREATE TABLE results (
    check_id INTEGER NOT NULL,
    ts       INTEGER NOT NULL, -- start
    dur      INTEGER NOT NULL, -- µs
    state    INTEGER NOT NULL,
    value    REAL,
    msg      INTEGER,          -- messages.id
    perf     BLOB,             -- compact encoding, see perf.go
    PRIMARY KEY (check_id, ts)
) WITHOUT ROWID;

-- The last result of each check in full, so status is O(checks).
CREATE TABLE latest (
    check_id INTEGER PRIMARY KEY,
    ts       INTEGER NOT NULL,
    dur      INTEGER NOT NULL,
    state    INTEGER NOT NULL,
    value    REAL,
    msg      TEXT    NOT NULL,
    perf     BLOB
);

-- Hourly rollups, kept 400 days. hour = unix seconds / 3600; hist is a
-- sparse latency histogram (see rollup.go), merged by pulse_hist_merge.
CREATE TABLE rollups (
    check_id INTEGER NOT NULL,
    hour     INTEGER NOT NULL,
    runs     INTEGER NOT NULL,
    failures INTEGER NOT NULL, -- every non-ok run
    warn     INTEGER NOT NULL,
    crit     INTEGER NOT NULL,
    lat_sum  INTEGER NOT NULL, -- µs
    lat_max  INTEGER NOT NULL, -- µs
    hist     BLOB    NOT NULL,
    PRIMARY KEY (check_id, hour)
) WITHOUT ROWID;

-- The incident engine's opaque state of each check (JSON from pkg/alert).
CREATE TABLE check_state (
    check_id INTEGER PRIMARY KEY,
    state    BLOB    NOT NULL,
    updated  INTEGER NOT NULL
);

-- The latest heartbeat ping of each kind per check.
CREATE TABLE pings (
    check_id INTEGER NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('success', 'start', 'fail')),
    ts       INTEGER NOT NULL,
    body     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (check_id, kind)
) WITHOUT ROWID;
