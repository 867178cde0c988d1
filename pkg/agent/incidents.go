package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/registry"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// pollInterval bounds how long the agent takes to notice what another
// process wrote (`pulse ack`, `pulse resolve`, `pulse silence`) and a mute
// that ended; reminders and escalation steps are timed to the millisecond.
const pollInterval = time.Second

// incidents records incident events and delivers their notifications: it
// turns alert events into incident rows, timeline lines and outbox rows in
// the result's transaction, runs the timer for reminders, escalation and
// mutes that end, notices acks and manual resolves made by the CLI, and
// owns the outbox dispatcher.
type incidents struct {
	d      incidentDeps
	name   string // the agent's name: prefixes dedup keys
	source string // the host name
	disp   *notify.Dispatcher
	// dirty is set by a transaction that queued outbox rows; the commit
	// hook then wakes the dispatcher (and only then: most commits are
	// plain results).
	dirty atomic.Bool
	// owner: this process handles the acks and manual resolves the CLI
	// queues (the agent, not `pulse check --record`).
	owner bool
	// stale is set when incident writes were not committed; openSum is
	// the open incidents as reconcile last saw them. Either changing makes
	// the timer compare the state in memory with the database.
	// reconciling serializes reconcileWith (and guards openSum): the
	// timer and a takeover of shards (follow → adopt) both reconcile.
	stale       atomic.Bool
	reconciling sync.Mutex
	openSum     uint64
	// ack is the base URL and key of ack links, nil when off; replaced on
	// reload. Atomic because items are built inside write transactions,
	// which must not wait for mu.
	ack atomic.Pointer[ackLinks]

	mu        sync.RWMutex // guards the fields below, replaced on reload
	plan      alert.Plan
	base      *alert.Suppressor // windows and dependencies, no silences
	sup       *alert.Suppressor // base with the silences in force
	silences  []alert.Silence
	notifiers map[string]notify.Notifier
	resolve   func(string) (notify.Notifier, bool) // subscriber channels; nil when off
	fps       map[string]string                    // notifier name → config fingerprint
}

// incidentDeps is what incidents needs of the agent.
type incidentDeps struct {
	store   *store.Store
	log     *slog.Logger
	now     func() time.Time
	observe func(notifier, result string) // a notification's outcome, for the metrics
	// lookup returns the runtime of the check of that name, nil if none;
	// runtimes all of them, as the latest reload left them.
	lookup   func(name string) *runtime
	runtimes func() map[string]*runtime
	// writes counts the records with incident events evaluated so far,
	// applying those submitted and not yet committed (or given up).
	writes   *atomic.Uint64
	applying *atomic.Int64
	// fence says whether this agent acts on check's incidents now and
	// under which lease (several agents on PostgreSQL; always, alone).
	fence  func(check string) (*store.Fence, bool)
	outbox notify.Outbox // what the dispatcher sends from
}

// incidentDeps returns what the agent gives its incidents.
func (a *Agent) incidentDeps() incidentDeps {
	return incidentDeps{
		store: a.store, log: a.log, now: a.now, observe: a.metrics.ObserveNotification,
		lookup: a.lookup,
		runtimes: func() map[string]*runtime {
			a.mu.RLock()
			defer a.mu.RUnlock()
			return a.rts
		},
		writes: &a.incidentWrites, applying: &a.applying,
		fence:  a.fence,
		outbox: &leasedOutbox{a: a, chans: map[int64]handout{}},
	}
}

func newIncidents(d incidentDeps, cfg *config.Config, owner bool) (*incidents, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	m := &incidents{d: d, source: host, name: cfg.Agent.Name, owner: owner}
	if m.name == "" {
		m.name = host
	}
	if err := m.reload(cfg); err != nil {
		return nil, err
	}
	m.disp = notify.NewDispatcher(notify.DispatcherOptions{
		Outbox: d.outbox, Notifiers: m.notifiers, Now: d.now, Logger: d.log,
		Agent: m.name, Source: m.source, Observe: d.observe, Resolve: m.resolve,
	})
	sls, err := d.store.Silences(context.Background(), d.now())
	if err != nil {
		return nil, err
	}
	m.silences = alertSilences(sls)
	m.sup = m.base.WithSilences(m.silences)
	d.store.SetOnCommit(func(int) {
		if m.dirty.Swap(false) {
			m.disp.Wake()
		}
	})
	return m, nil
}

// reload rebuilds the notifiers whose definition changed, the escalation
// plan and the suppressor. On error nothing changes.
func (m *incidents) reload(cfg *config.Config) error {
	base, err := alert.NewSuppressor(cfg, nil)
	if err != nil {
		return fmt.Errorf("maintenance windows: %w", err)
	}
	m.mu.RLock()
	old, oldFps := m.notifiers, m.fps
	m.mu.RUnlock()
	ns := make(map[string]notify.Notifier, len(cfg.Notifiers))
	fps := make(map[string]string, len(cfg.Notifiers))
	var errs []error
	for i := range cfg.Notifiers {
		c := &cfg.Notifiers[i]
		fp := notifierFingerprint(c)
		fps[c.Name] = fp
		if n, ok := old[c.Name]; ok && oldFps[c.Name] == fp {
			ns[c.Name] = n
			continue
		}
		n, err := registry.New(c, registry.Options{Logger: m.d.log, Now: m.d.now, Agent: m.name, Host: m.source})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: notifier %q: %w", cfg.Path, c.Line, c.Name, err))
			continue
		}
		ns[c.Name] = n
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if cfg.Agent.AckLinks() {
		m.ack.Store(&ackLinks{base: strings.TrimRight(cfg.Agent.PublicURL, "/") + "/ack/", key: []byte(cfg.Agent.AckKey.Reveal())})
	} else {
		m.ack.Store(nil)
	}
	resolve := m.subscriberResolver(cfg, ns)
	m.mu.Lock()
	m.plan, m.base, m.notifiers, m.fps, m.resolve = alert.NewPlan(cfg), base, ns, fps, resolve
	m.sup = base.WithSilences(m.silences)
	m.mu.Unlock()
	if m.disp != nil {
		m.disp.SetResolver(resolve)
		m.disp.SetNotifiers(ns)
	}
	return nil
}

// run starts the dispatcher and the timer loop, until ctx ends.
func (m *incidents) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.disp.Run(ctx) }()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
		next, err := m.tick(ctx)
		if err != nil && ctx.Err() == nil {
			m.d.log.Error("incident timer", "err", err)
		}
		wait := pollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(m.d.now()), 50*time.Millisecond))
		}
		t.Reset(wait)
	}
}

// deliverDue handles what the timer would now, then sends every
// notification due now and waits for the answers (`pulse run --once`).
func (m *incidents) deliverDue(ctx context.Context) error {
	if _, err := m.tick(ctx); err != nil {
		return err
	}
	_, err := m.disp.DeliverDue(ctx)
	return err
}

// current returns the plan and the suppressor in force.
func (m *incidents) current() (alert.Plan, *alert.Suppressor) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.plan, m.sup
}

// apply returns the writes that record events in the result's transaction.
func (m *incidents) apply(rt *runtime, res checks.Result, events []alert.Event, now time.Time) func(tx store.Tx) error {
	c := rt.check()
	return func(tx store.Tx) error {
		if cur := m.d.lookup(c.Name); cur != nil {
			rt = cur // a reload replaced the runtime while the record waited
		}
		plan, sup := m.current()
		for _, ev := range events {
			if err := m.applyEvent(tx, rt, c, res, ev, plan, sup, now); err != nil {
				return err
			}
		}
		rt.mu.Lock()
		blob := marshalState(rt.state)
		rt.mu.Unlock()
		return tx.SaveState(c.Name, blob)
	}
}

// applyEvent reads the event's incident, asks alert.Apply what the event
// means for it, and executes the outcome.
func (m *incidents) applyEvent(tx store.Tx, rt *runtime, c *config.Check, res checks.Result, ev alert.Event,
	plan alert.Plan, sup *alert.Suppressor, now time.Time) error {
	// A new incident, or the snapshot a notification about no incident carries.
	inc := store.Incident{Check: c.Name, Type: c.Type, Severity: ev.Severity, State: ev.State.String(),
		Status: store.StatusOpen, Message: ev.Message, OpenedAt: ev.At}
	info := alert.IncidentInfo{Check: c.Name}
	if ev.Kind != alert.Opened {
		// Every other event concerns the check's current incident, if any.
		cur, found, err := currentIncident(tx, c.Name, ev.IncidentID)
		if err != nil {
			return err
		}
		if found {
			inc, info = cur, infoOf(&cur)
		}
	}
	rt.mu.Lock()
	flapping := rt.state.Flapping
	rt.mu.Unlock()
	info.Muted, info.Flapping = m.reason(sup, c, now), flapping
	out := alert.Apply(info, ev, plan, now)
	restate(&inc, &out, valueOf(res))
	if out.Write == alert.WriteInsert {
		id, err := tx.InsertIncident(&inc)
		if err != nil {
			return err
		}
		inc.ID, out.Incident.ID = id, id
		rt.mu.Lock()
		if rt.state.IncidentOpen && rt.state.IncidentID == 0 {
			rt.state.SetIncident(id)
		}
		rt.mu.Unlock()
	}
	return m.execute(tx, &out, &inc, c)
}

// currentIncident reads incident id, or when id is 0 the check's newest
// unresolved one. A resolved incident (resolved by hand meanwhile) counts
// as none: there is nothing more to say about it.
func currentIncident(tx store.Tx, check string, id int64) (store.Incident, bool, error) {
	var inc store.Incident
	var found bool
	var err error
	if id != 0 {
		inc, err = tx.Incident(id)
		found = err == nil
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	} else {
		inc, found, err = tx.CurrentIncident(check)
	}
	if err != nil {
		return inc, false, err
	}
	return inc, found && inc.Status != store.StatusResolved, nil
}

// restate makes the row inc say what out does of the incident: what a
// report (opening, raise) changes, and a resolve.
func restate(inc *store.Incident, out *alert.Outcome, value *float64) {
	if out.Report {
		inc.Severity, inc.State, inc.Message, inc.Value = out.Incident.Severity, out.Incident.State.String(), out.Message, value
	}
	if at := out.Incident.ResolvedAt; !at.IsZero() && inc.Status != store.StatusResolved {
		inc.Status, inc.ResolvedAt = store.StatusResolved, at
	}
}

// execute carries out out for the incident row inc (already inserted for
// WriteInsert) in tx: timeline lines, supersedes, outbox rows, then the
// row's write.
func (m *incidents) execute(tx store.Tx, out *alert.Outcome, inc *store.Incident, c *config.Check) error {
	for _, l := range out.Timeline {
		if err := tx.AddEvent(inc.ID, l.At, l.Kind, l.Detail); err != nil {
			return err
		}
	}
	for _, sp := range out.Supersede {
		if _, err := tx.Supersede(sp.Notifier, inc.ID, sp.Events...); err != nil {
			return err
		}
	}
	if err := m.enqueue(tx, out.Deliveries, inc, c, out.At); err != nil {
		return err
	}
	switch out.Write {
	case alert.WriteInsert, alert.WriteUpdate:
		blob, err := json.Marshal(out.Incident)
		if err != nil {
			return fmt.Errorf("encode escalation of incident #%d: %w", inc.ID, err)
		}
		inc.Escalation = blob
		return tx.UpdateIncident(inc)
	case alert.WriteEscalation:
		blob, err := json.Marshal(out.Incident)
		if err != nil {
			return fmt.Errorf("encode escalation of incident #%d: %w", inc.ID, err)
		}
		return tx.SetEscalation(inc.ID, blob)
	}
	return nil
}

// enqueue writes one outbox row per delivery, with the item snapshot.
func (m *incidents) enqueue(tx store.Tx, ds []alert.Delivery, inc *store.Incident, c *config.Check, at time.Time) error {
	for _, d := range ds {
		it := m.item(inc, c, d.Event, at, d.Note)
		if d.Severity != "" {
			it.Incident.Severity = d.Severity
		}
		it.Incident.AckURL = m.ackURL(inc, &it, at)
		if _, err := tx.Enqueue(store.OutboxEntry{Notifier: d.Notifier, IncidentID: inc.ID, Item: it,
			DueAt: d.DueAt, Batchable: d.Batchable}); err != nil {
			return err
		}
	}
	if len(ds) > 0 {
		m.dirty.Store(true)
	}
	return nil
}

// item is the notification's snapshot of inc.
func (m *incidents) item(inc *store.Incident, c *config.Check, event string, at time.Time, note string) notify.Item {
	key := m.name + "-" + strconv.FormatInt(inc.ID, 10)
	if inc.ID == 0 {
		key = m.name + "-flapping-" + inc.Check
	}
	ni := notify.Incident{ID: inc.ID, Key: key, Severity: inc.Severity, State: inc.State, Status: inc.Status,
		Message: inc.Message, Value: inc.Value, OpenedAt: inc.OpenedAt, AckedBy: inc.AckedBy}
	if !inc.AckedAt.IsZero() {
		t := inc.AckedAt
		ni.AckedAt = &t
	}
	if !inc.ResolvedAt.IsZero() {
		t := inc.ResolvedAt
		ni.ResolvedAt = &t
	}
	ch := notify.Check{Name: inc.Check, Type: inc.Type}
	if c != nil {
		ch = notify.Check{Name: c.Name, Type: c.Type, Tags: c.Tags, Description: c.Description, Runbook: c.Runbook}
	}
	return notify.Item{Event: event, At: at, Incident: ni, Check: ch, Note: note}
}

// ackLinks is what signing ack links takes: [agent].public_url + "/ack/"
// and the key.
type ackLinks struct {
	base string
	key  []byte
}

// ackURL is the ack link of the item, "" when it gets none: links are off,
// the incident is not P1/P2 (lower severities page nobody), not open, or
// the event is one after which acking is moot (resolved, acknowledged) or
// not about one incident (flapping). Links expire acklink.TTL after the
// event; reminders carry fresh ones.
func (m *incidents) ackURL(inc *store.Incident, it *notify.Item, at time.Time) string {
	a := m.ack.Load()
	if a == nil || inc.ID == 0 || inc.Status != store.StatusOpen {
		return ""
	}
	if sev := it.Incident.Severity; sev != "P1" && sev != "P2" {
		return ""
	}
	switch it.Event {
	case alert.DeliverOpened, alert.DeliverRaised, alert.DeliverReminder, alert.DeliverEscalated:
		return a.base + acklink.Sign(a.key, inc.ID, at.Add(acklink.TTL))
	}
	return ""
}

// tick handles, on the timer: acks and manual resolves written by the CLI,
// silences added or removed, mutes that ended, reminders and escalation
// steps (alert.Timer). It reads first and writes (through the writer,
// re-reading in its transaction) only when something is to be done; it
// returns when the next reminder or step is due.
func (m *incidents) tick(ctx context.Context) (time.Time, error) {
	st := m.d.store
	now := m.d.now()
	sls, err := st.Silences(ctx, now)
	if err != nil {
		return time.Time{}, err
	}
	m.mu.Lock()
	m.silences = alertSilences(sls)
	m.sup = m.base.WithSilences(m.silences)
	plan, sup := m.plan, m.sup
	m.mu.Unlock()

	need := false
	if m.owner {
		names, err := st.PendingSyncChecks(ctx)
		if err != nil {
			return time.Time{}, err
		}
		for _, n := range names {
			if _, ok := m.d.fence(n); ok {
				need = true
			}
		}
	}
	writes, quiet := m.d.writes.Load(), m.d.applying.Load() == 0
	open, err := st.OpenIncidents(ctx)
	if err != nil {
		return time.Time{}, err
	}
	m.reconcileWith(open, writes, quiet, false)
	var next time.Time
	for i := range open {
		if _, ok := m.d.fence(open[i].Check); !ok {
			continue // another agent's
		}
		info := infoOf(&open[i])
		muted, flapping := m.holds(info.Check, sup, now)
		out := alert.Timer(info, muted, flapping, plan, now)
		if out.Write != alert.WriteNone {
			need = true
		}
		if t := out.Next; !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !need {
		return next, nil
	}
	done := make(chan error, 1)
	if err := st.Submit(store.Record{Apply: m.tickTx, Done: func(err error) { done <- err }}); err != nil {
		return next, err
	}
	select {
	case err := <-done:
		if err != nil {
			return next, err
		}
		return m.d.now(), nil // look again at once: NextDue has moved
	case <-ctx.Done():
		return next, ctx.Err()
	}
}

// tickTx is tick's write, in the writer's transaction.
func (m *incidents) tickTx(tx store.Tx) error {
	now := m.d.now()
	plan, sup := m.current()
	if m.owner {
		syncs, err := tx.PendingSync()
		if err != nil {
			return err
		}
		for i := range syncs {
			if ok, err := m.mine(tx, syncs[i].Check); !ok {
				if err != nil {
					return err
				}
				continue
			}
			if err := m.syncTx(tx, &syncs[i], plan, now); err != nil {
				return err
			}
		}
	}
	open, err := tx.OpenIncidents()
	if err != nil {
		return err
	}
	for i := range open {
		inc := &open[i]
		info := infoOf(inc)
		muted, flapping := m.holds(info.Check, sup, now)
		out := alert.Timer(info, muted, flapping, plan, now)
		if out.Write == alert.WriteNone {
			continue
		}
		if ok, err := m.mine(tx, inc.Check); !ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := m.execute(tx, &out, inc, m.checkConfig(inc.Check)); err != nil {
			return err
		}
	}
	return nil
}

// mine reports whether this agent acts on check's incidents in tx: it
// holds the check's shard, and the lease is live (locked until tx ends).
func (m *incidents) mine(tx store.Tx, check string) (bool, error) {
	f, ok := m.d.fence(check)
	if !ok {
		return false, nil
	}
	if f == nil {
		return true, nil
	}
	if err := tx.Holds(*f); err != nil {
		if errors.Is(err, store.ErrFenced) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// syncTx sends the consequences of an ack or a manual resolve made by the
// CLI: acknowledge / resolve notifications to every notifier told of the
// incident, and, for a resolve, the check's state forgets the incident.
func (m *incidents) syncTx(tx store.Tx, inc *store.Incident, plan alert.Plan, now time.Time) error {
	ev := alert.Event{Severity: inc.Severity, Manual: true}
	switch inc.Status {
	case store.StatusAcknowledged:
		ev.Kind, ev.At, ev.By, ev.Message = alert.Acknowledged, inc.AckedAt, inc.AckedBy, inc.AckNote
	case store.StatusResolved:
		ev.Kind, ev.At, ev.By = alert.Resolved, inc.ResolvedAt, inc.ResolvedBy
		if rt := m.d.lookup(inc.Check); rt != nil {
			rt.mu.Lock()
			cleared := rt.state.IncidentOpen && (rt.state.IncidentID == inc.ID || rt.state.IncidentID == 0)
			if cleared {
				rt.state.ClearIncident()
			}
			blob := marshalState(rt.state)
			rt.mu.Unlock()
			if cleared {
				if err := tx.SaveState(inc.Check, blob); err != nil {
					return err
				}
			}
		}
	}
	if ev.Kind != "" {
		out := alert.Apply(infoOf(inc), ev, plan, now)
		if err := m.execute(tx, &out, inc, m.checkConfig(inc.Check)); err != nil {
			return err
		}
		m.d.log.Info("incident changed from the command line", "event", string(ev.Kind), "incident", inc.ID, "check", inc.Check,
			"notifications", len(out.Deliveries))
	}
	return tx.ClearSync(inc.ID)
}

// reconcile compares the incident state in memory with the database's open
// incidents now (force) or when either may have moved apart.
func (m *incidents) reconcile(ctx context.Context, force bool) error {
	writes, quiet := m.d.writes.Load(), m.d.applying.Load() == 0
	open, err := m.d.store.OpenIncidents(ctx)
	if err != nil {
		return fmt.Errorf("read open incidents: %w", err)
	}
	m.reconcileWith(open, writes, quiet, force)
	return nil
}

// reconcileWith makes each check's incident state in memory say what the
// database does: open is the open incidents read after incidentWrites was
// writes, and quiet says no incident write was on its way then. The database is the truth, and memory drifts from it when
// incident writes were not committed (a record given up) or another
// process changed incidents (a resolve whose sync another process
// consumed, an incident `pulse check --record` opened). A check whose
// incident is gone stays failing and opens a new one with its next
// failing result; one the database says is open adopts it.
//
// It does nothing when incident writes of this process were on their way
// to the database, or evaluated since (open could be older than memory),
// nor, unless forced, when neither the open incidents nor a failed write
// say anything moved.
func (m *incidents) reconcileWith(open []store.Incident, writes uint64, quiet, force bool) {
	m.reconciling.Lock()
	defer m.reconciling.Unlock()
	sum := uint64(14695981039346656037)
	for i := range open {
		for _, v := range []uint64{uint64(open[i].ID), uint64(len(open[i].Status)), uint64(len(open[i].Severity))} {
			sum = (sum ^ v) * 1099511628211
		}
	}
	stale := m.stale.Swap(false) // a write failing during this pass sets it again
	if !force && !stale && sum == m.openSum {
		return
	}
	if !quiet || m.d.writes.Load() != writes {
		m.stale.Store(true) // look again on the next tick
		return
	}
	byCheck := make(map[string]*store.Incident, len(open))
	for i := range open {
		byCheck[open[i].Check] = &open[i]
	}
	rts := m.d.runtimes()
	for name, rt := range rts {
		if _, ok := m.d.fence(name); !ok {
			continue // another agent's: adopted from the database when taken over
		}
		inc := byCheck[name]
		rt.mu.Lock()
		if m.d.writes.Load() != writes {
			rt.mu.Unlock()
			m.stale.Store(true) // a result changed incident state meanwhile: next tick
			return
		}
		st := &rt.state
		switch {
		case inc == nil && st.IncidentOpen:
			m.d.log.Warn("incident state re-read from the database: no incident is open", "check", name, "incident", st.IncidentID)
			st.ClearIncident()
		case inc != nil && (!st.IncidentOpen || st.IncidentID != inc.ID):
			m.d.log.Warn("incident state re-read from the database: an incident is open", "check", name, "incident", inc.ID)
			state, err := checks.ParseState(inc.State)
			if err != nil {
				state = checks.Crit
			}
			st.IncidentOpen, st.IncidentID, st.IncidentSeverity, st.IncidentState = true, inc.ID, inc.Severity, state
		}
		rt.mu.Unlock()
	}
	m.openSum = sum
}

// holds says what holds the notifications of check's incident now: why
// it is muted ("" when it is not) and whether the check is flapping.
func (m *incidents) holds(check string, sup *alert.Suppressor, now time.Time) (muted string, flapping bool) {
	muted = m.reason(sup, m.checkConfig(check), now)
	if rt := m.d.lookup(check); rt != nil {
		rt.mu.Lock()
		flapping = rt.state.Flapping
		rt.mu.Unlock()
	}
	return muted, flapping
}

// reason is Suppressor.Reason with the states of c's dependencies, direct
// and transitive, read from their runtimes.
func (m *incidents) reason(sup *alert.Suppressor, c *config.Check, now time.Time) string {
	var states map[string]alert.CheckState
	if len(c.DependsOn) > 0 {
		states = map[string]alert.CheckState{}
		stack := append([]string(nil), c.DependsOn...)
		for len(stack) > 0 {
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, seen := states[name]; seen {
				continue
			}
			rt := m.d.lookup(name)
			if rt == nil {
				states[name] = alert.CheckState{}
				continue
			}
			rt.mu.Lock()
			states[name] = rt.state
			rt.mu.Unlock()
			stack = append(stack, rt.check().DependsOn...)
		}
	}
	return sup.Reason(c, states, now)
}

// checkConfig is the configured check of that name, or a bare one for a
// check removed from the config while its incident is open.
func (m *incidents) checkConfig(name string) *config.Check {
	if rt := m.d.lookup(name); rt != nil {
		return rt.check()
	}
	return (&config.Check{Name: name}).WithFields()
}

// infoOf decodes the incident's escalation record, with the row's own
// columns (which `pulse ack` and `pulse resolve` may have changed) winning.
func infoOf(inc *store.Incident) alert.IncidentInfo {
	var info alert.IncidentInfo
	if len(inc.Escalation) > 0 {
		_ = json.Unmarshal(inc.Escalation, &info) // unreadable: start afresh, a resolve still reaches nobody twice
	}
	info.ID, info.Check, info.Severity, info.OpenedAt = inc.ID, inc.Check, inc.Severity, inc.OpenedAt
	info.AckedAt, info.ResolvedAt = inc.AckedAt, inc.ResolvedAt
	if s, err := checks.ParseState(inc.State); err == nil {
		info.State = s
	}
	return info
}

func alertSilences(sls []store.Silence) []alert.Silence {
	out := make([]alert.Silence, len(sls))
	for i, s := range sls {
		out[i] = alert.Silence{ID: s.ID, Pattern: s.Pattern, Until: s.Until, Reason: s.Reason}
	}
	return out
}

func valueOf(res checks.Result) *float64 {
	if !res.HasValue {
		return nil
	}
	v := res.Value
	return &v
}
