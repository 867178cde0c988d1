package checks

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// Env is what check constructors may use besides their own config. Every
// field is optional: a nil History or Heartbeats makes the kinds that need
// them report unknown (as in `pulse check` without a database). One Env is
// shared by checks built concurrently, so constructors only read it.
type Env struct {
	Now     func() time.Time // the clock; time.Now when nil
	Logger  *slog.Logger
	Targets config.Targets // KPI targets, e.g. the default sql latency
	// SQL shares connection pools between sql and metric checks (one per DSN).
	SQL *SQLPools
	// HTTP shares transports and body buffers between http checks; when nil,
	// each http check gets clients of its own.
	HTTP *HTTPClients
	// History reads earlier values of a check, for metric baselines.
	History History
	// Heartbeats reads the pings received for heartbeat checks.
	Heartbeats Heartbeats
	// Agents lists the agents sharing a PostgreSQL database, for cluster
	// checks; nil outside `pulse run` on PostgreSQL.
	Agents Agents
}

// History reads stored results.
type History interface {
	// ValueNear returns the value of check's result closest to t within
	// ±tolerance, and false when there is none.
	ValueNear(ctx context.Context, check string, t time.Time, tolerance time.Duration) (float64, bool, error)
}

// Heartbeats reads the pings of heartbeat checks.
type Heartbeats interface {
	// LastPings returns the most recent ping of each kind for check.
	LastPings(ctx context.Context, check string) (PingState, error)
}

// PingState is what a heartbeat check evaluates: the latest ping of each
// kind (zero time when none), and when the check was first seen.
type PingState struct {
	LastSuccess time.Time
	LastStart   time.Time
	LastFail    time.Time
	FirstSeen   time.Time // when the agent started watching this check
}

// Constructor builds a Checker from a validated check definition.
type Constructor func(c *config.Check, env *Env) (Checker, error)

// kinds is the registry: one line per check kind, no init() side effects.
var kinds = map[string]Constructor{
	"http":      newHTTP,
	"tcp":       newTCP,
	"dns":       newDNS,
	"tls":       newTLS,
	"smtp":      newSMTP,
	"icmp":      newICMP,
	"domain":    newDomain,
	"grpc":      newGRPC,
	"sql":       newSQL,
	"command":   newCommand,
	"system":    newSystem,
	"heartbeat": newHeartbeat,
	"metric":    newMetric,
	"cluster":   newCluster,
}

// Kinds returns a copy of the registry.
func Kinds() map[string]Constructor { return maps.Clone(kinds) }

// New builds the Checker for c. A check whose definition holds secrets
// (see secretsOf) is wrapped so that its messages never show them, and the
// error of a definition that cannot be built shows none either.
//
// New never writes to env: callers build checks from several goroutines
// with one Env, so missing defaults go in a copy (the agent's Env has them,
// and its checks share it rather than holding a copy each).
func New(c *config.Check, env *Env) (Checker, error) {
	mk, ok := kinds[c.Type]
	if !ok {
		return nil, fmt.Errorf("check %q: unknown type %q", c.Name, c.Type)
	}
	if env == nil || env.Now == nil || env.Logger == nil {
		var e Env
		if env != nil {
			e = *env
		}
		if e.Now == nil {
			e.Now = time.Now
		}
		if e.Logger == nil {
			e.Logger = slog.New(slog.DiscardHandler)
		}
		env = &e
	}
	c = c.WithFields()
	chk, err := mk(c, env)
	sc := scrubberFor(c)
	if err != nil {
		return nil, scrubErr(err, sc)
	}
	if sc != nil {
		chk = scrubbed{Checker: chk, s: sc}
	}
	return chk, nil
}
