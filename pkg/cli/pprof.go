package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"time"
)

// startPprof serves CPU and heap profiles on $PULSE_PPROF (e.g.
// 127.0.0.1:6060) for the load tool (bench/load -profile) and for an
// operator chasing a slow agent; unset, it does nothing. It is not a
// documented flag: profiles show check names and URLs, so it stays opt-in
// and should only listen on loopback. The returned func stops it.
func startPprof(g *Global, log *slog.Logger) func() {
	addr, ok := g.IO.Getenv("PULSE_PPROF")
	if !ok || addr == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("PULSE_PPROF: cannot listen", "addr", addr, "err", err)
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		if secs <= 0 {
			secs = 30
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	mux.HandleFunc("GET /debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(r.PathValue("name"))
		if p == nil {
			http.NotFound(w, r)
			return
		}
		// debug=1 gives the text form; for heap it ends with runtime.MemStats.
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if err := p.WriteTo(w, debug); err != nil {
			log.Warn("PULSE_PPROF: write profile", "err", err)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("PULSE_PPROF: serve", "err", err)
		}
	}()
	log.Info("PULSE_PPROF: serving profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}
