package config

import (
	"os"
	"path/filepath"
	"testing"
)

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
	cfg, err := Load(p)
	if err != nil {
		b.Fatal(err)
	}
	c := &cfg.Checks[0]
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Fingerprint()) != 32 {
			b.Fatal("fingerprint is not 16 bytes of hex")
		}
	}
}
