-- 0003 (PostgreSQL): daily rollups. Translation of
-- ../migrations/0003_daily_rollups.sql: the hourly rollups of each complete
-- UTC day summed into one row per check, so that a 30-day total reads about
-- 30 rows a check instead of 720. Store.CompactRollups fills it a day at a
-- time; the meta row 'rollups_daily_through' is the first day not yet
-- summed, and readers take hourly rows from that day on. Kept as long as the
-- hourly rows (RollupRetention).
CREATE TABLE rollups_daily (
    check_id bigint NOT NULL,
    day      bigint NOT NULL, -- unix seconds / 86400: UTC days
    runs     bigint NOT NULL,
    failures bigint NOT NULL,
    warn     bigint NOT NULL,
    crit     bigint NOT NULL,
    lat_sum  bigint NOT NULL, -- µs
    lat_max  bigint NOT NULL, -- µs
    hist     bytea  NOT NULL,
    PRIMARY KEY (check_id, day)
);
