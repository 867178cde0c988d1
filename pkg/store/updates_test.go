package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIncidentUpdates(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id := openIncident(t, s, "api", "P1", t0)
	other := openIncident(t, s, "db", "P2", t0)

	u1, err := s.AddUpdate(ctx, Update{IncidentID: id, At: t0.Add(time.Minute), Status: "investigating",
		Message: "We are looking into <b>errors</b>", Public: true, Author: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUpdate(ctx, Update{IncidentID: id, At: t0.Add(2 * time.Minute), Status: "identified",
		Message: "internal: the db is full", Author: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUpdate(ctx, Update{IncidentID: other, At: t0.Add(3 * time.Minute), Status: "monitoring",
		Message: "other incident", Public: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.IncidentUpdates(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("updates = %+v", got)
	}
	if g := got[0]; g.ID != u1 || g.IncidentID != id || !g.At.Equal(t0.Add(time.Minute)) || g.Status != "investigating" ||
		g.Message != "We are looking into <b>errors</b>" || !g.Public || g.Author != "ann" || g.DedupKey != "" {
		t.Errorf("first update = %+v", g)
	}
	if g := got[1]; g.Status != "identified" || g.Public || g.Author != "bob" {
		t.Errorf("second update = %+v", g)
	}

	// The incident stays open: only "resolved" resolves.
	inc, err := s.Incident(ctx, id)
	if err != nil || inc.Status != StatusOpen || inc.PendingSync {
		t.Fatalf("after updates: %+v, %v", inc, err)
	}

	// Public only, newest first, with the check.
	pub, err := s.PublicUpdates(ctx, t0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != 2 || pub[0].Check != "db" || pub[1].Check != "api" || pub[1].ID != u1 {
		t.Fatalf("PublicUpdates = %+v", pub)
	}
	if pub, _ := s.PublicUpdates(ctx, t0.Add(150*time.Second), 0, nil); len(pub) != 1 || pub[0].Check != "db" {
		t.Fatalf("PublicUpdates since = %+v", pub)
	}
	if pub, _ := s.PublicUpdates(ctx, t0, 1, nil); len(pub) != 1 || pub[0].Check != "db" {
		t.Fatalf("PublicUpdates limit 1 = %+v", pub)
	}
	// The checks shown only, before the limit: db's newer update does not
	// take api's place.
	if pub, _ := s.PublicUpdates(ctx, t0, 1, func(c string) bool { return c == "api" }); len(pub) != 1 || pub[0].ID != u1 {
		t.Fatalf("PublicUpdates of api, limit 1 = %+v", pub)
	}
	m, err := s.UpdatesOf(ctx, []int64{id, other}, true)
	if err != nil || len(m[id]) != 1 || len(m[other]) != 1 || m[id][0].ID != u1 {
		t.Fatalf("UpdatesOf public = %+v, %v", m, err)
	}
}

func TestUpdateResolvesIncident(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id := openIncident(t, s, "api", "P1", t0)
	at := t0.Add(10 * time.Minute)
	if _, err := s.AddUpdate(ctx, Update{IncidentID: id, At: at, Status: "resolved", Message: "fixed", Public: true, Author: "ann"}); err != nil {
		t.Fatal(err)
	}
	inc, err := s.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// As `pulse resolve` leaves it: the agent sends the resolve notifications.
	if inc.Status != StatusResolved || !inc.ResolvedAt.Equal(at) || inc.ResolvedBy != "ann" || !inc.PendingSync {
		t.Fatalf("after a resolved update: %+v", inc)
	}
	tl, err := s.Timeline(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if last := tl[len(tl)-1]; last.Kind != EventResolved || last.Detail != "by hand, by ann" || !last.At.Equal(at) {
		t.Fatalf("timeline = %+v", tl)
	}
	// Another "resolved" update on a resolved incident is only an update.
	submit(t, s, Record{Apply: func(tx Tx) error { return tx.ClearSync(id) }})
	if _, err := s.AddUpdate(ctx, Update{IncidentID: id, At: at.Add(time.Hour), Status: "resolved", Message: "root cause found", Author: "bob"}); err != nil {
		t.Fatal(err)
	}
	inc, _ = s.Incident(ctx, id)
	if !inc.ResolvedAt.Equal(at) || inc.ResolvedBy != "ann" || inc.PendingSync {
		t.Fatalf("a second resolved update changed the incident: %+v", inc)
	}
	if tl2, _ := s.Timeline(ctx, id); len(tl2) != len(tl) {
		t.Fatalf("timeline grew: %+v", tl2)
	}
	if ups, _ := s.IncidentUpdates(ctx, id); len(ups) != 2 {
		t.Fatalf("updates = %+v", ups)
	}
}

func TestAddUpdateRefuses(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id := openIncident(t, s, "api", "P1", t0)
	tests := []struct {
		name string
		u    Update
		want string
	}{
		{"unknown incident", Update{IncidentID: 99, Status: "investigating", Message: "x"}, "incident #99: not found"},
		{"bad status", Update{IncidentID: id, Status: "fixed", Message: "x"}, `status "fixed": want investigating, identified, monitoring, resolved`},
		{"scheduled on an incident", Update{IncidentID: id, Status: "scheduled", Message: "x"}, `status "scheduled"`},
		{"incident status on an announcement", Update{Status: "resolved", Message: "x"}, `an announcement of maintenance has status "scheduled"`},
		{"empty message", Update{IncidentID: id, Status: "monitoring", Message: "  \n"}, "empty message"},
		{"huge message", Update{IncidentID: id, Status: "monitoring", Message: strings.Repeat("x", MaxUpdateMessage+1)}, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AddUpdate(ctx, tc.u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := s.AddUpdate(ctx, Update{IncidentID: 99, Status: "investigating", Message: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown incident: %v, want ErrNotFound", err)
	}
	if n := count(t, s, `SELECT count(*) FROM incident_updates`); n != 0 {
		t.Fatalf("%d updates stored", n)
	}
	if _, err := s.IncidentUpdates(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("IncidentUpdates(99): %v", err)
	}
}

func TestAnnounceMaintenance(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	u := Update{At: t0, Message: "DB upgrade", Public: true, Author: "pulse", DedupKey: "maintenance:abc:2026-03-02T03:00:00Z"}
	id, isNew, err := s.AnnounceMaintenance(ctx, u)
	if err != nil || !isNew || id == 0 {
		t.Fatalf("first: %d %v %v", id, isNew, err)
	}
	// A second agent, or the same after a restart: written once.
	id2, isNew, err := s.AnnounceMaintenance(ctx, u)
	if err != nil || isNew || id2 != id {
		t.Fatalf("second: %d %v %v", id2, isNew, err)
	}
	if _, err := s.AddUpdate(ctx, Update{Status: "scheduled", Message: "again", DedupKey: u.DedupKey}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("AddUpdate with the same key: %v", err)
	}
	if _, _, err := s.AnnounceMaintenance(ctx, Update{Message: "x"}); err == nil {
		t.Fatal("announcement without a key accepted")
	}
	// Offered again every minute while due: no id used up by it (on
	// PostgreSQL an INSERT that conflicts takes an identity value).
	next, err := s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: "next"})
	if err != nil || next != id+1 {
		t.Fatalf("the update after the repeats: id %d %v, want %d", next, err, id+1)
	}
	pub, err := s.PublicUpdates(ctx, t0.Add(-time.Hour), 0, nil)
	if err != nil || len(pub) != 1 {
		t.Fatalf("PublicUpdates = %+v, %v", pub, err)
	}
	if p := pub[0]; p.IncidentID != 0 || p.Check != "" || p.Status != "scheduled" || p.DedupKey != u.DedupKey || p.Message != "DB upgrade" {
		t.Fatalf("announcement = %+v", p)
	}
}

func TestPostmortems(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id := openIncident(t, s, "api", "P1", t0)
	if _, err := s.Postmortem(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Postmortem before one is written: %v", err)
	}
	pm, err := s.SetPostmortem(ctx, id, "# Root cause\n\n<script>x</script>", "ann", false)
	if err != nil {
		t.Fatal(err)
	}
	if !pm.WrittenAt.Equal(t0) {
		t.Errorf("WrittenAt = %v", pm.WrittenAt)
	}
	got, err := s.Postmortem(ctx, id)
	if err != nil || got.Body != "# Root cause\n\n<script>x</script>" || got.Author != "ann" || got.Public || !got.WrittenAt.Equal(t0) {
		t.Fatalf("Postmortem = %+v, %v", got, err)
	}
	if m, _ := s.Postmortems(ctx, []int64{id}, true); len(m) != 0 {
		t.Fatalf("a private postmortem is public: %+v", m)
	}
	// Rewritten, now public.
	if _, err := s.SetPostmortem(ctx, id, "v2", "bob", true); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Postmortems(ctx, []int64{id}, true); m[id].Body != "v2" || m[id].Author != "bob" || !m[id].Public {
		t.Fatalf("Postmortems = %+v", m)
	}
	if _, err := s.SetPostmortem(ctx, 99, "x", "ann", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown incident: %v", err)
	}
	if _, err := s.SetPostmortem(ctx, id, " \n", "ann", true); err == nil {
		t.Fatal("empty postmortem accepted")
	}

	w, err := s.PostmortemsWritten(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil || len(w) != 1 || w[0].Check != "api" || w[0].Severity != "P1" || w[0].Body != "v2" {
		t.Fatalf("PostmortemsWritten = %+v, %v", w, err)
	}
	if w, _ := s.PostmortemsWritten(ctx, t0.Add(time.Second), t0.Add(time.Hour)); len(w) != 0 {
		t.Fatalf("PostmortemsWritten after = %+v", w)
	}
	if w, _ := s.PostmortemsWritten(ctx, t0.Add(-time.Hour), t0); len(w) != 0 {
		t.Fatalf("PostmortemsWritten [from, to) includes to: %+v", w)
	}
}

func TestPastIncidents(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	old := openIncident(t, s, "api", "P1", t0.Add(-100*24*time.Hour))
	a := openIncident(t, s, "api", "P1", t0.Add(-48*time.Hour))
	b := openIncident(t, s, "db", "P2", t0.Add(-24*time.Hour))
	open := openIncident(t, s, "web", "P2", t0.Add(-time.Hour))
	for _, id := range []int64{old, a, b} {
		if _, err := s.Resolve(ctx, id, "ann", t0.Add(-time.Duration(id)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	add := func(id int64, public bool, msg string) {
		if _, err := s.AddUpdate(ctx, Update{IncidentID: id, At: t0.Add(-time.Hour), Status: "monitoring", Message: msg, Public: public}); err != nil {
			t.Fatal(err)
		}
	}
	add(a, true, "a public")
	add(a, false, "a private")
	add(b, true, "b public")
	add(open, true, "open public")
	if _, err := s.SetPostmortem(ctx, a, "a pm", "ann", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPostmortem(ctx, b, "b pm", "ann", false); err != nil {
		t.Fatal(err)
	}
	past, more, err := s.PastIncidents(ctx, t0.Add(-90*24*time.Hour), 0, nil)
	if err != nil || more != 0 {
		t.Fatal(more, err)
	}
	if len(past) != 2 || past[0].ID != b || past[1].ID != a {
		t.Fatalf("PastIncidents = %+v", past)
	}
	if len(past[1].Updates) != 1 || past[1].Updates[0].Message != "a public" || past[1].Postmortem == nil || past[1].Postmortem.Body != "a pm" {
		t.Errorf("incident a = %+v", past[1])
	}
	if len(past[0].Updates) != 1 || past[0].Postmortem != nil {
		t.Errorf("incident b (private postmortem) = %+v", past[0])
	}
	if past, more, _ := s.PastIncidents(ctx, t0.Add(-90*24*time.Hour), 1, nil); len(past) != 1 || past[0].ID != b || more != 1 {
		t.Fatalf("limit 1 = %+v, %d more", past, more)
	}
	// Of the checks shown only: the newer incident of a hidden check
	// neither takes the place nor counts.
	onlyAPI := func(check string) bool { return check == "api" }
	if past, more, _ := s.PastIncidents(ctx, t0.Add(-90*24*time.Hour), 1, onlyAPI); len(past) != 1 || past[0].ID != a || more != 0 {
		t.Fatalf("api only, limit 1 = %+v, %d more", past, more)
	}
}
