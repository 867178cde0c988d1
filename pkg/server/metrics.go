package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// durationBuckets are the bounds (seconds) of pulse_check_duration_seconds:
// from a local TCP connect to a check that runs into a long timeout.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

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
type Metrics struct {
	reg *prometheus.Registry

	up       *prometheus.GaugeVec
	state    *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	runs     *prometheus.CounterVec
	value    *prometheus.GaugeVec
	notified *prometheus.CounterVec

	// children caches each check's label-bound series: a result costs a
	// read-locked map lookup and a few atomic operations, not a label hash.
	mu       sync.RWMutex
	children map[string]*checkSeries

	// counts[s] is the number of checks whose latest result is in state s.
	counts [4]atomic.Int64
}

// checkSeries is one check's bound series.
type checkSeries struct {
	typ      string
	up       prometheus.Gauge
	state    prometheus.Gauge
	duration prometheus.Observer
	runs     [4]prometheus.Counter            // by checks.State
	value    atomic.Pointer[prometheus.Gauge] // nil until the check has a value
	last     atomic.Int32                     // latest checks.State, -1 before the first result
}

// NewMetrics builds the registry. db, when not nil, is read at each scrape
// for pulse_incidents_open and pulse_outbox_pending (with a short timeout);
// log receives the errors of those reads.
func NewMetrics(db DBStats, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pulse_check_up",
			Help: "1 when the check's latest result is ok or warn, 0 when it is crit or unknown.",
		}, []string{"check", "type"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pulse_check_state",
			Help: "The check's latest state as a Nagios exit code: 0 ok, 1 warn, 2 crit, 3 unknown.",
		}, []string{"check"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_check_duration_seconds",
			Help:    "How long each check run took.",
			Buckets: durationBuckets,
		}, []string{"check"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_check_runs_total",
			Help: "Check runs by resulting state.",
		}, []string{"check", "state"}),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pulse_check_value",
			Help: "The value of the check's latest result that had one (sql, metric, system, command checks).",
		}, []string{"check"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_notifications_total",
			Help: "Notification delivery attempts by notifier and result (sent, retry, failed).",
		}, []string{"notifier", "result"}),
		children: map[string]*checkSeries{},
	}
	m.reg.MustRegister(m.up, m.state, m.duration, m.runs, m.value, m.notified,
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
	cs := m.series(r.Check, typ)
	st := r.State
	if st > checks.Crit {
		st = checks.Unknown
	}
	if prev := cs.last.Swap(int32(st)); prev != int32(st) {
		if prev >= 0 {
			m.counts[prev].Add(-1)
		}
		m.counts[st].Add(1)
	}
	if st == checks.OK || st == checks.Warn {
		cs.up.Set(1)
	} else {
		cs.up.Set(0)
	}
	cs.state.Set(float64(st.ExitCode()))
	cs.duration.Observe(r.Duration.Seconds())
	cs.runs[st].Inc()
	if r.HasValue {
		g := cs.value.Load()
		if g == nil {
			// Racing first values bind the same child: WithLabelValues is idempotent.
			v := m.value.WithLabelValues(r.Check)
			g = &v
			cs.value.Store(g)
		}
		(*g).Set(r.Value)
	}
}

// series returns check's bound series, creating them on first use and when
// the check's type changed.
func (m *Metrics) series(check, typ string) *checkSeries {
	m.mu.RLock()
	cs := m.children[check]
	m.mu.RUnlock()
	if cs != nil && cs.typ == typ {
		return cs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cs = m.children[check]; cs != nil && cs.typ == typ {
		return cs
	}
	if cs != nil {
		m.up.DeleteLabelValues(check, cs.typ)
	}
	ncs := &checkSeries{
		typ:      typ,
		up:       m.up.WithLabelValues(check, typ),
		state:    m.state.WithLabelValues(check),
		duration: m.duration.WithLabelValues(check),
	}
	if cs != nil {
		ncs.value.Store(cs.value.Load())
		ncs.last.Store(cs.last.Load())
	} else {
		ncs.last.Store(-1)
	}
	for s := checks.OK; s <= checks.Crit; s++ {
		ncs.runs[s] = m.runs.WithLabelValues(check, s.String())
	}
	m.children[check] = ncs
	return ncs
}

// Retain drops the series of checks that are not in cfg (removed by a
// reload, or disabled), so /metrics does not report ghosts.
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
		if typ, ok := keep[name]; ok && typ == cs.typ {
			continue
		}
		if last := cs.last.Load(); last >= 0 {
			m.counts[last].Add(-1)
		}
		m.up.DeleteLabelValues(name, cs.typ)
		m.state.DeleteLabelValues(name)
		m.duration.DeleteLabelValues(name)
		m.value.DeleteLabelValues(name)
		for s := checks.OK; s <= checks.Crit; s++ {
			m.runs.DeleteLabelValues(name, s.String())
		}
		delete(m.children, name)
	}
}

// ObserveNotification counts one delivery attempt of notifier; result is
// "sent", "retry" or "failed" (given up).
func (m *Metrics) ObserveNotification(notifier, result string) {
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
