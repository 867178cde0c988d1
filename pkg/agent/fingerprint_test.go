package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func TestFingerprint(t *testing.T) {
	base := `
[[check]]
name = "api"
type = "http"
url = "http://127.0.0.1:8080/"
headers = { Authorization = "${TOKEN}" }
[[notifier]]
name = "ops"
type = "slack"
webhook_url = "https://hooks.slack.com/${TOKEN}"
`
	load := func(src, token string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("/etc/pulse/pulse.toml", []byte(src), func(k string) (string, bool) {
			if k == "TOKEN" {
				return token, true
			}
			return "", false
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a := load(base, "one")
	b := load(base, "one")
	fa, fb := checkFingerprint(&a.Checks[0]), checkFingerprint(&b.Checks[0])
	if fa != fb || len(fa) != 32 {
		t.Fatalf("fingerprint not stable: %q vs %q", fa, fb)
	}
	if notifierFingerprint(&a.Notifiers[0]) != notifierFingerprint(&b.Notifiers[0]) {
		t.Fatal("notifier fingerprint not stable")
	}
	if strings.Contains(fa, "one") {
		t.Fatal("fingerprint shows the secret")
	}
	moved := load("# a comment\n\n[[check]]\nname = \"other\"\ntype = \"system\"\nmetric = \"cpu\"\n"+base, "one")
	if got := checkFingerprint(&moved.Checks[1]); got != fa {
		t.Errorf("moving a check in the file changed its fingerprint")
	}
	if checkFingerprint(&load(base, "two").Checks[0]) == fa {
		t.Error("changing a header secret kept the fingerprint")
	}
	if notifierFingerprint(&load(base, "two").Notifiers[0]) == notifierFingerprint(&a.Notifiers[0]) {
		t.Error("changing the webhook URL kept the notifier fingerprint")
	}
	if checkFingerprint(&load("[defaults]\ntimeout = \"3s\"\n"+base, "one").Checks[0]) == fa {
		t.Error("changing an inherited default kept the fingerprint")
	}
	if checkFingerprint(&load("[agent]\ntimezone = \"Europe/Paris\"\n"+base, "one").Checks[0]) == fa {
		t.Error("changing the check's effective time zone kept the fingerprint")
	}
}

// BenchmarkFingerprint is what start-up and every reload pay per check to
// tell unchanged checks from changed ones.
func BenchmarkFingerprint(b *testing.B) {
	p := filepath.Join(b.TempDir(), "pulse.toml")
	body := `[agent]
database = "pulse.db"
[[check]]
name = "api-health"
type = "http"
url = "https://api.example.com/health"
interval = "30s"
tags = ["api", "edge"]
headers = { Accept = "application/json" }
  [check.expect]
  status = [200]
  json = { "status" = "up" }
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	c := &cfg.Checks[0]
	b.ReportAllocs()
	for b.Loop() {
		if len(checkFingerprint(c)) != 32 {
			b.Fatal("fingerprint is not 16 bytes of hex")
		}
	}
}
