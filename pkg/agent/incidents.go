package agent

import (
	"context"
	"database/sql"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// incidents records incident events and delivers their notifications.
// Placeholder: the incidents issue replaces it.
type incidents struct{ a *Agent }

func newIncidents(a *Agent, _ *config.Config) (*incidents, error) { return &incidents{a: a}, nil }

// apply returns the writes that record events in the result's transaction.
func (m *incidents) apply(rt *runtime, _ checks.Result, _ []alert.Event, _ time.Time) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error { return nil }
}

func (m *incidents) run(ctx context.Context)              { <-ctx.Done() }
func (m *incidents) reload(*config.Config) error          { return nil }
func (m *incidents) deliverDue(ctx context.Context) error { return nil }
