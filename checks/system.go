package checks

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// cpuFirstSample is how long the first cpu run measures when there is no
// earlier sample to compare with.
const cpuFirstSample = 200 * time.Millisecond

// Default system thresholds (README "Configuration": 80 % warn, 90 % crit) for cpu, memory and
// disk; the config layer normally fills them, this keeps a bare Check safe.
const (
	systemDefaultWarn = "> 80"
	systemDefaultCrit = "> 90"
)

// systemSource is where a system check reads the machine; tests replace it.
type systemSource struct {
	cpuTimes func(ctx context.Context) (cpu.TimesStat, error)
	memory   func(ctx context.Context) (*mem.VirtualMemoryStat, error)
	disk     func(ctx context.Context, path string) (*disk.UsageStat, error)
	load     func(ctx context.Context) (*load.AvgStat, error)
	cores    func(ctx context.Context) (int, error)
	// sleep waits d or until ctx is done (the first cpu sample).
	sleep func(ctx context.Context, d time.Duration) error
}

func hostSource() systemSource {
	return systemSource{
		cpuTimes: func(ctx context.Context) (cpu.TimesStat, error) {
			ts, err := cpu.TimesWithContext(ctx, false)
			if err != nil {
				return cpu.TimesStat{}, err
			}
			if len(ts) == 0 {
				return cpu.TimesStat{}, fmt.Errorf("no cpu times")
			}
			return ts[0], nil
		},
		memory: mem.VirtualMemoryWithContext,
		disk:   disk.UsageWithContext,
		load:   load.AvgWithContext,
		cores: func(ctx context.Context) (int, error) {
			return cpu.CountsWithContext(ctx, true)
		},
		sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
}

// systemCheck reads one metric of the local machine.
type systemCheck struct {
	metric     string
	path       string
	warn, crit config.Threshold
	src        systemSource
	now        func() time.Time

	mu      sync.Mutex
	prev    cpu.TimesStat // cpu: the sample the next run compares with
	prevAt  time.Time
	hasPrev bool
	cores   int // load: cached logical core count
}

var _ Checker = (*systemCheck)(nil)

// newSystem builds a system check for metric cpu, memory, disk or load.
func newSystem(c *config.Check, env *Env) (Checker, error) {
	return newSystemWith(c, env, hostSource())
}

func newSystemWith(c *config.Check, env *Env, src systemSource) (*systemCheck, error) {
	k := &systemCheck{
		metric: strings.ToLower(strings.TrimSpace(c.Metric)),
		path:   c.Path,
		warn:   c.WarnIf,
		crit:   c.CritIf,
		src:    src,
		now:    time.Now,
	}
	if env != nil && env.Now != nil {
		k.now = env.Now
	}
	switch k.metric {
	case "cpu", "memory", "disk":
		if !k.warn.IsSet() {
			k.warn, _ = config.ParseThreshold(systemDefaultWarn)
		}
		if !k.crit.IsSet() {
			k.crit, _ = config.ParseThreshold(systemDefaultCrit)
		}
	case "load":
		// No default: a sensible load per core depends on the workload.
	case "":
		return nil, fmt.Errorf("check %q: metric is required (cpu, memory, disk or load)", c.Name)
	default:
		return nil, fmt.Errorf("check %q: metric %q is not one of cpu, memory, disk, load", c.Name, c.Metric)
	}
	if k.metric == "disk" {
		if k.path == "" {
			k.path = "/"
		}
	} else if k.path != "" {
		return nil, fmt.Errorf("check %q: path applies only to metric \"disk\"", c.Name)
	}
	return k, nil
}

// Run reads the metric and applies crit_if, then warn_if.
func (k *systemCheck) Run(ctx context.Context) Result {
	switch k.metric {
	case "cpu":
		return k.runCPU(ctx)
	case "memory":
		return k.runMemory(ctx)
	case "disk":
		return k.runDisk(ctx)
	default:
		return k.runLoad(ctx)
	}
}

// runCPU measures the busy share of all cores since the previous run, so
// that a check every minute reports the whole minute, not a spike.
func (k *systemCheck) runCPU(ctx context.Context) Result {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur, err := k.src.cpuTimes(ctx)
	if err != nil {
		return Result{State: Unknown, Message: fmt.Sprintf("read cpu times: %v", err)}
	}
	now := k.now()
	prev, since := k.prev, now.Sub(k.prevAt)
	if !k.hasPrev || cpuTotal(cur) <= cpuTotal(prev) {
		// First run, or too soon after the last one to have a tick between.
		prev = cur
		if err := k.src.sleep(ctx, cpuFirstSample); err != nil {
			return Result{State: Unknown, Message: fmt.Sprintf("cpu sample interrupted: %v", err)}
		}
		if cur, err = k.src.cpuTimes(ctx); err != nil {
			return Result{State: Unknown, Message: fmt.Sprintf("read cpu times: %v", err)}
		}
		now, since = k.now(), cpuFirstSample
	}
	k.prev, k.prevAt, k.hasPrev = cur, now, true

	total := cpuTotal(cur) - cpuTotal(prev)
	if total <= 0 {
		return Result{State: Unknown, Message: "cpu times did not advance"}
	}
	busy := total - (cur.Idle - prev.Idle) - (cur.Iowait - prev.Iowait)
	pct := min(100, max(0, busy/total*100))
	res := k.judge(pct, fmt.Sprintf("cpu %s%% busy over %s", pct1(pct), since.Round(time.Millisecond)))
	res.Perf = []Perf{percentPerf("cpu", pct)}
	return res
}

// cpuTotal is all cpu time, without guest time, which Linux already counts
// in user and nice.
func cpuTotal(t cpu.TimesStat) float64 {
	return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
}

func (k *systemCheck) runMemory(ctx context.Context) Result {
	vm, err := k.src.memory(ctx)
	if err != nil {
		return Result{State: Unknown, Message: fmt.Sprintf("read memory: %v", err)}
	}
	if vm.Total == 0 {
		return Result{State: Unknown, Message: "read memory: total is 0"}
	}
	pct := vm.UsedPercent
	res := k.judge(pct, fmt.Sprintf("memory %s%% used (%s of %s)", pct1(pct), bytesIEC(vm.Used), bytesIEC(vm.Total)))
	res.Perf = []Perf{percentPerf("memory", pct)}
	return res
}

// runDisk judges both space and inodes; the worse decides, the value is the
// space used.
func (k *systemCheck) runDisk(ctx context.Context) Result {
	u, err := k.src.disk(ctx, k.path)
	if err != nil {
		return Result{State: Unknown, Message: fmt.Sprintf("read disk usage of %s: %v", k.path, err)}
	}
	if u.Total == 0 {
		return Result{State: Unknown, Message: fmt.Sprintf("disk %s reports a size of 0", k.path)}
	}
	res := k.judge(u.UsedPercent, fmt.Sprintf("disk %s %s%% used (%s of %s)",
		k.path, pct1(u.UsedPercent), bytesIEC(u.Used), bytesIEC(u.Total)))
	res.Perf = []Perf{percentPerf("disk", u.UsedPercent)}
	// Filesystems without a fixed inode table (btrfs, vfat) report none.
	if u.InodesTotal > 0 {
		res.Perf = append(res.Perf, percentPerf("inodes", u.InodesUsedPercent))
		st, why := judgeThresholds(k.warn, k.crit, u.InodesUsedPercent)
		res.Message += fmt.Sprintf(", inodes %s%% used", pct1(u.InodesUsedPercent))
		if st != OK {
			res.Message += " " + why
		}
		res.State = Worse(res.State, st)
	}
	return res
}

// runLoad divides the 1-minute load average by the logical core count, so
// one threshold fits machines of every size.
func (k *systemCheck) runLoad(ctx context.Context) Result {
	k.mu.Lock()
	if k.cores == 0 {
		n, err := k.src.cores(ctx)
		if err != nil || n <= 0 {
			n = runtime.NumCPU()
		}
		k.cores = n
	}
	cores := k.cores
	k.mu.Unlock()
	avg, err := k.src.load(ctx)
	if err != nil {
		return Result{State: Unknown, Message: fmt.Sprintf("read load average: %v", err)}
	}
	per := avg.Load1 / float64(cores)
	res := k.judge(per, fmt.Sprintf("load %s per core (1m load %s on %d cores)",
		strconv.FormatFloat(per, 'f', 2, 64), strconv.FormatFloat(avg.Load1, 'f', 2, 64), cores))
	res.Perf = []Perf{
		{Label: "load_per_core", Value: per},
		{Label: "load1", Value: avg.Load1},
		{Label: "load5", Value: avg.Load5},
		{Label: "load15", Value: avg.Load15},
	}
	return res
}

// judge builds the result for value v described by msg.
func (k *systemCheck) judge(v float64, msg string) Result {
	res := Result{State: OK, Message: msg}
	res.SetValue(v)
	if st, why := judgeThresholds(k.warn, k.crit, v); st != OK {
		res.State = st
		res.Message += " " + why
	}
	return res
}

func percentPerf(label string, v float64) Perf {
	return Perf{Label: label, Value: v, UOM: "%", Min: "0", Max: "100"}
}

func pct1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// bytesIEC formats n as "3.2 GiB".
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
