package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Short timings so that the tests are quick, yet long enough for five
// members under -race on two loaded cores, where a round can take 400 ms.
// Margin = TTL/3 as by default; Renew is shorter to converge faster.
const (
	testRenew  = 150 * time.Millisecond
	testTTL    = 1500 * time.Millisecond
	testMargin = 500 * time.Millisecond
	// patience bounds every wait for a condition: generous, because the
	// tests run with -race on small, loaded machines. A condition met
	// returns at once.
	patience = 20 * time.Second
)

func TestShardOfIsStable(t *testing.T) {
	// These values are the protocol: agents of different versions must
	// agree on them forever.
	for check, want := range map[string]int{"": 5, "api": 7, "db-primary": 28, "https://example.com/health": 34} {
		if got := ShardOf(check, 64); got != want {
			t.Errorf("ShardOf(%q, 64) = %d, want %d", check, got, want)
		}
	}
	if got := ShardName(7); got != "shard/007" {
		t.Errorf("ShardName(7) = %q", got)
	}
	if got := ChannelName("oncall"); got != "channel/oncall" {
		t.Errorf("ChannelName = %q", got)
	}
	for i := range 1000 {
		name := fmt.Sprintf("check-%d", i)
		if s := ShardOf(name, 64); s < 0 || s >= 64 {
			t.Fatalf("ShardOf(%q) = %d out of range", name, s)
		}
	}
}

func TestMajority(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		live []agentRow
		want string
	}{
		{"none", nil, ""},
		{"one", []agentRow{{id: "a", hash: "x", started: t0}}, "x"},
		{"most", []agentRow{{id: "a", hash: "y", started: t0}, {id: "b", hash: "x", started: t0.Add(time.Second)}, {id: "c", hash: "x", started: t0.Add(2 * time.Second)}}, "x"},
		{"tie to the incumbent", []agentRow{{id: "a", hash: "new", started: t0.Add(time.Second)}, {id: "b", hash: "old", started: t0}}, "old"},
		{"tie at once to the smaller hash", []agentRow{{id: "a", hash: "b", started: t0}, {id: "b", hash: "a", started: t0}}, "a"},
	} {
		if got := majority(tc.live); got != tc.want {
			t.Errorf("%s: majority = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestShare(t *testing.T) {
	sum := 0
	for rank := range 3 {
		s := share(64, 3, rank)
		if s != 21 && s != 22 {
			t.Errorf("share(64, 3, %d) = %d", rank, s)
		}
		sum += s
	}
	if sum != 64 {
		t.Errorf("shares add up to %d, want 64", sum)
	}
}

func TestOptionsValidated(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("no ID accepted")
	}
	if _, err := New(nil, Options{ID: "a", Renew: time.Second, TTL: 3 * time.Second, Margin: 2 * time.Second}); err == nil {
		t.Error("Renew >= TTL - Margin accepted")
	}
	m, err := New(nil, Options{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if m.o.Shards != 64 || m.o.Renew != 5*time.Second || m.o.TTL != 15*time.Second || m.o.Margin != 5*time.Second {
		t.Errorf("defaults: %+v", m.o)
	}
}

// --- PostgreSQL harness ---

// testDB creates a schema of its own for the test, with the tables of Schema
// in it, and returns a DSN whose search_path is that schema and an admin
// connection on it. The schema is dropped when the test ends.
func testDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	base := os.Getenv("PULSE_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("PULSE_TEST_POSTGRES_DSN is not set: skipping the PostgreSQL lease tests " +
			"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "cluster_test_" + hex.EncodeToString(b)
	root, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Exec("CREATE SCHEMA " + schema); err != nil {
		root.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := root.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		root.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()
	admin := openDB(t, dsn)
	if err := EnsureSchema(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	if err := EnsureSchema(t.Context(), admin); err != nil {
		t.Fatalf("schema not idempotent: %v", err)
	}
	return dsn, admin
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func opts(id string, channels ...string) Options {
	o := Options{ID: id, Location: "test", ConfigHash: "h1", Channels: channels,
		Renew: testRenew, TTL: testTTL, Margin: testMargin}
	if os.Getenv("PULSE_TEST_CLUSTER_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return o
}

// agent is a Member running in the background on a connection pool of its own.
type agent struct {
	*Member
	db     *sql.DB
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, dsn string, o Options) *agent {
	t.Helper()
	db := openDB(t, dsn)
	return startOn(t, db, o)
}

func startOn(t *testing.T, db *sql.DB, o Options) *agent {
	t.Helper()
	m, err := New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &agent{Member: m, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- m.Run(ctx) }()
	t.Cleanup(a.kill)
	return a
}

// kill stops Run without releasing anything, as kill -9 would.
func (a *agent) kill() {
	a.cancel()
	<-a.done
	a.done <- nil // kill is idempotent
}

// waitFor polls cond until it returns nil; the test fails with cond's last
// error when that does not happen within patience.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, patience, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type leaseRow struct {
	owner string
	epoch int64
	live  bool
}

func leaseTable(t *testing.T, db *sql.DB) map[string]leaseRow {
	t.Helper()
	rows, err := db.Query(`SELECT name, coalesce(owner, ''), epoch, coalesce(expires_at > now(), false) FROM leases`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]leaseRow{}
	for rows.Next() {
		var name string
		var r leaseRow
		if err := rows.Scan(&name, &r.owner, &r.epoch, &r.live); err != nil {
			t.Fatal(err)
		}
		out[name] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// partition checks that the agents' Held, taken together, hold every shard
// exactly once, every channel once and the maintainer once, that the table
// agrees, and that each agent holds its fair share.
func partition(t *testing.T, admin *sql.DB, agents []*agent, channels []string) error {
	t.Helper()
	shardOwner := map[int]string{}
	chanOwner := map[string]string{}
	maintainers := 0
	n := len(agents)
	members := make([]*Member, n)
	for i, a := range agents {
		members[i] = a.Member
	}
	for i, h := range heldAtOnce(members) {
		a := agents[i]
		lo, hi := 64/n, (64+n-1)/n
		if len(h.Shards) < lo || len(h.Shards) > hi {
			return fmt.Errorf("%s holds %d shards, want %d..%d", a.ID(), len(h.Shards), lo, hi)
		}
		clo, chi := len(channels)/n, (len(channels)+n-1)/n
		if len(h.Channels) < clo || len(h.Channels) > chi {
			return fmt.Errorf("%s holds %d channels, want %d..%d", a.ID(), len(h.Channels), clo, chi)
		}
		for s := range h.Shards {
			if o, ok := shardOwner[s]; ok {
				t.Fatalf("shard %d held by %s and %s", s, o, a.ID())
			}
			shardOwner[s] = a.ID()
		}
		for c := range h.Channels {
			if o, ok := chanOwner[c]; ok {
				t.Fatalf("channel %s held by %s and %s", c, o, a.ID())
			}
			chanOwner[c] = a.ID()
		}
		if h.Maintainer != nil {
			maintainers++
		}
	}
	if len(shardOwner) != 64 || len(chanOwner) != len(channels) || maintainers != 1 {
		return fmt.Errorf("%d shards, %d channels, %d maintainers held", len(shardOwner), len(chanOwner), maintainers)
	}
	table := leaseTable(t, admin)
	for s, o := range shardOwner {
		if r := table[ShardName(s)]; r.owner != o || !r.live {
			return fmt.Errorf("shard %d: table says %+v, Held says %s", s, r, o)
		}
	}
	return nil
}

func TestThreeAgentsShareFairly(t *testing.T) {
	dsn, admin := testDB(t)
	channels := []string{"slack", "pagerduty", "email", "teams", "ntfy"}
	var agents []*agent
	for _, id := range []string{"a", "b", "c"} {
		agents = append(agents, start(t, dsn, opts(id, channels...)))
	}
	waitFor(t, "fair partition", func() error { return partition(t, admin, agents, channels) })

	for _, a := range agents {
		select {
		case <-a.Changes():
		default:
			t.Errorf("%s announced no change after claiming", a.ID())
		}
	}
	// pulse cluster's view: the same, from the table.
	waitFor(t, "Agents lists the partition", func() error {
		infos, err := Agents(t.Context(), admin)
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != 3 {
			t.Fatalf("Agents: %+v", infos)
		}
		shards, chans, maint := 0, 0, 0
		for _, in := range infos {
			if !in.Live || in.Drift || in.Left || in.Location != "test" || in.ConfigHash != "h1" ||
				in.PID != os.Getpid() || in.LastSeen.IsZero() || in.StartedAt.After(in.LastSeen) {
				t.Fatalf("Agents row %+v", in)
			}
			if l := len(in.Shards); l < 21 || l > 22 {
				return fmt.Errorf("%s: %d shards", in.ID, l)
			}
			shards += len(in.Shards)
			chans += len(in.Channels)
			if in.Maintainer {
				maint++
			}
		}
		if shards != 64 || chans != len(channels) || maint != 1 {
			return fmt.Errorf("Agents lists %d shards, %d channels, %d maintainers", shards, chans, maint)
		}
		return nil
	})
}

func TestKilledAgentsShardsAreTakenOver(t *testing.T) {
	dsn, admin := testDB(t)
	agents := []*agent{start(t, dsn, opts("a")), start(t, dsn, opts("b")), start(t, dsn, opts("c"))}
	waitFor(t, "fair partition", func() error { return partition(t, admin, agents, nil) })

	victim := agents[0]
	before := leaseTable(t, admin)
	victim.kill()
	killed := time.Now()
	var lost []string
	for name, r := range before {
		if r.owner == victim.ID() {
			lost = append(lost, name)
		}
	}
	if len(lost) < 21 {
		t.Fatalf("victim held %d leases", len(lost))
	}
	if victim.Held().Len() != 0 {
		t.Error("a stopped member still holds leases locally")
	}
	rest := agents[1:]
	waitFor(t, "takeover", func() error {
		if err := partition(t, admin, rest, nil); err != nil {
			return err
		}
		table := leaseTable(t, admin)
		for _, name := range lost {
			if r := table[name]; r.owner == victim.ID() || r.epoch <= before[name].epoch {
				return fmt.Errorf("%s: %+v, before %+v", name, r, before[name])
			}
		}
		return nil
	})
	took := time.Since(killed)
	t.Logf("killed agent's %d leases taken over after %v (TTL %v, Renew %v)", len(lost), took, testTTL, testRenew)
	// The victim's last renewal was sent before the kill, so its leases
	// expire by TTL after it plus a statement's time, and the others notice
	// it gone at their next round. The slack is for a loaded -race run.
	if limit := testTTL + testRenew + time.Second; took > limit {
		t.Errorf("takeover took %v, want within TTL + Renew (+1 s slack) = %v", took, limit)
	}
}

// blackhole is a TCP proxy to PostgreSQL that can be cut: after cut it
// forwards nothing in either direction and never answers new connections,
// like a network partition (no reset, statements hang).
type blackhole struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackhole{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *blackhole) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *blackhole) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if p.cut.Load() {
			continue // accepted, never answered
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(s)
		go p.pipe(s, c)
		go p.pipe(c, s)
	}
}

func (p *blackhole) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestCutOffAgentStopsBeforeTheDatabaseExpiresItsLeases(t *testing.T) {
	dsn, admin := testDB(t)
	u, _ := url.Parse(dsn)
	proxy := newBlackhole(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	a := start(t, u.String(), opts("a", "slack"))
	waitFor(t, "all held", func() error { return partition(t, admin, []*agent{a}, []string{"slack"}) })
	for len(a.Changes()) > 0 {
		<-a.Changes()
	}

	proxy.cut.Store(true)
	cut := time.Now()
	// Every renewal that can still succeed was sent before the cut, so no
	// local deadline may lie beyond cut + TTL - Margin.
	bound := cut.Add(testTTL - testMargin)
	var last Snapshot
	for {
		h := a.Held()
		now := time.Now()
		if h.Len() == 0 {
			break
		}
		if h.Until.After(bound) {
			t.Fatalf("held until %v after the cut, beyond cut + TTL - Margin", h.Until.Sub(cut))
		}
		if now.After(bound.Add(patience)) {
			t.Fatal("still holding leases long after the cut")
		}
		last = h
		time.Sleep(time.Millisecond)
	}
	if last.Len() == 0 {
		t.Fatal("held nothing right after the cut")
	}
	select {
	case <-a.Changes():
	case <-time.After(patience):
		t.Fatal("no change announced when the leases expired locally")
	}
	// The database expires them Margin (plus a statement's latency) after
	// the agent stopped. The two are compared on the wall clock (one host),
	// which a virtual machine may adjust by some milliseconds between the
	// two readings, hence the check for half the margin only.
	var dbExpiry time.Time
	if err := admin.QueryRow(`SELECT min(expires_at) FROM leases WHERE owner = 'a'`).Scan(&dbExpiry); err != nil {
		t.Fatal(err)
	}
	gap := dbExpiry.Sub(last.Until.Round(0))
	t.Logf("local deadline %v after the cut; the database's expiry %v after that", last.Until.Sub(cut), gap)
	if gap < testMargin/2 {
		t.Errorf("database expiry only %v after the local deadline, want about Margin %v", gap, testMargin)
	}
}

func TestFenceRejectsAnOldEpoch(t *testing.T) {
	dsn, admin := testDB(t)
	if _, err := admin.Exec(`CREATE TABLE results (shard int, epoch bigint)`); err != nil {
		t.Fatal(err)
	}
	a := start(t, dsn, opts("a"))
	var old Token
	waitFor(t, "a owns shard 0", func() error {
		var ok bool
		if old, ok = a.Owns(0); !ok {
			return errors.New("not yet")
		}
		return nil
	})
	write := func(tok Token) error {
		tx, err := admin.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`INSERT INTO results VALUES (0, $1)`, tok.Epoch); err != nil {
			t.Fatal(err)
		}
		if err := tok.Fence(t.Context(), tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	if err := write(old); err != nil {
		t.Fatalf("write under a live lease: %v", err)
	}

	a.kill()
	b := start(t, dsn, opts("b"))
	var cur Token
	waitFor(t, "b owns shard 0", func() error {
		var ok bool
		if cur, ok = b.Owns(0); !ok {
			return errors.New("not yet")
		}
		return nil
	})
	if cur.Epoch <= old.Epoch {
		t.Fatalf("epoch %d after takeover, was %d", cur.Epoch, old.Epoch)
	}
	if err := write(old); !errors.Is(err, ErrFenced) {
		t.Fatalf("write with the old epoch: %v, want ErrFenced", err)
	}
	if err := write(Token{Name: ShardName(0), Owner: "b", Epoch: old.Epoch}); !errors.Is(err, ErrFenced) {
		t.Fatalf("write with the new owner but the old epoch: %v, want ErrFenced", err)
	}
	if err := write(cur); err != nil {
		t.Fatalf("write under the new lease: %v", err)
	}
	var n, stale int
	if err := admin.QueryRow(`SELECT count(*), count(*) FILTER (WHERE epoch = $1) FROM results`, old.Epoch).Scan(&n, &stale); err != nil {
		t.Fatal(err)
	}
	if n != 2 || stale != 1 {
		t.Errorf("%d results, %d with the old epoch; want 2 and 1 (the fenced write left nothing)", n, stale)
	}
	// After a graceful release the lease is not live either.
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := write(cur); !errors.Is(err, ErrFenced) {
		t.Fatalf("write after Close: %v, want ErrFenced", err)
	}
}

func TestFencedWriteHoldsOffTakeover(t *testing.T) {
	dsn, admin := testDB(t)
	a := start(t, dsn, opts("a"))
	var tok Token
	waitFor(t, "a owns shard 0", func() error {
		var ok bool
		if tok, ok = a.Owns(0); !ok {
			return errors.New("not yet")
		}
		return nil
	})
	tx, err := admin.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tok.Fence(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	// The owner's own renewals do not wait for its fenced writes (the fence
	// locks FOR KEY SHARE): a completes rounds and keeps the lease.
	until := a.Held().Until
	rounds := a.ticks.Load()
	waitFor(t, "a renews during the fenced transaction", func() error {
		if a.ticks.Load() < rounds+3 {
			return errors.New("fewer than 3 rounds")
		}
		return nil
	})
	if got, ok := a.Owns(0); !ok || got != tok {
		t.Fatalf("a lost shard 0 during its own fenced write: %+v %v", got, ok)
	}
	if !a.Held().Until.After(until) {
		t.Fatal("a's leases were not renewed during its fenced write")
	}

	// a dies and its lease expires on the database while the fenced
	// transaction is still open.
	a.kill()
	name := ShardName(0)
	waitFor(t, "lease expired", func() error {
		if r := leaseTable(t, admin)[name]; r.live {
			return errors.New("still live")
		}
		return nil
	})

	// A takeover locks the row FOR UPDATE: it cannot while the fenced
	// transaction runs.
	other := openDB(t, dsn)
	_, err = other.Exec(`SELECT 1 FROM leases WHERE name = $1 FOR UPDATE NOWAIT`, name)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("FOR UPDATE NOWAIT during the fenced transaction: %v, want lock_not_available", err)
	}
	// A member claiming skips it (SKIP LOCKED): it takes every other shard,
	// then goes on for rounds without shard 0.
	b := start(t, dsn, opts("b"))
	waitFor(t, "b takes the 63 others", func() error {
		if n := len(b.Held().Shards); n != 63 {
			return fmt.Errorf("b holds %d shards", n)
		}
		return nil
	})
	rounds = b.ticks.Load()
	waitFor(t, "b goes on", func() error {
		if b.ticks.Load() < rounds+3 {
			return errors.New("fewer than 3 rounds")
		}
		return nil
	})
	if _, ok := b.Owns(0); ok {
		t.Fatal("b took shard 0 while a fenced write held it")
	}
	var owner string
	var epoch int64
	if err := tx.QueryRow(`SELECT owner, epoch FROM leases WHERE name = $1`, name).Scan(&owner, &epoch); err != nil {
		t.Fatal(err)
	}
	if owner != "a" || epoch != tok.Epoch {
		t.Fatalf("lease moved to %s@%d under the fenced transaction", owner, epoch)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Once it committed, the takeover proceeds, with a newer epoch.
	waitFor(t, "b takes shard 0 after the commit", func() error {
		got, ok := b.Owns(0)
		if !ok {
			return errors.New("not yet")
		}
		if got.Epoch <= tok.Epoch {
			t.Fatalf("epoch %d after takeover, was %d", got.Epoch, tok.Epoch)
		}
		return nil
	})
}

func TestConcurrentStartsNeverShareALease(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			dsn, admin := testDB(t)
			n := 5
			members := make([]*Member, n)
			dbs := make([]*sql.DB, n)
			for i := range n {
				dbs[i] = openDB(t, dsn)
				m, err := New(dbs[i], opts(fmt.Sprintf("m%d", i), "slack", "email"))
				if err != nil {
					t.Fatal(err)
				}
				members[i] = m
			}
			gate := make(chan struct{})
			cancels := make([]context.CancelFunc, n)
			var wg sync.WaitGroup
			for i, m := range members {
				ctx, cancel := context.WithCancel(context.Background())
				cancels[i] = cancel
				wg.Go(func() {
					<-gate
					m.Run(ctx)
				})
			}
			t.Cleanup(func() {
				for _, c := range cancels {
					c()
				}
				wg.Wait()
			})
			close(gate)

			// In the background, all along: no lease is ever visible to
			// two members at the same instant.
			all := slices.Clone(members)
			instants := 0
			stopWatch := make(chan struct{})
			watchErr := make(chan error, 1)
			go func() {
				defer close(watchErr)
				for {
					select {
					case <-stopWatch:
						return
					default:
					}
					instants++
					owner := map[string]string{}
					for i, s := range heldAtOnce(all) {
						for _, tok := range sortedTokens(s) {
							if o, ok := owner[tok.Name]; ok {
								watchErr <- fmt.Errorf("%s held by %s and %s at once", tok.Name, o, all[i].ID())
								return
							}
							owner[tok.Name] = all[i].ID()
						}
					}
					time.Sleep(500 * time.Microsecond)
				}
			}()
			defer func() {
				close(stopWatch)
				if err := <-watchErr; err != nil {
					t.Error(err)
				}
				t.Logf("%d instants checked", instants)
			}()

			checks := 0
			check := func() error {
				snaps := heldAtOnce(members)
				checks++
				seen := map[string]string{}
				for i, s := range snaps {
					for _, tok := range sortedTokens(s) {
						if o, ok := seen[tok.Name]; ok {
							t.Fatalf("%s held by %s and %s at once", tok.Name, o, members[i].ID())
						}
						seen[tok.Name] = members[i].ID()
					}
				}
				table := leaseTable(t, admin)
				for i, s := range snaps {
					for _, tok := range sortedTokens(s) {
						r := table[tok.Name]
						if r.epoch < tok.Epoch || r.epoch == tok.Epoch && r.owner != members[i].ID() {
							t.Fatalf("%s holds %s@%d, table says %s@%d", members[i].ID(), tok.Name, tok.Epoch, r.owner, r.epoch)
						}
					}
				}
				if len(seen) != 64+2+1 {
					return fmt.Errorf("%d leases held", len(seen))
				}
				lo, hi := 64/len(members), (64+len(members)-1)/len(members)
				for i, s := range snaps {
					if l := len(s.Shards); l < lo || l > hi {
						return fmt.Errorf("%s holds %d shards", members[i].ID(), l)
					}
				}
				return nil
			}
			waitFor(t, "5 members share the 64 shards", check)
			// Then churn: one leaves gracefully, one dies; the rest
			// take over with no lease ever held twice.
			if err := members[0].Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			cancels[1]()
			members = members[2:]
			waitFor(t, "3 members share the 64 shards", check)
			for range 20 {
				check()
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%d checks", checks)
		})
	}
}

// heldAtOnce is Held of every member at one instant: it takes all their
// locks, under which a member changes what it holds (it forgets a lease
// before releasing it and learns of one after claiming it), and reads the
// clock once. Two snapshots taken one after the other could see a lease
// handed over in between (released by the first, claimed by the second).
func heldAtOnce(members []*Member) []Snapshot {
	for _, m := range members {
		m.mu.Lock()
	}
	now := time.Now()
	snaps := make([]Snapshot, len(members))
	for i, m := range members {
		snaps[i] = m.snapshotLocked(now)
	}
	for _, m := range members {
		m.mu.Unlock()
	}
	return snaps
}

func sortedTokens(s Snapshot) []Token {
	var out []Token
	for _, t := range s.Shards {
		out = append(out, t)
	}
	for _, t := range s.Channels {
		out = append(out, t)
	}
	if s.Maintainer != nil {
		out = append(out, *s.Maintainer)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func TestDriftedAgentHoldsNothing(t *testing.T) {
	dsn, admin := testDB(t)
	odd := opts("odd", "slack")
	odd.ConfigHash = "h2"
	agents := []*agent{start(t, dsn, opts("a", "slack")), start(t, dsn, opts("b", "slack")), start(t, dsn, odd)}
	drifted := agents[2]
	waitFor(t, "the majority takes everything", func() error {
		if !drifted.Drift() {
			return errors.New("odd does not report drift")
		}
		if h := drifted.Held(); h.Len() != 0 {
			return fmt.Errorf("odd holds %d leases", h.Len())
		}
		for name, r := range leaseTable(t, admin) {
			if r.live && r.owner == "odd" {
				return fmt.Errorf("table: odd holds %s", name)
			}
		}
		return partition(t, admin, agents[:2], []string{"slack"})
	})
	for _, a := range agents[:2] {
		if a.Drift() {
			t.Errorf("%s reports drift", a.ID())
		}
	}
	infos, err := Agents(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Drift != (in.ID == "odd") {
			t.Errorf("Agents: %s drift = %v", in.ID, in.Drift)
		}
	}
}

func TestCloseReleasesAtOnce(t *testing.T) {
	dsn, admin := testDB(t)
	// A TTL far longer than the wait below: the takeover cannot be the
	// leases expiring.
	long := func(id string) Options {
		o := opts(id, "slack")
		o.TTL, o.Margin = time.Minute, 20*time.Second
		return o
	}
	a, b := start(t, dsn, long("a")), start(t, dsn, long("b"))
	waitFor(t, "fair partition", func() error { return partition(t, admin, []*agent{a, b}, []string{"slack"}) })
	closed := time.Now()
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h := a.Held(); h.Len() != 0 {
		t.Errorf("a holds %d leases after Close", h.Len())
	}
	for name, r := range leaseTable(t, admin) {
		if r.owner == "a" && r.live {
			t.Errorf("%s still live for a after Close", name)
		}
	}
	waitFor(t, "b takes all", func() error { return partition(t, admin, []*agent{b}, []string{"slack"}) })
	took := time.Since(closed)
	t.Logf("taken over %v after Close (TTL %v)", took, time.Minute)
	if took > 30*time.Second {
		t.Errorf("takeover after Close took %v", took)
	}
	infos, err := Agents(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.ID == "a" && (in.Live || !in.Left || len(in.Shards) > 0) {
			t.Errorf("Agents after Close: %+v", in)
		}
	}
	if err := a.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := a.Run(t.Context()); err == nil {
		t.Error("Run after Close succeeded")
	}
}

// A reload's notifiers: the channel added is claimed, the one removed is
// given up at once, and the new config hash is what the agent reports.
func TestReconfigure(t *testing.T) {
	dsn, admin := testDB(t)
	a := start(t, dsn, opts("a", "slack", "old"))
	waitFor(t, "first partition", func() error { return partition(t, admin, []*agent{a}, []string{"slack", "old"}) })
	a.Reconfigure("h2", []string{"slack", "new"})
	waitFor(t, "channels after the reload", func() error {
		h := a.Held()
		if _, ok := h.Channels["new"]; !ok {
			return fmt.Errorf("new not held: %v", h.Channels)
		}
		if _, ok := h.Channels["old"]; ok {
			return fmt.Errorf("old still held")
		}
		if r := leaseTable(t, admin)[ChannelName("old")]; r.live {
			return fmt.Errorf("old still live in the table: %+v", r)
		}
		return nil
	})
	infos, err := Agents(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].ConfigHash != "h2" {
		t.Errorf("Agents after Reconfigure: %+v", infos)
	}
}

// The local-expiry watcher sleeps between rounds: it woke itself forever
// once (announce kicked it, and it announced on each kick), burning a core.
func TestWatchDoesNotSpin(t *testing.T) {
	dsn, admin := testDB(t)
	a := start(t, dsn, opts("a", "slack"))
	waitFor(t, "holding everything", func() error { return partition(t, admin, []*agent{a}, []string{"slack"}) })
	before, rounds := a.wakes.Load(), a.ticks.Load()
	time.Sleep(time.Second)
	woke, ran := a.wakes.Load()-before, a.ticks.Load()-rounds
	// About two wakes a round (its announce, and the next expiry).
	if woke > 4*ran+20 {
		t.Errorf("watch woke %d times in 1s over %d rounds: it spins", woke, ran)
	}
}
