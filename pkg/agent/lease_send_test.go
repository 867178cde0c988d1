package agent

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// cutProxy is a TCP proxy to PostgreSQL that can be cut: after cut it
// forwards nothing in either direction and never answers new connections,
// like a network partition (no reset: statements hang).
type cutProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.track(c)
			if p.cut.Load() {
				continue // accepted, never answered
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.track(s)
			go p.pipe(s, c)
			go p.pipe(c, s)
		}
	}()
	return p
}

// close ends every connection (they reset): the agent's statements fail
// at once instead of hanging, so that it can stop.
func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestSendCancelledWhenTheChannelLeaseRunsOut: an agent among several on
// PostgreSQL is cut off from the database while a send to a slow receiver
// is in flight. The send is cancelled when the agent's lease on the
// channel runs out locally (within TTL - Margin of the last renewal, so
// before any other agent may take the channel over), not when the
// notifier's own timeout ends, and the row stays pending for the
// channel's next holder.
func TestSendCancelledWhenTheChannelLeaseRunsOut(t *testing.T) {
	const ttl = 3 * time.Second // Margin = TTL/3: acted on until 2 s after a renewal
	leaseTiming.renew, leaseTiming.ttl = 500*time.Millisecond, ttl
	t.Cleanup(func() { leaseTiming.renew, leaseTiming.ttl = 0, 0 })

	direct := storetest.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()

	started := make(chan time.Time, 4)
	cancelled := make(chan time.Time, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client going away
		started <- time.Now()
		select {
		case <-r.Context().Done(): // the agent gave the request up
			cancelled <- time.Now()
		case <-time.After(time.Minute):
		}
	}))
	defer recv.Close()

	cfg := loadConfig(t, fmt.Sprintf(`[agent]
name = "cut"
store = %q
[[check]]
name = "down"
type = "tcp"
address = "127.0.0.1:1"
interval = "1s"
severity = "P1"
fail_after = 1
[[notifier]]
name = "hook"
type = "webhook"
url = %q
timeout = "1m"
[escalation.P1]
notify = ["hook"]
within = "0s"
repeat = "1h"
`, u.String(), recv.URL))

	t.Setenv("PULSE_AGENT_ID", "cut-a")
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		proxy.close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("run (cut off from its database): %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the agent did not stop within 30s of its cancel")
		}
	}()

	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook request within 30s")
	}
	proxy.cut.Store(true)
	cut := time.Now()

	var took time.Duration
	select {
	case at := <-cancelled:
		took = at.Sub(cut)
	case <-time.After(ttl + 5*time.Second):
		t.Fatalf("the send was still in flight %v after the agent was cut off (lease TTL %v)", ttl+5*time.Second, ttl)
	}
	t.Logf("send cancelled %v after the partition (lease TTL %v, local deadline at most TTL - TTL/3 = %v after the last renewal)",
		took.Round(time.Millisecond), ttl, ttl-ttl/3)
	if took > ttl {
		t.Errorf("send cancelled %v after the partition: not within the lease TTL %v, another agent may have sent meanwhile", took, ttl)
	}

	db, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var status string
	var attempts int
	if err := db.QueryRow(`SELECT status, attempts FROM outbox WHERE notifier = 'hook'`).Scan(&status, &attempts); err != nil {
		t.Fatal(err)
	}
	if status != "pending" || attempts != 0 {
		t.Errorf("row %s after %d attempts, want pending and untouched for the channel's next holder", status, attempts)
	}
}
