package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// Check answers in the order asked, recording or not, and records only
// when asked to.
func TestCheckAnswersInTheOrderAsked(t *testing.T) {
	cfg := loadConfig(t, `
[agent]
database = "pulse.db"
[[check]]
name = "ok"
type = "command"
command = ["/bin/sh", "-c", "echo OK fine; exit 0"]
[[check]]
name = "crit"
type = "command"
command = ["/bin/sh", "-c", "echo CRITICAL broken; exit 2"]
[[check]]
name = "off"
type = "command"
command = ["/bin/true"]
enabled = false
`)
	byName := func(names ...string) []*config.Check {
		var out []*config.Check
		for _, n := range names {
			for i := range cfg.Checks {
				if cfg.Checks[i].Name == n {
					out = append(out, &cfg.Checks[i])
				}
			}
		}
		return out
	}
	for _, record := range []bool{false, true} {
		res, err := Check(context.Background(), cfg, CheckOptions{Checks: byName("crit", "ok"), Record: record})
		if err != nil {
			t.Fatalf("record=%v: %v", record, err)
		}
		if len(res) != 2 || res[0].Check != "crit" || res[0].State != checks.Crit || res[1].Check != "ok" || res[1].State != checks.OK {
			t.Errorf("record=%v: results %+v, want crit then ok", record, res)
		}
		_, err = os.Stat(filepath.Join(filepath.Dir(cfg.Path), "pulse.db"))
		if recorded := err == nil; recorded != record {
			t.Errorf("record=%v: database exists = %v", record, recorded)
		}
	}
	res, err := Check(context.Background(), cfg, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Check != "ok" || res[1].Check != "crit" {
		t.Errorf("no checks named: results %+v, want the enabled ones in config order", res)
	}
}
