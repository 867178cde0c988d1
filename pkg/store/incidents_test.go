package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// openIncident inserts an incident with a timeline line through the writer,
// as the agent does, and returns its id.
func openIncident(t *testing.T, s *Store, check, sev string, at time.Time) int64 {
	t.Helper()
	var id int64
	v := 503.0
	submit(t, s, Record{Apply: func(tx Tx) error {
		var err error
		id, err = tx.InsertIncident(&Incident{Check: check, Type: "http", Severity: sev, State: "crit",
			Message: "status 503", Value: &v, OpenedAt: at, Escalation: []byte(`{"Told":["ops"]}`)})
		if err != nil {
			return err
		}
		return tx.AddEvent(id, at, EventOpened, sev+" crit: status 503")
	}})
	return id
}

func TestIncidentRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id1 := openIncident(t, s, "api", "P1", t0)
	id2 := openIncident(t, s, "db", "P2", t0.Add(time.Hour))
	if id1 != 1 || id2 != 2 {
		t.Fatalf("ids = %d, %d; want short ids 1, 2", id1, id2)
	}
	got, err := s.Incident(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Check != "api" || got.Type != "http" || got.Severity != "P1" || got.State != "crit" || got.Status != StatusOpen ||
		got.Message != "status 503" || got.Value == nil || *got.Value != 503 || !got.OpenedAt.Equal(t0) ||
		!got.AckedAt.IsZero() || !got.ResolvedAt.IsZero() || string(got.Escalation) != `{"Told":["ops"]}` {
		t.Fatalf("Incident = %+v", got)
	}

	tests := []struct {
		name   string
		filter IncidentFilter
		want   []int64
	}{
		{"all newest first", IncidentFilter{}, []int64{2, 1}},
		{"severity", IncidentFilter{Severity: "P1"}, []int64{1}},
		{"since", IncidentFilter{Since: t0.Add(30 * time.Minute)}, []int64{2}},
		{"limit", IncidentFilter{Limit: 1}, []int64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.Incidents(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, inc := range list {
				ids = append(ids, inc.ID)
			}
			if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) {
				t.Fatalf("ids = %v, want %v", ids, tc.want)
			}
		})
	}

	// An update in the writer's transaction, as a recovery does.
	submit(t, s, Record{Apply: func(tx Tx) error {
		inc, err := tx.Incident(id2)
		if err != nil {
			return err
		}
		cur, ok, err := tx.CurrentIncident("db")
		if err != nil || !ok || cur.ID != id2 {
			t.Errorf("CurrentIncident = %d %v %v", cur.ID, ok, err)
		}
		inc.Status, inc.ResolvedAt = StatusResolved, t0.Add(2*time.Hour)
		if err := tx.UpdateIncident(&inc); err != nil {
			return err
		}
		return tx.AddEvent(id2, inc.ResolvedAt, EventResolved, "recovered")
	}})
	open, err := s.OpenIncidents(ctx)
	if err != nil || len(open) != 1 || open[0].ID != id1 {
		t.Fatalf("OpenIncidents = %v, %v; want #1 only", open, err)
	}
	onlyOpen, _ := s.Incidents(ctx, IncidentFilter{Open: true})
	if len(onlyOpen) != 1 || onlyOpen[0].ID != id1 {
		t.Fatalf("Incidents(Open) = %+v", onlyOpen)
	}
	db, _ := s.Incident(ctx, id2)
	if d := db.Duration(t0.Add(99 * time.Hour)); d != time.Hour {
		t.Fatalf("resolved duration = %v, want 1h", d)
	}
	tl, err := s.Timeline(ctx, id2)
	if err != nil || len(tl) != 2 || tl[0].Kind != EventOpened || tl[1].Kind != EventResolved || tl[1].Detail != "recovered" {
		t.Fatalf("Timeline = %+v, %v", tl, err)
	}
	if _, err := s.Timeline(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Timeline(99) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Incident(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Incident(99) err = %v, want ErrNotFound", err)
	}
}

func TestAckAndResolveFromAnotherProcess(t *testing.T) {
	agent, path := newStore(t)
	ctx := context.Background()
	id := openIncident(t, agent, "api", "P1", t0)
	// The CLI opens the same file separately, as `pulse ack` does.
	cli := openTest(t, path, Options{})

	tests := []struct {
		name    string
		do      func() (Incident, error)
		wantErr error
	}{
		{"ack unknown", func() (Incident, error) { return cli.Ack(ctx, 42, "ann", "", t0) }, ErrNotFound},
		{"ack", func() (Incident, error) { return cli.Ack(ctx, id, "ann", "looking", t0.Add(time.Minute)) }, nil},
		{"ack twice", func() (Incident, error) { return cli.Ack(ctx, id, "bob", "", t0.Add(2*time.Minute)) }, ErrAcknowledged},
		{"resolve unknown", func() (Incident, error) { return cli.Resolve(ctx, 42, "ann", t0) }, ErrNotFound},
		{"resolve", func() (Incident, error) { return cli.Resolve(ctx, id, "ann", t0.Add(3*time.Minute)) }, nil},
		{"resolve twice", func() (Incident, error) { return cli.Resolve(ctx, id, "ann", t0.Add(4*time.Minute)) }, ErrResolved},
		{"ack resolved", func() (Incident, error) { return cli.Ack(ctx, id, "ann", "", t0.Add(5*time.Minute)) }, ErrResolved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.do()
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	inc, err := agent.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Status != StatusResolved || inc.AckedBy != "ann" || inc.AckNote != "looking" || !inc.AckedAt.Equal(t0.Add(time.Minute)) ||
		inc.ResolvedBy != "ann" || !inc.ResolvedAt.Equal(t0.Add(3*time.Minute)) || !inc.PendingSync {
		t.Fatalf("after ack and resolve: %+v", inc)
	}
	if names, err := agent.PendingSyncChecks(ctx); err != nil || len(names) != 1 {
		t.Fatalf("PendingSyncChecks = %v, %v; want one check", names, err)
	}
	submit(t, agent, Record{Apply: func(tx Tx) error {
		syncs, err := tx.PendingSync()
		if err != nil || len(syncs) != 1 || syncs[0].ID != id {
			t.Errorf("PendingSync = %v, %v", syncs, err)
		}
		return tx.ClearSync(id)
	}})
	if names, _ := agent.PendingSyncChecks(ctx); len(names) != 0 {
		t.Fatal("PendingSyncChecks still has checks after ClearSync")
	}
	tl, _ := agent.Timeline(ctx, id)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 3 || kinds[1] != EventAcknowledged || kinds[2] != EventResolved || tl[1].Detail != "by ann: looking" {
		t.Fatalf("timeline = %+v", tl)
	}
}

func TestOutbox(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id := openIncident(t, s, "api", "P2", t0)
	item := func(event string) notify.Item {
		return notify.Item{Event: event, At: t0, Incident: notify.Incident{ID: id, Key: "agent-1", Severity: "P2"},
			Check: notify.Check{Name: "api", Type: "http"}}
	}
	var rows [4]int64
	submit(t, s, Record{Apply: func(tx Tx) error {
		for i, e := range []OutboxEntry{
			{Notifier: "ops", IncidentID: id, Item: item("opened"), DueAt: t0.Add(15 * time.Minute), Batchable: true},
			{Notifier: "oncall", IncidentID: id, Item: item("opened"), DueAt: t0},
			{Notifier: "hook", IncidentID: id, Item: item("opened"), DueAt: t0},
			{Notifier: "ops", Item: item("flapping"), DueAt: t0},
		} {
			var err error
			if rows[i], err = tx.Enqueue(e); err != nil {
				return err
			}
		}
		return nil
	}})
	pending, err := s.PendingOutbox(ctx)
	if err != nil || len(pending) != 4 {
		t.Fatalf("PendingOutbox = %d rows, %v", len(pending), err)
	}
	p := pending[0]
	if p.ID != rows[0] || p.Notifier != "ops" || p.IncidentID != id || p.Event != "opened" || !p.Batchable ||
		!p.DueAt.Equal(t0.Add(15*time.Minute)) || p.Attempts != 0 || !p.NextAttemptAt.IsZero() ||
		p.Item.Incident.Key != "agent-1" || p.Item.Check.Type != "http" {
		t.Fatalf("row = %+v", p)
	}
	if pending[3].IncidentID != 0 {
		t.Fatalf("row without incident has IncidentID %d", pending[3].IncidentID)
	}

	if err := s.MarkRetry(ctx, []int64{rows[1]}, t0.Add(5*time.Second), "receiver answered 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, []int64{rows[1]}, t0.Add(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, []int64{rows[2]}, "receiver answered 400", "invalid routing key", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	submit(t, s, Record{Apply: func(tx Tx) error {
		n, err := tx.Supersede("ops", id, "opened", "raised")
		if n != 1 {
			t.Errorf("SupersedeTx retired %d rows, want 1", n)
		}
		return err
	}})
	pending, _ = s.PendingOutbox(ctx)
	if len(pending) != 1 || pending[0].ID != rows[3] {
		t.Fatalf("pending after marks = %+v", pending)
	}
	if n, _ := s.OutboxPending(ctx); n != 1 {
		t.Fatalf("OutboxPending = %d", n)
	}
	inc, _ := s.Incident(ctx, id)
	if inc.Sent != 1 || inc.Failed != 1 {
		t.Fatalf("sent/failed = %d/%d, want 1/1", inc.Sent, inc.Failed)
	}
	notes, err := s.IncidentNotifications(ctx, id)
	if err != nil || len(notes) != 3 {
		t.Fatalf("IncidentNotifications = %+v, %v", notes, err)
	}
	if n := notes[1]; n.Status != OutboxSent || n.Attempts != 2 || !n.SentAt.Equal(t0.Add(6*time.Second)) || n.LastError != "" {
		t.Fatalf("sent row = %+v", n)
	}
	if n := notes[2]; n.Status != OutboxFailed || n.Answer != "invalid routing key" || n.LastError != "receiver answered 400" {
		t.Fatalf("failed row = %+v", n)
	}
	tl, _ := s.Timeline(ctx, id)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind+" "+e.Detail)
	}
	want := []string{"opened P2 crit: status 503", "notify_failed opened → hook: receiver answered 400", "notified opened → oncall"}
	if len(kinds) != len(want) {
		t.Fatalf("timeline = %q, want %q", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("timeline = %q, want %q", kinds, want)
		}
	}
	if sent, failed, err := s.NotificationCounts(ctx); err != nil || sent != 1 || failed != 1 {
		t.Fatalf("NotificationCounts = %d, %d, %v", sent, failed, err)
	}
}

func TestSilencesAndMeta(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	id, err := s.AddSilence(ctx, Silence{Pattern: "api-*", Until: t0.Add(time.Hour), Reason: "deploy", CreatedBy: "ann", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddSilence(ctx, Silence{Pattern: "tag:db", Until: t0.Add(time.Minute), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Time
		want int
	}{{t0, 2}, {t0.Add(time.Minute), 1}, {t0.Add(time.Hour), 0}}
	for _, tc := range tests {
		t.Run(tc.at.Format("15:04"), func(t *testing.T) {
			got, err := s.Silences(ctx, tc.at)
			if err != nil || len(got) != tc.want {
				t.Fatalf("Silences = %+v, %v; want %d", got, err, tc.want)
			}
		})
	}
	got, _ := s.Silences(ctx, t0)
	if g := got[0]; g.ID != id || g.Pattern != "api-*" || !g.Until.Equal(t0.Add(time.Hour)) || g.Reason != "deploy" || g.CreatedBy != "ann" {
		t.Fatalf("silence = %+v", g)
	}
	if err := s.RemoveSilence(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSilence(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second RemoveSilence err = %v", err)
	}

	if _, ok, err := s.GetMeta(ctx, "daily"); ok || err != nil {
		t.Fatalf("GetMeta of unset key = %v, %v", ok, err)
	}
	for _, v := range []string{"2026-03-01", "2026-03-02"} {
		if err := s.SetMeta(ctx, "daily", v); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	ro := openTest(t, path, Options{ReadOnly: true})
	if v, ok, err := ro.GetMeta(ctx, "daily"); v != "2026-03-02" || !ok || err != nil {
		t.Fatalf("GetMeta after reopen = %q %v %v", v, ok, err)
	}
	if _, err := ro.Ack(ctx, 1, "x", "", t0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Ack on read-only store err = %v", err)
	}
}

func TestTxSaveState(t *testing.T) {
	s, path := newStore(t)
	submit(t, s, Record{Apply: func(tx Tx) error { return tx.SaveState("api", []byte(`{"state":"crit"}`)) }})
	s.Close()
	s2 := openTest(t, path, Options{})
	states, err := s2.LoadStates(context.Background())
	if err != nil || string(states["api"]) != `{"state":"crit"}` {
		t.Fatalf("LoadStates = %q, %v", states, err)
	}
}

// The timeline words are on disk (incident_events.kind), several defined by
// pkg/alert: they must not change.
func TestTimelineWords(t *testing.T) {
	for got, want := range map[string]string{
		EventOpened: "opened", EventRaised: "raised", EventAcknowledged: "acknowledged", EventEscalated: "escalated",
		EventReminded: "reminded", EventResolved: "resolved", EventSilenced: "silenced", EventFlapping: "flapping",
	} {
		if got != want {
			t.Errorf("timeline word %q, want %q", got, want)
		}
	}
}
