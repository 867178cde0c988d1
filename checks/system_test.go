package checks

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// TestSystemRealMachine reads this machine with thresholds that make the
// state certain whatever its load: a percentage is never "> 100" and always
// ">= 0", and a load per core is never negative.
func TestSystemRealMachine(t *testing.T) {
	tests := []struct {
		metric, path, warn, crit string
		state                    State
		perf                     []string // labels that must be present
	}{
		{metric: "cpu", warn: "> 100", crit: "> 100", state: OK, perf: []string{"cpu"}},
		{metric: "cpu", warn: ">= 0", crit: "> 100", state: Warn},
		{metric: "cpu", warn: ">= 0", crit: ">= 0", state: Crit},
		{metric: "memory", warn: "outside 0..100", crit: "> 100", state: OK, perf: []string{"memory"}},
		{metric: "memory", warn: "> 100", crit: "inside 0..100", state: Crit},
		{metric: "disk", warn: "> 100", crit: "> 100", state: OK, perf: []string{"disk"}},
		{metric: "disk", path: "/", warn: ">= 0", crit: "< 0", state: Warn},
		{metric: "disk", path: "TEMPDIR", warn: "> 100", crit: ">= 0", state: Crit},
		{metric: "load", state: OK, perf: []string{"load_per_core", "load1", "load5", "load15"}},
		{metric: "load", crit: ">= 0", state: Crit},
		{metric: "load", warn: ">= 0", crit: "< 0", state: Warn},
	}
	for _, tc := range tests {
		t.Run(tc.metric+" "+tc.warn+" "+tc.crit, func(t *testing.T) {
			c := &config.Check{Name: "sys", Type: "system", KindFields: &config.KindFields{Metric: tc.metric, Path: tc.path}}
			if c.Path == "TEMPDIR" {
				c.Path = t.TempDir()
			}
			if tc.warn != "" {
				c.WarnIf = threshold(t, tc.warn)
			}
			if tc.crit != "" {
				c.CritIf = threshold(t, tc.crit)
			}
			k, err := New(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			res := Run(context.Background(), "sys", k, 5*time.Second, nil)
			if res.State != tc.state {
				t.Fatalf("got %s %q, want %s", res.State, res.Message, tc.state)
			}
			if !res.HasValue || res.Value < 0 || (tc.metric != "load" && res.Value > 100) {
				t.Errorf("value = %v (set %v)", res.Value, res.HasValue)
			}
			if !strings.HasPrefix(res.Message, tc.metric+" ") {
				t.Errorf("message %q", res.Message)
			}
			labels := map[string]Perf{}
			for _, p := range res.Perf {
				labels[p.Label] = p
			}
			for _, l := range tc.perf {
				p, ok := labels[l]
				if !ok {
					t.Errorf("no perfdata %q in %+v", l, res.Perf)
				}
				if tc.metric != "load" && p.UOM != "%" {
					t.Errorf("perfdata %+v has no %% unit", p)
				}
			}
			if tc.metric != "load" && labels[tc.metric].Value != res.Value {
				t.Errorf("perf %q = %v, value %v", tc.metric, labels[tc.metric].Value, res.Value)
			}
		})
	}
}

func TestSystemCPUIntervalSinceLastRun(t *testing.T) {
	samples := []cpu.TimesStat{
		{User: 100, Idle: 900},                                    // first run, start of its 200 ms sample
		{User: 150, Idle: 950},                                    // first run, end: 50 busy of 100
		{User: 250, Idle: 950, Iowait: 10},                        // a minute later: 100 busy of 110
		{User: 250, Idle: 950, Iowait: 10},                        // no tick since: resample
		{User: 260, Idle: 980, Iowait: 10},                        // 10 busy of 40
		{User: 315, Idle: 990, Iowait: 15, Steal: 30, Guest: 100}, // steal is busy, guest is already in user
	}
	var (
		slept []time.Duration
		now   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	)
	src := systemSource{
		cpuTimes: func(context.Context) (cpu.TimesStat, error) {
			s := samples[0]
			samples = samples[1:]
			return s, nil
		},
		sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			now = now.Add(d)
			return nil
		},
	}
	k, err := newSystemWith(&config.Check{Name: "cpu", KindFields: &config.KindFields{Metric: "cpu"}}, &Env{Now: func() time.Time { return now }}, src)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		state   State
		value   float64
		msg     string
	}{
		{0, OK, 50, "cpu 50.0% busy over 200ms"},
		{time.Minute, Crit, 100.0 / 110 * 100, "cpu 90.9% busy over 1m0s (crit_if > 90)"},
		{time.Second, OK, 25, "cpu 25.0% busy over 200ms"},
		{time.Minute, Warn, 85.0 / 100 * 100, "cpu 85.0% busy over 1m0s (warn_if > 80)"},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		res := k.Run(context.Background())
		if res.State != st.state || res.Value != st.value || res.Message != st.msg {
			t.Fatalf("run %d: got %s %v %q, want %s %v %q", i, res.State, res.Value, res.Message, st.state, st.value, st.msg)
		}
	}
	if !reflect.DeepEqual(slept, []time.Duration{cpuFirstSample, cpuFirstSample}) {
		t.Fatalf("slept %v", slept)
	}
}

func TestSystemInjectedReadings(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		c          config.Check
		src        systemSource
		state      State
		value      float64
		msg        string
		perfLabels []string
	}{
		{
			name: "memory default thresholds",
			c:    config.Check{KindFields: &config.KindFields{Metric: "memory"}},
			src: systemSource{memory: func(context.Context) (*mem.VirtualMemoryStat, error) {
				return &mem.VirtualMemoryStat{Total: 8 << 30, Used: 7 << 30, UsedPercent: 87.5}, nil
			}},
			state: Warn, value: 87.5, msg: "memory 87.5% used (7.0 GiB of 8.0 GiB) (warn_if > 80)", perfLabels: []string{"memory"},
		},
		{
			name: "memory unreadable",
			c:    config.Check{KindFields: &config.KindFields{Metric: "memory"}},
			src: systemSource{memory: func(context.Context) (*mem.VirtualMemoryStat, error) {
				return nil, boom
			}},
			state: Unknown, msg: "read memory: boom",
		},
		{
			name: "memory total zero",
			c:    config.Check{KindFields: &config.KindFields{Metric: "memory"}},
			src: systemSource{memory: func(context.Context) (*mem.VirtualMemoryStat, error) {
				return &mem.VirtualMemoryStat{}, nil
			}},
			state: Unknown, msg: "read memory: total is 0",
		},
		{
			name: "disk inodes worse than space",
			c:    config.Check{KindFields: &config.KindFields{Metric: "disk", Path: "/var"}},
			src: systemSource{disk: func(_ context.Context, path string) (*disk.UsageStat, error) {
				if path != "/var" {
					return nil, errors.New("wrong path " + path)
				}
				return &disk.UsageStat{Total: 100 << 30, Used: 50 << 30, UsedPercent: 50, InodesTotal: 1000, InodesUsed: 950, InodesUsedPercent: 95}, nil
			}},
			state: Crit, value: 50, msg: "disk /var 50.0% used (50.0 GiB of 100.0 GiB), inodes 95.0% used (crit_if > 90)",
			perfLabels: []string{"disk", "inodes"},
		},
		{
			name: "disk space worse than inodes",
			c:    config.Check{KindFields: &config.KindFields{Metric: "disk", WarnIf: threshold(t, "> 70"), CritIf: threshold(t, "> 95")}},
			src: systemSource{disk: func(context.Context, string) (*disk.UsageStat, error) {
				return &disk.UsageStat{Total: 1000, Used: 960, UsedPercent: 96, InodesTotal: 10, InodesUsedPercent: 80}, nil
			}},
			state: Crit, value: 96, msg: "disk / 96.0% used (960 B of 1000 B) (crit_if > 95), inodes 80.0% used (warn_if > 70)",
			perfLabels: []string{"disk", "inodes"},
		},
		{
			name: "disk without an inode table",
			c:    config.Check{KindFields: &config.KindFields{Metric: "disk"}},
			src: systemSource{disk: func(context.Context, string) (*disk.UsageStat, error) {
				return &disk.UsageStat{Total: 2048, Used: 1024, UsedPercent: 50}, nil
			}},
			state: OK, value: 50, msg: "disk / 50.0% used (1.0 KiB of 2.0 KiB)", perfLabels: []string{"disk"},
		},
		{
			name: "disk unreadable",
			c:    config.Check{KindFields: &config.KindFields{Metric: "disk", Path: "/nope"}},
			src: systemSource{disk: func(context.Context, string) (*disk.UsageStat, error) {
				return nil, boom
			}},
			state: Unknown, msg: "read disk usage of /nope: boom",
		},
		{
			name: "load per core",
			c:    config.Check{KindFields: &config.KindFields{Metric: "load", WarnIf: threshold(t, "> 1"), CritIf: threshold(t, "> 2")}},
			src: systemSource{
				load:  func(context.Context) (*load.AvgStat, error) { return &load.AvgStat{Load1: 3, Load5: 2, Load15: 1}, nil },
				cores: func(context.Context) (int, error) { return 2, nil },
			},
			state: Warn, value: 1.5, msg: "load 1.50 per core (1m load 3.00 on 2 cores) (warn_if > 1)",
			perfLabels: []string{"load_per_core", "load1", "load5", "load15"},
		},
		{
			name: "load has no default thresholds",
			c:    config.Check{KindFields: &config.KindFields{Metric: "load"}},
			src: systemSource{
				load:  func(context.Context) (*load.AvgStat, error) { return &load.AvgStat{Load1: 400}, nil },
				cores: func(context.Context) (int, error) { return 4, nil },
			},
			state: OK, value: 100, msg: "load 100.00 per core (1m load 400.00 on 4 cores)",
			perfLabels: []string{"load_per_core", "load1", "load5", "load15"},
		},
		{
			name: "load unreadable",
			c:    config.Check{KindFields: &config.KindFields{Metric: "load"}},
			src: systemSource{
				load:  func(context.Context) (*load.AvgStat, error) { return nil, boom },
				cores: func(context.Context) (int, error) { return 4, nil },
			},
			state: Unknown, msg: "read load average: boom",
		},
		{
			name: "cpu unreadable",
			c:    config.Check{KindFields: &config.KindFields{Metric: "cpu"}},
			src: systemSource{cpuTimes: func(context.Context) (cpu.TimesStat, error) {
				return cpu.TimesStat{}, boom
			}},
			state: Unknown, msg: "read cpu times: boom",
		},
		{
			name: "cpu sample cut short",
			c:    config.Check{KindFields: &config.KindFields{Metric: "cpu"}},
			src: systemSource{
				cpuTimes: func(context.Context) (cpu.TimesStat, error) { return cpu.TimesStat{User: 1}, nil },
				sleep:    func(ctx context.Context, _ time.Duration) error { return context.DeadlineExceeded },
			},
			state: Unknown, msg: "cpu sample interrupted: context deadline exceeded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Name = "sys"
			k, err := newSystemWith(&c, nil, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			res := k.Run(context.Background())
			if res.State != tc.state || res.Message != tc.msg {
				t.Fatalf("got %s %q\nwant %s %q", res.State, res.Message, tc.state, tc.msg)
			}
			if tc.state == Unknown {
				if res.HasValue {
					t.Errorf("unknown result has value %v", res.Value)
				}
				return
			}
			if !res.HasValue || res.Value != tc.value {
				t.Errorf("value = %v (set %v), want %v", res.Value, res.HasValue, tc.value)
			}
			var labels []string
			for _, p := range res.Perf {
				labels = append(labels, p.Label)
			}
			if !reflect.DeepEqual(labels, tc.perfLabels) {
				t.Errorf("perf labels %v, want %v", labels, tc.perfLabels)
			}
		})
	}
}

func TestSystemConstructor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      config.Check
		errMsg string
	}{
		{name: "no metric", c: config.Check{}, errMsg: "metric is required"},
		{name: "bad metric", c: config.Check{KindFields: &config.KindFields{Metric: "swap"}}, errMsg: `metric "swap" is not one of`},
		{name: "path on cpu", c: config.Check{KindFields: &config.KindFields{Metric: "cpu", Path: "/"}}, errMsg: `path applies only to metric "disk"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Name, c.Type = "s", "system"
			if _, err := New(&c, nil); err == nil || !strings.Contains(err.Error(), tc.errMsg) {
				t.Fatalf("err = %v, want %q", err, tc.errMsg)
			}
		})
	}
	k, err := newSystemWith(&config.Check{KindFields: &config.KindFields{Metric: "Disk", CritIf: threshold(t, "> 95")}}, nil, hostSource())
	if err != nil {
		t.Fatal(err)
	}
	if k.path != "/" || k.warn.String() != "> 80" || k.crit.String() != "> 95" {
		t.Errorf("defaults: path %q warn %q crit %q", k.path, k.warn, k.crit)
	}
	k, err = newSystemWith(&config.Check{KindFields: &config.KindFields{Metric: "load"}}, nil, hostSource())
	if err != nil {
		t.Fatal(err)
	}
	if k.warn.IsSet() || k.crit.IsSet() {
		t.Errorf("load got default thresholds %q %q", k.warn, k.crit)
	}
}

func TestSystemDiskMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	k, err := New(&config.Check{Name: "d", Type: "system", KindFields: &config.KindFields{Metric: "disk", Path: missing}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), "d", k, 5*time.Second, nil)
	if res.State != Unknown || !strings.Contains(res.Message, "read disk usage of "+missing) {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
}
