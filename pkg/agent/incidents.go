package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulse-monitor/pulse/checks"
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
	a      *Agent
	log    *slog.Logger
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
	stale   atomic.Bool
	openSum uint64

	mu        sync.RWMutex // guards the fields below, replaced on reload
	plan      alert.Plan
	base      *alert.Suppressor // windows and dependencies, no silences
	sup       *alert.Suppressor // base with the silences in force
	silences  []alert.Silence
	notifiers map[string]notify.Notifier
	fps       map[string]string // notifier name → config fingerprint
}

func newIncidents(a *Agent, cfg *config.Config, owner bool) (*incidents, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	m := &incidents{a: a, log: a.log, source: host, name: cfg.Agent.Name, owner: owner}
	if m.name == "" {
		m.name = host
	}
	if err := m.reload(cfg); err != nil {
		return nil, err
	}
	m.disp = notify.NewDispatcher(notify.DispatcherOptions{
		Outbox: a.store, Notifiers: m.notifiers, Now: a.now, Logger: a.log,
		Agent: m.name, Source: m.source, Observe: a.metrics.ObserveNotification,
	})
	sls, err := a.store.Silences(context.Background(), a.now())
	if err != nil {
		return nil, err
	}
	m.silences = alertSilences(sls)
	m.sup = m.base.WithSilences(m.silences)
	a.store.SetOnCommit(func(int) {
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
		fp := c.Fingerprint()
		fps[c.Name] = fp
		if n, ok := old[c.Name]; ok && oldFps[c.Name] == fp {
			ns[c.Name] = n
			continue
		}
		n, err := registry.New(c, registry.Options{Logger: m.log, Now: m.a.now, Agent: m.name, Host: m.source})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: notifier %q: %w", cfg.Path, c.Line, c.Name, err))
			continue
		}
		ns[c.Name] = n
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.mu.Lock()
	m.plan, m.base, m.notifiers, m.fps = alert.NewPlan(cfg), base, ns, fps
	m.sup = base.WithSilences(m.silences)
	m.mu.Unlock()
	if m.disp != nil {
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
			m.log.Error("incident timer", "err", err)
		}
		wait := pollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(m.a.now()), 50*time.Millisecond))
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
		if cur := m.a.lookup(c.Name); cur != nil {
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

func (m *incidents) applyEvent(tx store.Tx, rt *runtime, c *config.Check, res checks.Result, ev alert.Event,
	plan alert.Plan, sup *alert.Suppressor, now time.Time) error {
	if ev.Kind == alert.Opened {
		inc := store.Incident{Check: c.Name, Type: c.Type, Severity: ev.Severity, State: ev.State.String(),
			Status: store.StatusOpen, Message: ev.Message, Value: valueOf(res), OpenedAt: ev.At}
		id, err := tx.InsertIncident(&inc)
		if err != nil {
			return err
		}
		inc.ID = id
		rt.mu.Lock()
		if rt.state.IncidentOpen && rt.state.IncidentID == 0 {
			rt.state.SetIncident(id)
		}
		flapping := rt.state.Flapping
		rt.mu.Unlock()
		if err := tx.AddEvent(id, ev.At, store.EventOpened, ev.Severity+" "+ev.State.String()+": "+ev.Message); err != nil {
			return err
		}
		info := alert.IncidentInfo{ID: id, Check: c.Name, Severity: ev.Severity, State: ev.State, OpenedAt: ev.At,
			Muted: m.reason(sup, c, now), Flapping: flapping || ev.Suppressed != ""}
		return m.deliver(tx, &inc, &info, c, ev, plan, now)
	}

	// Every other event concerns the check's current incident, if any.
	var inc store.Incident
	var found bool
	var err error
	if ev.IncidentID != 0 {
		inc, err = tx.Incident(ev.IncidentID)
		found = err == nil
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	} else {
		inc, found, err = tx.CurrentIncident(c.Name)
	}
	if err != nil {
		return err
	}
	if found && inc.Status == store.StatusResolved {
		found = false // resolved by hand meanwhile: nothing more to say about it
	}
	rt.mu.Lock()
	flapping := rt.state.Flapping
	rt.mu.Unlock()
	switch ev.Kind {
	case alert.Raised, alert.Resolved:
		if !found {
			return nil
		}
		info := infoOf(&inc)
		info.Muted, info.Flapping = m.reason(sup, c, now), flapping
		if ev.Kind == alert.Raised {
			inc.Severity, inc.Message, inc.Value = ev.Severity, ev.Message, valueOf(res)
			inc.State = checks.Worse(info.State, ev.State).String()
			info.Severity, info.State = ev.Severity, checks.Worse(info.State, ev.State)
			if err := tx.AddEvent(inc.ID, ev.At, store.EventRaised, ev.Severity+" "+ev.State.String()+": "+ev.Message); err != nil {
				return err
			}
		} else {
			inc.Status, inc.ResolvedAt = store.StatusResolved, ev.At
			info.ResolvedAt = ev.At
			if err := tx.AddEvent(inc.ID, ev.At, store.EventResolved, "recovered: "+ev.Message); err != nil {
				return err
			}
		}
		return m.deliver(tx, &inc, &info, c, ev, plan, now)
	case alert.Flapping:
		info := alert.IncidentInfo{Check: c.Name, Muted: m.reason(sup, c, now), Flapping: true}
		snap := store.Incident{Check: c.Name, Type: c.Type, Severity: ev.Severity, State: ev.State.String(),
			Status: store.StatusOpen, Message: ev.Message, OpenedAt: ev.At}
		if found {
			info = infoOf(&inc)
			info.Muted, info.Flapping = m.reason(sup, c, now), true
			snap = inc
			if err := tx.AddEvent(inc.ID, ev.At, store.EventFlapping, ev.Message); err != nil {
				return err
			}
		}
		ds := alert.Deliveries(ev, info, plan.For(ev.Severity), now)
		return m.enqueue(tx, ds, &snap, c, ev.At)
	case alert.FlappingEnded:
		if !found {
			return nil
		}
		info := infoOf(&inc)
		info.Muted, info.Flapping = m.reason(sup, c, now), false
		return m.deliver(tx, &inc, &info, c, alert.Event{Kind: alert.FlappingEnded, Severity: info.Severity, At: ev.At}, plan, now)
	}
	return nil
}

// deliver plans the notifications of ev for inc, queues them, records them
// in info and saves the incident.
func (m *incidents) deliver(tx store.Tx, inc *store.Incident, info *alert.IncidentInfo, c *config.Check,
	ev alert.Event, plan alert.Plan, now time.Time) error {
	sev := ev.Severity
	if sev == "" {
		sev = info.Severity
	}
	if info.Muted != "" && (ev.Kind == alert.Opened || ev.Kind == alert.Raised) {
		if err := tx.AddEvent(inc.ID, ev.At, store.EventSilenced, info.Muted); err != nil {
			return err
		}
	}
	ds := alert.Deliveries(ev, *info, plan.For(sev), now)
	// A raise or a resolve says everything an opening still queued for the
	// same notifier would: retire those (a resolve then travels alone,
	// at the opening's deadline, as "resolved after ...").
	var retire []string
	switch ev.Kind {
	case alert.Raised:
		retire = []string{alert.DeliverOpened, alert.DeliverRaised}
	case alert.Resolved:
		retire = []string{alert.DeliverOpened, alert.DeliverRaised, alert.DeliverReminder, alert.DeliverEscalated, alert.DeliverFlapping}
	}
	if retire != nil {
		for _, d := range ds {
			if _, err := tx.Supersede(d.Notifier, inc.ID, retire...); err != nil {
				return err
			}
		}
	}
	if err := m.enqueue(tx, ds, inc, c, ev.At); err != nil {
		return err
	}
	info.Record(ds)
	blob, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode escalation of incident #%d: %w", inc.ID, err)
	}
	inc.Escalation = blob
	return tx.UpdateIncident(inc)
}

// enqueue writes one outbox row per delivery, with the item snapshot.
func (m *incidents) enqueue(tx store.Tx, ds []alert.Delivery, inc *store.Incident, c *config.Check, at time.Time) error {
	for _, d := range ds {
		it := m.item(inc, c, d.Event, at, d.Note)
		if d.Severity != "" {
			it.Incident.Severity = d.Severity
		}
		if _, err := tx.Enqueue(store.OutboxEntry{Notifier: d.Notifier, IncidentID: inc.ID, Item: it,
			DueAt: d.DueAt, Batchable: d.Batchable}); err != nil {
			return err
		}
		if inc.ID == 0 {
			continue
		}
		switch d.Event {
		case alert.DeliverEscalated:
			err := tx.AddEvent(inc.ID, at, store.EventEscalated, "step "+strconv.Itoa(d.Step)+" → "+d.Notifier+": "+d.Note)
			if err != nil {
				return err
			}
		case alert.DeliverReminder:
			if err := tx.AddEvent(inc.ID, at, store.EventReminded, d.Notifier+": "+d.Note); err != nil {
				return err
			}
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

// tick handles, on the timer: acks and manual resolves written by the CLI,
// silences added or removed, mutes that ended (Catchup), reminders and
// escalation steps (Due). It reads first and writes (through the writer,
// re-reading in its transaction) only when something is to be done; it
// returns when the next reminder or step is due.
func (m *incidents) tick(ctx context.Context) (time.Time, error) {
	st := m.a.store
	now := m.a.now()
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
		if need, err = st.HasPendingSync(ctx); err != nil {
			return time.Time{}, err
		}
	}
	writes, quiet := m.a.incidentWrites.Load(), m.a.applying.Load() == 0
	open, err := st.OpenIncidents(ctx)
	if err != nil {
		return time.Time{}, err
	}
	m.reconcileWith(open, writes, quiet, false)
	var next time.Time
	for i := range open {
		info := infoOf(&open[i])
		stored := info.Muted
		m.refresh(&info, sup, now)
		esc := plan.For(info.Severity)
		if info.Muted != stored || len(alert.Catchup(info, esc, now)) > 0 || len(alert.Due(info, esc, now)) > 0 {
			need = true
		}
		if t := alert.NextDue(info, esc); !t.IsZero() && (next.IsZero() || t.Before(next)) {
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
		return m.a.now(), nil // look again at once: NextDue has moved
	case <-ctx.Done():
		return next, ctx.Err()
	}
}

// tickTx is tick's write, in the writer's transaction.
func (m *incidents) tickTx(tx store.Tx) error {
	now := m.a.now()
	plan, sup := m.current()
	if m.owner {
		syncs, err := tx.PendingSync()
		if err != nil {
			return err
		}
		for i := range syncs {
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
		stored := info.Muted
		m.refresh(&info, sup, now)
		esc := plan.For(info.Severity)
		if info.Muted != stored && info.Muted != "" {
			if err := tx.AddEvent(inc.ID, now, store.EventSilenced, info.Muted); err != nil {
				return err
			}
		}
		ds := alert.Catchup(info, esc, now)
		info.Record(ds)
		due := alert.Due(info, esc, now)
		info.Record(due)
		ds = append(ds, due...)
		if len(ds) == 0 && info.Muted == stored {
			continue
		}
		if err := m.enqueue(tx, ds, inc, m.checkConfig(inc.Check), now); err != nil {
			return err
		}
		if err := m.saveInfo(tx, inc.ID, &info); err != nil {
			return err
		}
	}
	return nil
}

// syncTx sends the consequences of an ack or a manual resolve made by the
// CLI: acknowledge / resolve notifications to every notifier told of the
// incident, and, for a resolve, the check's state forgets the incident.
func (m *incidents) syncTx(tx store.Tx, inc *store.Incident, plan alert.Plan, now time.Time) error {
	info := infoOf(inc)
	c := m.checkConfig(inc.Check)
	var ev alert.Event
	var note string
	switch inc.Status {
	case store.StatusAcknowledged:
		ev = alert.Event{Kind: alert.Acknowledged, Severity: inc.Severity, At: inc.AckedAt}
		note = "acknowledged by " + inc.AckedBy
		if inc.AckNote != "" {
			note += ": " + inc.AckNote
		}
	case store.StatusResolved:
		ev = alert.Event{Kind: alert.Resolved, Severity: inc.Severity, At: inc.ResolvedAt}
		note = "resolved by hand by " + inc.ResolvedBy
		if rt := m.a.lookup(inc.Check); rt != nil {
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
		ds := alert.Deliveries(ev, info, plan.For(inc.Severity), now)
		for i := range ds {
			ds[i].Note = note
			if ev.Kind == alert.Resolved {
				if _, err := tx.Supersede(ds[i].Notifier, inc.ID, alert.DeliverOpened, alert.DeliverRaised,
					alert.DeliverReminder, alert.DeliverEscalated, alert.DeliverFlapping); err != nil {
					return err
				}
			} else if _, err := tx.Supersede(ds[i].Notifier, inc.ID, alert.DeliverReminder); err != nil {
				return err
			}
		}
		if err := m.enqueue(tx, ds, inc, c, ev.At); err != nil {
			return err
		}
		if err := m.saveInfo(tx, inc.ID, &info); err != nil {
			return err
		}
		m.log.Info("incident "+string(ev.Kind)+" from the command line", "incident", inc.ID, "check", inc.Check, "notifications", len(ds))
	}
	return tx.ClearSync(inc.ID)
}

// reconcile compares the incident state in memory with the database's open
// incidents now (force) or when either may have moved apart.
func (m *incidents) reconcile(ctx context.Context, force bool) error {
	writes, quiet := m.a.incidentWrites.Load(), m.a.applying.Load() == 0
	open, err := m.a.store.OpenIncidents(ctx)
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
	if !quiet || m.a.incidentWrites.Load() != writes {
		m.stale.Store(true) // look again on the next tick
		return
	}
	byCheck := make(map[string]*store.Incident, len(open))
	for i := range open {
		byCheck[open[i].Check] = &open[i]
	}
	m.a.mu.RLock()
	rts := m.a.rts
	m.a.mu.RUnlock()
	for name, rt := range rts {
		inc := byCheck[name]
		rt.mu.Lock()
		if m.a.incidentWrites.Load() != writes {
			rt.mu.Unlock()
			m.stale.Store(true) // a result changed incident state meanwhile: next tick
			return
		}
		st := &rt.state
		switch {
		case inc == nil && st.IncidentOpen:
			m.log.Warn("incident state re-read from the database: no incident is open", "check", name, "incident", st.IncidentID)
			st.ClearIncident()
		case inc != nil && (!st.IncidentOpen || st.IncidentID != inc.ID):
			m.log.Warn("incident state re-read from the database: an incident is open", "check", name, "incident", inc.ID)
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

func (m *incidents) saveInfo(tx store.Tx, id int64, info *alert.IncidentInfo) error {
	blob, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode escalation of incident #%d: %w", id, err)
	}
	return tx.SetEscalation(id, blob)
}

// refresh fills the fields IncidentInfo wants fresh: why it is muted now
// and whether its check is flapping.
func (m *incidents) refresh(info *alert.IncidentInfo, sup *alert.Suppressor, now time.Time) {
	c := m.checkConfig(info.Check)
	info.Muted = m.reason(sup, c, now)
	info.Flapping = false
	if rt := m.a.lookup(info.Check); rt != nil {
		rt.mu.Lock()
		info.Flapping = rt.state.Flapping
		rt.mu.Unlock()
	}
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
			rt := m.a.lookup(name)
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
	if rt := m.a.lookup(name); rt != nil {
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
