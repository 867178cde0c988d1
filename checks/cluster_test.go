package checks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cluster"
)

func TestClusterCheck(t *testing.T) {
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	live := func(id, loc string) cluster.AgentInfo {
		return cluster.AgentInfo{ID: id, Location: loc, Host: id, Live: true, LastSeen: ago(time.Second), StartedAt: ago(time.Hour)}
	}
	for _, tc := range []struct {
		name   string
		agents []cluster.AgentInfo
		err    error
		state  State
		want   []string
	}{
		{name: "all live", agents: []cluster.AgentInfo{live("a1", "fra"), live("a2", "nyc")},
			state: OK, want: []string{"2 agents: a1 (fra), a2 (nyc)"}},
		{name: "drift", agents: []cluster.AgentInfo{live("a1", ""), func() cluster.AgentInfo {
			a := live("a2", "")
			a.Drift, a.ConfigHash = true, "abc123"
			return a
		}()}, state: Crit, want: []string{"agent a2 runs a config that differs", "abc123", "takes no work"}},
		{name: "lost", agents: []cluster.AgentInfo{live("a1", ""),
			{ID: "a2", Host: "h2", LastSeen: ago(20 * time.Second), StartedAt: ago(time.Hour)}},
			state: Crit, want: []string{"agent a2 lost its database or stopped: last seen 20s ago"}},
		{name: "left gracefully", agents: []cluster.AgentInfo{live("a1", ""),
			{ID: "a2", Host: "h2", Left: true, LastSeen: ago(time.Minute)}}, state: OK},
		{name: "restarted on its host", agents: []cluster.AgentInfo{live("a1", ""),
			{ID: "h2:100", Host: "h2", LastSeen: ago(time.Minute), StartedAt: ago(time.Hour)},
			{ID: "h2:200", Host: "h2", Live: true, LastSeen: ago(time.Second), StartedAt: ago(30 * time.Second)}}, state: OK},
		{name: "forgotten after a day", agents: []cluster.AgentInfo{live("a1", ""),
			{ID: "a2", Host: "h2", LastSeen: ago(25 * time.Hour)}}, state: OK},
		{name: "database unreadable", err: errors.New("connection refused"), state: Unknown, want: []string{"cannot read the agents"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &clusterCheck{now: func() time.Time { return now },
				agents: func(context.Context) ([]cluster.AgentInfo, error) { return tc.agents, tc.err }}
			r := k.Run(context.Background())
			if r.State != tc.state {
				t.Errorf("state %v, want %v (%s)", r.State, tc.state, r.Message)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Message, w) {
					t.Errorf("message %q lacks %q", r.Message, w)
				}
			}
		})
	}
	if r := (&clusterCheck{now: time.Now}).Run(context.Background()); r.State != Unknown {
		t.Errorf("without agents: %+v", r)
	}
}
