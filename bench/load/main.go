// Command load measures pulse under load (issue 7, docs/BENCHMARKS.md).
//
// It starts a loopback HTTP target in-process, writes a config of N http
// checks against it, and runs the real `pulse run` as a child process; then,
// in the same invocation and against the same target, the floor: a child
// process (this command with -floor) that sends the same GETs with one
// ticker per check and nothing else. Both are measured the same way: CPU
// time (utime+stime from /proc/PID/stat) over the measured window, peak RSS
// (VmHWM), and, from the target's side, the runs that happened against the
// runs scheduled and each run's lateness against its slot (pulse spreads
// each check at schedule.Offset within its interval, at epoch-aligned slots).
//
//	go run ./bench/load -checks 25000 -interval 5s -duration 60s -warmup 15s
//	go run ./bench/load -smoke                 # CI: exits 1 on a gross regression
//	go run ./bench/load -seed-db /tmp/h.db     # goal 5: seed 1,000 checks x 30 days, time the readers
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

type options struct {
	pulse       string
	checks      int
	interval    time.Duration
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	runs        int
	noFloor     bool
	reload      bool
	profile     string
	keep        bool
	smoke       bool
	logLevel    string
	alerts      int
	store       string // postgres:// base URL: a fresh schema per run
	agents      int
}

func main() {
	var o options
	var floor bool
	var floorTarget string
	var floorFor time.Duration
	var seed seedOptions
	flag.StringVar(&o.pulse, "pulse", "", "pulse binary to measure (default: build ./cmd/pulse)")
	flag.IntVar(&o.checks, "checks", 25000, "http checks")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "interval of every check")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "measured window")
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "time from start to the measured window")
	flag.IntVar(&o.concurrency, "concurrency", 256, "[agent].max_concurrency")
	flag.IntVar(&o.runs, "runs", 1, "repeat the pulse and floor phases this many times; medians are printed")
	flag.BoolVar(&o.noFloor, "no-floor", false, "measure pulse only")
	flag.BoolVar(&o.reload, "reload", false, "send pulse SIGHUP in the middle of the window and time the reload")
	flag.StringVar(&o.profile, "profile", "", "write pulse's CPU profile of the window and a heap profile to this folder (PULSE_PPROF)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (config, database, pulse's stderr as pulse-N.log)")
	flag.BoolVar(&o.smoke, "smoke", false, "CI smoke: 2,000 checks at 1s for 10s after 5s; exit 1 under 90% of runs or a CPU ratio over 3x")
	flag.StringVar(&o.logLevel, "log-level", "info", "pulse's --log-level")
	flag.IntVar(&o.alerts, "alerts", 0, "goal 6: make this many checks fail during the window (P1, fail_after 1, webhook within 0s) and time first failure -> webhook")
	flag.StringVar(&o.store, "store", "", "keep pulse's history in PostgreSQL at this postgres:// base URL: each run creates a fresh schema (search_path) and drops it after unless -keep")
	flag.IntVar(&o.agents, "agents", 1, "run this many pulse agents on the same config (PULSE_AGENT_ID a1, a2, ...); more than one needs -store")
	flag.BoolVar(&floor, "floor", false, "internal: run the floor client")
	flag.StringVar(&floorTarget, "target", "", "internal: the floor's target base URL")
	flag.DurationVar(&floorFor, "for", 0, "internal: the floor's run time (0: until SIGTERM)")
	flag.StringVar(&seed.db, "seed-db", "", "goal 5: seed this database (1,000 checks x 30 days at 1m) and time status/report reads")
	flag.IntVar(&seed.checks, "seed-checks", 1000, "checks in the seeded database")
	flag.DurationVar(&seed.span, "seed-span", 30*24*time.Hour, "history to seed")
	flag.DurationVar(&seed.every, "seed-interval", time.Minute, "interval of the seeded history")
	flag.BoolVar(&seed.readOnly, "read-only", false, "with -seed-db: do not seed, only time the reads of an existing database")
	flag.Parse()

	if floor {
		if err := runFloor(floorTarget, o.checks, o.interval, floorFor); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	if o.smoke {
		o.checks, o.interval, o.duration, o.warmup, o.noFloor = 2000, time.Second, 10*time.Second, 5*time.Second, false
	}
	if o.agents < 1 || (o.agents > 1 && o.store == "") {
		fmt.Fprintln(os.Stderr, "load: -agents N > 1 needs -store (agents share the work only through PostgreSQL)")
		os.Exit(2)
	}
	code, err := run(o, seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(o options, seed seedOptions) (int, error) {
	dir, err := os.MkdirTemp("", "pulse-load-")
	if err != nil {
		return 0, err
	}
	if o.keep {
		fmt.Println("temporary folder:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.pulse == "" {
		o.pulse = filepath.Join(dir, "pulse")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", o.pulse, "github.com/pulse-monitor/pulse/cmd/pulse")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("build pulse: %w", err)
		}
		fmt.Printf("built pulse in %s\n", time.Since(start).Round(time.Millisecond))
	}
	if seed.db != "" {
		return 0, runHistory(o, seed, dir)
	}
	return runLoad(o, dir)
}

func checkName(i int) string { return fmt.Sprintf("c-%05d", i) }
