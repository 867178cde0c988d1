package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// benchAgent builds an agent of n http checks against a loopback server,
// its database in a temporary folder, the writer started.
func benchAgent(b *testing.B, n int) (*Agent, []*runtime) {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	b.Cleanup(srv.Close)
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("[agent]\ndatabase = \"pulse.db\"\n")
	for i := range n {
		fmt.Fprintf(&sb, "\n[[check]]\nname = \"c-%05d\"\ntype = \"http\"\nurl = \"%s/c/%d\"\ninterval = \"5s\"\n", i, srv.URL, i)
	}
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(Options{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.close)
	a.store.Start(context.Background())
	rts := make([]*runtime, 0, n)
	for i := range n {
		rts = append(rts, a.rts[fmt.Sprintf("c-%05d", i)])
	}
	return a, rts
}

// BenchmarkResultPath is the agent's work per scheduled run of an http
// check, up to the result on disk: the request to a loopback server, the
// incident evaluation and the submission to the batched writer (the flush
// at the end is timed too, so the writer's share is counted).
// "record" leaves out the request: evaluate and store a ready result.
func BenchmarkResultPath(b *testing.B) {
	const n = 1000
	b.Run("run-evaluate-submit", func(b *testing.B) {
		a, rts := benchAgent(b, n)
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			res := a.execute(ctx, rts[i%n])
			if res.State != checks.OK {
				b.Fatalf("%s: %s %s", res.Check, res.State, res.Message)
			}
			i++
		}
		if err := a.store.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("record", func(b *testing.B) {
		a, rts := benchAgent(b, n)
		ctx := context.Background()
		start := time.Now()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			rt := rts[i%n]
			d := time.Duration(2000+i%3000) * time.Microsecond
			a.record(rt, checks.Result{Check: rt.check().Name, Start: start.Add(time.Duration(i) * time.Millisecond), Duration: d,
				State: checks.OK, Message: "200 OK in 2ms",
				Perf: []checks.Perf{{Label: "time", Value: d.Seconds(), UOM: "s"}, {Label: "size", Value: 2, UOM: "B"}}})
			i++
		}
		if err := a.store.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	})
}
