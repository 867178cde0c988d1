package agent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/cluster"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/schedule"
	"github.com/pulse-monitor/pulse/pkg/store"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of the lease connection
)

// An agent whose store is PostgreSQL is one of possibly several sharing it
// (pkg/cluster): it runs the checks of the shards it holds, writes their
// results and incidents fenced by the shard's lease, sends the outbox rows
// of the notifier channels it holds, and runs the digest, rollups,
// retention and the self-heartbeat only while it holds the maintainer
// lease. A lone agent on PostgreSQL simply holds everything.

// member is the agent's membership and what it currently acts on.
type member struct {
	*cluster.Member
	db     *sql.DB // the lease protocol's own connections
	shards int

	mu    sync.Mutex
	owned map[int]int64 // shard → epoch the agent has adopted the checks of
	jobs  []schedule.Job
	// unadopted is set while shards held could not be adopted (their
	// state unreadable): runMember retries every adoptRetry, since the
	// lease set may not change again for a long time.
	unadopted bool
}

// adoptRetry is how soon follow is retried after an adoption failed, and
// how often the dispatcher reads the outbox while the agent holds channels
// (rows queued by the other agents, should the outbox listener miss one).
const adoptRetry = time.Second

// AgentID is this process's id among the agents sharing a database: its
// host and pid, unless PULSE_AGENT_ID names it.
func AgentID() string {
	if id := os.Getenv("PULSE_AGENT_ID"); id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

func newMember(cfg *config.Config, log *slog.Logger) (*member, error) {
	db, err := sql.Open("pgx", cfg.Agent.StoreTarget())
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	db.SetMaxOpenConns(2)
	m, err := cluster.New(db, cluster.Options{
		ID:         agentIDOf(cfg),
		Location:   cfg.Agent.Site,
		ConfigHash: ConfigHash(cfg),
		Channels:   notifierNames(cfg),
		Renew:      leaseTiming.renew,
		TTL:        leaseTiming.ttl,
		Logger:     log,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &member{Member: m, db: db, shards: cluster.Shards, owned: map[int]int64{}}, nil
}

// leaseTiming overrides the lease protocol's Renew and TTL (tests; zero:
// the cluster defaults). Every agent sharing a database must use the same.
var leaseTiming struct{ renew, ttl time.Duration }

// notifierNames are the notifier channels of cfg, each a lease.
func notifierNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Notifiers))
	for i := range cfg.Notifiers {
		names[i] = cfg.Notifiers[i].Name
	}
	return names
}

// ConfigHash is what agents sharing a database compare: the effective
// definitions of the checks, notifiers, escalation, report, maintenance
// and targets. [agent] is left out: each agent has its own location,
// listener and name.
func ConfigHash(cfg *config.Config) string {
	h := sha256.New()
	for i := range cfg.Checks {
		fmt.Fprintf(h, "check %s\n", checkFingerprint(&cfg.Checks[i]))
	}
	for i := range cfg.Notifiers {
		fmt.Fprintf(h, "notifier %s\n", notifierFingerprint(&cfg.Notifiers[i]))
	}
	// Maps marshal with sorted keys: stable.
	rest, _ := json.Marshal([]any{cfg.Escalation, cfg.Report, cfg.Maintenance, cfg.Targets})
	h.Write(rest)
	// [subscriptions] only when on: a config without it hashes as before,
	// so agents upgraded one by one do not see the others drift.
	if cfg.Subscriptions.Enabled {
		sub, _ := json.Marshal(cfg.Subscriptions)
		fmt.Fprintf(h, "subscriptions %s\n", sub)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// fence returns the lease check's results are written under, and whether
// this agent holds it now. A lone agent (SQLite) holds everything.
func (a *Agent) fence(check string) (*store.Fence, bool) {
	if _, _, ok := config.SplitCopyName(check); ok {
		return a.siteFence(check)
	}
	if a.cl == nil {
		return nil, true
	}
	t, ok := a.cl.Owns(cluster.ShardOf(check, a.cl.shards))
	if !ok {
		return nil, false
	}
	return &store.Fence{Lease: t.Name, Owner: t.Owner, Epoch: t.Epoch}, true
}

// setJobs gives the scheduler the jobs of the checks this agent runs: all
// of them, or those of the shards it holds.
func (a *Agent) setJobs(js []schedule.Job) {
	if a.cl == nil {
		a.sched.Set(js)
		return
	}
	a.cl.mu.Lock()
	a.cl.jobs = js
	a.cl.mu.Unlock()
	a.follow(context.Background()) // runMember retries what it could not adopt
}

// follow adopts the checks of the shards gained since the last call (their
// state as the previous holder saved it, their open incidents) and gives
// the scheduler the jobs of the shards held now. Runs of checks whose shard
// was lost are fenced out by the writer. Shards that could not be adopted
// (the database did not answer) are left out and marked for runMember to
// try again.
func (a *Agent) follow(ctx context.Context) {
	held := a.cl.Held()
	a.cl.mu.Lock()
	defer a.cl.mu.Unlock()
	var gained []int
	for s, t := range held.Shards {
		if e, ok := a.cl.owned[s]; !ok || e != t.Epoch {
			gained = append(gained, s)
		}
	}
	lost := 0
	for s := range a.cl.owned {
		if _, ok := held.Shards[s]; !ok {
			lost++
		}
	}
	a.cl.unadopted = false
	if len(gained) > 0 {
		if err := a.adopt(ctx, gained); err != nil {
			// Not adopted: their checks do not run until runMember
			// retries (the lease stays held meanwhile).
			a.log.Error("cluster: could not read the state of checks taken over", "shards", len(gained), "err", err)
			for _, s := range gained {
				delete(held.Shards, s)
			}
			a.cl.unadopted = true
		}
	}
	clear(a.cl.owned)
	for s, t := range held.Shards {
		a.cl.owned[s] = t.Epoch
	}
	var js []schedule.Job
	for _, j := range a.cl.jobs {
		if a.cl.runs(held, j.Name) {
			js = append(js, j)
		}
	}
	if a.sched != nil {
		a.sched.Set(js)
	}
	if len(gained) > 0 || lost > 0 {
		a.log.Info("cluster: shards changed", "held", len(held.Shards), "gained", len(gained), "lost", lost,
			"checks", len(js), "channels", len(held.Channels), "maintainer", held.Maintainer != nil)
	}
}

// adopt reads the saved state of the checks of shards from the database,
// where the previous holder left it, then makes the incidents in memory
// agree with the open incidents.
func (a *Agent) adopt(ctx context.Context, shards []int) error {
	saved, err := a.store.LoadStates(ctx)
	if err != nil {
		return err
	}
	for name, rt := range a.runtimes() {
		if !slices.Contains(shards, cluster.ShardOf(name, a.cl.shards)) {
			continue
		}
		rt.mu.Lock()
		rt.state = alert.CheckState{}
		if b, ok := saved[name]; ok {
			if err := json.Unmarshal(b, &rt.state); err != nil {
				a.log.Warn("discarding unreadable check state", "check", name, "err", err)
			}
		}
		rt.mu.Unlock()
	}
	return a.inc.reconcile(ctx, true)
}

// sendLease names the lease under which notifier's rows are handed out,
// sent and marked: its channel's, or, for a notifier that is no channel of
// its own (a status-page subscriber's, subscriber/ID, or one no longer
// configured), the maintainer's.
func (a *Agent) sendLease(notifier string) string {
	cfg := a.Config()
	for i := range cfg.Notifiers {
		if cfg.Notifiers[i].Name == notifier {
			return cluster.ChannelName(notifier)
		}
	}
	return cluster.MaintainerName
}

func (a *Agent) runtimes() map[string]*runtime {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.rts
}

// runMember runs the lease protocol and follows its changes until ctx ends;
// then it gives every lease up at once (a graceful stop), so the others
// take over without waiting for the leases to expire. Beside it, the
// outbox listener wakes the dispatcher when another agent commits a row to
// a channel this one holds (see outboxWake).
func (a *Agent) runMember(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.cl.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("cluster: lease protocol stopped", "err", err)
		}
	})
	wg.Go(func() { a.store.ListenOutbox(ctx, a.outboxWake) })
	// Every adoptRetry: shards not adopted yet are tried again, and the
	// dispatcher reads the outbox while channels are held: a
	// safety net under the outbox listener, which may miss a notification
	// while it reconnects.
	retry := time.NewTicker(adoptRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-a.cl.Changes():
			a.follow(ctx)
			a.inc.disp.Wake() // channels gained: their rows are due now
		case <-retry.C:
			a.cl.mu.Lock()
			again := a.cl.unadopted
			a.cl.mu.Unlock()
			if again {
				a.follow(ctx)
			}
			if len(a.cl.Held().Channels) > 0 {
				a.inc.disp.Wake()
			}
		}
	}
}

// outboxWake is the outbox listener's callback: a row committed to
// notifier, by any agent. The dispatcher is woken when this agent holds
// the lease the notifier's rows are sent under (sendLease), so a row written by another agent leaves as soon
// as it commits, not at the next poll; "" (the listener (re)connected,
// rows may have been missed) wakes it always. The agent's own rows also
// wake it in-process after the commit (incidents' OnCommit hook), which
// Wake coalesces with this.
func (a *Agent) outboxWake(notifier string) {
	if notifier != "" {
		if _, ok := a.cl.OwnsLease(a.sendLease(notifier)); !ok {
			return
		}
	}
	a.inc.disp.Wake()
}

// health fails while the agent holds no lease though its config is the
// majority's: it cannot renew (it lost its database), so it acts on
// nothing, and /healthz says so.
func (m *member) health() error {
	if m.Held().Len() == 0 && !m.Drift() {
		return errors.New("holds no lease: cannot reach the database to renew them (another agent acts in its place)")
	}
	return nil
}

// maintainer reports whether this agent runs the digest, rollups,
// retention and self-heartbeat now.
func (a *Agent) maintainer() bool {
	if a.cl == nil {
		return true
	}
	_, ok := a.cl.Maintainer()
	return ok
}

// leasedOutbox is the outbox as the dispatcher of an agent among several
// sees it: the rows of the notifier channels it holds, marked under the
// channel's lease (a mark after the channel moved on is refused: the new
// holder sends the row again, with the same dedup key).
type leasedOutbox struct {
	a *Agent // its store; its member, nil when alone

	mu sync.Mutex
	// chans is the notifier of the rows handed out, kept until marked: a
	// send in flight must still find its channel when a later read no
	// longer returns its row (superseded meanwhile, or its channel
	// released). Entries not handed out again are dropped after
	// forgetHandout.
	chans map[int64]handout
}

type handout struct {
	notifier string
	at       time.Time // last handed out
}

// forgetHandout outlasts any send (notify.SendTimeout) and its marks.
const forgetHandout = notify.SendTimeout + time.Minute

func (o *leasedOutbox) PendingOutbox(ctx context.Context) ([]notify.OutboxRow, error) {
	rows, err := o.a.store.PendingOutbox(ctx)
	if err != nil || o.a.cl == nil {
		return rows, err
	}
	snap := o.a.cl.Held()
	out := rows[:0]
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, h := range o.chans {
		if now.Sub(h.at) > forgetHandout {
			delete(o.chans, id)
		}
	}
	for _, r := range rows {
		// Under the lease its marks are fenced by (sendLease): rows of a
		// subscriber, or of a notifier no longer configured (which the
		// dispatcher gives up), are the maintainer's.
		held := snap.Maintainer != nil
		if o.a.sendLease(r.Notifier) != cluster.MaintainerName {
			_, held = snap.Channels[r.Notifier]
		}
		if held {
			out = append(out, r)
			o.chans[r.ID] = handout{r.Notifier, now}
		}
	}
	return out, nil
}

// Holds reports whether the agent may still send on notifier's channel:
// the dispatcher asks before each message of a round, so that an agent that
// lost or released the channel meanwhile stops (one send in flight at
// most goes on, and its mark is fenced).
func (o *leasedOutbox) Holds(notifier string) bool {
	if o.a.cl == nil {
		return true
	}
	_, ok := o.a.cl.OwnsLease(o.a.sendLease(notifier))
	return ok
}

// SendContext bounds a send on notifier's channel by this agent's lease on
// it (cluster.Member.ChannelContext): cut off from the database, the agent
// stops sending when the lease runs out locally, before another agent may
// take the channel over. Alone, it is ctx.
func (o *leasedOutbox) SendContext(ctx context.Context, notifier string) (context.Context, context.CancelFunc) {
	if o.a.cl == nil {
		return ctx, func() {}
	}
	return o.a.cl.LeaseContext(ctx, o.a.sendLease(notifier))
}

// under returns ctx fenced by the lease of the channel of ids (one
// notifier's rows: the dispatcher marks them per notifier).
func (o *leasedOutbox) under(ctx context.Context, ids []int64) (context.Context, error) {
	if o.a.cl == nil {
		return ctx, nil
	}
	o.mu.Lock()
	name := ""
	if len(ids) > 0 {
		name = o.chans[ids[0]].notifier
	}
	o.mu.Unlock()
	t, ok := o.a.cl.OwnsLease(o.a.sendLease(name))
	if !ok {
		return nil, fmt.Errorf("notifier %s: %w", name, store.ErrFenced)
	}
	return store.WithFence(ctx, store.Fence{Lease: t.Name, Owner: t.Owner, Epoch: t.Epoch}), nil
}

// forget drops the rows marked for good.
func (o *leasedOutbox) forget(ids []int64) {
	if o.a.cl == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		delete(o.chans, id)
	}
}

func (o *leasedOutbox) MarkSent(ctx context.Context, ids []int64, at time.Time) error {
	ctx, err := o.under(ctx, ids)
	if err != nil {
		return err
	}
	if err := o.a.store.MarkSent(ctx, ids, at); err != nil {
		return err
	}
	o.forget(ids)
	return nil
}

func (o *leasedOutbox) MarkRetry(ctx context.Context, ids []int64, next time.Time, reason string) error {
	ctx, err := o.under(ctx, ids)
	if err != nil {
		return err
	}
	return o.a.store.MarkRetry(ctx, ids, next, reason)
}

func (o *leasedOutbox) MarkFailed(ctx context.Context, ids []int64, reason, answer string, at time.Time) error {
	ctx, err := o.under(ctx, ids)
	if err != nil {
		return err
	}
	if err := o.a.store.MarkFailed(ctx, ids, reason, answer, at); err != nil {
		return err
	}
	o.forget(ids)
	return nil
}
