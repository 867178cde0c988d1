package alert_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
)

func row(id int64, notifier string, due time.Duration, batchable bool) alert.Pending {
	return alert.Pending{ID: id, Notifier: notifier, DueAt: t0.Add(due), Batchable: batchable}
}

func ids(send [][]alert.Pending) [][]int64 {
	var out [][]int64
	for _, msg := range send {
		var m []int64
		for _, r := range msg {
			m = append(m, r.ID)
		}
		out = append(out, m)
	}
	return out
}

func TestBatch(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name    string
		pending []alert.Pending
		now     time.Duration
		send    [][]int64
		next    time.Duration // -1: zero time
	}{
		{"nothing pending", nil, 0, nil, -1},
		{"three P2 openings 2m apart: nothing before the first deadline",
			[]alert.Pending{row(1, "ops", 15*m, true), row(2, "ops", 17*m, true), row(3, "ops", 19*m, true)},
			15*m - time.Second, nil, 15 * m},
		{"three P2 openings 2m apart: one message at the first deadline",
			[]alert.Pending{row(3, "ops", 19*m, true), row(1, "ops", 15*m, true), row(2, "ops", 17*m, true)},
			15 * m, [][]int64{{1, 2, 3}}, -1},
		{"a deadline past the window waits for its own",
			[]alert.Pending{row(1, "ops", 15*m, true), row(2, "ops", 20*m, true), row(3, "ops", 21*m, true)},
			15 * m, [][]int64{{1}}, 20 * m},
		{"0s rows are never batched",
			[]alert.Pending{row(1, "oncall", 0, false), row(2, "oncall", 0, false), row(3, "oncall", 0, false)},
			0, [][]int64{{1}, {2}, {3}}, -1},
		{"0s rows alone even beside a due batch",
			[]alert.Pending{row(1, "ops", 0, false), row(2, "ops", 0, true), row(3, "ops", 2*m, true), row(4, "ops", 3*m, false)},
			0, [][]int64{{1}, {2, 3}}, 3 * m},
		{"per notifier: each channel has its own earliest deadline",
			[]alert.Pending{row(1, "team", 15*m, true), row(2, "ops", 10*m, true), row(3, "ops", 12*m, true), row(4, "team", 13*m, true)},
			12 * m, [][]int64{{2, 3}}, 13 * m},
		{"later: team's earliest arrived",
			[]alert.Pending{row(1, "team", 15*m, true), row(4, "team", 14*m, true)},
			15 * m, [][]int64{{4, 1}}, -1},
		{"overdue rows after downtime go out together",
			[]alert.Pending{row(1, "ops", 0, true), row(2, "ops", time.Hour, true), row(3, "ops", 3*time.Hour, true), row(4, "ops", 3*time.Hour+4*m, true)},
			3 * time.Hour, [][]int64{{1, 2, 3, 4}}, -1},
		{"future 0s row (ack not yet due) only sets next",
			[]alert.Pending{row(1, "oncall", 2*m, false)},
			0, nil, 2 * m},
		{"equal deadlines ordered by id",
			[]alert.Pending{row(9, "ops", m, true), row(4, "ops", m, true)},
			m, [][]int64{{4, 9}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.pending)
			send, next := alert.Batch(tt.pending, t0.Add(tt.now))
			if got := ids(send); !slices.EqualFunc(got, tt.send, slices.Equal) {
				t.Errorf("send = %v, want %v", got, tt.send)
			}
			wantNext := time.Time{}
			if tt.next >= 0 {
				wantNext = t0.Add(tt.next)
			}
			if !next.Equal(wantNext) {
				t.Errorf("next = %v, want %v", next, wantNext)
			}
			if !slices.Equal(in, tt.pending) {
				t.Error("Batch reordered its input")
			}
			for _, msg := range send {
				for _, r := range msg {
					if r.Notifier != msg[0].Notifier {
						t.Errorf("message mixes notifiers: %+v", msg)
					}
				}
			}
		})
	}
}

// TestPipeline runs the pure path end to end, as the agent and dispatcher
// will: results → Evaluate → Deliveries → outbox rows → Batch.
func TestPipeline(t *testing.T) {
	cfg := &config.Config{Notifiers: notifiers("oncall", "ops")}
	plan := alert.NewPlan(cfg)
	p2 := alert.PolicyFor(&config.Check{Severity: "P2", FailAfter: 2, RecoverAfter: 2}, cfg.Agent)
	p1 := alert.PolicyFor(&config.Check{Severity: "P1", FailAfter: 2, RecoverAfter: 2}, cfg.Agent)

	type check struct {
		name      string
		p         alert.Policy
		failsFrom time.Duration
		state     alert.CheckState
		inc       alert.IncidentInfo
	}
	cs := []*check{
		{name: "a", p: p2, failsFrom: 0},
		{name: "b", p: p2, failsFrom: 2 * time.Minute},
		{name: "c", p: p2, failsFrom: 4 * time.Minute},
		{name: "db", p: p1, failsFrom: 10 * time.Minute},
	}
	var outbox []alert.Pending
	var nextID int64
	for now := time.Duration(0); now <= 30*time.Minute; now += time.Minute {
		for i, c := range cs {
			st := checks.OK
			if now >= c.failsFrom {
				st = checks.Crit
			}
			if c.name == "c" && now >= 12*time.Minute {
				st = checks.OK // c recovers before its batch leaves
			}
			next, evs := alert.Evaluate(c.state, checks.Result{Check: c.name, State: st}, c.p, t0.Add(now))
			for _, ev := range evs {
				if ev.Kind == alert.Opened {
					next.SetIncident(int64(i + 1))
					c.inc = alert.IncidentInfo{ID: int64(i + 1), Check: c.name, Severity: ev.Severity, OpenedAt: ev.At}
				}
				ds := alert.Deliveries(ev, c.inc, plan.For(ev.Severity), t0.Add(now))
				for _, x := range ds {
					nextID++
					outbox = append(outbox, alert.Pending{ID: nextID, Notifier: x.Notifier, DueAt: x.DueAt, Batchable: x.Batchable})
				}
				c.inc.Record(ds)
			}
			c.state = next
		}
	}
	// Rows: a opened at 1m (due 16m), b at 3m (18m), c at 5m (20m), c resolved
	// at 13m (due with its opening, 20m), db (P1) at 11m (at once); each to
	// oncall and ops.
	if len(outbox) != 10 {
		t.Fatalf("outbox has %d rows, want 10: %+v", len(outbox), outbox)
	}
	send, next := alert.Batch(outbox, t0.Add(11*time.Minute))
	if got := ids(send); !slices.EqualFunc(got, [][]int64{{7}, {8}}, slices.Equal) {
		t.Errorf("at 11m: send %v, want the P1 rows alone", got)
	}
	if !next.Equal(t0.Add(16 * time.Minute)) {
		t.Errorf("at 11m: next = %v, want the first P2 deadline", next)
	}
	outbox = slices.DeleteFunc(outbox, func(r alert.Pending) bool { return r.ID == 7 || r.ID == 8 })
	send, next = alert.Batch(outbox, next)
	if got := ids(send); !slices.EqualFunc(got, [][]int64{{1, 3, 5, 9}, {2, 4, 6, 10}}, slices.Equal) {
		t.Errorf("at 16m: send %v, want one message per notifier with a, b, c and c's resolve", got)
	}
	if !next.IsZero() {
		t.Errorf("at 16m: next = %v, want nothing left", next)
	}
}
