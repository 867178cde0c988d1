package store

import (
	"context"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

func TestPruneByAge(t *testing.T) {
	s, _ := newStore(t)
	s.pruneChunk = 100 // several DELETE statements per check
	ctx := context.Background()
	const every = 30 * time.Minute
	fill(t, s, 3, 40*48, t0.Add(-40*24*time.Hour), every) // 40 days
	ancient := result("check-000", t0.Add(-450*24*time.Hour), checks.Crit, time.Second)
	ancient.Message = "ancient failure"
	recent := result("check-000", t0.Add(-time.Hour+time.Second), checks.Crit, time.Second)
	recent.Message = "recent failure"
	submit(t, s, Record{Result: ancient}, Record{Result: recent})

	if _, err := s.CompactRollups(ctx, t0); err != nil { // the ancient day gets a daily row
		t.Fatal(err)
	}
	dailyBefore := count(t, s, `SELECT count(*) FROM rollups_daily`)
	cut := t0.Add(-30 * 24 * time.Hour)
	wantGone := count(t, s, `SELECT count(*) FROM results WHERE ts < ?`, msOf(cut))
	wantKept := count(t, s, `SELECT count(*) FROM results WHERE ts >= ?`, msOf(cut))
	rollupsBefore := count(t, s, `SELECT count(*) FROM rollups`)

	st, err := s.Prune(ctx, t0, 30*24*time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Results != wantGone || st.BySize != 0 {
		t.Errorf("Prune deleted %d results (%d by size), want %d by age", st.Results, st.BySize, wantGone)
	}
	if n := count(t, s, `SELECT count(*) FROM results`); n != wantKept {
		t.Errorf("%d results left, want %d", n, wantKept)
	}
	if n := count(t, s, `SELECT count(*) FROM results WHERE ts < ?`, msOf(cut)); n != 0 {
		t.Errorf("%d results older than the retention left", n)
	}
	if st.Rollups != 2 || count(t, s, `SELECT count(*) FROM rollups`) != rollupsBefore-1 ||
		count(t, s, `SELECT count(*) FROM rollups_daily`) != dailyBefore-1 {
		t.Errorf("Prune deleted %d rollups, want only the 450-day-old hour and day", st.Rollups)
	}
	if n := count(t, s, `SELECT count(*) FROM messages WHERE text = 'ancient failure'`); n != 0 {
		t.Error("a message no result uses was kept")
	}
	for _, m := range []string{"recent failure", "status 503, expected 200"} {
		if n := count(t, s, `SELECT count(*) FROM messages WHERE text = ?`, m); n != 1 {
			t.Errorf("message %q in use was pruned", m)
		}
	}
	got, err := s.Results(ctx, "check-000", recent.Start, recent.Start.Add(time.Millisecond), 0)
	if err != nil || len(got) != 1 || got[0].Message != "recent failure" {
		t.Errorf("recent result after prune: %v, %v", got, err)
	}
	if !onPostgres { // PostgreSQL keeps freed space for reuse
		if free := pragma(t, s.w, "freelist_count"); free != "0" {
			t.Errorf("freelist_count %s after prune, want the space reclaimed", free)
		}
		if st.FreedSize <= 0 {
			t.Errorf("Prune freed %d bytes", st.FreedSize)
		}
	}
	again, err := s.Prune(ctx, t0, 30*24*time.Hour, 0)
	if err != nil || again.Results != 0 || again.Rollups != 0 {
		t.Errorf("second Prune = %+v, %v; want nothing to do", again, err)
	}
}

func TestPruneBySize(t *testing.T) {
	sqliteOnly(t, "the file shrinks; PostgreSQL keeps freed space for reuse")
	s, _ := newStore(t)
	ctx := context.Background()
	const nChecks, perCheck = 20, 3000
	start := t0.Add(-perCheck * time.Minute)
	fill(t, s, nChecks, perCheck, start, time.Minute)
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	full, err := s.Size()
	if err != nil {
		t.Fatal(err)
	}
	limit := full / 2
	st, err := s.Prune(ctx, t0, 0, limit)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size > limit {
		t.Errorf("size after Prune %d > max %d (was %d)", st.Size, limit, full)
	}
	left := count(t, s, `SELECT count(*) FROM results`)
	if st.BySize != st.Results || left+st.Results != nChecks*perCheck {
		t.Errorf("stats %+v with %d left, want %d in all", st, left, nChecks*perCheck)
	}
	// Not more than about 40 % should go: the step is estimated, not doubled blindly.
	if left < nChecks*perCheck/3 || left == nChecks*perCheck {
		t.Errorf("%d of %d results left", left, nChecks*perCheck)
	}
	// The oldest went first, from every check alike.
	var lo, hi int64
	if err := s.r.QueryRow(`SELECT min(m), max(m) FROM (SELECT min(ts) AS m FROM results GROUP BY check_id)`).Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	if hi-lo > time.Minute.Milliseconds() {
		t.Errorf("oldest results kept differ by %v between checks", time.Duration(hi-lo)*time.Millisecond)
	}
	if n := count(t, s, `SELECT sum(runs) FROM rollups`); n != nChecks*perCheck {
		t.Errorf("rollups count %d runs after a size prune, want them all (%d)", n, nChecks*perCheck)
	}
	last, err := s.LastResults(ctx)
	if err != nil || len(last) != nChecks {
		t.Errorf("LastResults after prune: %d checks, %v", len(last), err)
	}
}
