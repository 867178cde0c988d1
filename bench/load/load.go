package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/pulse-monitor/pulse/pkg/schedule"
)

// phase is what one measured process did in its window.
type phase struct {
	name     string
	expected int // (check, slot) pairs with the slot in the window
	runs     int // of those, slots the target saw at least one request for
	dup      int // requests beyond the first for a slot
	cpu      time.Duration
	hwmKB    int64
	// Peaks of the resident set's parts, sampled every 50 ms from the
	// start (VmHWM is their sum's peak): anonymous memory (Go's heap and
	// stacks, SQLite's caches) and file pages (the binary, libraries).
	anonKB, fileKB int64
	p50, p99       time.Duration
	max            time.Duration
	load           string // 1-minute load average at the window's start → end

	// pulse only
	ready              time.Duration // exec → "pulse running" logged
	firstHit           time.Duration // exec → the first request at the target
	stop               time.Duration // SIGTERM → exit
	reload             time.Duration // SIGHUP → "config reloaded" logged (0: not measured)
	reloadP99          time.Duration // p99 lateness of the slots in the 5 s after SIGHUP
	reloadMax          time.Duration
	alerts, alertsSent int           // checks made to fail; of those, notified
	alert50, alert99   time.Duration // first failing answer → webhook arrival
	dbBytes            int64         // database + WAL after a checkpoint; PostgreSQL: the schema's tables with indexes and TOAST
	results            int64         // rows in results

	// -store (PostgreSQL)
	agentHWM                   []int64       // each agent's VmHWM, KiB
	stored                     int64         // results of the load's checks with ts in the window
	pgHeap, pgIndexes, pgTotal int64         // results: heap, its indexes, total (with TOAST), after VACUUM ANALYZE
	pgCPU                      time.Duration // postgres processes over the window, other clients' backends left out
	pgCPUAll                   time.Duration // every postgres process
	pgGone, pgBorn, pgOthers   int           // processes that ended / started in the window; other clients' backends
	pgErr                      string        // why pgCPU is not measured
	restarts                   int           // agents started again after exiting at start (-agents)
	arrived                    int           // requests the target answered with arrival in the window (one per run, duplicates included)

	// medianPct is, for a row of medians, the median of the runs' runs%:
	// runs and expected are the median-CPU run's, so that cpu/run stays
	// one run's cpu over its own runs.
	medianPct float64
}

func (p phase) runsPct() float64 {
	if p.medianPct > 0 {
		return p.medianPct
	}
	return 100 * float64(p.runs) / float64(max(p.expected, 1))
}

func (p phase) cpuPerRun() time.Duration {
	return p.cpu / time.Duration(max(p.runs, 1))
}

func runLoad(o options, dir string) (int, error) {
	tg, err := startTarget()
	if err != nil {
		return 0, err
	}
	defer tg.Close()
	fmt.Printf("pulse load: %d http checks every %s (%.0f checks/s), %s measured after %s warm-up, max_concurrency %d\n",
		o.checks, o.interval, float64(o.checks)/o.interval.Seconds(), o.duration, o.warmup, o.concurrency)
	fmt.Printf("machine: %s, %d cores; %s\n", machine(), nproc(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	var pulses, floors []phase
	for r := range o.runs {
		p, err := pulsePhase(o, dir, tg, r)
		if err != nil {
			return 0, err
		}
		pulses = append(pulses, p)
		var f phase
		if !o.noFloor {
			if f, err = floorPhase(o, tg); err != nil {
				return 0, err
			}
			floors = append(floors, f)
		}
		if o.runs > 1 {
			fmt.Printf("\nrun %d of %d\n", r+1, o.runs)
		}
		printTable(o, []phase{p}, []phase{f})
	}
	if o.runs > 1 {
		fmt.Printf("\nmedians of %d runs (each column on its own)\n", o.runs)
		printTable(o, []phase{median(pulses)}, []phase{median(floors)})
		if len(floors) == len(pulses) {
			var rs []float64
			for i := range pulses {
				rs = append(rs, float64(pulses[i].cpuPerRun())/float64(max(floors[i].cpuPerRun(), 1)))
			}
			fmt.Printf("CPU per run pulse/floor, each run: %.2f; median %.2fx\n", rs, medianOf(rs))
		}
	}
	if o.smoke {
		p, f := median(pulses), median(floors)
		ratio := float64(p.cpuPerRun()) / float64(max(f.cpuPerRun(), 1))
		switch {
		case p.runsPct() < 90:
			fmt.Printf("SMOKE FAIL: pulse ran %.1f%% of scheduled runs (under 90%%)\n", p.runsPct())
			return 1, nil
		case ratio > 3:
			fmt.Printf("SMOKE FAIL: pulse's CPU per run is %.2fx the floor's (over 3x)\n", ratio)
			return 1, nil
		}
		fmt.Printf("smoke ok: %.1f%% of runs, CPU ratio %.2fx\n", p.runsPct(), ratio)
	}
	return 0, nil
}

func nproc() int { return numCPU() }

func writeConfig(o options, path, db, base string) error {
	var b strings.Builder
	key := "database"
	if o.store != "" {
		key = "store" // db is the run's postgres:// URL
	}
	// No listen: agents on one machine do not clash over a port.
	fmt.Fprintf(&b, "[agent]\n%s = %q\nmax_concurrency = %d\n\n[defaults]\ntimeout = \"5s\"\n", key, db, o.concurrency)
	if o.alerts > 0 {
		// One failed run opens a P1 incident, sent at once to a webhook on
		// the target (goal 6).
		fmt.Fprintf(&b, "severity = \"P1\"\nfail_after = 1\nrecover_after = 1\n\n[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"%s/hook\"\n\n[escalation.P1]\nnotify = [\"hook\"]\nwithin = \"0s\"\n", base)
	}
	for i := range o.checks {
		fmt.Fprintf(&b, "\n[[check]]\nname = %q\ntype = \"http\"\nurl = \"%s/c/%d\"\ninterval = %q\n", checkName(i), base, i, o.interval.String())
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// capacity is the hit slice for one phase: every slot from start to the
// window's end, with room for duplicates.
func capacity(o options) int {
	slots := int((o.warmup+o.duration+5*time.Second)/o.interval) + 2
	return o.checks*slots*5/4 + 1024
}

// agentProc is one pulse child of a phase.
type agentProc struct {
	id             string // PULSE_AGENT_ID ("" for a lone SQLite agent)
	started        time.Time
	done           chan struct{} // closed when its stderr is read to the end
	cmd            *exec.Cmd
	exited         chan error
	logs           *logWatch
	stopSampling   func()
	hwmKB          int64
	anonKB, fileKB int64
}

// waitReady waits until the agent logs "pulse running".
func (ag *agentProc) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, ok := ag.logs.at("pulse running"); ok {
			return nil
		}
		select {
		case err := <-ag.exited:
			ag.exited <- err
			return fmt.Errorf("pulse %s exited early (%v):\n%s", ag.id, err, ag.logs.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("pulse %s: not running after %s", ag.id, d)
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func pulsePhase(o options, dir string, tg *target, r int) (p phase, err error) {
	p = phase{name: "pulse"}
	cfg := filepath.Join(dir, fmt.Sprintf("pulse-%d.toml", r))
	db := filepath.Join(dir, fmt.Sprintf("pulse-%d.db", r))
	var pg *pgSchema
	if o.store != "" {
		if pg, err = newPGSchema(o.store, r); err != nil {
			return p, err
		}
		defer func() {
			if e := pg.close(o.keep); e != nil && err == nil {
				err = fmt.Errorf("drop schema %s: %w", pg.name, e)
			}
		}()
		if db, err = pg.URL(); err != nil {
			return p, err
		}
	}
	if err := writeConfig(o, cfg, db, tg.URL()); err != nil {
		return p, err
	}
	if err := dropCachedPages(o.pulse); err != nil {
		return p, err
	}
	rec := newRecorder(capacity(o))
	tg.phase.Store(rec)
	tg.resetAlerts()
	pprofAddr := ""
	if o.profile != "" {
		pprofAddr = "127.0.0.1:16060"
	}
	agents := make([]*agentProc, o.agents)
	defer func() {
		// On an error, leave no agent behind.
		for _, ag := range agents {
			if ag != nil && ag.cmd.ProcessState == nil {
				ag.cmd.Process.Kill()
			}
		}
	}()
	startAgent := func(k, attempt int) (*agentProc, error) {
		ag := &agentProc{exited: make(chan error, 1), logs: newLogWatch(), started: time.Now()}
		if o.store != "" {
			ag.id = fmt.Sprintf("a%d", k+1)
		}
		ag.cmd = exec.Command(o.pulse, "--config", cfg, "--log-format", "json", "--log-level", o.logLevel, "run")
		ag.cmd.Env = os.Environ()
		if ag.id != "" {
			ag.cmd.Env = append(ag.cmd.Env, "PULSE_AGENT_ID="+ag.id)
		}
		if pprofAddr != "" && k == 0 {
			// The first agent's profile only.
			ag.cmd.Env = append(ag.cmd.Env, "PULSE_PPROF="+pprofAddr)
		}
		stderr, err := ag.cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		if err := ag.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start pulse: %w", err)
		}
		var logTo io.Writer = io.Discard
		if o.keep {
			name := fmt.Sprintf("pulse-%d.log", r)
			if ag.id != "" {
				name = fmt.Sprintf("pulse-%d-%s-%d.log", r, ag.id, attempt)
			}
			if f, err := os.Create(filepath.Join(dir, name)); err == nil {
				logTo = f
				defer func() {
					go func() { <-ag.done; f.Close() }()
				}()
			}
		}
		ag.done = make(chan struct{})
		go func() { ag.logs.read(io.TeeReader(stderr, logTo)); close(ag.done) }()
		go func() { ag.exited <- ag.cmd.Wait() }()
		ag.stopSampling = sampleRSS(ag.cmd.Process.Pid, &ag.anonKB, &ag.fileKB)
		return ag, nil
	}
	for k := range agents {
		for attempt := 0; ; attempt++ {
			ag, err := startAgent(k, attempt)
			if err != nil {
				return p, err
			}
			agents[k] = ag
			if o.agents == 1 {
				break
			}
			// One after another, each once it runs. An agent that exits
			// before it runs is started again, as a service manager
			// would (Restart=on-failure): agents starting next to others
			// have died of "register checks: deadlock detected"
			// (store.WatchChecks upserts every check in map order, and
			// locks each row, against the running agents' transactions).
			err = ag.waitReady(60 * time.Second)
			if err == nil {
				break
			}
			ag.stopSampling()
			if attempt >= 19 || ag.cmd.ProcessState == nil {
				return p, err
			}
			p.restarts++
			fmt.Printf("pulse %s exited at start, started again: %s\n", ag.id, lastLine(ag.logs.tail()))
		}
	}
	start := agents[0].started
	// The warm-up counts from the last agent's start.
	lastStart := time.Now()

	wait := func(until time.Time) error {
		for time.Now().Before(until) {
			for _, ag := range agents {
				select {
				case err := <-ag.exited:
					ag.exited <- err
					return fmt.Errorf("pulse %s exited early (%v):\n%s", ag.id, err, ag.logs.tail())
				default:
				}
			}
			time.Sleep(min(100*time.Millisecond, max(time.Until(until), 0)))
		}
		return nil
	}
	cpuAll := func() (time.Duration, error) {
		var sum time.Duration
		for _, ag := range agents {
			c, err := cpuTime(ag.cmd.Process.Pid)
			if err != nil {
				return 0, err
			}
			sum += c
		}
		return sum, nil
	}
	a := lastStart.Add(o.warmup)
	b := a.Add(o.duration)
	if err := wait(a); err != nil {
		return p, err
	}
	cpu0, err := cpuAll()
	if err != nil {
		return p, err
	}
	var pg0 map[int]time.Duration
	others := map[int]bool{}
	if pg != nil {
		if err := pg.otherBackends(others); err != nil {
			return p, err
		}
		if pg0, err = pgCPU(); err != nil {
			p.pgErr = err.Error()
		}
	}
	l0 := loadAvg()
	var prof sync.WaitGroup
	if pprofAddr != "" {
		prof.Add(1)
		go func() {
			defer prof.Done()
			secs := int(o.duration / time.Second)
			fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs), filepath.Join(o.profile, "cpu.pprof"))
		}()
	}
	if o.alerts > 0 {
		// Fail o.alerts checks one after another across the first half of
		// the window, each for two intervals.
		go func() {
			step := o.duration / 2 / time.Duration(o.alerts)
			failing := map[int]bool{}
			for k := range o.alerts {
				time.Sleep(time.Until(a.Add(time.Duration(k) * step)))
				next := map[int]bool{}
				for i := range failing {
					next[i] = true
				}
				next[(k*7919)%o.checks] = true
				failing = next
				tg.failing.Store(&next)
			}
			time.Sleep(2 * o.interval)
			tg.failing.Store(nil)
		}()
	}
	var hup time.Time
	if o.reload {
		if err := wait(a.Add(o.duration / 2)); err != nil {
			return p, err
		}
		// Rewrite the file (same checks) so the reload reads and validates
		// all of them, as an operator's edit would make it.
		if err := writeConfig(o, cfg, db, tg.URL()); err != nil {
			return p, err
		}
		hup = time.Now()
		for _, ag := range agents {
			if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				return p, err
			}
		}
	}
	if err := wait(b); err != nil {
		return p, err
	}
	cpu1, err := cpuAll()
	if err != nil {
		return p, err
	}
	if pg != nil && pg0 != nil {
		pg1, err := pgCPU()
		if err == nil {
			err = pg.otherBackends(others)
		}
		if err != nil {
			p.pgErr = err.Error()
		} else {
			p.pgCPUAll, _, _ = pgCPUDelta(pg0, pg1)
			p.pgCPU, p.pgGone, p.pgBorn = pgCPUDelta(without(pg0, others), without(pg1, others))
			p.pgOthers = len(others)
		}
	}
	p.load = l0 + "→" + loadAvg()
	// Runs due just before b are still reaching the target.
	if err := wait(b.Add(time.Second)); err != nil {
		return p, err
	}
	prof.Wait()
	if pprofAddr != "" {
		fetch("http://"+pprofAddr+"/debug/pprof/heap", filepath.Join(o.profile, "heap.pprof"))
	}
	for _, ag := range agents {
		if ag.hwmKB, err = memKB(ag.cmd.Process.Pid, "VmHWM"); err != nil {
			return p, err
		}
		ag.stopSampling()
		// The phase's memory is the largest agent's; each one's is listed.
		p.hwmKB, p.anonKB, p.fileKB = max(p.hwmKB, ag.hwmKB), max(p.anonKB, ag.anonKB), max(p.fileKB, ag.fileKB)
		p.agentHWM = append(p.agentHWM, ag.hwmKB)
	}
	stopAt := time.Now()
	for _, ag := range agents {
		ag.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, ag := range agents {
		select {
		case err := <-ag.exited:
			if err != nil {
				return p, fmt.Errorf("pulse %s: %v\n%s", ag.id, err, ag.logs.tail())
			}
		case <-time.After(60 * time.Second):
			ag.cmd.Process.Kill()
			return p, fmt.Errorf("pulse %s did not stop within 60s of SIGTERM", ag.id)
		}
	}
	p.stop = time.Since(stopAt)
	p.cpu = cpu1 - cpu0
	hits := rec.recorded()
	analyse(&p, o, hits, a, b)
	for _, h := range hits {
		// Requests by arrival, not by slot: a result's ts is its run's
		// start, and a run later than its interval counts for another slot.
		if h.ns >= a.UnixNano() && h.ns < b.UnixNano() {
			p.arrived++
		}
	}
	logs := agents[0].logs
	if t, ok := logs.at("pulse running"); ok {
		p.ready = t.Sub(start)
	}
	if len(hits) > 0 {
		first := slices.MinFunc(hits, func(x, y hit) int { return int(x.ns - y.ns) })
		p.firstHit = time.Unix(0, first.ns).Sub(start)
	}
	if !hup.IsZero() {
		if t, ok := logs.at("config reloaded"); ok {
			p.reload = t.Sub(hup)
		}
		var q phase
		analyse(&q, o, hits, hup, hup.Add(5*time.Second))
		p.reloadP99, p.reloadMax = q.p99, q.max
	}
	if o.alerts > 0 {
		lat, failed := tg.alertLatencies()
		p.alerts, p.alertsSent = failed, len(lat)
		if len(lat) > 0 {
			slices.Sort(lat)
			p.alert50, p.alert99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		}
	}
	if pg != nil {
		return p, pg.storage(&p, a, b)
	}
	if err := storage(&p, db); err != nil {
		return p, err
	}
	return p, nil
}

func floorPhase(o options, tg *target) (phase, error) {
	p := phase{name: "floor"}
	rec := newRecorder(capacity(o))
	tg.phase.Store(rec)
	self, err := os.Executable()
	if err != nil {
		return p, err
	}
	cmd := exec.Command(self, "-floor", "-target", tg.URL(), "-checks", fmt.Sprint(o.checks), "-interval", o.interval.String())
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return p, err
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	a := start.Add(o.warmup)
	b := a.Add(o.duration)
	time.Sleep(time.Until(a))
	cpu0, err := cpuTime(pid)
	if err != nil {
		return p, err
	}
	l0 := loadAvg()
	time.Sleep(time.Until(b))
	cpu1, err := cpuTime(pid)
	if err != nil {
		return p, err
	}
	p.load = l0 + "→" + loadAvg()
	time.Sleep(time.Second)
	if p.hwmKB, err = memKB(pid, "VmHWM"); err != nil {
		return p, err
	}
	cmd.Process.Signal(syscall.SIGTERM)
	p.cpu = cpu1 - cpu0
	analyse(&p, o, rec.recorded(), a, b)
	return p, nil
}

// analyse fills the run counts and lateness of p from the hits whose slot
// lies in [a, b). A hit's slot is the check's last scheduled time at or
// before the hit (schedule.Next of the same job pulse builds), so a run
// later than a whole interval counts for the wrong slot: runs% then falls,
// which is what it should do.
func analyse(p *phase, o options, hits []hit, a, b time.Time) {
	jobs := make([]schedule.Job, o.checks)
	for i := range jobs {
		jobs[i] = schedule.Job{Name: checkName(i), Interval: o.interval}
	}
	p.expected = 0
	for i := range jobs {
		for t := schedule.Next(&jobs[i], a.Add(-1)); t.Before(b); t = schedule.Next(&jobs[i], t) {
			p.expected++
		}
	}
	type run struct {
		check int32
		slot  int64
	}
	seen := make(map[run]struct{}, p.expected)
	var late []time.Duration
	for _, h := range hits {
		if int(h.check) >= len(jobs) || h.check < 0 {
			continue
		}
		t := time.Unix(0, h.ns)
		slot := schedule.Next(&jobs[h.check], t.Add(-o.interval))
		if slot.Before(a) || !slot.Before(b) {
			continue
		}
		k := run{h.check, slot.UnixNano()}
		if _, dup := seen[k]; dup {
			p.dup++
			continue
		}
		seen[k] = struct{}{}
		late = append(late, t.Sub(slot))
	}
	p.runs = len(seen)
	if len(late) == 0 {
		return
	}
	slices.Sort(late)
	p.p50 = late[len(late)/2]
	p.p99 = late[min(len(late)-1, len(late)*99/100)]
	p.max = late[len(late)-1]
}

// storage checkpoints the agent's database and measures it.
func storage(p *phase, path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := db.QueryRow("SELECT count(*) FROM results").Scan(&p.results); err != nil {
		return fmt.Errorf("count results: %w", err)
	}
	for _, f := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(f); err == nil {
			p.dbBytes += fi.Size()
		}
	}
	return nil
}

func median(ps []phase) phase {
	if len(ps) == 0 {
		return phase{}
	}
	pick := func(f func(phase) float64) phase {
		s := slices.Clone(ps)
		slices.SortFunc(s, func(x, y phase) int {
			switch a, b := f(x), f(y); {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		})
		return s[len(s)/2]
	}
	// Each column's median on its own.
	m := ps[0]
	m.medianPct = pick(func(p phase) float64 { return p.runsPct() }).runsPct()
	cr := pick(func(p phase) float64 { return float64(p.cpuPerRun()) })
	m.cpu, m.runs, m.expected = cr.cpu, cr.runs, cr.expected
	m.hwmKB = pick(func(p phase) float64 { return float64(p.hwmKB) }).hwmKB
	m.anonKB = pick(func(p phase) float64 { return float64(p.anonKB) }).anonKB
	m.fileKB = pick(func(p phase) float64 { return float64(p.fileKB) }).fileKB
	m.p50 = pick(func(p phase) float64 { return float64(p.p50) }).p50
	m.p99 = pick(func(p phase) float64 { return float64(p.p99) }).p99
	m.max = pick(func(p phase) float64 { return float64(p.max) }).max
	m.dup = pick(func(p phase) float64 { return float64(p.dup) }).dup
	m.ready = pick(func(p phase) float64 { return float64(p.ready) }).ready
	m.firstHit = pick(func(p phase) float64 { return float64(p.firstHit) }).firstHit
	m.stop = pick(func(p phase) float64 { return float64(p.stop) }).stop
	m.reload = pick(func(p phase) float64 { return float64(p.reload) }).reload
	m.reloadP99 = pick(func(p phase) float64 { return float64(p.reloadP99) }).reloadP99
	m.reloadMax = pick(func(p phase) float64 { return float64(p.reloadMax) }).reloadMax
	al := pick(func(p phase) float64 { return float64(p.alert50) })
	m.alerts, m.alertsSent, m.alert50 = al.alerts, al.alertsSent, al.alert50
	m.alert99 = pick(func(p phase) float64 { return float64(p.alert99) }).alert99
	st := pick(func(p phase) float64 { return float64(p.dbBytes) / float64(max(p.results, 1)) })
	m.dbBytes, m.results = st.dbBytes, st.results
	m.pgHeap, m.pgIndexes, m.pgTotal = st.pgHeap, st.pgIndexes, st.pgTotal
	m.agentHWM = pick(func(p phase) float64 { return float64(p.hwmKB) }).agentHWM
	sr := pick(func(p phase) float64 { return float64(p.stored) / float64(max(p.arrived, 1)) })
	m.stored, m.arrived = sr.stored, sr.arrived
	pc := pick(func(p phase) float64 { return float64(p.pgCPU) / float64(max(p.runs, 1)) })
	m.pgCPU, m.pgCPUAll, m.pgGone, m.pgBorn, m.pgOthers, m.pgErr = pc.pgCPU, pc.pgCPUAll, pc.pgGone, pc.pgBorn, pc.pgOthers, pc.pgErr
	if pc.runs > 0 {
		// Per run, over the runs of the median-CPU run the row keeps.
		m.pgCPU = pc.pgCPU * time.Duration(m.runs) / time.Duration(pc.runs)
		m.pgCPUAll = pc.pgCPUAll * time.Duration(m.runs) / time.Duration(pc.runs)
	}
	m.restarts = 0
	for _, p := range ps {
		m.restarts += p.restarts
	}
	m.load = ""
	for i, p := range ps {
		if i > 0 {
			m.load += " "
		}
		m.load += p.load
	}
	return m
}

func printTable(o options, pulses, floors []phase) {
	rows := append(slices.Clone(pulses), floors...)
	fmt.Printf("%-6s %9s %9s %7s %5s %9s %9s %8s %8s %8s %8s  %s\n",
		"", "runs", "expected", "runs%", "dup", "cpu", "cpu/run", "peakRSS", "late50", "late99", "lateMax", "load1")
	for _, p := range rows {
		if p.name == "" {
			continue
		}
		fmt.Printf("%-6s %9d %9d %6.2f%% %5d %9s %9s %6.1fMB %8s %8s %8s  %s\n",
			p.name, p.runs, p.expected, p.runsPct(), p.dup, p.cpu.Round(time.Millisecond), p.cpuPerRun().Round(100*time.Nanosecond),
			float64(p.hwmKB)/1024, ms(p.p50), ms(p.p99), ms(p.max), p.load)
	}
	p := pulses[0]
	if len(floors) > 0 && floors[0].name != "" {
		f := floors[0]
		fmt.Printf("ratios pulse/floor: CPU per run %.2fx, peak RSS %.2fx, runs %.2f%% vs %.2f%%, p99 lateness %s vs %s\n",
			float64(p.cpuPerRun())/float64(max(f.cpuPerRun(), 1)), float64(p.hwmKB)/float64(max(f.hwmKB, 1)),
			p.runsPct(), f.runsPct(), ms(p.p99), ms(f.p99))
	}
	fmt.Printf("pulse: ready %s after exec, first request %s after exec, stopped %s after SIGTERM\n",
		ms(p.ready), ms(p.firstHit), ms(p.stop))
	fmt.Printf("pulse: peak RSS %.1f MB = anonymous (Go heap and stacks, SQLite caches) up to %.1f MB + file pages (binary, libraries) up to %.1f MB\n",
		float64(p.hwmKB)/1024, float64(p.anonKB)/1024, float64(p.fileKB)/1024)
	if p.reload > 0 {
		fmt.Printf("pulse: SIGHUP reload of %d checks logged %s after the signal; lateness in the 5s after it: p99 %s, max %s\n",
			o.checks, ms(p.reload), ms(p.reloadP99), ms(p.reloadMax))
	}
	if p.alerts > 0 {
		fmt.Printf("pulse: alert latency (first failing answer to webhook): %d of %d incidents notified, median %s, p99 %s\n",
			p.alertsSent, p.alerts, ms(p.alert50), ms(p.alert99))
	}
	if p.restarts > 0 {
		fmt.Printf("pulse: %d agents exited at start and were started again\n", p.restarts)
	}
	if len(p.agentHWM) > 1 {
		var hs []string
		for k, h := range p.agentHWM {
			hs = append(hs, fmt.Sprintf("a%d %.1f MB", k+1, float64(h)/1024))
		}
		fmt.Printf("pulse: %d agents, peak RSS each: %s (the table's peakRSS is the largest; cpu is their sum)\n", len(p.agentHWM), strings.Join(hs, ", "))
	}
	if o.store != "" {
		fmt.Printf("pulse: stored %d results of the load's checks with ts in the window, against %d requests that arrived at the target in the window: %.2f%%\n",
			p.stored, p.arrived, 100*float64(p.stored)/float64(max(p.arrived, 1)))
		if p.pgErr != "" {
			fmt.Printf("postgres: CPU not measured: %s\n", p.pgErr)
		} else {
			fmt.Printf("postgres: CPU over the window %s = %s per run (every postgres process: %s, %s per run; %d other clients' backends left out; %d processes started in the window, %d ended and were lost)\n",
				p.pgCPU.Round(time.Millisecond), (p.pgCPU / time.Duration(max(p.runs, 1))).Round(100*time.Nanosecond),
				p.pgCPUAll.Round(time.Millisecond), (p.pgCPUAll / time.Duration(max(p.runs, 1))).Round(100*time.Nanosecond),
				p.pgOthers, p.pgBorn, p.pgGone)
			fmt.Printf("pulse+postgres: CPU per run %s\n", ((p.cpu + p.pgCPU) / time.Duration(max(p.runs, 1))).Round(100*time.Nanosecond))
		}
		if p.results > 0 {
			n := float64(p.results)
			fmt.Printf("postgres: %d rows in results after VACUUM ANALYZE: heap %.1f MB + indexes %.1f MB = total %.1f MB (with TOAST) = %.1f + %.1f = %.1f bytes per result; the whole schema %.1f MB = %.1f bytes per result\n",
				p.results, float64(p.pgHeap)/1e6, float64(p.pgIndexes)/1e6, float64(p.pgTotal)/1e6,
				float64(p.pgHeap)/n, float64(p.pgIndexes)/n, float64(p.pgTotal)/n, float64(p.dbBytes)/1e6, float64(p.dbBytes)/n)
		}
	} else if p.results > 0 {
		fmt.Printf("pulse: %d results stored, database %.1f MB after checkpoint = %.1f bytes per result (rollups included)\n",
			p.results, float64(p.dbBytes)/1e6, float64(p.dbBytes)/float64(p.results))
	}
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	}
	return d.Round(100 * time.Millisecond).String()
}

// logWatch remembers when pulse logged each message (first time), and the
// last lines for error reports.
type logWatch struct {
	mu    sync.Mutex
	first map[string]time.Time
	last  []string
}

func newLogWatch() *logWatch { return &logWatch{first: map[string]time.Time{}} }

func (l *logWatch) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now()
		line := sc.Text()
		var m struct {
			Msg string `json:"msg"`
		}
		_ = json.Unmarshal([]byte(line), &m)
		l.mu.Lock()
		if _, ok := l.first[m.Msg]; !ok && m.Msg != "" {
			l.first[m.Msg] = now
		}
		l.last = append(l.last, line)
		if len(l.last) > 20 {
			l.last = l.last[1:]
		}
		l.mu.Unlock()
	}
}

func (l *logWatch) at(msg string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.first[msg]
	return t, ok
}

func (l *logWatch) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// fetch saves url's body to path (pprof profiles).
func fetch(url, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "profile:", url, resp.Status)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	_, err = io.Copy(f, resp.Body)
	err = errors.Join(err, f.Close())
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
