package server

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// durationBuckets are the bounds (seconds) of pulse_check_duration_seconds:
// from a local TCP connect to a check that runs into a long timeout.
var durationBuckets = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// DBStats is what the metrics read from the database at scrape time;
// *store.Store implements it.
type DBStats interface {
	OpenIncidents(ctx context.Context) ([]store.Incident, error)
	OutboxPending(ctx context.Context) (int, error)
}

var _ DBStats = (*store.Store)(nil)

// Metrics is pulse's Prometheus registry: per-check series fed by
// ObserveResult on the agent's hot path, notification counters fed by the
// dispatcher, and incident and outbox gauges read from the database when
// scraped. It has its own Registry (nothing global), so tests and several
// agents in one process do not collide.
//
// The per-check series are kept by pulse itself, a small struct a check,
// and turned into metrics when scraped (checkCollector), because
// client_golang's vectors (a histogram, four counters, gauges and their
// label pairs) cost many times that per check and were most of the heap of
// a large agent (docs/BENCHMARKS.md, goal 3).
type Metrics struct {
	reg *prometheus.Registry

	notified *prometheus.CounterVec

	mu       sync.RWMutex
	children map[string]*checkSeries

	// counts[s] is the number of checks whose latest result is in state s.
	counts [4]atomic.Int64
}

// checkSeries is one check's series: its latest state and value, its runs
// by state and its duration histogram. mu keeps a scrape from seeing a
// histogram whose count and buckets disagree.
type checkSeries struct {
	mu sync.Mutex
	seriesData
}

// seriesData is what a check's series hold. The counts are 32-bit (at one
// run a second a count wraps after 136 years) and the histogram's count is
// the sum of runs: a checkSeries is 128 bytes rather than 208
// (docs/BENCHMARKS.md, goal 3).
type seriesData struct {
	typ      string
	value    float64
	sum      float64
	last     int32 // latest checks.State, -1 before the first result
	hasValue bool
	runs     [4]uint32 // by checks.State
	buckets  [len(durationBuckets)]uint32
}

var (
	upDesc = prometheus.NewDesc("pulse_check_up",
		"1 when the check's latest result is ok or warn, 0 when it is crit or unknown.", []string{"check", "type"}, nil)
	stateDesc = prometheus.NewDesc("pulse_check_state",
		"The check's latest state as a Nagios exit code: 0 ok, 1 warn, 2 crit, 3 unknown.", []string{"check"}, nil)
	durationDesc = prometheus.NewDesc("pulse_check_duration_seconds",
		"How long each check run took.", []string{"check"}, nil)
	runsDesc = prometheus.NewDesc("pulse_check_runs_total",
		"Check runs by resulting state.", []string{"check", "state"}, nil)
	valueDesc = prometheus.NewDesc("pulse_check_value",
		"The value of the check's latest result that had one (sql, metric, system, command checks).", []string{"check"}, nil)
)

// NewMetrics builds the registry. db, when not nil, is read at each scrape
// for pulse_incidents_open and pulse_outbox_pending (with a short timeout);
// log receives the errors of those reads.
func NewMetrics(db DBStats, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_notifications_total",
			Help: "Notification delivery attempts by notifier and result (sent, retry, failed).",
		}, []string{"notifier", "result"}),
		children: map[string]*checkSeries{},
	}
	m.reg.MustRegister((*checkCollector)(m), m.notified,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if db != nil {
		m.reg.MustRegister(&dbCollector{db: db, log: log})
	}
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// ObserveResult counts one check result. typ is the check's type. Safe for
// concurrent use; after the check's first result it allocates nothing.
func (m *Metrics) ObserveResult(r checks.Result, typ string) {
	cs := m.series(r.Check)
	st := r.State
	if st > checks.Crit {
		st = checks.Unknown
	}
	secs := r.Duration.Seconds()
	b := sort.SearchFloat64s(durationBuckets[:], secs) // the first bound ≥ secs; len: +Inf only
	cs.mu.Lock()
	prev := cs.last
	cs.last = int32(st)
	cs.typ = typ
	cs.runs[st]++
	if b < len(cs.buckets) {
		cs.buckets[b]++
	}
	cs.sum += secs
	if r.HasValue {
		cs.hasValue, cs.value = true, r.Value
	}
	cs.mu.Unlock()
	if prev != int32(st) {
		if prev >= 0 {
			m.counts[prev].Add(-1)
		}
		m.counts[st].Add(1)
	}
}

// series returns check's series, creating them on first use.
func (m *Metrics) series(check string) *checkSeries {
	m.mu.RLock()
	cs := m.children[check]
	m.mu.RUnlock()
	if cs != nil {
		return cs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cs = m.children[check]; cs == nil {
		cs = &checkSeries{seriesData: seriesData{last: -1}}
		m.children[check] = cs
	}
	return cs
}

// Retain drops the series of checks that are not in cfg (removed by a
// reload, or disabled) or whose type changed, so /metrics does not report
// ghosts.
func (m *Metrics) Retain(cfg *config.Config) {
	keep := make(map[string]string, len(cfg.Checks))
	for i := range cfg.Checks {
		if c := &cfg.Checks[i]; c.IsEnabled() {
			keep[c.Name] = c.Type
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, cs := range m.children {
		cs.mu.Lock()
		typ, last := cs.typ, cs.last
		cs.mu.Unlock()
		if k, ok := keep[name]; ok && (k == typ || last < 0) {
			continue
		}
		if last >= 0 {
			m.counts[last].Add(-1)
		}
		delete(m.children, name)
	}
}

// checkCollector turns the per-check series into metrics at scrape time.
type checkCollector Metrics

func (c *checkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, stateDesc, durationDesc, runsDesc, valueDesc} {
		ch <- d
	}
}

func (c *checkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	names := make([]string, 0, len(c.children))
	series := make([]*checkSeries, 0, len(c.children))
	for name, cs := range c.children {
		names = append(names, name)
		series = append(series, cs)
	}
	c.mu.RUnlock()
	for i, cs := range series {
		name := names[i]
		cs.mu.Lock()
		snap := cs.seriesData // a copy, read outside the lock
		cs.mu.Unlock()
		if snap.last < 0 {
			continue
		}
		st := checks.State(snap.last)
		up := 0.0
		if st == checks.OK || st == checks.Warn {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, name, snap.typ)
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, float64(st.ExitCode()), name)
		buckets := make(map[float64]uint64, len(durationBuckets))
		var cum, count uint64
		for b, n := range snap.buckets {
			cum += uint64(n)
			buckets[durationBuckets[b]] = cum
		}
		for _, n := range snap.runs {
			count += uint64(n)
		}
		ch <- prometheus.MustNewConstHistogram(durationDesc, count, snap.sum, buckets, name)
		for s := checks.OK; s <= checks.Crit; s++ {
			ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.CounterValue, float64(snap.runs[s]), name, s.String())
		}
		if snap.hasValue {
			ch <- prometheus.MustNewConstMetric(valueDesc, prometheus.GaugeValue, snap.value, name)
		}
	}
}

// ObserveNotification counts one delivery attempt of notifier; result is
// "sent", "retry" or "failed" (given up).
func (m *Metrics) ObserveNotification(notifier, result string) {
	if strings.HasPrefix(notifier, notify.SubscriberPrefix) {
		// One series for all status-page subscribers: a label per
		// subscriber would grow without bound.
		notifier = "subscribers"
	}
	m.notified.WithLabelValues(notifier, result).Inc()
}

// StateCounts is how many checks' latest result is in each state.
type StateCounts struct{ OK, Warn, Crit, Unknown int }

// States counts the checks by the state of their latest result.
func (m *Metrics) States() StateCounts {
	return StateCounts{
		OK:      int(m.counts[checks.OK].Load()),
		Warn:    int(m.counts[checks.Warn].Load()),
		Crit:    int(m.counts[checks.Crit].Load()),
		Unknown: int(m.counts[checks.Unknown].Load()),
	}
}

// dbCollector reads the incident and outbox gauges at scrape time: they
// change from the CLI too (ack, resolve), so a cached copy would lie.
type dbCollector struct {
	db  DBStats
	log *slog.Logger
}

var (
	incidentsDesc = prometheus.NewDesc("pulse_incidents_open", "Incidents not resolved, by severity.", []string{"severity"}, nil)
	outboxDesc    = prometheus.NewDesc("pulse_outbox_pending", "Notifications written to the outbox and not yet delivered.", nil, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- incidentsDesc
	ch <- outboxDesc
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if incs, err := c.db.OpenIncidents(ctx); err != nil {
		c.log.Warn("metrics: read open incidents", "err", err)
		ch <- prometheus.NewInvalidMetric(incidentsDesc, err)
	} else {
		counts := make(map[string]int, len(config.Severities))
		for _, s := range config.Severities {
			counts[s] = 0
		}
		for i := range incs {
			counts[incs[i].Severity]++
		}
		for sev, n := range counts {
			ch <- prometheus.MustNewConstMetric(incidentsDesc, prometheus.GaugeValue, float64(n), sev)
		}
	}
	if n, err := c.db.OutboxPending(ctx); err != nil {
		c.log.Warn("metrics: count outbox", "err", err)
		ch <- prometheus.NewInvalidMetric(outboxDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(n))
	}
}
