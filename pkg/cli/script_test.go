package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// TestMain lets testscript run `pulse` as a subprocess of the test binary.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pulse": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("NO_COLOR", "1")
			e.Setenv("PULSE_CONFIG", "")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "postgres" {
				return os.Getenv(storetest.DSNEnv) != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"httpserver": cmdHTTPServer,
			"freeport":   cmdFreePort,
			"exitcode":   cmdExitCode,
			"eventually": cmdEventually,
			"sighup":     cmdSighup,
			"readenv":    cmdReadEnv,
			"pgschema":   cmdPgSchema,
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: sleep DURATION")
				}
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
		},
	})
}

// cmdHTTPServer starts a loopback HTTP server for the rest of the script:
//
//	httpserver VAR STATUS [BODY [DELAY]]
//
// and sets $VAR to its URL. STATUS may be changed later by writing a number
// to the file $WORK/VAR.status.
func cmdHTTPServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: httpserver VAR STATUS [BODY [DELAY]]")
	}
	status, err := strconv.Atoi(args[1])
	ts.Check(err)
	body := "ok"
	if len(args) > 2 {
		body = args[2]
	}
	var delay time.Duration
	if len(args) > 3 {
		delay, err = time.ParseDuration(args[3])
		ts.Check(err)
	}
	statusFile := ts.MkAbs(args[0] + ".status")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := status
		if b, err := os.ReadFile(statusFile); err == nil {
			if n, err := strconv.Atoi(string(trimNL(b))); err == nil {
				code = n
			}
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

// cmdFreePort sets VAR to a loopback address where nothing listens.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := l.Addr().String()
	l.Close()
	ts.Setenv(args[0], addr)
}

// cmdExitCode runs a program and asserts its exit status:
//
//	exitcode N PROGRAM [ARGS...]
//
// Its stdout and stderr are then checked with stdout/stderr as after exec.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdEventually reruns a program until its stdout matches a regexp:
//
//	eventually TIMEOUT REGEXP PROGRAM [ARGS...]
//
// for conditions another process (a background agent) makes true.
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: eventually TIMEOUT REGEXP PROGRAM [ARGS...]")
	}
	timeout, err := time.ParseDuration(args[0])
	ts.Check(err)
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	for {
		err := ts.Exec(args[2], args[3:]...)
		if err == nil && re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not print %q within %s (last error: %v)", args[2], args[1], timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cmdSighup sends SIGHUP to the `pulse ... run` processes started by this
// script (testscript's kill knows only INT and KILL): those whose working
// directory is the script's $WORK.
func cmdSighup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sighup")
	}
	work := ts.Getenv("WORK")
	procs, err := filepath.Glob("/proc/[0-9]*")
	ts.Check(err)
	sent := 0
	for _, p := range procs {
		cwd, err := os.Readlink(p + "/cwd")
		if err != nil || cwd != work {
			continue
		}
		cmdline, err := os.ReadFile(p + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "\x00run") {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(p))
		ts.Check(err)
		ts.Check(syscall.Kill(pid, syscall.SIGHUP))
		sent++
	}
	if sent == 0 {
		ts.Fatalf("no pulse run process in %s", work)
	}
}

// cmdReadEnv sets VAR to the content of FILE, trailing newlines trimmed:
//
//	readenv VAR FILE
func cmdReadEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readenv VAR FILE")
	}
	ts.Setenv(args[0], string(trimNL([]byte(ts.ReadFile(args[1])))))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// cmdPgSchema creates an empty schema on the PostgreSQL server of
// PULSE_TEST_POSTGRES_DSN for the rest of the script and sets VAR to its
// URL (scripts check [postgres] first):
//
//	pgschema VAR
func cmdPgSchema(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgschema VAR")
	}
	url, drop, err := storetest.NewSchema(os.Getenv(storetest.DSNEnv))
	ts.Check(err)
	ts.Defer(func() { ts.Check(drop()) })
	ts.Setenv(args[0], url)
}
