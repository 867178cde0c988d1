package agent

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// BenchmarkLiveHeapPerCheck is goal 3's per-check memory: the live heap,
// after a collection, of a loaded config of n http checks (as bench/load
// writes them) and of the agent built from it, divided by n. Its metrics
// are the figures; the time per op is not.
func BenchmarkLiveHeapPerCheck(b *testing.B) {
	const n = 25000
	dir := b.TempDir()
	var sb strings.Builder
	fmt.Fprintf(&sb, "[agent]\ndatabase = %q\nmax_concurrency = 256\n\n[defaults]\ntimeout = \"5s\"\n", filepath.Join(dir, "pulse.db"))
	for i := range n {
		fmt.Fprintf(&sb, "\n[[check]]\nname = \"check-%05d\"\ntype = \"http\"\nurl = \"http://127.0.0.1:8080/c/%d\"\ninterval = \"5s\"\n", i, i)
	}
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	live := func() uint64 {
		var ms goruntime.MemStats
		goruntime.GC()
		goruntime.GC()
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var cfgBytes, agentBytes, peakBytes float64
	for b.Loop() {
		base := live()
		var before goruntime.MemStats
		goruntime.ReadMemStats(&before)
		cfg, err := config.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		var after goruntime.MemStats
		goruntime.ReadMemStats(&after)
		withCfg := live()
		a, err := New(Options{Config: cfg})
		if err != nil {
			b.Fatal(err)
		}
		cfg = nil
		withAgent := live()
		cfgBytes = float64(withCfg-base) / n
		agentBytes = float64(withAgent-withCfg) / n
		peakBytes = float64(after.TotalAlloc-before.TotalAlloc) / n
		a.close()
	}
	b.ReportMetric(cfgBytes, "config-B/check")
	b.ReportMetric(agentBytes, "agent-B/check")
	b.ReportMetric(peakBytes, "load-alloc-B/check")
}
