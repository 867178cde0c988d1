package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// storageMix writes what a fleet of HTTP checks writes: 1-minute interval,
// latencies of a few ms, 1 % crit with a repeated message, a value on a
// quarter of the checks.
func storageBytes(t testing.TB, nChecks, perCheck int) (perResult float64, rollupRows int64) {
	sqliteOnly(t, "bytes on disk")
	s := openTest(t, filepath.Join(t.TempDir(), "pulse.db"), Options{})
	fill(t, s, nChecks, perCheck, t0, time.Minute)
	if err := s.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	size, err := s.Size()
	if err != nil {
		t.Fatal(err)
	}
	return float64(size) / float64(nChecks*perCheck), count(t, s, `SELECT count(*) FROM rollups`)
}

// TestStorageBytesPerResult holds issue 7's goal 4: at most 48 bytes on disk
// per stored result, WAL checkpointed, rollups included.
func TestStorageBytesPerResult(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 60,000 results")
	}
	per, rollups := storageBytes(t, 200, 300)
	t.Logf("%.1f bytes per result (%d rollup rows)", per, rollups)
	if per > 48 {
		t.Errorf("%.1f bytes per stored result, goal is at most 48", per)
	}
}

// BenchmarkWriteResults measures the writer: Submit to on-disk, 1,000
// checks. Run with e.g. -benchtime=200000x for a meaningful bytes/result.
func BenchmarkWriteResults(b *testing.B) {
	s := openTest(b, testTarget(b), Options{})
	s.Start(context.Background())
	const nChecks = 1000
	names := make([]string, nChecks)
	for i := range names {
		names[i] = fmt.Sprintf("check-%04d", i)
	}
	r := checks.Result{State: checks.OK, Duration: 3 * time.Millisecond, Message: "200 OK"}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		r.Check = names[i%nChecks]
		r.Start = t0.Add(time.Duration(i/nChecks)*time.Minute + time.Duration(i%nChecks)*time.Millisecond)
		r.Duration = time.Duration(2000+i%3000) * time.Microsecond
		if err := s.Submit(Record{Result: r}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "results/s")
	if err := s.Checkpoint(context.Background()); err != nil {
		b.Fatal(err)
	}
	size, err := s.Size()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/float64(b.N), "bytes/result")
}

// BenchmarkRollupUpdate measures one rollup upsert with its histogram merge
// (the SQL function), as the writer does it for each check of a batch.
func BenchmarkRollupUpdate(b *testing.B) {
	s := openTest(b, testTarget(b), Options{})
	ctx := context.Background()
	w := s.wr
	const batch = 500
	var a Rollup
	for i := range 20 {
		a.Add(checks.State(i%4), time.Duration(1000+i*137)*time.Microsecond)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st := s.stmts.inTx(ctx, tx)
		w.rolls = w.rolls[:0]
		for c := range min(batch, b.N-i) {
			w.rolls = append(w.rolls, rollAcc{key: rollKey{int64(c), 490_000}, r: a})
		}
		if err := w.aggregates(ctx, tx, &st); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
