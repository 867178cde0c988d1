-- 0003: daily rollups: the hourly rollups of each complete UTC day summed
-- into one row per check, so that a 30-day total reads about 30 rows a
-- check instead of 720 (pulse status, the digest's error budget, the status
-- page's 90 days). Store.CompactRollups fills it a day at a time once a day
-- is complete; the meta row 'rollups_daily_through' is the first day not yet
-- summed, and readers take hourly rows from that day on. Kept as long as the
-- hourly rows (RollupRetention).
CREATE TABLE rollups_daily (
    check_id INTEGER NOT NULL,
    day      INTEGER NOT NULL, -- unix seconds / 86400: UTC days
    runs     INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    warn     INTEGER NOT NULL,
    crit     INTEGER NOT NULL,
    lat_sum  INTEGER NOT NULL, -- µs
    lat_max  INTEGER NOT NULL, -- µs
    hist     BLOB    NOT NULL,
    PRIMARY KEY (check_id, day)
) WITHOUT ROWID;
