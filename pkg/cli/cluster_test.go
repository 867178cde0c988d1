package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/agent"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

func TestShardRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, "-"},
		{[]int{7}, "7 (1)"},
		{[]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8 (6)"},
	} {
		if got := shardRanges(tc.in); got != tc.want {
			t.Errorf("shardRanges(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClusterOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pulse.toml")
	if err := os.WriteFile(path, []byte("[agent]\nname = \"t\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, out := testGlobal(path, false, true)
	err := runCluster(context.Background(), g, false, time.Now)
	if err == nil || !strings.Contains(err.Error(), "[agent].store") {
		t.Fatalf("pulse cluster on SQLite = %v (%s)", err, out)
	}
}

// A running agent on PostgreSQL is listed with everything it holds, then
// as left once it stopped.
func TestClusterLists(t *testing.T) {
	url := storetest.PostgresURL(t)
	path := filepath.Join(t.TempDir(), "pulse.toml")
	cfgText := fmt.Sprintf(`[agent]
name = "t"
store = %q
location = "fra"

[[check]]
name = "port"
type = "tcp"
address = "127.0.0.1:1"
interval = "1s"
severity = "P4"

[[notifier]]
name = "ops"
type = "webhook"
url = "http://127.0.0.1:1/hook"
`, url)
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULSE_AGENT_ID", "agent-fra")
	a, err := agent.New(agent.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	list := func() []clusterAgent {
		t.Helper()
		g, out := testGlobal(path, false, true)
		if err := runCluster(context.Background(), g, true, time.Now); err != nil {
			t.Fatalf("pulse cluster --json: %v", err)
		}
		var as []clusterAgent
		if err := json.Unmarshal(out.Bytes(), &as); err != nil {
			t.Fatalf("pulse cluster --json: %v\n%s", err, out)
		}
		return as
	}
	deadline := time.Now().Add(20 * time.Second)
	var as []clusterAgent
	for {
		as = list()
		if len(as) == 1 && len(as[0].Shards) == 64 && len(as[0].Channels) == 1 && as[0].Maintainer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never held everything: %+v", as)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := as[0]; c.ID != "agent-fra" || c.Location != "fra" || c.State != "live" || !c.SameConfig {
		t.Errorf("agent = %+v", c)
	}
	g, out := testGlobal(path, false, true)
	if err := runCluster(context.Background(), g, false, time.Now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AGENT", "agent-fra", "fra", "live", "0-63 (64)", "ops", "yes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("pulse cluster lacks %q:\n%s", want, out)
		}
	}

	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	ran <- nil // for the deferred receive
	as = list()
	if len(as) != 1 || as[0].State != "left" || len(as[0].Shards) != 0 || as[0].Maintainer {
		t.Errorf("after a graceful stop: %+v", as)
	}
}
