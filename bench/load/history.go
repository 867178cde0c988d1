package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/store"
)

type seedOptions struct {
	db       string
	checks   int
	span     time.Duration
	every    time.Duration
	readOnly bool
}

// runHistory seeds (unless the database exists and -read-only is set) a
// database with seed.checks checks x seed.span at seed.every through the
// store's own write path (store.Submit: the agent's writer, its rollups
// and its latest table), then times the readers of goal 5 as whole
// processes, median of 5.
func runHistory(o options, seed seedOptions, dir string) error {
	if !seed.readOnly {
		if _, err := os.Stat(seed.db); err == nil {
			return fmt.Errorf("%s exists: remove it, or pass -read-only to time its reads", seed.db)
		}
		if err := seedDB(seed); err != nil {
			return err
		}
	}
	// What a running agent keeps done: the schema upgraded and the
	// complete days summed into daily rollups (its prune loop does it).
	if err := compactDays(seed.db); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "history.toml")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	listen := ln.Addr().String()
	ln.Close()
	// The checks point at a closed port with a one-day interval: the
	// agent serving /api/v1/status should not be busy running them.
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\ndatabase = %q\nlisten = %q\n", seed.db, listen)
	for i := range seed.checks {
		fmt.Fprintf(&b, "\n[[check]]\nname = %q\ntype = \"http\"\nurl = \"http://127.0.0.1:9/c/%d\"\ninterval = \"24h\"\n", checkName(i), i)
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return err
	}
	fmt.Printf("reads of %s (%s): whole-process wall time, median of 5; machine %s, %d cores; load %s\n",
		seed.db, sizeOf(seed.db), machine(), numCPU(), loadAvg())
	for _, c := range []struct {
		goal time.Duration
		args []string
	}{
		{150 * time.Millisecond, []string{"status", "--json"}},
		{200 * time.Millisecond, []string{"status"}},
		{time.Second, []string{"report", "--daily"}},
	} {
		name := "pulse " + strings.Join(c.args, " ")
		if !hasCommand(o.pulse, c.args[0]) {
			fmt.Printf("%-22s skipped: this pulse has no %q command yet\n", name, c.args[0])
			continue
		}
		args := append([]string{"--config", cfg, "--no-color"}, c.args...)
		times, err := timeRuns(5, func() error {
			cmd := exec.Command(o.pulse, args...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", name, err, clip(out))
			}
			return nil
		})
		if err != nil {
			fmt.Printf("%-22s failed: %v\n", name, err)
			continue
		}
		printTimes(name, times, c.goal)
	}
	return timeAPI(o, cfg, listen)
}

// compactDays migrates db and sums its complete days as the agent would.
func compactDays(db string) error {
	st, err := store.Open(db, store.Options{})
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := st.CompactRollups(context.Background(), time.Now())
	if err != nil {
		st.Close()
		return err
	}
	if n > 0 {
		fmt.Printf("summed %d days into daily rollups in %s\n", n, time.Since(start).Round(time.Millisecond))
	}
	return st.Close()
}

// timeAPI starts the agent on the seeded database and times GET
// /api/v1/status (the request's wall time; the agent is already up).
func timeAPI(o options, cfg, listen string) error {
	const name = "GET /api/v1/status"
	cmd := exec.Command(o.pulse, "--config", cfg, "--log-level", "warn", "run")
	logs := newLogWatch()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go logs.read(stderr)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	url := "http://" + listen + "/api/v1/status"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				fmt.Printf("%-22s skipped: the listener answers 404 (no /api/v1/status yet)\n", name)
				return nil
			}
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("%-22s skipped: nothing listens on %s after 10s (no listener yet)\n", name, listen)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	times, err := timeRuns(5, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", name, resp.Status)
		}
		return err
	})
	if err != nil {
		fmt.Printf("%-22s failed: %v\n", name, err)
		return nil
	}
	printTimes(name, times, 100*time.Millisecond)
	return nil
}

func timeRuns(n int, f func() error) ([]time.Duration, error) {
	var ts []time.Duration
	for range n {
		start := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		ts = append(ts, time.Since(start))
	}
	return ts, nil
}

func printTimes(name string, ts []time.Duration, goal time.Duration) {
	s := slices.Clone(ts)
	slices.Sort(s)
	med := s[len(s)/2]
	verdict := "met"
	if med >= goal {
		verdict = "MISSED"
	}
	var all []string
	for _, t := range ts {
		all = append(all, ms(t))
	}
	fmt.Printf("%-22s median %8s (goal < %s: %s); runs %s\n", name, ms(med), goal, verdict, strings.Join(all, " "))
}

// seedDB writes the history through store.Submit, check by check (each
// check's results in time order, so SQLite appends to the (check, ts) key
// instead of touching a page per check per batch: the same rows and rollups
// the agent writes, in a fraction of the time). Results look like the http
// check's: 2-40 ms, perfdata time (to the nanosecond) and size (600-2,000
// bytes), 1 % crit with a repeated message.
func seedDB(seed seedOptions) error {
	st, err := store.Open(seed.db, store.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	st.Start(ctx)
	per := int(seed.span / seed.every)
	end := time.Now().Truncate(seed.every)
	begin := end.Add(-time.Duration(per) * seed.every)
	start := time.Now()
	total := seed.checks * per
	fmt.Printf("seeding %s: %d checks x %d results (%s at %s) = %d results\n", seed.db, seed.checks, per, seed.span, seed.every, total)
	for c := range seed.checks {
		name := checkName(c)
		for i := range per {
			d := time.Duration(2000+(i*31+c*17)%38000) * time.Microsecond
			took := d - time.Duration(1+(i*7919)%99_000) // the exchange, measured to the ns
			r := checks.Result{
				Check: name, Start: begin.Add(time.Duration(i)*seed.every + time.Duration(c)*time.Millisecond),
				Duration: d, State: checks.OK, Message: "200 OK in " + d.Round(time.Millisecond).String(),
				Perf: []checks.Perf{{Label: "time", Value: took.Seconds(), UOM: "s"}, {Label: "size", Value: float64(600 + (c*13)%1400), UOM: "B"}},
			}
			if (i+c)%100 == 0 {
				r.State, r.Message = checks.Crit, "status 503, expected 200"
			}
			if err := st.Submit(store.Record{Result: r}); err != nil {
				st.Close()
				return err
			}
		}
		if c%50 == 49 {
			done := (c + 1) * per
			el := time.Since(start)
			fmt.Printf("  %d/%d results, %.0f/s, %s elapsed, load %s\n", done, total, float64(done)/el.Seconds(), el.Round(time.Second), loadAvg())
		}
	}
	if err := st.Flush(ctx); err != nil {
		st.Close()
		return err
	}
	if err := st.Checkpoint(ctx); err != nil {
		st.Close()
		return err
	}
	size, err := st.Size()
	if err != nil {
		st.Close()
		return err
	}
	el := time.Since(start)
	fmt.Printf("seeded %d results in %s (%.0f/s); %.1f MB = %.1f bytes per stored result (checkpointed, rollups included)\n",
		total, el.Round(time.Second), float64(total)/el.Seconds(), float64(size)/1e6, float64(size)/float64(total))
	return st.Close()
}

func hasCommand(pulse, name string) bool {
	out, err := exec.Command(pulse, name, "--help").CombinedOutput()
	return err == nil && !strings.Contains(string(out), "unknown command")
}

func sizeOf(path string) string {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "?"
		}
		if err == nil {
			n += fi.Size()
		}
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

func clip(b []byte) string {
	if len(b) > 400 {
		b = b[:400]
	}
	return string(b)
}
