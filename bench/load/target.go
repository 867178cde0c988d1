package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hit is one request the target answered: which check, and when it arrived
// (unix nanoseconds).
type hit struct {
	check int32
	ns    int64
}

// recorder holds the hits of one phase in a preallocated slice: recording
// costs an atomic add and a store, so the target stays cheap next to what
// it measures.
type recorder struct {
	hits    []hit
	n       atomic.Int64
	dropped atomic.Int64 // past the slice's end, or not a /c/<i> path
}

func newRecorder(capacity int) *recorder { return &recorder{hits: make([]hit, capacity)} }

func (r *recorder) add(check int, t time.Time) {
	i := r.n.Add(1) - 1
	if i >= int64(len(r.hits)) {
		r.dropped.Add(1)
		return
	}
	r.hits[i] = hit{check: int32(check), ns: t.UnixNano()}
}

// recorded returns the hits so far; call it once the phase's client is gone.
func (r *recorder) recorded() []hit { return r.hits[:min(r.n.Load(), int64(len(r.hits)))] }

// target is the loopback HTTP server both pulse and the floor check:
// GET /c/<i> answers 200 "ok" and records the hit in the current phase.
type target struct {
	ln    net.Listener
	srv   *http.Server
	phase atomic.Pointer[recorder]
	// failing, when set, makes /c/<i> answer 503 for i in it (alert latency).
	failing atomic.Pointer[map[int]bool]

	mu        sync.Mutex
	firstFail map[int]time.Time    // first 503 answered per check
	opened    map[string]time.Time // first "opened" webhook per check name
}

func startTarget() (*target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{ln: ln, firstFail: map[int]time.Time{}, opened: map[string]time.Time{}}
	t.srv = &http.Server{Handler: t, ReadHeaderTimeout: 10 * time.Second}
	go t.srv.Serve(ln)
	return t, nil
}

func (t *target) URL() string { return "http://" + t.ln.Addr().String() }

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if r.URL.Path == "/hook" {
		t.hook(w, r, now)
		return
	}
	rec := t.phase.Load()
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/c/"))
	if err != nil || !strings.HasPrefix(r.URL.Path, "/c/") {
		if rec != nil {
			rec.dropped.Add(1)
		}
		http.NotFound(w, r)
		return
	}
	if rec != nil {
		rec.add(i, now)
	}
	w.Header().Set("Content-Type", "text/plain")
	if f := t.failing.Load(); f != nil && (*f)[i] {
		t.mu.Lock()
		if _, ok := t.firstFail[i]; !ok {
			t.firstFail[i] = now
		}
		t.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("down"))
		return
	}
	w.Write([]byte("ok"))
}

// resetAlerts forgets the failures and notifications of a previous phase.
func (t *target) resetAlerts() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.firstFail)
	clear(t.opened)
}

// hook is the webhook notifier's receiver: it notes when the first
// "opened" notification of each check arrives.
func (t *target) hook(w http.ResponseWriter, r *http.Request, now time.Time) {
	var m struct {
		Event string `json:"event"`
		Check struct {
			Name string `json:"name"`
		} `json:"check"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if m.Event == "opened" {
		t.mu.Lock()
		if _, ok := t.opened[m.Check.Name]; !ok {
			t.opened[m.Check.Name] = now
		}
		t.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// alertLatencies returns, for each failed check that was notified, the
// time from its first failing answer to the webhook's arrival.
func (t *target) alertLatencies() (lat []time.Duration, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, at := range t.firstFail {
		if o, ok := t.opened[checkName(i)]; ok {
			lat = append(lat, o.Sub(at))
		}
	}
	return lat, len(t.firstFail)
}

func (t *target) Close() { t.srv.Close() }
