// Package server is the agent's optional HTTP listener ([agent].listen): a
// status page for humans (with an Atom feed of its updates, /feed.xml),
// /api/v1/status and /api/v1/incidents for machines, /metrics for Prometheus, /healthz for supervisors and
// /ping/NAME for the heartbeat checks of cron jobs and /ack/TOKEN for the
// ack links of alerts.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Limits of the listener. A slow or hostile client holds a connection for
// at most these; the status page and metrics of thousands of checks are
// written well within WriteTimeout.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 16 << 10
	// MaxBody caps request bodies of every route but /ping (which keeps
	// store.MaxPingBody bytes of what it is sent).
	MaxBody = 64 << 10
	// shutdownGrace is how long Shutdown waits for requests in flight: the
	// agent must stop within its longest check timeout plus 2 s.
	shutdownGrace = 2 * time.Second
	// pageTTL is how long a rendered status page is served again: a page
	// refreshed by many browsers costs the database one build.
	pageTTL = 10 * time.Second
)

// Store is what the listener reads and writes; *store.Store implements it.
type Store interface {
	report.StatusSource
	DBStats
	Incidents(ctx context.Context, f store.IncidentFilter) ([]store.Incident, error)
	RecordPing(ctx context.Context, check, kind string, at time.Time, body string) error
	Incident(ctx context.Context, id int64) (store.Incident, error)
	Ack(ctx context.Context, id int64, by, note string, at time.Time) (store.Incident, error)

	// What people write about incidents (issue 17, item 1): the status
	// page's timelines and history, /api/v1/incidents and /feed.xml.
	UpdatesOf(ctx context.Context, ids []int64, publicOnly bool) (map[int64][]store.Update, error)
	Postmortems(ctx context.Context, ids []int64, publicOnly bool) (map[int64]store.Postmortem, error)
	PastIncidents(ctx context.Context, since time.Time, limit int, shown func(check string) bool) ([]store.PastIncident, int, error)
	PublicUpdates(ctx context.Context, since time.Time, limit int, shown func(check string) bool) ([]store.PublicUpdate, error)
}

var _ Store = (*store.Store)(nil)

// Options configure New.
type Options struct {
	Store Store
	// Config returns the configuration in force; it is called on every
	// request, so a reload takes effect at once (token, title, checks).
	Config func() *config.Config
	// Health reports why the agent is not working (scheduler stalled,
	// database refusing writes); nil error = healthy. nil Health = always
	// healthy.
	Health func(ctx context.Context) error
	// Metrics is served on /metrics; nil = a registry of its own, without
	// database gauges.
	Metrics *Metrics
	// OnPing, when set, is told of each ping recorded (after it is on disk),
	// so the agent can evaluate the heartbeat check at once.
	OnPing func(check, kind string)
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the HTTP listener.
type Server struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux

	days dayCache
	md   mdCache   // the status page's rendered markdown
	dash dashState // the dashboards' caches (dash.go)

	pageMu   sync.Mutex
	page     []byte
	pageAt   time.Time
	pageFrom *config.Config
}

// New builds the listener; nothing listens until ListenAndServe or Serve.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil, o.Logger)
	}
	if o.Health == nil {
		o.Health = func(context.Context) error { return nil }
	}
	s := &Server{o: o, log: o.Logger, mux: http.NewServeMux()}
	s.days.entries = map[dayKey]map[string]store.Rollup{}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.Handle("GET /{$}", s.auth(http.HandlerFunc(s.handlePage)))
	s.mux.Handle("GET /api/v1/status", s.auth(http.HandlerFunc(s.handleStatus)))
	s.mux.Handle("GET /api/v1/incidents", s.auth(http.HandlerFunc(s.handleIncidents)))
	s.mux.Handle("GET /feed.xml", s.auth(http.HandlerFunc(s.handleFeed)))
	s.mux.Handle("GET /metrics", s.auth(s.o.Metrics.Handler()))
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	for _, m := range []string{"GET", "POST"} {
		s.mux.HandleFunc(m+" /ping/{name}", s.handlePing)
		s.mux.HandleFunc(m+" /ping/{name}/{kind}", s.handlePing)
		// No auth: the signed token in the path is the credential.
		s.mux.HandleFunc(m+" /ack/{token}", s.handleAck)
	}
	// The dashboards and their annotations (dash.go); POST checks the token itself.
	s.mux.Handle("GET /dash/executive", s.auth(s.handleDash("executive")))
	s.mux.Handle("GET /dash/operations", s.auth(s.handleDash("operations")))
	s.mux.HandleFunc("POST /api/v1/annotations", s.handleAddAnnotation)
	s.subscribeRoutes()
}

// Handler is the listener's routes, for tests and for embedding.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/ping/") {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		s.mux.ServeHTTP(w, r)
	})
}

// ListenAndServe listens on addr and serves until ctx ends, then shuts
// down gracefully. It returns at once when addr cannot be bound.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen binds addr ([agent].listen); the agent binds before it reports
// READY=1, so a taken port fails the start instead of a silent listener.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s ([agent].listen): %w", addr, err)
	}
	return ln, nil
}

// Serve serves ln until ctx ends, then stops accepting, waits a few seconds
// for requests in flight and returns nil (or the error that stopped it).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())
	if s.o.Config().Agent.ListenToken == "" && !loopback(ln.Addr()) {
		s.log.Warn("listening beyond this host without [agent].listen_token: anyone who can reach it can read the status page, the API and /metrics", "addr", ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// loopback reports whether a is a loopback address; an unspecified one
// (":9108", "0.0.0.0") is every interface, so it is not.
func loopback(a net.Addr) bool {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// auth requires [agent].listen_token, when set, as a bearer token or as the
// password of basic auth (so a browser can open the status page).
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := s.o.Config().Agent.ListenToken.Reveal()
		if token == "" || tokenOK(r, token) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("WWW-Authenticate", `Bearer realm="pulse"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="pulse", charset="UTF-8"`)
		http.Error(w, "unauthorized: send the listen_token as a bearer token", http.StatusUnauthorized)
	})
}

// tokenOK compares in constant time; hashing first hides the token's length.
func tokenOK(r *http.Request, token string) bool {
	var got string
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		got = strings.TrimSpace(h[7:])
	} else if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.o.Health(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy: %s\n", err)
		return
	}
	io.WriteString(w, "ok\n")
}

// handlePing records a heartbeat ping. 200 only once the ping is on disk;
// 404 for a name that is not an enabled heartbeat check, so a typo in a
// cron job shows at once.
func (s *Server) handlePing(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	kind := store.PingSuccess
	switch r.PathValue("kind") {
	case "":
	case "start":
		kind = store.PingStart
	case "fail":
		kind = store.PingFail
	default:
		http.NotFound(w, r)
		return
	}
	if !isHeartbeat(s.o.Config(), name) {
		http.Error(w, fmt.Sprintf("no heartbeat check named %q", name), http.StatusNotFound)
		return
	}
	// Keep the head of a body (a cron job's output); the server drops the
	// connection rather than read an endless rest.
	body, err := io.ReadAll(io.LimitReader(r.Body, store.MaxPingBody))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.o.Store.RecordPing(r.Context(), name, kind, s.o.Now(), string(body)); err != nil {
		s.log.Error("ping not recorded", "check", name, "kind", kind, "err", err)
		http.Error(w, "ping not recorded: database error", http.StatusServiceUnavailable)
		return
	}
	if s.o.OnPing != nil {
		s.o.OnPing(name, kind)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func isHeartbeat(cfg *config.Config, name string) bool {
	for i := range cfg.Checks {
		if c := &cfg.Checks[i]; c.Name == name {
			return c.Type == "heartbeat" && c.IsEnabled()
		}
	}
	return false
}

// stateClass maps a check state to the page's CSS class and words.
func stateWords(state string) string {
	switch state {
	case checks.OK.String():
		return "Operational"
	case checks.Warn.String():
		return "Degraded"
	case checks.Crit.String():
		return "Down"
	case checks.Unknown.String():
		return "Unknown"
	}
	return "Awaiting data"
}
