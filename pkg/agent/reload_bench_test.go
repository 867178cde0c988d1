package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// manyChecks is a config of n tcp checks; checks whose index is a multiple
// of every get another address (a changed definition) when variant is set.
func manyChecks(n, every int, variant bool) string {
	var b strings.Builder
	b.WriteString("[agent]\ndatabase = \"pulse.db\"\n")
	for i := 0; i < n; i++ {
		port := 1
		if variant && i%every == 0 {
			port = 2
		}
		fmt.Fprintf(&b, "[[check]]\nname = \"svc-%04d\"\ntype = \"tcp\"\naddress = \"127.0.0.1:%d\"\ninterval = \"%ds\"\ntags = [\"t%d\"]\n",
			i, port, 30+i%60, i%10)
	}
	return b.String()
}

// BenchmarkReload1000Checks is what SIGHUP costs with 1,000 checks, 100 of
// them changed: parse and validate the file, then Reload (build the changed
// checks, register all in one transaction, swap, reschedule).
//
//	go test -run '^$' -bench Reload1000 -benchtime 20x ./pkg/agent
func BenchmarkReload1000Checks(b *testing.B) {
	dir := b.TempDir()
	paths := [2]string{filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")}
	for i, p := range paths {
		if err := os.WriteFile(p, []byte(manyChecks(1000, 10, i == 1)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := config.Load(paths[0])
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(Options{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next, err := config.Load(paths[(i+1)%2])
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Reload(ctx, next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := len(a.rts); got != 1000 {
		b.Fatalf("%d checks after reloads, want 1000", got)
	}
}
