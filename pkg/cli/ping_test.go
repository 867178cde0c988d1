package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/server"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// TestPing runs `pulse ping` against the real listener over a real
// database and checks what the agent recorded.
func TestPing(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(nil)
	addr := srv.Listener.Addr().String()
	path := filepath.Join(dir, "pulse.toml")
	conf := fmt.Sprintf(`
[agent]
database = "pulse.db"
listen = %q
[[check]]
name = "backup"
type = "heartbeat"
period = "1d"
[[check]]
name = "web"
type = "tcp"
address = "127.0.0.1:1"
`, addr)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Each ping a second after the last: stored times differ.
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	srv.Config.Handler = server.New(server.Options{Store: st, Config: func() *config.Config { return cfg }, Now: tick}).Handler()
	srv.Start()
	defer srv.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantKind string // the ping kind now on disk
		wantErr  string
	}{
		{"success", []string{"ping", "backup"}, 0, store.PingSuccess, ""},
		{"start", []string{"ping", "backup", "--start"}, 0, store.PingStart, ""},
		{"fail", []string{"ping", "--fail", "backup"}, 0, store.PingFail, ""},
		{"explicit url", []string{"ping", "--url", srv.URL + "/", "backup"}, 0, store.PingSuccess, ""},
		{"not a heartbeat", []string{"ping", "web"}, 1, "", `ping web: agent answered 404: no heartbeat check named "web"`},
		{"unknown", []string{"ping", "nope"}, 1, "", "agent answered 404"},
		{"start and fail", []string{"ping", "backup", "--start", "--fail"}, 1, "", "none of the others can be"},
		{"no agent", []string{"ping", "--url", "http://127.0.0.1:1", "backup"}, 1, "", "ping backup: is the agent running?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := st.LastPings(context.Background(), "backup")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			args := append([]string{"--config", path}, tt.args...)
			code := Execute(context.Background(), &IO{Out: &out, Err: &out, Getenv: func(string) (string, bool) { return "", false }}, args)
			if code != tt.wantCode {
				t.Fatalf("pulse %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.wantCode, out.String())
			}
			if tt.wantErr != "" && !strings.Contains(out.String(), tt.wantErr) {
				t.Errorf("output %q lacks %q", out.String(), tt.wantErr)
			}
			after, err := st.LastPings(context.Background(), "backup")
			if err != nil {
				t.Fatal(err)
			}
			changed := map[string]bool{
				store.PingSuccess: !after.LastSuccess.Equal(before.LastSuccess),
				store.PingStart:   !after.LastStart.Equal(before.LastStart),
				store.PingFail:    !after.LastFail.Equal(before.LastFail),
			}
			for kind, ch := range changed {
				if ch != (kind == tt.wantKind) {
					t.Errorf("ping %s recorded = %v, want %v", kind, ch, kind == tt.wantKind)
				}
			}
		})
	}
}

func TestPingWithoutListener(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte("[agent]\ndatabase = \"pulse.db\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := Execute(context.Background(), &IO{Out: &out, Err: &out, Getenv: func(string) (string, bool) { return "", false }},
		[]string{"--config", path, "ping", "backup"})
	if code != 1 || !strings.Contains(out.String(), "[agent].listen is not set") {
		t.Errorf("exit %d, output %q; want 1 and a word about [agent].listen", code, out.String())
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9108": "127.0.0.1:9108",
		":9108":          "127.0.0.1:9108",
		"0.0.0.0:9108":   "127.0.0.1:9108",
		"[::]:9108":      "[::1]:9108",
		"[::1]:9108":     "[::1]:9108",
		"pulse.lan:80":   "pulse.lan:80",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
