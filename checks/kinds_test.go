package checks

import (
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// TestNewConcurrentSharedEnv builds checks of several kinds from many
// goroutines on one Env, as `pulse check` does: under -race, a constructor
// that writes to the shared Env (a defaulted clock, logger or HTTP clients)
// is reported. The Env must also come back as it went in.
func TestNewConcurrentSharedEnv(t *testing.T) {
	defs := []*config.Check{
		{Name: "h", Type: "http", HTTPFields: &config.HTTPFields{URL: "http://127.0.0.1:1/"}},
		{Name: "t", Type: "tcp", KindFields: &config.KindFields{Address: "127.0.0.1:1"}},
		{Name: "c", Type: "command", KindFields: &config.KindFields{Command: []string{"true"}}},
		{Name: "s", Type: "system", KindFields: &config.KindFields{Metric: "load"}},
		{Name: "b", Type: "heartbeat", KindFields: &config.KindFields{Period: config.Duration(time.Hour)}},
		{Name: "m", Type: "metric", HTTPFields: &config.HTTPFields{URL: "http://127.0.0.1:1/"}, KindFields: &config.KindFields{Source: "http", Value: "n"}},
	}
	env := &Env{}
	var wg sync.WaitGroup
	for range 4 {
		for _, c := range defs {
			wg.Go(func() {
				if _, err := New(c, env); err != nil {
					t.Errorf("%s: %v", c.Type, err)
				}
			})
		}
	}
	wg.Wait()
	if env.Now != nil || env.Logger != nil || env.HTTP != nil {
		t.Errorf("New wrote defaults into the caller's Env: %+v", *env)
	}
}
