package checks

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cluster"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Agents lists the agents sharing the database, as pkg/cluster sees them.
type Agents func(ctx context.Context) ([]cluster.AgentInfo, error)

// clusterForget is how long an agent that stopped renewing without
// leaving stays a problem: long enough for someone to look, short enough
// that a VM retired without a graceful stop does not page forever.
const clusterForget = 24 * time.Hour

// clusterCheck is the cluster kind: crit when an agent sharing the
// database runs a config that differs from the majority's (it takes no
// work), or stopped renewing its leases without leaving (it lost its
// database, or died) and no agent has started on its host and location
// since (a restart).
type clusterCheck struct {
	agents Agents
	now    func() time.Time
}

func newCluster(_ *config.Check, env *Env) (Checker, error) {
	return &clusterCheck{agents: env.Agents, now: env.Now}, nil
}

func (k *clusterCheck) Run(ctx context.Context) Result {
	if k.agents == nil {
		return Result{State: Unknown, Message: "the agents are known to `pulse run` on PostgreSQL only"}
	}
	as, err := k.agents(ctx)
	if err != nil {
		return Result{State: Unknown, Message: "cannot read the agents: " + err.Error()}
	}
	now := k.now()
	var problems, live []string
	for _, a := range as {
		name := a.ID
		if a.Location != "" {
			name += " (" + a.Location + ")"
		}
		switch {
		case a.Drift:
			problems = append(problems, fmt.Sprintf("agent %s runs a config that differs from the other agents' (hash %s): it takes no work",
				name, a.ConfigHash))
		case a.Live:
			live = append(live, name)
		case !a.Left && now.Sub(a.LastSeen) < clusterForget && !restarted(a, as):
			problems = append(problems, fmt.Sprintf("agent %s lost its database or stopped: last seen %s ago; the others took its work over",
				name, ui.Approx(now.Sub(a.LastSeen))))
		}
	}
	sort.Strings(problems)
	r := Result{Value: float64(len(live)), HasValue: true}
	if len(problems) > 0 {
		r.State, r.Message = Crit, strings.Join(problems, "; ")
		return r
	}
	r.State, r.Message = OK, fmt.Sprintf("%d agents: %s", len(live), strings.Join(live, ", "))
	return r
}

// restarted reports whether an agent started on a's host and location
// after a was last seen, and is live: a restart, not a loss.
func restarted(a cluster.AgentInfo, as []cluster.AgentInfo) bool {
	for _, b := range as {
		if b.ID != a.ID && b.Live && b.Host == a.Host && b.Location == a.Location && b.StartedAt.After(a.LastSeen) {
			return true
		}
	}
	return false
}
