package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// maxIncidents bounds /api/v1/incidents?limit=.
const maxIncidents = 1000

// buildStatus is the document of `pulse status --json`.
func (s *Server) buildStatus(ctx context.Context, cfg *config.Config) (*report.Status, error) {
	return report.BuildStatus(ctx, s.o.Store, cfg, s.o.Now())
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.buildStatus(r.Context(), s.o.Config())
	if err != nil {
		s.fail(w, "build status", err)
		return
	}
	writeJSON(w, st)
}

// handleIncidents lists incidents newest first; query parameters as the
// flags of `pulse incidents`: open=true, since=24h (a config duration, so
// 7d works), severity=P1, limit=N (default 100, at most 1000).
func (s *Server) handleIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := s.o.Now()
	f := store.IncidentFilter{Limit: 100, Severity: q.Get("severity")}
	if v := q.Get("open"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("open=%q: want true or false", v), http.StatusBadRequest)
			return
		}
		f.Open = b
	}
	if v := q.Get("since"); v != "" {
		var d config.Duration
		if err := d.UnmarshalText([]byte(v)); err != nil || d.D() <= 0 {
			http.Error(w, fmt.Sprintf("since=%q: want a duration such as 24h or 7d", v), http.StatusBadRequest)
			return
		}
		f.Since = now.Add(-d.D())
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxIncidents {
			http.Error(w, fmt.Sprintf("limit=%q: want 1..%d", v, maxIncidents), http.StatusBadRequest)
			return
		}
		f.Limit = n
	}
	if f.Severity != "" && !slices.Contains(config.Severities, f.Severity) {
		http.Error(w, fmt.Sprintf("severity=%q: want P1, P2, P3 or P4", f.Severity), http.StatusBadRequest)
		return
	}
	incs, err := s.o.Store.Incidents(r.Context(), f)
	if err != nil {
		s.fail(w, "read incidents", err)
		return
	}
	// The shape of `pulse incidents --json` too, with the public updates
	// and postmortems only, without authors.
	ids := make([]int64, len(incs))
	for i := range incs {
		ids[i] = incs[i].ID
	}
	ups, err := s.o.Store.UpdatesOf(r.Context(), ids, true)
	if err != nil {
		s.fail(w, "read incident updates", err)
		return
	}
	pms, err := s.o.Store.Postmortems(r.Context(), ids, true)
	if err != nil {
		s.fail(w, "read postmortems", err)
		return
	}
	out := report.IncidentRecordsWith(incs, ups, pms, now)
	for i := range out {
		out[i].Anonymous()
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

// fail logs err and answers 500 without its details: a database error may
// name paths the client has no business knowing.
func (s *Server) fail(w http.ResponseWriter, what string, err error) {
	s.log.Error("listener request failed", "what", what, "err", err)
	http.Error(w, what+": internal error (see the agent's log)", http.StatusInternalServerError)
}
