// Package cluster lets several pulse agents share one PostgreSQL database with
// PostgreSQL as the only arbiter: agents never talk to each other.
//
// The protocol:
//
//  1. Work is cut into leases, one row each in the table leases: 64 check
//     shards (ShardOf hashes a check to one), one per notifier channel, and
//     the maintainer (digest, rollups, retention). A row has an owner, an
//     epoch and an expiry on the database clock (now()).
//  2. Every Renew (5 s) a Member upserts its row in agents (last_seen = now())
//     and renews what it holds in one UPDATE matching owner and epoch; a lease
//     that does not come back is dropped at once. While a peer has missed a
//     renewal (dead, or cut off) it rounds every Renew/5, so that the peer's
//     leases are claimed within a second of their expiry.
//  3. It claims free or expired leases with SELECT ... FOR UPDATE SKIP LOCKED,
//     bumping the epoch, up to its fair share of the live agents that share
//     the majority config hash (floor or ceil of leases/agents, the remainder
//     by agent id), and expires its surplus so others can take it. Channels
//     are spread the same way; the maintainer stays where it is. An agent
//     whose config hash is not the majority's holds nothing.
//  4. Every write made under a lease calls Fence inside its transaction: it
//     commits only while the writer's owner and epoch are live, and its row
//     lock (FOR KEY SHARE) keeps a takeover, which locks FOR UPDATE, out
//     until it ends, while the owner's renewals go on.
//  5. Locally a lease renewed by a statement sent at monotonic time t may be
//     acted on until t + TTL - Margin (Snapshot.Until); the database cannot
//     expire it before t + TTL, since its now() is read after t.
//
// Why the margin is safe: the database's expiry is at least t + TTL in real
// time, and another agent can only claim after that expiry, so an agent that
// stops at t + TTL - Margin stops Margin before anybody else can start. The
// margin (TTL/3 = 5 s by default) absorbs what would make the two clocks
// disagree: a step of the database host's clock, a paused process (GC, a
// stopped VM) between reading Until and acting, the rate difference of the
// two clocks (ppm). Work that is not fenced, such as a notifier's send, must
// run under a context whose deadline is Snapshot.Until. The other side of the
// trade: the 10 s left after a renewal outlast one failed renewal (retried
// every Renew/4), so a single slow statement does not stop the agent's work.
package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Schema is the DDL of the tables this package uses. It is idempotent, so the
// store's migrations can run it verbatim. Every time in these tables is on
// the database clock (now()), never an agent's. agents.ttl is the TTL of that
// agent, so that anyone reading the table (pulse cluster) can tell whether it
// is live; agents.left_at is set by a graceful Close, so the others need not
// wait for its TTL to count it out.
const Schema = `
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
CREATE TABLE IF NOT EXISTS leases (
	name        text PRIMARY KEY,
	owner       text NULL,
	epoch       bigint NOT NULL DEFAULT 0,
	expires_at  timestamptz NULL,
	acquired_at timestamptz NULL
);
`

// EnsureSchema creates the tables of Schema when they do not exist.
func EnsureSchema(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return fmt.Errorf("cluster: schema: %w", err)
	}
	return nil
}

// Defaults of Options.
const (
	Shards       = 64 // check shards
	DefaultRenew = 5 * time.Second
	DefaultTTL   = 15 * time.Second
)

// MaintainerName is the lease of the agent that runs the daily digest, the
// rollups and retention.
const MaintainerName = "maintainer"

const (
	shardPrefix   = "shard/"
	channelPrefix = "channel/"
)

// ShardName is the lease name of shard i: "shard/007".
func ShardName(i int) string { return fmt.Sprintf("%s%03d", shardPrefix, i) }

// ChannelName is the lease name of a notifier channel: "channel/<notifier>".
func ChannelName(notifier string) string { return channelPrefix + notifier }

// ShardOf is the shard of a check: FNV-1a (32 bit) of its name modulo shards.
// The function is part of the protocol and must never change: agents of
// different versions sharing one database must agree on it, or two agents
// would run one check while another check runs nowhere.
func ShardOf(check string, shards int) int {
	if shards <= 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(check))
	return int(h.Sum32() % uint32(shards))
}

// ErrFenced is returned by Fence when the lease is no longer held by that
// owner at that epoch: the caller must roll its transaction back.
var ErrFenced = errors.New("cluster: lease lost (fenced)")

// Token names one holding of a lease: who, and which epoch. It is what a
// write carries to Fence.
type Token struct {
	Name  string
	Owner string
	Epoch int64
}

// Fence is Fence(ctx, tx, t.Name, t.Owner, t.Epoch).
func (t Token) Fence(ctx context.Context, tx *sql.Tx) error {
	return Fence(ctx, tx, t.Name, t.Owner, t.Epoch)
}

// fenceSQL locks the lease row FOR KEY SHARE. That lock conflicts with the
// FOR UPDATE a takeover takes (claim), so no other agent can take the lease
// until this transaction ends, while the owner's own renewals and releases
// (UPDATEs of non-key columns) do not wait for it: with FOR SHARE a renewal
// would queue behind the owner's writes, and a writer fencing two shards
// could deadlock with the renewal of both. clock_timestamp(), not now(),
// because the caller's transaction may have begun long before.
const fenceSQL = `SELECT 1 FROM leases
WHERE name = $1 AND owner = $2 AND epoch = $3 AND expires_at > clock_timestamp()
FOR KEY SHARE`

// Fence checks, inside the caller's transaction, that the lease name is held
// by owner at epoch and has not expired on the database clock, and locks its
// row until the transaction ends so that no takeover can commit before it.
// A write fenced this way commits under a live lease or not at all. It
// returns ErrFenced when the lease is lost; the transaction must then be
// rolled back.
func Fence(ctx context.Context, tx *sql.Tx, name, owner string, epoch int64) error {
	var one int
	err := tx.QueryRowContext(ctx, fenceSQL, name, owner, epoch).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s epoch %d of %s", ErrFenced, name, epoch, owner)
	}
	if err != nil {
		return fmt.Errorf("cluster: fence %s: %w", name, err)
	}
	return nil
}

// AgentInfo is one row of `pulse cluster`.
type AgentInfo struct {
	ID         string
	Location   string
	ConfigHash string
	Host       string
	PID        int
	StartedAt  time.Time
	LastSeen   time.Time
	Live       bool // seen within its TTL on the database clock and not left
	Left       bool // stopped gracefully
	Drift      bool // live, but its config hash is not the majority's: takes no work
	Shards     []int
	SiteShards []int // of its location
	Channels   []string
	Maintainer bool
}

// Agents lists every agent that ever registered, by id, with the live leases
// each holds.
func Agents(ctx context.Context, db *sql.DB) ([]AgentInfo, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("cluster: agents: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := tx.QueryContext(ctx, `SELECT id, location, config_hash, host, pid, started_at, last_seen,
	left_at IS NOT NULL, left_at IS NULL AND last_seen > now() - ttl
FROM agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("cluster: agents: %w", err)
	}
	var out []AgentInfo
	byID := map[string]int{}
	var live []agentRow
	for rows.Next() {
		var a AgentInfo
		if err := rows.Scan(&a.ID, &a.Location, &a.ConfigHash, &a.Host, &a.PID, &a.StartedAt, &a.LastSeen, &a.Left, &a.Live); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cluster: agents: %w", err)
		}
		byID[a.ID] = len(out)
		out = append(out, a)
		if a.Live {
			live = append(live, agentRow{id: a.ID, hash: a.ConfigHash, started: a.StartedAt})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cluster: agents: %w", err)
	}
	major := majority(live)
	for i := range out {
		out[i].Drift = out[i].Live && out[i].ConfigHash != major
	}
	rows, err = tx.QueryContext(ctx, `SELECT owner, name FROM leases
WHERE owner IS NOT NULL AND expires_at > now() ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("cluster: leases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner, name string
		if err := rows.Scan(&owner, &name); err != nil {
			return nil, fmt.Errorf("cluster: leases: %w", err)
		}
		i, ok := byID[owner]
		if !ok {
			continue
		}
		a := &out[i]
		switch kind, shard, channel := parseName(name); kind {
		case kindShard:
			a.Shards = append(a.Shards, shard)
		case kindSite:
			a.SiteShards = append(a.SiteShards, shard)
		case kindChannel:
			a.Channels = append(a.Channels, channel)
		case kindMaintainer:
			a.Maintainer = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cluster: leases: %w", err)
	}
	for i := range out {
		sort.Ints(out[i].Shards)
		sort.Ints(out[i].SiteShards)
	}
	return out, nil
}

type leaseKind int

const (
	kindOther leaseKind = iota
	kindShard
	kindSite
	kindChannel
	kindMaintainer
)

func parseName(name string) (kind leaseKind, shard int, channel string) {
	switch {
	case name == MaintainerName:
		return kindMaintainer, 0, ""
	case strings.HasPrefix(name, sitePrefix):
		_, n, ok := parseSiteName(name)
		if !ok {
			return kindOther, 0, ""
		}
		return kindSite, n, ""
	case strings.HasPrefix(name, shardPrefix):
		n, err := strconv.Atoi(strings.TrimPrefix(name, shardPrefix))
		if err != nil {
			return kindOther, 0, ""
		}
		return kindShard, n, ""
	case strings.HasPrefix(name, channelPrefix):
		return kindChannel, 0, strings.TrimPrefix(name, channelPrefix)
	}
	return kindOther, 0, ""
}

// agentRow is a live agent as the membership computation sees it.
type agentRow struct {
	id      string
	hash    string
	started time.Time
	loc     string // its location: whose site shards it shares
	late    bool   // missed a renewal (dead, or cut off): its leases may expire soon
}

// majority is the config hash shared by most live agents. A tie goes to the
// hash of the agent that started first (then the smaller hash), so that in a
// rolling deploy the incumbent configuration keeps the work until the new one
// outnumbers it. Every agent computes it from the same table, so they agree
// whenever they read the same rows.
func majority(live []agentRow) string {
	count := map[string]int{}
	first := map[string]time.Time{}
	for _, a := range live {
		count[a.hash]++
		if t, ok := first[a.hash]; !ok || a.started.Before(t) {
			first[a.hash] = a.started
		}
	}
	best := ""
	found := false
	for h, n := range count {
		if !found {
			best, found = h, true
			continue
		}
		switch b := count[best]; {
		case n > b:
			best = h
		case n == b && (first[h].Before(first[best]) || first[h].Equal(first[best]) && h < best):
			best = h
		}
	}
	return best
}
