-- 0004: several agents on one database (PostgreSQL only; SQLite has one
-- agent per file). Every time here is on the database's clock (now()),
-- never an agent's. Agents never talk to each other: these rows are all
-- they know of one another.

-- One row per agent process: what `pulse cluster` lists, and how agents
-- count each other (live while last_seen + ttl is ahead of now(), until
-- left_at is set by a graceful stop).
CREATE TABLE IF NOT EXISTS agents (
	id          text PRIMARY KEY,
	location    text NOT NULL DEFAULT '',
	config_hash text NOT NULL DEFAULT '',
	host        text NOT NULL DEFAULT '',
	pid         integer NOT NULL DEFAULT 0,
	ttl         interval NOT NULL DEFAULT interval '15 seconds',
	started_at  timestamptz NOT NULL DEFAULT now(),
	last_seen   timestamptz NOT NULL DEFAULT now(),
	left_at     timestamptz NULL
);

-- Leases: "shard/NNN" (the checks hashed to it), "channel/NAME" (a
-- notifier's deliveries), "maintainer" (digest, rollups, retention). A
-- lease is held by owner until expires_at; each new holder increments
-- epoch, and writes made under a lease are fenced by (owner, epoch).
CREATE TABLE IF NOT EXISTS leases (
	name        text PRIMARY KEY,
	owner       text NULL,
	epoch       bigint NOT NULL DEFAULT 0,
	expires_at  timestamptz NULL,
	acquired_at timestamptz NULL
);
