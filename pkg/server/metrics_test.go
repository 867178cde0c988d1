package server

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
		if got := value(t, f.m.up.WithLabelValues("api", "tcp")); got != 0 {
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
	if got := value(t, m.runs.WithLabelValues("a", "ok")); got != 3 {
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

// value reads a gauge or counter.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Counter != nil:
		return d.Counter.GetValue()
	}
	t.Fatalf("%v is neither gauge nor counter", m.Desc())
	return 0
}
