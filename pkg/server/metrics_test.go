package server

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

func result(check string, s checks.State, d time.Duration) checks.Result {
	return checks.Result{Check: check, Start: now, Duration: d, State: s}
}

// scrape returns the text exposition of /metrics.
func scrape(t *testing.T, f *fixture) string {
	t.Helper()
	rec := f.get(t, "GET", "/metrics", map[string]string{"Accept": "text/plain"}, nil)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, "")
	f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P1", State: "crit", OpenedAt: now})
	f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P3", State: "warn", OpenedAt: now})
	f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P2", State: "warn", Status: store.StatusResolved, OpenedAt: now, ResolvedAt: now})

	f.m.ObserveResult(result("api", checks.OK, 30*time.Millisecond), "http")
	f.m.ObserveResult(result("api", checks.Warn, 700*time.Millisecond), "http")
	f.m.ObserveResult(result("db", checks.Crit, 3*time.Second), "tcp")
	v := result("payments", checks.OK, 5*time.Millisecond)
	v.SetValue(17)
	f.m.ObserveResult(v, "sql")
	f.m.ObserveNotification("ops", "sent")
	f.m.ObserveNotification("ops", "sent")
	f.m.ObserveNotification("oncall", "retry")

	out := scrape(t, f)
	for _, want := range []string{
		`pulse_check_up{check="api",type="http"} 1`,
		`pulse_check_up{check="db",type="tcp"} 0`,
		`pulse_check_state{check="api"} 1`,
		`pulse_check_state{check="db"} 2`,
		`pulse_check_runs_total{check="api",state="ok"} 1`,
		`pulse_check_runs_total{check="api",state="warn"} 1`,
		`pulse_check_runs_total{check="db",state="crit"} 1`,
		`pulse_check_duration_seconds_bucket{check="api",le="0.05"} 1`,
		`pulse_check_duration_seconds_bucket{check="api",le="1"} 2`,
		`pulse_check_duration_seconds_count{check="db"} 1`,
		`pulse_check_value{check="payments"} 17`,
		`pulse_incidents_open{severity="P1"} 1`,
		`pulse_incidents_open{severity="P2"} 0`,
		`pulse_incidents_open{severity="P3"} 1`,
		`pulse_incidents_open{severity="P4"} 0`,
		`pulse_outbox_pending 0`,
		`pulse_notifications_total{notifier="ops",result="sent"} 2`,
		`pulse_notifications_total{notifier="oncall",result="retry"} 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(out, want+"\n") && !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(out, `pulse_check_value{check="api"}`) {
		t.Error("pulse_check_value for a check that never had a value")
	}
	if got := f.m.States(); got != (StateCounts{OK: 1, Warn: 1, Crit: 1}) {
		t.Errorf("States = %+v", got)
	}

	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Skip("promtool not installed (Debian package prometheus); .ci/run installs it")
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(out)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, stderr.String())
		}
	})

	t.Run("reload drops removed and retyped checks", func(t *testing.T) {
		cfg := &config.Config{Checks: []config.Check{{Name: "api", Type: "tcp"}, {Name: "payments", Type: "sql"}}}
		f.m.Retain(cfg)
		out := scrape(t, f)
		for _, gone := range []string{`check="db"`, `pulse_check_up{check="api"`} {
			if strings.Contains(out, gone) {
				t.Errorf("after Retain /metrics still has %s", gone)
			}
		}
		if !strings.Contains(out, `pulse_check_value{check="payments"} 17`) {
			t.Error("Retain dropped a check it should keep")
		}
		if got := f.m.States(); got != (StateCounts{OK: 1}) {
			t.Errorf("States after Retain = %+v, want only payments ok", got)
		}
		f.m.ObserveResult(result("api", checks.Crit, time.Millisecond), "tcp")
		if got := gathered(t, f.m, "pulse_check_up", "api", "tcp"); got != 0 {
			t.Errorf("pulse_check_up{api,tcp} = %v, want 0", got)
		}
	})
}

func TestMetricsStateCountsFollowTransitions(t *testing.T) {
	m := NewMetrics(nil, nil)
	seq := []checks.State{checks.OK, checks.OK, checks.Crit, checks.Unknown, checks.OK, checks.Warn}
	for _, s := range seq {
		m.ObserveResult(result("a", s, time.Millisecond), "tcp")
	}
	m.ObserveResult(result("b", checks.Crit, time.Millisecond), "tcp")
	if got, want := m.States(), (StateCounts{Warn: 1, Crit: 1}); got != want {
		t.Errorf("States = %+v, want %+v", got, want)
	}
	if got := gathered(t, m, "pulse_check_runs_total", "a", "ok"); got != 3 {
		t.Errorf("runs{a,ok} = %v, want 3", got)
	}
}

func TestObserveResultAllocs(t *testing.T) {
	m := NewMetrics(nil, nil)
	r := result("api", checks.OK, 12*time.Millisecond)
	r.SetValue(3)
	m.ObserveResult(r, "http")
	if n := testing.AllocsPerRun(1000, func() { m.ObserveResult(r, "http") }); n != 0 {
		t.Errorf("ObserveResult allocates %v times per call, want 0", n)
	}
}

// BenchmarkObserveResult: the agent calls it for every result (5,000/s).
func BenchmarkObserveResult(b *testing.B) {
	m := NewMetrics(nil, nil)
	names := make([]string, 1000)
	for i := range names {
		names[i] = "check-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		m.ObserveResult(result(names[i], checks.OK, time.Millisecond), "http")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveResult(result(names[i%len(names)], checks.State(i%4), time.Duration(i)*time.Microsecond), "http")
			i++
		}
	})
}

// gathered reads the gauge or counter name whose label values are
// labels (in the order of the metric's labels) from m's registry; it fails
// the test when there is no such series.
func gathered(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			lp := s.GetLabel() // sorted by label name, like the descs' label lists here
			if len(lp) != len(labels) {
				continue
			}
			for i := range lp {
				if lp[i].GetValue() != labels[i] {
					continue series
				}
			}
			switch {
			case s.Gauge != nil:
				return s.Gauge.GetValue()
			case s.Counter != nil:
				return s.Counter.GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// TestDurationHistogram: a duration on a bucket's bound counts in that
// bucket, one past the last bound only in +Inf (the count); the sum adds up.
func TestDurationHistogram(t *testing.T) {
	m := NewMetrics(nil, nil)
	for _, d := range []time.Duration{50 * time.Millisecond, 51 * time.Millisecond, 90 * time.Second, 0} {
		m.ObserveResult(result("x", checks.OK, d), "http")
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pulse_check_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 4 || h.GetSampleSum() != 90.101 {
			t.Errorf("count %d sum %v, want 4 and 90.101", h.GetSampleCount(), h.GetSampleSum())
		}
		want := map[float64]uint64{0.005: 1, 0.025: 1, 0.05: 2, 0.1: 3, 30: 3, 60: 3}
		for _, b := range h.GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
				t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
		}
		return
	}
	t.Fatal("no pulse_check_duration_seconds")
}

// TestCheckSeriesSize: a check's series fit the 128-byte size class, since
// the agent holds one per check for its whole life.
func TestCheckSeriesSize(t *testing.T) {
	if n := unsafe.Sizeof(checkSeries{}); n > 128 {
		t.Errorf("checkSeries is %d bytes, want at most 128", n)
	}
}
