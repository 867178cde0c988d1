package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/cron"
)

// BenchmarkNext is the next-run computation of one job: an interval job
// (the hash of its name and a division) and a cron job in a zone with
// daylight saving.
func BenchmarkNext(b *testing.B) {
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Skip(err)
	}
	cr, err := cron.Parse("*/5 * * * *", loc, config.ParseEvery)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		job  Job
		step time.Duration
	}{
		{"interval", Job{Name: "c-12345", Interval: 5 * time.Second}, 5 * time.Second},
		{"cron", Job{Name: "c-12345", Cron: cr, Location: loc}, 5 * time.Minute},
	} {
		b.Run(bc.name, func(b *testing.B) {
			now := t
			b.ReportAllocs()
			for b.Loop() {
				now = Next(&bc.job, now)
			}
		})
	}
}

// BenchmarkDispatchNext is the scheduler loop's work per run: pop the
// earliest of n due jobs from the heap, compute its next time, fix the heap
// (what Run does between two hand-offs to workers).
func BenchmarkDispatchNext(b *testing.B) {
	for _, n := range []int{1000, 25000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			s := New(clock, 1, nil)
			jobs := make([]Job, n)
			for i := range jobs {
				jobs[i] = Job{Name: fmt.Sprintf("c-%05d", i), Interval: 5 * time.Second}
			}
			s.Set(jobs)
			b.ReportAllocs()
			for b.Loop() {
				now := time.Unix(0, s.heap[0].due)
				d, sleep := s.next(now)
				if sleep != 0 {
					b.Fatalf("nothing due at the heap's top time (sleep %s)", sleep)
				}
				d.e.running.Store(false)
			}
		})
	}
}
