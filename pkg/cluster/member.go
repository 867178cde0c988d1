package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Member. Every agent sharing a database must use the
// same Shards, Channels, Renew and TTL (they belong in the config hash).
type Options struct {
	ID         string // unique per agent process, stable across restarts if possible
	Location   string // where the agent runs (shown by pulse cluster)
	ConfigHash string // agents whose hash differs from the majority take no work
	Host       string // default os.Hostname()
	PID        int    // default os.Getpid()

	Shards   int      // number of check shards; default Shards (64)
	Channels []string // notifier channels, each one lease

	Renew time.Duration // renewal period; default DefaultRenew
	TTL   time.Duration // lease lifetime on the database clock; default DefaultTTL
	// Margin is how much sooner than the database a Member gives up a lease
	// it could not renew: a lease renewed by a statement sent at t is acted
	// on until t + TTL - Margin. Default TTL/3; it must leave room for a
	// renewal: Renew < TTL - Margin.
	Margin time.Duration

	Logger *slog.Logger // default: discard
}

// Snapshot is what a Member may act on at the moment it was taken.
type Snapshot struct {
	Shards     map[int]Token
	Sites      map[int]Token // the site shards of the member's location
	Channels   map[string]Token
	Maintainer *Token // nil when not held
	// Until is the earliest local deadline (monotonic clock) of the leases
	// here: work done under this snapshot that is not fenced by the database
	// must be finished or cancelled by then (context.WithDeadline). Zero when
	// nothing is held.
	Until time.Time
}

// Len is the number of leases in s.
func (s Snapshot) Len() int {
	n := len(s.Shards) + len(s.Sites) + len(s.Channels)
	if s.Maintainer != nil {
		n++
	}
	return n
}

// held is one lease this member believes it holds.
type held struct {
	epoch int64
	until time.Time // local monotonic deadline: sent + TTL - Margin
}

// Member is one agent's membership: it runs the lease protocol (see the
// package comment) and tells the agent what it may act on.
type Member struct {
	db       *sql.DB
	o        Options
	log      *slog.Logger
	shards   []string // lease names of the shards, by index
	sites    []string // lease names of the site shards of its location, by index
	channels []string // lease names of the channels, sorted
	all      []string // every lease name, for seeding the rows

	changes chan struct{}
	kick    chan struct{}
	// moved is closed, and replaced, whenever the leases held or their
	// deadlines may have changed (announce): ChannelContext waits on it.
	moved chan struct{}

	mu      sync.Mutex
	pending *reconf // a reloaded config for the next round
	held    map[string]*held
	drift   bool
	stopped bool   // Run returned: nothing is held locally any more
	lastKey string // the visible set last announced on changes

	// Touched only by the goroutine running tick (Run, then Close).
	seeded  bool
	started bool
	fast    bool         // a peer is late: round every Renew/5
	ticks   atomic.Int64 // rounds completed without error (tests)
	wakes   atomic.Int64 // times watch woke (tests: it must not spin)

	runMu   sync.Mutex
	running bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// New validates o, fills its defaults and returns a Member that does nothing
// until Run.
func New(db *sql.DB, o Options) (*Member, error) {
	if o.ID == "" {
		return nil, errors.New("cluster: Options.ID is empty")
	}
	if o.Shards == 0 {
		o.Shards = Shards
	}
	if o.Renew == 0 {
		o.Renew = DefaultRenew
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Margin == 0 {
		o.Margin = o.TTL / 3
	}
	if o.Shards < 0 || o.Renew < 0 || o.TTL < 0 || o.Margin < 0 {
		return nil, errors.New("cluster: negative Shards, Renew, TTL or Margin")
	}
	if o.Renew >= o.TTL-o.Margin {
		return nil, fmt.Errorf("cluster: Renew %v must be shorter than TTL %v - Margin %v", o.Renew, o.TTL, o.Margin)
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Member{
		db:      db,
		o:       o,
		log:     o.Logger.With("agent", o.ID),
		changes: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
		moved:   make(chan struct{}),
		held:    map[string]*held{},
		stop:    make(chan struct{}),
	}
	for i := range o.Shards {
		m.shards = append(m.shards, ShardName(i))
	}
	m.sites = siteNames(o.Location)
	m.setChannels(o.Channels)
	return m, nil
}

func (m *Member) setChannels(notifiers []string) {
	m.channels = m.channels[:0]
	for _, c := range notifiers {
		m.channels = append(m.channels, ChannelName(c))
	}
	sort.Strings(m.channels)
	m.channels = slices.Compact(m.channels)
	m.all = append(append(append(append([]string{}, m.shards...), m.sites...), m.channels...), MaintainerName)
}

type reconf struct {
	hash     string
	channels []string
}

// Reconfigure takes a reloaded config: its hash and its notifier channels.
// The next round reports the new hash, seeds and balances the channels
// added, and gives up those no longer configured.
func (m *Member) Reconfigure(configHash string, channels []string) {
	m.mu.Lock()
	m.pending = &reconf{hash: configHash, channels: slices.Clone(channels)}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// reconfigure applies a pending Reconfigure, in the round's goroutine.
func (m *Member) reconfigure(ctx context.Context) error {
	m.mu.Lock()
	p := m.pending
	m.pending = nil
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	m.o.ConfigHash = p.hash
	old := m.channels
	m.channels = nil
	m.setChannels(p.channels)
	m.seeded = false
	var names []string
	var epochs []int64
	m.mu.Lock()
	for _, name := range old {
		if h, ok := m.held[name]; ok && !slices.Contains(m.channels, name) {
			names = append(names, name)
			epochs = append(epochs, h.epoch)
			delete(m.held, name)
		}
	}
	m.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	m.announce()
	if err := m.exec(ctx, releaseSQL, m.o.ID, names, epochs); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// ID is the agent's id, the owner of its leases.
func (m *Member) ID() string { return m.o.ID }

// Changes receives a value whenever what Held returns may have changed: a
// lease gained, lost, released or expired locally. Values coalesce (the
// channel holds one), so read Held after each; one reader.
func (m *Member) Changes() <-chan struct{} { return m.changes }

// Drift reports whether the agent's config hash differs from the majority of
// the live agents, in which case it holds nothing.
func (m *Member) Drift() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drift
}

// Held is what the member may act on now: the leases it holds whose local
// deadline has not passed.
func (m *Member) Held() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapshotLocked(time.Now())
}

func (m *Member) snapshotLocked(now time.Time) Snapshot {
	s := Snapshot{Shards: map[int]Token{}, Sites: map[int]Token{}, Channels: map[string]Token{}}
	if m.stopped {
		return s
	}
	for name, h := range m.held {
		if !now.Before(h.until) {
			continue
		}
		t := Token{Name: name, Owner: m.o.ID, Epoch: h.epoch}
		switch kind, shard, channel := parseName(name); kind {
		case kindShard:
			s.Shards[shard] = t
		case kindSite:
			s.Sites[shard] = t
		case kindChannel:
			s.Channels[channel] = t
		case kindMaintainer:
			s.Maintainer = &t
		default:
			continue
		}
		if s.Until.IsZero() || h.until.Before(s.Until) {
			s.Until = h.until
		}
	}
	return s
}

// Owns returns the token of shard when the member may act on it now.
func (m *Member) Owns(shard int) (Token, bool) { return m.owns(ShardName(shard)) }

// OwnsChannel returns the token of a notifier channel when the member may
// send on it now.
func (m *Member) OwnsChannel(notifier string) (Token, bool) { return m.owns(ChannelName(notifier)) }

// Maintainer returns the token of the maintainer lease when the member may
// run the digest, rollups and retention now.
func (m *Member) Maintainer() (Token, bool) { return m.owns(MaintainerName) }

// OwnsLease returns the token of the lease name (ChannelName,
// MaintainerName, ...) when the member may act on it now.
func (m *Member) OwnsLease(name string) (Token, bool) { return m.owns(name) }

func (m *Member) owns(name string) (Token, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.held[name]
	if !ok || m.stopped || !time.Now().Before(h.until) {
		return Token{}, false
	}
	return Token{Name: name, Owner: m.o.ID, Epoch: h.epoch}, true
}

// ErrLeaseExpired is the cause (context.Cause) of a ChannelContext that
// ended because the member may no longer act on the channel: its lease's
// local deadline passed without a renewal, or it was lost or released.
var ErrLeaseExpired = errors.New("cluster: the lease expired locally")

// ChannelContext returns a context for work on notifier's channel that is
// not fenced by the database, such as a send: it ends, with the cause
// ErrLeaseExpired, as soon as the member may no longer act on the channel
// (the lease's local deadline passes, following renewals, or the lease is
// lost, released or given up when the member stops), so that an agent cut
// off from the database stops sending before another can take the channel
// over (Margin earlier at least). It is ended at once when the channel is
// not held now. Call cancel when the work is done.
func (m *Member) ChannelContext(ctx context.Context, notifier string) (context.Context, context.CancelFunc) {
	return m.LeaseContext(ctx, ChannelName(notifier))
}

// LeaseContext is ChannelContext for any lease by its name, such as the
// maintainer's, under which a status-page subscriber's messages are sent.
func (m *Member) LeaseContext(ctx context.Context, name string) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(ctx)
	// live returns the lease's deadline when it is still the one held at
	// the start (same epoch), and what signals the next change.
	live := func(epoch int64, first bool) (time.Time, int64, <-chan struct{}, bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		h, ok := m.held[name]
		if !ok || m.stopped || !first && h.epoch != epoch || !time.Now().Before(h.until) {
			return time.Time{}, 0, nil, false
		}
		return h.until, h.epoch, m.moved, true
	}
	until, epoch, moved, ok := live(0, true)
	if !ok {
		cancel(ErrLeaseExpired)
		return cctx, func() { cancel(context.Canceled) }
	}
	go func() {
		for {
			t := time.NewTimer(time.Until(until))
			select {
			case <-cctx.Done():
				t.Stop()
				return
			case <-moved:
			case <-t.C:
			}
			t.Stop()
			if until, _, moved, ok = live(epoch, false); !ok {
				cancel(ErrLeaseExpired)
				return
			}
		}
	}()
	return cctx, func() { cancel(context.Canceled) }
}

// Run runs the protocol every Renew until ctx is done or Close is called.
// When ctx ends, Run returns without releasing anything, as a killed process
// would: the leases expire on the database after TTL. Close releases them at
// once. Locally nothing is held once Run has returned.
func (m *Member) Run(ctx context.Context) error {
	m.runMu.Lock()
	if m.running || m.closed {
		m.runMu.Unlock()
		return errors.New("cluster: Run called twice or after Close")
	}
	m.running = true
	m.done = make(chan struct{})
	m.runMu.Unlock()
	defer close(m.done)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	})
	wg.Go(func() { m.watch(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		m.mu.Lock()
		m.stopped = true
		m.mu.Unlock()
		m.announce()
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if isClosed(m.stop) {
				return nil
			}
			return ctx.Err()
		case <-timer.C:
		}
		start := time.Now()
		err := m.tick(ctx)
		if err == nil {
			m.ticks.Add(1)
		}
		if d := time.Since(start); d > m.o.Renew {
			m.log.Warn("cluster: slow round", "took", d)
		}
		m.announce()
		next := m.o.Renew
		if m.fast {
			next = m.o.Renew / 5
		}
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			m.log.Warn("cluster: renewal failed", "err", err)
			next = m.o.Renew / 4 // retry sooner: the local deadline is running
		}
		timer.Reset(max(0, next-time.Since(start)))
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Close stops Run, gives up every lease at once (expires_at = now()) and
// marks the agent as left, so that the others take over without waiting for
// the TTL. Locally nothing is held from the moment Close is called.
func (m *Member) Close(ctx context.Context) error {
	m.runMu.Lock()
	if m.closed {
		m.runMu.Unlock()
		return nil
	}
	m.closed = true
	close(m.stop)
	done := m.done
	m.runMu.Unlock()
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.announce()
	if done != nil {
		<-done
	}
	m.mu.Lock()
	clear(m.held)
	m.mu.Unlock()
	// Leave first, so that the others count this agent out in the same
	// round in which they find its leases free.
	var errs []error
	if _, err := m.db.ExecContext(ctx, `UPDATE agents SET left_at = now() WHERE id = $1`, m.o.ID); err != nil {
		errs = append(errs, fmt.Errorf("cluster: leave: %w", err))
	}
	if _, err := m.db.ExecContext(ctx, releaseAllSQL, m.o.ID); err != nil {
		errs = append(errs, fmt.Errorf("cluster: release: %w", err))
	}
	return errors.Join(errs...)
}

// watch announces the local expiry of leases, which happens with no
// statement returning (the database may be unreachable).
func (m *Member) watch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		m.wakes.Add(1)
		var c <-chan time.Time
		if next := m.nextExpiry(); !next.IsZero() {
			timer.Reset(time.Until(next))
			c = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
			// The deadlines moved (a round, a reconfiguration): compute the
			// next one. Not announce: it kicks, and this would spin.
			continue
		case <-c:
		}
		m.announce()
	}
}

func (m *Member) nextExpiry() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var next time.Time
	for _, h := range m.held {
		if now.Before(h.until) && (next.IsZero() || h.until.Before(next)) {
			next = h.until
		}
	}
	return next
}

// announce signals Changes when the visible set differs from the one last
// signalled, and wakes watch to recompute its deadline.
func (m *Member) announce() {
	m.mu.Lock()
	s := m.snapshotLocked(time.Now())
	var b strings.Builder
	for _, n := range sortedNames(s) {
		b.WriteString(n)
		b.WriteByte(';')
	}
	key := b.String()
	changed := key != m.lastKey
	m.lastKey = key
	close(m.moved)
	m.moved = make(chan struct{})
	m.mu.Unlock()
	if changed {
		select {
		case m.changes <- struct{}{}:
		default:
		}
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func sortedNames(s Snapshot) []string {
	var out []string
	for _, t := range s.Shards {
		out = append(out, t.Name+"@"+strconv.FormatInt(t.Epoch, 10))
	}
	for _, t := range s.Sites {
		out = append(out, t.Name+"@"+strconv.FormatInt(t.Epoch, 10))
	}
	for _, t := range s.Channels {
		out = append(out, t.Name+"@"+strconv.FormatInt(t.Epoch, 10))
	}
	if s.Maintainer != nil {
		out = append(out, s.Maintainer.Name+"@"+strconv.FormatInt(s.Maintainer.Epoch, 10))
	}
	sort.Strings(out)
	return out
}

func micros(d time.Duration) int64 { return d.Microseconds() }

const (
	seedSQL = `INSERT INTO leases (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`

	// renewSQL extends only leases still live with this owner and epoch; an
	// expired lease is never revived, it is claimed again with a new epoch.
	renewSQL = `UPDATE leases l SET expires_at = now() + $2::bigint * interval '1 microsecond'
FROM unnest($3::text[], $4::bigint[]) AS h(name, epoch)
WHERE l.name = h.name AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > now()
RETURNING l.name, l.epoch`

	// heartbeatSQL upserts the agent's row (last_seen = now()) and returns
	// the live agents, itself included, in one round trip.
	heartbeatSQL = `WITH me AS (
	INSERT INTO agents (id, location, config_hash, host, pid, ttl, started_at, last_seen, left_at)
	VALUES ($1, $2, $3, $4, $5, $6::bigint * interval '1 microsecond', now(), now(), NULL)
	ON CONFLICT (id) DO UPDATE SET location = EXCLUDED.location, config_hash = EXCLUDED.config_hash,
		host = EXCLUDED.host, pid = EXCLUDED.pid, ttl = EXCLUDED.ttl,
		started_at = CASE WHEN $7 THEN now() ELSE agents.started_at END,
		last_seen = now(), left_at = NULL
	RETURNING id, config_hash, started_at, location
)
SELECT id, config_hash, started_at, location, false FROM me
UNION ALL
SELECT id, config_hash, started_at, location, last_seen < now() - $8::bigint * interval '1 microsecond' FROM agents
WHERE id <> $1 AND left_at IS NULL AND last_seen > now() - ttl`

	// claimSQL takes free, expired or forgotten (owned by us but not known
	// locally, e.g. a lost reply) leases. SKIP LOCKED: rows another agent is
	// claiming, or that a fenced write holds, are left for a later round.
	// Ordering by a hash of name and owner spreads agents that start
	// together over different rows.
	claimSQL = `WITH free AS (
	SELECT name FROM leases
	WHERE name = ANY($2::text[])
	  AND (owner IS NULL OR owner = $1 OR expires_at IS NULL OR expires_at <= now())
	ORDER BY md5(name || $1)
	LIMIT $3
	FOR UPDATE SKIP LOCKED
)
UPDATE leases l SET owner = $1, epoch = l.epoch + 1,
	expires_at = now() + $4::bigint * interval '1 microsecond', acquired_at = now()
FROM free WHERE l.name = free.name
RETURNING l.name, l.epoch`

	releaseSQL = `UPDATE leases l SET expires_at = now()
FROM unnest($2::text[], $3::bigint[]) AS h(name, epoch)
WHERE l.name = h.name AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > now()`

	releaseAllSQL = `UPDATE leases SET expires_at = now() WHERE owner = $1 AND expires_at > now()`
)

// stmt bounds one statement by TTL - Margin: a renewal's reply later than
// that is of no use, and a hung connection must not stop the rounds.
func (m *Member) stmt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.o.TTL-m.o.Margin)
}

func (m *Member) exec(ctx context.Context, query string, args ...any) error {
	ctx, cancel := m.stmt(ctx)
	defer cancel()
	_, err := m.db.ExecContext(ctx, query, args...)
	return err
}

// tick is one round: renew, heartbeat, membership, release the surplus,
// claim up to the fair share.
func (m *Member) tick(ctx context.Context) error {
	if err := m.reconfigure(ctx); err != nil {
		return err
	}
	if err := m.renew(ctx); err != nil {
		return err
	}
	if !m.seeded {
		if err := m.exec(ctx, seedSQL, m.all); err != nil {
			return fmt.Errorf("seed leases: %w", err)
		}
		m.seeded = true
	}
	live, err := m.heartbeat(ctx)
	if err != nil {
		return err
	}
	// A peer that missed its renewal may be dead: round faster until its
	// leases expire, so they are taken within a fifth of Renew of their
	// expiry rather than up to a whole Renew later.
	m.fast = slices.ContainsFunc(live, func(a agentRow) bool { return a.late })
	m.started = true
	major := majority(live)
	drift := major != m.o.ConfigHash
	m.mu.Lock()
	if drift != m.drift {
		m.log.Warn("cluster: config drift", "drift", drift, "mine", m.o.ConfigHash, "majority", major)
	}
	m.drift = drift
	m.mu.Unlock()
	if drift {
		m.mu.Lock()
		n := len(m.held)
		clear(m.held)
		m.mu.Unlock()
		if n > 0 {
			m.announce() // stop acting before giving the leases away
		}
		if err := m.exec(ctx, releaseAllSQL, m.o.ID); err != nil {
			return fmt.Errorf("release: %w", err)
		}
		return nil
	}

	var peers []string
	for _, a := range live {
		if a.hash == major {
			peers = append(peers, a.id)
		}
	}
	if !slices.Contains(peers, m.o.ID) {
		peers = append(peers, m.o.ID)
	}
	sort.Strings(peers)
	n, rank := len(peers), slices.Index(peers, m.o.ID)
	site := m.sitePeers(live, major)
	sort.Strings(site)
	// The remainder of the shards goes to the first agents by id, that of
	// the channels to the last, so that the extra ones fall on different
	// agents where they can.
	groups := []struct {
		names  []string
		target int
	}{
		{m.shards, share(len(m.shards), n, rank)},
		{m.sites, share(len(m.sites), len(site), slices.Index(site, m.o.ID))},
		{m.channels, share(len(m.channels), n, n-1-rank)},
		{[]string{MaintainerName}, 1}, // sticky: whoever has it keeps it
	}
	for _, g := range groups {
		if err := m.balance(ctx, g.names, g.target); err != nil {
			return err
		}
	}
	return nil
}

// share is the fair share of total leases of the agent at rank among n:
// total/n, one more for the first total%n ranks.
func share(total, n, rank int) int {
	if n <= 0 {
		return total
	}
	s := total / n
	if rank < total%n {
		s++
	}
	return s
}

func (m *Member) renew(ctx context.Context) error {
	m.mu.Lock()
	var names []string
	var epochs []int64
	for name, h := range m.held {
		names = append(names, name)
		epochs = append(epochs, h.epoch)
	}
	m.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := m.stmt(ctx)
	defer cancel()
	sent := time.Now() // before the statement: the database's now() is later
	rows, err := m.db.QueryContext(ctx, renewSQL, m.o.ID, micros(m.o.TTL), names, epochs)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	got := map[string]int64{}
	for rows.Next() {
		var name string
		var epoch int64
		if err := rows.Scan(&name, &epoch); err != nil {
			rows.Close()
			return fmt.Errorf("renew: %w", err)
		}
		got[name] = epoch
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	until := sent.Add(m.o.TTL - m.o.Margin)
	var lost []string
	m.mu.Lock()
	for i, name := range names {
		h := m.held[name]
		if h == nil || h.epoch != epochs[i] {
			continue
		}
		if e, ok := got[name]; ok && e == h.epoch {
			h.until = until
		} else {
			delete(m.held, name)
			lost = append(lost, name)
		}
	}
	m.mu.Unlock()
	if len(lost) > 0 {
		m.log.Warn("cluster: leases lost", "leases", lost)
	}
	return nil
}

// heartbeat records the agent as seen and returns the live agents.
func (m *Member) heartbeat(ctx context.Context) ([]agentRow, error) {
	ctx, cancel := m.stmt(ctx)
	defer cancel()
	rows, err := m.db.QueryContext(ctx, heartbeatSQL, m.o.ID, m.o.Location, m.o.ConfigHash, m.o.Host, m.o.PID, micros(m.o.TTL), !m.started,
		micros(m.o.Renew+m.o.Renew/2))
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	defer rows.Close()
	var out []agentRow
	for rows.Next() {
		var a agentRow
		if err := rows.Scan(&a.id, &a.hash, &a.started, &a.loc, &a.late); err != nil {
			return nil, fmt.Errorf("heartbeat: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return out, nil
}

// balance brings what the member holds of one group to target: it releases
// the surplus (last names first), or claims what is free up to target.
func (m *Member) balance(ctx context.Context, group []string, target int) error {
	m.mu.Lock()
	var mine []string
	var free []string
	for _, name := range group {
		if _, ok := m.held[name]; ok {
			mine = append(mine, name)
		} else {
			free = append(free, name)
		}
	}
	switch {
	case len(mine) > target:
		surplus := mine[target:]
		epochs := make([]int64, len(surplus))
		for i, name := range surplus {
			epochs[i] = m.held[name].epoch
			delete(m.held, name)
		}
		m.mu.Unlock()
		m.announce() // stop acting before anybody else can start
		if err := m.exec(ctx, releaseSQL, m.o.ID, surplus, epochs); err != nil {
			return fmt.Errorf("release: %w", err)
		}
		m.log.Info("cluster: released", "leases", surplus)
		return nil
	case len(mine) < target:
		m.mu.Unlock()
	default:
		m.mu.Unlock()
		return nil
	}
	ctx, cancel := m.stmt(ctx)
	defer cancel()
	sent := time.Now()
	rows, err := m.db.QueryContext(ctx, claimSQL, m.o.ID, free, target-len(mine), micros(m.o.TTL))
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	type claim struct {
		name  string
		epoch int64
	}
	var got []claim
	for rows.Next() {
		var c claim
		if err := rows.Scan(&c.name, &c.epoch); err != nil {
			rows.Close()
			return fmt.Errorf("claim: %w", err)
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		// The claim may have committed; whatever it took is ours in the
		// table but not here, and the next claim takes it again (owner = $1).
		return fmt.Errorf("claim: %w", err)
	}
	if len(got) == 0 {
		return nil
	}
	until := sent.Add(m.o.TTL - m.o.Margin)
	names := make([]string, len(got))
	m.mu.Lock()
	for i, c := range got {
		m.held[c.name] = &held{epoch: c.epoch, until: until}
		names[i] = c.name
	}
	m.mu.Unlock()
	m.log.Info("cluster: claimed", "leases", names)
	return nil
}
