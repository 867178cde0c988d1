package checks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// fakeHeartbeats serves one PingState and remembers which check asked.
type fakeHeartbeats struct {
	ps    PingState
	err   error
	asked []string
}

var _ Heartbeats = (*fakeHeartbeats)(nil)

func (f *fakeHeartbeats) LastPings(_ context.Context, check string) (PingState, error) {
	f.asked = append(f.asked, check)
	return f.ps, f.err
}

func TestHeartbeatPeriod(t *testing.T) {
	now := time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	watching := ago(2 * time.Hour)
	cases := []struct {
		name      string
		ps        PingState
		grace     time.Duration // default 5m
		state     State
		msg       string
		runtime   float64 // seconds; 0: no value expected
		noRuntime bool
	}{
		{name: "new", ps: PingState{FirstSeen: ago(30 * time.Minute)}, state: OK, msg: "waiting for first ping (new)"},
		{name: "new just before the first deadline", ps: PingState{FirstSeen: ago(65*time.Minute - time.Second)}, state: OK, msg: "waiting for first ping (new)"},
		{name: "new past the first deadline", ps: PingState{FirstSeen: ago(65 * time.Minute)}, state: Crit,
			msg: "no ping since started watching 1h5m ago (period 1h + grace 5m)"},
		{name: "new without FirstSeen counts from construction", ps: PingState{}, state: OK, msg: "waiting for first ping (new)"},
		{name: "new and running", ps: PingState{FirstSeen: ago(30 * time.Minute), LastStart: ago(time.Minute)}, state: OK,
			msg: "running, started 1m ago (new)"},
		{name: "new and failed", ps: PingState{FirstSeen: ago(30 * time.Minute), LastFail: ago(time.Minute)}, state: Crit,
			msg: "job reported failure 1m ago"},
		{name: "ok", ps: PingState{FirstSeen: watching, LastSuccess: ago(12 * time.Minute)}, state: OK, msg: "last ping 12m ago"},
		{name: "late within grace", ps: PingState{FirstSeen: watching, LastSuccess: ago(62 * time.Minute)}, state: OK,
			msg: "last ping 1h2m ago, late (grace ends in 3m)"},
		{name: "late past grace", ps: PingState{FirstSeen: watching, LastSuccess: ago(65 * time.Minute)}, state: Crit,
			msg: "no ping for 1h5m (period 1h + grace 5m)"},
		{name: "late without grace", grace: -1, ps: PingState{FirstSeen: watching, LastSuccess: ago(60 * time.Minute)}, state: Crit,
			msg: "no ping for 1h (period 1h + grace 0s)"},
		{name: "fail newer than success", ps: PingState{FirstSeen: watching, LastSuccess: ago(30 * time.Minute), LastFail: ago(90 * time.Second)},
			state: Crit, msg: "job reported failure 1m ago"},
		{name: "fail older than success", ps: PingState{FirstSeen: watching, LastSuccess: ago(30 * time.Minute), LastFail: ago(40 * time.Minute)},
			state: OK, msg: "last ping 30m ago"},
		{name: "fail wins over a later start", ps: PingState{FirstSeen: watching, LastSuccess: ago(50 * time.Minute), LastFail: ago(20 * time.Minute), LastStart: ago(time.Minute)},
			state: Crit, msg: "job reported failure 20m ago"},
		{name: "start without success past grace", ps: PingState{FirstSeen: watching, LastSuccess: ago(30 * time.Minute), LastStart: ago(12 * time.Minute)},
			state: Crit, msg: "started 12m ago, no success within grace 5m"},
		{name: "start within grace", ps: PingState{FirstSeen: watching, LastSuccess: ago(50 * time.Minute), LastStart: ago(2 * time.Minute)},
			state: OK, msg: "running, started 2m ago, last success 50m ago"},
		{name: "running does not excuse a missed period", ps: PingState{FirstSeen: watching, LastSuccess: ago(2 * time.Hour), LastStart: ago(time.Minute)},
			state: Crit, msg: "no ping for 2h (period 1h + grace 5m)"},
		{name: "start then success records the run time", ps: PingState{FirstSeen: watching, LastStart: ago(10*time.Minute + 42*time.Second), LastSuccess: ago(10 * time.Minute)},
			state: OK, msg: "last ping 10m ago, ran 42s", runtime: 42},
		{name: "run time kept while late", ps: PingState{FirstSeen: watching, LastStart: ago(67 * time.Minute), LastSuccess: ago(66 * time.Minute)},
			state: Crit, msg: "no ping for 1h6m (period 1h + grace 5m)", runtime: 60},
		{name: "start too long before success is no run time", ps: PingState{FirstSeen: watching, LastStart: ago(14 * time.Hour), LastSuccess: ago(10 * time.Minute)},
			state: OK, msg: "last ping 10m ago", noRuntime: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			grace := 5 * time.Minute
			switch {
			case tc.grace < 0:
				grace = 0
			case tc.grace > 0:
				grace = tc.grace
			}
			hb := &fakeHeartbeats{ps: tc.ps}
			c := &config.Check{Name: "backup", Type: "heartbeat", KindFields: &config.KindFields{Period: config.Duration(time.Hour), Grace: config.Duration(grace)}}
			chk, err := New(c, &Env{Now: func() time.Time { return now }, Heartbeats: hb})
			if err != nil {
				t.Fatal(err)
			}
			res := chk.Run(context.Background())
			if res.State != tc.state || res.Message != tc.msg {
				t.Errorf("got %s %q, want %s %q", res.State, res.Message, tc.state, tc.msg)
			}
			if len(hb.asked) != 1 || hb.asked[0] != "backup" {
				t.Errorf("LastPings asked for %q, want [backup]", hb.asked)
			}
			switch {
			case tc.runtime > 0:
				if !res.HasValue || res.Value != tc.runtime {
					t.Errorf("value = %v (set %v), want runtime %v", res.Value, res.HasValue, tc.runtime)
				}
				if len(res.Perf) != 1 || res.Perf[0] != (Perf{Label: "runtime", Value: tc.runtime, UOM: "s"}) {
					t.Errorf("perf = %+v, want runtime=%vs", res.Perf, tc.runtime)
				}
			case res.HasValue || len(res.Perf) > 0:
				t.Errorf("unexpected value %v / perf %+v", res.Value, res.Perf)
			}
		})
	}
}

func TestHeartbeatSchedule(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name     string
		schedule string
		now      string // Paris time
		ps       PingState
		state    State
		msg      string
	}{
		{name: "ran today", schedule: "30 2 * * *", now: "2026-11-19 11:00",
			ps: PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-19 02:31")}, state: OK, msg: "last ping 8h29m ago"},
		{name: "today's run missing past grace", schedule: "30 2 * * *", now: "2026-11-19 11:00",
			ps:    PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-18 02:31")},
			state: Crit, msg: "no success since the run expected at 2026-11-19 02:30 (grace 15m), last ping 1d8h ago"},
		{name: "today's run missing within grace", schedule: "30 2 * * *", now: "2026-11-19 02:40",
			ps:    PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-18 02:31")},
			state: OK, msg: "last ping 1d ago, late (grace ends in 5m)"},
		{name: "a missed run stays crit when the next run is due", schedule: "30 2 * * *", now: "2026-11-19 02:35",
			ps:    PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-17 02:31")},
			state: Crit, msg: "no success since the run expected at 2026-11-18 02:30 (grace 15m), last ping 2d ago"},
		{name: "weekdays: no run expected over the weekend", schedule: "0 9 * * 1-5", now: "2026-11-23 08:00",
			ps: PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-20 09:02")}, state: OK, msg: "last ping 2d22h ago"},
		{name: "weekdays: Monday's run missing", schedule: "0 9 * * 1-5", now: "2026-11-23 09:20",
			ps:    PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-20 09:02")},
			state: Crit, msg: "no success since the run expected at 2026-11-23 09:00 (grace 15m), last ping 3d ago"},
		{name: "new before the first expected run", schedule: "30 2 * * *", now: "2026-11-19 11:00",
			ps: PingState{FirstSeen: at("2026-11-19 03:00")}, state: OK, msg: "waiting for first ping (new)"},
		{name: "new past the first expected run", schedule: "30 2 * * *", now: "2026-11-19 11:00",
			ps: PingState{FirstSeen: at("2026-11-18 12:00")}, state: Crit, msg: "no ping since started watching 23h ago (schedule + grace 15m)"},
		{name: "fail at once", schedule: "30 2 * * *", now: "2026-11-19 02:33",
			ps: PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-18 02:31"), LastFail: at("2026-11-19 02:32")}, state: Crit, msg: "job reported failure 1m ago"},
		{name: "seconds field", schedule: "0 0 */6 * * *", now: "2026-11-19 11:00",
			ps: PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-19 06:01")}, state: OK, msg: "last ping 4h59m ago"},
		{name: "@every acts as a period", schedule: "@every 30m", now: "2026-11-19 11:00",
			ps:    PingState{FirstSeen: at("2026-11-01 00:00"), LastSuccess: at("2026-11-19 10:10")},
			state: Crit, msg: "no success since the run expected at 2026-11-19 10:40 (grace 15m), last ping 50m ago"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := at(tc.now)
			c := &config.Check{Name: "nightly", Type: "heartbeat", Schedule: tc.schedule, Location: paris, KindFields: &config.KindFields{Grace: config.Duration(15 * time.Minute)}}
			chk, err := New(c, &Env{Now: func() time.Time { return now }, Heartbeats: &fakeHeartbeats{ps: tc.ps}})
			if err != nil {
				t.Fatal(err)
			}
			res := chk.Run(context.Background())
			if res.State != tc.state || res.Message != tc.msg {
				t.Errorf("got %s %q, want %s %q", res.State, res.Message, tc.state, tc.msg)
			}
		})
	}
}

func TestHeartbeatWithoutStore(t *testing.T) {
	now := time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)
	c := &config.Check{Name: "backup", Type: "heartbeat", KindFields: &config.KindFields{Period: config.Duration(time.Hour)}}
	t.Run("nil store", func(t *testing.T) {
		chk, err := New(c, &Env{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		res := chk.Run(context.Background())
		if res.State != Unknown || res.Message != "no heartbeat store (heartbeats need `pulse run`)" {
			t.Errorf("got %s %q", res.State, res.Message)
		}
	})
	t.Run("store error", func(t *testing.T) {
		chk, err := New(c, &Env{Now: func() time.Time { return now }, Heartbeats: &fakeHeartbeats{err: errors.New("database is locked")}})
		if err != nil {
			t.Fatal(err)
		}
		res := chk.Run(context.Background())
		if res.State != Unknown || res.Message != "cannot read pings: database is locked" {
			t.Errorf("got %s %q", res.State, res.Message)
		}
	})
}

func TestHeartbeatConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		c    config.Check
		want string
	}{
		{"neither", config.Check{Name: "hb", Type: "heartbeat", KindFields: &config.KindFields{Grace: config.Duration(time.Minute)}}, `check "hb": a heartbeat needs period`},
		{"both", config.Check{Name: "hb", Type: "heartbeat", Schedule: "@daily", KindFields: &config.KindFields{Period: config.Duration(time.Hour)}}, `check "hb": set period or schedule, not both`},
		{"bad schedule", config.Check{Name: "hb", Type: "heartbeat", Schedule: "61 * * * *"}, `check "hb": schedule: `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
