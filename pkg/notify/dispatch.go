package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// OutboxRow is one queued notification: one item for one notifier.
type OutboxRow struct {
	ID         int64
	Notifier   string
	IncidentID int64 // 0 when the row is about no incident (a check flapping without one)
	Event      string
	Item       Item // the incident as it was when the row was queued
	DueAt      time.Time
	// Batchable rows may travel with others due for the same notifier; the
	// others (within = 0s) are sent alone, at once.
	Batchable     bool
	Attempts      int
	NextAttemptAt time.Time // zero before the first failed attempt
}

// Outbox is the durable queue the Dispatcher drains. pkg/store implements
// it; every method must be safe for concurrent use.
type Outbox interface {
	// PendingOutbox returns every row not yet sent nor given up, by id.
	PendingOutbox(ctx context.Context) ([]OutboxRow, error)
	// MarkSent records that the receiver accepted the rows.
	MarkSent(ctx context.Context, ids []int64, at time.Time) error
	// MarkRetry counts a failed attempt and holds the rows until next.
	MarkRetry(ctx context.Context, ids []int64, next time.Time, reason string) error
	// MarkFailed gives the rows up: reason is the error, answer the
	// receiver's (secret-free) answer.
	MarkFailed(ctx context.Context, ids []int64, reason, answer string, at time.Time) error
}

// Backoff defaults: the first retry after 5s, then 10s, 20s... at most 10m.
const (
	DefaultMinBackoff = 5 * time.Second
	DefaultMaxBackoff = 10 * time.Minute
	// MaxRetryAfter caps a receiver's Retry-After: a misconfigured proxy
	// asking for a day must not hold an incident that long.
	MaxRetryAfter = time.Hour
	// SendTimeout is the backstop on one Send; notifiers have their own,
	// shorter timeouts.
	SendTimeout = 2 * time.Minute
)

// DispatcherOptions configure NewDispatcher.
type DispatcherOptions struct {
	Outbox    Outbox
	Notifiers map[string]Notifier // by name; replace with SetNotifiers
	Now       func() time.Time    // time.Now when nil
	Logger    *slog.Logger
	Agent     string // Message.Agent
	Source    string // Message.Source (the host name)
	// Jitter returns a number in [0, 1) that spreads retries (±25%);
	// math/rand/v2 when nil.
	Jitter                 func() float64
	MinBackoff, MaxBackoff time.Duration
	// Observe, when set, is told each send's outcome per notifier:
	// "sent", "retry" or "failed" (the pulse_notifications_total metric).
	Observe func(notifier, result string)
	// Resolve, when set, is asked for the notifier of a row whose channel
	// is not in Notifiers (a status-page subscriber's, "subscriber/ID"):
	// channels made by the thousand are resolved by name, not registered.
	Resolve func(name string) (Notifier, bool)
}

// Dispatcher drains the outbox: it groups the due rows per notifier
// (alert.Batch), sends each group as one Message, and marks rows sent only
// after the receiver accepted them. Notifiers are sent to concurrently, each
// one's messages in order. Failures worth retrying back off exponentially
// with jitter (honouring Retry-After); the others are recorded as failed.
type Dispatcher struct {
	out     Outbox
	now     func() time.Time
	log     *slog.Logger
	agent   string
	source  string
	jitter  func() float64
	observe func(notifier, result string)
	resolve func(name string) (Notifier, bool)
	minB    time.Duration
	maxB    time.Duration

	wake chan struct{}
	wg   sync.WaitGroup // in-flight sends

	mu        sync.Mutex
	notifiers map[string]Notifier
	busy      map[string]bool      // notifiers with a send in flight
	holdUntil map[string]time.Time // notifier → no send before (after a retryable failure)
	// unmarked holds the outcomes the outbox could not record (the
	// database refuses writes: disk full, I/O error). A row in it is never
	// sent again by this process: a receiver that accepted a message must
	// not get it again every round while the disk is full. round writes
	// the outcomes again, backing off, until the outbox takes them; a
	// restart before that sends each such row at most once more, with the
	// same dedup key.
	unmarked     map[int64]outcome
	markAt       time.Time     // no attempt to record them before
	markBackoff  time.Duration // grows while the outbox refuses
	lastMarkWarn time.Time
}

// outcome is a send's result that is still to be recorded in the outbox.
type outcome struct {
	kind     string // "sent", "retry" or "failed"
	at       time.Time
	next     time.Time // retry: not before
	attempts int       // attempts made, counting this one
	reason   string
	answer   string
}

// Bounds of the pause between attempts to record outcomes the outbox
// refused: the database is likely out of space, and hammering it helps
// nobody.
const (
	minMarkBackoff = time.Second
	maxMarkBackoff = time.Minute
)

// NewDispatcher returns a dispatcher; nothing is sent until Run or DeliverDue.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Observe == nil {
		o.Observe = func(string, string) {}
	}
	d := &Dispatcher{
		out: o.Outbox, now: o.Now, log: o.Logger, agent: o.Agent, source: o.Source,
		jitter: o.Jitter, observe: o.Observe, resolve: o.Resolve, minB: o.MinBackoff, maxB: o.MaxBackoff,
		wake:      make(chan struct{}, 1),
		busy:      map[string]bool{},
		holdUntil: map[string]time.Time{},
		unmarked:  map[int64]outcome{},
	}
	d.SetNotifiers(o.Notifiers)
	return d
}

// SetResolver replaces the Resolve option (after a reload).
func (d *Dispatcher) SetResolver(resolve func(name string) (Notifier, bool)) {
	d.mu.Lock()
	d.resolve = resolve
	d.mu.Unlock()
	d.Wake()
}

// SetNotifiers replaces the notifiers (after a reload). For a notifier
// that is no longer configured: a send in flight finishes and is recorded
// as its receiver answered, nothing more is sent to it, and its other rows
// are marked failed, once, with a last_error naming it (they stay in the
// outbox, visible in pulse incidents). A notifier whose definition changed
// sends its next message with the new definition.
func (d *Dispatcher) SetNotifiers(ns map[string]Notifier) {
	cp := make(map[string]Notifier, len(ns))
	for k, v := range ns {
		cp[k] = v
	}
	d.mu.Lock()
	d.notifiers = cp
	for name := range d.holdUntil {
		if _, ok := cp[name]; !ok {
			delete(d.holdUntil, name)
		}
	}
	d.mu.Unlock()
	d.Wake()
}

// Wake makes Run look at the outbox now. It never blocks; call it after
// committing rows (the store's OnCommit hook).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run sends due rows until ctx ends, sleeping until the next due time or a
// Wake, whichever comes first. It returns once in-flight sends finished;
// rows not sent stay in the outbox for the next start.
func (d *Dispatcher) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, _, err := d.round(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("read outbox", "err", err)
			next = d.now().Add(time.Second)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(d.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// DeliverDue sends every row due now and waits for the answers (for
// `pulse run --once` and tests). It returns when the next row is due
// (zero when none is pending).
func (d *Dispatcher) DeliverDue(ctx context.Context) (time.Time, error) {
	for range 16 { // a row held behind an earlier one of its incident goes in a later round
		next, started, err := d.round(ctx)
		d.wg.Wait()
		if err != nil {
			return next, err
		}
		if !started {
			return next, nil
		}
	}
	next, _, err := d.round(ctx)
	d.wg.Wait()
	return next, err
}

// round reads the outbox once, starts the sends that are due and returns
// when the earliest of the rest is due, and whether it started any send.
func (d *Dispatcher) round(ctx context.Context) (time.Time, bool, error) {
	d.recordUnmarked(ctx)
	// Read under the lock: a sender that finishes between the read and the
	// lock would leave rows it just sent looking pending and not busy.
	d.mu.Lock()
	rows, err := d.out.PendingOutbox(ctx)
	if err != nil {
		d.mu.Unlock()
		return time.Time{}, false, err
	}
	now := d.now()
	var next time.Time
	if len(d.unmarked) > 0 {
		next = d.markAt
	}
	notifiers := d.notifiers
	if d.resolve != nil {
		// Resolved channels join this round's map only: a copy, made when
		// there is one, as the configured map is shared with other
		// rounds' senders.
		var cp map[string]Notifier
		for i := range rows {
			name := rows[i].Notifier
			if _, ok := notifiers[name]; ok {
				continue
			}
			if n, ok := d.resolve(name); ok {
				if cp == nil {
					cp = make(map[string]Notifier, len(d.notifiers)+1)
					maps.Copy(cp, d.notifiers)
				}
				cp[name] = n
				notifiers = cp
			}
		}
	}
	orphans := map[string][]int64{} // notifier no longer configured → its rows
	pending := make([]alert.Pending, 0, len(rows))
	byID := make(map[int64]*OutboxRow, len(rows))
	type pair struct {
		notifier string
		incident int64
	}
	chain := map[pair]time.Time{}
	for i := range rows {
		r := &rows[i]
		if o, ok := d.unmarked[r.ID]; ok {
			if o.kind != "retry" {
				continue // sent or given up already; only the outbox does not know
			}
			// A retry the outbox did not record: back off by what this
			// process knows, not by the stale attempt count.
			r.Attempts, r.NextAttemptAt = max(r.Attempts, o.attempts), latest(r.NextAttemptAt, o.next)
		}
		if d.busy[r.Notifier] {
			// Its sender wakes us when done; until then its rows are its
			// own, even when a reload removed their notifier meanwhile.
			continue
		}
		if _, ok := notifiers[r.Notifier]; !ok {
			key := r.Notifier
			if _, sub := SubscriberID(key); sub {
				key = SubscriberPrefix // one mark for every subscriber's rows
			}
			orphans[key] = append(orphans[key], r.ID)
			continue
		}
		eff := latest(latest(r.DueAt, r.NextAttemptAt), d.holdUntil[r.Notifier])
		if r.IncidentID != 0 {
			// An incident's rows to one notifier go out in order: a resolve
			// must not overtake the trigger that is waiting for a retry.
			k := pair{r.Notifier, r.IncidentID}
			eff = latest(eff, chain[k])
			chain[k] = eff
		}
		byID[r.ID] = r
		pending = append(pending, alert.Pending{ID: r.ID, Notifier: r.Notifier, DueAt: eff, Batchable: r.Batchable})
	}
	groups, due := alert.Batch(pending, now)
	if !due.IsZero() && (next.IsZero() || due.Before(next)) {
		next = due
	}
	work := map[string][][]OutboxRow{}
	var order []string
	for _, g := range groups {
		n := g[0].Notifier
		msg := make([]OutboxRow, len(g))
		for i, p := range g {
			msg[i] = *byID[p.ID]
		}
		if _, ok := work[n]; !ok {
			order = append(order, n)
		}
		work[n] = append(work[n], msg)
	}
	for _, n := range order {
		d.busy[n] = true
	}
	d.mu.Unlock()

	for name, ids := range orphans {
		reason := fmt.Sprintf("notifier %q is no longer configured; not sent", name)
		if name == SubscriberPrefix {
			reason = "status-page subscriptions are off; not sent"
		}
		if err := d.out.MarkFailed(ctx, ids, reason, "", now); err != nil {
			d.log.Error("mark notifications failed", "notifier", name, "rows", len(ids), "err", err)
		} else {
			d.log.Warn("notifications given up: their notifier is no longer configured", "notifier", name, "rows", len(ids))
		}
	}
	for _, n := range order {
		d.wg.Add(1)
		go d.sendAll(ctx, notifiers[n], work[n])
	}
	return next, len(order) > 0, nil
}

// configured reports whether n is still the notifier configured under its
// name: a reload may have removed it or replaced it with a new definition.
func (d *Dispatcher) configured(n Notifier) bool {
	d.mu.Lock()
	cur, ok := d.notifiers[n.Name()]
	resolve := d.resolve
	d.mu.Unlock()
	if !ok && resolve != nil {
		// A resolved channel (a subscriber's): still there while Resolve
		// answers for its name.
		_, ok = resolve(n.Name())
		return ok
	}
	t := reflect.TypeOf(n)
	return ok && t == reflect.TypeOf(cur) && (!t.Comparable() || cur == n)
}

// channelHolder is an outbox shared by several agents, each sending the
// rows of the notifier channels it holds: Holds says whether this one may
// still send on notifier's.
type channelHolder interface {
	Holds(notifier string) bool
}

// sendBounder is an outbox shared by several agents whose channels are
// leases: SendContext returns a context that ends when this agent may no
// longer send on notifier's channel (its lease ran out locally), so that a
// send cut off from the database does not go on after another agent may
// have taken the channel over.
type sendBounder interface {
	SendContext(ctx context.Context, notifier string) (context.Context, context.CancelFunc)
}

// sendAll sends one notifier's messages in order. After a failure worth
// retrying it stops: the receiver is likely down for the others too.
func (d *Dispatcher) sendAll(ctx context.Context, n Notifier, msgs [][]OutboxRow) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		delete(d.busy, n.Name())
		d.mu.Unlock()
		d.Wake()
	}()
	log := d.log.With("notifier", n.Name())
	held, _ := d.out.(channelHolder)
	bound, _ := d.out.(sendBounder)
	for _, rows := range msgs {
		if ctx.Err() != nil {
			return
		}
		if held != nil && !held.Holds(n.Name()) {
			return // the channel moved on: its next holder sends the rest
		}
		if !d.configured(n) {
			return // a reload removed or redefined it: the next round decides
		}
		ids := make([]int64, len(rows))
		attempts := 0
		for i, r := range rows {
			ids[i] = r.ID
			attempts = max(attempts, r.Attempts)
		}
		m := d.Message(rows, d.now())
		lctx, lcancel := ctx, context.CancelFunc(func() {})
		if bound != nil {
			lctx, lcancel = bound.SendContext(ctx, n.Name())
		}
		sctx, cancel := context.WithTimeout(lctx, SendTimeout)
		start := d.now()
		err := n.Send(sctx, m)
		cancel()
		leaseEnded := lctx.Err() != nil && ctx.Err() == nil
		lcancel()
		hideAckLinks(err, m)
		now := d.now()
		switch {
		case err == nil:
			d.observe(n.Name(), "sent")
			if err := d.out.MarkSent(context.WithoutCancel(ctx), ids, now); err != nil {
				d.remember(ids, outcome{kind: "sent", at: now})
				log.Error("notification sent but the database refused to mark it sent; this process will not send it again",
					"rows", len(ids), "err", err)
			} else {
				d.forget(ids)
			}
			log.Info("notification sent", "items", len(m.Items), "summary", Tally(m.Items), "took", now.Sub(start))
		case ctx.Err() != nil:
			return // shutting down: the rows stay queued for the next start
		case leaseEnded:
			// Not a failure of the receiver: this agent may no longer send
			// on the channel. The rows stay pending, unmarked, for the
			// channel's next holder (the same dedup key, should the
			// receiver have taken the message after all).
			log.Warn("notification send cancelled: this agent's lease on the channel ran out; the channel's next holder sends it",
				"items", len(m.Items), "after", now.Sub(start).Round(time.Millisecond), "cause", context.Cause(lctx))
			return
		case Retryable(err):
			d.observe(n.Name(), "retry")
			delay := d.Backoff(attempts)
			if ra := min(RetryAfter(err), MaxRetryAfter); ra > delay {
				delay = ra
			}
			next := now.Add(delay)
			d.mu.Lock()
			d.holdUntil[n.Name()] = next
			d.mu.Unlock()
			if merr := d.out.MarkRetry(context.WithoutCancel(ctx), ids, next, err.Error()); merr != nil {
				d.remember(ids, outcome{kind: "retry", at: now, next: next, attempts: attempts + 1, reason: err.Error()})
				log.Error("record notification retry", "err", merr)
			} else {
				d.forget(ids)
			}
			log.Warn("notification failed, will retry", "items", len(m.Items), "attempt", attempts+1,
				"retry_in", delay.Round(time.Millisecond), "err", err)
			return
		default:
			d.observe(n.Name(), "failed")
			var answer string
			var se *SendError
			if errors.As(err, &se) {
				answer = se.Answer
			}
			if merr := d.out.MarkFailed(context.WithoutCancel(ctx), ids, err.Error(), answer, now); merr != nil {
				d.remember(ids, outcome{kind: "failed", at: now, reason: err.Error(), answer: answer})
				log.Error("record notification failure", "err", merr)
			} else {
				d.forget(ids)
			}
			log.Error("notification refused by the receiver, not retried", "items", len(m.Items), "err", err)
		}
	}
}

// remember keeps o for rows whose outcome the outbox refused, so that this
// process does not send them again, and schedules the next attempt to
// record it.
func (d *Dispatcher) remember(ids []int64, o outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if prev, ok := d.unmarked[id]; ok && prev.kind == "retry" {
			o.attempts = max(o.attempts, prev.attempts+1)
		}
		d.unmarked[id] = o
	}
	if d.markBackoff == 0 {
		d.markBackoff = minMarkBackoff
		d.markAt = d.now().Add(d.markBackoff)
	}
}

// forget drops what remember kept for rows the outbox has now recorded.
func (d *Dispatcher) forget(ids []int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.unmarked) == 0 {
		return
	}
	for _, id := range ids {
		delete(d.unmarked, id)
	}
}

// recordUnmarked writes the outcomes the outbox refused earlier, when their
// time has come: oldest first, one call per kind and time. It backs off
// (doubling, at most maxMarkBackoff) while the outbox still refuses.
func (d *Dispatcher) recordUnmarked(ctx context.Context) {
	d.mu.Lock()
	if len(d.unmarked) == 0 || d.now().Before(d.markAt) {
		d.mu.Unlock()
		return
	}
	type key struct {
		kind, reason, answer string
		at, next             time.Time
	}
	groups := map[key][]int64{}
	for id, o := range d.unmarked {
		if o.kind == "retry" {
			continue // the next attempt records it, or a send does
		}
		k := key{o.kind, o.reason, o.answer, o.at, o.next}
		groups[k] = append(groups[k], id)
	}
	d.mu.Unlock()

	var failed error
	for k, ids := range groups {
		var err error
		if k.kind == "sent" {
			err = d.out.MarkSent(context.WithoutCancel(ctx), ids, k.at)
		} else {
			err = d.out.MarkFailed(context.WithoutCancel(ctx), ids, k.reason, k.answer, k.at)
		}
		if err != nil {
			failed = err
			break
		}
		d.mu.Lock()
		for _, id := range ids {
			delete(d.unmarked, id)
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if failed == nil {
		// Retries left in memory are recorded by their next attempt.
		d.markBackoff, d.markAt = 0, time.Time{}
		return
	}
	d.markBackoff = min(2*d.markBackoff, maxMarkBackoff)
	d.markAt = now.Add(d.markBackoff)
	if now.Sub(d.lastMarkWarn) >= maxMarkBackoff {
		d.lastMarkWarn = now
		d.log.Error("the database still refuses to record notifications; they are kept in memory and not sent again",
			"rows", len(d.unmarked), "retry_in", d.markBackoff, "err", failed)
	}
}

// Backoff is the delay before retrying a message that failed after
// attempts earlier attempts: MinBackoff doubled per attempt, at most
// MaxBackoff, spread ±25% so that many agents do not retry in step.
func (d *Dispatcher) Backoff(attempts int) time.Duration {
	b := d.minB
	for i := 0; i < attempts && b < d.maxB; i++ {
		b *= 2
	}
	b = min(b, d.maxB)
	return time.Duration(float64(b) * (0.75 + 0.5*d.jitter()))
}

// Message builds what one Send delivers for rows. An incident that resolved
// before its batch went out appears once, as resolved (its snapshot carries
// the duration); other events of one incident stay in order.
func (d *Dispatcher) Message(rows []OutboxRow, now time.Time) *Message {
	key := func(it *Item) string {
		if it.Incident.Key != "" {
			return it.Incident.Key
		}
		return strconv.FormatInt(it.Incident.ID, 10) + "/" + it.Check.Name
	}
	resolved := map[string]int{} // key → index of its last resolved row
	for i := range rows {
		if rows[i].Item.Event == alert.DeliverResolved {
			resolved[key(&rows[i].Item)] = i
		}
	}
	items := make([]Item, 0, len(rows))
	done := map[string]bool{}
	for i := range rows {
		it := rows[i].Item
		k := key(&it)
		if j, ok := resolved[k]; ok && j != i {
			if done[k] {
				continue
			}
			it = rows[j].Item
			if it.Note == "" {
				it.Note = fmt.Sprintf("opened and resolved before this notification went out (lasted %s)",
					ui.Approx(it.Incident.Duration(now)))
			}
		} else if ok && done[k] {
			continue
		}
		done[k] = true
		items = append(items, it)
	}
	return &Message{Agent: d.agent, Source: d.source, SentAt: now, Items: items}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// hideAckLinks removes m's ack links from a receiver's answer: a receiver
// that echoes the payload it refused would otherwise put a credential for
// acknowledging the incident into the log and the database (pulse
// incidents). Notifiers redact their own secrets; the links are the
// message's, so they are removed here, once for every notifier.
func hideAckLinks(err error, m *Message) {
	var se *SendError
	if err == nil || !errors.As(err, &se) || se.Answer == "" {
		return
	}
	var links []string
	for _, it := range m.Items {
		if u := it.Incident.AckURL; u != "" {
			links = append(links, u, u[strings.LastIndexByte(u, '/')+1:])
		}
	}
	se.Answer = Redact(se.Answer, links...)
}
